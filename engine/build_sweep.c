/* build_sweep.c - what a graphbuild process that is gone (kill -9, a crash)
 * left: build containers, found by their owner label and force-removed;
 * rootfs commands' temporary directories, found by their owner file, their
 * process group killed and the directory removed. */
#define _GNU_SOURCE
#include "build_int.h"

#include <sys/file.h>

/* ---- the builder ---- */

void build_owner(char *out, size_t len)
{
	char host[256] = "";

	gethostname(host, sizeof host - 1);
	snprintf(out, len, "%s:%ld", host, (long)getpid());
}

/* 1 when a build container's graphbuild.owner names a graphbuild process on
 * this host that no longer runs. Another host's (a shared engine) is never
 * judged from here. */
static int owner_gone(const char *owner, const char *me)
{
	const char *colon = owner ? strrchr(owner, ':') : NULL;
	const char *mycolon = strrchr(me, ':');
	char *end;
	long pid;

	if (!colon || colon == owner || (size_t)(colon - owner) != (size_t)(mycolon - me) ||
	    strncmp(owner, me, (size_t)(colon - owner)) != 0)
		return 0;
	pid = strtol(colon + 1, &end, 10);
	if (*end || pid <= 0)
		return 0;
	if (pid == (long)getpid())
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

struct sweep {
	struct docker *d;
	const char *me;
	int mine;                /* this process's own too (after an interrupt) */
	size_t removed, failed;
	char *err;
};

static void sweep_removed(void *arg, const struct docker_result *r)
{
	struct sweep *w = arg;

	if (r->ok || r->status == 404 || r->status == 409) /* 409: a removal in progress */
		w->removed++;
	else {
		w->failed++;
		if (!w->err)
			w->err = xasprintf("remove container: %s", r->error);
	}
}

static void sweep_listed(void *arg, const struct docker_result *r)
{
	struct sweep *w = arg;
	size_t i, k;

	if (!r->ok) {
		w->err = xasprintf("list build containers: %s", r->error);
		return;
	}
	for (i = 0; i < r->ncontainers; i++) {
		const struct docker_container *c = &r->containers[i];
		const char *project = NULL, *owner = NULL;

		for (k = 0; k < c->nlabels; k++)
			if (!strcmp(c->label_k[k], BUILD_LABEL))
				project = c->label_v[k];
			else if (!strcmp(c->label_k[k], BUILD_OWNER_LABEL))
				owner = c->label_v[k];
		/* an empty value is an image's blanked label, not a build container */
		if (!project || !*project ||
		    !(owner_gone(owner, w->me) || (w->mine && owner && !strcmp(owner, w->me))))
			continue;
		if (docker_container_remove(w->d, c->id, 1, 1, sweep_removed, w) < 0)
			w->failed++;
	}
}

int sweep_run(struct docker *d, const char *project, int mine, size_t *removed, char **err)
{
	struct sweep w = {0};
	char me[300];
	char *filter = project ? xasprintf("%s=%s", BUILD_LABEL, project) : xstrdup(BUILD_LABEL);
	int rc = 0;

	build_owner(me, sizeof me);
	w.mine = mine;
	w.d = d;
	w.me = me;
	*err = NULL;
	if (docker_container_list(d, filter, sweep_listed, &w) < 0)
		w.err = xstrdup("list build containers: cannot start a request to the engine");
	docker_run_loop(d);
	free(filter);
	if (removed)
		*removed = w.removed;
	if (w.err) {
		*err = w.err;
		rc = -1;
	}
	return rc;
}

int build_sweep(struct docker *d, const char *project, size_t *removed, char **err)
{
	return sweep_run(d, project, 0, removed, err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	remove(path);
	return 0;
}

void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One graphbuild-rootfs-* directory: 1 if it was a dead owner's and is gone. */
static int sweep_rootfs_dir(int dfd, const char *tmp, const char *name, const char *me)
{
	char buf[512], owner[300], *path;
	struct stat st;
	long pgid = 0;
	ssize_t n;
	int fd, sub;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return 0;
	if ((sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return 0;
	fd = openat(sub, "owner", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	close(sub);
	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof buf - 1, 0);
	buf[n > 0 ? n : 0] = 0;
	if (sscanf(buf, "%299s %ld", owner, &pgid) < 1 || !owner_gone(owner, me)) {
		close(fd);
		return 0;
	}
	/* the lock is held while a process of the command lives: its group
	 * outlived graphbuild (which a kill -9 does not take along) */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK && pgid > 1)
		kill((pid_t)-pgid, SIGKILL);
	close(fd);
	path = xasprintf("%s/%s", tmp, name);
	remove_tree(path);
	free(path);
	return 1;
}

const char *build_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

size_t build_sweep_rootfs(const char *tmp)
{
	char me[300];
	DIR *d = opendir(tmp);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	build_owner(me, sizeof me);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "graphbuild-rootfs-", 18))
			n += (size_t)sweep_rootfs_dir(dirfd(d), tmp, e->d_name, me);
	closedir(d);
	return n;
}
