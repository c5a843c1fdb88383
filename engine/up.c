/* up.c - the service lifecycle: the per-service plan (create / recreate with
 * reasons / keep / remove) from one container list call and the labels each
 * container carries; `up` (image builds and service starts as jobs on one
 * scheduler, each service gated on its image and its dependencies' events);
 * `down` (reverse dependency order, in parallel), `ps`, `logs`.
 *
 * A container remembers what it was created from in labels:
 *   graphbuild.project, graphbuild.service, graphbuild.oneshot,
 *   graphbuild.image-key      the key of its image (a reference: its image ID)
 *   graphbuild.config         XXH3-128 of the canonical effective config
 *   graphbuild.config.FIELD   XXH3-64 of one field (command, env, ports, ...)
 *   graphbuild.env.NAME       XXH3-64 of one variable's value
 * so `up` decides keep / recreate from the list call alone, and the reason
 * names the field ("env API_URL changed", "ports changed"). Health probes are
 * not container config: changing one does not recreate anything. A tcp or
 * http probe that will run inside the container (a remote engine) adds a
 * reason saying so, after the action is decided: it changes nothing.
 *
 * Memory: everything of one `up` (struct up, its svc jobs) is freed after the
 * loop has delivered every callback of the requests it started (inflight
 * counter; still-open streams are cancelled with docker_cancel_all first). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <xxhash.h>

#include "graphbuild/build.h"
#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/health.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/sched.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

#define L_PROJECT "graphbuild.project"
#define L_SERVICE "graphbuild.service"
#define L_IMAGE "graphbuild.image-key"
#define L_CONFIG "graphbuild.config"
#define L_ONESHOT "graphbuild.oneshot"
#define L_ENV "graphbuild.env."
#define GRACE_MS 250 /* a probe-less service that exits this soon fails `up` */

/* ---- containers of a project (copied out of the engine's reply) ---- */

struct ctr {
	char *id, *name, *state, *health, *ip, *ports;
	int exit_code;
	char **lk, **lv;
	size_t nl;
};

struct listing {
	int done, ok;
	char *err;
	struct ctr *v;
	size_t n;
};

static char *dupz(const char *s)
{
	return xstrdup(s ? s : "");
}

static void on_listing(void *arg, const struct docker_result *r)
{
	struct listing *l = arg;
	size_t i, k;

	l->done = 1;
	l->ok = r->ok;
	if (!r->ok) {
		l->err = xstrdup(r->error ? r->error : "engine: container list failed");
		return;
	}
	l->v = xcalloc(r->ncontainers + 1, sizeof(*l->v));
	l->n = r->ncontainers;
	for (i = 0; i < r->ncontainers; i++) {
		const struct docker_container *c = &r->containers[i];
		struct ctr *o = &l->v[i];

		o->id = dupz(c->id);
		o->name = dupz(c->name);
		o->state = dupz(c->state);
		o->health = dupz(c->health ? c->health : "none");
		o->ip = c->ip ? xstrdup(c->ip) : NULL;
		o->ports = dupz(c->ports);
		o->exit_code = c->exit_code;
		o->nl = c->nlabels;
		o->lk = xcalloc(c->nlabels + 1, sizeof(char *));
		o->lv = xcalloc(c->nlabels + 1, sizeof(char *));
		for (k = 0; k < c->nlabels; k++) {
			o->lk[k] = dupz(c->label_k[k]);
			o->lv[k] = dupz(c->label_v[k]);
		}
	}
}

static void ctrs_free(struct ctr *v, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].state);
		free(v[i].health);
		free(v[i].ip);
		free(v[i].ports);
		for (k = 0; k < v[i].nl; k++) {
			free(v[i].lk[k]);
			free(v[i].lv[k]);
		}
		free(v[i].lk);
		free(v[i].lv);
	}
	free(v);
}

static void listing_free(struct listing *l)
{
	ctrs_free(l->v, l->n);
	free(l->err);
	memset(l, 0, sizeof(*l));
}

/* Runs the loop until *done (one request of ours; never inside a callback). */
static void run_until(struct docker *d, int *done)
{
	while (!*done)
		uv_run(docker_loop(d), UV_RUN_ONCE);
}

/* The one list call: every container labelled with the project. 0 or -1. */
static int list_project(struct docker *d, const char *project, struct listing *l)
{
	char *f = xasprintf(L_PROJECT "=%s", project);
	int rc;

	memset(l, 0, sizeof(*l));
	rc = docker_container_list(d, f, on_listing, l);
	free(f);
	if (rc < 0) {
		l->err = xstrdup("cannot start a request to the engine");
		return -1;
	}
	run_until(d, &l->done);
	return l->ok ? 0 : -1;
}

static const char *label_of(const struct ctr *c, const char *k)
{
	size_t i;

	for (i = 0; i < c->nl; i++)
		if (strcmp(c->lk[i], k) == 0)
			return c->lv[i];
	return NULL;
}

static const char *service_of(const struct ctr *c)
{
	return label_of(c, L_SERVICE);
}

/* ---- the effective config, canonical, hashed ---- */

enum {
	F_COMMAND, F_ENTRYPOINT, F_ENV, F_LABELS, F_WORKDIR, F_USER, F_PORTS, F_VOLUMES,
	F_ALIASES, F_RESTART, F_STOP_TIMEOUT, F_ONESHOT, F_NETWORK, F_INIT, NFIELDS
};

static const char *const field_name[NFIELDS] = {
	"command", "entrypoint", "env", "labels", "workdir", "user", "ports", "volumes",
	"aliases", "restart", "stop_timeout", "oneshot", "network", "init",
};

static void ser_item(struct buf *b, const char *s)
{
	buf_printf(b, "%zu:%s,", strlen(s), s);
}

static void ser_list(struct buf *b, const struct strlist *l, int set)
{
	size_t i;

	if (!set) {
		buf_adds(b, "unset");
		return;
	}
	buf_printf(b, "[%zu]", l->n);
	for (i = 0; i < l->n; i++)
		ser_item(b, l->v[i]);
}

static void ser_kv(struct buf *b, const struct kvlist *kv)
{
	size_t i;

	/* kvlist is sorted by key (graph.h) */
	buf_printf(b, "{%zu}", kv->n);
	for (i = 0; i < kv->n; i++) {
		ser_item(b, kv->k[i]);
		ser_item(b, kv->v[i]);
	}
}

static void ser_str(struct buf *b, const char *s)
{
	if (s)
		ser_item(b, s);
	else
		buf_adds(b, "unset");
}

static char *network_name(const struct stack *s)
{
	return xasprintf("%s_default", s->project);
}

/* Serialises one field of a service's effective config into b. */
static void ser_field(struct buf *b, const struct stack *s, const struct service *sv, int f)
{
	char *net;

	switch (f) {
	case F_COMMAND: ser_list(b, &sv->command, sv->command_set); break;
	case F_ENTRYPOINT: ser_list(b, &sv->entrypoint, sv->entrypoint_set); break;
	case F_ENV: ser_kv(b, &sv->env); break;
	case F_LABELS: ser_kv(b, &sv->labels); break;
	case F_WORKDIR: ser_str(b, sv->workdir); break;
	case F_USER: ser_str(b, sv->user); break;
	case F_PORTS: ser_list(b, &sv->ports, 1); break;
	case F_VOLUMES: ser_list(b, &sv->volumes, 1); break; /* bind sources are absolute */
	case F_ALIASES: ser_list(b, &sv->aliases, 1); break;
	case F_RESTART: ser_str(b, sv->restart ? sv->restart : "no"); break;
	case F_STOP_TIMEOUT: buf_printf(b, "%d", sv->stop_timeout); break;
	case F_ONESHOT: buf_printf(b, "%d", sv->oneshot ? 1 : 0); break;
	case F_INIT: buf_printf(b, "%d", sv->init ? 1 : 0); break;
	case F_NETWORK:
		net = network_name(s);
		ser_str(b, net);
		free(net);
		break;
	}
}

static void hash64(const void *p, size_t n, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits(p, n));
}

struct config_hash {
	char all[33];
	char field[NFIELDS][17];
};

static void config_hash(const struct stack *s, const struct service *sv, struct config_hash *h)
{
	struct buf all = {0}, one = {0};
	XXH128_hash_t x;
	int f;

	buf_adds(&all, "graphbuild-service-config-v1\n");
	for (f = 0; f < NFIELDS; f++) {
		one.len = 0;
		buf_adds(&one, "");
		ser_field(&one, s, sv, f);
		hash64(one.data, one.len, h->field[f]);
		if (f == F_INIT && !sv->init)
			continue; /* fields added later count only when set: old containers stay kept */
		buf_printf(&all, "%s %zu:", field_name[f], one.len);
		buf_add(&all, one.data, one.len);
		buf_addc(&all, '\n');
	}
	x = XXH3_128bits(all.data, all.len);
	snprintf(h->all, sizeof h->all, "%016llx%016llx", (unsigned long long)x.high64,
	         (unsigned long long)x.low64);
	buf_free(&all);
	buf_free(&one);
}

/* The image-key label value: the image node's key, a reference's image ID. */
static const char *image_key(const struct node *img)
{
	if (!img)
		return "";
	if (img->kind == NODE_REF)
		return img->ref_id ? img->ref_id : img->ref;
	return img->keyhex;
}

static const char *image_label(const struct node *img)
{
	return img->kind == NODE_REF ? img->ref : img->name;
}

/* What the container is created from. */
static char *image_ref(const struct node *img)
{
	if (img->kind == NODE_REF)
		return xstrdup(img->ref_id ? img->ref_id : img->ref);
	return xasprintf(KEY_CACHE_REPO ":%s", img->keyhex);
}

/* ---- the plan ---- */

void up_orphans_free(struct up_orphans *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->names[i]);
		free(o->ids[i]);
	}
	free(o->names);
	free(o->ids);
	memset(o, 0, sizeof(*o));
}

static void orphan_add(struct up_orphans *o, const char *name, const char *id)
{
	o->names = xrealloc(o->names, sizeof(char *) * (o->n + 1));
	o->ids = xrealloc(o->ids, sizeof(char *) * (o->n + 1));
	o->names[o->n] = xstrdup(name);
	o->ids[o->n] = xstrdup(id);
	o->n++;
}

static char *container_name(const struct stack *s, const struct node *n)
{
	return xasprintf("%s-%s", s->project, n->name);
}

/* Reasons for env: which variables were added, changed or removed. */
static void env_reasons(struct node_plan *np, const struct service *sv, const struct ctr *c)
{
	size_t i, before = np->nreasons;
	char h[17];

	for (i = 0; i < sv->env.n; i++) {
		char *k = xasprintf(L_ENV "%s", sv->env.k[i]);
		const char *old = label_of(c, k);

		hash64(sv->env.v[i], strlen(sv->env.v[i]), h);
		if (!old)
			plan_reason(np, "env %s added", sv->env.k[i]);
		else if (strcmp(old, h))
			plan_reason(np, "env %s changed", sv->env.k[i]);
		free(k);
	}
	for (i = 0; i < c->nl; i++)
		if (strncmp(c->lk[i], L_ENV, strlen(L_ENV)) == 0 && !kv_get(&sv->env, c->lk[i] + strlen(L_ENV)))
			plan_reason(np, "env %s removed", c->lk[i] + strlen(L_ENV));
	if (np->nreasons == before)
		plan_reason(np, "env changed");
}

/* Decides keep / recreate for service n against its container c. */
static void plan_against(struct stack *s, struct node *n, const struct ctr *c)
{
	const struct service *sv = &n->u.service;
	struct node_plan *np = n->np;
	struct config_hash h;
	const char *v;
	int f;

	if (!c) {
		np->action = PLAN_CREATE;
		return;
	}
	v = label_of(c, L_IMAGE);
	if (!v || strcmp(v, image_key(sv->image)))
		plan_reason(np, "image %s changed", image_label(sv->image));
	else if (sv->image->np && sv->image->np->forced)
		plan_reason(np, "image %s is rebuilt (--rebuild)", image_label(sv->image));
	config_hash(s, sv, &h);
	v = label_of(c, L_CONFIG);
	if (!v || strcmp(v, h.all)) {
		size_t before = np->nreasons;
		for (f = 0; f < NFIELDS; f++) {
			char *k = xasprintf(L_CONFIG ".%s", field_name[f]);
			const char *old = label_of(c, k);
			free(k);
			if (old && strcmp(old, h.field[f]) == 0)
				continue;
			if (f == F_ENV)
				env_reasons(np, sv, c);
			else
				plan_reason(np, "%s changed", field_name[f]);
		}
		if (np->nreasons == before)
			plan_reason(np, "config changed");
	}
	if (strcmp(c->state, "running") != 0) {
		if (sv->oneshot && strcmp(c->state, "exited") == 0 && c->exit_code == 0)
			; /* a completed job */
		else if (strcmp(c->state, "exited") == 0)
			plan_reason(np, "container exited (code %d)", c->exit_code);
		else
			plan_reason(np, "container is %s", c->state);
	}
	np->action = np->nreasons ? PLAN_RECREATE : PLAN_KEEP;
}

/* The container of service n in the listing: named <project>-<service>
 * first, else any labelled with the service. */
static const struct ctr *find_ctr(const struct stack *s, const struct listing *l, const struct node *n)
{
	char *name = container_name(s, n);
	const struct ctr *found = NULL;
	size_t i;

	for (i = 0; i < l->n && !found; i++)
		if (strcmp(l->v[i].name, name) == 0)
			found = &l->v[i];
	for (i = 0; i < l->n && !found; i++)
		if (service_of(&l->v[i]) && strcmp(service_of(&l->v[i]), n->name) == 0)
			found = &l->v[i];
	free(name);
	return found;
}

/* Fills n->np of every selected service from the listing; orphans into out
 * (when out is not NULL): containers of services no longer in the stack, and
 * extra containers of a service. */
static void plan_from(struct stack *s, const struct listing *l, struct up_orphans *out)
{
	size_t i;

	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];

		if (n->kind != NODE_SERVICE || !n->selected)
			continue;
		if (!n->np)
			n->np = xcalloc(1, sizeof(*n->np));
		plan_against(s, n, find_ctr(s, l, n));
	}
	for (i = 0; out && i < l->n; i++) {
		const char *svc = service_of(&l->v[i]);
		struct node *n = svc ? graph_service(s, svc) : NULL;

		if (!n)
			orphan_add(out, svc ? svc : l->v[i].name, l->v[i].id);
		else if (n->selected && find_ctr(s, l, n) != &l->v[i])
			orphan_add(out, svc, l->v[i].id);
	}
}

/* Probes that connect to the container (tcp, http) run inside it when they
 * cannot reach it (health_via): say so per service. 0, or -1 (printed) when
 * GRAPHBUILD_PROBES is not understood. */
static int probe_notes(struct stack *s, struct docker *d)
{
	const char *why = NULL;
	int via = -2;
	size_t i;

	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		const struct probe *p = &n->u.service.health;

		if (n->kind != NODE_SERVICE || !n->selected || !n->np || (p->kind != PROBE_TCP && p->kind != PROBE_HTTP))
			continue;
		if (via == -2 && (via = health_via(d, &why)) < 0) {
			warn("%s (it is \"%s\")", why, getenv("GRAPHBUILD_PROBES"));
			return -1;
		}
		if (via == HEALTH_EXEC)
			plan_note(n->np, "probe %s runs as exec inside the container: %s", health_describe(p), why);
	}
	return 0;
}

int up_plan(struct stack *s, struct docker *d, struct up_orphans *out)
{
	struct listing l;
	int rc = 0;

	if (list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		rc = -1;
	} else {
		plan_from(s, &l, out);
		rc = probe_notes(s, d);
	}
	listing_free(&l);
	return rc;
}

/* ---- up: one job per service on the build's scheduler ---- */

struct up;

enum { PH_IDLE, PH_SETUP, PH_WAIT, PH_TAIL, PH_END };

struct svc {
	struct up *u;
	struct node *n;
	struct sched_job *sj;
	struct sched_job *rj;    /* retiring the old container early, or NULL */
	struct ptask *t;
	const struct ctr *old;   /* its container from the listing, or NULL */
	int retired;             /* rj stopped and removed old */
	char *retire_err;        /* why rj could not */
	int retire_cancelled;
	char *id, *ip;
	int phase;
	int cancelled;
	int nvol;                /* volume creates pending */
	int vol_failed;
	char *err;               /* why it failed (sched_fail message) */
	struct buf tail;         /* the container's last lines, on failure */
	struct health *h;
	uv_timer_t grace;
	int grace_open;
	int started;             /* this run started (or kept running) its container */
	int exited_late;         /* exited after its job was done */
	long exit_code;
	unsigned pending_events; /* reached with DONE after the tail fetch */
};

struct up {
	struct stack *s;
	struct docker *d;
	const struct up_opts *o;
	struct progress *p;
	struct sched *sc;
	char *network;
	int net_state;           /* 0 none, 1 creating, 2 ready, 3 failed */
	char *net_err;
	struct svc **netwait;
	size_t nnetwait;
	int inflight;            /* requests of ours whose callback is pending */
	int orphans_pending;
	int orphan_failed;
	struct svc **v;
	size_t n;
};

static void svc_next(struct svc *sv);

static int svc_stop_timeout(const struct svc *sv)
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
	va_start(ap, fmt);
	free(sv->err);
	sv->err = xvasprintf(fmt, ap);
	va_end(ap);
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

static void grace_closed(uv_handle_t *h)
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
	uv_timer_start(&sv->grace, on_grace, GRACE_MS, 0);
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

/* Parses "HOST:CONTAINER", "IP:HOST:CONTAINER" or "CONTAINER" with an
 * optional "/proto" (validated by the DSL). Pointers into buf. */
static void parse_port(char *buf, struct docker_port *p)
{
	char *proto = strchr(buf, '/');
	char *a[3] = {0};
	int n = 0;
	char *q = buf;

	memset(p, 0, sizeof(*p));
	if (proto) {
		*proto++ = 0;
		p->proto = proto;
	}
	while (n < 3) {
		a[n++] = q;
		q = strchr(q, ':');
		if (!q)
			break;
		*q++ = 0;
	}
	if (n == 1)
		p->container_port = atoi(a[0]);
	else if (n == 2) {
		p->host_port = atoi(a[0]);
		p->container_port = atoi(a[1]);
	} else {
		p->host_ip = a[0];
		p->host_port = atoi(a[1]);
		p->container_port = atoi(a[2]);
	}
}

struct spec_mem {
	struct docker_spec spec;
	struct docker_port *ports;
	struct docker_mount *mounts;
	char **env, **lk, **lv, **strs;
	size_t nenv, nl, nstrs;
};

static char *keep_str(struct spec_mem *m, char *s)
{
	m->strs = xrealloc(m->strs, sizeof(char *) * (m->nstrs + 1));
	m->strs[m->nstrs++] = s;
	return s;
}

static void add_label(struct spec_mem *m, const char *k, const char *v)
{
	m->lk = xrealloc(m->lk, sizeof(char *) * (m->nl + 1));
	m->lv = xrealloc(m->lv, sizeof(char *) * (m->nl + 1));
	m->lk[m->nl] = keep_str(m, xstrdup(k));
	m->lv[m->nl] = keep_str(m, xstrdup(v));
	m->nl++;
}

static void spec_free(struct spec_mem *m)
{
	size_t i;

	for (i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	free(m->strs);
	free(m->ports);
	free(m->mounts);
	free(m->env);
	free(m->lk);
	free(m->lv);
}

/* The container's create request: config, mounts, ports, network, labels. */
static void spec_build(struct svc *sv, struct spec_mem *m)
{
	struct stack *s = sv->u->s;
	struct service *svc = &sv->n->u.service;
	struct docker_spec *sp = &m->spec;
	struct config_hash h;
	char hx[17];
	size_t i;
	int f;

	memset(m, 0, sizeof(*m));
	sp->name = keep_str(m, container_name(s, sv->n));
	sp->image = keep_str(m, image_ref(svc->image));
	sp->cmd = svc->command.v;
	sp->ncmd = svc->command.n;
	sp->cmd_set = svc->command_set;
	sp->entrypoint = svc->entrypoint.v;
	sp->nentrypoint = svc->entrypoint.n;
	sp->entrypoint_set = svc->entrypoint_set;
	m->env = xcalloc(svc->env.n + 1, sizeof(char *));
	for (i = 0; i < svc->env.n; i++)
		m->env[i] = keep_str(m, xasprintf("%s=%s", svc->env.k[i], svc->env.v[i]));
	sp->env = m->env;
	sp->nenv = svc->env.n;
	sp->workdir = svc->workdir;
	sp->user = svc->user;
	m->mounts = xcalloc(svc->volumes.n + 1, sizeof(*m->mounts));
	for (i = 0; i < svc->volumes.n; i++) {
		char *v = keep_str(m, xstrdup(svc->volumes.v[i]));
		char *dst = strchr(v, ':'), *mode;
		struct docker_mount *mt = &m->mounts[i];

		*dst++ = 0;
		if ((mode = strchr(dst, ':')))
			*mode++ = 0;
		mt->target = dst;
		mt->readonly = mode && strcmp(mode, "ro") == 0;
		if (v[0] == '/') {
			mt->type = "bind";
			mt->source = v;
		} else {
			mt->type = "volume";
			mt->source = keep_str(m, xasprintf("%s_%s", s->project, v));
		}
	}
	sp->mounts = m->mounts;
	sp->nmounts = svc->volumes.n;
	m->ports = xcalloc(svc->ports.n + 1, sizeof(*m->ports));
	for (i = 0; i < svc->ports.n; i++)
		parse_port(keep_str(m, xstrdup(svc->ports.v[i])), &m->ports[i]);
	sp->ports = m->ports;
	sp->nports = svc->ports.n;
	sp->network = sv->u->network;
	/* the service name resolves on the network, plus its aliases */
	{
		char **al = xcalloc(svc->aliases.n + 2, sizeof(char *));
		al[0] = sv->n->name;
		for (i = 0; i < svc->aliases.n; i++)
			al[i + 1] = svc->aliases.v[i];
		keep_str(m, (char *)al);
		sp->aliases = al;
		sp->naliases = svc->aliases.n + 1;
	}
	sp->restart = svc->restart;
	sp->init = svc->init;
	sp->stop_timeout = svc->stop_timeout;
	for (i = 0; i < svc->labels.n; i++)
		add_label(m, svc->labels.k[i], svc->labels.v[i]);
	add_label(m, L_PROJECT, s->project);
	add_label(m, L_SERVICE, sv->n->name);
	add_label(m, L_ONESHOT, svc->oneshot ? "1" : "0");
	add_label(m, L_IMAGE, image_key(svc->image));
	config_hash(s, svc, &h);
	add_label(m, L_CONFIG, h.all);
	for (f = 0; f < NFIELDS; f++) {
		char *k = xasprintf(L_CONFIG ".%s", field_name[f]);
		add_label(m, k, h.field[f]);
		free(k);
	}
	for (i = 0; i < svc->env.n; i++) {
		char *k = xasprintf(L_ENV "%s", svc->env.k[i]);
		hash64(svc->env.v[i], strlen(svc->env.v[i]), hx);
		add_label(m, k, hx);
		free(k);
	}
	sp->label_k = m->lk;
	sp->label_v = m->lv;
	sp->nlabels = m->nl;
}

static void svc_create(struct svc *sv)
{
	struct spec_mem m;
	int rc;

	if (sv->t)
		progress_step(sv->t, 1, "creating");
	spec_build(sv, &m);
	sv->u->inflight++;
	rc = docker_container_create(sv->u->d, &m.spec, on_created, sv);
	spec_free(&m);
	if (rc < 0) {
		sv->u->inflight--;
		svc_fail(sv, "service %s: cannot start a request", sv->n->name);
	}
}

/* The first bind source of service n that does not exist, as a message
 * (malloc'd), or NULL when all do. */
static char *missing_bind(const struct node *n)
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
	char *err = missing_bind(sv->n);

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

static void on_volume(void *arg, const struct docker_result *r)
{
	struct svc *sv = arg;

	sv->u->inflight--;
	if (!r->ok && !sv->vol_failed) {
		sv->vol_failed = 1;
		free(sv->err);
		sv->err = xasprintf("service %s: volume: %s", sv->n->name, r->error ? r->error : "failed");
	}
	if (--sv->nvol > 0)
		return;
	if (sv->phase == PH_END || sv->phase == PH_TAIL)
		return;
	if (sv->cancelled)
		svc_fail(sv, "service %s: interrupted", sv->n->name);
	else if (sv->vol_failed)
		svc_fail(sv, "%s", sv->err);
	else
		svc_replace(sv);
}

/* The network is there: named volumes (idempotent creates, in parallel). */
static void svc_volumes(struct svc *sv)
{
	const struct service *s = &sv->n->u.service;
	size_t i;

	sv->nvol = 1; /* held while issuing */
	for (i = 0; i < s->volumes.n; i++) {
		const char *v = s->volumes.v[i];
		char *name;

		if (v[0] == '/')
			continue;
		name = xasprintf("%s_%.*s", sv->u->s->project, (int)strcspn(v, ":"), v);
		sv->nvol++;
		sv->u->inflight++;
		if (docker_volume_create(sv->u->d, name, L_PROJECT, sv->u->s->project, on_volume, sv) < 0) {
			sv->u->inflight--;
			sv->nvol--;
			sv->vol_failed = 1;
		}
		free(name);
	}
	sv->u->inflight++;
	{
		struct docker_result ok = {0};
		ok.ok = 1;
		on_volume(sv, &ok);
	}
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
		u->netwait = xrealloc(u->netwait, sizeof(*u->netwait) * (u->nnetwait + 1));
		u->netwait[u->nnetwait++] = sv;
	}
}

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
	char *err = missing_bind(sv->n);
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

static const struct sched_ops retire_ops = {retire_start, retire_cancel};

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

static const struct sched_ops svc_ops = {svc_start, svc_cancel};

static unsigned cond_mask(enum dep_cond c)
{
	switch (c) {
	case DEP_HEALTHY: return SCHED_HEALTHY;
	case DEP_COMPLETED: return SCHED_COMPLETED;
	default: return SCHED_STARTED;
	}
}

/* Two selected services publishing the same host port (and address). */
static int port_clash(struct stack *s)
{
	size_t i, j, a, b;
	int bad = 0;

	for (i = 0; i < s->nnodes; i++)
		for (j = i + 1; j < s->nnodes; j++) {
			struct node *x = s->nodes[i], *y = s->nodes[j];
			if (x->kind != NODE_SERVICE || y->kind != NODE_SERVICE || !x->selected || !y->selected)
				continue;
			for (a = 0; a < x->u.service.ports.n; a++)
				for (b = 0; b < y->u.service.ports.n; b++) {
					char *pa = xstrdup(x->u.service.ports.v[a]), *pb = xstrdup(y->u.service.ports.v[b]);
					struct docker_port qa, qb;
					parse_port(pa, &qa);
					parse_port(pb, &qb);
					if (qa.host_port && qa.host_port == qb.host_port &&
					    strcmp(qa.proto ? qa.proto : "tcp", qb.proto ? qb.proto : "tcp") == 0 &&
					    (!qa.host_ip || !qb.host_ip || strcmp(qa.host_ip, qb.host_ip) == 0)) {
						warn("%s:%d: services %s and %s both publish host port %d", y->pos.file,
						     y->pos.line, x->name, y->name, qa.host_port);
						bad = 1;
					}
					free(pa);
					free(pb);
				}
		}
	return bad;
}

static void on_orphan_removed(void *arg, const struct docker_result *r)
{
	struct up *u = arg;

	u->inflight--;
	u->orphans_pending--;
	if (!r->ok && r->status != 404) {
		warn("removing an orphan container: %s", r->error ? r->error : "failed");
		u->orphan_failed = 1;
	}
}

/* Every selected service is kept, no image to build, no orphan to remove. */
static int nothing_to_do(struct stack *s, const struct up_opts *o, const struct up_orphans *orph)
{
	size_t i;

	if (plan_pending(s) > 0 || (orph && orph->n && o->remove_orphans))
		return 0;
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];
		if (n->kind == NODE_SERVICE && n->selected && (!n->np || n->np->action != PLAN_KEEP))
			return 0;
	}
	return 1;
}

/* --recreate-deps: a service whose dependency is (re)created is recreated. */
static void recreate_deps(struct stack *s)
{
	size_t i, k;

	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		if (n->kind != NODE_SERVICE || !n->selected || !n->np || n->np->action != PLAN_KEEP)
			continue;
		for (k = 0; k < n->u.service.ndeps; k++) {
			struct node *d = n->u.service.deps[k].node;
			if (d && d->np && (d->np->action == PLAN_CREATE || d->np->action == PLAN_RECREATE)) {
				n->np->action = PLAN_RECREATE;
				plan_reason(n->np, "dependency %s is recreated (--recreate-deps)", d->name);
				break;
			}
		}
	}
}

int up_run(struct stack *s, struct docker *d, struct state *st, const struct up_opts *o,
           const struct up_orphans *orph)
{
	uv_loop_t *loop = docker_loop(d);
	struct up u;
	struct listing l = {0};
	struct sched_job **jobs;
	struct build *b;
	size_t i, k;
	int rc, any;

	if (port_clash(s))
		return 1;
	if (nothing_to_do(s, o, orph)) {
		if (o->progress != PROGRESS_QUIET)
			fprintf(stderr, "up to date\n");
		return 0;
	}
	/* off the no-op path: one manifest read per reused image */
	plan_record_reused(s, st, d);
	if (o->recreate_deps)
		recreate_deps(s);
	/* the plan's list call kept no IDs: one more list for the containers
	 * to replace or probe (only when there is work) */
	if (list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		listing_free(&l);
		return 1;
	}
	memset(&u, 0, sizeof(u));
	u.s = s;
	u.d = d;
	u.o = o;
	u.network = network_name(s);
	u.p = progress_new(loop, o->progress);
	u.sc = sched_new(loop, o->jobs > 0 ? o->jobs : 1, o->fail_fast);
	jobs = xcalloc(s->nnodes + 1, sizeof(*jobs));
	b = build_new(s, d, st, u.p, o->cache);
	build_add_jobs(b, u.sc, jobs);
	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		struct svc *sv;
		const struct service *svc = &n->u.service;

		if (n->kind != NODE_SERVICE || !n->selected || !n->np)
			continue;
		sv = xcalloc(1, sizeof(*sv));
		sv->u = &u;
		sv->n = n;
		sv->old = find_ctr(s, &l, n);
		if (n->np->action == PLAN_KEEP && !sv->old)
			n->np->action = PLAN_CREATE; /* gone since the plan */
		sv->sj = sched_add(u.sc, n, &svc_ops, sv, 0, svc->health.kind != PROBE_NONE ? 1000 : 100);
		jobs[n->index] = sv->sj;
		if (svc->image && jobs[svc->image->index])
			sched_need(sv->sj, jobs[svc->image->index], SCHED_DONE);
		for (k = 0; k < svc->ndeps; k++)
			if (svc->deps[k].node && jobs[svc->deps[k].node->index])
				sched_need(sv->sj, jobs[svc->deps[k].node->index], cond_mask(svc->deps[k].cond));
		if (sv->old && n->np->action != PLAN_KEEP) {
			sv->rj = sched_add(u.sc, n, &retire_ops, sv, 0, 100);
			if (svc->image && jobs[svc->image->index])
				sched_need(sv->rj, jobs[svc->image->index], SCHED_DONE);
			for (k = 0; k < svc->ndeps; k++)
				if (svc->deps[k].node && jobs[svc->deps[k].node->index])
					sched_need(sv->rj, jobs[svc->deps[k].node->index], SCHED_STARTED);
			sched_need(sv->sj, sv->rj, SCHED_DONE);
		}
		u.v = xrealloc(u.v, sizeof(*u.v) * (u.n + 1));
		u.v[u.n++] = sv;
	}
	for (i = 0; orph && i < orph->n; i++) {
		if (!o->remove_orphans) {
			fprintf(stderr, "keeping orphan container of %s (--no-remove-orphans)\n", orph->names[i]);
			continue;
		}
		fprintf(stderr, "removing orphan container of %s (no longer in the stack)\n", orph->names[i]);
		u.inflight++;
		u.orphans_pending++;
		if (docker_container_remove(d, orph->ids[i], 1, 0, on_orphan_removed, &u) < 0) {
			u.inflight--;
			u.orphans_pending--;
		}
	}
	rc = sched_run(u.sc);
	while (u.orphans_pending > 0)
		uv_run(loop, UV_RUN_ONCE);
	if (u.orphan_failed && rc == 0)
		rc = 1;

	/* the report */
	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		const char *e;
		if (n->kind == NODE_SERVICE || !jobs[n->index] || !(e = sched_job_error(jobs[n->index])))
			continue;
		fprintf(stderr, "\n%s: image %s: %s\n", argv0, n->name, e);
	}
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		const char *e = sched_job_error(sv->sj);
		if (!e || (sv->cancelled && rc == 130))
			continue;
		fprintf(stderr, "\n%s: %s\n", argv0, e);
		progress_print_tail(sv->n->name, sv->tail.data, sv->tail.len);
	}
	for (i = 0; i < u.n; i++)
		if ((sched_job_state(u.v[i]->sj) == 4 || sched_job_state(u.v[i]->sj) == 0) && !u.v[i]->t) {
			u.v[i]->t = progress_task(u.p, u.v[i]->n->name, 0);
			progress_done(u.v[i]->t, rc == 130 ? "cancelled" : "skipped");
		}
	any = 0;
	for (i = 0; i < u.n; i++)
		if (sched_job_state(u.v[i]->sj) == 4 || sched_job_state(u.v[i]->sj) == 0)
			fprintf(stderr, "%s%s", any++ ? ", " : rc == 130 ? "not started (interrupted): " : "not started (a dependency failed): ",
			        u.v[i]->n->name);
	if (any)
		fprintf(stderr, "\n");
	for (i = 0; i < u.n; i++)
		if (u.v[i]->exited_late && !u.v[i]->n->u.service.restart) {
			fprintf(stderr, "%s: service %s exited with code %ld after it started\n", argv0, u.v[i]->n->name,
			        u.v[i]->exit_code);
			if (rc == 0)
				rc = 1;
		}
	if (rc == 130) {
		any = 0;
		for (i = 0; i < u.n; i++)
			if (u.v[i]->started)
				fprintf(stderr, "%s%s", any++ ? ", " : "interrupted: stopped waiting; left running: ", u.v[i]->n->name);
		fprintf(stderr, any ? " (graphbuild down stops them)\n" : "interrupted: stopped waiting; nothing was started\n");
	}
	if (o->progress != PROGRESS_QUIET && progress_mode(u.p) != PROGRESS_QUIET)
		progress_summary(u.p);

	/* end what is still open (log probes, exit waits), then free */
	for (i = 0; i < u.n; i++)
		if (u.v[i]->h) {
			health_cancel(u.v[i]->h);
			u.v[i]->h = NULL;
		}
	docker_cancel_all(d);
	while (u.inflight > 0)
		uv_run(loop, UV_RUN_ONCE);
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		if (sv->grace_open)
			uv_close((uv_handle_t *)&sv->grace, grace_closed);
	}
	for (i = 0; i < u.n; i++)
		while (u.v[i]->grace_open)
			uv_run(loop, UV_RUN_ONCE);
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		free(sv->id);
		free(sv->ip);
		free(sv->err);
		free(sv->retire_err);
		buf_free(&sv->tail);
		free(sv);
	}
	free(u.v);
	free(u.netwait);
	free(u.net_err);
	free(u.network);
	build_free(b);
	sched_free(u.sc);
	progress_free(u.p);
	free(jobs);
	listing_free(&l);
	return rc;
}

/* ---- down ---- */

struct down {
	struct stack *s;
	struct docker *d;
	struct listing l;
	int *blockers;           /* per container: containers that must go first */
	char *blocks;            /* [i * n + j]: i must go before j */
	int *state;              /* 0 waiting, 1 running, 2 done */
	int timeout, volumes;
	int pending, failed;
};

static void down_kick(struct down *w);

static void down_finish(struct down *w, size_t i)
{
	size_t j, n = w->l.n;

	w->state[i] = 2;
	w->pending--;
	for (j = 0; j < n; j++)
		if (w->blocks[i * n + j])
			w->blockers[j]--;
	down_kick(w);
}

struct down_op {
	struct down *w;
	size_t i;
};

static void on_down_removed(void *arg, const struct docker_result *r)
{
	struct down_op *op = arg;
	struct down *w = op->w;

	if (!r->ok && r->status != 404) {
		warn("removing %s: %s", w->l.v[op->i].name, r->error ? r->error : "failed");
		w->failed = 1;
	} else
		fprintf(stderr, "removed %s\n", w->l.v[op->i].name);
	down_finish(w, op->i);
	free(op);
}

static void on_down_stopped(void *arg, const struct docker_result *r)
{
	struct down_op *op = arg;
	struct down *w = op->w;

	(void)r; /* a failed stop: the forced remove kills it */
	if (docker_container_remove(w->d, w->l.v[op->i].id, 1, w->volumes, on_down_removed, op) < 0) {
		w->failed = 1;
		down_finish(w, op->i);
		free(op);
	}
}

static void down_kick(struct down *w)
{
	size_t i;

	for (i = 0; i < w->l.n; i++) {
		struct down_op *op;
		const struct ctr *c = &w->l.v[i];

		if (w->state[i] != 0 || w->blockers[i] > 0)
			continue;
		w->state[i] = 1;
		w->pending++;
		op = xcalloc(1, sizeof(*op));
		op->w = w;
		op->i = i;
		if (strcmp(c->state, "running") == 0 || strcmp(c->state, "restarting") == 0 ||
		    strcmp(c->state, "paused") == 0) {
			if (docker_container_stop(w->d, c->id, w->timeout, on_down_stopped, op) == 0)
				continue;
		} else if (docker_container_remove(w->d, c->id, 1, w->volumes, on_down_removed, op) == 0)
			continue;
		w->failed = 1;
		free(op);
		w->state[i] = 2;
		w->pending--;
	}
}

/* 1 if service a (transitively) depends on service b. */
static int depends(const struct node *a, const struct node *b, int depth)
{
	size_t k;

	if (depth > 1000)
		return 0;
	for (k = 0; k < a->u.service.ndeps; k++) {
		const struct node *d = a->u.service.deps[k].node;
		if (d == b || (d && depends(d, b, depth + 1)))
			return 1;
	}
	return 0;
}

struct simple_wait {
	int done, ok;
	long status;
	char *err;
	char *body;
};

static void on_simple(void *arg, const struct docker_result *r)
{
	struct simple_wait *w = arg;

	w->done = 1;
	w->ok = r->ok;
	w->status = r->status;
	w->err = r->ok ? NULL : xstrdup(r->error ? r->error : "failed");
	w->body = r->ok && r->body ? xstrndup(r->body, r->len) : NULL;
}

int down_run(struct stack *s, struct docker *d, int volumes, int timeout_s)
{
	struct down w;
	struct simple_wait sw = {0};
	char *net = network_name(s), *f;
	size_t i, j, n;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.d = d;
	w.timeout = timeout_s;
	w.volumes = volumes;
	if (list_project(d, s->project, &w.l) < 0) {
		warn("%s", w.l.err);
		listing_free(&w.l);
		free(net);
		return 1;
	}
	n = w.l.n;
	w.blockers = xcalloc(n + 1, sizeof(int));
	w.state = xcalloc(n + 1, sizeof(int));
	w.blocks = xcalloc(n * n + 1, 1);
	/* i goes before j when j's service depends on i's: dependents stop first */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			const char *si = service_of(&w.l.v[i]), *sj = service_of(&w.l.v[j]);
			struct node *ni = si ? graph_service(s, si) : NULL, *nj = sj ? graph_service(s, sj) : NULL;
			if (i != j && ni && nj && depends(ni, nj, 0)) {
				w.blocks[i * n + j] = 1;
				w.blockers[j]++;
			}
		}
	down_kick(&w);
	while (w.pending > 0)
		uv_run(docker_loop(d), UV_RUN_ONCE);
	if (docker_network_remove(d, net, on_simple, &sw) == 0) {
		run_until(d, &sw.done);
		if (sw.ok)
			fprintf(stderr, "removed network %s\n", net);
		else if (sw.status != 404) {
			warn("removing network %s: %s", net, sw.err);
			w.failed = 1;
		}
		free(sw.err);
		free(sw.body);
	}
	if (volumes) {
		memset(&sw, 0, sizeof(sw));
		f = xasprintf(L_PROJECT "=%s", s->project);
		if (docker_volume_list(d, f, on_simple, &sw) == 0) {
			run_until(d, &sw.done);
			if (!sw.ok) {
				warn("listing volumes: %s", sw.err);
				w.failed = 1;
			}
			for (char *p = sw.body, *e; p && *p; p = e + (*e != 0)) {
				struct simple_wait vw = {0};
				char *name;
				e = p + strcspn(p, "\n");
				name = xstrndup(p, (size_t)(e - p));
				if (*name && docker_volume_remove(d, name, on_simple, &vw) == 0) {
					run_until(d, &vw.done);
					if (vw.ok)
						fprintf(stderr, "removed volume %s\n", name);
					else {
						warn("removing volume %s: %s", name, vw.err);
						w.failed = 1;
					}
					free(vw.err);
					free(vw.body);
				}
				free(name);
			}
			free(sw.err);
			free(sw.body);
		}
		free(f);
	}
	if (n == 0)
		fprintf(stderr, "no containers of project %s\n", s->project);
	free(w.blockers);
	free(w.state);
	free(w.blocks);
	listing_free(&w.l);
	free(net);
	return w.failed ? 1 : 0;
}

/* ---- ps ---- */

struct ps_row {
	const struct ctr *c;
	const char *service;
	char *health;
	struct health *h;
	int *pending;
};

static void on_ps_health(void *arg, int ok, const char *msg)
{
	struct ps_row *r = arg;

	(void)msg;
	free(r->health);
	r->health = xstrdup(ok ? "healthy" : "unhealthy");
	r->h = NULL;
	(*r->pending)--;
}

static int cmp_row(const void *a, const void *b)
{
	const struct ps_row *x = a, *y = b;

	return strcmp(x->service, y->service);
}

int ps_run(struct stack *s, struct docker *d, int json)
{
	struct listing l;
	struct ps_row *rows;
	struct buf b = {0};
	size_t i, ws = 7, wc = 9;
	int pending = 0;

	if (list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		listing_free(&l);
		return 1;
	}
	rows = xcalloc(l.n + 1, sizeof(*rows));
	for (i = 0; i < l.n; i++) {
		struct ps_row *r = &rows[i];
		struct node *n;

		r->c = &l.v[i];
		r->service = service_of(r->c) ? service_of(r->c) : "";
		r->health = xstrdup(r->c->health);
		r->pending = &pending;
		n = graph_service(s, r->service);
		/* graphbuild's own view: one probe attempt right now */
		if (strcmp(r->health, "none") == 0 && n && n->u.service.health.kind != PROBE_NONE &&
		    strcmp(r->c->state, "running") == 0) {
			struct probe p = n->u.service.health;
			char *err = NULL;
			p.retries = 1;
			p.start_period_ms = 0;
			if (p.kind == PROBE_LOG)
				p.interval_ms = 0, p.retries = 0; /* the deadline: only what is there */
			if (p.timeout_ms <= 0 || p.timeout_ms > 1000)
				p.timeout_ms = 1000;
			r->h = health_start(docker_loop(d), d, &p, r->c->id, r->c->ip, on_ps_health, r, &err);
			if (r->h)
				pending++;
			free(err);
		}
	}
	while (pending > 0)
		uv_run(docker_loop(d), UV_RUN_ONCE);
	if (l.n > 1)
		qsort(rows, l.n, sizeof(*rows), cmp_row);
	if (json) {
		buf_adds(&b, "[");
		for (i = 0; i < l.n; i++) {
			const struct ctr *c = rows[i].c;
			const char *k = label_of(c, L_IMAGE);
			buf_adds(&b, i ? ",\n  {" : "\n  {");
			buf_adds(&b, "\"service\": ");
			buf_json_str(&b, rows[i].service);
			buf_adds(&b, ", \"container\": ");
			buf_json_str(&b, c->name);
			buf_adds(&b, ", \"id\": ");
			buf_json_str(&b, c->id);
			buf_adds(&b, ", \"state\": ");
			buf_json_str(&b, c->state);
			buf_adds(&b, ", \"health\": ");
			buf_json_str(&b, rows[i].health);
			buf_adds(&b, ", \"image_key\": ");
			buf_json_str(&b, k ? k : "");
			buf_adds(&b, ", \"ports\": ");
			buf_json_str(&b, c->ports);
			buf_adds(&b, "}");
		}
		buf_adds(&b, l.n ? "\n]\n" : "]\n");
	} else {
		for (i = 0; i < l.n; i++) {
			if (strlen(rows[i].service) > ws)
				ws = strlen(rows[i].service);
			if (strlen(rows[i].c->name) > wc)
				wc = strlen(rows[i].c->name);
		}
		buf_printf(&b, "%-*s  %-*s  %-10s %-10s %-12s %s\n", (int)ws, "SERVICE", (int)wc, "CONTAINER", "STATE",
		           "HEALTH", "IMAGE KEY", "PORTS");
		for (i = 0; i < l.n; i++) {
			const struct ctr *c = rows[i].c;
			const char *k = label_of(c, L_IMAGE);
			char st[32];
			if (strcmp(c->state, "exited") == 0)
				snprintf(st, sizeof st, "exited(%d)", c->exit_code);
			else
				snprintf(st, sizeof st, "%s", c->state);
			buf_printf(&b, "%-*s  %-*s  %-10s %-10s %-12.12s %s\n", (int)ws, rows[i].service, (int)wc, c->name,
			           st, rows[i].health, k ? (strncmp(k, "sha256:", 7) == 0 ? k + 7 : k) : "",
			           c->ports);
		}
	}
	fwrite(b.data ? b.data : "", 1, b.len, stdout);
	fflush(stdout);
	buf_free(&b);
	for (i = 0; i < l.n; i++)
		free(rows[i].health);
	free(rows);
	listing_free(&l);
	return 0;
}

/* ---- logs ---- */

struct logs;

struct lstream {
	struct logs *g;
	char *id;
	const char *service;    /* into g->names */
	int colour;
	struct buf line[3];     /* partial line per stream */
	int ended;
};

struct logs {
	struct stack *s;
	struct docker *d;
	int follow, colour;
	long since;
	char **names;           /* the services asked for (none: all) */
	size_t nnames;
	char **store;           /* service names of the streams */
	size_t nstore;
	int width;
	struct lstream **v;
	size_t n;
	int open;               /* streams not ended */
	int listing;            /* a poll's list call in flight */
	int stopping;
	uv_timer_t poll;
	uv_signal_t sig;
	int nclosed;
};

static void lline(struct lstream *ls, const char *p, size_t n)
{
	if (ls->g->colour)
		printf("\033[3%dm%-*s |\033[0m %.*s\n", ls->colour, ls->g->width, ls->service, (int)n, p);
	else
		printf("%-*s | %.*s\n", ls->g->width, ls->service, (int)n, p);
}

static void l_out(void *arg, int stream, const char *data, size_t n)
{
	struct lstream *ls = arg;
	struct buf *b = &ls->line[stream == 2 ? 2 : 1];
	char *nl;

	buf_add(b, data, n);
	while ((nl = memchr(b->data, '\n', b->len))) {
		size_t k = (size_t)(nl - b->data);
		lline(ls, b->data, k);
		memmove(b->data, nl + 1, b->len - k - 1);
		b->len -= k + 1;
		b->data[b->len] = 0;
	}
	fflush(stdout);
}

static void l_end(void *arg, const struct docker_result *r)
{
	struct lstream *ls = arg;
	int i;

	(void)r;
	for (i = 1; i < 3; i++)
		if (ls->line[i].len)
			lline(ls, ls->line[i].data, ls->line[i].len);
	fflush(stdout);
	ls->ended = 1;
	ls->g->open--;
}

static int wanted(const struct logs *g, const char *svc)
{
	size_t i;

	if (!svc)
		return 0;
	if (!g->nnames)
		return 1;
	for (i = 0; i < g->nnames; i++)
		if (strcmp(g->names[i], svc) == 0)
			return 1;
	return 0;
}

/* Starts a stream for every wanted container not streamed yet. */
static void logs_attach(struct logs *g, const struct listing *l)
{
	size_t i, k;

	for (i = 0; i < l->n; i++) {
		const struct ctr *c = &l->v[i];
		const char *svc = service_of(c);
		struct lstream *ls;
		int seen = 0;

		if (!wanted(g, svc))
			continue;
		for (k = 0; k < g->n; k++)
			if (strcmp(g->v[k]->id, c->id) == 0)
				seen = 1;
		if (seen)
			continue;
		ls = xcalloc(1, sizeof(*ls));
		ls->g = g;
		ls->id = xstrdup(c->id);
		ls->service = NULL;
		for (k = 0; k < g->nstore; k++)
			if (strcmp(g->store[k], svc) == 0)
				ls->service = g->store[k];
		if (!ls->service) { /* our own copy: the listing goes away */
			g->store = xrealloc(g->store, sizeof(char *) * (g->nstore + 1));
			g->store[g->nstore] = xstrdup(svc);
			ls->service = g->store[g->nstore++];
		}
		{
			struct node *n = graph_service(g->s, svc);
			ls->colour = 1 + (int)((n ? n->index : g->n) % 6);
		}
		g->v = xrealloc(g->v, sizeof(*g->v) * (g->n + 1));
		g->v[g->n++] = ls;
		g->open++;
		if (docker_container_logs(g->d, c->id, g->follow, g->since, 0, l_out, ls, l_end, ls) < 0) {
			ls->ended = 1;
			g->open--;
		}
	}
}

static void on_poll_list(void *arg, const struct docker_result *r)
{
	struct logs *g = arg;
	struct listing l;

	memset(&l, 0, sizeof(l));
	g->listing = 0;
	if (g->stopping || !r->ok)
		return;
	on_listing(&l, r);
	logs_attach(g, &l);
	listing_free(&l);
}

/* Follow mode: new containers (a recreate) are picked up by a list poll. */
static void on_poll(uv_timer_t *t)
{
	struct logs *g = t->data;
	char *f;

	if (g->stopping || g->listing)
		return;
	f = xasprintf(L_PROJECT "=%s", g->s->project);
	if (docker_container_list(g->d, f, on_poll_list, g) == 0)
		g->listing = 1;
	free(f);
}

static void on_logs_sigint(uv_signal_t *h, int signum)
{
	struct logs *g = h->data;

	(void)signum;
	g->stopping = 1;
	uv_timer_stop(&g->poll);
	docker_cancel_all(g->d);
}

static void logs_closed(uv_handle_t *h)
{
	struct logs *g = h->data;

	g->nclosed++;
}

/* "1700000000" (unix seconds) or a duration back from now: "10s", "5m", "2h". */
static long parse_since(const char *s)
{
	char *e;
	long v;

	if (!s || !*s)
		return 0;
	v = strtol(s, &e, 10);
	if (e == s)
		return -1;
	if (!*e)
		return v;
	if (strcmp(e, "s") == 0)
		return (long)time(NULL) - v;
	if (strcmp(e, "m") == 0)
		return (long)time(NULL) - v * 60;
	if (strcmp(e, "h") == 0)
		return (long)time(NULL) - v * 3600;
	return -1;
}

int logs_run(struct stack *s, struct docker *d, int follow, const char *since, char **services, size_t n)
{
	struct logs g;
	struct listing l;
	uv_loop_t *loop = docker_loop(d);
	size_t i;
	int rc = 0;

	memset(&g, 0, sizeof(g));
	g.s = s;
	g.d = d;
	g.follow = follow;
	g.colour = use_color(1);
	g.since = parse_since(since);
	if (g.since < 0) {
		warn("bad --since %s (unix seconds, or a duration like 10s, 5m, 2h)", since);
		return 2;
	}
	for (i = 0; i < n; i++) {
		if (!graph_service(s, services[i])) {
			warn("unknown service %s", services[i]);
			return 2;
		}
	}
	g.names = services;
	g.nnames = n;
	for (i = 0; i < s->nnodes; i++)
		if (s->nodes[i]->kind == NODE_SERVICE && (int)strlen(s->nodes[i]->name) > g.width)
			g.width = (int)strlen(s->nodes[i]->name);
	if (list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		listing_free(&l);
		return 1;
	}
	logs_attach(&g, &l);
	listing_free(&l);
	if (follow) {
		uv_timer_init(loop, &g.poll);
		uv_signal_init(loop, &g.sig);
		g.poll.data = g.sig.data = &g;
		uv_timer_start(&g.poll, on_poll, 1000, 1000);
		uv_signal_start(&g.sig, on_logs_sigint, SIGINT);
		while (!g.stopping || g.open > 0 || g.listing)
			uv_run(loop, UV_RUN_ONCE);
		uv_close((uv_handle_t *)&g.poll, logs_closed);
		uv_close((uv_handle_t *)&g.sig, logs_closed);
		while (g.nclosed < 2)
			uv_run(loop, UV_RUN_ONCE);
		rc = 130;
	} else
		while (g.open > 0)
			uv_run(loop, UV_RUN_ONCE);
	for (i = 0; i < g.n; i++) {
		free(g.v[i]->id);
		buf_free(&g.v[i]->line[1]);
		buf_free(&g.v[i]->line[2]);
		free(g.v[i]);
	}
	free(g.v);
	for (i = 0; i < g.nstore; i++)
		free(g.store[i]);
	free(g.store);
	return rc;
}
