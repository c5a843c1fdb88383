/* compose.h - the compose front end (issue 3/7): reads a compose file
 * (compose.yaml, docker-compose.yml, ...) with libyaml into a model and
 * writes it as graphbuild DSL text (Lua), which loads through the ordinary
 * dsl_load. `graphbuild -f docker-compose.yml CMD` converts in memory;
 * `graphbuild import` writes the same text to stack.lua, so both give the
 * same keys. docs/compose.md lists what maps to what and what is refused. */
#ifndef GRAPHBUILD_COMPOSE_H
#define GRAPHBUILD_COMPOSE_H

#include <stddef.h>

struct buf;

/* 1 if PATH names a compose file (by its name: compose.y(a)ml,
 * docker-compose.y(a)ml, or any name ending in .yml or .yaml), else 0. */
int compose_is_file(const char *path);

/* The compose file in the current directory (first of compose.yaml,
 * compose.yml, docker-compose.yml, docker-compose.yaml), or NULL. */
const char *compose_default_file(void);

/* --profile NAME (repeatable); COMPOSE_PROFILES is read too. */
void compose_add_profile(const char *name);

/* Converts FILE (its text TEXT, LEN, or read from FILE when TEXT is NULL)
 * into DSL text appended to *out. Warnings ("FILE:LINE: ...") go to stderr.
 * Returns 0, or -1 with *err (malloc'd) "FILE:LINE: message". */
int compose_to_lua(const char *file, const char *text, size_t len, struct buf *out, char **err);

/* Compose interpolation of S: ${V}, ${V:-d}, ${V-d}, ${V:?e}, ${V?e}, $V,
 * $$. Values come from the process environment, then ENV ("K=V" entries,
 * the .env file). Returns the malloc'd result, or NULL with *err
 * (malloc'd, without position). */
char *compose_interpolate(const char *s, const char *const *env, size_t nenv, char **err);

/* Splits S shell-style (quotes, backslashes; no expansion) into *argv
 * (malloc'd, each malloc'd). Returns the count, or -1 on an unterminated
 * quote. */
int compose_shell_split(const char *s, char ***argv);

/* For loading: when *FILE is the default "stack.lua", absent, and the
 * directory has a compose file, *FILE becomes that (said once on stderr).
 * When *FILE is a compose file, *TEXT and *LEN get its conversion (malloc'd).
 * Returns 1 converted, 0 not a compose file, -1 error (printed). */
int compose_for_load(const char **file, char **text, size_t *len);

/* `graphbuild import`: writes FILE's conversion to OUT (never over an
 * existing file unless FORCE). Returns an exit code. */
int compose_import(const char *file, const char *out, int force);

#endif
