/* state.c - the .graphbuild/ directory: manifests per node (what each key was
 * made from), build history, and the lock. Writes are atomic; a corrupt or
 * foreign file is a warning and is treated as absent, never a crash. Nothing
 * is created until the first write, so a failed load leaves no trace. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

struct hist {
	char *name;
	long ms;
};

struct state {
	char *dir;          /* <stack dir>/.graphbuild */
	int lockfd;
	int exclusive;
	struct hist *hist;
	size_t nhist;
	int hist_loaded, hist_dirty;
};

static int take_lock(struct state *st)
{
	char *path;
	int op = st->exclusive ? LOCK_EX : LOCK_SH;

	if (mkdirs(st->dir, 0755) < 0) {
		warn("cannot create %s:", st->dir);
		return -1;
	}
	path = path_join(st->dir, "lock");
	st->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
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
		warn("waiting for another graphbuild working on this stack (%s/lock)", st->dir);
		while (flock(st->lockfd, op) < 0)
			if (errno != EINTR) {
				warn("cannot lock %s:", st->dir);
				return -1;
			}
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
	if (st->lockfd >= 0)
		close(st->lockfd); /* releases the flock */
	for (i = 0; i < st->nhist; i++)
		free(st->hist[i].name);
	free(st->hist);
	free(st->dir);
	free(st);
}

char *state_path(struct state *st, const char *name, int mk)
{
	char *p = path_join(st->dir, name);

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
	char *text = read_file(path, &len);

	if (text) {
		m = manifest_parse(text, len);
		if (!m)
			warn("discarding %s: corrupt or from another graphbuild version", path);
		free(text);
	} else if (errno != ENOENT) {
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
	char *text = manifest_format(m);
	int rc = write_file_atomic(path, text, strlen(text));

	if (rc < 0)
		warn("cannot write %s:", path);
	free(text);
	free(path);
	free(name);
	return rc;
}

static void load_history(struct state *st)
{
	char *path, *text, *line, *save = NULL;
	size_t len;

	if (st->hist_loaded)
		return;
	st->hist_loaded = 1;
	path = state_path(st, "history", 0);
	text = read_file(path, &len);
	if (!text) {
		free(path);
		return;
	}
	if (strncmp(text, HISTORY_HEADER, strlen(HISTORY_HEADER)) != 0) {
		warn("discarding %s: corrupt or from another graphbuild version", path);
		goto out;
	}
	for (line = strtok_r(text + strlen(HISTORY_HEADER), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' '), *end;
		long ms;

		if (!sp)
			continue;
		ms = strtol(line, &end, 10);
		if (end != sp || ms < 0)
			continue;
		state_record_duration(st, sp + 1, ms);
	}
	st->hist_dirty = 0;
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
	st->hist = xrealloc(st->hist, sizeof(*st->hist) * (st->nhist + 1));
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

	if (!st->hist_dirty)
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
