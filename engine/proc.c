/* proc.c - child processes of a job (rootfs commands and tar), on the loop,
 * with optional stdout capture. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- child processes (rootfs) ---- */

static void proc_closed(uv_handle_t *h)
{
	struct proc *pr = h->data;

	if (--pr->nclose == 0)
		free(pr);
}

static void proc_maybe_done(struct proc *pr)
{
	struct bjob *j = pr->j;

	if (!pr->exited || !pr->eof)
		return;
	j->proc = NULL;
	j->inflight--;
	pr->nclose = pr->capture ? 2 : 1;
	uv_close((uv_handle_t *)&pr->p, proc_closed);
	if (pr->capture)
		uv_close((uv_handle_t *)&pr->out, proc_closed);
	pr->done(j, pr->status, pr->sig);
}

static void proc_exit(uv_process_t *p, int64_t status, int sig)
{
	struct proc *pr = p->data;

	pr->exited = 1;
	pr->status = (long)status;
	pr->sig = sig;
	proc_maybe_done(pr);
}

static void proc_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	static char buf[65536];
	(void)h;
	(void)sz;
	b->base = buf; /* one loop thread: the buffer is consumed before the next read */
	b->len = sizeof(buf);
}

static void proc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct proc *pr = s->data;

	if (n > 0 && pr->j->t)
		progress_output(pr->j->t, b->base, (size_t)n);
	if (n < 0) {
		uv_read_stop(s);
		pr->eof = 1;
		proc_maybe_done(pr);
	}
}

/* Spawns argv (in its own process group, with the job's owner lock as fd 3
 * when it has one); output to the task when capture.
 * 0, or -1 with the job's error set. */
int proc_spawn(struct bjob *j, char **argv, char **env, int capture, proc_done_fn done)
{
	uv_loop_t *loop = loop_of(j->b->d);
	struct proc *pr = xcalloc(1, sizeof(*pr));
	uv_process_options_t o;
	uv_stdio_container_t io[4];
	int rc;

	memset(&o, 0, sizeof(o));
	pr->j = j;
	pr->done = done;
	pr->capture = capture;
	pr->p.data = pr;
	pr->out.data = pr;
	/* stdin closed; stdout captured when asked (the command itself says
	 * `exec 2>&1`, so stderr joins it); stderr otherwise ignored */
	io[0].flags = UV_IGNORE;
	io[2].flags = UV_IGNORE;
	if (capture) {
		uv_pipe_init(loop, &pr->out, 0);
		io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		io[1].data.stream = (uv_stream_t *)&pr->out;
	} else {
		io[1].flags = UV_IGNORE;
		pr->eof = 1;
	}
	o.file = argv[0];
	o.args = argv;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 3;
	/* the job's owner lock as fd 3: held while any of its processes lives,
	 * so a sweep after kill -9 knows the command outlived graphbuild */
	if (j->ownerfd >= 0) {
		io[3].flags = UV_INHERIT_FD;
		io[3].data.fd = j->ownerfd;
		o.stdio_count = 4;
	}
	o.exit_cb = proc_exit;
	o.flags = UV_PROCESS_DETACHED; /* own process group: Ctrl-C reaches us, we kill it */
	rc = uv_spawn(loop, &pr->p, &o);
	if (rc < 0) {
		set_err(j, "cannot run %s: %s", argv[0], uv_strerror(rc));
		pr->nclose = capture ? 2 : 1;
		uv_close((uv_handle_t *)&pr->p, proc_closed);
		if (capture)
			uv_close((uv_handle_t *)&pr->out, proc_closed);
		return -1;
	}
	if (capture)
		uv_read_start((uv_stream_t *)&pr->out, proc_alloc, proc_read);
	j->proc = pr;
	j->inflight++;
	return 0;
}
