#ifndef PILLARBOX_CZLIB_SHIM_H
#define PILLARBOX_CZLIB_SHIM_H
#include <zlib.h>
#endif
