/* step_copy.c - a copy step (upload a tar of exactly the selected files) and
 * a copy-from step (download from another image, rewrite, upload). */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- copy ---- */

static void on_copy_put(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];

	j->inflight--;
	if (j->tw.err)
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, j->tw.err);
	else if (!r->ok)
		set_err(j, "%s:%d: upload: %s", st->pos.file, st->pos.line, r->error);
	tarw_free(&j->tw);
	if (stopped(j))
		return cleanup(j);
	commit_step(j);
}

static void on_copy_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	if (docker_archive_put(j->b->d, j->cid, "/", tarw_read, &j->tw, on_copy_put, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* A never-started container of image (Cmd ["true"]) with the step config. */
static int create_idle(struct bjob *j, const char *image, int with_config, docker_cb cb)
{
	spec_reset(j);
	if (with_config)
		step_config(j, j->step);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = image;
	j->spec.entrypoint_set = 1;
	own_labels(j, 1);
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, cb, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return -1;
	}
	j->inflight++;
	return 0;
}

void step_copy(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	char *err = NULL;

	tarw_free(&j->tw);
	if (copy_entries(&j->tw, st, &j->n->kx->steps[j->step], j->n->u.image.context, &err) < 0) {
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, err);
		free(err);
		return cleanup(j);
	}
	if (create_idle(j, j->image, 1, on_copy_created) < 0)
		return cleanup(j);
}

/* ---- copy from another image ---- */

static void from_next(struct bjob *j);

static void on_from_put(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "copy from image: upload: %s", r->error);
	tarw_free(&j->tw);
	if (j->spoolfd >= 0) {
		close(j->spoolfd);
		j->spoolfd = -1;
	}
	if (stopped(j))
		return cleanup(j);
	j->from_i++;
	from_next(j);
}

static int spool_data(void *arg, const char *data, size_t n)
{
	struct bjob *j = arg;

	while (n) {
		ssize_t w = write(j->spoolfd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

static void on_from_get(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];
	char *err = NULL;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: copy %s from %s: %s", st->pos.file, st->pos.line,
		        st->args.v[j->from_i], st->from->name, r->error);
	if (stopped(j))
		return cleanup(j);
	tarw_free(&j->tw);
	if (from_entries(&j->tw, j->spoolfd, st->args.v[j->from_i], st->to, st->args.n > 1,
	                 j->n->kx->steps[j->step].workdir, &err) < 0) {
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, err);
		free(err);
		return cleanup(j);
	}
	tarw_sort(&j->tw);
	j->tw.spool = j->spoolfd; /* the writer owns it now */
	j->spoolfd = -1;
	if (docker_archive_put(j->b->d, j->cid, "/", tarw_read, &j->tw, on_from_put, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_from_src_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	commit_step(j);
}

static void from_next(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	const char *tmp = build_tmpdir();
	char *path;

	if (j->from_i >= st->args.n) {
		remove_container(j, &j->src_cid, on_from_src_removed);
		return;
	}
	path = xasprintf("%s/graphbuild-from-XXXXXX", tmp);
	j->spoolfd = mkstemp(path);
	if (j->spoolfd < 0) {
		set_err(j, "cannot create a temporary file in %s: %s", tmp, strerror(errno));
		free(path);
		return cleanup(j);
	}
	unlink(path);
	free(path);
	if (docker_archive_get(j->b->d, j->src_cid, st->args.v[j->from_i], spool_data, j, on_from_get, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_from_src_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->src_cid = xstrdup(r->id);
	else
		set_err(j, "create container of %s: %s", j->n->u.image.steps[j->step].from->name, r->error);
	if (stopped(j))
		return cleanup(j);
	j->from_i = 0;
	from_next(j);
}

static void on_from_dst_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];
	char *ref;
	int rc;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	ref = cache_ref(st->from);
	rc = create_idle(j, ref, 0, on_from_src_created);
	free(ref);
	if (rc < 0)
		return cleanup(j);
}

void step_copy_from(struct bjob *j)
{
	if (create_idle(j, j->image, 1, on_from_dst_created) < 0)
		return cleanup(j);
}
