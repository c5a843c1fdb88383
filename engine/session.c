/* session.c - the phases every command shares: load, check, select, engine,
 * hash, key, image plan (prepare), and the teardown (finish). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/cli.h"
#include "graphbuild/compose.h"
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

/* Loads, checks and selects. Returns 0 or an exit code. */
int session_load(struct ctx *c, struct opts *o)
{
	struct dsl_opts d = {o->file, &o->vars, &o->secrets, NULL, 0, &o->bases};
	char *text = NULL;

	if (compose_for_load(&o->file, &text, &d.len) < 0)
		return EXIT_USAGE;
	d.file = o->file;
	d.text = text;
	c->s = dsl_load(&d);
	free(text);
	if (!c->s)
		return EXIT_USAGE;
	if (graph_check(c->s) > 0)
		return EXIT_USAGE;
	if (graph_select(c->s, o->targets, o->ntargets) < 0)
		return EXIT_USAGE;
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
int session_connect(struct ctx *c)
{
	char *err = NULL;

	c->d = docker_new(&c->loop, c->env->docker_host, &err);
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
		refs_resolve(c);
	if (c->have_engine && pull && refs_pull(c) < 0)
		return EXIT_FAIL;
	keys_compute(c->s);
	return 0;
}

/* The remote cache: --cache, else GRAPHBUILD_CACHE, else the stack's cache =
 * ("" in the first two: none). Checked right after loading, before anything
 * is written. Returns 0 or an exit code. */
static int open_cache(struct ctx *c, struct opts *o)
{
	const char *env = o->env.cache;
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
int session_prepare(struct ctx *c, struct opts *o, int need_engine, int exclusive)
{
	char *err = NULL;
	int rc;

	if ((rc = session_load(c, o)) || (rc = open_cache(c, o)))
		return rc;
	c->st = state_open(c->s->dir, exclusive);
	if (!c->st)
		return EXIT_FAIL;
	if (c->r && exclusive) { /* poisoned cache tags a later --push replaces */
		char *p = state_path(c->st, "cache-rejected", 0);
		registry_rejected_load(c->r, p);
		free(p);
	}
	if (session_connect(c) < 0 && need_engine) {
		warn("%s", c->engine_err);
		return EXIT_FAIL;
	}
	if ((rc = hash_and_key(c, need_engine)))
		return rc;
	if (c->have_engine && inventory_keys(c->d, &c->ks, &err) < 0) {
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

int session_finish(struct ctx *c, int rc)
{
	if (c->s) {
		plan_free(c->s);
		keys_free(c->s);
	}
	if (c->r) {
		/* drain everything of the cache's, the status watcher's pings
		 * too, before freeing it (DEFECTS 10) */
		registry_cancel(c->r);
		if (c->d)
			docker_cancel_all(c->d);
		registry_drain(c->r);
		if (c->d)
			docker_run_loop(c->d);
		registry_rejected_save(c->r);
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

/* Removes build containers a dead graphbuild left (kill -9, a crash): the
 * project's only (the state lock is held). A failure is a warning. */
void session_sweep_stale(struct ctx *c)
{
	size_t n = 0;
	char *err = NULL;

	if (build_sweep(c->d, c->s->project, &n, &err) < 0) {
		warn("%s", err);
		free(err);
	} else if (n)
		warn("removed %zu build container(s) a graphbuild that died left behind", n);
	if ((n = build_sweep_rootfs(build_tmpdir())))
		warn("removed %zu rootfs command director%s (in %s) a graphbuild that died left behind", n,
		     n == 1 ? "y" : "ies", build_tmpdir());
}

void session_init(struct ctx *c, const struct opts *o)
{
	memset(c, 0, sizeof(*c));
	c->env = &o->env;
	uv_loop_init(&c->loop);
}
