/* step_run.c - a run step: create, start, logs+wait, commit, remove; with
 * secrets: an idling container, exec place links, exec the step, exec remove
 * links. Cache mounts are named volumes, secrets read-only binds. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- run ---- */

static char *shq(const char *s)
{
	struct buf b = {0};

	buf_addc(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(&b, "'\\''");
		else
			buf_addc(&b, *s);
	}
	buf_addc(&b, '\'');
	return buf_take(&b);
}

static void run_output(void *arg, int stream, const char *data, size_t n)
{
	struct bjob *j = arg;

	(void)stream;
	progress_output(j->t, data, n);
}

static void run_finished(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];

	if (j->waits)
		return;
	if (stopped(j))
		return cleanup(j);
	if (!j->wait_ok) {
		set_err(j, "%s:%d: step %zu/%zu: waiting for the container failed", st->pos.file,
		        st->pos.line, j->step + 1, j->n->u.image.nsteps);
		return cleanup(j);
	}
	if (j->exit_code != 0) {
		set_err(j, "%s:%d: step %zu/%zu failed: %s (exit %ld)", st->pos.file, st->pos.line,
		        j->step + 1, j->n->u.image.nsteps, j->n->kx->steps[j->step].desc, j->exit_code);
		free(j->detail);
		j->detail = xstrdup(j->n->kx->steps[j->step].desc);
		return cleanup(j);
	}
	commit_step(j);
}

/* How long a run step's log stream may go on after its container exited. */
#define RUN_LOG_GRACE_MS 2000

static void on_run_wait(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	j->waits--;
	j->wait_ok = r->ok;
	j->exit_code = r->exit_code;
	if (!r->ok && !j->cancelled)
		set_err(j, "wait: %s", r->error);
	/* The container has exited: its log stream should end now. Podman 4.3
	 * sometimes keeps it open forever (DEFECTS 52): end it after a grace. */
	if (j->waits > 0 && j->cid)
		docker_logs_settle(j->b->d, j->cid, RUN_LOG_GRACE_MS);
	run_finished(j);
}

static void on_run_logs(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r; /* a cut stream only loses output; the wait decides */
	j->inflight--;
	j->waits--;
	run_finished(j);
}

/* ---- run with secrets ----
 *
 * A bind mount at a path the image lacks makes runc create the mount point in
 * the container's layer, and the Engine API cannot delete a file: the empty
 * /root/.etok (and a /run/secrets it needed) would stay in the image. So the
 * secrets are mounted under /dev (a tmpfs of the container: nothing there is
 * committed), the container idles, and three execs run in it: as root, one
 * places a symlink at each target (creating missing directories, moving an
 * existing file aside); the step's own command, as the step's user, in its
 * env and workdir; as root, one removing every link and directory the first
 * made and moving files back. The layer is then committed. Costs three execs
 * per secret step (docs/design.md). */

#define SECRET_DIR "/dev/.graphbuild-secrets"

static const char sec_place_sh[] =
	"set -e; S=" SECRET_DIR "; i=0\n"
	"for t in \"$@\"; do\n"
	"  miss=; p=${t%/*}\n"
	"  while [ -n \"$p\" ] && [ ! -d \"$p\" ] && [ ! -L \"$p\" ]; do miss=\"$p\n$miss\"; p=${p%/*}; done\n"
	"  printf '%s' \"$miss\" | while IFS= read -r d; do mkdir \"$d\"; printf 'd%s\\n' \"$d\" >>$S/.undo; done\n"
	"  if [ -e \"$t\" ] || [ -L \"$t\" ]; then mv \"$t\" \"$t.graphbuild-aside\"; printf 'm%s\\n' \"$t\" >>$S/.undo; fi\n"
	"  ln -s $S/$i \"$t\"; printf 'l%s\\n' \"$t\" >>$S/.undo; i=$((i+1))\n"
	"done\n";

static const char sec_remove_sh[] =
	"S=" SECRET_DIR "\n"
	"[ -e $S/.undo ] || exit 0\n"
	"sed -n '1!G;h;$p' $S/.undo | while IFS= read -r r; do\n"
	"  p=${r#?}\n"
	"  case $r in\n"
	"  l*) rm -f \"$p\" || exit 1 ;;\n"
	"  m*) mv \"$p.graphbuild-aside\" \"$p\" || exit 1 ;;\n"
	"  d*) rmdir \"$p\" 2>/dev/null || true ;; # the step wrote there: its content\n"
	"  esac\n"
	"done\n";

static void run_finished(struct bjob *j);

static void on_sec_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];

	j->inflight--;
	j->waits = 0;
	if (!r->ok && !j->cancelled)
		set_err(j, "exec: %s", r->error);
	else if (r->ok && r->exit_code)
		set_err(j, "%s:%d: step %zu/%zu: cannot remove its secrets' mount points (exit %ld)",
		        st->pos.file, st->pos.line, j->step + 1, j->n->u.image.nsteps, r->exit_code);
	if (stopped(j))
		return cleanup(j);
	sec_free(j);
	commit_step(j);
}

static void on_sec_step(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	char *argv[] = {"/bin/sh", "-c", (char *)sec_remove_sh};

	j->inflight--;
	if (!r->ok && !j->cancelled)
		set_err(j, "exec: %s", r->error);
	if (stopped(j)) {
		j->waits = 0;
		return cleanup(j);
	}
	if (r->exit_code) {
		j->waits = 0;
		j->wait_ok = 1;
		j->exit_code = r->exit_code;
		return run_finished(j);
	}
	if (docker_exec_as(j->b->d, j->cid, "0", argv, 3, run_output, j, on_sec_removed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_sec_placed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];

	j->inflight--;
	if (!r->ok && !j->cancelled)
		set_err(j, "exec: %s", r->error);
	else if (r->ok && r->exit_code)
		set_err(j, "%s:%d: step %zu/%zu: cannot place its secrets (exit %ld; the image needs /bin/sh, mkdir, mv and ln)",
		        st->pos.file, st->pos.line, j->step + 1, j->n->u.image.nsteps, r->exit_code);
	if (stopped(j)) {
		j->waits = 0;
		return cleanup(j);
	}
	if (docker_exec_as(j->b->d, j->cid, NULL, j->xargv, j->nxargv, run_output, j, on_sec_step, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void sec_setup(struct bjob *j)
{
	char **argv = xcalloc(j->nsect + 4, sizeof(*argv));
	size_t i;
	int rc;

	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = (char *)sec_place_sh;
	argv[3] = "sh";
	for (i = 0; i < j->nsect; i++)
		argv[4 + i] = j->sect[i];
	rc = docker_exec_as(j->b->d, j->cid, "0", argv, j->nsect + 4, run_output, j, on_sec_placed, j);
	free(argv);
	if (rc < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
	j->waits = 1; /* job_cancel removes the container: the execs end with it */
}

static void on_run_started(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "start container: %s", r->error);
	else {
		/* The container has its secret files bound: the host-side copies
		 * go now, so a secret outlives no container (nor a kill -9). */
		size_t i;
		for (i = 0; i < j->ntmp; i++) {
			unlink(j->tmpfiles[i]);
			free(j->tmpfiles[i]);
		}
		j->ntmp = 0;
	}
	if (stopped(j))
		return cleanup(j);
	if (j->xargv)
		return sec_setup(j);
	j->waits = 0;
	if (docker_container_wait(j->b->d, j->cid, on_run_wait, j) == 0) {
		j->inflight++;
		j->waits++;
	} else {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	if (docker_container_logs(j->b->d, j->cid, 1, 0, 0, run_output, j, on_run_logs, j) == 0) {
		j->inflight++;
		j->waits++;
	}
}

static void on_run_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "%s:%d: create container: %s", j->n->u.image.steps[j->step].pos.file,
		        j->n->u.image.steps[j->step].pos.line, r->error);
	if (stopped(j))
		return cleanup(j);
	if (docker_container_start(j->b->d, j->cid, on_run_started, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* Writes an env secret's value to a private 0600 file outside any context. */
static char *secret_file(struct bjob *j, const char *id, const char *src)
{
	const char *tmp = build_tmpdir();
	char *path;
	int fd;

	if (!strncmp(src, "file:", 5))
		return xstrdup(src + 5);
	if (strncmp(src, "env:", 4)) {
		set_err(j, "secret %s: unknown source %s", id, src);
		return NULL;
	}
	if (!getenv(src + 4)) {
		set_err(j, "secret %s: environment variable %s is not set", id, src + 4);
		return NULL;
	}
	path = xasprintf("%s/graphbuild-secret-XXXXXX", tmp);
	fd = mkstemp(path);
	if (fd < 0) {
		set_err(j, "secret %s: cannot create a temporary file: %s", id, strerror(errno));
		free(path);
		return NULL;
	}
	fchmod(fd, 0600);
	{
		const char *v = getenv(src + 4);
		size_t n = strlen(v), done = 0;
		while (done < n) {
			ssize_t w = write(fd, v + done, n - done);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
	}
	close(fd);
	push(&j->tmpfiles, &j->ntmp, xstrdup(path));
	return path;
}

static void add_mount(struct bjob *j, const char *type, char *src, const char *target, int ro)
{
	j->mounts = xreallocarray(j->mounts, j->nmounts + 1, sizeof(*j->mounts));
	j->mounts[j->nmounts].type = type;
	j->mounts[j->nmounts].source = src;
	j->mounts[j->nmounts].target = xstrdup(target);
	j->mounts[j->nmounts].readonly = ro;
	j->nmounts++;
}

void step_run(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	char *target;
	size_t i;

	sec_free(j);
	spec_reset(j);
	step_config(j, j->step);
	/* The step's own env is exported by a wrapper rather than put in the
	 * container's Env: POST /commit merges the container's Env into the
	 * image, so it would leak into every later image. */
	if (st->env.n) {
		struct buf b = {0};
		buf_adds(&b, "export");
		for (i = 0; i < st->env.n; i++) {
			char *q = shq(st->env.v[i]);
			buf_printf(&b, " %s=%s", st->env.k[i], q);
			free(q);
		}
		if (st->shell && st->args.n == 3) {
			buf_printf(&b, "; %s", st->args.v[2]);
			push(&j->argv, &j->nargv, xstrdup("/bin/sh"));
			push(&j->argv, &j->nargv, xstrdup("-c"));
			push(&j->argv, &j->nargv, buf_take(&b));
		} else {
			buf_adds(&b, "; exec \"$@\"");
			push(&j->argv, &j->nargv, xstrdup("/bin/sh"));
			push(&j->argv, &j->nargv, xstrdup("-c"));
			push(&j->argv, &j->nargv, buf_take(&b));
			push(&j->argv, &j->nargv, xstrdup("sh"));
			for (i = 0; i < st->args.n; i++)
				push(&j->argv, &j->nargv, xstrdup(st->args.v[i]));
		}
	} else
		for (i = 0; i < st->args.n; i++)
			push(&j->argv, &j->nargv, xstrdup(st->args.v[i]));
	for (i = 0; i < st->cache.n; i++) {
		char *key = xasprintf("%s:%s", j->n->name, st->cache.v[i]);
		unsigned char h[16];
		char hex[33];
		hash_buffer(key, strlen(key), h);
		hex_encode(h, 16, hex);
		hex[16] = 0;
		add_mount(j, "volume", xasprintf("gbcache-%s", hex), st->cache.v[i], 0);
		free(key);
	}
	for (i = 0; i < st->secrets.n; i++) {
		const char *src = kv_get(&j->b->s->secrets, st->secrets.k[i]);
		char *file;
		if (!src) {
			set_err(j, "%s:%d: secret %s is not declared", st->pos.file, st->pos.line,
			        st->secrets.k[i]);
			return cleanup(j);
		}
		if (!(file = secret_file(j, st->secrets.k[i], src)))
			return cleanup(j);
		target = xasprintf(SECRET_DIR "/%zu", i);
		add_mount(j, "bind", file, target, 1);
		free(target);
		push(&j->sect, &j->nsect, xstrdup(st->secrets.v[i]));
	}
	if (st->secrets.n) { /* the command runs by exec once the links are placed */
		j->xargv = j->argv;
		j->nxargv = j->nargv;
		j->argv = NULL;
		j->nargv = 0;
		push(&j->argv, &j->nargv, xstrdup("/bin/sh"));
		push(&j->argv, &j->nargv, xstrdup("-c"));
		push(&j->argv, &j->nargv, xstrdup("while :; do sleep 3600; done"));
	}
	j->spec.image = j->image;
	j->spec.network = st->network; /* "none": RUN --network=none */
	j->spec.entrypoint_set = 1; /* [] : the parent's entrypoint must not wrap the step */
	own_labels(j, 1);
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_run_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}
