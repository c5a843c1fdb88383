/* sched.h - the ready queue on the loop. Jobs (image builds, service starts)
 * wait on other jobs reaching events; among ready jobs, the one with the
 * longest remaining path starts first (ties: declaration order); at most
 * `jobs` counted jobs run at once. The first failure lets running jobs finish
 * (or cancels them with fail_fast) and skips dependents. SIGINT, SIGTERM and
 * SIGHUP cancel; a second signal aborts (sched_on_abort) and exits. */
#ifndef GRAPHBUILD_SCHED_H
#define GRAPHBUILD_SCHED_H

struct uv_loop_s;
struct node;
struct sched;
struct sched_job;

/* Events a job reaches; a dependent waits for a mask of them. */
enum {
	SCHED_STARTED = 1,      /* service container started */
	SCHED_HEALTHY = 2,      /* service probe passed */
	SCHED_COMPLETED = 4,    /* oneshot exited 0 */
	SCHED_DONE = 8,         /* the job finished successfully (frees its slot) */
};

struct sched_ops {
	/* Starts the job's work. Returns 0 (the job later calls sched_reach with
	 * SCHED_DONE or sched_fail exactly once), or -1 after sched_fail. */
	int (*start)(struct sched_job *j, void *arg);
	/* Asks a running job to stop (Ctrl-C, fail-fast). It still reports
	 * through sched_fail/sched_reach when it has cleaned up. */
	void (*cancel)(struct sched_job *j, void *arg);
};

/* A scheduler on loop; jobs = concurrency limit for counted jobs (>= 1). */
struct sched *sched_new(struct uv_loop_s *loop, int jobs, int fail_fast);
void sched_free(struct sched *s);
/* Adds a job for node. counted: occupies one of the `jobs` slots while it
 * runs. est_ms: its expected duration (history, or a step count estimate). */
struct sched_job *sched_add(struct sched *s, struct node *n, const struct sched_ops *ops,
                            void *arg, int counted, long est_ms);
/* j may start only once dep has reached every event in mask. */
void sched_need(struct sched_job *j, struct sched_job *dep, unsigned mask);
/* The job reached events (SCHED_DONE: finished; frees its slot). */
void sched_reach(struct sched_job *j, unsigned events);
/* The job failed with msg (copied); its dependents are skipped. */
void sched_fail(struct sched_job *j, const char *msg);
/* Runs until every job is done, failed or skipped. Returns 0 if all
 * succeeded, 1 if any failed, 128 + the signal's number if interrupted by
 * SIGINT (130), SIGTERM (143) or SIGHUP (129). A second signal while it runs
 * calls the abort hook and exits the process at once with 128 + its number. */
int sched_run(struct sched *s);
/* Accessors. */
struct node *sched_job_node(const struct sched_job *j);
const char *sched_job_error(const struct sched_job *j); /* NULL unless failed */
int sched_job_state(const struct sched_job *j);         /* 0 waiting, 1 running, 2 done, 3 failed, 4 skipped */
int sched_interrupted(const struct sched *s);             /* the signal's number, or 0 */
/* sched_run's code for an interrupted run (SIGINT 130, SIGTERM 143, SIGHUP 129). */
#define SCHED_RC_INTERRUPTED(rc) ((rc) > 128)
/* fn(arg) runs on a second signal, just before the process exits: it must
 * clean up synchronously (kill process groups, unlink temp files) and
 * neither print nor start anything on the loop. */
void sched_on_abort(struct sched *s, void (*fn)(void *arg), void *arg);
/* Jobs that were skipped because a dependency failed (for the summary). */

#endif
