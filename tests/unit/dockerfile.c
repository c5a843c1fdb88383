/* tests/unit/dockerfile.c - the Dockerfile front end (dockerfile_to_lua)
 * against its own corpus: every construct, and the negative cases.
 * With --lua FILE it is the driver the oracle test and the goldens use:
 *   test_dockerfile --lua DOCKERFILE [--context DIR] [--target T]
 *                   [--prefix P] [--arg K=V]... [--base REF=IMAGE]...
 * prints the Lua text, then "return HANDLE" (a stack.lua fragment). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "graphbuild/dockerfile.h"
#include "graphbuild/util.h"
#include "tap.h"

static char *out_lua, *out_err;

static int conv_full(const char *text, const char *target, const char *const *args, size_t nargs)
{
	free(out_lua);
	free(out_err);
	out_lua = out_err = NULL;
	struct df_opts o = { .path = "Dockerfile", .text = text, .len = strlen(text), .context = ".",
	                     .args = args, .nargs = nargs, .target = target, .prefix = "app" };
	struct buf b = { 0 };
	char *h = NULL;
	int rc = dockerfile_to_lua(&o, &b, &h, &out_err);
	if (rc == 0) {
		buf_printf(&b, "return %s\n", h);
		out_lua = buf_take(&b);
	} else {
		T("an error leaves *out unchanged", b.len == 0);
	}
	buf_free(&b);
	free(h);
	return rc;
}

static int conv(const char *text) { return conv_full(text, NULL, NULL, 0); }

static int has(const char *s) { return out_lua && strstr(out_lua, s); }
static int err_is(const char *s)
{
	int ok = out_err && strstr(out_err, s);
	if (!ok) fprintf(stderr, "# error: %s\n#  want: %s\n", out_err ? out_err : "(none)", s);
	return ok;
}
static int show(int ok)
{
	if (!ok) fprintf(stderr, "# got:\n%s\n# err: %s\n", out_lua ? out_lua : "(none)", out_err ? out_err : "");
	return ok;
}

static int driver(int argc, char **argv)
{
	struct df_opts o = { .context = ".", .prefix = "app" };
	const char *args[64], *bases[64];
	size_t na = 0, nb = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lua") && i + 1 < argc) o.path = argv[++i];
		else if (!strcmp(argv[i], "--context") && i + 1 < argc) o.context = argv[++i];
		else if (!strcmp(argv[i], "--target") && i + 1 < argc) o.target = argv[++i];
		else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) o.prefix = argv[++i];
		else if (!strcmp(argv[i], "--arg") && i + 1 < argc && na < 64) args[na++] = argv[++i];
		else if (!strcmp(argv[i], "--base") && i + 1 < argc && nb < 64) bases[nb++] = argv[++i];
		else {
			fprintf(stderr, "usage: test_dockerfile --lua DOCKERFILE [--context DIR] [--target T] [--prefix P] [--arg K=V] [--base R=I]\n");
			return 2;
		}
	}
	o.args = args;
	o.nargs = na;
	o.bases = bases;
	o.nbases = nb;
	struct buf b = { 0 };
	char *h = NULL, *err = NULL;
	if (dockerfile_to_lua(&o, &b, &h, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		free(err);
		buf_free(&b);
		return 2;
	}
	fwrite(b.data, 1, b.len, stdout);
	printf("return %s\n", h);
	free(h);
	buf_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1) return driver(argc, argv);

	/* negatives: empty, comments only, ENV without value, bad JSON */
	T("empty file", conv("") < 0 && err_is("Dockerfile:1: FROM: the Dockerfile has no instructions"));
	T("only comments", conv("# a\n\n  # b\n") < 0 && err_is("Dockerfile:1: FROM:"));
	T("ENV without value", conv("FROM busybox\nENV FOO\n") < 0 && err_is("Dockerfile:2: ENV: 'FOO' has no value"));
	T("ENV with nothing", conv("FROM busybox\nENV\n") < 0 && err_is("Dockerfile:2: ENV:"));
	T("bad JSON exec form", conv("FROM busybox\n\nCMD [\"a\", 'b']\n") < 0 &&
	  err_is("Dockerfile:3: CMD: invalid JSON in the exec form"));
	T("JSON with a number", conv("FROM busybox\nRUN [\"a\", 1]\n") < 0 && err_is("Dockerfile:2: RUN: invalid JSON"));
	T("'[' shell form is shell", conv("FROM busybox\nRUN [ -f /x ] || true\n") == 0 && has("run \"[ -f /x ] || true\""));
	T("instruction before FROM", conv("RUN true\nFROM busybox\n") < 0 && err_is("Dockerfile:1: RUN: only ARG may come before"));
	T("unknown instruction", conv("FROM busybox\nFETCH x\n") < 0 && err_is("Dockerfile:2: FETCH: unknown instruction"));
	T("unterminated heredoc", conv("FROM busybox\nRUN <<EOF\necho\n") < 0 && err_is("Dockerfile:2: RUN: heredoc 'EOF' has no closing line"));
	T("bad escape directive", conv("# escape=x\nFROM busybox\n") < 0 && err_is("Dockerfile:1: escape: invalid escape"));
	T("unknown target", conv_full("FROM busybox AS a\n", "b", NULL, 0) < 0 && err_is("target stage 'b' is not defined"));
	T("duplicate stage", conv("FROM busybox AS a\nFROM busybox AS A\n") < 0 && err_is("Dockerfile:2: FROM: duplicate stage name 'a'"));
	T("unsupported named", conv("FROM busybox\nMAINTAINER me\n") < 0 && err_is("Dockerfile:2: MAINTAINER: not supported yet"));
	T("VOLUME both forms, once each", conv("FROM busybox\nVOLUME /a /b\nVOLUME [\"/b\", \"/c\"]\n") == 0 &&
	  has("volumes = { \"/a\", \"/b\", \"/c\" },"));
	T("VOLUME expands", conv("FROM busybox\nENV D=/data\nVOLUME $D/x\n") == 0 && has("volumes = { \"/data/x\" },"));
	T("VOLUME relative rejected", conv("FROM busybox\nVOLUME data\n") < 0 && err_is("Dockerfile:2: VOLUME: 'data' is not an absolute path"));
	T("STOPSIGNAL expands", conv("FROM busybox\nARG S=SIGINT\nSTOPSIGNAL $S\n") == 0 && has("stop_signal = \"SIGINT\","));
	T("STOPSIGNAL two words", conv("FROM busybox\nSTOPSIGNAL INT TERM\n") < 0 && err_is("Dockerfile:2: STOPSIGNAL: expected one signal"));
	T("HEALTHCHECK shell form", conv("FROM busybox\nHEALTHCHECK --interval=1m30s --retries=2 CMD curl -f $U || exit 1\n") == 0 &&
	  has("healthcheck = { \"CMD-SHELL\", \"curl -f $U || exit 1\", interval = \"1m30s\", retries = 2 },"));
	T("HEALTHCHECK exec form", conv("FROM busybox\nHEALTHCHECK --start-period=250us CMD [\"/bin/check\", \"-q\"]\n") == 0 &&
	  has("healthcheck = { \"CMD\", \"/bin/check\", \"-q\" },"));
	T("HEALTHCHECK NONE, the last wins", conv("FROM busybox\nHEALTHCHECK CMD true\nHEALTHCHECK NONE\n") == 0 &&
	  has("healthcheck = { \"NONE\" },") && !has("CMD-SHELL"));
	T("HEALTHCHECK bad duration", conv("FROM busybox\nHEALTHCHECK --timeout=5 CMD true\n") < 0 &&
	  err_is("Dockerfile:2: HEALTHCHECK: --timeout=5: not a duration"));
	T("HEALTHCHECK without CMD", conv("FROM busybox\nHEALTHCHECK true\n") < 0 && err_is("Dockerfile:2: HEALTHCHECK: expected HEALTHCHECK [OPTIONS] CMD"));
	T("HEALTHCHECK NONE with options", conv("FROM busybox\nHEALTHCHECK --retries=1 NONE\n") < 0 && err_is("Dockerfile:2: HEALTHCHECK: HEALTHCHECK NONE takes no options"));
	T("HEALTHCHECK invalid JSON", conv("FROM busybox\nHEALTHCHECK CMD [a]\n") < 0 &&
	  err_is("Dockerfile:2: HEALTHCHECK: invalid JSON in the exec form: [a]"));
	T("HEALTHCHECK bad retries", conv("FROM busybox\nHEALTHCHECK --retries=x CMD true\n") < 0 &&
	  err_is("Dockerfile:2: HEALTHCHECK: --retries=x: expected a whole number"));
	T("HEALTHCHECK CMD without a command", conv("FROM busybox\nHEALTHCHECK CMD\n") < 0 &&
	  err_is("Dockerfile:2: HEALTHCHECK: CMD needs a command"));
	T("VOLUME without a path", conv("FROM busybox\nVOLUME []\n") < 0 && err_is("Dockerfile:2: VOLUME: a path is required"));
	T("STOPSIGNAL with a lowercase name", conv("FROM busybox\nSTOPSIGNAL sigint\n") < 0 &&
	  err_is("Dockerfile:2: STOPSIGNAL: expected one signal"));
	T("HEALTHCHECK --start-interval", conv("FROM busybox\nHEALTHCHECK --start-interval=1s CMD true\n") < 0 && err_is("Dockerfile:2: HEALTHCHECK: not supported yet (--start-interval"));
	T("COPY --chown rejected", conv("FROM busybox\nCOPY --chown=1:1 a /a\n") < 0 && err_is("Dockerfile:2: COPY: not supported yet (the flag --chown)"));
	T("FROM scratch: the empty image with the default PATH", conv("FROM Scratch\nCOPY a /a\n") == 0 && has("from = \"scratch\",") &&
	  has("env { PATH = \"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\" },"));
	T("FROM scratch: $PATH expands to the default", conv("FROM scratch\nENV PATH=/app:$PATH\n") == 0 &&
	  has("env { PATH = \"/app:/usr/local/sbin:"));
	T("RUN --network=none", conv("FROM busybox\nRUN --network=none true\nRUN --network=default true\n") == 0 &&
	  has("run { \"true\", network = \"none\" },\n  run \"true\",\n"));
	T("RUN --network=host refused", conv("FROM busybox\nRUN --network=host true\n") < 0 &&
	  err_is("Dockerfile:2: RUN: --network=host is not granted"));
	T("RUN --network=bogus", conv("FROM busybox\nRUN --network=bogus true\n") < 0 &&
	  err_is("Dockerfile:2: RUN: --network=bogus: expected default, none or host"));
	T("bind mount rejected", conv("FROM busybox\nRUN --mount=type=bind,target=/s true\n") < 0 && err_is("RUN: not supported yet (--mount=type=bind"));
	T("ADD URL rejected", conv("FROM busybox\nADD https://x/y /y\n") < 0 && err_is("ADD: not supported yet (ADD of a URL"));
	T("several sources need dir", conv("FROM busybox\nCOPY a b /d\n") < 0 && err_is("Dockerfile:2: COPY: with several sources"));
	T("bad substitution", conv("FROM busybox\nENV A=${B:=c}\n") < 0 && err_is("Dockerfile:2: ENV: bad substitution"));
	T("${v:?} unset", conv("FROM busybox\nWORKDIR ${W:?need W}\n") < 0 && err_is("Dockerfile:2: WORKDIR: W: need W"));
	T("stage line numbers after continuation", conv("FROM busybox\nRUN a \\\n  b\nVOLUME x\n") < 0 && err_is("Dockerfile:4: VOLUME"));

	T("FROM --platform rejected", conv("FROM --platform=linux/arm64 busybox\n") < 0 && err_is("Dockerfile:1: FROM: not supported yet (the flag --platform)"));
	T("ONBUILD rejected", conv("FROM busybox\nONBUILD RUN x\n") < 0 && err_is("Dockerfile:2: ONBUILD: ONBUILD triggers are not honoured"));
	char tgz[64];
	snprintf(tgz, sizeof tgz, "gbdf-unit-%d.tgz", (int)getpid());
	FILE *fp = fopen(tgz, "wb");
	if (fp) { fwrite("\x1f\x8b\x08\0", 1, 4, fp); fclose(fp); }
	char df[160];
	snprintf(df, sizeof df, "FROM busybox\nADD %s /m\n", tgz);
	T("ADD of a local archive rejected", conv(df) < 0 && err_is("Dockerfile:2: ADD: not supported yet (ADD of a local archive"));
	snprintf(df, sizeof df, "FROM busybox\nCOPY %s /m\n", tgz);
	T("COPY of the same archive is a copy", conv(df) == 0);
	unlink(tgz);
	{
		char dir[64], sub[80], file[100];
		snprintf(dir, sizeof dir, "/tmp/gbdf-unit-%d", (int)getpid());
		snprintf(sub, sizeof sub, "%s/ctx", dir);
		snprintf(file, sizeof file, "%s/x.tar.gz", sub);
		mkdir(dir, 0700);
		mkdir(sub, 0700);
		FILE *zf = fopen(file, "wb");
		if (zf) { fwrite("\x1f\x8b\x08\0", 1, 4, zf); fclose(zf); }
		const char *t = "FROM busybox\nADD x.tar.gz /x\n";
		struct df_opts od = { .path = "Dockerfile", .text = t, .len = strlen(t), .context = "ctx", .dir = dir };
		struct buf db = { 0 };
		char *dh = NULL, *de = NULL;
		T("ADD archive found under dir/context", dockerfile_to_lua(&od, &db, &dh, &de) < 0 && de &&
		  strstr(de, "Dockerfile:2: ADD: not supported yet (ADD of a local archive 'x.tar.gz'"));
		buf_free(&db);
		free(dh);
		free(de);
		unlink(file);
		rmdir(sub);
		rmdir(dir);
	}
	T("COPY --from a later stage", conv("FROM busybox\nCOPY --from=b /x /x\nFROM busybox AS b\n") < 0 && err_is("Dockerfile:2: COPY: --from=b names a later stage"));
	T("ARG with a bad name", conv("FROM busybox\nARG 1x=2\n") < 0 && err_is("Dockerfile:2: ARG: '1x' is not a valid argument name"));

	/* basics */
	T("FROM and RUN", conv("FROM busybox:1.36\nRUN echo hi\n") == 0 && show(has("local app = image \"app\" {\n  from = \"busybox:1.36\",\n  run \"echo hi\",\n}")));
	T("case-insensitive keywords", conv("from busybox\nrun echo\n") == 0 && has("run \"echo\""));
	T("continuation joins, comments inside dropped",
	  conv("FROM busybox\nRUN echo a \\\n# c\n\n  b\n") == 0 && show(has("run \"echo a   b\"")));
	T("escape directive backtick", conv("# escape=`\nFROM busybox\nRUN echo a `\n b\n") == 0 && show(has("run \"echo a  b\"")));
	T("syntax directive accepted", conv("# syntax=docker/dockerfile:1\nFROM busybox\n") == 0);
	T("directive after comment is a comment", conv("# hi\n# escape=`\nFROM busybox\nRUN a \\\n b\n") == 0 && show(has("run \"a  b\"")));
	T("exec form RUN", conv("FROM busybox\nRUN [\"echo\", \"a b\"]\n") == 0 && show(has("run { { \"echo\", \"a b\" } }")));
	T("CRLF lines", conv("FROM busybox\r\nRUN x\r\n") == 0 && has("run \"x\""));

	/* heredocs */
	T("RUN <<EOF body is the script", conv("FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\n") == 0 && show(has("run \"echo a\\necho b\\n\"")));
	T("RUN cmd <<EOF keeps the heredoc for the shell",
	  conv("FROM busybox\nRUN cat > /f <<'EOT'\n$HOME\nEOT\n") == 0 && show(has("run \"cat > /f <<'EOT'\\n$HOME\\nEOT\"")));
	T("<<-EOF strips tabs", conv("FROM busybox\nRUN <<-EOF\n\techo a\n\tEOF\n") == 0 && show(has("run \"echo a\\n\"")));
	T("COPY heredoc rejected", conv("FROM busybox\nCOPY <<EOF /f\nx\nEOF\n") < 0 && err_is("Dockerfile:2: COPY: not supported yet"));

	/* expansion */
	T("ENV expands, both forms", conv("FROM busybox\nENV A=1 B=\"x y\"\nENV C $A-${B}\n") == 0 &&
	  show(has("env { A = \"1\", B = \"x y\" }") && has("env { C = \"1-x y\" }")));
	T("one ENV sees the values before it", conv("FROM busybox\nENV A=1\nENV A=2 B=$A\n") == 0 && show(has("B = \"1\"")));
	T("modifiers", conv("FROM busybox\nENV E=\nENV A=${U:-d} B=${E:-d} C=${E-d} D=${E:+s} F=${E+s} G=${U+s}\n") == 0 &&
	  show(has("A = \"d\", B = \"d\", C = \"\", D = \"\", F = \"s\", G = \"\"")));
	T("single quotes do not expand", conv("FROM busybox\nENV A=1\nLABEL x='$A' y=\"$A\" z=\\$A\n") == 0 &&
	  show(has("labels = { x = \"$A\", y = \"1\", z = \"$A\" }")));
	T("RUN is not expanded", conv("FROM busybox\nENV A=1\nRUN echo $A\n") == 0 && has("run \"echo $A\""));
	T("WORKDIR chains and expands", conv("FROM busybox\nENV D=app\nWORKDIR /srv\nWORKDIR $D\nWORKDIR ../x/.\n") == 0 &&
	  show(has("workdir \"/srv/app\"") && has("workdir \"/srv/x\"")));
	T("USER expands", conv("FROM busybox\nARG U=nobody\nUSER $U:1\n") == 0 && show(has("user \"nobody:1\"")));

	/* ARG scoping */
	T("global ARG in FROM only", conv("ARG V=1.36\nFROM busybox:$V\nRUN echo\nWORKDIR /$V\n") == 0 &&
	  show(has("from = \"busybox:1.36\"") && has("workdir \"/\"")));
	T("bare ARG re-imports a global", conv("ARG V=1.36\nFROM busybox\nARG V\nWORKDIR /$V\n") == 0 && show(has("workdir \"/1.36\"")));
	const char *ba[] = { "V=2", "W=9", "UNUSED=x" };
	T("build args override defaults", conv_full("ARG V=1\nFROM busybox:$V\nARG W=1\nWORKDIR /$W\n", NULL, ba, 3) == 0 &&
	  show(has("busybox:2") && has("workdir \"/9\"") && !has("UNUSED")));
	T("ARG in RUN env, not in image", conv("FROM busybox\nARG A=1\nRUN echo\n") == 0 &&
	  show(has("run { \"echo\", env = { A = \"1\" } }") && !has("env {")));
	T("ENV wins over ARG", conv("FROM busybox\nARG A=1\nENV A=2\nRUN echo\nWORKDIR /$A\n") == 0 &&
	  show(has("run \"echo\"") && has("workdir \"/2\"")));
	T("ARG without value is unset", conv("FROM busybox\nARG A\nRUN echo\n") == 0 && has("run \"echo\""));

	/* stages */
	const char *ms = "FROM busybox AS base\nENV P=1\nWORKDIR /w\nFROM base AS build\nRUN make\n"
	                 "FROM busybox AS unused\nRUN no\nFROM busybox\nCOPY --from=build /w/out /out\nCOPY --from=0 x /x\n";
	T("multi-stage, only reachable", conv(ms) == 0 &&
	  show(has("local app_base = image \"app-base\"") && has("local app_build = image \"app-build\" {\n  from = app_base,") &&
	       !has("unused") && has("copy { from = app_build, \"/w/out\", to = \"/out\" }") &&
	       has("copy { from = app_base, \"/x\", to = \"/x\" }") && has("return app\n")));
	T("base stage emitted before its users", conv(ms) == 0 && strstr(out_lua, "app_base = ") < strstr(out_lua, "app_build = "));
	T("--target picks a stage", conv_full(ms, "build", NULL, 0) == 0 &&
	  show(has("local app = image \"app\" {\n  from = app_base,") && has("return app\n") && !has("copy")));
	T("FROM stage inherits env for expansion", conv("FROM busybox AS a\nENV X=1\nFROM a\nWORKDIR /$X\n") == 0 && has("workdir \"/1\""));
	T("COPY --from image ref", conv("FROM busybox\nCOPY --from=alpine:3 /etc/os-release /o\n") == 0 &&
	  has("copy { from = \"alpine:3\", \"/etc/os-release\", to = \"/o\" }"));

	/* COPY / ADD */
	T("COPY relative dest under WORKDIR", conv("FROM busybox\nWORKDIR /app\nCOPY a.txt b/ ./\nCOPY c .\nCOPY d e\n") == 0 &&
	  show(has("copy { \"a.txt\", \"b/\", to = \"/app/\" }") && has("copy { \"c\", to = \"/app/\" }") && has("copy { \"d\", to = \"/app/e\" }")));
	T("COPY wildcard rejected", conv("FROM busybox\nCOPY *.py /src/\n") < 0 && err_is("Dockerfile:2: COPY: not supported yet (the wildcard source '*.py'"));
	T("COPY wildcard needs a dir dest", conv("FROM busybox\nCOPY *.py /src\n") < 0 && err_is("with several sources or a wildcard"));
	T("COPY JSON form", conv("FROM busybox\nCOPY [\"a b\", \"/d/\"]\n") == 0 && has("copy { \"a b\", to = \"/d/\" }"));
	T("ADD local file is a copy", conv("FROM busybox\nADD premake5.lua /p\n") == 0 && show(has("copy { \"premake5.lua\", to = \"/p\" }")));

	/* RUN flags */
	T("cache mount", conv("FROM busybox\nRUN --mount=type=cache,target=/root/.cache pip\n") == 0 &&
	  show(has("run { \"pip\", cache = { \"/root/.cache\" } }")));
	T("secret mount", conv("FROM busybox\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n") == 0 &&
	  show(has("secrets = { tok = \"/run/secrets/tok\" }")));
	T("network=default accepted", conv("FROM busybox\nRUN --network=default true\n") == 0);

	/* config */
	T("CMD shell form", conv("FROM busybox\nCMD echo hi\n") == 0 && show(has("cmd = { \"/bin/sh\", \"-c\", \"echo hi\" }")));
	T("ENTRYPOINT resets inherited CMD", conv("FROM busybox\nENTRYPOINT [\"/e\"]\n") == 0 &&
	  show(has("entrypoint = { \"/e\" }") && has("cmd = {}")));
	T("CMD before ENTRYPOINT kept", conv("FROM busybox\nCMD [\"c\"]\nENTRYPOINT [\"/e\"]\n") == 0 && show(has("cmd = { \"c\" }")));
	T("SHELL changes shell forms", conv("FROM busybox\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN a | b\nCMD x\n") == 0 &&
	  show(has("run { { \"/bin/ash\", \"-eo\", \"pipefail\", \"-c\", \"a | b\" } }") && has("cmd = { \"/bin/ash\", \"-eo\", \"pipefail\", \"-c\", \"x\" }")));
	T("SHELL needs JSON", conv("FROM busybox\nSHELL /bin/bash -c\n") < 0 && err_is("Dockerfile:2: SHELL: SHELL needs the JSON form"));
	T("EXPOSE", conv("FROM busybox\nARG P=8080\nEXPOSE 80 $P/tcp\n") == 0 && show(has("expose = { 80, 8080 }")));
	T("EXPOSE udp rejected", conv("FROM busybox\nEXPOSE 53/udp\n") < 0 && err_is("EXPOSE: not supported yet"));
	T("LABEL later wins", conv("FROM busybox\nLABEL a=1 b=2\nLABEL a=3\n") == 0 && show(has("labels = { a = \"3\", b = \"2\" }")));
	T("Lua string escaping", conv("FROM busybox\nRUN printf \"a\\tb\\\\n\"\n") == 0 && show(has("run \"printf \\\"a\\\\tb\\\\\\\\n\\\"\"")));
	const char *bs[] = { "python:3.11-slim=gb-python" };
	struct df_opts o = { .path = "Dockerfile", .text = "FROM python:3.11-slim\n", .len = 22, .prefix = "web", .bases = bs, .nbases = 1 };
	struct buf b = { 0 };
	char *h = NULL, *e = NULL;
	T("bases substitute FROM", dockerfile_to_lua(&o, &b, &h, &e) == 0 && strstr(b.data, "from = \"gb-python\"") && !strcmp(h, "web"));
	buf_free(&b);
	free(h);
	free(e);
	free(out_lua);
	free(out_err);
	return tap_done();
}
