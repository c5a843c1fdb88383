/* key.c - cache keys and manifests.
 *
 * A key is XXH3-128 over a canonical serialization: every field is written as
 * a tag byte, a 64-bit length and its bytes, so no two different inputs can
 * serialize the same way. Lists that have no meaningful order (env, labels,
 * cache paths, files) are sorted before they are written; the stack's
 * formatting, node names, project name, mtimes and absolute paths never enter.
 *
 *   base     = H(format, parent key, image env)
 *   step i   = H(format, step i-1 (or base), step settings, its inputs)
 *   key      = H(format, last step, image config)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/key.h"
#include "graphbuild/util.h"

struct kw {
	XXH3_state_t *st;
};

static void kw_init(struct kw *w, const char *what)
{
	unsigned char v = KEY_FORMAT;

	w->st = XXH3_createState();
	if (!w->st)
		fatal("out of memory");
	XXH3_128bits_reset(w->st);
	XXH3_128bits_update(w->st, &v, 1);
	XXH3_128bits_update(w->st, what, strlen(what) + 1);
}

static void kw_bytes(struct kw *w, char tag, const void *p, size_t n)
{
	unsigned char hdr[9];
	uint64_t len = n;
	int i;

	hdr[0] = (unsigned char)tag;
	for (i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)(len >> (56 - 8 * i));
	XXH3_128bits_update(w->st, hdr, sizeof(hdr));
	if (n)
		XXH3_128bits_update(w->st, p, n);
}

static void kw_str(struct kw *w, char tag, const char *s)
{
	if (!s)
		kw_bytes(w, 'N', "", 0); /* NULL differs from "" */
	else
		kw_bytes(w, tag, s, strlen(s));
}

static void kw_int(struct kw *w, char tag, long long v)
{
	char b[32];

	snprintf(b, sizeof(b), "%lld", v);
	kw_str(w, tag, b);
}

static void kw_list(struct kw *w, char tag, const struct strlist *l)
{
	size_t i;

	kw_int(w, tag, (long long)l->n);
	for (i = 0; i < l->n; i++)
		kw_str(w, 's', l->v[i]);
}

static void kw_kv(struct kw *w, char tag, const struct kvlist *kv)
{
	size_t i;

	kw_int(w, tag, (long long)kv->n); /* kvlists are sorted by the loader */
	for (i = 0; i < kv->n; i++) {
		kw_str(w, 'k', kv->k[i]);
		kw_str(w, 'v', kv->v[i]);
	}
}

static void kw_files(struct kw *w, const struct selection *sel)
{
	size_t i;

	kw_int(w, 'F', (long long)sel->n);
	for (i = 0; i < sel->n; i++) {
		const struct file_entry *f = &sel->v[i];

		kw_str(w, 'p', f->path);
		kw_int(w, 'm', f->mode);
		kw_bytes(w, 'h', f->hash, 16);
	}
}

static void kw_done(struct kw *w, unsigned char out[16])
{
	XXH128_hash_t h = XXH3_128bits_digest(w->st);
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, 16);
	XXH3_freeState(w->st);
}

const char *key_short(const char *hex)
{
	static char s[13];

	snprintf(s, sizeof(s), "%.12s", hex);
	return s;
}

/* ---- collecting inputs ---- */

static int report(const struct pos *p, const struct node *n, char *err)
{
	warn("%s:%d: image \"%s\": %s", p->file, p->line, n->name, err);
	free(err);
	return 1;
}

static int collect_image(struct node *n, struct hasher *h, struct node_keys *kx)
{
	struct image *im = &n->u.image;
	char *err = NULL;
	int errors = 0;
	size_t i, j;

	kx->ig = ignore_load(im->context, im->ignore.v, im->ignore.n, &err);
	if (!kx->ig)
		return report(&n->pos, n, err);
	if (im->dockerfile) {
		if (hasher_select(h, im->context, kx->ig, ".", &kx->inputs, &err) < 0)
			errors += report(&n->pos, n, err);
		/* the Dockerfile is an input even when .dockerignore excludes it */
		else if (hasher_select(h, im->context, NULL, im->dockerfile, &kx->inputs, &err) < 0) {
			/* say what is missing: the Dockerfile, not a copy source */
			if (!strncmp(err, "copy source ", 12)) {
				char *e2 = xasprintf("dockerfile %s", err + 12);
				free(err);
				err = e2;
			}
			errors += report(&n->pos, n, err);
		}
		return errors;
	}
	kx->nsteps = im->nsteps;
	kx->steps = xcalloc(im->nsteps ? im->nsteps : 1, sizeof(*kx->steps));
	for (i = 0; i < im->nsteps; i++) {
		struct step *st = &im->steps[i];

		if (st->kind != STEP_COPY)
			continue;
		for (j = 0; j < st->args.n; j++)
			if (hasher_select(h, im->context, kx->ig, st->args.v[j], &kx->steps[i].sel, &err) < 0)
				errors += report(&st->pos, n, err);
	}
	return errors;
}

static int collect_rootfs(struct node *n, struct hasher *h, struct node_keys *kx)
{
	struct rootfs *r = &n->u.rootfs;
	char *err = NULL;
	size_t i;

	kx->inputs.v = xcalloc(r->inputs.n + 1, sizeof(struct file_entry));
	if (r->tar) {
		kx->inputs.v[0].path = xstrdup(r->tar_rel ? r->tar_rel : r->tar);
		kx->inputs.n = 1;
		if ((r->inputs_root ? hasher_file_beneath(h, r->inputs_root, r->tar, kx->inputs.v[0].hash, &err)
		                    : hasher_file(h, r->tar, kx->inputs.v[0].hash, &err)) < 0) {
			warn("%s:%d: rootfs \"%s\": %s", n->pos.file, n->pos.line, n->name, err);
			free(err);
			return 1;
		}
		return 0;
	}
	for (i = 0; i < r->inputs.n; i++) {
		kx->inputs.v[i].path = xstrdup(r->inputs_rel.n > i ? r->inputs_rel.v[i] : r->inputs.v[i]);
		kx->inputs.n++;
		if ((r->inputs_root ? hasher_file_beneath(h, r->inputs_root, r->inputs.v[i], kx->inputs.v[i].hash, &err)
		                    : hasher_file(h, r->inputs.v[i], kx->inputs.v[i].hash, &err)) < 0) {
			warn("%s:%d: rootfs \"%s\": %s", n->pos.file, n->pos.line, n->name, err);
			free(err);
			return 1;
		}
	}
	return 0;
}

int keys_collect(struct stack *s, struct hasher *h)
{
	int errors = 0;
	size_t i;

	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE)
			continue;
		n->kx = xcalloc(1, sizeof(*n->kx));
		if (n->kind == NODE_IMAGE)
			errors += collect_image(n, h, n->kx);
		else if (n->kind == NODE_ROOTFS)
			errors += collect_rootfs(n, h, n->kx);
	}
	return errors;
}

/* ---- descriptions and manifests ---- */

static void desc_list(struct buf *b, const struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		buf_printf(b, "%s%s", i ? " " : "", l->v[i]);
}

static char *step_desc(const struct step *st)
{
	struct buf b = {0};
	size_t i;

	switch (st->kind) {
	case STEP_RUN:
		buf_adds(&b, "run ");
		if (st->shell && st->args.n == 3)
			buf_printf(&b, "\"%s\"", st->args.v[2]);
		else
			desc_list(&b, &st->args);
		break;
	case STEP_COPY:
		buf_adds(&b, "copy ");
		desc_list(&b, &st->args);
		if (st->to)
			buf_printf(&b, " to %s", st->to);
		break;
	case STEP_COPY_FROM:
		buf_printf(&b, "copy from %s ", st->from ? st->from->name : "?");
		desc_list(&b, &st->args);
		if (st->to)
			buf_printf(&b, " to %s", st->to);
		break;
	case STEP_ENV:
		buf_adds(&b, "env");
		for (i = 0; i < st->env.n; i++)
			buf_printf(&b, " %s=%s", st->env.k[i], st->env.v[i]);
		break;
	case STEP_WORKDIR:
		buf_printf(&b, "workdir %s", st->args.n ? st->args.v[0] : "");
		break;
	case STEP_USER:
		buf_printf(&b, "user %s", st->args.n ? st->args.v[0] : "");
		break;
	}
	/* one line, bounded, for people */
	for (i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r')
			b.data[i] = ' ';
	if (b.len > 120) {
		b.len = 117;
		buf_adds(&b, "...");
	}
	return buf_take(&b);
}

static void step_self(const struct step *st, unsigned char out[16])
{
	struct kw w;

	kw_init(&w, "step");
	kw_int(&w, 'K', st->kind);
	kw_list(&w, 'a', &st->args);
	kw_int(&w, 'S', st->shell);
	kw_str(&w, 't', st->to);
	kw_str(&w, 'f', st->from ? st->from->keyhex : NULL);
	kw_list(&w, 'c', &st->cache);
	kw_kv(&w, 'e', &st->env);
	/* secrets: only which ID is mounted where, never a value */
	kw_kv(&w, 'x', &st->secrets);
	if (st->network) /* added later: counts only when set, so old keys stay */
		kw_str(&w, 'n', st->network);
	kw_done(&w, out);
}

static void mfiles_from(const struct selection *sel, struct mfile **v, size_t *n)
{
	size_t i;

	*n = sel->n;
	*v = xcalloc(sel->n ? sel->n : 1, sizeof(**v));
	for (i = 0; i < sel->n; i++) {
		(*v)[i].path = xstrdup(sel->v[i].path);
		(*v)[i].mode = sel->v[i].mode;
		hex_encode(sel->v[i].hash, 16, (*v)[i].hash);
	}
}

static void add_conf(struct manifest *m, const char *name, struct kw *val)
{
	unsigned char h[16];

	kw_done(val, h);
	m->conf = xreallocarray(m->conf, m->nconf + 1, sizeof(*m->conf));
	m->conf[m->nconf].name = xstrdup(name);
	hex_encode(h, 16, m->conf[m->nconf].hash);
	m->nconf++;
}

/* The image config, written into the key and, field by field, the manifest. */
static void config_fields(const struct image *im, struct kw *key, struct manifest *m)
{
	struct kw f;
	size_t i;

#define FIELD(name, write) do { \
		kw_str(key, 'n', name); write(key); \
		kw_init(&f, "conf"); write((&f)); add_conf(m, name, &f); \
	} while (0)
#define W_CMD(w) do { kw_int(w, 'S', im->cmd_set); kw_list(w, 'l', &im->cmd); } while (0)
#define W_ENTRY(w) do { kw_int(w, 'S', im->entrypoint_set); kw_list(w, 'l', &im->entrypoint); } while (0)
#define W_WORKDIR(w) kw_str(w, 'w', im->workdir)
#define W_USER(w) kw_str(w, 'u', im->user)
#define W_EXPOSE(w) do { size_t e_; kw_int(w, 'E', (long long)im->nexpose); \
		for (e_ = 0; e_ < im->nexpose; e_++) kw_int(w, 'p', im->expose[e_]); } while (0)
#define W_VOLUMES(w) kw_list(w, 'V', &im->volumes)
#define W_STOPSIG(w) kw_str(w, 'G', im->stop_signal)
#define W_HEALTH(w) do { kw_list(w, 'H', &im->healthcheck->test); \
		kw_int(w, 'i', im->healthcheck->interval_ms); kw_int(w, 't', im->healthcheck->timeout_ms); \
		kw_int(w, 's', im->healthcheck->start_period_ms); kw_int(w, 'r', im->healthcheck->retries); } while (0)
	FIELD("cmd", W_CMD);
	FIELD("entrypoint", W_ENTRY);
	FIELD("workdir", W_WORKDIR);
	FIELD("user", W_USER);
	FIELD("expose", W_EXPOSE);
	/* fields added later count only when set: existing keys stay */
	if (im->volumes.n)
		FIELD("volumes", W_VOLUMES);
	if (im->stop_signal)
		FIELD("stop_signal", W_STOPSIG);
	if (im->healthcheck)
		FIELD("healthcheck", W_HEALTH);
	kw_kv(key, 'L', &im->labels);
	for (i = 0; i < im->labels.n; i++) {
		char *name = xasprintf("label %s", im->labels.k[i]);

		kw_init(&f, "conf");
		kw_str(&f, 'v', im->labels.v[i]);
		add_conf(m, name, &f);
		free(name);
	}
#undef FIELD
#undef W_CMD
#undef W_ENTRY
#undef W_WORKDIR
#undef W_USER
#undef W_EXPOSE
#undef W_VOLUMES
#undef W_STOPSIG
#undef W_HEALTH
}

/* The first index whose string is >= s, in a sorted vector. */
static size_t env_lower(char **env, size_t n, const char *s)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(env[mid], s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sets K=V in a sorted "K=V" vector (replacing an existing K). The strings
 * that start with "K=" sort together, and there is at most one: a binary
 * search finds it, or where K=V goes (no sort per variable: 20000 env steps
 * were quadratic-times-log here). */
static void env_set(char ***env, size_t *n, const char *k, const char *v)
{
	size_t kl = strlen(k), i;
	char *kv = xasprintf("%s=%s", k, v);

	kv[kl + 1] = '\0'; /* "K=" for the lookup */
	i = env_lower(*env, *n, kv);
	kv[kl + 1] = v[0];
	if (i < *n && strncmp((*env)[i], kv, kl + 1) == 0) {
		free((*env)[i]);
		(*env)[i] = kv;
		return;
	}
	i = env_lower(*env, *n, kv);
	if ((*n & (*n - 1)) == 0) /* grow in powers of two */
		*env = xreallocarray(*env, *n ? *n * 2 : 1, sizeof(**env));
	memmove(*env + i + 1, *env + i, sizeof(**env) * (*n - i));
	(*env)[i] = kv;
	(*n)++;
}

static char **env_copy(char **env, size_t n)
{
	char **c = xcalloc(n + 1, sizeof(*c));
	size_t i;

	for (i = 0; i < n; i++)
		c[i] = xstrdup(env[i]);
	return c;
}

/* The workdir (or user) an image leaves in effect: its own config, else its
 * last workdir (user) step, else its parent's. A registry reference: its
 * image's config as the engine reported it (resolve_refs); rootfs parents and
 * unset fields: the engine default ("/", no user). */
static const char *inherited(const struct node *n, int want_user)
{
	size_t i;

	for (; n && n->kind == NODE_IMAGE; n = n->u.image.parent) {
		const struct image *im = &n->u.image;

		if (want_user ? im->user != NULL : im->workdir != NULL)
			return want_user ? im->user : im->workdir;
		for (i = im->nsteps; i-- > 0;)
			if (im->steps[i].kind == (want_user ? STEP_USER : STEP_WORKDIR) && im->steps[i].args.n)
				return im->steps[i].args.v[0];
	}
	if (n && n->kind == NODE_REF) {
		const char *v = want_user ? n->ref_user : n->ref_workdir;
		if (v && *v)
			return v;
	}
	return want_user ? NULL : "/";
}

static void compute_image(struct node *n)
{
	struct image *im = &n->u.image;
	struct node_keys *kx = n->kx;
	struct manifest *m = xcalloc(1, sizeof(*m));
	unsigned char cur[16];
	char **env = NULL;
	size_t nenv = 0, i;
	const char *workdir = inherited(im->parent, 0), *user = inherited(im->parent, 1);
	struct kw w;

	kx->m = m;
	if (im->parent) {
		m->parent = xstrdup(im->parent->name);
		memcpy(m->parent_key, im->parent->keyhex, 33);
	}
	kw_init(&w, "base");
	kw_str(&w, 'P', im->parent ? im->parent->keyhex : NULL);
	kw_kv(&w, 'e', &im->env);
	if (im->dockerfile) {
		kw_str(&w, 'D', im->dockerfile);
		kw_str(&w, 'T', im->target);
		kw_kv(&w, 'A', &im->args);
		kw_files(&w, &kx->inputs);
		mfiles_from(&kx->inputs, &m->inputs, &m->ninputs);
	}
	kw_done(&w, cur);
	hex_encode(cur, 16, m->base);
	for (i = 0; i < im->env.n; i++)
		env_set(&env, &nenv, im->env.k[i], im->env.v[i]);

	m->steps = xcalloc(im->nsteps ? im->nsteps : 1, sizeof(*m->steps));
	m->nsteps = im->nsteps;
	for (i = 0; i < im->nsteps; i++) {
		struct step *st = &im->steps[i];
		struct step_key *sk = &kx->steps[i];
		size_t j;

		sk->workdir = xstrdup(workdir);
		sk->user = user ? xstrdup(user) : NULL;
		/* env, workdir and user steps only tag (they run nothing): their
		 * env is needed only as the image's final one, on the last step */
		if (i + 1 == im->nsteps ||
		    (st->kind != STEP_ENV && st->kind != STEP_WORKDIR && st->kind != STEP_USER)) {
			sk->env = env_copy(env, nenv);
			sk->nenv = nenv;
		}
		sk->desc = step_desc(st);
		step_self(st, sk->self);

		kw_init(&w, "chain");
		kw_bytes(&w, 'c', cur, 16);
		kw_bytes(&w, 's', sk->self, 16);
		/* a copy without `to` lands under the workdir in effect */
		if ((st->kind == STEP_COPY || st->kind == STEP_COPY_FROM) && !st->to)
			kw_str(&w, 'w', workdir);
		if (st->kind == STEP_COPY)
			kw_files(&w, &sk->sel);
		kw_done(&w, sk->key);
		hex_encode(sk->key, 16, sk->hex);
		memcpy(cur, sk->key, 16);

		memcpy(m->steps[i].key, sk->hex, 33);
		hex_encode(sk->self, 16, m->steps[i].self);
		m->steps[i].desc = xstrdup(sk->desc);
		if (st->kind == STEP_COPY)
			mfiles_from(&sk->sel, &m->steps[i].files, &m->steps[i].nfiles);

		if (st->kind == STEP_ENV)
			for (j = 0; j < st->env.n; j++)
				env_set(&env, &nenv, st->env.k[j], st->env.v[j]);
		else if (st->kind == STEP_WORKDIR && st->args.n)
			workdir = st->args.v[0][0] == '/' ? st->args.v[0]
			          : workdir; /* the loader requires absolute workdirs */
		else if (st->kind == STEP_USER && st->args.n)
			user = st->args.v[0];
	}
	for (i = 0; i < nenv; i++)
		free(env[i]);
	free(env);

	kw_init(&w, "image");
	kw_bytes(&w, 'c', cur, 16);
	config_fields(im, &w, m);
	kw_done(&w, n->key);
	hex_encode(n->key, 16, n->keyhex);
	memcpy(m->key, n->keyhex, 33);
	n->keyed = 1;
}

static void compute_rootfs(struct node *n)
{
	struct rootfs *r = &n->u.rootfs;
	struct manifest *m = xcalloc(1, sizeof(*m));
	struct kw w;
	size_t i;

	n->kx->m = m;
	kw_init(&w, "rootfs");
	if (r->empty) {
		kw_str(&w, 'T', "scratch");
	} else if (r->tar) {
		kw_str(&w, 'T', "tar");
		kw_bytes(&w, 'h', n->kx->inputs.v[0].hash, 16);
	} else {
		kw_str(&w, 'C', r->command);
		kw_str(&w, 'E', r->epoch);
		kw_int(&w, 'I', (long long)n->kx->inputs.n);
		for (i = 0; i < n->kx->inputs.n; i++) {
			kw_str(&w, 'p', n->kx->inputs.v[i].path);
			kw_bytes(&w, 'h', n->kx->inputs.v[i].hash, 16);
		}
	}
	kw_done(&w, n->key);
	hex_encode(n->key, 16, n->keyhex);
	memcpy(m->key, n->keyhex, 33);
	mfiles_from(&n->kx->inputs, &m->inputs, &m->ninputs);
	{
		struct kw f;

		kw_init(&f, "conf");
		kw_str(&f, 'c', r->command);
		add_conf(m, "command", &f);
		kw_init(&f, "conf");
		kw_str(&f, 'e', r->epoch);
		add_conf(m, "epoch", &f);
	}
	n->keyed = 1;
}

static void compute_ref(struct node *n)
{
	struct kw w;

	kw_init(&w, "ref");
	kw_str(&w, 'r', n->ref);
	kw_str(&w, 'i', n->ref_id);
	kw_done(&w, n->key);
	hex_encode(n->key, 16, n->keyhex);
	n->keyed = 1;
}

void keys_compute(struct stack *s)
{
	size_t i;

	for (i = 0; i < s->norder; i++) {
		struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE)
			continue;
		if (n->kind == NODE_REF)
			compute_ref(n);
		else if (n->kind == NODE_ROOTFS)
			compute_rootfs(n);
		else
			compute_image(n);
	}
}

void keys_free(struct stack *s)
{
	size_t i, j, k;

	for (i = 0; i < s->nnodes; i++) {
		struct node_keys *kx = s->nodes[i]->kx;

		if (!kx)
			continue;
		for (j = 0; j < kx->nsteps; j++) {
			struct step_key *sk = &kx->steps[j];

			free(sk->desc);
			free(sk->workdir);
			free(sk->user);
			for (k = 0; k < sk->nenv; k++)
				free(sk->env[k]);
			free(sk->env);
			selection_free(&sk->sel);
		}
		free(kx->steps);
		selection_free(&kx->inputs);
		if (kx->ig)
			ignore_free(kx->ig);
		manifest_free(kx->m);
		free(kx);
		s->nodes[i]->kx = NULL;
	}
}

/* ---- manifest text ---- */

static void put_escaped(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_adds(b, "\\\\");
		else if (*s == '\n')
			buf_adds(b, "\\n");
		else
			buf_addc(b, *s);
	}
}

static char *unescape(const char *s, size_t n)
{
	char *o = xmalloc(n + 1), *p = o;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			*p++ = s[i] == 'n' ? '\n' : s[i];
		} else {
			*p++ = s[i];
		}
	}
	*p = 0;
	return o;
}

char *manifest_format(const struct manifest *m)
{
	struct buf b = {0};
	size_t i, j;

	buf_printf(&b, "graphbuild-manifest %d\n", KEY_FORMAT);
	buf_printf(&b, "key %s\n", m->key);
	if (m->parent) {
		buf_printf(&b, "parent %s ", m->parent_key);
		put_escaped(&b, m->parent);
		buf_addc(&b, '\n');
	}
	if (m->base[0])
		buf_printf(&b, "base %s\n", m->base);
	for (i = 0; i < m->ninputs; i++) {
		buf_printf(&b, "input %s %o ", m->inputs[i].hash, m->inputs[i].mode);
		put_escaped(&b, m->inputs[i].path);
		buf_addc(&b, '\n');
	}
	for (i = 0; i < m->nsteps; i++) {
		buf_printf(&b, "step %s %s ", m->steps[i].key, m->steps[i].self);
		put_escaped(&b, m->steps[i].desc);
		buf_addc(&b, '\n');
		for (j = 0; j < m->steps[i].nfiles; j++) {
			buf_printf(&b, "file %s %o ", m->steps[i].files[j].hash, m->steps[i].files[j].mode);
			put_escaped(&b, m->steps[i].files[j].path);
			buf_addc(&b, '\n');
		}
	}
	for (i = 0; i < m->nconf; i++) {
		buf_printf(&b, "conf %s ", m->conf[i].hash);
		put_escaped(&b, m->conf[i].name);
		buf_addc(&b, '\n');
	}
	buf_adds(&b, "end\n");
	return buf_take(&b);
}

static int is_hex32(const char *s)
{
	int i;

	for (i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[32] == ' ' || s[32] == '\n' || s[32] == 0;
}

static void add_mfile(struct mfile **v, size_t *n, const char *hash, unsigned mode, char *path)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	memcpy((*v)[*n].hash, hash, 32);
	(*v)[*n].hash[32] = 0;
	(*v)[*n].mode = mode;
	(*v)[*n].path = path;
	(*n)++;
}

struct manifest *manifest_parse(const char *text, size_t len)
{
	struct manifest *m = xcalloc(1, sizeof(*m));
	const char *p = text, *end = text + len;
	int ended = 0, first = 1;

	if (memchr(text, 0, len)) /* never written: a NUL would cut a name short */
		goto bad;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;

		if (!nl)
			goto bad;
		n = (size_t)(nl - p);
		if (first) {
			char want[64];

			snprintf(want, sizeof(want), "graphbuild-manifest %d", KEY_FORMAT);
			if (n != strlen(want) || memcmp(p, want, n) != 0)
				goto bad;
			first = 0;
		} else if (n > 4 && memcmp(p, "key ", 4) == 0 && n == 36 && is_hex32(p + 4)) {
			memcpy(m->key, p + 4, 32);
		} else if (n > 40 && memcmp(p, "parent ", 7) == 0 && is_hex32(p + 7)) {
			memcpy(m->parent_key, p + 7, 32);
			free(m->parent); /* a repeated line: the last one counts */
			m->parent = unescape(p + 40, n - 40);
		} else if (n == 37 && memcmp(p, "base ", 5) == 0 && is_hex32(p + 5)) {
			memcpy(m->base, p + 5, 32);
		} else if (n > 40 && (memcmp(p, "file ", 5) == 0 || memcmp(p, "input ", 6) == 0)) {
			int isinput = p[0] == 'i';
			const char *h = p + (isinput ? 6 : 5), *sp;
			char *endm;
			unsigned long mode;

			if (!is_hex32(h))
				goto bad;
			mode = strtoul(h + 33, &endm, 8);
			if (*endm != ' ' || endm >= nl)
				goto bad;
			sp = endm + 1;
			if (isinput) {
				add_mfile(&m->inputs, &m->ninputs, h, (unsigned)mode, unescape(sp, (size_t)(nl - sp)));
			} else {
				struct mstep *st;

				if (!m->nsteps)
					goto bad;
				st = &m->steps[m->nsteps - 1];
				add_mfile(&st->files, &st->nfiles, h, (unsigned)mode, unescape(sp, (size_t)(nl - sp)));
			}
		} else if (n > 71 && memcmp(p, "step ", 5) == 0 && is_hex32(p + 5) && is_hex32(p + 38)) {
			struct mstep *st;

			m->steps = xreallocarray(m->steps, m->nsteps + 1, sizeof(*m->steps));
			st = &m->steps[m->nsteps++];
			memset(st, 0, sizeof(*st));
			memcpy(st->key, p + 5, 32);
			memcpy(st->self, p + 38, 32);
			st->desc = unescape(p + 71, n - 71);
		} else if (n > 38 && memcmp(p, "conf ", 5) == 0 && is_hex32(p + 5)) {
			m->conf = xreallocarray(m->conf, m->nconf + 1, sizeof(*m->conf));
			memcpy(m->conf[m->nconf].hash, p + 5, 32);
			m->conf[m->nconf].hash[32] = 0;
			m->conf[m->nconf].name = unescape(p + 38, n - 38);
			m->nconf++;
		} else if (n == 3 && memcmp(p, "end", 3) == 0) {
			ended = 1;
		} else {
			goto bad;
		}
		p = nl + 1;
	}
	if (!ended || !m->key[0])
		goto bad;
	return m;
bad:
	manifest_free(m);
	return NULL;
}

void manifest_free(struct manifest *m)
{
	size_t i, j;

	if (!m)
		return;
	free(m->parent);
	for (i = 0; i < m->nsteps; i++) {
		free(m->steps[i].desc);
		for (j = 0; j < m->steps[i].nfiles; j++)
			free(m->steps[i].files[j].path);
		free(m->steps[i].files);
	}
	free(m->steps);
	for (i = 0; i < m->nconf; i++)
		free(m->conf[i].name);
	free(m->conf);
	for (i = 0; i < m->ninputs; i++)
		free(m->inputs[i].path);
	free(m->inputs);
	free(m);
}

/* ---- why ---- */

static void add_reason(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = s;
}

#define FIRST_FILES 3

/* Files added, removed, changed between two sorted lists. */
static void diff_files(const struct mfile *a, size_t na, const struct mfile *b, size_t nb,
                       char ***v, size_t *n)
{
	size_t i = 0, j = 0, shown = 0, more = 0;

	while (i < na || j < nb) {
		int c = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].path, b[j].path);
		char *r = NULL;

		if (c < 0) {
			r = xasprintf("file %s removed", a[i].path);
			i++;
		} else if (c > 0) {
			r = xasprintf("file %s added", b[j].path);
			j++;
		} else {
			if (strcmp(a[i].hash, b[j].hash) != 0)
				r = xasprintf("file %s changed", b[j].path);
			else if (a[i].mode != b[j].mode)
				r = xasprintf("file %s mode changed (%o -> %o)", b[j].path, a[i].mode & 07777,
				              b[j].mode & 07777);
			i++;
			j++;
		}
		if (!r)
			continue;
		if (shown < FIRST_FILES) {
			add_reason(v, n, r);
			shown++;
		} else {
			free(r);
			more++;
		}
	}
	if (more)
		add_reason(v, n, xasprintf("+%zu more files", more));
}

void manifest_diff(const struct manifest *old, const struct manifest *cur, char ***v, size_t *n)
{
	size_t i, j, nstep;

	if (!old) {
		add_reason(v, n, xstrdup("never built"));
		return;
	}
	if (strcmp(old->key, cur->key) == 0)
		return;
	if ((old->parent == NULL) != (cur->parent == NULL) ||
	    (cur->parent && strcmp(old->parent, cur->parent) != 0)) {
		add_reason(v, n, xasprintf("parent changed (%s -> %s)", old->parent ? old->parent : "none",
		                           cur->parent ? cur->parent : "none"));
	} else if (cur->parent && strcmp(old->parent_key, cur->parent_key) != 0) {
		add_reason(v, n, xasprintf("parent %s changed", cur->parent));
	}
	if (old->ninputs || cur->ninputs)
		diff_files(old->inputs, old->ninputs, cur->inputs, cur->ninputs, v, n);
	if (strcmp(old->base, cur->base) != 0 && !cur->ninputs &&
	    (!cur->parent || strcmp(old->parent_key, cur->parent_key) == 0))
		add_reason(v, n, xstrdup("image env changed"));

	nstep = old->nsteps < cur->nsteps ? old->nsteps : cur->nsteps;
	for (i = 0; i < nstep; i++) {
		const struct mstep *a = &old->steps[i], *b = &cur->steps[i];

		if (strcmp(a->self, b->self) != 0) {
			if (strcmp(a->desc, b->desc) != 0)
				add_reason(v, n, xasprintf("step %zu changed: %s (was: %s)", i + 1, b->desc, a->desc));
			else
				add_reason(v, n, xasprintf("step %zu (%s) settings changed", i + 1, b->desc));
		} else if (a->nfiles || b->nfiles) {
			diff_files(a->files, a->nfiles, b->files, b->nfiles, v, n);
		}
	}
	for (i = nstep; i < cur->nsteps; i++)
		add_reason(v, n, xasprintf("step %zu added: %s", i + 1, cur->steps[i].desc));
	for (i = nstep; i < old->nsteps; i++)
		add_reason(v, n, xasprintf("step %zu removed: %s", i + 1, old->steps[i].desc));
	for (i = 0; i < cur->nconf; i++) {
		const struct mconf *c = &cur->conf[i];
		int found = 0;

		for (j = 0; j < old->nconf; j++)
			if (strcmp(old->conf[j].name, c->name) == 0) {
				found = 1;
				if (strcmp(old->conf[j].hash, c->hash) != 0)
					add_reason(v, n, xasprintf("%s changed", c->name));
			}
		if (!found)
			add_reason(v, n, xasprintf("%s added", c->name));
	}
	for (j = 0; j < old->nconf; j++) {
		int found = 0;

		for (i = 0; i < cur->nconf; i++)
			if (strcmp(old->conf[j].name, cur->conf[i].name) == 0)
				found = 1;
		if (!found)
			add_reason(v, n, xasprintf("%s removed", old->conf[j].name));
	}
	if (*n == 0)
		add_reason(v, n, xstrdup("key format changed"));
}
