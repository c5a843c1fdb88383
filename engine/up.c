/* up.c - `up`: the plan's image builds and the service starts as jobs on
 * one scheduler (svc_job.c), each service gated on its image and on its
 * dependencies' events, its old container retired by a job of its own
 * (svc_retire.c) that overlaps the wait for them; orphans removed; then the
 * report (errors, the failed service's last lines, what was not started or
 * was left running).
 *
 * Memory: everything of one `up` (struct up, its svc jobs) is freed after the
 * loop has delivered every callback of the requests it started (inflight
 * counter; still-open streams are cancelled with docker_cancel_all first). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/build.h"
#include "graphbuild/health.h"
#include "graphbuild/names.h"
#include "graphbuild/plan.h"

#include "up_int.h"

static unsigned cond_mask(enum dep_cond c)
{
	switch (c) {
	case DEP_HEALTHY: return SCHED_HEALTHY;
	case DEP_COMPLETED: return SCHED_COMPLETED;
	default: return SCHED_STARTED;
	}
}

static void on_orphan_removed(void *arg, const struct docker_result *r)
{
	struct up *u = arg;

	u->inflight--;
	u->orphans_pending--;
	if (!r->ok && r->status != 404) {
		warn("removing an orphan container: %s", r->error ? r->error : "failed");
		u->orphan_failed = 1;
	}
}

int up_run(struct stack *s, struct docker *d, struct state *st, const struct up_opts *o,
           const struct up_orphans *orph)
{
	uv_loop_t *loop = docker_loop(d);
	struct up u;
	struct listing l = {0};
	struct sched_job **jobs;
	struct build *b;
	size_t i, k;
	int rc, any;

	if ((rc = svc_port_clash(s)) != 0)
		return rc;
	if (svc_nothing_to_do(s, o, orph)) {
		if (o->progress != PROGRESS_QUIET)
			fprintf(stderr, "up to date\n");
		return 0;
	}
	/* off the no-op path: one manifest read per reused image; a failed
	 * tag (warned, naming the image) fails up as it fails build */
	if (build_record_reused(s, st, d) > 0)
		return 1;
	if (o->recreate_deps)
		svc_recreate_deps(s);
	/* the plan's list call kept no IDs: one more list for the containers
	 * to replace or probe (only when there is work) */
	if (ctr_list_project(d, s->project, &l) < 0) {
		warn("%s", l.err);
		ctr_listing_free(&l);
		return 1;
	}
	memset(&u, 0, sizeof(u));
	u.s = s;
	u.d = d;
	u.o = o;
	u.network = names_network(s);
	u.p = progress_new(loop, o->progress);
	u.sc = sched_new(loop, o->jobs > 0 ? o->jobs : 1, o->fail_fast);
	jobs = xcalloc(s->nnodes + 1, sizeof(*jobs));
	b = build_new(s, d, st, u.p, o->cache);
	build_add_jobs(b, u.sc, jobs);
	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		struct svc *sv;
		const struct service *svc = &n->u.service;

		if (n->kind != NODE_SERVICE || !n->selected || !n->np)
			continue;
		sv = xcalloc(1, sizeof(*sv));
		sv->u = &u;
		sv->n = n;
		sv->old = svc_find_ctr(s, &l, n);
		if (n->np->action == PLAN_KEEP && !sv->old)
			n->np->action = PLAN_CREATE; /* gone since the plan */
		sv->sj = sched_add(u.sc, n, &svc_ops, sv, 0, svc->health.kind != PROBE_NONE ? 1000 : 100);
		jobs[n->index] = sv->sj;
		if (svc->image && jobs[svc->image->index])
			sched_need(sv->sj, jobs[svc->image->index], SCHED_DONE);
		for (k = 0; k < svc->ndeps; k++)
			if (svc->deps[k].node && jobs[svc->deps[k].node->index])
				sched_need(sv->sj, jobs[svc->deps[k].node->index], cond_mask(svc->deps[k].cond));
		if (sv->old && n->np->action != PLAN_KEEP) {
			sv->rj = sched_add(u.sc, n, &svc_retire_ops, sv, 0, 100);
			if (svc->image && jobs[svc->image->index])
				sched_need(sv->rj, jobs[svc->image->index], SCHED_DONE);
			for (k = 0; k < svc->ndeps; k++)
				if (svc->deps[k].node && jobs[svc->deps[k].node->index])
					sched_need(sv->rj, jobs[svc->deps[k].node->index], SCHED_STARTED);
			sched_need(sv->sj, sv->rj, SCHED_DONE);
		}
		u.v = xreallocarray(u.v, u.n + 1, sizeof(*u.v));
		u.v[u.n++] = sv;
	}
	for (i = 0; orph && i < orph->n; i++) {
		if (!o->remove_orphans) {
			fprintf(stderr, "keeping orphan container of %s (--no-remove-orphans)\n", orph->names[i]);
			continue;
		}
		fprintf(stderr, "removing orphan container of %s (no longer in the stack)\n", orph->names[i]);
		u.inflight++;
		u.orphans_pending++;
		if (docker_container_remove(d, orph->ids[i], 1, 0, on_orphan_removed, &u) < 0) {
			u.inflight--;
			u.orphans_pending--;
		}
	}
	rc = sched_run(u.sc);
	while (u.orphans_pending > 0)
		uv_run(loop, UV_RUN_ONCE);
	if (u.orphan_failed && rc == 0)
		rc = 1;

	/* the report */
	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];
		const char *e;
		if (n->kind == NODE_SERVICE || !jobs[n->index] || !(e = sched_job_error(jobs[n->index])))
			continue;
		fprintf(stderr, "\n%s: image %s: %s\n", argv0, n->name, e);
	}
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		const char *e = sched_job_error(sv->sj);
		if (!e || (sv->cancelled && SCHED_RC_INTERRUPTED(rc)))
			continue;
		fprintf(stderr, "\n%s: %s\n", argv0, e);
		progress_print_tail(sv->n->name, sv->tail.data, sv->tail.len);
	}
	for (i = 0; i < u.n; i++)
		if ((sched_job_state(u.v[i]->sj) == 4 || sched_job_state(u.v[i]->sj) == 0) && !u.v[i]->t) {
			u.v[i]->t = progress_task(u.p, u.v[i]->n->name, 0);
			progress_done(u.v[i]->t, SCHED_RC_INTERRUPTED(rc) ? "cancelled" : "skipped");
		}
	any = 0;
	for (i = 0; i < u.n; i++)
		if (sched_job_state(u.v[i]->sj) == 4 || sched_job_state(u.v[i]->sj) == 0)
			fprintf(stderr, "%s%s", any++ ? ", " : SCHED_RC_INTERRUPTED(rc) ? "not started (interrupted): " : "not started (a dependency failed): ",
			        u.v[i]->n->name);
	if (any)
		fprintf(stderr, "\n");
	for (i = 0; i < u.n; i++)
		if (u.v[i]->exited_late && !u.v[i]->n->u.service.restart) {
			fprintf(stderr, "%s: service %s exited with code %ld after it started\n", argv0, u.v[i]->n->name,
			        u.v[i]->exit_code);
			if (rc == 0)
				rc = 1;
		}
	if (SCHED_RC_INTERRUPTED(rc)) {
		any = 0;
		for (i = 0; i < u.n; i++)
			if (u.v[i]->started)
				fprintf(stderr, "%s%s", any++ ? ", " : "interrupted: stopped waiting; left running: ", u.v[i]->n->name);
		fprintf(stderr, any ? " (graphbuild down stops them)\n" : "interrupted: stopped waiting; nothing was started\n");
	}
	if (o->progress != PROGRESS_QUIET && progress_mode(u.p) != PROGRESS_QUIET)
		progress_summary(u.p);

	/* end what is still open (log probes, exit waits), then free */
	for (i = 0; i < u.n; i++)
		if (u.v[i]->h) {
			health_cancel(u.v[i]->h);
			u.v[i]->h = NULL;
		}
	docker_cancel_all(d);
	while (u.inflight > 0)
		uv_run(loop, UV_RUN_ONCE);
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		if (sv->grace_open)
			uv_close((uv_handle_t *)&sv->grace, svc_grace_closed);
	}
	for (i = 0; i < u.n; i++)
		while (u.v[i]->grace_open)
			uv_run(loop, UV_RUN_ONCE);
	for (i = 0; i < u.n; i++) {
		struct svc *sv = u.v[i];
		free(sv->id);
		free(sv->ip);
		free(sv->err);
		free(sv->retire_err);
		buf_free(&sv->tail);
		free(sv);
	}
	free(u.v);
	free(u.netwait);
	free(u.net_err);
	free(u.network);
	build_free(b);
	sched_free(u.sc);
	progress_free(u.p);
	free(jobs);
	ctr_listing_free(&l);
	return rc;
}
