/* util.h - diagnostics, checked allocation, the run arena, growable buffers. */
#ifndef GRAPHBUILD_UTIL_H
#define GRAPHBUILD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

extern const char *argv0;

/* Prints "argv0: msg" to stderr; a format ending in ':' appends strerror(errno). */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As warn, then exits 1. Only for OOM and broken invariants. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation that never returns NULL (aborts on OOM). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t m);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* malloc'd printf; never NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* The arena: everything the loaded stack owns lives here and is freed at once. */
struct arena;
struct arena *arena_new(void);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);          /* zeroed, 16-aligned */
char *arena_strdup(struct arena *a, const char *s);    /* NULL stays NULL */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable byte buffer; always NUL-terminated after any append. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* Returns the data (caller frees) and resets b. */
char *buf_take(struct buf *b);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Milliseconds from a monotonic clock. */
uint64_t now_ms(void);
/* Nanoseconds from a monotonic clock. */
uint64_t now_ns(void);

/* Colour on stderr/stdout unless NO_COLOR is set or the stream is not a TTY. */
int use_color(int fd);

/* Writes data to path atomically: temp file in the same dir, fsync, rename.
 * Returns 0, or -1 with errno set. */
int write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file; returns malloc'd NUL-terminated data or NULL (errno set). */
char *read_file(const char *path, size_t *len);
/* mkdir -p; returns 0 or -1 (errno). */
int mkdirs(const char *path, unsigned mode);
/* Joins a and b with one '/'; malloc'd. */
char *path_join(const char *a, const char *b);

#define LEN(a) (sizeof(a) / sizeof((a)[0]))



/* Appends s as a JSON string literal (quoted, escaped). */
void buf_json_str(struct buf *b, const char *s);
/* s as a Lua string literal ("..." with \" \\ \n \t \r and \DDD escapes):
 * what the compose and Dockerfile front ends write into DSL text. */
void buf_lua_str(struct buf *b, const char *s);
/* k as a Lua table key: bare when it is a Lua name (not a keyword), else ["k"]. */
void buf_lua_key(struct buf *b, const char *k);
/* 1 if s is a Lua name that is not a keyword. */
int buf_lua_name(const char *s);

#endif
