/* tests/unit/ignore.c - .dockerignore semantics (engine/ignore.c): the cases
 * from Docker's documentation, moby/patternmatcher's own expectations, and the
 * edge cases (cleaning, escapes, '**', parent exclusion, re-includes, syntax
 * errors, the walker's may-reinclude question). Prints TAP-like lines; exits
 * nonzero on any failure. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graphbuild/hash.h"
#include "graphbuild/util.h"

#include "tap.h"



/* patterns separated by '\n'; path; expected exclusion */
static void match_case(const char *pats, const char *path, int want, int line)
{
	char *copy = xstrdup(pats), *save = NULL, *tok, *v[32], name[512];
	size_t n = 0;
	struct ignore *ig;
	int got;

	for (tok = strtok_r(copy, "\n", &save); tok && n < LEN(v); tok = strtok_r(NULL, "\n", &save))
		v[n++] = tok;
	ig = ignore_new(v, n);
	got = ignore_match(ig, path, 0);
	snprintf(name, sizeof(name), "[%s] %s %s", pats, path, want ? "excluded" : "included");
	for (char *p = name; *p; p++)
		if (*p == '\n')
			*p = ' ';
	check(got == want, name, line);
	ignore_free(ig);
	free(copy);
}
#define M(p, path, want) match_case(p, path, want, __LINE__)

static void reinc_case(const char *pats, const char *dir, int want, int line)
{
	char *copy = xstrdup(pats), *save = NULL, *tok, *v[32], name[512];
	size_t n = 0;
	struct ignore *ig;

	for (tok = strtok_r(copy, "\n", &save); tok && n < LEN(v); tok = strtok_r(NULL, "\n", &save))
		v[n++] = tok;
	ig = ignore_new(v, n);
	snprintf(name, sizeof(name), "may_reinclude [%s] %s = %d", pats, dir, want);
	for (char *p = name; *p; p++)
		if (*p == '\n')
			*p = ' ';
	check(ignore_may_reinclude(ig, dir) == want, name, line);
	ignore_free(ig);
	free(copy);
}
#define R(p, dir, want) reinc_case(p, dir, want, __LINE__)

/* Loads a .dockerignore with the given text; returns the matcher or NULL, *err */
static struct ignore *load_text(const char *dir, const char *text, char **extra, size_t nextra, char **err)
{
	char *p = path_join(dir, ".dockerignore");
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	free(p);
	*err = NULL;
	return ignore_load(dir, extra, nextra, err);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/gb-ignore-XXXXXX", *dir, *err;
	struct ignore *ig;

	(void)argc;
	argv0 = argv[0];

	/* Docker documentation examples */
	M("*/temp*", "somedir/temporary.txt", 1);
	M("*/temp*", "somedir/temp", 1);
	M("*/temp*", "temporary.txt", 0);
	M("*/temp*", "a/b/temp", 0);
	M("*/*/temp*", "somedir/subdir/temporary.txt", 1);
	M("*/*/temp*", "somedir/temporary.txt", 0);
	M("temp?", "tempa", 1);
	M("temp?", "tempb", 1);
	M("temp?", "temp", 0);
	M("temp?", "tempab", 0);
	M("temp?", "temp/", 0);
	M("**/*.go", "main.go", 1);
	M("**/*.go", "a/b/c/x.go", 1);
	M("**/*.go", "a/b/c/x.gox", 0);
	M("*.md\n!README.md", "README.md", 0);
	M("*.md\n!README.md", "CHANGES.md", 1);
	M("*.md\n!README.md", "docs/x.md", 0); /* *.md is root-only */
	M("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", 1);
	M("*.md\n!README*.md\nREADME-secret.md", "README-public.md", 0);
	M("*.md\n!README*.md\nREADME-secret.md", "other.md", 1);
	M("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", 0);
	M("*.md\nREADME-secret.md\n!README*.md", "other.md", 1);
	M("*\n!src", "src/a/b.c", 0);
	M("*\n!src", "Makefile", 1);
	M("/foo/bar", "foo/bar", 1);
	M("foo/bar", "foo/bar/baz", 1);
	M("foo/bar", "bar", 0);
	M("foo/bar", "x/foo/bar", 0);

	/* cleaning */
	M("dir/", "dir", 1);
	M("dir/", "dir/file", 1);
	M("dir/", "dirx", 0);
	M("dir/", "x/dir", 0);
	M("/dir", "dir/a", 1);
	M("./dir//sub/", "dir/sub/x", 1);
	M("a/../b", "b", 1);
	M("a/../b", "a/b", 0);
	M("  spaced.txt  ", "spaced.txt", 1);
	M("! keep.txt\n*.txt\n!keep.txt", "keep.txt", 0);
	M("!/x\n*", "x", 1);

	/* '**' */
	M("**/x", "x", 1);
	M("**/x", "a/x", 1);
	M("**/x", "a/b/x", 1);
	M("**/x", "a/b/x/y", 1);
	M("**/x", "ax", 0);
	M("**/x", "a/bx", 0);
	M("a/**/b", "a/b", 1);
	M("a/**/b", "a/x/b", 1);
	M("a/**/b", "a/x/y/b", 1);
	M("a/**/b", "a/x/y/bb", 0);
	M("a/**/b", "ab", 0);
	M("a/**", "a/x", 1);
	M("a/**", "a/x/y", 1);
	M("a/**", "a", 0);
	M("a/**", "ab", 0);
	M("**", "anything/at/all", 1);
	M("**", "x", 1);
	M("**/", "x", 1);
	M("**foo", "barfoo", 1); /* patternmatcher's suffix quirk */
	M("**/*.pyc", "a/b/c.pyc", 1);
	M("**/__pycache__", "backend/app/__pycache__/m.cpython-311.pyc", 1);
	M("a*/**", "ab/c", 1);
	M("a*/**", "ab", 0);
	M("**/a/**/*.c", "a/x.c", 1);
	M("**/a/**/*.c", "z/a/y/x.c", 1);
	M("**/a/**/*.c", "z/a/y/x.h", 0);

	/* '*' and '?' do not cross '/' */
	M("*", "a", 1);
	M("*", "a/b", 1); /* parent matches */
	M("a*", "abc", 1);
	M("a*", "b/abc", 0);
	M("a?c", "a/c", 0);
	M("*.txt", "dir/a.txt", 0);

	/* classes */
	M("[abc].txt", "b.txt", 1);
	M("[abc].txt", "d.txt", 0);
	M("[a-c]x", "bx", 1);
	M("[^a-c]x", "dx", 1);
	M("[^a-c]x", "ax", 0);
	M("[!a]x", "!x", 1); /* '!' is a member in Go regex, not a negation */
	M("[!a]x", "bx", 0);
	M("[\\]]", "]", 1);
	M("é?", "éx", 1);
	M("?", "é", 1);

	/* escapes */
	M("\\*", "*", 1);
	M("\\*", "a", 0);
	M("a\\?b", "a?b", 1);
	M("a\\?b", "axb", 0);
	M("\\!important", "!important", 1);
	M("*\n\\!important", "x", 1);
	M("\\#notcomment", "#notcomment", 1);
	M("file.txt", "fileXtxt", 0); /* '.' is literal */
	M("a+b(c)", "a+b(c)", 1);
	M("a$b", "a$b", 1);
	M("x*{y}", "xx{y}", 1);

	/* last match wins; parent exclusion; re-include inside an excluded dir */
	M("*\n!x", "x", 0);
	M("*\n!x", "y", 1);
	M("!x\n*", "x", 1);
	M("node_modules", "node_modules/a/b/c.js", 1);
	M("build\n!build/keep", "build/keep", 0);
	M("build\n!build/keep", "build/keep/sub/f", 0);
	M("build\n!build/keep", "build/other", 1);
	M("build\n!**/keep", "build/x/keep", 0);
	M("build\n!build/keep\nbuild", "build/keep", 1);
	M("a/b\n!a", "a/b/c", 0); /* the later !a applies through the parent a */
	M("!a\na/b", "a/b/c", 1);
	M("a\n!a/b\na/b/c", "a/b/c/d", 1);
	M("a\n!a/b\na/b/c", "a/b/d", 0);
	M("", "x", 0);
	M("# comment only\n", "# comment only", 1); /* comments exist only in files */

	/* may_reinclude */
	R("build", "build", 0);
	R("build\n!build/keep", "build", 1);
	R("build\n!build/keep", "other", 0);
	R("build\n!build/keep", "build/keep", 0);
	R("build\n!build/keep/x", "build/keep", 1);
	R("build\n!**/keep", "build", 1);
	R("build\n!*/keep", "build", 1);
	R("build\n!*/keep", "build/x", 0);
	R("build\n!b*/**/k", "build/x/y", 1);
	R("build\n!bu?ld/k", "build", 1);
	R("build\n!bu?ld/k", "bxild2", 0);
	R("a\n!a/**", "a", 1);
	R("a\n!b/**", "a", 0);
	R("a\n!a**", "a", 1);
	R("x\n!y", ".", 1);

	/* files */
	dir = mkdtemp(tmpl);
	ig = load_text(dir, "\xef\xbb\xbf# comment\n\n  *.log  \r\n!keep.log\n #notacomment\n", NULL, 0, &err);
	check(ig != NULL, "load .dockerignore", __LINE__);
	if (ig) {
		check(ignore_match(ig, "a.log", 0) == 1, "file: *.log", __LINE__);
		check(ignore_match(ig, "keep.log", 0) == 0, "file: !keep.log", __LINE__);
		check(ignore_match(ig, "#notacomment", 0) == 1, "file: ' #x' is a pattern", __LINE__);
		check(ignore_match(ig, "# comment", 0) == 0, "file: '#' in column 1 is a comment", __LINE__);
		ignore_free(ig);
	}
	{
		char *extra[] = {"keep.log", "!*.tmp"};

		ig = load_text(dir, "*.tmp\n", extra, 2, &err);
		check(ig && ignore_match(ig, "keep.log", 0) == 1, "extra patterns apply", __LINE__);
		check(ig && ignore_match(ig, "a.tmp", 0) == 0, "extra patterns come after the file", __LINE__);
		ignore_free(ig);
	}
	ig = load_text(dir, "ok\n!\n", NULL, 0, &err);
	check(!ig && err && strstr(err, ".dockerignore:2") && strstr(err, "illegal exclusion"),
	      "lone ! is an error naming the line", __LINE__);
	free(err);
	ig = load_text(dir, "a[b\n", NULL, 0, &err);
	check(!ig && err && strstr(err, "syntax error in pattern 'a[b'"), "unterminated [ is an error", __LINE__);
	free(err);
	ig = load_text(dir, "[z-a]\n", NULL, 0, &err);
	check(!ig && err, "reversed range is an error", __LINE__);
	free(err);
	ig = load_text(dir, "[]a]\n", NULL, 0, &err);
	check(!ig && err, "class starting with ] is an error", __LINE__);
	free(err);
	ig = load_text(dir, "ab\\\n", NULL, 0, &err);
	check(!ig && err, "trailing backslash is an error", __LINE__);
	free(err);
	{
		char *p = path_join(dir, ".dockerignore");

		unlink(p);
		free(p);
		ig = ignore_load(dir, NULL, 0, &err);
		check(ig && ignore_match(ig, "x", 0) == 0, "no .dockerignore: nothing excluded", __LINE__);
		ignore_free(ig);
		p = path_join(dir, ".dockerignore");
		mkdir(p, 0755);
		err = NULL;
		ig = ignore_load(dir, NULL, 0, &err);
		check(!ig && err && strstr(err, "cannot read"), "unreadable .dockerignore is an error", __LINE__);
		free(err);
		rmdir(p);
		free(p);
	}
	/* many wildcards against a long near-miss: backtracking is O(n^k)
	 * (the fuzzer's "***********c" hung for minutes); with each (token,
	 * offset) state tried once it is immediate. SIGALRM turns a hang into a
	 * failure instead of a stuck run. */
	alarm(60);
	M("*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac", 0);
	M("*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 1);
	M("**/a/**/a/**/a/**/a/**/a/**/b", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/c", 0);
	M("**/a/**/a/**/a/**/a/**/a/**/b", "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/b", 1);
	R("!*a*a*a*a*a*a*a*a*a*a*b/x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac/", 0);
	alarm(0);
	check(ignore_match(NULL, "x", 0) == 0 && ignore_may_reinclude(NULL, "x") == 0, "NULL matcher", __LINE__);
	/* ignore_rules: equal for matchers that exclude alike (hash.c shares a walk) */
	{
		char *p1[] = {"./a/", "!a/keep", "*.log"}, *p2[] = {"a", "!a/keep", "*.log"},
		     *p3[] = {"a", "a/keep", "*.log"}, *p4[] = {"*.log", "!a/keep", "a"};
		struct ignore *i1 = ignore_new(p1, 3), *i2 = ignore_new(p2, 3), *i3 = ignore_new(p3, 3),
		              *i4 = ignore_new(p4, 3), *i0 = ignore_new(NULL, 0);
		size_t l1, l2, l3, l4, l0, ln;
		char *r1 = ignore_rules(i1, &l1), *r2 = ignore_rules(i2, &l2), *r3 = ignore_rules(i3, &l3),
		     *r4 = ignore_rules(i4, &l4), *r0 = ignore_rules(i0, &l0), *rn = ignore_rules(NULL, &ln);

		check(l1 == l2 && memcmp(r1, r2, l1) == 0, "ignore_rules: cleaned patterns compare equal", __LINE__);
		check(l3 != l1 || memcmp(r1, r3, l1) != 0, "ignore_rules: '!' makes a difference", __LINE__);
		check(l4 != l1 || memcmp(r1, r4, l1) != 0, "ignore_rules: so does the order", __LINE__);
		check(l0 == 0 && ln == 0, "ignore_rules: no patterns and NULL are both empty", __LINE__);
		free(r1);
		free(r2);
		free(r3);
		free(r4);
		free(r0);
		free(rn);
		ignore_free(i1);
		ignore_free(i2);
		ignore_free(i3);
		ignore_free(i4);
		ignore_free(i0);
	}
	rmdir(dir);

	return tap_done();
}
