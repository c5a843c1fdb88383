/* build_sweep.c - build containers left by a graphbuild process that is gone
 * (kill -9, a crash): found by their owner label, force-removed. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- the builder ---- */

void build_owner(char *out, size_t len)
{
	char host[256] = "";

	gethostname(host, sizeof host - 1);
	snprintf(out, len, "%s:%ld", host, (long)getpid());
}

/* 1 when a build container's graphbuild.owner names a graphbuild process on
 * this host that no longer runs. Another host's (a shared engine) is never
 * judged from here. */
static int owner_gone(const char *owner, const char *me)
{
	const char *colon = owner ? strrchr(owner, ':') : NULL;
	const char *mycolon = strrchr(me, ':');
	char *end;
	long pid;

	if (!colon || colon == owner || (size_t)(colon - owner) != (size_t)(mycolon - me) ||
	    strncmp(owner, me, (size_t)(colon - owner)) != 0)
		return 0;
	pid = strtol(colon + 1, &end, 10);
	if (*end || pid <= 0)
		return 0;
	if (pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

struct sweep {
	struct docker *d;
	const char *me;
	int mine;                /* this process's own too (after an interrupt) */
	size_t removed, failed;
	char *err;
};

static void sweep_removed(void *arg, const struct docker_result *r)
{
	struct sweep *w = arg;

	if (r->ok || r->status == 404 || r->status == 409) /* 409: a removal in progress */
		w->removed++;
	else {
		w->failed++;
		if (!w->err)
			w->err = xasprintf("remove container: %s", r->error);
	}
}

static void sweep_listed(void *arg, const struct docker_result *r)
{
	struct sweep *w = arg;
	size_t i, k;

	if (!r->ok) {
		w->err = xasprintf("list build containers: %s", r->error);
		return;
	}
	for (i = 0; i < r->ncontainers; i++) {
		const struct docker_container *c = &r->containers[i];
		const char *project = NULL, *owner = NULL;

		for (k = 0; k < c->nlabels; k++)
			if (!strcmp(c->label_k[k], BUILD_LABEL))
				project = c->label_v[k];
			else if (!strcmp(c->label_k[k], BUILD_OWNER_LABEL))
				owner = c->label_v[k];
		/* an empty value is an image's blanked label, not a build container */
		if (!project || !*project ||
		    !(owner_gone(owner, w->me) || (w->mine && owner && !strcmp(owner, w->me))))
			continue;
		if (docker_container_remove(w->d, c->id, 1, 0, sweep_removed, w) < 0)
			w->failed++;
	}
}

int sweep_run(struct docker *d, const char *project, int mine, size_t *removed, char **err)
{
	struct sweep w = {0};
	char me[300];
	char *filter = project ? xasprintf("%s=%s", BUILD_LABEL, project) : xstrdup(BUILD_LABEL);
	int rc = 0;

	build_owner(me, sizeof me);
	w.mine = mine;
	w.d = d;
	w.me = me;
	*err = NULL;
	if (docker_container_list(d, filter, sweep_listed, &w) < 0)
		w.err = xstrdup("list build containers: cannot start a request to the engine");
	docker_run_loop(d);
	free(filter);
	if (removed)
		*removed = w.removed;
	if (w.err) {
		*err = w.err;
		rc = -1;
	}
	return rc;
}

int build_sweep(struct docker *d, const char *project, size_t *removed, char **err)
{
	return sweep_run(d, project, 0, removed, err);
}
