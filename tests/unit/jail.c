/* tests/unit/jail.c - opening paths beneath a root (engine/jail.c): inside
 * links (relative, absolute, to a directory, chained) are followed, links
 * leaving the root, dangling links and loops are refused naming the link,
 * O_NOFOLLOW keeps a last-component link, and a link swapped in after a first
 * successful open is refused on the next one. Each case runs twice: with
 * openat2 (where the kernel has it) and with the O_NOFOLLOW walk
 * (GRAPHBUILD_NO_OPENAT2, read once per process: the walk runs in a child).
 * Prints TAP-like lines; exits nonzero on any failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "graphbuild/jail.h"
#include "graphbuild/util.h"

#include "tap.h"

static char root[PATH_MAX];

static void at(const char *rel, char *out)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", root, rel) >= PATH_MAX)
		fatal("path too long");
}

static void mk_file(const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	at(rel, p);
	if (!(f = fopen(p, "w")))
		fatal("fopen %s:", p);
	fputs(text, f);
	fclose(f);
}

static void mk_link(const char *target, const char *rel)
{
	char p[PATH_MAX];

	at(rel, p);
	unlink(p);
	if (symlink(target, p) < 0)
		fatal("symlink %s:", p);
}

/* Opens rel beneath root; returns the first bytes read ("" for a dir), or
 * NULL with *e = errno and *why. */
static char *get(const char *rel, int flags, int *e, char **why)
{
	static char buf[64];
	int fd = jail_open(root, rel, flags, why);
	ssize_t n;

	*e = fd < 0 ? errno : 0;
	if (fd < 0)
		return NULL;
	n = (flags & O_DIRECTORY) ? 0 : read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

#define OPENS(name, rel, want)                                                   \
	do {                                                                     \
		int e_;                                                          \
		char *w_ = NULL, *g_ = get(rel, O_RDONLY, &e_, &w_);             \
		T(name, g_ && strcmp(g_, want) == 0);                            \
		if (!g_)                                                         \
			printf("#   %s: %s %s\n", rel, strerror(e_), w_ ? w_ : ""); \
		free(w_);                                                        \
	} while (0)

static void refused(const char *name, const char *rel, int flags, int err, const char *msg, int line)
{
	int e;
	char *why = NULL, *got = get(rel, flags, &e, &why);
	int ok = !got && e == err && (!msg || (why && strstr(why, msg)));

	check(ok, name, line);
	if (!ok)
		printf("#   %s: got %s, %s\n", rel, got ? "opened" : strerror(e), why ? why : "no why");
	free(why);
}
#define REFUSED(name, rel, flags, err, msg) refused(name, rel, flags, err, msg, __LINE__)

static void cases(const char *mode)
{
	char name[128];
	int e;
	char *why = NULL;

	printf("# mode: %s\n", mode);
#define N(s) (snprintf(name, sizeof(name), "%s: %s", mode, s), name)
	OPENS(N("a plain file"), "real/a.txt", "A");
	OPENS(N("through a relative link to an inside dir"), "inlink/a.txt", "A");
	OPENS(N("a relative link to an inside file"), "filelink", "A");
	OPENS(N("a chain of inside links"), "chain", "A");
	OPENS(N("an absolute link into the root"), "absin/a.txt", "A");
	OPENS(N("a link with .. that stays inside"), "real/sub/back/a.txt", "A");
	REFUSED(N("a link to /etc"), "etclink/hostname", O_RDONLY, EXDEV, "'etclink' is a symlink to '/etc'");
	REFUSED(N("a link leaving by .."), "real/up/x", O_RDONLY, EXDEV, "'real/up' is a symlink to '../..'");
	REFUSED(N("a dangling link"), "dangling", O_RDONLY, ENOENT, "'dangling' is a dangling symlink (to 'nowhere')");
	REFUSED(N("a plain missing file has no why"), "real/nope", O_RDONLY, ENOENT, NULL);
	REFUSED(N("a symlink loop"), "loop1", O_RDONLY, ELOOP, NULL);
	REFUSED(N("an absolute rel"), "/etc/hostname", O_RDONLY, EXDEV, NULL);
	T(N("O_NOFOLLOW | O_PATH opens the last link itself"), get("etclink", O_PATH | O_NOFOLLOW, &e, &why) != NULL);
	free(why);
	why = NULL;
	T(N("the root itself opens as a directory"), get("", O_RDONLY | O_DIRECTORY, &e, &why) != NULL);
	free(why);
	why = NULL;
	/* a swap: first inside, then the same name leads out */
	mk_link("real", "swap");
	OPENS(N("swap: first inside"), "swap/a.txt", "A");
	mk_link("/etc", "swap");
	REFUSED(N("swap: then refused once it leads out"), "swap/hostname", O_RDONLY, EXDEV, "'swap' is a symlink to '/etc'");
#undef N
}

int main(void)
{
	char p[PATH_MAX], tmpl[] = "/tmp/gbjailXXXXXX";
	pid_t pid;
	int st;

	if (!mkdtemp(tmpl))
		fatal("mkdtemp:");
	if (!realpath(tmpl, root))
		fatal("realpath:");
	at("real", p);
	mkdir(p, 0755);
	at("real/sub", p);
	mkdir(p, 0755);
	mk_file("real/a.txt", "A");
	mk_link("real", "inlink");
	mk_link("real/a.txt", "filelink");
	mk_link("filelink", "chain");
	at("real", p);
	mk_link(p, "absin");
	mk_link("..", "real/sub/back");
	mk_link("/etc", "etclink");
	mk_link("../..", "real/up");
	mk_link("nowhere", "dangling");
	mk_link("loop2", "loop1");
	mk_link("loop1", "loop2");

	fflush(stdout);
	/* the walk in a child (the probe is once per process), its lines
	 * replayed here so the numbering stays one sequence */
	at("walk.out", p);
	pid = fork();
	if (pid == 0) {
		if (!freopen(p, "w", stdout))
			_exit(2);
		setenv("GRAPHBUILD_NO_OPENAT2", "1", 1);
		T("the walk is forced", !jail_has_openat2());
		cases("walk");
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	T("the walk's child ran", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	{
		FILE *f = fopen(p, "r");
		char line[512];

		while (f && fgets(line, sizeof(line), f)) {
			char *dash = strstr(line, " - ");

			line[strcspn(line, "\n")] = 0;
			if (line[0] == '#')
				printf("%s\n", line);
			else if (dash)
				check(strncmp(line, "ok ", 3) == 0, dash + 3, 0);
		}
		if (f)
			fclose(f);
	}
	printf("# openat2 available: %d\n", jail_has_openat2());
	cases(jail_has_openat2() ? "openat2" : "walk again (no openat2 here)");
	{
		char *argv[] = {"rm", "-rf", root, NULL};
		if (fork() == 0) {
			execvp("rm", argv);
			_exit(127);
		}
		wait(NULL);
	}
	return tap_done();
}
