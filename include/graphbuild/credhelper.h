#ifndef GRAPHBUILD_CREDHELPER_H
#define GRAPHBUILD_CREDHELPER_H

#include <stddef.h>

/* Runs "docker-credential-NAME get" (found in PATH, no shell) with server
 * on its stdin, as the docker CLI does, for at most timeout_ms. 0: it
 * exited 0, *out is its stdout (malloc'd, NUL-terminated). 1: it said
 * "credentials not found" (anonymous). -1: *err says why (malloc'd). */
int credhelper_get(const char *name, const char *server, int timeout_ms, char **out, char **err);

#endif
