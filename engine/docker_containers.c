/* docker_containers.c - containers through the Engine API: create (the
 * spec as the engine's JSON), start, wait, logs (followed streams and their
 * grace), stop, kill, remove, inspect, list; archives into and out of them;
 * the networks and volumes they attach to. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "docker_int.h"
#include "graphbuild/graph.h"

/* ---- containers ---- */

static void add_labels(cJSON *o, char **k, char **v, size_t n)
{
	cJSON *l = cJSON_AddObjectToObject(o, "Labels");
	for (size_t i = 0; i < n; i++)
		cJSON_AddStringToObject(l, k[i], v[i]);
}

/* The image-config part of a spec: shared by create and commit. */
void add_config(cJSON *o, const struct docker_spec *s, int commit)
{
	char port[32];
	if (s->cmd_set)
		cJSON_AddItemToObject(o, "Cmd", json_str_array(s->cmd, s->ncmd));
	if (s->entrypoint_set)
		/* [] (not null) clears the image's entrypoint in a create. */
		cJSON_AddItemToObject(o, "Entrypoint", json_str_array(s->entrypoint, s->nentrypoint));
	if (s->nenv || !commit)
		cJSON_AddItemToObject(o, "Env", json_str_array(s->env, s->nenv));
	if (s->workdir)
		cJSON_AddStringToObject(o, "WorkingDir", s->workdir);
	if (s->user)
		cJSON_AddStringToObject(o, "User", s->user);
	if (s->nexpose || s->nports) {
		cJSON *e = cJSON_AddObjectToObject(o, "ExposedPorts");
		for (size_t i = 0; i < s->nexpose; i++) {
			snprintf(port, sizeof port, "%d/tcp", s->expose[i]);
			if (!cJSON_GetObjectItemCaseSensitive(e, port))
				cJSON_AddObjectToObject(e, port);
		}
		for (size_t i = 0; !commit && i < s->nports; i++) {
			snprintf(port, sizeof port, "%d/%s", s->ports[i].container_port,
			         s->ports[i].proto ? s->ports[i].proto : "tcp");
			if (!cJSON_GetObjectItemCaseSensitive(e, port))
				cJSON_AddObjectToObject(e, port);
		}
	}
	if (s->nvolumes) {
		cJSON *v = cJSON_AddObjectToObject(o, "Volumes");
		for (size_t i = 0; i < s->nvolumes; i++)
			if (!cJSON_GetObjectItemCaseSensitive(v, s->volumes[i]))
				cJSON_AddObjectToObject(v, s->volumes[i]);
	}
	if (s->stop_signal)
		cJSON_AddStringToObject(o, "StopSignal", s->stop_signal);
	if (s->healthcheck) {
		const struct healthcheck *h = s->healthcheck;
		cJSON *hc = cJSON_AddObjectToObject(o, "Healthcheck");
		cJSON_AddItemToObject(hc, "Test", json_str_array(h->test.v, h->test.n));
		/* durations in nanoseconds; 0 leaves the engine's default */
		if (h->interval_ms)
			cJSON_AddNumberToObject(hc, "Interval", (double)h->interval_ms * 1e6);
		if (h->timeout_ms)
			cJSON_AddNumberToObject(hc, "Timeout", (double)h->timeout_ms * 1e6);
		if (h->start_period_ms)
			cJSON_AddNumberToObject(hc, "StartPeriod", (double)h->start_period_ms * 1e6);
		if (h->retries)
			cJSON_AddNumberToObject(hc, "Retries", h->retries);
	}
	if (s->nlabels)
		add_labels(o, s->label_k, s->label_v, s->nlabels);
}

/* HostConfig.Ulimits for nofile and nproc at our own hard limits, capped at
 * what Podman 4.3 keeps for itself (it lowers its own nproc to 32768, and its
 * runtime inherits that). Rootful Podman writes 1048576 for both into every
 * spec; where the runtime lacks CAP_SYS_RESOURCE (a container, a CI sandbox)
 * it may not raise a limit above its own hard one and every start fails
 * "error setting rlimit". Docker's containers inherit dockerd's limits, which
 * sit at or above these on a normal host. nproc does not bind root. */
static void add_ulimits(cJSON *hc)
{
	static const struct { int res; const char *name; rlim_t cap; } lim[] = {
		{RLIMIT_NOFILE, "nofile", 1048576},
		{RLIMIT_NPROC, "nproc", 32768},
	};
	cJSON *arr = NULL;
	for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		struct rlimit rl;
		if (getrlimit(lim[i].res, &rl) != 0)
			continue;
		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > lim[i].cap)
			rl.rlim_max = lim[i].cap;
		if (!arr)
			arr = cJSON_AddArrayToObject(hc, "Ulimits");
		cJSON *u = cJSON_CreateObject();
		cJSON_AddStringToObject(u, "Name", lim[i].name);
		cJSON_AddNumberToObject(u, "Soft", (double)rl.rlim_max);
		cJSON_AddNumberToObject(u, "Hard", (double)rl.rlim_max);
		cJSON_AddItemToArray(arr, u);
	}
}

int docker_container_create(struct docker *d, const struct docker_spec *s, docker_cb cb, void *arg)
{
	cJSON *o = cJSON_CreateObject(), *hc, *ms, *pb;
	struct buf b = {0};
	char port[32], hp[16];
	char *body;
	int rc;

	if (s->image)
		cJSON_AddStringToObject(o, "Image", s->image);
	add_config(o, s, 0);
	if (s->stop_timeout >= 0)
		cJSON_AddNumberToObject(o, "StopTimeout", s->stop_timeout);
	hc = cJSON_AddObjectToObject(o, "HostConfig");
	add_ulimits(hc);
	if (s->nmounts) {
		ms = cJSON_AddArrayToObject(hc, "Mounts");
		for (size_t i = 0; i < s->nmounts; i++) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "Type", s->mounts[i].type ? s->mounts[i].type : "volume");
			if (s->mounts[i].source)
				cJSON_AddStringToObject(m, "Source", s->mounts[i].source);
			cJSON_AddStringToObject(m, "Target", s->mounts[i].target ? s->mounts[i].target : "");
			if (s->mounts[i].readonly)
				cJSON_AddTrueToObject(m, "ReadOnly");
			cJSON_AddItemToArray(ms, m);
		}
	}
	if (s->nports) {
		pb = cJSON_AddObjectToObject(hc, "PortBindings");
		for (size_t i = 0; i < s->nports; i++) {
			const struct docker_port *p = &s->ports[i];
			cJSON *arr, *bind = cJSON_CreateObject();
			snprintf(port, sizeof port, "%d/%s", p->container_port, p->proto ? p->proto : "tcp");
			arr = cJSON_GetObjectItemCaseSensitive(pb, port);
			if (!arr)
				arr = cJSON_AddArrayToObject(pb, port);
			cJSON_AddStringToObject(bind, "HostIp", p->host_ip ? p->host_ip : "");
			snprintf(hp, sizeof hp, "%d", p->host_port);
			cJSON_AddStringToObject(bind, "HostPort", p->host_port ? hp : "");
			cJSON_AddItemToArray(arr, bind);
		}
	}
	if (s->network)
		cJSON_AddStringToObject(hc, "NetworkMode", s->network);
	if (s->init)
		cJSON_AddBoolToObject(hc, "Init", 1);
	{
		cJSON *rp = cJSON_AddObjectToObject(hc, "RestartPolicy");
		cJSON_AddStringToObject(rp, "Name", s->restart ? s->restart : "no");
	}
	if (s->network) {
		cJSON *nc = cJSON_AddObjectToObject(o, "NetworkingConfig");
		cJSON *ec = cJSON_AddObjectToObject(nc, "EndpointsConfig");
		cJSON *ep = cJSON_AddObjectToObject(ec, s->network);
		if (s->naliases)
			cJSON_AddItemToObject(ep, "Aliases", json_str_array(s->aliases, s->naliases));
	}
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	buf_adds(&b, "/containers/create");
	if (s->name) {
		buf_adds(&b, "?name=");
		http_escape(&b, s->name);
	}
	buf_adds(&b, "");
	{
		/* A create is let finish when its owner is cancelled: the engine
		 * goes on making the container after the client hangs up, where no
		 * sweep would see it yet; answered, the owner removes what it got. */
		struct call *c = call_new(d, K_ID, cb, arg);
		c->keep = 1;
		rc = call_start(c, "POST", b.data, "application/json", body, NULL);
		buf_free(&b);
	}
	cJSON_free(body);
	return rc;
}

static int container_op(struct docker *d, enum kind k, const char *method, const char *id,
                        const char *op, const char *query, long ok_extra, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, k, cb, arg);
	int rc;
	c->ok_extra = ok_extra;
	buf_adds(&b, "/containers/");
	path_esc(&b, id);
	buf_adds(&b, op);
	if (query)
		buf_adds(&b, query);
	rc = call_start(c, method, b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* 304 "already started" counts as success: the state asked for holds. */
int docker_container_start(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_PLAIN, "POST", id, "/start", NULL, 304, cb, arg);
}

int docker_container_wait(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_WAIT, "POST", id, "/wait", NULL, 0, cb, arg);
}

int docker_container_logs(struct docker *d, const char *id, int follow, long since, int tail,
                          docker_output_fn out, void *outarg, docker_cb cb, void *arg)
{
	struct buf b = {0}, q = {0};
	struct call *c = call_new(d, follow && tail <= 0 ? K_LOGS : K_PLAIN, cb, arg);
	int rc;
	c->mode = M_MUX;
	c->out = out;
	c->outarg = outarg;
	buf_adds(&q, "/containers/");
	path_esc(&q, id);
	buf_adds(&q, "/logs?stdout=1&stderr=1");
	if (since > 0)
		buf_printf(&q, "&since=%ld", since);
	if (tail > 0)
		buf_printf(&q, "&tail=%d", tail);
	buf_printf(&b, "%s&follow=%d", q.data, follow ? 1 : 0);
	c->query = buf_take(&q); /* the catch-up read: same range, no follow */
	c->id = xstrdup(id);
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	if (rc == 0 && c->kind == K_LOGS) {
		c->fnext = d->follows;
		d->follows = c;
	}
	return rc;
}

static void settle_arm(struct docker *d);

static void on_settle(uv_timer_t *t)
{
	struct docker *d = t->data;
	uint64_t now = uv_now(d->loop);
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->settle_at && c->settle_at <= now && !c->settled && c->req) {
			c->settled = 1;
			http_cancel(c->req); /* done comes from the loop: catch-up read */
		}
	settle_arm(d);
}

/* Arms the timer for the earliest grace still running. */
static void settle_arm(struct docker *d)
{
	uint64_t first = 0, now = uv_now(d->loop);
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->settle_at && !c->settled && (!first || c->settle_at < first))
			first = c->settle_at;
	if (!first) {
		if (d->settle)
			uv_timer_stop(d->settle);
		return;
	}
	if (!d->settle) {
		d->settle = xcalloc(1, sizeof *d->settle);
		uv_timer_init(d->loop, d->settle);
		d->settle->data = d;
		uv_unref((uv_handle_t *)d->settle); /* the request keeps the loop alive */
	}
	uv_timer_start(d->settle, on_settle, first > now ? first - now : 0, 0);
}

void docker_logs_settle(struct docker *d, const char *id, unsigned grace_ms)
{
	for (struct call *c = d->follows; c; c = c->fnext)
		if (c->id && !strcmp(c->id, id) && !c->settle_at)
			c->settle_at = uv_now(d->loop) + grace_ms;
	settle_arm(d);
}

/* 304 "already stopped" counts as success. */
int docker_container_stop(struct docker *d, const char *id, int timeout_s, docker_cb cb, void *arg)
{
	char q[32] = "";
	if (timeout_s >= 0)
		snprintf(q, sizeof q, "?t=%d", timeout_s);
	return container_op(d, K_PLAIN, "POST", id, "/stop", q, 304, cb, arg);
}

int docker_container_kill(struct docker *d, const char *id, docker_cb cb, void *arg)
{
	return container_op(d, K_PLAIN, "POST", id, "/kill", NULL, 0, cb, arg);
}

int docker_container_remove(struct docker *d, const char *id, int force, int volumes,
                            docker_cb cb, void *arg)
{
	char q[32];
	snprintf(q, sizeof q, "?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
	return container_op(d, K_PLAIN, "DELETE", id, "", q, 0, cb, arg);
}

int docker_container_inspect(struct docker *d, const char *id, const char *network,
                             docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_CONTAINER, cb, arg);
	int rc;
	c->network = network ? xstrdup(network) : NULL;
	buf_adds(&b, "/containers/");
	path_esc(&b, id);
	buf_adds(&b, "/json");
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

int docker_container_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/containers/json?all=1");
	add_label_filter(&b, label, '&');
	return call_simple(d, K_CONTAINERS, "GET", &b, NULL, NULL, cb, arg);
}

/* ---- copying into and out of containers ---- */

int docker_archive_put(struct docker *d, const char *id, const char *path, docker_read_fn rd,
                       void *rdarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	int rc;
	c->rd = rd;
	c->rdarg = rdarg;
	buf_adds(&b, "/containers/");
	path_esc(&b, id);
	buf_adds(&b, "/archive?path=");
	http_escape(&b, path);
	rc = call_start(c, "PUT", b.data, "application/x-tar", NULL, NULL);
	buf_free(&b);
	return rc;
}

int docker_archive_get(struct docker *d, const char *id, const char *path, docker_data_fn data,
                       void *dataarg, docker_cb cb, void *arg)
{
	struct buf b = {0};
	struct call *c = call_new(d, K_PLAIN, cb, arg);
	int rc;
	c->mode = M_RAW;
	c->data = data;
	c->dataarg = dataarg;
	buf_adds(&b, "/containers/");
	path_esc(&b, id);
	buf_adds(&b, "/archive?path=");
	http_escape(&b, path);
	rc = call_start(c, "GET", b.data, NULL, NULL, NULL);
	buf_free(&b);
	return rc;
}

/* ---- networks and volumes ---- */

static char *named_body(const char *name, const char *lk, const char *lv, int network)
{
	cJSON *o = cJSON_CreateObject();
	char *s, *r;
	cJSON_AddStringToObject(o, "Name", name);
	if (network)
		cJSON_AddTrueToObject(o, "CheckDuplicate");
	if (lk) {
		cJSON *l = cJSON_AddObjectToObject(o, "Labels");
		cJSON_AddStringToObject(l, lk, lv ? lv : "");
	}
	s = cJSON_PrintUnformatted(o);
	r = xstrdup(s);
	cJSON_free(s);
	cJSON_Delete(o);
	return r;
}

int docker_network_create(struct docker *d, const char *name, const char *label_k,
                          const char *label_v, docker_cb cb, void *arg)
{
	struct call *c = call_new(d, K_ID, cb, arg);
	char *body = named_body(name, label_k, label_v, 1);
	int rc;
	c->exists_ok = 1;
	rc = call_start(c, "POST", "/networks/create", "application/json", body, NULL);
	free(body);
	return rc;
}

int docker_network_remove(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/networks/");
	path_esc(&b, name);
	return call_simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

int docker_volume_create(struct docker *d, const char *name, const char *label_k,
                         const char *label_v, docker_cb cb, void *arg)
{
	char *body = named_body(name, label_k, label_v, 0);
	struct buf b = {0};
	int rc;
	buf_adds(&b, "/volumes/create");
	rc = call_simple(d, K_PLAIN, "POST", &b, "application/json", body, cb, arg);
	free(body);
	return rc;
}

int docker_volume_remove(struct docker *d, const char *name, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/volumes/");
	path_esc(&b, name);
	return call_simple(d, K_PLAIN, "DELETE", &b, NULL, NULL, cb, arg);
}

int docker_volume_list(struct docker *d, const char *label, docker_cb cb, void *arg)
{
	struct buf b = {0};
	buf_adds(&b, "/volumes");
	add_label_filter(&b, label, '?');
	return call_simple(d, K_VOLUMES, "GET", &b, NULL, NULL, cb, arg);
}
