/* tar_write.c - the pull-driven tar writer (engine/tar_write.c) on its own:
 * empty files (and no descriptor kept per file), names and link targets
 * longer than ustar holds (pax records), symlinks, hard links, a directory,
 * a file larger than ustar's 8 GiB (a sparse one, size as a pax record),
 * and files that change, shrink or vanish between "plan" (the entry list
 * with its hash) and the upload. Every archive is read back by GNU tar, an
 * independent reader, and read in odd buffer sizes as curl asks for it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graphbuild/hash.h"
#include "graphbuild/util.h"
#include "../../engine/tar_int.h"

#include "tap.h"

static char dir[] = "/tmp/gbtarw.XXXXXX";

static char *at(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static void put(const char *name, const char *content)
{
	char *p = at(name);
	FILE *f = fopen(p, "w");

	fputs(content, f);
	fclose(f);
	free(p);
}

/* a host file entry for dir/name, with the plan's hash when verify */
static void add_file(struct tarw *w, const char *arcname, const char *name, int verify)
{
	char *p = at(name);
	struct stat st;

	stat(p, &st);
	tarw_add(w, arcname, '0', 0644, (uint64_t)st.st_size, NULL, p, name, 0);
	if (verify) {
		struct hash_stream *hs = hash_stream_new();
		unsigned char h[16];
		char buf[4096];
		ssize_t n;
		int fd = open(p, O_RDONLY);

		while ((n = read(fd, buf, sizeof buf)) > 0)
			hash_stream_update(hs, buf, (size_t)n);
		close(fd);
		hash_stream_digest(hs, h);
		hash_stream_free(hs);
		tarw_verify(w, h);
	}
	free(p);
}

/* Streams w into path (NULL: nowhere) in reads of varying sizes. Returns
 * the byte count, or -1 when tarw_read failed. */
static long long drain(struct tarw *w, const char *path)
{
	static const size_t sizes[] = {1, 7, 511, 513, 4096, 65536, 100000};
	static char buf[100000];
	FILE *f = path ? fopen(path, "w") : NULL;
	long long total = 0;
	size_t i = 0;
	ssize_t n;

	while ((n = tarw_read(w, buf, sizes[i++ % (sizeof sizes / sizeof *sizes)])) > 0) {
		if (f)
			fwrite(buf, 1, (size_t)n, f);
		total += n;
	}
	if (f)
		fclose(f);
	return n < 0 ? -1 : total;
}

static int sh(const char *fmt, const char *arg)
{
	char *cmd = xasprintf(fmt, arg, arg, arg);
	int rc = system(cmd);

	free(cmd);
	return rc;
}

int main(void)
{
	struct tarw w;
	struct rlimit rl;
	char longname[300], longlink[160], *tarpath, *p;
	int i, fds_before, fds_after;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	tarpath = at("out.tar");
	put("a.txt", "alpha\n");
	for (i = 0; i < 200; i++) {
		char n[32];
		snprintf(n, sizeof n, "empty%03d", i);
		put(n, "");
	}
	/* 299 bytes in components a file system takes (< 256 each) */
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "deep/", 5);
	longname[155] = '/';
	longname[sizeof longname - 1] = 0;
	memset(longlink, 'l', sizeof longlink);
	longlink[sizeof longlink - 1] = 0;

	/* 1. a tree of every kind, under a low descriptor limit */
	getrlimit(RLIMIT_NOFILE, &rl);
	{
		struct rlimit low = {64, rl.rlim_max};
		setrlimit(RLIMIT_NOFILE, &low);
	}
	fds_before = open("/dev/null", O_RDONLY);
	close(fds_before);
	tarw_init(&w);
	tarw_add(&w, "deep", '5', 0755, 0, NULL, NULL, NULL, 0);
	add_file(&w, "a.txt", "a.txt", 1);
	for (i = 0; i < 200; i++) {
		char n[32];
		snprintf(n, sizeof n, "empty%03d", i);
		add_file(&w, n, n, 1);
	}
	add_file(&w, longname, "a.txt", 1);
	tarw_add(&w, "link", '2', 0777, 0, "a.txt", NULL, NULL, 0);
	tarw_add(&w, "longlink", '2', 0777, 0, longlink, NULL, NULL, 0);
	tarw_add(&w, "hard", '1', 0644, 0, "a.txt", NULL, NULL, 0);
	tarw_sort(&w);
	T("a tree streams whole (200 empty files under ulimit -n 64)", drain(&w, tarpath) > 0 && !w.err);
	fds_after = open("/dev/null", O_RDONLY);
	close(fds_after);
	T("no descriptor is left open after the stream", fds_after == fds_before);
	tarw_free(&w);
	setrlimit(RLIMIT_NOFILE, &rl);

	p = at("x");
	mkdir(p, 0755);
	T("GNU tar reads the archive without complaint", sh("tar -C %s/x -xf %s/out.tar", dir) == 0);
	free(p);
	{
		char *cmd = xasprintf("cmp -s %s/a.txt %s/x/a.txt && cmp -s %s/a.txt '%s/x/%s' && [ ! -s %s/x/empty199 ]",
		                      dir, dir, dir, dir, longname, dir);
		T("contents, a 299-byte name (pax path) and empty files come back", system(cmd) == 0);
		free(cmd);
		cmd = xasprintf("[ \"$(readlink %s/x/link)\" = a.txt ] && [ \"$(readlink %s/x/longlink)\" = %s ]", dir, dir,
		                longlink);
		T("symlinks, and a 160-byte target (pax linkpath)", system(cmd) == 0);
		free(cmd);
		cmd = xasprintf("[ \"$(stat -c %%i %s/x/hard)\" = \"$(stat -c %%i %s/x/a.txt)\" ]", dir, dir);
		T("a hard link is a link to its target", system(cmd) == 0);
		free(cmd);
		cmd = xasprintf("[ \"$(tar -tvf %s/out.tar | grep -c ' root/root ')\" = 206 ]", dir);
		T("all 206 entries, each owned by root/root", system(cmd) == 0);
		free(cmd);
		cmd = xasprintf("[ \"$(stat -c %%a %s/x/deep)\" = 755 ] && [ \"$(stat -c %%a %s/x/a.txt)\" = 644 ]", dir,
		                dir);
		T("modes as given", system(cmd) == 0);
		free(cmd);
	}

	/* 2. a file beyond ustar's 8 GiB size field: its size as a pax record */
	{
		char *big = at("big");
		int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		uint64_t sz = (8ULL << 30) + 513;
		int ok = fd >= 0 && ftruncate(fd, (off_t)sz) == 0;
		char first[2048];
		long long n;

		if (fd >= 0)
			close(fd);
		tarw_init(&w);
		add_file(&w, "big", "big", 0);
		ok = ok && tarw_read(&w, first, sizeof first) == (ssize_t)sizeof first;
		ok = ok && first[156] == 'x' && memmem(first + 512, 512, " size=8589935105\n", 17) != NULL &&
		     first[1024 + 156] == '0' && !memcmp(first + 1024 + 124, "00000000000", 11);
		T("an 8 GiB + 513 file: pax size record, ustar size 0", ok);
		n = drain(&w, NULL);
		T("... and all of its bytes, padded, then the end blocks",
		  n == (long long)(1536 + sz + (512 - sz % 512) % 512 + 1024 - sizeof first) && !w.err);
		tarw_free(&w);
		unlink(big);
		free(big);
	}

	/* 3. files that change between plan and upload */
	put("c.txt", "OLD!\n");
	tarw_init(&w);
	add_file(&w, "c.txt", "c.txt", 1);
	put("c.txt", "NEW!\n");
	T("same size, other content: refused", drain(&w, NULL) < 0 && w.err && strstr(w.err, "changed since plan (content)"));
	tarw_free(&w);
	put("c.txt", "longer now\n");
	tarw_init(&w);
	add_file(&w, "c.txt", "c.txt", 1);
	put("c.txt", "short\n");
	T("another size: refused", drain(&w, NULL) < 0 && w.err && strstr(w.err, "changed since plan"));
	tarw_free(&w);
	tarw_init(&w);
	add_file(&w, "c.txt", "c.txt", 1);
	p = at("c.txt");
	unlink(p);
	free(p);
	T("vanished: refused, saying so", drain(&w, NULL) < 0 && w.err && strstr(w.err, "vanished since plan"));
	tarw_free(&w);

	sh("rm -rf %s", dir);
	free(tarpath);
	return tap_done();
}
