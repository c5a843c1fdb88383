/* gc.c - the gc command. */
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

/* ---- gc ----
 * Every graphbuild image carries graphbuild.key and graphbuild.node. A build
 * of a node leaves a chain: one image per step (tagged by its step key), the
 * last one the node's image; the chain's head is the image no image of the
 * same node was committed on. gc keeps, per node name, the newest N heads,
 * and whatever is protected: an image a container uses, or one tagged by a
 * project (<project>/<name>:latest, so every stack's current image stays
 * however many other projects share the node name); then everything those
 * are built on (their step images: the step cache of what is kept). The rest
 * is untagged child first, so the engine deletes each image with its last
 * tag. Heads are ranked by their exact creation time (one inspect each: a
 * list says only the second, and two builds often share one). */

struct gc_img {
	char *id, *parent, *node, *key;
	char **tags;
	size_t ntags;
	long long created;      /* ns; exact for heads once inspected */
	size_t par;             /* index of the parent in the list, or NONE */
	size_t depth;           /* images below it in the list */
	int head, keep;
};

#define GC_NONE ((size_t)-1)

struct gc_state {
	struct docker *d;
	struct gc_img *v;
	size_t n;
	char **used;            /* image IDs of containers */
	size_t nused;
	char *err;
	size_t *order;          /* indexes to remove, children first */
	size_t norder, next, tag;
	size_t removed, failed;
	char *failmsg;
};

static void gc_on_images(void *arg, const struct docker_result *r)
{
	struct gc_state *g = arg;
	size_t i, k;

	if (!r->ok) {
		if (!g->err) /* the images' and the containers' listing can both fail */
			g->err = xstrdup(r->error ? r->error : "failed");
		return;
	}
	g->v = xcalloc(r->nimages + 1, sizeof(*g->v));
	for (i = 0; i < r->nimages; i++) {
		const struct docker_image *im = &r->images[i];
		struct gc_img *m = &g->v[g->n];

		if (!im->node || !im->key || !im->id)
			continue;
		m->id = xstrdup(im->id);
		m->parent = im->parent ? xstrdup(im->parent) : NULL;
		m->node = xstrdup(im->node);
		m->key = xstrdup(im->key);
		m->tags = xcalloc(im->ntags + 1, sizeof(char *));
		for (k = 0; k < im->ntags; k++)
			m->tags[m->ntags++] = xstrdup(im->tags[k]);
		m->created = im->created_ns;
		g->n++;
	}
}

static void gc_on_containers(void *arg, const struct docker_result *r)
{
	struct gc_state *g = arg;
	size_t i;

	if (!r->ok) {
		if (!g->err) /* the images' and the containers' listing can both fail */
			g->err = xstrdup(r->error ? r->error : "failed");
		return;
	}
	for (i = 0; i < r->ncontainers; i++) {
		g->used = xreallocarray(g->used, g->nused + 1, sizeof(*g->used));
		g->used[g->nused++] = xstrdup(r->containers[i].image ? r->containers[i].image : "");
	}
}

static int gc_protected(const struct gc_state *g, const struct gc_img *m)
{
	size_t i;

	for (i = 0; i < m->ntags; i++)
		if (strncmp(m->tags[i], KEY_CACHE_REPO ":", strlen(KEY_CACHE_REPO ":")) != 0)
			return 1;
	for (i = 0; i < g->nused; i++)
		if (strcmp(g->used[i], m->id) == 0)
			return 1;
	return 0;
}

/* Newest first; ties: the deeper (a child) first. */
static int gc_newer(const struct gc_img *a, const struct gc_img *b)
{
	if (a->created != b->created)
		return a->created > b->created;
	return a->depth > b->depth;
}

/* Links each image to its parent in the list; marks heads; counts depths. */
static void gc_link(struct gc_state *g)
{
	size_t i, j, k;

	for (i = 0; i < g->n; i++) {
		g->v[i].par = GC_NONE;
		for (j = 0; g->v[i].parent && j < g->n; j++)
			if (strcmp(g->v[j].id, g->v[i].parent) == 0)
				g->v[i].par = j;
		g->v[i].head = 1;
	}
	for (i = 0; i < g->n; i++) {
		size_t p = g->v[i].par;
		for (k = 0; p != GC_NONE && k < g->n; k++, p = g->v[p].par)
			g->v[i].depth++;
		p = g->v[i].par;
		if (p != GC_NONE && strcmp(g->v[p].node, g->v[i].node) == 0)
			g->v[p].head = 0;
	}
}

static void gc_on_inspect(void *arg, const struct docker_result *r)
{
	struct gc_img *m = arg;

	if (r->ok && r->nimages)
		m->created = r->images[0].created_ns;
}

/* Marks what to keep and fills g->order with the rest, children first. */
static void gc_select(struct gc_state *g, size_t keep)
{
	size_t i, j, k, rank;

	/* rank the heads of each node; protected images are kept anyway */
	for (i = 0; i < g->n; i++) {
		struct gc_img *m = &g->v[i];
		if (gc_protected(g, m))
			m->keep = 1;
		if (!m->head)
			continue;
		for (rank = 0, j = 0; j < g->n; j++)
			if (j != i && g->v[j].head && strcmp(g->v[j].node, m->node) == 0 && gc_newer(&g->v[j], m))
				rank++;
		if (rank < keep)
			m->keep = 1;
	}
	/* what is kept keeps what it is built on */
	for (i = 0; i < g->n; i++) {
		size_t p = g->v[i].par;
		for (k = 0; g->v[i].keep && p != GC_NONE && k < g->n; k++, p = g->v[p].par)
			g->v[p].keep = 1;
	}
	g->order = xcalloc(g->n + 1, sizeof(size_t));
	for (i = 0; i < g->n; i++)
		if (!g->v[i].keep)
			g->order[g->norder++] = i;
	/* children before their parents: deepest first (insertion sort, small n) */
	for (i = 1; i < g->norder; i++)
		for (j = i; j > 0 && g->v[g->order[j]].depth > g->v[g->order[j - 1]].depth; j--) {
			size_t t = g->order[j];
			g->order[j] = g->order[j - 1];
			g->order[j - 1] = t;
		}
}

static void gc_next(struct gc_state *g);

static void gc_on_remove(void *arg, const struct docker_result *r)
{
	struct gc_state *g = arg;
	struct gc_img *m = &g->v[g->order[g->next]];

	if (!r->ok && r->status != 404) {
		g->failed++;
		if (!g->failmsg)
			g->failmsg = xasprintf("%s %.16s: %s", m->node, m->key, r->error ? r->error : "failed");
		g->next++; /* the image's other tags stay: it is not removable now */
		g->tag = 0;
	} else if (++g->tag >= m->ntags) {
		printf("removed %s %.16s\n", m->node, m->key);
		g->removed++;
		g->next++;
		g->tag = 0;
	}
	gc_next(g);
}

/* Untags the next image's tags one by one (its last untag deletes it). */
static void gc_next(struct gc_state *g)
{
	while (g->next < g->norder) {
		struct gc_img *m = &g->v[g->order[g->next]];
		if (g->tag < m->ntags) {
			if (docker_image_remove(g->d, m->tags[g->tag], 0, gc_on_remove, g) == 0)
				return;
			g->failed++;
		}
		g->next++;
		g->tag = 0;
	}
}

int cmd_gc(struct opts *o)
{
	struct gc_state g = {0};
	struct ctx c;
	size_t i, k, nkept = 0;
	int rc = EXIT_OK;

	session_init(&c, o);
	if (session_connect(&c) < 0) {
		warn("%s", c.engine_err);
		return session_finish(&c, EXIT_FAIL);
	}
	g.d = c.d;
	{
		size_t swept = 0;
		char *err = NULL;
		if (build_sweep(c.d, NULL, &swept, &err) < 0) {
			warn("gc: %s", err);
			free(err);
		} else if (swept)
			printf("gc: removed %zu build container(s) a graphbuild that died left behind\n", swept);
		if ((swept = build_sweep_rootfs(build_tmpdir())))
			printf("gc: removed %zu rootfs command director%s (in %s) a graphbuild that died left behind\n",
			       swept, swept == 1 ? "y" : "ies", build_tmpdir());
	}
	docker_image_list(c.d, "graphbuild.node", gc_on_images, &g);
	docker_container_list(c.d, NULL, gc_on_containers, &g);
	docker_run_loop(c.d);
	if (g.err) {
		warn("gc: %s", g.err);
		rc = EXIT_FAIL;
		goto out;
	}
	gc_link(&g);
	for (i = 0; i < g.n; i++)
		if (g.v[i].head)
			docker_image_inspect(c.d, g.v[i].id, gc_on_inspect, &g.v[i]);
	docker_run_loop(c.d);
	gc_select(&g, o->keep < 0 ? 0 : (size_t)o->keep);
	gc_next(&g);
	docker_run_loop(c.d);
	for (i = 0; i < g.n; i++)
		nkept += g.v[i].keep;
	printf("gc: removed %zu image(s), kept %zu (the newest %d per node, those a container uses or a "
	       "project tags, and what they are built on)\n", g.removed, nkept, o->keep);
	if (g.failed) {
		warn("gc: %zu image(s) not removed (%s)", g.failed, g.failmsg ? g.failmsg : "engine refused");
		rc = EXIT_FAIL;
	}
out:
	for (i = 0; i < g.n; i++) {
		free(g.v[i].id);
		free(g.v[i].parent);
		free(g.v[i].node);
		free(g.v[i].key);
		for (k = 0; k < g.v[i].ntags; k++)
			free(g.v[i].tags[k]);
		free(g.v[i].tags);
	}
	free(g.v);
	for (i = 0; i < g.nused; i++)
		free(g.used[i]);
	free(g.used);
	free(g.order);
	free(g.failmsg);
	free(g.err);
	return session_finish(&c, rc);
}
