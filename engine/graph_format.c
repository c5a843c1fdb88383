/* graph_format.c - the graph command: the DAG as text, dot or mermaid. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/cli.h"
#include "graphbuild/docker.h"
#include "graphbuild/dsl.h"
#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/http.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/registry.h"
#include "graphbuild/sched.h"
#include "graphbuild/state.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

#include "cli_int.h"

struct edge_iter {
	const struct node *from, *to;
	const char *label;
};

static size_t edges_of(const struct node *n, struct edge_iter *out, size_t max)
{
	size_t k = 0, i;

	if (n->kind == NODE_IMAGE) {
		if (n->u.image.parent && k < max)
			out[k++] = (struct edge_iter){n, n->u.image.parent, "from"};
		for (i = 0; i < n->u.image.nsteps && k < max; i++)
			if (n->u.image.steps[i].from)
				out[k++] = (struct edge_iter){n, n->u.image.steps[i].from, "copy from"};
	} else if (n->kind == NODE_SERVICE) {
		if (n->u.service.image && k < max)
			out[k++] = (struct edge_iter){n, n->u.service.image, "image"};
		for (i = 0; i < n->u.service.ndeps && k < max; i++)
			out[k++] = (struct edge_iter){n, n->u.service.deps[i].node,
			                              dep_cond_name(n->u.service.deps[i].cond)};
	}
	return k;
}

static const char *disp(const struct node *n)
{
	return n->kind == NODE_REF ? n->ref : n->name;
}

/* A stable identifier for dot/mermaid: kind initial + declaration index. */
static void node_id(const struct node *n, char *buf, size_t len)
{
	snprintf(buf, len, "%c%zu", n->kind == NODE_SERVICE ? 's' : 'i', n->index);
}

static void print_quoted_dot(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

int cmd_graph(struct opts *o)
{
	const char *fmt = o->format ? o->format : "text";
	struct edge_iter e[256];
	struct ctx c;
	size_t i, j, k;
	char a[32], b[32];
	int rc;

	if (strcmp(fmt, "text") && strcmp(fmt, "dot") && strcmp(fmt, "mermaid")) {
		warn("graph: unknown format '%s' (text, dot or mermaid)", fmt);
		return EXIT_USAGE;
	}
	session_init(&c, o);
	if ((rc = session_load(&c, o)))
		return session_finish(&c, rc);
	if (!strcmp(fmt, "dot"))
		printf("digraph \"%s\" {\n  rankdir=BT;\n  node [fontname=\"Helvetica\"];\n", c.s->project);
	else if (!strcmp(fmt, "mermaid"))
		printf("graph BT\n");
	for (i = 0; i < c.s->norder; i++) {
		const struct node *n = c.s->order[i];

		if (!n->selected)
			continue;
		node_id(n, a, sizeof(a));
		k = edges_of(n, e, LEN(e));
		if (!strcmp(fmt, "text")) {
			printf("%s %s", n->kind == NODE_REF ? "ref" : node_kind_name(n->kind), disp(n));
			for (j = 0; j < k; j++)
				printf("%s%s (%s)", j ? ", " : " <- ", disp(e[j].to), e[j].label);
			printf("\n");
			continue;
		}
		if (!strcmp(fmt, "dot")) {
			printf("  %s [label=", a);
			print_quoted_dot(disp(n));
			printf(", shape=%s];\n", n->kind == NODE_SERVICE ? "ellipse" : n->kind == NODE_IMAGE ? "box" : "folder");
		} else {
			printf(n->kind == NODE_SERVICE ? "  %s([\"%s\"])\n" : "  %s[\"%s\"]\n", a, disp(n));
		}
		for (j = 0; j < k; j++) {
			node_id(e[j].to, b, sizeof(b));
			if (!strcmp(fmt, "dot"))
				printf("  %s -> %s [label=\"%s\"];\n", a, b, e[j].label);
			else
				printf("  %s -->|%s| %s\n", a, e[j].label, b);
		}
	}
	if (!strcmp(fmt, "dot"))
		printf("}\n");
	return session_finish(&c, 0);
}
