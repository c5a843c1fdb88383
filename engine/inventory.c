/* inventory.c - what the engine has: the keys of every graphbuild-cache:<key>
 * tag, from one image list call. The planner decides over it; the builder and
 * the cache push ask it too. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/docker.h"
#include "graphbuild/inventory.h"
#include "graphbuild/key.h"
#include "graphbuild/util.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int keyset_has(const struct keyset *ks, const char *hex)
{
	return ks && ks->n && bsearch(&hex, ks->v, ks->n, sizeof(*ks->v), cmp_str) != NULL;
}

void keyset_free(struct keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		free(ks->v[i]);
	free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}

struct keys_req {
	struct keyset *ks;
	char *err;
	int done;
};

void inventory_add(struct keyset *ks, const struct docker_result *r)
{
	static const char prefix[] = KEY_CACHE_REPO ":";
	size_t i, j;

	for (i = 0; i < r->nimages; i++)
		for (j = 0; j < r->images[i].ntags; j++) {
			const char *t = r->images[i].tags[j];

			if (strncmp(t, prefix, sizeof(prefix) - 1) != 0 || strlen(t) != sizeof(prefix) - 1 + 32)
				continue;
			ks->v = xreallocarray(ks->v, ks->n + 1, sizeof(*ks->v));
			ks->v[ks->n++] = xstrdup(t + sizeof(prefix) - 1);
		}
	if (ks->n) /* v is NULL on an engine without graphbuild images */
		qsort(ks->v, ks->n, sizeof(*ks->v), cmp_str);
}

int inventory_list(struct docker *d, docker_cb cb, void *arg)
{
	return docker_image_list(d, "graphbuild.key", cb, arg);
}

static void on_images(void *arg, const struct docker_result *r)
{
	struct keys_req *q = arg;

	q->done = 1;
	if (!r->ok) {
		q->err = xstrdup(r->error ? r->error : "engine: image list failed");
		return;
	}
	inventory_add(q->ks, r);
}

int inventory_keys(struct docker *d, struct keyset *ks, char **err)
{
	struct keys_req q = {ks, NULL, 0};

	if (inventory_list(d, on_images, &q) < 0) {
		*err = xstrdup("engine: cannot start the image list request");
		return -1;
	}
	docker_run_loop(d);
	if (q.err) {
		*err = q.err;
		return -1;
	}
	return 0;
}
