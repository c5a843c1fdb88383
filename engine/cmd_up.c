/* cmd_up.c - the service commands: up, down, ps, logs. */
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

int cmd_up(struct opts *o)
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
	session_init(&c, o);
	rc = session_prepare(&c, o, 1, 1);
	if (rc)
		return session_finish(&c, rc);
	session_sweep_stale(&c);
	uo.cache = c.r;
	if (up_plan(c.s, c.d, &orph) < 0)
		rc = EXIT_FAIL;
	else
		rc = up_run(c.s, c.d, c.st, &uo, &orph);
	if (c.r && c.push && !SCHED_RC_INTERRUPTED(rc)) {
		size_t failed;
		build_push(c.s, c.d, c.r, o->progress == PROGRESS_QUIET, &failed);
	}
	up_orphans_free(&orph);
	return session_finish(&c, rc);
}

/* down, ps and logs: the stack loaded and the engine connected; 0 or the
 * exit code (c is finished then). */
static int open_stack(struct ctx *c, struct opts *o)
{
	int rc;

	session_init(c, o);
	if ((rc = session_load(c, o)))
		return session_finish(c, rc);
	if (session_connect(c) < 0) {
		warn("%s", c->engine_err);
		return session_finish(c, EXIT_FAIL);
	}
	return 0;
}

int cmd_down(struct opts *o)
{
	struct ctx c;
	int rc;

	if ((rc = open_stack(&c, o)))
		return rc;
	return session_finish(&c, down_run(c.s, c.d, o->volumes, o->timeout));
}

int cmd_ps(struct opts *o)
{
	struct ctx c;
	int rc;

	if ((rc = open_stack(&c, o)))
		return rc;
	return session_finish(&c, ps_run(c.s, c.d, o->json));
}

int cmd_logs(struct opts *o)
{
	struct ctx c;
	int rc;

	if ((rc = open_stack(&c, o)))
		return rc;
	return session_finish(&c, logs_run(c.s, c.d, o->follow, o->since, o->targets, o->ntargets));
}
