/* key.h - cache keys exactly as DSL.md "Cache keys" says: a canonical,
 * order-independent serialization hashed with XXH3-128, per step (so a change
 * in step 4 reuses steps 1-3) and per image; and the manifest that records what
 * each key was made from, so plan can say why a key changed. */
#ifndef GRAPHBUILD_KEY_H
#define GRAPHBUILD_KEY_H

#include <stddef.h>

#include "graphbuild/hash.h"

struct stack;
struct node;
struct hasher;

#define KEY_FORMAT 2 /* 2: rootfs root 0755, reference parents' WorkingDir, secret mount points removed (docs/keys.md) */
/* The repository whose tags name keys: graphbuild-cache:<32 hex> names one
 * image (or step result) on any engine or registry (DSL.md "Cache keys"). */
#define KEY_CACHE_REPO "graphbuild-cache"

/* One step of an image: the key of the image after it, its own description. */
struct step_key {
	unsigned char key[16];
	char hex[33];
	char *desc;             /* one line for people: run "pip install ..." */
	unsigned char self[16]; /* hash of the step's own settings (not the chain) */
	struct selection sel;   /* COPY: the selected files */
	char *workdir;          /* the workdir in effect when the step runs ("/" default) */
	char *user;             /* the user in effect, or NULL */
	char **env;             /* "K=V" in effect (image env + env steps so far), sorted;
	                         * NULL for env/workdir/user steps but the last */
	size_t nenv;
};

/* A recorded input, for "why". */
struct mfile {
	char *path;
	unsigned mode;
	char hash[33];
};

struct mstep {
	char key[33];
	char self[33];
	char *desc;
	struct mfile *files;
	size_t nfiles;
};

struct mconf {
	char *name;             /* "cmd", "env.K", "label.K", "workdir", ... */
	char hash[33];
};

/* What an image key was made from. malloc-owned (manifest_free). */
struct manifest {
	char key[33];
	char *parent;           /* parent's name, or NULL */
	char parent_key[33];
	char base[33];          /* hash of what precedes the steps (image env) */
	struct mstep *steps;
	size_t nsteps;
	struct mconf *conf;
	size_t nconf;
	struct mfile *inputs;   /* rootfs / dockerfile-context inputs */
	size_t ninputs;
};

struct node_keys {
	struct step_key *steps;
	size_t nsteps;
	struct selection inputs;  /* dockerfile context; rootfs tar / inputs */
	struct ignore *ig;
	struct manifest *m;       /* what the current key is made from */
};

/* Selects and queues hashing of every input of the selected image nodes.
 * Prints each problem (file:line, node, path) and returns the number of
 * errors (missing copy source, unreadable file, symlink loop: stack errors). */
int keys_collect(struct stack *s, struct hasher *h);
/* After hasher_wait: computes every selected image node's step keys and key
 * (n->key, n->keyhex, n->keyed) and manifest, in topological order. REF nodes
 * use n->ref_id when set. */
void keys_compute(struct stack *s);
/* Frees every node's kx. */
void keys_free(struct stack *s);
/* "abcdef012345": the short form of a key for people. */
const char *key_short(const char *hex);

/* Manifest text form (versioned); parse returns NULL on corrupt/foreign input. */
char *manifest_format(const struct manifest *m);
struct manifest *manifest_parse(const char *text, size_t len);
void manifest_free(struct manifest *m);
/* Reasons `cur` differs from `old` (old may be NULL: "never built"), as
 * malloc'd sentences appended to *v / *n. */
void manifest_diff(const struct manifest *old, const struct manifest *cur,
                   char ***v, size_t *n);

#endif
