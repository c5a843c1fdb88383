/* dsl.h - loading stack.lua: the sandboxed Lua evaluation, validation with
 * file:line diagnostics, and conversion into graph nodes. The only module that
 * includes lua.h. */
#ifndef GRAPHBUILD_DSL_H
#define GRAPHBUILD_DSL_H

struct stack;
struct kvlist;

struct dsl_opts {
	const char *file;            /* the stack file path as given (-f) */
	const struct kvlist *vars;   /* --set k=v, exposed as `vars` */
	const struct kvlist *secrets;/* --secret ID=file:PATH|env:VAR (override stack) */
	const char *text;            /* the stack's text, if not to be read from file
	                                (a converted compose file); errors still name file */
	size_t len;
	const struct kvlist *bases;  /* --base REF=IMAGE: build on IMAGE where REF is named */
};

/* Loads and validates a stack. Returns the stack (free with dsl_free), or NULL
 * after printing every diagnostic to stderr ("file:line: message"). */
struct stack *dsl_load(const struct dsl_opts *o);
void dsl_free(struct stack *s);

/* The directories `require` searches after the stack's own ones, in order:
 * GRAPHBUILD_PATH entries, then the installed library. Prints one per line. */
void dsl_print_path(void);
/* The installed stacks library directory (compile-time, or next to the binary). */
const char *dsl_library_dir(void);

#endif
