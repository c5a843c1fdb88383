/* ignore.c - .dockerignore rules, matched the way Docker matches them.
 *
 * Reading follows moby/patternmatcher/ignorefile.ReadAll: a UTF-8 BOM is
 * dropped, a line whose first byte is '#' is a comment, lines are trimmed,
 * blank ones skipped; '!' (then trimmed again) marks a re-include; the rest is
 * cleaned like Go's filepath.Clean and a leading '/' dropped, so "/a", "./a",
 * "a/" and "a//." all mean "a" (a trailing '/' does NOT restrict a pattern to
 * directories, unlike .gitignore). Extra patterns from the DSL go through the
 * same steps except comment stripping, after the file's patterns.
 *
 * Matching follows patternmatcher.MatchesOrParentMatches (what BuildKit's
 * walker computes): a pattern applies to a path if it matches the path or any
 * of its parent directories, and the last applying pattern decides ('!' =
 * included). Each pattern is classified like patternmatcher's compile():
 * exact, prefix ("lit**"), suffix ("**lit", with its quirk that "**foo" also
 * matches "barfoo"), or a glob interpreted here as Docker's regex would be:
 * '*' = [^/]*, '?' = one character but '/', '**' followed by more = any
 * run of whole directories (regex "(.*[/])?"), a trailing '**' after
 * wildcards = .*, '\c' = literal c, [...] = class with '^' negation and
 * ranges (a class may match '/', as in the regex).
 * ignore_may_reinclude is exact enough for BuildKit's result: it answers yes
 * whenever a '!' pattern could match below the directory, wildcards
 * included (the legacy builder's literal-prefix test would skip the dir for
 * "!**[/]keep"; BuildKit, Docker's default builder, does not).
 * Known deviations, all for patterns nobody writes: '\d', '\w' etc. are literal
 * letters here (regex classes in Docker), and '*'/'?' inside [...] are literal
 * (Docker's translation garbles them). Syntax errors Docker reports (via
 * filepath.Match) are reported: a lone "!", an unterminated or empty [...],
 * a class starting with '-' or ']', a reversed range, a trailing '\'. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graphbuild/hash.h"
#include "graphbuild/util.h"

enum { PAT_EXACT, PAT_PREFIX, PAT_SUFFIX, PAT_GLOB };
enum { TOK_LIT, TOK_STAR, TOK_QM, TOK_DSTAR, TOK_ANY, TOK_CLASS };

struct tok {
	int type;
	int neg;          /* TOK_CLASS: negated */
	size_t off, len;  /* TOK_LIT: bytes in pat->lit; TOK_CLASS: pairs in pat->ranges */
};

struct pat {
	char *s;          /* cleaned pattern without '!' */
	size_t slen;
	int excl;         /* a '!' re-include */
	int type;         /* PAT_* */
	struct tok *t;    /* PAT_GLOB */
	size_t nt;
	char *lit;        /* unescaped literal bytes for TOK_LIT */
	unsigned *ranges; /* lo,hi code point pairs for TOK_CLASS */
};

struct ignore {
	struct pat *p;
	size_t n;
	int nexcl;        /* how many '!' patterns */
};

/* ---- Go's filepath.Clean for '/'-separated paths ---- */

static char *clean_path(const char *path)
{
	size_t n = strlen(path), r = 0, w = 0, dotdot = 0;
	int rooted = n > 0 && path[0] == '/';
	char *out = xmalloc(n + 2);

	if (n == 0) {
		strcpy(out, ".");
		return out;
	}
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = 0;
	return out;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims s in place; returns the start. */
static char *trim(char *s)
{
	size_t n;

	while (is_space(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		s[--n] = 0;
	return s;
}

/* ignorefile.ReadAll's per-line normalisation. Returns malloc'd or NULL (skip). */
static char *normalize_line(const char *line)
{
	char *dup = xstrdup(line), *p = trim(dup), *c, *out;
	int invert;

	if (*p == 0) {
		free(dup);
		return NULL;
	}
	invert = *p == '!';
	if (invert)
		p = trim(p + 1);
	if (*p) {
		c = clean_path(p);
		p = c[0] == '/' && c[1] ? c + 1 : c;
		out = xasprintf("%s%s", invert ? "!" : "", p);
		free(c);
	} else {
		out = xstrdup(invert ? "!" : "");
	}
	free(dup);
	return out;
}

/* ---- UTF-8 ---- */

/* Decodes one code point at s (n bytes left); invalid bytes decode as
 * themselves, one byte long (Go decodes them to U+FFFD, one byte long). */
static unsigned utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned c = s[0], need, i, cp;

	*len = 1;
	if (c < 0x80)
		return c;
	if ((c & 0xe0) == 0xc0)
		need = 1, cp = c & 0x1f;
	else if ((c & 0xf0) == 0xe0)
		need = 2, cp = c & 0x0f;
	else if ((c & 0xf8) == 0xf0)
		need = 3, cp = c & 0x07;
	else
		return 0xfffd;
	if (n < need + 1)
		return 0xfffd;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0xfffd;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	*len = need + 1;
	return cp;
}

/* ---- compiling a pattern ---- */

static void add_tok(struct pat *p, size_t *cap, int type)
{
	if (p->nt == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		p->t = xreallocarray(p->t, *cap, sizeof(*p->t));
	}
	memset(&p->t[p->nt], 0, sizeof(p->t[0]));
	p->t[p->nt++].type = type;
}

/* Parses one class item char at s[*i] (handling '\'); -1 on syntax error. */
static long class_char(const char *s, size_t n, size_t *i)
{
	unsigned cp;
	size_t l;

	if (*i >= n)
		return -1;
	if (s[*i] == '\\') {
		if (++*i >= n)
			return -1;
	} else if (s[*i] == '-' || s[*i] == ']') {
		return -1;
	}
	cp = utf8_next((const unsigned char *)s + *i, n - *i, &l);
	*i += l;
	return cp;
}

/* Builds p from the cleaned pattern p->s; returns 0 or -1 (syntax error). */
static int compile_pat(struct pat *p)
{
	const char *s = p->s;
	size_t n = p->slen, i = 0, cap = 0, rcap = 0, nr = 0, litlen = 0, tokno = 0;
	int type = PAT_EXACT;

	p->lit = xmalloc(n + 1);
	while (i < n) {
		char ch = s[i++];

		if (ch == '*') {
			if (i < n && s[i] == '*') {
				i++;
				if (i < n && s[i] == '/')
					i++;
				if (i == n) {
					if (type == PAT_EXACT) {
						type = PAT_PREFIX;
					} else {
						add_tok(p, &cap, TOK_ANY);
						type = PAT_GLOB;
					}
				} else {
					add_tok(p, &cap, TOK_DSTAR);
					type = PAT_GLOB;
				}
				if (tokno == 0)
					type = PAT_SUFFIX;
			} else {
				add_tok(p, &cap, TOK_STAR);
				type = PAT_GLOB;
			}
		} else if (ch == '?') {
			add_tok(p, &cap, TOK_QM);
			type = PAT_GLOB;
		} else if (ch == '[') {
			size_t first = nr;

			add_tok(p, &cap, TOK_CLASS);
			type = PAT_GLOB;
			if (i < n && s[i] == '^') {
				p->t[p->nt - 1].neg = 1;
				i++;
			}
			for (;;) {
				long lo, hi;

				if (i >= n)
					return -1; /* unterminated */
				if (s[i] == ']' && nr > first) {
					i++;
					break;
				}
				if ((lo = class_char(s, n, &i)) < 0)
					return -1;
				hi = lo;
				if (i < n && s[i] == '-') {
					i++;
					if ((hi = class_char(s, n, &i)) < 0 || hi < lo)
						return -1;
				}
				if (nr + 1 >= rcap) {
					rcap = rcap ? rcap * 2 : 8;
					p->ranges = xreallocarray(p->ranges, rcap * 2, sizeof(unsigned));
				}
				p->ranges[2 * nr] = (unsigned)lo;
				p->ranges[2 * nr + 1] = (unsigned)hi;
				nr++;
			}
			p->t[p->nt - 1].off = first;
			p->t[p->nt - 1].len = nr - first;
		} else {
			if (ch == '\\') {
				if (i >= n)
					return -1; /* filepath.Match: trailing backslash */
				ch = s[i++];
				type = PAT_GLOB;
			} else if (ch == ']') {
				type = PAT_GLOB;
			}
			if (p->nt == 0 || p->t[p->nt - 1].type != TOK_LIT) {
				add_tok(p, &cap, TOK_LIT);
				p->t[p->nt - 1].off = litlen;
			}
			p->lit[litlen++] = ch;
			p->t[p->nt - 1].len++;
		}
		tokno++;
	}
	p->type = type;
	return 0;
}

/* ---- matching ---- */

static int class_has(const struct pat *p, const struct tok *t, unsigned cp)
{
	size_t k;
	int in = 0;

	for (k = t->off; k < t->off + t->len && !in; k++)
		in = cp >= p->ranges[2 * k] && cp <= p->ranges[2 * k + 1];
	return in != t->neg;
}

/* A match in progress: the pattern, the subject, and which (token, offset)
 * states are known to fail. Without that memo a pattern with k wildcards
 * backtracks O(n^k) times ("**********c" against a long path hangs); with it
 * every state is tried once, O(tokens x n^2) at worst. */
struct glob {
	const struct pat *p;
	const char *s;
	size_t n;
	int partial;        /* reaching the end of s is a success (some continuation might match) */
	unsigned char *dead; /* bit (ti * (n + 1) + si): glob_at(ti, si) fails; NULL: no memo needed */
};

static int glob_at(struct glob *g, size_t ti, size_t si);

/* glob_at without the memo: matches tokens from ti against s[si..n). */
static int glob_try(struct glob *g, size_t ti, size_t si)
{
	const struct pat *p = g->p;
	const char *s = g->s;
	size_t n = g->n;
	int partial = g->partial;

	while (ti < p->nt) {
		const struct tok *t = &p->t[ti];
		size_t j, l;

		if (si == n && partial)
			return 1;
		switch (t->type) {
		case TOK_LIT:
			for (j = 0; j < t->len; j++) {
				if (si + j == n)
					return partial;
				if (s[si + j] != p->lit[t->off + j])
					return 0;
			}
			si += t->len;
			break;
		case TOK_QM:
			if (si == n || s[si] == '/')
				return 0;
			utf8_next((const unsigned char *)s + si, n - si, &l);
			si += l;
			break;
		case TOK_CLASS:
			if (si == n)
				return 0;
			if (!class_has(p, t, utf8_next((const unsigned char *)s + si, n - si, &l)))
				return 0;
			si += l;
			break;
		case TOK_STAR:
			for (j = si;; j++) {
				if (glob_at(g, ti + 1, j))
					return 1;
				if (j == n || s[j] == '/')
					return 0;
			}
		case TOK_DSTAR: /* nothing, or anything up to and including a '/' */
			if (glob_at(g, ti + 1, si))
				return 1;
			for (j = si; j < n && s[j] != '\n'; j++)
				if (s[j] == '/' && glob_at(g, ti + 1, j + 1))
					return 1;
			return partial && j == n;
		case TOK_ANY: /* .* at the end */
			return memchr(s + si, '\n', n - si) == NULL;
		}
		ti++;
	}
	return si == n;
}

static int glob_at(struct glob *g, size_t ti, size_t si)
{
	size_t bit = ti * (g->n + 1) + si;

	if (g->dead && (g->dead[bit / 8] >> (bit % 8) & 1))
		return 0;
	if (glob_try(g, ti, si))
		return 1;
	if (g->dead)
		g->dead[bit / 8] |= (unsigned char)(1u << (bit % 8));
	return 0;
}

/* Matches the whole glob pattern p against s[0..n). */
static int glob_match(const struct pat *p, const char *s, size_t n, int partial)
{
	struct glob g = {p, s, n, partial, NULL};
	unsigned char small[512];
	size_t i, stars = 0, bytes;
	int r;

	for (i = 0; i < p->nt; i++)
		stars += p->t[i].type == TOK_STAR || p->t[i].type == TOK_DSTAR;
	if (stars < 2) /* one wildcard backtracks at most n times: no memo */
		return glob_try(&g, 0, 0);
	bytes = ((p->nt + 1) * (n + 1) + 7) / 8;
	g.dead = bytes <= sizeof(small) ? small : xmalloc(bytes);
	memset(g.dead, 0, bytes);
	r = glob_try(&g, 0, 0);
	if (g.dead != small)
		free(g.dead);
	return r;
}

static int pat_match(const struct pat *p, const char *s, size_t n)
{
	switch (p->type) {
	case PAT_EXACT:
		return n == p->slen && memcmp(s, p->s, n) == 0;
	case PAT_PREFIX:
		return n >= p->slen - 2 && memcmp(s, p->s, p->slen - 2) == 0;
	case PAT_SUFFIX: {
		const char *suf = p->s + 2;
		size_t sl = p->slen - 2;

		if (n >= sl && memcmp(s + n - sl, suf, sl) == 0)
			return 1;
		return sl > 0 && suf[0] == '/' && n == sl - 1 && memcmp(s, suf + 1, n) == 0;
	}
	default:
		return glob_match(p, s, n, 0);
	}
}

/* The pattern applies to path (length n) or one of its parent directories. */
static int pat_applies(const struct pat *p, const char *path, size_t n)
{
	size_t i;

	if (pat_match(p, path, n))
		return 1;
	for (i = 0; i < n; i++)
		if (path[i] == '/' && pat_match(p, path, i))
			return 1;
	return 0;
}

/* Could p match some path that starts with prefix (which ends in '/')? */
static int pat_may_match_under(const struct pat *p, const char *prefix, size_t n)
{
	size_t l;

	switch (p->type) {
	case PAT_EXACT:
		return p->slen > n && memcmp(p->s, prefix, n) == 0;
	case PAT_PREFIX:
		l = p->slen - 2;
		return memcmp(p->s, prefix, l < n ? l : n) == 0;
	case PAT_SUFFIX:
		return 1;
	default:
		return glob_match(p, prefix, n, 1);
	}
}

/* ---- building ---- */

static void pats_free(struct pat *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].s);
		free(v[i].t);
		free(v[i].lit);
		free(v[i].ranges);
	}
	free(v);
}

/* Adds a ReadAll-normalised line; returns 0 or -1 with *err. */
static int add_pattern(struct ignore *ig, size_t *cap, const char *norm, const char *where, char **err)
{
	char *orig = xstrdup(norm), *t = trim(orig), *c;
	struct pat p = {0};

	/* patternmatcher.New: trim, Clean, then '!' */
	if (*t == 0) {
		free(orig);
		return 0;
	}
	c = clean_path(t);
	free(orig);
	if (c[0] == '!') {
		if (c[1] == 0) {
			*err = xasprintf("%s: illegal exclusion pattern: \"!\"", where);
			free(c);
			return -1;
		}
		p.excl = 1;
		memmove(c, c + 1, strlen(c));
	}
	p.s = c;
	p.slen = strlen(c);
	if (compile_pat(&p) < 0) {
		*err = xasprintf("%s: syntax error in pattern '%s%s'", where, p.excl ? "!" : "", c);
		free(p.s);
		free(p.t);
		free(p.lit);
		free(p.ranges);
		return -1;
	}
	if (ig->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		ig->p = xreallocarray(ig->p, *cap, sizeof(*ig->p));
	}
	ig->p[ig->n++] = p;
	ig->nexcl += p.excl;
	return 0;
}

static struct ignore *build(const char *file, const char *text, char **extra, size_t nextra, char **err)
{
	struct ignore *ig = xcalloc(1, sizeof(*ig));
	size_t cap = 0, i, lineno = 0;
	char *dummy = NULL;

	if (!err)
		err = &dummy;
	if (text) {
		const char *p = text, *e;

		if (strncmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3;
		for (; *p; p = *e ? e + 1 : e) {
			char *line, *norm, *where;
			size_t l;
			int rc;

			e = strchr(p, '\n');
			if (!e)
				e = p + strlen(p);
			lineno++;
			if (*p == '#')
				continue;
			l = (size_t)(e - p);
			if (l > 0 && p[l - 1] == '\r')
				l--;
			line = xstrndup(p, l);
			norm = normalize_line(line);
			free(line);
			if (!norm)
				continue;
			where = xasprintf("%s:%zu", file, lineno);
			rc = add_pattern(ig, &cap, norm, where, err);
			free(where);
			free(norm);
			if (rc < 0)
				goto fail;
		}
	}
	for (i = 0; i < nextra; i++) {
		char *norm = normalize_line(extra[i]), *where;
		int rc;

		if (!norm)
			continue;
		where = xasprintf("ignore pattern %zu", i + 1);
		rc = add_pattern(ig, &cap, norm, where, err);
		free(where);
		free(norm);
		if (rc < 0)
			goto fail;
	}
	return ig;
fail:
	ignore_free(ig);
	if (err == &dummy)
		free(dummy);
	return NULL;
}

struct ignore *ignore_load(const char *context, char **extra, size_t nextra, char **err)
{
	char *path = path_join(context, ".dockerignore");
	char *text = read_file(path, NULL);
	struct ignore *ig;

	if (!text && errno != ENOENT && errno != ENOTDIR) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	ig = build(path, text, extra, nextra, err);
	free(text);
	free(path);
	return ig;
}

struct ignore *ignore_new(char **patterns, size_t n)
{
	char *err = NULL;
	struct ignore *ig = build("patterns", NULL, patterns, n, &err);

	if (!ig) {
		warn("%s", err);
		free(err);
		ig = xcalloc(1, sizeof(*ig));
	}
	return ig;
}

void ignore_free(struct ignore *ig)
{
	if (!ig)
		return;
	pats_free(ig->p, ig->n);
	free(ig);
}

char *ignore_rules(const struct ignore *ig, size_t *len)
{
	struct buf b = {0};
	size_t i;

	buf_adds(&b, "");
	for (i = 0; ig && i < ig->n; i++) {
		/* the cleaned pattern decides everything compile_pat derives */
		buf_addc(&b, ig->p[i].excl ? '!' : '+');
		buf_add(&b, ig->p[i].s, ig->p[i].slen + 1); /* with the NUL */
	}
	*len = b.len;
	return buf_take(&b);
}

int ignore_match(const struct ignore *ig, const char *relpath, int isdir)
{
	size_t n, i;

	(void)isdir; /* Docker does not tell files from directories */
	if (!ig || ig->n == 0 || !relpath || !*relpath || strcmp(relpath, ".") == 0)
		return 0;
	n = strlen(relpath);
	/* the last pattern that applies decides (equivalent to patternmatcher's
	 * forward loop that skips patterns of the current state) */
	for (i = ig->n; i-- > 0;)
		if (pat_applies(&ig->p[i], relpath, n))
			return !ig->p[i].excl;
	return 0;
}

int ignore_may_reinclude(const struct ignore *ig, const char *reldir)
{
	char *prefix;
	size_t i, n;
	int may = 0;

	if (!ig || ig->nexcl == 0)
		return 0;
	if (!reldir || !*reldir || strcmp(reldir, ".") == 0)
		return 1;
	prefix = xasprintf("%s/", reldir);
	n = strlen(prefix);
	for (i = 0; i < ig->n && !may; i++)
		may = ig->p[i].excl && pat_may_match_under(&ig->p[i], prefix, n);
	free(prefix);
	return may;
}
