/* dockerfile_int.h - the Dockerfile front end's parsed model, shared by
 * dockerfile_parse.c (text -> instructions) and dockerfile.c (instructions
 * -> stages -> DSL text). Internal: not part of the public interface. */
#ifndef GRAPHBUILD_DOCKERFILE_INT_H
#define GRAPHBUILD_DOCKERFILE_INT_H

#include <stddef.h>

struct arena;

struct df_heredoc {
	char *word;   /* the delimiter, without quotes */
	char *body;   /* the lines between, each ending in '\n' */
	int quoted;   /* the delimiter was quoted: no expansion */
	int strip;    /* <<-: leading tabs removed */
};

struct df_instr {
	int line;           /* where the instruction starts */
	char *cmd;          /* upper-case keyword: RUN, COPY, ... */
	char **flags;       /* leading "--name=value" (without "--"), in order */
	size_t nflags;
	char *rest;         /* the arguments after the flags, continuations joined */
	int json;           /* rest was a JSON array (exec form) */
	char **argv;        /* the JSON array's strings when json */
	size_t argc;
	struct df_heredoc *here;
	size_t nhere;
};

struct df_file {
	char escape;        /* '\\' or '`' */
	char *syntax;       /* # syntax= value, or NULL */
	struct df_instr *ins;
	size_t nins;
};

/* Parses text into f (all allocations in a). Returns 0, or -1 with *err
 * (malloc'd) "PATH:LINE: INSTRUCTION: message". */
int df_parse(struct arena *a, const char *path, const char *text, size_t len,
             struct df_file *f, char **err);

#endif
