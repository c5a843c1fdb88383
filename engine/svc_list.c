/* svc_list.c - the container listing: one list call for every container
 * labelled with the project, copied out of the engine's reply (struct ctr),
 * and the label lookups the planner, ps and logs read it with. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>


#include "up_int.h"

/* ---- containers of a project (copied out of the engine's reply) ---- */

static char *dupz(const char *s)
{
	return xstrdup(s ? s : "");
}

void ctr_on_listing(void *arg, const struct docker_result *r)
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

void ctr_listing_free(struct listing *l)
{
	ctrs_free(l->v, l->n);
	free(l->err);
	memset(l, 0, sizeof(*l));
}

/* Runs the loop until *done (one request of ours; never inside a callback). */
void up_run_until(struct docker *d, int *done)
{
	while (!*done)
		uv_run(docker_loop(d), UV_RUN_ONCE);
}

/* The one list call: every container labelled with the project. 0 or -1. */
int ctr_list_project(struct docker *d, const char *project, struct listing *l)
{
	char *f = xasprintf(L_PROJECT "=%s", project);
	int rc;

	memset(l, 0, sizeof(*l));
	rc = docker_container_list(d, f, ctr_on_listing, l);
	free(f);
	if (rc < 0) {
		l->err = xstrdup("cannot start a request to the engine");
		return -1;
	}
	up_run_until(d, &l->done);
	return l->ok ? 0 : -1;
}

const char *ctr_label(const struct ctr *c, const char *k)
{
	size_t i;

	for (i = 0; i < c->nl; i++)
		if (strcmp(c->lk[i], k) == 0)
			return c->lv[i];
	return NULL;
}

const char *ctr_service(const struct ctr *c)
{
	return ctr_label(c, L_SERVICE);
}
