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
	http_escape(b, s);
	cJSON_free(s);
	cJSON_Delete(f);
}

static char *jdup(const cJSON *o, const char *k)
{
	const char *s = jstr(o, k);
	return s ? xstrdup(s) : NULL;
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
	/* fields in range, years that nanoseconds since 1970 can hold */
	if (tm.tm_year < 1970 || tm.tm_year > 2261 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
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

/* What to do about an engine message whose cause is known but not said:
 * Podman's differences from Docker (docs/remote.md, "Podman"). "" if none. */
static const char *engine_hint(const char *m)
{
	if (strstr(m, "error setting rlimit"))
		return " [the engine's default ulimits exceed what its runtime may set here"
		       " (no CAP_SYS_RESOURCE): lower default_ulimits in containers.conf"
		       " (Podman) or the engine's own limits]";
	if (strstr(m, "catatonit") || strstr(m, "container-init binary not found"))
		return " [init = true on Podman needs catatonit: install the Debian package"
		       " catatonit (Podman 4.3 ignores init_path over the Docker API)]";
	if (strstr(m, "server gave HTTP response to HTTPS client"))
		return " [a plain-HTTP registry: Podman, unlike Docker, does not treat loopback"
		       " registries as insecure; add it to registries.conf with insecure = true]";
	return "";
}

/* What an engine wrote, for a terminal: control characters (ANSI escapes,
 * newlines) as '?'; longer than ENGINE_MSG_MAX bytes, its first
 * ENGINE_MSG_HEAD and last ENGINE_MSG_MAX - ENGINE_MSG_HEAD bytes around an
 * ellipsis (the cause is often last: "...: address already in use", which
 * svc_gone looks for). */
enum { ENGINE_MSG_MAX = 300, ENGINE_MSG_HEAD = 200 };
static void engine_text_add(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf_addc(b, ch < 0x20 || ch == 0x7f ? '?' : s[i]);
	}
}

static char *engine_text(const char *s, size_t n)
{
	struct buf b = {0};

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n <= ENGINE_MSG_MAX)
		engine_text_add(&b, s, n);
	else {
		size_t h = ENGINE_MSG_HEAD, t = n - (ENGINE_MSG_MAX - ENGINE_MSG_HEAD);
		while (h > 0 && ((unsigned char)s[h] & 0xc0) == 0x80) /* no half character */
			h--;
		while (t < n && ((unsigned char)s[t] & 0xc0) == 0x80)
			t++;
		engine_text_add(&b, s, h);
		buf_adds(&b, "\xe2\x80\xa6"); /* U+2026 */
		engine_text_add(&b, s + t, n - t);
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

/* "engine: <message> (<status>)" from an error body. */
static char *engine_error(long status, const char *body, size_t len)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *m = j ? jstr(j, "message") : NULL;
	char *s, *t = NULL;
	if (m)
		s = xasprintf("engine: %s (%ld)%s", t = engine_text(m, strlen(m)), status, engine_hint(m));
	else if (body && len)
		s = xasprintf("engine: %s (%ld)", t = engine_text(body, len), status);
	else
		s = xasprintf("engine: HTTP status %ld", status);
	free(t);
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

/* A reference as Docker shows it: Podman names every image by its full
 * reference ("docker.io/library/graphbuild-cache:KEY", "docker.io/user/x"),
 * Docker shortens both. The one place replies' references are normalised,
 * so every consumer can match "graphbuild-cache:". Returns a new string. */
static char *ref_normalise(const char *r)
{
	static const char lib[] = "docker.io/library/", hub[] = "docker.io/";
	if (!strncmp(r, lib, sizeof lib - 1) && r[sizeof lib - 1])
		return xstrdup(r + sizeof lib - 1);
	if (!strncmp(r, hub, sizeof hub - 1) && r[sizeof hub - 1])
		return xstrdup(r + sizeof hub - 1);
	return xstrdup(r);
}

static void parse_image(const cJSON *j, struct docker_image *im, int inspect)
{
	const cJSON *cfg = inspect ? jobj(j, "Config") : j;
	const cJSON *labels = cfg ? jobj(cfg, "Labels") : NULL;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "RepoTags"), *t;

	im->id = jdup(j, "Id");
	im->key = labels ? jdup(labels, "graphbuild.key") : NULL;
	im->node = labels ? jdup(labels, "graphbuild.node") : NULL;
	if (inspect && cfg) {
		im->workdir = jdup(cfg, "WorkingDir");
		im->user = jdup(cfg, "User");
	}
	im->parent = jdup(j, inspect ? "Parent" : "ParentId");
	if (im->parent && !*im->parent) {
		free(im->parent);
		im->parent = NULL;
	}
	im->tags = xcalloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof *im->tags);
	cJSON_ArrayForEach(t, tags) if (cJSON_IsString(t) && strcmp(t->valuestring, "<none>:<none>"))
		im->tags[im->ntags++] = ref_normalise(t->valuestring);
	if (inspect) {
		im->created_ns = parse_time_ns(jstr(j, "Created"));
		im->created = im->created_ns / 1000000000LL;
	} else {
		im->created = jnum(j, "Created");
		/* beyond year 2262 nanoseconds overflow: no usable time */
		im->created_ns =
			im->created > 0 && im->created < INT64_MAX / 1000000000LL ? im->created * 1000000000LL : 0;
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
			int v6 = ip && strchr(ip, ':'); /* "[::1]:9000", as the docker CLI writes it */
			buf_printf(&b, "%s%s%s%s:%s->%s", b.len ? ", " : "", v6 ? "[" : "", ip && *ip ? ip : "0.0.0.0",
			           v6 ? "]" : "", hp ? hp : "", p->string);
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
		if (pub && ip && strchr(ip, ':'))
			buf_printf(&b, "[%s]:%lld->", ip, pub);
		else if (pub)
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
		fail(c, 0, "engine: cannot start a request to %s", c->d->host);
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
		fail(c, 0, "cancelled");
		return;
	}
	if (r->fail == HTTP_FAIL_CLOSED) {
		/* curl says "transfer closed with outstanding read data
		 * remaining": say what happened instead */
		fail(c, r->status, "the Docker engine at %s went away (the connection closed mid-request)", c->d->host);
		return;
	}
	if (r->fail == HTTP_FAIL_TIMEOUT) {
		fail(c, r->status, "the Docker engine at %s: %s", c->d->host, r->error);
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
			char *t = engine_text(c->stream_err, strlen(c->stream_err));
			fail(c, r->status, "engine: %s%s", t, engine_hint(c->stream_err));
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
			fail(c, r->status, "engine: malformed reply to %s: %s", c->what, bad);
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
	http_escape(&b, repo);
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
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
		http_escape(&b, tag);
	}
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}

/* Podman 4.3's import ignores `tag` and names the image REPO:latest: the
 * import is followed by a tag of its ID as REPO:TAG and an untag (never a
 * removal) of REPO:latest from that ID. The caller sees one import. */
struct import_fix {
	struct docker *d;
	char *repo, *tag, *id;
	docker_cb cb;
	void *arg;
};

static void import_fix_done(struct import_fix *f, const struct docker_result *r)
{
	struct docker_result res = {0};
	if (!r) {
		res.ok = 1;
		res.id = f->id;
		res.exit_code = -1;
		r = &res;
	}
	f->cb(f->arg, r);
	free(f->repo);
	free(f->tag);
	free(f->id);
	free(f);
}

static void on_import_untagged(void *arg, const struct docker_result *r)
{
	(void)r; /* a REPO:latest left behind is only clutter */
	import_fix_done(arg, NULL);
}

static void on_import_tagged(void *arg, const struct docker_result *r)
{
	struct import_fix *f = arg;
	struct buf b = {0};
	if (!r->ok)
		return import_fix_done(f, r);
	buf_adds(&b, "/libpod/images/");
	pesc(&b, f->id);
	buf_adds(&b, "/untag?repo=");
	{
		/* the libpod API takes the full name the compat import gave */
		const char *sl = strchr(f->repo, '/');
		char *full;
		if (!sl)
			full = xasprintf("docker.io/library/%s", f->repo);
		else if (!memchr(f->repo, '.', (size_t)(sl - f->repo)) &&
		         !memchr(f->repo, ':', (size_t)(sl - f->repo)) && strncmp(f->repo, "localhost/", 10))
			full = xasprintf("docker.io/%s", f->repo);
		else
			full = xstrdup(f->repo);
		http_escape(&b, full);
		free(full);
	}
	buf_adds(&b, "&tag=latest");
	if (simple(f->d, K_PLAIN, "POST", &b, NULL, NULL, on_import_untagged, f) < 0)
		import_fix_done(f, NULL);
}

static void on_import_podman(void *arg, const struct docker_result *r)
{
	struct import_fix *f = arg;
	if (!r->ok || !r->id)
		return import_fix_done(f, r);
	f->id = xstrdup(r->id);
	if (docker_image_tag(f->d, f->id, f->repo, f->tag, on_import_tagged, f) < 0) {
		struct docker_result res = {.error = "engine: cannot start a request", .exit_code = -1};
		import_fix_done(f, &res);
	}
}

int docker_image_import(struct docker *d, const char *repo, const char *tag, docker_read_fn rd,
                        void *rdarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	if (d->podman && repo && tag && strcmp(tag, "latest")) {
		struct import_fix *f = xcalloc(1, sizeof *f);
		int rc;
		f->d = d;
		f->repo = xstrdup(repo);
		f->tag = xstrdup(tag);
		f->cb = cb;
		f->arg = arg;
		buf_adds(&b, "/images/create?fromSrc=-&repo=");
		http_escape(&b, repo);
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
		rc = json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, NULL, NULL, on_import_podman, f);
		if (rc < 0) {
			free(f->repo);
			free(f->tag);
			free(f);
		}
		return rc;
	}
	buf_adds(&b, "/images/create?fromSrc=-");
	if (repo) {
		buf_adds(&b, "&repo=");
		http_escape(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
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

/* HostConfig.Ulimits for nofile and nproc at our own hard limits, capped at
 * what Podman 4.3 keeps for itself (it lowers its own nproc to 32768, and its
 * runtime inherits that). Rootful Podman writes 1048576 for both into every
 * spec; where the runtime lacks CAP_SYS_RESOURCE (a container, a CI sandbox)
 * it may not raise a limit above its own hard one and every start fails
 * "error setting rlimit". Docker's containers inherit dockerd's limits, which
 * sit at or above these on a normal host. nproc does not bind root. */
static void add_ulimits(cJSON *hc)
{
	static const struct { int res; const char *name; rlim_t cap; } lim[] = {
		{RLIMIT_NOFILE, "nofile", 1048576},
		{RLIMIT_NPROC, "nproc", 32768},
	};
	cJSON *arr = NULL;
	for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		struct rlimit rl;
		if (getrlimit(lim[i].res, &rl) != 0)
			continue;
		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > lim[i].cap)
			rl.rlim_max = lim[i].cap;
		if (!arr)
			arr = cJSON_AddArrayToObject(hc, "Ulimits");
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "Name", lim[i].name);
		cJSON_AddNumberToObject(u, "Soft", (double)rl.rlim_max);
		cJSON_AddNumberToObject(u, "Hard", (double)rl.rlim_max);
		cJSON_AddItemToArray(arr, u);
	}
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
	add_ulimits(hc);
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
		http_escape(&b, s->name);
	}
	buf_adds(&b, "");
	{
		/* A create is let finish when its owner is cancelled: the engine
		 * goes on making the container after the client hangs up, where no
		 * sweep would see it yet; answered, the owner removes what it got. */
		struct call *c = call_new(d, K_ID, cb, arg);
		c->keep = 1;
		rc = call_start(c, "POST", b.data, "application/json", body, NULL);
		buf_free(&b);
	}
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
	c->id = xstrdup(id);
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	if (rc == 0 && c->kind == K_LOGS) {
		c->fnext = d->follows;
		d->follows = c;
	}
	return rc;
}

static void settle_arm(struct docker *d);

static void on_settle(uv_timer_t *t)
{
	struct docker *d = t->data;
	uint64_t now = uv_now(d->loop);
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->settle_at && c->settle_at <= now && !c->settled && c->req) {
			c->settled = 1;
			http_cancel(c->req); /* done comes from the loop: catch-up read */
		}
	settle_arm(d);
}

/* Arms the timer for the earliest grace still running. */
static void settle_arm(struct docker *d)
{
	uint64_t first = 0, now = uv_now(d->loop);
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->settle_at && !c->settled && (!first || c->settle_at < first))
			first = c->settle_at;
	if (!first) {
		if (d->settle)
			uv_timer_stop(d->settle);
		return;
	}
	if (!d->settle) {
		d->settle = xcalloc(1, sizeof *d->settle);
		uv_timer_init(d->loop, d->settle);
		d->settle->data = d;
		uv_unref((uv_handle_t *)d->settle); /* the request keeps the loop alive */
	}
	uv_timer_start(d->settle, on_settle, first > now ? first - now : 0, 0);
}

void docker_logs_settle(struct docker *d, const char *id, unsigned grace_ms)
{
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->id && !strcmp(c->id, id) && !c->settle_at)
			c->settle_at = uv_now(d->loop) + grace_ms;
	settle_arm(d);
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

/* One Dockerfile-style value in double quotes for a commit change. Docker
 * unescapes \\ \" \$ inside quotes (and expands $VAR); Podman 4.3 only
 * strips the outer quotes. Returns 0 for a value no single line can carry. */
static int change_value(struct buf *b, const char *v, int podman)
{
	if (strchr(v, '\n') || strchr(v, '\r') || (podman && strchr(v, '"')))
		return 0;
	buf_addc(b, '"');
	for (; *v; v++) {
		if (!podman && (*v == '\\' || *v == '"' || *v == '$'))
			buf_addc(b, '\\');
		buf_addc(b, *v);
	}
	buf_addc(b, '"');
	return 1;
}

/* One "&changes=" query parameter from a line. */
static void change_add(struct buf *q, struct buf *line)
{
	buf_adds(line, "");
	buf_adds(q, "&changes=");
	http_escape(q, line->data);
	line->len = 0;
}

/* The commit config again as `changes` query parameters (CMD, ENTRYPOINT,
 * ENV, WORKDIR, USER, EXPOSE, LABEL): Podman 4.3 ignores the /commit body,
 * Docker applies both (changes after the body, the same values). */
static void commit_changes(struct buf *q, const cJSON *cfg, int podman)
{
	struct buf l = {0};
	const cJSON *v, *it;
	char *js;
	static const char *const arrays[] = {"Cmd", "CMD ", "Entrypoint", "ENTRYPOINT "};
	for (size_t i = 0; i < 4; i += 2) {
		v = cJSON_GetObjectItemCaseSensitive(cfg, arrays[i]);
		if (!cJSON_IsArray(v))
			continue;
		js = cJSON_PrintUnformatted(v);
		buf_adds(&l, arrays[i + 1]);
		buf_adds(&l, js);
		cJSON_free(js);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "Env");
	cJSON_ArrayForEach(it, v)
	{
		const char *e = cJSON_IsString(it) ? it->valuestring : NULL, *eq;
		if (!e || !(eq = strchr(e, '=')) || eq == e)
			continue;
		buf_printf(&l, "ENV %.*s=", (int)(eq - e), e);
		if (change_value(&l, eq + 1, podman))
			change_add(q, &l);
		l.len = 0;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "WorkingDir")) && cJSON_IsString(v) && *v->valuestring) {
		buf_printf(&l, "WORKDIR %s", v->valuestring);
		change_add(q, &l);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "User")) && cJSON_IsString(v) && *v->valuestring) {
		buf_printf(&l, "USER %s", v->valuestring);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "ExposedPorts");
	cJSON_ArrayForEach(it, v)
	{
		buf_printf(&l, "EXPOSE %s", it->string);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it))
			continue;
		buf_printf(&l, "LABEL %s=", it->string);
		if (change_value(&l, it->valuestring, podman))
			change_add(q, &l);
		l.len = 0;
	}
	buf_free(&l);
}

/* The commit request: the query with its changes, the body. */
static int commit_post(struct call *c, int first)
{
	struct buf q = {0};
	char *body = cJSON_PrintUnformatted(c->config);
	int rc = 0;
	buf_adds(&q, c->query);
	commit_changes(&q, c->config, c->d->podman);
	buf_adds(&q, "");
	c->step = 2;
	if (first)
		rc = call_start(c, "POST", q.data, "application/json", body, NULL);
	else
		call_next(c, "POST", q.data, "application/json", body);
	cJSON_free(body);
	buf_free(&q);
	return rc;
}

/* Commit merges the request's config with the *container's* (the engine's
 * merge(): an empty Cmd takes the container's, i.e. the step's command). So
 * "inherit" (cmd_set == 0) is resolved here: the parent image's Cmd and
 * Entrypoint are read and sent explicitly. Steps: 0 container inspect (only
 * when spec->image does not name the parent), 1 image inspect, 2 commit. */
static void commit_send(struct call *c)
{
	commit_post(c, 0);
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
	default: {
		/* Podman answers the bare hex; Docker (and every other reply
		 * here) "sha256:<hex>": the caller compares them. */
		char *full = NULL;
		const char *id = j ? jstr(j, "Id") : NULL;
		if (id && strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64)
			id = full = xasprintf("sha256:%s", id);
		if (id)
			res->id = id;
		complete(c, res);
		free(full);
	}
	}
}

int docker_commit(struct docker *d, const char *id, const char *repo, const char *tag,
                  const struct docker_spec *config, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_COMMIT, cb, arg);
	struct buf b = {0};
	int rc;

	c->id = xstrdup(id);
	c->config = cJSON_CreateObject();
	if (config)
		add_config(c->config, config, 1);
	c->need_cmd = !config || !config->cmd_set;
	c->need_entrypoint = !config || !config->entrypoint_set;
	buf_adds(&b, "/commit?container=");
	http_escape(&b, id);
	if (repo) {
		buf_adds(&b, "&repo=");
		http_escape(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
	}
	c->query = buf_take(&b);
	if (!c->need_cmd && !c->need_entrypoint)
		return commit_post(c, 1);
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
	http_escape(&b, path);
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
	http_escape(&b, path);
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
	return docker_exec_as(d, id, NULL, argv, argc, out, outarg, cb, arg);
}

int docker_exec_as(struct docker *d, const char *id, const char *user, char **argv, size_t argc,
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
	if (user)
		cJSON_AddStringToObject(o, "User", user);
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

/* ---- pull with credentials (for registry.c; the credentials: registry_auth.c) ---- */

int docker_image_pull_auth(struct docker *d, const char *ref, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/create?fromImage=");
	http_escape(&b, ref);
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}

/* ---- where the engine is ---- */

int docker_remote(const struct docker *d)
{
	return http_remote(d->h);
}
