/* up.h - services: plan (create / recreate / keep / remove, with reasons),
 * up (builds and service starts on one scheduler, health-gated), down, ps,
 * logs. Written against by engine/cli.c. */
#ifndef GRAPHBUILD_UP_H
#define GRAPHBUILD_UP_H

#include <stddef.h>

#include "graphbuild/progress.h"

struct stack;
struct docker;
struct state;

struct registry;

struct up_opts {
	int no_wait;            /* --no-wait: started counts as ready */
	int recreate_deps;      /* --recreate-deps */
	int remove_orphans;     /* default 1 */
	int rebuild;            /* --rebuild given: recreate what is rebuilt */
	int jobs;
	int fail_fast;
	enum progress_mode progress;
	int stop_timeout;       /* -t, -1: per service / engine default */
	struct registry *cache; /* remote cache for PULL nodes, or NULL */
};

/* Containers of the project whose service is no longer in the stack. */
struct up_orphans {
	char **names;           /* service names (malloc'd) */
	char **ids;             /* container IDs (malloc'd) */
	size_t n;
};
void up_orphans_free(struct up_orphans *o);

/* One container list call; fills n->np of every selected service with
 * create / recreate (reasons) / keep, and out with the orphans. A tcp/http
 * probe that runs inside the container (health_via) adds a reason saying so,
 * whatever the action. 0, or -1 with the error printed (the engine's, or a
 * bad GRAPHBUILD_PROBES). */
int up_plan(struct stack *s, struct docker *d, struct up_orphans *out);
/* Builds what the plan says and starts services; prints "up to date" and
 * returns at once when nothing changed. 0, 1 (failed), 130 (interrupted). */
int up_run(struct stack *s, struct docker *d, struct state *st, const struct up_opts *o,
           const struct up_orphans *orphans);
/* Stops and removes the project's containers in reverse dependency order, its
 * network, and with volumes its named volumes. 0 or 1. */
int down_run(struct stack *s, struct docker *d, int volumes, int timeout_s);
/* Prints the project's containers (table or JSON array). 0 or 1. */
int ps_run(struct stack *s, struct docker *d, int json);
/* Prints (and with follow, follows) the services' output. 0, 1 or 130. */
int logs_run(struct stack *s, struct docker *d, int follow, const char *since,
             char **services, size_t n);

#endif
