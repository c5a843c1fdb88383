/* build_job.c - one build job's shared machinery: errors, the request
 * spec storage, labels of build containers, and cleanup(): the single exit of
 * every job (waits for what is in flight, removes its containers and temporary
 * files, then reports to the scheduler). */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- jobs ---- */

void set_err(struct bjob *j, const char *fmt, ...)
{
	va_list ap;

	if (j->err)
		return;
	va_start(ap, fmt);
	j->err = xvasprintf(fmt, ap);
	va_end(ap);
}

int stopped(const struct bjob *j)
{
	return j->err || j->cancelled;
}

/* The image a node's result is known by: a reference's ID (or the
 * reference), else the cache tag of its key. malloc'd (references have no
 * length limit worth truncating at). */
char *cache_ref(const struct node *n)
{
	if (n->kind == NODE_REF)
		return xstrdup(n->ref_id ? n->ref_id : n->ref);
	return names_cache_ref(n->keyhex);
}

/* The cache tag of a step key. malloc'd. */
char *step_ref(const char *hex)
{
	return names_cache_ref(hex);
}

void spec_reset(struct bjob *j)
{
	size_t i;

	for (i = 0; i < j->nargv; i++)
		free(j->argv[i]);
	for (i = 0; i < j->nenvv; i++)
		free(j->envv[i]);
	for (i = 0; i < j->nl; i++) {
		free(j->lk[i]);
		free(j->lv[i]);
	}
	for (i = 0; i < j->nmounts; i++) {
		free((char *)j->mounts[i].source);
		free((char *)j->mounts[i].target);
	}
	free(j->argv);
	free(j->envv);
	free(j->lk);
	free(j->lv);
	free(j->mounts);
	j->argv = j->envv = j->lk = j->lv = NULL;
	j->mounts = NULL;
	j->nargv = j->nenvv = j->nl = j->nmounts = 0;
	memset(&j->spec, 0, sizeof(j->spec));
	j->spec.stop_timeout = -1;
}

void push(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = s;
}

void label(struct bjob *j, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < j->nl; i++)
		if (!strcmp(j->lk[i], k)) {
			free(j->lv[i]);
			j->lv[i] = xstrdup(v);
			return;
		}
	j->lk = xreallocarray(j->lk, j->nl + 1, sizeof(*j->lk));
	j->lv = xreallocarray(j->lv, j->nl + 1, sizeof(*j->lv));
	j->lk[j->nl] = xstrdup(k);
	j->lv[j->nl] = xstrdup(v);
	j->nl++;
}

/* Build containers carry graphbuild.build=<project> and graphbuild.owner=
 * <host>:<pid>, so a run that died (kill -9, an engine crash) leaves
 * containers the next build/up/gc can find and sweep (build_sweep).
 * POST /commit merges the container's labels into the image, and through
 * it into every container made from it: commits (create == 0) blank both. */
void own_labels(struct bjob *j, int create)
{
	label(j, BUILD_LABEL, create ? j->b->s->project : "");
	label(j, BUILD_OWNER_LABEL, create ? j->b->owner : "");
}

void spec_fill(struct bjob *j)
{
	j->spec.cmd = j->argv;
	j->spec.ncmd = j->nargv;
	if (j->nargv)
		j->spec.cmd_set = 1;
	j->spec.env = j->envv;
	j->spec.nenv = j->nenvv;
	j->spec.label_k = j->lk;
	j->spec.label_v = j->lv;
	j->spec.nlabels = j->nl;
	j->spec.mounts = j->mounts;
	j->spec.nmounts = j->nmounts;
}

/* ---- cleanup and reporting ---- */

/* Whether msg starts with a stack position ("file:line: "). */
static int has_pos(const char *msg)
{
	const char *c = strchr(msg, ':');

	if (!c || c == msg || memchr(msg, ' ', (size_t)(c - msg)) || !(c[1] >= '0' && c[1] <= '9'))
		return 0;
	for (c++; *c >= '0' && *c <= '9'; c++)
		;
	return c[0] == ':' && c[1] == ' ';
}

/* Every failure names the stack line it belongs to: the step that was running
 * (its file:line), else the node's own line ("start container: …" from a
 * copy over a missing /bin/sh, a tag error, a commit error). */
static void locate_err(struct bjob *j)
{
	const struct pos *p = &j->n->pos;
	char *m;

	if (has_pos(j->err))
		return;
	if (j->n->kind == NODE_IMAGE && j->stepping && j->step < j->n->u.image.nsteps) {
		p = &j->n->u.image.steps[j->step].pos;
		m = xasprintf("%s:%d: step %zu/%zu (%s): %s", p->file, p->line, j->step + 1,
		              j->n->u.image.nsteps, j->n->kx->steps[j->step].desc, j->err);
	} else
		m = xasprintf("%s:%d: %s", p->file, p->line, j->err);
	free(j->err);
	j->err = m;
}

static void report(struct bjob *j)
{
	struct build *b = j->b;
	long ms = (long)(now_ms() - j->t0);

	j->reported = 1;
	j->n->np->ms = ms;
	if (j->ok && !j->cancelled && !j->err) {
		int pulled = j->n->kind == NODE_REF || j->pulled;

		if (j->n->kx && j->n->kx->m && j->n->kind != NODE_REF)
			state_save_manifest(b->st, j->n->name, j->n->kx->m);
		if (!j->pulled) /* a pull's time says nothing about the build's */
			state_record_duration(b->st, j->n->name, ms);
		j->n->np->outcome = pulled ? "pulled" : "built";
		progress_done(j->t, j->n->np->outcome);
		sched_reach(j->sj, SCHED_DONE);
		return;
	}
	if (j->err)
		locate_err(j);
	j->n->np->outcome = j->cancelled && !j->detail ? "cancelled" : "failed";
	progress_done(j->t, j->n->np->outcome);
	sched_fail(j->sj, j->err ? j->err : "cancelled");
}

/* The job of a removal's cb arg (&j->rm_tag). */
struct bjob *rm_job(void *arg)
{
	return (struct bjob *)((char *)arg - offsetof(struct bjob, rm_tag));
}

static void cleanup_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = rm_job(arg);

	(void)r; /* gone either way: 404 means it was already removed */
	j->inflight--;
	cleanup(j);
}

static void rm_done(struct bjob *j, long status, int sig)
{
	(void)status;
	(void)sig;
	cleanup(j);
}

void sec_free(struct bjob *j)
{
	size_t i;

	for (i = 0; i < j->nxargv; i++)
		free(j->xargv[i]);
	for (i = 0; i < j->nsect; i++)
		free(j->sect[i]);
	free(j->xargv);
	free(j->sect);
	j->xargv = j->sect = NULL;
	j->nxargv = j->nsect = 0;
}

/* Runs when the job stops (success, failure, cancel): waits for everything
 * in flight, removes containers, temp files and dirs, then reports once. */
void cleanup(struct bjob *j)
{
	struct build *b = j->b;
	size_t i;

	share_release(j); /* a step it claimed and did not commit: a waiter builds it */
	if (j->reported || j->inflight)
		return;
	if (j->cid || j->src_cid) {
		char *id = j->cid ? j->cid : j->src_cid;
		if (j->cid)
			j->cid = NULL;
		else
			j->src_cid = NULL;
		if (docker_container_remove(b->d, id, 1, 1, cleanup_removed, &j->rm_tag) == 0)
			j->inflight++;
		free(id);
		if (j->inflight)
			return;
	}
	for (i = 0; i < j->ntmp; i++) {
		unlink(j->tmpfiles[i]);
		free(j->tmpfiles[i]);
	}
	j->ntmp = 0;
	sec_free(j);
	if (j->rdfd >= 0) {
		close(j->rdfd);
		j->rdfd = -1;
	}
	if (j->spoolfd >= 0) {
		close(j->spoolfd);
		j->spoolfd = -1;
	}
	tarw_free(&j->tw);
	if (j->tmptar) {
		unlink(j->tmptar);
		free(j->tmptar);
		j->tmptar = NULL;
	}
	if (j->ownerfd >= 0) {
		close(j->ownerfd);
		j->ownerfd = -1;
	}
	if (j->tmpdir) {
		char *argv[] = {"/bin/rm", "-rf", j->tmpdir, NULL};
		char *dir = j->tmpdir;
		j->tmpdir = NULL;
		if (proc_spawn(j, argv, NULL, 0, rm_done) == 0) {
			free(dir);
			return;
		}
		free(dir);
	}
	report(j);
}

void succeed(struct bjob *j)
{
	j->ok = 1;
	cleanup(j);
}
