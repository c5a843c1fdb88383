/* build_steps.c - the step sequence of an image job: resume at the longest
 * step prefix the engine (or the remote cache) has, then per step run / copy /
 * copy-from / alias, each result committed and tagged by its step key. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- common container steps ---- */

void set_image(struct bjob *j, const char *img)
{
	free(j->image);
	j->image = xstrdup(img);
}

/* Removes the container *slot names (a job's cid or src_cid) and continues
 * in cb; the slot is cleared first, so cleanup() never removes it twice. On
 * a failure to start the request the job fails (cleanup removes it). */
void remove_container(struct bjob *j, char **slot, docker_cb cb)
{
	char *id = *slot;

	*slot = NULL;
	if (docker_container_remove(j->b->d, id, 1, 1, cb, j) < 0) {
		*slot = id;
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	free(id);
	j->inflight++;
}

static void on_bg_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = rm_job(arg);

	j->inflight--;
	if (!r->ok && r->status != 404)
		set_err(j, "remove container: %s", r->error);
	if (stopped(j) || j->ok)
		cleanup(j); /* reports once the last request is back */
}

/* Removes the container *slot names while the job goes on: the removal is off
 * the critical path, and cleanup() still waits for it before reporting. */
void remove_in_background(struct bjob *j, char **slot)
{
	char *id = *slot;

	*slot = NULL;
	if (docker_container_remove(j->b->d, id, 1, 1, on_bg_removed, &j->rm_tag) < 0)
		set_err(j, "cannot start a request to the engine (container %.12s left)", id);
	else
		j->inflight++;
	free(id);
}

static void on_step_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: commit step %zu: %s", j->n->u.image.steps[j->step].pos.file,
		        j->n->u.image.steps[j->step].pos.line, j->step + 1, r->error);
	else {
		set_image(j, r->id);
		share_done(j); /* tagged with the key: waiters take it */
	}
	if (stopped(j))
		return cleanup(j);
	remove_in_background(j, &j->cid);
	j->step++;
	next_step(j);
}

static int has_workdir_before(const struct image *im, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (im->steps[k].kind == STEP_WORKDIR)
			return 1;
	return 0;
}

/* The container/commit config of step i: env, workdir, user in effect. */
void step_config(struct bjob *j, size_t i)
{
	const struct image *im = &j->n->u.image;
	const struct step_key *sk = &j->n->kx->steps[i];
	size_t k;

	for (k = 0; k < sk->nenv; k++)
		push(&j->envv, &j->nenvv, xstrdup(sk->env[k]));
	j->spec.workdir = has_workdir_before(im, i) ? sk->workdir : NULL;
	j->spec.user = sk->user;
}

void commit_step(struct bjob *j)
{
	struct step_key *sk = &j->n->kx->steps[j->step];

	/* no graphbuild.step label: POST /commit merges the container's labels
	 * into the next image's, so it would stick to the final image */
	spec_reset(j);
	step_config(j, j->step);
	label(j, "graphbuild.key", sk->hex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.image = j->image; /* Cmd/Entrypoint stay the base image's */
	own_labels(j, 0);
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, sk->hex, &j->spec, on_step_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

void next_step(struct bjob *j)
{
	const struct image *im = &j->n->u.image;
	enum step_kind kind;

	j->stepping = 1;
	if (stopped(j))
		return cleanup(j);
	if (j->step >= im->nsteps)
		return step_final(j);
	/* a step another job of this run builds or has built: not twice */
	kind = im->steps[j->step].kind;
	if ((kind == STEP_RUN || kind == STEP_COPY || kind == STEP_COPY_FROM) && !share_step(j))
		return;
	progress_step(j->t, (int)j->step + 1, j->n->kx->steps[j->step].desc);
	switch (im->steps[j->step].kind) {
	case STEP_RUN:
		step_run(j);
		break;
	case STEP_COPY:
		step_copy(j);
		break;
	case STEP_COPY_FROM:
		step_copy_from(j);
		break;
	case STEP_ENV:
	case STEP_WORKDIR:
	case STEP_USER:
		step_alias(j);
		break;
	}
}

static void on_steps_pulled(void *arg, const char *error, const char *id);
static void resume_steps(struct bjob *j);

void on_listed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct image *im = &j->n->u.image;
	size_t i;
	char *ref;

	j->inflight--;
	if (!r->ok)
		set_err(j, "list images: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	inventory_add(&j->have, r);
	ref = cache_ref(im->parent);
	set_image(j, ref);
	free(ref);
	j->step = 0;
	if (!j->n->np || !j->n->np->forced)
		for (i = im->nsteps; i > 0; i--)
			if (keyset_has(&j->have, j->n->kx->steps[i - 1].hex)) {
				ref = step_ref(j->n->kx->steps[i - 1].hex);
				set_image(j, ref);
				free(ref);
				j->step = i;
				break;
			}
	/* a longer prefix in the remote cache: pull that step's image first */
	if (j->b->r && j->n->np && j->n->np->cache_steps > j->step) {
		size_t st = j->n->np->cache_steps;

		progress_step(j->t, (int)st, "pull cached steps");
		if (registry_pull(j->b->d, j->b->r, j->n->kx->steps[st - 1].hex, names_step_label(j->n, st),
		                  on_steps_pulled, j) == 0) {
			j->inflight++;
			return;
		}
	}
	resume_steps(j);
}

/* After a pull of a step image from the cache: continue after it, or (the
 * pull failed: a warning) from the engine's own prefix. */
static void on_steps_pulled(void *arg, const char *error, const char *id)
{
	struct bjob *j = arg;
	size_t st = j->n->np->cache_steps;
	char *ref;

	(void)id;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	if (error) {
		warn("%s; building %s's steps locally", error, j->n->name);
	} else {
		ref = step_ref(j->n->kx->steps[st - 1].hex);
		set_image(j, ref);
		free(ref);
		j->step = st;
	}
	resume_steps(j);
}

/* Shows the steps found done and runs the rest. */
static void resume_steps(struct bjob *j)
{
	size_t i;

	for (i = 0; i < j->step; i++) {
		char *d = xasprintf("cached: %s", j->n->kx->steps[i].desc);
		progress_step(j->t, (int)i + 1, d);
		free(d);
	}
	next_step(j);
}
