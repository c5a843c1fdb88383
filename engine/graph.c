/* graph.c - the stack's nodes and edges: image -> parent, image -> copy-from
 * sources, service -> image, service -> depends_on. Topological order (ties in
 * declaration order), cycle reports naming every edge with its file:line,
 * target selection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphbuild/graph.h"
#include "graphbuild/util.h"

void graph_add(struct stack *s, struct node *n)
{
	if ((s->nnodes & (s->nnodes - 1)) == 0) /* grow at powers of two */
		s->nodes = xreallocarray(s->nodes, s->nnodes ? 2 * s->nnodes : 8, sizeof(*s->nodes));
	n->index = s->nnodes;
	s->nodes[s->nnodes++] = n;
}

static int is_image_family(const struct node *n)
{
	return n->kind != NODE_SERVICE;
}

struct node *graph_image(struct stack *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nnodes; i++)
		if (is_image_family(s->nodes[i]) && strcmp(s->nodes[i]->name, name) == 0)
			return s->nodes[i];
	return NULL;
}

struct node *graph_service(struct stack *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nnodes; i++)
		if (s->nodes[i]->kind == NODE_SERVICE && strcmp(s->nodes[i]->name, name) == 0)
			return s->nodes[i];
	return NULL;
}

const char *kv_get(const struct kvlist *kv, const char *k)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->k[i], k) == 0)
			return kv->v[i];
	return NULL;
}

const char *dep_cond_name(enum dep_cond c)
{
	switch (c) {
	case DEP_HEALTHY: return "healthy";
	case DEP_COMPLETED: return "completed";
	default: return "started";
	}
}

const char *node_kind_name(enum node_kind k)
{
	switch (k) {
	case NODE_IMAGE: return "image";
	case NODE_ROOTFS: return "rootfs";
	case NODE_REF: return "image";
	default: return "service";
	}
}

/* Adds the edge from -> to (from needs to), once. */
static void add_edge(struct stack *s, struct node *from, struct node *to)
{
	size_t i;

	for (i = 0; i < from->nin; i++)
		if (from->in[i] == to)
			return;
	/* arena arrays are rebuilt on each add: nodes have few edges */
	{
		struct node **in = arena_alloc(s->arena, sizeof(*in) * (from->nin + 1));
		struct node **out = arena_alloc(s->arena, sizeof(*out) * (to->nout + 1));

		if (from->nin)
			memcpy(in, from->in, sizeof(*in) * from->nin);
		if (to->nout)
			memcpy(out, to->out, sizeof(*out) * to->nout);
		in[from->nin++] = to;
		out[to->nout++] = from;
		from->in = in;
		to->out = out;
	}
}

/* The position where `from` names `to`, for cycle reports. */
static struct pos edge_pos(const struct node *from, const struct node *to)
{
	size_t i;

	if (from->kind == NODE_SERVICE) {
		for (i = 0; i < from->u.service.ndeps; i++)
			if (from->u.service.deps[i].node == to)
				return from->u.service.deps[i].pos;
	} else if (from->kind == NODE_IMAGE) {
		for (i = 0; i < from->u.image.nsteps; i++)
			if (from->u.image.steps[i].from == to)
				return from->u.image.steps[i].pos;
	}
	return from->pos;
}

static void print_cycle(struct node **stackv, size_t depth, struct node *back)
{
	struct buf b = {0};
	size_t i, start = 0;

	for (i = 0; i < depth; i++)
		if (stackv[i] == back)
			start = i;
	buf_printf(&b, "dependency cycle:");
	for (i = start; i < depth; i++) {
		struct node *from = stackv[i];
		struct node *to = i + 1 < depth ? stackv[i + 1] : back;
		struct pos p = edge_pos(from, to);

		buf_printf(&b, "\n  %s \"%s\" depends on %s \"%s\" (%s:%d)", node_kind_name(from->kind),
		           from->name, node_kind_name(to->kind), to->name, p.file, p.line);
	}
	warn("%s", b.data);
	buf_free(&b);
}

/* Iterative-enough DFS (graphs are small); colour: 0 new, 1 on stack, 2 done. */
static int dfs(struct node *n, unsigned char *colour, struct node **stackv, size_t depth)
{
	size_t i;
	int errors = 0;

	colour[n->index] = 1;
	stackv[depth] = n;
	for (i = 0; i < n->nin; i++) {
		struct node *m = n->in[i];

		if (colour[m->index] == 1) {
			print_cycle(stackv, depth + 1, m);
			errors++;
		} else if (colour[m->index] == 0) {
			errors += dfs(m, colour, stackv, depth + 1);
		}
	}
	colour[n->index] = 2;
	return errors;
}

static int check_deps(struct stack *s, struct node *n)
{
	struct service *sv = &n->u.service;
	int errors = 0;
	size_t i;

	for (i = 0; i < sv->ndeps; i++) {
		struct dep *d = &sv->deps[i];
		struct node *m = graph_service(s, d->name);

		if (!m) {
			struct buf hint = {0};
			size_t j;

			for (j = 0; j < s->nnodes; j++)
				if (s->nodes[j]->kind == NODE_SERVICE)
					buf_printf(&hint, "%s%s", hint.len ? ", " : "", s->nodes[j]->name);
			warn("%s:%d: service \"%s\" depends on \"%s\", which is not a service%s%s%s",
			     d->pos.file, d->pos.line, n->name, d->name,
			     hint.len ? " (services: " : "", hint.len ? hint.data : "", hint.len ? ")" : "");
			buf_free(&hint);
			errors++;
			continue;
		}
		if (m == n) {
			warn("%s:%d: service \"%s\" depends on itself", d->pos.file, d->pos.line, n->name);
			errors++;
			continue;
		}
		d->node = m;
		if (d->cond == DEP_COMPLETED && !m->u.service.oneshot) {
			warn("%s:%d: service \"%s\" waits for \"%s\" to be completed, but \"%s\" is not a oneshot job (set oneshot = true, or wait for \"started\" or \"healthy\")",
			     d->pos.file, d->pos.line, n->name, d->name, d->name);
			errors++;
		}
		if (d->cond == DEP_HEALTHY && m->u.service.oneshot) {
			warn("%s:%d: service \"%s\" waits for \"%s\" to be healthy, but \"%s\" is a oneshot job: wait for \"completed\"",
			     d->pos.file, d->pos.line, n->name, d->name, d->name);
			errors++;
		}
		if (d->cond == DEP_HEALTHY && m->u.service.health.kind == PROBE_NONE && !m->u.service.oneshot) {
			warn("%s:%d: service \"%s\" waits for \"%s\" to be healthy, but \"%s\" has no health probe",
			     d->pos.file, d->pos.line, n->name, d->name, d->name);
			errors++;
		}
		add_edge(s, n, m);
	}
	return errors;
}

int graph_check(struct stack *s)
{
	unsigned char *colour, *placed;
	struct node **stackv;
	int errors = 0;
	size_t i, j;

	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];

		n->nin = n->nout = 0;
		n->in = n->out = NULL;
	}
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];

		switch (n->kind) {
		case NODE_IMAGE:
			if (n->u.image.parent)
				add_edge(s, n, n->u.image.parent);
			for (j = 0; j < n->u.image.nsteps; j++)
				if (n->u.image.steps[j].from)
					add_edge(s, n, n->u.image.steps[j].from);
			break;
		case NODE_SERVICE:
			if (n->u.service.image)
				add_edge(s, n, n->u.service.image);
			errors += check_deps(s, n);
			break;
		default:
			break;
		}
	}
	if (errors)
		return errors;

	colour = xcalloc(s->nnodes, 1);
	stackv = xcalloc(s->nnodes + 1, sizeof(*stackv));
	for (i = 0; i < s->nnodes; i++)
		if (!colour[i])
			errors += dfs(s->nodes[i], colour, stackv, 0);
	free(stackv);
	free(colour);
	if (errors)
		return errors;

	/* Kahn's algorithm, always taking the earliest-declared ready node. */
	s->order = arena_alloc(s->arena, sizeof(*s->order) * (s->nnodes + 1));
	s->norder = 0;
	placed = xcalloc(s->nnodes, 1);
	while (s->norder < s->nnodes) {
		for (i = 0; i < s->nnodes; i++) {
			struct node *n = s->nodes[i];
			size_t ready = 1;

			if (placed[i])
				continue;
			for (j = 0; j < n->nin; j++)
				if (!placed[n->in[j]->index])
					ready = 0;
			if (ready) {
				placed[i] = 1;
				s->order[s->norder++] = n;
				break;
			}
		}
		if (i == s->nnodes)
			fatal("graph_check: no ready node in an acyclic graph");
	}
	free(placed);
	return 0;
}

static void mark(struct node *n)
{
	size_t i;

	if (n->selected)
		return;
	n->selected = 1;
	for (i = 0; i < n->nin; i++)
		mark(n->in[i]);
}

int graph_select(struct stack *s, char **targets, size_t ntargets)
{
	size_t i, j;
	int bad = 0;

	for (i = 0; i < s->nnodes; i++)
		s->nodes[i]->selected = ntargets == 0;
	for (i = 0; i < ntargets; i++) {
		int found = 0;

		for (j = 0; j < s->nnodes; j++) {
			struct node *n = s->nodes[j];

			if (strcmp(n->name, targets[i]) == 0 && n->kind != NODE_REF) {
				mark(n);
				found = 1;
			}
		}
		if (!found) {
			warn("unknown target \"%s\" (not an image or service in %s)", targets[i], s->file);
			bad = 1;
		}
	}
	return bad ? -1 : 0;
}
