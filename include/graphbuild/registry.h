/* registry.h - the remote cache: one repository of a Docker/OCI registry
 * holding images tagged by key. Lookups go straight to the registry over
 * libcurl (HEAD /v2/REPO/manifests/KEY, many in flight on the loop); pulls and
 * pushes go through the engine. A pulled image is trusted only if its
 * graphbuild.key label is the key it was asked for. Nothing here stops a
 * build: every failure comes back as one line for a warning, and the node is
 * built locally. */
#ifndef GRAPHBUILD_REGISTRY_H
#define GRAPHBUILD_REGISTRY_H

#include <stddef.h>

struct uv_loop_s;
struct docker;
struct registry;

/* A cache at "HOST[:PORT]/REPO" (also "http://…" or "https://…" to force the
 * scheme). Default scheme https with verification (CA from the system, or
 * /etc/docker/certs.d/HOST/ca.crt and client.cert/client.key as Docker
 * does); plain http for loopback hosts (127.0.0.0/8, localhost, ::1), which
 * Docker also allows without configuration. Credentials come from
 * ~/.docker/config.json ($DOCKER_CONFIG). Returns NULL with *err (malloc'd)
 * on a malformed name or an unreadable config.json. */
struct registry *registry_new(struct uv_loop_s *loop, const char *cache, char **err);
/* "HOST[:PORT]/REPO", for messages. */
const char *registry_name(const struct registry *r);
/* The engine's reference of key in the cache, "HOST[:PORT]/REPO:KEY";
 * malloc'd. */
char *registry_ref(const struct registry *r, const char *key);

/* Result of a lookup: hit[i] = 1 if keys[i] is in the cache. warning: one
 * line ("cache H/R unreachable: …; building locally") or NULL. Both valid
 * only during the call. */
typedef void (*registry_check_fn)(void *arg, const int *hit, size_t n, const char *warning);
/* Looks keys up, at most 32 HEADs in flight at once (after one GET /v2/ that
 * learns the auth scheme and fails fast when the registry is down: connect
 * timeout 1 s, whole request 3 s). Returns 0 and calls cb once, or -1 (n is
 * 0 or the loop cannot start a request) and never calls it. */
int registry_check_start(struct registry *r, char *const *keys, size_t n, registry_check_fn cb,
                         void *arg);
/* Synchronous registry_check_start for commands, between phases (never
 * inside a callback): runs the loop until done. hit[n] is filled (all 0 on
 * failure); *warning gets a malloc'd line or NULL. */
void registry_check(struct registry *r, char *const *keys, size_t n, int *hit, char **warning);

/* error NULL on success, else one line for a warning ("push KEY to H/R:
 * …"); id: the image ID (pull: of graphbuild-cache:KEY) or NULL. */
typedef void (*registry_cb)(void *arg, const char *error, const char *id);
/* Pulls REF through the engine, checks its graphbuild.key label against
 * `label` (NULL: key itself; alias steps - env/workdir/user, which tag the
 * image before them - pass the key that image carries), tags it
 * graphbuild-cache:KEY and removes the REF tag. A mismatch removes the
 * pulled tag and fails: "registry image REF has key label X, not Y:
 * rejected". Async contract: 0 and cb once, or -1 and never cb. */
int registry_pull(struct docker *d, struct registry *r, const char *key, const char *label,
                  registry_cb cb, void *arg);
/* Pushes graphbuild-cache:KEY as REF (tag, GET /v2/ to fail fast if the
 * registry is down, push with X-Registry-Auth, untag REF). Same contract. */
int registry_push(struct docker *d, struct registry *r, const char *key, registry_cb cb, void *arg);

/* 1 when a pull of key was rejected (in this run or, see
 * registry_rejected_load, an earlier one: its image had another key label): the tag is poisoned, and a push must replace it even though a
 * lookup finds it. */
int registry_rejected(const struct registry *r, const char *key);
/* Remembers rejected keys across runs in the file at path (the project's
 * state): loads this cache's, and registry_rejected_save writes them back
 * (a successful push forgets its key). Best effort: no file, no memory. */
void registry_rejected_load(struct registry *r, const char *path);
void registry_rejected_save(struct registry *r);

/* Counters for summaries and benchmarks (cumulative over the run). */
struct registry_stats {
	size_t lookups;          /* registry_check* calls */
	size_t checked, hits;    /* keys looked up, found */
	double check_ms;         /* wall time spent in lookups */
	size_t pulled, pushed;   /* successful pulls/pushes */
	size_t failed;           /* failed or rejected pulls/pushes */
	double pull_ms, push_ms; /* summed per-image durations */
};
void registry_stats(const struct registry *r, struct registry_stats *st);

/* Cancels every lookup in flight (callbacks get no hits, "cancelled");
 * engine calls of pulls and pushes are cancelled with docker_cancel_all. */
void registry_cancel(struct registry *r);
/* Cancels the pulls and pushes started with this cb arg (one job's): their
 * engine calls and pings; each cb still comes, with an error. */
void registry_cancel_for(struct registry *r, const void *arg);
/* Cancels what is in flight and runs the loop until nothing is (the status
 * watcher's pings too), so registry_free may follow. Not inside a callback. */
void registry_drain(struct registry *r);
/* Frees the cache client; nothing may be in flight. Run the loop afterwards
 * so its handles close (uv_loop_close() then succeeds). */
void registry_free(struct registry *r);

#endif
