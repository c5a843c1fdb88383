/* tests/unit/docker_wire.c - the requests the engine client puts on the wire
 * where Docker and Podman 4.3 differ, read by a recording HTTP server on a
 * unix socket that answers as Docker or as Podman's compat API would (its
 * /version names the engine). What the engines then do with those requests is
 * tested against the real ones (test_docker_client and the integration tests,
 * once per engine in tests/run.sh); this test pins the shapes on every run:
 *   - commit: the config also as `changes` (Podman ignores the body), with
 *     each engine's quoting, and a bare-hex ID read as sha256:HEX;
 *   - create: HostConfig.Ulimits nofile/nproc at our own hard limits;
 *   - import with a tag: Podman's import, then tag, then libpod untag of
 *     the full REPO:latest name; on Docker one import.
 * Prints "ok N - name" lines and "N passed, M failed". */
#define _GNU_SOURCE
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/util.h"

#include "tap.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ---- the recording server ---- */

struct req {
	char *method, *target; /* target without the /vX.Y prefix, decoded */
	char *body;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct req reqs[64];
static size_t nreqs;
static int as_podman;
static int lfd;

static char *decode(const char *s)
{
	char *o = xmalloc(strlen(s) + 1), *p = o;
	for (; *s; s++) {
		if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
			char h[3] = {s[1], s[2], 0};
			*p++ = (char)strtol(h, NULL, 16);
			s += 2;
		} else
			*p++ = *s == '+' ? ' ' : *s;
	}
	*p = 0;
	return o;
}

/* Reads until the buffer holds n bytes past off; 0 at EOF. */
static int fill(int fd, struct buf *b, size_t need)
{
	char tmp[65536];
	while (b->len < need) {
		ssize_t k = read(fd, tmp, sizeof tmp);
		if (k <= 0)
			return 0;
		buf_add(b, tmp, (size_t)k);
	}
	return 1;
}

static const char *header(const char *head, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':')
			return l + 3 + n + strspn(l + 3 + n, " ");
	return NULL;
}

static void reply(int fd, int status, const char *type, const char *body)
{
	char *r = xasprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s", status,
	                    type, strlen(body), body);
	if (write(fd, r, strlen(r)) < 0)
		perror("write");
	free(r);
}

static void answer(int fd, const struct req *q)
{
	const char *t = q->target;
	if (strcmp(t, "/_ping") == 0)
		reply(fd, 200, "text/plain", "OK");
	else if (strcmp(t, "/version") == 0)
		reply(fd, 200, "application/json",
		      as_podman ? "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\",\"Components\":"
		                  "[{\"Name\":\"Podman Engine\",\"Version\":\"4.3.1\"}]}"
		                : "{\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\",\"Components\":"
		                  "[{\"Name\":\"Engine\",\"Version\":\"20.10.24\"}]}");
	else if (strncmp(t, "/commit?", 8) == 0)
		reply(fd, 201, "application/json", as_podman ? "{\"Id\":\"" HEX64 "\"}" : "{\"Id\":\"sha256:" HEX64 "\"}");
	else if (strncmp(t, "/containers/create", 18) == 0)
		reply(fd, 201, "application/json", "{\"Id\":\"c0ffee\",\"Warnings\":[]}");
	else if (strncmp(t, "/images/create?fromSrc=", 23) == 0)
		reply(fd, 200, "application/json", "{\"status\":\"sha256:" HEX64 "\"}\r\n");
	else if (strncmp(t, "/images/", 8) == 0 && strstr(t, "/tag?"))
		reply(fd, 201, "text/plain", "");
	else if (strncmp(t, "/libpod/images/", 15) == 0 && strstr(t, "/untag?"))
		reply(fd, 201, "text/plain", "");
	else
		reply(fd, 404, "application/json", "{\"message\":\"not in this test\"}");
}

/* One connection: requests one after another (keep-alive), bodies by
 * Content-Length or chunked. */
static void serve(int fd)
{
	struct buf b = {0};
	for (;;) {
		char *end, *head, *sp1, *sp2;
		const char *v;
		struct req q = {0};
		struct buf body = {0};
		size_t off;
		while (!(b.len && (end = memmem(b.data, b.len, "\r\n\r\n", 4))))
			if (!fill(fd, &b, b.len + 1))
				goto out;
		off = (size_t)(end - b.data) + 4;
		head = xstrndup(b.data, off);
		sp1 = strchr(head, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp2) {
			free(head);
			goto out;
		}
		q.method = xstrndup(head, (size_t)(sp1 - head));
		{
			char *raw = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1)), *t = raw;
			if (strncmp(t, "/v1.", 4) == 0 && strchr(t + 1, '/'))
				t = strchr(t + 1, '/');
			q.target = decode(t);
			free(raw);
		}
		if ((v = header(head, "Content-Length"))) {
			size_t n = strtoul(v, NULL, 10);
			if (!fill(fd, &b, off + n))
				goto bad;
			buf_add(&body, b.data + off, n);
			off += n;
		} else if ((v = header(head, "Transfer-Encoding")) && strncasecmp(v, "chunked", 7) == 0) {
			for (;;) {
				char *nl;
				size_t n;
				while (!(nl = memmem(b.data + off, b.len - off, "\r\n", 2)))
					if (!fill(fd, &b, b.len + 1))
						goto bad;
				n = strtoul(b.data + off, NULL, 16);
				off = (size_t)(nl - b.data) + 2;
				if (!fill(fd, &b, off + n + 2))
					goto bad;
				buf_add(&body, b.data + off, n);
				off += n + 2;
				if (n == 0)
					break;
			}
		}
		buf_adds(&body, "");
		q.body = buf_take(&body);
		memmove(b.data, b.data + off, b.len - off);
		b.len -= off;
		free(head);
		/* recorded before the answer: the client may look as soon as
		 * its reply is in (answer's write is its last use of q) */
		pthread_mutex_lock(&mu);
		if (nreqs < sizeof reqs / sizeof reqs[0]) {
			reqs[nreqs++] = q;
			pthread_mutex_unlock(&mu);
			answer(fd, &q);
		} else {
			pthread_mutex_unlock(&mu);
			answer(fd, &q);
			free(q.method), free(q.target), free(q.body);
		}
		continue;
	bad:
		free(head);
		free(q.method);
		free(q.target);
		buf_free(&body);
		goto out;
	}
out:
	buf_free(&b);
	close(fd);
}

static void *conn(void *arg)
{
	serve((int)(intptr_t)arg);
	return NULL;
}

/* Accepts until the listener is shut down; a thread per connection. */
static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static void reqs_clear(void)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nreqs; i++) {
		free(reqs[i].method);
		free(reqs[i].target);
		free(reqs[i].body);
	}
	nreqs = 0;
	pthread_mutex_unlock(&mu);
}

/* The first recorded request whose target starts with prefix, or NULL. */
static const struct req *find(const char *prefix)
{
	const struct req *r = NULL;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nreqs && !r; i++)
		if (strncmp(reqs[i].target, prefix, strlen(prefix)) == 0)
			r = &reqs[i];
	pthread_mutex_unlock(&mu);
	return r;
}

/* ---- the client side ---- */

static uv_loop_t loop;

struct res {
	int called, ok;
	char *id, *error;
};

static void cap(void *arg, const struct docker_result *r)
{
	struct res *x = arg;
	x->called++;
	x->ok = r->ok;
	free(x->id);
	free(x->error);
	x->id = r->id ? xstrdup(r->id) : NULL;
	x->error = r->error ? xstrdup(r->error) : NULL;
}

static int run(struct docker *d, int rc, struct res *x)
{
	if (rc < 0)
		return 0;
	docker_run_loop(d);
	return x->called == 1 && x->ok;
}

static void res_clear(struct res *x)
{
	free(x->id);
	free(x->error);
	memset(x, 0, sizeof *x);
}

static ssize_t tar_bytes(void *arg, char *buf, size_t n)
{
	int *left = arg;
	size_t k = n < (size_t)*left ? n : (size_t)*left;
	memset(buf, 0, k);
	*left -= (int)k;
	return (ssize_t)k;
}

/* The decoded `changes` values of a commit target, one per line. */
static char *changes(const char *target)
{
	struct buf b = {0};
	for (const char *p = strstr(target, "&changes="); p; p = strstr(p + 1, "&changes=")) {
		const char *e = strstr(p + 1, "&changes=");
		buf_add(&b, p + 9, e ? (size_t)(e - p - 9) : strlen(p + 9));
		buf_adds(&b, "\n");
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

/* The Ulimits of a create body: nofile and nproc equal soft and hard, at
 * most our own hard limit and the cap. */
static int ulimits_ok(const char *body)
{
	cJSON *j = cJSON_Parse(body), *u, *it;
	int seen = 0, ok = 1;
	u = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "HostConfig"), "Ulimits");
	cJSON_ArrayForEach(it, u)
	{
		const char *n = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "Name"));
		double soft = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "Soft"));
		double hard = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "Hard"));
		struct rlimit rl;
		int res = n && strcmp(n, "nofile") == 0 ? RLIMIT_NOFILE : RLIMIT_NPROC;
		double cap = res == RLIMIT_NOFILE ? 1048576 : 32768;
		getrlimit(res, &rl);
		if (rl.rlim_max != RLIM_INFINITY && (double)rl.rlim_max < cap)
			cap = (double)rl.rlim_max;
		seen |= res == RLIMIT_NOFILE ? 1 : 2;
		ok = ok && soft == hard && hard == cap;
	}
	cJSON_Delete(j);
	return ok && seen == 3;
}

static void round_for(const char *sock, int podman)
{
	const char *eng = podman ? "podman" : "docker";
	char name[160], *err = NULL, *host = xasprintf("unix://%s", sock);
	struct docker *d;
	struct res x = {0};
	const struct req *q;

	as_podman = podman;
	reqs_clear();
	d = docker_new(&loop, host, &err);
	free(host);
	snprintf(name, sizeof name, "%s: connect names the engine (docker_is_podman)", eng);
	T(name, d && run(d, docker_connect(d, cap, &x), &x) && docker_is_podman(d) == podman);
	res_clear(&x);
	if (!d) {
		free(err);
		return;
	}

	/* commit: explicit config, so no parent read */
	{
		char *cmd[] = {"/bin/app", "--port", "8080"}, *env[] = {"A=1", "Q=say \"hi\" $HOME"};
		char *lk[] = {"graphbuild.key"}, *lv[] = {"k1"};
		struct docker_spec s = {.cmd = cmd, .ncmd = 3, .cmd_set = 1, .entrypoint_set = 1, .env = env, .nenv = 2,
		                        .workdir = "/srv", .user = "app", .label_k = lk, .label_v = lv, .nlabels = 1};
		char *ch;
		reqs_clear();
		snprintf(name, sizeof name, "%s: commit succeeds, the ID as sha256:HEX", eng);
		T(name, run(d, docker_commit(d, "c0ffee", "p/app", "latest", &s, cap, &x), &x) && x.id &&
		            strcmp(x.id, "sha256:" HEX64) == 0);
		q = find("/commit?");
		ch = changes(q ? q->target : "");
		snprintf(name, sizeof name, "%s: commit sends CMD, WORKDIR, USER, LABEL, ENV as changes", eng);
		T(name, q && strcmp(q->method, "POST") == 0 && strstr(ch, "CMD [\"/bin/app\",\"--port\",\"8080\"]\n") &&
		            strstr(ch, "WORKDIR /srv\n") && strstr(ch, "USER app\n") &&
		            strstr(ch, "LABEL graphbuild.key=\"k1\"\n") && strstr(ch, "ENV A=\"1\"\n"));
		snprintf(name, sizeof name, "%s: a value with quotes: %s", eng,
		         podman ? "left out of changes (Podman does not unescape), in the body" : "escaped \\\" \\$");
		T(name, podman ? !strstr(ch, "ENV Q=") && q && strstr(q->body, "say \\\"hi\\\" $HOME")
		               : strstr(ch, "ENV Q=\"say \\\"hi\\\" \\$HOME\"\n") != NULL);
		snprintf(name, sizeof name, "%s: commit sends the config as its body too", eng);
		T(name, q && strstr(q->body, "\"Cmd\":[\"/bin/app\",\"--port\",\"8080\"]") &&
		            strstr(q->body, "\"graphbuild.key\":\"k1\""));
		free(ch);
		res_clear(&x);
	}

	/* create: Ulimits */
	{
		char *cmd[] = {"true"};
		struct docker_spec s = {.image = "busybox", .cmd = cmd, .ncmd = 1, .cmd_set = 1, .stop_timeout = -1};
		reqs_clear();
		run(d, docker_container_create(d, &s, cap, &x), &x);
		q = find("/containers/create");
		snprintf(name, sizeof name, "%s: create sends Ulimits nofile and nproc at our hard limits", eng);
		T(name, x.ok && x.id && strcmp(x.id, "c0ffee") == 0 && q && ulimits_ok(q->body));
		res_clear(&x);
	}

	/* import with a tag */
	{
		int left = 10240;
		reqs_clear();
		snprintf(name, sizeof name, "%s: import with a tag: the new image's ID", eng);
		T(name, run(d, docker_image_import(d, "graphbuild-import", "k1", tar_bytes, &left, cap, &x), &x) && x.id &&
		            strcmp(x.id, "sha256:" HEX64) == 0);
		q = find("/images/create?fromSrc=-");
		snprintf(name, sizeof name, "%s: import names repo and tag in its query", eng);
		T(name, q && strstr(q->target, "repo=graphbuild-import") && strstr(q->target, "tag=k1"));
		if (podman) {
			const struct req *tg = find("/images/sha256:" HEX64 "/tag?"),
			                 *ut = find("/libpod/images/sha256:" HEX64 "/untag?");
			T("podman: import is followed by a tag of the ID as REPO:TAG",
			  tg && strstr(tg->target, "repo=graphbuild-import&tag=k1"));
			T("podman: and an untag of the full docker.io/library/REPO:latest",
			  ut && strstr(ut->target, "repo=docker.io/library/graphbuild-import&tag=latest"));
			T("podman: three requests after the import, in that order",
			  nreqs == 3 && tg == &reqs[1] && ut == &reqs[2]);
		} else
			T("docker: import is one request, nothing retagged", nreqs == 1);
		res_clear(&x);
	}
	docker_free(d);
	uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void)
{
	char dir[] = "/tmp/gbwire-XXXXXX", *sock;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	pthread_t th;

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	sock = xasprintf("%s/engine.sock", dir);
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 8) != 0) {
		perror("listen");
		return 1;
	}
	pthread_create(&th, NULL, server, NULL);
	uv_loop_init(&loop);
	round_for(sock, 0);
	round_for(sock, 1);
	T("the loop closes with nothing left on it", uv_loop_close(&loop) == 0);
	shutdown(lfd, SHUT_RDWR);
	close(lfd);
	pthread_join(th, NULL);
	reqs_clear();
	unlink(sock);
	rmdir(dir);
	free(sock);
	return tap_done();
}
