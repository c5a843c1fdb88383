/* docker_int.h - shared by the files of the docker area (docker.c,
 * docker_images.c, docker_containers.c, docker_commit.c, docker_reply.c,
 * docker_stream.c, registry_auth.c): struct docker and struct call, the
 * stream decoders, the cJSON readers and the empty X-Registry-Auth.
 * Internal: not under include/graphbuild/. */
#ifndef GRAPHBUILD_DOCKER_INT_H
#define GRAPHBUILD_DOCKER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/http.h"
#include "graphbuild/util.h"

/* base64 of "{}": the engine needs X-Registry-Auth even without auth. */
#define NO_AUTH "e30="

static inline const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline long long jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	/* a number beyond long long (1e300) is garbage, not a value to convert */
	return cJSON_IsNumber(v) && v->valuedouble > -9e18 && v->valuedouble < 9e18 ? (long long)v->valuedouble
	                                                                          : 0;
}

static inline char *jdup(const cJSON *o, const char *k)
{
	const char *s = jstr(o, k);
	return s ? xstrdup(s) : NULL;
}

static inline const cJSON *jobj(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsObject(v) ? v : NULL;
}

struct docker {
	struct http *h;
	struct uv_loop_s *loop;
	char *host;
	char ver[16];            /* negotiated API version, "1.41" */
	int podman;              /* /version names a Podman engine */
	struct call *follows;    /* followed log streams still following */
	uv_timer_t *settle;      /* ends followed streams whose grace is over */
	struct call *calls;      /* live calls, for docker_cancel_for */
};

enum mode { M_BUF, M_JSON, M_MUX, M_RAW };
enum kind {
	K_PLAIN, K_CONNECT, K_IMAGE, K_IMAGES, K_CONTAINER, K_CONTAINERS, K_ID,
	K_WAIT, K_COMMIT, K_EXEC, K_VOLUMES, K_LOGS
};

struct call {
	struct docker *d;
	struct http_req *req;
	docker_cb cb;
	void *arg;
	enum mode mode;
	enum kind kind;
	int step;
	long ok_extra;             /* a status that also counts as success */
	int keep;                  /* not cancelled by docker_cancel_for (a create) */
	int exists_ok;             /* "already exists" counts as success */
	/* streams */
	struct buf line;           /* JSON stream: the partial line */
	struct buf errbody;        /* a non-2xx body while streaming */
	unsigned char hdr[8];      /* mux: header reassembly */
	int hdr_have, frame_stream, raw;
	uint32_t frame_left;
	char *stream_err, *stream_id;
	docker_output_fn out;
	void *outarg;
	docker_data_fn data;
	void *dataarg;
	docker_read_fn rd;
	void *rdarg;
	docker_status_fn status;   /* pull/push progress watcher */
	void *statusarg;
	int abort;                 /* the watcher asked to stop */
	/* chained calls */
	char *id, *network, *query;
	char *what;                /* "GET /containers/json": the request, for messages */
	cJSON *config;             /* commit: the config being completed */
	int need_cmd, need_entrypoint;
	int tries;
	size_t seen[3];            /* logs: bytes delivered per stream */
	int catchup;               /* logs: re-reading; skip seen[] */
	struct call *fnext;        /* logs: d->follows list */
	uint64_t settle_at;        /* logs: loop time to end the follow, or 0 */
	int settled;               /* logs: the follow was ended by the grace */
	struct call *next, *prev;  /* d->calls */
};

/* docker_stream.c: feed a streamed reply's bytes (flush: the reply ended) */
void json_feed(struct call *c, const char *p, size_t n, int flush);
void mux_feed(struct call *c, const char *p, size_t n);

/* docker_reply.c: replies into docker.h's structs, and what the engine
 * wrote made fit for a terminal (control characters as '?', at most 300
 * bytes); each is described where it is defined */
const char *engine_hint(const char *m);
char *engine_text(const char *s, size_t n);
char *engine_error(long status, const char *body, size_t len);
void parse_image(const cJSON *j, struct docker_image *im, int inspect);
void parse_container_inspect(const cJSON *j, struct docker_container *c, const char *network);
void parse_container_list(const cJSON *j, struct docker_container *c);

/* docker.c: the call machinery the other docker_*.c files build on. A call
 * lives from call_new to its callback; call_start sends its first request
 * (0, or -1 with nothing started and the call freed), call_next a later one
 * of a chain, call_send one request of either; call_complete and call_fail
 * end it. call_simple: METHOD on the path built into b (freed). */
struct call *call_new(struct docker *d, enum kind k, docker_cb cb, void *arg);
int call_send(struct call *c, const char *method, const char *path, const char *ctype, const char *body,
              const char *auth);
int call_start(struct call *c, const char *method, const char *path, const char *ctype, const char *body,
               const char *auth);
void call_next(struct call *c, const char *method, const char *path, const char *ctype, const char *body);
void call_complete(struct call *c, struct docker_result *res);
void call_fail(struct call *c, long status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int call_simple(struct docker *d, enum kind k, const char *method, struct buf *b, const char *ctype,
                const char *body, docker_cb cb, void *arg);
/* Path-segment escaping for names (image references keep '/', ':', '@'). */
void path_esc(struct buf *b, const char *s);
/* "filters=" + the URL-encoded {"label":["LABEL"]} after sep, or nothing. */
void add_label_filter(struct buf *b, const char *label, char sep);
cJSON *json_str_array(char **v, size_t n);

/* docker_containers.c: a spec's Config (shared with commit's changes) */
void add_config(cJSON *o, const struct docker_spec *s, int commit);

/* docker_commit.c: the done callback's steps of the chained calls */
void finish_commit(struct call *c, cJSON *j, struct docker_result *res);
void finish_exec(struct call *c, cJSON *j, struct docker_result *res);

#endif
