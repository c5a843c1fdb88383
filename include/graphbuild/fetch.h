/* fetch.h - the modules of `import "https://host/mod.lua#sha256=HEX"`: fetched
 * once over HTTP(S), checked against their pinned SHA-256 before anything uses
 * the bytes, cached by hash, and read from that cache with no network at all. */
#ifndef GRAPHBUILD_FETCH_H
#define GRAPHBUILD_FETCH_H

#include <stddef.h>

/* Largest module accepted from the network. */
#define FETCH_MAX_BYTES (1024 * 1024)

/* The module cache directory: $GRAPHBUILD_CACHE_DIR/modules, else
 * ${XDG_CACHE_HOME:-$HOME/.cache}/graphbuild/modules. Malloc'd; NULL when
 * neither variable gives an absolute directory. */
char *fetch_cache_dir(void);

/* Returns the verified text of the module a pinned URL names (http:// only to
 * a loopback host): from the cache if a copy whose SHA-256 matches is there,
 * else fetched (redirects followed, size and time capped), checked, then
 * cached. Blocks on a private libuv loop. Returns 0 with *text (malloc'd,
 * NUL-terminated) and *len, or -1 with *err (malloc'd, "import URL: ..."). */
int fetch_module(const char *url_with_fragment, char **text, size_t *len, char **err);

#endif
