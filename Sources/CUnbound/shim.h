#ifndef PILLARBOX_CUNBOUND_SHIM_H
#define PILLARBOX_CUNBOUND_SHIM_H
#include <unbound.h>
#endif
