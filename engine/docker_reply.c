/* docker_reply.c - the Engine API's replies read into docker.h's structs:
 * images, containers (inspect and list), their labels, ports and addresses,
 * times, and the engine's error messages made fit for a terminal. Pure
 * functions of the reply (no I/O): fuzzed by tests/fuzz/docker_reply.c
 * through docker.c's on_done. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker_int.h"

/* RFC 3339 UTC ("2026-12-01T21:25:44.995601222Z") to nanoseconds; 0 if bad. */
static long long parse_time_ns(const char *s)
{
	struct tm tm = {0};
	long long ns = 0;
	int n = 0, digits = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return 0;
	/* fields in range, years that nanoseconds since 1970 can hold */
	if (tm.tm_year < 1970 || tm.tm_year > 2261 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 ||
	    tm.tm_sec < 0 || tm.tm_sec > 60)
		return 0;
	if (s[n] == '.')
		for (s += n + 1; *s >= '0' && *s <= '9'; s++)
			if (digits++ < 9)
				ns = ns * 10 + (*s - '0');
	for (; digits < 9; digits++)
		ns *= 10;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (long long)timegm(&tm) * 1000000000LL + ns;
}

/* What to do about an engine message whose cause is known but not said:
 * Podman's differences from Docker (docs/remote.md, "Podman"). "" if none. */
const char *engine_hint(const char *m)
{
	if (strstr(m, "error setting rlimit"))
		return " [the engine's default ulimits exceed what its runtime may set here"
		       " (no CAP_SYS_RESOURCE): lower default_ulimits in containers.conf"
		       " (Podman) or the engine's own limits]";
	if (strstr(m, "catatonit") || strstr(m, "container-init binary not found"))
		return " [init = true on Podman needs catatonit: install the Debian package"
		       " catatonit (Podman 4.3 ignores init_path over the Docker API)]";
	if (strstr(m, "server gave HTTP response to HTTPS client"))
		return " [a plain-HTTP registry: Podman, unlike Docker, does not treat loopback"
		       " registries as insecure; add it to registries.conf with insecure = true]";
	return "";
}

/* What an engine wrote, for a terminal: control characters (ANSI escapes,
 * newlines) as '?'; longer than ENGINE_MSG_MAX bytes, its first
 * ENGINE_MSG_HEAD and last ENGINE_MSG_MAX - ENGINE_MSG_HEAD bytes around an
 * ellipsis (the cause is often last: "...: address already in use", which
 * svc_gone looks for). */
enum { ENGINE_MSG_MAX = 300, ENGINE_MSG_HEAD = 200 };
static void engine_text_add(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf_addc(b, ch < 0x20 || ch == 0x7f ? '?' : s[i]);
	}
}

char *engine_text(const char *s, size_t n)
{
	struct buf b = {0};

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n <= ENGINE_MSG_MAX)
		engine_text_add(&b, s, n);
	else {
		size_t h = ENGINE_MSG_HEAD, t = n - (ENGINE_MSG_MAX - ENGINE_MSG_HEAD);
		while (h > 0 && ((unsigned char)s[h] & 0xc0) == 0x80) /* no half character */
			h--;
		while (t < n && ((unsigned char)s[t] & 0xc0) == 0x80)
			t++;
		engine_text_add(&b, s, h);
		buf_adds(&b, "\xe2\x80\xa6"); /* U+2026 */
		engine_text_add(&b, s + t, n - t);
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

/* "engine: <message> (<status>)" from an error body. */
char *engine_error(long status, const char *body, size_t len)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *m = j ? jstr(j, "message") : NULL;
	char *s, *t = NULL;
	if (m)
		s = xasprintf("engine: %s (%ld)%s", t = engine_text(m, strlen(m)), status, engine_hint(m));
	else if (body && len)
		s = xasprintf("engine: %s (%ld)", t = engine_text(body, len), status);
	else
		s = xasprintf("engine: HTTP status %ld", status);
	free(t);
	cJSON_Delete(j);
	return s;
}

/* ---- result parsers ---- */

static void labels_sorted(const cJSON *labels, char ***kp, char ***vp, size_t *np)
{
	const cJSON *l;
	size_t n = 0, i, j;
	char **k, **v;
	cJSON_ArrayForEach(l, labels) n++;
	k = xcalloc(n + 1, sizeof *k);
	v = xcalloc(n + 1, sizeof *v);
	n = 0;
	cJSON_ArrayForEach(l, labels)
	{
		if (!l->string)
			continue;
		k[n] = xstrdup(l->string);
		v[n] = xstrdup(cJSON_IsString(l) ? l->valuestring : "");
		n++;
	}
	for (i = 1; i < n; i++) /* insertion sort: label sets are small */
		for (j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
			char *t = k[j];
			k[j] = k[j - 1];
			k[j - 1] = t;
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*kp = k;
	*vp = v;
	*np = n;
}

/* A reference as Docker shows it: Podman names every image by its full
 * reference ("docker.io/library/graphbuild-cache:KEY", "docker.io/user/x"),
 * Docker shortens both. The one place replies' references are normalised,
 * so every consumer can match "graphbuild-cache:". Returns a new string. */
static char *ref_normalise(const char *r)
{
	static const char lib[] = "docker.io/library/", hub[] = "docker.io/";
	if (!strncmp(r, lib, sizeof lib - 1) && r[sizeof lib - 1])
		return xstrdup(r + sizeof lib - 1);
	if (!strncmp(r, hub, sizeof hub - 1) && r[sizeof hub - 1])
		return xstrdup(r + sizeof hub - 1);
	return xstrdup(r);
}

void parse_image(const cJSON *j, struct docker_image *im, int inspect)
{
	const cJSON *cfg = inspect ? jobj(j, "Config") : j;
	const cJSON *labels = cfg ? jobj(cfg, "Labels") : NULL;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(j, "RepoTags"), *t;

	im->id = jdup(j, "Id");
	im->key = labels ? jdup(labels, "graphbuild.key") : NULL;
	im->node = labels ? jdup(labels, "graphbuild.node") : NULL;
	if (inspect && cfg) {
		im->workdir = jdup(cfg, "WorkingDir");
		im->user = jdup(cfg, "User");
	}
	im->parent = jdup(j, inspect ? "Parent" : "ParentId");
	if (im->parent && !*im->parent) {
		free(im->parent);
		im->parent = NULL;
	}
	im->tags = xcalloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof *im->tags);
	cJSON_ArrayForEach(t, tags) if (cJSON_IsString(t) && strcmp(t->valuestring, "<none>:<none>"))
		im->tags[im->ntags++] = ref_normalise(t->valuestring);
	if (inspect) {
		im->created_ns = parse_time_ns(jstr(j, "Created"));
		im->created = im->created_ns / 1000000000LL;
	} else {
		im->created = jnum(j, "Created");
		/* beyond year 2262 nanoseconds overflow: no usable time */
		im->created_ns =
			im->created > 0 && im->created < INT64_MAX / 1000000000LL ? im->created * 1000000000LL : 0;
	}
	im->size = jnum(j, "Size");
}

static char *ports_inspect(const cJSON *ports)
{
	struct buf b = {0};
	const cJSON *p, *bind;
	cJSON_ArrayForEach(p, ports)
	{
		if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) == 0) {
			buf_printf(&b, "%s%s", b.len ? ", " : "", p->string);
			continue;
		}
		cJSON_ArrayForEach(bind, p)
		{
			const char *ip = jstr(bind, "HostIp"), *hp = jstr(bind, "HostPort");
			int v6 = ip && strchr(ip, ':'); /* "[::1]:9000", as the docker CLI writes it */
			buf_printf(&b, "%s%s%s%s:%s->%s", b.len ? ", " : "", v6 ? "[" : "", ip && *ip ? ip : "0.0.0.0",
			           v6 ? "]" : "", hp ? hp : "", p->string);
		}
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

static char *ports_list(const cJSON *ports)
{
	struct buf b = {0};
	const cJSON *p;
	cJSON_ArrayForEach(p, ports)
	{
		const char *ip = jstr(p, "IP"), *type = jstr(p, "Type");
		long long priv = jnum(p, "PrivatePort"), pub = jnum(p, "PublicPort");
		if (b.len)
			buf_adds(&b, ", ");
		if (pub && ip && strchr(ip, ':'))
			buf_printf(&b, "[%s]:%lld->", ip, pub);
		else if (pub)
			buf_printf(&b, "%s:%lld->", ip && *ip ? ip : "0.0.0.0", pub);
		buf_printf(&b, "%lld/%s", priv, type ? type : "tcp");
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

static char *network_ip(const cJSON *ns, const char *network)
{
	const cJSON *nets = ns ? jobj(ns, "Networks") : NULL, *n;
	const char *ip;
	if (network) {
		n = nets ? jobj(nets, network) : NULL;
		ip = n ? jstr(n, "IPAddress") : NULL;
		return ip && *ip ? xstrdup(ip) : NULL;
	}
	if (ns && (ip = jstr(ns, "IPAddress")) && *ip)
		return xstrdup(ip);
	cJSON_ArrayForEach(n, nets) if ((ip = jstr(n, "IPAddress")) && *ip) return xstrdup(ip);
	return NULL;
}

void parse_container_inspect(const cJSON *j, struct docker_container *c, const char *network)
{
	const cJSON *st = jobj(j, "State"), *cfg = jobj(j, "Config");
	const cJSON *health = st ? jobj(st, "Health") : NULL;
	const cJSON *ns = jobj(j, "NetworkSettings");
	const char *name = jstr(j, "Name"), *hs = health ? jstr(health, "Status") : NULL;

	c->id = jdup(j, "Id");
	c->name = xstrdup(name ? name + (name[0] == '/') : "");
	c->image = jdup(j, "Image");
	c->state = xstrdup(st && jstr(st, "Status") ? jstr(st, "Status") : "");
	c->health = xstrdup(hs && *hs ? hs : "none");
	c->exit_code = st ? (int)jnum(st, "ExitCode") : 0;
	c->ip = network_ip(ns, network);
	labels_sorted(cfg ? jobj(cfg, "Labels") : NULL, &c->label_k, &c->label_v, &c->nlabels);
	c->ports = ports_inspect(ns ? jobj(ns, "Ports") : NULL);
	c->started_at = st ? jdup(st, "StartedAt") : NULL;
	c->finished_at = st ? jdup(st, "FinishedAt") : NULL;
}

void parse_container_list(const cJSON *j, struct docker_container *c)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "Names");
	const cJSON *n0 = cJSON_GetArrayItem(names, 0);
	const char *status = jstr(j, "Status"), *ex;
	const char *name = cJSON_IsString(n0) ? n0->valuestring : "";

	c->id = jdup(j, "Id");
	c->name = xstrdup(name + (name[0] == '/'));
	c->image = jdup(j, "ImageID");
	c->state = xstrdup(jstr(j, "State") ? jstr(j, "State") : "");
	if (status && strstr(status, "(healthy)"))
		c->health = xstrdup("healthy");
	else if (status && strstr(status, "(unhealthy)"))
		c->health = xstrdup("unhealthy");
	else if (status && strstr(status, "(health: starting)"))
		c->health = xstrdup("starting");
	else
		c->health = xstrdup("none");
	if (status && (ex = strstr(status, "Exited (")))
		c->exit_code = atoi(ex + 8);
	c->ip = network_ip(jobj(j, "NetworkSettings"), NULL);
	labels_sorted(jobj(j, "Labels"), &c->label_k, &c->label_v, &c->nlabels);
	c->ports = ports_list(cJSON_GetObjectItemCaseSensitive(j, "Ports"));
}
