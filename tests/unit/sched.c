/* tests/unit/sched.c - engine/sched.c without an engine: jobs are timers.
 * Critical-path order, the -j limit, skipping dependents of a failure while
 * independent work continues, fail-fast cancellation, and a clean loop
 * (uv_loop_close == 0) after sched_free. */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include <uv.h>

#include "graphbuild/graph.h"
#include "graphbuild/sched.h"

#include "tap.h"


struct tj {
	uv_timer_t t;
	struct sched_job *j;
	int ms, fail, running;
	char name;
};

static char order[64];
static int norder, running, maxrun, cancels;
static int raise_sig;    /* the first job to start sends this signal */

static void fire(uv_timer_t *h)
{
	struct tj *x = h->data;

	running--;
	x->running = 0;
	if (x->fail)
		sched_fail(x->j, "boom");
	else
		sched_reach(x->j, SCHED_DONE);
}

static int start(struct sched_job *j, void *arg)
{
	struct tj *x = arg;

	(void)j;
	order[norder++] = x->name;
	x->running = 1;
	if (++running > maxrun)
		maxrun = running;
	uv_timer_start(&x->t, fire, (uint64_t)x->ms, 0);
	if (raise_sig) {
		int sig = raise_sig;
		raise_sig = 0;
		raise(sig);
	}
	return 0;
}

static void cancel(struct sched_job *j, void *arg)
{
	struct tj *x = arg;

	(void)j;
	cancels++;
	if (x->running) {
		uv_timer_stop(&x->t);
		running--;
		x->running = 0;
		sched_fail(x->j, "cancelled");
	}
}

static const struct sched_ops ops = {start, cancel};

/* Runs a graph: names "abcdef", est (ms), deps as "xy" pairs (x needs y). */
static int run(int jobs, int fail_fast, const char *names, const int *est, const int *ms,
               const char *failing, const char *edges, int *states)
{
	uv_loop_t loop;
	struct node nodes[16];
	struct tj x[16];
	struct sched *s;
	size_t n = strlen(names), i;
	int rc;

	uv_loop_init(&loop);
	memset(nodes, 0, sizeof(nodes));
	memset(x, 0, sizeof(x));
	norder = running = maxrun = cancels = 0;
	memset(order, 0, sizeof(order));
	s = sched_new(&loop, jobs, fail_fast);
	for (i = 0; i < n; i++) {
		nodes[i].index = i;
		x[i].name = names[i];
		x[i].ms = ms[i];
		x[i].fail = strchr(failing, names[i]) != NULL;
		uv_timer_init(&loop, &x[i].t);
		x[i].t.data = &x[i];
		x[i].j = sched_add(s, &nodes[i], &ops, &x[i], 1, est[i]);
	}
	for (i = 0; edges[i] && edges[i + 1]; i += 2)
		sched_need(x[strchr(names, edges[i]) - names].j, x[strchr(names, edges[i + 1]) - names].j,
		           SCHED_DONE);
	rc = sched_run(s);
	for (i = 0; i < n; i++) {
		states[i] = sched_job_state(x[i].j);
		uv_close((uv_handle_t *)&x[i].t, NULL);
	}
	sched_free(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	T("loop closes cleanly", uv_loop_close(&loop) == 0);
	return rc;
}

int main(void)
{
	int st[16];

	{ /* critical path first: c heads the longest chain (c->d->e); -j1 */
		int est[] = {100, 200, 300, 500, 500}, ms[] = {5, 5, 5, 5, 5};
		int rc = run(1, 0, "abcde", est, ms, "", "dced", st);
		T("all succeed: rc 0", rc == 0);
		T("longest remaining path first", !strcmp(order, "cdeba"));
	}
	{ /* ties by declaration order; -j 2 limit respected */
		int est[] = {100, 100, 100, 100}, ms[] = {20, 20, 20, 20};
		int rc = run(2, 0, "abcd", est, ms, "", "", st);
		T("ties in declaration order", rc == 0 && !strcmp(order, "abcd"));
		T("at most -j jobs at once", maxrun == 2);
	}
	{ /* b fails: c (needs b) and d (needs c) skipped; a independent runs */
		int est[] = {100, 100, 100, 100}, ms[] = {30, 5, 5, 5};
		int rc = run(4, 0, "abcd", est, ms, "b", "cbdc", st);
		T("failure: rc 1", rc == 1);
		T("failed job state 3", st[1] == 3);
		T("transitive dependents skipped", st[2] == 4 && st[3] == 4);
		T("independent work continues", st[0] == 2);
	}
	{ /* fail-fast: a long job is cancelled when b fails; c never starts */
		int est[] = {1000, 100, 10}, ms[] = {2000, 5, 5};
		int rc = run(2, 1, "abc", est, ms, "b", "", st);
		T("fail-fast: rc 1", rc == 1);
		T("fail-fast cancels running jobs", cancels == 1 && st[0] == 3);
		T("fail-fast starts nothing new", st[2] == 4);
	}
	{ /* SIGTERM and SIGHUP cancel as SIGINT does; the code is 128 + the signal */
		int est[] = {1000, 10}, ms[] = {5000, 5};
		int rc;
		raise_sig = SIGTERM;
		rc = run(1, 0, "ab", est, ms, "", "", st);
		T("SIGTERM: running job cancelled, rc 143", rc == 143 && cancels == 1 && st[0] == 3 && st[1] == 4);
		raise_sig = SIGHUP;
		rc = run(1, 0, "ab", est, ms, "", "", st);
		T("SIGHUP: rc 129", rc == 129 && cancels == 1);
		raise_sig = SIGINT;
		rc = run(1, 0, "ab", est, ms, "", "", st);
		T("SIGINT: rc 130", rc == 130 && cancels == 1);
	}
	return tap_done();
}
