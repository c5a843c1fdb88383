/* docker_int.h - shared by the files of the docker area (docker.c,
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

#endif
