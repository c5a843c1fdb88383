/* down.c - `down`: stops and removes the project's containers in reverse
 * dependency order (in parallel where the order allows), its network and,
 * with volumes, its named volumes. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/names.h"

#include "up_int.h"

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

/* Container i is gone (or could not be made to go): unblock what waited. */
static void down_done(struct down *w, size_t i)
{
	size_t j, n = w->l.n;

	w->state[i] = 2;
	w->pending--;
	for (j = 0; j < n; j++)
		if (w->blocks[i * n + j])
			w->blockers[j]--;
}

static void down_finish(struct down *w, size_t i)
{
	down_done(w, i);
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
		warn("removing %s: cannot start a request", w->l.v[op->i].name);
		w->failed = 1;
		down_finish(w, op->i);
		free(op);
	}
}

/* Starts every container whose blockers are gone. A stop that cannot start
 * falls back to the forced remove; one that cannot start either is reported
 * and counts as done, so what waited on it still goes (rescan from 0). */
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
		if ((strcmp(c->state, "running") == 0 || strcmp(c->state, "restarting") == 0 ||
		     strcmp(c->state, "paused") == 0) &&
		    docker_container_stop(w->d, c->id, w->timeout, on_down_stopped, op) == 0)
			continue;
		if (docker_container_remove(w->d, c->id, 1, w->volumes, on_down_removed, op) == 0)
			continue;
		warn("removing %s: cannot start a request", c->name);
		w->failed = 1;
		free(op);
		down_done(w, i);
		i = (size_t)-1; /* its dependents may be free now */
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
	char *net = names_network(s), *f;
	size_t i, j, n;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.d = d;
	w.timeout = timeout_s;
	w.volumes = volumes;
	if (ctr_list_project(d, s->project, &w.l) < 0) {
		warn("%s", w.l.err);
		ctr_listing_free(&w.l);
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
			const char *si = ctr_service(&w.l.v[i]), *sj = ctr_service(&w.l.v[j]);
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
		up_run_until(d, &sw.done);
		if (sw.ok)
			fprintf(stderr, "removed network %s\n", net);
		else if (sw.status != 404) {
			warn("removing network %s: %s", net, sw.err);
			w.failed = 1;
		}
		free(sw.err);
		free(sw.body);
	} else {
		warn("removing network %s: cannot start a request", net);
		w.failed = 1;
	}
	if (volumes) {
		memset(&sw, 0, sizeof(sw));
		f = xasprintf(L_PROJECT "=%s", s->project);
		if (docker_volume_list(d, f, on_simple, &sw) == 0) {
			up_run_until(d, &sw.done);
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
					up_run_until(d, &vw.done);
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
	ctr_listing_free(&w.l);
	free(net);
	return w.failed ? 1 : 0;
}
