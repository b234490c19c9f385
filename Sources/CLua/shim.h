#ifndef PILLARBOX_CLUA_SHIM_H
#define PILLARBOX_CLUA_SHIM_H
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#endif
