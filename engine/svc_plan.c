/* svc_plan.c - service planning: create / recreate (with reasons) / keep
 * per selected service from one container list call and the labels each
 * container carries, orphans, --recreate-deps, the host-port checks, and
 * "nothing to do". Decides only: it starts no container. A tcp or http
 * probe that will run inside the container (a remote engine) adds a reason
 * saying so, after the action is decided: it changes nothing. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/health.h"
#include "graphbuild/names.h"
#include "graphbuild/plan.h"

#include "up_int.h"

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
	o->names = xreallocarray(o->names, o->n + 1, sizeof(char *));
	o->ids = xreallocarray(o->ids, o->n + 1, sizeof(char *));
	o->names[o->n] = xstrdup(name);
	o->ids[o->n] = xstrdup(id);
	o->n++;
}

/* Reasons for env: which variables were added, changed or removed. */
static void env_reasons(struct node_plan *np, const struct service *sv, const struct ctr *c)
{
	size_t i, before = np->nreasons;
	char h[17];

	for (i = 0; i < sv->env.n; i++) {
		char *k = xasprintf(L_ENV "%s", sv->env.k[i]);
		const char *old = ctr_label(c, k);

		svc_hash64(sv->env.v[i], strlen(sv->env.v[i]), h);
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
	v = ctr_label(c, L_IMAGE);
	if (!v || strcmp(v, svc_image_key(sv->image)))
		plan_reason(np, "image %s changed", svc_image_label(sv->image));
	else if (sv->image->np && sv->image->np->forced)
		plan_reason(np, "image %s is rebuilt (--rebuild)", svc_image_label(sv->image));
	svc_config_hash(s, sv, &h);
	v = ctr_label(c, L_CONFIG);
	if (!v || strcmp(v, h.all)) {
		size_t before = np->nreasons;
		for (f = 0; f < NFIELDS; f++) {
			char *k = xasprintf(L_CONFIG ".%s", svc_field_name[f]);
			const char *old = ctr_label(c, k);
			free(k);
			if (old && strcmp(old, h.field[f]) == 0)
				continue;
			if (f == F_ENV)
				env_reasons(np, sv, c);
			else
				plan_reason(np, "%s changed", svc_field_name[f]);
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
const struct ctr *svc_find_ctr(const struct stack *s, const struct listing *l, const struct node *n)
{
	char *name = names_container(s, n);
	const struct ctr *found = NULL;
	size_t i;

	for (i = 0; i < l->n && !found; i++)
		if (strcmp(l->v[i].name, name) == 0)
			found = &l->v[i];
	for (i = 0; i < l->n && !found; i++)
		if (ctr_service(&l->v[i]) && strcmp(ctr_service(&l->v[i]), n->name) == 0)
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
		plan_against(s, n, svc_find_ctr(s, l, n));
	}
	for (i = 0; out && i < l->n; i++) {
		const char *svc = ctr_service(&l->v[i]);
		struct node *n = svc ? graph_service(s, svc) : NULL;

		if (!n)
			orphan_add(out, svc ? svc : l->v[i].name, l->v[i].id);
		else if (n->selected && svc_find_ctr(s, l, n) != &l->v[i])
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

	if (ctr_list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		rc = -1;
	} else {
		plan_from(s, &l, out);
		rc = probe_notes(s, d);
	}
	ctr_listing_free(&l);
	return rc;
}

/* A port the parser refuses (2: a stack error), or two selected services
 * publishing the same host port and address (1). 0: none. */
int svc_port_clash(struct stack *s)
{
	size_t i, j, a, b;
	int bad = 0;

	for (i = 0; i < s->nnodes; i++) {
		struct node *x = s->nodes[i];
		if (x->kind != NODE_SERVICE || !x->selected)
			continue;
		for (a = 0; a < x->u.service.ports.n; a++) {
			char *pa = xstrdup(x->u.service.ports.v[a]);
			struct docker_port qa;
			if (svc_parse_port(pa, &qa) < 0) {
				warn("%s:%d: service %s: bad port '%s'", x->pos.file, x->pos.line, x->name,
				     x->u.service.ports.v[a]);
				bad = 1;
			}
			free(pa);
		}
	}
	if (bad)
		return 2; /* a stack error */
	for (i = 0; i < s->nnodes; i++)
		for (j = i + 1; j < s->nnodes; j++) {
			struct node *x = s->nodes[i], *y = s->nodes[j];
			if (x->kind != NODE_SERVICE || y->kind != NODE_SERVICE || !x->selected || !y->selected)
				continue;
			for (a = 0; a < x->u.service.ports.n; a++)
				for (b = 0; b < y->u.service.ports.n; b++) {
					char *pa = xstrdup(x->u.service.ports.v[a]), *pb = xstrdup(y->u.service.ports.v[b]);
					struct docker_port qa, qb;
					if (svc_parse_port(pa, &qa) == 0 && svc_parse_port(pb, &qb) == 0 &&
					    qa.host_port && qa.host_port == qb.host_port &&
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

/* Every selected service is kept, no image to build, no orphan to remove. */
int svc_nothing_to_do(struct stack *s, const struct up_opts *o, const struct up_orphans *orph)
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
void svc_recreate_deps(struct stack *s)
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
