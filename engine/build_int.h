/* build_int.h - internal to the builder (build.c and the files it was split
 * into: build_job.c, build_steps.c, step_*.c, build_rootfs.c,
 * build_dockerfile.c, build_pull.c, build_sweep.c, proc.c, cache_push.c):
 * the job and builder structs and the functions they share. Not a public
 * header: the builder's interface is include/graphbuild/build.h. */
#ifndef GRAPHBUILD_BUILD_INT_H
#define GRAPHBUILD_BUILD_INT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/inventory.h"
#include "graphbuild/jail.h"
#include "graphbuild/key.h"
#include "graphbuild/names.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/registry.h"
#include "graphbuild/sched.h"
#include "graphbuild/state.h"
#include "graphbuild/util.h"

#include "tar_int.h"

extern char **environ;

static inline uv_loop_t *loop_of(struct docker *d)
{
	return docker_loop(d);
}

struct proc;

struct bjob {
	struct build *b;
	struct node *n;
	struct sched_job *sj;
	struct ptask *t;
	size_t step;             /* next step index */
	int stepping;            /* next_step ran: a failure belongs to steps[step] */
	char *image;             /* current image (ID or reference) */
	char *cid, *src_cid;     /* containers this job created */
	int inflight;            /* requests and processes in flight */
	char rm_tag;             /* the cb arg of removals: job_cancel's
	                            docker_cancel_for(j) must not stop them */
	int cancelled, reported, ok;
	char *err;
	char *detail;            /* failure report: command */
	uint64_t t0;
	/* run step */
	int waits;               /* wait+logs still pending (secret steps: 1 while their execs run) */
	long exit_code;
	int wait_ok;
	char **tmpfiles;
	size_t ntmp;
	char **xargv;            /* a run step with secrets: its command, run by exec */
	size_t nxargv;
	char **sect;             /* ... and its secrets' targets */
	size_t nsect;
	/* copy */
	struct tarw tw;
	size_t from_i;           /* COPY_FROM: next source path */
	int spoolfd;
	/* rootfs */
	struct proc *proc;
	char *tmpdir, *tmptar;
	int ownerfd;             /* tmpdir/owner, locked while the command runs */
	int rdfd;
	char head[512];          /* the import's first tar block (its root entry) */
	size_t headn, headpos;
	int head_read;
	int pulled;              /* the image came from the remote cache */
	/* prefix lookup */
	struct keyset have;      /* the engine's keys when the job started */
	/* one build of a step key in flight (build_share.c) */
	size_t claim;            /* 1 + index in b->sh of the step this job builds, or 0 */
	struct bjob *wait_for;   /* the job building steps[step]'s key for this one */
	int woken;               /* on the wake list: next_step again at the next wake */
	size_t nshared;          /* steps taken from another job's build */
	/* spec storage for the current request */
	struct docker_spec spec;
	struct docker_mount *mounts;
	size_t nmounts;
	char **argv, **envv, **lk, **lv;
	size_t nargv, nenvv, nl;
};

/* A step key a job of this run builds (owner) or has built (done). */
struct shared_step {
	char hex[33];
	struct bjob *owner;      /* building it now, or NULL */
	const char *by;          /* the node that built it (the stack's string) */
	int done;                /* committed and tagged (step_ref(hex)) in this run */
};

struct build {
	struct stack *s;
	struct docker *d;
	struct state *st;
	struct progress *p;
	struct registry *r;      /* the remote cache, or NULL */
	struct bjob **v;
	size_t n;
	char owner[300];         /* "host:pid", graphbuild.owner of build containers */
	struct shared_step *sh;  /* the step keys built in this run (build_share.c) */
	size_t nsh;
	uv_timer_t *wake;        /* re-runs next_step for woken waiters, from a fresh
	                            iteration; freed in its close callback */
};

typedef void (*proc_done_fn)(struct bjob *j, long status, int sig);

struct proc {
	uv_process_t p;
	uv_pipe_t out;
	struct bjob *j;
	proc_done_fn done;
	int exited, eof, nclose, capture;
	long status;
	int sig;
};

/* build_job.c */
void set_err(struct bjob *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int stopped(const struct bjob *j);
char *cache_ref(const struct node *n);
char *step_ref(const char *hex);
void spec_reset(struct bjob *j);
void push(char ***v, size_t *n, char *s);
void label(struct bjob *j, const char *k, const char *v);
void own_labels(struct bjob *j, int create);
void spec_fill(struct bjob *j);
struct bjob *rm_job(void *arg);
void sec_free(struct bjob *j);
void cleanup(struct bjob *j);
void succeed(struct bjob *j);

/* proc.c */
int proc_spawn(struct bjob *j, char **argv, char **env, int capture, proc_done_fn done);

/* build_steps.c */
void set_image(struct bjob *j, const char *img);
void remove_container(struct bjob *j, char **slot, docker_cb cb);
void remove_in_background(struct bjob *j, char **slot);
void step_config(struct bjob *j, size_t i);
void commit_step(struct bjob *j);
void next_step(struct bjob *j);
void on_listed(void *arg, const struct docker_result *r);

/* build_share.c */
/* Before j runs steps[step]: 1 when j is to build it (it claimed the key);
 * 0 when another job of the run has built it (j took the image and went on
 * to the next step) or is building it (j waits, next_step again on a wake). */
int share_step(struct bjob *j);
/* The claimed step is committed and tagged: later jobs take step_ref(hex). */
void share_done(struct bjob *j);
/* j stops (cleanup): it gives up its claim and its wait; waiters retry. */
void share_release(struct bjob *j);
/* j is cancelled: a waiting job stops at the next wake. */
void share_cancel(struct bjob *j);
/* The build's table and wake timer (on the docker client's loop). */
void share_init(struct build *b);
/* Frees the table and closes the timer (freed by its close callback: the
 * loop must run once more, as for the scheduler's handles). */
void share_free(struct build *b);

/* step_run.c */
void step_run(struct bjob *j);

/* step_copy.c */
void step_copy(struct bjob *j);
void step_copy_from(struct bjob *j);

/* step_final.c */
void step_alias(struct bjob *j);
void tag_latest(struct bjob *j, const char *img);
void step_final(struct bjob *j);

/* build_dockerfile.c */
void start_dockerfile(struct bjob *j);

/* build_rootfs.c */
void start_rootfs(struct bjob *j);

/* build_pull.c */
void on_pulled(void *arg, const struct docker_result *r);

/* build_sweep.c */
int sweep_run(struct docker *d, const char *project, int mine, size_t *removed, char **err);
/* rm -rf, synchronously (the abort path has no loop to wait on). */
void remove_tree(const char *dir);

#endif
