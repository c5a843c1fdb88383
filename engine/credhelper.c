/* credhelper.c - owns running docker credential helpers (credsStore and
 * credHelpers in config.json): the protocol of docker-credential-helpers,
 * "docker-credential-NAME get", the server URL on stdin, JSON (or the text
 * "credentials not found in native keychain") on stdout. Synchronous, as the
 * docker CLI is, and bounded: a helper that hangs (a locked keychain asking
 * a GUI) is killed after the time-out. What the helper prints is parsed by
 * the caller (docker.c: the only cJSON user). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "graphbuild/credhelper.h"
#include "graphbuild/util.h"

extern char **environ;

enum { OUT_MAX = 1 << 16 };

/* The first line of what it said, without control characters, at most 200 bytes. */
static char *said(const struct buf *b)
{
	size_t n = 0;
	char *s;

	while (n < b->len && n < 200 && b->data[n] != '\n')
		n++;
	s = xstrndup(b->len ? b->data : "", n);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

int credhelper_get(const char *name, const char *server, int timeout_ms, char **out, char **err)
{
	char *prog = xasprintf("docker-credential-%s", name);
	char *argv[] = {prog, "get", NULL};
	int in[2] = {-1, -1}, op[2] = {-1, -1}, status = 0, rc = -1, timed_out = 0;
	posix_spawn_file_actions_t fa;
	struct buf b = {0};
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	pid_t pid;
	size_t len = strlen(server);

	*out = *err = NULL;
	if (strchr(name, '/') || !*name) {
		*err = xasprintf("credential helper name '%s' is not a plain name", name);
		free(prog);
		return -1;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0) {
		*err = xasprintf("%s: pipe: %s", prog, strerror(errno));
		goto out;
	}
	/* the URL (no newline, as the docker CLI sends it) goes in before the
	 * helper runs: a pipe holds it, and a helper that exits without reading
	 * cannot raise SIGPIPE here */
	if (len > 4096 || write(in[1], server, len) != (ssize_t)len) {
		*err = xasprintf("%s: cannot pass the server URL", prog);
		goto out;
	}
	close(in[1]);
	in[1] = -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, op[1], 2);
	errno = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno) {
		*err = xasprintf("%s (credsStore/credHelpers in config.json): %s", prog,
		                 errno == ENOENT ? "not found in PATH" : strerror(errno));
		goto out;
	}
	close(op[1]);
	op[1] = -1;
	for (;;) {
		struct pollfd p = {.fd = op[0], .events = POLLIN};
		uint64_t t = now_ms();
		int left = t >= deadline ? 0 : (int)(deadline - t);
		char chunk[4096];
		ssize_t n;

		if (left <= 0) {
			timed_out = 1;
			break;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!p.revents)
			continue;
		n = read(op[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (b.len + (size_t)n <= OUT_MAX)
			buf_add(&b, chunk, (size_t)n);
	}
	if (timed_out)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf_adds(&b, "");
	b.len--;
	if (timed_out)
		*err = xasprintf("%s get: no answer in %d s (killed)", prog, timeout_ms / 1000);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*out = buf_take(&b);
		rc = 0;
	} else if (strstr(b.data, "credentials not found"))
		rc = 1;
	else {
		char *s = said(&b);
		if (WIFEXITED(status))
			*err = xasprintf("%s get: exit %d%s%s", prog, WEXITSTATUS(status), *s ? ": " : "", s);
		else
			*err = xasprintf("%s get: killed by signal %d", prog, WTERMSIG(status));
		free(s);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	buf_free(&b);
	free(prog);
	return rc;
}
