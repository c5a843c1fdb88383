/* svc_retire.c - retiring a service's old container: a scheduler job of
 * its own that stops and removes it ahead of the new one. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>


#include "up_int.h"

/* ---- retiring the old container ----
 * A service that gets a new container has its old one stopped and removed by
 * a job of its own, which runs as soon as the new image exists and the
 * service's dependencies have started, not when they become healthy or
 * complete: the stop (SIGTERM, up to stop_timeout) then overlaps the wait for
 * them instead of following it. The service's job waits for it and reports
 * what it could not remove. A missing bind source keeps the old container:
 * the service's job fails with that. */

static void retire_finish(struct svc *sv)
{
	sched_reach(sv->rj, SCHED_DONE);
}

static void on_retire_removed(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	sv->u->inflight--;
	sv->retired = r->ok || r->status == 404;
	if (!sv->retired)
		sv->retire_err = xstrdup(r->error ? r->error : "failed");
	retire_finish(sv);
}

static void on_retire_stopped(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	(void)r; /* a failed stop is fine: the forced remove kills it */
	sv->u->inflight--;
	if (sv->retire_cancelled) {
		retire_finish(sv);
		return;
	}
	sv->u->inflight++;
	if (docker_container_remove(sv->u->d, sv->old->id, 1, 0, on_retire_removed, sv) < 0) {
		sv->u->inflight--;
		retire_finish(sv);
	}
}

static int retire_start(struct sched_job *j, void *arg)
{
	struct svc *sv = arg;
	char *err = svc_missing_bind(sv->n);
	int running = !strcmp(sv->old->state, "running") || !strcmp(sv->old->state, "restarting");
	int rc;

	(void)j;
	if (err) { /* keep the old one: the service's own job fails with this */
		free(err);
		retire_finish(sv);
		return 0;
	}
	sv->u->inflight++;
	if (running)
		rc = docker_container_stop(sv->u->d, sv->old->id, svc_stop_timeout(sv), on_retire_stopped, sv);
	else
		rc = docker_container_remove(sv->u->d, sv->old->id, 1, 0, on_retire_removed, sv);
	if (rc < 0) {
		sv->u->inflight--;
		retire_finish(sv);
	}
	return 0;
}

static void retire_cancel(struct sched_job *j, void *arg)
{
	struct svc *sv = arg;

	(void)j;
	sv->retire_cancelled = 1;
}

const struct sched_ops svc_retire_ops = {retire_start, retire_cancel};
