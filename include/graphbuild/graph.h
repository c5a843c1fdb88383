/* graph.h - the loaded stack: nodes (images, rootfs bases, registry references,
 * services), their edges, topological order, cycle reports, target selection.
 * Everything here lives in the stack's arena. */
#ifndef GRAPHBUILD_GRAPH_H
#define GRAPHBUILD_GRAPH_H

#include <stddef.h>

struct arena;

/* A position in a stack file: where a node, step or key was written. */
struct pos {
	const char *file; /* as the user named it, relative to the cwd where possible */
	int line;
};

struct strlist {
	size_t n;
	char **v;
};

/* Key/value pairs, sorted by key (byte order), keys unique. */
struct kvlist {
	size_t n;
	char **k, **v;
};

enum step_kind {
	STEP_RUN,       /* args: argv (shell form: {"/bin/sh","-c",cmd}, shell=1) */
	STEP_COPY,      /* args: context-relative sources; to: destination or NULL */
	STEP_COPY_FROM, /* args: absolute paths in `from`; to: destination */
	STEP_ENV,       /* env: the variables set */
	STEP_WORKDIR,   /* args.v[0] */
	STEP_USER,      /* args.v[0] */
};

struct step {
	enum step_kind kind;
	struct pos pos;
	struct strlist args;
	int shell;              /* RUN: written as a string */
	char *to;               /* COPY, COPY_FROM */
	struct node *from;      /* COPY_FROM: the source image */
	struct strlist cache;   /* RUN: cache mount paths (sorted) */
	struct kvlist env;      /* RUN: per-step env; ENV: the variables */
	struct kvlist secrets;  /* RUN: secret ID -> mount path */
	char *network;          /* RUN: "none", or NULL (the engine's default network) */
};

enum node_kind {
	NODE_IMAGE,   /* image "NAME" { ... } */
	NODE_ROOTFS,  /* rootfs { ... }: a base made on the host */
	NODE_REF,     /* a registry reference ("postgres:15"), pulled if missing */
	NODE_SERVICE, /* service "NAME" { ... } */
};

struct image {
	struct node *parent;    /* NODE_IMAGE, NODE_ROOTFS or NODE_REF; NULL with dockerfile */
	struct step *steps;
	size_t nsteps;
	struct strlist cmd, entrypoint; /* shell form stored as {"/bin/sh","-c",s} */
	int cmd_set, entrypoint_set;
	struct kvlist env, labels;
	char *workdir, *user;   /* NULL: unset */
	int *expose;
	size_t nexpose;
	struct strlist volumes; /* VOLUME: mount points (absolute) */
	char *stop_signal;      /* NULL: unset */
	struct healthcheck *healthcheck; /* NULL: unset (inherited) */
	char *context;          /* absolute, normalised */
	char *context_rel;      /* as written (for messages) */
	struct strlist ignore;  /* extra patterns on top of <context>/.dockerignore */
	char *dockerfile;       /* adoption mode: path relative to context */
	char *target;
	struct kvlist args;
};

/* An image's HEALTHCHECK as the image config holds it: test[0] is CMD,
 * CMD-SHELL or NONE; a duration or retries of 0 is the engine's default. */
struct healthcheck {
	struct strlist test;
	long long interval_ms, timeout_ms, start_period_ms;
	int retries;
};

struct rootfs {
	char *tar;              /* absolute path of a tarball, or NULL */
	char *tar_rel;
	char *command;          /* shell command filling $out, or NULL */
	struct strlist inputs;  /* absolute paths hashed as inputs of the command */
	struct strlist inputs_rel;
	char *inputs_root;      /* inputs and the tar are opened beneath it (jail.h), or NULL */
	char *epoch;            /* free-form string that, changed, forces a rebuild */
	int empty;              /* "scratch": no files (neither tar nor command) */
};

enum probe_kind { PROBE_NONE, PROBE_TCP, PROBE_HTTP, PROBE_EXEC, PROBE_LOG };

struct probe {
	enum probe_kind kind;
	int port;               /* TCP, HTTP */
	char *path;             /* HTTP */
	int status;             /* HTTP expected status */
	struct strlist argv;    /* EXEC */
	char *regex;            /* LOG */
	int interval_ms, timeout_ms, retries, start_period_ms;
	struct pos pos;
};

enum dep_cond { DEP_STARTED, DEP_HEALTHY, DEP_COMPLETED };

struct dep {
	char *name;
	enum dep_cond cond;
	struct node *node;      /* resolved by graph_check */
	struct pos pos;
};

struct service {
	struct node *image;     /* NODE_IMAGE or NODE_REF */
	struct strlist command, entrypoint;
	int command_set, entrypoint_set;
	struct kvlist env, labels;
	char *workdir, *user;
	struct strlist ports, volumes, aliases;
	struct dep *deps;
	size_t ndeps;
	struct probe health;
	int oneshot;
	int init;               /* run an init (the engine's docker-init) as PID 1 */
	char *restart;          /* NULL: "no" */
	int stop_timeout;       /* seconds; -1: engine default */
	char *stop_signal;      /* NULL: the image's */
};

struct node {
	enum node_kind kind;
	char *name;             /* unique per kind family (images+rootfs+refs / services) */
	struct pos pos;
	size_t index;           /* declaration order, for deterministic ties */
	union {
		struct image image;
		struct rootfs rootfs;
		struct service service;
	} u;
	char *ref;              /* NODE_REF: the reference as written */
	char *base_for;         /* used instead of these references (--base, bases): "REF (why)", ... */

	/* graph bookkeeping, filled by graph_check */
	struct node **in;       /* nodes this one needs */
	size_t nin;
	struct node **out;      /* nodes that need this one */
	size_t nout;
	int selected;           /* in the closure of the targets */

	/* filled by key computation */
	unsigned char key[16];
	int keyed;
	char keyhex[33];

	struct node_keys *kx;   /* inputs and step keys (key.c) */
	char *ref_id;           /* NODE_REF: the engine's image ID, when present */
	char *ref_workdir;      /* NODE_REF: that image's WorkingDir (NULL: unset, "/") */
	char *ref_user;         /* NODE_REF: that image's User (NULL: unset) */
	struct node_plan *np;   /* the plan's decision (plan.c) */
	void *aux;              /* owned by the phase running (plan, build, up) */
};

/* The loaded stack. */
struct stack {
	struct arena *arena;
	char *file;             /* stack file as given */
	char *dir;              /* absolute directory of the stack file */
	char *project;
	char *cache;            /* cache = "registry/repo" or NULL */
	int cache_push;
	struct node **nodes;    /* declaration order */
	size_t nnodes;
	struct node **order;    /* topological order, after graph_check */
	size_t norder;
	struct strlist reads;   /* files read with read(): inputs of the stack */
	struct kvlist secrets;  /* secret ID -> "file:ABS" or "env:VAR" */
};

/* Adds a node (arena-owned) at the end of the declaration order. */
void graph_add(struct stack *s, struct node *n);
/* Finds an image-family node (IMAGE, ROOTFS, REF) by name; NULL if absent. */
struct node *graph_image(struct stack *s, const char *name);
/* Finds a service by name; NULL if absent. */
struct node *graph_service(struct stack *s, const char *name);
/* Resolves depends_on names, builds in/out edges, detects cycles and computes
 * the topological order. Prints every diagnostic (file:line); returns the
 * number of errors. */
int graph_check(struct stack *s);
/* Marks the closure of the named targets (images or services) as selected;
 * no targets selects everything. Returns 0, or prints "unknown target" and
 * returns -1. */
int graph_select(struct stack *s, char **targets, size_t ntargets);

/* Small helpers over the arena lists. */
const char *kv_get(const struct kvlist *kv, const char *k);
const char *dep_cond_name(enum dep_cond c);
const char *node_kind_name(enum node_kind k);

#endif
