/* dockerfile.h - the Dockerfile front end (issue 3/7): parses a Dockerfile
 * (directives, escapes, continuations, heredocs, shell/exec forms, variable
 * expansion, ARG scoping, multi-stage) and converts the stages reachable
 * from the target into graphbuild DSL text (Lua), so that a Dockerfile and
 * the stack.lua `graphbuild import` writes for it load through the same
 * dsl_load and give the same keys. Pure: reads the Dockerfile (and, for ADD
 * of a local tar, nothing else) but never talks to an engine. */
#ifndef GRAPHBUILD_DOCKERFILE_H
#define GRAPHBUILD_DOCKERFILE_H

#include <stddef.h>

struct buf;

struct df_opts {
	const char *path;        /* the Dockerfile, as it is to be named in errors */
	const char *text;        /* its contents if already read (else read from path) */
	size_t len;
	const char *context;     /* the build context directory, relative to the stack file's directory */
	const char *const *args; /* build args, "K=V" (or "K": the value from the environment) */
	size_t nargs;
	const char *target;      /* --target stage, or NULL for the last stage */
	const char *prefix;      /* image name prefix for the stages ("web": web, web-builder, ...) */
	const char *const *bases;/* FROM substitutions "REF=IMAGE" (--base, bases = {}) */
	size_t nbases;
	const char *dir;         /* the stack file's directory, where context is (ADD reads a
	                          * local source's first bytes to tell an archive); NULL: "." */
};

/* Appends to *out Lua statements that declare one `image` per stage
 * reachable from the target (shared stages once, in dependency order) and
 * sets *handle (malloc'd) to the Lua expression of the target's image
 * handle (a local variable name). Returns 0, or -1 with *err (malloc'd)
 * "PATH:LINE: INSTRUCTION: message" and *out unchanged. */
int dockerfile_to_lua(const struct df_opts *o, struct buf *out, char **handle, char **err);

#endif
