/* jail.c - opening paths beneath a context root (see jail.h).
 *
 * The fast path is openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: the
 * kernel refuses any resolution leaving the root's fd (EXDEV). It also
 * refuses an absolute symlink even when it points inside, and it says nothing
 * about which link was at fault, so every refusal (EXDEV, ELOOP, ENOENT) is
 * re-walked in user space, which decides absolute links and names the link.
 * The walk keeps one O_PATH fd per resolved directory, looks at each
 * component with fstatat(AT_SYMLINK_NOFOLLOW) and opens it with O_NOFOLLOW,
 * so a component swapped for a link between the two steps fails to open
 * instead of being followed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "graphbuild/jail.h"
#include "graphbuild/util.h"

#define MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */
#define MAX_DEPTH 256

static int probed = -1;

static int sys_openat2(int dirfd, const char *path, int flags, unsigned long long resolve)
{
#ifdef SYS_openat2
	struct open_how how;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)flags;
	how.resolve = resolve;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
	(void)dirfd, (void)path, (void)flags, (void)resolve;
	errno = ENOSYS;
	return -1;
#endif
}

int jail_has_openat2(void)
{
	if (probed < 0) {
		const char *off = getenv("GRAPHBUILD_NO_OPENAT2"); /* tests: force the walk */
		int fd = off && *off ? -1 : sys_openat2(AT_FDCWD, ".", O_PATH | O_CLOEXEC, RESOLVE_BENEATH);

		probed = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	return probed;
}

struct walkst {
	const char *root;
	char *rootreal;       /* realpath(root), computed at the first absolute link */
	int fds[MAX_DEPTH];   /* fds[0] = root; fds[i] = i-th resolved directory */
	size_t depth;
	struct buf shown;     /* root-relative resolved path, for messages */
	size_t shownlen[MAX_DEPTH];
	char *link, *target;  /* the last symlink followed */
	size_t fromlink;      /* components still to take from that link's target */
	int nlinks;
	char **why;
};

static void set_why(struct walkst *s, const char *fmt)
{
	if (s->why && !*s->why && s->link)
		*s->why = xasprintf(fmt, s->link, s->target);
}

static size_t count_parts(const char *p)
{
	size_t n = 0;

	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		n++;
		while (*p && *p != '/')
			p++;
	}
	return n;
}

static void pop_to(struct walkst *s, size_t depth)
{
	while (s->depth > depth) {
		close(s->fds[s->depth]);
		s->depth--;
	}
	s->shown.len = s->shownlen[depth];
	if (s->shown.data)
		s->shown.data[s->shown.len] = 0;
}

/* The user-space walk; rest is a malloc'd copy of the path still to go. */
static int walk(struct walkst *s, char *rest, int flags)
{
	int fd = -1, e = 0;

	for (;;) {
		char *p = rest, *name, *next;
		struct stat st;
		int last, fromlink;
		char namebuf[NAME_MAX + 1];

		while (*p == '/')
			p++;
		if (!*p) {
			/* the root itself, or a path ending in a directory */
			fd = openat(s->fds[s->depth], ".", (flags & ~O_NOFOLLOW) | O_CLOEXEC);
			e = errno;
			break;
		}
		name = p;
		while (*p && *p != '/')
			p++;
		next = p;
		if (*next)
			*next++ = 0;
		while (*next == '/')
			next++;
		last = *next == 0;
		fromlink = s->fromlink > 0;
		if (s->fromlink)
			s->fromlink--;
		if (strlen(name) > NAME_MAX) {
			e = ENAMETOOLONG;
			break;
		}
		strcpy(namebuf, name);
		name = namebuf;
		memmove(rest, next, strlen(next) + 1);
		if (!strcmp(name, "."))
			continue;
		if (!strcmp(name, "..")) {
			if (s->depth == 0) {
				set_why(s, "'%s' is a symlink to '%s', a path outside the context");
				e = EXDEV;
				break;
			}
			pop_to(s, s->depth - 1);
			if (last) {
				fd = openat(s->fds[s->depth], ".", (flags & ~O_NOFOLLOW) | O_CLOEXEC);
				e = errno;
				break;
			}
			continue;
		}
		if (fstatat(s->fds[s->depth], name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			e = errno;
			if (e == ENOENT && fromlink)
				set_why(s, "'%s' is a dangling symlink (to '%s')");
			break;
		}
		if (S_ISLNK(st.st_mode) && !(last && (flags & O_NOFOLLOW))) {
			char tgt[PATH_MAX + 1], *nrest;
			ssize_t l = readlinkat(s->fds[s->depth], name, tgt, sizeof(tgt) - 1);

			if (l < 0) {
				e = errno;
				break;
			}
			tgt[l] = 0;
			free(s->link);
			free(s->target);
			s->link = s->shown.len ? xasprintf("%s/%s", s->shown.data, name) : xstrdup(name);
			s->target = xstrdup(tgt);
			if (++s->nlinks > MAX_LINKS) {
				set_why(s, "'%s' is part of a symlink loop (it points to '%s')");
				e = ELOOP;
				break;
			}
			if (tgt[0] == '/') {
				size_t rl;

				if (!s->rootreal) {
					char buf[PATH_MAX];

					if (!realpath(s->root, buf)) {
						e = errno;
						break;
					}
					s->rootreal = xstrdup(buf);
				}
				rl = strlen(s->rootreal);
				if (rl == 1)
					rl = 0; /* the root is "/" */
				if (strncmp(tgt, s->rootreal, rl) != 0 || (tgt[rl] != '/' && tgt[rl] != 0)) {
					set_why(s, "'%s' is a symlink to '%s', a path outside the context");
					e = EXDEV;
					break;
				}
				pop_to(s, 0);
				memmove(tgt, tgt + rl, strlen(tgt + rl) + 1);
			}
			s->fromlink = count_parts(tgt);
			nrest = xasprintf("%s/%s", tgt, rest);
			strcpy(rest = xrealloc(rest, strlen(nrest) + 1), nrest);
			free(nrest);
			continue;
		}
		if (last) {
			fd = openat(s->fds[s->depth], name, flags | O_NOFOLLOW | O_CLOEXEC);
			e = errno;
			if (fd < 0 && e == ELOOP && !(flags & O_NOFOLLOW))
				e = EAGAIN; /* swapped for a link since the fstatat: refuse */
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			e = ENOTDIR;
			break;
		}
		if (s->depth + 1 >= MAX_DEPTH) {
			e = ENAMETOOLONG;
			break;
		}
		fd = openat(s->fds[s->depth], name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			e = errno;
			break;
		}
		s->fds[++s->depth] = fd;
		fd = -1;
		if (s->shown.len)
			buf_addc(&s->shown, '/');
		buf_adds(&s->shown, name);
		s->shownlen[s->depth] = s->shown.len;
	}
	free(rest);
	if (fd < 0)
		errno = e;
	return fd;
}

int jail_open(const char *root, const char *rel, int flags, char **why)
{
	struct walkst s;
	int fd, e;

	if (why)
		*why = NULL;
	if (!rel)
		rel = "";
	if (rel[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	memset(&s, 0, sizeof(s));
	s.fds[0] = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s.fds[0] < 0)
		return -1;
	if (jail_has_openat2()) {
		fd = sys_openat2(s.fds[0], *rel ? rel : ".", flags | O_CLOEXEC,
		                 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0 || (errno != EXDEV && errno != ELOOP && errno != ENOENT && errno != ENOTDIR)) {
			e = errno;
			close(s.fds[0]);
			errno = e;
			return fd;
		}
	}
	s.root = root;
	s.why = why;
	fd = walk(&s, xstrdup(rel), flags);
	e = errno;
	pop_to(&s, 0);
	close(s.fds[0]);
	buf_free(&s.shown);
	free(s.rootreal);
	free(s.link);
	free(s.target);
	if (fd < 0 && e == EAGAIN)
		e = ELOOP;
	errno = e;
	return fd;
}

int jail_stat(const char *root, const char *rel, int nofollow, struct stat *st)
{
	int fd = jail_open(root, rel, O_PATH | (nofollow ? O_NOFOLLOW : 0), NULL), rc, e;

	if (fd < 0)
		return -1;
	rc = fstat(fd, st);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}
