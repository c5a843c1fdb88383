/* cmd_build.c - the plan and build commands. */
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

int cmd_plan(struct opts *o)
{
	struct ctx c;
	struct up_orphans orph = {0};
	char *note = NULL;
	int rc;

	session_init(&c, o);
	rc = session_prepare(&c, o, 0, 0);
	if (rc)
		return session_finish(&c, rc);
	if (!c.have_engine)
		note = xasprintf("%s; build/reuse decided from local state only", c.engine_err);
	else if (up_plan(c.s, c.d, &orph) < 0)
		rc = EXIT_FAIL;
	plan_print(c.s, o->json, orph.names, orph.n, note);
	up_orphans_free(&orph);
	free(note);
	return session_finish(&c, rc);
}

int cmd_build(struct opts *o)
{
	struct build_opts bo = {o->jobs, o->fail_fast, o->progress, NULL};
	uint64_t t0 = now_ms();
	struct ctx c;
	size_t i;
	int rc;

	session_init(&c, o);
	rc = session_prepare(&c, o, 1, 1);
	if (rc)
		return session_finish(&c, rc);
	session_sweep_stale(&c);
	/* a service target builds its image */
	for (i = 0; i < c.s->nnodes; i++)
		if (c.s->nodes[i]->kind == NODE_SERVICE)
			c.s->nodes[i]->selected = 0;
	bo.cache = c.r;
	/* a failed tag of a reused image fails the build (every time: its
	 * manifest is not recorded, so the next run tags it again) */
	if (build_record_reused(c.s, c.st, c.d) > 0)
		rc = EXIT_FAIL;
	if (plan_pending(c.s) == 0) {
		if (o->progress != PROGRESS_QUIET && !rc)
			fprintf(stderr, "nothing to build: every image is up to date\n");
	} else {
		int brc = build_run(c.s, c.d, c.st, &bo);

		if (brc)
			rc = brc;
	}
	report_build(&c, o, rc, t0);
	return session_finish(&c, rc);
}
