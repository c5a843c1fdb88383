/* docker_commit.c - the two chained calls that turn a container into
 * results: commit (its config as Dockerfile-style changes, the parent's
 * config read first) and exec (create, start attached, inspect until the
 * exit is recorded). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "docker_int.h"

/* One Dockerfile-style value in double quotes for a commit change. Docker
 * unescapes \\ \" \$ inside quotes (and expands $VAR); Podman 4.3 only
 * strips the outer quotes. Returns 0 for a value no single line can carry. */
static int change_value(struct buf *b, const char *v, int podman)
{
	if (strchr(v, '\n') || strchr(v, '\r') || (podman && strchr(v, '"')))
		return 0;
	buf_addc(b, '"');
	for (; *v; v++) {
		if (!podman && (*v == '\\' || *v == '"' || *v == '$'))
			buf_addc(b, '\\');
		buf_addc(b, *v);
	}
	buf_addc(b, '"');
	return 1;
}

/* One "&changes=" query parameter from a line. */
static void change_add(struct buf *q, struct buf *line)
{
	buf_adds(line, "");
	buf_adds(q, "&changes=");
	http_escape(q, line->data);
	line->len = 0;
}

/* The commit config again as `changes` query parameters (CMD, ENTRYPOINT,
 * ENV, WORKDIR, USER, EXPOSE, LABEL): Podman 4.3 ignores the /commit body,
 * Docker applies both (changes after the body, the same values). */
static void commit_changes(struct buf *q, const cJSON *cfg, int podman)
{
	struct buf l = {0};
	const cJSON *v, *it;
	char *js;
	static const char *const arrays[] = {"Cmd", "CMD ", "Entrypoint", "ENTRYPOINT "};
	for (size_t i = 0; i < 4; i += 2) {
		v = cJSON_GetObjectItemCaseSensitive(cfg, arrays[i]);
		if (!cJSON_IsArray(v))
			continue;
		js = cJSON_PrintUnformatted(v);
		buf_adds(&l, arrays[i + 1]);
		buf_adds(&l, js);
		cJSON_free(js);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "Env");
	cJSON_ArrayForEach(it, v)
	{
		const char *e = cJSON_IsString(it) ? it->valuestring : NULL, *eq;
		if (!e || !(eq = strchr(e, '=')) || eq == e)
			continue;
		buf_printf(&l, "ENV %.*s=", (int)(eq - e), e);
		if (change_value(&l, eq + 1, podman))
			change_add(q, &l);
		l.len = 0;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "WorkingDir")) && cJSON_IsString(v) && *v->valuestring) {
		buf_printf(&l, "WORKDIR %s", v->valuestring);
		change_add(q, &l);
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(cfg, "User")) && cJSON_IsString(v) && *v->valuestring) {
		buf_printf(&l, "USER %s", v->valuestring);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "ExposedPorts");
	cJSON_ArrayForEach(it, v)
	{
		buf_printf(&l, "EXPOSE %s", it->string);
		change_add(q, &l);
	}
	v = cJSON_GetObjectItemCaseSensitive(cfg, "Labels");
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it))
			continue;
		buf_printf(&l, "LABEL %s=", it->string);
		if (change_value(&l, it->valuestring, podman))
			change_add(q, &l);
		l.len = 0;
	}
	/* Added with VOLUME and STOPSIGNAL: sent to Podman only (Docker has
	 * them from the body). Podman 4.3 takes no HEALTHCHECK change. */
	v = cJSON_GetObjectItemCaseSensitive(cfg, "Volumes");
	if (!podman)
		v = NULL;
	cJSON_ArrayForEach(it, v)
	{
		cJSON *a = cJSON_CreateArray();
		cJSON_AddItemToArray(a, cJSON_CreateString(it->string));
		js = cJSON_PrintUnformatted(a);
		buf_printf(&l, "VOLUME %s", js);
		cJSON_free(js);
		cJSON_Delete(a);
		change_add(q, &l);
	}
	if (podman && (v = cJSON_GetObjectItemCaseSensitive(cfg, "StopSignal")) && cJSON_IsString(v)) {
		buf_printf(&l, "STOPSIGNAL %s", v->valuestring);
		change_add(q, &l);
	}
	buf_free(&l);
}

/* The commit request: the query with its changes, the body. */
static int commit_post(struct call *c, int first)
{
	struct buf q = {0};
	char *body = cJSON_PrintUnformatted(c->config);
	int rc = 0;
	buf_adds(&q, c->query);
	commit_changes(&q, c->config, c->d->podman);
	buf_adds(&q, "");
	c->step = 2;
	if (first)
		rc = call_start(c, "POST", q.data, "application/json", body, NULL);
	else
		call_next(c, "POST", q.data, "application/json", body);
	cJSON_free(body);
	buf_free(&q);
	return rc;
}

/* Commit merges the request's config with the *container's* (the engine's
 * merge(): an empty Cmd takes the container's, i.e. the step's command). So
 * "inherit" (cmd_set == 0) is resolved here: the parent image's Cmd and
 * Entrypoint are read and sent explicitly. Steps: 0 container inspect (only
 * when spec->image does not name the parent), 1 image inspect, 2 commit. */
static void commit_send(struct call *c)
{
	commit_post(c, 0);
}

static void commit_parent(struct call *c, const char *image)
{
	struct buf b = {0};
	c->step = 1;
	buf_adds(&b, "/images/");
	path_esc(&b, image);
	buf_adds(&b, "/json");
	call_next(c, "GET", b.data, NULL, NULL);
	buf_free(&b);
}

void finish_commit(struct call *c, cJSON *j, struct docker_result *res)
{
	const cJSON *cfg, *v;
	switch (c->step) {
	case 0:
		if (!j || !jstr(j, "Image")) {
			call_fail(c, res->status, "engine: container %s has no image", c->id);
			return;
		}
		commit_parent(c, jstr(j, "Image"));
		return;
	case 1:
		cfg = j ? jobj(j, "Config") : NULL;
		v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Entrypoint") : NULL;
		if (c->need_entrypoint && cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
			cJSON_AddItemToObject(c->config, "Entrypoint", cJSON_Duplicate(v, 1));
		v = cfg ? cJSON_GetObjectItemCaseSensitive(cfg, "Cmd") : NULL;
		if (c->need_cmd && cJSON_IsArray(v) && cJSON_GetArraySize(v) > 0)
			cJSON_AddItemToObject(c->config, "Cmd", cJSON_Duplicate(v, 1));
		commit_send(c);
		return;
	default: {
		/* Podman answers the bare hex; Docker (and every other reply
		 * here) "sha256:<hex>": the caller compares them. */
		char *full = NULL;
		const char *id = j ? jstr(j, "Id") : NULL;
		if (id && strlen(id) == 64 && strspn(id, "0123456789abcdef") == 64)
			id = full = xasprintf("sha256:%s", id);
		if (id)
			res->id = id;
		call_complete(c, res);
		free(full);
	}
	}
}

int docker_commit(struct docker *d, const char *id, const char *repo, const char *tag,
                  const struct docker_spec *config, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_COMMIT, cb, arg);
	struct buf b = {0};
	int rc;

	c->id = xstrdup(id);
	c->config = cJSON_CreateObject();
	if (config)
		add_config(c->config, config, 1);
	c->need_cmd = !config || !config->cmd_set;
	c->need_entrypoint = !config || !config->entrypoint_set;
	buf_adds(&b, "/commit?container=");
	http_escape(&b, id);
	if (repo) {
		buf_adds(&b, "&repo=");
		http_escape(&b, repo);
	}
	if (tag) {
		buf_adds(&b, "&tag=");
		http_escape(&b, tag);
	}
	c->query = buf_take(&b);
	if (!c->need_cmd && !c->need_entrypoint)
		return commit_post(c, 1);
	if (config && config->image) {
		c->step = 1;
		buf_adds(&b, "/images/");
		path_esc(&b, config->image);
		buf_adds(&b, "/json");
	} else {
		buf_adds(&b, "/containers/");
		path_esc(&b, id);
		buf_adds(&b, "/json");
	}
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* ---- exec: create (0), start attached (1), inspect (2, repeated while the
 * engine still reports it running: the stream can end just before the exit
 * is recorded) ---- */

static void exec_inspect(struct call *c)
{
	char *p = xasprintf("/exec/%s/json", c->id);
	c->step = 2;
	call_next(c, "GET", p, NULL, NULL);
	free(p);
}

void finish_exec(struct call *c, cJSON *j, struct docker_result *res)
{
	char *p;
	const cJSON *running;
	switch (c->step) {
	case 0:
		if (!j || !jstr(j, "Id")) {
			call_fail(c, res->status, "engine: exec create returned no Id");
			return;
		}
		c->id = xstrdup(jstr(j, "Id"));
		p = xasprintf("/exec/%s/start", c->id);
		c->step = 1;
		c->mode = M_MUX;
		if (call_send(c, "POST", p, "application/json", "{\"Detach\":false,\"Tty\":false}", NULL) < 0)
			call_fail(c, 0, "engine: cannot start a request to %s", c->d->host);
		free(p);
		return;
	case 1:
		exec_inspect(c);
		return;
	default:
		running = j ? cJSON_GetObjectItemCaseSensitive(j, "Running") : NULL;
		if (cJSON_IsTrue(running) && c->tries++ < 200) {
			exec_inspect(c);
			return;
		}
		res->id = c->id;
		res->exit_code = j ? (long)jnum(j, "ExitCode") : -1;
		call_complete(c, res);
	}
}

int docker_exec(struct docker *d, const char *id, char **argv, size_t argc,
                docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	return docker_exec_as(d, id, NULL, argv, argc, out, outarg, cb, arg);
}

int docker_exec_as(struct docker *d, const char *id, const char *user, char **argv, size_t argc,
                   docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_EXEC, cb, arg);
	cJSON *o = cJSON_CreateObject();
	char *body, *p;
	struct buf b = {0};
	int rc;

	c->out = out;
	c->outarg = outarg;
	cJSON_AddItemToObject(o, "Cmd", json_str_array(argv, argc));
	if (user)
		cJSON_AddStringToObject(o, "User", user);
	cJSON_AddTrueToObject(o, "AttachStdout");
	cJSON_AddTrueToObject(o, "AttachStderr");
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	buf_adds(&b, "/containers/");
	path_esc(&b, id);
	buf_adds(&b, "/exec");
	p = buf_take(&b);
	rc = call_start(c, "POST", p, "application/json", body, NULL);
	free(p);
	cJSON_free(body);
	return rc;
}
