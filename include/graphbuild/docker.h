/* docker.h - the Docker Engine API (v1.41 and compatible) on top of http.c:
 * requests as C structs, replies parsed from JSON (the only cJSON user),
 * multiplexed output streams decoded, engine errors turned into one line.
 * Async contract: every call returns 0 and calls cb exactly once, or returns
 * -1 and never calls it. */
#ifndef GRAPHBUILD_DOCKER_H
#define GRAPHBUILD_DOCKER_H

#include <stddef.h>
#include <sys/types.h>

struct uv_loop_s;
struct docker;
struct healthcheck;

struct docker_image {
	char *id;              /* "sha256:..." */
	char *key;             /* label graphbuild.key, or NULL */
	char *node;            /* label graphbuild.node, or NULL */
	char *parent;          /* the image it was committed on ("sha256:..."), or NULL */
	char *workdir, *user;  /* inspect: Config.WorkingDir / User ("" or NULL: unset) */
	char **tags;
	size_t ntags;
	long long created;     /* unix seconds */
	long long created_ns;  /* the same in nanoseconds: exact from an inspect,
	                          whole seconds from a list */
	long long size;
};

struct docker_container {
	char *id;
	char *name;            /* without the leading '/' */
	char *image;           /* image ID */
	char *state;           /* "running", "exited", "created", ... */
	char *health;          /* "healthy", "unhealthy", "starting", or "none" */
	int exit_code;
	char *ip;              /* address on the given network (inspect), or NULL */
	char **label_k, **label_v; /* sorted by key */
	size_t nlabels;
	char *ports;           /* human form "0.0.0.0:8000->8000/tcp, ..." or "" */
	char *started_at, *finished_at;
};

struct docker_result {
	int ok;                /* 1 on success (2xx and no error in a stream) */
	long status;           /* HTTP status; 0 on a transport failure */
	const char *error;     /* one readable line when !ok:
	                          "engine: no such image: x (404)" */
	const char *id;        /* created container/exec/image ID when the call yields one */
	long exit_code;        /* wait, exec inspect */
	const char *body;      /* raw body, when not streamed */
	size_t len;
	struct docker_image *images;          /* image list / inspect (1) */
	size_t nimages;
	struct docker_container *containers;  /* container list / inspect (1) */
	size_t ncontainers;
};
/* The result and everything it points to is valid only during the callback. */
typedef void (*docker_cb)(void *arg, const struct docker_result *r);
/* Output of a container (stream 1 stdout, 2 stderr), demultiplexed. */
typedef void (*docker_output_fn)(void *arg, int stream, const char *data, size_t n);
/* Streaming request body (a tar): return count, 0 at end, -1 to abort. */
typedef ssize_t (*docker_read_fn)(void *arg, char *buf, size_t n);
/* Raw streamed response bytes (archive download). Return 0, or -1 to abort. */
typedef int (*docker_data_fn)(void *arg, const char *data, size_t n);
/* A pull's or push's progress status line ("Pushing", "Retrying in 5 seconds"),
 * as the engine sends it. Return 0, or -1 to abort the call (cb then gets ok=0). */
typedef int (*docker_status_fn)(void *arg, const char *status);

struct docker_mount {
	const char *type;      /* "volume" or "bind" */
	const char *source, *target;
	int readonly;
};

struct docker_port {
	const char *host_ip;   /* NULL: all */
	int host_port;         /* 0: ephemeral */
	int container_port;
	const char *proto;     /* NULL: "tcp" */
};

/* A container to create, or an image config to commit (then only cmd,
 * entrypoint, env, workdir, user, expose, volumes, stop_signal, healthcheck
 * and labels are used). */
struct docker_spec {
	const char *name;      /* container name, or NULL */
	const char *image;
	char **cmd;
	size_t ncmd;
	int cmd_set;           /* 0: inherit (commit) */
	char **entrypoint;
	size_t nentrypoint;
	int entrypoint_set;
	char **env;            /* "K=V" */
	size_t nenv;
	const char *workdir, *user;
	struct docker_mount *mounts;
	size_t nmounts;
	char **label_k, **label_v;
	size_t nlabels;
	const char *network;   /* NetworkMode and the endpoint to attach */
	char **aliases;
	size_t naliases;
	struct docker_port *ports;
	size_t nports;
	int *expose;
	size_t nexpose;
	char **volumes;        /* Config.Volumes: mount points */
	size_t nvolumes;
	const char *stop_signal; /* NULL: the image's */
	const struct healthcheck *healthcheck; /* NULL: the image's (graph.h) */
	const char *restart;   /* NULL: "no" */
	int stop_timeout;      /* -1: engine default */
	int init;              /* HostConfig.Init: the engine's init as PID 1 */
};

/* A client for host (NULL: $DOCKER_HOST, else unix:///var/run/docker.sock),
 * honouring DOCKER_TLS_VERIFY / DOCKER_CERT_PATH for tcp://. NULL with *err. */
struct docker *docker_new(struct uv_loop_s *loop, const char *host, char **err);
/* The loop the client runs on. */
struct uv_loop_s *docker_loop(const struct docker *d);
/* The endpoint in use, for messages ("unix:///var/run/docker.sock"). */
const char *docker_host(const struct docker *d);
/* 1 when the connected engine is Podman (its /version says so), else 0:
 * for the few waits whose length depends on the engine. */
int docker_is_podman(const struct docker *d);
/* Cancels every request in flight (each cb gets ok=0, "cancelled"). */
void docker_cancel_all(struct docker *d);
/* Cancels the requests in flight of every call started with this cb arg
 * (one job's transfers); each such cb gets ok=0, "cancelled". A chain's
 * later requests are started by its own callbacks as usual. */
void docker_cancel_for(struct docker *d, const void *arg);
/* Frees the client; nothing may be in flight. Run the loop afterwards. */
void docker_free(struct docker *d);

/* GET /_ping then /version: negotiates min(ours, engine's) API version. An
 * unreachable engine gives an error naming the socket and how to start one. */
int docker_connect(struct docker *d, docker_cb cb, void *arg);

/* Images */
int docker_image_inspect(struct docker *d, const char *name, docker_cb cb, void *arg); /* images[0]; status 404 if absent */
int docker_image_list(struct docker *d, const char *label, docker_cb cb, void *arg); /* label filter, e.g. "graphbuild.key" */
int docker_image_tag(struct docker *d, const char *src, const char *repo, const char *tag, docker_cb cb, void *arg);
int docker_image_remove(struct docker *d, const char *name, int force, docker_cb cb, void *arg);
int docker_image_pull(struct docker *d, const char *ref, docker_cb cb, void *arg);
/* status (may be NULL) sees each progress status line and may abort the push. */
int docker_image_push(struct docker *d, const char *repo, const char *tag, const char *auth_b64,
                      docker_status_fn status, void *statusarg, docker_cb cb, void *arg);
/* POST /images/create?fromSrc=-: id = the new image ID. */
int docker_image_import(struct docker *d, const char *repo, const char *tag, docker_read_fn rd, void *rdarg, docker_cb cb, void *arg);
/* The same with Dockerfile-style changes ("LABEL k=v"; NULL-terminated, or
 * NULL) applied to the imported image's config. */
int docker_image_import_changes(struct docker *d, const char *repo, const char *tag,
                                const char *const *changes, docker_read_fn rd, void *rdarg,
                                docker_cb cb, void *arg);
/* POST /build with a context tar; out gets each output line; id = image ID. query is
 * the already-encoded query string (t=..&dockerfile=..&target=..&buildargs=..). */
int docker_build(struct docker *d, const char *query, docker_read_fn rd, void *rdarg,
                 docker_output_fn out, void *outarg, docker_cb cb, void *arg);

/* Containers */
/* id. entrypoint_set with nentrypoint 0 sends [] and clears the image's
 * entrypoint (run steps should, or the parent's entrypoint wraps the cmd). */
int docker_container_create(struct docker *d, const struct docker_spec *s, docker_cb cb, void *arg);
/* start/stop: 304 (already in that state) is ok=1 with status 304. */
int docker_container_start(struct docker *d, const char *id, docker_cb cb, void *arg);
int docker_container_wait(struct docker *d, const char *id, docker_cb cb, void *arg); /* exit_code */
/* Follows (or not) stdout+stderr from the start (since: unix seconds, 0 all;
 * tail: last N lines, <= 0 all); cb when the stream ends. A followed stream
 * (tail <= 0) is completed by a second, unfollowed read when it ends (dockerd
 * 20.10 can cut a follow short at exit): cb comes after that read. */
/* Ends, after grace_ms, the followed log streams of container id that are
 * still following (by then the container has exited: its /wait returned);
 * each then does its catch-up read and completes as if the follow had ended.
 * A stream can outlive its container's exit (Podman 4.3, ~1 in 150). */
void docker_logs_settle(struct docker *d, const char *id, unsigned grace_ms);
int docker_container_logs(struct docker *d, const char *id, int follow, long since, int tail,
                          docker_output_fn out, void *outarg, docker_cb cb, void *arg);
int docker_container_stop(struct docker *d, const char *id, int timeout_s, docker_cb cb, void *arg);
int docker_container_kill(struct docker *d, const char *id, docker_cb cb, void *arg);
int docker_container_remove(struct docker *d, const char *id, int force, int volumes, docker_cb cb, void *arg);
/* containers[0] with ip on `network` (may be NULL). */
int docker_container_inspect(struct docker *d, const char *id, const char *network, docker_cb cb, void *arg);
/* all=1, label filter ("graphbuild.project=P"); containers[]. */
int docker_container_list(struct docker *d, const char *label, docker_cb cb, void *arg);
/* POST /commit: id = image ID; config from spec (see struct docker_spec).
 * The engine merges the container's config into the request's: an empty Cmd
 * would become the step's command. So cmd_set/entrypoint_set == 0 send the
 * parent image's Cmd/Entrypoint, read from config->image when set (one GET),
 * else from the container's image (two GETs). Env, WorkingDir, User, Labels
 * and ExposedPorts of the container are merged in too (keys not given here
 * are kept): create step containers with the config the image should get. */
int docker_commit(struct docker *d, const char *id, const char *repo, const char *tag,
                  const struct docker_spec *config, docker_cb cb, void *arg);
/* PUT /containers/{id}/archive?path=...: streams a tar. */
int docker_archive_put(struct docker *d, const char *id, const char *path, docker_read_fn rd, void *rdarg, docker_cb cb, void *arg);
/* GET /containers/{id}/archive?path=...: streams the tar into data. */
int docker_archive_get(struct docker *d, const char *id, const char *path, docker_data_fn data, void *dataarg, docker_cb cb, void *arg);

/* Exec: create+start attached (output demuxed to out) then inspect; exit_code. */
int docker_exec(struct docker *d, const char *id, char **argv, size_t argc,
                docker_output_fn out, void *outarg, docker_cb cb, void *arg);
/* The same as user (NULL: the container's user). */
int docker_exec_as(struct docker *d, const char *id, const char *user, char **argv, size_t argc,
                   docker_output_fn out, void *outarg, docker_cb cb, void *arg);

/* Networks and volumes (create is idempotent: an existing one is ok). */
int docker_network_create(struct docker *d, const char *name, const char *label_k, const char *label_v, docker_cb cb, void *arg);
int docker_network_remove(struct docker *d, const char *name, docker_cb cb, void *arg);
int docker_volume_create(struct docker *d, const char *name, const char *label_k, const char *label_v, docker_cb cb, void *arg);
int docker_volume_remove(struct docker *d, const char *name, docker_cb cb, void *arg);
/* Names of volumes with the label filter; result ids in body as '\n'-separated. */
int docker_volume_list(struct docker *d, const char *label, docker_cb cb, void *arg);

/* Registry credentials (additions for registry.c; docker.c holds them because
 * they are JSON and the engine's X-Registry-Auth format). */
/* Looks up HOST ("127.0.0.1:5000", "index.docker.io") in $DOCKER_CONFIG/
 * config.json or ~/.docker/config.json: auths[HOST] (also written with a
 * scheme or a /v1/ path) as "auth" (base64 user:password), "username" +
 * "password", or "identitytoken". Returns 1 with the found fields malloc'd
 * (others NULL), 0 if there are none (no file, no entry), -1 with *err
 * (malloc'd) if the file is unreadable or malformed. */
int docker_auth_for(const char *host, char **user, char **password, char **identitytoken, char **err);
/* The X-Registry-Auth value for those credentials: base64url of the JSON
 * {"username","password","serveraddress"} or {"identitytoken",...};
 * "e30=" ({}) when all are NULL. malloc'd. */
char *docker_auth_header(const char *user, const char *password, const char *identitytoken,
                         const char *server);
/* The bearer token of a token-server reply ({"token":..} or
 * {"access_token":..}); *expires_in gets seconds (60 if absent). malloc'd,
 * or NULL if the body holds none. */
char *docker_token_parse(const char *body, size_t len, long *expires_in);
/* As docker_image_pull, with an X-Registry-Auth value (NULL: "{}") and a
 * status watcher (may be NULL) as for docker_image_push. */
int docker_image_pull_auth(struct docker *d, const char *ref, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg);

/* Synchronous convenience for commands: runs the loop until cb fires. Used
 * by the CLI between phases; never inside a callback. */
int docker_run_loop(struct docker *d);

/* 1 when the engine is on another machine (http_remote: a tcp:// host that is
 * not loopback and not an address of this machine); 0 for unix:// and here.
 * Containers' addresses are then unreachable from here. */
int docker_remote(const struct docker *d);

#endif
