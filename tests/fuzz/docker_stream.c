/* docker_stream.c - fuzzes the Engine API's streamed replies in
 * engine/docker.c (included): the JSON progress stream of pull, push,
 * import and build (json_feed: one object per line, error/errorDetail,
 * status, aux IDs, build output) and the multiplexed stdout/stderr framing
 * of logs and exec (mux_feed: 8-byte headers split anywhere, a TTY stream
 * passed through), fed in chunks as curl delivers them, then ended by
 * on_done as a 200 reply. Input: a flags byte (bit 0: mux, else JSON; bit 1:
 * a logs catch-up re-read; bit 2: the status watcher aborts; bit 3: the
 * stream comes with a 500 status), a chunk-size byte, then the stream. */
#include "fuzz.h"

#include "../../engine/docker.c"

static size_t emitted;

static void out(void *arg, int stream, const char *p, size_t n)
{
	(void)arg;
	FZ_ASSERT(stream == 1 || stream == 2);
	FZ_ASSERT(memchr(p, 0, n) || 1); /* reads every byte (ASan) */
	emitted += n;
}

static int watch(void *arg, const char *status)
{
	FZ_ASSERT(status != NULL);
	return *(int *)arg ? -1 : 0;
}

static void done(void *arg, const struct docker_result *r)
{
	*(int *)arg += 1;
	FZ_ASSERT(r->ok || (r->error && *r->error));
	if (r->id)
		FZ_ASSERT(strlen(r->id) < (size_t)-1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker d = {.host = "unix:///fuzz/docker.sock", .ver = OUR_API};
	struct http_response resp = {0};
	struct call *c;
	size_t chunk, off;
	int flags, called = 0, abort_watch;
	char *copy;

	if (size < 2)
		return 0;
	flags = data[0];
	chunk = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	abort_watch = (flags & 4) != 0;
	c = call_new(&d, (flags & 1) ? K_LOGS : K_PLAIN, done, &called);
	c->mode = (flags & 1) ? M_MUX : M_JSON;
	c->out = out;
	c->status = watch;
	c->statusarg = &abort_watch;
	if (flags & 2) {
		c->catchup = 1;
		c->seen[1] = size / 3;
		c->seen[2] = size / 5;
	}
	emitted = 0;
	for (off = 0; off < size; off += chunk) {
		size_t k = size - off < chunk ? size - off : chunk;

		copy = malloc(k); /* each chunk its own buffer, as curl's */
		if (!copy)
			abort();
		memcpy(copy, data + off, k);
		if (flags & 8) { /* an error status: the body is kept for the message */
			if (c->errbody.len < ERRBODY_MAX)
				buf_add(&c->errbody, copy, k);
		} else if (c->mode == M_JSON)
			json_feed(c, copy, k, 0);
		else
			mux_feed(c, copy, k);
		free(copy);
		if (c->abort)
			break;
	}
	if (c->mode == M_MUX)
		FZ_ASSERT(emitted <= size);
	/* the end of the transfer, as http.c reports it */
	if (c->kind == K_LOGS)
		c->catchup = 1; /* no second read: there is no engine */
	resp.status = (flags & 8) ? 500 : 200;
	if (c->abort) /* on_data returned -1: curl ends the transfer */
		resp.error = "Failure writing output to destination";
	resp.headers = "";
	on_done(c, &resp);
	FZ_ASSERT(called == 1);
	return 0;
}
