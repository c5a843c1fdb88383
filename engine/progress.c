/* progress.c - what the user sees while work runs. TTY: one live line per
 * running task, redrawn by a 10 Hz uv_timer with ANSI cursor movement, and a
 * permanent line per finished task above the live area. PLAIN: every output
 * line prefixed "[node step i/n]". QUIET: nothing (failures are reported by
 * the caller from progress_tail). Every task keeps the last TAIL_LINES lines
 * of its output (each capped at LINE_MAX_BYTES), so a step printing 100 MB
 * costs a ring of 30 short lines, not 100 MB. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uv.h>

#include "graphbuild/progress.h"
#include "graphbuild/util.h"

#define TAIL_LINES PROGRESS_TAIL_LINES
#define LINE_MAX_BYTES 1024

struct ptask {
	struct progress *p;
	char *name;
	int nsteps, step;
	char *desc;
	uint64_t t0, t1;
	char *status;           /* NULL while running */
	char *ring[TAIL_LINES];
	size_t ringpos, nring;
	struct buf partial;     /* current unfinished line (capped) */
	int partial_cut;        /* the partial line exceeded the cap */
	char *tail;             /* progress_tail's joined copy */
};

struct progress {
	uv_timer_t timer;
	enum progress_mode mode;
	int color;
	int timer_on;
	int drawn;              /* live lines currently on screen */
	struct ptask **v;
	size_t n;
};

static void redraw(struct progress *p);

static void on_timer(uv_timer_t *t)
{
	redraw(t->data);
}

struct progress *progress_new(struct uv_loop_s *loop, enum progress_mode m)
{
	struct progress *p = xcalloc(1, sizeof(*p));

	if (m == PROGRESS_AUTO)
		m = isatty(2) ? PROGRESS_TTY : PROGRESS_PLAIN;
	p->mode = m;
	p->color = use_color(2);
	uv_timer_init(loop, &p->timer);
	p->timer.data = p;
	if (m == PROGRESS_TTY) {
		uv_timer_start(&p->timer, on_timer, 100, 100);
		uv_unref((uv_handle_t *)&p->timer); /* never keeps a loop alive by itself */
		p->timer_on = 1;
	}
	return p;
}

static void task_free(struct ptask *t)
{
	size_t i;

	for (i = 0; i < TAIL_LINES; i++)
		free(t->ring[i]);
	buf_free(&t->partial);
	free(t->name);
	free(t->desc);
	free(t->status);
	free(t->tail);
	free(t);
}

static void on_close(uv_handle_t *h)
{
	free(h->data);
}

static void clear_live(struct progress *p);

void progress_free(struct progress *p)
{
	size_t i;

	if (!p)
		return;
	clear_live(p);
	for (i = 0; i < p->n; i++)
		task_free(p->v[i]);
	free(p->v);
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, on_close);
}

enum progress_mode progress_mode(const struct progress *p)
{
	return p->mode;
}

struct ptask *progress_task(struct progress *p, const char *name, int nsteps)
{
	struct ptask *t = xcalloc(1, sizeof(*t));

	t->p = p;
	t->name = xstrdup(name);
	t->nsteps = nsteps;
	t->t0 = now_ms();
	p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
	p->v[p->n++] = t;
	return t;
}

static const char *c(const struct progress *p, const char *code)
{
	return p->color ? code : "";
}

/* "[name step i/n]" or "[name]". */
static void prefix(struct ptask *t, char *out, size_t n)
{
	if (t->nsteps > 0 && t->step > 0)
		snprintf(out, n, "[%s step %d/%d]", t->name, t->step, t->nsteps);
	else
		snprintf(out, n, "[%s]", t->name);
}

static void add_line(struct ptask *t, const char *s, size_t n);

void progress_step(struct ptask *t, int i, const char *desc)
{
	char pre[256];
	size_t k;

	if (i != t->step) {
		/* a new step: the tail is its own output, never the one before's */
		if (t->partial.len) {
			add_line(t, t->partial.data, t->partial.len);
			t->partial.len = 0;
		}
		for (k = 0; k < TAIL_LINES; k++) {
			free(t->ring[k]);
			t->ring[k] = NULL;
		}
		t->ringpos = t->nring = 0;
	}
	t->step = i;
	free(t->desc);
	t->desc = xstrdup(desc ? desc : "");
	if (t->p->mode == PROGRESS_PLAIN) {
		prefix(t, pre, sizeof(pre));
		fprintf(stderr, "%s %s%s%s\n", pre, c(t->p, "\033[1m"), t->desc, c(t->p, "\033[0m"));
	}
}

static void add_line(struct ptask *t, const char *s, size_t n)
{
	char pre[256];

	if (n > LINE_MAX_BYTES)
		n = LINE_MAX_BYTES;
	free(t->ring[t->ringpos]);
	t->ring[t->ringpos] = xstrndup(s, n);
	t->ringpos = (t->ringpos + 1) % TAIL_LINES;
	if (t->nring < TAIL_LINES)
		t->nring++;
	if (t->p->mode == PROGRESS_PLAIN) {
		prefix(t, pre, sizeof(pre));
		fprintf(stderr, "%s %.*s\n", pre, (int)n, s);
	}
}

void progress_output(struct ptask *t, const char *data, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (data[i] != '\n' && data[i] != '\r')
			continue;
		if (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n')
			continue; /* CRLF: the '\n' ends the line */
		if (data[i] == '\r') {
			/* a progress bar redrawing its line: keep only what follows */
			t->partial.len = 0;
			if (t->partial.data)
				t->partial.data[0] = 0;
			start = i + 1;
			continue;
		}
		if (t->partial.len) {
			if (t->partial.len < LINE_MAX_BYTES)
				buf_add(&t->partial, data + start,
				        i - start < LINE_MAX_BYTES - t->partial.len ? i - start
				                                                    : LINE_MAX_BYTES - t->partial.len);
			add_line(t, t->partial.data, t->partial.len);
			t->partial.len = 0;
		} else {
			size_t e = i;
			if (e > start && data[e - 1] == '\r')
				e--;
			add_line(t, data + start, e - start);
		}
		start = i + 1;
	}
	if (start < n && t->partial.len < LINE_MAX_BYTES) {
		size_t k = n - start;
		if (k > LINE_MAX_BYTES - t->partial.len)
			k = LINE_MAX_BYTES - t->partial.len;
		buf_add(&t->partial, data + start, k);
	}
}

void progress_done(struct ptask *t, const char *status)
{
	struct progress *p = t->p;
	double secs;

	if (t->partial.len) {
		add_line(t, t->partial.data, t->partial.len);
		t->partial.len = 0;
	}
	t->t1 = now_ms();
	free(t->status);
	t->status = xstrdup(status);
	secs = (double)(t->t1 - t->t0) / 1000.0;
	if (p->mode == PROGRESS_QUIET)
		return;
	clear_live(p);
	if (p->mode == PROGRESS_PLAIN)
		fprintf(stderr, "[%s] %s in %.1fs\n", t->name, status, secs);
	else {
		const char *col = !strcmp(status, "failed") ? "\033[31m"
		                  : (!strcmp(status, "cancelled") || !strcmp(status, "skipped")) ? "\033[33m"
		                  : "\033[32m";
		fprintf(stderr, "%s%-10s%s %s %s(%.1fs)%s\n", c(p, col), status, c(p, "\033[0m"),
		        t->name, c(p, "\033[2m"), secs, c(p, "\033[0m"));
	}
	redraw(p);
}

const char *progress_tail(struct ptask *t)
{
	struct buf b = {0};
	size_t i;

	for (i = 0; i < t->nring; i++) {
		size_t k = (t->ringpos + TAIL_LINES - t->nring + i) % TAIL_LINES;
		buf_adds(&b, t->ring[k]);
		buf_addc(&b, '\n');
	}
	if (t->partial.len) {
		buf_add(&b, t->partial.data, t->partial.len);
		buf_addc(&b, '\n');
	}
	free(t->tail);
	t->tail = b.data ? buf_take(&b) : xstrdup("");
	return t->tail;
}

void progress_note(struct progress *p, const char *fmt, ...)
{
	va_list ap;

	if (p->mode == PROGRESS_QUIET)
		return;
	clear_live(p);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	redraw(p);
}

/* ---- the live area (TTY) ---- */

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

static void clear_live(struct progress *p)
{
	if (p->mode != PROGRESS_TTY || !p->drawn)
		return;
	fprintf(stderr, "\033[%dA\033[J", p->drawn);
	p->drawn = 0;
}

static void redraw(struct progress *p)
{
	int w = term_width();
	struct buf b = {0};
	size_t i;
	int lines = 0;

	if (p->mode != PROGRESS_TTY)
		return;
	if (p->drawn)
		buf_printf(&b, "\033[%dA", p->drawn);
	for (i = 0; i < p->n; i++) {
		struct ptask *t = p->v[i];
		char head[512], last[512] = "";
		double secs;
		int room;

		if (t->status)
			continue;
		secs = (double)(now_ms() - t->t0) / 1000.0;
		if (t->nsteps > 0 && t->step > 0)
			snprintf(head, sizeof(head), "%s %d/%d %s", t->name, t->step, t->nsteps,
			         t->desc ? t->desc : "");
		else
			snprintf(head, sizeof(head), "%s %s", t->name, t->desc ? t->desc : "");
		if (t->nring) {
			const char *l = t->ring[(t->ringpos + TAIL_LINES - 1) % TAIL_LINES];
			size_t k;
			snprintf(last, sizeof(last), "%s", l);
			for (k = 0; last[k]; k++)
				if ((unsigned char)last[k] < 32)
					last[k] = ' ';
		}
		room = w - 10;
		buf_printf(&b, "\033[2K%s%5.1fs%s %.*s", c(p, "\033[36m"), secs, c(p, "\033[0m"),
		           room > 0 ? room : 0, head);
		room -= (int)strlen(head) + 3;
		if (room > 8 && last[0])
			buf_printf(&b, " %s%.*s%s", c(p, "\033[2m"), room, last, c(p, "\033[0m"));
		buf_addc(&b, '\n');
		lines++;
	}
	if (lines < p->drawn)
		buf_adds(&b, "\033[J");
	p->drawn = lines;
	if (b.len)
		fwrite(b.data, 1, b.len, stderr);
	buf_free(&b);
}

void progress_summary(struct progress *p)
{
	size_t i, w = 4;

	if (p->mode == PROGRESS_QUIET || !p->n)
		return;
	clear_live(p);
	for (i = 0; i < p->n; i++)
		if (strlen(p->v[i]->name) > w)
			w = strlen(p->v[i]->name);
	fprintf(stderr, "%-*s  %-10s %8s\n", (int)w, "node", "status", "seconds");
	for (i = 0; i < p->n; i++) {
		struct ptask *t = p->v[i];
		double secs = t->status && t->t1 ? (double)(t->t1 - t->t0) / 1000.0 : 0.0;
		fprintf(stderr, "%-*s  %-10s %8.1f\n", (int)w, t->name,
		        t->status ? t->status : "running", secs);
	}
}

void progress_print_tail(const char *name, const char *text, size_t len)
{
	const char *p, *e, *end = text + len;
	int lines = 0;

	while (end > text && end[-1] == '\n') /* a final newline ends the last line */
		end--;
	if (end == text)
		return;
	for (p = end; p > text; p--) /* back to the start of the last TAIL_LINES lines */
		if (p[-1] == '\n' && ++lines >= TAIL_LINES)
			break;
	fprintf(stderr, "  last output of %s:\n", name);
	for (; p < end; p = e + 1) {
		e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		fprintf(stderr, "    | %.*s\n", (int)(e - p), p);
	}
}
