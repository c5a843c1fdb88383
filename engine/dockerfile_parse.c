/* dockerfile_parse.c - Dockerfile text -> instructions: parser directives
 * (# syntax=, # escape=), comments, line continuations, heredocs (<<EOF,
 * <<-EOF, quoted delimiters), leading --flags, and the JSON exec form.
 * Expansion, ARG scoping and stages are dockerfile.c's. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graphbuild/util.h"
#include "dockerfile_int.h"

struct line {
	const char *p;
	size_t n;
};

static int perr(char **err, const char *path, int line, const char *ins, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int perr(char **err, const char *path, int line, const char *ins, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = xvasprintf(fmt, ap);
	va_end(ap);
	*err = xasprintf("%s:%d: %s: %s", path, line, ins, m);
	free(m);
	return -1;
}

static int blank(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)p[i])) return 0;
	return 1;
}

static int comment(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && isspace((unsigned char)p[i])) i++;
	return i < n && p[i] == '#';
}

/* "# key=value" with a known key: 1 and the parts, else 0. */
static int directive(const char *p, size_t n, char *key, size_t ksz, const char **v, size_t *vn)
{
	size_t i = 0;
	if (n == 0 || p[0] != '#') return 0;
	i = 1;
	while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
	size_t k0 = i;
	while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '_')) i++;
	size_t kn = i - k0;
	if (kn == 0 || kn >= ksz) return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
	if (i >= n || p[i] != '=') return 0;
	i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
	size_t e = n;
	while (e > i && isspace((unsigned char)p[e - 1])) e--;
	for (size_t j = 0; j < kn; j++) key[j] = (char)tolower((unsigned char)p[k0 + j]);
	key[kn] = 0;
	*v = p + i;
	*vn = e - i;
	return 1;
}

static int has_flags(const char *c)
{
	return !strcmp(c, "FROM") || !strcmp(c, "RUN") || !strcmp(c, "COPY") || !strcmp(c, "ADD") ||
	       !strcmp(c, "HEALTHCHECK");
}

static int has_heredocs(const char *c)
{
	return !strcmp(c, "RUN") || !strcmp(c, "COPY") || !strcmp(c, "ADD");
}

static int has_json(const char *c)
{
	return !strcmp(c, "RUN") || !strcmp(c, "CMD") || !strcmp(c, "ENTRYPOINT") || !strcmp(c, "SHELL") ||
	       !strcmp(c, "COPY") || !strcmp(c, "ADD") || !strcmp(c, "VOLUME");
}

/* The heredoc markers in s: appended to *hs (bodies filled later). */
static int find_heredocs(struct arena *a, const char *s, struct df_heredoc **hs, size_t *nh,
                         const char *path, int line, const char *cmd, char **err)
{
	char q = 0;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		if (q) {
			if (c == q) q = 0;
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
			continue;
		}
		if (c != '<' || s[i + 1] != '<' || s[i + 2] == '<' || (i > 0 && s[i - 1] == '<')) continue;
		size_t j = i + 2;
		int strip = 0, quoted = 0;
		if (s[j] == '-') {
			strip = 1;
			j++;
		}
		char dq = 0;
		if (s[j] == '\'' || s[j] == '"') dq = s[j++];
		size_t w0 = j;
		while (isalnum((unsigned char)s[j]) || s[j] == '_') j++;
		if (j == w0) {
			if (dq) return perr(err, path, line, cmd, "heredoc delimiter after '<<%c' is empty", dq);
			continue;
		}
		size_t w1 = j;
		if (dq) {
			if (s[j] != dq)
				return perr(err, path, line, cmd, "heredoc delimiter '%.*s' has no closing %c",
				            (int)(w1 - w0), s + w0, dq);
			j++;
			quoted = 1;
		}
		*hs = xreallocarray(*hs, *nh + 1, sizeof **hs);
		struct df_heredoc *h = &(*hs)[(*nh)++];
		memset(h, 0, sizeof *h);
		char *w = xstrndup(s + w0, w1 - w0);
		h->word = arena_strdup(a, w);
		free(w);
		h->quoted = quoted;
		h->strip = strip;
		i = j - 1;
	}
	return 0;
}

static int parse_json(struct arena *a, struct df_instr *in, const char *path, char **err)
{
	const char *r = in->rest;
	size_t n = strlen(r);
	while (n && isspace((unsigned char)r[n - 1])) n--;
	if (r[0] != '[') return 0;
	cJSON *j = cJSON_ParseWithLength(r, n);
	int ok = j && cJSON_IsArray(j);
	if (ok) {
		cJSON *e;
		cJSON_ArrayForEach(e, j) if (!cJSON_IsString(e)) ok = 0;
	}
	if (!ok) {
		cJSON_Delete(j);
		if (n && r[n - 1] == ']')
			return perr(err, path, in->line, in->cmd,
			            "invalid JSON in the exec form (write [\"prog\", \"arg\"] with double quotes and "
			            "string items only, or drop the brackets for the shell form): %.*s",
			            (int)n, r);
		return 0; /* "[ -f x ] && ..." is shell form */
	}
	in->json = 1;
	in->argc = (size_t)cJSON_GetArraySize(j);
	in->argv = arena_alloc(a, (in->argc + 1) * sizeof *in->argv);
	size_t k = 0;
	cJSON *e;
	cJSON_ArrayForEach(e, j) in->argv[k++] = arena_strdup(a, e->valuestring);
	cJSON_Delete(j);
	return 0;
}

int df_parse(struct arena *a, const char *path, const char *text, size_t len, struct df_file *f, char **err)
{
	memset(f, 0, sizeof *f);
	f->escape = '\\';
	*err = NULL;
	if (memchr(text, 0, len))
		return perr(err, path, 1, "Dockerfile", "the file contains a NUL byte (not a text file)");
	/* split into lines */
	size_t nl = 0, cap = 64;
	struct line *L = xmalloc(cap * sizeof *L);
	for (size_t i = 0; i < len;) {
		size_t e = i;
		while (e < len && text[e] != '\n') e++;
		size_t n = e - i;
		if (n && text[i + n - 1] == '\r') n--;
		if (nl == cap) L = xreallocarray(L, cap *= 2, sizeof *L);
		L[nl++] = (struct line){ text + i, n };
		i = e + 1;
	}
	size_t li = 0;
	/* a UTF-8 BOM */
	if (nl && L[0].n >= 3 && !memcmp(L[0].p, "\xef\xbb\xbf", 3)) {
		L[0].p += 3;
		L[0].n -= 3;
	}
	/* parser directives: only at the very top */
	int seen_escape = 0, seen_syntax = 0;
	for (; li < nl; li++) {
		char key[32];
		const char *v;
		size_t vn;
		if (!directive(L[li].p, L[li].n, key, sizeof key, &v, &vn)) break;
		if (!strcmp(key, "escape")) {
			if (seen_escape) { free(L); return perr(err, path, (int)li + 1, "escape", "the escape directive appears twice"); }
			if (vn != 1 || (v[0] != '\\' && v[0] != '`')) {
				free(L);
				return perr(err, path, (int)li + 1, "escape", "invalid escape character '%.*s' (use \\ or `)", (int)vn, v);
			}
			f->escape = v[0];
			seen_escape = 1;
		} else if (!strcmp(key, "syntax")) {
			if (seen_syntax) { free(L); return perr(err, path, (int)li + 1, "syntax", "the syntax directive appears twice"); }
			char *s = xstrndup(v, vn);
			f->syntax = arena_strdup(a, s);
			free(s);
			seen_syntax = 1;
		} else if (!strcmp(key, "check")) {
			/* BuildKit's build-check settings: no effect on the result */
		} else {
			break; /* an unknown directive is a comment and ends the directives */
		}
	}
	size_t icap = 0;
	struct df_instr *ins = NULL;
	struct buf lb = { 0 };
	int rc = 0;
	while (li < nl) {
		if (blank(L[li].p, L[li].n) || comment(L[li].p, L[li].n)) {
			li++;
			continue;
		}
		int line = (int)li + 1;
		lb.len = 0;
		buf_adds(&lb, "");
		for (;;) {
			const char *p = L[li].p;
			size_t n = L[li].n;
			li++;
			size_t e = n;
			while (e && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
			if (e && p[e - 1] == f->escape) {
				buf_add(&lb, p, e - 1);
				/* continued: skip comment and empty lines */
				while (li < nl && (comment(L[li].p, L[li].n) || blank(L[li].p, L[li].n))) li++;
				if (li >= nl) break;
				continue;
			}
			buf_add(&lb, p, n);
			break;
		}
		/* keyword */
		const char *s = lb.data;
		while (isspace((unsigned char)*s)) s++;
		const char *k0 = s;
		while (*s && !isspace((unsigned char)*s)) s++;
		size_t kn = (size_t)(s - k0);
		char *cmd = arena_alloc(a, kn + 1);
		for (size_t j = 0; j < kn; j++) cmd[j] = (char)toupper((unsigned char)k0[j]);
		while (isspace((unsigned char)*s)) s++;
		if (icap == f->nins) ins = xreallocarray(ins, icap = icap ? icap * 2 : 16, sizeof *ins);
		struct df_instr *in = &ins[f->nins++];
		memset(in, 0, sizeof *in);
		in->line = line;
		in->cmd = cmd;
		for (size_t j = 0; j < kn; j++)
			if (!isalpha((unsigned char)cmd[j])) {
				rc = perr(err, path, line, cmd, "not an instruction (a Dockerfile line starts with an instruction such as FROM or RUN)");
				goto out;
			}
		if (has_flags(cmd)) {
			char **fl = NULL;
			size_t nfl = 0;
			while (s[0] == '-' && s[1] == '-') {
				const char *t0 = s + 2;
				while (*s && !isspace((unsigned char)*s)) s++;
				fl = xreallocarray(fl, nfl + 1, sizeof *fl);
				char *t = xstrndup(t0, (size_t)(s - t0));
				fl[nfl++] = arena_strdup(a, t);
				free(t);
				while (isspace((unsigned char)*s)) s++;
			}
			if (nfl) {
				in->flags = arena_alloc(a, nfl * sizeof *in->flags);
				memcpy(in->flags, fl, nfl * sizeof *fl);
				in->nflags = nfl;
			}
			free(fl);
		}
		size_t rn = strlen(s);
		while (rn && isspace((unsigned char)s[rn - 1])) rn--;
		char *r = xstrndup(s, rn);
		in->rest = arena_strdup(a, r);
		free(r);
		if (has_heredocs(cmd)) {
			struct df_heredoc *hs = NULL;
			size_t nh = 0;
			if (in->rest[0] != '[' && find_heredocs(a, in->rest, &hs, &nh, path, line, cmd, err) < 0) {
				free(hs);
				rc = -1;
				goto out;
			}
			for (size_t h = 0; h < nh; h++) {
				struct buf body = { 0 };
				buf_adds(&body, "");
				int found = 0;
				while (li < nl) {
					const char *p = L[li].p;
					size_t n = L[li].n;
					li++;
					if (hs[h].strip)
						while (n && *p == '\t') { p++; n--; }
					if (n == strlen(hs[h].word) && !memcmp(p, hs[h].word, n)) {
						found = 1;
						break;
					}
					buf_add(&body, p, n);
					buf_addc(&body, '\n');
				}
				if (!found) {
					buf_free(&body);
					rc = perr(err, path, line, cmd, "heredoc '%s' has no closing line '%s'", hs[h].word, hs[h].word);
					free(hs);
					goto out;
				}
				hs[h].body = arena_strdup(a, body.data);
				buf_free(&body);
			}
			if (nh) {
				in->here = arena_alloc(a, nh * sizeof *in->here);
				memcpy(in->here, hs, nh * sizeof *hs);
				in->nhere = nh;
			}
			free(hs);
		}
		if (has_json(cmd) && (rc = parse_json(a, in, path, err)) < 0) goto out;
	}
	f->ins = ins ? arena_alloc(a, f->nins * sizeof *ins + 1) : NULL;
	if (ins) memcpy(f->ins, ins, f->nins * sizeof *ins);
out:
	free(ins);
	free(L);
	buf_free(&lb);
	return rc;
}
