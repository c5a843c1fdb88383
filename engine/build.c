/* build.c - executing image nodes through the engine, one scheduler job per
 * node to build or pull. Each job is a sequential state machine of docker.h
 * calls chained through their callbacks:
 *
 *   REF     pull, inspect (ref_id, WorkingDir, User)
 *   ROOTFS  [sh -c command > $out, tar $out] import (root entry 0755 root:root),
 *           create+commit with labels
 *   IMAGE   longest existing prefix of step images, then per step (a run,
 *           copy or copy-from whose key another job of the run builds: wait
 *           for it and take its image, build_share.c):
 *             run   create, start, logs+wait, commit, remove
 *                   (with secrets: create idling, start, exec place links,
 *                    exec the step, exec remove links, commit, remove)
 *             copy  create, upload a tar of the selected files, commit, remove
 *             from  create src+dst, download/rewrite/upload, commit, remove
 *             env/workdir/user  tag the current image with the step key
 *           final create+commit with the image config, tags, manifest
 *   DOCKERFILE  POST /build with a context tar of exactly the inputs
 *
 * Failure and cancellation both funnel into cleanup(): it waits for every
 * request in flight, force-removes any container the job created, deletes
 * temporary files and directories, and only then reports to the scheduler,
 * so no path leaves a container behind. Tars are written by tar_write.c (ustar
 * with pax records for long names, uid/gid 0, mtime 0) and streamed from the
 * files as the engine reads them, each hashed on the way and checked against
 * the plan. This file holds the scheduler ops and the builder; the steps, the
 * job machinery and the node kinds live in the files named in build_int.h
 * (docs/design.md, "Module map"). */

#define _GNU_SOURCE /* nftw */
#include "build_int.h"

/* ---- scheduler ops ---- */

/* Starts the build proper of an image or rootfs node. */
static void start_build(struct bjob *j)
{
	struct node *n = j->n;

	if (n->kind == NODE_ROOTFS)
		start_rootfs(j);
	else if (n->u.image.dockerfile)
		start_dockerfile(j);
	else if (inventory_list(j->b->d, on_listed, j) < 0)
		set_err(j, "cannot start a request to the engine");
	else
		j->inflight++;
}

/* After a pull from the remote cache: tag <project>/<name>:latest and done,
 * or (a warning) build it here after all. */
static void on_cache_pulled(void *arg, const char *error, const char *id)
{
	struct bjob *j = arg;

	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	if (error) {
		warn("%s; building %s locally", error, j->n->name);
		progress_step(j->t, 0, "build (cache pull failed)");
		start_build(j);
		if (!j->inflight && !j->reported)
			cleanup(j);
		return;
	}
	j->pulled = 1;
	set_image(j, id);
	tag_latest(j, j->image);
}

static int job_start(struct sched_job *sj, void *arg)
{
	struct bjob *j = arg;
	struct node *n = j->n;
	int nsteps = n->kind == NODE_IMAGE ? (int)n->u.image.nsteps : 0;

	j->t0 = now_ms();
	j->t = progress_task(j->b->p, n->name, nsteps);
	if (n->kind != NODE_REF && j->b->r && n->np->action == PLAN_PULL) {
		progress_step(j->t, 0, "pull from the cache");
		if (registry_pull(j->b->d, j->b->r, n->keyhex, NULL, on_cache_pulled, j) == 0)
			j->inflight++;
		else
			start_build(j);
	} else if (n->kind == NODE_REF) {
		progress_step(j->t, 0, "pull");
		if (docker_image_pull(j->b->d, n->ref, on_pulled, j) < 0)
			set_err(j, "cannot start a request to the engine");
		else
			j->inflight++;
	} else
		start_build(j);
	if (!j->inflight && !j->reported)
		cleanup(j);
	return j->reported && !j->ok ? -1 : 0;
}

static void job_cancel(struct sched_job *sj, void *arg)
{
	struct bjob *j = arg;

	(void)sj;
	if (j->reported || j->cancelled)
		return;
	j->cancelled = 1;
	/* the command's whole process group: its children die with it */
	if (j->proc)
		kill(-j->proc->p.pid, SIGTERM);
	/* Every transfer of the job's: a pull, POST /build, commit, upload,
	 * wait, logs, a cache pull. Each callback then sees the job stopped
	 * and goes to cleanup(), which force-removes its containers (the
	 * engine ends a pull or build whose client went away) and its files. */
	docker_cancel_for(j->b->d, j);
	registry_cancel_for(j->b->r, j);
	share_cancel(j); /* waiting for another job's step: stops at the next wake */
}

/* The second signal: no time for the engine. Kill the process groups and
 * remove the files now (secret files first); the containers left carry
 * graphbuild.build and go at the next run's sweep. */
static void build_abort(void *arg)
{
	struct build *b = arg;
	size_t i, k;

	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];
		if (j->reported)
			continue;
		if (j->proc)
			kill(-j->proc->p.pid, SIGKILL);
		if (j->ownerfd >= 0)
			close(j->ownerfd);
		for (k = 0; k < j->ntmp; k++)
			unlink(j->tmpfiles[k]);
		if (j->tmptar)
			unlink(j->tmptar);
		if (j->tmpdir)
			remove_tree(j->tmpdir);
	}
}

static const struct sched_ops build_ops = {job_start, job_cancel};

struct build *build_new(struct stack *s, struct docker *d, struct state *st, struct progress *p,
                        struct registry *r)
{
	struct build *b = xcalloc(1, sizeof(*b));

	b->r = r;
	b->s = s;
	b->d = d;
	b->st = st;
	b->p = p;
	build_owner(b->owner, sizeof b->owner);
	share_init(b);
	return b;
}

static long estimate(struct build *b, struct node *n)
{
	long ms = state_duration(b->st, n->name);
	size_t i;

	if (ms >= 0)
		return ms;
	if (n->kind == NODE_REF)
		return 2000;
	if (n->kind == NODE_ROOTFS)
		return n->u.rootfs.command ? 30000 : 1000;
	if (n->u.image.dockerfile)
		return 10000;
	ms = 100;
	for (i = 0; i < n->u.image.nsteps; i++)
		ms += n->u.image.steps[i].kind == STEP_RUN ? 1000 : 100;
	return ms;
}

void build_add_jobs(struct build *b, struct sched *sc, struct sched_job **jobs)
{
	size_t i, k;

	sched_on_abort(sc, build_abort, b);

	for (i = 0; i < b->s->norder; i++) {
		struct node *n = b->s->order[i];
		struct bjob *j;

		if (!n->selected || n->kind == NODE_SERVICE || !n->np ||
		    (n->np->action != PLAN_BUILD && n->np->action != PLAN_PULL))
			continue;
		j = xcalloc(1, sizeof(*j));
		j->b = b;
		j->n = n;
		j->rdfd = -1;
		j->spoolfd = -1;
		j->ownerfd = -1;
		tarw_init(&j->tw);
		j->sj = sched_add(sc, n, &build_ops, j, 1, estimate(b, n));
		jobs[n->index] = j->sj;
		b->v = xreallocarray(b->v, b->n + 1, sizeof(*b->v));
		b->v[b->n++] = j;
		if (n->kind != NODE_IMAGE)
			continue;
		if (n->u.image.parent && jobs[n->u.image.parent->index])
			sched_need(j->sj, jobs[n->u.image.parent->index], SCHED_DONE);
		for (k = 0; k < n->u.image.nsteps; k++) {
			struct node *f = n->u.image.steps[k].from;
			if (n->u.image.steps[k].kind == STEP_COPY_FROM && f && jobs[f->index])
				sched_need(j->sj, jobs[f->index], SCHED_DONE);
		}
	}
}

void build_free(struct build *b)
{
	size_t i, k;

	if (!b)
		return;
	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];
		spec_reset(j);
		tarw_free(&j->tw);
		free(j->image);
		free(j->cid);
		free(j->src_cid);
		free(j->err);
		free(j->detail);
		keyset_free(&j->have);
		for (k = 0; k < j->ntmp; k++)
			free(j->tmpfiles[k]);
		free(j->tmpfiles);
		free(j->tmpdir);
		free(j->tmptar);
		free(j);
	}
	free(b->v);
	share_free(b);
	free(b);
}

/* The failure report: position and message, the command, the output tail. */
static void print_failure(struct bjob *j)
{
	const char *tail = j->t ? progress_tail(j->t) : "";

	fprintf(stderr, "\n%s: [%s] %s\n", argv0, j->n->name, j->err);
	if (j->detail)
		fprintf(stderr, "  command: %s\n", j->detail);
	progress_print_tail(j->n->name, tail, strlen(tail));
}

int build_run(struct stack *s, struct docker *d, struct state *st, const struct build_opts *o)
{
	uv_loop_t *loop = loop_of(d);
	struct progress *p = progress_new(loop, o->progress);
	struct sched *sc = sched_new(loop, o->jobs, o->fail_fast);
	struct sched_job **jobs = xcalloc(s->nnodes + 1, sizeof(*jobs));
	struct build *b = build_new(s, d, st, p, o->cache);
	size_t i;
	int rc;

	build_add_jobs(b, sc, jobs);
	rc = sched_run(sc);
	if (SCHED_RC_INTERRUPTED(rc)) {
		/* a create cancelled in flight may still have made its container */
		char *err = NULL;
		if (sweep_run(d, s->project, 1, NULL, &err) < 0) {
			warn("%s", err);
			free(err);
		}
	}
	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];
		if (!j->t) {
			j->t = progress_task(p, j->n->name, 0);
			j->n->np->outcome = sched_interrupted(sc) ? "cancelled" : "skipped";
			progress_done(j->t, j->n->np->outcome);
		}
	}
	for (i = 0; i < b->n; i++)
		if (b->v[i]->err)
			print_failure(b->v[i]);
	for (i = 0; i < s->norder; i++) { /* the summary names what was reused too */
		struct node *n = s->order[i];
		if (n->selected && n->kind != NODE_SERVICE && n->np && n->np->action == PLAN_REUSE) {
			n->np->outcome = "reused";
			progress_done(progress_task(p, n->kind == NODE_REF ? n->ref : n->name, 0), "reused");
		}
	}
	progress_summary(p);
	if (SCHED_RC_INTERRUPTED(rc))
		fprintf(stderr, "%s: interrupted; nothing was left running\n", argv0);
	build_free(b);
	sched_free(sc);
	progress_free(p);
	free(jobs);
	return rc;
}
