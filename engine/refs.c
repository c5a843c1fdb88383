/* refs.c - resolving and pulling the registry references (image { from = "REF" })
 * a stack builds on, before the keys are computed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/cli.h"
#include "graphbuild/docker.h"
#include "graphbuild/dsl.h"
#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/http.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/registry.h"
#include "graphbuild/sched.h"
#include "graphbuild/state.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

#include "cli_int.h"

struct ref_req {
	struct node *n;
	struct stack *s;
};

static void on_ref(void *arg, const struct docker_result *r)
{
	struct ref_req *q = arg;

	if (r->ok && r->nimages) {
		const struct docker_image *im = &r->images[0];
		q->n->ref_id = arena_strdup(q->s->arena, im->id);
		/* copies and keys resolve relative paths in the image's WorkingDir */
		q->n->ref_workdir = im->workdir && *im->workdir ? arena_strdup(q->s->arena, im->workdir) : NULL;
		q->n->ref_user = im->user && *im->user ? arena_strdup(q->s->arena, im->user) : NULL;
	}
	free(q);
}

/* Asks the engine for the IDs of registry references (concurrently). */
void refs_resolve(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->s->nnodes; i++) {
		struct node *n = c->s->nodes[i];
		struct ref_req *q;

		if (n->kind != NODE_REF || !n->selected)
			continue;
		q = xmalloc(sizeof(*q));
		q->n = n;
		q->s = c->s;
		n->ref_id = n->ref_workdir = n->ref_user = NULL;
		if (docker_image_inspect(c->d, n->ref, on_ref, q) < 0)
			free(q);
	}
	docker_run_loop(c->d);
}

struct pull_req {
	struct node *n;
	int *failed;
};

static void on_pull(void *arg, const struct docker_result *r)
{
	struct pull_req *q = arg;

	if (!r->ok) {
		warn("%s:%d: cannot pull %s: %s", q->n->pos.file, q->n->pos.line, q->n->ref,
		     r->error ? r->error : "pull failed");
		(*q->failed)++;
	}
	free(q);
}

/* Pulls the selected registry references the engine lacks (concurrently),
 * so every key is computed from a resolved image ID before anything is
 * built: a pulled base never changes keys behind the plan's back. */
int refs_pull(struct ctx *c)
{
	int failed = 0, any = 0;
	size_t i;

	for (i = 0; i < c->s->nnodes; i++) {
		struct node *n = c->s->nodes[i];
		struct pull_req *q;

		if (n->kind != NODE_REF || !n->selected || n->ref_id)
			continue;
		fprintf(stderr, "pulling %s\n", n->ref);
		q = xmalloc(sizeof(*q));
		q->n = n;
		q->failed = &failed;
		if (docker_image_pull(c->d, n->ref, on_pull, q) < 0) {
			free(q);
			failed++;
		}
		any = 1;
	}
	docker_run_loop(c->d);
	if (failed)
		return -1;
	if (any)
		refs_resolve(c);
	return 0;
}
