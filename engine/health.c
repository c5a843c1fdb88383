/* health.c - readiness probes on the loop (see health.h for the schedule).
 * tcp and http attempts are plain uv_tcp connections from the host to the
 * container's address on the project network (reachable directly on Linux):
 * http is an HTTP/1.0 GET whose status line is all we read. exec goes through
 * docker_exec; log follows the container's output and matches each line.
 *
 * A remote engine's containers are not reachable from here (their address
 * may even answer through some proxy on the way: a false "healthy"), so
 * there tcp and http attempts run inside the container through docker_exec
 * (health_via): tcp greps /proc/net/tcp{,6} for a LISTEN socket on the port
 * (needs only grep), http runs curl or wget against the container's address
 * and reads the first status line, judged as the direct probe judges it. An
 * attempt then costs an exec (create, start, inspect: three requests and a
 * process) instead of a connect; the schedule and the timeout are the same.
 *
 * Ownership: a struct health owns itself. It is freed when it has reported
 * (or was cancelled), its schedule timer is closed and no attempt or engine
 * request it started is still pending. Each tcp/http attempt embeds its
 * handles and is freed in the last close callback; an exec attempt lives
 * until both its timeout timer is closed and docker_exec called back. */
#define _GNU_SOURCE
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/health.h"
#include "graphbuild/util.h"

#define FIRST_DELAY_MS 25

struct health {
	uv_loop_t *loop;
	struct docker *d;
	struct probe p;          /* copy; strings owned */
	char *id, *ip;
	int via;                 /* enum health_via, for tcp and http */
	char **xargv;            /* what an exec attempt runs (owned) */
	size_t xargc;
	health_cb cb;
	void *arg;
	uv_timer_t timer;        /* next attempt; the deadline of a log probe */
	int timer_open;
	int reported;            /* cb called or cancelled: report nothing more */
	int pending;             /* attempts and engine requests not ended */
	uint64_t t0;
	int consecutive;
	regex_t re;
	int have_re;
	struct buf line;         /* log probe: the partial line */
};

struct attempt {             /* tcp / http */
	struct health *h;
	uv_tcp_t tcp;
	uv_timer_t to;
	uv_connect_t cr;
	uv_write_t wr;
	char *req;
	char rbuf[256];
	size_t rlen;
	int done, nopen, reading;
};

struct xattempt {            /* exec, and tcp/http run inside the container */
	struct health *h;
	uv_timer_t to;
	int done, timer_open, call_pending;
	struct buf out;          /* what it printed (first 2 KB) */
};

#define XOUT_MAX 2048

static void attempt_result(struct health *h, int ok, const char *msg);

static void health_free(struct health *h)
{
	size_t i;

	for (i = 0; i < h->p.argv.n; i++)
		free(h->p.argv.v[i]);
	free(h->p.argv.v);
	for (i = 0; i < h->xargc; i++)
		free(h->xargv[i]);
	free(h->xargv);
	free(h->p.path);
	free(h->p.regex);
	free(h->id);
	free(h->ip);
	if (h->have_re)
		regfree(&h->re);
	buf_free(&h->line);
	free(h);
}

static void maybe_free(struct health *h)
{
	if (h->reported && !h->timer_open && h->pending == 0)
		health_free(h);
}

static void on_timer_closed(uv_handle_t *t)
{
	struct health *h = t->data;

	h->timer_open = 0;
	maybe_free(h);
}

static void stop(struct health *h)
{
	h->reported = 1;
	if (h->timer_open && !uv_is_closing((uv_handle_t *)&h->timer))
		uv_close((uv_handle_t *)&h->timer, on_timer_closed);
	else
		maybe_free(h);
}

static void report(struct health *h, int ok, const char *msg)
{
	health_cb cb = h->cb;
	void *arg = h->arg;

	if (h->reported)
		return;
	h->pending++; /* keeps h alive across stop() and the callback */
	stop(h);
	cb(arg, ok, msg);
	h->pending--;
	maybe_free(h);
}

void health_cancel(struct health *h)
{
	if (h && !h->reported)
		stop(h);
}

const char *health_describe(const struct probe *p)
{
	static char s[256];

	switch (p->kind) {
	case PROBE_TCP: snprintf(s, sizeof s, "tcp %d", p->port); break;
	case PROBE_HTTP: snprintf(s, sizeof s, "http :%d%s", p->port, p->path ? p->path : "/"); break;
	case PROBE_EXEC: snprintf(s, sizeof s, "exec %s", p->argv.n ? p->argv.v[0] : "?"); break;
	case PROBE_LOG: snprintf(s, sizeof s, "log \"%s\"", p->regex ? p->regex : ""); break;
	default: snprintf(s, sizeof s, "none"); break;
	}
	return s;
}

/* ---- tcp / http ---- */

static void attempt_closed(uv_handle_t *hd)
{
	struct attempt *a = hd->data;
	struct health *h = a->h;

	if (--a->nopen > 0)
		return;
	free(a->req);
	free(a);
	h->pending--;
	maybe_free(h);
}

static void attempt_end(struct attempt *a, int ok, const char *msg)
{
	if (a->done)
		return;
	a->done = 1;
	if (a->reading)
		uv_read_stop((uv_stream_t *)&a->tcp);
	uv_close((uv_handle_t *)&a->tcp, attempt_closed);
	uv_close((uv_handle_t *)&a->to, attempt_closed);
	attempt_result(a->h, ok, msg);
}

static void attempt_timeout(uv_timer_t *t)
{
	struct attempt *a = t->data;
	char msg[128];

	snprintf(msg, sizeof msg, "%s %s:%d: no answer within %d ms", a->h->p.kind == PROBE_HTTP ? "http" : "tcp",
	         a->h->ip, a->h->p.port, a->h->p.timeout_ms);
	attempt_end(a, 0, msg);
}

static void on_alloc(uv_handle_t *hd, size_t sz, uv_buf_t *b)
{
	struct attempt *a = hd->data;

	(void)sz;
	b->base = a->rbuf + a->rlen;
	b->len = sizeof(a->rbuf) - 1 - a->rlen;
}

/* The verdict on an HTTP status, with its message (both ways of probing). */
static int status_ok(const struct probe *p, int code, char *msg, size_t n)
{
	if (p->status ? code == p->status : (code >= 200 && code < 400)) {
		snprintf(msg, n, "http %d", code);
		return 1;
	}
	if (p->status)
		snprintf(msg, n, "http status %d, expected %d", code, p->status);
	else
		snprintf(msg, n, "http status %d, expected 2xx or 3xx", code);
	return 0;
}

static void http_verdict(struct attempt *a)
{
	const struct probe *p = &a->h->p;
	char msg[160];
	int code = 0, ok;

	a->rbuf[a->rlen] = 0;
	if (sscanf(a->rbuf, "HTTP/%*d.%*d %d", &code) != 1) {
		snprintf(msg, sizeof msg, "http %s:%d%s: no HTTP status line", a->h->ip, p->port, p->path ? p->path : "/");
		attempt_end(a, 0, msg);
		return;
	}
	ok = status_ok(p, code, msg, sizeof msg);
	attempt_end(a, ok, msg);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct attempt *a = st->data;
	char msg[128];

	(void)b;
	if (a->done)
		return;
	if (n < 0) {
		if (n == UV_EOF && a->rlen) {
			http_verdict(a);
			return;
		}
		snprintf(msg, sizeof msg, "http %s:%d: %s", a->h->ip, a->h->p.port,
		         n == UV_EOF ? "connection closed before a status line" : uv_strerror((int)n));
		attempt_end(a, 0, msg);
		return;
	}
	a->rlen += (size_t)n;
	if (memchr(a->rbuf, '\n', a->rlen) || a->rlen >= sizeof(a->rbuf) - 1)
		http_verdict(a);
}

static void on_written(uv_write_t *w, int status)
{
	struct attempt *a = w->data;
	char msg[128];

	if (a->done)
		return;
	if (status < 0) {
		snprintf(msg, sizeof msg, "http %s:%d: %s", a->h->ip, a->h->p.port, uv_strerror(status));
		attempt_end(a, 0, msg);
	}
}

static void on_connect(uv_connect_t *cr, int status)
{
	struct attempt *a = cr->data;
	const struct probe *p = &a->h->p;
	char msg[128];
	uv_buf_t b;
	int rc;

	if (a->done)
		return;
	if (status < 0) {
		snprintf(msg, sizeof msg, "connect %s:%d: %s", a->h->ip, p->port, uv_strerror(status));
		attempt_end(a, 0, msg);
		return;
	}
	if (p->kind == PROBE_TCP) {
		snprintf(msg, sizeof msg, "tcp %d open", p->port);
		attempt_end(a, 1, msg);
		return;
	}
	a->req = xasprintf("GET %s HTTP/1.0\r\nHost: %s:%d\r\nUser-Agent: graphbuild\r\nConnection: close\r\n\r\n",
	                   p->path && *p->path ? p->path : "/", a->h->ip, p->port);
	b = uv_buf_init(a->req, (unsigned)strlen(a->req));
	a->wr.data = a;
	if ((rc = uv_write(&a->wr, (uv_stream_t *)&a->tcp, &b, 1, on_written)) < 0 ||
	    (rc = uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read)) < 0) {
		snprintf(msg, sizeof msg, "http %s:%d: %s", a->h->ip, p->port, uv_strerror(rc));
		attempt_end(a, 0, msg);
		return;
	}
	a->reading = 1;
}

static void tcp_attempt(struct health *h)
{
	struct attempt *a = xcalloc(1, sizeof(*a));
	struct sockaddr_storage ss;
	char msg[128];
	int rc;

	a->h = h;
	h->pending++;
	uv_tcp_init(h->loop, &a->tcp);
	uv_timer_init(h->loop, &a->to);
	a->nopen = 2;
	a->tcp.data = a->to.data = a->cr.data = a;
	uv_timer_start(&a->to, attempt_timeout, (uint64_t)(h->p.timeout_ms > 0 ? h->p.timeout_ms : 1000), 0);
	if (uv_ip4_addr(h->ip, h->p.port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(h->ip, h->p.port, (struct sockaddr_in6 *)&ss) != 0) {
		snprintf(msg, sizeof msg, "bad address %s", h->ip);
		attempt_end(a, 0, msg);
		return;
	}
	if ((rc = uv_tcp_connect(&a->cr, &a->tcp, (struct sockaddr *)&ss, on_connect)) < 0) {
		snprintf(msg, sizeof msg, "connect %s:%d: %s", h->ip, h->p.port, uv_strerror(rc));
		attempt_end(a, 0, msg);
	}
}

/* ---- exec ---- */

static void x_maybe_free(struct xattempt *x)
{
	struct health *h = x->h;

	if (x->timer_open || x->call_pending)
		return;
	buf_free(&x->out);
	free(x);
	h->pending--;
	maybe_free(h);
}

static void x_timer_closed(uv_handle_t *t)
{
	struct xattempt *x = t->data;

	x->timer_open = 0;
	x_maybe_free(x);
}

static void x_end(struct xattempt *x, int ok, const char *msg)
{
	if (x->done)
		return;
	x->done = 1;
	uv_close((uv_handle_t *)&x->to, x_timer_closed);
	attempt_result(x->h, ok, msg);
}

/* What an exec attempt is called in messages: "exec pg_isready", or
 * "tcp 5432 (run inside the container)". */
static const char *x_name(const struct health *h, char *s, size_t n)
{
	if (h->p.kind == PROBE_EXEC)
		snprintf(s, n, "exec %s", h->p.argv.v[0]);
	else
		snprintf(s, n, "%s (run inside the container)", health_describe(&h->p));
	return s;
}

static void x_timeout(uv_timer_t *t)
{
	struct xattempt *x = t->data;
	char msg[320], name[256];

	snprintf(msg, sizeof msg, "%s: no exit within %d ms", x_name(x->h, name, sizeof name), x->h->p.timeout_ms);
	x_end(x, 0, msg);
}

static void x_out(void *arg, int stream, const char *data, size_t n)
{
	struct xattempt *x = arg;

	(void)stream;
	if (x->out.len < XOUT_MAX)
		buf_add(&x->out, data, n < XOUT_MAX - x->out.len ? n : XOUT_MAX - x->out.len);
}

/* The last line of s that is not empty and does not start with skip (NULL:
 * any), trimmed, into line: the tool's complaint comes last. */
static const char *last_line(const char *s, const char *skip, char *line, size_t n)
{
	line[0] = 0;
	while (s && *s) {
		size_t k;
		s += strspn(s, " \t\r\n");
		k = strcspn(s, "\r\n");
		if (k && (!skip || strncmp(s, skip, strlen(skip)) != 0))
			snprintf(line, n, "%.*s", (int)k, s);
		s += k;
	}
	return line;
}

/* The http probe run inside the container: the first status line curl or
 * wget printed decides, as the direct probe's does. */
static int x_http_verdict(struct health *h, const char *out, char *msg, size_t n)
{
	const char *s = out;
	char line[200], name[256];
	int code;

	while ((s = strstr(s, "HTTP/"))) {
		if (sscanf(s, "HTTP/%*[0-9.] %d", &code) == 1 && code > 0)
			return status_ok(&h->p, code, msg, n);
		s += 5;
	}
	snprintf(msg, n, "%.256s: no HTTP status: %.200s", x_name(h, name, sizeof name),
	         *last_line(out, "HTTP/", line, sizeof line) ? line : "no output");
	return 0;
}

static void x_done(void *arg, const struct docker_result *r)
{
	struct xattempt *x = arg;
	struct health *h = x->h;
	char msg[768], name[256], line[200];
	int ok = 0;

	x->call_pending = 0;
	buf_add(&x->out, "", 0);
	x_name(h, name, sizeof name);
	if (!r->ok)
		snprintf(msg, sizeof msg, "%s: %s", name, r->error ? r->error : "failed");
	else if (h->p.kind == PROBE_EXEC) {
		ok = r->exit_code == 0;
		snprintf(msg, sizeof msg, "exec %s: exit code %ld", h->p.argv.v[0], r->exit_code);
	} else if (h->p.kind == PROBE_HTTP)
		ok = x_http_verdict(h, x->out.data, msg, sizeof msg);
	else if (r->exit_code == 0) {
		ok = 1;
		snprintf(msg, sizeof msg, "tcp %d is listening (seen inside the container)", h->p.port);
	} else if (r->exit_code == 1)
		snprintf(msg, sizeof msg, "tcp %d: nothing listens on it inside the container", h->p.port);
	else
		snprintf(msg, sizeof msg, "%s: grep exited with %ld (the image needs grep and /proc/net/tcp)%s%s", name,
		         r->exit_code, *last_line(x->out.data, NULL, line, sizeof line) ? ": " : "", line);
	x_end(x, ok, msg);
	x_maybe_free(x);
}

static void exec_attempt(struct health *h)
{
	struct xattempt *x = xcalloc(1, sizeof(*x));

	x->h = h;
	h->pending++;
	uv_timer_init(h->loop, &x->to);
	x->to.data = x;
	x->timer_open = 1;
	uv_timer_start(&x->to, x_timeout, (uint64_t)(h->p.timeout_ms > 0 ? h->p.timeout_ms : 1000), 0);
	x->call_pending = 1;
	if (docker_exec(h->d, h->id, h->xargv, h->xargc, x_out, x, x_done, x) < 0) {
		x->call_pending = 0;
		x_end(x, 0, "exec: cannot start a request to the engine");
		x_maybe_free(x);
	}
}

/* ---- log ---- */

static void log_line(struct health *h, const char *s, size_t n)
{
	char msg[300];
	char *l = xstrndup(s, n);
	int m = regexec(&h->re, l, 0, NULL, 0) == 0;

	if (m) {
		snprintf(msg, sizeof msg, "log matched: %.200s", l);
		report(h, 1, msg);
	}
	free(l);
}

static void log_out(void *arg, int stream, const char *data, size_t n)
{
	struct health *h = arg;
	char *nl;

	(void)stream;
	if (h->reported)
		return;
	buf_add(&h->line, data, n);
	while (!h->reported && (nl = memchr(h->line.data, '\n', h->line.len))) {
		size_t k = (size_t)(nl - h->line.data);
		log_line(h, h->line.data, k);
		memmove(h->line.data, nl + 1, h->line.len - k - 1);
		h->line.len -= k + 1;
		h->line.data[h->line.len] = 0;
	}
}

static void log_end(void *arg, const struct docker_result *r)
{
	struct health *h = arg;
	char msg[300];

	h->pending--;
	if (!h->reported && h->line.len)
		log_line(h, h->line.data, h->line.len);
	if (!h->reported) {
		if (r->ok)
			snprintf(msg, sizeof msg, "the output ended (container stopped) without a line matching /%s/", h->p.regex);
		else
			snprintf(msg, sizeof msg, "log stream: %s", r->error ? r->error : "failed");
		report(h, 0, msg);
	}
	maybe_free(h);
}

/* How long a log probe waits for its line: start period + retries x
 * interval, in 64 bits (the DSL allows values whose product overflows an int). */
static uint64_t log_window_ms(const struct probe *p)
{
	uint64_t start = p->start_period_ms > 0 ? (uint64_t)p->start_period_ms : 0;
	uint64_t tries = p->retries > 0 ? (uint64_t)p->retries : 1;
	uint64_t every = p->interval_ms > 0 ? (uint64_t)p->interval_ms : 1000;

	return start + tries * every;
}

static void log_deadline(uv_timer_t *t)
{
	struct health *h = t->data;
	char msg[300];

	snprintf(msg, sizeof msg, "no output line matched /%s/ within %llu ms", h->p.regex,
	         (unsigned long long)log_window_ms(&h->p));
	report(h, 0, msg);
}

/* ---- the schedule ---- */

static void on_tick(uv_timer_t *t)
{
	struct health *h = t->data;

	if (h->reported)
		return;
	if (h->p.kind == PROBE_EXEC || h->via == HEALTH_EXEC)
		exec_attempt(h);
	else
		tcp_attempt(h);
}

static void attempt_result(struct health *h, int ok, const char *msg)
{
	uint64_t elapsed;
	uint64_t delay;
	int retries = h->p.retries > 0 ? h->p.retries : 1;
	int interval = h->p.interval_ms > 0 ? h->p.interval_ms : 1000;

	if (h->reported)
		return;
	if (ok) {
		report(h, 1, msg);
		return;
	}
	elapsed = now_ms() - h->t0;
	if (elapsed >= (uint64_t)(h->p.start_period_ms > 0 ? h->p.start_period_ms : 0) &&
	    ++h->consecutive >= retries) {
		report(h, 0, msg);
		return;
	}
	/* fast at first, then about 5% of the time waited so far: a dependent
	 * starts at most ~max(25 ms, 5%) after readiness, up to the interval */
	delay = elapsed / 20;
	if (delay < FIRST_DELAY_MS)
		delay = FIRST_DELAY_MS;
	if (delay > (uint64_t)interval)
		delay = (uint64_t)interval;
	uv_timer_start(&h->timer, on_tick, delay, 0);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int health_via(const struct docker *d, const char **why)
{
	const char *v = getenv("GRAPHBUILD_PROBES");

	if (v && strcmp(v, "exec") == 0) {
		*why = "GRAPHBUILD_PROBES=exec";
		return HEALTH_EXEC;
	}
	if (v && strcmp(v, "direct") == 0) {
		*why = "GRAPHBUILD_PROBES=direct";
		return HEALTH_DIRECT;
	}
	if (v && *v && strcmp(v, "auto") != 0) {
		*why = "GRAPHBUILD_PROBES: expected exec, direct or auto";
		return -1;
	}
	if (docker_remote(d)) {
		*why = "the engine is remote";
		return HEALTH_EXEC;
	}
	*why = "the engine is on this machine";
	return HEALTH_DIRECT;
}

/* The argv of a tcp or http probe run inside the container. */
static void exec_argv(struct health *h, const char *ip)
{
	const struct probe *p = &h->p;
	/* $1 URL, $2 timeout in whole seconds; curl, else wget (busybox's has
	 * no -T: timeout(1) bounds it when there is one); the status lines on
	 * stdout. Our own timer bounds the attempt either way. */
	static const char http_sh[] =
	        "if command -v curl >/dev/null 2>&1; then "
	        "exec curl -sS -o /dev/null -m \"$2\" -A graphbuild -w 'HTTP/1.1 %{http_code}\\n' \"$1\" 2>&1; fi; "
	        "if command -v wget >/dev/null 2>&1; then "
	        "if command -v timeout >/dev/null 2>&1; then exec timeout \"$2\" wget -S -O /dev/null \"$1\" 2>&1; fi; "
	        "exec wget -S -O /dev/null \"$1\" 2>&1; fi; "
	        "echo 'neither curl nor wget in the container'; exit 127";
	int secs = p->timeout_ms > 0 ? (p->timeout_ms + 999) / 1000 : 1;
	const char *host = ip && *ip ? ip : "127.0.0.1";
	const char *path = p->path && *p->path ? p->path : "/";

	h->xargv = xcalloc(7, sizeof(char *));
	if (p->kind == PROBE_TCP) {
		h->xargv[h->xargc++] = xstrdup("grep");
		h->xargv[h->xargc++] = xstrdup("-qE");
		/* "  0: 00000000:1538 00000000:0000 0A ...": local port, LISTEN */
		h->xargv[h->xargc++] =
		        xasprintf("^ *[0-9]+: [0-9A-Fa-f]+:%04X [0-9A-Fa-f]+:[0-9A-Fa-f]+ 0A ", (unsigned)p->port);
		h->xargv[h->xargc++] = xstrdup("/proc/net/tcp");
		h->xargv[h->xargc++] = xstrdup("/proc/net/tcp6");
		return;
	}
	h->xargv[h->xargc++] = xstrdup("sh");
	h->xargv[h->xargc++] = xstrdup("-c");
	h->xargv[h->xargc++] = xstrdup(http_sh);
	h->xargv[h->xargc++] = xstrdup("graphbuild-probe");
	h->xargv[h->xargc++] = xasprintf(strchr(host, ':') ? "http://[%s]:%d%s%s" : "http://%s:%d%s%s", host, p->port,
	                                 path[0] == '/' ? "" : "/", path);
	h->xargv[h->xargc++] = xasprintf("%d", secs);
}

struct health *health_start(struct uv_loop_s *loop, struct docker *d, const struct probe *p,
                            const char *id, const char *ip, health_cb cb, void *arg, char **err)
{
	struct health *h;
	const char *why = NULL;
	int via = HEALTH_DIRECT;
	size_t i;

	*err = NULL;
	if ((p->kind == PROBE_TCP || p->kind == PROBE_HTTP) && (via = health_via(d, &why)) < 0) {
		*err = xasprintf("%s probe: %s", health_describe(p), why);
		return NULL;
	}
	if ((p->kind == PROBE_TCP || p->kind == PROBE_HTTP) && via == HEALTH_DIRECT && (!ip || !*ip)) {
		*err = xasprintf("%s probe: the container has no address on the project network", health_describe(p));
		return NULL;
	}
	if (p->kind == PROBE_EXEC && p->argv.n == 0) {
		*err = xstrdup("exec probe: no command");
		return NULL;
	}
	if (p->kind == PROBE_NONE) {
		*err = xstrdup("no probe");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->p = *p;
	h->p.path = dup_or_null(p->path);
	h->p.regex = dup_or_null(p->regex);
	h->p.argv.v = xcalloc(p->argv.n + 1, sizeof(char *));
	for (i = 0; i < p->argv.n; i++)
		h->p.argv.v[i] = xstrdup(p->argv.v[i]);
	h->id = xstrdup(id);
	h->ip = dup_or_null(ip);
	h->via = via;
	if (p->kind == PROBE_EXEC) {
		h->xargv = xcalloc(p->argv.n + 1, sizeof(char *));
		for (i = 0; i < p->argv.n; i++)
			h->xargv[h->xargc++] = xstrdup(p->argv.v[i]);
	} else if (via == HEALTH_EXEC)
		exec_argv(h, ip);
	h->loop = loop;
	h->d = d;
	h->cb = cb;
	h->arg = arg;
	h->t0 = now_ms();
	if (p->kind == PROBE_LOG) {
		int rc = regcomp(&h->re, p->regex ? p->regex : "", REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char eb[128];
			regerror(rc, &h->re, eb, sizeof eb);
			*err = xasprintf("log probe /%s/: %s", p->regex ? p->regex : "", eb);
			health_free(h);
			return NULL;
		}
		h->have_re = 1;
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->timer_open = 1;
	if (p->kind == PROBE_LOG) {
		h->pending++;
		if (docker_container_logs(d, id, 1, 0, 0, log_out, h, log_end, h) < 0) {
			h->pending--;
			h->reported = 1;
			uv_close((uv_handle_t *)&h->timer, on_timer_closed);
			*err = xstrdup("log probe: cannot start a request to the engine");
			return NULL;
		}
		uv_timer_start(&h->timer, log_deadline, log_window_ms(p), 0);
		return h;
	}
	uv_timer_start(&h->timer, on_tick, 0, 0);
	return h;
}
