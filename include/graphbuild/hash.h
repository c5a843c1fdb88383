/* hash.h - file selection under ignore rules, content hashes (XXH3-128) computed
 * on the libuv threadpool, and the persistent stat cache that lets an
 * unchanged tree be re-checked with stat calls only. */
#ifndef GRAPHBUILD_HASH_H
#define GRAPHBUILD_HASH_H

#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;

/* ---- ignore rules (.dockerignore semantics) ---- */

struct ignore;

/* Builds a matcher from <context>/.dockerignore (if present) followed by the
 * extra patterns. Returns NULL and sets *err (malloc'd) if the file exists but
 * cannot be read or a pattern is malformed. */
struct ignore *ignore_load(const char *context, char **extra, size_t nextra, char **err);
/* A matcher from patterns only (tests). */
struct ignore *ignore_new(char **patterns, size_t n);
void ignore_free(struct ignore *ig);
/* A canonical form of ig's rules (malloc'd, *len bytes, may hold NULs): two
 * matchers with equal forms exclude exactly the same paths. NULL and a
 * matcher without patterns both give "" (length 0). */
char *ignore_rules(const struct ignore *ig, size_t *len);
/* 1 if the context-relative path ('/'-separated, no leading "./") is excluded. */
int ignore_match(const struct ignore *ig, const char *relpath, int isdir);
/* 1 if some re-include ('!') pattern could match below the directory relpath,
 * so an excluded directory must still be walked. */
int ignore_may_reinclude(const struct ignore *ig, const char *reldir);

/* ---- selections ---- */

struct file_entry {
	char *path;            /* context-relative, '/'-separated */
	unsigned mode;         /* st_mode (type and permission bits) */
	uint64_t size;
	unsigned char hash[16];/* XXH3-128 of the content; of the target for symlinks */
	char *link;            /* symlink target, or NULL */
};

struct selection {
	struct file_entry *v;  /* sorted by path, unique */
	size_t n;
	uint64_t bytes;        /* total size of regular files */
};
void selection_free(struct selection *sel);

/* ---- the hasher: stat cache + pending threadpool work ---- */

struct hasher;

/* Opens a hasher using (and later updating) the stat cache at cache_path
 * (NULL: no persistent cache). A corrupt or foreign cache is discarded with a
 * warning. Never NULL. */
struct hasher *hasher_new(struct uv_loop_s *loop, const char *cache_path);
/* Selects the files that `source` (context-relative file or directory; "." or
 * "" for the whole context) names, minus ignored ones, appending to sel.
 * Files whose stat matches the cache get their hash now; others are queued on
 * the threadpool and filled in by hasher_wait. The selection must stay alive
 * until then. Returns 0, or -1 with *err (malloc'd, names the path) for a
 * missing source, an unreadable file or directory, or a symlink loop.
 * Until hasher_wait, a directory already walked for this context under equal
 * rules (ignore_rules) is selected from that walk, not walked again. */
int hasher_select(struct hasher *h, const char *context, const struct ignore *ig,
                  const char *source, struct selection *sel, char **err);
/* Hashes one host file (rootfs tar, rootfs inputs, read() files) into out,
 * through the cache. Queued like hasher_select. */
int hasher_file(struct hasher *h, const char *abspath, unsigned char out[16], char **err);
/* As hasher_file for a file that must stay beneath root (abspath starts with
 * root + "/"): it is statted and read through the jail (jail.h), so a symlink
 * leading outside root is refused, never read. */
int hasher_file_beneath(struct hasher *h, const char *root, const char *abspath, unsigned char out[16],
                        char **err);
/* Runs the loop until all queued hashing is done; sorts and de-duplicates the
 * selections. Returns 0, or -1 with *err for a file that could not be read. */
int hasher_wait(struct hasher *h, char **err);
/* Writes the stat cache back atomically if anything changed. 0 or -1. */
int hasher_save(struct hasher *h);
/* Counters for benchmarks: files stat'ed, files hashed, bytes hashed. */
void hasher_stats(const struct hasher *h, uint64_t *nstat, uint64_t *nhashed, uint64_t *bytes);
void hasher_free(struct hasher *h);

/* XXH3-128 of a buffer, big-endian bytes (canonical form). */
void hash_buffer(const void *p, size_t n, unsigned char out[16]);

/* Incremental XXH3-128: the digest of what was fed since the last reset
 * equals hash_buffer over it (so a stream can be checked against a plan's
 * hash). new never returns NULL; free accepts NULL. */
struct hash_stream;
struct hash_stream *hash_stream_new(void);
void hash_stream_reset(struct hash_stream *hs);
void hash_stream_update(struct hash_stream *hs, const void *p, size_t n);
void hash_stream_digest(struct hash_stream *hs, unsigned char out[16]);
void hash_stream_free(struct hash_stream *hs);

#endif
