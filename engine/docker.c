/* docker.c - the Docker Engine API client on top of http.c: the client
 * (connect, version negotiation, cancel, free) and the call machinery the
 * other docker_*.c files build on. Each call is a struct call that lives
 * from the public function to the user's callback; on_done turns the HTTP
 * reply into a result (errors first, then per kind: docker_reply.c's
 * parsers), and multi-step calls (connect here, commit and exec in
 * docker_commit.c) chain their requests from it. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/http.h"
#include "graphbuild/util.h"
#include "docker_int.h"

#define OUR_API "1.41"
#define ERRBODY_MAX 65536

/* ---- small helpers ---- */

static int is_unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

/* Path-segment escaping for names: image references keep '/', ':' and '@'
 * (the engine routes /images/{name:.*}/json). */
void path_esc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (is_unreserved(ch) || ch == '/' || ch == ':' || ch == '@' || ch == '+')
			buf_addc(b, (char)ch);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[ch >> 4]);
			buf_addc(b, hex[ch & 15]);
		}
	}
}

/* "?filters=" + URL-encoded {"label":["LABEL"]}, or nothing. */
void add_label_filter(struct buf *b, const char *label, char sep)
{
	cJSON *f, *a;
	char *s;
	if (!label)
		return;
	f = cJSON_CreateObject();
	a = cJSON_AddArrayToObject(f, "label");
	cJSON_AddItemToArray(a, cJSON_CreateString(label));
	s = cJSON_PrintUnformatted(f);
	buf_addc(b, sep);
	buf_adds(b, "filters=");
	http_escape(b, s);
	cJSON_free(s);
	cJSON_Delete(f);
}

cJSON *json_str_array(char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static int is_2xx(long s)
{
	return s >= 200 && s < 300;
}

/* ---- calls ---- */

struct call *call_new(struct docker *d, enum kind k, docker_cb cb, void *arg)
{
	struct call *c = xcalloc(1, sizeof *c);
	c->d = d;
	c->kind = k;
	c->cb = cb;
	c->arg = arg;
	c->next = d->calls;
	if (d->calls)
		d->calls->prev = c;
	d->calls = c;
	return c;
}

/* Takes a followed log stream off d->follows (no-op if it is not on it). */
static void follow_unlink(struct call *c)
{
	for (struct call **p = &c->d->follows; *p; p = &(*p)->fnext)
		if (*p == c) {
			*p = c->fnext;
			c->fnext = NULL;
			return;
		}
}

static void call_free(struct call *c)
{
	follow_unlink(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		c->d->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	buf_free(&c->line);
	buf_free(&c->errbody);
	free(c->stream_err);
	free(c->stream_id);
	free(c->id);
	free(c->network);
	free(c->query);
	free(c->what);
	cJSON_Delete(c->config);
	free(c);
}

static void free_images(struct docker_image *im, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(im[i].id);
		free(im[i].key);
		free(im[i].node);
		free(im[i].workdir);
		free(im[i].user);
		free(im[i].parent);
		for (size_t j = 0; j < im[i].ntags; j++)
			free(im[i].tags[j]);
		free(im[i].tags);
	}
	free(im);
}

static void free_containers(struct docker_container *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].id);
		free(c[i].name);
		free(c[i].image);
		free(c[i].state);
		free(c[i].health);
		free(c[i].ip);
		for (size_t j = 0; j < c[i].nlabels; j++) {
			free(c[i].label_k[j]);
			free(c[i].label_v[j]);
		}
		free(c[i].label_k);
		free(c[i].label_v);
		free(c[i].ports);
		free(c[i].started_at);
		free(c[i].finished_at);
	}
	free(c);
}

/* Calls the user back once and frees the call and the result's contents. */
void call_complete(struct call *c, struct docker_result *res)
{
	c->cb(c->arg, res);
	free_images(res->images, res->nimages);
	free_containers(res->containers, res->ncontainers);
	call_free(c);
}

void call_fail(struct call *c, long status, const char *fmt, ...)
{
	struct docker_result res = {0};
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	res.status = status;
	res.error = msg;
	res.exit_code = -1;
	call_complete(c, &res);
	free(msg);
}

/* ---- streams: docker_stream.c ---- */

static int on_data(void *arg, const char *p, size_t n)
{
	struct call *c = arg;
	long st = c->req ? http_status(c->req) : 0;
	if (!is_2xx(st)) { /* an error body: keep it for the message */
		if (c->errbody.len < ERRBODY_MAX)
			buf_add(&c->errbody, p, n);
		return 0;
	}
	switch (c->mode) {
	case M_JSON:
		json_feed(c, p, n, 0);
		return c->abort ? -1 : 0;
	case M_MUX:
		mux_feed(c, p, n);
		return 0;
	case M_RAW:
		return c->data ? c->data(c->dataarg, p, n) : 0;
	case M_BUF:
		break;
	}
	return 0;
}

static ssize_t on_read(void *arg, char *p, size_t n)
{
	struct call *c = arg;
	ssize_t k = c->rd(c->rdarg, p, n);
	return k < 0 ? -1 : k; /* no resume at this level: never pause */
}

static void on_done(void *arg, const struct http_response *r);

/* Starts one request of c. Returns 0, or -1 (nothing started). */
int call_send(struct call *c, const char *method, const char *path,
              const char *ctype, const char *body, const char *auth)
{
	struct http_opts o = {0};
	const char *hdrs[4];
	char *url, *h1 = NULL, *h2 = NULL;
	int nh = 0;

	/* /_ping is unversioned: it answers before we know the version. */
	url = strcmp(path, "/_ping") == 0 ? xstrdup(path)
	                                  : xasprintf("/v%s%s", c->d->ver, path);
	if (ctype)
		hdrs[nh++] = h1 = xasprintf("Content-Type: %s", ctype);
	if (auth)
		hdrs[nh++] = h2 = xasprintf("X-Registry-Auth: %s", auth);
	hdrs[nh] = NULL;
	o.method = method;
	o.url = url;
	o.headers = hdrs;
	if (body) {
		o.body = body;
		o.body_len = strlen(body);
	}
	if (c->rd) {
		o.read = on_read;
		o.read_arg = c;
	}
	if (c->mode != M_BUF) {
		o.data = on_data;
		o.data_arg = c;
	}
	free(c->what);
	c->what = xasprintf("%s %.*s", method, (int)strcspn(path, "?"), path);
	/* Streams that idle by nature have no inactivity limit (they stay
	 * cancellable): wait, logs -f, exec (attached), POST /build (a RUN
	 * step's output), commit (the engine writes the layer, then answers). The probe gets a short whole-request limit, so a
	 * silent engine is known within seconds. */
	o.idle_exempt = c->kind == K_WAIT || c->kind == K_LOGS || c->kind == K_EXEC || c->kind == K_COMMIT ||
	                strncmp(path, "/build", 6) == 0 || strstr(path, "follow=1");
	if (c->kind == K_CONNECT && http_idle_limit() > 0)
		o.timeout_ms = (http_idle_limit() < 10 ? http_idle_limit() : 10) * 1000;
	c->req = http_request(c->d->h, &o, on_done, c);
	free(url);
	free(h1);
	free(h2);
	return c->req ? 0 : -1;
}

/* First request of a public call: on failure the call is dropped and -1
 * returned, so cb is never called. */
int call_start(struct call *c, const char *method, const char *path,
               const char *ctype, const char *body, const char *auth)
{
	if (call_send(c, method, path, ctype, body, auth) < 0) {
		call_free(c);
		return -1;
	}
	return 0;
}

/* A later request of a chain: a failure to start completes the call. */
void call_next(struct call *c, const char *method, const char *path,
               const char *ctype, const char *body)
{
	c->mode = M_BUF;
	c->rd = NULL;
	if (call_send(c, method, path, ctype, body, NULL) < 0)
		call_fail(c, 0, "engine: cannot start a request to %s", c->d->host);
}

/* ---- the done callback: errors, then per-kind results and chains ---- */

static void finish_connect(struct call *c, cJSON *j, struct docker_result *res);

/* The end of a followed log stream (or of its grace): read the log again
 * without follow, skipping what was sent. */
static void logs_catchup(struct call *c)
{
	follow_unlink(c);
	c->catchup = 1;
	c->ok_extra = 404; /* removed meanwhile: what we sent stands */
	c->hdr_have = 0;
	c->frame_left = 0;
	c->raw = 0;
	if (call_send(c, "GET", c->query, NULL, NULL, NULL) < 0)
		call_fail(c, 0, "engine: cannot start a request to %s", c->d->host);
}

/* Objects with a string Id: what inspect, list and create answers hold. */
static int has_id(const cJSON *j)
{
	return cJSON_IsObject(j) && jstr(j, "Id") != NULL;
}

/* Why a 2xx reply is not the shape its call reads (static text), or NULL.
 * A garbled engine must not pass for an empty one: an empty listing would
 * make ps, down, gc and up act on nothing, successfully. */
static const char *reply_malformed(const struct call *c, const cJSON *j)
{
	const cJSON *it;

	switch (c->kind) {
	case K_CONNECT:
		if (c->step == 1 && !cJSON_IsObject(j))
			return "expected a JSON object";
		break;
	case K_ID:
		if (!has_id(j))
			return "expected a JSON object with an \"Id\" string";
		break;
	case K_WAIT:
		if (!cJSON_IsObject(j) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "StatusCode")))
			return "expected a JSON object with a \"StatusCode\" number";
		break;
	case K_IMAGE:
	case K_CONTAINER:
		if (!has_id(j))
			return "expected a JSON object with an \"Id\" string";
		break;
	case K_IMAGES:
	case K_CONTAINERS:
		if (!cJSON_IsArray(j))
			return "expected a JSON array";
		cJSON_ArrayForEach(it, j) if (!has_id(it)) return "expected objects with an \"Id\" string";
		if (c->kind == K_CONTAINERS)
			cJSON_ArrayForEach(it, j)
			{
				const cJSON *names = cJSON_GetObjectItemCaseSensitive(it, "Names");
				if (!cJSON_IsArray(names) || !cJSON_IsString(cJSON_GetArrayItem(names, 0)))
					return "expected containers with a \"Names\" list";
			}
		break;
	case K_VOLUMES: {
		const cJSON *v = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "Volumes") : NULL;
		if (!cJSON_IsObject(j) || (v && !cJSON_IsArray(v) && !cJSON_IsNull(v)))
			return "expected a JSON object with a \"Volumes\" list";
		break;
	}
	default:
		break;
	}
	return NULL;
}

static void on_done(void *arg, const struct http_response *r)
{
	struct call *c = arg;
	struct docker_result res = {0};
	cJSON *j = NULL;
	char *msg = NULL;
	const char *body = r->body;
	size_t len = r->len;

	c->req = NULL;
	res.status = r->status;
	res.exit_code = -1;
	if (c->mode != M_BUF) {
		body = c->errbody.data;
		len = c->errbody.len;
	}
	if (r->fail == HTTP_FAIL_CANCELLED) {
		if (c->settled && c->kind == K_LOGS && !c->catchup) {
			logs_catchup(c); /* the grace ended the follow, not a cancel */
			return;
		}
		call_fail(c, 0, "cancelled");
		return;
	}
	if (r->fail == HTTP_FAIL_CLOSED) {
		/* curl says "transfer closed with outstanding read data
		 * remaining": say what happened instead */
		call_fail(c, r->status, "the Docker engine at %s went away (the connection closed mid-request)", c->d->host);
		return;
	}
	if (r->fail == HTTP_FAIL_TIMEOUT) {
		call_fail(c, r->status, "the Docker engine at %s: %s", c->d->host, r->error);
		return;
	}
	if (r->error && r->status == 0) {
		if (strncmp(c->d->host, "unix://", 7) == 0)
			call_fail(c, 0, "cannot reach the Docker engine at %s: %s; start one with 'dockerd' or set DOCKER_HOST",
			     c->d->host, r->error);
		else
			call_fail(c, 0, "cannot reach the Docker engine at %s: %s; check DOCKER_HOST", c->d->host, r->error);
		return;
	}
	if (!is_2xx(r->status) && r->status != c->ok_extra) {
		msg = engine_error(r->status, body, len);
		/* Idempotent creates: "already exists" is success. */
		if (c->exists_ok && (r->status == 409 || strstr(msg, "already exists"))) {
			free(msg);
			res.ok = 1;
			call_complete(c, &res);
			return;
		}
		call_fail(c, r->status, "%s", msg);
		free(msg);
		return;
	}
	if (r->error) { /* a status arrived, then the transfer broke */
		call_fail(c, r->status, "engine: transfer failed: %s", r->error);
		return;
	}
	if (c->mode == M_JSON) {
		json_feed(c, "", 0, 1);
		if (c->stream_err) {
			char *t = engine_text(c->stream_err, strlen(c->stream_err));
			call_fail(c, r->status, "engine: %s%s", t, engine_hint(c->stream_err));
			free(t);
			return;
		}
		res.id = c->stream_id;
	}
	if (c->mode == M_BUF) {
		res.body = r->body;
		res.len = r->len;
		if (r->len && (c->kind != K_PLAIN || c->step))
			j = cJSON_ParseWithLength(r->body, r->len);
		const char *bad = reply_malformed(c, j);
		if (bad) {
			call_fail(c, r->status, "engine: malformed reply to %s: %s", c->what, bad);
			cJSON_Delete(j);
			return;
		}
	}
	res.ok = 1;

	switch (c->kind) {
	case K_PLAIN:
		break;
	case K_CONNECT:
		finish_connect(c, j, &res);
		cJSON_Delete(j);
		return;
	case K_COMMIT:
		finish_commit(c, j, &res);
		cJSON_Delete(j);
		return;
	case K_EXEC:
		finish_exec(c, j, &res);
		cJSON_Delete(j);
		return;
	case K_LOGS:
		/* dockerd 20.10 can end a follow stream at the container's exit
		 * before it has sent the end of the log (measured: 2 of 25 5 MB
		 * streams cut short, also with curl). Once it ends, the log is
		 * closed: read it again without follow, skipping what was sent. */
		if (!c->catchup) {
			logs_catchup(c);
			return;
		}
		break;
	case K_ID:
		if (j && jstr(j, "Id"))
			res.id = jstr(j, "Id");
		break;
	case K_WAIT: {
		const cJSON *e = j ? jobj(j, "Error") : NULL;
		res.exit_code = j ? (long)jnum(j, "StatusCode") : -1;
		if (e && jstr(e, "Message") && *jstr(e, "Message")) {
			char *t = engine_text(jstr(e, "Message"), strlen(jstr(e, "Message")));
			res.ok = 0;
			res.error = msg = xasprintf("engine: %s", t);
			free(t);
		}
		break;
	}
	case K_IMAGE:
		if (j) {
			res.images = xcalloc(1, sizeof *res.images);
			res.nimages = 1;
			parse_image(j, res.images, 1);
			res.id = res.images[0].id;
		}
		break;
	case K_IMAGES: {
		const cJSON *it;
		res.images = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof *res.images);
		cJSON_ArrayForEach(it, j) parse_image(it, &res.images[res.nimages++], 0);
		break;
	}
	case K_CONTAINER:
		if (j) {
			res.containers = xcalloc(1, sizeof *res.containers);
			res.ncontainers = 1;
			parse_container_inspect(j, res.containers, c->network);
			res.id = res.containers[0].id;
			res.exit_code = res.containers[0].exit_code;
		}
		break;
	case K_CONTAINERS: {
		const cJSON *it;
		res.containers = xcalloc((size_t)cJSON_GetArraySize(j) + 1, sizeof *res.containers);
		cJSON_ArrayForEach(it, j) parse_container_list(it, &res.containers[res.ncontainers++]);
		break;
	}
	case K_VOLUMES: {
		const cJSON *it, *vols = j ? cJSON_GetObjectItemCaseSensitive(j, "Volumes") : NULL;
		struct buf b = {0};
		cJSON_ArrayForEach(it, vols)
		{
			const char *n = jstr(it, "Name");
			if (n)
				buf_printf(&b, "%s\n", n);
		}
		buf_adds(&b, "");
		msg = buf_take(&b);
		res.body = msg;
		res.len = strlen(msg);
		break;
	}
	}
	call_complete(c, &res);
	free(msg);
	cJSON_Delete(j);
}

/* ---- client ---- */

struct docker *docker_new(struct uv_loop_s *loop, const char *host, char **err)
{
	struct docker *d;
	char *ca = NULL, *cert = NULL, *key = NULL;
	const char *tls = getenv("DOCKER_TLS_VERIFY");

	*err = NULL;
	if (!host || !*host)
		host = getenv("DOCKER_HOST");
	if (!host || !*host)
		host = "unix:///var/run/docker.sock";
	if (strncmp(host, "tcp://", 6) == 0 && tls && *tls && strcmp(tls, "0") != 0) {
		const char *dir = getenv("DOCKER_CERT_PATH");
		char *def = NULL;
		if (!dir || !*dir) {
			const char *home = getenv("HOME");
			dir = def = xasprintf("%s/.docker", home ? home : "");
		}
		ca = path_join(dir, "ca.pem");
		cert = path_join(dir, "cert.pem");
		key = path_join(dir, "key.pem");
		free(def);
	}
	d = xcalloc(1, sizeof *d);
	d->loop = loop;
	d->host = xstrdup(host);
	snprintf(d->ver, sizeof d->ver, "%s", OUR_API);
	d->h = http_new(loop, host, ca, cert, key, err);
	free(ca);
	free(cert);
	free(key);
	if (!d->h) {
		free(d->host);
		free(d);
		return NULL;
	}
	return d;
}

struct uv_loop_s *docker_loop(const struct docker *d)
{
	return d->loop;
}

const char *docker_host(const struct docker *d)
{
	return d->host;
}

int docker_is_podman(const struct docker *d)
{
	return d->podman;
}

void docker_cancel_all(struct docker *d)
{
	http_cancel_all(d->h);
}

static void on_settle_closed(uv_handle_t *h)
{
	free(h);
}

void docker_cancel_for(struct docker *d, const void *arg)
{
	struct call *c;

	for (c = d->calls; c; c = c->next)
		if (c->arg == arg && c->req && !c->keep)
			http_cancel(c->req);
}

void docker_free(struct docker *d)
{
	if (!d)
		return;
	if (d->settle)
		uv_close((uv_handle_t *)d->settle, on_settle_closed);
	http_free(d->h);
	free(d->host);
	free(d);
}

int docker_run_loop(struct docker *d)
{
	while (http_inflight(d->h) > 0)
		uv_run((uv_loop_t *)d->loop, UV_RUN_ONCE);
	return 0;
}

/* ---- engine ---- */

static int vercmp(const char *a, const char *b)
{
	int am = 0, an = 0, bm = 0, bn = 0;
	sscanf(a, "%d.%d", &am, &an);
	sscanf(b, "%d.%d", &bm, &bn);
	return am != bm ? (am < bm ? -1 : 1) : (an < bn ? -1 : an > bn);
}

static void finish_connect(struct call *c, cJSON *j, struct docker_result *res)
{
	const char *v;
	if (c->step == 0) {
		c->step = 1;
		call_next(c, "GET", "/version", NULL, NULL);
		return;
	}
	v = j ? jstr(j, "ApiVersion") : NULL;
	{
		const cJSON *comp, *it;
		comp = j ? cJSON_GetObjectItemCaseSensitive(j, "Components") : NULL;
		cJSON_ArrayForEach(it, comp)
		{
			const char *nm = jstr(it, "Name");
			if (nm && strstr(nm, "Podman"))
				c->d->podman = 1;
		}
	}
	if (!v) {
		call_fail(c, res->status, "engine: /version has no ApiVersion");
		return;
	}
	if (vercmp(v, OUR_API) < 0) {
		const char *min = jstr(j, "MinAPIVersion");
		if (min && vercmp(min, OUR_API) > 0) {
			call_fail(c, res->status, "engine: API %s..%s does not include %s", min, v, OUR_API);
			return;
		}
		snprintf(c->d->ver, sizeof c->d->ver, "%s", v);
	} else
		snprintf(c->d->ver, sizeof c->d->ver, "%s", OUR_API);
	res->id = c->d->ver;
	call_complete(c, res);
}

int docker_connect(struct docker *d, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_CONNECT, cb, arg);
	return call_start(c, "GET", "/_ping", NULL, NULL, NULL);
}

/* Starts METHOD PATH where PATH is built by the caller into b (freed). */
int call_simple(struct docker *d, enum kind k, const char *method, struct buf *b,
                const char *ctype, const char *body, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, k, cb, arg);
	int rc;
	buf_adds(b, "");
	rc = call_start(c, method, b->data, ctype, body, NULL);
	buf_free(b);
	return rc;
}

/* ---- where the engine is ---- */

int docker_remote(const struct docker *d)
{
	return http_remote(d->h);
}
