/* registry.c - the remote cache (registry.h). Owns the cache's name and
 * credentials, its HTTP client (a second struct http on the run's loop,
 * talking to the registry directly: engine round trips would cost more than
 * the lookups themselves), the lookups in flight, and the pull/push chains of
 * engine calls. Lookups are plain HEADs of manifests by tag; the registry
 * protocol's auth dance (401 + WWW-Authenticate: Bearer → token server) is
 * done once per lookup batch, on a GET /v2/ that also fails fast (1 s connect
 * timeout) when the registry is down, so 50 keys never wait 50 timeouts.
 *
 * A registry that goes away in the middle of a pull or push would keep the
 * engine retrying for about 50 s (5 attempts, 5..20 s apart) while the build
 * waits: each chain watches the engine's progress stream, and on its first
 * "Retrying in" asks the registry itself (/v2/, 1 s connect timeout); if that
 * fails too, the engine call is aborted at its next status line (they come
 * every second) and the key is reported not cached / built locally.
 *
 * Trust: a registry tag is only a name. A pulled image is kept only if its
 * graphbuild.key label equals the key; anything else is untagged and
 * reported, and the node is built locally. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/http.h"
#include "graphbuild/key.h"
#include "graphbuild/names.h"
#include "graphbuild/registry.h"
#include "graphbuild/util.h"

#define WINDOW 32              /* HEADs in flight at once (sockets) */
#define CONNECT_MS 1000
#define TOTAL_MS 3000

static const char *const ACCEPT =
	"Accept: application/vnd.docker.distribution.manifest.v2+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.oci.image.index.v1+json";

struct registry {
	struct http *h;
	uv_loop_t *loop;
	char *name;                /* "HOST[:PORT]/REPO" */
	char *host;                /* as the engine names it: "127.0.0.1:5000" */
	char *api;                 /* "http://127.0.0.1:5000" */
	char *repo;
	char *user, *password, *itoken; /* from config.json, or NULL */
	char *userpwd;             /* "user:password" for curl, or NULL */
	char *xauth;               /* X-Registry-Auth for the engine */
	char *bearer;              /* "Authorization: Bearer T" (cached), or NULL */
	uint64_t bearer_until;     /* now_ms() bound of its validity */
	size_t nops;               /* lookups, pulls and pushes in flight */
	struct op *ops;            /* pulls and pushes in flight (registry_cancel_for) */
	char **rejected;           /* keys whose pulled image had the wrong key label */
	size_t nrejected;
	char *rejected_path;       /* where they are remembered across runs, or NULL */
	int rejected_dirty;
	struct registry_stats st;
};

struct op;

/* ---- names ---- */

/* Why a registry did not answer, for people: a TLS handshake answered in
 * plain HTTP (OpenSSL's "wrong version number") is named as such. */
static const char *reach_error(const char *error)
{
	if (error && strstr(error, "wrong version number"))
		return "this registry speaks plain HTTP; graphbuild uses it only on loopback "
		       "(or with `http://` and a warning)";
	return error ? error : "no reply";
}

/* The host part of "host:port" / "[v6]:port", malloc'd. */
static char *host_only(const char *hp)
{
	if (hp[0] == '[') {
		const char *e = strchr(hp, ']');
		return xstrndup(hp, e ? (size_t)(e - hp + 1) : strlen(hp));
	}
	return xstrndup(hp, strcspn(hp, ":"));
}

static int repo_ok(const char *s)
{
	if (!*s || *s == '/' || s[strlen(s) - 1] == '/')
		return 0;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || strchr("._-/", *s)))
			return 0;
	return 1;
}

struct registry *registry_new(struct uv_loop_s *loop, const char *cache, char **err)
{
	struct registry *r;
	const char *p = cache, *slash, *scheme = NULL;
	char *host, *bare, *ca = NULL, *cert = NULL, *key = NULL, *auth_host, *aerr = NULL;
	int arc;

	*err = NULL;
	if (!cache || !*cache) {
		*err = xstrdup("cache: empty name; expected REGISTRY/REPO (e.g. 127.0.0.1:5000/cache)");
		return NULL;
	}
	if (strncmp(p, "http://", 7) == 0)
		scheme = "http", p += 7;
	else if (strncmp(p, "https://", 8) == 0)
		scheme = "https", p += 8;
	slash = strchr(p, '/');
	if (!slash || slash == p) {
		*err = xasprintf("cache %s: expected REGISTRY/REPO (e.g. 127.0.0.1:5000/cache)", cache);
		return NULL;
	}
	host = xstrndup(p, (size_t)(slash - p));
	bare = host_only(host);
	/* Docker's rule: the first component names a registry only if it has a
	 * '.' or a ':' or is localhost; otherwise it is a Docker Hub path. */
	if (!strchr(host, '.') && !strchr(host, ':') && strcmp(host, "localhost") != 0) {
		*err = xasprintf("cache %s: '%s' is not a registry host (needs a '.' or a ':port', or "
		                 "localhost); expected REGISTRY/REPO",
		                 cache, host);
		free(host);
		free(bare);
		return NULL;
	}
	if (!repo_ok(slash + 1)) {
		*err = xasprintf("cache %s: repository '%s' must be lowercase letters, digits and . _ - /, "
		                 "without a tag",
		                 cache, slash + 1);
		free(host);
		free(bare);
		return NULL;
	}
	r = xcalloc(1, sizeof *r);
	r->loop = loop;
	r->host = host;
	r->repo = xstrdup(slash + 1);
	r->name = xasprintf("%s/%s", host, r->repo);
	if (!scheme)
		scheme = http_is_loopback(bare, strlen(bare)) ? "http" : "https";
	else if (strcmp(scheme, "http") == 0 && !http_is_loopback(bare, strlen(bare)))
		warn("cache %s: plain http:// to a non-loopback registry: lookups and transfers go in clear text",
		     cache);
	if (strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0) {
		r->api = xstrdup("https://registry-1.docker.io");
		auth_host = xstrdup("index.docker.io");
	} else {
		r->api = xasprintf("%s://%s", scheme, host);
		auth_host = xstrdup(host);
	}
	if (strcmp(scheme, "https") == 0) {
		/* Docker's per-registry trust: /etc/docker/certs.d/HOST/. */
		char *dir = xasprintf("/etc/docker/certs.d/%s", host);
		ca = path_join(dir, "ca.crt");
		cert = path_join(dir, "client.cert");
		key = path_join(dir, "client.key");
		if (access(ca, R_OK) != 0)
			free(ca), ca = NULL;
		if (access(cert, R_OK) != 0 || access(key, R_OK) != 0)
			free(cert), free(key), cert = key = NULL;
		free(dir);
	}
	arc = docker_auth_for(auth_host, &r->user, &r->password, &r->itoken, &aerr);
	if (arc < 0) {
		*err = xasprintf("cache %s: %s", r->name, aerr);
		free(aerr);
	}
	if (r->user && r->password)
		r->userpwd = xasprintf("%s:%s", r->user, r->password);
	r->xauth = docker_auth_header(r->user, r->password, r->itoken, arc > 0 ? auth_host : NULL);
	if (!*err)
		r->h = http_new(loop, r->api, ca, cert, key, err);
	free(auth_host);
	free(bare);
	free(ca);
	free(cert);
	free(key);
	if (!r->h) {
		registry_free(r);
		return NULL;
	}
	return r;
}

const char *registry_name(const struct registry *r)
{
	return r->name;
}

char *registry_ref(const struct registry *r, const char *key)
{
	return xasprintf("%s/%s:%s", r->host, r->repo, key);
}

void registry_stats(const struct registry *r, struct registry_stats *st)
{
	*st = r->st;
}

void registry_cancel(struct registry *r)
{
	if (r && r->h)
		http_cancel_all(r->h);
}

void registry_drain(struct registry *r)
{
	if (!r)
		return;
	registry_cancel(r);
	while (r->nops)
		uv_run(r->loop, UV_RUN_ONCE);
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	if (r->nops)
		fatal("registry_free: %zu operations in flight", r->nops);
	if (r->h)
		http_free(r->h);
	free(r->name);
	free(r->host);
	free(r->api);
	free(r->repo);
	free(r->user);
	free(r->password);
	free(r->itoken);
	free(r->userpwd);
	free(r->xauth);
	free(r->bearer);
	for (size_t i = 0; i < r->nrejected; i++)
		free(r->rejected[i]);
	free(r->rejected);
	free(r->rejected_path);
	free(r);
}

static void rejected_add(struct registry *r, const char *key)
{
	if (registry_rejected(r, key))
		return;
	r->rejected = xreallocarray(r->rejected, r->nrejected + 1, sizeof *r->rejected);
	r->rejected[r->nrejected++] = xstrdup(key);
	r->rejected_dirty = 1;
}

static void rejected_drop(struct registry *r, const char *key)
{
	for (size_t i = 0; i < r->nrejected; i++)
		if (!strcmp(r->rejected[i], key)) {
			free(r->rejected[i]);
			r->rejected[i] = r->rejected[--r->nrejected];
			r->rejected_dirty = 1;
			return;
		}
}

/* The file: one "CACHE KEY" line per poisoned tag, of every cache the
 * project used. */
void registry_rejected_load(struct registry *r, const char *path)
{
	char *text, *line, *save = NULL;
	size_t nlen = strlen(r->name);

	free(r->rejected_path);
	r->rejected_path = xstrdup(path);
	if (!(text = read_file(path, NULL)))
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, r->name, nlen) && line[nlen] == ' ' && line[nlen + 1])
			rejected_add(r, line + nlen + 1);
	r->rejected_dirty = 0;
	free(text);
}

void registry_rejected_save(struct registry *r)
{
	struct buf b = {0};
	char *text, *line, *save = NULL;
	size_t nlen = strlen(r->name);

	if (!r->rejected_path || !r->rejected_dirty)
		return;
	if ((text = read_file(r->rejected_path, NULL))) {
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			if (strncmp(line, r->name, nlen) || line[nlen] != ' ')
				buf_printf(&b, "%s\n", line);
		free(text);
	}
	for (size_t i = 0; i < r->nrejected; i++)
		buf_printf(&b, "%s %s\n", r->name, r->rejected[i]);
	if (b.len || !access(r->rejected_path, F_OK))
		write_file_atomic(r->rejected_path, b.data ? b.data : "", b.len);
	buf_free(&b);
	r->rejected_dirty = 0;
}

int registry_rejected(const struct registry *r, const char *key)
{
	for (size_t i = 0; i < r->nrejected; i++)
		if (!strcmp(r->rejected[i], key))
			return 1;
	return 0;
}

/* ---- the auth challenge ---- */

/* The value of header `name` in a raw header block, malloc'd, or NULL. */
static char *header_value(const char *headers, const char *name)
{
	size_t n = strlen(name);
	const char *p = headers;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			len -= (size_t)(v - p);
			while (len && (v[len - 1] == '\r' || v[len - 1] == ' '))
				len--;
			return xstrndup(v, len);
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* A parameter of a challenge ('Bearer realm="x",service="y"'), malloc'd. */
static char *challenge_param(const char *ch, const char *name)
{
	size_t n = strlen(name);
	const char *p = strchr(ch, ' ');
	while (p && *p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (strncasecmp(p, name, n) == 0 && p[n] == '=') {
			p += n + 1;
			if (*p == '"') {
				const char *e = strchr(p + 1, '"');
				return xstrndup(p + 1, e ? (size_t)(e - p - 1) : strlen(p + 1));
			}
			return xstrndup(p, strcspn(p, ","));
		}
		/* skip this param (a quoted value may hold commas) */
		p += strcspn(p, "=,");
		if (*p == '=') {
			p++;
			if (*p == '"') {
				const char *e = strchr(p + 1, '"');
				p = e ? e + 1 : p + strlen(p);
			} else
				p += strcspn(p, ",");
		}
	}
	return NULL;
}

/* ---- lookups ---- */

struct check;
struct item {
	struct check *c;
	size_t i;
};

struct check {
	struct registry *r;
	char **keys;
	size_t n;
	int *hit;
	struct item *items;
	size_t next, inflight, ndone;
	size_t nerr;
	char *first_err;
	char *warning;             /* a fatal condition: no hits */
	int down;                  /* a transport failure: start no more */
	int use_bearer, use_basic;
	uint64_t t0;
	registry_check_fn cb;
	void *arg;
};

static void check_finish(struct check *c)
{
	struct registry *r = c->r;
	char *w = c->warning;
	size_t hits = 0;

	if (!w && c->nerr)
		w = xasprintf("cache %s: %zu of %zu lookups failed (%s); those nodes are built locally",
		              r->name, c->nerr, c->n, c->first_err);
	if (c->warning)
		memset(c->hit, 0, c->n * sizeof *c->hit);
	for (size_t i = 0; i < c->n; i++)
		hits += c->hit[i] != 0;
	r->st.lookups++;
	r->st.checked += c->n;
	r->st.hits += hits;
	r->st.check_ms += (double)(now_ns() - c->t0) / 1e6;
	r->nops--;
	c->cb(c->arg, c->hit, c->n, w);
	free(w);
	free(c->first_err);
	for (size_t i = 0; i < c->n; i++)
		free(c->keys[i]);
	free(c->keys);
	free(c->hit);
	free(c->items);
	free(c);
}

static void on_head(void *arg, const struct http_response *res);

/* Keeps up to WINDOW HEADs in flight; finishes when all are back. */
static void heads_fill(struct check *c)
{
	struct registry *r = c->r;
	while (!c->down && !c->warning && c->inflight < WINDOW && c->next < c->n) {
		struct item *it = &c->items[c->next];
		struct http_opts o = {0};
		const char *hdrs[3] = {ACCEPT, NULL, NULL};
		char *url = xasprintf("%s/v2/%s/manifests/%s", r->api, r->repo, c->keys[c->next]);
		it->c = c;
		it->i = c->next++;
		if (c->use_bearer)
			hdrs[1] = r->bearer;
		o.method = "HEAD";
		o.url = url;
		o.headers = hdrs;
		o.connect_timeout_ms = CONNECT_MS;
		o.timeout_ms = TOTAL_MS;
		o.user = c->use_basic ? r->userpwd : NULL;
		if (http_request(r->h, &o, on_head, it))
			c->inflight++;
		else {
			c->ndone++;
			if (!c->nerr++)
				c->first_err = xstrdup("cannot start a request");
		}
		free(url);
	}
	if (c->inflight == 0 && (c->down || c->warning || c->ndone == c->n))
		check_finish(c);
}

static void on_head(void *arg, const struct http_response *res)
{
	struct item *it = arg;
	struct check *c = it->c;

	c->inflight--;
	c->ndone++;
	if (res->status == 200)
		c->hit[it->i] = 1;
	else if (res->status != 404) {
		char *e;
		if (res->error && res->status == 0) {
			e = xstrdup(res->error);
			if (res->fail != HTTP_FAIL_CANCELLED && !c->down && !c->warning)
				c->warning = xasprintf("cache %s unreachable: %s; building locally",
				                       c->r->name, reach_error(res->error));
			c->down = 1;
		} else
			e = xasprintf("HEAD %s: HTTP %ld", c->keys[it->i], res->status);
		if (!c->nerr++)
			c->first_err = e;
		else
			free(e);
	}
	heads_fill(c);
}

static void fail_check(struct check *c, char *warning)
{
	c->warning = warning;
	heads_fill(c); /* nothing in flight: finishes */
}

static void on_token(void *arg, const struct http_response *res)
{
	struct check *c = arg;
	struct registry *r = c->r;
	long expires = 60;
	char *tok;

	if (res->status == 0) {
		fail_check(c, xasprintf("cache %s: token server unreachable: %s; building locally", r->name,
		                        res->error ? res->error : "no reply"));
		return;
	}
	if (res->status != 200) {
		fail_check(c, xasprintf("cache %s: authentication failed: token server answered HTTP %ld%s; "
		                        "building locally",
		                        r->name, res->status,
		                        r->userpwd || r->itoken ? "" : " (no credentials: docker login?)"));
		return;
	}
	tok = docker_token_parse(res->body, res->len, &expires);
	if (!tok) {
		fail_check(c, xasprintf("cache %s: token server reply has no token; building locally", r->name));
		return;
	}
	free(r->bearer);
	r->bearer = xasprintf("Authorization: Bearer %s", tok);
	/* A 10 s margin: the lookups must not race the expiry. */
	r->bearer_until = now_ms() + (uint64_t)(expires > 20 ? expires - 10 : 10) * 1000;
	free(tok);
	c->use_bearer = 1;
	heads_fill(c);
}

static void fetch_token(struct check *c, const char *challenge)
{
	struct registry *r = c->r;
	char *realm = challenge_param(challenge, "realm");
	char *service = challenge_param(challenge, "service");
	char *scope = challenge_param(challenge, "scope");
	struct http_opts o = {0};
	struct buf url = {0}, body = {0};
	const char *hdrs[2] = {NULL, NULL};

	if (!scope)
		scope = xasprintf("repository:%s:pull", r->repo);
	if (!realm) {
		fail_check(c, xasprintf("cache %s: Bearer challenge without a realm; building locally", r->name));
		goto out;
	}
	o.connect_timeout_ms = CONNECT_MS;
	o.timeout_ms = TOTAL_MS;
	o.follow_redirects = 1;
	if (r->itoken) {
		/* OAuth2 refresh-token grant, as the docker CLI does with an
		 * identity token. */
		buf_adds(&url, realm);
		buf_adds(&body, "grant_type=refresh_token&client_id=graphbuild&refresh_token=");
		http_escape(&body, r->itoken);
		if (service) {
			buf_adds(&body, "&service=");
			http_escape(&body, service);
		}
		buf_adds(&body, "&scope=");
		http_escape(&body, scope);
		hdrs[0] = "Content-Type: application/x-www-form-urlencoded";
		o.method = "POST";
		o.body = body.data;
		o.body_len = body.len;
		o.headers = hdrs;
	} else {
		char sep = strchr(realm, '?') ? '&' : '?';
		buf_adds(&url, realm);
		if (service) {
			buf_printf(&url, "%cservice=", sep);
			http_escape(&url, service);
			sep = '&';
		}
		buf_printf(&url, "%cscope=", sep);
		http_escape(&url, scope);
		o.method = "GET";
		o.user = r->userpwd; /* NULL: an anonymous token */
	}
	o.url = url.data;
	if (!http_request(r->h, &o, on_token, c))
		fail_check(c, xasprintf("cache %s: cannot start a request to %s", r->name, realm));
out:
	buf_free(&url);
	buf_free(&body);
	free(realm);
	free(service);
	free(scope);
}

static void on_ping(void *arg, const struct http_response *res)
{
	struct check *c = arg;
	struct registry *r = c->r;
	char *ch;

	if (res->status == 0) {
		if (res->fail == HTTP_FAIL_CANCELLED)
			fail_check(c, xasprintf("cache %s: cancelled", r->name));
		else
			fail_check(c, xasprintf("cache %s unreachable: %s; building locally", r->name,
			                        reach_error(res->error)));
		return;
	}
	if (res->status == 200) {
		heads_fill(c);
		return;
	}
	if (res->status != 401) {
		fail_check(c, xasprintf("cache %s: GET %s/v2/ answered HTTP %ld (not a registry?); building locally",
		                        r->name, r->api, res->status));
		return;
	}
	ch = header_value(res->headers, "WWW-Authenticate");
	if (ch && strncasecmp(ch, "Bearer", 6) == 0) {
		if (r->bearer && now_ms() < r->bearer_until) {
			c->use_bearer = 1;
			heads_fill(c);
		} else
			fetch_token(c, ch);
	} else if (ch && strncasecmp(ch, "Basic", 5) == 0 && r->userpwd) {
		c->use_basic = 1;
		heads_fill(c);
	} else
		fail_check(c, xasprintf("cache %s: the registry wants credentials (%s) and ~/.docker/config.json "
		                        "has none for %s (docker login %s); building locally",
		                        r->name, ch ? ch : "401 without a challenge", r->host, r->host));
	free(ch);
}

/* GET /v2/: reachability and the auth challenge. */
static struct http_req *ping(struct registry *r, http_done_fn done, void *arg)
{
	struct http_opts o = {0};
	char *url = xasprintf("%s/v2/", r->api);
	struct http_req *q;
	o.method = "GET";
	o.url = url;
	o.connect_timeout_ms = CONNECT_MS;
	o.timeout_ms = TOTAL_MS;
	q = http_request(r->h, &o, done, arg);
	free(url);
	return q;
}

int registry_check_start(struct registry *r, char *const *keys, size_t n, registry_check_fn cb,
                         void *arg)
{
	struct check *c;
	if (n == 0)
		return -1;
	c = xcalloc(1, sizeof *c);
	c->r = r;
	c->n = n;
	c->cb = cb;
	c->arg = arg;
	c->t0 = now_ns();
	c->keys = xcalloc(n, sizeof *c->keys);
	for (size_t i = 0; i < n; i++)
		c->keys[i] = xstrdup(keys[i]);
	c->hit = xcalloc(n, sizeof *c->hit);
	c->items = xcalloc(n, sizeof *c->items);
	if (!ping(r, on_ping, c)) {
		for (size_t i = 0; i < n; i++)
			free(c->keys[i]);
		free(c->keys);
		free(c->hit);
		free(c->items);
		free(c);
		return -1;
	}
	r->nops++;
	return 0;
}

struct sync_check {
	int done;
	int *hit;
	char *warning;
};

static void on_sync_check(void *arg, const int *hit, size_t n, const char *warning)
{
	struct sync_check *s = arg;
	memcpy(s->hit, hit, n * sizeof *hit);
	s->warning = warning ? xstrdup(warning) : NULL;
	s->done = 1;
}

void registry_check(struct registry *r, char *const *keys, size_t n, int *hit, char **warning)
{
	struct sync_check s = {0};
	s.hit = hit;
	*warning = NULL;
	if (n == 0)
		return;
	memset(hit, 0, n * sizeof *hit);
	if (registry_check_start(r, keys, n, on_sync_check, &s) < 0) {
		*warning = xasprintf("cache %s: cannot start a lookup; building locally", r->name);
		return;
	}
	while (!s.done)
		uv_run(r->loop, UV_RUN_ONCE);
	*warning = s.warning;
}

/* ---- pull and push: chains of engine calls ---- */

struct op {
	struct registry *r;
	struct docker *d;
	char *key, *ref, *repo_host; /* repo_host: "HOST/REPO" (push's repo) */
	char *want;                /* pull: the graphbuild.key label required */
	char *src;                 /* "graphbuild-cache:KEY" */
	char *err, *id;
	uint64_t t0;
	int push;
	int probing;               /* a /v2/ ping of the watcher is in flight */
	int dead;                  /* it failed: abort the engine call */
	int finished;              /* cb was called (the op still counts in nops
	                              until the ping is back and frees it) */
	struct http_req *req;      /* its ping in flight, or NULL */
	registry_cb cb;
	void *arg;
	struct op *next, *prev;    /* r->ops */
};

static void op_free(struct op *o);

static void op_link(struct op *o)
{
	struct registry *r = o->r;
	r->nops++;
	o->next = r->ops;
	if (r->ops)
		r->ops->prev = o;
	r->ops = o;
}

/* The op leaves nops and the list, and is freed. */
static void op_gone(struct op *o)
{
	struct registry *r = o->r;
	if (o->prev)
		o->prev->next = o->next;
	else
		r->ops = o->next;
	if (o->next)
		o->next->prev = o->prev;
	r->nops--;
	op_free(o);
}

static struct op *op_new(struct docker *d, struct registry *r, const char *key, int push,
                         registry_cb cb, void *arg)
{
	struct op *o = xcalloc(1, sizeof *o);
	o->r = r;
	o->d = d;
	o->key = xstrdup(key);
	o->ref = registry_ref(r, key);
	o->repo_host = xasprintf("%s/%s", r->host, r->repo);
	o->src = names_cache_ref(key);
	o->push = push;
	o->cb = cb;
	o->arg = arg;
	o->t0 = now_ns();
	return o;
}

static void op_free(struct op *o)
{
	free(o->key);
	free(o->want);
	free(o->ref);
	free(o->repo_host);
	free(o->src);
	free(o->err);
	free(o->id);
	free(o);
}

static void op_finish(struct op *o)
{
	struct registry *r = o->r;
	double ms = (double)(now_ns() - o->t0) / 1e6;
	if (o->err)
		r->st.failed++;
	else if (o->push) {
		rejected_drop(r, o->key); /* the genuine image is there now */
		r->st.pushed++;
		r->st.push_ms += ms;
	} else {
		r->st.pulled++;
		r->st.pull_ms += ms;
	}
	o->cb(o->arg, o->err, o->err ? NULL : o->id);
	o->finished = 1;
	if (!o->probing) /* else the watcher's ping frees it when it is back */
		op_gone(o);
}

static void op_err(struct op *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void op_err(struct op *o, const char *fmt, ...)
{
	va_list ap;
	if (o->err)
		return; /* the first cause is the one to report */
	va_start(ap, fmt);
	o->err = xvasprintf(fmt, ap);
	va_end(ap);
}

/* ---- the watcher: the registry gone mid-transfer ---- */

static void on_watch_ping(void *arg, const struct http_response *res)
{
	struct op *o = arg;
	o->probing = 0;
	o->req = NULL;
	if (o->finished) {
		op_gone(o);
		return;
	}
	if (res->status == 0) {
		o->dead = 1;
		op_err(o, "%s %s: the registry went away mid-transfer (%s) and the engine is retrying; gave up",
		       o->push ? "push" : "pull", o->ref, res->error ? res->error : "no reply");
	}
}

static int on_status(void *arg, const char *status)
{
	struct op *o = arg;
	if (o->dead)
		return -1;
	if (strncmp(status, "Retrying in ", 12) == 0 && !o->probing) {
		o->req = ping(o->r, on_watch_ping, o);
		o->probing = o->req != NULL;
	}
	return 0;
}

/* Last step of both chains: remove the registry-named tag (the image stays
 * under graphbuild-cache:KEY; a rejected image goes if nothing else names it). */
static void on_untagged(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	(void)res; /* a leftover tag is harmless; the result stands */
	op_finish(o);
}

static void untag(struct op *o)
{
	if (docker_image_remove(o->d, o->ref, 0, on_untagged, o) < 0) {
		op_err(o, "%s %s: cannot start a request to the engine", o->push ? "push" : "pull", o->ref);
		op_finish(o);
	}
}

static void on_pull_tagged(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	if (!res->ok)
		op_err(o, "pull %s: tagging %s: %s", o->ref, o->src, res->error);
	untag(o);
}

static void on_pull_inspected(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	const char *label = res->ok && res->nimages ? res->images[0].key : NULL;
	if (!res->ok || !res->nimages) {
		op_err(o, "pull %s: inspect: %s", o->ref, res->error ? res->error : "no image");
		untag(o);
		return;
	}
	if (!label || strcmp(label, o->want) != 0) {
		op_err(o, "registry image %s has key label %s, not %s: rejected (build --push replaces it)", o->ref,
		       label ? label : "(none)", o->want);
		rejected_add(o->r, o->key);
		untag(o);
		return;
	}
	o->id = res->images[0].id ? xstrdup(res->images[0].id) : NULL;
	if (docker_image_tag(o->d, o->ref, KEY_CACHE_REPO, o->key, on_pull_tagged, o) < 0) {
		op_err(o, "pull %s: cannot start a request to the engine", o->ref);
		untag(o);
	}
}

static void on_pulled(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	if (!res->ok) {
		op_err(o, "pull %s: %s", o->ref, res->error);
		op_finish(o); /* nothing was tagged */
		return;
	}
	if (docker_image_inspect(o->d, o->ref, on_pull_inspected, o) < 0) {
		op_err(o, "pull %s: cannot start a request to the engine", o->ref);
		untag(o);
	}
}

int registry_pull(struct docker *d, struct registry *r, const char *key, const char *label,
                  registry_cb cb, void *arg)
{
	struct op *o = op_new(d, r, key, 0, cb, arg);
	o->want = xstrdup(label ? label : key);
	if (docker_image_pull_auth(d, o->ref, r->xauth, on_status, o, on_pulled, o) < 0) {
		op_free(o);
		return -1;
	}
	op_link(o);
	return 0;
}

static void on_pushed(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	if (!res->ok)
		op_err(o, "push %s to %s: %s", o->key, o->r->name, res->error);
	else if (res->id && !o->id)
		o->id = xstrdup(res->id); /* the manifest digest */
	untag(o);
}

static void on_push_tagged(void *arg, const struct docker_result *res)
{
	struct op *o = arg;
	if (!res->ok) {
		op_err(o, "push %s to %s: tagging %s: %s", o->key, o->r->name, o->src, res->error);
		op_finish(o);
		return;
	}
	if (docker_image_push(o->d, o->repo_host, o->key, o->r->xauth, on_status, o, on_pushed, o) < 0) {
		op_err(o, "push %s to %s: cannot start a request to the engine", o->key, o->r->name);
		untag(o);
	}
}

/* The push's first step: is the registry there at all? (The engine would
 * retry a dead registry for a long while.) Any HTTP answer will do: auth is
 * the engine's business, with X-Registry-Auth. */
static void on_push_ping(void *arg, const struct http_response *res)
{
	struct op *o = arg;
	o->req = NULL;
	if (res->status == 0) {
		op_err(o, "push %s to %s: registry unreachable: %s", o->key, o->r->name,
		       reach_error(res->error));
		op_finish(o);
		return;
	}
	if (docker_image_tag(o->d, o->src, o->repo_host, o->key, on_push_tagged, o) < 0) {
		op_err(o, "push %s to %s: cannot start a request to the engine", o->key, o->r->name);
		op_finish(o);
	}
}

int registry_push(struct docker *d, struct registry *r, const char *key, registry_cb cb, void *arg)
{
	struct op *o = op_new(d, r, key, 1, cb, arg);
	if (!(o->req = ping(r, on_push_ping, o))) {
		op_free(o);
		return -1;
	}
	op_link(o);
	return 0;
}

void registry_cancel_for(struct registry *r, const void *arg)
{
	struct op *o;

	if (!r)
		return;
	for (o = r->ops; o; o = o->next)
		if (o->arg == arg && !o->finished) {
			o->dead = 1; /* the status watcher aborts the engine's stream */
			if (o->req)
				http_cancel(o->req);
			docker_cancel_for(o->d, o);
		}
}
