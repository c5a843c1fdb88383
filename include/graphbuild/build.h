/* build.h - executing image nodes through the engine: rootfs imports, run
 * steps (create/start/wait/commit/remove, cache mounts as named volumes,
 * secrets as read-only binds), copy steps (an uploaded tar of exactly the
 * selected files), copy-from-image, the final config commit, tags, dockerfile
 * adoption through POST /build, pulls of registry references. Each step's
 * result is tagged by its step key, so a change in step 4 reuses steps 1-3. */
#ifndef GRAPHBUILD_BUILD_H
#define GRAPHBUILD_BUILD_H

#include "graphbuild/progress.h"

struct stack;
struct node;
struct docker;
struct state;
struct sched;
struct sched_job;
struct progress;
struct build;
struct registry;

struct build_opts {
	int jobs;               /* -j N (>= 1) */
	int fail_fast;
	enum progress_mode progress;
	struct registry *cache; /* remote cache for PULL nodes and step prefixes, or NULL */
};

/* A builder for the stack's selected image nodes whose plan (n->np) says
 * BUILD or PULL; r: the remote cache PULL nodes come from (NULL: none). */
struct build *build_new(struct stack *s, struct docker *d, struct state *st, struct progress *p,
                        struct registry *r);
/* Adds one scheduler job per node to build or pull; jobs[n->index] is set
 * for those nodes (others stay NULL) and edges between them are added. */
void build_add_jobs(struct build *b, struct sched *sc, struct sched_job **jobs);
void build_free(struct build *b);

/* The labels of build containers: the project, and "host:pid" of the
 * graphbuild process that made it. */
#define BUILD_LABEL "graphbuild.build"
#define BUILD_OWNER_LABEL "graphbuild.owner"
/* "host:pid" of this process, into out. */
void build_owner(char *out, size_t len);
/* Force-removes build containers (of project, or of every project when
 * NULL) whose owner was a graphbuild process on this host that is gone
 * (kill -9, a crash): synchronous, runs the loop - between phases only.
 * Returns 0 (*removed: how many), or -1 with *err (malloc'd). */
int build_sweep(struct docker *d, const char *project, size_t *removed, char **err);
/* Removes the temporary directories of rootfs commands (in tmp) that a
 * graphbuild process on this host that is gone left, first killing the
 * command's process group if it still runs (each directory holds an owner
 * file, "host:pid pgid", locked by the command for as long as it lives).
 * Returns how many were removed. */
size_t build_sweep_rootfs(const char *tmp);
/* Where the builder makes its temporary files and directories (rootfs
 * commands, secret files, copy-from spools): $TMPDIR, else /tmp. */
const char *build_tmpdir(void);

/* For every selected image reused from the engine whose stored manifest is
 * missing or older (another checkout or project built it): records the
 * manifest, so the next plan explains a change against what is running, not
 * "never built", and tags it <project>/<name>:latest as a build would. For
 * build, and up when it has work (never on its no-op path); both hold the
 * state lock. */
/* Returns the number of tags that failed (each warned, naming the node). */
size_t build_record_reused(struct stack *s, struct state *st, struct docker *d);

/* The whole `graphbuild build`: returns 0 ok, 1 failed, 128 + the signal when
 * interrupted (sched_run). */
int build_run(struct stack *s, struct docker *d, struct state *st, const struct build_opts *o);

/* Pushes to the cache every selected image and step image the engine has and
 * the cache lacks (one lookup, then at most 4 pushes at a time). Never fails
 * the run: problems are warnings saying what was not cached. Returns the
 * number of images pushed; *failed gets the number not pushed. */
size_t build_push(struct stack *s, struct docker *d, struct registry *r, int quiet, size_t *failed);

#endif
