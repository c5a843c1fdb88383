/* plan.c - what will happen and why: per image node build / reuse / pull
 * (reasons from the stored manifest against the current one; the engine's
 * keys decide reuse), per service the decisions of up.c; text and JSON. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphbuild/build.h"
#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/registry.h"
#include "graphbuild/state.h"
#include "graphbuild/util.h"

const char *plan_action_name(enum plan_action a)
{
	static const char *names[] = {"reuse", "build", "pull", "create", "recreate", "keep", "remove"};

	return names[a];
}

void plan_reason(struct node_plan *np, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	np->reasons = xrealloc(np->reasons, sizeof(*np->reasons) * (np->nreasons + 1));
	np->reasons[np->nreasons++] = xvasprintf(fmt, ap);
	va_end(ap);
}

void plan_note(struct node_plan *np, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	np->notes = xrealloc(np->notes, sizeof(*np->notes) * (np->nnotes + 1));
	np->notes[np->nnotes++] = xvasprintf(fmt, ap);
	va_end(ap);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int keyset_has(const struct keyset *ks, const char *hex)
{
	return ks && ks->n && bsearch(&hex, ks->v, ks->n, sizeof(*ks->v), cmp_str) != NULL;
}

void keyset_free(struct keyset *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		free(ks->v[i]);
	free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}

struct keys_req {
	struct keyset *ks;
	char *err;
	int done;
};

static void on_images(void *arg, const struct docker_result *r)
{
	static const char prefix[] = KEY_CACHE_REPO ":";
	struct keys_req *q = arg;
	size_t i, j;

	q->done = 1;
	if (!r->ok) {
		q->err = xstrdup(r->error ? r->error : "engine: image list failed");
		return;
	}
	for (i = 0; i < r->nimages; i++)
		for (j = 0; j < r->images[i].ntags; j++) {
			const char *t = r->images[i].tags[j];

			if (strncmp(t, prefix, sizeof(prefix) - 1) != 0 || strlen(t) != sizeof(prefix) - 1 + 32)
				continue;
			q->ks->v = xrealloc(q->ks->v, sizeof(*q->ks->v) * (q->ks->n + 1));
			q->ks->v[q->ks->n++] = xstrdup(t + sizeof(prefix) - 1);
		}
	if (q->ks->n) /* v is NULL on an engine without graphbuild images */
		qsort(q->ks->v, q->ks->n, sizeof(*q->ks->v), cmp_str);
}

int plan_engine_keys(struct docker *d, struct keyset *ks, char **err)
{
	struct keys_req q = {ks, NULL, 0};

	if (docker_image_list(d, "graphbuild.key", on_images, &q) < 0) {
		*err = xstrdup("engine: cannot start the image list request");
		return -1;
	}
	docker_run_loop(d);
	if (q.err) {
		*err = q.err;
		return -1;
	}
	return 0;
}

static int named(const struct plan_opts *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nrebuild; i++)
		if (strcmp(o->rebuild[i], name) == 0)
			return 1;
	return 0;
}

/* Forced by --rebuild=NODE: the node itself or anything it is built on that
 * was named (they are rebuilt, so this one must be built on the new image). */
static int forced(const struct node *n, const struct plan_opts *o)
{
	size_t i;

	if (o->rebuild_all || named(o, n->name))
		return 1;
	for (i = 0; i < n->nin; i++)
		if (n->in[i]->kind != NODE_SERVICE && n->in[i]->np && n->in[i]->np->forced)
			return 1;
	return 0;
}

int plan_images(struct stack *s, struct state *st, const struct keyset *ks, const struct plan_opts *o)
{
	size_t i, j;
	int bad = 0;

	for (i = 0; i < o->nrebuild; i++) {
		struct node *n = graph_image(s, o->rebuild[i]);

		if (!n || n->kind == NODE_REF) {
			warn("--rebuild=%s: no image named \"%s\" in %s", o->rebuild[i], o->rebuild[i], s->file);
			bad = 1;
		}
	}
	if (bad)
		return -1;
	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		struct node_plan *np;
		struct manifest *old;
		char **why = NULL;
		size_t nwhy = 0;

		if (!n->selected || n->kind == NODE_SERVICE)
			continue;
		np = n->np = xcalloc(1, sizeof(*np));
		if (n->kind == NODE_REF) {
			if (n->ref_id || (!ks && !forced(n, o))) {
				np->action = PLAN_REUSE;
			} else {
				np->action = PLAN_PULL;
				plan_reason(np, "%s is not on the engine", n->ref);
			}
			continue;
		}
		np->on_engine = keyset_has(ks, n->keyhex);
		np->forced = forced(n, o);
		if (np->forced) {
			np->action = PLAN_BUILD;
			plan_reason(np, "--rebuild");
			continue;
		}
		if (np->on_engine) {
			np->action = PLAN_REUSE;
			continue;
		}
		old = st ? state_manifest(st, n->name) : NULL;
		if (old && strcmp(old->key, n->keyhex) == 0) {
			if (!ks) {
				np->action = PLAN_REUSE;
			} else {
				np->action = PLAN_BUILD;
				plan_reason(np, "image missing on the engine (built before, since removed)");
			}
			manifest_free(old);
			continue;
		}
		np->action = PLAN_BUILD;
		manifest_diff(old, n->kx->m, &why, &nwhy);
		for (j = 0; j < nwhy; j++) {
			plan_reason(np, "%s", why[j]);
			free(why[j]);
		}
		free(why);
		manifest_free(old);
	}
	return 0;
}

const char *plan_step_label(const struct node *n, size_t steps)
{
	const struct image *im = &n->u.image;
	const struct node *p = im->parent;

	for (; steps > 0; steps--) {
		enum step_kind k = im->steps[steps - 1].kind;
		if (k != STEP_ENV && k != STEP_WORKDIR && k != STEP_USER)
			return n->kx->steps[steps - 1].hex;
	}
	return p && p->kind != NODE_REF ? p->keyhex : NULL;
}

/* One key asked of the cache: the node, and 0 for its own key or the number
 * of steps whose image it names. */
struct ask {
	struct node *n;
	size_t steps;
};

void plan_cache(struct stack *s, const struct keyset *ks, struct registry *r, char **warning)
{
	struct ask *asks = NULL;
	char **keys = NULL;
	int *hit;
	size_t i, k, n = 0;

	*warning = NULL;
	for (i = 0; i < s->norder; i++) {
		struct node *nd = s->order[i];

		if (!nd->selected || nd->kind == NODE_SERVICE || nd->kind == NODE_REF || !nd->np ||
		    nd->np->action != PLAN_BUILD || nd->np->forced)
			continue;
		asks = xrealloc(asks, sizeof(*asks) * (n + 1));
		keys = xrealloc(keys, sizeof(*keys) * (n + 1));
		asks[n] = (struct ask){nd, 0};
		keys[n++] = nd->keyhex;
		if (nd->kind != NODE_IMAGE || nd->u.image.dockerfile)
			continue;
		/* step images beyond the longest prefix the engine already has */
		for (k = nd->u.image.nsteps; k > 0; k--) {
			if (keyset_has(ks, nd->kx->steps[k - 1].hex))
				break;
			if (!plan_step_label(nd, k))
				continue;
			asks = xrealloc(asks, sizeof(*asks) * (n + 1));
			keys = xrealloc(keys, sizeof(*keys) * (n + 1));
			asks[n] = (struct ask){nd, k};
			keys[n++] = nd->kx->steps[k - 1].hex;
		}
	}
	if (!n)
		return;
	hit = xcalloc(n, sizeof(*hit));
	registry_check(r, keys, n, hit, warning);
	for (i = 0; i < n; i++) {
		struct node_plan *np = asks[i].n->np;

		if (!hit[i])
			continue;
		if (asks[i].steps == 0) {
			char **old = np->reasons;
			size_t nold = np->nreasons;

			np->action = PLAN_PULL;
			np->in_cache = 1;
			np->reasons = NULL;
			np->nreasons = 0;
			plan_reason(np, "in the cache %s", registry_name(r));
			/* why the engine lacks it stays worth saying */
			for (k = 0; k < nold; k++) {
				plan_reason(np, "%s", old[k]);
				free(old[k]);
			}
			free(old);
		} else if (asks[i].steps > np->cache_steps)
			np->cache_steps = asks[i].steps;
	}
	for (i = 0; i < n; i++) {
		struct node_plan *np = asks[i].n->np;

		if (np->action == PLAN_BUILD && np->cache_steps && asks[i].steps == np->cache_steps)
			plan_reason(np, "steps 1-%zu from the cache %s", np->cache_steps, registry_name(r));
	}
	free(hit);
	free(keys);
	free(asks);
}

static void on_reuse_tagged(void *arg, const struct docker_result *r)
{
	const struct node *n = arg;

	if (!r->ok)
		warn("tag %s:latest: %s", n->name, r->error ? r->error : "failed");
}

void plan_record_reused(struct stack *s, struct state *st, struct docker *d)
{
	size_t i;
	int any = 0;

	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		struct manifest *old;

		if (!n->selected || n->kind == NODE_SERVICE || n->kind == NODE_REF || !n->np ||
		    n->np->action != PLAN_REUSE || !n->np->on_engine || !n->kx || !n->kx->m)
			continue;
		old = state_manifest(st, n->name);
		if (!old || strcmp(old->key, n->keyhex) != 0) {
			char *src = xasprintf(KEY_CACHE_REPO ":%s", n->keyhex);
			char *repo = build_latest_repo(s, n);

			state_save_manifest(st, n->name, n->kx->m);
			if (docker_image_tag(d, src, repo, "latest", on_reuse_tagged, n) == 0)
				any = 1;
			free(src);
			free(repo);
		}
		manifest_free(old);
	}
	if (any)
		docker_run_loop(d);
}

size_t plan_pending(const struct stack *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nnodes; i++) {
		const struct node *nd = s->nodes[i];

		if (nd->selected && nd->kind != NODE_SERVICE && nd->np &&
		    (nd->np->action == PLAN_BUILD || nd->np->action == PLAN_PULL))
			n++;
	}
	return n;
}

void plan_free(struct stack *s)
{
	size_t i, j;

	for (i = 0; i < s->nnodes; i++) {
		struct node_plan *np = s->nodes[i]->np;

		if (!np)
			continue;
		for (j = 0; j < np->nreasons; j++)
			free(np->reasons[j]);
		free(np->reasons);
		for (j = 0; j < np->nnotes; j++)
			free(np->notes[j]);
		free(np->notes);
		free(np);
		s->nodes[i]->np = NULL;
	}
}

static const char *image_label(const struct node *n)
{
	return n->kind == NODE_REF ? n->ref : n->name;
}

static void json_reasons(struct buf *b, const struct node_plan *np)
{
	size_t j;

	buf_adds(b, "\"reasons\": [");
	for (j = 0; np && j < np->nreasons; j++) {
		if (j)
			buf_adds(b, ", ");
		buf_json_str(b, np->reasons[j]);
	}
	buf_addc(b, ']');
	if (!np || !np->nnotes)
		return;
	buf_adds(b, ", \"notes\": [");
	for (j = 0; j < np->nnotes; j++) {
		if (j)
			buf_adds(b, ", ");
		buf_json_str(b, np->notes[j]);
	}
	buf_addc(b, ']');
}

static void print_json(const struct stack *s, char **orphans, size_t norphans)
{
	struct buf b = {0};
	size_t i, j;
	int first = 1;

	buf_adds(&b, "{\n  \"project\": ");
	buf_json_str(&b, s->project);
	buf_adds(&b, ",\n  \"images\": [");
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || !n->np)
			continue;
		buf_adds(&b, first ? "\n    {" : ",\n    {");
		first = 0;
		buf_adds(&b, "\"name\": ");
		buf_json_str(&b, image_label(n));
		buf_printf(&b, ", \"kind\": \"%s\"", n->kind == NODE_REF ? "ref" : n->kind == NODE_ROOTFS ? "rootfs" : "image");
		buf_adds(&b, ", \"key\": ");
		buf_json_str(&b, n->keyhex);
		buf_printf(&b, ", \"action\": \"%s\", ", plan_action_name(n->np->action));
		json_reasons(&b, n->np);
		buf_addc(&b, '}');
	}
	buf_adds(&b, first ? "],\n  \"services\": [" : "\n  ],\n  \"services\": [");
	first = 1;
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];
		const struct service *sv = &n->u.service;

		if (!n->selected || n->kind != NODE_SERVICE)
			continue;
		buf_adds(&b, first ? "\n    {" : ",\n    {");
		first = 0;
		buf_adds(&b, "\"name\": ");
		buf_json_str(&b, n->name);
		buf_adds(&b, ", \"image\": ");
		buf_json_str(&b, sv->image ? image_label(sv->image) : "");
		buf_adds(&b, ", \"depends_on\": {");
		for (j = 0; j < sv->ndeps; j++) {
			if (j)
				buf_adds(&b, ", ");
			buf_json_str(&b, sv->deps[j].name);
			buf_adds(&b, ": ");
			buf_json_str(&b, dep_cond_name(sv->deps[j].cond));
		}
		buf_addc(&b, '}');
		if (n->np) {
			buf_printf(&b, ", \"action\": \"%s\", ", plan_action_name(n->np->action));
			json_reasons(&b, n->np);
		}
		buf_addc(&b, '}');
	}
	for (i = 0; i < norphans; i++) {
		buf_adds(&b, first ? "\n    {" : ",\n    {");
		first = 0;
		buf_adds(&b, "\"name\": ");
		buf_json_str(&b, orphans[i]);
		buf_adds(&b, ", \"action\": \"remove\", \"reasons\": [\"no longer in the stack (--remove-orphans is on by default)\"]}");
	}
	buf_adds(&b, first ? "]\n}\n" : "\n  ]\n}\n");
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static const char *colour_for(enum plan_action a)
{
	switch (a) {
	case PLAN_BUILD: case PLAN_RECREATE: case PLAN_REMOVE: return "\033[33m";
	case PLAN_PULL: case PLAN_CREATE: return "\033[36m";
	default: return "\033[32m";
	}
}

static void print_text(const struct stack *s, char **orphans, size_t norphans, const char *note)
{
	int c = use_color(1);
	size_t i, j, w = 4;
	int any = 0;

	for (i = 0; i < s->nnodes; i++)
		if (s->nodes[i]->selected && strlen(image_label(s->nodes[i])) > w)
			w = strlen(image_label(s->nodes[i]));
	printf("project %s (%s)\n", s->project, s->file);
	if (note)
		printf("note: %s\n", note);
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || !n->np)
			continue;
		if (!any++)
			printf("images:\n");
		printf("  %s%-8s%s %-*s  %s\n", c ? colour_for(n->np->action) : "",
		       plan_action_name(n->np->action), c ? "\033[0m" : "", (int)w, image_label(n),
		       n->kind == NODE_REF ? (n->ref_id ? n->ref_id : "") : key_short(n->keyhex));
		for (j = 0; j < n->np->nreasons; j++)
			printf("             %s\n", n->np->reasons[j]);
	}
	any = 0;
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];
		const struct service *sv = &n->u.service;

		if (!n->selected || n->kind != NODE_SERVICE)
			continue;
		if (!any++)
			printf("services:\n");
		if (n->np)
			printf("  %s%-8s%s %-*s", c ? colour_for(n->np->action) : "", plan_action_name(n->np->action),
			       c ? "\033[0m" : "", (int)w, n->name);
		else
			printf("  %-8s %-*s", "", (int)w, n->name);
		printf("  image %s", sv->image ? image_label(sv->image) : "?");
		for (j = 0; j < sv->ndeps; j++)
			printf("%s%s (%s)", j ? ", " : "; after ", sv->deps[j].name, dep_cond_name(sv->deps[j].cond));
		printf("\n");
		for (j = 0; n->np && j < n->np->nreasons; j++)
			printf("             %s\n", n->np->reasons[j]);
		for (j = 0; n->np && j < n->np->nnotes; j++)
			printf("             note: %s\n", n->np->notes[j]);
	}
	for (i = 0; i < norphans; i++)
		printf("  %s%-8s%s %-*s  no longer in the stack (--remove-orphans is on by default)\n",
		       c ? colour_for(PLAN_REMOVE) : "", "remove", c ? "\033[0m" : "", (int)w, orphans[i]);
}

void plan_print(const struct stack *s, int json, char **orphans, size_t norphans, const char *note)
{
	if (json)
		print_json(s, orphans, norphans);
	else
		print_text(s, orphans, norphans, note);
	fflush(stdout);
}
