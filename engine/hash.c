/* hash.c - file selection, content hashing and the stat cache.
 *
 * hasher_select walks a source inside a context with openat/fstatat (never
 * following symlinks below the source itself), applies the ignore rules,
 * and appends one entry per regular file or symlink. Each directory's names
 * are sorted with directories keyed as "name/", so the walk emits paths
 * already in strcmp order and hasher_wait rarely needs a real sort.
 * A walk is kept until hasher_wait (struct tree): every later selection of a
 * directory it holds, from the same context under equal ignore rules (the
 * images of a compose file each load their own .dockerignore matcher, so
 * rules are compared by content), is emitted from it with no system call.
 * Compose's three `COPY . .` of one 5,000-file context cost one walk, not
 * three. The price is the tree's memory (about 100 bytes a file) until then.
 *
 * A file whose (absolute path, size, mtime, inode, ctime) matches the stat
 * cache gets its hash at once, without being read. Every other file becomes a
 * job; small files are batched (up to 64 files or 256 KB per work item) and
 * big ones get an item each, queued on the libuv threadpool while the walk
 * goes on. Workers only read their own item; results (hashes, cache updates,
 * errors) are applied on the loop thread in the after-work callback, so the
 * selections and the cache need no locks. Reads go through a small pool of
 * 1 MB buffers shared by the workers (the only lock): one-shot XXH3-128 for a
 * file that fits, streaming otherwise.
 *
 * The stat cache file (host byte order; foreign order, version or a bad
 * checksum means "discard with a warning"):
 *   "graphbuild statcache 1\n"
 *   u32 0x01020304 (byte order), u32 0,
 *   i64 ref_ns   - start of the run that wrote it, floored to a second,
 *   u64 count, then count records:
 *     u64 size, u64 ino, i64 mtime_ns, i64 ctime_ns, u8 hash[16], u32 len, path[len]
 *   u64 XXH3-64 of everything before it.
 * Racily clean guard (as git's): a record whose mtime is not older than ref_ns
 * may have changed after it was hashed within the same timestamp tick, so it
 * is dropped on load and the file is re-hashed. Records are written touched
 * first (this run's, in order of use), then untouched ones while the total
 * stays under CACHE_KEEP, so files that disappeared age out. The loaded file
 * stays in memory and records point into it (no per-record allocation). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>
#include <xxhash.h>

#include "graphbuild/hash.h"
#include "graphbuild/jail.h"
#include "graphbuild/util.h"

#define CACHE_MAGIC "graphbuild statcache 1\n"
#define CACHE_KEEP 262144     /* max records written (touched ones always) */
#define RBUF_SIZE (1u << 20)  /* worker read buffer */
#define BATCH_FILES 64
#define BATCH_BYTES (256u << 10)
#define BIG_FILE (512u << 10) /* gets a work item of its own */

/* ---- the stat cache table ---- */

struct stamp {
	uint64_t size, ino;
	int64_t mtime, ctime;
};

struct centry {
	const char *path; /* absolute, not NUL-terminated; in filebuf or the arena */
	uint32_t len;
	uint32_t touched; /* 0, or 1 + order of first use in this run */
	uint64_t key;     /* XXH3-64 of path */
	struct stamp st;
	unsigned char hash[16];
};

struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};

struct rbuf {
	struct rbuf *next;
	XXH3_state_t *state;
	char *data;
};

struct job {
	struct selection *sel; /* target sel->v[idx].hash, or out */
	size_t idx;
	unsigned char *out;
	size_t pathoff;        /* into item->paths */
	struct stamp st;       /* as the walk saw it */
	unsigned char hash[16];
	int err;               /* errno from the worker */
	int unstable;          /* changed while being read: do not cache */
	size_t relstart;       /* >0: a context file, opened beneath path[0..relstart-1) */
};

struct item {
	uv_work_t req;
	struct hasher *h;
	struct job *jobs;
	size_t n, cap;
	struct buf paths;
	uint64_t bytes;
};

struct hasher {
	uv_loop_t *loop;
	char *cache_path;
	char *filebuf;          /* the loaded cache file */
	struct centry *e;
	size_t ne, ecap;
	uint32_t *slot;         /* 1 + index into e, 0 = empty; power-of-two size */
	size_t nslot;
	struct chunk *arena;
	int64_t ref_ns;         /* records with mtime >= ref_ns are not trusted */
	int64_t start_ns;       /* this run's start, floored to a second */
	uint32_t ntouched;
	int changed;
	struct item *cur;       /* batch being filled */
	size_t pending;         /* items queued, after-work not yet run */
	int closing;
	struct selection **sels;/* selections to sort in hasher_wait */
	size_t nsels, selcap;
	char *err;              /* first read error */
	struct tree *trees;     /* walked directories, until hasher_wait */
	uint64_t nstat, nhashed, bytes;
	uv_mutex_t mu;          /* guards rfree */
	struct rbuf *rfree;
};

void hash_buffer(const void *p, size_t n, unsigned char out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, 16);
}

/* The stream is XXH3's own state (a build's upload checks each file with it). */
struct hash_stream {
	XXH3_state_t *st;
};

struct hash_stream *hash_stream_new(void)
{
	struct hash_stream *hs = xmalloc(sizeof(*hs));

	hs->st = XXH3_createState();
	if (!hs->st)
		fatal("out of memory");
	XXH3_128bits_reset(hs->st);
	return hs;
}

void hash_stream_reset(struct hash_stream *hs)
{
	XXH3_128bits_reset(hs->st);
}

void hash_stream_update(struct hash_stream *hs, const void *p, size_t n)
{
	XXH3_128bits_update(hs->st, p, n);
}

void hash_stream_digest(struct hash_stream *hs, unsigned char out[16])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(hs->st));
	memcpy(out, c.digest, 16);
}

void hash_stream_free(struct hash_stream *hs)
{
	if (!hs)
		return;
	XXH3_freeState(hs->st);
	free(hs);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void stamp_of(struct stamp *s, const struct stat *st)
{
	s->size = (uint64_t)st->st_size;
	s->ino = (uint64_t)st->st_ino;
	s->mtime = ts_ns(&st->st_mtim);
	s->ctime = ts_ns(&st->st_ctim);
}

static int stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->size == b->size && a->ino == b->ino && a->mtime == b->mtime && a->ctime == b->ctime;
}

static char *arena_copy(struct hasher *h, const char *s, size_t n)
{
	struct chunk *c = h->arena;

	if (!c || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;

		c = xmalloc(sizeof(*c) + cap);
		c->next = h->arena;
		c->used = 0;
		c->cap = cap;
		h->arena = c;
	}
	memcpy(c->data + c->used, s, n);
	c->used += n;
	return c->data + c->used - n;
}

static void table_grow(struct hasher *h)
{
	size_t i, n = h->nslot ? h->nslot * 2 : 1024;

	free(h->slot);
	h->slot = xcalloc(n, sizeof(*h->slot));
	h->nslot = n;
	for (i = 0; i < h->ne; i++) {
		size_t j = h->e[i].key & (n - 1);

		while (h->slot[j])
			j = (j + 1) & (n - 1);
		h->slot[j] = (uint32_t)i + 1;
	}
}

/* Returns the entry for path, or NULL; *slotp: where it is or would go. */
static struct centry *table_find(struct hasher *h, const char *path, size_t len, uint64_t key, size_t *slotp)
{
	size_t j;

	if (!h->nslot)
		table_grow(h);
	for (j = key & (h->nslot - 1); h->slot[j]; j = (j + 1) & (h->nslot - 1)) {
		struct centry *e = &h->e[h->slot[j] - 1];

		if (e->key == key && e->len == len && memcmp(e->path, path, len) == 0) {
			*slotp = j;
			return e;
		}
	}
	*slotp = j;
	return NULL;
}

/* Adds an entry (path not yet present; path must outlive the table). */
static struct centry *table_add(struct hasher *h, const char *path, size_t len, uint64_t key)
{
	struct centry *e;
	size_t j;

	if ((h->ne + 1) * 4 > h->nslot * 3)
		table_grow(h);
	if (h->ne == h->ecap) {
		h->ecap = h->ecap ? h->ecap * 2 : 1024;
		h->e = xreallocarray(h->e, h->ecap, sizeof(*h->e));
	}
	e = &h->e[h->ne++];
	memset(e, 0, sizeof(*e));
	e->path = path;
	e->len = (uint32_t)len;
	e->key = key;
	for (j = key & (h->nslot - 1); h->slot[j]; j = (j + 1) & (h->nslot - 1))
		;
	h->slot[j] = (uint32_t)h->ne;
	return e;
}

/* The cached hash for path with this stamp, or NULL. */
static const unsigned char *cache_get(struct hasher *h, const char *path, size_t len, const struct stamp *st)
{
	size_t j;
	struct centry *e = table_find(h, path, len, XXH3_64bits(path, len), &j);

	if (!e || !stamp_eq(&e->st, st))
		return NULL;
	if (!e->touched)
		e->touched = ++h->ntouched;
	return e->hash;
}

static void cache_put(struct hasher *h, const char *path, size_t len, const struct stamp *st,
                      const unsigned char hash[16])
{
	uint64_t key = XXH3_64bits(path, len);
	size_t j;
	struct centry *e = table_find(h, path, len, key, &j);

	if (!e)
		e = table_add(h, arena_copy(h, path, len), len, key);
	e->st = *st;
	memcpy(e->hash, hash, 16);
	if (!e->touched)
		e->touched = ++h->ntouched;
	h->changed = 1;
}

/* ---- loading and saving the cache ---- */

static int64_t now_realtime_floor(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000;
}

/* Reads a record field at *p (bounds checked by the caller). */
#define GET(dst, p) (memcpy(&(dst), (p), sizeof(dst)), (p) += sizeof(dst))

static const char *cache_parse(struct hasher *h, char *data, size_t len)
{
	const size_t ml = sizeof(CACHE_MAGIC) - 1, fixed = 8 + 8 + 8 + 8 + 16 + 4;
	const char *p = data, *end;
	uint32_t order, pad;
	uint64_t count, sum, i;
	int64_t ref;

	if (len < ml || memcmp(data, CACHE_MAGIC, ml) != 0)
		return strncmp(data, "graphbuild statcache ", 21) == 0 && len > 21 ? "other version" : "not a stat cache";
	if (len < ml + 8 + 8 + 8 + 8)
		return "truncated";
	memcpy(&sum, data + len - 8, 8);
	if (XXH3_64bits(data, len - 8) != sum)
		return "bad checksum (truncated or corrupt)";
	end = data + len - 8;
	p += ml;
	GET(order, p);
	GET(pad, p);
	if (order != 0x01020304 || pad != 0)
		return "foreign byte order";
	GET(ref, p);
	GET(count, p);
	if (count > (uint64_t)(end - p) / fixed)
		return "bad record count";
	h->ref_ns = ref;
	for (i = 0; i < count; i++) {
		struct stamp st;
		unsigned char hash[16];
		uint32_t l;
		size_t j;

		if ((size_t)(end - p) < fixed)
			return "truncated record";
		GET(st.size, p);
		GET(st.ino, p);
		GET(st.mtime, p);
		GET(st.ctime, p);
		memcpy(hash, p, 16);
		p += 16;
		GET(l, p);
		if ((size_t)(end - p) < l || l == 0 || p[0] != '/')
			return "bad record";
		if (st.mtime >= ref) {
			h->changed = 1; /* racily clean: not trusted, re-hashed when seen */
		} else {
			uint64_t key = XXH3_64bits(p, l);

			if (!table_find(h, p, l, key, &j)) {
				struct centry *e = table_add(h, p, l, key);

				e->st = st;
				memcpy(e->hash, hash, 16);
			}
		}
		p += l;
	}
	if (p != end)
		return "trailing bytes";
	return NULL;
}

static void cache_load(struct hasher *h)
{
	size_t len;
	char *data = read_file(h->cache_path, &len);
	const char *why;

	if (!data) {
		if (errno != ENOENT)
			warn("discarding stat cache %s: %s", h->cache_path, strerror(errno));
		return;
	}
	why = cache_parse(h, data, len);
	if (why) {
		warn("discarding stat cache %s: %s", h->cache_path, why);
		h->ne = 0;
		memset(h->slot, 0, h->nslot * sizeof(*h->slot));
		h->changed = 1;
		free(data);
		return;
	}
	h->filebuf = data;
}

static int cmp_touched(const void *a, const void *b)
{
	const struct centry *x = *(struct centry *const *)a, *y = *(struct centry *const *)b;

	return (x->touched > y->touched) - (x->touched < y->touched);
}

int hasher_save(struct hasher *h)
{
	struct buf b = {0};
	struct centry **order;
	size_t i, n = 0, nt = 0, count;
	uint32_t u;
	uint64_t sum;
	char *dir, *slash;
	int rc = 0;

	if (!h->cache_path || !h->changed)
		return 0;
	/* touched entries by first use, then untouched ones in their old order */
	order = xmalloc((h->ne ? h->ne : 1) * sizeof(*order));
	for (i = 0; i < h->ne; i++)
		if (h->e[i].touched)
			order[n++] = &h->e[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), cmp_touched);
	nt = n;
	for (i = 0; i < h->ne && n < (nt > CACHE_KEEP ? nt : CACHE_KEEP); i++)
		if (!h->e[i].touched)
			order[n++] = &h->e[i];
	count = n;
	buf_grow(&b, 64 + count * 110);
	buf_adds(&b, CACHE_MAGIC);
	u = 0x01020304;
	buf_add(&b, &u, 4);
	u = 0;
	buf_add(&b, &u, 4);
	buf_add(&b, &h->start_ns, 8);
	{
		uint64_t c = count;

		buf_add(&b, &c, 8);
	}
	for (i = 0; i < count; i++) {
		const struct centry *e = order[i];

		buf_add(&b, &e->st.size, 8);
		buf_add(&b, &e->st.ino, 8);
		buf_add(&b, &e->st.mtime, 8);
		buf_add(&b, &e->st.ctime, 8);
		buf_add(&b, e->hash, 16);
		buf_add(&b, &e->len, 4);
		buf_add(&b, e->path, e->len);
	}
	sum = XXH3_64bits(b.data, b.len);
	buf_add(&b, &sum, 8);
	free(order);
	dir = xstrdup(h->cache_path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdirs(dir, 0755);
	}
	free(dir);
	if (write_file_atomic(h->cache_path, b.data, b.len) < 0) {
		warn("cannot write stat cache %s:", h->cache_path);
		rc = -1;
	} else {
		h->changed = 0;
	}
	buf_free(&b);
	return rc;
}

/* ---- the hasher ---- */

struct hasher *hasher_new(struct uv_loop_s *loop, const char *cache_path)
{
	struct hasher *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->start_ns = now_realtime_floor();
	h->ref_ns = INT64_MIN;
	if (uv_mutex_init(&h->mu) != 0)
		fatal("uv_mutex_init failed");
	table_grow(h);
	if (cache_path) {
		h->cache_path = xstrdup(cache_path);
		cache_load(h);
	}
	return h;
}

void hasher_stats(const struct hasher *h, uint64_t *nstat, uint64_t *nhashed, uint64_t *bytes)
{
	if (nstat)
		*nstat = h->nstat;
	if (nhashed)
		*nhashed = h->nhashed;
	if (bytes)
		*bytes = h->bytes;
}

/* ---- threadpool work ---- */

static struct rbuf *rbuf_get(struct hasher *h)
{
	struct rbuf *r;

	uv_mutex_lock(&h->mu);
	r = h->rfree;
	if (r)
		h->rfree = r->next;
	uv_mutex_unlock(&h->mu);
	if (!r) {
		r = xcalloc(1, sizeof(*r));
		r->data = xmalloc(RBUF_SIZE);
		r->state = XXH3_createState();
		if (!r->state)
			fatal("out of memory");
	}
	return r;
}

static void rbuf_put(struct hasher *h, struct rbuf *r)
{
	uv_mutex_lock(&h->mu);
	r->next = h->rfree;
	h->rfree = r;
	uv_mutex_unlock(&h->mu);
}

/* Reads up to n bytes (short only at EOF); -1 on error. */
static ssize_t read_full(int fd, char *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Opens abs, whose context-relative part starts at relstart, beneath the
 * context (jail.h): nothing outside it is ever opened. */
static int jail_at(size_t relstart, const char *abs, int flags)
{
	size_t alen = strlen(abs), rl = relstart > 1 ? relstart - 1 : 1;
	char *root = xstrndup(*abs ? abs : "/", rl);
	int fd = jail_open(root, alen >= relstart ? abs + relstart : "", flags, NULL), e = errno;

	free(root);
	errno = e;
	return fd;
}

static void hash_one(struct job *j, const char *path, struct rbuf *rb)
{
	struct stat st;
	struct stamp now;
	XXH128_canonical_t c;
	XXH128_hash_t hv;
	ssize_t r;
	int fd = j->relstart ? jail_at(j->relstart, path, O_RDONLY | O_NOATIME)
	                     : open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = j->relstart ? jail_at(j->relstart, path, O_RDONLY) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		j->err = errno;
		return;
	}
	if (fstat(fd, &st) < 0) {
		j->err = errno;
		close(fd);
		return;
	}
	stamp_of(&now, &st);
	j->unstable = !stamp_eq(&now, &j->st);
	r = read_full(fd, rb->data, RBUF_SIZE);
	if (r < 0)
		goto fail;
	if ((size_t)r < RBUF_SIZE) {
		hv = XXH3_128bits(rb->data, (size_t)r);
	} else {
		XXH3_128bits_reset(rb->state);
		while (r > 0) {
			XXH3_128bits_update(rb->state, rb->data, (size_t)r);
			if ((size_t)r < RBUF_SIZE)
				break;
			if ((r = read_full(fd, rb->data, RBUF_SIZE)) < 0)
				goto fail;
		}
		hv = XXH3_128bits_digest(rb->state);
	}
	close(fd);
	XXH128_canonicalFromHash(&c, hv);
	memcpy(j->hash, c.digest, 16);
	return;
fail:
	j->err = errno;
	close(fd);
}

static void work_cb(uv_work_t *req)
{
	struct item *it = req->data;
	struct rbuf *rb = rbuf_get(it->h);
	size_t i;

	for (i = 0; i < it->n; i++)
		hash_one(&it->jobs[i], it->paths.data + it->jobs[i].pathoff, rb);
	rbuf_put(it->h, rb);
}

static void item_free(struct item *it)
{
	free(it->jobs);
	buf_free(&it->paths);
	free(it);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct item *it = req->data;
	struct hasher *h = it->h;
	size_t i;

	h->pending--;
	if (status == 0 && !h->closing) {
		for (i = 0; i < it->n; i++) {
			struct job *j = &it->jobs[i];
			const char *path = it->paths.data + j->pathoff;

			if (j->err) {
				if (!h->err)
					h->err = xasprintf("cannot read %s: %s", path, strerror(j->err));
				continue;
			}
			memcpy(j->out ? j->out : j->sel->v[j->idx].hash, j->hash, 16);
			h->nhashed++;
			h->bytes += j->st.size;
			if (!j->unstable)
				cache_put(h, path, strlen(path), &j->st, j->hash);
		}
	}
	item_free(it);
}

static void flush(struct hasher *h)
{
	struct item *it = h->cur;
	int rc;

	if (!it)
		return;
	h->cur = NULL;
	it->req.data = it;
	rc = uv_queue_work(h->loop, &it->req, work_cb, after_work_cb);
	if (rc != 0)
		fatal("uv_queue_work: %s", uv_strerror(rc));
	h->pending++;
}

/* Queues path for hashing; the result goes to sel->v[idx] or out. */
static void enqueue(struct hasher *h, const char *path, size_t len, size_t relstart,
                    const struct stamp *st, struct selection *sel, size_t idx, unsigned char *out)
{
	struct item *it;
	struct job *j;
	int big = st->size >= BIG_FILE;

	if (big && h->cur && h->cur->n)
		flush(h);
	if (!h->cur) {
		h->cur = xcalloc(1, sizeof(*h->cur));
		h->cur->h = h;
	}
	it = h->cur;
	if (it->n == it->cap) {
		it->cap = it->cap ? it->cap * 2 : (big ? 1 : 16);
		it->jobs = xreallocarray(it->jobs, it->cap, sizeof(*it->jobs));
	}
	j = &it->jobs[it->n++];
	memset(j, 0, sizeof(*j));
	j->sel = sel;
	j->idx = idx;
	j->out = out;
	j->st = *st;
	j->relstart = relstart;
	j->pathoff = it->paths.len;
	buf_add(&it->paths, path, len + 1); /* with the NUL */
	it->bytes += st->size;
	if (big || it->n >= BATCH_FILES || it->bytes >= BATCH_BYTES)
		flush(h);
}

/* ---- selection ---- */

void selection_free(struct selection *sel)
{
	size_t i;

	if (!sel)
		return;
	for (i = 0; i < sel->n; i++) {
		free(sel->v[i].path);
		free(sel->v[i].link);
	}
	free(sel->v);
	sel->v = NULL;
	sel->n = 0;
	sel->bytes = 0;
}

static void note_sel(struct hasher *h, struct selection *sel)
{
	size_t i;

	for (i = 0; i < h->nsels; i++)
		if (h->sels[i] == sel)
			return;
	if (h->nsels == h->selcap) {
		h->selcap = h->selcap ? h->selcap * 2 : 8;
		h->sels = xreallocarray(h->sels, h->selcap, sizeof(*h->sels));
	}
	h->sels[h->nsels++] = sel;
}

/* Appends a zeroed entry. Capacity comes from malloc_usable_size, so any
 * malloc'd v (ours or a caller's) can be appended to. */
static struct file_entry *sel_push(struct selection *sel)
{
	struct file_entry *e;

	if (!sel->v || (sel->n + 1) * sizeof(*sel->v) > malloc_usable_size(sel->v))
		sel->v = xreallocarray(sel->v, sel->n < 8 ? 16 : sel->n * 2, sizeof(*sel->v));
	e = &sel->v[sel->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* ---- the walk: helpers scan directories in parallel, the caller's thread
 * emits entries in order ----
 *
 * Statting is most of a warm run (kernel path lookups), so directories are
 * scanned by helper threads (one per core): open, readdir, fstatat each
 * non-directory, readlink symlinks, apply the ignore rules (pure functions,
 * safe to share), sort. Subdirectories go on a shared LIFO stack, which keeps
 * scanning close to depth-first order. The calling thread walks the finished
 * nodes depth-first in sorted order and does everything that touches shared
 * state: cache lookups, selection entries, hashing jobs. A source whose root
 * directory has no subdirectories is done without starting any thread. */

struct sent {
	size_t nameoff;
	size_t namelen;
	unsigned mode;          /* st_mode; S_IFDIR for directories (not statted) */
	int err;                /* fstatat failed with this errno */
	struct stamp st;
	struct dnode *child;    /* directories */
	char *link;             /* symlink target */
};

struct dnode {
	struct dnode *next;     /* on the scan stack */
	char *abs;              /* absolute path */
	int root;               /* may be a symlink (the source itself) */
	int done;               /* scanned (under scan.mu) */
	int err;                /* opening or reading it failed with this errno */
	struct sent *v;
	size_t n;
	char *names;
};

struct scan {
	uv_mutex_t mu;
	uv_cond_t cond;         /* work pushed, a node done, or everything done */
	struct dnode *stack;
	size_t outstanding;     /* pushed and not yet done */
	int abort;
	const struct ignore *ig;
	size_t relstart;        /* offset of the context-relative part of abs */
};

/* A finished, error-free walk of the directory abs under one set of ignore
 * rules, kept until hasher_wait so that every other selection beneath abs
 * (the same context, equal rules) is emitted from it instead of walking and
 * statting the directory again. */
struct tree {
	struct tree *next;
	char *abs;              /* the walked directory, absolute */
	size_t ctxlen;          /* abs[0..ctxlen) is the context */
	char *rules;            /* ignore_rules of the walk */
	size_t rlen;
	struct dnode *root;
};

struct walk {
	struct hasher *h;
	const struct ignore *ig;
	struct selection *sel;
	struct buf path;     /* absolute path of what is being visited */
	size_t relstart;     /* where the context-relative part starts in path */
	const char *context; /* as given, for messages */
	char **err;
	int count;           /* count files in nstat (0: from a kept tree) */
};

static int cmp_sent(const void *a, const void *b, void *names)
{
	const struct sent *x = a, *y = b;
	const char *nm = names;
	size_t n = x->namelen < y->namelen ? x->namelen : y->namelen;
	int c = memcmp(nm + x->nameoff, nm + y->nameoff, n);
	unsigned cx, cy;

	if (c)
		return c;
	/* one name is a prefix of the other: a directory continues with '/',
	 * as its children's full paths do, so the walk emits strcmp order */
	cx = x->namelen > n ? (unsigned char)nm[x->nameoff + n] : S_ISDIR(x->mode) ? '/' : 0;
	cy = y->namelen > n ? (unsigned char)nm[y->nameoff + n] : S_ISDIR(y->mode) ? '/' : 0;
	return (cx > cy) - (cx < cy);
}

static struct dnode *dnode_new(const char *abs, size_t len, const char *name, size_t nlen)
{
	struct dnode *d = xcalloc(1, sizeof(*d));

	d->abs = xmalloc(len + nlen + 2);
	memcpy(d->abs, abs, len);
	d->abs[len] = '/';
	memcpy(d->abs + len + 1, name, nlen);
	d->abs[len + 1 + nlen] = 0;
	return d;
}

/* Scans d (any thread). Children are returned through *kids, in order. */
static void scan_dir(struct scan *s, struct dnode *d, struct dnode ***kids, size_t *nkids)
{
	struct buf names = {0}, rel = {0};
	struct sent *v = NULL;
	size_t n = 0, cap = 0, i, k, alen = strlen(d->abs), rlen;
	struct dirent *de;
	DIR *dir;
	int fd = jail_at(s->relstart, d->abs, O_RDONLY | O_DIRECTORY | (d->root ? 0 : O_NOFOLLOW));

	*nkids = 0;
	if (fd < 0 || !(dir = fdopendir(fd))) {
		d->err = errno;
		if (fd >= 0)
			close(fd);
		return;
	}
	errno = 0;
	while ((de = readdir(dir))) {
		const char *nm = de->d_name;

		if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].nameoff = names.len;
		v[n].namelen = strlen(nm);
		v[n].mode = de->d_type == DT_DIR ? S_IFDIR : 0;
		buf_add(&names, nm, v[n].namelen + 1);
		n++;
		errno = 0;
	}
	if (errno) {
		d->err = errno;
		goto out;
	}
	/* the context-relative path of d, for the ignore rules */
	if (alen >= s->relstart)
		buf_add(&rel, d->abs + s->relstart, alen - s->relstart);
	if (rel.len)
		buf_addc(&rel, '/');
	rlen = rel.len;
	for (i = k = 0; i < n; i++) {
		struct sent *e = &v[i];
		const char *nm = names.data + e->nameoff;
		struct stat st;

		rel.len = rlen;
		buf_add(&rel, nm, e->namelen);
		if (!S_ISDIR(e->mode)) {
			if (fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue; /* vanished since readdir */
				e->err = errno;
				v[k++] = *e;
				continue;
			}
			e->mode = st.st_mode;
			if (!S_ISDIR(st.st_mode)) {
				/* sockets, FIFOs and devices are not context files */
				if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
					continue;
				if (ignore_match(s->ig, rel.data, 0))
					continue;
				stamp_of(&e->st, &st);
				if (S_ISLNK(st.st_mode)) {
					char tgt[PATH_MAX + 1];
					ssize_t l = readlinkat(fd, nm, tgt, sizeof(tgt) - 1);

					e->link = xstrndup(tgt, l > 0 ? (size_t)l : 0);
				}
				v[k++] = *e;
				continue;
			}
		}
		/* graphbuild's own state (the stat cache, manifests) changes while
		 * it runs: never part of a context, whatever the ignore rules say */
		if (strcmp(nm, ".graphbuild") == 0)
			continue;
		if (ignore_match(s->ig, rel.data, 1) && !ignore_may_reinclude(s->ig, rel.data))
			continue;
		v[k++] = *e;
	}
	n = k;
	if (n > 1)
		qsort_r(v, n, sizeof(*v), cmp_sent, names.data);
	for (i = 0; i < n; i++)
		if (S_ISDIR(v[i].mode) && !v[i].err)
			(*nkids)++;
	if (*nkids) {
		*kids = xmalloc(*nkids * sizeof(**kids));
		for (i = k = 0; i < n; i++)
			if (S_ISDIR(v[i].mode) && !v[i].err)
				(*kids)[k++] = v[i].child =
				    dnode_new(d->abs, alen, names.data + v[i].nameoff, v[i].namelen);
	}
out:
	closedir(dir);
	buf_free(&rel);
	d->v = v;
	d->n = n;
	d->names = buf_take(&names);
}

/* Marks d done and pushes its children (last first: LIFO pops the first). */
static void scan_finish(struct scan *s, struct dnode *d, struct dnode **kids, size_t nkids)
{
	size_t i;

	uv_mutex_lock(&s->mu);
	for (i = nkids; i-- > 0;) {
		kids[i]->next = s->stack;
		s->stack = kids[i];
	}
	s->outstanding += nkids;
	d->done = 1;
	s->outstanding--;
	uv_cond_broadcast(&s->cond);
	uv_mutex_unlock(&s->mu);
	free(kids);
}

static void scan_thread(void *arg)
{
	struct scan *s = arg;

	for (;;) {
		struct dnode *d, **kids = NULL;
		size_t nkids = 0;
		int skip;

		uv_mutex_lock(&s->mu);
		while (!s->stack && s->outstanding > 0)
			uv_cond_wait(&s->cond, &s->mu);
		d = s->stack;
		if (d)
			s->stack = d->next;
		skip = s->abort;
		uv_mutex_unlock(&s->mu);
		if (!d)
			return;
		if (!skip)
			scan_dir(s, d, &kids, &nkids);
		scan_finish(s, d, kids, nkids);
	}
}

/* s NULL: the scan is over (threads joined), every node is done. */
static void wait_done(struct scan *s, struct dnode *d)
{
	if (!s)
		return;
	uv_mutex_lock(&s->mu);
	while (!d->done)
		uv_cond_wait(&s->cond, &s->mu);
	uv_mutex_unlock(&s->mu);
}

static void dnode_free(struct scan *s, struct dnode *d)
{
	size_t i;

	wait_done(s, d);
	for (i = 0; i < d->n; i++) {
		if (d->v[i].child)
			dnode_free(s, d->v[i].child);
		free(d->v[i].link);
	}
	free(d->v);
	free(d->names);
	free(d->abs);
	free(d);
}

/* Adds the file at w->path: stat st, symlink target link (taken). */
static void add_file(struct walk *w, unsigned mode, const struct stamp *st, char *link)
{
	struct file_entry *e;
	const unsigned char *cached;
	size_t idx;

	if (w->count)
		w->h->nstat++;
	e = sel_push(w->sel);
	idx = (size_t)(e - w->sel->v);
	e->path = xstrdup(w->path.data + w->relstart);
	e->mode = mode;
	e->size = st->size;
	if (S_ISLNK(mode)) {
		e->link = link ? link : xstrdup("");
		hash_buffer(e->link, strlen(e->link), e->hash);
		return;
	}
	w->sel->bytes += e->size;
	cached = cache_get(w->h, w->path.data, w->path.len, st);
	if (cached)
		memcpy(e->hash, cached, 16);
	else
		enqueue(w->h, w->path.data, w->path.len, w->relstart, st, w->sel, idx, NULL);
}

static int fail(struct walk *w, const char *what, int e)
{
	const char *rel = w->path.len >= w->relstart ? w->path.data + w->relstart : ".";

	*w->err = xasprintf("%s '%s' in context %s: %s", what, rel, w->context, strerror(e));
	return -1;
}

static void path_set(struct walk *w, size_t len)
{
	w->path.len = len;
	w->path.data[len] = 0;
}

/* Emits d's entries depth-first (w->path names d). The nodes are kept: the
 * caller frees the tree or keeps it (struct tree). s NULL: a finished tree. */
static int emit(struct walk *w, struct scan *s, struct dnode *d)
{
	size_t i, base = w->path.len;
	int rc = 0;

	wait_done(s, d);
	if (d->err)
		rc = fail(w, "cannot read directory", d->err);
	for (i = 0; i < d->n && !rc; i++) {
		struct sent *e = &d->v[i];

		path_set(w, base);
		buf_addc(&w->path, '/');
		buf_add(&w->path, d->names + e->nameoff, e->namelen);
		if (e->err) {
			rc = fail(w, "cannot stat", e->err);
		} else if (e->child) {
			rc = emit(w, s, e->child);
		} else {
			add_file(w, e->mode, &e->st, e->link ? xstrdup(e->link) : NULL);
		}
		if (rc && s) {
			uv_mutex_lock(&s->mu);
			s->abort = 1;
			uv_mutex_unlock(&s->mu);
		}
	}
	path_set(w, base);
	return rc;
}

/* Walks the directory at w->path; *rootp gets the tree (all nodes done, the
 * scan threads joined), complete unless it returns -1. */
static int walk_tree(struct walk *w, int followed, struct dnode **rootp)
{
	struct scan s = {0};
	struct dnode *root = xcalloc(1, sizeof(*root)), **kids = NULL;
	uv_thread_t tid[16];
	size_t nkids = 0, nt = 0, i, want;
	int rc;

	if (uv_mutex_init(&s.mu) != 0 || uv_cond_init(&s.cond) != 0)
		fatal("uv_mutex_init failed");
	s.ig = w->ig;
	s.relstart = w->relstart;
	s.outstanding = 1;
	root->abs = xstrdup(w->path.data);
	root->root = followed;
	scan_dir(&s, root, &kids, &nkids);
	scan_finish(&s, root, kids, nkids);
	if (nkids) {
		want = uv_available_parallelism();
		want = want < 2 ? 2 : want > LEN(tid) ? LEN(tid) : want;
		for (nt = 0; nt < want; nt++)
			if (uv_thread_create(&tid[nt], scan_thread, &s) != 0)
				break;
		if (nt == 0)
			scan_thread(&s); /* no threads: scan everything here first */
	}
	rc = emit(w, &s, root);
	for (i = 0; i < nt; i++)
		uv_thread_join(&tid[i]);
	uv_cond_destroy(&s.cond);
	uv_mutex_destroy(&s.mu);
	*rootp = root;
	return rc;
}

/* ---- kept trees: one walk per (directory, ignore rules) per batch ---- */

static void trees_free(struct hasher *h)
{
	struct tree *t;

	while ((t = h->trees)) {
		h->trees = t->next;
		dnode_free(NULL, t->root);
		free(t->abs);
		free(t->rules);
		free(t);
	}
}

/* 1 if the absolute path p is dir or lies beneath it. */
static int beneath(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/');
}

/* The node of a kept tree for the directory abs (context abs[0..ctxlen),
 * these rules), or NULL. The path must lead through directories the tree
 * holds (a symlink on the way, an excluded or skipped directory: NULL, and
 * the caller walks abs itself), so the node is what a walk of abs would
 * find. */
static struct dnode *tree_find(struct hasher *h, const char *abs, size_t ctxlen, const char *rules,
                               size_t rlen)
{
	struct tree *t;

	for (t = h->trees; t; t = t->next) {
		struct dnode *d = t->root;
		const char *p;

		if (t->ctxlen != ctxlen || memcmp(t->abs, abs, ctxlen) != 0 || t->rlen != rlen ||
		    memcmp(t->rules, rules, rlen) != 0 || !beneath(abs, t->abs))
			continue;
		p = abs + strlen(t->abs);
		while (d && *p == '/') {
			const char *c = p + 1, *end = strchr(c, '/');
			size_t cl = end ? (size_t)(end - c) : strlen(c), i;
			struct dnode *next = NULL;

			for (i = 0; i < d->n; i++)
				if (d->v[i].namelen == cl && memcmp(d->names + d->v[i].nameoff, c, cl) == 0) {
					next = d->v[i].child;
					break;
				}
			d = next;
			p = c + cl;
		}
		if (d && !d->err)
			return d;
	}
	return NULL;
}

/* Keeps root, the walk of abs (takes root and rules); trees it covers go. */
static void tree_keep(struct hasher *h, const char *abs, size_t ctxlen, char *rules, size_t rlen,
                      struct dnode *root)
{
	struct tree **pp = &h->trees, *t;

	while ((t = *pp)) {
		if (t->ctxlen == ctxlen && memcmp(t->abs, abs, ctxlen) == 0 && t->rlen == rlen &&
		    memcmp(t->rules, rules, rlen) == 0 && beneath(t->abs, abs)) {
			*pp = t->next;
			dnode_free(NULL, t->root);
			free(t->abs);
			free(t->rules);
			free(t);
		} else {
			pp = &t->next;
		}
	}
	t = xcalloc(1, sizeof(*t));
	t->abs = xstrdup(abs);
	t->ctxlen = ctxlen;
	t->rules = rules;
	t->rlen = rlen;
	t->root = root;
	t->next = h->trees;
	h->trees = t;
}

/* Selects the directory at w->path (the context is w->path[0..ctxlen)):
 * from a kept tree, else by walking it and keeping the walk. */
static int select_dir(struct walk *w, size_t ctxlen)
{
	size_t rlen;
	char *rules = ignore_rules(w->ig, &rlen);
	struct dnode *d = tree_find(w->h, w->path.data, ctxlen, rules, rlen), *root;
	int rc;

	if (d) {
		w->count = 0; /* statted by the walk that made the tree */
		rc = emit(w, NULL, d);
		free(rules);
		return rc;
	}
	rc = walk_tree(w, 1, &root);
	if (rc == 0) {
		tree_keep(w->h, w->path.data, ctxlen, rules, rlen, root);
	} else {
		dnode_free(NULL, root);
		free(rules);
	}
	return rc;
}

/* Normalises a context-relative source: drops "./", "//", trailing '/';
 * returns NULL if it leaves the context. */
static char *clean_source(const char *src)
{
	char *out = xmalloc(strlen(src) + 1);
	size_t w = 0;
	const char *p = src;

	while (*p) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == 0 || (l == 1 && p[0] == '.')) {
			/* skip */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (w == 0) {
				free(out);
				return NULL;
			}
			while (w > 0 && out[w - 1] != '/')
				w--;
			if (w > 0)
				w--;
		} else {
			if (w)
				out[w++] = '/';
			memcpy(out + w, p, l);
			w += l;
		}
		p += l;
		if (*p == '/')
			p++;
	}
	out[w] = 0;
	return out;
}

int hasher_select(struct hasher *h, const char *context, const struct ignore *ig,
                  const char *source, struct selection *sel, char **err)
{
	struct walk w = {0};
	struct stat st;
	char *src = clean_source(source ? source : "");
	size_t ctxlen;
	int rc = 0;

	note_sel(h, sel);
	if (!src) {
		*err = xasprintf("copy source '%s' is outside the context %s", source, context);
		return -1;
	}
	w.h = h;
	w.ig = ig;
	w.sel = sel;
	w.err = err;
	w.context = context;
	w.count = 1;
	if (context[0] != '/') {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			fatal("getcwd:");
		buf_adds(&w.path, cwd);
		if (strcmp(context, ".") != 0) {
			buf_addc(&w.path, '/');
			buf_adds(&w.path, context);
		}
	} else {
		buf_adds(&w.path, context);
	}
	while (w.path.len > 0 && w.path.data[w.path.len - 1] == '/')
		path_set(&w, w.path.len - 1);
	ctxlen = w.path.len;
	w.relstart = ctxlen + 1;
	if (*src) {
		buf_addc(&w.path, '/');
		buf_adds(&w.path, src);
	}
	/* the source and every component of it resolve beneath the context:
	 * a symlink on the way is followed only while it stays inside */
	{
		char *root = xstrndup(w.path.len ? w.path.data : "/", ctxlen ? ctxlen : 1), *why = NULL;
		int fd = jail_open(root, src, O_PATH, &why), e = errno;

		if (fd >= 0 && fstat(fd, &st) < 0)
			e = errno;
		if (fd >= 0)
			close(fd);
		free(root);
		if (fd < 0) {
			const char *shown = *src ? src : ".";

			if (e == ELOOP)
				*err = xasprintf("symlink loop at '%s' in context %s", src, context);
			else if (why)
				*err = xasprintf("copy source '%s': %s (context %s)", shown, why, context);
			else if (e == ENOENT || e == ENOTDIR)
				*err = xasprintf("copy source '%s' not found in context %s", shown, context);
			else if (e == EXDEV)
				*err = xasprintf("copy source '%s' is outside the context %s", shown, context);
			else if (e == ELOOP)
				*err = xasprintf("symlink loop at '%s' in context %s", src, context);
			else
				*err = xasprintf("cannot stat '%s' in context %s: %s", shown, context, strerror(e));
			free(why);
			rc = -1;
			goto out;
		}
	}
	if (*src && ignore_match(ig, src, S_ISDIR(st.st_mode)) &&
	    (!S_ISDIR(st.st_mode) || !ignore_may_reinclude(ig, src))) {
		*err = xasprintf("copy source '%s' not found in context %s (excluded by the ignore rules)", src,
		                 context);
		rc = -1;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		struct stamp s;

		stamp_of(&s, &st);
		add_file(&w, st.st_mode, &s, NULL);
	} else if (S_ISDIR(st.st_mode)) {
		rc = select_dir(&w, ctxlen);
	} else {
		*err = xasprintf("copy source '%s' in context %s is not a regular file or directory", src, context);
		rc = -1;
	}
out:
	flush(h);
	buf_free(&w.path);
	free(src);
	return rc;
}

/* The stat-checked hash of the regular file abspath, stat'ed as st: from
 * the stat cache, or queued; relstart as enqueue takes it. */
static int file_hash(struct hasher *h, const char *abspath, const struct stat *st, size_t relstart,
                     unsigned char out[16], char **err)
{
	struct stamp s;
	const unsigned char *cached;

	if (!S_ISREG(st->st_mode)) {
		*err = xasprintf("cannot read %s: not a regular file", abspath);
		return -1;
	}
	h->nstat++;
	stamp_of(&s, st);
	cached = cache_get(h, abspath, strlen(abspath), &s);
	if (cached)
		memcpy(out, cached, 16);
	else
		enqueue(h, abspath, strlen(abspath), relstart, &s, NULL, 0, out);
	return 0;
}

int hasher_file(struct hasher *h, const char *abspath, unsigned char out[16], char **err)
{
	struct stat st;

	if (stat(abspath, &st) < 0) {
		if (errno == ELOOP)
			*err = xasprintf("symlink loop at %s", abspath);
		else
			*err = xasprintf("cannot read %s: %s", abspath, strerror(errno));
		return -1;
	}
	return file_hash(h, abspath, &st, 0, out, err);
}

int hasher_file_beneath(struct hasher *h, const char *root, const char *abspath, unsigned char out[16],
                        char **err)
{
	size_t rl = strlen(root);
	struct stat st;
	char *why = NULL;
	int fd;

	if (rl <= 1 || strncmp(abspath, root, rl) != 0 || abspath[rl] != '/')
		return hasher_file(h, abspath, out, err);
	fd = jail_open(root, abspath + rl + 1, O_PATH, &why);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		if (why)
			*err = xasprintf("cannot read %s: %s", abspath, why);
		else if (e == EXDEV)
			*err = xasprintf("cannot read %s: it leads outside %s", abspath, root);
		else
			*err = xasprintf("cannot read %s: %s", abspath, strerror(e));
		free(why);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return file_hash(h, abspath, &st, rl + 1, out, err);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct file_entry *)a)->path, ((const struct file_entry *)b)->path);
}

static void sort_unique(struct selection *sel)
{
	size_t i, w;

	for (i = 1; i < sel->n; i++)
		if (strcmp(sel->v[i - 1].path, sel->v[i].path) >= 0)
			break;
	if (i >= sel->n)
		return; /* the walk's order, already sorted and unique */
	if (sel->n > 1)
		qsort(sel->v, sel->n, sizeof(*sel->v), cmp_entry);
	for (i = 1, w = 1; i < sel->n; i++) {
		if (strcmp(sel->v[w - 1].path, sel->v[i].path) == 0) {
			if (!sel->v[i].link)
				sel->bytes -= sel->v[i].size;
			free(sel->v[i].path);
			free(sel->v[i].link);
		} else {
			sel->v[w++] = sel->v[i];
		}
	}
	sel->n = w;
}

int hasher_wait(struct hasher *h, char **err)
{
	size_t i;

	flush(h);
	while (h->pending > 0)
		uv_run(h->loop, UV_RUN_ONCE);
	trees_free(h); /* the next batch sees the files as they are then */
	for (i = 0; i < h->nsels; i++)
		sort_unique(h->sels[i]);
	h->nsels = 0;
	if (h->err) {
		*err = h->err;
		h->err = NULL;
		return -1;
	}
	return 0;
}

void hasher_free(struct hasher *h)
{
	struct chunk *c;
	struct rbuf *r;

	if (!h)
		return;
	/* work already on the threadpool cannot be taken back: let it finish,
	 * without touching selections the caller may have freed */
	h->closing = 1;
	flush(h);
	while (h->pending > 0)
		uv_run(h->loop, UV_RUN_ONCE);
	while ((c = h->arena)) {
		h->arena = c->next;
		free(c);
	}
	while ((r = h->rfree)) {
		h->rfree = r->next;
		XXH3_freeState(r->state);
		free(r->data);
		free(r);
	}
	trees_free(h);
	uv_mutex_destroy(&h->mu);
	free(h->err);
	free(h->sels);
	free(h->slot);
	free(h->e);
	free(h->filebuf);
	free(h->cache_path);
	free(h);
}
