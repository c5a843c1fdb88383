/* compose.c - compose file -> model -> DSL text (docs/compose.md).
 *
 * The YAML is loaded with libyaml's document API (aliases resolved, every
 * node has its line); `<<` merge keys are honoured. Everything that is the
 * compose file's fault is checked here, so errors name FILE:LINE; what the
 * DSL then checks again points at the generated text, whose lines carry
 * "-- FILE:LINE" comments. Nothing is dropped silently: a key that cannot
 * be honoured is a warning naming its line. */
#include "graphbuild/compose.h"
#include "graphbuild/dockerfile.h"
#include "graphbuild/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

static const char *const default_names[] = {
	"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml",
};

static char **profiles;
static size_t nprofiles;

void compose_add_profile(const char *name)
{
	profiles = xreallocarray(profiles, nprofiles + 1, sizeof(*profiles));
	profiles[nprofiles++] = (char *)name;
}

int compose_is_file(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	return (n > 4 && !strcmp(path + n - 4, ".yml")) || (n > 5 && !strcmp(path + n - 5, ".yaml"));
}

const char *compose_default_file(void)
{
	size_t i;
	struct stat st;

	for (i = 0; i < sizeof(default_names) / sizeof(*default_names); i++)
		if (stat(default_names[i], &st) == 0 && S_ISREG(st.st_mode))
			return default_names[i];
	return NULL;
}

/* ---- interpolation ---- */

static const char *env_lookup(const char *name, size_t n, const char *const *env, size_t nenv, int *set)
{
	char *k = xstrndup(name, n);
	const char *v = getenv(k);
	size_t i;

	free(k);
	*set = 1;
	if (v)
		return v;
	for (i = nenv; i-- > 0;)
		if (!strncmp(env[i], name, n) && env[i][n] == '=')
			return env[i] + n + 1;
	*set = 0;
	return "";
}

char *compose_interpolate(const char *s, const char *const *env, size_t nenv, char **err)
{
	struct buf b = {0};
	const char *p = s;

	buf_adds(&b, "");
	while (*p) {
		if (*p != '$') {
			buf_addc(&b, *p++);
			continue;
		}
		if (p[1] == '$') {
			buf_addc(&b, '$');
			p += 2;
			continue;
		}
		if (p[1] == '{') {
			const char *n = p + 2, *e = n, *close;
			int set, depth = 1;
			const char *v;

			while (isalnum((unsigned char)*e) || *e == '_')
				e++;
			if (e == n) {
				*err = xasprintf("bad interpolation '%s': expected a variable name after ${", s);
				buf_free(&b);
				return NULL;
			}
			for (close = e; *close && depth; close++) {
				if (*close == '{') depth++;
				else if (*close == '}') depth--;
			}
			if (depth) {
				*err = xasprintf("bad interpolation '%s': unterminated ${", s);
				buf_free(&b);
				return NULL;
			}
			close--; /* at the matching '}' */
			v = env_lookup(n, (size_t)(e - n), env, nenv, &set);
			if (*e == '}') {
				buf_adds(&b, v);
			} else {
				int colon = *e == ':';
				char op = e[colon];
				char *word, *w;
				int use = colon ? (set && *v) : set;

				/* before the word is cut: in "${A:}" the operator is the '}' */
				if (op != '-' && op != '?' && op != '+') {
					*err = xasprintf("bad interpolation '%s': unknown operator after ${%.*s",
					                 s, (int)(e - n), n);
					buf_free(&b);
					return NULL;
				}
				word = xstrndup(e + colon + 1, (size_t)(close - (e + colon + 1)));
				w = compose_interpolate(word, env, nenv, err);
				free(word);
				if (!w) {
					buf_free(&b);
					return NULL;
				}
				if (op == '-') {
					buf_adds(&b, use ? v : w);
				} else if (op == '+') {
					buf_adds(&b, use ? w : "");
				} else if (!use) {
					*err = xasprintf("required variable %.*s is %s: %s", (int)(e - n), n,
					                 set ? "empty" : "missing", *w ? w : "(no message)");
					free(w);
					buf_free(&b);
					return NULL;
				} else {
					buf_adds(&b, v);
				}
				free(w);
			}
			p = close + 1;
			continue;
		}
		if (isalpha((unsigned char)p[1]) || p[1] == '_') {
			const char *n = p + 1, *e = n;
			int set;

			while (isalnum((unsigned char)*e) || *e == '_')
				e++;
			buf_adds(&b, env_lookup(n, (size_t)(e - n), env, nenv, &set));
			p = e;
			continue;
		}
		buf_addc(&b, *p++);
	}
	return buf_take(&b);
}

int compose_shell_split(const char *s, char ***argv)
{
	struct buf w = {0};
	char **v = NULL;
	int n = 0, inword = 0;
	char q = 0;

	for (;; s++) {
		char c = *s;

		if (q) {
			if (!c) {
				buf_free(&w);
				for (int i = 0; i < n; i++)
					free(v[i]);
				free(v);
				return -1;
			}
			if (c == q)
				q = 0;
			else if (q == '"' && c == '\\' && (s[1] == '"' || s[1] == '\\' || s[1] == '$' || s[1] == '`'))
				buf_addc(&w, *++s);
			else
				buf_addc(&w, c);
			continue;
		}
		if (!c || isspace((unsigned char)c)) {
			if (inword) {
				v = xreallocarray(v, (size_t)(n + 1), sizeof(*v));
				v[n++] = xstrdup(w.len ? w.data : "");
				w.len = 0;
				if (w.data)
					w.data[0] = 0;
				inword = 0;
			}
			if (!c)
				break;
			continue;
		}
		inword = 1;
		if (c == '\'' || c == '"')
			q = c;
		else if (c == '\\' && s[1])
			buf_addc(&w, *++s);
		else
			buf_addc(&w, c);
	}
	buf_free(&w);
	*argv = v;
	return n;
}

/* ---- the YAML model ---- */

struct doc {
	char *file;             /* as named in messages */
	char *dir;              /* its directory */
	yaml_document_t y;
	int loaded;
};

struct pair {
	const char *key;
	yaml_node_t *val;
	int line;
};

struct svc {
	char *name;
	struct doc *d;
	yaml_node_t *node;
	int line;
	int enabled;
	int oneshot;
	char *handle;           /* the image's Lua expression */
};

struct conv {
	const char *file;       /* the main file */
	struct doc **docs;
	size_t ndocs;
	char **env;             /* .env, "K=V" */
	size_t nenv;
	struct svc *svcs;
	size_t nsvcs;
	char **builds;          /* build signature -> handle (pairs) */
	size_t nbuilds;
	struct buf out;
	char *err;
	int depth;              /* extends recursion */
};

static int line_of(yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

static int fail(struct conv *c, struct doc *d, yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct conv *c, struct doc *d, yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	char *m;

	if (c->err)
		return -1;
	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	c->err = xasprintf("%s:%d: %s", d->file, line_of(n), m);
	free(m);
	return -1;
}

static void cwarn(struct doc *d, yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cwarn(struct doc *d, yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	char *m;

	va_start(ap, fmt);
	m = xvasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s:%d: warning: %s\n", d->file, line_of(n), m);
	free(m);
}

static yaml_node_t *node(struct doc *d, int i)
{
	return yaml_document_get_node(&d->y, i);
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int is_null(yaml_node_t *n)
{
	const char *s = scalar(n);

	return !n || (s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	              (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")));
}

/* The pairs of a mapping, `<<` merges flattened (own keys win). */
static size_t pairs(struct doc *d, yaml_node_t *m, struct pair **out)
{
	struct pair *v = NULL;
	size_t n = 0, k;
	yaml_node_pair_t *p;

	*out = NULL;
	if (!m || m->type != YAML_MAPPING_NODE)
		return 0;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = node(d, p->key), *vn = node(d, p->value);
		const char *ks = scalar(kn);

		if (!ks)
			continue;
		if (!strcmp(ks, "<<")) {
			yaml_node_t *srcs[64];
			size_t ns = 0, j;

			if (vn && vn->type == YAML_SEQUENCE_NODE) {
				yaml_node_item_t *it;
				for (it = vn->data.sequence.items.start; it < vn->data.sequence.items.top && ns < 64; it++)
					srcs[ns++] = node(d, *it);
			} else {
				srcs[ns++] = vn;
			}
			for (j = 0; j < ns; j++) {
				struct pair *sub;
				size_t nsub = pairs(d, srcs[j], &sub), i;

				for (i = 0; i < nsub; i++) {
					for (k = 0; k < n && strcmp(v[k].key, sub[i].key); k++)
						;
					if (k == n) {
						v = xreallocarray(v, n + 1, sizeof(*v));
						v[n++] = sub[i];
					}
				}
				free(sub);
			}
			continue;
		}
		for (k = 0; k < n && strcmp(v[k].key, ks); k++)
			;
		if (k == n) {
			v = xreallocarray(v, n + 1, sizeof(*v));
			n++;
		}
		v[k].key = ks;
		v[k].val = vn;
		v[k].line = line_of(kn);
	}
	*out = v;
	return n;
}

static yaml_node_t *get(struct doc *d, yaml_node_t *m, const char *key)
{
	struct pair *p;
	size_t n = pairs(d, m, &p), i;
	yaml_node_t *r = NULL;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].key, key))
			r = p[i].val;
	free(p);
	return r;
}

static size_t items(yaml_node_t *s, yaml_node_item_t **it)
{
	if (!s || s->type != YAML_SEQUENCE_NODE) {
		*it = NULL;
		return 0;
	}
	*it = s->data.sequence.items.start;
	return (size_t)(s->data.sequence.items.top - s->data.sequence.items.start);
}

/* An interpolated scalar (malloc'd), or NULL with the error set. */
static char *str(struct conv *c, struct doc *d, yaml_node_t *n, const char *what)
{
	const char *s = scalar(n);
	char *r, *e = NULL;

	if (!s) {
		fail(c, d, n, "'%s' must be a string", what);
		return NULL;
	}
	r = compose_interpolate(s, (const char *const *)c->env, c->nenv, &e);
	if (!r) {
		fail(c, d, n, "%s: %s", what, e);
		free(e);
	}
	return r;
}

/* Aliases make a YAML document a graph, not a tree: a node may contain an
 * alias of itself (`a: &x {<<: *x}`), and nested aliases multiply (the
 * "billion laughs"). Every walker here treats the document as a tree, so a
 * document is refused unless the tree its aliases unfold into is finite and
 * at most ALIAS_UNFOLD_MAX nodes. size[i]: 0 unvisited, -1 being visited,
 * else the unfolded size of node i (saturated). */
enum { ALIAS_UNFOLD_MAX = 1000000, NEST_MAX = 256 };

/* The unfolded size of node i; -1: a cycle at *at, -2: nested deeper than
 * NEST_MAX at *at (the walkers recurse). */
static long unfold(struct doc *d, int i, int depth, long *size, yaml_node_t **at)
{
	yaml_node_t *n = node(d, i);
	long total = 1;
	yaml_node_item_t *it;
	yaml_node_pair_t *p;

	if (!n)
		return 1;
	if (size[i] == -1 || depth > NEST_MAX) {
		*at = n;
		return size[i] == -1 ? -1 : -2;
	}
	if (size[i] > 0)
		return size[i];
	size[i] = -1;
#define ADD(j) do { long s_ = unfold(d, (j), depth + 1, size, at); \
		if (s_ < 0) return s_; \
		total = total + s_ > ALIAS_UNFOLD_MAX ? ALIAS_UNFOLD_MAX + 1 : total + s_; } while (0)
	if (n->type == YAML_SEQUENCE_NODE)
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
			ADD(*it);
	else if (n->type == YAML_MAPPING_NODE)
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			ADD(p->key);
			ADD(p->value);
		}
#undef ADD
	return size[i] = total;
}

static int check_aliases(struct conv *c, struct doc *d)
{
	long nn = (long)(d->y.nodes.top - d->y.nodes.start), *size = xcalloc((size_t)nn + 1, sizeof(long)), r;
	yaml_node_t *at = NULL;

	r = unfold(d, 1, 0, size, &at);
	free(size);
	if (r == -1)
		return fail(c, d, at, "a YAML alias here refers to a node that contains it (the document would be infinite)");
	if (r == -2)
		return fail(c, d, at, "nested deeper than %d levels", NEST_MAX);
	if (r > ALIAS_UNFOLD_MAX)
		return fail(c, d, yaml_document_get_root_node(&d->y),
		            "the document's aliases unfold into more than %d nodes", ALIAS_UNFOLD_MAX);
	return 0;
}

static int load_doc(struct conv *c, const char *file, const char *text, size_t len, struct doc **out)
{
	struct doc *d = xcalloc(1, sizeof(*d));
	yaml_parser_t p;
	char *data = NULL;
	const char *slash;

	d->file = xstrdup(file);
	slash = strrchr(file, '/');
	d->dir = slash ? xstrndup(file, slash == file ? 1 : (size_t)(slash - file)) : xstrdup(".");
	c->docs = xreallocarray(c->docs, c->ndocs + 1, sizeof(*c->docs));
	c->docs[c->ndocs++] = d;
	if (!text) {
		FILE *f = fopen(file, "rb");
		struct buf b = {0};
		char tmp[8192];
		size_t n;

		if (!f) {
			c->err = xasprintf("cannot read %s: %s", file, strerror(errno));
			return -1;
		}
		buf_adds(&b, "");
		while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
			buf_add(&b, tmp, n);
		fclose(f);
		len = b.len;
		data = buf_take(&b);
		text = data;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &d->y)) {
		c->err = xasprintf("%s:%zu: bad YAML: %s%s%s", file, p.problem_mark.line + 1,
		                   p.problem ? p.problem : "parse error", p.context ? " " : "",
		                   p.context ? p.context : "");
		yaml_parser_delete(&p);
		free(data);
		return -1;
	}
	d->loaded = 1;
	yaml_parser_delete(&p);
	free(data);
	if (!yaml_document_get_root_node(&d->y)) {
		c->err = xasprintf("%s:1: the compose file is empty", file);
		return -1;
	}
	if (yaml_document_get_root_node(&d->y)->type != YAML_MAPPING_NODE)
		return fail(c, d, yaml_document_get_root_node(&d->y), "expected a mapping (services: ...) at the top");
	if (check_aliases(c, d) < 0)
		return -1;
	*out = d;
	return 0;
}

/* A file an include or extends names: missing or unreadable is the
 * referencing file's fault, at its line. */
static int must_read(struct conv *c, struct doc *d, yaml_node_t *at, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return fail(c, d, at, "cannot read %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(c, d, at, "cannot read %s: not a regular file", path);
	return 0;
}

/* ---- env files ---- */

/* Reads KEY=VALUE lines into *v. Returns 0, 1 if missing, -1 on error. */
static int read_envfile(struct conv *c, struct doc *d, yaml_node_t *at, const char *path, int interp,
                        char ***v, size_t *n)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int ln = 0;

	if (!f)
		return errno == ENOENT ? 1 : fail(c, d, at, "cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *eq, *val, *e;
		size_t l;

		ln++;
		l = strlen(s);
		while (l && (s[l - 1] == '\n' || s[l - 1] == '\r'))
			s[--l] = 0;
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			continue;
		if (!strncmp(s, "export ", 7))
			s += 7;
		eq = strchr(s, '=');
		if (!eq) {
			/* a bare KEY: from the environment, absent if unset */
			const char *hv = getenv(s);
			if (hv) {
				*v = xreallocarray(*v, *n + 1, sizeof(**v));
				(*v)[(*n)++] = xasprintf("%s=%s", s, hv);
			}
			continue;
		}
		for (e = eq; e > s && isspace((unsigned char)e[-1]); e--)
			;
		*e = 0;
		val = eq + 1;
		while (isspace((unsigned char)*val))
			val++;
		l = strlen(val);
		if (l >= 2 && (val[0] == '"' || val[0] == '\'') && val[l - 1] == val[0]) {
			int single = val[0] == '\'';
			val[l - 1] = 0;
			val++;
			if (single)
				interp = 0;
		} else {
			char *hash = strstr(val, " #");
			if (hash)
				*hash = 0;
			l = strlen(val);
			while (l && isspace((unsigned char)val[l - 1]))
				val[--l] = 0;
		}
		if (!*s) {
			fclose(f);
			c->err = xasprintf("%s:%d: expected KEY=VALUE", path, ln);
			return -1;
		}
		if (interp) {
			char *err = NULL, *iv = compose_interpolate(val, (const char *const *)*v, *n, &err);
			if (!iv) {
				fclose(f);
				c->err = xasprintf("%s:%d: %s", path, ln, err);
				free(err);
				return -1;
			}
			*v = xreallocarray(*v, *n + 1, sizeof(**v));
			(*v)[(*n)++] = xasprintf("%s=%s", s, iv);
			free(iv);
		} else {
			*v = xreallocarray(*v, *n + 1, sizeof(**v));
			(*v)[(*n)++] = xasprintf("%s=%s", s, val);
		}
	}
	fclose(f);
	return 0;
}

/* ---- output ---- */




/* kv list add/replace */
static void kv_set(char ***v, size_t *n, const char *k, const char *val)
{
	size_t i, kl = strlen(k);

	for (i = 0; i < *n; i++)
		if (!strncmp((*v)[i], k, kl) && (*v)[i][kl] == '=') {
			free((*v)[i]);
			(*v)[i] = xasprintf("%s=%s", k, val);
			return;
		}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xasprintf("%s=%s", k, val);
}

static void kv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void emit_kv_table(struct buf *b, char **v, size_t n)
{
	buf_adds(b, "{");
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(v[i], '=');
		char *k = xstrndup(v[i], (size_t)(eq - v[i]));

		buf_adds(b, i ? ", " : " ");
		buf_lua_key(b, k);
		buf_adds(b, " = ");
		buf_lua_str(b, eq + 1);
		free(k);
	}
	buf_adds(b, n ? " }" : "}");
}

/* A map or a "K=V" list into *v (later wins). NULL values: FROM_HOST
 * looks them up in the environment (then .env), else they are "". */
static int map_or_list(struct conv *c, struct doc *d, yaml_node_t *n, const char *what, int from_host,
                       char ***v, size_t *nv)
{
	if (n->type == YAML_MAPPING_NODE) {
		struct pair *p;
		size_t np = pairs(d, n, &p);

		for (size_t i = 0; i < np; i++) {
			char *val;
			if (is_null(p[i].val)) {
				int set = 0;
				const char *hv = from_host ? env_lookup(p[i].key, strlen(p[i].key),
				                                       (const char *const *)c->env, c->nenv, &set) : "";
				if (from_host && !set)
					continue;
				kv_set(v, nv, p[i].key, hv);
				continue;
			}
			if (!(val = str(c, d, p[i].val, what))) {
				free(p);
				return -1;
			}
			kv_set(v, nv, p[i].key, val);
			free(val);
		}
		free(p);
		return 0;
	}
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		size_t ni = items(n, &it);

		for (size_t i = 0; i < ni; i++) {
			char *s = str(c, d, node(d, it[i]), what), *eq;
			if (!s)
				return -1;
			eq = strchr(s, '=');
			if (eq) {
				*eq = 0;
				kv_set(v, nv, s, eq + 1);
			} else if (from_host) {
				int set;
				const char *hv = env_lookup(s, strlen(s), (const char *const *)c->env, c->nenv, &set);
				if (set)
					kv_set(v, nv, s, hv);
			} else {
				kv_set(v, nv, s, "");
			}
			free(s);
		}
		return 0;
	}
	return fail(c, d, n, "'%s' must be a mapping or a list of KEY=VALUE", what);
}

/* A string or list of strings as a Lua list; "" / [] -> {} */
static int emit_argv(struct conv *c, struct doc *d, yaml_node_t *n, const char *what, struct buf *b)
{
	char **argv = NULL;
	int na = 0;

	if (n->type == YAML_SCALAR_NODE) {
		char *s = str(c, d, n, what);
		if (!s)
			return -1;
		na = compose_shell_split(s, &argv);
		free(s);
		if (na < 0)
			return fail(c, d, n, "'%s': unterminated quote", what);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		size_t ni = items(n, &it);

		for (size_t i = 0; i < ni; i++) {
			char *s = str(c, d, node(d, it[i]), what);
			if (!s) {
				kv_free(argv, (size_t)na);
				return -1;
			}
			argv = xreallocarray(argv, (size_t)(na + 1), sizeof(*argv));
			argv[na++] = s;
		}
	} else {
		return fail(c, d, n, "'%s' must be a string or a list of strings", what);
	}
	buf_adds(b, "{");
	for (int i = 0; i < na; i++) {
		buf_adds(b, i ? ", " : " ");
		buf_lua_str(b, argv[i]);
	}
	buf_adds(b, na ? " }" : "}");
	kv_free(argv, (size_t)na);
	return 0;
}

static struct svc *find_svc(struct conv *c, const char *name)
{
	for (size_t i = 0; i < c->nsvcs; i++)
		if (!strcmp(c->svcs[i].name, name))
			return &c->svcs[i];
	return NULL;
}

/* ---- a service's keys, after extends ---- */

struct skey {
	const char *key;
	yaml_node_t *val;
	struct doc *d;
	int line;
};

static int service_keys(struct conv *c, struct doc *d, yaml_node_t *svc, struct skey **out, size_t *nout);

static void skey_set(struct skey **v, size_t *n, const char *k, yaml_node_t *val, struct doc *d, int line)
{
	size_t i;

	for (i = 0; i < *n && strcmp((*v)[i].key, k); i++)
		;
	if (i == *n) {
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*n)++;
	}
	(*v)[i] = (struct skey){k, val, d, line};
}

static int service_keys(struct conv *c, struct doc *d, yaml_node_t *svc, struct skey **out, size_t *nout)
{
	struct pair *p;
	size_t np, i;
	yaml_node_t *ext;

	if (!svc || (svc->type != YAML_MAPPING_NODE && !is_null(svc)))
		return fail(c, d, svc, "a service must be a mapping");
	ext = get(d, svc, "extends");
	if (ext) {
		struct doc *bd = d;
		yaml_node_t *bsvc, *services, *sn = ext, *fn = NULL;
		char *sname;

		if (++c->depth > 16)
			return fail(c, d, ext, "extends: too deep (a cycle?)");
		if (ext->type == YAML_MAPPING_NODE) {
			sn = get(d, ext, "service");
			fn = get(d, ext, "file");
			if (!sn)
				return fail(c, d, ext, "extends: 'service' is required");
		}
		if (!(sname = str(c, d, sn, "extends.service")))
			return -1;
		if (fn) {
			char *f = str(c, d, fn, "extends.file"), *path;
			if (!f) {
				free(sname);
				return -1;
			}
			path = f[0] == '/' ? xstrdup(f) : path_join(d->dir, f);
			free(f);
			bd = NULL;
			for (i = 0; i < c->ndocs; i++)
				if (!strcmp(c->docs[i]->file, path))
					bd = c->docs[i];
			if (!bd && (must_read(c, d, fn, path) < 0 || load_doc(c, path, NULL, 0, &bd) < 0)) {
				free(path);
				free(sname);
				return -1;
			}
			free(path);
		}
		services = get(bd, yaml_document_get_root_node(&bd->y), "services");
		bsvc = services ? get(bd, services, sname) : NULL;
		if (!bsvc) {
			fail(c, d, sn, "extends: no service '%s' in %s", sname, bd->file);
			free(sname);
			return -1;
		}
		free(sname);
		if (service_keys(c, bd, bsvc, out, nout) < 0)
			return -1;
		c->depth--;
		/* compose does not inherit these */
		for (i = 0; i < *nout; i++)
			if (!strcmp((*out)[i].key, "depends_on") || !strcmp((*out)[i].key, "links") ||
			    !strcmp((*out)[i].key, "volumes_from")) {
				memmove(&(*out)[i], &(*out)[i + 1], sizeof(**out) * (*nout - i - 1));
				(*nout)--;
				i--;
			}
	}
	np = pairs(d, svc, &p);
	for (i = 0; i < np; i++)
		if (strcmp(p[i].key, "extends"))
			skey_set(out, nout, p[i].key, p[i].val, d, p[i].line);
	free(p);
	return 0;
}

/* environment / labels from an extended service are merged key by key:
 * collect every layer. Simplified: the nearest wins whole (documented). */

/* ---- one service ---- */

static const char *depends_cond(struct conv *c, struct doc *d, yaml_node_t *n, const char *dep)
{
	const char *s = scalar(n);

	if (!n || !s || !strcmp(s, "service_started"))
		return "started";
	if (!strcmp(s, "service_healthy"))
		return "healthy";
	if (!strcmp(s, "service_completed_successfully")) {
		struct svc *t = find_svc(c, dep);
		if (t)
			t->oneshot = 1;
		return "completed";
	}
	fail(c, d, n, "depends_on %s: unknown condition '%s' (service_started, service_healthy or "
	     "service_completed_successfully)", dep, s);
	return NULL;
}

static int emit_build(struct conv *c, struct svc *sv, struct doc *d, yaml_node_t *bn)
{
	char *ctx = NULL, *dockerfile = NULL, *target = NULL, *sig, *handle = NULL, *err = NULL, *inl = NULL;
	yaml_node_t *inl_node = NULL;
	char **args = NULL;
	size_t nargs = 0, i;
	struct df_opts o = {0};
	struct buf lb = {0};
	int rc = -1;

	if (bn->type == YAML_SCALAR_NODE) {
		if (!(ctx = str(c, d, bn, "build")))
			return -1;
	} else if (bn->type == YAML_MAPPING_NODE) {
		struct pair *p;
		size_t np = pairs(d, bn, &p);

		for (i = 0; i < np; i++) {
			yaml_node_t *v = p[i].val;
			const char *k = p[i].key;

			if (!strcmp(k, "context")) {
				if (!(ctx = str(c, d, v, "build.context")))
					break;
			} else if (!strcmp(k, "dockerfile")) {
				if (!(dockerfile = str(c, d, v, "build.dockerfile")))
					break;
			} else if (!strcmp(k, "target")) {
				if (!(target = str(c, d, v, "build.target")))
					break;
			} else if (!strcmp(k, "args")) {
				if (map_or_list(c, d, v, "build.args", 1, &args, &nargs) < 0)
					break;
			} else if (!strcmp(k, "dockerfile_inline")) {
				if (!(inl = str(c, d, v, "build.dockerfile_inline")))
					break;
				inl_node = v;
			} else {
				cwarn(d, v, "build.%s is not supported by graphbuild and is ignored", k);
			}
		}
		free(p);
		if (c->err)
			goto out;
	} else {
		fail(c, d, bn, "'build' must be a path or a mapping");
		goto out;
	}
	if (inl && dockerfile) {
		fail(c, d, inl_node, "build: dockerfile and dockerfile_inline exclude each other");
		goto out;
	}
	if (!ctx)
		ctx = xstrdup(".");
	/* the context relative to the main file's directory */
	if (d != c->docs[0] && ctx[0] != '/') {
		char *j = path_join(d->dir, ctx);
		free(ctx);
		ctx = j;
	}
	if (!dockerfile)
		dockerfile = xstrdup("Dockerfile");
	buf_printf(&lb, "%s\n%s\n%s\n%s", ctx, inl ? "" : dockerfile, inl ? inl : "", target ? target : "");
	for (i = 0; i < nargs; i++)
		buf_printf(&lb, "\n%s", args[i]);
	sig = buf_take(&lb);
	for (i = 0; i < c->nbuilds; i += 2)
		if (!strcmp(c->builds[i], sig)) {
			sv->handle = xstrdup(c->builds[i + 1]);
			buf_printf(&c->out, "-- %s: the same build as above, built once\n", sv->name);
			free(sig);
			rc = 0;
			goto out;
		}
	{
		char *prefix = xstrdup(sv->name), *path;
		for (char *q = prefix; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		/* an inline one is named by where it is: FILE:LINE dockerfile_inline:N */
		path = inl ? xasprintf("%s:%d dockerfile_inline", d->file, line_of(inl_node)) : path_join(ctx, dockerfile);
		o.path = path;
		o.context = ctx;
		o.args = (const char *const *)args;
		o.nargs = nargs;
		o.target = target;
		o.prefix = prefix;
		o.dir = c->docs[0]->dir;
		/* path is relative to the compose file's directory, which need not be
		 * the current one (-f sub/compose.yml): read it from there */
		char *full = path[0] == '/' ? xstrdup(path) : path_join(c->docs[0]->dir, path), *text;
		if (inl) {
			text = xstrdup(inl);
			o.len = strlen(text);
		} else if (!(text = read_file(full, &o.len)))
			err = xasprintf("%s: cannot read the Dockerfile: %s", full, strerror(errno));
		free(full);
		o.text = text;
		buf_printf(&c->out, "-- %s: build %s (%s:%d)\n", sv->name, path, d->file, line_of(bn));
		if (!text || dockerfile_to_lua(&o, &c->out, &handle, &err) < 0) {
			free(text);
			fail(c, d, bn, "%s", err);
			free(err);
			free(prefix);
			free(path);
			free(sig);
			goto out;
		}
		free(text);
		free(prefix);
		free(path);
	}
	c->builds = xreallocarray(c->builds, c->nbuilds + 2, sizeof(*c->builds));
	c->builds[c->nbuilds++] = sig;
	c->builds[c->nbuilds++] = xstrdup(handle);
	sv->handle = handle;
	buf_adds(&c->out, "\n");
	rc = 0;
out:
	free(ctx);
	free(dockerfile);
	free(inl);
	free(target);
	kv_free(args, nargs);
	return c->err ? -1 : rc;
}

static int emit_health(struct conv *c, struct doc *d, yaml_node_t *h, struct buf *b)
{
	yaml_node_t *test = get(d, h, "test"), *dis = get(d, h, "disable");
	static const char *const opts[] = {"interval", "timeout", "start_period", "retries"};
	struct buf o = {0};
	const char *s;

	if (h->type != YAML_MAPPING_NODE)
		return fail(c, d, h, "'healthcheck' must be a mapping");
	if (dis && (s = scalar(dis)) && !strcmp(s, "true")) {
		buf_printf(b, "  health = false, -- %s:%d: disable\n", d->file, line_of(dis));
		return 0;
	}
	if (!test) {
		cwarn(d, h, "healthcheck without 'test': its options are ignored; the probe is the image's "
		      "HEALTHCHECK if the stack builds the image, else none");
		return 0;
	}
	buf_adds(&o, "");
	for (size_t i = 0; i < sizeof(opts) / sizeof(*opts); i++) {
		yaml_node_t *v = get(d, h, opts[i]);
		char *x;
		if (!v)
			continue;
		if (!(x = str(c, d, v, opts[i]))) {
			buf_free(&o);
			return -1;
		}
		if (!strcmp(opts[i], "retries"))
			buf_printf(&o, ", %s = %s", opts[i], x);
		else {
			buf_printf(&o, ", %s = ", opts[i]);
			buf_lua_str(&o, x);
		}
		free(x);
	}
	if (get(d, h, "start_interval"))
		cwarn(d, get(d, h, "start_interval"), "healthcheck.start_interval is ignored: graphbuild "
		      "probes at once and backs off (docs/stack-lua.md)");
	if (test->type == YAML_SCALAR_NODE) {
		char *x = str(c, d, test, "healthcheck.test");
		if (!x) {
			buf_free(&o);
			return -1;
		}
		if (!*x) {
			free(x);
			buf_free(&o);
			buf_printf(b, "  health = false, -- %s:%d: an empty test\n", d->file, line_of(test));
			return 0;
		}
		buf_adds(b, "  health = exec { ");
		buf_lua_str(b, "/bin/sh");
		buf_adds(b, ", \"-c\", ");
		buf_lua_str(b, x);
		buf_printf(b, "%s },", o.data);
		free(x);
	} else if (test->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;
		size_t ni = items(test, &it);
		const char *kind = ni ? scalar(node(d, it[0])) : NULL;

		if (!kind || (strcmp(kind, "CMD") && strcmp(kind, "CMD-SHELL") && strcmp(kind, "NONE"))) {
			buf_free(&o);
			return fail(c, d, test, "healthcheck.test: a list must start with CMD, CMD-SHELL or NONE");
		}
		if (!strcmp(kind, "NONE")) {
			buf_free(&o);
			buf_printf(b, "  health = false, -- %s:%d: NONE\n", d->file, line_of(test));
			return 0;
		}
		if (ni < 2) {
			buf_free(&o);
			return fail(c, d, test, "healthcheck.test: %s needs a command", kind);
		}
		buf_adds(b, "  health = exec { ");
		if (!strcmp(kind, "CMD-SHELL")) {
			char *x;
			if (ni != 2) {
				buf_free(&o);
				return fail(c, d, test, "healthcheck.test: CMD-SHELL takes one string");
			}
			buf_adds(b, "\"/bin/sh\", \"-c\", ");
			if (!(x = str(c, d, node(d, it[1]), "healthcheck.test"))) {
				buf_free(&o);
				return -1;
			}
			buf_lua_str(b, x);
			free(x);
		} else {
			for (size_t i = 1; i < ni; i++) {
				char *x = str(c, d, node(d, it[i]), "healthcheck.test");
				if (!x) {
					buf_free(&o);
					return -1;
				}
				if (i > 1)
					buf_adds(b, ", ");
				buf_lua_str(b, x);
				free(x);
			}
		}
		buf_printf(b, "%s },", o.data);
	} else {
		buf_free(&o);
		return fail(c, d, test, "healthcheck.test must be a string or a list");
	}
	buf_printf(b, " -- %s:%d\n", d->file, line_of(test));
	buf_free(&o);
	return 0;
}

static int emit_port(struct conv *c, struct doc *d, yaml_node_t *n, struct buf *b)
{
	char *s;

	if (n->type == YAML_MAPPING_NODE) {
		yaml_node_t *t = get(d, n, "target"), *pub = get(d, n, "published"), *ip = get(d, n, "host_ip"),
		            *proto = get(d, n, "protocol");
		char *ts, *ps = NULL, *is = NULL, *rs = NULL;
		struct buf x = {0};

		if (!t)
			return fail(c, d, n, "ports: the long form needs 'target'");
		if (!(ts = str(c, d, t, "ports.target")) || (pub && !(ps = str(c, d, pub, "ports.published"))) ||
		    (ip && !(is = str(c, d, ip, "ports.host_ip"))) || (proto && !(rs = str(c, d, proto, "ports.protocol")))) {
			free(ts); free(ps); free(is); free(rs);
			return -1;
		}
		buf_adds(&x, "");
		if (is)
			buf_printf(&x, strchr(is, ':') ? "[%s]:" : "%s:", is);
		if (ps)
			buf_printf(&x, "%s:", ps);
		else if (is)
			buf_adds(&x, ":");
		buf_adds(&x, ts);
		if (rs)
			buf_printf(&x, "/%s", rs);
		if (get(d, n, "mode") && strcmp(scalar(get(d, n, "mode")) ? scalar(get(d, n, "mode")) : "", "ingress") &&
		    strcmp(scalar(get(d, n, "mode")) ? scalar(get(d, n, "mode")) : "", "host"))
			cwarn(d, n, "ports.mode is ignored");
		if (is && !ps) {
			free(ts); free(ps); free(is); free(rs); buf_free(&x);
			return fail(c, d, n, "ports: host_ip without published is not supported");
		}
		buf_lua_str(b, x.data);
		buf_free(&x);
		free(ts); free(ps); free(is); free(rs);
		return 0;
	}
	if (!(s = str(c, d, n, "ports")))
		return -1;
	buf_lua_str(b, s);
	free(s);
	return 0;
}

/* Returns 1 if emitted, 0 if skipped (warned), -1 on error. */
static int emit_volume(struct conv *c, struct doc *d, yaml_node_t *n, struct buf *b)
{
	char *s;
	int r = 1;

	if (n->type == YAML_MAPPING_NODE) {
		yaml_node_t *t = get(d, n, "type"), *src = get(d, n, "source"), *tg = get(d, n, "target"),
		            *ro = get(d, n, "read_only");
		const char *type = t ? scalar(t) : "volume";
		char *ss = NULL, *ts;

		if (!type || (strcmp(type, "volume") && strcmp(type, "bind"))) {
			cwarn(d, n, "volumes: type '%s' is not supported (volume and bind are); skipped", type ? type : "?");
			return 0;
		}
		if (!tg)
			return fail(c, d, n, "volumes: the long form needs 'target'");
		if (!src) {
			cwarn(d, n, "volumes: an anonymous volume is not supported; skipped");
			return 0;
		}
		if (!(ss = str(c, d, src, "volumes.source")) || !(ts = str(c, d, tg, "volumes.target"))) {
			free(ss);
			return -1;
		}
		s = xasprintf("%s%s:%s%s", !strcmp(type, "bind") && ss[0] != '/' && ss[0] != '.' ? "./" : "", ss, ts,
		              ro && scalar(ro) && !strcmp(scalar(ro), "true") ? ":ro" : "");
		free(ss);
		free(ts);
	} else {
		if (!(s = str(c, d, n, "volumes")))
			return -1;
		if (s[0] == '~') {
			fail(c, d, n, "volumes '%s': a path under ~ is not supported; write it out", s);
			free(s);
			return -1;
		}
		if (!strchr(s, ':')) {
			cwarn(d, n, "volumes '%s': an anonymous volume is not supported; skipped", s);
			free(s);
			return 0;
		}
	}
	buf_lua_str(b, s);
	free(s);
	return r;
}

static const char *const svc_known[] = {
	"build", "image", "command", "entrypoint", "environment", "env_file", "ports", "volumes",
	"depends_on", "healthcheck", "restart", "init", "user", "working_dir", "labels",
	"stop_grace_period", "stop_signal", "profiles", "networks", "container_name", "expose", NULL,
};

static int emit_service(struct conv *c, struct svc *sv)
{
	struct skey *k = NULL;
	size_t nk = 0, i;
	struct buf *b = &c->out;
	struct buf body = {0};
	char **env = NULL;
	size_t nenv = 0;
	int rc = -1;

	if (service_keys(c, sv->d, sv->node, &k, &nk) < 0)
		goto out;
	/* build first: it emits the image statements */
	for (i = 0; i < nk; i++)
		if (!strcmp(k[i].key, "build") && emit_build(c, sv, k[i].d, k[i].val) < 0)
			goto out;
	buf_adds(&body, "");
	for (i = 0; i < nk; i++) {
		const char *key = k[i].key;
		yaml_node_t *v = k[i].val;
		struct doc *d = k[i].d;
		int j;

		for (j = 0; svc_known[j] && strcmp(svc_known[j], key); j++)
			;
		if (!svc_known[j] && strncmp(key, "x-", 2)) {
			cwarn(d, v, "service %s: '%s' is not supported by graphbuild and is ignored", sv->name, key);
			continue;
		}
		if (!strcmp(key, "image")) {
			char *s = str(c, d, v, "image");
			if (!s)
				goto out;
			if (sv->handle) {
				buf_printf(&body, "  -- compose's image: %s names the built image; graphbuild tags it "
				           "<project>/<image name>:latest\n", s);
			} else {
				buf_adds(&body, "  image = ");
				buf_lua_str(&body, s);
				buf_printf(&body, ", -- %s:%d\n", d->file, k[i].line);
			}
			free(s);
		} else if (!strcmp(key, "command") || !strcmp(key, "entrypoint")) {
			if (is_null(v))
				continue;
			buf_printf(&body, "  %s = ", key);
			if (emit_argv(c, d, v, key, &body) < 0)
				goto out;
			buf_printf(&body, ", -- %s:%d\n", d->file, k[i].line);
		} else if (!strcmp(key, "env_file")) {
			yaml_node_item_t *it = NULL;
			size_t ni = 1;
			yaml_node_t *one = v;

			if (v->type == YAML_SEQUENCE_NODE)
				ni = items(v, &it);
			for (size_t x = 0; x < ni; x++) {
				yaml_node_t *e = v->type == YAML_SEQUENCE_NODE ? node(d, it[x]) : one, *pn = e;
				int required = 1, r;
				char *path, *full;

				if (e->type == YAML_MAPPING_NODE) {
					yaml_node_t *rq = get(d, e, "required");
					pn = get(d, e, "path");
					if (!pn) {
						fail(c, d, e, "env_file: the long form needs 'path'");
						goto out;
					}
					if (rq && scalar(rq) && !strcmp(scalar(rq), "false"))
						required = 0;
					if (get(d, e, "format"))
						cwarn(d, e, "env_file.format is ignored");
				}
				if (!(path = str(c, d, pn, "env_file")))
					goto out;
				full = path[0] == '/' ? xstrdup(path) : path_join(d->dir, path);
				r = read_envfile(c, d, pn, full, 1, &env, &nenv);
				if (r == 1 && required) {
					fail(c, d, pn, "env_file %s: no such file", path);
					free(path);
					free(full);
					goto out;
				}
				free(path);
				free(full);
				if (r < 0)
					goto out;
			}
		} else if (!strcmp(key, "environment")) {
			/* after env_file whatever the order: environment wins */
		} else if (!strcmp(key, "labels")) {
			char **l = NULL;
			size_t nl = 0;
			if (map_or_list(c, d, v, "labels", 0, &l, &nl) < 0) {
				kv_free(l, nl);
				goto out;
			}
			buf_adds(&body, "  labels = ");
			emit_kv_table(&body, l, nl);
			buf_printf(&body, ", -- %s:%d\n", d->file, k[i].line);
			kv_free(l, nl);
		} else if (!strcmp(key, "ports") || !strcmp(key, "volumes")) {
			yaml_node_item_t *it;
			size_t ni = items(v, &it), cnt = 0;
			if (v->type != YAML_SEQUENCE_NODE) {
				fail(c, d, v, "'%s' must be a list", key);
				goto out;
			}
			buf_printf(&body, "  %s = {", key);
			for (size_t x = 0; x < ni; x++) {
				struct buf one = {0};
				int r;
				buf_adds(&one, "");
				r = key[0] == 'p' ? emit_port(c, d, node(d, it[x]), &one) : emit_volume(c, d, node(d, it[x]), &one);
				if (r < 0) {
					buf_free(&one);
					goto out;
				}
				if (key[0] == 'p' || r == 1) {
					buf_adds(&body, cnt++ ? ", " : " ");
					buf_adds(&body, one.data);
				}
				buf_free(&one);
			}
			buf_printf(&body, "%s}, -- %s:%d\n", cnt ? " " : "", d->file, k[i].line);
		} else if (!strcmp(key, "depends_on")) {
			struct buf dep = {0};
			size_t cnt = 0;
			buf_adds(&dep, "");
			if (v->type == YAML_SEQUENCE_NODE) {
				yaml_node_item_t *it;
				size_t ni = items(v, &it);
				for (size_t x = 0; x < ni; x++) {
					char *s = str(c, d, node(d, it[x]), "depends_on");
					struct svc *t;
					if (!s) {
						buf_free(&dep);
						goto out;
					}
					t = find_svc(c, s);
					if (!t || !t->enabled) {
						fail(c, d, node(d, it[x]), "depends_on: service '%s' is %s", s,
						     t ? "not enabled (its profiles are not active)" : "not defined");
						free(s);
						buf_free(&dep);
						goto out;
					}
					buf_printf(&dep, "%s%s = \"started\"", cnt++ ? ", " : " ", "");
					/* rewrite with the proper key */
					dep.len -= strlen(" = \"started\"");
					dep.data[dep.len] = 0;
					buf_lua_key(&dep, s);
					buf_adds(&dep, " = \"started\"");
					free(s);
				}
			} else if (v->type == YAML_MAPPING_NODE) {
				struct pair *p;
				size_t np = pairs(d, v, &p);
				for (size_t x = 0; x < np; x++) {
					yaml_node_t *cond = get(d, p[x].val, "condition"), *req = get(d, p[x].val, "required");
					struct svc *t = find_svc(c, p[x].key);
					const char *cs;
					if (get(d, p[x].val, "restart"))
						cwarn(d, p[x].val, "depends_on %s: 'restart' is not supported: graphbuild "
						      "recreates dependents only when their own settings change", p[x].key);
					if (!t || !t->enabled) {
						if (req && scalar(req) && !strcmp(scalar(req), "false")) {
							cwarn(d, p[x].val, "depends_on %s: not %s, skipped (required: false)", p[x].key,
							      t ? "enabled" : "defined");
							continue;
						}
						fail(c, d, p[x].val, "depends_on: service '%s' is %s", p[x].key,
						     t ? "not enabled (its profiles are not active)" : "not defined");
						free(p);
						buf_free(&dep);
						goto out;
					}
					if (!(cs = depends_cond(c, d, cond, p[x].key))) {
						free(p);
						buf_free(&dep);
						goto out;
					}
					buf_adds(&dep, cnt++ ? ", " : " ");
					buf_lua_key(&dep, p[x].key);
					buf_printf(&dep, " = \"%s\"", cs);
				}
				free(p);
			} else {
				fail(c, d, v, "'depends_on' must be a list or a mapping");
				buf_free(&dep);
				goto out;
			}
			buf_printf(&body, "  depends_on = {%s%s}, -- %s:%d\n", dep.data, cnt ? " " : "", d->file, k[i].line);
			buf_free(&dep);
		} else if (!strcmp(key, "healthcheck")) {
			if (emit_health(c, d, v, &body) < 0)
				goto out;
		} else if (!strcmp(key, "restart")) {
			char *s = str(c, d, v, "restart");
			if (!s)
				goto out;
			if (!strncmp(s, "on-failure:", 11)) {
				cwarn(d, v, "restart: the retry count of '%s' is not supported; using on-failure", s);
				s[10] = 0;
			}
			if (strcmp(s, "no") && strcmp(s, "always") && strcmp(s, "on-failure") && strcmp(s, "unless-stopped")) {
				fail(c, d, v, "restart: unknown policy '%s'", s);
				free(s);
				goto out;
			}
			buf_printf(&body, "  restart = \"%s\", -- %s:%d\n", s, d->file, k[i].line);
			free(s);
		} else if (!strcmp(key, "init")) {
			const char *s = scalar(v);
			if (!s || (strcmp(s, "true") && strcmp(s, "false"))) {
				fail(c, d, v, "init must be true or false");
				goto out;
			}
			buf_printf(&body, "  init = %s, -- %s:%d\n", s, d->file, k[i].line);
		} else if (!strcmp(key, "user") || !strcmp(key, "working_dir") || !strcmp(key, "stop_grace_period")) {
			char *s = str(c, d, v, key);
			if (!s)
				goto out;
			buf_printf(&body, "  %s = ", !strcmp(key, "user") ? "user" : key[0] == 'w' ? "workdir" : "stop_timeout");
			buf_lua_str(&body, s);
			buf_printf(&body, ", -- %s:%d\n", d->file, k[i].line);
			free(s);
		} else if (!strcmp(key, "stop_signal")) {
			char *s = str(c, d, v, key);
			if (!s)
				goto out;
			buf_adds(&body, "  stop_signal = ");
			buf_lua_str(&body, s);
			buf_printf(&body, ", -- %s:%d\n", d->file, k[i].line);
			free(s);
		} else if (!strcmp(key, "container_name")) {
			cwarn(d, v, "container_name is not supported: the container is <project>-%s", sv->name);
		} else if (!strcmp(key, "expose")) {
			buf_printf(&body, "  -- expose: every port is reachable on the project network (%s:%d)\n",
			           d->file, k[i].line);
		} else if (!strcmp(key, "networks")) {
			struct buf al = {0};
			size_t cnt = 0;
			buf_adds(&al, "");
			if (v->type == YAML_SEQUENCE_NODE) {
				yaml_node_item_t *it;
				size_t ni = items(v, &it);
				for (size_t x = 0; x < ni; x++) {
					const char *s = scalar(node(d, it[x]));
					if (!s || strcmp(s, "default"))
						cwarn(d, node(d, it[x]), "networks: only the project's default network is "
						      "supported; '%s' is treated as it", s ? s : "?");
				}
			} else if (v->type == YAML_MAPPING_NODE) {
				struct pair *p;
				size_t np = pairs(d, v, &p);
				for (size_t x = 0; x < np; x++) {
					yaml_node_t *a = get(d, p[x].val, "aliases");
					yaml_node_item_t *it;
					size_t na = items(a, &it);
					if (strcmp(p[x].key, "default"))
						cwarn(d, p[x].val, "networks: only the project's default network is "
						      "supported; '%s' is treated as it", p[x].key);
					for (size_t y = 0; y < na; y++) {
						char *s = str(c, d, node(d, it[y]), "aliases");
						if (!s) {
							free(p);
							buf_free(&al);
							goto out;
						}
						buf_adds(&al, cnt++ ? ", " : " ");
						buf_lua_str(&al, s);
						free(s);
					}
				}
				free(p);
			}
			if (cnt)
				buf_printf(&body, "  aliases = {%s }, -- %s:%d\n", al.data, d->file, k[i].line);
			buf_free(&al);
		}
	}
	/* environment last: it wins over env_file */
	for (i = 0; i < nk; i++)
		if (!strcmp(k[i].key, "environment") &&
		    map_or_list(c, k[i].d, k[i].val, "environment", 1, &env, &nenv) < 0)
			goto out;
	if (nenv) {
		buf_adds(&body, "  env = ");
		emit_kv_table(&body, env, nenv);
		buf_adds(&body, ",\n");
	}
	if (sv->oneshot)
		buf_adds(&body, "  oneshot = true, -- a dependent waits for it to complete\n");
	if (!sv->handle) {
		for (i = 0; i < nk && strcmp(k[i].key, "image"); i++)
			;
		if (i == nk) {
			fail(c, sv->d, sv->node, "service %s has neither 'image' nor 'build'", sv->name);
			goto out;
		}
	}
	buf_printf(b, "service ");
	buf_lua_str(b, sv->name);
	buf_printf(b, " { -- %s:%d\n", sv->d->file, sv->line);
	if (sv->handle)
		buf_printf(b, "  image = %s,\n", sv->handle);
	buf_adds(b, body.data);
	buf_adds(b, "}\n\n");
	rc = 0;
out:
	buf_free(&body);
	kv_free(env, nenv);
	free(k);
	return c->err ? -1 : rc;
}

/* ---- the file ---- */

static int profile_active(const char *p)
{
	const char *env = getenv("COMPOSE_PROFILES");
	size_t i, n = strlen(p);

	for (i = 0; i < nprofiles; i++)
		if (!strcmp(profiles[i], p) || !strcmp(profiles[i], "*"))
			return 1;
	while (env && *env) {
		const char *e = strchr(env, ',');
		size_t l = e ? (size_t)(e - env) : strlen(env);
		if ((l == n && !strncmp(env, p, n)) || (l == 1 && *env == '*'))
			return 1;
		env = e ? e + 1 : NULL;
	}
	return 0;
}

static int add_services(struct conv *c, struct doc *d)
{
	yaml_node_t *root = yaml_document_get_root_node(&d->y), *services = get(d, root, "services");
	struct pair *p;
	size_t np, i;

	if (!services)
		return 0;
	if (services->type != YAML_MAPPING_NODE)
		return fail(c, d, services, "'services' must be a mapping");
	np = pairs(d, services, &p);
	for (i = 0; i < np; i++) {
		yaml_node_t *pr = get(d, p[i].val, "profiles");
		struct svc sv = {0};
		const char *n = p[i].key;

		if (!*n || !isalnum((unsigned char)*n) || strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(n)) {
			fail(c, d, p[i].val, "service name '%s': use letters, digits, '_', '.' and '-'", n);
			free(p);
			return -1;
		}
		if (find_svc(c, n)) {
			fail(c, d, p[i].val, "service '%s' is defined twice", n);
			free(p);
			return -1;
		}
		sv.name = xstrdup(n);
		sv.d = d;
		sv.node = p[i].val;
		sv.line = p[i].line;
		sv.enabled = 1;
		if (pr) {
			yaml_node_item_t *it;
			size_t ni = items(pr, &it);
			if (pr->type != YAML_SEQUENCE_NODE) {
				free(sv.name);
				free(p);
				return fail(c, d, pr, "'profiles' must be a list");
			}
			sv.enabled = 0;
			for (size_t x = 0; x < ni; x++)
				if (scalar(node(d, it[x])) && profile_active(scalar(node(d, it[x]))))
					sv.enabled = 1;
		}
		c->svcs = xreallocarray(c->svcs, c->nsvcs + 1, sizeof(*c->svcs));
		c->svcs[c->nsvcs++] = sv;
	}
	free(p);
	return 0;
}

static const char *const top_known[] = {"name", "services", "volumes", "networks", "secrets",
	"include", "version", "configs", NULL};

static int convert(struct conv *c, const char *file, const char *text, size_t len)
{
	struct doc *d;
	yaml_node_t *root, *n;
	struct pair *p;
	size_t np, i;
	char *name = NULL;
	const char *pn;
	int r;

	if (load_doc(c, file, text, len, &d) < 0)
		return -1;
	{
		char *envp = path_join(d->dir, ".env");
		r = read_envfile(c, d, NULL, envp, 1, &c->env, &c->nenv);
		free(envp);
		if (r < 0)
			return -1;
	}
	root = yaml_document_get_root_node(&d->y);
	np = pairs(d, root, &p);
	for (i = 0; i < np; i++) {
		int j;
		for (j = 0; top_known[j] && strcmp(top_known[j], p[i].key); j++)
			;
		if (!top_known[j] && strncmp(p[i].key, "x-", 2))
			cwarn(d, p[i].val, "top-level '%s' is not supported and is ignored", p[i].key);
	}
	free(p);
	buf_printf(&c->out, "-- stack.lua generated by `graphbuild import` from %s.\n"
	           "-- Edit freely: it is an ordinary stack file (docs/stack-lua.md, docs/compose.md).\n\n", file);
	pn = getenv("COMPOSE_PROJECT_NAME");
	if (!pn)
		for (i = 0; i < c->nenv; i++)
			if (!strncmp(c->env[i], "COMPOSE_PROJECT_NAME=", 21))
				pn = c->env[i] + 21;
	if (pn && *pn) {
		name = xstrdup(pn);
	} else if ((n = get(d, root, "name"))) {
		if (!(name = str(c, d, n, "name")))
			return -1;
	}
	if (name) {
		buf_adds(&c->out, "project ");
		buf_lua_str(&c->out, name);
		buf_adds(&c->out, "\n\n");
		free(name);
	}
	if ((n = get(d, root, "version")))
		cwarn(d, n, "'version' is obsolete and ignored");
	if ((n = get(d, root, "configs")))
		cwarn(d, n, "configs are not supported and are ignored");
	if ((n = get(d, root, "secrets")))
		cwarn(d, n, "top-level secrets are not supported for services yet and are ignored");
	if ((n = get(d, root, "networks"))) {
		np = pairs(d, n, &p);
		for (i = 0; i < np; i++)
			if (strcmp(p[i].key, "default"))
				cwarn(d, p[i].val, "network '%s': only the project's default network (<project>_default) "
				      "is supported; its services join that one", p[i].key);
		free(p);
	}
	if ((n = get(d, root, "volumes"))) {
		np = pairs(d, n, &p);
		for (i = 0; i < np; i++)
			if (p[i].val && p[i].val->type == YAML_MAPPING_NODE && p[i].val->data.mapping.pairs.top !=
			    p[i].val->data.mapping.pairs.start)
				cwarn(d, p[i].val, "volume '%s': its options are ignored; it is created as <project>_%s",
				      p[i].key, p[i].key);
		free(p);
	}
	if ((n = get(d, root, "include"))) {
		yaml_node_item_t *it;
		size_t ni = items(n, &it);
		if (n->type != YAML_SEQUENCE_NODE)
			return fail(c, d, n, "'include' must be a list");
		for (i = 0; i < ni; i++) {
			yaml_node_t *e = node(d, it[i]);
			struct doc *inc;
			char *f, *path;
			if (e->type == YAML_MAPPING_NODE) {
				yaml_node_t *pp = get(d, e, "path");
				if (pp && pp->type == YAML_SEQUENCE_NODE)
					return fail(c, d, pp, "include: a list of paths is not supported");
				if (!pp)
					return fail(c, d, e, "include: 'path' is required");
				if (get(d, e, "project_directory") || get(d, e, "env_file"))
					cwarn(d, e, "include: project_directory and env_file are ignored");
				e = pp;
			}
			if (!(f = str(c, d, e, "include")))
				return -1;
			path = f[0] == '/' ? xstrdup(f) : path_join(d->dir, f);
			free(f);
			r = must_read(c, d, e, path) < 0 ? -1 : load_doc(c, path, NULL, 0, &inc);
			free(path);
			if (r < 0 || add_services(c, inc) < 0)
				return -1;
		}
	}
	if (add_services(c, d) < 0)
		return -1;
	/* conditions first: they mark oneshot services */
	for (i = 0; i < c->nsvcs; i++) {
		struct skey *k = NULL;
		size_t nk = 0;
		if (!c->svcs[i].enabled)
			continue;
		if (service_keys(c, c->svcs[i].d, c->svcs[i].node, &k, &nk) < 0)
			return -1;
		for (size_t j = 0; j < nk; j++)
			if (!strcmp(k[j].key, "depends_on") && k[j].val->type == YAML_MAPPING_NODE) {
				struct pair *dp;
				size_t nd = pairs(k[j].d, k[j].val, &dp);
				for (size_t x = 0; x < nd; x++)
					if (!depends_cond(c, k[j].d, get(k[j].d, dp[x].val, "condition"), dp[x].key)) {
						free(dp);
						free(k);
						return -1;
					}
				free(dp);
			}
		free(k);
	}
	for (i = 0; i < c->nsvcs; i++) {
		if (!c->svcs[i].enabled) {
			buf_printf(&c->out, "-- service %s: not enabled (profiles; --profile or COMPOSE_PROFILES)\n\n",
			           c->svcs[i].name);
			continue;
		}
		if (emit_service(c, &c->svcs[i]) < 0)
			return -1;
	}
	return 0;
}

int compose_to_lua(const char *file, const char *text, size_t len, struct buf *out, char **err)
{
	struct conv c = {0};
	size_t i;
	int rc;

	c.file = file;
	buf_adds(&c.out, "");
	rc = convert(&c, file, text, len);
	if (rc == 0 && c.err)
		rc = -1;
	if (rc == 0)
		buf_adds(out, c.out.data);
	else
		*err = c.err ? c.err : xstrdup("compose conversion failed");
	buf_free(&c.out);
	for (i = 0; i < c.ndocs; i++) {
		if (c.docs[i]->loaded)
			yaml_document_delete(&c.docs[i]->y);
		free(c.docs[i]->file);
		free(c.docs[i]->dir);
		free(c.docs[i]);
	}
	free(c.docs);
	kv_free(c.env, c.nenv);
	for (i = 0; i < c.nsvcs; i++) {
		free(c.svcs[i].name);
		free(c.svcs[i].handle);
	}
	free(c.svcs);
	kv_free(c.builds, c.nbuilds);
	return rc;
}

int compose_import(const char *file, const char *outpath, int force)
{
	struct buf b = {0};
	char *err = NULL;
	struct stat st;
	char *def = NULL;
	FILE *f;
	int rc = 0;

	if (!file)
		file = compose_default_file();
	if (!file) {
		warn("import: no compose file here (compose.yaml, compose.yml, docker-compose.yml, "
		     "docker-compose.yaml); name one with -f");
		return 2;
	}
	if (!outpath) {
		/* next to the compose file: its paths are relative to that directory */
		const char *sl = strrchr(file, '/');
		outpath = sl ? (def = xasprintf("%.*s/stack.lua", (int)(sl - file), file)) : "stack.lua";
	}
	if (!force && stat(outpath, &st) == 0) {
		warn("import: %s exists; not overwritten (use --force)", outpath);
		free(def);
		return 2;
	}
	buf_adds(&b, "");
	if (compose_to_lua(file, NULL, 0, &b, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		buf_free(&b);
		free(def);
		return 2;
	}
	f = fopen(outpath, "w");
	if (f && fwrite(b.data, 1, b.len, f) != b.len) {
		fclose(f);
		f = NULL;
	} else if (f && fclose(f) != 0) {
		f = NULL;
	}
	if (!f) {
		warn("import: cannot write %s:", outpath);
		rc = 1;
	} else {
		fprintf(stderr, "graphbuild: wrote %s from %s\n", outpath, file);
	}
	buf_free(&b);
	free(def);
	return rc;
}

int compose_for_load(const char **file, char **text, size_t *len)
{
	struct buf b = {0};
	char *err = NULL;
	struct stat st;

	*text = NULL;
	if (!strcmp(*file, "stack.lua") && stat("stack.lua", &st) < 0 && compose_default_file()) {
		*file = compose_default_file();
		fprintf(stderr, "graphbuild: no stack.lua here; using %s\n", *file);
	}
	if (!compose_is_file(*file))
		return 0;
	buf_adds(&b, "");
	if (compose_to_lua(*file, NULL, 0, &b, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		buf_free(&b);
		return -1;
	}
	*len = b.len;
	*text = buf_take(&b);
	return 1;
}
