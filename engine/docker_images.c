/* docker_images.c - images through the Engine API: inspect, list, tag,
 * remove, pull and push (JSON progress streams), import (with Podman's
 * retag), POST /build, and pull with credentials for registry.c. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "docker_int.h"

/* ---- images ---- */

int docker_image_inspect(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	path_esc(&b, name);
	buf_adds(&b, "/json");
	return call_simple(d, K_IMAGE, "GET", &b, NULL, NULL, cb, arg);
}

int docker_image_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/json");
	add_label_filter(&b, label, '?');
	return call_simple(d, K_IMAGES, "GET", &b, NULL, NULL, cb, arg);
}

int docker_image_tag(struct docker *d, const char *src, const char *repo, const char *tag,
                     docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	path_esc(&b, src);
	buf_adds(&b, "/tag?repo=");
	http_escape(&b, repo);
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
	}
	return call_simple(d, K_PLAIN, "POST", &b, NULL, NULL, cb, arg);
}

int docker_image_remove(struct docker *d, const char *name, int force, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	path_esc(&b, name);
	if (force)
		buf_adds(&b, "?force=1");
	return call_simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

/* POSTs path b (freed) on a call c already set up for a JSON stream. */
static int json_start(struct call *c, struct buf *b, const char *ctype, const char *auth)
{
	int rc;
	c->mode = M_JSON;
	buf_adds(b, "");
	rc = call_start(c, "POST", b->data, ctype, NULL, auth);
	buf_free(b);
	return rc;
}

static int json_stream(struct docker *d, struct buf *b, const char *ctype, docker_read_fn rd,
                       void *rdarg, const char *auth, docker_output_fn out, void *outarg,
                       docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	c->rd = rd;
	c->rdarg = rdarg;
	c->out = out;
	c->outarg = outarg;
	return json_start(c, b, ctype, auth);
}

int docker_image_pull(struct docker *d, const char *ref, docker_cb cb, void *arg)
{
	return docker_image_pull_auth(d, ref, NULL, NULL, NULL, cb, arg);
}

/* A pull or push with X-Registry-Auth and a status watcher. */
static int registry_stream(struct docker *d, struct buf *b, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	c->status = status;
	c->statusarg = statusarg;
	return json_start(c, b, NULL, auth_b64 && *auth_b64 ? auth_b64 : NO_AUTH);
}

int docker_image_push(struct docker *d, const char *repo, const char *tag, const char *auth_b64,
                      docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/");
	path_esc(&b, repo);
	buf_adds(&b, "/push");
	if (tag) {
		buf_adds(&b, "?tag=");
		http_escape(&b, tag);
	}
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}

/* Podman 4.3's import ignores `tag` and names the image REPO:latest: the
 * import is followed by a tag of its ID as REPO:TAG and an untag (never a
 * removal) of REPO:latest from that ID. The caller sees one import. */
struct import_fix {
	struct docker *d;
	char *repo, *tag, *id;
	docker_cb cb;
	void *arg;
};

static void import_fix_done(struct import_fix *f, const struct docker_result *r)
{
	struct docker_result res = {0};
	if (!r) {
		res.ok = 1;
		res.id = f->id;
		res.exit_code = -1;
		r = &res;
	}
	f->cb(f->arg, r);
	free(f->repo);
	free(f->tag);
	free(f->id);
	free(f);
}

static void on_import_untagged(void *arg, const struct docker_result *r)
{
	(void)r; /* a REPO:latest left behind is only clutter */
	import_fix_done(arg, NULL);
}

static void on_import_tagged(void *arg, const struct docker_result *r)
{
	struct import_fix *f = arg;
	struct buf b = {0};
	if (!r->ok)
		return import_fix_done(f, r);
	buf_adds(&b, "/libpod/images/");
	path_esc(&b, f->id);
	buf_adds(&b, "/untag?repo=");
	{
		/* the libpod API takes the full name the compat import gave */
		const char *sl = strchr(f->repo, '/');
		char *full;
		if (!sl)
			full = xasprintf("docker.io/library/%s", f->repo);
		else if (!memchr(f->repo, '.', (size_t)(sl - f->repo)) &&
		         !memchr(f->repo, ':', (size_t)(sl - f->repo)) && strncmp(f->repo, "localhost/", 10))
			full = xasprintf("docker.io/%s", f->repo);
		else
			full = xstrdup(f->repo);
		http_escape(&b, full);
		free(full);
	}
	buf_adds(&b, "&tag=latest");
	if (call_simple(f->d, K_PLAIN, "POST", &b, NULL, NULL, on_import_untagged, f) < 0)
		import_fix_done(f, NULL);
}

static void on_import_podman(void *arg, const struct docker_result *r)
{
	struct import_fix *f = arg;
	if (!r->ok || !r->id)
		return import_fix_done(f, r);
	f->id = xstrdup(r->id);
	if (docker_image_tag(f->d, f->id, f->repo, f->tag, on_import_tagged, f) < 0) {
		struct docker_result res = {.error = "engine: cannot start a request", .exit_code = -1};
		import_fix_done(f, &res);
	}
}

/* The import's Dockerfile-style changes as query parameters. */
static void add_changes(struct buf *b, const char *const *changes)
{
	for (; changes && *changes; changes++) {
		buf_adds(b, "&changes=");
		http_escape(b, *changes);
	}
}

int docker_image_import(struct docker *d, const char *repo, const char *tag, docker_read_fn rd,
                        void *rdarg, docker_cb cb, void *arg)
{
	return docker_image_import_changes(d, repo, tag, NULL, rd, rdarg, cb, arg);
}

int docker_image_import_changes(struct docker *d, const char *repo, const char *tag,
                                const char *const *changes, docker_read_fn rd, void *rdarg,
                                docker_cb cb, void *arg)
{
	struct buf b = {0};
	if (d->podman && repo && tag && strcmp(tag, "latest")) {
		struct import_fix *f = xcalloc(1, sizeof *f);
		int rc;
		f->d = d;
		f->repo = xstrdup(repo);
		f->tag = xstrdup(tag);
		f->cb = cb;
		f->arg = arg;
		buf_adds(&b, "/images/create?fromSrc=-&repo=");
		http_escape(&b, repo);
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
		add_changes(&b, changes);
		rc = json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, NULL, NULL, on_import_podman, f);
		if (rc < 0) {
			free(f->repo);
			free(f->tag);
			free(f);
		}
		return rc;
	}
	buf_adds(&b, "/images/create?fromSrc=-");
	if (repo) {
		buf_adds(&b, "&repo=");
		http_escape(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
	}
	add_changes(&b, changes);
	return json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, NULL, NULL, cb, arg);
}

int docker_build(struct docker *d, const char *query, docker_read_fn rd, void *rdarg,
                 docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/build");
	if (query && *query)
		buf_printf(&b, "?%s", query);
	return json_stream(d, &b, "application/x-tar", rd, rdarg, NULL, out, outarg, cb, arg);
}

/* ---- pull with credentials (for registry.c; the credentials: registry_auth.c) ---- */

int docker_image_pull_auth(struct docker *d, const char *ref, const char *auth_b64,
                           docker_status_fn status, void *statusarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/images/create?fromImage=");
	http_escape(&b, ref);
	return registry_stream(d, &b, auth_b64, status, statusarg, cb, arg);
}
