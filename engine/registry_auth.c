/* registry_auth.c - registry credentials for registry.c and the engine's
 * X-Registry-Auth: ~/.docker/config.json (auths, credsStore, credHelpers,
 * asked through credhelper.c), the base64 of config.json's "auth" and of the
 * X-Registry-Auth header, and the token endpoint's reply. Split from
 * docker.c; it shares only docker_int.h with the Engine API calls. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "graphbuild/credhelper.h"
#include "graphbuild/docker.h"
#include "graphbuild/util.h"
#include "docker_int.h"

/* Standard base64 ("+/") in, bytes out; NULL on a bad character. */
static char *b64_decode(const char *s, size_t *outlen)
{
	struct buf b = {0};
	unsigned v = 0;
	int bits = 0;
	for (; *s && *s != '='; s++) {
		const char *p;
		static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		if (isspace((unsigned char)*s))
			continue;
		if (*s == '-' || *s == '_') /* tolerate the URL alphabet */
			p = al + (*s == '-' ? 62 : 63);
		else if (!(p = strchr(al, *s))) {
			buf_free(&b);
			return NULL;
		}
		v = (v << 6) | (unsigned)(p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_addc(&b, (char)((v >> bits) & 0xff));
		}
	}
	buf_adds(&b, "");
	*outlen = b.len;
	return buf_take(&b);
}

/* base64url with padding, as the engine decodes X-Registry-Auth. */
static char *b64url_encode(const char *in, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *p = (const unsigned char *)in;
	struct buf b = {0};
	size_t i;
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		buf_addc(&b, al[v >> 18]);
		buf_addc(&b, al[(v >> 12) & 63]);
		buf_addc(&b, al[(v >> 6) & 63]);
		buf_addc(&b, al[v & 63]);
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
		buf_addc(&b, al[v >> 18]);
		buf_addc(&b, al[(v >> 12) & 63]);
		buf_addc(&b, i + 1 < n ? al[(v >> 6) & 63] : '=');
		buf_addc(&b, '=');
	}
	buf_adds(&b, "");
	return buf_take(&b);
}

/* "https://host:port/v1/" -> "host:port" (malloc'd). */
static char *auth_key_host(const char *k)
{
	const char *p = strstr(k, "://");
	p = p ? p + 3 : k;
	return xstrndup(p, strcspn(p, "/"));
}

/* A credential helper's bound: the docker CLI waits forever; a locked
 * keychain must not hang a build. */
enum { CREDHELPER_TIMEOUT_MS = 30000 };

/* credHelpers[host], else credsStore: the helper's name, or NULL. */
static const char *cred_helper_of(const cJSON *j, const char *host)
{
	const cJSON *e, *helpers = jobj(j, "credHelpers");
	const char *store = jstr(j, "credsStore");

	cJSON_ArrayForEach(e, helpers)
	{
		char *h;
		int same;
		if (!e->string || !cJSON_IsString(e) || !*e->valuestring)
			continue;
		h = auth_key_host(e->string);
		same = strcmp(h, host) == 0;
		free(h);
		if (same)
			return e->valuestring;
	}
	return store && *store ? store : NULL;
}

/* Asks helper name for host's credentials (docker-credential-helpers'
 * protocol). 1: *user and *password, or *identitytoken set; 0: the helper has
 * none (anonymous); -1: *err. */
static int cred_helper_ask(const char *name, const char *host, const char *path, char **user, char **password,
                           char **identitytoken, char **err)
{
	/* the server as docker login stores it: Docker Hub by its v1 URL */
	const char *server = strcmp(host, "index.docker.io") == 0 ? "https://index.docker.io/v1/" : host;
	char *out = NULL, *why = NULL;
	const char *u, *secret;
	cJSON *j;
	int rc = credhelper_get(name, server, CREDHELPER_TIMEOUT_MS, &out, &why);

	if (rc != 0) {
		if (rc < 0)
			*err = xasprintf("%s: %s", path, why);
		free(why);
		return rc < 0 ? -1 : 0;
	}
	j = cJSON_Parse(out);
	free(out);
	u = j ? jstr(j, "Username") : NULL;
	secret = j ? jstr(j, "Secret") : NULL;
	if (!u || !secret) {
		*err = xasprintf("%s: docker-credential-%s get for %s: expected JSON with Username and Secret", path,
		                 name, server);
		cJSON_Delete(j);
		return -1;
	}
	if (strcmp(u, "<token>") == 0) /* an identity token, as docker login stores it */
		*identitytoken = xstrdup(secret);
	else {
		*user = xstrdup(u);
		*password = xstrdup(secret);
	}
	cJSON_Delete(j);
	return 1;
}

int docker_auth_for(const char *host, char **user, char **password, char **identitytoken, char **err)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	char *path, *text, *def = NULL;
	const char *helper;
	const cJSON *auths, *e, *found = NULL;
	cJSON *j;
	size_t len;
	int rc = 0;

	*user = *password = *identitytoken = NULL;
	*err = NULL;
	if (!dir || !*dir)
		dir = def = xasprintf("%s/.docker", home ? home : "");
	path = path_join(dir, "config.json");
	free(def);
	text = read_file(path, &len);
	if (!text) {
		free(path);
		return 0; /* no config: anonymous */
	}
	j = cJSON_ParseWithLength(text, len);
	free(text);
	if (!j) {
		*err = xasprintf("%s: not valid JSON", path);
		free(path);
		return -1;
	}
	if ((helper = cred_helper_of(j, host))) { /* the helper, not auths, holds them */
		rc = cred_helper_ask(helper, host, path, user, password, identitytoken, err);
		cJSON_Delete(j);
		free(path);
		return rc;
	}
	auths = jobj(j, "auths");
	cJSON_ArrayForEach(e, auths)
	{
		char *h;
		if (!e->string || !cJSON_IsObject(e))
			continue;
		h = auth_key_host(e->string);
		if (strcmp(h, host) == 0)
			found = e;
		free(h);
		if (found)
			break;
	}
	if (found) {
		const char *a = jstr(found, "auth"), *u = jstr(found, "username"), *pw = jstr(found, "password"),
		           *it = jstr(found, "identitytoken");
		if (a && *a) {
			size_t n;
			char *dec = b64_decode(a, &n), *colon = dec ? memchr(dec, ':', n) : NULL;
			if (!colon) {
				*err = xasprintf("%s: auths[\"%s\"].auth is not base64 of user:password", path,
				                 found->string);
				free(dec);
				rc = -1;
			} else {
				*user = xstrndup(dec, (size_t)(colon - dec));
				*password = xstrdup(colon + 1);
				free(dec);
				rc = 1;
			}
		} else if (u && *u && pw) {
			*user = xstrdup(u);
			*password = xstrdup(pw);
			rc = 1;
		}
		if (rc >= 0 && it && *it) {
			*identitytoken = xstrdup(it);
			rc = 1;
		}
	}
	cJSON_Delete(j);
	free(path);
	return rc;
}

char *docker_auth_header(const char *user, const char *password, const char *identitytoken,
                         const char *server)
{
	cJSON *o;
	char *s, *enc;
	if (!user && !password && !identitytoken)
		return xstrdup(NO_AUTH);
	o = cJSON_CreateObject();
	if (identitytoken)
		cJSON_AddStringToObject(o, "identitytoken", identitytoken);
	else {
		cJSON_AddStringToObject(o, "username", user ? user : "");
		cJSON_AddStringToObject(o, "password", password ? password : "");
	}
	if (server)
		cJSON_AddStringToObject(o, "serveraddress", server);
	s = cJSON_PrintUnformatted(o);
	enc = b64url_encode(s, strlen(s));
	cJSON_free(s);
	cJSON_Delete(o);
	return enc;
}

char *docker_token_parse(const char *body, size_t len, long *expires_in)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const char *t = j ? jstr(j, "token") : NULL;
	char *s;
	if (!t || !*t)
		t = j ? jstr(j, "access_token") : NULL;
	s = t && *t ? xstrdup(t) : NULL;
	*expires_in = j && jnum(j, "expires_in") > 0 ? (long)jnum(j, "expires_in") : 60;
	cJSON_Delete(j);
	return s;
}
