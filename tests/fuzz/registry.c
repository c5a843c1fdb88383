/* registry.c - fuzzes what a registry and `docker login` wrote, as
 * engine/registry.c reads it (included, for its static parsers): the
 * WWW-Authenticate challenge of a 401 on GET /v2/ (header_value, then
 * challenge_param for realm, service and scope), the token server's JSON
 * reply (docker_token_parse), ~/.docker/config.json (docker_auth_for, the
 * file in $DOCKER_CONFIG) and a cache name (registry_new). Input: four parts
 * separated by NUL bytes: the raw response header block, the token reply,
 * config.json, the cache name "HOST[:PORT]/REPO". (registry.c reads no
 * manifest or error body: lookups are HEADs, a non-200 token reply is
 * reported by its status.) */
#include "fuzz.h"

#include "../../engine/registry.c"

static uv_loop_t loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *headers = fz_part(&p, &n), *token = fz_part(&p, &n);
	char *config = fz_part(&p, &n), *name = fz_part(&p, &n);
	char *ch, *user, *pw, *it, *err = NULL, *path;
	long expires = -1;
	struct registry *r;

	if (!loop.data) {
		uv_loop_init(&loop);
		loop.data = &loop;
		setenv("DOCKER_CONFIG", fz_tmpdir(), 1);
	}
	ch = header_value(headers, "WWW-Authenticate");
	if (ch) {
		char *realm = challenge_param(ch, "realm"), *service = challenge_param(ch, "service");
		char *scope = challenge_param(ch, "scope");

		free(realm);
		free(service);
		free(scope);
		free(ch);
	}
	/* the token body as curl hands it over: exactly its bytes */
	{
		size_t tl = strlen(token);
		char *body = malloc(tl ? tl : 1);

		memcpy(body, token, tl);
		free(token);
		token = docker_token_parse(body, tl, &expires);
		FZ_ASSERT(expires > 0);
		FZ_ASSERT(!token || *token);
		free(body);
		free(token);
	}
	path = path_join(fz_tmpdir(), "config.json");
	fz_write(path, config, strlen(config));
	free(path);
	switch (docker_auth_for("127.0.0.1:5000", &user, &pw, &it, &err)) {
	case -1:
		FZ_ASSERT(err && !user && !pw);
		break;
	case 0:
		FZ_ASSERT(!user && !pw && !it && !err);
		break;
	case 1:
		FZ_ASSERT((user && pw) || it);
		break;
	default:
		FZ_ASSERT(0);
	}
	free(user);
	free(pw);
	free(it);
	free(err);
	err = NULL;
	r = registry_new(&loop, name, &err);
	FZ_ASSERT(r ? !err : err != NULL);
	if (r) {
		char *ref = registry_ref(r, "0123456789abcdef0123456789abcdef");

		FZ_ASSERT(strlen(registry_name(r)) > 0);
		free(ref);
		registry_free(r);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	free(err);
	free(headers);
	free(config);
	free(name);
	return 0;
}
