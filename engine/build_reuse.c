/* build_reuse.c - recording images the plan reuses from the engine: the
 * manifest and the <project>/<name>:latest tag a build would have written
 * (the planner decides; this side tags and writes). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/build.h"
#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/key.h"
#include "graphbuild/names.h"
#include "graphbuild/plan.h"
#include "graphbuild/state.h"
#include "graphbuild/util.h"

struct reuse_tag {
	struct state *st;
	const struct node *n;
	size_t *failed;
};

/* The manifest is recorded only once the tag is there: a failed tag is
 * tried (and fails the build) again next time, never forgotten. */
static void on_reuse_tagged(void *arg, const struct docker_result *r)
{
	struct reuse_tag *t = arg;
	const struct node *n = t->n;

	if (r->ok) {
		state_save_manifest(t->st, n->name, n->kx->m);
	} else {
		warn("%s \"%s\" (%s:%d): tag %s:latest: %s", n->kind == NODE_ROOTFS ? "rootfs" : "image",
		     n->name, n->pos.file, n->pos.line, n->name, r->error ? r->error : "failed");
		(*t->failed)++;
	}
	free(t);
}

size_t build_record_reused(struct stack *s, struct state *st, struct docker *d)
{
	size_t i, failed = 0;
	int any = 0;

	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		struct manifest *old;

		if (!n->selected || n->kind == NODE_SERVICE || n->kind == NODE_REF || !n->np ||
		    n->np->action != PLAN_REUSE || !n->np->on_engine || !n->kx || !n->kx->m)
			continue;
		old = state_manifest(st, n->name);
		if (!old || strcmp(old->key, n->keyhex) != 0) {
			char *src = names_cache_ref(n->keyhex);
			char *repo = names_latest_repo(s, n);
			struct reuse_tag *t = xmalloc(sizeof(*t));

			t->st = st;
			t->n = n;
			t->failed = &failed;
			if (docker_image_tag(d, src, repo, "latest", on_reuse_tagged, t) == 0) {
				any = 1;
			} else {
				free(t);
				failed++;
			}
			free(src);
			free(repo);
		}
		manifest_free(old);
	}
	if (any)
		docker_run_loop(d);
	return failed;
}
