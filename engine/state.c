/* state.c - the .graphbuild/ directory: manifests per node (what each key was
 * made from), build history, and the lock. Writes are atomic; a corrupt or
 * foreign file is a warning and is treated as absent, never a crash, and is
 * rewritten by the next build or up. Everything here is a cache: a write that
 * fails (a full disk) is a warning, once per kind of file, and leaves the old
 * file or none, never a partial one. Only the lock itself is required. The
 * exclusive holder writes its pid into the lock, so a second invocation can
 * say whom it waits for. Nothing is created until the first write, so a
 * failed load leaves no trace. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graphbuild/key.h"
#include "graphbuild/state.h"
#include "graphbuild/util.h"

#define HISTORY_HEADER "graphbuild-history 1\n"
#define LOCK_HEADER "graphbuild-lock 1 pid "

struct hist {
	char *name;
	long ms;
};

struct state {
	char *dir;          /* <stack dir>/.graphbuild */
	int lockfd;
	int exclusive;
	int none;           /* unusable, read as empty (plan only): nothing read or written */
	struct hist *hist;
	size_t nhist;
	int hist_loaded, hist_dirty;
	/* manifests that could not be written: the first is warned about, the
	 * rest are counted and summed up by state_flush */
	int man_errno;
	size_t man_failed;
	int lock_writable; /* the lock is a regular file of ours: lock_mark may write it */
};

/* The pid of the live process that wrote fd's lock file, or 0 (none, stale,
 * or a file from another version: its contents are only a hint). */
static long lock_holder(int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *end;
	long pid;

	if (n <= (ssize_t)strlen(LOCK_HEADER))
		return 0;
	buf[n] = 0;
	if (strncmp(buf, LOCK_HEADER, strlen(LOCK_HEADER)) != 0)
		return 0;
	pid = strtol(buf + strlen(LOCK_HEADER), &end, 10);
	if (pid <= 0 || *end != '\n' || pid == (long)getpid())
		return 0;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 0;
	return pid;
}

/* Records this process as the exclusive holder. The lock works without it
 * (a full disk): a failure is silent. */
static void lock_mark(int fd)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), LOCK_HEADER "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n)
		(void)ftruncate(fd, 0);
}

/* Removes the temp files of writers killed before their rename (the lock is
 * held exclusively: no live writer owns one). */
static void sweep_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".tmp.") && e->d_type != DT_DIR) {
			char *p = path_join(dir, e->d_name);

			if (unlink(p) < 0 && errno != ENOENT)
				warn("cannot remove the stale temp file %s:", p);
			free(p);
		}
	closedir(d);
}

static void load_history(struct state *st);

static int take_lock(struct state *st)
{
	char *path;
	int op = st->exclusive ? LOCK_EX : LOCK_SH;
	struct stat sb;

	if (stat(st->dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		warn("%s is not a directory (graphbuild keeps its state there: remove or rename it)",
		     st->dir);
		return -1;
	}
	if (mkdirs(st->dir, 0755) < 0) {
		warn("cannot create %s:", st->dir);
		return -1;
	}
	path = path_join(st->dir, "lock");
	/* the pid is written only into a lock that is no symlink: a planted link
	 * must not make graphbuild truncate its target */
	st->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	st->lock_writable = st->lockfd >= 0;
	if (st->lockfd < 0 && errno == ELOOP)
		st->lockfd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (st->lockfd < 0) {
		warn("cannot open the lock in %s:", st->dir);
		return -1;
	}
	if (flock(st->lockfd, op | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			warn("cannot lock %s:", st->dir);
			return -1;
		}
		{
			long pid = lock_holder(st->lockfd);
			const char *who = pid ? "graphbuild pid %ld" : "another graphbuild";
			char *holder = xasprintf(who, pid);

			if (!st->exclusive) {
				/* plan only reads, and every state file is replaced by
				 * an atomic rename: it never waits for a build or an up
				 * (which may hold the lock for minutes of health waits) */
				warn("%s works on this stack (%s/lock): planning from the state as it is now",
				     holder, st->dir);
				free(holder);
				close(st->lockfd);
				st->lockfd = -1;
				return 0;
			}
			warn("waiting for %s, which works on this stack (%s/lock)", holder, st->dir);
			free(holder);
		}
		while (flock(st->lockfd, op) < 0)
			if (errno != EINTR) {
				warn("cannot lock %s:", st->dir);
				return -1;
			}
	}
	if (st->exclusive) {
		char *man = path_join(st->dir, "manifests");

		if (st->lock_writable)
			lock_mark(st->lockfd);
		sweep_temps(st->dir);
		sweep_temps(man);
		free(man);
		load_history(st); /* a damaged history is rewritten even if nothing is built */
	}
	return 0;
}

struct state *state_open(const char *dir, int exclusive)
{
	struct state *st = xcalloc(1, sizeof(*st));

	st->dir = path_join(dir, ".graphbuild");
	st->lockfd = -1;
	st->exclusive = exclusive;
	/* a shared lock is only needed if the directory exists already: plan on a
	 * never-built stack must not create it */
	if (exclusive || access(st->dir, F_OK) == 0) {
		if (take_lock(st) < 0) {
			if (!exclusive) {
				/* plan only reads: go on as if there were no state */
				warn("planning from no state");
				st->none = 1;
				return st;
			}
			state_close(st);
			return NULL;
		}
	}
	return st;
}

void state_close(struct state *st)
{
	size_t i;

	if (!st)
		return;
	if (st->lockfd >= 0) {
		if (st->exclusive && st->lock_writable)
			(void)ftruncate(st->lockfd, 0); /* no stale pid for the next one */
		close(st->lockfd); /* releases the flock */
	}
	for (i = 0; i < st->nhist; i++)
		free(st->hist[i].name);
	free(st->hist);
	free(st->dir);
	free(st);
}

char *state_path(struct state *st, const char *name, int mk)
{
	char *p;

	if (st->none)
		return NULL;
	p = path_join(st->dir, name);

	if (mk) {
		char *slash = strrchr(p, '/');

		*slash = 0;
		if (mkdirs(p, 0755) < 0)
			warn("cannot create %s:", p);
		*slash = '/';
	}
	return p;
}

/* Node names are [A-Za-z0-9_.-]; anything else is escaped so a name can
 * never walk out of the directory. */
static char *manifest_name(const char *node)
{
	struct buf b = {0};
	const char *p;

	buf_adds(&b, "manifests/");
	for (p = node; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || (c == '.' && p != node))
			buf_addc(&b, (char)c);
		else
			buf_printf(&b, "%%%02x", c);
	}
	return buf_take(&b);
}

struct manifest *state_manifest(struct state *st, const char *node)
{
	char *name = manifest_name(node);
	char *path = state_path(st, name, 0);
	struct manifest *m = NULL;
	size_t len;
	char *text = path ? read_file(path, &len) : NULL;

	if (text) {
		m = manifest_parse(text, len);
		if (!m)
			warn("discarding %s: corrupt or from another graphbuild version", path);
		free(text);
	} else if (path && errno != ENOENT) {
		warn("cannot read %s:", path);
	}
	free(path);
	free(name);
	return m;
}

int state_save_manifest(struct state *st, const char *node, const struct manifest *m)
{
	char *name = manifest_name(node);
	char *path = state_path(st, name, 1);
	char *text;
	int rc;

	if (!path) {
		free(name);
		return -1;
	}
	text = manifest_format(m);
	rc = write_file_atomic(path, text, strlen(text));

	if (rc < 0) {
		if (!st->man_failed++) {
			st->man_errno = errno;
			warn("cannot write %s (the next plan cannot say why %s changed):", path, node);
		}
	}
	free(text);
	free(path);
	free(name);
	return rc;
}

static void load_history(struct state *st)
{
	char *path, *text, *line, *save = NULL;
	size_t len;
	int damaged = 0;

	if (st->hist_loaded)
		return;
	st->hist_loaded = 1;
	path = state_path(st, "history", 0);
	if (!path)
		return;
	text = read_file(path, &len);
	if (!text) {
		free(path);
		return;
	}
	if (strncmp(text, HISTORY_HEADER, strlen(HISTORY_HEADER)) != 0) {
		warn("discarding %s: corrupt or from another graphbuild version", path);
		st->hist_dirty = st->exclusive; /* rewritten by this build or up */
		goto out;
	}
	/* a last line without its newline was cut short (a write before atomic
	 * writes, a copy): drop it */
	if (len && text[len - 1] != '\n') {
		char *nl = strrchr(text, '\n');

		nl[1] = 0;
		damaged = 1;
	}
	for (line = strtok_r(text + strlen(HISTORY_HEADER), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), *end;
		long ms;

		if (!sp) {
			damaged = 1;
			continue;
		}
		ms = strtol(line, &end, 10);
		if (end != sp || ms < 0 || !sp[1]) {
			damaged = 1;
			continue;
		}
		state_record_duration(st, sp + 1, ms);
	}
	if (damaged)
		warn("discarding the damaged lines of %s", path);
	st->hist_dirty = damaged && st->exclusive;
out:
	free(text);
	free(path);
}

long state_duration(struct state *st, const char *node)
{
	size_t i;

	load_history(st);
	for (i = 0; i < st->nhist; i++)
		if (strcmp(st->hist[i].name, node) == 0)
			return st->hist[i].ms;
	return -1;
}

void state_record_duration(struct state *st, const char *node, long ms)
{
	size_t i;

	if (st->hist_loaded == 0)
		load_history(st);
	st->hist_dirty = 1;
	for (i = 0; i < st->nhist; i++)
		if (strcmp(st->hist[i].name, node) == 0) {
			st->hist[i].ms = ms;
			return;
		}
	st->hist = xreallocarray(st->hist, st->nhist + 1, sizeof(*st->hist));
	st->hist[st->nhist].name = xstrdup(node);
	st->hist[st->nhist].ms = ms;
	st->nhist++;
}

int state_flush(struct state *st)
{
	struct buf b = {0};
	char *path;
	size_t i;
	int rc;

	if (st->man_failed > 1)
		warn("%zu more manifest(s) not written in %s/manifests: %s", st->man_failed - 1, st->dir,
		     strerror(st->man_errno));
	st->man_failed = 0;
	if (!st->hist_dirty || st->none)
		return 0;
	buf_adds(&b, HISTORY_HEADER);
	for (i = 0; i < st->nhist; i++)
		buf_printf(&b, "%ld %s\n", st->hist[i].ms, st->hist[i].name);
	path = state_path(st, "history", 1);
	rc = write_file_atomic(path, b.data, b.len);
	if (rc < 0)
		warn("cannot write %s:", path);
	else
		st->hist_dirty = 0;
	free(path);
	buf_free(&b);
	return rc;
}
