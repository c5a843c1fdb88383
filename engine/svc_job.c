/* svc_job.c - the per-service state machine of `up`: one scheduler job per
 * service (network, volumes, create, start, then STARTED / HEALTHY /
 * COMPLETED as its probe or exit says), its failure with the container's
 * last lines, and cancellation. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/health.h"
#include "graphbuild/names.h"
#include "graphbuild/plan.h"

#include "up_int.h"

#define GRACE_MS 250 /* a probe-less service that exits this soon fails `up` */
/* Podman 4.3's /wait reports an exit ~1.2 s after it (measured): a shorter
 * grace would call an image that exits at once "started". */
#define GRACE_PODMAN_MS 2000

/* The grace in ms: GRAPHBUILD_UP_GRACE_MS (1..600000; tests under ASan on a
 * loaded machine, where the engine's /wait reply can take longer than 250 ms
 * to come back) or the engine's default. */
static unsigned grace_ms(struct docker *d)
{
	const char *v = getenv("GRAPHBUILD_UP_GRACE_MS");
	char *end;
	long ms;

	if (v && *v) {
		ms = strtol(v, &end, 10);
		if (!*end && ms >= 1 && ms <= 600000)
			return (unsigned)ms;
	}
	return docker_is_podman(d) ? GRACE_PODMAN_MS : GRACE_MS;
}

/* ---- up: one job per service on the build's scheduler ---- */

static void svc_next(struct svc *sv);

int svc_stop_timeout(const struct svc *sv)
{
	return sv->u->o->stop_timeout >= 0 ? sv->u->o->stop_timeout : sv->n->u.service.stop_timeout;
}

/* The job reached events, and with them the end of its work. */
static void svc_done(struct svc *sv, unsigned events, const char *status)
{
	if (sv->phase == PH_END)
		return;
	sv->phase = PH_END;
	if (sv->t)
		progress_done(sv->t, status);
	sched_reach(sv->sj, events | SCHED_DONE);
}

static void svc_failed(struct svc *sv)
{
	sv->phase = PH_END;
	if (sv->t)
		progress_done(sv->t, sv->cancelled ? "cancelled" : "failed");
	sched_fail(sv->sj, sv->err);
}

static void on_tail_out(void *arg, int stream, const char *data, size_t n)
{
	struct svc *sv = arg;

	(void)stream;
	buf_add(&sv->tail, data, n);
}

static void on_tail(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	(void)r;
	sv->u->inflight--;
	svc_failed(sv);
}

/* Fails the job with msg (printf), after fetching the container's last lines. */
static void svc_fail(struct svc *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void svc_fail(struct svc *sv, const char *fmt, ...)
{
	va_list ap;

	if (sv->phase == PH_END || sv->phase == PH_TAIL)
		return;
	/* The first error stands (a volume create's, recorded before its
	 * siblings finished); never format from a string about to be freed. */
	if (!sv->err) {
		va_start(ap, fmt);
		sv->err = xvasprintf(fmt, ap);
		va_end(ap);
	}
	if (sv->h) {
		health_cancel(sv->h);
		sv->h = NULL;
	}
	if (sv->id && !sv->cancelled) {
		sv->phase = PH_TAIL;
		sv->u->inflight++;
		if (docker_container_logs(sv->u->d, sv->id, 0, 0, PROGRESS_TAIL_LINES, on_tail_out, sv, on_tail, sv) == 0)
			return;
		sv->u->inflight--;
	}
	svc_failed(sv);
}

/* Entry check of every callback of the setup chain. 1: stop here. */
static int svc_gone(struct svc *sv, const struct docker_result *r, const char *what)
{
	sv->u->inflight--;
	if (sv->phase == PH_END || sv->phase == PH_TAIL)
		return 1;
	if (sv->cancelled) {
		svc_fail(sv, "service %s: interrupted", sv->n->name);
		return 1;
	}
	if (r && !r->ok && r->error && !strcmp(what, "start") &&
	    (strstr(r->error, "address already in use") || strstr(r->error, "port is already allocated"))) {
		svc_fail(sv, "service %s (%s:%d): a host port it publishes is taken (%s); stop what holds it, or "
		         "publish another host port (a stack that reads vars.port, like the demo, takes --set port=N)",
		         sv->n->name, sv->n->pos.file, sv->n->pos.line, r->error);
		return 1;
	}
	if (r && !r->ok) {
		svc_fail(sv, "service %s: %s: %s", sv->n->name, what, r->error ? r->error : "failed");
		return 1;
	}
	return 0;
}

static void on_grace(uv_timer_t *t)
{
	struct svc *sv = t->data;

	svc_done(sv, SCHED_STARTED | SCHED_HEALTHY, sv->old && sv->n->np->action == PLAN_KEEP ? "kept" : "started");
}

void svc_grace_closed(uv_handle_t *h)
{
	struct svc *sv = h->data;

	sv->grace_open = 0;
}

static void on_health(void *arg, int ok, const char *msg)
{
	struct svc *sv = arg;

	sv->h = NULL;
	if (ok)
		svc_done(sv, SCHED_STARTED | SCHED_HEALTHY,
		         sv->n->np->action == PLAN_KEEP ? "kept (healthy)" : "healthy");
	else
		svc_fail(sv, "service %s is unhealthy: %s probe failed: %s", sv->n->name,
		         health_describe(&sv->n->u.service.health), msg);
}

static void start_probe(struct svc *sv)
{
	char *err = NULL;

	sv->phase = PH_WAIT;
	sv->h = health_start(docker_loop(sv->u->d), sv->u->d, &sv->n->u.service.health, sv->id, sv->ip,
	                     on_health, sv, &err);
	if (!sv->h) {
		svc_fail(sv, "service %s: %s", sv->n->name, err);
		free(err);
	}
}

/* A long-running container's wait: an exit before its job is done fails it. */
static void on_exit_wait(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	sv->u->inflight--;
	if (!r->ok)
		return; /* cancelled at the end of `up`, or the engine went away */
	sv->exit_code = r->exit_code;
	if (sv->phase == PH_END) {
		sv->exited_late = 1;
		return;
	}
	if (sv->phase == PH_TAIL)
		return;
	svc_fail(sv, "service %s exited with code %ld %s%s", sv->n->name, r->exit_code,
	         sv->n->u.service.health.kind != PROBE_NONE ? "before becoming healthy" : "right after it started",
	         r->exit_code == 137 ? " (killed: out of memory, docker kill, or the engine restarted; "
	                               "the next up starts it again)" : "");
}

static void on_oneshot_wait(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	if (svc_gone(sv, r, "wait"))
		return;
	sv->exit_code = r->exit_code;
	if (r->exit_code == 0)
		svc_done(sv, SCHED_STARTED | SCHED_HEALTHY | SCHED_COMPLETED, "completed");
	else
		svc_fail(sv, "oneshot %s exited with code %ld", sv->n->name, r->exit_code);
}

/* The container runs: STARTED, then whatever readiness means for it. */
static void svc_running(struct svc *sv)
{
	const struct service *s = &sv->n->u.service;
	int keep = sv->n->np->action == PLAN_KEEP;

	sv->started = 1;
	if (s->oneshot && keep) {
		svc_done(sv, SCHED_STARTED | SCHED_HEALTHY | SCHED_COMPLETED, "kept (completed)");
		return;
	}
	sched_reach(sv->sj, SCHED_STARTED);
	if (sv->t && !keep)
		progress_step(sv->t, 1, "started");
	sv->phase = PH_WAIT;
	if (s->oneshot) {
		sv->u->inflight++;
		if (docker_container_wait(sv->u->d, sv->id, on_oneshot_wait, sv) < 0) {
			sv->u->inflight--;
			svc_fail(sv, "service %s: cannot wait for it", sv->n->name);
		}
		return;
	}
	if (!keep && !sv->u->o->no_wait) {
		sv->u->inflight++;
		if (docker_container_wait(sv->u->d, sv->id, on_exit_wait, sv) < 0)
			sv->u->inflight--;
	}
	if (sv->u->o->no_wait) {
		svc_done(sv, SCHED_HEALTHY, keep ? "kept" : "started");
		return;
	}
	if (s->health.kind != PROBE_NONE) {
		start_probe(sv);
		return;
	}
	if (keep) {
		svc_done(sv, SCHED_HEALTHY, "kept");
		return;
	}
	/* no probe: dependents go on now; the job ends after a short grace so
	 * an image that exits at once is reported */
	sched_reach(sv->sj, SCHED_HEALTHY);
	uv_timer_init(docker_loop(sv->u->d), &sv->grace);
	sv->grace.data = sv;
	sv->grace_open = 1;
	uv_timer_start(&sv->grace, on_grace, grace_ms(sv->u->d), 0);
}

static void on_inspected(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	if (svc_gone(sv, r, "inspect"))
		return;
	if (r->ncontainers && r->containers[0].ip)
		sv->ip = xstrdup(r->containers[0].ip);
	svc_running(sv);
}

static void on_started(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;
	enum probe_kind k = sv->n->u.service.health.kind;

	if (svc_gone(sv, r, "start"))
		return;
	if ((k == PROBE_TCP || k == PROBE_HTTP) && !sv->u->o->no_wait) {
		sv->u->inflight++;
		if (docker_container_inspect(sv->u->d, sv->id, sv->u->network, on_inspected, sv) == 0)
			return;
		sv->u->inflight--;
	}
	svc_running(sv);
}

static void on_created(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	if (svc_gone(sv, r, "create"))
		return;
	sv->id = xstrdup(r->id ? r->id : "");
	if (sv->t)
		progress_step(sv->t, 1, "created");
	sv->u->inflight++;
	if (docker_container_start(sv->u->d, sv->id, on_started, sv) < 0) {
		sv->u->inflight--;
		svc_fail(sv, "service %s: cannot start a request", sv->n->name);
	}
}

static void svc_create(struct svc *sv)
{
	struct spec_mem m;
	int rc;

	if (sv->t)
		progress_step(sv->t, 1, "creating");
	svc_spec_build(sv, &m);
	sv->u->inflight++;
	rc = docker_container_create(sv->u->d, &m.spec, on_created, sv);
	svc_spec_free(&m);
	if (rc < 0) {
		sv->u->inflight--;
		svc_fail(sv, "service %s: cannot start a request", sv->n->name);
	}
}

/* The first bind source of service n that does not exist, as a message
 * (malloc'd), or NULL when all do. */
char *svc_missing_bind(const struct node *n)
{
	const struct service *s = &n->u.service;
	size_t i;

	for (i = 0; i < s->volumes.n; i++) {
		const char *v = s->volumes.v[i];
		struct stat st;
		char *src, *msg;

		if (v[0] != '/')
			continue;
		src = xstrndup(v, strcspn(v, ":"));
		if (stat(src, &st) == 0) {
			free(src);
			continue;
		}
		msg = xasprintf("service %s: volume %s: %s: %s", n->name, v, src, strerror(errno));
		free(src);
		return msg;
	}
	return NULL;
}

/* Checks bind sources, then creates: the old container, if any, was
 * stopped and removed by the service's retire job (below). */
static void svc_replace(struct svc *sv)
{
	char *err = svc_missing_bind(sv->n);

	if (err) {
		svc_fail(sv, "%s", err);
		free(err);
		return;
	}
	if (sv->old && !sv->retired) {
		svc_fail(sv, "service %s: remove the old container: %s", sv->n->name,
		         sv->retire_err ? sv->retire_err : "cannot start a request");
		return;
	}
	svc_create(sv);
}

/* One volume create in flight: which volume, for the message. */
struct volreq {
	struct svc *sv;
	char *vol; /* the name as the stack wrote it */
};

/* Records the first volume error: "service s (file:line): volume v: why". */
static void vol_err(struct svc *sv, const char *vol, const char *why)
{
	if (sv->vol_failed)
		return;
	sv->vol_failed = 1;
	if (!sv->err)
		sv->err = xasprintf("service %s (%s:%d): volume %s: %s", sv->n->name, sv->n->pos.file, sv->n->pos.line,
		                    vol, why);
}

/* After the last create: fail with the first error, or go on. */
static void vol_done(struct svc *sv)
{
	if (--sv->nvol > 0)
		return;
	if (sv->phase == PH_END || sv->phase == PH_TAIL)
		return;
	if (sv->cancelled)
		svc_fail(sv, "service %s: interrupted", sv->n->name);
	else if (sv->vol_failed)
		svc_fail(sv, "service %s: volume failed", sv->n->name); /* keeps sv->err */
	else
		svc_replace(sv);
}

static void on_volume(void *arg, const struct docker_result *r)
{
	struct volreq *vr = arg;
	struct svc *sv = vr->sv;

	sv->u->inflight--;
	if (!r->ok)
		vol_err(sv, vr->vol, r->error ? r->error : "failed");
	free(vr->vol);
	free(vr);
	vol_done(sv);
}

/* The network is there: named volumes (idempotent creates, in parallel). */
static void svc_volumes(struct svc *sv)
{
	const struct service *s = &sv->n->u.service;
	size_t i;

	sv->nvol = 1; /* held while issuing */
	for (i = 0; i < s->volumes.n; i++) {
		const char *v = s->volumes.v[i];
		struct volreq *vr;
		char *name;

		if (v[0] == '/')
			continue;
		vr = xmalloc(sizeof(*vr));
		vr->sv = sv;
		vr->vol = xstrndup(v, strcspn(v, ":"));
		name = names_volume(sv->u->s, vr->vol);
		sv->nvol++;
		sv->u->inflight++;
		if (docker_volume_create(sv->u->d, name, L_PROJECT, sv->u->s->project, on_volume, vr) < 0) {
			sv->u->inflight--;
			sv->nvol--;
			vol_err(sv, vr->vol, "cannot start a request");
			free(vr->vol);
			free(vr);
		}
		free(name);
	}
	vol_done(sv);
}

static void on_network(void *arg, const struct docker_result *r)
{
	struct up *u = arg;
	size_t i;

	u->inflight--;
	u->net_state = r->ok ? 2 : 3;
	if (!r->ok)
		u->net_err = xasprintf("network %s: %s", u->network, r->error ? r->error : "failed");
	for (i = 0; i < u->nnetwait; i++) {
		struct svc *sv = u->netwait[i];
		if (sv->phase == PH_END || sv->phase == PH_TAIL)
			continue;
		if (sv->cancelled)
			svc_fail(sv, "service %s: interrupted", sv->n->name);
		else if (u->net_state == 3)
			svc_fail(sv, "service %s: %s", sv->n->name, u->net_err);
		else
			svc_next(sv);
	}
	u->nnetwait = 0;
}

/* create / recreate: the project network once, shared by every service. */
static void svc_next(struct svc *sv)
{
	struct up *u = sv->u;

	switch (u->net_state) {
	case 2:
		svc_volumes(sv);
		return;
	case 3:
		svc_fail(sv, "service %s: %s", sv->n->name, u->net_err);
		return;
	case 0:
		u->net_state = 1;
		u->inflight++;
		if (docker_network_create(u->d, u->network, L_PROJECT, u->s->project, on_network, u) < 0) {
			u->inflight--;
			u->net_state = 3;
			u->net_err = xstrdup("cannot start a request to the engine");
			svc_fail(sv, "service %s: %s", sv->n->name, u->net_err);
			return;
		}
		/* fall through */
	default:
		u->netwait = xreallocarray(u->netwait, u->nnetwait + 1, sizeof(*u->netwait));
		u->netwait[u->nnetwait++] = sv;
	}
}

static int svc_start(struct sched_job *j, void *arg)
{
	struct svc *sv = arg;
	const struct node_plan *np = sv->n->np;

	(void)j;
	sv->phase = PH_SETUP;
	if (np->action == PLAN_KEEP) {
		sv->id = xstrdup(sv->old->id);
		sv->ip = sv->old->ip ? xstrdup(sv->old->ip) : NULL;
		svc_running(sv);
		return 0;
	}
	sv->t = progress_task(sv->u->p, sv->n->name, 0);
	svc_next(sv);
	return 0;
}

/* Ctrl-C or fail-fast: stop waiting; what is already running stays. */
static void svc_cancel(struct sched_job *j, void *arg)
{
	struct svc *sv = arg;

	(void)j;
	sv->cancelled = 1;
	if (sv->phase == PH_WAIT) {
		if (sv->grace_open && uv_is_active((uv_handle_t *)&sv->grace)) {
			uv_timer_stop(&sv->grace);
			svc_done(sv, SCHED_STARTED | SCHED_HEALTHY, "started");
			return;
		}
		svc_fail(sv, "service %s: interrupted while waiting for it to be %s", sv->n->name,
		         sv->n->u.service.oneshot ? "completed" : "healthy");
	}
}

const struct sched_ops svc_ops = {svc_start, svc_cancel};
