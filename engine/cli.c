/* cli.c - the command line: options, the command table, usage, cli_main.
 * The phases every command shares are in session.c, the commands in
 * cmd_build.c, cmd_up.c, graph_format.c and gc.c. Exit codes:
 *   0 success, 1 failed work, 2 usage or stack-file error, 128 + the signal
 *   when interrupted (SIGINT 130, SIGTERM 143, SIGHUP 129). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/cli.h"
#include "graphbuild/compose.h"
#include "graphbuild/docker.h"
#include "graphbuild/dsl.h"
#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/http.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/registry.h"
#include "graphbuild/sched.h"
#include "graphbuild/state.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

#include "cli_int.h"

struct cmd {
	const char *name;
	const char *usage;
	const char *help;
	int (*run)(struct opts *o);
};

static void kv_push(struct kvlist *kv, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < kv->n; i++)
		if (strcmp(kv->k[i], k) == 0) {
			free(kv->v[i]);
			kv->v[i] = xstrdup(v);
			return;
		}
	kv->k = xreallocarray(kv->k, kv->n + 1, sizeof(*kv->k));
	kv->v = xreallocarray(kv->v, kv->n + 1, sizeof(*kv->v));
	kv->k[kv->n] = xstrdup(k);
	kv->v[kv->n] = xstrdup(v);
	kv->n++;
}

static void kv_clear(struct kvlist *kv)
{
	size_t i;

	for (i = 0; i < kv->n; i++) {
		free(kv->k[i]);
		free(kv->v[i]);
	}
	free(kv->k);
	free(kv->v);
}

/* Writes the compose file as a stack.lua (engine/compose.c). */
static int cmd_import(struct opts *o)
{
	return compose_import(strcmp(o->file, "stack.lua") ? o->file : NULL, o->out, o->force);
}

/* ---- parsing ---- */

static const struct cmd cmds[] = {
	{"plan", "plan [--json] [--rebuild[=NODE,...]] [--cache REG/REPO] [TARGET...]",
	 "Load the stack, hash every input and show, per image, build / reuse / pull with\n"
	 "the reasons (which file, step or setting changed), and per service create /\n"
	 "recreate / keep / remove. Changes nothing.", cmd_plan},
	{"build", "build [-j N] [--fail-fast] [--rebuild[=NODE,...]] [--cache REG/REPO] [--push] [--json] [TARGET...]",
	 "Build what the plan says, in parallel, reusing every image whose key exists on\n"
	 "the engine and pulling those the cache has; --push pushes what is missing\n"
	 "from the cache afterwards. Ends with a summary (--json: as one object).", cmd_build},
	{"up", "up [--no-wait] [--rebuild[=NODE,...]] [--recreate-deps] [--no-remove-orphans] [-t SECONDS] [--cache REG/REPO] [--push] [SERVICE...]",
	 "Build, then create/start services in dependency order as soon as each\n"
	 "dependency is ready; recreate only what changed; a no-op when nothing did.", cmd_up},
	{"down", "down [--volumes] [-t SECONDS]",
	 "Stop and remove the stack's containers in reverse dependency order, and its\n"
	 "network (--volumes: also its named volumes).", cmd_down},
	{"ps", "ps [--json]", "Show the stack's containers: state, health, image key, ports.", cmd_ps},
	{"logs", "logs [-f] [--since TIME] [SERVICE...]",
	 "Show the services' output, each line prefixed with the service name.", cmd_logs},
	{"import", "import [-f COMPOSE] [-o stack.lua] [--force]",
	 "Write the compose file as an ordinary stack.lua (docs/compose.md); never over an\n"
	 "existing file without --force.", cmd_import},
	{"graph", "graph [--format text|dot|mermaid] [TARGET...]", "Print the DAG.", cmd_graph},
	{"gc", "gc [--keep N]",
	 "Remove graphbuild images beyond the newest N (default 3) per node, never one a\n"
	 "container uses or a project tags (<project>/<name>:latest), nor what those are\n"
	 "built on.", cmd_gc},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: graphbuild [-f FILE] [-C DIR] [--set K=V]... COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < LEN(cmds); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f,
	        "\ncommon options:\n"
	        "  -f FILE              the stack file (default ./stack.lua)\n"
	        "  -C DIR               change to DIR first\n"
	        "  --set K=V            set vars.K for the stack file (repeatable)\n"
	        "  --secret ID=file:PATH|env:VAR   where a secret's value comes from\n"
	        "  --base REF=IMAGE     build on IMAGE where the stack or a Dockerfile names REF\n"
	        "  --json               machine-readable output (plan, build, ps)\n"
	        "  --progress MODE      auto, tty, plain or quiet\n"
	        "  -j N                 parallel builds (default: CPUs, at least 2)\n"
	        "  --cache REG/REPO     a registry repository as the shared cache (\"\": none)\n"
	        "  --push               push what the cache lacks after building\n"
	        "  --request-timeout S  fail an engine/registry request after S seconds without a\n"
	        "                       byte (default 120; 0: none; streams that idle are exempt)\n"
	        "  --print-path         print where `require` looks after the stack's own dirs\n"
	        "  --version, --help\n"
	        "\nenvironment: DOCKER_HOST (unix:// or tcp://), DOCKER_TLS_VERIFY, DOCKER_CERT_PATH,\n"
	        "  GRAPHBUILD_CACHE, GRAPHBUILD_PATH, GRAPHBUILD_PROBES, GRAPHBUILD_REQUEST_TIMEOUT, NO_COLOR\n"
	        "exit codes: 0 ok, 1 a build/start failed, 2 usage or stack error,\n"
	        "  130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP\n");
}

static int default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 2 ? 2 : (int)n;
}

/* A whole number in [min, max] (one message naming the value, the reason
 * and the limits; returns -1 after printing it). */
static int parse_range(const char *flag, const char *v, int *out, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || *end || (errno && errno != ERANGE)) {
		warn("%s: '%s' is not a whole number (expected %ld-%ld)", flag, v, min, max);
		return -1;
	}
	if (errno == ERANGE || n < min || n > max) {
		warn("%s: %s is %s (expected %ld-%ld)", flag, v, n < min ? "too small" : "too large",
		     min, max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int parse_int(const char *flag, const char *v, int *out)
{
	return parse_range(flag, v, out, 0, 1000000);
}

static void split_rebuild(struct opts *o, const char *list)
{
	char *copy = xstrdup(list), *save = NULL, *t;

	for (t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		o->plan.rebuild = xreallocarray(o->plan.rebuild, o->plan.nrebuild + 1, sizeof(char *));
		o->plan.rebuild[o->plan.nrebuild++] = xstrdup(t);
	}
	free(copy);
}

/* Returns -1 on a usage error (printed), 1 if help was printed, else 0. */
static int parse(struct opts *o, int argc, char **argv, const struct cmd **cmdp)
{
	int i, bad = 0;

	for (i = 1; i < argc; i++) {
		char *a = argv[i];
		const char *val = NULL;
		/* --name=value is --name value for every long option that takes one
		 * (--rebuild=NODES stays its own option: bare --rebuild takes none). */
		char name[32];
		const char *inl = NULL, *eq = strchr(a, '=');

		if (!strncmp(a, "--", 2) && eq && (size_t)(eq - a) < sizeof name &&
		    strncmp(a, "--rebuild=", 10)) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			inl = eq + 1;
			a = name;
		}

#define NEEDARG() do { \
		if (inl) { val = inl; inl = NULL; break; } \
		if (i + 1 >= argc) { warn("%s needs a value", a); return -1; } \
		val = argv[++i]; } while (0)
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (!o->cmd) {
				size_t k;

				o->cmd = a;
				for (k = 0; k < LEN(cmds); k++)
					if (!strcmp(cmds[k].name, a))
						*cmdp = &cmds[k];
				if (!*cmdp) {
					warn("unknown command '%s' (try graphbuild --help)", a);
					return -1;
				}
			} else {
				o->targets = xreallocarray(o->targets, o->ntargets + 1, sizeof(char *));
				o->targets[o->ntargets++] = a;
			}
		} else if (!strcmp(a, "--")) {
			for (i++; i < argc; i++) {
				o->targets = xreallocarray(o->targets, o->ntargets + 1, sizeof(char *));
				o->targets[o->ntargets++] = argv[i];
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			if (*cmdp)
				printf("usage: graphbuild %s\n\n%s\n\nSee graphbuild --help for the common options.\n",
				       (*cmdp)->usage, (*cmdp)->help);
			else
				usage(stdout);
			return 1;
		} else if (!strcmp(a, "--version")) {
			printf("graphbuild %s\n", VERSION);
			return 1;
		} else if (!strcmp(a, "--print-path")) {
			dsl_print_path();
			return 1;
		} else if (!strcmp(a, "-f") && *cmdp && !strcmp((*cmdp)->name, "logs")) {
			o->follow = 1;
		} else if (!strcmp(a, "--follow")) {
			o->follow = 1;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
			NEEDARG();
			o->file = val;
		} else if (!strcmp(a, "-C")) {
			NEEDARG();
			o->dir = val;
		} else if (!strcmp(a, "--set") || !strcmp(a, "--secret") || !strcmp(a, "--base")) {
			NEEDARG();
			eq = strchr(val, '=');
			if (!eq || eq == val) {
				/* reported, and the other --set/--secret checked too */
				warn("%s: expected KEY=VALUE, got '%s'", a, val);
				bad = 1;
			} else {
				char *k = xstrndup(val, (size_t)(eq - val));

				kv_push(!strcmp(a, "--set") ? &o->vars : !strcmp(a, "--base") ? &o->bases : &o->secrets, k,
				        eq + 1);
				free(k);
			}
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "-j") || !strncmp(a, "-j", 2) || !strcmp(a, "--jobs")) {
			if (a[1] == 'j' && a[2])
				val = a + 2;
			else
				NEEDARG();
			if (parse_range("-j", val, &o->jobs, 1, 1024) < 0)
				return -1;
		} else if (!strcmp(a, "--fail-fast")) {
			o->fail_fast = 1;
		} else if (!strcmp(a, "--rebuild")) {
			o->plan.rebuild_all = 1;
		} else if (!strncmp(a, "--rebuild=", 10)) {
			split_rebuild(o, a + 10);
		} else if (!strcmp(a, "--progress") || !strncmp(a, "--progress=", 11)) {
			if (a[10] == '=')
				val = a + 11;
			else
				NEEDARG();
			if (!strcmp(val, "auto")) o->progress = PROGRESS_AUTO;
			else if (!strcmp(val, "tty")) o->progress = PROGRESS_TTY;
			else if (!strcmp(val, "plain")) o->progress = PROGRESS_PLAIN;
			else if (!strcmp(val, "quiet")) o->progress = PROGRESS_QUIET;
			else {
				warn("--progress: expected auto, tty, plain or quiet, got '%s'", val);
				return -1;
			}
		} else if (!strcmp(a, "--format") || !strncmp(a, "--format=", 9)) {
			if (a[8] == '=')
				val = a + 9;
			else
				NEEDARG();
			o->format = val;
		} else if (!strcmp(a, "--keep")) {
			NEEDARG();
			if (parse_int(a, val, &o->keep) < 0)
				return -1;
		} else if (!strcmp(a, "--no-wait")) {
			o->no_wait = 1;
		} else if (!strcmp(a, "--recreate-deps")) {
			o->recreate_deps = 1;
		} else if (!strcmp(a, "--remove-orphans")) {
			o->remove_orphans = 1;
		} else if (!strcmp(a, "--no-remove-orphans")) {
			o->remove_orphans = 0;
		} else if (!strcmp(a, "--volumes") || !strcmp(a, "-v")) {
			o->volumes = 1;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--timeout")) {
			NEEDARG();
			if (parse_int(a, val, &o->timeout) < 0)
				return -1;
		} else if (!strcmp(a, "--cache") || !strncmp(a, "--cache=", 8)) {
			if (a[7] == '=')
				val = a + 8;
			else
				NEEDARG();
			o->cache = val;
		} else if (!strcmp(a, "--push")) {
			o->push = 1;
		} else if (!strcmp(a, "--request-timeout") || !strncmp(a, "--request-timeout=", 18)) {
			if (a[17] == '=')
				val = a + 18;
			else
				NEEDARG();
			if (parse_int(a, val, &o->request_timeout) < 0)
				return -1;
		} else if (!strcmp(a, "--profile")) {
			NEEDARG();
			compose_add_profile(val);
		} else if (!strcmp(a, "-o") && *cmdp && !strcmp((*cmdp)->name, "import")) {
			NEEDARG();
			o->out = val;
		} else if (!strcmp(a, "--force")) {
			o->force = 1;
		} else if (!strcmp(a, "--since")) {
			NEEDARG();
			o->since = val;
		} else {
			warn("unknown option '%s' (try graphbuild --help)", a);
			return -1;
		}
#undef NEEDARG
		if (inl) {
			warn("%s takes no value, got '%s'", a, argv[i]);
			return -1;
		}
	}
	return bad ? -1 : 0;
}

/* The one place the CLI reads its environment (see struct config). */
static void config_from_env(struct config *c)
{
	c->cache = getenv("GRAPHBUILD_CACHE");
	c->request_timeout = getenv("GRAPHBUILD_REQUEST_TIMEOUT");
	c->docker_host = getenv("DOCKER_HOST");
}

int cli_main(int argc, char **argv)
{
	struct opts o = {0};
	const struct cmd *cmd = NULL;
	int rc;
	size_t i;

	o.file = "stack.lua";
	o.jobs = default_jobs();
	o.keep = 3;
	o.remove_orphans = 1;
	o.timeout = -1;
	o.request_timeout = -1;
	rc = parse(&o, argc, argv, &cmd);
	config_from_env(&o.env);
	if (rc == 0 && o.request_timeout < 0 && o.env.request_timeout) {
		const char *v = o.env.request_timeout;
		if (parse_int("GRAPHBUILD_REQUEST_TIMEOUT", v, &o.request_timeout) < 0)
			rc = -1;
	}
	if (rc == 0 && !cmd) {
		usage(stderr);
		rc = -1;
	}
	if (rc == 0 && o.dir && chdir(o.dir) < 0) {
		warn("-C %s:", o.dir);
		rc = -1;
	}
	if (rc == 0) {
		http_global_init();
		/* connect within min(10 s, the limit); no byte for the limit
		 * (default 120 s) fails a request (docs/cli.md) */
		if (o.request_timeout >= 0)
			http_global_limits(o.request_timeout > 0 && o.request_timeout < 10 ? o.request_timeout * 1000L : 10000L,
			                   o.request_timeout);
		rc = cmd->run(&o);
		http_global_cleanup();
	} else {
		rc = rc < 0 ? EXIT_USAGE : EXIT_OK;
	}
	kv_clear(&o.vars);
	kv_clear(&o.bases);
	kv_clear(&o.secrets);
	for (i = 0; i < o.plan.nrebuild; i++)
		free(o.plan.rebuild[i]);
	free(o.plan.rebuild);
	free(o.targets);
	return rc;
}
