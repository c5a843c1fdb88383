/* svc_spec.c - a service's container spec: the canonical effective config
 * and its hashes, the image a container is created from, the port syntax,
 * and the create request (config, mounts, ports, network, labels).
 *
 * A container remembers what it was created from in labels:
 *   graphbuild.project, graphbuild.service, graphbuild.oneshot,
 *   graphbuild.image-key      the key of its image (a reference: its image ID)
 *   graphbuild.config         XXH3-128 of the canonical effective config
 *   graphbuild.config.FIELD   XXH3-64 of one field (command, env, ports, ...)
 *   graphbuild.env.NAME       XXH3-64 of one variable's value
 * so `up` decides keep / recreate from the list call alone (svc_plan.c), and
 * the reason names the field ("env API_URL changed", "ports changed"). Health
 * probes are not container config: changing one does not recreate anything. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "graphbuild/key.h"
#include "graphbuild/names.h"

#include "up_int.h"

/* ---- the effective config, canonical, hashed ---- */

const char *const svc_field_name[NFIELDS] = {
	"command", "entrypoint", "env", "labels", "workdir", "user", "ports", "volumes",
	"aliases", "restart", "stop_timeout", "oneshot", "network", "init", "stop_signal",
};

static void ser_item(struct buf *b, const char *s)
{
	buf_printf(b, "%zu:%s,", strlen(s), s);
}

static void ser_list(struct buf *b, const struct strlist *l, int set)
{
	size_t i;

	if (!set) {
		buf_adds(b, "unset");
		return;
	}
	buf_printf(b, "[%zu]", l->n);
	for (i = 0; i < l->n; i++)
		ser_item(b, l->v[i]);
}

static void ser_kv(struct buf *b, const struct kvlist *kv)
{
	size_t i;

	/* kvlist is sorted by key (graph.h) */
	buf_printf(b, "{%zu}", kv->n);
	for (i = 0; i < kv->n; i++) {
		ser_item(b, kv->k[i]);
		ser_item(b, kv->v[i]);
	}
}

static void ser_str(struct buf *b, const char *s)
{
	if (s)
		ser_item(b, s);
	else
		buf_adds(b, "unset");
}

/* Serialises one field of a service's effective config into b. */
static void ser_field(struct buf *b, const struct stack *s, const struct service *sv, int f)
{
	char *net;

	switch (f) {
	case F_COMMAND: ser_list(b, &sv->command, sv->command_set); break;
	case F_ENTRYPOINT: ser_list(b, &sv->entrypoint, sv->entrypoint_set); break;
	case F_ENV: ser_kv(b, &sv->env); break;
	case F_LABELS: ser_kv(b, &sv->labels); break;
	case F_WORKDIR: ser_str(b, sv->workdir); break;
	case F_USER: ser_str(b, sv->user); break;
	case F_PORTS: ser_list(b, &sv->ports, 1); break;
	case F_VOLUMES: ser_list(b, &sv->volumes, 1); break; /* bind sources are absolute */
	case F_ALIASES: ser_list(b, &sv->aliases, 1); break;
	case F_RESTART: ser_str(b, sv->restart ? sv->restart : "no"); break;
	case F_STOP_TIMEOUT: buf_printf(b, "%d", sv->stop_timeout); break;
	case F_ONESHOT: buf_printf(b, "%d", sv->oneshot ? 1 : 0); break;
	case F_INIT: buf_printf(b, "%d", sv->init ? 1 : 0); break;
	case F_STOP_SIGNAL: ser_str(b, sv->stop_signal); break;
	case F_NETWORK:
		net = names_network(s);
		ser_str(b, net);
		free(net);
		break;
	}
}

void svc_hash64(const void *p, size_t n, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)XXH3_64bits(p, n));
}

void svc_config_hash(const struct stack *s, const struct service *sv, struct config_hash *h)
{
	struct buf all = {0}, one = {0};
	XXH128_hash_t x;
	int f;

	buf_adds(&all, "graphbuild-service-config-v1\n");
	for (f = 0; f < NFIELDS; f++) {
		one.len = 0;
		buf_adds(&one, "");
		ser_field(&one, s, sv, f);
		svc_hash64(one.data, one.len, h->field[f]);
		if ((f == F_INIT && !sv->init) || (f == F_STOP_SIGNAL && !sv->stop_signal))
			continue; /* fields added later count only when set: old containers stay kept */
		buf_printf(&all, "%s %zu:", svc_field_name[f], one.len);
		buf_add(&all, one.data, one.len);
		buf_addc(&all, '\n');
	}
	x = XXH3_128bits(all.data, all.len);
	snprintf(h->all, sizeof h->all, "%016llx%016llx", (unsigned long long)x.high64,
	         (unsigned long long)x.low64);
	buf_free(&all);
	buf_free(&one);
}

/* The image-key label value: the image node's key, a reference's image ID. */
const char *svc_image_key(const struct node *img)
{
	if (!img)
		return "";
	if (img->kind == NODE_REF)
		return img->ref_id ? img->ref_id : img->ref;
	return img->keyhex;
}

const char *svc_image_label(const struct node *img)
{
	return img->kind == NODE_REF ? img->ref : img->name;
}

/* What the container is created from. */
static char *image_ref(const struct node *img)
{
	if (img->kind == NODE_REF)
		return xstrdup(img->ref_id ? img->ref_id : img->ref);
	return xasprintf(KEY_CACHE_REPO ":%s", img->keyhex);
}

/* A port number 1-65535 in decimal, the whole of [s, e); 0 if it is not. */
static int port_num(const char *s, const char *e)
{
	long v = 0;

	if (s == e || e - s > 5)
		return 0;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : 0;
}

/* Parses "CONTAINER", "HOST:CONTAINER", "IPV4:HOST:CONTAINER" or
 * "[IPV6]:HOST:CONTAINER", each with an optional "/tcp" or "/udp" (the
 * DSL's check, prelude.lua check_port_string, accepts the same). Writes
 * NULs into buf; p points into it (host_ip without the brackets).
 * 0, or -1 if buf is none of those. */
int svc_parse_port(char *buf, struct docker_port *p)
{
	char *proto = strrchr(buf, '/'), *q = buf, *a[3] = {0};
	int n = 0;

	memset(p, 0, sizeof(*p));
	if (proto) {
		*proto++ = 0;
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
			return -1;
		p->proto = proto;
	}
	if (*q == '[') { /* an IPv6 address holds ':' of its own */
		char *end = strchr(q, ']');
		if (!end || end == q + 1 || end[1] != ':')
			return -1;
		*end = 0;
		p->host_ip = q + 1;
		if (strspn(p->host_ip, "0123456789abcdefABCDEF:.") != strlen(p->host_ip))
			return -1;
		q = end + 2;
		n = 1;
	}
	for (;;) {
		if (n == 3)
			return -1;
		a[n++] = q;
		q = strchr(q, ':');
		if (!q)
			break;
		*q++ = 0;
	}
	if (p->host_ip) { /* a[0] is the address */
		if (n != 3)
			return -1;
	} else if (n == 3) { /* four dot-separated numbers 0-255 of 1-3 digits */
		const char *d = a[0];
		for (int k = 0; k < 4; k++) {
			size_t nd = strspn(d, "0123456789");
			if (nd < 1 || nd > 3 || atoi(d) > 255 || d[nd] != (k < 3 ? '.' : 0))
				return -1;
			d += nd + 1;
		}
		p->host_ip = a[0];
	}
	p->container_port = port_num(a[n - 1], a[n - 1] + strlen(a[n - 1]));
	if (!p->container_port)
		return -1;
	if (n >= 2 && !(p->host_port = port_num(a[n - 2], a[n - 2] + strlen(a[n - 2]))))
		return -1;
	return 0;
}

static char *keep_str(struct spec_mem *m, char *s)
{
	m->strs = xreallocarray(m->strs, m->nstrs + 1, sizeof(char *));
	m->strs[m->nstrs++] = s;
	return s;
}

static void add_label(struct spec_mem *m, const char *k, const char *v)
{
	m->lk = xreallocarray(m->lk, m->nl + 1, sizeof(char *));
	m->lv = xreallocarray(m->lv, m->nl + 1, sizeof(char *));
	m->lk[m->nl] = keep_str(m, xstrdup(k));
	m->lv[m->nl] = keep_str(m, xstrdup(v));
	m->nl++;
}

void svc_spec_free(struct spec_mem *m)
{
	size_t i;

	for (i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	free(m->strs);
	free(m->ports);
	free(m->mounts);
	free(m->env);
	free(m->lk);
	free(m->lv);
}

/* The container's create request: config, mounts, ports, network, labels. */
void svc_spec_build(struct svc *sv, struct spec_mem *m)
{
	struct stack *s = sv->u->s;
	struct service *svc = &sv->n->u.service;
	struct docker_spec *sp = &m->spec;
	struct config_hash h;
	char hx[17];
	size_t i;
	int f;

	memset(m, 0, sizeof(*m));
	sp->name = keep_str(m, names_container(s, sv->n));
	sp->image = keep_str(m, image_ref(svc->image));
	sp->cmd = svc->command.v;
	sp->ncmd = svc->command.n;
	sp->cmd_set = svc->command_set;
	sp->entrypoint = svc->entrypoint.v;
	sp->nentrypoint = svc->entrypoint.n;
	sp->entrypoint_set = svc->entrypoint_set;
	m->env = xcalloc(svc->env.n + 1, sizeof(char *));
	for (i = 0; i < svc->env.n; i++)
		m->env[i] = keep_str(m, xasprintf("%s=%s", svc->env.k[i], svc->env.v[i]));
	sp->env = m->env;
	sp->nenv = svc->env.n;
	sp->workdir = svc->workdir;
	sp->user = svc->user;
	m->mounts = xcalloc(svc->volumes.n + 1, sizeof(*m->mounts));
	for (i = 0; i < svc->volumes.n; i++) {
		char *v = keep_str(m, xstrdup(svc->volumes.v[i]));
		char *dst = strchr(v, ':'), *mode;
		struct docker_mount *mt = &m->mounts[i];

		*dst++ = 0;
		if ((mode = strchr(dst, ':')))
			*mode++ = 0;
		mt->target = dst;
		mt->readonly = mode && strcmp(mode, "ro") == 0;
		if (v[0] == '/') {
			mt->type = "bind";
			mt->source = v;
		} else {
			mt->type = "volume";
			mt->source = keep_str(m, names_volume(s, v));
		}
	}
	sp->mounts = m->mounts;
	sp->nmounts = svc->volumes.n;
	m->ports = xcalloc(svc->ports.n + 1, sizeof(*m->ports));
	for (i = 0; i < svc->ports.n; i++)
		(void)svc_parse_port(keep_str(m, xstrdup(svc->ports.v[i])), &m->ports[i]); /* checked by port_clash */
	sp->ports = m->ports;
	sp->nports = svc->ports.n;
	sp->network = sv->u->network;
	/* the service name resolves on the network, plus its aliases */
	{
		char **al = xcalloc(svc->aliases.n + 2, sizeof(char *));
		al[0] = sv->n->name;
		for (i = 0; i < svc->aliases.n; i++)
			al[i + 1] = svc->aliases.v[i];
		keep_str(m, (char *)al);
		sp->aliases = al;
		sp->naliases = svc->aliases.n + 1;
	}
	sp->restart = svc->restart;
	sp->init = svc->init;
	sp->stop_timeout = svc->stop_timeout;
	sp->stop_signal = svc->stop_signal;
	for (i = 0; i < svc->labels.n; i++)
		add_label(m, svc->labels.k[i], svc->labels.v[i]);
	add_label(m, L_PROJECT, s->project);
	add_label(m, L_SERVICE, sv->n->name);
	add_label(m, L_ONESHOT, svc->oneshot ? "1" : "0");
	add_label(m, L_IMAGE, svc_image_key(svc->image));
	svc_config_hash(s, svc, &h);
	add_label(m, L_CONFIG, h.all);
	for (f = 0; f < NFIELDS; f++) {
		char *k = xasprintf(L_CONFIG ".%s", svc_field_name[f]);
		add_label(m, k, h.field[f]);
		free(k);
	}
	for (i = 0; i < svc->env.n; i++) {
		char *k = xasprintf(L_ENV "%s", svc->env.k[i]);
		svc_hash64(svc->env.v[i], strlen(svc->env.v[i]), hx);
		add_label(m, k, hx);
		free(k);
	}
	sp->label_k = m->lk;
	sp->label_v = m->lv;
	sp->nlabels = m->nl;
}
