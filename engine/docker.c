/* docker.c - the Docker Engine API on top of http.c: request bodies built and
 * replies parsed with cJSON (the only file that includes it), JSON progress
 * streams and multiplexed output decoded as they arrive, engine errors turned
 * into one line. Each call is a struct call that lives from the public
 * function to the user's callback; multi-step calls (connect, commit, exec)
 * chain their requests from the HTTP done callback. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/http.h"
#include "graphbuild/util.h"

#define OUR_API "1.41"
#define ERRBODY_MAX 65536
/* base64 of "{}": the engine needs X-Registry-Auth even without auth. */
#define NO_AUTH "e30="

struct docker {
	struct http *h;
	struct uv_loop_s *loop;
	char *host;
	char ver[16];            /* negotiated API version, "1.41" */
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
	cJSON *config;             /* commit: the config being completed */
	int need_cmd, need_entrypoint;
	int tries;
	size_t seen[3];            /* logs: bytes delivered per stream */
	int catchup;               /* logs: re-reading; skip seen[] */
};

/* ---- small helpers ---- */

static int is_unreserved(unsigned char ch)
{
	return isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

/* Query-string escaping (everything but unreserved). */
static void qesc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (is_unreserved(ch))
			buf_addc(b, (char)ch);
		else {
			buf_addc(b, '%');
			buf_addc(b, hex[ch >> 4]);
			buf_addc(b, hex[ch & 15]);
		}
	}
}

/* Path-segment escaping for names: image references keep '/', ':' and '@'
 * (the engine routes /images/{name:.*}/json). */
static void pesc(struct buf *b, const char *s)
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
static void add_label_filter(struct buf *b, const char *label, char sep)
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
	qesc(b, s);
	cJSON_free(s);
	cJSON_Delete(f);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *jdup(const cJSON *o, const char *k)
{
	const char *s = jstr(o, k);
	return s ? xstrdup(s) : NULL;
}

static long long jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static const cJSON *jobj(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsObject(v) ? v : NULL;
}

static cJSON *str_array(char **v, size_t n)
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

/* RFC 3339 ("2024-01-02T03:04:05.123456789Z") to unix seconds. */
/* RFC 3339 UTC ("2026-12-01T21:25:44.995601222Z") to nanoseconds; 0 if bad. */
static long long parse_time_ns(const char *s)
{
	struct tm tm = {0};
	long long ns = 0;
	int n = 0, digits = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	if (s[n] == '.')
		for (s += n + 1; *s >= '0' && *s <= '9'; s++)
			if (digits++ < 9)
				ns = ns * 10 + (*s - '0');
	for (; digits < 9; digits++)
		ns *= 10;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000000000LL + ns;
}

/* ---- calls ---- */

static struct call *call_new(struct docker *d, enum kind k, docker_cb cb, void *arg)
{
	struct call *c = xcalloc(1, sizeof *c);
	c->d = d;
	c->kind = k;
	c->cb = cb;
	c->arg = arg;
	return c;
}

static void call_free(struct call *c)
{
	buf_free(&c->line);
	buf_free(&c->errbody);
	free(c->stream_err);
	free(c->stream_id);
	free(c->id);
	free(c->network);
	free(c->query);
	cJSON_Delete(c->config);
	free(c);
}

static void free_images(struct docker_image *im, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(im[i].id);
		free(im[i].key);
		free(im[i].node);
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
static void complete(struct call *c, struct docker_result *res)
{
	c->cb(c->arg, res);
	free_images(res->images, res->nimages);
	free_containers(res->containers, res->ncontainers);
	call_free(c);
}

static void fail(struct call *c, long status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct call *c, long status, const char *fmt, ...)
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
	complete(c, &res);
	free(msg);
}

/* ---- streams (inside curl's write callback: no completion here) ---- */

static void json_object(struct call *c, const char *s, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(s, n);
	const cJSON *aux, *det;
	const char *v;

	if (!j)
		return;
	if (!c->stream_err) {
		if ((v = jstr(j, "error")))
			c->stream_err = xstrdup(v);
		else if ((det = jobj(j, "errorDetail")) && (v = jstr(det, "message")))
			c->stream_err = xstrdup(v);
	}
	if ((v = jstr(j, "status"))) {
		if (c->status && !c->abort && c->status(c->statusarg, v) < 0)
			c->abort = 1;
		if (strncmp(v, "sha256:", 7) == 0) { /* import: the new image */
			free(c->stream_id);
			c->stream_id = xstrdup(v);
		} else if (strncmp(v, "Digest: ", 8) == 0) { /* pull */
			free(c->stream_id);
			c->stream_id = xstrdup(v + 8);
		}
	}
	if ((aux = jobj(j, "aux"))) {
		if ((v = jstr(aux, "ID")) || (v = jstr(aux, "Digest"))) { /* build, push */
			free(c->stream_id);
			c->stream_id = xstrdup(v);
		}
	}
	if ((v = jstr(j, "stream")) && c->out)
		c->out(c->outarg, 1, v, strlen(v));
	cJSON_Delete(j);
}

static void json_feed(struct call *c, const char *p, size_t n, int flush)
{
	size_t start = 0, i;
	buf_add(&c->line, p, n);
	for (i = 0; i < c->line.len; i++)
		if (c->line.data[i] == '\n') {
			if (i > start)
				json_object(c, c->line.data + start, i - start);
			start = i + 1;
		}
	if (flush && start < c->line.len) {
		json_object(c, c->line.data + start, c->line.len - start);
		start = c->line.len;
	}
	memmove(c->line.data, c->line.data + start, c->line.len - start);
	c->line.len -= start;
}

/* Multiplexed stdout/stderr: 8-byte headers [stream,0,0,0,size BE32] then
 * the payload. Payload bytes are passed on as they arrive (no copy); only a
 * header split across reads is reassembled. A stream that does not start
 * with a valid header (a TTY container) is passed through as stdout. */
/* Passes demuxed bytes on; a logs catch-up skips what was delivered. */
static void emit(struct call *c, int stream, const char *p, size_t n)
{
	if (c->catchup) {
		size_t k = c->seen[stream] < n ? c->seen[stream] : n;
		c->seen[stream] -= k;
		p += k;
		n -= k;
	} else
		c->seen[stream] += n;
	if (n && c->out)
		c->out(c->outarg, stream, p, n);
}

static void mux_feed(struct call *c, const char *p, size_t n)
{
	while (n > 0) {
		if (c->raw) {
			emit(c, 1, p, n);
			return;
		}
		if (c->frame_left == 0) {
			size_t k = 8 - (size_t)c->hdr_have;
			if (k > n)
				k = n;
			memcpy(c->hdr + c->hdr_have, p, k);
			c->hdr_have += (int)k;
			p += k;
			n -= k;
			if (c->hdr_have < 8)
				return;
			c->hdr_have = 0;
			if (c->hdr[0] > 2 || c->hdr[1] || c->hdr[2] || c->hdr[3]) {
				c->raw = 1;
				emit(c, 1, (const char *)c->hdr, 8);
				continue;
			}
			c->frame_stream = c->hdr[0] == 2 ? 2 : 1;
			c->frame_left = (uint32_t)c->hdr[4] << 24 | (uint32_t)c->hdr[5] << 16 |
			                (uint32_t)c->hdr[6] << 8 | (uint32_t)c->hdr[7];
			continue;
		}
		size_t k = c->frame_left < n ? c->frame_left : n;
		emit(c, c->frame_stream, p, k);
		c->frame_left -= (uint32_t)k;
		p += k;
		n -= k;
	}
}

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
static int call_send(struct call *c, const char *method, const char *path,
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
	c->req = http_request(c->d->h, &o, on_done, c);
	free(url);
	free(h1);
	free(h2);
	return c->req ? 0 : -1;
}

/* First request of a public call: on failure the call is dropped and -1
 * returned, so cb is never called. */
static int call_start(struct call *c, const char *method, const char *path,
                      const char *ctype, const char *body, const char *auth)
{
	if (call_send(c, method, path, ctype, body, auth) < 0) {
		call_free(c);
		return -1;
	}
	return 0;
}

/* A later request of a chain: a failure to start completes the call. */
static void call_next(struct call *c, const char *method, const char *path,
                      const char *ctype, const char *body)
{
	c->mode = M_BUF;
	c->rd = NULL;
	if (call_send(c, method, path, ctype, body, NULL) < 0)
		fail(c, 0, "engine: cannot start a request to %s", c->d->host);
}

/* "engine: <message> (<status>)" from an error body. */
static char *engine_error(long status, const char *body, size_t len)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *m = j ? jstr(j, "message") : NULL;
	char *s;
	if (m)
		s = xasprintf("engine: %s (%ld)", m, status);
	else if (body && len) {
		size_t n = len;
		while (n > 0 && isspace((unsigned char)body[n - 1]))
			n--;
		if (n > 300)
			n = 300;
		s = xasprintf("engine: %.*s (%ld)", (int)n, body, status);
	} else
		s = xasprintf("engine: HTTP status %ld", status);
	cJSON_Delete(j);
	return s;
}

/* ---- result parsers ---- */

static void labels_sorted(const cJSON *labels, char ***kp, char ***vp, size_t *np)
{
	const cJSON *l;
	size_t n = 0, i, j;
	char **k, **v;
	cJSON_ArrayForEach(l, labels) n++;
	k = xcalloc(n + 1, sizeof *k);
	v = xcalloc(n + 1, sizeof *v);
	n = 0;
	cJSON_ArrayForEach(l, labels)
	{
		if (!l->string)
			continue;
		k[n] = xstrdup(l->string);
		v[n] = xstrdup(cJSON_IsString(l) ? l->valuestring : "");
		n++;
	}
	for (i = 1; i < n; i++) /* insertion sort: label sets are small */
		for (j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
			char *t = k[j];
			k[j] = k[j - 1];
			k[j - 1] = t;
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*kp = k;
	*vp = v;
	*np = n;
}

static void parse_image(const cJSON *j, struct docker_image *im, int inspect)
{
	const cJSON *cfg = inspect ? jobj(j, "Config") : j;
	const cJSON *labels = cfg ? jobj(cfg, "Labels") : NULL;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "RepoTags"), *t;

	im->id = jdup(j, "Id");
	im->key = labels ? jdup(labels, "graphbuild.key") : NULL;
	im->node = labels ? jdup(labels, "graphbuild.node") : NULL;
	im->parent = jdup(j, inspect ? "Parent" : "ParentId");
	if (im->parent && !*im->parent) {
		free(im->parent);
		im->parent = NULL;
	}
	im->tags = xcalloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof *im->tags);
	cJSON_ArrayForEach(t, tags) if (cJSON_IsString(t) && strcmp(t->valuestring, "<none>:<none>"))
		im->tags[im->ntags++] = xstrdup(t->valuestring);
	if (inspect) {
		im->created_ns = parse_time_ns(jstr(j, "Created"));
		im->created = im->created_ns / 1000000000LL;
	} else {
		im->created = jnum(j, "Created");
		im->created_ns = im->created * 1000000000LL;
	}
	im->size = jnum(j, "Size");
}

static char *ports_inspect(const cJSON *ports)
{
	struct buf b = {0};
	const cJSON *p, *bind;
	cJSON_ArrayForEach(p, ports)
	{
		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) == 0) {
			buf_printf(&b, "%s%s", b.len ? ", " : "", p->string);
			continue;
		}
		cJSON_ArrayForEach(bind, p)
		{
			const char *ip = jstr(bind, "HostIp"), *hp = jstr(bind, "HostPort");
			buf_printf(&b, "%s%s:%s->%s", b.len ? ", " : "", ip && *ip ? ip : "0.0.0.0",
			           hp ? hp : "", p->string);
		}
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

static char *ports_list(const cJSON *ports)
{
	struct buf b = {0};
	const cJSON *p;
	cJSON_ArrayForEach(p, ports)
	{
		const char *ip = jstr(p, "IP"), *type = jstr(p, "Type");
		long long priv = jnum(p, "PrivatePort"), pub = jnum(p, "PublicPort");
		if (b.len)
			buf_adds(&b, ", ");
		if (pub)
			buf_printf(&b, "%s:%lld->", ip && *ip ? ip : "0.0.0.0", pub);
		buf_printf(&b, "%lld/%s", priv, type ? type : "tcp");
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

static char *network_ip(const cJSON *ns, const char *network)
{
	const cJSON *nets = ns ? jobj(ns, "Networks") : NULL, *n;
	const char *ip;
	if (network) {
		n = nets ? jobj(nets, network) : NULL;
		ip = n ? jstr(n, "IPAddress") : NULL;
		return ip && *ip ? xstrdup(ip) : NULL;
	}
	if (ns && (ip = jstr(ns, "IPAddress")) && *ip)
		return xstrdup(ip);
	cJSON_ArrayForEach(n, nets) if ((ip = jstr(n, "IPAddress")) && *ip) return xstrdup(ip);
	return NULL;
}

static void parse_container_inspect(const cJSON *j, struct docker_container *c, const char *network)
{
	const cJSON *st = jobj(j, "State"), *cfg = jobj(j, "Config");
	const cJSON *health = st ? jobj(st, "Health") : NULL;
	const cJSON *ns = jobj(j, "NetworkSettings");
	const char *name = jstr(j, "Name"), *hs = health ? jstr(health, "Status") : NULL;

	c->id = jdup(j, "Id");
	c->name = xstrdup(name ? name + (name[0] == '/') : "");
	c->image = jdup(j, "Image");
	c->state = xstrdup(st && jstr(st, "Status") ? jstr(st, "Status") : "");
	c->health = xstrdup(hs && *hs ? hs : "none");
	c->exit_code = st ? (int)jnum(st, "ExitCode") : 0;
	c->ip = network_ip(ns, network);
	labels_sorted(cfg ? jobj(cfg, "Labels") : NULL, &c->label_k, &c->label_v, &c->nlabels);
	c->ports = ports_inspect(ns ? jobj(ns, "Ports") : NULL);
	c->started_at = st ? jdup(st, "StartedAt") : NULL;
	c->finished_at = st ? jdup(st, "FinishedAt") : NULL;
}

static void parse_container_list(const cJSON *j, struct docker_container *c)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "Names");
	const cJSON *n0 = cJSON_GetArrayItem(names, 0);
	const char *status = jstr(j, "Status"), *ex;
	const char *name = cJSON_IsString(n0) ? n0->valuestring : "";

	c->id = jdup(j, "Id");
	c->name = xstrdup(name + (name[0] == '/'));
	c->image = jdup(j, "ImageID");
	c->state = xstrdup(jstr(j, "State") ? jstr(j, "State") : "");
	if (status && strstr(status, "(healthy)"))
		c->health = xstrdup("healthy");
	else if (status && strstr(status, "(unhealthy)"))
		c->health = xstrdup("unhealthy");
	else if (status && strstr(status, "(health: starting)"))
		c->health = xstrdup("starting");
	else
		c->health = xstrdup("none");
	if (status && (ex = strstr(status, "Exited (")))
		c->exit_code = atoi(ex + 8);
	c->ip = network_ip(jobj(j, "NetworkSettings"), NULL);
	labels_sorted(jobj(j, "Labels"), &c->label_k, &c->label_v, &c->nlabels);
	c->ports = ports_list(cJSON_GetObjectItemCaseSensitive(j, "Ports"));
}

/* ---- the done callback: errors, then per-kind results and chains ---- */

static void finish_connect(struct call *c, cJSON *j, struct docker_result *res);
static void finish_commit(struct call *c, cJSON *j, struct docker_result *res);
static void finish_exec(struct call *c, cJSON *j, struct docker_result *res);

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
	if (r->error && strcmp(r->error, "cancelled") == 0) {
		fail(c, 0, "cancelled");
		return;
	}
	if (r->error && r->status == 0) {
		if (strncmp(c->d->host, "unix://", 7) == 0)
			fail(c, 0, "cannot reach the Docker engine at %s: %s; start one with 'dockerd' or set DOCKER_HOST",
			     c->d->host, r->error);
		else
			fail(c, 0, "cannot reach the Docker engine at %s: %s; check DOCKER_HOST", c->d->host, r->error);
		return;
	}
	if (!is_2xx(r->status) && r->status != c->ok_extra) {
		msg = engine_error(r->status, body, len);
		/* Idempotent creates: "already exists" is success. */
		if (c->exists_ok && (r->status == 409 || strstr(msg, "already exists"))) {
			free(msg);
			res.ok = 1;
			complete(c, &res);
			return;
		}
		fail(c, r->status, "%s", msg);
		free(msg);
		return;
	}
	if (r->error) { /* a status arrived, then the transfer broke */
		fail(c, r->status, "engine: transfer failed: %s", r->error);
		return;
	}
	if (c->mode == M_JSON) {
		json_feed(c, "", 0, 1);
		if (c->stream_err) {
			fail(c, r->status, "engine: %s", c->stream_err);
			return;
		}
		res.id = c->stream_id;
	}
	if (c->mode == M_BUF) {
		res.body = r->body;
		res.len = r->len;
		if (r->len && (c->kind != K_PLAIN || c->step))
			j = cJSON_ParseWithLength(r->body, r->len);
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
			c->catchup = 1;
			c->ok_extra = 404; /* removed meanwhile: what we sent stands */
			c->hdr_have = 0;
			c->frame_left = 0;
			c->raw = 0;
			if (call_send(c, "GET", c->query, NULL, NULL, NULL) < 0)
				fail(c, 0, "engine: cannot start a request to %s", c->d->host);
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
			res.ok = 0;
			res.error = msg = xasprintf("engine: %s", jstr(e, "Message"));
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
	complete(c, &res);
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

void docker_cancel_all(struct docker *d)
{
	http_cancel_all(d->h);
}

void docker_free(struct docker *d)
{
	if (!d)
		return;
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
	if (!v) {
		fail(c, res->status, "engine: /version has no ApiVersion");
		return;
	}
	if (vercmp(v, OUR_API) < 0) {
		const char *min = jstr(j, "MinAPIVersion");
		if (min && vercmp(min, OUR_API) > 0) {
			fail(c, res->status, "engine: API %s..%s does not include %s", min, v, OUR_API);
			return;
		}
		snprintf(c->d->ver, sizeof c->d->ver, "%s", v);
	} else
		snprintf(c->d->ver, sizeof c->d->ver, "%s", OUR_API);
	res->id = c->d->ver;
	complete(c, res);
}

int docker_connect(struct docker *d, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_CONNECT, cb, arg);
	return call_start(c, "GET", "/_ping", NULL, NULL, NULL);
}

/* Starts METHOD PATH where PATH is built by the caller into b (freed). */
static int simple(struct docker *d, enum kind k, const char *method, struct buf *b,
                  const char *ctype, const char *body, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, k, cb, arg);
	int rc;
	buf_adds(b, "");
	rc = call_start(c, method, b->data, ctype, body, NULL);
	buf_free(b);
	return rc;
}

/* ---- images ---- */

int docker_image_inspect(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	pesc(&b, name);
	buf_adds(&b, "/json");
	return simple(d, K_IMAGE, "GET", &b, NULL, NULL, cb, arg);
}

int docker_image_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/json");
	add_label_filter(&b, label, '?');
	return simple(d, K_IMAGES, "GET", &b, NULL, NULL, cb, arg);
}

int docker_image_tag(struct docker *d, const char *src, const char *repo, const char *tag,
                     docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	pesc(&b, src);
	buf_adds(&b, "/tag?repo=");
	qesc(&b, repo);
	if (tag) {
		buf_adds(&b, "&tag=");
		qesc(&b, tag);
	}
	return simple(d, K_PLAIN, "POST", &b, NULL, NULL, cb, arg);
}

int docker_image_remove(struct docker *d, const char *name, int force, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	pesc(&b, name);
	if (force)
		buf_adds(&b, "?force=1");
	return simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

/* POSTs path b (freed) on a call c already set up for a JSON stream. */
static int json_start(struct call *c, struct buf *b, const char *ctype, const char *auth)
{
	int rc;
	c->mode = M_JSON;
	buf_adds(b, "");
	rc = call_start(c, "POST", b->data, ctype, NULL, auth);
	buf_free(b);
	return rc;
}

static int json_stream(struct docker *d, struct buf *b, const char *ctype, docker_read_fn rd,
                       void *rdarg, const char *auth, docker_output_fn out, void *outarg,
                       docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	c->rd = rd;
	c->rdarg = rdarg;
	c->out = out;
	c->outarg = outarg;
	return json_start(c, b, ctype, auth);
}

int docker_image_pull(struct docker *d, const char *ref, docker_cb cb, void *arg)
{
	return docker_image_pull_auth(d, ref, NULL, NULL, NULL, cb, arg);
}

/* A pull or push with X-Registry-Auth and a status watcher. */
static int registry_stream(struct docker *d, struct buf *b, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	c->status = status;
	c->statusarg = statusarg;
	return json_start(c, b, NULL, auth_b64 && *auth_b64 ? auth_b64 : NO_AUTH);
}

int docker_image_push(struct docker *d, const char *repo, const char *tag, const char *auth_b64,
                      docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	pesc(&b, repo);
	buf_adds(&b, "/push");
	if (tag) {
		buf_adds(&b, "?tag=");
		qesc(&b, tag);
	}
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}

int docker_image_import(struct docker *d, const char *repo, const char *tag, docker_read_fn rd,
                        void *rdarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/create?fromSrc=-");
	if (repo) {
		buf_adds(&b, "&repo=");
		qesc(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		qesc(&b, tag);
	}
	return json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, NULL, NULL, cb, arg);
}

int docker_build(struct docker *d, const char *query, docker_read_fn rd, void *rdarg,
                 docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/build");
	if (query && *query)
		buf_printf(&b, "?%s", query);
	return json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, out, outarg, cb, arg);
}

/* ---- containers ---- */

static void add_labels(cJSON *o, char **k, char **v, size_t n)
{
	cJSON *l = cJSON_AddObjectToObject(o, "Labels");
	for (size_t i = 0; i < n; i++)
		cJSON_AddStringToObject(l, k[i], v[i]);
}

/* The image-config part of a spec: shared by create and commit. */
static void add_config(cJSON *o, const struct docker_spec *s, int commit)
{
	char port[32];
	if (s->cmd_set)
		cJSON_AddItemToObject(o, "Cmd", str_array(s->cmd, s->ncmd));
	if (s->entrypoint_set)
		/* [] (not null) clears the image's entrypoint in a create. */
		cJSON_AddItemToObject(o, "Entrypoint", str_array(s->entrypoint, s->nentrypoint));
	if (s->nenv || !commit)
		cJSON_AddItemToObject(o, "Env", str_array(s->env, s->nenv));
	if (s->workdir)
		cJSON_AddStringToObject(o, "WorkingDir", s->workdir);
	if (s->user)
		cJSON_AddStringToObject(o, "User", s->user);
	if (s->nexpose || s->nports) {
		cJSON *e = cJSON_AddObjectToObject(o, "ExposedPorts");
		for (size_t i = 0; i < s->nexpose; i++) {
			snprintf(port, sizeof port, "%d/tcp", s->expose[i]);
			if (!cJSON_GetObjectItemCaseSensitive(e, port))
				cJSON_AddObjectToObject(e, port);
		}
		for (size_t i = 0; !commit && i < s->nports; i++) {
			snprintf(port, sizeof port, "%d/%s", s->ports[i].container_port,
			         s->ports[i].proto ? s->ports[i].proto : "tcp");
			if (!cJSON_GetObjectItemCaseSensitive(e, port))
				cJSON_AddObjectToObject(e, port);
		}
	}
	if (s->nlabels)
		add_labels(o, s->label_k, s->label_v, s->nlabels);
}

int docker_container_create(struct docker *d, const struct docker_spec *s, docker_cb cb, void *arg)
{
	cJSON *o = cJSON_CreateObject(), *hc, *ms, *pb;
	struct buf b = {0};
	char port[32], hp[16];
	char *body;
	int rc;

	if (s->image)
		cJSON_AddStringToObject(o, "Image", s->image);
	add_config(o, s, 0);
	if (s->stop_timeout >= 0)
		cJSON_AddNumberToObject(o, "StopTimeout", s->stop_timeout);
	hc = cJSON_AddObjectToObject(o, "HostConfig");
	if (s->nmounts) {
		ms = cJSON_AddArrayToObject(hc, "Mounts");
		for (size_t i = 0; i < s->nmounts; i++) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "Type", s->mounts[i].type ? s->mounts[i].type : "volume");
			if (s->mounts[i].source)
				cJSON_AddStringToObject(m, "Source", s->mounts[i].source);
			cJSON_AddStringToObject(m, "Target", s->mounts[i].target ? s->mounts[i].target : "");
			if (s->mounts[i].readonly)
				cJSON_AddTrueToObject(m, "ReadOnly");
			cJSON_AddItemToArray(ms, m);
		}
	}
	if (s->nports) {
		pb = cJSON_AddObjectToObject(hc, "PortBindings");
		for (size_t i = 0; i < s->nports; i++) {
			const struct docker_port *p = &s->ports[i];
			cJSON *arr, *bind = cJSON_CreateObject();
			snprintf(port, sizeof port, "%d/%s", p->container_port, p->proto ? p->proto : "tcp");
			arr = cJSON_GetObjectItemCaseSensitive(pb, port);
			if (!arr)
				arr = cJSON_AddArrayToObject(pb, port);
			cJSON_AddStringToObject(bind, "HostIp", p->host_ip ? p->host_ip : "");
			snprintf(hp, sizeof hp, "%d", p->host_port);
			cJSON_AddStringToObject(bind, "HostPort", p->host_port ? hp : "");
			cJSON_AddItemToArray(arr, bind);
		}
	}
	if (s->network)
		cJSON_AddStringToObject(hc, "NetworkMode", s->network);
	if (s->init)
		cJSON_AddBoolToObject(hc, "Init", 1);
	{
		cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
		cJSON_AddStringToObject(rp, "Name", s->restart ? s->restart : "no");
	}
	if (s->network) {
		cJSON *nc = cJSON_AddObjectToObject(o, "NetworkingConfig");
		cJSON *ec = cJSON_AddObjectToObject(nc, "EndpointsConfig");
		cJSON *ep = cJSON_AddObjectToObject(ec, s->network);
		if (s->naliases)
			cJSON_AddItemToObject(ep, "Aliases", str_array(s->aliases, s->naliases));
	}
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	buf_adds(&b, "/containers/create");
	if (s->name) {
		buf_adds(&b, "?name=");
		qesc(&b, s->name);
	}
	buf_adds(&b, "");
	rc = simple(d, K_ID, "POST", &b, "application/json", body, cb, arg);
	cJSON_free(body);
	return rc;
}

static int container_op(struct docker *d, enum kind k, const char *method, const char *id,
                        const char *op, const char *query, long ok_extra, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, k, cb, arg);
	int rc;
	c->ok_extra = ok_extra;
	buf_adds(&b, "/containers/");
	pesc(&b, id);
	buf_adds(&b, op);
	if (query)
		buf_adds(&b, query);
	rc = call_start(c, method, b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* 304 "already started" counts as success: the state asked for holds. */
int docker_container_start(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_PLAIN, "POST", id, "/start", NULL, 304, cb, arg);
}

int docker_container_wait(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_WAIT, "POST", id, "/wait", NULL, 0, cb, arg);
}

int docker_container_logs(struct docker *d, const char *id, int follow, long since, int tail,
                          docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct buf b = {0}, q = {0};
	struct call *c = call_new(d, follow && tail <= 0 ? K_LOGS : K_PLAIN, cb, arg);
	int rc;
	c->mode = M_MUX;
	c->out = out;
	c->outarg = outarg;
	buf_adds(&q, "/containers/");
	pesc(&q, id);
	buf_adds(&q, "/logs?stdout=1&stderr=1");
	if (since > 0)
		buf_printf(&q, "&since=%ld", since);
	if (tail > 0)
		buf_printf(&q, "&tail=%d", tail);
	buf_printf(&b, "%s&follow=%d", q.data, follow ? 1 : 0);
	c->query = buf_take(&q); /* the catch-up read: same range, no follow */
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* 304 "already stopped" counts as success. */
int docker_container_stop(struct docker *d, const char *id, int timeout_s, docker_cb cb, void *arg)
{
	char q[32] = "";
	if (timeout_s >= 0)
		snprintf(q, sizeof q, "?t=%d", timeout_s);
	return container_op(d, K_PLAIN, "POST", id, "/stop", q, 304, cb, arg);
}

int docker_container_kill(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_PLAIN, "POST", id, "/kill", NULL, 0, cb, arg);
}

int docker_container_remove(struct docker *d, const char *id, int force, int volumes,
                            docker_cb cb, void *arg)
{
	char q[32];
	snprintf(q, sizeof q, "?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
	return container_op(d, K_PLAIN, "DELETE", id, "", q, 0, cb, arg);
}

int docker_container_inspect(struct docker *d, const char *id, const char *network,
                             docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_CONTAINER, cb, arg);
	int rc;
	c->network = network ? xstrdup(network) : NULL;
	buf_adds(&b, "/containers/");
	pesc(&b, id);
	buf_adds(&b, "/json");
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

int docker_container_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/containers/json?all=1");
	add_label_filter(&b, label, '&');
	return simple(d, K_CONTAINERS, "GET", &b, NULL, NULL, cb, arg);
}

/* Commit merges the request's config with the *container's* (the engine's
 * merge(): an empty Cmd takes the container's, i.e. the step's command). So
 * "inherit" (cmd_set == 0) is resolved here: the parent image's Cmd and
 * Entrypoint are read and sent explicitly. Steps: 0 container inspect (only
 * when spec->image does not name the parent), 1 image inspect, 2 commit. */
static void commit_send(struct call *c)
{
	char *body = cJSON_PrintUnformatted(c->config);
	c->step = 2;
	call_next(c, "POST", c->query, "application/json", body);
	cJSON_free(body);
}

static void commit_parent(struct call *c, const char *image)
{
	struct buf b = {0};
	c->step = 1;
	buf_adds(&b, "/images/");
	pesc(&b, image);
	buf_adds(&b, "/json");
	call_next(c, "GET", b.data, NULL, NULL);
	buf_free(&b);
}

static void finish_commit(struct call *c, cJSON *j, struct docker_result *res)
{
	const cJSON *cfg, *v;
	switch (c->step) {
	case 0:
		if (!j || !jstr(j, "Image")) {
			fail(c, res->status, "engine: container %s has no image", c->id);
			return;
		}
		commit_parent(c, jstr(j, "Image"));
		return;
	case 1:
		cfg = j ? jobj(j, "Config") : NULL;
		v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint") : NULL;
		if (c->need_entrypoint && cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
			cJSON_AddItemToObject(c->config, "Entrypoint", cJSON_Duplicate(v, 1));
		v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Cmd") : NULL;
		if (c->need_cmd && cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
			cJSON_AddItemToObject(c->config, "Cmd", cJSON_Duplicate(v, 1));
		commit_send(c);
		return;
	default:
		if (j && jstr(j, "Id"))
			res->id = jstr(j, "Id");
		complete(c, res);
	}
}

int docker_commit(struct docker *d, const char *id, const char *repo, const char *tag,
                  const struct docker_spec *config, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_COMMIT, cb, arg);
	struct buf b = {0};
	char *body;
	int rc;

	c->id = xstrdup(id);
	c->config = cJSON_CreateObject();
	if (config)
		add_config(c->config, config, 1);
	c->need_cmd = !config || !config->cmd_set;
	c->need_entrypoint = !config || !config->entrypoint_set;
	buf_adds(&b, "/commit?container=");
	qesc(&b, id);
	if (repo) {
		buf_adds(&b, "&repo=");
		qesc(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		qesc(&b, tag);
	}
	c->query = buf_take(&b);
	if (!c->need_cmd && !c->need_entrypoint) {
		c->step = 2;
		body = cJSON_PrintUnformatted(c->config);
		rc = call_start(c, "POST", c->query, "application/json", body, NULL);
		cJSON_free(body);
		return rc;
	}
	if (config && config->image) {
		c->step = 1;
		buf_adds(&b, "/images/");
		pesc(&b, config->image);
		buf_adds(&b, "/json");
	} else {
		buf_adds(&b, "/containers/");
		pesc(&b, id);
		buf_adds(&b, "/json");
	}
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

int docker_archive_put(struct docker *d, const char *id, const char *path, docker_read_fn rd,
                       void *rdarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	int rc;
	c->rd = rd;
	c->rdarg = rdarg;
	buf_adds(&b, "/containers/");
	pesc(&b, id);
	buf_adds(&b, "/archive?path=");
	qesc(&b, path);
	rc = call_start(c, "PUT", b.data, "application/x-tar", NULL, NULL);
	buf_free(&b);
	return rc;
}

int docker_archive_get(struct docker *d, const char *id, const char *path, docker_data_fn data,
                       void *dataarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	int rc;
	c->mode = M_RAW;
	c->data = data;
	c->dataarg = dataarg;
	buf_adds(&b, "/containers/");
	pesc(&b, id);
	buf_adds(&b, "/archive?path=");
	qesc(&b, path);
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* ---- exec: create (0), start attached (1), inspect (2, repeated while the
 * engine still reports it running: the stream can end just before the exit
 * is recorded) ---- */

static void exec_inspect(struct call *c)
{
	char *p = xasprintf("/exec/%s/json", c->id);
	c->step = 2;
	call_next(c, "GET", p, NULL, NULL);
	free(p);
}

static void finish_exec(struct call *c, cJSON *j, struct docker_result *res)
{
	char *p;
	const cJSON *running;
	switch (c->step) {
	case 0:
		if (!j || !jstr(j, "Id")) {
			fail(c, res->status, "engine: exec create returned no Id");
			return;
		}
		c->id = xstrdup(jstr(j, "Id"));
		p = xasprintf("/exec/%s/start", c->id);
		c->step = 1;
		c->mode = M_MUX;
		if (call_send(c, "POST", p, "application/json", "{\"Detach\":false,\"Tty\":false}", NULL) < 0)
			fail(c, 0, "engine: cannot start a request to %s", c->d->host);
		free(p);
		return;
	case 1:
		exec_inspect(c);
		return;
	default:
		running = j ? cJSON_GetObjectItemCaseSensitive(j, "Running") : NULL;
		if (cJSON_IsTrue(running) && c->tries++ < 200) {
			exec_inspect(c);
			return;
		}
		res->id = c->id;
		res->exit_code = j ? (long)jnum(j, "ExitCode") : -1;
		complete(c, res);
	}
}

int docker_exec(struct docker *d, const char *id, char **argv, size_t argc,
                docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_EXEC, cb, arg);
	cJSON *o = cJSON_CreateObject();
	char *body, *p;
	struct buf b = {0};
	int rc;

	c->out = out;
	c->outarg = outarg;
	cJSON_AddItemToObject(o, "Cmd", str_array(argv, argc));
	cJSON_AddTrueToObject(o, "AttachStdout");
	cJSON_AddTrueToObject(o, "AttachStderr");
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	buf_adds(&b, "/containers/");
	pesc(&b, id);
	buf_adds(&b, "/exec");
	p = buf_take(&b);
	rc = call_start(c, "POST", p, "application/json", body, NULL);
	free(p);
	cJSON_free(body);
	return rc;
}

/* ---- networks and volumes ---- */

static char *named_body(const char *name, const char *lk, const char *lv, int network)
{
	cJSON *o = cJSON_CreateObject();
	char *s, *r;
	cJSON_AddStringToObject(o, "Name", name);
	if (network)
		cJSON_AddTrueToObject(o, "CheckDuplicate");
	if (lk) {
		cJSON *l = cJSON_AddObjectToObject(o, "Labels");
		cJSON_AddStringToObject(l, lk, lv ? lv : "");
	}
	s = cJSON_PrintUnformatted(o);
	r = xstrdup(s);
	cJSON_free(s);
	cJSON_Delete(o);
	return r;
}

int docker_network_create(struct docker *d, const char *name, const char *label_k,
                          const char *label_v, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_ID, cb, arg);
	char *body = named_body(name, label_k, label_v, 1);
	int rc;
	c->exists_ok = 1;
	rc = call_start(c, "POST", "/networks/create", "application/json", body, NULL);
	free(body);
	return rc;
}

int docker_network_remove(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/networks/");
	pesc(&b, name);
	return simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

int docker_volume_create(struct docker *d, const char *name, const char *label_k,
                         const char *label_v, docker_cb cb, void *arg)
{
	char *body = named_body(name, label_k, label_v, 0);
	struct buf b = {0};
	int rc;
	buf_adds(&b, "/volumes/create");
	rc = simple(d, K_PLAIN, "POST", &b, "application/json", body, cb, arg);
	free(body);
	return rc;
}

int docker_volume_remove(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/volumes/");
	pesc(&b, name);
	return simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

int docker_volume_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/volumes");
	add_label_filter(&b, label, '?');
	return simple(d, K_VOLUMES, "GET", &b, NULL, NULL, cb, arg);
}

/* ---- registry credentials (for registry.c) ---- */

int docker_image_pull_auth(struct docker *d, const char *ref, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/create?fromImage=");
	qesc(&b, ref);
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}

/* Standard base64 ("+/") in, bytes out; NULL on a bad character. */
static char *b64_decode(const char *s, size_t *outlen)
{
	struct buf b = {0};
	unsigned v = 0;
	int bits = 0;
	for (; *s && *s != '='; s++) {
		const char *p;
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		if (isspace((unsigned char)*s))
			continue;
		if (*s == '-' || *s == '_') /* tolerate the URL alphabet */
			p = al + (*s == '-' ? 62 : 63);
		else if (!(p = strchr(al, *s))) {
			buf_free(&b);
			return NULL;
		}
		v = (v << 6) | (unsigned)(p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(&b, (char)((v >> bits) & 0xff));
		}
	}
	buf_adds(&b, "");
	*outlen = b.len;
	return buf_take(&b);
}

/* base64url with padding, as the engine decodes X-Registry-Auth. */
static char *b64url_encode(const char *in, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = (const unsigned char *)in;
	struct buf b = {0};
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		buf_addc(&b, al[v >> 18]);
		buf_addc(&b, al[(v >> 12) & 63]);
		buf_addc(&b, al[(v >> 6) & 63]);
		buf_addc(&b, al[v & 63]);
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
		buf_addc(&b, al[v >> 18]);
		buf_addc(&b, al[(v >> 12) & 63]);
		buf_addc(&b, i + 1 < n ? al[(v >> 6) & 63] : '=');
		buf_addc(&b, '=');
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

/* "https://host:port/v1/" -> "host:port" (malloc'd). */
static char *auth_key_host(const char *k)
{
	const char *p = strstr(k, "://");
	p = p ? p + 3 : k;
	return xstrndup(p, strcspn(p, "/"));
}

int docker_auth_for(const char *host, char **user, char **password, char **identitytoken, char **err)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	char *path, *text, *def = NULL;
	const cJSON *auths, *e, *found = NULL;
	cJSON *j;
	size_t len;
	int rc = 0;

	*user = *password = *identitytoken = NULL;
	*err = NULL;
	if (!dir || !*dir)
		dir = def = xasprintf("%s/.docker", home ? home : "");
	path = path_join(dir, "config.json");
	free(def);
	text = read_file(path, &len);
	if (!text) {
		free(path);
		return 0; /* no config: anonymous */
	}
	j = cJSON_ParseWithLength(text, len);
	free(text);
	if (!j) {
		*err = xasprintf("%s: not valid JSON", path);
		free(path);
		return -1;
	}
	auths = jobj(j, "auths");
	cJSON_ArrayForEach(e, auths)
	{
		char *h;
		if (!e->string || !cJSON_IsObject(e))
			continue;
		h = auth_key_host(e->string);
		if (strcmp(h, host) == 0)
			found = e;
		free(h);
		if (found)
			break;
	}
	if (found) {
		const char *a = jstr(found, "auth"), *u = jstr(found, "username"), *pw = jstr(found, "password"),
		           *it = jstr(found, "identitytoken");
		if (a && *a) {
			size_t n;
			char *dec = b64_decode(a, &n), *colon = dec ? memchr(dec, ':', n) : NULL;
			if (!colon) {
				*err = xasprintf("%s: auths[\"%s\"].auth is not base64 of user:password", path,
				                 found->string);
				free(dec);
				rc = -1;
			} else {
				*user = xstrndup(dec, (size_t)(colon - dec));
				*password = xstrdup(colon + 1);
				free(dec);
				rc = 1;
			}
		} else if (u && *u && pw) {
			*user = xstrdup(u);
			*password = xstrdup(pw);
			rc = 1;
		}
		if (rc >= 0 && it && *it) {
			*identitytoken = xstrdup(it);
			rc = 1;
		}
	}
	cJSON_Delete(j);
	free(path);
	return rc;
}

char *docker_auth_header(const char *user, const char *password, const char *identitytoken,
                         const char *server)
{
	cJSON *o;
	char *s, *enc;
	if (!user && !password && !identitytoken)
		return xstrdup(NO_AUTH);
	o = cJSON_CreateObject();
	if (identitytoken)
		cJSON_AddStringToObject(o, "identitytoken", identitytoken);
	else {
		cJSON_AddStringToObject(o, "username", user ? user : "");
		cJSON_AddStringToObject(o, "password", password ? password : "");
	}
	if (server)
		cJSON_AddStringToObject(o, "serveraddress", server);
	s = cJSON_PrintUnformatted(o);
	enc = b64url_encode(s, strlen(s));
	cJSON_free(s);
	cJSON_Delete(o);
	return enc;
}

char *docker_token_parse(const char *body, size_t len, long *expires_in)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *t = j ? jstr(j, "token") : NULL;
	char *s;
	if (!t || !*t)
		t = j ? jstr(j, "access_token") : NULL;
	s = t && *t ? xstrdup(t) : NULL;
	*expires_in = j && jnum(j, "expires_in") > 0 ? (long)jnum(j, "expires_in") : 60;
	cJSON_Delete(j);
	return s;
}

/* ---- where the engine is ---- */

int docker_remote(const struct docker *d)
{
	return http_remote(d->h);
}
