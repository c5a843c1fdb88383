/* inventory.h - what the engine has: the set of keys tagged
 * graphbuild-cache:<key> on it (one image list call). */
#ifndef GRAPHBUILD_INVENTORY_H
#define GRAPHBUILD_INVENTORY_H

#include <stddef.h>

#include "graphbuild/docker.h"

/* The keys present on the engine (from one image list call). */
struct keyset {
	char **v;               /* sorted full hex keys */
	size_t n;
};
int keyset_has(const struct keyset *ks, const char *hex);
void keyset_free(struct keyset *ks);

/* Fetches the keys on the engine: every graphbuild-cache:<key> tag, from one
 * image list call; synchronous (runs the loop). 0, or -1 with *err (malloc'd). */
int inventory_keys(struct docker *d, struct keyset *ks, char **err);
/* The same list request, asynchronous (docker.h's contract): the reply goes
 * to cb, and inventory_add adds the keys of an ok reply to ks (sorted). For
 * a job that asks when it starts, to see what earlier jobs of the run made. */
int inventory_list(struct docker *d, docker_cb cb, void *arg);
void inventory_add(struct keyset *ks, const struct docker_result *r);

#endif
