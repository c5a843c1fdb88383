/* build_rootfs.c - rootfs bases: run the command into $out, tar it, import
 * it (root entry 0755 root:root), create+commit with labels. */
#define _GNU_SOURCE
#include "build_int.h"

#include <sys/file.h>

/* ---- rootfs ---- */

static void on_import_untagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r; /* a leftover import tag is harmless */
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	succeed(j);
}

static void on_rootfs_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	char *ref;

	(void)r;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	ref = xasprintf(NAMES_IMPORT_REPO ":%s", j->n->keyhex);
	if (docker_image_remove(j->b->d, ref, 0, on_import_untagged, j) == 0)
		j->inflight++;
	else
		succeed(j);
	free(ref);
}

static void on_rootfs_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "commit: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	remove_container(j, &j->cid, on_rootfs_removed);
}

static void on_rootfs_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	spec_reset(j);
	label(j, "graphbuild.key", j->n->keyhex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.image = j->image;
	own_labels(j, 0);
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, j->n->keyhex, &j->spec, on_rootfs_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* A rootfs's root entry ("./" first in the archive, as tar -C DIR . and
 * most tarballs have it) becomes 0755 root:root: $out is mkdtemp's 0700
 * directory, and storage drivers that apply the root entry (vfs) would make
 * / unreadable to every non-root user. Other entries are left alone; an
 * archive that does not start with an uncompressed root entry is unchanged. */
static void root_entry_fix(char h[512])
{
	unsigned sum = 0;
	size_t i;

	if (memcmp(h + 257, "ustar", 5) || h[156] != '5')
		return;
	if (strncmp(h, "./", 100) && strncmp(h, ".", 100) && strncmp(h, "/", 100))
		return;
	octal(h + 100, 8, 0755);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	memset(h + 265, 0, 64);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

/* docker_read_fn for an import: the file, its first block through
 * root_entry_fix. */
static ssize_t fd_read(void *arg, char *buf, size_t n)
{
	struct bjob *j = arg;
	ssize_t r;

	while (!j->head_read && j->headn < sizeof(j->head)) {
		r = read(j->rdfd, j->head + j->headn, sizeof(j->head) - j->headn);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return r;
		if (r == 0)
			break;
		j->headn += (size_t)r;
	}
	if (!j->head_read) {
		j->head_read = 1;
		if (j->headn == sizeof(j->head))
			root_entry_fix(j->head);
	}
	if (j->headpos < j->headn) {
		size_t k = j->headn - j->headpos < n ? j->headn - j->headpos : n;
		memcpy(buf, j->head + j->headpos, k);
		j->headpos += k;
		return (ssize_t)k;
	}
	do
		r = read(j->rdfd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static void on_imported(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (j->rdfd >= 0) {
		close(j->rdfd);
		j->rdfd = -1;
	}
	if (!r->ok)
		set_err(j, "%s:%d: import: %s", j->n->pos.file, j->n->pos.line, r->error);
	else
		set_image(j, r->id);
	if (stopped(j))
		return cleanup(j);
	if (j->n->u.rootfs.empty) /* "scratch" was labelled by the import itself */
		return succeed(j);
	progress_step(j->t, 2, "label");
	spec_reset(j);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = j->image;
	own_labels(j, 1);
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_rootfs_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* docker_read_fn for "scratch": an archive of the root entry alone (made
 * 0755 root:root by root_entry_fix) and the two zero blocks that end it. */
static ssize_t scratch_read(void *arg, char *buf, size_t n)
{
	struct bjob *j = arg;
	size_t total = 3 * 512, k = 0;

	while (k < n && j->headpos < total) {
		buf[k++] = j->headpos < sizeof(j->head) ? j->head[j->headpos] : 0;
		j->headpos++;
	}
	return (ssize_t)k;
}

/* The empty image is labelled as it is imported: a container made to label
 * it (as for other rootfs bases) would leave its command in the config, and
 * an image FROM scratch has none. */
static void import_scratch(struct bjob *j)
{
	char *key = xasprintf("LABEL graphbuild.key=%s", j->n->keyhex);
	const char *const changes[] = {
		key, "LABEL graphbuild.node=scratch", "LABEL " BUILD_LABEL "=\"\"",
		"LABEL " BUILD_OWNER_LABEL "=\"\"", NULL,
	};
	int rc;

	memset(j->head, 0, sizeof(j->head));
	memcpy(j->head, "./", 2);
	octal(j->head + 124, 12, 0);
	octal(j->head + 136, 12, 0);
	j->head[156] = '5';
	memcpy(j->head + 257, "ustar", 6);
	memcpy(j->head + 263, "00", 2);
	root_entry_fix(j->head);
	j->headn = sizeof(j->head);
	j->headpos = 0;
	j->head_read = 1;
	progress_step(j->t, 1, "import (empty)");
	rc = docker_image_import_changes(j->b->d, KEY_CACHE_REPO, j->n->keyhex, changes, scratch_read, j,
	                                 on_imported, j);
	free(key);
	if (rc < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* Imports path; one beneath root (a stack's tar) is opened through the
 * jail, so a symlink swapped in since plan cannot lead the import outside. */
static void import_file(struct bjob *j, const char *path, const char *root)
{
	size_t rl = root ? strlen(root) : 0;
	char *why = NULL;

	j->headn = j->headpos = 0;
	j->head_read = 0;
	if (rl > 1 && !strncmp(path, root, rl) && path[rl] == '/')
		j->rdfd = jail_open(root, path + rl + 1, O_RDONLY, &why);
	else
		j->rdfd = open(path, O_RDONLY | O_CLOEXEC);
	if (j->rdfd < 0) {
		int e = errno;

		set_err(j, "%s:%d: rootfs %s: %s", j->n->pos.file, j->n->pos.line, path,
		        why ? why : e == EXDEV ? "it leads outside the stack directory" : strerror(e));
		free(why);
		return cleanup(j);
	}
	progress_step(j->t, 1, "import");
	if (docker_image_import(j->b->d, NAMES_IMPORT_REPO, j->n->keyhex, fd_read, j, on_imported, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_tarred(struct bjob *j, long status, int sig)
{
	if (stopped(j))
		return cleanup(j);
	if (status || sig) {
		set_err(j, "%s:%d: rootfs: tar of $out failed (exit %ld)", j->n->pos.file, j->n->pos.line, status);
		return cleanup(j);
	}
	import_file(j, j->tmptar, NULL);
}

static void on_command_done(struct bjob *j, long status, int sig)
{
	char out[PATH_MAX];
	char *argv[] = {"/bin/tar", "-C", out, "--numeric-owner", "-cf", j->tmptar, ".", NULL};

	if (stopped(j))
		return cleanup(j);
	if (status || sig) {
		set_err(j, "%s:%d: rootfs command failed (%s %ld)", j->n->pos.file, j->n->pos.line,
		        sig ? "signal" : "exit", sig ? (long)sig : status);
		j->detail = xstrdup(j->n->u.rootfs.command);
		return cleanup(j);
	}
	progress_step(j->t, 1, "tar $out");
	snprintf(out, sizeof(out), "%s/out", j->tmpdir);
	if (proc_spawn(j, argv, NULL, 0, on_tarred) < 0)
		return cleanup(j);
}

void start_rootfs(struct bjob *j)
{
	const struct rootfs *r = &j->n->u.rootfs;
	const char *tmp = build_tmpdir();
	char *dir, *argv[5], **env = NULL;
	size_t nenv = 0, i;

	if (r->empty)
		return import_scratch(j);
	if (r->tar)
		return import_file(j, r->tar, r->inputs_root);
	dir = xasprintf("%s/graphbuild-rootfs-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		set_err(j, "cannot create a temporary directory in %s: %s", tmp, strerror(errno));
		free(dir);
		return cleanup(j);
	}
	j->tmpdir = dir;
	/* the owner file: who made the directory, then the command's process
	 * group; locked by the job's processes (fd 3) for as long as they live,
	 * so that after a kill -9 the next run's sweep finds both */
	{
		char *owner = xasprintf("%s/owner", dir), me[300];

		j->ownerfd = open(owner, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		free(owner);
		build_owner(me, sizeof me);
		if (j->ownerfd < 0 || flock(j->ownerfd, LOCK_EX) < 0 || dprintf(j->ownerfd, "%s\n", me) < 0) {
			set_err(j, "cannot create %s/owner: %s", dir, strerror(errno));
			return cleanup(j);
		}
	}
	/* everything lives inside the private 0700 dir: $out and the tarball,
	 * which graphbuild creates itself (O_EXCL|O_NOFOLLOW) before tar fills
	 * it, so no name beside a world-writable directory is ever used */
	j->tmptar = xasprintf("%s/rootfs.tar", dir);
	{
		char *out = xasprintf("%s/out", dir);
		int made = mkdir(out, 0700) == 0;
		int fd = made ? open(j->tmptar, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;

		if (fd < 0) {
			set_err(j, "cannot create %s: %s", made ? j->tmptar : out, strerror(errno));
			free(out);
			return cleanup(j);
		}
		close(fd);
		dir = out;
	}
	for (i = 0; environ[i]; i++)
		if (strncmp(environ[i], "out=", 4))
			push(&env, &nenv, environ[i]);
	push(&env, &nenv, xasprintf("out=%s", dir));
	free(dir);
	push(&env, &nenv, NULL);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = xasprintf("exec 2>&1; %s", r->command);
	argv[3] = NULL;
	progress_step(j->t, 1, r->command);
	if (proc_spawn(j, argv, env, 1, on_command_done) == 0) {
		char line[320], me[300];
		int n;

		build_owner(me, sizeof me);
		n = snprintf(line, sizeof line, "%s %ld\n", me, (long)j->proc->p.pid);
		if (pwrite(j->ownerfd, line, (size_t)n, 0) != n)
			warn("rootfs: cannot record the command's process group in %s/owner", j->tmpdir);
	}
	free(argv[2]);
	free(env[nenv - 2]);
	free(env);
	if (!j->proc)
		cleanup(j);
}
