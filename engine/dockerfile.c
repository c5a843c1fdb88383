/* dockerfile.c - Dockerfile instructions -> graphbuild DSL text: variable
 * expansion and ARG scoping as the Dockerfile reference defines them,
 * stages and the target's reachable set, then one `image` per stage with
 * its steps in order. What the DSL cannot express yet is an error
 * "PATH:LINE: INSTRUCTION: not supported yet (...)", never dropped
 * (docs/dockerfile.md lists them). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "graphbuild/dockerfile.h"
#include "graphbuild/util.h"
#include "dockerfile_int.h"

/* ---- variables: ordered name -> value (NULL: declared, unset) ---- */

struct vars {
	char **k, **v;
	size_t n, cap;
};

static char **var_slot(struct vars *vs, const char *k)
{
	for (size_t i = 0; i < vs->n; i++)
		if (!strcmp(vs->k[i], k)) return &vs->v[i];
	return NULL;
}

static int var_has(const struct vars *vs, const char *k)
{
	return var_slot((struct vars *)vs, k) != NULL;
}

static void var_set(struct vars *vs, const char *k, const char *v)
{
	char **s = var_slot(vs, k);
	if (s) {
		free(*s);
		*s = v ? xstrdup(v) : NULL;
		return;
	}
	if (vs->n == vs->cap) {
		vs->cap = vs->cap ? vs->cap * 2 : 8;
		vs->k = xreallocarray(vs->k, vs->cap, sizeof *vs->k);
		vs->v = xreallocarray(vs->v, vs->cap, sizeof *vs->v);
	}
	vs->k[vs->n] = xstrdup(k);
	vs->v[vs->n++] = v ? xstrdup(v) : NULL;
}

static void vars_copy(struct vars *dst, const struct vars *src)
{
	for (size_t i = 0; i < src->n; i++) var_set(dst, src->k[i], src->v[i]);
}

static void vars_free(struct vars *vs)
{
	for (size_t i = 0; i < vs->n; i++) {
		free(vs->k[i]);
		free(vs->v[i]);
	}
	free(vs->k);
	free(vs->v);
	memset(vs, 0, sizeof *vs);
}

/* The expansion scope: ENV wins over ARG. */
struct scope {
	const struct vars *env, *args;
};

static const char *lookup(const struct scope *sc, const char *k, int *set)
{
	char **p = sc->env ? var_slot((struct vars *)sc->env, k) : NULL;
	if (p && *p) { *set = 1; return *p; }
	p = sc->args ? var_slot((struct vars *)sc->args, k) : NULL;
	if (p && *p) { *set = 1; return *p; }
	*set = 0;
	return NULL;
}

/* ---- words: quotes, escapes and $-expansion (Docker's shell lexer) ---- */

struct words {
	char **w;
	size_t n;
};

static void words_free(struct words *ws)
{
	for (size_t i = 0; i < ws->n; i++) free(ws->w[i]);
	free(ws->w);
	memset(ws, 0, sizeof *ws);
}

static int lex(const char *s, size_t n, const struct scope *sc, char esc, int split, int expand,
               struct words *out, char **why);

/* $... at s[*i] (the '$'); appends to b. */
static int dollar(const char *s, size_t n, size_t *i, const struct scope *sc, char esc, struct buf *b, char **why)
{
	size_t j = *i + 1;
	if (j < n && (isalpha((unsigned char)s[j]) || s[j] == '_')) {
		size_t k = j;
		while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_')) k++;
		char *name = xstrndup(s + j, k - j);
		int set;
		const char *v = lookup(sc, name, &set);
		if (v) buf_adds(b, v);
		free(name);
		*i = k - 1;
		return 0;
	}
	if (j < n && s[j] == '{') {
		size_t k = j + 1, depth = 1, e = 0;
		for (size_t m = k; m < n; m++) {
			if (s[m] == '$' && m + 1 < n && s[m + 1] == '{') { depth++; m++; }
			else if (s[m] == '}' && --depth == 0) { e = m; break; }
		}
		if (!e) { *why = xstrdup("'${' has no closing '}'"); return -1; }
		size_t nm = k;
		while (nm < e && (isalnum((unsigned char)s[nm]) || s[nm] == '_')) nm++;
		if (nm == k || isdigit((unsigned char)s[k])) {
			*why = xasprintf("bad substitution '%.*s'", (int)(e - *i + 1), s + *i);
			return -1;
		}
		char *name = xstrndup(s + k, nm - k);
		int set;
		const char *v = lookup(sc, name, &set);
		free(name);
		if (nm == e) {
			if (v) buf_adds(b, v);
		} else {
			int colon = s[nm] == ':';
			size_t op = nm + colon;
			char o = op < e ? s[op] : 0;
			if (o != '-' && o != '+' && o != '?') {
				*why = xasprintf("bad substitution '%.*s' (supported: ${v}, ${v:-w}, ${v-w}, ${v:+w}, ${v+w}, ${v:?e}, ${v?e})",
				                 (int)(e - *i + 1), s + *i);
				return -1;
			}
			int present = colon ? (v && *v) : set;
			/* set is 1 only for a value; "declared, unset" is unset */
			struct words w = { 0 };
			if (lex(s + op + 1, e - op - 1, sc, esc, 0, 1, &w, why) < 0) return -1;
			const char *word = w.n ? w.w[0] : "";
			if (o == '-') buf_adds(b, present ? v : word);
			else if (o == '+') { if (present) buf_adds(b, word); }
			else if (!present) {
				*why = xasprintf("%.*s: %s", (int)(nm - k), s + k, *word ? word : "parameter not set");
				words_free(&w);
				return -1;
			} else buf_adds(b, v);
			words_free(&w);
		}
		*i = e;
		return 0;
	}
	buf_addc(b, '$');
	return 0;
}

static void word_end(struct words *out, struct buf *b, int *started)
{
	if (!*started) return;
	out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
	out->w[out->n++] = xstrdup(b->data ? b->data : "");
	b->len = 0;
	if (b->data) b->data[0] = 0;
	*started = 0;
}

static int lex(const char *s, size_t n, const struct scope *sc, char esc, int split, int expand,
               struct words *out, char **why)
{
	struct buf b = { 0 };
	buf_adds(&b, "");
	int started = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (split && isspace((unsigned char)c)) {
			word_end(out, &b, &started);
			continue;
		}
		started = 1;
		if (c == esc) {
			if (i + 1 < n) buf_addc(&b, s[++i]);
			else buf_addc(&b, c);
		} else if (c == '\'') {
			size_t e = i + 1;
			while (e < n && s[e] != '\'') e++;
			if (e >= n) { *why = xstrdup("unterminated single quote"); goto fail; }
			buf_add(&b, s + i + 1, e - i - 1);
			i = e;
		} else if (c == '"') {
			size_t e = i + 1;
			for (; e < n && s[e] != '"'; e++) {
				if (s[e] == esc && e + 1 < n) {
					char d = s[e + 1];
					if (d == '"' || d == '$' || d == esc || d == '\\') { buf_addc(&b, d); e++; }
					else buf_addc(&b, s[e]);
				} else if (s[e] == '$' && expand) {
					if (dollar(s, n, &e, sc, esc, &b, why) < 0) goto fail;
				} else buf_addc(&b, s[e]);
			}
			if (e >= n) { *why = xstrdup("unterminated double quote"); goto fail; }
			i = e;
		} else if (c == '$' && expand) {
			if (dollar(s, n, &i, sc, esc, &b, why) < 0) goto fail;
		} else buf_addc(&b, c);
	}
	word_end(out, &b, &started);
	if (!split && out->n == 0) {
		out->w = xrealloc(out->w, sizeof *out->w);
		out->w[out->n++] = xstrdup("");
	}
	buf_free(&b);
	return 0;
fail:
	buf_free(&b);
	words_free(out);
	return -1;
}

/* Raw (unprocessed) words of s, quotes and escapes kept. */
static void raw_words(const char *s, char esc, struct words *out)
{
	size_t i = 0, n = strlen(s);
	while (i < n) {
		while (i < n && isspace((unsigned char)s[i])) i++;
		if (i >= n) break;
		size_t st = i;
		char q = 0;
		for (; i < n; i++) {
			char c = s[i];
			if (q) { if (c == esc && q == '"' && i + 1 < n) i++; else if (c == q) q = 0; continue; }
			if (c == esc && i + 1 < n) { i++; continue; }
			if (c == '\'' || c == '"') { q = c; continue; }
			if (isspace((unsigned char)c)) break;
		}
		out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
		out->w[out->n++] = xstrndup(s + st, i - st);
	}
}

/* ---- the conversion ---- */

struct stage {
	int line;            /* of its FROM */
	char *name;          /* lower-case AS name, or NULL */
	size_t first, end;   /* instructions [first, end), FROM excluded */
	char *from;          /* expanded FROM reference */
	int parent;          /* stage index or -1 */
	int *deps;           /* stages it copies/mounts from */
	size_t ndeps;
	int state;           /* 0 not visited, 1 visiting, 2 emitted */
	char *img, *var;     /* image name, Lua local */
	/* the stage's final state, inherited by FROM <stage> */
	struct vars env;
	char *workdir;
	char **shell;
	size_t nshell;
};

struct conv {
	const struct df_opts *o;
	const char *path;
	struct df_file f;
	struct stage *st;
	size_t nst;
	struct vars globals; /* ARGs before the first FROM, with values */
	struct vars bargs;   /* build args given */
	struct buf out;
	char *err;
};

static int cerr(struct conv *c, int line, const char *ins, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int cerr(struct conv *c, int line, const char *ins, const char *fmt, ...)
{
	if (c->err) return -1;
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	c->err = xasprintf("%s:%d: %s: %s", c->path, line, ins, m);
	free(m);
	return -1;
}

#define UNSUPPORTED(c, in, ...) cerr((c), (in)->line, (in)->cmd, "not supported yet (" __VA_ARGS__)


static void lstrlist(struct buf *b, char *const *v, size_t n)
{
	if (!n) {
		buf_adds(b, "{}");
		return;
	}
	buf_adds(b, "{ ");
	for (size_t i = 0; i < n; i++) {
		if (i) buf_adds(b, ", ");
		buf_lua_str(b, v[i]);
	}
	buf_adds(b, " }");
}

/* A table key and " = ". */
static void lkey(struct buf *b, const char *k)
{
	buf_lua_key(b, k);
	buf_adds(b, " = ");
}

static int stage_by_ref(struct conv *c, const char *ref, size_t before)
{
	char *e;
	long k = strtol(ref, &e, 10);
	if (*ref && !*e && k >= 0 && (size_t)k < before) return (int)k;
	for (size_t i = 0; i < before; i++)
		if (c->st[i].name && !strcasecmp(c->st[i].name, ref)) return (int)i;
	return -1;
}

static const char *flag_val(const struct df_instr *in, const char *name, int *bare)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < in->nflags; i++) {
		const char *f = in->flags[i];
		if (!strncmp(f, name, n) && (f[n] == '=' || !f[n])) {
			if (bare) *bare = !f[n];
			return f[n] ? f + n + 1 : "";
		}
	}
	return NULL;
}

static int check_flags(struct conv *c, const struct df_instr *in, const char *const *known, size_t nk)
{
	for (size_t i = 0; i < in->nflags; i++) {
		const char *f = in->flags[i];
		size_t fn = strcspn(f, "=");
		int ok = 0;
		for (size_t k = 0; k < nk; k++)
			if (strlen(known[k]) == fn && !strncmp(f, known[k], fn)) ok = 1;
		if (!ok) return UNSUPPORTED(c, in, "the flag --%.*s)", (int)fn, f);
	}
	return 0;
}

/* Value of a declared ARG: the build arg, else the default. */
static const char *barg(struct conv *c, const char *k)
{
	char **p = var_slot(&c->bargs, k);
	return p ? *p : NULL;
}

/* ARG a[=v] b[=v]...: declares into args, expanding defaults in sc. */
static int do_arg(struct conv *c, const struct df_instr *in, struct vars *args, const struct scope *sc,
                  const struct vars *globals)
{
	struct words raw = { 0 };
	raw_words(in->rest, c->f.escape, &raw);
	if (raw.n == 0) {
		words_free(&raw);
		return cerr(c, in->line, in->cmd, "a name is required (ARG NAME or ARG NAME=DEFAULT)");
	}
	for (size_t i = 0; i < raw.n; i++) {
		char *w = raw.w[i];
		char *eq = strchr(w, '=');
		char *name = eq ? xstrndup(w, (size_t)(eq - w)) : xstrdup(w);
		int okn = *name && (isalpha((unsigned char)name[0]) || name[0] == '_');
		for (char *p = name; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '_') okn = 0;
		if (!okn) {
			cerr(c, in->line, in->cmd, "'%s' is not a valid argument name", name);
			free(name);
			words_free(&raw);
			return -1;
		}
		char *val = NULL;
		if (eq) {
			struct words v = { 0 };
			char *why = NULL;
			if (lex(eq + 1, strlen(eq + 1), sc, c->f.escape, 0, 1, &v, &why) < 0) {
				cerr(c, in->line, in->cmd, "%s", why);
				free(why);
				free(name);
				words_free(&raw);
				return -1;
			}
			val = xstrdup(v.w[0]);
			words_free(&v);
		} else if (globals) {
			char **g = var_slot((struct vars *)globals, name);
			if (g && *g) val = xstrdup(*g);
		}
		const char *b = barg(c, name);
		var_set(args, name, b ? b : val);
		free(val);
		free(name);
	}
	words_free(&raw);
	return 0;
}

static int expand1(struct conv *c, const struct df_instr *in, const char *s, const struct scope *sc, char **out)
{
	struct words w = { 0 };
	char *why = NULL;
	if (lex(s, strlen(s), sc, c->f.escape, 0, 1, &w, &why) < 0) {
		cerr(c, in->line, in->cmd, "%s", why);
		free(why);
		return -1;
	}
	*out = xstrdup(w.w[0]);
	words_free(&w);
	return 0;
}

static int expand_words(struct conv *c, const struct df_instr *in, const struct scope *sc, struct words *out)
{
	if (in->json) {
		for (size_t i = 0; i < in->argc; i++) {
			char *v;
			if (expand1(c, in, in->argv[i], sc, &v) < 0) { words_free(out); return -1; }
			out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
			out->w[out->n++] = v;
		}
		return 0;
	}
	char *why = NULL;
	if (lex(in->rest, strlen(in->rest), sc, c->f.escape, 1, 1, out, &why) < 0) {
		cerr(c, in->line, in->cmd, "%s", why);
		free(why);
		return -1;
	}
	return 0;
}

/* KEY=VALUE pairs (or the legacy "KEY VALUE" when allowed) -> keys/vals. */
static int pairs(struct conv *c, const struct df_instr *in, const struct scope *sc, int legacy, struct words *ks,
                 struct words *vs)
{
	struct words raw = { 0 };
	raw_words(in->rest, c->f.escape, &raw);
	int rc = 0;
	if (raw.n == 0) {
		rc = cerr(c, in->line, in->cmd, "a name and a value are required (%s NAME=VALUE)", in->cmd);
		goto out;
	}
	if (!strchr(raw.w[0], '=')) {
		if (!legacy || raw.n < 2) {
			rc = cerr(c, in->line, in->cmd, "'%s' has no value (write %s %s=VALUE)", raw.w[0], in->cmd, raw.w[0]);
			goto out;
		}
		/* ENV NAME the rest of the line */
		const char *r = in->rest;
		while (*r && !isspace((unsigned char)*r)) r++;
		while (isspace((unsigned char)*r)) r++;
		char *v;
		if (expand1(c, in, r, sc, &v) < 0) { rc = -1; goto out; }
		ks->w = xrealloc(ks->w, sizeof *ks->w);
		ks->w[ks->n++] = xstrdup(raw.w[0]);
		vs->w = xrealloc(vs->w, sizeof *vs->w);
		vs->w[vs->n++] = v;
		goto out;
	}
	for (size_t i = 0; i < raw.n; i++) {
		char *w = raw.w[i];
		/* the first '=' outside quotes */
		char *eq = NULL, q = 0;
		for (char *p = w; *p; p++) {
			if (q) { if (*p == q) q = 0; continue; }
			if (*p == '"' || *p == '\'') q = *p;
			else if (*p == c->f.escape && p[1]) p++;
			else if (*p == '=') { eq = p; break; }
		}
		if (!eq) {
			rc = cerr(c, in->line, in->cmd, "'%s' has no value (write %s %s=VALUE; the NAME VALUE form takes one pair)", w,
			          in->cmd, w);
			goto out;
		}
		char *kraw = xstrndup(w, (size_t)(eq - w)), *k, *v;
		int r1 = expand1(c, in, kraw, sc, &k);
		free(kraw);
		if (r1 < 0) { rc = -1; goto out; }
		if (!*k) { free(k); rc = cerr(c, in->line, in->cmd, "a name is empty in '%s'", w); goto out; }
		if (expand1(c, in, eq + 1, sc, &v) < 0) { free(k); rc = -1; goto out; }
		ks->w = xreallocarray(ks->w, ks->n + 1, sizeof *ks->w);
		ks->w[ks->n++] = k;
		vs->w = xreallocarray(vs->w, vs->n + 1, sizeof *vs->w);
		vs->w[vs->n++] = v;
	}
out:
	words_free(&raw);
	return rc;
}

/* Normalises an absolute path (".", "..", "//"), keeping a trailing '/'. */
static char *path_abs(const char *wd, const char *p)
{
	struct buf in = { 0 };
	if (p[0] != '/') {
		buf_adds(&in, wd && *wd ? wd : "/");
		buf_addc(&in, '/');
	}
	buf_adds(&in, p);
	size_t n = in.len;
	int dir = n && (in.data[n - 1] == '/' || (n >= 2 && !strcmp(in.data + n - 2, "/.")) || !strcmp(in.data, "."));
	char **comp = NULL;
	size_t nc = 0;
	char *save = NULL;
	for (char *t = strtok_r(in.data, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, ".")) continue;
		if (!strcmp(t, "..")) { if (nc) nc--; continue; }
		comp = xreallocarray(comp, nc + 1, sizeof *comp);
		comp[nc++] = t;
	}
	struct buf o = { 0 };
	for (size_t i = 0; i < nc; i++) {
		buf_addc(&o, '/');
		buf_adds(&o, comp[i]);
	}
	if (!nc || dir) buf_addc(&o, '/');
	free(comp);
	buf_free(&in);
	return buf_take(&o);
}

static int is_archive(const char *file)
{
	FILE *fp = fopen(file, "rb");
	if (!fp) return -1;
	unsigned char h[512];
	size_t n = fread(h, 1, sizeof h, fp);
	fclose(fp);
	if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b) return 1;
	if (n >= 3 && !memcmp(h, "BZh", 3)) return 1;
	if (n >= 6 && !memcmp(h, "\xfd" "7zXZ\0", 6)) return 1;
	if (n >= 4 && !memcmp(h, "\x28\xb5\x2f\xfd", 4)) return 1;
	if (n >= 262 && !memcmp(h + 257, "ustar", 5)) return 1;
	return 0;
}

struct sstate {
	struct vars env, args;
	char *workdir;
	char **shell;
	size_t nshell;
	char **cmd, **ep;
	size_t ncmd, nep;
	int cmd_set, ep_set;
	struct words lk, lv; /* labels */
	struct words expose;
	struct words volumes;
	char *stopsig;
	char *health;        /* the Lua value of `healthcheck =` */
};

static void set_list(char ***dst, size_t *nd, char *const *src, size_t n)
{
	for (size_t i = 0; i < *nd; i++) free((*dst)[i]);
	free(*dst);
	*dst = xcalloc(n + 1, sizeof **dst);
	for (size_t i = 0; i < n; i++) (*dst)[i] = xstrdup(src[i]);
	*nd = n;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) free(v[i]);
	free(v);
}

/* argv of CMD/ENTRYPOINT/RUN: exec form as is, shell form under SHELL. */
static void command_argv(const struct sstate *s, const struct df_instr *in, const char *text, struct words *out)
{
	if (in->json) {
		for (size_t i = 0; i < in->argc; i++) {
			out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
			out->w[out->n++] = xstrdup(in->argv[i]);
		}
		return;
	}
	for (size_t i = 0; i < s->nshell; i++) {
		out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
		out->w[out->n++] = xstrdup(s->shell[i]);
	}
	out->w = xreallocarray(out->w, out->n + 1, sizeof *out->w);
	out->w[out->n++] = xstrdup(text);
}

static int default_shell(const struct sstate *s)
{
	return s->nshell == 2 && !strcmp(s->shell[0], "/bin/sh") && !strcmp(s->shell[1], "-c");
}

static int emit_run(struct conv *c, struct sstate *s, const struct df_instr *in, struct buf *b)
{
	static const char *const known[] = { "mount", "network" };
	if (check_flags(c, in, known, LEN(known)) < 0) return -1;
	struct words cache = { 0 }, sid = { 0 }, spath = { 0 };
	int rc = 0, net_none = 0;
	for (size_t i = 0; i < in->nflags; i++) {
		const char *f = in->flags[i];
		if (!strncmp(f, "network=", 8)) {
			if (!strcmp(f + 8, "none"))
				net_none = 1;
			else if (!strcmp(f + 8, "host"))
				{ rc = cerr(c, in->line, in->cmd, "--network=host is not granted: a step shares the build machine's network only with BuildKit's network.host entitlement, which graphbuild does not give"); goto out; }
			else if (strcmp(f + 8, "default"))
				{ rc = cerr(c, in->line, in->cmd, "--network=%s: expected default, none or host", f + 8); goto out; }
			continue;
		}
		if (strncmp(f, "mount=", 6)) { rc = UNSUPPORTED(c, in, "--%s)", f); goto out; }
		char *spec = xstrdup(f + 6), *save = NULL;
		char *type = NULL, *target = NULL, *id = NULL, *bad = NULL;
		for (char *t = strtok_r(spec, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char *eq = strchr(t, '=');
			char *v = eq ? eq + 1 : (char *)"";
			if (eq) *eq = 0;
			if (!strcmp(t, "type")) type = v;
			else if (!strcmp(t, "target") || !strcmp(t, "dst") || !strcmp(t, "destination")) target = v;
			else if (!strcmp(t, "id")) id = v;
			else if (!bad) bad = t;
		}
		if (!type) type = "bind";
		if (!strcmp(type, "cache")) {
			if (bad || id) { rc = UNSUPPORTED(c, in, "--mount=type=cache option '%s': only target= is)", bad ? bad : "id"); }
			else if (!target || target[0] != '/') rc = cerr(c, in->line, in->cmd, "--mount=type=cache needs an absolute target=");
			else {
				char *p = path_abs("/", target);
				size_t pl = strlen(p);
				if (pl > 1 && p[pl - 1] == '/') p[pl - 1] = 0;
				cache.w = xreallocarray(cache.w, cache.n + 1, sizeof *cache.w);
				cache.w[cache.n++] = p;
			}
		} else if (!strcmp(type, "secret")) {
			if (bad) rc = UNSUPPORTED(c, in, "--mount=type=secret option '%s': only id= and target= are)", bad);
			else if (!id && !target) rc = cerr(c, in->line, in->cmd, "--mount=type=secret needs id= (or target=)");
			else {
				/* no id: the target's last component (a bare "NAME" is one) */
				const char *slash = target ? strrchr(target, '/') : NULL;
				const char *sidv = id ? id : slash ? slash + 1 : target;
				char *p = target ? (target[0] == '/' ? xstrdup(target) : xasprintf("/run/secrets/%s", target))
				                 : xasprintf("/run/secrets/%s", sidv);
				sid.w = xreallocarray(sid.w, sid.n + 1, sizeof *sid.w);
				sid.w[sid.n++] = xstrdup(sidv);
				spath.w = xreallocarray(spath.w, spath.n + 1, sizeof *spath.w);
				spath.w[spath.n++] = p;
			}
		} else {
			rc = UNSUPPORTED(c, in, "--mount=type=%s: the DSL has cache and secret mounts only)", type);
		}
		free(spec);
		if (rc) goto out;
	}
	/* the command */
	struct buf text = { 0 };
	buf_adds(&text, in->rest);
	int only_heredoc = 0;
	if (!in->json && in->nhere) {
		/* "RUN <<EOF" alone runs the body as the script */
		const char *r = in->rest;
		only_heredoc = in->nhere == 1 && r[0] == '<' && r[1] == '<';
		if (only_heredoc) {
			const char *e = r + 2;
			if (*e == '-') e++;
			if (*e == '"' || *e == '\'') e++;
			e += strlen(in->here[0].word);
			if (*e == '"' || *e == '\'') e++;
			while (isspace((unsigned char)*e)) e++;
			only_heredoc = !*e;
		}
		if (only_heredoc) {
			text.len = 0;
			buf_adds(&text, in->here[0].body);
		} else
			for (size_t h = 0; h < in->nhere; h++) {
				buf_addc(&text, '\n');
				buf_adds(&text, in->here[h].body);
				buf_adds(&text, in->here[h].word);
			}
	}
	if (in->json && in->argc == 0) {
		buf_free(&text);
		rc = cerr(c, in->line, in->cmd, "the exec form command is empty");
		goto out;
	}
	if (!in->json && !text.len) {
		buf_free(&text);
		rc = cerr(c, in->line, in->cmd, "a command is required");
		goto out;
	}
	/* ARG values (not ENV-overridden) are in the step's environment only */
	struct words ek = { 0 }, ev = { 0 };
	for (size_t i = 0; i < s->args.n; i++) {
		if (!s->args.v[i] || var_has(&s->env, s->args.k[i])) continue;
		ek.w = xreallocarray(ek.w, ek.n + 1, sizeof *ek.w);
		ek.w[ek.n++] = xstrdup(s->args.k[i]);
		ev.w = xreallocarray(ev.w, ev.n + 1, sizeof *ev.w);
		ev.w[ev.n++] = xstrdup(s->args.v[i]);
	}
	int simple = !in->json && default_shell(s) && !cache.n && !sid.n && !ek.n && !net_none;
	buf_adds(b, "  run ");
	if (simple) {
		buf_lua_str(b, text.data);
	} else {
		buf_adds(b, "{ ");
		if (!in->json && default_shell(s)) buf_lua_str(b, text.data);
		else {
			struct words av = { 0 };
			command_argv(s, in, text.data, &av);
			lstrlist(b, av.w, av.n);
			words_free(&av);
		}
		if (cache.n) {
			buf_adds(b, ", cache = ");
			lstrlist(b, cache.w, cache.n);
		}
		if (sid.n) {
			buf_adds(b, ", secrets = { ");
			for (size_t i = 0; i < sid.n; i++) {
				if (i) buf_adds(b, ", ");
				lkey(b, sid.w[i]);
				buf_lua_str(b, spath.w[i]);
			}
			buf_adds(b, " }");
		}
		if (ek.n) {
			buf_adds(b, ", env = { ");
			for (size_t i = 0; i < ek.n; i++) {
				if (i) buf_adds(b, ", ");
				lkey(b, ek.w[i]);
				buf_lua_str(b, ev.w[i]);
			}
			buf_adds(b, " }");
		}
		if (net_none)
			buf_adds(b, ", network = \"none\"");
		buf_adds(b, " }");
	}
	buf_adds(b, ",\n");
	buf_free(&text);
	words_free(&ek);
	words_free(&ev);
out:
	words_free(&cache);
	words_free(&sid);
	words_free(&spath);
	return rc;
}

static int emit_copy(struct conv *c, struct sstate *s, const struct df_instr *in, size_t si, struct buf *b,
                     const struct scope *sc)
{
	int add = !strcmp(in->cmd, "ADD");
	static const char *const known[] = { "from" };
	if (add && in->nflags) return UNSUPPORTED(c, in, "ADD --%s; use COPY for --from)", in->flags[0]);
	if (check_flags(c, in, known, LEN(known)) < 0) return -1;
	if (in->nhere) return UNSUPPORTED(c, in, "%s <<%s: inline files from heredocs)", in->cmd, in->here[0].word);
	struct words w = { 0 };
	if (expand_words(c, in, sc, &w) < 0) return -1;
	int rc = 0;
	if (w.n < 2) {
		rc = cerr(c, in->line, in->cmd, "a source and a destination are required (%s SRC... DEST)", in->cmd);
		goto out;
	}
	const char *from = flag_val(in, "from", NULL);
	char *dest = path_abs(s->workdir, w.w[w.n - 1]);
	int wild = 0;
	for (size_t i = 0; i + 1 < w.n; i++)
		if (strpbrk(w.w[i], "*?[")) wild = 1;
	if ((w.n > 2 || wild) && dest[strlen(dest) - 1] != '/') {
		rc = cerr(c, in->line, in->cmd, "with several sources or a wildcard, the destination must be a directory ending in '/', got '%s'",
		          w.w[w.n - 1]);
		free(dest);
		goto out;
	}
	if (!from)
		for (size_t i = 0; i + 1 < w.n && !rc; i++)
			if (strpbrk(w.w[i], "*?["))
				rc = UNSUPPORTED(c, in, "the wildcard source '%s': the DSL copies named files and directories)", w.w[i]);
	if (rc) { free(dest); goto out; }
	if (add && !from) {
		for (size_t i = 0; i + 1 < w.n; i++) {
			const char *src = w.w[i];
			if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8) || !strncmp(src, "git@", 4))
				{ rc = UNSUPPORTED(c, in, "ADD of a URL '%s')", src); break; }
			char *cdir = path_join(c->o->dir ? c->o->dir : ".", c->o->context ? c->o->context : ".");
			char *file = path_join(cdir, src);
			int ar = is_archive(file);
			free(file);
			free(cdir);
			if (ar == 1) { rc = UNSUPPORTED(c, in, "ADD of a local archive '%s', which ADD extracts)", src); break; }
		}
		if (rc) { free(dest); goto out; }
	}
	buf_adds(b, "  copy { ");
	if (from) {
		int k = stage_by_ref(c, from, si);
		buf_adds(b, "from = ");
		if (k >= 0) buf_adds(b, c->st[k].var);
		else buf_lua_str(b, from);
		buf_adds(b, ", ");
	}
	for (size_t i = 0; i + 1 < w.n; i++) {
		const char *src = w.w[i];
		if (from) {
			char *p = path_abs("/", src);
			size_t pl = strlen(p);
			if (pl > 1 && p[pl - 1] == '/' && src[strlen(src) - 1] != '/') p[pl - 1] = 0;
			buf_lua_str(b, p);
			free(p);
		} else {
			while (src[0] == '.' && src[1] == '/') src += 2;
			while (src[0] == '/') src++; /* context-relative, as Docker takes it */
			buf_lua_str(b, *src ? src : ".");
		}
		buf_adds(b, ", ");
	}
	buf_adds(b, "to = ");
	buf_lua_str(b, dest);
	buf_adds(b, " },\n");
	free(dest);
out:
	words_free(&w);
	return rc;
}

/* VOLUME /a /b or VOLUME ["/a", "/b"]: mount points, kept once each. */
static int do_volume(struct conv *c, struct sstate *s, const struct df_instr *in, const struct scope *sc)
{
	struct words w = { 0 };
	int rc = 0;

	if (expand_words(c, in, sc, &w) < 0) return -1;
	if (!w.n) rc = cerr(c, in->line, in->cmd, "a path is required (VOLUME /path ...)");
	for (size_t i = 0; i < w.n && !rc; i++) {
		size_t k = 0;
		if (w.w[i][0] != '/') {
			rc = cerr(c, in->line, in->cmd, "'%s' is not an absolute path (a volume's mount point must be)", w.w[i]);
			break;
		}
		while (k < s->volumes.n && strcmp(s->volumes.w[k], w.w[i])) k++;
		if (k < s->volumes.n) continue;
		s->volumes.w = xreallocarray(s->volumes.w, s->volumes.n + 1, sizeof *s->volumes.w);
		s->volumes.w[s->volumes.n++] = xstrdup(w.w[i]);
	}
	words_free(&w);
	return rc;
}

/* STOPSIGNAL SIG: one word, expanded; the DSL checks the name. */
static int do_stopsignal(struct conv *c, struct sstate *s, const struct df_instr *in, const struct scope *sc)
{
	struct words w = { 0 };
	int rc = 0;

	if (expand_words(c, in, sc, &w) < 0) return -1;
	if (w.n != 1 || !*w.w[0] || strspn(w.w[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-") != strlen(w.w[0]))
		rc = cerr(c, in->line, in->cmd, "expected one signal, as in STOPSIGNAL SIGINT or STOPSIGNAL 2");
	else {
		free(s->stopsig);
		s->stopsig = xstrdup(w.w[0]);
	}
	words_free(&w);
	return rc;
}

/* A Go duration as Docker's --interval takes it ("30s", "1m30s", "1.5s",
 * "500ms"), in ms (fractions of a ms dropped); -1 if it is not one. */
static long long go_duration_ms(const char *s)
{
	static const struct { const char *u; double ms; } units[] = {
		{ "ns", 1e-6 }, { "us", 1e-3 }, { "\xc2\xb5s", 1e-3 }, { "ms", 1 }, { "s", 1e3 }, { "m", 6e4 }, { "h", 3.6e6 },
	};
	double total = 0;

	if (!strcmp(s, "0")) return 0;
	if (!*s) return -1;
	while (*s) {
		char *e;
		size_t k, best = 0, bl = 0;
		if (!isdigit((unsigned char)*s) && *s != '.') return -1;
		errno = 0;
		double v = strtod(s, &e);
		if (e == s || errno) return -1;
		for (k = 0; k < LEN(units); k++) {
			size_t l = strlen(units[k].u);
			if (!strncmp(e, units[k].u, l) && l > bl) { best = k; bl = l; }
		}
		if (!bl) return -1;
		total += v * units[best].ms;
		s = e + bl;
	}
	return total > 9.2e15 ? -1 : (long long)total;
}

/* HEALTHCHECK [--interval= --timeout= --start-period= --retries=] CMD ...
 * or HEALTHCHECK NONE: the image's healthcheck (the last one wins). */
static int do_healthcheck(struct conv *c, struct sstate *s, const struct df_instr *in)
{
	static const char *const known[] = { "interval", "timeout", "start-period", "retries" };
	struct buf v = { 0 };
	const char *r = in->rest;
	size_t kl = strcspn(r, " \t");

	if (in->nflags && !strncmp(in->flags[0], "start-interval", 14))
		return UNSUPPORTED(c, in, "--start-interval: Engine API 1.41 has no such healthcheck setting)");
	if (check_flags(c, in, known, LEN(known)) < 0) return -1;
	if (kl == 4 && !strncasecmp(r, "NONE", 4) && !r[kl]) {
		if (in->nflags) return cerr(c, in->line, in->cmd, "HEALTHCHECK NONE takes no options");
		free(s->health);
		s->health = xstrdup("{ \"NONE\" }");
		return 0;
	}
	if (kl != 3 || strncasecmp(r, "CMD", 3))
		return cerr(c, in->line, in->cmd, "expected HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE");
	const char *cmd = r + kl;
	while (*cmd == ' ' || *cmd == '\t') cmd++;
	if (!*cmd) return cerr(c, in->line, in->cmd, "CMD needs a command");
	buf_adds(&v, "{ ");
	size_t n = strlen(cmd);
	while (n && isspace((unsigned char)cmd[n - 1])) n--;
	cJSON *j = cmd[0] == '[' ? cJSON_ParseWithLength(cmd, n) : NULL;
	if (j && cJSON_IsArray(j)) {
		cJSON *e;
		int ok = cJSON_GetArraySize(j) > 0;
		cJSON_ArrayForEach(e, j) if (!cJSON_IsString(e)) ok = 0;
		if (!ok) {
			cJSON_Delete(j);
			buf_free(&v);
			return cerr(c, in->line, in->cmd, "the exec form must be a non-empty JSON array of strings");
		}
		buf_adds(&v, "\"CMD\"");
		cJSON_ArrayForEach(e, j) { buf_adds(&v, ", "); buf_lua_str(&v, e->valuestring); }
	} else if (cmd[0] == '[' && cmd[n - 1] == ']') {
		cJSON_Delete(j);
		buf_free(&v);
		return cerr(c, in->line, in->cmd, "invalid JSON in the exec form: %.*s", (int)n, cmd);
	} else {
		buf_adds(&v, "\"CMD-SHELL\", ");
		struct buf t = { 0 };
		buf_add(&t, cmd, n);
		buf_adds(&t, "");
		buf_lua_str(&v, t.data);
		buf_free(&t);
	}
	cJSON_Delete(j);
	for (size_t i = 0; i < in->nflags; i++) {
		const char *f = in->flags[i], *val = strchr(f, '=');
		size_t fn = val ? (size_t)(val - f) : strlen(f);
		val = val ? val + 1 : "";
		if (fn == 7 && !strncmp(f, "retries", 7)) {
			char *e;
			long rt = strtol(val, &e, 10);
			if (!*val || *e || rt < 0 || rt > 2147483647) {
				buf_free(&v);
				return cerr(c, in->line, in->cmd, "--retries=%s: expected a whole number", val);
			}
			if (rt) buf_printf(&v, ", retries = %ld", rt);
			continue;
		}
		long long ms = go_duration_ms(val);
		if (ms < 0) {
			buf_free(&v);
			return cerr(c, in->line, in->cmd, "--%.*s=%s: not a duration (write e.g. 30s, 1m30s, 500ms)", (int)fn, f, val);
		}
		if (!ms) /* 0: the engine's default, as an absent option */
			continue;
		buf_printf(&v, ", %s = ", fn == 8 ? "interval" : fn == 7 ? "timeout" : "start_period");
		if (strpbrk(val, "un\xc2")) /* ns, us, µs: the DSL's durations have none */
			buf_printf(&v, "\"%lldms\"", ms);
		else
			buf_lua_str(&v, val);
	}
	buf_adds(&v, " }");
	free(s->health);
	s->health = buf_take(&v);
	return 0;
}

static int emit_stage(struct conv *c, size_t si);

static int emit_deps(struct conv *c, size_t si)
{
	struct stage *st = &c->st[si];
	if (st->parent >= 0 && emit_stage(c, (size_t)st->parent) < 0) return -1;
	for (size_t i = 0; i < st->ndeps; i++)
		if (emit_stage(c, (size_t)st->deps[i]) < 0) return -1;
	return 0;
}

static int emit_stage(struct conv *c, size_t si)
{
	struct stage *st = &c->st[si];
	if (st->state == 2) return 0;
	st->state = 1;
	if (emit_deps(c, si) < 0) return -1;
	struct sstate s = { 0 };
	if (st->parent >= 0) {
		struct stage *p = &c->st[st->parent];
		vars_copy(&s.env, &p->env);
		s.workdir = xstrdup(p->workdir);
		set_list(&s.shell, &s.nshell, p->shell, p->nshell);
	} else {
		static char *const sh[] = { "/bin/sh", "-c" };
		s.workdir = xstrdup("/");
		set_list(&s.shell, &s.nshell, sh, 2);
	}
	struct buf b = { 0 };
	buf_printf(&b, "local %s = image ", st->var);
	buf_lua_str(&b, st->img);
	buf_adds(&b, " {\n  from = ");
	if (st->parent >= 0) buf_adds(&b, c->st[st->parent].var);
	else buf_lua_str(&b, st->from);
	buf_adds(&b, ",\n");
	if (c->o->context && strcmp(c->o->context, ".")) {
		buf_adds(&b, "  context = ");
		buf_lua_str(&b, c->o->context);
		buf_adds(&b, ",\n");
	}
	if (st->parent < 0 && !strcmp(st->from, "scratch")) {
		/* both builders give an image FROM scratch Docker's default PATH */
		static const char path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		buf_printf(&b, "  env { PATH = \"%s\" },\n", path);
		var_set(&s.env, "PATH", path);
	}
	int rc = 0;
	for (size_t ii = st->first; ii < st->end && !rc; ii++) {
		const struct df_instr *in = &c->f.ins[ii];
		struct scope sc = { &s.env, &s.args };
		const char *cmd = in->cmd;
		if (!strcmp(cmd, "ARG")) {
			rc = do_arg(c, in, &s.args, &sc, &c->globals);
		} else if (!strcmp(cmd, "RUN")) {
			rc = emit_run(c, &s, in, &b);
		} else if (!strcmp(cmd, "COPY") || !strcmp(cmd, "ADD")) {
			rc = emit_copy(c, &s, in, si, &b, &sc);
		} else if (!strcmp(cmd, "WORKDIR")) {
			char *v;
			if ((rc = expand1(c, in, in->rest, &sc, &v)) < 0) break;
			if (!*v) { free(v); rc = cerr(c, in->line, cmd, "a path is required"); break; }
			char *p = path_abs(s.workdir, v);
			size_t pl = strlen(p);
			if (pl > 1 && p[pl - 1] == '/') p[pl - 1] = 0;
			free(v);
			free(s.workdir);
			s.workdir = p;
			buf_adds(&b, "  workdir ");
			buf_lua_str(&b, p);
			buf_adds(&b, ",\n");
		} else if (!strcmp(cmd, "USER")) {
			char *v;
			if ((rc = expand1(c, in, in->rest, &sc, &v)) < 0) break;
			if (!*v) { free(v); rc = cerr(c, in->line, cmd, "a user is required (USER NAME[:GROUP])"); break; }
			buf_adds(&b, "  user ");
			buf_lua_str(&b, v);
			buf_adds(&b, ",\n");
			free(v);
		} else if (!strcmp(cmd, "ENV")) {
			struct words k = { 0 }, v = { 0 };
			if ((rc = pairs(c, in, &sc, 1, &k, &v)) == 0) {
				buf_adds(&b, "  env { ");
				for (size_t i = 0; i < k.n; i++) {
					if (i) buf_adds(&b, ", ");
					lkey(&b, k.w[i]);
					buf_lua_str(&b, v.w[i]);
				}
				buf_adds(&b, " },\n");
				for (size_t i = 0; i < k.n; i++) var_set(&s.env, k.w[i], v.w[i]);
			}
			words_free(&k);
			words_free(&v);
		} else if (!strcmp(cmd, "LABEL")) {
			struct words k = { 0 }, v = { 0 };
			if ((rc = pairs(c, in, &sc, 0, &k, &v)) == 0)
				for (size_t i = 0; i < k.n; i++) {
					size_t j = 0;
					while (j < s.lk.n && strcmp(s.lk.w[j], k.w[i])) j++;
					if (j == s.lk.n) {
						s.lk.w = xreallocarray(s.lk.w, j + 1, sizeof *s.lk.w);
						s.lk.w[s.lk.n++] = xstrdup(k.w[i]);
						s.lv.w = xreallocarray(s.lv.w, j + 1, sizeof *s.lv.w);
						s.lv.w[s.lv.n++] = xstrdup(v.w[i]);
					} else {
						free(s.lv.w[j]);
						s.lv.w[j] = xstrdup(v.w[i]);
					}
				}
			words_free(&k);
			words_free(&v);
		} else if (!strcmp(cmd, "EXPOSE")) {
			struct words w = { 0 };
			if ((rc = expand_words(c, in, &sc, &w)) < 0) break;
			if (!w.n) rc = cerr(c, in->line, cmd, "a port is required (EXPOSE PORT[/PROTO])");
			for (size_t i = 0; i < w.n && !rc; i++) {
				char *p = w.w[i], *sl = strchr(p, '/');
				if (sl && strcasecmp(sl + 1, "tcp")) { rc = UNSUPPORTED(c, in, "EXPOSE %s: the DSL exposes TCP ports only)", p); break; }
				if (sl) *sl = 0;
				char *e;
				long n = strtol(p, &e, 10);
				if (!*p || *e || n < 1 || n > 65535 || p[0] == '0') {
					rc = strchr(p, '-') ? UNSUPPORTED(c, in, "the port range %s)", p)
					                    : cerr(c, in->line, cmd, "'%s' is not a port number (1-65535)", w.w[i]);
					break;
				}
				s.expose.w = xreallocarray(s.expose.w, s.expose.n + 1, sizeof *s.expose.w);
				s.expose.w[s.expose.n++] = xasprintf("%ld", n);
			}
			words_free(&w);
		} else if (!strcmp(cmd, "CMD") || !strcmp(cmd, "ENTRYPOINT")) {
			int ep = cmd[0] == 'E';
			if (!in->json && !*in->rest) { rc = cerr(c, in->line, cmd, "a command is required"); break; }
			struct words av = { 0 };
			command_argv(&s, in, in->rest, &av);
			if (ep) {
				set_list(&s.ep, &s.nep, av.w, av.n);
				s.ep_set = 1;
				/* ENTRYPOINT resets a CMD not set in this stage before it */
				if (!s.cmd_set) { set_list(&s.cmd, &s.ncmd, NULL, 0); s.cmd_set = 2; }
			} else {
				set_list(&s.cmd, &s.ncmd, av.w, av.n);
				s.cmd_set = 1;
			}
			words_free(&av);
		} else if (!strcmp(cmd, "SHELL")) {
			if (!in->json || in->argc == 0) { rc = cerr(c, in->line, cmd, "SHELL needs the JSON form, as in SHELL [\"/bin/bash\", \"-c\"]"); break; }
			set_list(&s.shell, &s.nshell, in->argv, in->argc);
		} else if (!strcmp(cmd, "VOLUME")) {
			rc = do_volume(c, &s, in, &sc);
		} else if (!strcmp(cmd, "STOPSIGNAL")) {
			rc = do_stopsignal(c, &s, in, &sc);
		} else if (!strcmp(cmd, "HEALTHCHECK")) {
			rc = do_healthcheck(c, &s, in);
		} else if (!strcmp(cmd, "ONBUILD")) {
			rc = cerr(c, in->line, cmd, "ONBUILD triggers are not honoured: graphbuild builds what the "
			          "Dockerfile says; move the instruction into the stages that build FROM this image");
		} else if (!strcmp(cmd, "MAINTAINER")) {
			rc = UNSUPPORTED(c, in, "MAINTAINER, deprecated: write LABEL maintainer=...)");
		} else {
			rc = cerr(c, in->line, cmd, "unknown instruction");
		}
	}
	if (!rc) {
		if (s.nep || s.ep_set) {
			buf_adds(&b, "  entrypoint = ");
			lstrlist(&b, s.ep, s.nep);
			buf_adds(&b, ",\n");
		}
		if (s.cmd_set) {
			buf_adds(&b, "  cmd = ");
			lstrlist(&b, s.cmd, s.ncmd);
			buf_adds(&b, ",\n");
		}
		if (s.lk.n) {
			buf_adds(&b, "  labels = { ");
			for (size_t i = 0; i < s.lk.n; i++) {
				if (i) buf_adds(&b, ", ");
				lkey(&b, s.lk.w[i]);
				buf_lua_str(&b, s.lv.w[i]);
			}
			buf_adds(&b, " },\n");
		}
		if (s.expose.n) {
			buf_adds(&b, "  expose = { ");
			for (size_t i = 0; i < s.expose.n; i++) buf_printf(&b, "%s%s", i ? ", " : "", s.expose.w[i]);
			buf_adds(&b, " },\n");
		}
		if (s.volumes.n) {
			buf_adds(&b, "  volumes = ");
			lstrlist(&b, s.volumes.w, s.volumes.n);
			buf_adds(&b, ",\n");
		}
		if (s.stopsig) {
			buf_adds(&b, "  stop_signal = ");
			buf_lua_str(&b, s.stopsig);
			buf_adds(&b, ",\n");
		}
		if (s.health)
			buf_printf(&b, "  healthcheck = %s,\n", s.health);
		buf_adds(&b, "}\n");
		buf_add(&c->out, b.data, b.len);
		/* what FROM <this stage> inherits */
		vars_copy(&st->env, &s.env);
		st->workdir = s.workdir;
		s.workdir = NULL;
		st->shell = s.shell;
		st->nshell = s.nshell;
		s.shell = NULL;
		s.nshell = 0;
		st->state = 2;
	}
	buf_free(&b);
	vars_free(&s.env);
	vars_free(&s.args);
	free(s.workdir);
	free_list(s.shell, s.nshell);
	free_list(s.cmd, s.ncmd);
	free_list(s.ep, s.nep);
	words_free(&s.lk);
	words_free(&s.lv);
	words_free(&s.expose);
	words_free(&s.volumes);
	free(s.stopsig);
	free(s.health);
	return rc;
}

static void add_dep(struct stage *st, int k)
{
	for (size_t i = 0; i < st->ndeps; i++)
		if (st->deps[i] == k) return;
	st->deps = xreallocarray(st->deps, st->ndeps + 1, sizeof *st->deps);
	st->deps[st->ndeps++] = k;
}

static int stages(struct conv *c)
{
	const struct df_file *f = &c->f;
	size_t i = 0;
	/* global ARGs */
	for (; i < f->nins && strcmp(f->ins[i].cmd, "FROM"); i++) {
		const struct df_instr *in = &f->ins[i];
		if (strcmp(in->cmd, "ARG"))
			return cerr(c, in->line, in->cmd, "only ARG may come before the first FROM");
		struct scope sc = { NULL, &c->globals };
		if (do_arg(c, in, &c->globals, &sc, NULL) < 0) return -1;
	}
	if (i == f->nins)
		return cerr(c, f->nins ? f->ins[f->nins - 1].line : 1, "FROM",
		            f->nins ? "the Dockerfile has no FROM instruction" : "the Dockerfile has no instructions (it needs at least a FROM)");
	for (; i < f->nins; i++) {
		const struct df_instr *in = &f->ins[i];
		if (strcmp(in->cmd, "FROM")) continue;
		static const char *const known[] = { "" };
		if (in->nflags) return check_flags(c, in, known, 0);
		struct scope sc = { NULL, &c->globals };
		struct words w = { 0 };
		char *why = NULL;
		if (lex(in->rest, strlen(in->rest), &sc, f->escape, 1, 1, &w, &why) < 0) {
			cerr(c, in->line, in->cmd, "%s", why);
			free(why);
			return -1;
		}
		if (!(w.n == 1 || (w.n == 3 && !strcasecmp(w.w[1], "AS"))) || !*w.w[0]) {
			words_free(&w);
			return cerr(c, in->line, in->cmd, "expected FROM IMAGE [AS NAME]");
		}
		c->st = xreallocarray(c->st, c->nst + 1, sizeof *c->st);
		struct stage *st = &c->st[c->nst];
		memset(st, 0, sizeof *st);
		st->line = in->line;
		st->first = i + 1;
		st->parent = stage_by_ref(c, w.w[0], c->nst);
		if (st->parent >= 0 && isdigit((unsigned char)w.w[0][0])) st->parent = -1; /* FROM 0 is an image */
		if (w.n == 3) {
			st->name = xstrdup(w.w[2]);
			for (char *p = st->name; *p; p++) *p = (char)tolower((unsigned char)*p);
			int okn = isalpha((unsigned char)st->name[0]);
			for (char *p = st->name; *p; p++)
				if (!isalnum((unsigned char)*p) && !strchr("-_.", *p)) okn = 0;
			if (!okn) { words_free(&w); c->nst++; return cerr(c, in->line, in->cmd, "invalid stage name '%s'", w.n ? st->name : ""); }
			for (size_t k = 0; k < c->nst; k++)
				if (c->st[k].name && !strcmp(c->st[k].name, st->name)) {
					cerr(c, in->line, in->cmd, "duplicate stage name '%s' (first at line %d)", st->name, c->st[k].line);
					c->nst++;
					words_free(&w);
					return -1;
				}
		}
		const char *ref = w.w[0];
		for (size_t k = 0; k < c->o->nbases; k++) {
			const char *bs = c->o->bases[k], *eq = strchr(bs, '=');
			if (eq && (size_t)(eq - bs) == strlen(ref) && !strncmp(bs, ref, (size_t)(eq - bs))) ref = eq + 1;
		}
		/* Docker reserves "scratch" (any case) for the empty image */
		st->from = xstrdup(strcasecmp(ref, "scratch") ? ref : "scratch");
		c->nst++;
		words_free(&w);
	}
	for (size_t k = 0; k < c->nst; k++) {
		c->st[k].end = k + 1 < c->nst ? c->st[k + 1].first - 1 : f->nins;
		for (size_t ii = c->st[k].first; ii < c->st[k].end; ii++) {
			const char *fr = flag_val(&f->ins[ii], "from", NULL);
			if (fr && (!strcmp(f->ins[ii].cmd, "COPY"))) {
				int d = stage_by_ref(c, fr, k);
				if (d >= 0) add_dep(&c->st[k], d);
				else if (stage_by_ref(c, fr, c->nst) >= 0)
					return cerr(c, f->ins[ii].line, "COPY", "--from=%s names a later stage", fr);
			}
		}
	}
	return 0;
}

static void sanitize(const char *s, struct buf *b)
{
	size_t st = b->len;
	for (; *s; s++) {
		char ch = (char)tolower((unsigned char)*s);
		buf_addc(b, isalnum((unsigned char)ch) ? ch : '_');
	}
	if (b->len == st || isdigit((unsigned char)b->data[st])) {
		char *t = xstrdup(b->data + st);
		b->len = st;
		buf_printf(b, "_%s", t);
		free(t);
	}
}

int dockerfile_to_lua(const struct df_opts *o, struct buf *out, char **handle, char **err)
{
	struct conv c = { 0 };
	c.o = o;
	c.path = o->path ? o->path : "Dockerfile";
	*err = NULL;
	*handle = NULL;
	char *owned = NULL;
	const char *text = o->text;
	size_t len = o->len;
	if (!text) {
		owned = read_file(c.path, &len);
		if (!owned) {
			*err = xasprintf("%s:1: Dockerfile: cannot read: %s", c.path, strerror(errno));
			return -1;
		}
		text = owned;
	}
	struct arena *a = arena_new();
	if (df_parse(a, c.path, text, len, &c.f, &c.err) < 0) goto fail;
	for (size_t i = 0; i < o->nargs; i++) {
		const char *eq = strchr(o->args[i], '=');
		if (eq) {
			char *k = xstrndup(o->args[i], (size_t)(eq - o->args[i]));
			var_set(&c.bargs, k, eq + 1);
			free(k);
		} else {
			const char *v = getenv(o->args[i]);
			if (v) var_set(&c.bargs, o->args[i], v);
		}
	}
	if (stages(&c) < 0) goto fail;
	/* the target */
	int t = (int)c.nst - 1;
	if (o->target) {
		t = -1;
		for (size_t k = 0; k < c.nst; k++)
			if (c.st[k].name && !strcasecmp(c.st[k].name, o->target)) t = (int)k;
		if (t < 0) {
			cerr(&c, 1, "FROM", "target stage '%s' is not defined (no FROM ... AS %s)", o->target, o->target);
			goto fail;
		}
	}
	const char *prefix = o->prefix && *o->prefix ? o->prefix : "image";
	for (size_t k = 0; k < c.nst; k++) {
		struct buf nb = { 0 }, vb = { 0 };
		if ((int)k == t) buf_adds(&nb, prefix);
		else if (c.st[k].name) buf_printf(&nb, "%s-%s", prefix, c.st[k].name);
		else buf_printf(&nb, "%s-stage%zu", prefix, k);
		c.st[k].img = buf_take(&nb);
		sanitize(c.st[k].img, &vb);
		if (!buf_lua_name(vb.data)) buf_addc(&vb, '_');
		c.st[k].var = buf_take(&vb);
	}
	if (emit_stage(&c, (size_t)t) < 0) goto fail;
	buf_add(out, c.out.data, c.out.len);
	*handle = xstrdup(c.st[t].var);
	goto done;
fail:
	*err = c.err ? c.err : xstrdup("Dockerfile: conversion failed");
	c.err = NULL;
done:
	for (size_t k = 0; k < c.nst; k++) {
		free(c.st[k].name);
		free(c.st[k].from);
		free(c.st[k].deps);
		free(c.st[k].img);
		free(c.st[k].var);
		vars_free(&c.st[k].env);
		free(c.st[k].workdir);
		free_list(c.st[k].shell, c.st[k].nshell);
	}
	free(c.st);
	vars_free(&c.globals);
	vars_free(&c.bargs);
	buf_free(&c.out);
	arena_free(a);
	free(owned);
	return *handle ? 0 : -1;
}
