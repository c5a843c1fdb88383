/* build_dockerfile.c - adopting a Dockerfile: POST /build with a context tar
 * of exactly the inputs. */
#define _GNU_SOURCE
#include "build_int.h"
#include "graphbuild/http.h"

/* ---- dockerfile adoption ---- */

static void on_built(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (j->tw.err)
		set_err(j, "%s:%d: %s", j->n->pos.file, j->n->pos.line, j->tw.err);
	else if (!r->ok)
		set_err(j, "%s:%d: docker build: %s", j->n->pos.file, j->n->pos.line, r->error);
	tarw_free(&j->tw);
	if (stopped(j))
		return cleanup(j);
	tag_latest(j, r->id ? r->id : j->image);
}

static void build_output(void *arg, int stream, const char *data, size_t n)
{
	struct bjob *j = arg;

	(void)stream;
	progress_output(j->t, data, n);
}

void start_dockerfile(struct bjob *j)
{
	const struct image *im = &j->n->u.image;
	const struct selection *sel = &j->n->kx->inputs;
	struct buf q = {0}, js = {0};
	size_t i;
	char *ref;

	tarw_free(&j->tw);
	j->tw.root = im->context;
	for (i = 0; i < sel->n; i++) {
		char *host = path_join(im->context, sel->v[i].path);
		if (S_ISLNK(sel->v[i].mode))
			tarw_add(&j->tw, sel->v[i].path, '2', 0777, 0, sel->v[i].link, NULL, NULL, 0);
		else {
			tarw_add(&j->tw, sel->v[i].path, '0', sel->v[i].mode, sel->v[i].size, NULL, host,
			         sel->v[i].path, 0);
			tarw_verify(&j->tw, sel->v[i].hash);
		}
		free(host);
	}
	tarw_sort(&j->tw);
	ref = cache_ref(j->n);
	set_image(j, ref);
	buf_adds(&q, "t=");
	http_escape(&q, ref);
	free(ref);
	buf_adds(&q, "&rm=1&forcerm=1&dockerfile=");
	http_escape(&q, im->dockerfile);
	if (im->target) {
		buf_adds(&q, "&target=");
		http_escape(&q, im->target);
	}
	if (im->args.n) {
		buf_addc(&js, '{');
		for (i = 0; i < im->args.n; i++) {
			if (i)
				buf_addc(&js, ',');
			buf_json_str(&js, im->args.k[i]);
			buf_addc(&js, ':');
			buf_json_str(&js, im->args.v[i]);
		}
		buf_addc(&js, '}');
		buf_adds(&q, "&buildargs=");
		http_escape(&q, js.data);
		js.len = 0;
	}
	buf_adds(&js, "{\"graphbuild.key\":");
	buf_json_str(&js, j->n->keyhex);
	buf_adds(&js, ",\"graphbuild.node\":");
	buf_json_str(&js, j->n->name);
	for (i = 0; i < im->labels.n; i++) {
		buf_addc(&js, ',');
		buf_json_str(&js, im->labels.k[i]);
		buf_addc(&js, ':');
		buf_json_str(&js, im->labels.v[i]);
	}
	buf_addc(&js, '}');
	buf_adds(&q, "&labels=");
	http_escape(&q, js.data);
	progress_step(j->t, 1, "docker build");
	if (docker_build(j->b->d, q.data, tarw_read, &j->tw, build_output, j, on_built, j) < 0)
		set_err(j, "cannot start a request to the engine");
	else
		j->inflight++;
	buf_free(&q);
	buf_free(&js);
	if (stopped(j))
		cleanup(j);
}
