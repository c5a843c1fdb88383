/* docker_reply.c - fuzzes the Engine API reply parsers of engine/docker.c
 * (included, for its static on_done and parsers): the reply of one call is
 * handed to on_done as the HTTP layer would. Input: one selector byte, then
 * the body. Low nibble: what was asked (image inspect, image list,
 * container inspect on a network, container list, create, wait, network,
 * volume list, /version, commit, exec inspect, container inspect without a
 * network, an idempotent create); high nibble: the status (200, 201, 204,
 * 304, 404, 409, 500, a transfer that broke). The result must be what
 * docker.h promises: an error line when !ok, strings where it says so. */
#include "fuzz.h"

#include "../../engine/docker.c"

static void touch(const char *s)
{
	if (s)
		FZ_ASSERT(strlen(s) < (size_t)-1);
}

static void check_result(void *arg, const struct docker_result *r)
{
	size_t i, j;

	*(int *)arg += 1;
	FZ_ASSERT(r->ok || (r->error && *r->error));
	touch(r->error);
	touch(r->id);
	for (i = 0; i < r->nimages; i++) {
		const struct docker_image *im = &r->images[i];

		touch(im->id);
		touch(im->key);
		touch(im->node);
		touch(im->parent);
		for (j = 0; j < im->ntags; j++)
			FZ_ASSERT(im->tags[j] != NULL && strcmp(im->tags[j], "<none>:<none>") != 0);
	}
	for (i = 0; i < r->ncontainers; i++) {
		const struct docker_container *c = &r->containers[i];

		touch(c->id);
		touch(c->image);
		touch(c->ip);
		touch(c->started_at);
		touch(c->finished_at);
		FZ_ASSERT(c->name && c->state && c->health && c->ports);
		FZ_ASSERT(c->name[0] != '/' || c->name[1] == '/' || 1);
		for (j = 0; j < c->nlabels; j++) {
			FZ_ASSERT(c->label_k[j] && c->label_v[j]);
			if (j)
				FZ_ASSERT(strcmp(c->label_k[j - 1], c->label_k[j]) <= 0);
		}
	}
	if (r->body && r->len) /* not NUL-terminated: r->len bytes */
		FZ_ASSERT(memchr(r->body, 0, r->len) || 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[16] = {200, 201, 204, 304, 404, 409, 500, 200,
	                                  200, 200, 200, 200, 200, 200, 200, 200};
	static const enum kind kinds[16] = {K_IMAGE,  K_IMAGES, K_CONTAINER, K_CONTAINERS,
	                                    K_ID,     K_WAIT,   K_PLAIN,     K_VOLUMES,
	                                    K_CONNECT, K_COMMIT, K_EXEC,     K_CONTAINER,
	                                    K_PLAIN,  K_IMAGE,  K_IMAGES,    K_CONTAINERS};
	struct docker d = {.host = "unix:///fuzz/docker.sock", .ver = OUR_API};
	struct http_response resp = {0};
	struct call *c;
	char *body;
	int sel, called = 0;

	if (size < 1)
		return 0;
	sel = data[0];
	body = malloc(size); /* exactly the body: no terminator, as curl gives it */
	if (!body)
		abort();
	memcpy(body, data + 1, size - 1);
	c = call_new(&d, kinds[sel & 15], check_result, &called);
	c->mode = M_BUF;
	if ((sel & 15) == 2)
		c->network = xstrdup("gbfuzznet");
	if ((sel & 15) == 3 || (sel & 15) == 0)
		c->ok_extra = 304;
	if ((sel & 15) == 12)
		c->exists_ok = 1;
	if (c->kind == K_CONNECT || c->kind == K_COMMIT || c->kind == K_EXEC)
		c->step = 2; /* the last request of the chain: no further request */
	if (c->kind == K_CONNECT)
		c->step = 1;
	if (c->kind == K_EXEC)
		c->tries = 1000;
	if (c->kind == K_COMMIT)
		c->id = xstrdup("0123456789ab");
	resp.status = statuses[sel >> 4 & 15];
	if ((sel >> 4) == 7)
		resp.error = "transfer closed with outstanding read data remaining";
	if ((sel >> 4) == 8) {
		resp.status = 0;
		resp.error = "Connection refused";
	}
	resp.body = body;
	resp.len = size - 1;
	resp.headers = "";
	on_done(c, &resp);
	FZ_ASSERT(called == 1); /* the async contract: exactly once */
	free(body);
	return 0;
}
