/* fetch.c - pinned remote modules for `import` (docs/import.md).
 *
 * A URL is accepted only with "#sha256=<64 lowercase hex>" and only as
 * https://, or http:// to a loopback host. The cache holds <hex>.lua files;
 * a cached file is re-hashed on every use and used only if it matches its
 * name, so the cache needs no locking or trust: a stale or corrupt entry is
 * fetched again. A miss is fetched with http.c on a private libuv loop (the
 * load is synchronous), hashed before the bytes go anywhere, and written to
 * the cache atomically. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uv.h>

#include "graphbuild/fetch.h"
#include "graphbuild/http.h"
#include "graphbuild/util.h"

#define CONNECT_TIMEOUT_MS 5000
#define TOTAL_TIMEOUT_MS 30000
#define MAX_REDIRECTS 10

/* A parsed, validated import URL. */
struct target {
	char *url;       /* without the fragment: what is fetched and shown */
	char *endpoint;  /* "scheme://authority" for http_new */
	char hex[65];    /* the pinned SHA-256 */
};

static void target_free(struct target *t)
{
	free(t->url);
	free(t->endpoint);
}

/* Fills t from in, or returns -1 with *err. */
static int parse(const char *in, struct target *t, char **err)
{
	const char *hash = strchr(in, '#'), *rest, *auth, *host, *p;
	size_t ulen = hash ? (size_t)(hash - in) : strlen(in), alen, hlen, i;
	int https;

	memset(t, 0, sizeof *t);
	for (p = in; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*err = xasprintf("import %.*s: the URL contains a space or control character",
			                 (int)ulen, in);
			return -1;
		}
	}
	if (strncmp(in, "https://", 8) == 0) {
		https = 1;
		auth = in + 8;
	} else if (strncmp(in, "http://", 7) == 0) {
		https = 0;
		auth = in + 7;
	} else {
		*err = xasprintf("import %.*s: only https:// URLs (or http:// to a loopback host) can be imported",
		                 (int)ulen, in);
		return -1;
	}
	alen = strcspn(auth, "/?#");
	rest = auth + alen;
	if (memchr(auth, '@', alen)) {
		*err = xasprintf("import %.*s: credentials in the URL are not supported", (int)ulen, in);
		return -1;
	}
	/* host: "[v6]" or up to the port */
	host = auth;
	if (alen > 0 && auth[0] == '[') {
		const char *close = memchr(auth, ']', alen);

		if (!close || (close + 1 != rest && close[1] != ':')) {
			*err = xasprintf("import %.*s: malformed host", (int)ulen, in);
			return -1;
		}
		host = auth + 1;
		hlen = (size_t)(close - host);
	} else {
		const char *colon = memchr(auth, ':', alen);

		hlen = colon ? (size_t)(colon - auth) : alen;
	}
	if (hlen == 0) {
		*err = xasprintf("import %.*s: the URL has no host", (int)ulen, in);
		return -1;
	}
	if (!https && !http_is_loopback(host, hlen)) {
		*err = xasprintf("import %.*s: plain http:// is allowed only to a loopback host "
		                 "(127.0.0.1, localhost, ::1); use https://", (int)ulen, in);
		return -1;
	}
	if (!hash || !hash[1]) {
		*err = xasprintf("import of %.*s refused: pin it with #sha256=<hex of the module> "
		                 "(nothing unpinned is ever run)", (int)ulen, in);
		return -1;
	}
	p = hash + 1;
	if (strncmp(p, "sha256=", 7) != 0 || strlen(p + 7) != 64) {
		*err = xasprintf("import %.*s: bad pin '#%s': expected #sha256= and the 64 lowercase "
		                 "hex digits of the module's SHA-256", (int)ulen, in, p);
		return -1;
	}
	for (i = 0; i < 64; i++) {
		char c = p[7 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			*err = xasprintf("import %.*s: bad pin '#%s': expected #sha256= and the 64 lowercase "
			                 "hex digits of the module's SHA-256", (int)ulen, in, p);
			return -1;
		}
	}
	memcpy(t->hex, p + 7, 65);
	t->url = xstrndup(in, ulen);
	t->endpoint = xstrndup(in, (size_t)(rest - in));
	return 0;
}

/* Lowercase hex SHA-256 of data into out (65 bytes). */
static void sha256_hex(const void *data, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		fatal("SHA-256 failed");
	hex_encode(md, mdlen, out);
}

char *fetch_cache_dir(void)
{
	const char *v = getenv("GRAPHBUILD_CACHE_DIR");

	if (v && v[0] == '/')
		return path_join(v, "modules");
	v = getenv("XDG_CACHE_HOME");
	if (v && v[0] == '/')
		return path_join(v, "graphbuild/modules");
	v = getenv("HOME");
	if (v && v[0] == '/')
		return path_join(v, ".cache/graphbuild/modules");
	return NULL;
}

/* ---- one GET on a private loop ---- */

struct download {
	struct buf body;
	long status;
	char *error;    /* transport error, or NULL */
	char *location; /* a redirect's Location, or NULL */
	int too_big;
	int done;
};

static int on_data(void *arg, const char *p, size_t n)
{
	struct download *d = arg;

	if (d->body.len + n > FETCH_MAX_BYTES) {
		d->too_big = 1;
		return -1;
	}
	buf_add(&d->body, p, n);
	return 0;
}

static void on_done(void *arg, const struct http_response *r)
{
	struct download *d = arg;

	d->done = 1;
	d->status = r->status;
	if (r->error)
		d->error = xstrdup(r->error);
	if (r->status >= 300 && r->status < 400 && r->headers) {
		/* the last block's Location (curl hands over every header line) */
		const char *p = r->headers;

		while ((p = strcasestr(p, "\nlocation:")) != NULL) {
			size_t n;

			p += 10;
			p += strspn(p, " \t");
			n = strcspn(p, "\r\n");
			free(d->location);
			d->location = xstrndup(p, n);
		}
	}
}

/* The absolute URL a Location header names, relative to the URL base. */
static char *resolve_location(const char *base, const char *loc)
{
	const char *auth, *path;

	if (strstr(loc, "://"))
		return xstrdup(loc);
	auth = strstr(base, "://");
	auth = auth ? auth + 3 : base;
	path = auth + strcspn(auth, "/?#");
	if (loc[0] == '/' && loc[1] == '/') /* scheme-relative */
		return xasprintf("%.*s%s", (int)(auth - base - 2), base, loc);
	if (loc[0] == '/')
		return xasprintf("%.*s%s", (int)(path - base), base, loc);
	{
		const char *q = path + strcspn(path, "?#"), *slash = q;

		while (slash > path && slash[-1] != '/')
			slash--;
		return xasprintf("%.*s%s", (int)(slash - base), base, loc);
	}
}

/* Runs the GET to completion. Returns -1 with *err only when the request
 * cannot even start; transfer failures are left in d. */
static int download(const struct target *t, struct download *d, char **err)
{
	uv_loop_t loop;
	struct http *h;
	struct http_opts o = {0};
	int rc = 0;

	if (uv_loop_init(&loop) != 0) {
		*err = xasprintf("import %s: cannot create an event loop", t->url);
		return -1;
	}
	h = http_new(&loop, t->endpoint, NULL, NULL, NULL, err);
	if (!h) {
		char *e = *err;

		*err = xasprintf("import %s: %s", t->url, e);
		free(e);
		uv_loop_close(&loop);
		return -1;
	}
	o.method = "GET";
	o.url = t->url; /* a full URL: http.c uses it as is */
	o.data = on_data;
	o.data_arg = d;
	o.timeout_ms = TOTAL_TIMEOUT_MS;
	o.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	o.follow_redirects = 0; /* fetch_module follows them, checking each hop */
	if (!http_request(h, &o, on_done, d)) {
		*err = xasprintf("import %s: cannot start the request", t->url);
		rc = -1;
	}
	/* Not UV_RUN_DEFAULT: curl may keep the connection (and its poll) open. */
	while (rc == 0 && !d->done)
		if (uv_run(&loop, UV_RUN_ONCE) == 0 && !d->done)
			fatal("fetch: the loop ran dry before the request finished");
	http_free(h);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fatal("fetch: handles left on the loop");
	return rc;
}

/* ---- the cache ---- */

/* The cached text of t if present and intact; else NULL (a corrupt copy is
 * removed so it gets fetched again). */
static char *cache_get(const char *path, const struct target *t, size_t *len)
{
	char got[65], *text = read_file(path, len);

	if (!text)
		return NULL;
	sha256_hex(text, *len, got);
	if (strcmp(got, t->hex) == 0)
		return text;
	free(text);
	unlink(path);
	return NULL;
}

static void cache_put(const char *dir, const char *path, const char *data, size_t n)
{
	if (mkdirs(dir, 0755) < 0)
		warn("cannot create the module cache %s (the module will be fetched again):", dir);
	else if (write_file_atomic(path, data, n) < 0)
		warn("cannot write %s (the module will be fetched again):", path);
}

int fetch_module(const char *url_with_fragment, char **text, size_t *len, char **err)
{
	struct target t, hop = {0};
	struct download d = {0};
	char *dir, *path = NULL, got[65];
	int rc = -1, hops;

	*text = NULL;
	*len = 0;
	*err = NULL;
	if (parse(url_with_fragment, &t, err) < 0)
		return -1;
	dir = fetch_cache_dir();
	if (dir) {
		char *name = xasprintf("%s.lua", t.hex);

		path = path_join(dir, name);
		free(name);
		*text = cache_get(path, &t, len);
		if (*text) {
			rc = 0;
			goto out;
		}
	}
	for (hops = 0;; hops++) {
		struct target next;
		char *to, *spec, *e2 = NULL;

		if (download(hops ? &hop : &t, &d, err) < 0)
			goto out;
		if (!d.location || d.error)
			break;
		/* every hop obeys the first URL's rule (https, or http only to
		 * loopback), checked before anything connects to it */
		to = resolve_location(hops ? hop.url : t.url, d.location);
		spec = xasprintf("%s#sha256=%s", to, t.hex);
		if (hops >= MAX_REDIRECTS) {
			*err = xasprintf("import %s: more than %d redirects", t.url, MAX_REDIRECTS);
		} else if (parse(spec, &next, &e2) < 0) {
			*err = xasprintf("import %s: redirect to %s refused: %s", t.url, to,
			                 strncmp(e2, "import ", 7) == 0 && strchr(e2, ':') ? strstr(e2, ": ") + 2 : e2);
		}
		free(e2);
		free(spec);
		free(to);
		if (*err)
			goto out;
		if (hops)
			target_free(&hop);
		hop = next;
		buf_free(&d.body);
		free(d.location);
		d.location = NULL;
		d.status = 0;
		d.done = 0;
	}
	if (d.too_big) {
		*err = xasprintf("import %s: the module is larger than %d KiB, the limit for imported modules",
		                 t.url, FETCH_MAX_BYTES / 1024);
	} else if (d.error) {
		*err = xasprintf("import %s: cannot fetch (%s) and it is not in the cache %s", t.url,
		                 d.error, dir ? dir : "(no cache: set XDG_CACHE_HOME or HOME)");
	} else if (d.status != 200) {
		*err = xasprintf("import %s: the server answered HTTP %ld (expected 200) and the module "
		                 "is not in the cache %s", t.url, d.status,
		                 dir ? dir : "(no cache: set XDG_CACHE_HOME or HOME)");
	} else {
		buf_add(&d.body, "", 0); /* NUL-terminated, even when empty */
		sha256_hex(d.body.data, d.body.len, got);
		if (strcmp(got, t.hex) != 0) {
			*err = xasprintf("import %s: sha256 mismatch: pinned %s, got %s", t.url, t.hex, got);
		} else {
			if (dir)
				cache_put(dir, path, d.body.data, d.body.len);
			*len = d.body.len;
			*text = buf_take(&d.body);
			rc = 0;
		}
	}
out:
	buf_free(&d.body);
	free(d.error);
	free(d.location);
	target_free(&hop);
	free(path);
	free(dir);
	target_free(&t);
	return rc;
}
