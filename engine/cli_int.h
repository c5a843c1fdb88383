/* cli_int.h - what the CLI's files share (engine/cli.c, session.c, refs.c,
 * report.c, cmd_*.c, graph_format.c, gc.c): the options, the session
 * context, the phases and the commands. Internal to the CLI. */
#ifndef GRAPHBUILD_CLI_INT_H
#define GRAPHBUILD_CLI_INT_H

#include <stdint.h>
#include <uv.h>

#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/util.h"

#define VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INT = 130 };

/* The environment, read once by cli_main (config_from_env) and passed down
 * in struct opts: nothing below the CLI should call getenv for these.
 * NULL: unset. */
struct config {
	const char *cache;           /* GRAPHBUILD_CACHE: the remote cache ("": none) */
	const char *request_timeout; /* GRAPHBUILD_REQUEST_TIMEOUT: seconds */
	const char *docker_host;     /* DOCKER_HOST (NULL or "": docker.c's default) */
};

struct opts {
	const char *cmd;
	const char *file;
	const char *dir;
	struct kvlist vars, secrets, bases;
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
	int request_timeout;    /* --request-timeout, GRAPHBUILD_REQUEST_TIMEOUT; -1: unset */
	const char *since;
	const char *cache;      /* --cache (NULL: not given; "": none) */
	int push;               /* --push */
	const char *out;        /* import -o */
	int force;              /* import --force */
	struct config env;      /* the environment, read once */
};

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
	const struct config *env; /* the command's environment (opts.env) */
};

/* session.c */
int session_load(struct ctx *c, struct opts *o);
int session_connect(struct ctx *c);
int session_prepare(struct ctx *c, struct opts *o, int need_engine, int exclusive);
int session_finish(struct ctx *c, int rc);
void session_sweep_stale(struct ctx *c);
void session_init(struct ctx *c, const struct opts *o);

/* refs.c */
void refs_resolve(struct ctx *c);
int refs_pull(struct ctx *c);

/* report.c */
void report_build(struct ctx *c, struct opts *o, int rc, uint64_t t0);

/* the commands: cmd_build.c, cmd_up.c, graph_format.c, gc.c */
int cmd_plan(struct opts *o);
int cmd_build(struct opts *o);
int cmd_up(struct opts *o);
int cmd_down(struct opts *o);
int cmd_ps(struct opts *o);
int cmd_logs(struct opts *o);
int cmd_graph(struct opts *o);
int cmd_gc(struct opts *o);

#endif
