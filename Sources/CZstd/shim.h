#ifndef PILLARBOX_CZSTD_SHIM_H
#define PILLARBOX_CZSTD_SHIM_H
#include <zstd.h>
#include <zdict.h>
#endif
