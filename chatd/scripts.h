/*
 * scripts.h - the Lua scripts in chatd/scripts/, compiled into the binary
 * by tools/embed-lua.sh (each with lib.lua in front).  rds.c loads them
 * with SCRIPT LOAD and calls them by SHA.
 */
#ifndef CHATD_SCRIPTS_H
#define CHATD_SCRIPTS_H

struct lua_script {
    const char *name; /* file name without .lua */
    const char *src;
};

extern const struct lua_script lua_scripts[];
extern const int lua_nscripts;

#endif
