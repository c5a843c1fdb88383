/* sched.c - the ready queue on the loop: jobs wait on (dependency, event mask)
 * edges; among ready jobs the one with the longest remaining path (its own
 * estimate plus the longest chain of dependents after it) starts first, ties
 * in declaration order; at most `jobs` counted jobs run at once. A failure
 * skips the job's transitive dependents and lets independent work continue
 * (fail_fast: cancels running jobs and starts nothing more). SIGINT, SIGTERM
 * and SIGHUP alike cancel every running job and start nothing new; a second
 * one runs the abort hook (synchronous best-effort cleanup) and exits at
 * once with 128 + its number.
 *
 * Jobs are started only from the `kick` timer callback (a fresh loop
 * iteration), never from inside another job's callback, so a job's start
 * cannot re-enter the code that finished its dependency. Counts are plain
 * integers, the ready "queue" a scan over the jobs: graphs have tens of
 * nodes, and a scan keeps the priority order obvious. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "graphbuild/graph.h"
#include "graphbuild/sched.h"
#include "graphbuild/util.h"

enum { J_WAITING, J_RUNNING, J_DONE, J_FAILED, J_SKIPPED };

struct need {
	struct sched_job *dep;
	unsigned mask;
};

struct sched_job {
	struct sched *s;
	struct node *n;
	const struct sched_ops *ops;
	void *arg;
	int counted;
	long est_ms;
	long long prio;         /* remaining path, ms; -1 until computed */
	int state;
	unsigned reached;
	int cancel_sent;
	char *err;
	struct need *needs;
	size_t nneeds;
	struct sched_job **outs; /* jobs that need this one */
	size_t nouts;
};

struct sched {
	uv_loop_t *loop;
	uv_timer_t kick;         /* starts ready jobs from a fresh iteration */
	uv_signal_t sigs[3];     /* SIGINT, SIGTERM, SIGHUP */
	void (*abort_fn)(void *);
	void *abort_arg;
	int jobs, fail_fast;
	struct sched_job **v;
	size_t n;
	int running_counted;
	int stopping;            /* start nothing new (fail-fast or SIGINT) */
	int cancel_pending;      /* send ops->cancel to running jobs at the next kick */
	int interrupted;         /* the first signal's number, or 0 */
	int nfailed;
	int nclosing;
};

struct sched *sched_new(struct uv_loop_s *loop, int jobs, int fail_fast)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->loop = loop;
	s->jobs = jobs < 1 ? 1 : jobs;
	s->fail_fast = fail_fast;
	uv_timer_init(loop, &s->kick);
	s->kick.data = s;
	for (int i = 0; i < 3; i++) {
		uv_signal_init(loop, &s->sigs[i]);
		s->sigs[i].data = s;
	}
	return s;
}

static void on_close(uv_handle_t *h)
{
	struct sched *s = h->data;

	if (--s->nclosing == 0)
		free(s);
}

void sched_free(struct sched *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		free(s->v[i]->err);
		free(s->v[i]->needs);
		free(s->v[i]->outs);
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->nclosing = 4;
	uv_close((uv_handle_t *)&s->kick, on_close);
	for (i = 0; i < 3; i++)
		uv_close((uv_handle_t *)&s->sigs[i], on_close);
}

struct sched_job *sched_add(struct sched *s, struct node *n, const struct sched_ops *ops,
                            void *arg, int counted, long est_ms)
{
	struct sched_job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->n = n;
	j->ops = ops;
	j->arg = arg;
	j->counted = counted;
	j->est_ms = est_ms < 0 ? 0 : est_ms;
	j->prio = -1;
	s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = j;
	return j;
}

void sched_need(struct sched_job *j, struct sched_job *dep, unsigned mask)
{
	size_t i;

	if (!dep || dep == j)
		return;
	for (i = 0; i < j->nneeds; i++)
		if (j->needs[i].dep == dep) {
			j->needs[i].mask |= mask;
			return;
		}
	j->needs = xreallocarray(j->needs, j->nneeds + 1, sizeof(*j->needs));
	j->needs[j->nneeds].dep = dep;
	j->needs[j->nneeds].mask = mask;
	j->nneeds++;
	dep->outs = xreallocarray(dep->outs, dep->nouts + 1, sizeof(*dep->outs));
	dep->outs[dep->nouts++] = j;
}

static void on_kick(uv_timer_t *t);

static void kick(struct sched *s)
{
	if (!uv_is_active((uv_handle_t *)&s->kick))
		uv_timer_start(&s->kick, on_kick, 0, 0);
}

static int finished(int state)
{
	return state == J_DONE || state == J_FAILED || state == J_SKIPPED;
}

/* 1 ready, 0 not yet, -1 never (a dependency finished without the events). */
static int readiness(const struct sched_job *j)
{
	int ready = 1;
	size_t i;

	for (i = 0; i < j->nneeds; i++) {
		const struct sched_job *d = j->needs[i].dep;
		unsigned m = j->needs[i].mask;

		if ((d->reached & m) == m)
			continue;
		if (finished(d->state))
			return -1;
		ready = 0;
	}
	return ready;
}

/* Marks j skipped and, transitively, every waiting job that needs it. */
static void skip(struct sched_job *j)
{
	size_t i;

	if (j->state != J_WAITING)
		return;
	j->state = J_SKIPPED;
	for (i = 0; i < j->nouts; i++)
		if (readiness(j->outs[i]) < 0)
			skip(j->outs[i]);
}

/* Skips the waiting dependents of j that can no longer run. */
static void skip_dead_outs(struct sched_job *j)
{
	size_t i;

	for (i = 0; i < j->nouts; i++)
		if (j->outs[i]->state == J_WAITING && readiness(j->outs[i]) < 0)
			skip(j->outs[i]);
}

static void leave_running(struct sched_job *j)
{
	if (j->state == J_RUNNING && j->counted)
		j->s->running_counted--;
}

void sched_reach(struct sched_job *j, unsigned events)
{
	j->reached |= events;
	if ((events & SCHED_DONE) && !finished(j->state)) {
		leave_running(j);
		j->state = J_DONE;
		skip_dead_outs(j);
	}
	kick(j->s);
}

void sched_fail(struct sched_job *j, const char *msg)
{
	struct sched *s = j->s;

	if (finished(j->state))
		return;
	leave_running(j);
	j->state = J_FAILED;
	free(j->err);
	j->err = xstrdup(msg ? msg : "failed");
	s->nfailed++;
	skip_dead_outs(j);
	if (s->fail_fast && !s->stopping) {
		s->stopping = 1;
		s->cancel_pending = 1;
	}
	kick(s);
}

/* Remaining path: own estimate plus the longest remaining path after it. */
static long long prio(struct sched_job *j, int depth)
{
	long long best = 0;
	size_t i;

	if (j->prio >= 0)
		return j->prio;
	if (depth > 100000)
		fatal("sched: dependency cycle");
	for (i = 0; i < j->nouts; i++) {
		long long p = prio(j->outs[i], depth + 1);
		if (p > best)
			best = p;
	}
	j->prio = j->est_ms + best;
	return j->prio;
}

/* Better candidate: longer remaining path, then earlier declaration. */
static int better(const struct sched_job *a, const struct sched_job *b)
{
	if (!b)
		return 1;
	if (a->prio != b->prio)
		return a->prio > b->prio;
	return a->n->index < b->n->index;
}

static void on_kick(uv_timer_t *t)
{
	struct sched *s = t->data;
	size_t i;
	int running;

	if (s->cancel_pending) {
		s->cancel_pending = 0;
		for (i = 0; i < s->n; i++) {
			struct sched_job *j = s->v[i];
			if (j->state == J_RUNNING && !j->cancel_sent) {
				j->cancel_sent = 1;
				if (j->ops->cancel)
					j->ops->cancel(j, j->arg);
			}
		}
	}
	if (s->stopping) {
		for (i = 0; i < s->n; i++)
			if (s->v[i]->state == J_WAITING)
				s->v[i]->state = J_SKIPPED;
		return;
	}
	for (;;) {
		struct sched_job *pick = NULL;

		for (i = 0; i < s->n; i++) {
			struct sched_job *j = s->v[i];
			int r;

			if (j->state != J_WAITING)
				continue;
			r = readiness(j);
			if (r < 0) {
				skip(j);
				continue;
			}
			if (r == 0 || (j->counted && s->running_counted >= s->jobs))
				continue;
			if (better(j, pick))
				pick = j;
		}
		if (!pick)
			break;
		pick->state = J_RUNNING;
		if (pick->counted)
			s->running_counted++;
		/* start returns -1 after sched_fail: the state already moved on */
		pick->ops->start(pick, pick->arg);
		if (s->stopping)
			break;
	}
	/* Nothing running and nothing startable: whatever still waits waits on
	 * an event that can no longer come. */
	running = 0;
	for (i = 0; i < s->n; i++)
		if (s->v[i]->state == J_RUNNING)
			running = 1;
	if (!running && !s->stopping)
		for (i = 0; i < s->n; i++)
			if (s->v[i]->state == J_WAITING)
				skip(s->v[i]);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct sched *s = h->data;

	if (s->interrupted) {
		/* The second signal: the user means it. Best-effort synchronous
		 * cleanup, then out; what is left (build containers) carries a
		 * label the next run sweeps. */
		if (s->abort_fn)
			s->abort_fn(s->abort_arg);
		_exit(128 + signum);
	}
	s->interrupted = signum;
	s->stopping = 1;
	s->cancel_pending = 1;
	kick(s);
}

static int all_finished(const struct sched *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!finished(s->v[i]->state))
			return 0;
	return 1;
}

int sched_run(struct sched *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		prio(s->v[i], 0);
	uv_signal_start(&s->sigs[0], on_signal, SIGINT);
	uv_signal_start(&s->sigs[1], on_signal, SIGTERM);
	uv_signal_start(&s->sigs[2], on_signal, SIGHUP);
	uv_timer_start(&s->kick, on_kick, 0, 0);
	while (!all_finished(s) || uv_is_active((uv_handle_t *)&s->kick))
		uv_run(s->loop, UV_RUN_ONCE);
	for (i = 0; i < 3; i++)
		uv_signal_stop(&s->sigs[i]);
	if (s->interrupted)
		return 128 + s->interrupted;
	for (i = 0; i < s->n; i++)
		if (s->v[i]->state != J_DONE)
			return 1;
	return 0;
}

struct node *sched_job_node(const struct sched_job *j)
{
	return j->n;
}

const char *sched_job_error(const struct sched_job *j)
{
	return j->state == J_FAILED ? j->err : NULL;
}

int sched_job_state(const struct sched_job *j)
{
	return j->state;
}

int sched_interrupted(const struct sched *s)
{
	return s->interrupted;
}

void sched_on_abort(struct sched *s, void (*fn)(void *arg), void *arg)
{
	s->abort_fn = fn;
	s->abort_arg = arg;
}
