/* plan.c - what will happen and why: per image node build / reuse / pull
 * (reasons from the stored manifest against the current one; the engine's
 * keys decide reuse), per service the decisions of up.c; text and JSON. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/key.h"
#include "graphbuild/names.h"
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
	np->reasons = xreallocarray(np->reasons, np->nreasons + 1, sizeof(*np->reasons));
	np->reasons[np->nreasons++] = xvasprintf(fmt, ap);
	va_end(ap);
}

void plan_note(struct node_plan *np, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	np->notes = xreallocarray(np->notes, np->nnotes + 1, sizeof(*np->notes));
	np->notes[np->nnotes++] = xvasprintf(fmt, ap);
	va_end(ap);
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
		asks = xreallocarray(asks, n + 1, sizeof(*asks));
		keys = xreallocarray(keys, n + 1, sizeof(*keys));
		asks[n] = (struct ask){nd, 0};
		keys[n++] = nd->keyhex;
		if (nd->kind != NODE_IMAGE || nd->u.image.dockerfile)
			continue;
		/* step images beyond the longest prefix the engine already has */
		for (k = nd->u.image.nsteps; k > 0; k--) {
			if (keyset_has(ks, nd->kx->steps[k - 1].hex))
				break;
			if (!names_step_label(nd, k))
				continue;
			asks = xreallocarray(asks, n + 1, sizeof(*asks));
			keys = xreallocarray(keys, n + 1, sizeof(*keys));
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

/* The host command a build of n would run (a rootfs command), or NULL. */
static const char *host_command(const struct node *n)
{
	if (n->kind != NODE_ROOTFS || !n->u.rootfs.command || !n->np || n->np->action != PLAN_BUILD)
		return NULL;
	return n->u.rootfs.command;
}

/* The imported module a node was declared in: positions inside an imported
 * module name its URL (without the pin); NULL for the stack's own files. */
static const char *node_module(const struct node *n)
{
	const char *f = n->pos.file;

	return f && (!strncmp(f, "https://", 8) || !strncmp(f, "http://", 7)) ? f : NULL;
}

/* One line of a host command as a terminal shows it: control characters
 * (a CR that would overwrite the line, an escape sequence) as \xNN. */
static void print_visible(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

/* "runs on this host: CMD (where)" for one line; every line of a longer
 * command below it: nothing of what build will run is hidden. */
static void print_host_command(const struct node *n)
{
	const char *cmd = host_command(n), *p;
	int multi = strchr(cmd, '\n') != NULL;

	printf("             runs on this host%s", multi ? "" : ": ");
	if (!multi)
		print_visible(cmd, strlen(cmd));
	if (node_module(n))
		printf(" (from the imported module %s, line %d)", node_module(n), n->pos.line);
	else
		printf(" (%s:%d)", n->pos.file ? n->pos.file : "?", n->pos.line);
	printf("%s\n", multi ? ":" : "");
	for (p = cmd; multi && *p;) {
		size_t len = strcspn(p, "\n");

		printf("               | ");
		print_visible(p, len);
		printf("\n");
		p += len + (p[len] == '\n');
	}
}

static void json_host_commands(struct buf *b, const struct stack *s)
{
	size_t i;
	int first = 1;

	buf_adds(b, ",\n  \"host_commands\": [");
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];
		const char *cmd = host_command(n);

		if (!n->selected || !cmd)
			continue;
		buf_adds(b, first ? "\n    {\"node\": " : ",\n    {\"node\": ");
		first = 0;
		buf_json_str(b, image_label(n));
		buf_adds(b, ", \"command\": ");
		buf_json_str(b, cmd);
		buf_adds(b, ", \"file\": ");
		buf_json_str(b, n->pos.file);
		buf_printf(b, ", \"line\": %d, \"module\": ", n->pos.line);
		if (node_module(n))
			buf_json_str(b, node_module(n));
		else
			buf_adds(b, "null");
		buf_addc(b, '}');
	}
	buf_adds(b, first ? "]" : "\n  ]");
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
		if (n->base_for) {
			buf_adds(&b, "\"base_for\": ");
			buf_json_str(&b, n->base_for);
			buf_adds(&b, ", ");
		}
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
	buf_adds(&b, first ? "]" : "\n  ]");
	json_host_commands(&b, s);
	buf_adds(&b, "\n}\n");
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
		if (n->base_for)
			printf("             instead of %s\n", n->base_for);
		if (host_command(n))
			print_host_command(n);
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
