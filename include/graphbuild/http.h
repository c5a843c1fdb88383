/* http.h - HTTP/1.1 over a unix socket or TCP (optionally TLS), with libcurl's
 * multi socket API driven by a libuv loop: one uv_poll per socket, one
 * uv_timer for curl's timeouts. Many requests in flight; bodies stream both
 * ways. The only module that includes curl.h. */
#ifndef GRAPHBUILD_HTTP_H
#define GRAPHBUILD_HTTP_H

#include <stddef.h>
#include <sys/types.h>

struct uv_loop_s;
struct http;
struct http_req;

/* Upload source: fill buf with up to n bytes; return the count, 0 at the end,
 * -1 to abort the transfer, or HTTP_READ_PAUSE to pause it until
 * http_resume(). */
#define HTTP_READ_PAUSE (-2)
typedef ssize_t (*http_read_fn)(void *arg, char *buf, size_t n);
/* Streamed response data (called as it arrives). Return 0, or -1 to abort. */
typedef int (*http_data_fn)(void *arg, const char *data, size_t n);

/* Why a transfer failed, as one state (never a string compare). */
enum http_fail {
	HTTP_FAIL_NONE = 0,    /* no transport error (see status) */
	HTTP_FAIL_OTHER,       /* another transport error: see error */
	HTTP_FAIL_CANCELLED,   /* http_cancel / http_cancel_all */
	HTTP_FAIL_TIMEOUT,     /* connect time-out or the inactivity limit */
	HTTP_FAIL_CLOSED,      /* the server closed or reset the connection */
};

struct http_response {
	long status;           /* 0 if the transfer failed before a status */
	const char *error;     /* transport error (curl's message), or NULL */
	enum http_fail fail;   /* HTTP_FAIL_NONE exactly when error is NULL */
	const char *body;      /* accumulated body when no data_fn was given */
	size_t len;
	const char *headers;   /* raw response header block */
};
/* Called exactly once per accepted request. The response is valid only during
 * the call. */
typedef void (*http_done_fn)(void *arg, const struct http_response *r);

struct http_opts {
	const char *method;            /* "GET", "POST", "PUT", "DELETE", "HEAD" */
	const char *url;               /* full URL or, for the engine, a path */
	const char *const *headers;    /* NULL-terminated "Name: value" lines */
	const char *body;              /* request body (copied), or NULL */
	size_t body_len;
	http_read_fn read;             /* streaming request body (chunked) */
	void *read_arg;
	http_data_fn data;             /* streaming response body */
	void *data_arg;
	long timeout_ms;               /* whole request; 0: none */
	long connect_timeout_ms;       /* 0: the process default (http_global_limits) */
	int idle_exempt;               /* a stream that idles by nature (logs -f,
	                                  wait, attach): no inactivity limit */
	int follow_redirects;
	const char *user;              /* basic auth "user:password", or NULL */
};

/* An endpoint: "unix:///path/docker.sock", "tcp://host[:port]" (http, or
 * https when any TLS path is set; no port: 2375, with TLS 2376, as Docker) or
 * a base URL ("http://127.0.0.1:5000"). TLS: set ca/cert/key paths (any may
 * be NULL).
 * Returns NULL with *err (malloc'd) on a malformed endpoint. */
struct http *http_new(struct uv_loop_s *loop, const char *endpoint,
                      const char *ca, const char *cert, const char *key, char **err);
/* Starts a request. Returns the request (valid until done is called) or NULL
 * on failure to start (done is then never called). */
struct http_req *http_request(struct http *h, const struct http_opts *o,
                              http_done_fn done, void *arg);
/* Aborts a request in flight; done is called with error "cancelled" from the
 * loop soon after (never from inside http_cancel). Safe inside callbacks. */
void http_cancel(struct http_req *r);
/* Aborts everything in flight (each done gets "cancelled"). */
void http_cancel_all(struct http *h);
/* Number of requests in flight. */
size_t http_inflight(const struct http *h);
/* Closes the client; must be called with nothing in flight. Handles are closed
 * asynchronously: run the loop afterwards so uv_loop_close() succeeds. */
void http_free(struct http *h);
/* Resumes an upload whose read fn returned HTTP_READ_PAUSE; call it once new
 * data is available (allowed inside callbacks). */
void http_resume(struct http_req *r);
/* The status of the last response status line received so far (0 before
 * it): lets a data fn tell an error body from the stream it expected. */
long http_status(const struct http_req *r);

/* 1 when the server is on another machine: a TCP endpoint whose host
 * resolves to no loopback, unspecified or local interface address (decided
 * once, with a blocking name lookup, then remembered); 0 for unix sockets and
 * this machine. */
int http_remote(struct http *h);

/* Process-wide limits for every request from now on (set once by the CLI,
 * like curl's global init): connect_ms, the connect time-out (0: curl's
 * default), and idle_s, the inactivity limit - a transfer that moves no
 * byte either way for idle_s seconds fails with HTTP_FAIL_TIMEOUT (0: none;
 * requests with idle_exempt never have one). */
void http_global_limits(long connect_ms, long idle_s);
/* The inactivity limit in force, seconds (0: none). */
long http_idle_limit(void);

struct buf;
/* Appends s percent-encoded for a URL's query or path segment: everything
 * but the unreserved characters (A-Z a-z 0-9 - . _ ~), by curl_easy_escape. */
void http_escape(struct buf *b, const char *s);
/* 1 when host (n bytes, no port; an IPv6 address bare or in brackets) names
 * this machine's loopback: "localhost", 127.0.0.0/8 or ::1. The one rule for
 * where plain HTTP is allowed (registries, module imports). */
int http_is_loopback(const char *host, size_t n);

/* Global init/cleanup of libcurl (once per process). */
void http_global_init(void);
void http_global_cleanup(void);

#endif
