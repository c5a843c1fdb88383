/* build_pull.c - registry references: pull, then inspect (ID, WorkingDir,
 * User). */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- pull ---- */

static void on_ref_inspected(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok || !r->nimages)
		set_err(j, "%s:%d: %s: inspect after pull: %s", j->n->pos.file, j->n->pos.line, j->n->ref,
		        r->error ? r->error : "no image");
	else {
		const struct docker_image *im = &r->images[0];
		struct arena *a = j->b->s->arena;
		j->n->ref_id = arena_strdup(a, im->id);
		j->n->ref_workdir = im->workdir && *im->workdir ? arena_strdup(a, im->workdir) : NULL;
		j->n->ref_user = im->user && *im->user ? arena_strdup(a, im->user) : NULL;
	}
	if (stopped(j))
		return cleanup(j);
	succeed(j);
}

void on_pulled(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: cannot pull %s: %s", j->n->pos.file, j->n->pos.line, j->n->ref, r->error);
	if (stopped(j))
		return cleanup(j);
	if (docker_image_inspect(j->b->d, j->n->ref, on_ref_inspected, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}
