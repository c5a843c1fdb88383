/* plan.h - deciding per image node build / reuse / pull and per service
 * create / recreate / keep / remove, each with reasons; printing the plan. */
#ifndef GRAPHBUILD_PLAN_H
#define GRAPHBUILD_PLAN_H

#include <stddef.h>

#include "graphbuild/inventory.h"

struct stack;
struct state;
struct docker;
struct registry;
struct node;

enum plan_action { PLAN_REUSE, PLAN_BUILD, PLAN_PULL, PLAN_CREATE, PLAN_RECREATE, PLAN_KEEP, PLAN_REMOVE };

struct node_plan {
	enum plan_action action;
	char **reasons;         /* malloc'd sentences */
	size_t nreasons;
	char **notes;           /* facts that are not reasons for the action
	                         * ("probe … runs as exec …"); JSON "notes" */
	size_t nnotes;
	int forced;             /* --rebuild */
	int on_engine;          /* graphbuild-cache:<key> exists on the engine */
	int in_cache;           /* the remote cache has the key (action PULL) */
	size_t cache_steps;     /* BUILD: the cache has the image after this many
	                         * steps, more than the engine has (0: none) */
	/* what the run did, for summaries: "built", "pulled", "reused",
	 * "failed", "cancelled", "skipped" (NULL: not run), and how long */
	const char *outcome;
	long ms;
	size_t shared_steps;    /* steps taken from another image's build in this
	                         * run (one build of a step key in flight) */
};

const char *plan_action_name(enum plan_action a);
/* Adds a reason (printf-style) to a node plan. */
void plan_reason(struct node_plan *np, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a note (printf-style): shown with the node, never changes its action. */
void plan_note(struct node_plan *np, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct plan_opts {
	int rebuild_all;        /* --rebuild */
	char **rebuild;         /* --rebuild=a,b: those and what is built on them */
	size_t nrebuild;
};

/* Decides build / reuse / pull for every selected image-family node, with
 * reasons from the stored manifests (st may be NULL) and the engine's keys
 * (ks NULL: no engine: reuse means the stored manifest has the same key).
 * Returns 0, or -1 if a --rebuild name is unknown (printed). */
int plan_images(struct stack *s, struct state *st, const struct keyset *ks, const struct plan_opts *o);
/* With a remote cache: asks it, in one concurrent lookup, for the key of every
 * node to build (a hit becomes PULL) and for the step keys beyond the
 * engine's longest step prefix (a hit sets cache_steps). *warning: one
 * malloc'd line when the cache could not be asked, else NULL. */
void plan_cache(struct stack *s, const struct keyset *ks, struct registry *r, char **warning);
/* Number of selected image nodes to build or pull. */
size_t plan_pending(const struct stack *s);
/* Prints the plan: text for people, or the JSON object of DSL.md. orphans:
 * names of containers' services to remove (may be NULL). */
void plan_print(const struct stack *s, int json, char **orphans, size_t norphans, const char *note);
/* Frees every node's np. */
void plan_free(struct stack *s);

#endif
