/* http.c - HTTP client on the run's libuv loop: libcurl's multi socket API
 * fed by one uv_poll per socket (attached with curl_multi_assign) and one
 * uv_timer for curl's timeouts, the pattern of curl's docs/examples/multi-uv.c.
 * Owns every request in flight and the only include of curl.h.
 *
 * Re-entrancy: user callbacks (done) run only from the info-read drain or
 * from a deferred timer, never inside a curl callback, so they may start,
 * cancel or (when nothing is left) free. data/read callbacks run inside
 * curl: there only http_cancel/http_cancel_all/http_resume/http_status are
 * allowed, and cancel is deferred to a 0 ms timer for that reason. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <uv.h>

#include "graphbuild/http.h"
#include "graphbuild/util.h"

struct http {
	uv_timer_t timer;          /* curl's timeout */
	uv_timer_t defer;          /* delivers cancellations outside curl */
	uv_loop_t *loop;
	CURLM *multi;
	char *base;                /* "http://localhost", "https://h:p", ... */
	char *unix_path;           /* or NULL */
	char *ca, *cert, *key;
	int docker_style;          /* the endpoint was tcp://: hints name DOCKER_* */
	int remote;                /* http_remote's answer, -1 until asked */
	struct http_req *reqs;     /* in flight, doubly linked */
	size_t ninflight;
	struct sock *socks;        /* open polls */
	int nhandles;              /* uv handles not yet closed */
	int delivering;            /* depth of done-callback delivery */
	int freeing;
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct http *h;
	struct sock *next, *prev;
};

struct http_req {
	struct http *h;
	CURL *easy;
	struct http_req *next, *prev;
	http_done_fn done;
	void *arg;
	http_read_fn read;
	void *read_arg;
	http_data_fn data;
	void *data_arg;
	struct curl_slist *hdrs;
	struct buf body, headers;
	long status;               /* from the last status line seen */
	long timeout_ms, idle_s;   /* this request's limits (for messages) */
	int cancelled;
	char errbuf[CURL_ERROR_SIZE];
	char msg[1024];            /* our longer messages (TLS trouble) */
};

static void check_multi_info(struct http *h);

/* The process-wide limits (http_global_limits): set once, before any loop. */
static long limit_connect_ms = 10000;
static long limit_idle_s = 120;

void http_global_limits(long connect_ms, long idle_s)
{
	limit_connect_ms = connect_ms < 0 ? 0 : connect_ms;
	limit_idle_s = idle_s < 0 ? 0 : idle_s;
}

long http_idle_limit(void)
{
	return limit_idle_s;
}

static void handle_gone(struct http *h)
{
	if (--h->nhandles == 0) {
		free(h->base);
		free(h->unix_path);
		free(h->ca);
		free(h->cert);
		free(h->key);
		free(h);
	}
}

static void handle_closed(uv_handle_t *hd)
{
	handle_gone(hd->data);
}

static void sock_closed(uv_handle_t *hd)
{
	struct sock *s = (struct sock *)hd;
	struct http *h = s->h;
	free(s);
	handle_gone(h);
}

static void sock_close(struct sock *s)
{
	struct http *h = s->h;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = (struct sock *)p;
	struct http *h = s->h;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* s may be closed during the action: use only h afterwards. */
	curl_multi_socket_action(h->multi, s->fd, flags, &running);
	check_multi_info(h);
}

static void on_timeout(uv_timer_t *t)
{
	struct http *h = (struct http *)t;
	int running;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(h);
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct http *h = userp;
	(void)m;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		/* 0 means "now": a 1 ms timer runs it from the loop, not from
		 * inside curl, as curl requires. */
		uv_timer_start(&h->timer, on_timeout, timeout_ms ? (uint64_t)timeout_ms : 1, 0);
	return 0;
}

static int curl_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sock *s = socketp;
	int events = 0;
	(void)e;

	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(s);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		h->nhandles++;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, on_poll);
	return 0;
}

static size_t write_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = sz * n;
	if (r->cancelled)
		return 0;
	if (r->data) {
		if (r->data(r->data_arg, p, len) < 0)
			return 0; /* curl: "Failure writing output" */
	} else
		buf_add(&r->body, p, len);
	return len;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = sz * n;
	/* A new status line starts a new block (redirects, 1xx). */
	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);
		r->headers.len = 0;
		if (sp)
			r->status = strtol(sp + 1, NULL, 10);
	}
	buf_add(&r->headers, p, len);
	return len;
}

static size_t read_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct http_req *r = arg;
	ssize_t got;
	if (r->cancelled)
		return CURL_READFUNC_ABORT;
	got = r->read(r->read_arg, p, sz * n);
	if (got == HTTP_READ_PAUSE)
		return CURL_READFUNC_PAUSE;
	if (got < 0)
		return CURL_READFUNC_ABORT;
	return (size_t)got;
}

static void unlink_req(struct http_req *r)
{
	struct http *h = r->h;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->ninflight--;
}

static void free_req(struct http_req *r)
{
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	buf_free(&r->body);
	buf_free(&r->headers);
	free(r);
}

static void really_free(struct http *h);

/* curl's message for a failed transfer; a TLS failure also names the files
 * in use, the usual culprits (a CA that did not sign the server's
 * certificate, a client certificate the server's CA did not sign). */
static const char *tls_error(struct http_req *r, CURLcode code)
{
	struct http *h = r->h;
	const char *msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(code);

	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
		snprintf(r->msg, sizeof r->msg, "%.256s (TLS: the server's certificate does not verify against %s%s)",
		         msg, h->ca ? h->ca : "the system CAs", h->docker_style ? ", from DOCKER_CERT_PATH" : "");
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (strncmp(h->base, "https://", 8) != 0 || r->status)
			return msg;
		snprintf(r->msg, sizeof r->msg, "%.256s (TLS handshake with client certificate %s, key %s%s)", msg,
		         h->cert ? h->cert : "none", h->key ? h->key : "none",
		         h->docker_style ? ": does the engine expect TLS, and did its CA sign DOCKER_CERT_PATH/cert.pem?" : "");
		break;
	default:
		return msg;
	}
	return r->msg;
}

/* 1 (with the message in r->msg) when a plain http:// request reached a
 * server that speaks TLS: Go's servers (dockerd among them) answer it with
 * a canned 400 that is no reply to the request. */
static int plain_to_tls(struct http_req *r, long status)
{
	static const char canned[] = "Client sent an HTTP request to an HTTPS server.";

	if (status != 400 || strncmp(r->h->base, "http://", 7) != 0 || r->h->unix_path ||
	    !memmem(r->body.data ? r->body.data : "", r->body.len, canned, sizeof canned - 1))
		return 0;
	if (r->h->docker_style)
		snprintf(r->msg, sizeof r->msg,
		         "the engine expects TLS (it answered \"%s\"): set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH "
		         "to the directory holding ca.pem, cert.pem and key.pem",
		         canned);
	else
		snprintf(r->msg, sizeof r->msg, "the server expects TLS (it answered \"%s\"): use https://", canned);
	return 1;
}

/* Takes r out of curl and the list, then calls done once and frees it. */
static void deliver(struct http_req *r, CURLcode code)
{
	struct http *h = r->h;
	struct http_response res = {0};

	curl_multi_remove_handle(h->multi, r->easy);
	unlink_req(r);
	if (r->cancelled) {
		res.error = "cancelled";
		res.fail = HTTP_FAIL_CANCELLED;
	} else {
		res.status = r->status;
		res.fail = code == CURLE_OK ? HTTP_FAIL_NONE : HTTP_FAIL_OTHER;
		if (code == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		else if (code == CURLE_OPERATION_TIMEDOUT) {
			double connected = 0;
			curl_easy_getinfo(r->easy, CURLINFO_CONNECT_TIME, &connected);
			res.fail = HTTP_FAIL_TIMEOUT;
			if (connected <= 0 && !h->unix_path)
				snprintf(r->msg, sizeof r->msg, "no connection within %ld ms (%.200s)",
				         limit_connect_ms, r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
			else if (r->timeout_ms > 0 && strstr(r->errbuf, "Operation timed out"))
				snprintf(r->msg, sizeof r->msg, "no complete reply within %ld ms", r->timeout_ms);
			else
				snprintf(r->msg, sizeof r->msg,
				         "no reply for %ld s (the request time-out: --request-timeout or "
				         "GRAPHBUILD_REQUEST_TIMEOUT)",
				         r->idle_s);
			res.error = r->msg;
		} else if (code == CURLE_COULDNT_CONNECT && h->unix_path) {
			/* curl names "localhost port 80": say what failed on the socket. */
			long oserr = 0;
			curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &oserr);
			snprintf(r->errbuf, sizeof r->errbuf, "connect: %s",
			         oserr ? strerror((int)oserr) : curl_easy_strerror(code));
			res.error = r->errbuf;
		} else {
			res.error = tls_error(r, code);
			/* the peer hung up mid-request: "transfer closed with
			 * outstanding read data", "Empty reply", a reset */
			if (res.error != r->msg && (code == CURLE_PARTIAL_FILE || code == CURLE_GOT_NOTHING ||
			                            code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR))
				res.fail = HTTP_FAIL_CLOSED;
		}
		if (code == CURLE_OK && plain_to_tls(r, res.status)) {
			/* a 400 that is no answer to the request: a transport error */
			res.status = 0;
			res.error = r->msg;
			res.fail = HTTP_FAIL_OTHER;
		}
	}
	if (!r->data && !r->cancelled) {
		buf_add(&r->body, "", 0); /* NUL-terminate even when empty */
		res.body = r->body.data;
		res.len = r->body.len;
	}
	buf_add(&r->headers, "", 0);
	res.headers = r->headers.data;
	h->delivering++;
	r->done(r->arg, &res);
	h->delivering--;
	free_req(r);
	if (h->freeing && !h->delivering)
		really_free(h);
}

/* Drains finished transfers: after every socket action, as multi-uv.c does. */
static void check_multi_info(struct http *h)
{
	CURLMsg *m;
	int left;
	h->delivering++; /* h stays alive across user callbacks */
	while (!h->freeing && (m = curl_multi_info_read(h->multi, &left))) {
		struct http_req *r;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		deliver(r, m->data.result);
	}
	h->delivering--;
	if (h->freeing && !h->delivering)
		really_free(h);
}

static void on_defer(uv_timer_t *t)
{
	struct http *h = t->data;
	struct http_req *r, *next;
	h->delivering++;
	/* Restart the scan after each delivery: the callback may cancel or
	 * finish other requests. */
	for (r = h->reqs; r && !h->freeing; r = next) {
		next = r->next;
		if (r->cancelled) {
			deliver(r, CURLE_ABORTED_BY_CALLBACK);
			next = h->reqs;
		}
	}
	h->delivering--;
	if (h->freeing && !h->delivering)
		really_free(h);
}

static char *endpoint_base(const char *ep, int tls, char **unix_path, char **err)
{
	size_t n;
	if (strncmp(ep, "unix://", 7) == 0) {
		const char *path = ep + 7;
		if (path[0] != '/') {
			*err = xasprintf("bad endpoint %s: unix:// needs an absolute path", ep);
			return NULL;
		}
		if (strlen(path) >= 108) {
			*err = xasprintf("bad endpoint %s: socket path longer than 107 bytes", ep);
			return NULL;
		}
		*unix_path = xstrdup(path);
		return xstrdup("http://localhost");
	}
	if (strncmp(ep, "tcp://", 6) == 0) {
		const char *hp = ep + 6, *after;
		n = strcspn(hp, "/");
		if (n == 0) {
			*err = xasprintf("bad endpoint %s: no host", ep);
			return NULL;
		}
		/* no port: Docker's defaults, 2376 with TLS, else 2375 */
		after = hp[0] == '[' ? memchr(hp, ']', n) : hp;
		if (!after) {
			*err = xasprintf("bad endpoint %s: no ']' after the IPv6 address", ep);
			return NULL;
		}
		if (!memchr(after, ':', n - (size_t)(after - hp)))
			return xasprintf("%s://%.*s:%d", tls ? "https" : "http", (int)n, hp, tls ? 2376 : 2375);
		return xasprintf("%s://%.*s", tls ? "https" : "http", (int)n, hp);
	}
	if (strncmp(ep, "http://", 7) == 0 || strncmp(ep, "https://", 8) == 0) {
		n = strlen(ep);
		while (n > 0 && ep[n - 1] == '/')
			n--;
		return xstrndup(ep, n);
	}
	*err = xasprintf("bad endpoint %s: expected unix://, tcp://, http:// or https://", ep);
	return NULL;
}

struct http *http_new(struct uv_loop_s *loop, const char *endpoint,
                      const char *ca, const char *cert, const char *key, char **err)
{
	struct http *h;
	char *unix_path = NULL, *base;

	*err = NULL;
	base = endpoint_base(endpoint, ca || cert || key, &unix_path, err);
	if (!base)
		return NULL;
	h = xcalloc(1, sizeof *h);
	h->loop = loop;
	h->base = base;
	h->unix_path = unix_path;
	h->ca = ca ? xstrdup(ca) : NULL;
	h->cert = cert ? xstrdup(cert) : NULL;
	h->key = key ? xstrdup(key) : NULL;
	h->docker_style = strncmp(endpoint, "tcp://", 6) == 0;
	h->remote = -1;
	h->multi = curl_multi_init();
	if (!h->multi)
		fatal("curl_multi_init failed");
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->defer);
	h->timer.data = h;
	h->defer.data = h;
	h->nhandles = 2;
	return h;
}

static int is_method(const char *m, const char *want)
{
	return m && strcasecmp(m, want) == 0;
}

struct http_req *http_request(struct http *h, const struct http_opts *o,
                              http_done_fn done, void *arg)
{
	struct http_req *r;
	CURL *e;
	const char *m = o->method ? o->method : "GET";
	char *url;
	const char *const *hp;

	if (h->freeing || !o->url)
		return NULL;
	e = curl_easy_init();
	if (!e)
		return NULL;
	r = xcalloc(1, sizeof *r);
	r->h = h;
	r->easy = e;
	r->done = done;
	r->arg = arg;
	r->read = o->read;
	r->read_arg = o->read_arg;
	r->data = o->data;
	r->data_arg = o->data_arg;

	if (strncmp(o->url, "http://", 7) == 0 || strncmp(o->url, "https://", 8) == 0)
		url = xstrdup(o->url);
	else
		url = xasprintf("%s%s%s", h->base, o->url[0] == '/' ? "" : "/", o->url);
	curl_easy_setopt(e, CURLOPT_URL, url);
	free(url);
	if (h->unix_path)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, h->unix_path);
	if (h->ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca);
	if (h->cert)
		curl_easy_setopt(e, CURLOPT_SSLCERT, h->cert);
	if (h->key)
		curl_easy_setopt(e, CURLOPT_SSLKEY, h->key);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	r->timeout_ms = o->timeout_ms;
	if (o->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	else if (limit_connect_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, limit_connect_ms);
	/* The inactivity limit: under 1 byte/s (either way) for idle_s seconds
	 * is a stall - also a server that accepts and never answers, or
	 * dribbles its headers. */
	if (!o->idle_exempt && limit_idle_s > 0) {
		r->idle_s = limit_idle_s;
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, limit_idle_s);
	}
		if (o->follow_redirects) {
		/* a redirect never changes protocol family: no file://, ftp://, … */
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, strncmp(h->base, "https://", 8) == 0 ? "https" : "http,https");
	}
	if (o->user)
		curl_easy_setopt(e, CURLOPT_USERPWD, o->user);

	for (hp = o->headers; hp && *hp; hp++)
		r->hdrs = curl_slist_append(r->hdrs, *hp);
	r->hdrs = curl_slist_append(r->hdrs, "Expect:");

	if (is_method(m, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (o->read) {
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		if (is_method(m, "PUT")) {
			curl_easy_setopt(e, CURLOPT_UPLOAD, 1L); /* unknown size: chunked */
		} else {
			curl_easy_setopt(e, CURLOPT_POST, 1L);
			r->hdrs = curl_slist_append(r->hdrs, "Transfer-Encoding: chunked");
			if (!is_method(m, "POST"))
				curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
		}
	} else if (o->body || is_method(m, "POST") || is_method(m, "PUT")) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(o->body ? o->body_len : 0));
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body ? o->body : "");
		if (!is_method(m, "POST"))
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	} else if (!is_method(m, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);

	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	h->ninflight++;
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
		unlink_req(r);
		free_req(r);
		return NULL;
	}
	return r;
}

void http_cancel(struct http_req *r)
{
	/* Deferred: we may be inside a curl callback, where removing a handle
	 * is not allowed. The transfer stops at its next callback or when the
	 * defer timer takes it out of the multi handle. */
	if (!r || r->cancelled)
		return;
	r->cancelled = 1;
	uv_timer_start(&r->h->defer, on_defer, 0, 0);
}

void http_cancel_all(struct http *h)
{
	struct http_req *r;
	for (r = h->reqs; r; r = r->next)
		r->cancelled = 1;
	if (h->reqs)
		uv_timer_start(&h->defer, on_defer, 0, 0);
}

size_t http_inflight(const struct http *h)
{
	return h->ninflight;
}

long http_status(const struct http_req *r)
{
	return r->status;
}

void http_resume(struct http_req *r)
{
	if (r && !r->cancelled)
		curl_easy_pause(r->easy, CURLPAUSE_CONT);
}

static void really_free(struct http *h)
{
	struct http_req *r;
	struct sock *s;

	/* Misuse (requests left in flight): drop them without callbacks. */
	while ((r = h->reqs)) {
		curl_multi_remove_handle(h->multi, r->easy);
		unlink_req(r);
		free_req(r);
	}
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while ((s = h->socks))
		sock_close(s);
	uv_timer_stop(&h->timer);
	uv_timer_stop(&h->defer);
	uv_close((uv_handle_t *)&h->timer, handle_closed);
	uv_close((uv_handle_t *)&h->defer, handle_closed);
}

void http_free(struct http *h)
{
	if (!h || h->freeing)
		return;
	h->freeing = 1;
	if (!h->delivering)
		really_free(h);
}

void http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- is the server on this machine? ---- */

/* 1 when sa is a loopback or unspecified address, or one of ifs'. */
static int addr_is_ours(const struct sockaddr *sa, const struct ifaddrs *ifs)
{
	struct in_addr v4;
	const struct ifaddrs *i;

	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a))
			return 1;
		if (!IN6_IS_ADDR_V4MAPPED(a)) {
			for (i = ifs; i; i = i->ifa_next)
				if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
				    memcmp(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, sizeof *a) == 0)
					return 1;
			return 0;
		}
		memcpy(&v4, a->s6_addr + 12, sizeof v4); /* ::ffff:a.b.c.d */
	} else if (sa->sa_family == AF_INET)
		v4 = ((const struct sockaddr_in *)sa)->sin_addr;
	else
		return 0;
	if ((ntohl(v4.s_addr) >> 24) == 127 || v4.s_addr == htonl(INADDR_ANY))
		return 1;
	for (i = ifs; i; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr == v4.s_addr)
			return 1;
	return 0;
}

int http_remote(struct http *h)
{
	struct addrinfo hints = {0}, *ai = NULL, *a;
	struct ifaddrs *ifs = NULL;
	const char *p = strstr(h->base, "://");
	char *host;
	size_t n;

	if (h->remote >= 0)
		return h->remote;
	h->remote = 0;
	if (h->unix_path || !p)
		return 0;
	p += 3;
	if (*p == '[') {
		p++;
		n = strcspn(p, "]");
	} else
		n = strcspn(p, ":/");
	host = xstrndup(p, n);
	hints.ai_socktype = SOCK_STREAM;
	/* a name that does not resolve counts as remote: the connection
	 * fails anyway, with curl's message */
	h->remote = 1;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0) {
		if (getifaddrs(&ifs) < 0)
			ifs = NULL;
		for (a = ai; a && h->remote; a = a->ai_next)
			if (addr_is_ours(a->ai_addr, ifs))
				h->remote = 0;
		if (ifs)
			freeifaddrs(ifs);
		freeaddrinfo(ai);
	}
	free(host);
	return h->remote;
}

void http_escape(struct buf *b, const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);

	if (!e)
		fatal("out of memory");
	buf_adds(b, e);
	curl_free(e);
}

int http_is_loopback(const char *host, size_t n)
{
	char h[64];
	struct in_addr a;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		host++, n -= 2;
	if (n >= sizeof h)
		return 0;
	memcpy(h, host, n);
	h[n] = 0;
	if (!strcasecmp(h, "localhost") || !strcmp(h, "::1"))
		return 1;
	/* dotted quad only: inet_pton takes no "127.1" shorthand */
	return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}
