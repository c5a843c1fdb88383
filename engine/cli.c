/* cli.c - the command line: options, the phases every command shares (load,
 * check, select, hash, key, plan), the commands, exit codes:
 *   0 success, 1 failed work, 2 usage or stack-file error, 130 interrupted. */
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
#include "graphbuild/state.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

#define VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INT = 130 };

struct opts {
	const char *cmd;
	const char *file;
	const char *dir;
	struct kvlist vars, secrets;
	char **targets;
	size_t ntargets;
	int json;
	int jobs;
	int fail_fast;
	enum progress_mode progress;
	struct plan_opts plan;
	const char *format;     /* graph */
	int keep;               /* gc */
	int no_wait, recreate_deps, remove_orphans, volumes, follow;
	int timeout;            /* down -t */
	const char *since;
	const char *cache;      /* --cache (NULL: not given; "": none) */
	int push;               /* --push */
};

struct cmd {
	const char *name;
	const char *usage;
	const char *help;
	int (*run)(struct opts *o);
};

/* ---- the phases ---- */

struct ctx {
	uv_loop_t loop;
	struct stack *s;
	struct state *st;
	struct docker *d;
	char *engine_err;       /* why the engine could not be used */
	struct keyset ks;
	int have_engine;
	struct registry *r;     /* the remote cache, or NULL */
	int push;               /* push what was built (--push, cache_push) */
};

static void kv_push(struct kvlist *kv, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->k[i], k) == 0) {
			free(kv->v[i]);
			kv->v[i] = xstrdup(v);
			return;
		}
	kv->k = xrealloc(kv->k, sizeof(*kv->k) * (kv->n + 1));
	kv->v = xrealloc(kv->v, sizeof(*kv->v) * (kv->n + 1));
	kv->k[kv->n] = xstrdup(k);
	kv->v[kv->n] = xstrdup(v);
	kv->n++;
}

static void kv_clear(struct kvlist *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		free(kv->k[i]);
		free(kv->v[i]);
	}
	free(kv->k);
	free(kv->v);
}

/* Loads, checks and selects. Returns 0 or an exit code. */
static int load(struct ctx *c, struct opts *o)
{
	struct dsl_opts d = {o->file, &o->vars, &o->secrets};

	c->s = dsl_load(&d);
	if (!c->s)
		return EXIT_USAGE;
	if (graph_check(c->s) > 0)
		return EXIT_USAGE;
	if (graph_select(c->s, o->targets, o->ntargets) < 0)
		return EXIT_USAGE;
	return 0;
}

struct ref_req {
	struct node *n;
	struct stack *s;
};

static void on_ref(void *arg, const struct docker_result *r)
{
	struct ref_req *q = arg;

	if (r->ok && r->nimages)
		q->n->ref_id = arena_strdup(q->s->arena, r->images[0].id);
	free(q);
}

/* Asks the engine for the IDs of registry references (concurrently). */
static void resolve_refs(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->s->nnodes; i++) {
		struct node *n = c->s->nodes[i];
		struct ref_req *q;

		if (n->kind != NODE_REF || !n->selected)
			continue;
		q = xmalloc(sizeof(*q));
		q->n = n;
		q->s = c->s;
		n->ref_id = NULL;
		if (docker_image_inspect(c->d, n->ref, on_ref, q) < 0)
			free(q);
	}
	docker_run_loop(c->d);
}

struct pull_req {
	struct node *n;
	int *failed;
};

static void on_pull(void *arg, const struct docker_result *r)
{
	struct pull_req *q = arg;

	if (!r->ok) {
		warn("%s:%d: cannot pull %s: %s", q->n->pos.file, q->n->pos.line, q->n->ref,
		     r->error ? r->error : "pull failed");
		(*q->failed)++;
	}
	free(q);
}

/* Pulls the selected registry references the engine lacks (concurrently),
 * so every key is computed from a resolved image ID before anything is
 * built: a pulled base never changes keys behind the plan's back. */
static int pull_refs(struct ctx *c)
{
	int failed = 0, any = 0;
	size_t i;

	for (i = 0; i < c->s->nnodes; i++) {
		struct node *n = c->s->nodes[i];
		struct pull_req *q;

		if (n->kind != NODE_REF || !n->selected || n->ref_id)
			continue;
		fprintf(stderr, "pulling %s\n", n->ref);
		q = xmalloc(sizeof(*q));
		q->n = n;
		q->failed = &failed;
		if (docker_image_pull(c->d, n->ref, on_pull, q) < 0) {
			free(q);
			failed++;
		}
		any = 1;
	}
	docker_run_loop(c->d);
	if (failed)
		return -1;
	if (any)
		resolve_refs(c);
	return 0;
}

static void on_connect(void *arg, const struct docker_result *r)
{
	struct ctx *c = arg;

	c->have_engine = r->ok;
	if (!r->ok)
		c->engine_err = xstrdup(r->error ? r->error : "cannot reach the Docker engine");
}

/* Connects to the engine. Returns 0 or -1 (c->engine_err says why). */
static int connect_engine(struct ctx *c)
{
	char *err = NULL;

	c->d = docker_new(&c->loop, NULL, &err);
	if (!c->d) {
		c->engine_err = err;
		return -1;
	}
	if (docker_connect(c->d, on_connect, c) < 0) {
		c->engine_err = xstrdup("cannot start a request to the engine");
		return -1;
	}
	docker_run_loop(c->d);
	return c->have_engine ? 0 : -1;
}

/* Hashes every input and computes keys (pulling missing references first
 * when pull is set). Returns 0 or an exit code. */
static int hash_and_key(struct ctx *c, int pull)
{
	char *cache = state_path(c->st, "statcache", 0);
	struct hasher *h = hasher_new(&c->loop, cache);
	char *err = NULL;
	int errors;

	free(cache);
	errors = keys_collect(c->s, h);
	if (hasher_wait(h, &err) < 0) {
		warn("%s", err);
		free(err);
		errors++;
	}
	if (errors) {
		hasher_free(h);
		return EXIT_USAGE;
	}
	free(state_path(c->st, "statcache", 1)); /* the directory, once loading succeeded */
	hasher_save(h);
	hasher_free(h);
	if (c->have_engine)
		resolve_refs(c);
	if (c->have_engine && pull && pull_refs(c) < 0)
		return EXIT_FAIL;
	keys_compute(c->s);
	return 0;
}

/* The remote cache: --cache, else GRAPHBUILD_CACHE, else the stack's cache =
 * ("" in the first two: none). Checked right after loading, before anything
 * is written. Returns 0 or an exit code. */
static int open_cache(struct ctx *c, struct opts *o)
{
	const char *env = getenv("GRAPHBUILD_CACHE");
	const char *name = o->cache ? o->cache : env ? env : c->s->cache;
	const char *from = o->cache ? "--cache" : env ? "GRAPHBUILD_CACHE" : c->s->file;
	char *err = NULL;

	c->push = o->push || c->s->cache_push;
	if (!name || !*name) {
		if (o->push) {
			warn("--push needs a cache: --cache REGISTRY/REPO, GRAPHBUILD_CACHE or project { cache = … }");
			return EXIT_USAGE;
		}
		c->push = 0;
		return 0;
	}
	c->r = registry_new(&c->loop, name, &err);
	if (!c->r) {
		warn("%s: %s", from, err);
		free(err);
		return EXIT_USAGE;
	}
	return 0;
}

/* The whole front half: load, engine, keys, image plan. need_engine: fail
 * without one (exit 1); otherwise plan from local state with a note. */
static int prepare(struct ctx *c, struct opts *o, int need_engine, int exclusive)
{
	char *err = NULL;
	int rc;

	if ((rc = load(c, o)) || (rc = open_cache(c, o)))
		return rc;
	c->st = state_open(c->s->dir, exclusive);
	if (!c->st)
		return EXIT_FAIL;
	if (connect_engine(c) < 0 && need_engine) {
		warn("%s", c->engine_err);
		return EXIT_FAIL;
	}
	if ((rc = hash_and_key(c, need_engine)))
		return rc;
	if (c->have_engine && plan_engine_keys(c->d, &c->ks, &err) < 0) {
		warn("%s", err);
		free(err);
		return EXIT_FAIL;
	}
	if (plan_images(c->s, c->st, c->have_engine ? &c->ks : NULL, &o->plan) < 0)
		return EXIT_USAGE;
	if (c->r && c->have_engine) {
		char *warning = NULL;

		plan_cache(c->s, &c->ks, c->r, &warning);
		if (warning) {
			warn("%s", warning);
			free(warning);
		}
	}
	return 0;
}

static int finish(struct ctx *c, int rc)
{
	if (c->s) {
		plan_free(c->s);
		keys_free(c->s);
	}
	if (c->r) {
		registry_cancel(c->r);
		if (c->d)
			docker_run_loop(c->d);
		registry_free(c->r);
	}
	if (c->d) {
		docker_cancel_all(c->d);
		docker_run_loop(c->d);
		docker_free(c->d);
	}
	keyset_free(&c->ks);
	if (c->st) {
		state_flush(c->st);
		state_close(c->st);
	}
	if (c->s)
		dsl_free(c->s);
	free(c->engine_err);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&c->loop) != 0)
		warn("internal: handles left open on the loop");
	return rc;
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	uv_loop_init(&c->loop);
}

/* ---- commands ---- */

static int cmd_plan(struct opts *o)
{
	struct ctx c;
	struct up_orphans orph = {0};
	char *note = NULL;
	int rc;

	ctx_init(&c);
	rc = prepare(&c, o, 0, 0);
	if (rc)
		return finish(&c, rc);
	if (!c.have_engine)
		note = xasprintf("%s; build/reuse decided from local state only", c.engine_err);
	else if (up_plan(c.s, c.d, &orph) < 0)
		rc = EXIT_FAIL;
	plan_print(c.s, o->json, orph.names, orph.n, note);
	up_orphans_free(&orph);
	free(note);
	return finish(&c, rc);
}

/* After building: push (--push), then the totals line for people and CI
 * logs, and with --json the same as one object on stdout. */
static void build_report(struct ctx *c, struct opts *o, int rc, uint64_t t0)
{
	static const char *outcomes[] = {"built", "pulled", "reused", "failed", "cancelled", "skipped"};
	size_t count[LEN(outcomes)] = {0}, pushed = 0, push_failed = 0, i, k;
	struct registry_stats rs = {0};
	struct buf b = {0};
	double secs;

	if (c->r && c->push && rc != EXIT_INT)
		pushed = build_push(c->s, c->d, c->r, o->progress == PROGRESS_QUIET, &push_failed);
	if (c->r)
		registry_stats(c->r, &rs);
	secs = (double)(now_ms() - t0) / 1000.0;
	for (i = 0; i < c->s->norder; i++) {
		const struct node *n = c->s->order[i];
		const char *out;

		if (!n->selected || n->kind == NODE_SERVICE || !n->np)
			continue;
		out = n->np->outcome ? n->np->outcome : "reused";
		for (k = 0; k < LEN(outcomes); k++)
			if (!strcmp(out, outcomes[k]))
				count[k]++;
	}
	if (o->progress != PROGRESS_QUIET || rc) {
		fprintf(stderr, "%s: %zu built, %zu pulled, %zu reused", rc == EXIT_OK ? "done" : "failed",
		        count[0], count[1], count[2]);
		if (count[3] + count[4] + count[5])
			fprintf(stderr, ", %zu failed, %zu not run", count[3], count[4] + count[5]);
		fprintf(stderr, " in %.1f s\n", secs);
		if (c->r)
			fprintf(stderr, "cache %s: %zu key(s) checked in %.0f ms, %zu hit(s); %zu pulled, %zu pushed%s\n",
			        registry_name(c->r), rs.checked, rs.check_ms, rs.hits, rs.pulled, pushed,
			        rs.failed || push_failed ? " (some not: see the warnings above)" : "");
	}
	if (!o->json)
		return;
	buf_adds(&b, "{\n  \"project\": ");
	buf_json_str(&b, c->s->project);
	buf_printf(&b, ",\n  \"result\": \"%s\",\n  \"seconds\": %.3f,\n  \"images\": [",
	           rc == EXIT_OK ? "ok" : rc == EXIT_INT ? "interrupted" : "failed", secs);
	k = 0;
	for (i = 0; i < c->s->norder; i++) {
		const struct node *n = c->s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || !n->np)
			continue;
		buf_adds(&b, k++ ? ",\n    {\"name\": " : "\n    {\"name\": ");
		buf_json_str(&b, n->kind == NODE_REF ? n->ref : n->name);
		buf_adds(&b, ", \"key\": ");
		buf_json_str(&b, n->keyhex);
		buf_printf(&b, ", \"plan\": \"%s\", \"outcome\": \"%s\", \"seconds\": %.3f}",
		           plan_action_name(n->np->action), n->np->outcome ? n->np->outcome : "reused",
		           (double)n->np->ms / 1000.0);
	}
	buf_printf(&b, "%s],\n  \"totals\": {\"built\": %zu, \"pulled\": %zu, \"reused\": %zu, "
	           "\"failed\": %zu, \"not_run\": %zu}", k ? "\n  " : "", count[0], count[1], count[2],
	           count[3], count[4] + count[5]);
	if (c->r) {
		buf_adds(&b, ",\n  \"cache\": {\"name\": ");
		buf_json_str(&b, registry_name(c->r));
		buf_printf(&b, ", \"checked\": %zu, \"hits\": %zu, \"check_ms\": %.1f, \"pulled\": %zu, "
		           "\"pushed\": %zu, \"failed\": %zu}", rs.checked, rs.hits, rs.check_ms, rs.pulled,
		           pushed, rs.failed);
	}
	buf_adds(&b, "\n}\n");
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
}

static int cmd_build(struct opts *o)
{
	struct build_opts bo = {o->jobs, o->fail_fast, o->progress, NULL};
	uint64_t t0 = now_ms();
	struct ctx c;
	size_t i;
	int rc;

	ctx_init(&c);
	rc = prepare(&c, o, 1, 1);
	if (rc)
		return finish(&c, rc);
	/* a service target builds its image */
	for (i = 0; i < c.s->nnodes; i++)
		if (c.s->nodes[i]->kind == NODE_SERVICE)
			c.s->nodes[i]->selected = 0;
	bo.cache = c.r;
	plan_record_reused(c.s, c.st, c.d);
	if (plan_pending(c.s) == 0) {
		if (o->progress != PROGRESS_QUIET)
			fprintf(stderr, "nothing to build: every image is up to date\n");
	} else
		rc = build_run(c.s, c.d, c.st, &bo);
	build_report(&c, o, rc, t0);
	return finish(&c, rc);
}

static int cmd_up(struct opts *o)
{
	struct up_opts uo = {0};
	struct up_orphans orph = {0};
	struct ctx c;
	int rc;

	uo.no_wait = o->no_wait;
	uo.recreate_deps = o->recreate_deps;
	uo.remove_orphans = o->remove_orphans;
	uo.rebuild = o->plan.rebuild_all || o->plan.nrebuild;
	uo.jobs = o->jobs;
	uo.fail_fast = o->fail_fast;
	uo.progress = o->progress;
	uo.stop_timeout = o->timeout;
	ctx_init(&c);
	rc = prepare(&c, o, 1, 1);
	if (rc)
		return finish(&c, rc);
	uo.cache = c.r;
	if (up_plan(c.s, c.d, &orph) < 0)
		rc = EXIT_FAIL;
	else
		rc = up_run(c.s, c.d, c.st, &uo, &orph);
	if (c.r && c.push && rc != EXIT_INT) {
		size_t failed;
		build_push(c.s, c.d, c.r, o->progress == PROGRESS_QUIET, &failed);
	}
	up_orphans_free(&orph);
	return finish(&c, rc);
}

static int cmd_down(struct opts *o)
{
	struct ctx c;
	int rc;

	ctx_init(&c);
	if ((rc = load(&c, o)))
		return finish(&c, rc);
	if (connect_engine(&c) < 0) {
		warn("%s", c.engine_err);
		return finish(&c, EXIT_FAIL);
	}
	return finish(&c, down_run(c.s, c.d, o->volumes, o->timeout));
}

static int cmd_ps(struct opts *o)
{
	struct ctx c;
	int rc;

	ctx_init(&c);
	if ((rc = load(&c, o)))
		return finish(&c, rc);
	if (connect_engine(&c) < 0) {
		warn("%s", c.engine_err);
		return finish(&c, EXIT_FAIL);
	}
	return finish(&c, ps_run(c.s, c.d, o->json));
}

static int cmd_logs(struct opts *o)
{
	struct ctx c;
	int rc;

	ctx_init(&c);
	if ((rc = load(&c, o)))
		return finish(&c, rc);
	if (connect_engine(&c) < 0) {
		warn("%s", c.engine_err);
		return finish(&c, EXIT_FAIL);
	}
	return finish(&c, logs_run(c.s, c.d, o->follow, o->since, o->targets, o->ntargets));
}

/* ---- graph ---- */

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

static int cmd_graph(struct opts *o)
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
	ctx_init(&c);
	if ((rc = load(&c, o)))
		return finish(&c, rc);
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
	return finish(&c, 0);
}

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
		g->err = xstrdup(r->error);
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
		g->err = xstrdup(r->error);
		return;
	}
	for (i = 0; i < r->ncontainers; i++) {
		g->used = xrealloc(g->used, sizeof(*g->used) * (g->nused + 1));
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

static int cmd_gc(struct opts *o)
{
	struct gc_state g = {0};
	struct ctx c;
	size_t i, k, nkept = 0;
	int rc = EXIT_OK;

	ctx_init(&c);
	if (connect_engine(&c) < 0) {
		warn("%s", c.engine_err);
		return finish(&c, EXIT_FAIL);
	}
	g.d = c.d;
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
	return finish(&c, rc);
}

/* ---- parsing ---- */

static const struct cmd cmds[] = {
	{"plan", "plan [--json] [--rebuild[=NODE,...]] [--cache REG/REPO] [TARGET...]",
	 "Load the stack, hash every input and show, per image, build / reuse / pull with\n"
	 "the reasons (which file, step or setting changed), and per service create /\n"
	 "recreate / keep / remove. Changes nothing.", cmd_plan},
	{"build", "build [-j N] [--fail-fast] [--rebuild[=NODE,...]] [--cache REG/REPO] [--push] [--json] [TARGET...]",
	 "Build what the plan says, in parallel, reusing every image whose key exists on\n"
	 "the engine and pulling those the cache has; --push pushes what is missing\n"
	 "from the cache afterwards. Ends with a summary (--json: as one object).", cmd_build},
	{"up", "up [--no-wait] [--rebuild[=NODE,...]] [--recreate-deps] [--no-remove-orphans] [-t SECONDS] [--cache REG/REPO] [--push] [SERVICE...]",
	 "Build, then create/start services in dependency order as soon as each\n"
	 "dependency is ready; recreate only what changed; a no-op when nothing did.", cmd_up},
	{"down", "down [--volumes] [-t SECONDS]",
	 "Stop and remove the stack's containers in reverse dependency order, and its\n"
	 "network (--volumes: also its named volumes).", cmd_down},
	{"ps", "ps [--json]", "Show the stack's containers: state, health, image key, ports.", cmd_ps},
	{"logs", "logs [-f] [--since TIME] [SERVICE...]",
	 "Show the services' output, each line prefixed with the service name.", cmd_logs},
	{"graph", "graph [--format text|dot|mermaid] [TARGET...]", "Print the DAG.", cmd_graph},
	{"gc", "gc [--keep N]",
	 "Remove graphbuild images beyond the newest N (default 3) per node, never one a\n"
	 "container uses or a project tags (<project>/<name>:latest), nor what those are\n"
	 "built on.", cmd_gc},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: graphbuild [-f FILE] [-C DIR] [--set K=V]... COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < LEN(cmds); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f,
	        "\ncommon options:\n"
	        "  -f FILE              the stack file (default ./stack.lua)\n"
	        "  -C DIR               change to DIR first\n"
	        "  --set K=V            set vars.K for the stack file (repeatable)\n"
	        "  --secret ID=file:PATH|env:VAR   where a secret's value comes from\n"
	        "  --json               machine-readable output (plan, build, ps)\n"
	        "  --progress MODE      auto, tty, plain or quiet\n"
	        "  -j N                 parallel builds (default: CPUs, at least 2)\n"
	        "  --cache REG/REPO     a registry repository as the shared cache (\"\": none)\n"
	        "  --push               push what the cache lacks after building\n"
	        "  --print-path         print where `require` looks after the stack's own dirs\n"
	        "  --version, --help\n"
	        "\nenvironment: DOCKER_HOST (unix:// or tcp://), DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,\n"
	        "  GRAPHBUILD_CACHE, GRAPHBUILD_PATH, GRAPHBUILD_PROBES, NO_COLOR\n"
	        "exit codes: 0 ok, 1 a build/start failed, 2 usage or stack error, 130 interrupted\n");
}

static int default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : (int)n;
}

static int parse_int(const char *flag, const char *v, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < 0 || n > 1000000) {
		warn("%s: not a number: '%s'", flag, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static void split_rebuild(struct opts *o, const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *t;

	for (t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		o->plan.rebuild = xrealloc(o->plan.rebuild, sizeof(char *) * (o->plan.nrebuild + 1));
		o->plan.rebuild[o->plan.nrebuild++] = xstrdup(t);
	}
	free(copy);
}

/* Returns -1 on a usage error (printed), 1 if help was printed, else 0. */
static int parse(struct opts *o, int argc, char **argv, const struct cmd **cmdp)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		const char *val = NULL;

#define NEEDARG() do { \
		if (i + 1 >= argc) { warn("%s needs a value", a); return -1; } \
		val = argv[++i]; } while (0)
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (!o->cmd) {
				size_t k;

				o->cmd = a;
				for (k = 0; k < LEN(cmds); k++)
					if (!strcmp(cmds[k].name, a))
						*cmdp = &cmds[k];
				if (!*cmdp) {
					warn("unknown command '%s' (try graphbuild --help)", a);
					return -1;
				}
			} else {
				o->targets = xrealloc(o->targets, sizeof(char *) * (o->ntargets + 1));
				o->targets[o->ntargets++] = a;
			}
		} else if (!strcmp(a, "--")) {
			for (i++; i < argc; i++) {
				o->targets = xrealloc(o->targets, sizeof(char *) * (o->ntargets + 1));
				o->targets[o->ntargets++] = argv[i];
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			if (*cmdp)
				printf("usage: graphbuild %s\n\n%s\n\nSee graphbuild --help for the common options.\n",
				       (*cmdp)->usage, (*cmdp)->help);
			else
				usage(stdout);
			return 1;
		} else if (!strcmp(a, "--version")) {
			printf("graphbuild %s\n", VERSION);
			return 1;
		} else if (!strcmp(a, "--print-path")) {
			dsl_print_path();
			return 1;
		} else if (!strcmp(a, "-f") && *cmdp && !strcmp((*cmdp)->name, "logs")) {
			o->follow = 1;
		} else if (!strcmp(a, "--follow")) {
			o->follow = 1;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
			NEEDARG();
			o->file = val;
		} else if (!strcmp(a, "-C")) {
			NEEDARG();
			o->dir = val;
		} else if (!strcmp(a, "--set") || !strcmp(a, "--secret")) {
			char *eq;

			NEEDARG();
			eq = strchr(val, '=');
			if (!eq || eq == val) {
				warn("%s: expected KEY=VALUE, got '%s'", a, val);
				return -1;
			}
			{
				char *k = xstrndup(val, (size_t)(eq - val));

				kv_push(!strcmp(a, "--set") ? &o->vars : &o->secrets, k, eq + 1);
				free(k);
			}
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "-j") || !strncmp(a, "-j", 2) || !strcmp(a, "--jobs")) {
			if (a[1] == 'j' && a[2])
				val = a + 2;
			else
				NEEDARG();
			if (parse_int("-j", val, &o->jobs) < 0 || o->jobs < 1) {
				warn("-j: must be a number of at least 1");
				return -1;
			}
		} else if (!strcmp(a, "--fail-fast")) {
			o->fail_fast = 1;
		} else if (!strcmp(a, "--rebuild")) {
			o->plan.rebuild_all = 1;
		} else if (!strncmp(a, "--rebuild=", 10)) {
			split_rebuild(o, a + 10);
		} else if (!strcmp(a, "--progress") || !strncmp(a, "--progress=", 11)) {
			if (a[10] == '=')
				val = a + 11;
			else
				NEEDARG();
			if (!strcmp(val, "auto")) o->progress = PROGRESS_AUTO;
			else if (!strcmp(val, "tty")) o->progress = PROGRESS_TTY;
			else if (!strcmp(val, "plain")) o->progress = PROGRESS_PLAIN;
			else if (!strcmp(val, "quiet")) o->progress = PROGRESS_QUIET;
			else {
				warn("--progress: expected auto, tty, plain or quiet, got '%s'", val);
				return -1;
			}
		} else if (!strcmp(a, "--format") || !strncmp(a, "--format=", 9)) {
			if (a[8] == '=')
				val = a + 9;
			else
				NEEDARG();
			o->format = val;
		} else if (!strcmp(a, "--keep")) {
			NEEDARG();
			if (parse_int(a, val, &o->keep) < 0)
				return -1;
		} else if (!strcmp(a, "--no-wait")) {
			o->no_wait = 1;
		} else if (!strcmp(a, "--recreate-deps")) {
			o->recreate_deps = 1;
		} else if (!strcmp(a, "--remove-orphans")) {
			o->remove_orphans = 1;
		} else if (!strcmp(a, "--no-remove-orphans")) {
			o->remove_orphans = 0;
		} else if (!strcmp(a, "--volumes") || !strcmp(a, "-v")) {
			o->volumes = 1;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--timeout")) {
			NEEDARG();
			if (parse_int(a, val, &o->timeout) < 0)
				return -1;
		} else if (!strcmp(a, "--cache") || !strncmp(a, "--cache=", 8)) {
			if (a[7] == '=')
				val = a + 8;
			else
				NEEDARG();
			o->cache = val;
		} else if (!strcmp(a, "--push")) {
			o->push = 1;
		} else if (!strcmp(a, "--since")) {
			NEEDARG();
			o->since = val;
		} else {
			warn("unknown option '%s' (try graphbuild --help)", a);
			return -1;
		}
#undef NEEDARG
	}
	return 0;
}

int cli_main(int argc, char **argv)
{
	struct opts o = {0};
	const struct cmd *cmd = NULL;
	int rc;
	size_t i;

	o.file = "stack.lua";
	o.jobs = default_jobs();
	o.keep = 3;
	o.remove_orphans = 1;
	o.timeout = -1;
	rc = parse(&o, argc, argv, &cmd);
	if (rc == 0 && !cmd) {
		usage(stderr);
		rc = -1;
	}
	if (rc == 0 && o.dir && chdir(o.dir) < 0) {
		warn("-C %s:", o.dir);
		rc = -1;
	}
	if (rc == 0) {
		http_global_init();
		rc = cmd->run(&o);
		http_global_cleanup();
	} else {
		rc = rc < 0 ? EXIT_USAGE : EXIT_OK;
	}
	kv_clear(&o.vars);
	kv_clear(&o.secrets);
	for (i = 0; i < o.plan.nrebuild; i++)
		free(o.plan.rebuild[i]);
	free(o.plan.rebuild);
	free(o.targets);
	return rc;
}
