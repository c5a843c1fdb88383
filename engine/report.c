/* report.c - the build report: push (--push), the totals line, --json. */
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

/* After building: push (--push), then the totals line for people and CI
 * logs, and with --json the same as one object on stdout. */
void report_build(struct ctx *c, struct opts *o, int rc, uint64_t t0)
{
	static const char *outcomes[] = {"built", "pulled", "reused", "failed", "cancelled", "skipped"};
	size_t count[LEN(outcomes)] = {0}, pushed = 0, push_failed = 0, i, k;
	struct registry_stats rs = {0};
	struct buf b = {0};
	double secs;

	if (c->r && c->push && !SCHED_RC_INTERRUPTED(rc))
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
	           rc == EXIT_OK ? "ok" : SCHED_RC_INTERRUPTED(rc) ? "interrupted" : "failed", secs);
	k = 0;
	for (i = 0; i < c->s->norder; i++) {
		const struct node *n = c->s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || !n->np)
			continue;
		buf_adds(&b, k++ ? ",\n    {\"name\": " : "\n    {\"name\": ");
		buf_json_str(&b, n->kind == NODE_REF ? n->ref : n->name);
		buf_adds(&b, ", \"key\": ");
		buf_json_str(&b, n->keyhex);
		buf_printf(&b, ", \"plan\": \"%s\", \"outcome\": \"%s\", \"seconds\": %.3f",
		           plan_action_name(n->np->action), n->np->outcome ? n->np->outcome : "reused",
		           (double)n->np->ms / 1000.0);
		if (n->np->shared_steps) /* only then: the object is unchanged otherwise */
			buf_printf(&b, ", \"shared_steps\": %zu", n->np->shared_steps);
		buf_adds(&b, "}");
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
