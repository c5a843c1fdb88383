/* progress.h - what the user sees while work runs. On a TTY: one live line
 * per running task (name, step i/n, elapsed, last output line), redrawn on a
 * timer; plain (CI): every output line prefixed "[node step i/n]"; quiet:
 * only failures. A final summary table (node, built/reused/..., seconds). */
#ifndef GRAPHBUILD_PROGRESS_H
#define GRAPHBUILD_PROGRESS_H

#include <stddef.h>

struct uv_loop_s;
struct progress;
struct ptask;

/* How many output lines a failure report shows. */
#define PROGRESS_TAIL_LINES 30

enum progress_mode { PROGRESS_AUTO, PROGRESS_TTY, PROGRESS_PLAIN, PROGRESS_QUIET };

/* Writes to stderr. AUTO picks TTY when stderr is a terminal, else PLAIN. */
struct progress *progress_new(struct uv_loop_s *loop, enum progress_mode m);
/* Stops the redraw timer and frees (handles closed: run the loop after). */
void progress_free(struct progress *p);
enum progress_mode progress_mode(const struct progress *p);
/* A task for a node with nsteps steps (0: not step-based, e.g. a service). */
struct ptask *progress_task(struct progress *p, const char *name, int nsteps);
/* The task moved to step i (1-based) described by desc (e.g. run "make").
 * Moving to another step index starts a fresh output tail. */
void progress_step(struct ptask *t, int i, const char *desc);
/* Output of the running step; split into lines, kept as the tail (last 30
 * lines) for failure reports; printed prefixed in PLAIN mode. */
void progress_output(struct ptask *t, const char *data, size_t n);
/* The task finished: status is "built", "reused", "pulled", "started",
 * "healthy", "completed", "failed", "skipped", "cancelled", ... */
void progress_done(struct ptask *t, const char *status);
/* The last (up to 30) output lines of a task, '\n'-joined (valid until free). */
const char *progress_tail(struct ptask *t);
/* Prints "  last output of NAME:" and the last (up to 30) lines of text as
 * "    | line" to stderr; nothing when text is empty. */
void progress_print_tail(const char *name, const char *text, size_t len);
/* A line for people, printed above the live area (printf-style). */
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the summary table of every task (name, status, seconds). */
void progress_summary(struct progress *p);

#endif
