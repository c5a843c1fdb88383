/* docker_stream.c - the two streamed reply formats of the Engine API, decoded
 * as they arrive (inside curl's write callback: no completion here): the JSON
 * progress stream of pull, push, import and build (one object a line: status,
 * stream, errors, the id an import or build names) and the multiplexed
 * stdout/stderr of logs, attach and exec (8-byte frame headers; a reply
 * without them, a TTY's, passes raw). Split from docker.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graphbuild/docker.h"
#include "graphbuild/util.h"
#include "docker_int.h"

/* ---- streams (inside curl's write callback: no completion here) ---- */

static void json_object(struct call *c, const char *s, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(s, n);
	const cJSON *aux, *det;
	const char *v;

	if (!j)
		return;
	if (!c->stream_err) {
		if ((v = jstr(j, "error")))
			c->stream_err = xstrdup(v);
		else if ((det = jobj(j, "errorDetail")) && (v = jstr(det, "message")))
			c->stream_err = xstrdup(v);
	}
	if ((v = jstr(j, "status"))) {
		if (c->status && !c->abort && c->status(c->statusarg, v) < 0)
			c->abort = 1;
		if (strncmp(v, "sha256:", 7) == 0) { /* import: the new image */
			free(c->stream_id);
			c->stream_id = xstrdup(v);
		} else if (strncmp(v, "Digest: ", 8) == 0) { /* pull */
			free(c->stream_id);
			c->stream_id = xstrdup(v + 8);
		}
	}
	if ((aux = jobj(j, "aux"))) {
		if ((v = jstr(aux, "ID")) || (v = jstr(aux, "Digest"))) { /* build, push */
			free(c->stream_id);
			c->stream_id = xstrdup(v);
		}
	}
	if ((v = jstr(j, "stream")) && c->out)
		c->out(c->outarg, 1, v, strlen(v));
	cJSON_Delete(j);
}

void json_feed(struct call *c, const char *p, size_t n, int flush)
{
	size_t start = 0, i;
	buf_add(&c->line, p, n);
	for (i = 0; i < c->line.len; i++)
		if (c->line.data[i] == '\n') {
			if (i > start)
				json_object(c, c->line.data + start, i - start);
			start = i + 1;
		}
	if (flush && start < c->line.len) {
		json_object(c, c->line.data + start, c->line.len - start);
		start = c->line.len;
	}
	memmove(c->line.data, c->line.data + start, c->line.len - start);
	c->line.len -= start;
}

/* Multiplexed stdout/stderr: 8-byte headers [stream,0,0,0,size BE32] then
 * the payload. Payload bytes are passed on as they arrive (no copy); only a
 * header split across reads is reassembled. A stream that does not start
 * with a valid header (a TTY container) is passed through as stdout. */
/* Passes demuxed bytes on; a logs catch-up skips what was delivered. */
static void emit(struct call *c, int stream, const char *p, size_t n)
{
	if (c->catchup) {
		size_t k = c->seen[stream] < n ? c->seen[stream] : n;
		c->seen[stream] -= k;
		p += k;
		n -= k;
	} else
		c->seen[stream] += n;
	if (n && c->out)
		c->out(c->outarg, stream, p, n);
}

void mux_feed(struct call *c, const char *p, size_t n)
{
	while (n > 0) {
		if (c->raw) {
			emit(c, 1, p, n);
			return;
		}
		if (c->frame_left == 0) {
			size_t k = 8 - (size_t)c->hdr_have;
			if (k > n)
				k = n;
			memcpy(c->hdr + c->hdr_have, p, k);
			c->hdr_have += (int)k;
			p += k;
			n -= k;
			if (c->hdr_have < 8)
				return;
			c->hdr_have = 0;
			if (c->hdr[0] > 2 || c->hdr[1] || c->hdr[2] || c->hdr[3]) {
				c->raw = 1;
				emit(c, 1, (const char *)c->hdr, 8);
				continue;
			}
			c->frame_stream = c->hdr[0] == 2 ? 2 : 1;
			c->frame_left = (uint32_t)c->hdr[4] << 24 | (uint32_t)c->hdr[5] << 16 |
			                (uint32_t)c->hdr[6] << 8 | (uint32_t)c->hdr[7];
			continue;
		}
		size_t k = c->frame_left < n ? c->frame_left : n;
		emit(c, c->frame_stream, p, k);
		c->frame_left -= (uint32_t)k;
		p += k;
		n -= k;
	}
}
