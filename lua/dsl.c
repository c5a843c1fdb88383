/* dsl.c - loading stack.lua: the Lua state, the embedded prelude
 * (lua/prelude.lua, which owns the sandbox, the DSL functions and all
 * validation), and the conversion of the validated node tables it returns
 * into struct node/struct stack in the stack's arena.
 *
 * The only file in graphbuild that includes lua.h. One lua_State per load,
 * closed before dsl_load returns: nothing from Lua survives except arena
 * copies. Everything runs inside one lua_pcall with a message handler, so a
 * Lua error (a longjmp) can only unwind over arena memory or over ctx-owned
 * malloc'd memory that dsl_load frees after the call returns. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "graphbuild/dsl.h"
#include "graphbuild/fetch.h"
#include "graphbuild/graph.h"
#include "graphbuild/jail.h"
#include "graphbuild/util.h"

#include "prelude.inc"

/* The installed library, a string literal from the build (premake5.lua). */
#ifndef GRAPHBUILD_LIBDIR
#define GRAPHBUILD_LIBDIR "/usr/local/share/graphbuild/stacks"
#endif

/* State of one load. The malloc'd members are freed by dsl_load after the
 * protected call, whether or not it raised. */
struct ctx {
	const struct dsl_opts *o;
	struct stack *s;
	const char *file;       /* as given */
	char *path;             /* absolute: realpath(dir)/basename */
	char *cwd;
	char **gbpath;          /* GRAPHBUILD_PATH entries, absolute */
	size_t ngbpath;
	struct node **byindex;  /* Lua node index - 1 -> node */
	const char **files;     /* interned position file names (arena strings) */
	size_t nfiles;
	int failed;             /* diagnostics were printed */
};

/* ---- helpers for the prelude ---- */

/* stat(path) -> "file" | "dir" | "other" | nil */
static int l_stat(lua_State *L)
{
	const char *p = luaL_checkstring(L, 1);
	struct stat st;

	if (stat(p, &st) < 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
	return 1;
}

/* regex_error(pattern) -> nil if it compiles as health.c compiles a log
 * probe's pattern (POSIX ERE), else regerror's message. */
static int l_regex_error(lua_State *L)
{
	const char *p = luaL_checkstring(L, 1);
	char msg[256];
	regex_t re;
	int rc = regcomp(&re, p, REG_EXTENDED | REG_NOSUB);

	if (rc == 0) {
		regfree(&re);
		lua_pushnil(L);
		return 1;
	}
	regerror(rc, &re, msg, sizeof msg);
	lua_pushstring(L, msg);
	return 1;
}

/* jail(root, rel) -> nil when rel resolves beneath root (or is simply
 * missing), else a sentence: which symlink leaves root or dangles (jail.h). */
static int l_jail(lua_State *L)
{
	const char *root = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
	char *why = NULL;
	int fd = jail_open(root, rel, O_PATH, &why), e = errno;

	if (fd >= 0) {
		close(fd);
		lua_pushnil(L);
	} else if (why) {
		lua_pushstring(L, why);
	} else if (e == EXDEV) {
		lua_pushstring(L, "the path leaves the directory");
	} else {
		lua_pushnil(L);
	}
	free(why);
	return 1;
}

/* realpath(path) -> absolute path or nil; a stack buffer, so no leak. */
static int l_realpath(lua_State *L)
{
	const char *p = luaL_checkstring(L, 1);
	char buf[PATH_MAX];

	if (!realpath(p, buf))
		lua_pushnil(L);
	else
		lua_pushstring(L, buf);
	return 1;
}

/* where() -> file, line of the innermost frame of user code (not C, not the
 * prelude). Called once per DSL call: unlike debug.getinfo it allocates
 * nothing (a 10 MB stack makes ~500k calls). */
static int l_where(lua_State *L)
{
	lua_Debug ar;
	int level;

	for (level = 1; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar))
			break;
		if (ar.currentline <= 0 || strcmp(ar.source, "=prelude") == 0)
			continue;
		if (ar.source[0] == '@' || ar.source[0] == '=')
			lua_pushstring(L, ar.source + 1);
		else
			lua_pushstring(L, ar.short_src);
		lua_pushinteger(L, ar.currentline);
		return 2;
	}
	lua_pushliteral(L, "?");
	lua_pushinteger(L, 0);
	return 2;
}

/* The malloc'd results of fetch_module, boxed in a userdata while they are
 * pushed: if pushing raises (out of memory), __gc frees them. */
struct fetch_box {
	char *text, *err;
};

static int fetch_box_gc(lua_State *L)
{
	struct fetch_box *b = lua_touserdata(L, 1);

	free(b->text);
	free(b->err);
	b->text = b->err = NULL;
	return 0;
}

/* fetch(url_with_pin) -> text | nil, message. For the prelude's import only
 * (cfg.fetch, never in a user environment): the text is returned only after
 * its SHA-256 matched the pin. */
static int l_fetch(lua_State *L)
{
	const char *url = luaL_checkstring(L, 1);
	struct fetch_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
	size_t len;
	int n;

	b->text = b->err = NULL;
	if (luaL_newmetatable(L, "gb.fetchbox")) {
		lua_pushcfunction(L, fetch_box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	/* stack: url, box */
	if (fetch_module(url, &b->text, &len, &b->err) == 0) {
		lua_pushlstring(L, b->text, len);
		n = 1;
	} else {
		lua_pushnil(L);
		lua_pushstring(L, b->err);
		n = 2;
	}
	free(b->text);
	free(b->err);
	b->text = b->err = NULL;
	return n;
}

/* ---- message handler ---- */

/* Optimal string alignment distance (Levenshtein plus transpositions) of
 * a (la bytes) and b (lb bytes): the one measure behind every "did you
 * mean" (the prelude's through C.distance). Three rows of lb + 1. */
static size_t distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t *r = xcalloc(3 * (lb + 1), sizeof *r), *pp = r, *p = r + lb + 1, *c = r + 2 * (lb + 1);
	size_t i, j, d;

	for (j = 0; j <= lb; j++)
		p[j] = j;
	for (i = 1; i <= la; i++) {
		c[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t v = p[j - 1] + (a[i - 1] != b[j - 1]);

			if (p[j] + 1 < v)
				v = p[j] + 1;
			if (c[j - 1] + 1 < v)
				v = c[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			c[j] = v;
		}
		{ size_t *t = pp; pp = p; p = c; c = t; }
	}
	d = p[lb];
	free(r);
	return d;
}

/* distance(a, b) -> the edit distance of two strings (bytes) */
static int l_distance(lua_State *L)
{
	size_t la, lb;
	const char *a = luaL_checklstring(L, 1, &la), *b = luaL_checklstring(L, 2, &lb);

	lua_pushinteger(L, (lua_Integer)distance(a, la, b, lb));
	return 1;
}

/* "attempt to call a nil value (global 'runn')": a misspelt DSL function.
 * Appends "; did you mean 'run'?" (same limits as the prelude's keys). */
static void suggest_function(lua_State *L)
{
	static const char *const names[] = {
		"project", "image", "run", "copy", "env", "workdir", "user", "rootfs", "secret",
		"service", "tcp", "http", "exec", "log", "vars", "read", "require", "import",
	};
	const char *msg = lua_tostring(L, -1), *p, *q;
	const char *best = NULL;
	size_t i, bestd = (size_t)-1, limit;
	char name[32];

	p = strstr(msg, "attempt to call a nil value (global '");
	if (!p)
		return;
	p += strlen("attempt to call a nil value (global '");
	q = strchr(p, '\'');
	if (!q || (size_t)(q - p) >= sizeof(name))
		return;
	memcpy(name, p, (size_t)(q - p));
	name[q - p] = 0;
	limit = strlen(name) / 3;
	limit = limit < 1 ? 1 : limit > 2 ? 2 : limit;
	for (i = 0; i < LEN(names); i++) {
		size_t dd = distance(name, strlen(name), names[i], strlen(names[i]));

		if (dd <= limit && dd < bestd) {
			best = names[i];
			bestd = dd;
		}
	}
	if (best) {
		lua_pushfstring(L, "; did you mean '%s'?", best);
		lua_concat(L, 2);
	}
}

/* The innermost frame of user code, for errors that carry no position. */
static void push_where(lua_State *L)
{
	lua_Debug ar;
	int level;

	for (level = 1; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar))
			break;
		if (strcmp(ar.what, "C") == 0 || strcmp(ar.source, "=prelude") == 0 ||
		    ar.currentline <= 0)
			continue;
		lua_pushfstring(L, "%s:%d: ",
		                ar.source[0] == '@' || ar.source[0] == '=' ? ar.source + 1 : ar.short_src,
		                ar.currentline);
		return;
	}
	lua_pushliteral(L, "");
}

/* Diagnostics (tables marked gb_diag) and strings pass through; any other
 * error value becomes a string with the user's position. */
static int msgh(lua_State *L)
{
	/* stack: err */
	if (lua_type(L, 1) == LUA_TTABLE) {
		int isdiag;

		lua_getfield(L, 1, "gb_diag");
		isdiag = lua_toboolean(L, -1);
		lua_pop(L, 1);
		if (isdiag)
			return 1;
	}
	if (lua_type(L, 1) == LUA_TSTRING) {
		suggest_function(L);
		return 1;
	}
	if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
		return 1;
	push_where(L);
	lua_pushfstring(L, "error object is a %s value", luaL_typename(L, 1));
	lua_concat(L, 2);
	return 1;
}

/* Prints the error value on the top of the stack: a diag table or a string. */
static void print_error(lua_State *L)
{
	/* stack: err */
	if (lua_type(L, -1) == LUA_TTABLE) {
		lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);

		for (i = 1; i <= n; i++) {
			if (lua_rawgeti(L, -1, i) == LUA_TSTRING)
				warn("%s", lua_tostring(L, -1));
			lua_pop(L, 1);
		}
		if (n == 0)
			warn("error while loading the stack");
		return;
	}
	if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
		warn("%s", lua_tostring(L, -1));
	else
		warn("error while loading the stack (error object is a %s value)", luaL_typename(L, -1));
}

/* ---- reading the prelude's output tables ---- */

static char *dup_lua(struct arena *a, lua_State *L, int idx)
{
	size_t n;
	const char *p = lua_tolstring(L, idx, &n);
	char *r = arena_alloc(a, n + 1);

	memcpy(r, p, n);
	return r;
}

static char *field_str(struct ctx *c, lua_State *L, int t, const char *k)
{
	char *r = NULL;

	if (lua_getfield(L, t, k) == LUA_TSTRING)
		r = dup_lua(c->s->arena, L, -1);
	lua_pop(L, 1);
	return r;
}

static long long field_int(lua_State *L, int t, const char *k, long long def)
{
	long long r = def;

	if (lua_getfield(L, t, k) == LUA_TNUMBER)
		r = (long long)lua_tointeger(L, -1);
	lua_pop(L, 1);
	return r;
}

static int field_bool(lua_State *L, int t, const char *k)
{
	int r;

	lua_getfield(L, t, k);
	r = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return r;
}

/* A list of strings at t[k] (absent: empty). */
static void field_list(struct ctx *c, lua_State *L, int t, const char *k, struct strlist *out)
{
	size_t i, n;

	out->n = 0;
	out->v = NULL;
	if (lua_getfield(L, t, k) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	/* stack: list */
	n = lua_rawlen(L, -1);
	out->v = arena_alloc(c->s->arena, sizeof(*out->v) * (n + 1));
	for (i = 0; i < n; i++) {
		if (lua_rawgeti(L, -1, (lua_Integer)i + 1) == LUA_TSTRING)
			out->v[out->n++] = dup_lua(c->s->arena, L, -1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct kvpair {
	char *k, *v;
};

static int cmpkv(const void *a, const void *b)
{
	return strcmp(((const struct kvpair *)a)->k, ((const struct kvpair *)b)->k);
}

/* Copies the string map on the top of the stack into out, sorted by key
 * (byte order, not the locale's: Lua compares with strcoll). */
static void read_kv(struct ctx *c, lua_State *L, struct kvlist *out)
{
	struct kvpair *pairs;
	size_t i, n = 0;
	int t = lua_absindex(L, -1);

	out->n = 0;
	out->k = out->v = NULL;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		n++;
		lua_pop(L, 1);
	}
	pairs = arena_alloc(c->s->arena, sizeof(*pairs) * (n + 1));
	n = 0;
	lua_pushnil(L);
	while (lua_next(L, t)) {
		/* stack: key, value */
		if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
			pairs[n].k = dup_lua(c->s->arena, L, -2);
			pairs[n].v = dup_lua(c->s->arena, L, -1);
			n++;
		}
		lua_pop(L, 1);
	}
	if (n > 1)
		qsort(pairs, n, sizeof(*pairs), cmpkv);
	out->k = arena_alloc(c->s->arena, sizeof(*out->k) * (n + 1));
	out->v = arena_alloc(c->s->arena, sizeof(*out->v) * (n + 1));
	for (i = 0; i < n; i++) {
		out->k[i] = pairs[i].k;
		out->v[i] = pairs[i].v;
	}
	out->n = n;
}

static void field_kv(struct ctx *c, lua_State *L, int t, const char *k, struct kvlist *out)
{
	if (lua_getfield(L, t, k) == LUA_TTABLE) {
		read_kv(c, L, out);
	} else {
		out->n = 0;
		out->k = out->v = NULL;
	}
	lua_pop(L, 1);
}

/* A node reference: t[k] is the 1-based index of an earlier node. */
static struct node *field_node(struct ctx *c, lua_State *L, int t, const char *k)
{
	long long i = field_int(L, t, k, 0);

	if (i < 1 || (size_t)i > c->s->nnodes)
		return NULL;
	return c->byindex[i - 1];
}

/* t.file, t.line; file names are interned (a few files, many positions). */
static struct pos field_pos(struct ctx *c, lua_State *L, int t)
{
	struct pos p = {"?", (int)field_int(L, t, "line", 0)};
	const char *f;
	size_t i;

	if (lua_getfield(L, t, "file") != LUA_TSTRING) {
		lua_pop(L, 1);
		return p;
	}
	f = lua_tostring(L, -1);
	for (i = 0; i < c->nfiles; i++)
		if (strcmp(c->files[i], f) == 0)
			break;
	if (i == c->nfiles) {
		c->files = xreallocarray(c->files, c->nfiles + 1, sizeof(*c->files));
		c->files[c->nfiles++] = dup_lua(c->s->arena, L, -1);
	}
	lua_pop(L, 1);
	p.file = c->files[i];
	return p;
}

static void conv_step(struct ctx *c, lua_State *L, int t, struct step *st)
{
	static const struct {
		const char *name;
		enum step_kind kind;
	} kinds[] = {
		{"run", STEP_RUN}, {"copy", STEP_COPY}, {"copy_from", STEP_COPY_FROM},
		{"env", STEP_ENV}, {"workdir", STEP_WORKDIR}, {"user", STEP_USER},
	};
	char *kind = field_str(c, L, t, "kind");
	size_t i;

	for (i = 0; i < LEN(kinds); i++)
		if (kind && strcmp(kind, kinds[i].name) == 0)
			st->kind = kinds[i].kind;
	st->pos = field_pos(c, L, t);
	field_list(c, L, t, "args", &st->args);
	st->shell = field_bool(L, t, "shell");
	st->to = field_str(c, L, t, "to");
	st->from = field_node(c, L, t, "from");
	field_list(c, L, t, "cache", &st->cache);
	if (st->cache.n > 1)
		qsort(st->cache.v, st->cache.n, sizeof(*st->cache.v), cmpstr);
	field_kv(c, L, t, "env", &st->env);
	field_kv(c, L, t, "secrets", &st->secrets);
	st->network = field_str(c, L, t, "network");
}

static void conv_image(struct ctx *c, lua_State *L, int t, struct image *im)
{
	size_t i, n;

	im->parent = field_node(c, L, t, "parent");
	if (lua_getfield(L, t, "steps") == LUA_TTABLE) {
		/* stack: steps */
		n = lua_rawlen(L, -1);
		im->steps = arena_alloc(c->s->arena, sizeof(*im->steps) * (n + 1));
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			conv_step(c, L, lua_absindex(L, -1), &im->steps[i]);
			lua_pop(L, 1);
		}
		im->nsteps = n;
	}
	lua_pop(L, 1);
	field_list(c, L, t, "cmd", &im->cmd);
	field_list(c, L, t, "entrypoint", &im->entrypoint);
	im->cmd_set = field_bool(L, t, "cmd_set");
	im->entrypoint_set = field_bool(L, t, "entrypoint_set");
	field_kv(c, L, t, "env", &im->env);
	field_kv(c, L, t, "labels", &im->labels);
	im->workdir = field_str(c, L, t, "workdir");
	im->user = field_str(c, L, t, "user");
	if (lua_getfield(L, t, "expose") == LUA_TTABLE) {
		n = lua_rawlen(L, -1);
		im->expose = arena_alloc(c->s->arena, sizeof(*im->expose) * (n + 1));
		for (i = 0; i < n; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			im->expose[i] = (int)lua_tointeger(L, -1);
			lua_pop(L, 1);
		}
		im->nexpose = n;
	}
	lua_pop(L, 1);
	field_list(c, L, t, "volumes", &im->volumes);
	im->stop_signal = field_str(c, L, t, "stop_signal");
	if (lua_getfield(L, t, "healthcheck") == LUA_TTABLE) {
		int h = lua_absindex(L, -1);
		struct healthcheck *hc = arena_alloc(c->s->arena, sizeof(*hc));

		memset(hc, 0, sizeof(*hc));
		field_list(c, L, h, "test", &hc->test);
		hc->interval_ms = field_int(L, h, "interval_ms", 0);
		hc->timeout_ms = field_int(L, h, "timeout_ms", 0);
		hc->start_period_ms = field_int(L, h, "start_period_ms", 0);
		hc->retries = (int)field_int(L, h, "retries", 0);
		im->healthcheck = hc;
	}
	lua_pop(L, 1);
	im->context = field_str(c, L, t, "context");
	im->context_rel = field_str(c, L, t, "context_rel");
	field_list(c, L, t, "ignore", &im->ignore);
	im->dockerfile = field_str(c, L, t, "dockerfile");
	im->target = field_str(c, L, t, "target");
	field_kv(c, L, t, "args", &im->args);
}

static void conv_rootfs(struct ctx *c, lua_State *L, int t, struct rootfs *r)
{
	r->tar = field_str(c, L, t, "tar");
	r->tar_rel = field_str(c, L, t, "tar_rel");
	r->command = field_str(c, L, t, "command");
	field_list(c, L, t, "inputs", &r->inputs);
	field_list(c, L, t, "inputs_rel", &r->inputs_rel);
	r->inputs_root = field_str(c, L, t, "inputs_root");
	r->epoch = field_str(c, L, t, "epoch");
	r->empty = field_bool(L, t, "empty");
}

static void conv_probe(struct ctx *c, lua_State *L, int t, struct probe *p)
{
	static const struct {
		const char *name;
		enum probe_kind kind;
	} kinds[] = {
		{"tcp", PROBE_TCP}, {"http", PROBE_HTTP}, {"exec", PROBE_EXEC}, {"log", PROBE_LOG},
	};
	char *kind = field_str(c, L, t, "kind");
	size_t i;

	for (i = 0; i < LEN(kinds); i++)
		if (kind && strcmp(kind, kinds[i].name) == 0)
			p->kind = kinds[i].kind;
	p->port = (int)field_int(L, t, "port", 0);
	p->path = field_str(c, L, t, "path");
	p->status = (int)field_int(L, t, "status", 0);
	field_list(c, L, t, "argv", &p->argv);
	p->regex = field_str(c, L, t, "regex");
	p->interval_ms = (int)field_int(L, t, "interval_ms", 1000);
	p->timeout_ms = (int)field_int(L, t, "timeout_ms", 1000);
	p->retries = (int)field_int(L, t, "retries", 3);
	p->start_period_ms = (int)field_int(L, t, "start_period_ms", 30000);
	p->pos = field_pos(c, L, t);
}

static void conv_service(struct ctx *c, lua_State *L, int t, struct service *sv)
{
	size_t i, n;

	sv->image = field_node(c, L, t, "image");
	field_list(c, L, t, "command", &sv->command);
	field_list(c, L, t, "entrypoint", &sv->entrypoint);
	sv->command_set = field_bool(L, t, "command_set");
	sv->entrypoint_set = field_bool(L, t, "entrypoint_set");
	field_kv(c, L, t, "env", &sv->env);
	field_kv(c, L, t, "labels", &sv->labels);
	sv->workdir = field_str(c, L, t, "workdir");
	sv->user = field_str(c, L, t, "user");
	sv->stop_signal = field_str(c, L, t, "stop_signal");
	field_list(c, L, t, "ports", &sv->ports);
	field_list(c, L, t, "volumes", &sv->volumes);
	field_list(c, L, t, "aliases", &sv->aliases);
	if (lua_getfield(L, t, "deps") == LUA_TTABLE) {
		/* stack: deps */
		n = lua_rawlen(L, -1);
		sv->deps = arena_alloc(c->s->arena, sizeof(*sv->deps) * (n + 1));
		for (i = 0; i < n; i++) {
			struct dep *d = &sv->deps[i];
			char *cond;
			int dt;

			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			dt = lua_absindex(L, -1);
			d->name = field_str(c, L, dt, "name");
			cond = field_str(c, L, dt, "cond");
			d->cond = cond && strcmp(cond, "healthy") == 0     ? DEP_HEALTHY
			          : cond && strcmp(cond, "completed") == 0 ? DEP_COMPLETED
			                                                   : DEP_STARTED;
			d->pos = field_pos(c, L, dt);
			lua_pop(L, 1);
		}
		sv->ndeps = n;
	}
	lua_pop(L, 1);
	if (lua_getfield(L, t, "health") == LUA_TTABLE)
		conv_probe(c, L, lua_absindex(L, -1), &sv->health);
	lua_pop(L, 1);
	sv->oneshot = field_bool(L, t, "oneshot");
	sv->init = field_bool(L, t, "init");
	sv->restart = field_str(c, L, t, "restart");
	sv->stop_timeout = (int)field_int(L, t, "stop_timeout", -1);
}

/* Converts the prelude's result table (at r) into c->s. */
static void convert(struct ctx *c, lua_State *L, int r)
{
	struct stack *s = c->s;
	size_t i, n;

	s->project = field_str(c, L, r, "project");
	s->cache = field_str(c, L, r, "cache");
	s->cache_push = field_bool(L, r, "cache_push");
	lua_getfield(L, r, "nodes");
	/* stack: nodes */
	n = lua_rawlen(L, -1);
	c->byindex = xcalloc(n + 1, sizeof(*c->byindex));
	for (i = 0; i < n; i++) /* first all nodes, so references resolve */
		c->byindex[i] = arena_alloc(s->arena, sizeof(struct node));
	for (i = 0; i < n; i++) {
		struct node *nd = c->byindex[i];
		char *kind;
		int t;

		lua_rawgeti(L, -1, (lua_Integer)i + 1);
		t = lua_absindex(L, -1);
		kind = field_str(c, L, t, "kind");
		nd->name = field_str(c, L, t, "name");
		nd->pos = field_pos(c, L, t);
		nd->base_for = field_str(c, L, t, "base_for");
		if (strcmp(kind, "image") == 0) {
			nd->kind = NODE_IMAGE;
		} else if (strcmp(kind, "rootfs") == 0) {
			nd->kind = NODE_ROOTFS;
		} else if (strcmp(kind, "ref") == 0) {
			nd->kind = NODE_REF;
			nd->ref = field_str(c, L, t, "ref");
		} else {
			nd->kind = NODE_SERVICE;
		}
		graph_add(s, nd);
		if (nd->kind == NODE_IMAGE)
			conv_image(c, L, t, &nd->u.image);
		else if (nd->kind == NODE_ROOTFS)
			conv_rootfs(c, L, t, &nd->u.rootfs);
		else if (nd->kind == NODE_SERVICE)
			conv_service(c, L, t, &nd->u.service);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	field_list(c, L, r, "reads", &s->reads);
	if (s->reads.n > 1)
		qsort(s->reads.v, s->reads.n, sizeof(*s->reads.v), cmpstr);
	field_kv(c, L, r, "secrets", &s->secrets);
}

/* ---- the protected main ---- */

static void set_strmap(lua_State *L, const char *name, const struct kvlist *kv)
{
	size_t i;

	/* stack: cfg */
	lua_newtable(L);
	for (i = 0; kv && i < kv->n; i++) {
		lua_pushstring(L, kv->v[i]);
		lua_setfield(L, -2, kv->k[i]);
	}
	lua_setfield(L, -2, name);
}

static int pmain(lua_State *L)
{
	struct ctx *c = lua_touserdata(L, 1);
	size_t i;

	luaL_openlibs(L);
	if (luaL_loadbuffer(L, gb_prelude, gb_prelude_len, "=prelude") != LUA_OK)
		return lua_error(L);
	lua_call(L, 0, 1);
	/* stack: ctx, run */
	lua_newtable(L);
	lua_pushstring(L, c->file);
	lua_setfield(L, -2, "file");
	lua_pushstring(L, c->path);
	lua_setfield(L, -2, "path");
	if (c->o->text) {
		lua_pushlstring(L, c->o->text, c->o->len);
		lua_setfield(L, -2, "text");
	}
	lua_pushstring(L, c->s->dir);
	lua_setfield(L, -2, "dir");
	lua_pushstring(L, c->cwd);
	lua_setfield(L, -2, "cwd");
	set_strmap(L, "vars", c->o->vars);
	set_strmap(L, "secrets", c->o->secrets);
	set_strmap(L, "bases", c->o->bases);
	lua_createtable(L, (int)c->ngbpath, 0);
	for (i = 0; i < c->ngbpath; i++) {
		lua_pushstring(L, c->gbpath[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "gbpath");
	lua_pushstring(L, dsl_library_dir());
	lua_setfield(L, -2, "libroot");
	lua_pushcfunction(L, l_stat);
	lua_setfield(L, -2, "stat");
	lua_pushcfunction(L, l_realpath);
	lua_setfield(L, -2, "realpath");
	lua_pushcfunction(L, l_regex_error);
	lua_setfield(L, -2, "regex_error");
	lua_pushcfunction(L, l_jail);
	lua_setfield(L, -2, "jail");
	lua_pushcfunction(L, l_where);
	lua_setfield(L, -2, "where");
	lua_pushcfunction(L, l_distance);
	lua_setfield(L, -2, "distance");
	lua_pushcfunction(L, l_fetch);
	lua_setfield(L, -2, "fetch");
	/* stack: ctx, run, cfg */
	lua_call(L, 1, 1);
	/* stack: ctx, result */
	if (lua_getfield(L, 2, "errors") == LUA_TTABLE) {
		print_error(L);
		c->failed = 1;
		return 0;
	}
	lua_pop(L, 1);
	convert(c, L, 2);
	return 0;
}

/* ---- paths ---- */

/* GRAPHBUILD_PATH split on ':', empty entries skipped, made absolute. */
static char **split_gbpath(const char *cwd, size_t *n)
{
	const char *env = getenv("GRAPHBUILD_PATH");
	char **v = NULL;
	const char *p, *e;

	*n = 0;
	if (!env)
		return NULL;
	for (p = env; *p; p = *e ? e + 1 : e) {
		char *dir;

		e = strchr(p, ':');
		if (!e)
			e = p + strlen(p);
		if (e == p)
			continue;
		dir = xstrndup(p, (size_t)(e - p));
		v = xreallocarray(v, *n + 1, sizeof(*v));
		if (dir[0] != '/' && cwd) {
			v[(*n)++] = path_join(cwd, dir);
			free(dir);
		} else {
			v[(*n)++] = dir;
		}
	}
	return v;
}

const char *dsl_library_dir(void)
{
	static char root[PATH_MAX];
	char exe[PATH_MAX], cand[PATH_MAX + 32];
	struct stat st;
	ssize_t n;
	size_t len;

	if (root[0])
		return root;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = 0;
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			/* a build tree: build/<config>/graphbuild */
			snprintf(cand, sizeof(cand), "%s/../../stacks", exe);
			if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
				snprintf(cand, sizeof(cand), "%s/../..", exe);
				if (realpath(cand, root))
					return root;
			}
			/* installed by `make install PREFIX=…`: PREFIX/bin/graphbuild */
			snprintf(cand, sizeof(cand), "%s/../share/graphbuild/stacks", exe);
			if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
				snprintf(cand, sizeof(cand), "%s/../share/graphbuild", exe);
				if (realpath(cand, root))
					return root;
			}
		}
	}
	snprintf(root, sizeof(root), "%s", GRAPHBUILD_LIBDIR);
	len = strlen(root);
	if (len >= 2 && root[0] == '"' && root[len - 1] == '"') {
		memmove(root, root + 1, len - 2);
		root[len -= 2] = 0;
	}
	while (len > 1 && root[len - 1] == '/')
		root[--len] = 0;
	if (len >= 7 && strcmp(root + len - 7, "/stacks") == 0)
		root[len == 7 ? 1 : len - 7] = 0;
	return root;
}

void dsl_print_path(void)
{
	char cwd[PATH_MAX];
	char **v;
	size_t i, n;

	v = split_gbpath(getcwd(cwd, sizeof(cwd)) ? cwd : NULL, &n);
	for (i = 0; i < n; i++) {
		printf("%s\n", v[i]);
		free(v[i]);
	}
	free(v);
	printf("%s\n", dsl_library_dir());
}

/* ---- load / free ---- */

static void ctx_free(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->ngbpath; i++)
		free(c->gbpath[i]);
	free(c->gbpath);
	free(c->byindex);
	free(c->files);
	free(c->path);
	free(c->cwd);
}

struct stack *dsl_load(const struct dsl_opts *o)
{
	struct ctx c = {0};
	struct arena *a;
	struct stack *s;
	struct stat st;
	char buf[PATH_MAX], *dir;
	const char *slash, *base;
	lua_State *L;
	int rc;

	c.o = o;
	c.file = o->file ? o->file : "stack.lua";
	if (stat(c.file, &st) < 0) {
		warn("cannot read %s:", c.file);
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		warn("cannot read %s: it is a directory", c.file);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		/* a fifo would block, /dev/zero never end, /dev/null put the state in /dev */
		warn("cannot read %s: not a regular file", c.file);
		return NULL;
	}
	slash = strrchr(c.file, '/');
	if (slash) {
		dir = xstrndup(c.file, slash == c.file ? 1 : (size_t)(slash - c.file));
		base = slash + 1;
	} else {
		dir = xstrdup(".");
		base = c.file;
	}
	if (!realpath(dir, buf)) {
		warn("cannot resolve the directory of %s:", c.file);
		free(dir);
		return NULL;
	}
	free(dir);
	c.path = path_join(buf, base);
	c.cwd = getcwd(NULL, 0);
	if (!c.cwd)
		c.cwd = xstrdup(buf);
	c.gbpath = split_gbpath(c.cwd, &c.ngbpath);

	a = arena_new();
	s = arena_alloc(a, sizeof(*s));
	s->arena = a;
	s->file = arena_strdup(a, c.file);
	s->dir = arena_strdup(a, buf);
	c.s = s;

	L = luaL_newstate();
	if (!L)
		fatal("out of memory");
	lua_pushcfunction(L, msgh);
	lua_pushcfunction(L, pmain);
	lua_pushlightuserdata(L, &c);
	rc = lua_pcall(L, 1, 0, 1);
	if (rc != LUA_OK) {
		print_error(L);
		c.failed = 1;
	}
	lua_close(L);
	ctx_free(&c);
	if (c.failed) {
		dsl_free(s);
		return NULL;
	}
	return s;
}

void dsl_free(struct stack *s)
{
	if (!s)
		return;
	free(s->nodes); /* graph_add grows it with xrealloc */
	arena_free(s->arena);
}
