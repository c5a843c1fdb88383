/* ps.c - `ps`: the project's containers with state, health and ports, as
 * a table or a JSON array. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/health.h"

#include "up_int.h"

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

	if (ctr_list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		ctr_listing_free(&l);
		return 1;
	}
	rows = xcalloc(l.n + 1, sizeof(*rows));
	for (i = 0; i < l.n; i++) {
		struct ps_row *r = &rows[i];
		struct node *n;

		r->c = &l.v[i];
		r->service = ctr_service(r->c) ? ctr_service(r->c) : "";
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
			const char *k = ctr_label(c, L_IMAGE);
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
			const char *k = ctr_label(c, L_IMAGE);
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
	ctr_listing_free(&l);
	return 0;
}
