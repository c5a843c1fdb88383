/* tests/unit/hash.c - file selection, hashing and the stat cache
 * (engine/hash.c): builds contexts in a temp directory, selects with ignore
 * rules, checks entries, errors, cache behaviour (hits, racily clean files,
 * corrupt cache files) and that the loop closes cleanly. Prints TAP-like
 * lines; exits nonzero on any failure.
 *
 * `test_hash --bench DIR [--cache FILE]` instead selects all of DIR, waits,
 * saves the cache and prints one line: files, bytes, wall ms, stat/hash
 * counters and peak RSS (used by bench/plan-hash.sh). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <xxhash.h>

#include "graphbuild/hash.h"
#include "graphbuild/util.h"

#include "tap.h"

static char root[PATH_MAX];


static void check_has(const char *name, const char *hay, const char *needle, int line)
{
	int ok = hay && strstr(hay, needle);

	check(ok, name, line);
	if (!ok)
		printf("#   got:  %s\n#   want to contain: %s\n", hay ? hay : "(null)", needle);
}
#define HAS(name, hay, needle) check_has(name, hay, needle, __LINE__)

static char *at(const char *rel)
{
	return path_join(root, rel);
}

/* Writes root/rel (creating directories) with mtime 100 s in the past, so the
 * racily-clean guard does not apply. */
static void put(const char *rel, const char *text)
{
	char *p = at(rel), *slash = strrchr(p, '/');
	struct timespec ts[2];
	FILE *f;

	*slash = 0;
	mkdirs(p, 0755);
	*slash = '/';
	f = fopen(p, "w");
	if (!f)
		fatal("fopen %s:", p);
	fputs(text, f);
	fclose(f);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 100;
	ts[1] = ts[0];
	utimensat(AT_FDCWD, p, ts, 0);
	free(p);
}

static void set_mtime(const char *rel, time_t ago)
{
	char *p = at(rel);
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	utimensat(AT_FDCWD, p, ts, 0);
	free(p);
}

static void link_at(const char *target, const char *rel)
{
	char *p = at(rel);

	if (symlink(target, p) < 0)
		fatal("symlink %s:", p);
	free(p);
}

static int eqhash(const unsigned char *h, const char *content)
{
	unsigned char want[16];

	hash_buffer(content, strlen(content), want);
	return memcmp(h, want, 16) == 0;
}

static const struct file_entry *find(const struct selection *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	return NULL;
}

static char *paths(const struct selection *s)
{
	struct buf b = {0};
	size_t i;

	buf_adds(&b, "");
	for (i = 0; i < s->n; i++)
		buf_printf(&b, "%s%s", i ? " " : "", s->v[i].path);
	return buf_take(&b);
}

/* One full selection of source with a fresh hasher on loop. */
struct run {
	struct selection sel;
	uint64_t nstat, nhashed, bytes;
	int rc;
	char *err;
};

static void run_select(struct run *r, const char *cache, struct ignore *ig, const char *source)
{
	uv_loop_t loop;
	struct hasher *h;

	memset(r, 0, sizeof(*r));
	uv_loop_init(&loop);
	h = hasher_new(&loop, cache);
	r->rc = hasher_select(h, root, ig, source, &r->sel, &r->err);
	if (r->rc == 0)
		r->rc = hasher_wait(h, &r->err);
	else {
		char *e2 = NULL;

		if (hasher_wait(h, &e2) < 0)
			free(e2);
	}
	hasher_stats(h, &r->nstat, &r->nhashed, &r->bytes);
	if (r->rc == 0)
		hasher_save(h);
	hasher_free(h);
	if (uv_loop_close(&loop) != 0)
		check(0, "loop closes after hasher_free", __LINE__);
}

static void run_free(struct run *r)
{
	selection_free(&r->sel);
	free(r->err);
}

/* Captures stderr into a string while fn runs. */
static char *stderr_of(void (*fn)(void *), void *arg)
{
	char tmpl[] = "/tmp/gb-hash-err-XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(2);
	char *out;

	fflush(stderr);
	dup2(fd, 2);
	fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	out = read_file(tmpl, NULL);
	unlink(tmpl);
	return out;
}

struct cache_run {
	struct run r;
	const char *cache;
};

static void do_cache_run(void *arg)
{
	struct cache_run *c = arg;

	run_select(&c->r, c->cache, NULL, "cache");
}

static void test_basics(void)
{
	unsigned char h[16];
	char hex[33];
	struct run r;
	struct ignore *ig;
	const struct file_entry *e;
	char *s, *err = NULL;
	char *extra[] = {"**/__pycache__"};

	hash_buffer("abc", 3, h);
	hex_encode(h, 16, hex);
	T("hash_buffer is XXH3-128, canonical (= xxhsum -H2)", strcmp(hex, "06b05ab6733a618578af5f94892f3950") == 0);
	hash_buffer("", 0, h);
	hex_encode(h, 16, hex);
	T("hash_buffer of nothing", strcmp(hex, "99aa06d3014798d86001c324468d497f") == 0);

	put(".dockerignore", "**/*.log\nnode_modules\n!node_modules/keep.js\n");
	put("a.txt", "alpha\n");
	put("b/c.txt", "charlie\n");
	put("b/d.log", "log\n");
	put("b/__pycache__/m.pyc", "pyc");
	put("node_modules/x.js", "x");
	put("node_modules/keep.js", "keep");
	put("node_modules/deep/y.js", "y");
	put("sort/a.txt", "1");
	put("sort/a/b", "2");
	put("sort/a-b", "3");
	put("sort/a0", "4");
	link_at("a.txt", "sort/link");
	link_at("../b", "sort/dirlink");

	ig = ignore_load(root, extra, 1, &err);
	T("ignore_load", ig != NULL);
	run_select(&r, NULL, ig, ".");
	s = paths(&r.sel);
	T("select . with ignore rules", r.rc == 0);
	HAS("selected paths, sorted, ignored ones left out", s,
	    ".dockerignore a.txt b/c.txt node_modules/keep.js sort/a-b sort/a.txt sort/a/b sort/a0 sort/dirlink sort/link");
	T("exactly those", r.sel.n == 10);
	free(s);
	e = find(&r.sel, "a.txt");
	T("content hash", e && eqhash(e->hash, "alpha\n") && e->size == 6 && S_ISREG(e->mode) && !e->link);
	T("mode keeps permission bits", e && (e->mode & 0777) == 0644);
	e = find(&r.sel, "sort/link");
	T("symlink kept, not followed", e && S_ISLNK(e->mode) && e->link && strcmp(e->link, "a.txt") == 0);
	T("symlink hash is the target's", e && eqhash(e->hash, "a.txt"));
	e = find(&r.sel, "sort/dirlink");
	T("symlink to a dir is an entry", e && S_ISLNK(e->mode) && strcmp(e->link, "../b") == 0);
	T("bytes counts regular files", r.sel.bytes > 0 && r.nhashed == 8);
	run_free(&r);

	run_select(&r, NULL, ig, "b/");
	s = paths(&r.sel);
	T("select a subdirectory", r.rc == 0 && strcmp(s, "b/c.txt") == 0);
	free(s);
	run_free(&r);

	run_select(&r, NULL, ig, "./node_modules");
	s = paths(&r.sel);
	T("an excluded dir with a re-include is walked", r.rc == 0 && strcmp(s, "node_modules/keep.js") == 0);
	free(s);
	run_free(&r);

	run_select(&r, NULL, ig, "b/d.log");
	HAS("an excluded file source is not found", r.err, "copy source 'b/d.log' not found in context");
	run_free(&r);

	run_select(&r, NULL, NULL, "b/d.log");
	T("without ignore rules it is selected", r.rc == 0 && r.sel.n == 1);
	run_free(&r);

	run_select(&r, NULL, ig, "backend/x.txt");
	{
		char *want = xasprintf("copy source 'backend/x.txt' not found in context %s", root);

		T("missing source", r.rc < 0 && r.err && strcmp(r.err, want) == 0);
		if (r.err && strcmp(r.err, want))
			printf("#   got: %s\n", r.err);
		free(want);
	}
	run_free(&r);

	run_select(&r, NULL, ig, "a.txt/x");
	HAS("a path through a file is not found", r.err, "copy source 'a.txt/x' not found");
	run_free(&r);

	run_select(&r, NULL, ig, "../etc");
	HAS("a source outside the context", r.err, "outside the context");
	run_free(&r);

	link_at("loop2", "loop1");
	link_at("loop1", "loop2");
	run_select(&r, NULL, ig, "loop1");
	HAS("symlink loop", r.err, "symlink loop at 'loop1'");
	run_free(&r);

	link_at("sort", "sortlink");
	run_select(&r, NULL, ig, "sortlink");
	s = paths(&r.sel);
	T("a top-level symlink source is followed", r.rc == 0 && strncmp(s, "sortlink/a-b sortlink/a.txt", 27) == 0);
	free(s);
	run_free(&r);

	link_at("/proc/self/mem", "mem");
	run_select(&r, NULL, NULL, "mem");
	HAS("a link leaving the context is refused at select", r.err, "'mem' is a symlink to '/proc/self/mem', a path outside the context");
	run_free(&r);

	/* two selections into one: sorted, unique */
	{
		uv_loop_t loop;
		struct hasher *hs;
		struct selection sel = {0};
		char *e2 = NULL;
		int rc;

		uv_loop_init(&loop);
		hs = hasher_new(&loop, NULL);
		rc = hasher_select(hs, root, ig, "sort", &sel, &e2);
		rc |= hasher_select(hs, root, ig, "a.txt", &sel, &e2);
		rc |= hasher_select(hs, root, ig, "sort/a0", &sel, &e2);
		rc |= hasher_wait(hs, &e2);
		s = paths(&sel);
		T("several selects: sorted and unique", rc == 0 &&
		  strcmp(s, "a.txt sort/a-b sort/a.txt sort/a/b sort/a0 sort/dirlink sort/link") == 0);
		T("every hash is filled", find(&sel, "sort/a0") && eqhash(find(&sel, "sort/a0")->hash, "4") &&
		  eqhash(find(&sel, "a.txt")->hash, "alpha\n"));
		T("bytes after de-duplication", sel.bytes == 6 + 4);
		free(s);
		/* hasher_file */
		{
			unsigned char out[16];
			char *p = at("b/c.txt");

			rc = hasher_file(hs, p, out, &e2);
			rc |= hasher_wait(hs, &e2);
			T("hasher_file", rc == 0 && eqhash(out, "charlie\n"));
			free(p);
			p = at("nope");
			rc = hasher_file(hs, p, out, &e2);
			HAS("hasher_file on a missing file", rc < 0 ? e2 : NULL, "No such file");
			free(e2);
			free(p);
			/* hasher_file_beneath: rootfs inputs stay beneath their root */
			link_at("b", "blink");
			link_at("/etc", "etcdir");
			p = at("blink/c.txt");
			rc = hasher_file_beneath(hs, root, p, out, &e2);
			rc |= hasher_wait(hs, &e2);
			T("hasher_file_beneath through an inside link", rc == 0 && eqhash(out, "charlie\n"));
			free(p);
			p = at("etcdir/passwd");
			e2 = NULL;
			rc = hasher_file_beneath(hs, root, p, out, &e2);
			HAS("hasher_file_beneath refuses a link leaving the root", rc < 0 ? e2 : NULL,
			    "'etcdir' is a symlink to '/etc', a path outside the context");
			free(e2);
			free(p);
		}
		hasher_free(hs);
		T("loop closes cleanly", uv_loop_close(&loop) == 0);
		selection_free(&sel);
	}
	/* freeing with work still queued: the loop must still close */
	{
		uv_loop_t loop;
		struct hasher *hs;
		struct selection sel = {0};
		char *e2 = NULL;

		uv_loop_init(&loop);
		hs = hasher_new(&loop, NULL);
		T("select, then free without waiting", hasher_select(hs, root, ig, ".", &sel, &e2) == 0);
		hasher_free(hs);
		T("... loop closes cleanly", uv_loop_close(&loop) == 0);
		selection_free(&sel);
	}
	ignore_free(ig);
}

static void test_big(void)
{
	size_t n = 5u << 20, i;
	char *data = xmalloc(n + 1), *p = at("big/blob");
	unsigned char want[16];
	struct run r;
	FILE *f;

	for (i = 0; i < n; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	mkdirs(p, 0755);
	rmdir(p);
	f = fopen(p, "w");
	fwrite(data, 1, n, f);
	fclose(f);
	set_mtime("big/blob", 100);
	hash_buffer(data, n, want);
	run_select(&r, NULL, NULL, "big");
	T("a multi-MB file hashes like one buffer", r.rc == 0 && r.sel.n == 1 && memcmp(r.sel.v[0].hash, want, 16) == 0);
	run_free(&r);
	free(data);
	free(p);
}

static void test_cache(void)
{
	char *cache = at(".graphbuild/statcache");
	struct cache_run c = {.cache = cache};
	const struct file_entry *e;
	unsigned char h1[16];
	uint64_t total;
	char *out, *p;
	size_t len, i;

	put("cache/one", "one");
	put("cache/two", "two");
	put("cache/sub/three", "three");

	run_select(&c.r, cache, NULL, "cache");
	total = c.r.nhashed;
	T("first run hashes everything", c.r.rc == 0 && total == 3 && c.r.sel.n == 3);
	e = find(&c.r.sel, "cache/one");
	memcpy(h1, e->hash, 16);
	run_free(&c.r);
	T("cache written", access(cache, F_OK) == 0);

	run_select(&c.r, cache, NULL, "cache");
	T("second run hashes nothing", c.r.rc == 0 && c.r.nhashed == 0 && c.r.nstat == total);
	e = find(&c.r.sel, "cache/one");
	T("cached hash is the same", e && memcmp(e->hash, h1, 16) == 0 && eqhash(e->hash, "one"));
	run_free(&c.r);

	set_mtime("cache/one", 50);
	run_select(&c.r, cache, NULL, "cache");
	e = find(&c.r.sel, "cache/one");
	T("touching mtime re-hashes one file", c.r.nhashed == 1);
	T("... to the same hash", e && memcmp(e->hash, h1, 16) == 0);
	run_free(&c.r);

	put("cache/one", "ONE");
	run_select(&c.r, cache, NULL, "cache");
	e = find(&c.r.sel, "cache/one");
	T("editing content changes the hash", c.r.nhashed == 1 && e && eqhash(e->hash, "ONE"));
	run_free(&c.r);

	/* racily clean: mtime now, same second as the cache write */
	put("cache/two", "two!");
	set_mtime("cache/two", 0);
	run_select(&c.r, cache, NULL, "cache");
	T("fresh file hashed", c.r.nhashed == 1);
	run_free(&c.r);
	run_select(&c.r, cache, NULL, "cache");
	T("racily clean file is not trusted next time", c.r.nhashed == 1 && eqhash(find(&c.r.sel, "cache/two")->hash, "two!"));
	run_free(&c.r);
	set_mtime("cache/two", 100);
	run_select(&c.r, cache, NULL, "cache");
	run_free(&c.r);
	run_select(&c.r, cache, NULL, "cache");
	T("settled again", c.r.nhashed == 0);
	run_free(&c.r);

	/* corrupt caches: warn, start empty, never crash */
	{
		char *good = read_file(cache, &len);
		static const char *bad[] = {"", "garbage", "graphbuild statcache 9\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};

		for (i = 0; i < LEN(bad); i++) {
			write_file_atomic(cache, bad[i], strlen(bad[i]));
			out = stderr_of(do_cache_run, &c);
			HAS("a bad cache file is discarded with a warning", out, "discarding stat cache");
			T("... and everything is re-hashed", c.r.rc == 0 && c.r.nhashed == total);
			free(out);
			run_free(&c.r);
		}
		write_file_atomic(cache, good, len / 2);
		out = stderr_of(do_cache_run, &c);
		HAS("a truncated cache is discarded", out, "discarding stat cache");
		T("... and recovers", c.r.rc == 0 && c.r.nhashed == total);
		free(out);
		run_free(&c.r);

		/* fuzz: flip bytes, cut anywhere */
		srand(42);
		for (i = 0; i < 300; i++) {
			char *mut = xmalloc(len);
			size_t k, cut = len;

			memcpy(mut, good, len);
			for (k = 0; k < 1 + (size_t)rand() % 4; k++)
				mut[(size_t)rand() % len] ^= (char)(1 + rand() % 255);
			if (i % 3 == 0)
				cut = (size_t)rand() % len;
			if (i % 3 == 1) {
				/* re-seal: the parser itself must cope with bad records */
				uint64_t sum = XXH3_64bits(mut, len - 8);

				memcpy(mut + len - 8, &sum, 8);
			}
			write_file_atomic(cache, mut, cut);
			out = stderr_of(do_cache_run, &c);
			if (c.r.rc != 0 || (i % 3 != 1 && !eqhash(find(&c.r.sel, "cache/one")->hash, "ONE"))) {
				check(0, "fuzzed cache", __LINE__);
				free(out);
				free(mut);
				run_free(&c.r);
				break;
			}
			free(out);
			free(mut);
			run_free(&c.r);
		}
		T("300 fuzzed cache files: no crash, right hashes", i == 300);
		free(good);
	}
	p = at(".graphbuild");
	free(p);
	free(cache);
}

/* As an unprivileged user (when root): unreadable dir and file errors. */
static void test_perms(void)
{
	pid_t pid;
	int status;

	put("perm/dir/f", "f");
	put("perm/file", "secret");
	{
		char *d = at("perm/dir"), *f = at("perm/file");

		chmod(d, 0);
		chmod(f, 0);
		free(d);
		free(f);
	}
	if (geteuid() == 0) {
		chmod(root, 0755);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(3);
			struct run r;
			int bad = 0;

			run_select(&r, NULL, NULL, "perm");
			bad |= !(r.rc < 0 && r.err && strstr(r.err, "cannot read directory 'perm/dir'") &&
			         strstr(r.err, "Permission denied"));
			if (bad)
				fprintf(stderr, "dir: %s\n", r.err ? r.err : "(null)");
			run_free(&r);
			run_select(&r, NULL, NULL, "perm/file");
			bad |= !(r.rc < 0 && r.err && strstr(r.err, "cannot read") && strstr(r.err, "Permission denied"))
			       << 1;
			if (bad & 2)
				fprintf(stderr, "file: %s\n", r.err ? r.err : "(null)");
			run_free(&r);
			_exit(bad);
		}
		waitpid(pid, &status, 0);
		T("unreadable directory: error with strerror (as nobody)", WIFEXITED(status) && !(WEXITSTATUS(status) & 1));
		T("unreadable file: error with strerror (as nobody)", WIFEXITED(status) && !(WEXITSTATUS(status) & 2));
	} else {
		struct run r;

		run_select(&r, NULL, NULL, "perm");
		HAS("unreadable directory", r.err, "Permission denied");
		run_free(&r);
	}
	{
		char *d = at("perm/dir");

		chmod(d, 0755);
		free(d);
	}
}

static int bench(const char *dir, const char *cache)
{
	uv_loop_t loop;
	struct hasher *h;
	struct selection sel = {0};
	struct rusage ru;
	uint64_t t0, nstat, nhashed, bytes;
	char *err = NULL;
	int rc;

	uv_loop_init(&loop);
	t0 = now_ns();
	h = hasher_new(&loop, cache);
	rc = hasher_select(h, dir, NULL, ".", &sel, &err);
	if (rc == 0)
		rc = hasher_wait(h, &err);
	if (rc == 0)
		hasher_save(h);
	hasher_stats(h, &nstat, &nhashed, &bytes);
	hasher_free(h);
	getrusage(RUSAGE_SELF, &ru);
	if (rc) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}
	printf("files=%zu bytes=%llu ms=%.1f stat=%llu hashed=%llu hashed_bytes=%llu rss_kb=%ld\n", sel.n,
	       (unsigned long long)sel.bytes, (double)(now_ns() - t0) / 1e6, (unsigned long long)nstat,
	       (unsigned long long)nhashed, (unsigned long long)bytes, ru.ru_maxrss);
	selection_free(&sel);
	uv_loop_close(&loop);
	return 0;
}

/* 1 if a and b hold the same entries (paths, modes, sizes, hashes, links). */
static int same_sel(const struct selection *a, const struct selection *b)
{
	size_t i;

	if (a->n != b->n || a->bytes != b->bytes)
		return 0;
	for (i = 0; i < a->n; i++) {
		const struct file_entry *x = &a->v[i], *y = &b->v[i];

		if (strcmp(x->path, y->path) || x->mode != y->mode || x->size != y->size ||
		    memcmp(x->hash, y->hash, 16) || !x->link != !y->link || (x->link && strcmp(x->link, y->link)))
			return 0;
	}
	return 1;
}

/* Selects source from ctx with a hasher of its own: the reference a shared
 * walk must match. *err gets the error, if any. */
static void select_alone(const char *ctx, const struct ignore *ig, const char *source, struct selection *sel,
                         char **err)
{
	uv_loop_t loop;
	struct hasher *h;
	char *e2 = NULL;

	uv_loop_init(&loop);
	h = hasher_new(&loop, NULL);
	*err = NULL;
	if (hasher_select(h, ctx, ig, source, sel, err) < 0 && !*err)
		*err = xstrdup("(no message)");
	if (hasher_wait(h, &e2) < 0)
		free(e2);
	hasher_free(h);
	if (uv_loop_close(&loop) != 0)
		check(0, "loop closes after hasher_free", __LINE__);
}

/* Selections from one context with equal ignore rules share one walk: the
 * second costs no stat, and every result is what a walk of its own gives. */
static void test_shared_walk(void)
{
	static const char *sources[] = {".", ".", "src", "src/sub", "lnk", "lnk/sub", "node_modules",
	                                "a.txt", "missing", "src/nope", "."};
	enum { NSRC = sizeof(sources) / sizeof(sources[0]) };
	struct selection ref[NSRC], got[NSRC];
	char *referr[NSRC], *goterr[NSRC], *ctx = at("shared"), *err = NULL, *other[] = {"src/sub"};
	struct ignore *ig1, *ig2, *ig3, *igs[NSRC];
	uint64_t nstat[NSRC];
	uv_loop_t loop;
	struct hasher *h;
	size_t i;
	int ok;

	put("shared/.dockerignore", "*.log\nnode_modules\n!node_modules/keep.js\n");
	put("shared/a.txt", "a");
	put("shared/src/x.py", "x");
	put("shared/src/skip.log", "log");
	put("shared/src/sub/y.py", "y");
	put("shared/src/sub/z.log", "log");
	put("shared/node_modules/n.js", "n");
	put("shared/node_modules/keep.js", "keep");
	link_at("src", "shared/lnk");
	link_at("x.py", "shared/src/xlink");
	ig1 = ignore_load(ctx, NULL, 0, &err);
	ig2 = ignore_load(ctx, NULL, 0, &err); /* another matcher, equal rules */
	ig3 = ignore_new(other, 1);
	for (i = 0; i < NSRC; i++)
		igs[i] = i == 1 || i == 2 ? ig2 : i == NSRC - 1 ? ig3 : ig1;
	memset(ref, 0, sizeof(ref));
	memset(got, 0, sizeof(got));
	for (i = 0; i < NSRC; i++)
		select_alone(ctx, igs[i], sources[i], &ref[i], &referr[i]);

	uv_loop_init(&loop);
	h = hasher_new(&loop, NULL);
	for (i = 0; i < NSRC; i++) {
		goterr[i] = NULL;
		if (hasher_select(h, ctx, igs[i], sources[i], &got[i], &goterr[i]) < 0 && !goterr[i])
			goterr[i] = xstrdup("(no message)");
		hasher_stats(h, &nstat[i], NULL, NULL);
	}
	T("shared walk: the whole context is statted once", nstat[0] == ref[0].n && nstat[1] == nstat[0]);
	T("... a subdirectory comes from the same walk", nstat[3] == nstat[0]);
	T("... a source through a symlinked dir is walked on its own", nstat[5] > nstat[3]);
	T("... other ignore rules walk again", nstat[NSRC - 1] > nstat[NSRC - 2]);
	T("... the waits succeed", hasher_wait(h, &err) == 0);
	for (ok = 1, i = 0; i < NSRC; i++) {
		int same = !referr[i] == !goterr[i] && (!referr[i] || strcmp(referr[i], goterr[i]) == 0) &&
		           same_sel(&ref[i], &got[i]);

		if (!same) {
			printf("#   source %s differs (%s / %s)\n", sources[i], referr[i] ? referr[i] : "ok",
			       goterr[i] ? goterr[i] : "ok");
			ok = 0;
		}
	}
	T("... every selection and error is what a walk of its own gives", ok);
	T("... errors are there", referr[8] && strstr(referr[8], "'missing' not found") && referr[9]);
	T("... the symlinked dir is followed", got[4].n == 5 && find(&got[4], "lnk/sub/y.py") &&
	  find(&got[4], "lnk/xlink") && S_ISLNK(find(&got[4], "lnk/xlink")->mode));
	/* files change between batches: the next batch walks again */
	put("shared/src/new.py", "new");
	hasher_select(h, ctx, ig1, "src", &got[0], &err);
	T("... a later batch sees new files", hasher_wait(h, &err) == 0 && find(&got[0], "src/new.py"));
	hasher_free(h);
	T("... loop closes cleanly", uv_loop_close(&loop) == 0);
	for (i = 0; i < NSRC; i++) {
		selection_free(&ref[i]);
		selection_free(&got[i]);
		free(referr[i]);
		free(goterr[i]);
	}
	ignore_free(ig1);
	ignore_free(ig2);
	ignore_free(ig3);
	free(ctx);
}

int main(int argc, char **argv)
{
	char tmpl[] = "/tmp/gb-hash-XXXXXX";

	argv0 = argv[0];
	if (argc >= 3 && strcmp(argv[1], "--bench") == 0)
		return bench(argv[2], argc >= 5 && strcmp(argv[3], "--cache") == 0 ? argv[4] : NULL);
	if (!mkdtemp(tmpl) || !realpath(tmpl, root))
		fatal("mkdtemp:");
	test_basics();
	test_big();
	test_cache();
	test_perms();
	test_shared_walk();
	{
		char *cmd = xasprintf("chmod -R u+rwx '%s' && rm -rf '%s'", root, root);

		if (system(cmd) != 0)
			printf("# could not remove %s\n", root);
		free(cmd);
	}
	return tap_done();
}
