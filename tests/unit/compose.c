/* compose.c - the compose front end: interpolation, shell-style split,
 * the conversion of real files (written to a temp dir), and the errors
 * and warnings that must name FILE:LINE. */
#include "graphbuild/compose.h"
#include "graphbuild/util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void put(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	free(p);
}

/* converts dir/NAME: the text (malloc'd) or NULL with *err */
static char *conv(const char *name, char **err)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct buf b = {0};
	char *r = NULL;

	*err = NULL;
	buf_adds(&b, "");
	if (compose_to_lua(p, NULL, 0, &b, err) == 0)
		r = buf_take(&b);
	buf_free(&b);
	free(p);
	return r;
}

static int has(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

static char *interp(const char *s, char **err)
{
	static const char *const env[] = {"DOT=fromdotenv", "EMPTY="};

	*err = NULL;
	return compose_interpolate(s, env, 2, err);
}

int main(void)
{
	char *r, *e;
	char **argv;
	int n;

	setenv("GB_T_SET", "val", 1);
	setenv("GB_T_EMPTY", "", 1);
	setenv("DOT", "host-wins", 1);
	unsetenv("GB_T_UNSET");

	r = interp("a${GB_T_SET}b$GB_T_SET", &e);
	T("interp: ${V} and $V", r && !strcmp(r, "avalbval"));
	free(r);
	r = interp("${GB_T_UNSET:-d} ${GB_T_EMPTY:-d} ${GB_T_UNSET-d} ${GB_T_EMPTY-d}|", &e);
	T("interp: :- and - defaults", r && !strcmp(r, "d d d |"));
	free(r);
	r = interp("$$HOME $${X}", &e);
	T("interp: $$ is a literal $", r && !strcmp(r, "$HOME ${X}"));
	free(r);
	r = interp("${DOT}", &e);
	T("interp: the process environment wins over .env", r && !strcmp(r, "host-wins"));
	free(r);
	unsetenv("DOT");
	r = interp("${DOT}", &e);
	T("interp: .env when the environment lacks it", r && !strcmp(r, "fromdotenv"));
	free(r);
	r = interp("${GB_T_UNSET:?must be set}", &e);
	T("interp: ${V:?err} fails with the message", !r && has(e, "GB_T_UNSET") && has(e, "must be set"));
	free(e);
	r = interp("${GB_T_EMPTY?x}", &e);
	T("interp: ${V?err} accepts an empty value", r && !strcmp(r, ""));
	free(r);
	r = interp("${GB_T_EMPTY:?x}", &e);
	T("interp: ${V:?err} refuses an empty value", !r && has(e, "empty"));
	free(e);
	r = interp("${GB_T_UNSET:-${GB_T_SET}}", &e);
	T("interp: nested default", r && !strcmp(r, "val"));
	free(r);
	r = interp("${", &e);
	T("interp: unterminated ${ is an error", !r && e);
	free(e);
	r = interp("${A*B}", &e);
	T("interp: bad operator is an error", !r && e);
	free(e);
	r = interp("${GB_T_SET:}", &e);
	T("interp: a colon without an operator is an error (the word is not cut at -1 bytes)",
	  !r && has(e, "unknown operator"));
	free(e);

	n = compose_shell_split("echo 'a b' \"c \\\"d\\\"\" e\\ f  ''", &argv);
	T("split: quotes, escapes, empty word", n == 5 && !strcmp(argv[1], "a b") && !strcmp(argv[2], "c \"d\"") &&
	  !strcmp(argv[3], "e f") && !strcmp(argv[4], ""));
	for (int i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	n = compose_shell_split("echo 'open", &argv);
	T("split: an unterminated quote is an error", n == -1);
	n = compose_shell_split("   ", &argv);
	T("split: blank is no words", n == 0);
	free(argv);

	T("is_file", compose_is_file("docker-compose.yml") && compose_is_file("x/compose.yaml") &&
	  !compose_is_file("stack.lua") && !compose_is_file(".yml"));

	strcpy(dir, "/tmp/gb-unit-compose-XXXXXX");
	if (!mkdtemp(dir))
		return 1;

	put("empty.yml", "");
	r = conv("empty.yml", &e);
	T("empty file: an error naming it", !r && has(e, "empty.yml:1") && has(e, "empty"));
	free(e);
	put("comments.yml", "# only\n# comments\n");
	r = conv("comments.yml", &e);
	T("only comments: an error", !r && has(e, "comments.yml"));
	free(e);
	put("bad.yml", "services:\n  a:\n    image: [x\n");
	r = conv("bad.yml", &e);
	T("bad YAML: file:line", !r && has(e, "bad.yml:") && has(e, "bad YAML"));
	free(e);
	/* aliases make a graph: a node containing its own alias (a merge key
	 * here, the fuzzer's find: unbounded recursion), a billion laughs, and
	 * nesting deeper than the walkers recurse are one error each */
	put("cycle.yml", "services:\n  a: &x\n    image: busybox\n    <<: *x\n");
	r = conv("cycle.yml", &e);
	T("an alias inside its own anchor: an error at its line", !r && has(e, "cycle.yml:2") && has(e, "contains it"));
	free(e);
	{
		struct buf b = {0};
		int i;

		buf_adds(&b, "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
		for (i = 1; i < 9; i++)
			buf_printf(&b, "x-%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
			           i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		buf_adds(&b, "services:\n  a:\n    image: busybox\n");
		put("laughs.yml", b.data);
		buf_free(&b);
		r = conv("laughs.yml", &e);
		T("a billion laughs: an error, at once", !r && has(e, "laughs.yml:") && has(e, "unfold"));
		free(e);
		for (i = 0; i < 300; i++)
			buf_adds(&b, "[");
		for (i = 0; i < 300; i++)
			buf_adds(&b, "]");
		buf_adds(&b, "\n");
		{
			char *t = xasprintf("services:\n  a:\n    image: busybox\n    x-deep: %s", b.data);
			put("deep.yml", t);
			free(t);
		}
		buf_free(&b);
		r = conv("deep.yml", &e);
		T("nesting 300 deep: an error", !r && has(e, "deep.yml:4") && has(e, "deeper"));
		free(e);
	}
	put("list.yml", "- a\n- b\n");
	r = conv("list.yml", &e);
	T("a list at the top: an error", !r && has(e, "list.yml:1"));
	free(e);
	put("noimg.yml", "services:\n  a:\n    command: x\n");
	r = conv("noimg.yml", &e);
	T("neither image nor build: file:line", !r && has(e, "noimg.yml:3") && has(e, "neither"));
	free(e);
	put("dep.yml", "services:\n  a:\n    image: x\n    depends_on:\n      - nope\n");
	r = conv("dep.yml", &e);
	T("depends_on a missing service: file:line", !r && has(e, "dep.yml:5") && has(e, "nope"));
	free(e);
	put("cond.yml", "services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: service_bogus}\n  b:\n    image: x\n");
	r = conv("cond.yml", &e);
	T("unknown condition: file:line", !r && has(e, "cond.yml:5") && has(e, "service_bogus"));
	free(e);
	put("req.yml", "services:\n  a:\n    image: ${GB_T_UNSET:?need it}\n");
	r = conv("req.yml", &e);
	T("${V:?} error names file:line", !r && has(e, "req.yml:3") && has(e, "need it"));
	free(e);
	put("hc.yml", "services:\n  a:\n    image: x\n    healthcheck:\n      test: [WHAT, x]\n");
	r = conv("hc.yml", &e);
	T("healthcheck list without CMD: file:line", !r && has(e, "hc.yml:5"));
	free(e);
	put("envf.yml", "services:\n  a:\n    image: x\n    env_file: nope.env\n");
	r = conv("envf.yml", &e);
	T("a missing required env_file: file:line", !r && has(e, "envf.yml:4") && has(e, "nope.env"));
	free(e);
	put("inline.yml", "services:\n  a:\n    build:\n      dockerfile_inline: |\n        FROM busybox:1.36\n"
	    "        RUN echo ${GREETING:-hi} > /g\n        CMD [\"cat\", \"/g\"]\n");
	r = conv("inline.yml", &e);
	T("dockerfile_inline: converted, interpolated", r && has(r, "from = \"busybox:1.36\"") &&
	  has(r, "run \"echo hi > /g\"") && has(r, "cmd = { \"cat\", \"/g\" }"));
	free(r);
	put("inline2.yml", "services:\n  a:\n    build:\n      dockerfile_inline: |\n        FROM busybox:1.36\n"
	    "        FETCH x\n");
	r = conv("inline2.yml", &e);
	T("dockerfile_inline: an error names the compose file, line and the inline line",
	  !r && has(e, "inline2.yml:4 dockerfile_inline:2: FETCH: unknown instruction"));
	free(e);
	put("inline3.yml", "services:\n  a:\n    build:\n      dockerfile: Dockerfile\n      dockerfile_inline: FROM x\n");
	r = conv("inline3.yml", &e);
	T("dockerfile and dockerfile_inline: refused", !r && has(e, "inline3.yml:5: build: dockerfile and dockerfile_inline exclude each other"));
	free(e);
	put("prof.yml", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    profiles: [p]\n");
	r = conv("prof.yml", &e);
	T("depending on a disabled profile service: an error", !r && has(e, "prof.yml:4") && has(e, "profiles"));
	free(e);
	compose_add_profile("p");
	r = conv("prof.yml", &e);
	T("--profile enables it", r && has(r, "service \"b\""));
	free(r);

	put(".env", "DOTONLY=secret\nTAG=1.0\n");
	put("env.yml", "services:\n  a:\n    image: busybox:${TAG}\n    environment:\n      - LISTED=$DOTONLY\n"
	    "    command: \"sh -c 'echo hi'\"\n    entrypoint: []\n    restart: always\n");
	r = conv("env.yml", &e);
	T(".env interpolates", has(r, "\"busybox:1.0\"") && has(r, "LISTED = \"secret\""));
	T(".env does not leak into the environment", r && !has(r, "DOTONLY ="));
	T("command split shell-style", has(r, "command = { \"sh\", \"-c\", \"echo hi\" }"));
	T("entrypoint [] clears it", has(r, "entrypoint = {}"));
	T("restart", has(r, "restart = \"always\""));
	free(r);

	put("hc2.yml", "services:\n  a:\n    image: x\n    healthcheck:\n      test: [CMD, pg_isready, -U, $$USER]\n"
	    "      retries: 5\n  b:\n    image: x\n    healthcheck:\n      test: [CMD-SHELL, \"curl -f x || exit 1\"]\n"
	    "  c:\n    image: x\n    healthcheck:\n      test: [NONE]\n  d:\n    image: x\n    healthcheck:\n      disable: true\n      test: x\n");
	r = conv("hc2.yml", &e);
	T("healthcheck CMD with $$", has(r, "exec { \"pg_isready\", \"-U\", \"$USER\", retries = 5 }"));
	T("healthcheck CMD-SHELL", has(r, "exec { \"/bin/sh\", \"-c\", \"curl -f x || exit 1\" }"));
	{
		const char *sc = r ? strstr(r, "service \"c\"") : NULL, *sd = r ? strstr(r, "service \"d\"") : NULL;
		const char *hc = sc ? strstr(sc, "health = false") : NULL;
		/* health = false: not even the image's HEALTHCHECK */
		T("healthcheck NONE and disable: no probe", sc && sd && hc && hc < sd && strstr(sd, "health = false") &&
		  !strstr(sd, "exec {"));
	}
	free(r);

	put("Dockerfile", "FROM busybox AS base\nRUN echo a\nFROM base AS prod\nARG A\nRUN echo $A > /a\n"
	    "FROM base AS last\nRUN echo last\n");
	put("build.yml", "services:\n  web:\n    build: .\n  worker:\n    build:\n      context: .\n  other:\n"
	    "    build:\n      context: .\n      args: {A: \"1\"}\n      target: prod\n");
	r = conv("build.yml", &e);
	T("identical builds are one image", r && strstr(r, "same build as above") && !strstr(r, "image \"worker\""));
	/* the target stage and what it builds on, the arg in its run step; not the last stage */
	T("args and target reach the image", has(r, "image \"other\"") && has(r, "env = { A = \"1\" }") &&
	  has(r, "echo last") && strstr(r, "echo last") < strstr(r, "image \"other\"") &&
	  !strstr(strstr(r, "image \"other\""), "echo last"));
	free(r);

	put("inc.yml", "include:\n  - nope.yml\nservices:\n  a:\n    image: x\n");
	r = conv("inc.yml", &e);
	T("include of a missing file: the including file:line", !r && has(e, "inc.yml:2") && has(e, "nope.yml"));
	free(e);
	put("ext.yml", "services:\n  a:\n    extends: {file: gone.yml, service: b}\n");
	r = conv("ext.yml", &e);
	T("extends of a missing file: the extending file:line", !r && has(e, "ext.yml:3") && has(e, "gone.yml"));
	free(e);
	put("badname.yml", "services:\n  \"a b\":\n    image: x\n");
	r = conv("badname.yml", &e);
	T("a bad service name: file:line", !r && has(e, "badname.yml:3") && has(e, "a b"));
	free(e);
	put("twice.yml", "include: [badname2.yml]\nservices:\n  a:\n    image: x\n");
	put("badname2.yml", "services:\n  a:\n    image: y\n");
	r = conv("twice.yml", &e);
	T("a service defined twice (include): file:line", !r && has(e, "twice.yml:4") && has(e, "twice"));
	free(e);
	put("dup.yml", "services:\n  a:\n    image: x\n    image: y\n");
	r = conv("dup.yml", &e);
	T("a duplicate key: the last wins (as YAML loaders do)", has(r, "\"y\""));
	free(r);
	put("name.yml", "name: myproj\nservices:\n  a:\n    image: x\n");
	r = conv("name.yml", &e);
	T("name: sets the project", has(r, "project \"myproj\""));
	free(r);
	setenv("COMPOSE_PROJECT_NAME", "fromenv", 1);
	r = conv("name.yml", &e);
	T("COMPOSE_PROJECT_NAME wins over name:", has(r, "project \"fromenv\""));
	free(r);
	unsetenv("COMPOSE_PROJECT_NAME");

	{
		char *cmd = xasprintf("rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
		free(cmd);
	}
	return tap_done();
}
