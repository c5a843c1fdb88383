/* logs.c - `logs`: the services' output, prefixed per service; with follow,
 * streams until Ctrl-C and picks up recreated containers by a list poll. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>


#include "up_int.h"

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
		const char *svc = ctr_service(c);
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
			g->store = xreallocarray(g->store, g->nstore + 1, sizeof(char *));
			g->store[g->nstore] = xstrdup(svc);
			ls->service = g->store[g->nstore++];
		}
		{
			struct node *n = graph_service(g->s, svc);
			ls->colour = 1 + (int)((n ? n->index : g->n) % 6);
		}
		g->v = xreallocarray(g->v, g->n + 1, sizeof(*g->v));
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
	ctr_on_listing(&l, r);
	logs_attach(g, &l);
	ctr_listing_free(&l);
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
long logs_parse_since(const char *s)
{
	char *e;
	long v;

	if (!s || !*s)
		return 0;
	v = strtol(s, &e, 10);
	if (e == s || v < 0 || v > LONG_MAX / 3600) /* the hours must not overflow */
		return -1;
	if (!*e)
		return v;
	if (strcmp(e, "s") == 0)
		;
	else if (strcmp(e, "m") == 0)
		v *= 60;
	else if (strcmp(e, "h") == 0)
		v *= 3600;
	else
		return -1;
	/* A duration longer than the epoch is "everything": 0, not a time
	 * before 1970 that reads as an error. */
	return v >= (long)time(NULL) ? 0 : (long)time(NULL) - v;
}

/* Says which asked-for service has no container (every one, or that the
 * project has none when none was named); 1 if any. Waiting for one that
 * may never come would be silent. */
static int logs_missing(const struct stack *s, const struct listing *l, char **services, size_t n)
{
	size_t i, k;
	int missing = 0;

	if (!n) {
		for (k = 0; k < l->n; k++)
			if (ctr_service(&l->v[k]))
				return 0;
		warn("project %s has no container (run graphbuild up)", s->project);
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *svc;

		for (k = 0; k < l->n; k++)
			if ((svc = ctr_service(&l->v[k])) && strcmp(svc, services[i]) == 0)
				break;
		if (k == l->n) {
			warn("service %s has no container (run graphbuild up)", services[i]);
			missing = 1;
		}
	}
	return missing;
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
	g.since = logs_parse_since(since);
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
	if (ctr_list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		ctr_listing_free(&l);
		return 1;
	}
	if (logs_missing(s, &l, services, n)) {
		ctr_listing_free(&l);
		return 1;
	}
	logs_attach(&g, &l);
	ctr_listing_free(&l);
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
