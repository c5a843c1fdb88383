/* build.c - executing image nodes through the engine, one scheduler job per
 * node to build or pull. Each job is a sequential state machine of docker.h
 * calls chained through their callbacks:
 *
 *   REF     pull, inspect (ref_id)
 *   ROOTFS  [sh -c command > $out, tar $out] import, create+commit with labels
 *   IMAGE   longest existing prefix of step images, then per step:
 *             run   create, start, logs+wait, commit, remove
 *             copy  create, upload a tar of the selected files, commit, remove
 *             from  create src+dst, download/rewrite/upload, commit, remove
 *             env/workdir/user  tag the current image with the step key
 *           final create+commit with the image config, tags, manifest
 *   DOCKERFILE  POST /build with a context tar of exactly the inputs
 *
 * Failure and cancellation both funnel into cleanup(): it waits for every
 * request in flight, force-removes any container the job created, deletes
 * temporary files and directories, and only then reports to the scheduler,
 * so no path leaves a container behind. Tars are written here (ustar with pax
 * records for long names, uid/gid 0, mtime 0) and streamed from the files as
 * the engine reads them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "graphbuild/build.h"
#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/hash.h"
#include "graphbuild/key.h"
#include "graphbuild/plan.h"
#include "graphbuild/progress.h"
#include "graphbuild/registry.h"
#include "graphbuild/sched.h"
#include "graphbuild/state.h"
#include "graphbuild/util.h"

extern char **environ;

#define IMPORT_REPO "graphbuild-import"

static uv_loop_t *loop_of(struct docker *d)
{
	return docker_loop(d);
}

static char *lower(const char *s)
{
	char *r = xstrdup(s), *p;

	for (p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		           *p == '_' || *p == '-' || *p == '/'))
			*p = '-';
	return r;
}

char *build_latest_repo(const struct stack *s, const struct node *n)
{
	char *repo = xasprintf("%s/%s", s->project ? s->project : "graphbuild", n->name);
	char *l = lower(repo);

	free(repo);
	return l;
}

/* ---- tar writer ---- */

struct tent {
	char *name;            /* archive name, no leading '/' */
	char type;             /* '0' file, '5' dir, '2' symlink, '1' hardlink */
	unsigned mode;         /* permission bits */
	uint64_t size;
	char *link;
	char *host;            /* '0': host file to stream (NULL: from the spool) */
	char *shown;           /* name for messages (context-relative) */
	off_t off;             /* '0' from the spool: data offset */
};

struct tarw {
	struct tent *v;
	size_t n, i;
	struct buf hdr;        /* pending header bytes */
	size_t hdrpos;
	int fd;                /* current host file */
	int spool;             /* COPY_FROM: the downloaded archive, or -1 */
	off_t spooloff;
	uint64_t left;         /* data bytes left in the current entry */
	size_t pad;            /* zero bytes left after it */
	size_t endleft;        /* end-of-archive zeros left */
	int started_end;
	char *err;
	const char *curname;
};

static void tarw_init(struct tarw *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->spool = -1;
}

static void tarw_add(struct tarw *w, const char *name, char type, unsigned mode, uint64_t size,
                     const char *link, const char *host, const char *shown, off_t off)
{
	struct tent *e;

	w->v = xrealloc(w->v, sizeof(*w->v) * (w->n + 1));
	e = &w->v[w->n++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->type = type;
	e->mode = mode & 07777;
	e->size = size;
	e->link = link ? xstrdup(link) : NULL;
	e->host = host ? xstrdup(host) : NULL;
	e->shown = xstrdup(shown ? shown : name);
	e->off = off;
}

static void tarw_free(struct tarw *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->v[i].name);
		free(w->v[i].link);
		free(w->v[i].host);
		free(w->v[i].shown);
	}
	free(w->v);
	buf_free(&w->hdr);
	if (w->fd >= 0)
		close(w->fd);
	if (w->spool >= 0)
		close(w->spool);
	free(w->err);
	tarw_init(w);
}

static int cmp_tent(const void *a, const void *b)
{
	return strcmp(((const struct tent *)a)->name, ((const struct tent *)b)->name);
}

/* Sorts by name (a directory before its contents) and drops exact
 * duplicates, keeping the last one added (a later source wins). */
static void tarw_sort(struct tarw *w)
{
	size_t i, k = 0;

	/* stable enough: equal names are identical destinations */
	if (w->n > 1)
		qsort(w->v, w->n, sizeof(*w->v), cmp_tent);
	for (i = 0; i < w->n; i++) {
		if (k && !strcmp(w->v[k - 1].name, w->v[i].name)) {
			struct tent t = w->v[k - 1];
			w->v[k - 1] = w->v[i];
			free(t.name);
			free(t.link);
			free(t.host);
			free(t.shown);
			continue;
		}
		w->v[k++] = w->v[i];
	}
	w->n = k;
}

static void octal(char *dst, size_t width, uint64_t v)
{
	size_t i;

	/* width-1 octal digits and a NUL */
	dst[width - 1] = 0;
	for (i = width - 1; i > 0; i--) {
		dst[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

static void pax_record(struct buf *b, const char *k, const char *v)
{
	size_t base = strlen(k) + strlen(v) + 3, len = base, digits;

	/* the length counts its own digits */
	for (;;) {
		char tmp[32];
		digits = (size_t)snprintf(tmp, sizeof(tmp), "%zu", len);
		if (base + digits == len)
			break;
		len = base + digits;
	}
	buf_printf(b, "%zu %s=%s\n", len, k, v);
}

static void ustar_header(struct buf *out, const char *name, char type, unsigned mode, uint64_t size,
                         const char *link)
{
	char h[512];
	unsigned sum = 0;
	size_t i;

	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, size);
	octal(h + 136, 12, 0);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strlen(link) < 100 ? strlen(link) : 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	buf_add(out, h, 512);
}

/* Header block(s) of e into w->hdr: a pax header first when a name, link or
 * size does not fit ustar. */
static void tarw_header(struct tarw *w, const struct tent *e)
{
	int longname = strlen(e->name) >= 100;
	int longlink = e->link && strlen(e->link) >= 100;
	int big = e->size > 077777777777ULL;

	w->hdr.len = 0;
	w->hdrpos = 0;
	if (longname || longlink || big) {
		struct buf rec = {0};
		char pname[100], num[32];
		size_t padn;

		if (longname)
			pax_record(&rec, "path", e->name);
		if (longlink)
			pax_record(&rec, "linkpath", e->link);
		if (big) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)e->size);
			pax_record(&rec, "size", num);
		}
		snprintf(pname, sizeof(pname), "PaxHeaders/%.80s", e->name);
		ustar_header(&w->hdr, pname, 'x', 0644, rec.len, NULL);
		buf_add(&w->hdr, rec.data, rec.len);
		padn = (512 - rec.len % 512) % 512;
		while (padn--)
			buf_addc(&w->hdr, 0);
		buf_free(&rec);
	}
	ustar_header(&w->hdr, e->name, e->type, e->mode, e->type == '0' ? (big ? 0 : e->size) : 0, e->link);
}

static ssize_t tar_fail(struct tarw *w, char *msg)
{
	if (!w->err)
		w->err = msg;
	else
		free(msg);
	return -1;
}

/* docker_read_fn: streams the archive. Host files are opened as they come;
 * a vanished file or a size change since the plan aborts the upload. */
static ssize_t tarw_read(void *arg, char *buf, size_t n)
{
	struct tarw *w = arg;
	size_t got = 0;

	while (got < n) {
		if (w->hdrpos < w->hdr.len) {
			size_t k = w->hdr.len - w->hdrpos;
			if (k > n - got)
				k = n - got;
			memcpy(buf + got, w->hdr.data + w->hdrpos, k);
			w->hdrpos += k;
			got += k;
			continue;
		}
		if (w->left) {
			size_t k = w->left < n - got ? (size_t)w->left : n - got;
			ssize_t r;

			if (w->fd >= 0)
				r = read(w->fd, buf + got, k);
			else
				r = pread(w->spool, buf + got, k, w->spooloff);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return tar_fail(w, xasprintf("copy source %s: %s", w->curname, strerror(errno)));
			if (r == 0)
				return tar_fail(w, xasprintf("copy source %s changed since plan (shorter)", w->curname));
			w->spooloff += r;
			w->left -= (uint64_t)r;
			got += (size_t)r;
			if (!w->left && w->fd >= 0) {
				char extra;
				if (read(w->fd, &extra, 1) > 0)
					return tar_fail(w, xasprintf("copy source %s changed since plan (longer)", w->curname));
				close(w->fd);
				w->fd = -1;
			}
			continue;
		}
		if (w->pad) {
			size_t k = w->pad < n - got ? w->pad : n - got;
			memset(buf + got, 0, k);
			w->pad -= k;
			got += k;
			continue;
		}
		if (w->i < w->n) {
			const struct tent *e = &w->v[w->i++];

			w->curname = e->shown;
			if (e->type == '0' && e->host) {
				struct stat sb;
				w->fd = open(e->host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
				if (w->fd < 0 && errno == ENOENT)
					return tar_fail(w, xasprintf("copy source %s vanished since plan", e->shown));
				if (w->fd < 0)
					return tar_fail(w, xasprintf("copy source %s: %s", e->shown, strerror(errno)));
				if (fstat(w->fd, &sb) < 0 || (uint64_t)sb.st_size != e->size)
					return tar_fail(w, xasprintf("copy source %s changed since plan", e->shown));
			} else if (e->type == '0') {
				w->spooloff = e->off;
			}
			tarw_header(w, e);
			if (e->type == '0') {
				w->left = e->size;
				w->pad = (512 - e->size % 512) % 512;
			}
			continue;
		}
		if (!w->started_end) {
			w->started_end = 1;
			w->endleft = 1024;
		}
		if (w->endleft) {
			size_t k = w->endleft < n - got ? w->endleft : n - got;
			memset(buf + got, 0, k);
			w->endleft -= k;
			got += k;
			continue;
		}
		break;
	}
	return (ssize_t)got;
}

/* ---- paths ---- */

/* Joins a and b, collapses "//" and "/./", strips the leading and trailing
 * '/': the archive name of an absolute destination. malloc'd. */
static char *arcname(const char *a, const char *b)
{
	struct buf out = {0};
	char *s = xasprintf("%s/%s", a ? a : "", b ? b : "");
	char *tok, *save = NULL;

	for (tok = strtok_r(s, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (!strcmp(tok, "."))
			continue;
		if (!strcmp(tok, "..")) {
			char *slash = out.data ? strrchr(out.data, '/') : NULL;
			out.len = slash ? (size_t)(slash - out.data) : 0;
			if (out.data)
				out.data[out.len] = 0;
			continue;
		}
		if (out.len)
			buf_addc(&out, '/');
		buf_adds(&out, tok);
	}
	free(s);
	return out.data ? buf_take(&out) : xstrdup("");
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* Adds directory entries for every directory strictly below root on the way
 * to name (the copied tree's own subdirectories; root and its ancestors may
 * exist in the image with modes we must not touch: /tmp is 1777). */
static void add_dirs_between(struct tarw *w, const char *root, const char *name)
{
	size_t rl = strlen(root);
	char *p = xstrdup(name), *s;

	if (rl && (strncmp(name, root, rl) || name[rl] != '/')) {
		free(p);
		return;
	}
	for (s = p + (rl ? rl + 1 : 0); (s = strchr(s, '/')); s++) {
		*s = 0;
		tarw_add(w, p, '5', 0755, 0, NULL, NULL, NULL, 0);
		*s = '/';
	}
	free(p);
}

/* The destination directory a relative `to` or a missing one resolves in. */
static char *dest_abs(const char *to, const char *workdir)
{
	if (to[0] == '/')
		return xstrdup(to);
	return xasprintf("%s/%s", workdir ? workdir : "/", to);
}

/* Normalised copy source: no "./" prefix, no trailing '/'; "" = context. */
static char *norm_source(const char *src)
{
	char *s;
	size_t n;

	while (src[0] == '.' && src[1] == '/')
		src += 2;
	s = xstrdup(src);
	n = strlen(s);
	while (n && s[n - 1] == '/')
		s[--n] = 0;
	if (!strcmp(s, "."))
		s[0] = 0;
	return s;
}

/* Fills w with the entries of a COPY step, Docker's COPY destination rules:
 * a directory source copies its contents to `to` (or <workdir>/<source>);
 * a file source goes to `to` exactly, or to/<basename> when `to` ends in '/'
 * or there are several sources; without `to`, <workdir>/<source>.
 * Returns 0, or -1 with *err for a source that vanished since the plan. */
static int copy_entries(struct tarw *w, const struct step *st, const struct step_key *sk,
                        const char *context, char **err)
{
	size_t i, k;
	int multi = st->args.n > 1;
	int to_dir = st->to && st->to[strlen(st->to) - 1] == '/';

	for (i = 0; i < sk->sel.n; i++) {
		const struct file_entry *f = &sk->sel.v[i];
		char *host = path_join(context, f->path);
		struct stat sb;

		if (lstat(host, &sb) < 0) {
			*err = errno == ENOENT ? xasprintf("copy source %s vanished since plan", f->path)
			                       : xasprintf("copy source %s: %s", f->path, strerror(errno));
			free(host);
			return -1;
		}
		if (S_ISREG(f->mode) && (uint64_t)sb.st_size != f->size) {
			*err = xasprintf("copy source %s changed since plan", f->path);
			free(host);
			return -1;
		}
		for (k = 0; k < st->args.n; k++) {
			char *src = norm_source(st->args.v[k]);
			size_t sl = strlen(src);
			char *name = NULL, *root = NULL;

			if (!sl || (!strncmp(f->path, src, sl) && f->path[sl] == '/')) {
				/* a directory source: its contents */
				const char *rel = sl ? f->path + sl + 1 : f->path;
				char *d = st->to ? dest_abs(st->to, sk->workdir)
				                 : xasprintf("%s/%s", sk->workdir ? sk->workdir : "/", src);
				root = arcname(d, NULL);
				name = arcname(d, rel);
				free(d);
			} else if (!strcmp(f->path, src)) {
				if (st->to && (to_dir || multi)) {
					char *d = dest_abs(st->to, sk->workdir);
					root = arcname(d, NULL);
					name = arcname(d, base_name(src));
					free(d);
				} else if (st->to) {
					char *d = dest_abs(st->to, sk->workdir);
					name = arcname(d, NULL);
					free(d);
				} else {
					root = arcname(sk->workdir, NULL);
					name = arcname(sk->workdir, src);
				}
			}
			free(src);
			if (!name)
				continue;
			if (!name[0]) {
				free(name);
				free(root);
				continue;
			}
			if (root)
				add_dirs_between(w, root, name);
			else
				add_dirs_between(w, name, name); /* nothing: the file is the root */
			if (S_ISLNK(f->mode))
				tarw_add(w, name, '2', 0777, 0, f->link, NULL, f->path, 0);
			else
				tarw_add(w, name, '0', f->mode, f->size, NULL, host, f->path, 0);
			free(name);
			free(root);
		}
		free(host);
	}
	tarw_sort(w);
	return 0;
}

/* ---- reading a downloaded archive (COPY_FROM) ---- */

static uint64_t parse_num(const char *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	if ((unsigned char)p[0] & 0x80) { /* base-256 */
		for (i = 1; i < n; i++)
			v = (v << 8) | (unsigned char)p[i];
		return v;
	}
	for (i = 0; i < n && (p[i] == ' ' || p[i] == 0); i++)
		;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t)(p[i] - '0');
	return v;
}

static char *read_at(int fd, off_t off, size_t n)
{
	char *s = xmalloc(n + 1);
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, s + got, n - got, off + (off_t)got);
		if (r <= 0) {
			free(s);
			return NULL;
		}
		got += (size_t)r;
	}
	s[n] = 0;
	return s;
}

/* Maps an archive name (top entry = basename of the source) to its
 * destination; NULL to drop it. */
static char *map_from(const char *e, const char *top, const char *ddir, const char *dfile)
{
	size_t tl = strlen(top);

	if (!strcmp(e, top))
		return ddir ? arcname(ddir, NULL) : arcname(dfile, NULL);
	if (!strncmp(e, top, tl) && e[tl] == '/')
		return ddir ? arcname(ddir, e + tl + 1) : NULL;
	return NULL;
}

/* Parses the archive spooled in fd (from GET /archive of source path src)
 * and adds its entries renamed to the destination. 0 or -1 with *err. */
static int from_entries(struct tarw *w, int fd, const char *src, const char *to, int multi,
                        const char *workdir, char **err)
{
	struct {
		char *name, *link;
		char type;
		unsigned mode;
		uint64_t size;
		off_t off;
	} *v = NULL;
	size_t nv = 0, i;
	off_t off = 0;
	char *pax_path = NULL, *pax_link = NULL, *gnu_name = NULL, *gnu_link = NULL;
	uint64_t pax_size = 0;
	int have_pax_size = 0, top_dir = 0;
	char *top = NULL, *s = norm_source(src);
	char *ddir = NULL, *dfile = NULL;

	top = xstrdup(base_name(s));
	free(s);
	for (;;) {
		char *h = read_at(fd, off, 512), *name;
		uint64_t size;
		char type;

		if (!h)
			break;
		if (!h[0]) {
			free(h);
			break;
		}
		size = parse_num(h + 124, 12);
		type = h[156] ? h[156] : '0';
		off += 512;
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *d = read_at(fd, off, (size_t)size);
			if (!d) {
				free(h);
				break;
			}
			if (type == 'L') {
				free(gnu_name);
				gnu_name = xstrdup(d);
			} else if (type == 'K') {
				free(gnu_link);
				gnu_link = xstrdup(d);
			} else if (type == 'x') {
				char *p = d, *end = d + size;
				while (p < end) {
					char *sp = memchr(p, ' ', (size_t)(end - p)), *eq;
					long len = strtol(p, NULL, 10);
					if (!sp || len <= 0 || p + len > end)
						break;
					eq = memchr(sp, '=', (size_t)(p + len - sp));
					if (eq) {
						char *val = xstrndup(eq + 1, (size_t)(p + len - eq - 2));
						if (!strncmp(sp + 1, "path=", 5)) {
							free(pax_path);
							pax_path = val;
						} else if (!strncmp(sp + 1, "linkpath=", 9)) {
							free(pax_link);
							pax_link = val;
						} else {
							if (!strncmp(sp + 1, "size=", 5)) {
								pax_size = strtoull(val, NULL, 10);
								have_pax_size = 1;
							}
							free(val);
						}
					}
					p += len;
				}
			}
			free(d);
			off += (off_t)((size + 511) / 512 * 512);
			free(h);
			continue;
		}
		if (have_pax_size)
			size = pax_size;
		if (pax_path || gnu_name)
			name = xstrdup(pax_path ? pax_path : gnu_name);
		else if (!memcmp(h + 257, "ustar", 5) && h[345])
			name = xasprintf("%.155s/%.100s", h + 345, h);
		else
			name = xstrndup(h, 100);
		v = xrealloc(v, sizeof(*v) * (nv + 1));
		v[nv].name = name;
		{
			size_t l = strlen(name);
			while (l > 1 && name[l - 1] == '/')
				name[--l] = 0;
		}
		v[nv].link = pax_link ? xstrdup(pax_link) : gnu_link ? xstrdup(gnu_link)
		                                                     : (h[157] ? xstrndup(h + 157, 100) : NULL);
		v[nv].type = type;
		v[nv].mode = (unsigned)parse_num(h + 100, 8);
		v[nv].size = (type == '0' || type == '7') ? size : 0;
		v[nv].off = off;
		nv++;
		off += (off_t)(((type == '0' || type == '7') ? size : 0) + 511) / 512 * 512;
		free(pax_path);
		free(pax_link);
		free(gnu_name);
		free(gnu_link);
		pax_path = pax_link = gnu_name = gnu_link = NULL;
		have_pax_size = 0;
		free(h);
	}
	for (i = 0; i < nv; i++)
		if (!strcmp(v[i].name, top) && v[i].type == '5')
			top_dir = 1;
	if (!nv) {
		*err = xasprintf("copy from image: %s: empty archive", src);
		free(top);
		return -1;
	}
	if (top_dir)
		ddir = to ? dest_abs(to, workdir) : xasprintf("%s/%s", workdir ? workdir : "/", top);
	else if (to && (multi || to[strlen(to) - 1] == '/')) {
		char *d = dest_abs(to, workdir);
		dfile = xasprintf("%s/%s", d, top);
		free(d);
	} else
		dfile = to ? dest_abs(to, workdir) : xasprintf("%s/%s", workdir ? workdir : "/", top);
	for (i = 0; i < nv; i++) {
		char *name = map_from(v[i].name, top, ddir, dfile);
		char *link = v[i].link;
		char type = v[i].type == '7' ? '0' : v[i].type;

		if (name && name[0]) {
			if (type == '1' && link)
				link = map_from(link, top, ddir, dfile);
			else if (link)
				link = xstrdup(link);
			if (type == '0' || type == '5' || type == '2' || (type == '1' && link))
				tarw_add(w, name, type, v[i].mode, v[i].size, link, NULL, v[i].name, v[i].off);
			free(link);
		}
		free(name);
		free(v[i].name);
		free(v[i].link);
	}
	free(v);
	free(top);
	free(ddir);
	free(dfile);
	return 0;
}

/* ---- jobs ---- */

struct proc;

struct bjob {
	struct build *b;
	struct node *n;
	struct sched_job *sj;
	struct ptask *t;
	size_t step;             /* next step index */
	char *image;             /* current image (ID or reference) */
	char *cid, *src_cid;     /* containers this job created */
	int inflight;            /* requests and processes in flight */
	int cancelled, reported, ok;
	char *err;
	char *detail;            /* failure report: command */
	uint64_t t0;
	/* run step */
	int waits;               /* wait+logs still pending */
	long exit_code;
	int wait_ok;
	char **tmpfiles;
	size_t ntmp;
	/* copy */
	struct tarw tw;
	size_t from_i;           /* COPY_FROM: next source path */
	int spoolfd;
	/* rootfs */
	struct proc *proc;
	char *tmpdir, *tmptar;
	int rdfd;
	int pulled;              /* the image came from the remote cache */
	/* prefix lookup */
	char **have;
	size_t nhave;
	/* spec storage for the current request */
	struct docker_spec spec;
	struct docker_mount *mounts;
	size_t nmounts;
	char **argv, **envv, **lk, **lv;
	size_t nargv, nenvv, nl;
};

struct build {
	struct stack *s;
	struct docker *d;
	struct state *st;
	struct progress *p;
	struct registry *r;      /* the remote cache, or NULL */
	struct bjob **v;
	size_t n;
};

static const struct sched_ops build_ops;

static void cleanup(struct bjob *j);

static void set_err(struct bjob *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct bjob *j, const char *fmt, ...)
{
	va_list ap;

	if (j->err)
		return;
	va_start(ap, fmt);
	j->err = xvasprintf(fmt, ap);
	va_end(ap);
}

static int stopped(const struct bjob *j)
{
	return j->err || j->cancelled;
}

static const char *cache_ref(const struct node *n, char *out, size_t len)
{
	if (n->kind == NODE_REF) {
		snprintf(out, len, "%s", n->ref_id ? n->ref_id : n->ref);
		return out;
	}
	snprintf(out, len, KEY_CACHE_REPO ":%s", n->keyhex);
	return out;
}

static void spec_reset(struct bjob *j)
{
	size_t i;

	for (i = 0; i < j->nargv; i++)
		free(j->argv[i]);
	for (i = 0; i < j->nenvv; i++)
		free(j->envv[i]);
	for (i = 0; i < j->nl; i++) {
		free(j->lk[i]);
		free(j->lv[i]);
	}
	for (i = 0; i < j->nmounts; i++) {
		free((char *)j->mounts[i].source);
		free((char *)j->mounts[i].target);
	}
	free(j->argv);
	free(j->envv);
	free(j->lk);
	free(j->lv);
	free(j->mounts);
	j->argv = j->envv = j->lk = j->lv = NULL;
	j->mounts = NULL;
	j->nargv = j->nenvv = j->nl = j->nmounts = 0;
	memset(&j->spec, 0, sizeof(j->spec));
	j->spec.stop_timeout = -1;
}

static void push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, sizeof(**v) * (*n + 1));
	(*v)[(*n)++] = s;
}

static void label(struct bjob *j, const char *k, const char *v)
{
	size_t i;

	for (i = 0; i < j->nl; i++)
		if (!strcmp(j->lk[i], k)) {
			free(j->lv[i]);
			j->lv[i] = xstrdup(v);
			return;
		}
	j->lk = xrealloc(j->lk, sizeof(*j->lk) * (j->nl + 1));
	j->lv = xrealloc(j->lv, sizeof(*j->lv) * (j->nl + 1));
	j->lk[j->nl] = xstrdup(k);
	j->lv[j->nl] = xstrdup(v);
	j->nl++;
}

static void spec_fill(struct bjob *j)
{
	j->spec.cmd = j->argv;
	j->spec.ncmd = j->nargv;
	if (j->nargv)
		j->spec.cmd_set = 1;
	j->spec.env = j->envv;
	j->spec.nenv = j->nenvv;
	j->spec.label_k = j->lk;
	j->spec.label_v = j->lv;
	j->spec.nlabels = j->nl;
	j->spec.mounts = j->mounts;
	j->spec.nmounts = j->nmounts;
}

/* ---- child processes (rootfs) ---- */

typedef void (*proc_done_fn)(struct bjob *j, long status, int sig);

struct proc {
	uv_process_t p;
	uv_pipe_t out;
	struct bjob *j;
	proc_done_fn done;
	int exited, eof, nclose, capture;
	long status;
	int sig;
};

static void proc_closed(uv_handle_t *h)
{
	struct proc *pr = h->data;

	if (--pr->nclose == 0)
		free(pr);
}

static void proc_maybe_done(struct proc *pr)
{
	struct bjob *j = pr->j;

	if (!pr->exited || !pr->eof)
		return;
	j->proc = NULL;
	j->inflight--;
	pr->nclose = pr->capture ? 2 : 1;
	uv_close((uv_handle_t *)&pr->p, proc_closed);
	if (pr->capture)
		uv_close((uv_handle_t *)&pr->out, proc_closed);
	pr->done(j, pr->status, pr->sig);
}

static void proc_exit(uv_process_t *p, int64_t status, int sig)
{
	struct proc *pr = p->data;

	pr->exited = 1;
	pr->status = (long)status;
	pr->sig = sig;
	proc_maybe_done(pr);
}

static void proc_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	static char buf[65536];
	(void)h;
	(void)sz;
	b->base = buf; /* one loop thread: the buffer is consumed before the next read */
	b->len = sizeof(buf);
}

static void proc_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct proc *pr = s->data;

	if (n > 0 && pr->j->t)
		progress_output(pr->j->t, b->base, (size_t)n);
	if (n < 0) {
		uv_read_stop(s);
		pr->eof = 1;
		proc_maybe_done(pr);
	}
}

/* Spawns argv (in its own process group); output to the task when capture.
 * 0, or -1 with the job's error set. */
static int proc_spawn(struct bjob *j, char **argv, char **env, int capture, proc_done_fn done)
{
	uv_loop_t *loop = loop_of(j->b->d);
	struct proc *pr = xcalloc(1, sizeof(*pr));
	uv_process_options_t o;
	uv_stdio_container_t io[3];
	int rc;

	memset(&o, 0, sizeof(o));
	pr->j = j;
	pr->done = done;
	pr->capture = capture;
	pr->p.data = pr;
	pr->out.data = pr;
	/* stdin closed; stdout captured when asked (the command itself says
	 * `exec 2>&1`, so stderr joins it); stderr otherwise ignored */
	io[0].flags = UV_IGNORE;
	io[2].flags = UV_IGNORE;
	if (capture) {
		uv_pipe_init(loop, &pr->out, 0);
		io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
		io[1].data.stream = (uv_stream_t *)&pr->out;
	} else {
		io[1].flags = UV_IGNORE;
		pr->eof = 1;
	}
	o.file = argv[0];
	o.args = argv;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = proc_exit;
	o.flags = UV_PROCESS_DETACHED; /* own process group: Ctrl-C reaches us, we kill it */
	rc = uv_spawn(loop, &pr->p, &o);
	if (rc < 0) {
		set_err(j, "cannot run %s: %s", argv[0], uv_strerror(rc));
		pr->nclose = capture ? 2 : 1;
		uv_close((uv_handle_t *)&pr->p, proc_closed);
		if (capture)
			uv_close((uv_handle_t *)&pr->out, proc_closed);
		return -1;
	}
	if (capture)
		uv_read_start((uv_stream_t *)&pr->out, proc_alloc, proc_read);
	j->proc = pr;
	j->inflight++;
	return 0;
}

/* ---- cleanup and reporting ---- */

static void report(struct bjob *j)
{
	struct build *b = j->b;
	long ms = (long)(now_ms() - j->t0);

	j->reported = 1;
	j->n->np->ms = ms;
	if (j->ok && !j->cancelled && !j->err) {
		int pulled = j->n->kind == NODE_REF || j->pulled;

		if (j->n->kx && j->n->kx->m && j->n->kind != NODE_REF)
			state_save_manifest(b->st, j->n->name, j->n->kx->m);
		if (!j->pulled) /* a pull's time says nothing about the build's */
			state_record_duration(b->st, j->n->name, ms);
		j->n->np->outcome = pulled ? "pulled" : "built";
		progress_done(j->t, j->n->np->outcome);
		sched_reach(j->sj, SCHED_DONE);
		return;
	}
	j->n->np->outcome = j->cancelled && !j->detail ? "cancelled" : "failed";
	progress_done(j->t, j->n->np->outcome);
	sched_fail(j->sj, j->err ? j->err : "cancelled");
}

static void cleanup_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r; /* gone either way: 404 means it was already removed */
	j->inflight--;
	cleanup(j);
}

static void rm_done(struct bjob *j, long status, int sig)
{
	(void)status;
	(void)sig;
	cleanup(j);
}

/* Runs when the job stops (success, failure, cancel): waits for everything
 * in flight, removes containers, temp files and dirs, then reports once. */
static void cleanup(struct bjob *j)
{
	struct build *b = j->b;
	size_t i;

	if (j->reported || j->inflight)
		return;
	if (j->cid || j->src_cid) {
		char *id = j->cid ? j->cid : j->src_cid;
		if (j->cid)
			j->cid = NULL;
		else
			j->src_cid = NULL;
		if (docker_container_remove(b->d, id, 1, 0, cleanup_removed, j) == 0)
			j->inflight++;
		free(id);
		if (j->inflight)
			return;
	}
	for (i = 0; i < j->ntmp; i++) {
		unlink(j->tmpfiles[i]);
		free(j->tmpfiles[i]);
	}
	j->ntmp = 0;
	if (j->rdfd >= 0) {
		close(j->rdfd);
		j->rdfd = -1;
	}
	if (j->spoolfd >= 0) {
		close(j->spoolfd);
		j->spoolfd = -1;
	}
	tarw_free(&j->tw);
	if (j->tmptar) {
		unlink(j->tmptar);
		free(j->tmptar);
		j->tmptar = NULL;
	}
	if (j->tmpdir) {
		char *argv[] = {"/bin/rm", "-rf", j->tmpdir, NULL};
		char *dir = j->tmpdir;
		j->tmpdir = NULL;
		if (proc_spawn(j, argv, NULL, 0, rm_done) == 0) {
			free(dir);
			return;
		}
		free(dir);
	}
	report(j);
}

static void succeed(struct bjob *j)
{
	j->ok = 1;
	cleanup(j);
}

/* ---- common container steps ---- */

static void next_step(struct bjob *j);

static void set_image(struct bjob *j, const char *img)
{
	free(j->image);
	j->image = xstrdup(img);
}

/* Removes the container *slot names (a job's cid or src_cid) and continues
 * in cb; the slot is cleared first, so cleanup() never removes it twice. On
 * a failure to start the request the job fails (cleanup removes it). */
static void remove_container(struct bjob *j, char **slot, docker_cb cb)
{
	char *id = *slot;

	*slot = NULL;
	if (docker_container_remove(j->b->d, id, 1, 0, cb, j) < 0) {
		*slot = id;
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	free(id);
	j->inflight++;
}

static void on_bg_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok && r->status != 404)
		set_err(j, "remove container: %s", r->error);
	if (stopped(j) || j->ok)
		cleanup(j); /* reports once the last request is back */
}

/* Removes the container *slot names while the job goes on: the removal is off
 * the critical path, and cleanup() still waits for it before reporting. */
static void remove_in_background(struct bjob *j, char **slot)
{
	char *id = *slot;

	*slot = NULL;
	if (docker_container_remove(j->b->d, id, 1, 0, on_bg_removed, j) < 0)
		set_err(j, "cannot start a request to the engine (container %.12s left)", id);
	else
		j->inflight++;
	free(id);
}

static void on_step_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: commit step %zu: %s", j->n->u.image.steps[j->step].pos.file,
		        j->n->u.image.steps[j->step].pos.line, j->step + 1, r->error);
	else
		set_image(j, r->id);
	if (stopped(j))
		return cleanup(j);
	remove_in_background(j, &j->cid);
	j->step++;
	next_step(j);
}

static int has_workdir_before(const struct image *im, size_t i)
{
	size_t k;

	for (k = 0; k < i; k++)
		if (im->steps[k].kind == STEP_WORKDIR)
			return 1;
	return 0;
}

/* The container/commit config of step i: env, workdir, user in effect. */
static void step_config(struct bjob *j, size_t i)
{
	const struct image *im = &j->n->u.image;
	const struct step_key *sk = &j->n->kx->steps[i];
	size_t k;

	for (k = 0; k < sk->nenv; k++)
		push(&j->envv, &j->nenvv, xstrdup(sk->env[k]));
	j->spec.workdir = has_workdir_before(im, i) ? sk->workdir : NULL;
	j->spec.user = sk->user;
}

static void commit_step(struct bjob *j)
{
	struct step_key *sk = &j->n->kx->steps[j->step];

	/* no graphbuild.step label: POST /commit merges the container's labels
	 * into the next image's, so it would stick to the final image */
	spec_reset(j);
	step_config(j, j->step);
	label(j, "graphbuild.key", sk->hex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.image = j->image; /* Cmd/Entrypoint stay the base image's */
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, sk->hex, &j->spec, on_step_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* ---- run ---- */

static char *shq(const char *s)
{
	struct buf b = {0};

	buf_addc(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_adds(&b, "'\\''");
		else
			buf_addc(&b, *s);
	}
	buf_addc(&b, '\'');
	return buf_take(&b);
}

static void run_output(void *arg, int stream, const char *data, size_t n)
{
	struct bjob *j = arg;

	(void)stream;
	progress_output(j->t, data, n);
}

static void run_finished(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];

	if (j->waits)
		return;
	if (stopped(j))
		return cleanup(j);
	if (!j->wait_ok) {
		set_err(j, "%s:%d: step %zu/%zu: waiting for the container failed", st->pos.file,
		        st->pos.line, j->step + 1, j->n->u.image.nsteps);
		return cleanup(j);
	}
	if (j->exit_code != 0) {
		set_err(j, "%s:%d: step %zu/%zu failed: %s (exit %ld)", st->pos.file, st->pos.line,
		        j->step + 1, j->n->u.image.nsteps, j->n->kx->steps[j->step].desc, j->exit_code);
		free(j->detail);
		j->detail = xstrdup(j->n->kx->steps[j->step].desc);
		return cleanup(j);
	}
	commit_step(j);
}

static void on_run_wait(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	j->waits--;
	j->wait_ok = r->ok;
	j->exit_code = r->exit_code;
	if (!r->ok && !j->cancelled)
		set_err(j, "wait: %s", r->error);
	run_finished(j);
}

static void on_run_logs(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r; /* a cut stream only loses output; the wait decides */
	j->inflight--;
	j->waits--;
	run_finished(j);
}

static void on_run_started(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "start container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	j->waits = 0;
	if (docker_container_wait(j->b->d, j->cid, on_run_wait, j) == 0) {
		j->inflight++;
		j->waits++;
	} else {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	if (docker_container_logs(j->b->d, j->cid, 1, 0, 0, run_output, j, on_run_logs, j) == 0) {
		j->inflight++;
		j->waits++;
	}
}

static void on_run_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	size_t i;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "%s:%d: create container: %s", j->n->u.image.steps[j->step].pos.file,
		        j->n->u.image.steps[j->step].pos.line, r->error);
	/* the secret files are bound now; the engine holds its own reference */
	for (i = 0; i < j->ntmp; i++) {
		(void)i; /* deleted after the step, in cleanup or below */
	}
	if (stopped(j))
		return cleanup(j);
	if (docker_container_start(j->b->d, j->cid, on_run_started, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* Writes an env secret's value to a private 0600 file outside any context. */
static char *secret_file(struct bjob *j, const char *id, const char *src)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;
	int fd;

	if (!strncmp(src, "file:", 5))
		return xstrdup(src + 5);
	if (strncmp(src, "env:", 4)) {
		set_err(j, "secret %s: unknown source %s", id, src);
		return NULL;
	}
	if (!getenv(src + 4)) {
		set_err(j, "secret %s: environment variable %s is not set", id, src + 4);
		return NULL;
	}
	path = xasprintf("%s/graphbuild-secret-XXXXXX", tmp);
	fd = mkstemp(path);
	if (fd < 0) {
		set_err(j, "secret %s: cannot create a temporary file: %s", id, strerror(errno));
		free(path);
		return NULL;
	}
	fchmod(fd, 0600);
	{
		const char *v = getenv(src + 4);
		size_t n = strlen(v), done = 0;
		while (done < n) {
			ssize_t w = write(fd, v + done, n - done);
			if (w <= 0)
				break;
			done += (size_t)w;
		}
	}
	close(fd);
	push(&j->tmpfiles, &j->ntmp, xstrdup(path));
	return path;
}

static void add_mount(struct bjob *j, const char *type, char *src, const char *target, int ro)
{
	j->mounts = xrealloc(j->mounts, sizeof(*j->mounts) * (j->nmounts + 1));
	j->mounts[j->nmounts].type = type;
	j->mounts[j->nmounts].source = src;
	j->mounts[j->nmounts].target = xstrdup(target);
	j->mounts[j->nmounts].readonly = ro;
	j->nmounts++;
}

static void step_run(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	size_t i;

	spec_reset(j);
	step_config(j, j->step);
	/* The step's own env is exported by a wrapper rather than put in the
	 * container's Env: POST /commit merges the container's Env into the
	 * image, so it would leak into every later image. */
	if (st->env.n) {
		struct buf b = {0};
		buf_adds(&b, "export");
		for (i = 0; i < st->env.n; i++) {
			char *q = shq(st->env.v[i]);
			buf_printf(&b, " %s=%s", st->env.k[i], q);
			free(q);
		}
		if (st->shell && st->args.n == 3) {
			buf_printf(&b, "; %s", st->args.v[2]);
			push(&j->argv, &j->nargv, xstrdup("/bin/sh"));
			push(&j->argv, &j->nargv, xstrdup("-c"));
			push(&j->argv, &j->nargv, buf_take(&b));
		} else {
			buf_adds(&b, "; exec \"$@\"");
			push(&j->argv, &j->nargv, xstrdup("/bin/sh"));
			push(&j->argv, &j->nargv, xstrdup("-c"));
			push(&j->argv, &j->nargv, buf_take(&b));
			push(&j->argv, &j->nargv, xstrdup("sh"));
			for (i = 0; i < st->args.n; i++)
				push(&j->argv, &j->nargv, xstrdup(st->args.v[i]));
		}
	} else
		for (i = 0; i < st->args.n; i++)
			push(&j->argv, &j->nargv, xstrdup(st->args.v[i]));
	for (i = 0; i < st->cache.n; i++) {
		char *key = xasprintf("%s:%s", j->n->name, st->cache.v[i]);
		unsigned char h[16];
		char hex[33];
		hash_buffer(key, strlen(key), h);
		hex_encode(h, 16, hex);
		hex[16] = 0;
		add_mount(j, "volume", xasprintf("gbcache-%s", hex), st->cache.v[i], 0);
		free(key);
	}
	for (i = 0; i < st->secrets.n; i++) {
		const char *src = kv_get(&j->b->s->secrets, st->secrets.k[i]);
		char *file;
		if (!src) {
			set_err(j, "%s:%d: secret %s is not declared", st->pos.file, st->pos.line,
			        st->secrets.k[i]);
			return cleanup(j);
		}
		if (!(file = secret_file(j, st->secrets.k[i], src)))
			return cleanup(j);
		add_mount(j, "bind", file, st->secrets.v[i], 1);
	}
	j->spec.image = j->image;
	j->spec.entrypoint_set = 1; /* [] : the parent's entrypoint must not wrap the step */
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_run_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* ---- copy ---- */

static void on_copy_put(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];

	j->inflight--;
	if (j->tw.err)
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, j->tw.err);
	else if (!r->ok)
		set_err(j, "%s:%d: upload: %s", st->pos.file, st->pos.line, r->error);
	tarw_free(&j->tw);
	if (stopped(j))
		return cleanup(j);
	commit_step(j);
}

static void on_copy_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	if (docker_archive_put(j->b->d, j->cid, "/", tarw_read, &j->tw, on_copy_put, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* A never-started container of image (Cmd ["true"]) with the step config. */
static int create_idle(struct bjob *j, const char *image, int with_config, docker_cb cb)
{
	spec_reset(j);
	if (with_config)
		step_config(j, j->step);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = image;
	j->spec.entrypoint_set = 1;
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, cb, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return -1;
	}
	j->inflight++;
	return 0;
}

static void step_copy(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	char *err = NULL;

	tarw_free(&j->tw);
	if (copy_entries(&j->tw, st, &j->n->kx->steps[j->step], j->n->u.image.context, &err) < 0) {
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, err);
		free(err);
		return cleanup(j);
	}
	if (create_idle(j, j->image, 1, on_copy_created) < 0)
		return cleanup(j);
}

/* ---- copy from another image ---- */

static void from_next(struct bjob *j);

static void on_from_put(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "copy from image: upload: %s", r->error);
	tarw_free(&j->tw);
	if (j->spoolfd >= 0) {
		close(j->spoolfd);
		j->spoolfd = -1;
	}
	if (stopped(j))
		return cleanup(j);
	j->from_i++;
	from_next(j);
}

static int spool_data(void *arg, const char *data, size_t n)
{
	struct bjob *j = arg;

	while (n) {
		ssize_t w = write(j->spoolfd, data, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		n -= (size_t)w;
	}
	return 0;
}

static void on_from_get(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];
	char *err = NULL;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: copy %s from %s: %s", st->pos.file, st->pos.line,
		        st->args.v[j->from_i], st->from->name, r->error);
	if (stopped(j))
		return cleanup(j);
	tarw_free(&j->tw);
	if (from_entries(&j->tw, j->spoolfd, st->args.v[j->from_i], st->to, st->args.n > 1,
	                 j->n->kx->steps[j->step].workdir, &err) < 0) {
		set_err(j, "%s:%d: %s", st->pos.file, st->pos.line, err);
		free(err);
		return cleanup(j);
	}
	tarw_sort(&j->tw);
	j->tw.spool = j->spoolfd; /* the writer owns it now */
	j->spoolfd = -1;
	if (docker_archive_put(j->b->d, j->cid, "/", tarw_read, &j->tw, on_from_put, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_from_src_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	commit_step(j);
}

static void from_next(struct bjob *j)
{
	const struct step *st = &j->n->u.image.steps[j->step];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *path;

	if (j->from_i >= st->args.n) {
		remove_container(j, &j->src_cid, on_from_src_removed);
		return;
	}
	path = xasprintf("%s/graphbuild-from-XXXXXX", tmp);
	j->spoolfd = mkstemp(path);
	if (j->spoolfd < 0) {
		set_err(j, "cannot create a temporary file in %s: %s", tmp, strerror(errno));
		free(path);
		return cleanup(j);
	}
	unlink(path);
	free(path);
	if (docker_archive_get(j->b->d, j->src_cid, st->args.v[j->from_i], spool_data, j, on_from_get, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_from_src_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->src_cid = xstrdup(r->id);
	else
		set_err(j, "create container of %s: %s", j->n->u.image.steps[j->step].from->name, r->error);
	if (stopped(j))
		return cleanup(j);
	j->from_i = 0;
	from_next(j);
}

static void on_from_dst_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct step *st = &j->n->u.image.steps[j->step];
	char ref[128];

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	if (create_idle(j, cache_ref(st->from, ref, sizeof(ref)), 0, on_from_src_created) < 0)
		return cleanup(j);
}

static void step_copy_from(struct bjob *j)
{
	if (create_idle(j, j->image, 1, on_from_dst_created) < 0)
		return cleanup(j);
}

/* ---- env / workdir / user: an alias of the current image ---- */

static void on_alias_tagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "tag: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	j->step++;
	next_step(j);
}

static void step_alias(struct bjob *j)
{
	if (docker_image_tag(j->b->d, j->image, KEY_CACHE_REPO, j->n->kx->steps[j->step].hex,
	                     on_alias_tagged, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* ---- final config commit ---- */

static void on_final_tagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "tag: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	if (j->cid)
		remove_in_background(j, &j->cid);
	succeed(j);
}

static void tag_latest(struct bjob *j, const char *img)
{
	char *lrepo = build_latest_repo(j->b->s, j->n);

	if (docker_image_tag(j->b->d, img, lrepo, "latest", on_final_tagged, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		free(lrepo);
		return cleanup(j);
	}
	j->inflight++;
	free(lrepo);
}

static void on_final_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "commit: %s", r->error);
	else
		set_image(j, r->id);
	if (stopped(j))
		return cleanup(j);
	remove_in_background(j, &j->cid); /* while the tag is made */
	tag_latest(j, j->image);
}

/* Fills the spec with the image's full config (env/workdir/user at the end). */
static void final_config(struct bjob *j)
{
	const struct image *im = &j->n->u.image;
	const struct node_keys *kx = j->n->kx;
	char **env = NULL;
	size_t nenv = 0, i, k;
	const char *wd = im->workdir, *user = im->user;

	/* env in effect after the last step: the last step's view plus an env step */
	if (kx->nsteps) {
		const struct step_key *sk = &kx->steps[kx->nsteps - 1];
		const struct step *st = &im->steps[kx->nsteps - 1];
		for (i = 0; i < sk->nenv; i++)
			push(&env, &nenv, xstrdup(sk->env[i]));
		if (st->kind == STEP_ENV)
			for (k = 0; k < st->env.n; k++) {
				size_t kl = strlen(st->env.k[k]);
				for (i = 0; i < nenv; i++)
					if (!strncmp(env[i], st->env.k[k], kl) && env[i][kl] == '=')
						break;
				if (i < nenv)
					free(env[i]);
				else
					push(&env, &nenv, NULL);
				env[i] = xasprintf("%s=%s", st->env.k[k], st->env.v[k]);
			}
	} else
		for (i = 0; i < im->env.n; i++)
			push(&env, &nenv, xasprintf("%s=%s", im->env.k[i], im->env.v[i]));
	for (i = 0; i < im->nsteps; i++) {
		if (!im->workdir && im->steps[i].kind == STEP_WORKDIR && im->steps[i].args.n)
			wd = im->steps[i].args.v[0];
		if (!im->user && im->steps[i].kind == STEP_USER && im->steps[i].args.n)
			user = im->steps[i].args.v[0];
	}
	j->envv = env;
	j->nenvv = nenv;
	j->spec.workdir = wd;
	j->spec.user = user;
	for (i = 0; i < im->labels.n; i++)
		label(j, im->labels.k[i], im->labels.v[i]);
	label(j, "graphbuild.key", j->n->keyhex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.expose = im->expose;
	j->spec.nexpose = im->nexpose;
}

static void on_final_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct image *im = &j->n->u.image;
	size_t i;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	spec_reset(j);
	final_config(j);
	for (i = 0; i < im->cmd.n; i++)
		push(&j->argv, &j->nargv, xstrdup(im->cmd.v[i]));
	j->spec.cmd_set = im->cmd_set;
	j->spec.entrypoint = im->entrypoint.v;
	j->spec.nentrypoint = im->entrypoint.n;
	j->spec.entrypoint_set = im->entrypoint_set;
	j->spec.image = j->image;
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, j->n->keyhex, &j->spec, on_final_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void step_final(struct bjob *j)
{
	progress_step(j->t, (int)j->n->u.image.nsteps, "config");
	spec_reset(j);
	final_config(j);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = j->image;
	j->spec.entrypoint_set = 1;
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_final_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void next_step(struct bjob *j)
{
	const struct image *im = &j->n->u.image;

	if (stopped(j))
		return cleanup(j);
	if (j->step >= im->nsteps)
		return step_final(j);
	progress_step(j->t, (int)j->step + 1, j->n->kx->steps[j->step].desc);
	switch (im->steps[j->step].kind) {
	case STEP_RUN:
		step_run(j);
		break;
	case STEP_COPY:
		step_copy(j);
		break;
	case STEP_COPY_FROM:
		step_copy_from(j);
		break;
	case STEP_ENV:
	case STEP_WORKDIR:
	case STEP_USER:
		step_alias(j);
		break;
	}
}

static void on_steps_pulled(void *arg, const char *error, const char *id);
static void resume_steps(struct bjob *j);

static int have_key(const struct bjob *j, const char *hex)
{
	size_t i;

	for (i = 0; i < j->nhave; i++)
		if (!strcmp(j->have[i], hex))
			return 1;
	return 0;
}

static void on_listed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct image *im = &j->n->u.image;
	size_t i, k;
	char buf[128];

	j->inflight--;
	if (!r->ok)
		set_err(j, "list images: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	for (i = 0; i < r->nimages; i++)
		for (k = 0; k < r->images[i].ntags; k++)
			if (!strncmp(r->images[i].tags[k], KEY_CACHE_REPO ":", sizeof(KEY_CACHE_REPO)))
				push(&j->have, &j->nhave, xstrdup(r->images[i].tags[k] + sizeof(KEY_CACHE_REPO)));
	set_image(j, cache_ref(im->parent, buf, sizeof(buf)));
	j->step = 0;
	if (!j->n->np || !j->n->np->forced)
		for (i = im->nsteps; i > 0; i--)
			if (have_key(j, j->n->kx->steps[i - 1].hex)) {
				snprintf(buf, sizeof(buf), KEY_CACHE_REPO ":%s", j->n->kx->steps[i - 1].hex);
				set_image(j, buf);
				j->step = i;
				break;
			}
	/* a longer prefix in the remote cache: pull that step's image first */
	if (j->b->r && j->n->np && j->n->np->cache_steps > j->step) {
		size_t st = j->n->np->cache_steps;

		progress_step(j->t, (int)st, "pull cached steps");
		if (registry_pull(j->b->d, j->b->r, j->n->kx->steps[st - 1].hex, plan_step_label(j->n, st),
		                  on_steps_pulled, j) == 0) {
			j->inflight++;
			return;
		}
	}
	resume_steps(j);
}

/* After a pull of a step image from the cache: continue after it, or (the
 * pull failed: a warning) from the engine's own prefix. */
static void on_steps_pulled(void *arg, const char *error, const char *id)
{
	struct bjob *j = arg;
	size_t st = j->n->np->cache_steps;
	char buf[128];

	(void)id;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	if (error) {
		warn("%s; building %s's steps locally", error, j->n->name);
	} else {
		snprintf(buf, sizeof(buf), KEY_CACHE_REPO ":%s", j->n->kx->steps[st - 1].hex);
		set_image(j, buf);
		j->step = st;
	}
	resume_steps(j);
}

/* Shows the steps found done and runs the rest. */
static void resume_steps(struct bjob *j)
{
	size_t i;

	for (i = 0; i < j->step; i++) {
		char *d = xasprintf("cached: %s", j->n->kx->steps[i].desc);
		progress_step(j->t, (int)i + 1, d);
		free(d);
	}
	next_step(j);
}

/* ---- dockerfile adoption ---- */

static void qesc(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~')
			buf_addc(b, (char)ch);
		else
			buf_printf(b, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
}

static void on_built(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (j->tw.err)
		set_err(j, "%s:%d: %s", j->n->pos.file, j->n->pos.line, j->tw.err);
	else if (!r->ok)
		set_err(j, "%s:%d: docker build: %s", j->n->pos.file, j->n->pos.line, r->error);
	tarw_free(&j->tw);
	if (stopped(j))
		return cleanup(j);
	tag_latest(j, r->id ? r->id : j->image);
}

static void build_output(void *arg, int stream, const char *data, size_t n)
{
	struct bjob *j = arg;

	(void)stream;
	progress_output(j->t, data, n);
}

static void start_dockerfile(struct bjob *j)
{
	const struct image *im = &j->n->u.image;
	const struct selection *sel = &j->n->kx->inputs;
	struct buf q = {0}, js = {0};
	size_t i;
	char ref[128];

	tarw_free(&j->tw);
	for (i = 0; i < sel->n; i++) {
		char *host = path_join(im->context, sel->v[i].path);
		if (S_ISLNK(sel->v[i].mode))
			tarw_add(&j->tw, sel->v[i].path, '2', 0777, 0, sel->v[i].link, NULL, NULL, 0);
		else
			tarw_add(&j->tw, sel->v[i].path, '0', sel->v[i].mode, sel->v[i].size, NULL, host,
			         sel->v[i].path, 0);
		free(host);
	}
	tarw_sort(&j->tw);
	snprintf(ref, sizeof(ref), KEY_CACHE_REPO ":%s", j->n->keyhex);
	set_image(j, ref);
	buf_adds(&q, "t=");
	qesc(&q, ref);
	buf_adds(&q, "&rm=1&forcerm=1&dockerfile=");
	qesc(&q, im->dockerfile);
	if (im->target) {
		buf_adds(&q, "&target=");
		qesc(&q, im->target);
	}
	if (im->args.n) {
		buf_addc(&js, '{');
		for (i = 0; i < im->args.n; i++) {
			if (i)
				buf_addc(&js, ',');
			buf_json_str(&js, im->args.k[i]);
			buf_addc(&js, ':');
			buf_json_str(&js, im->args.v[i]);
		}
		buf_addc(&js, '}');
		buf_adds(&q, "&buildargs=");
		qesc(&q, js.data);
		js.len = 0;
	}
	buf_adds(&js, "{\"graphbuild.key\":");
	buf_json_str(&js, j->n->keyhex);
	buf_adds(&js, ",\"graphbuild.node\":");
	buf_json_str(&js, j->n->name);
	for (i = 0; i < im->labels.n; i++) {
		buf_addc(&js, ',');
		buf_json_str(&js, im->labels.k[i]);
		buf_addc(&js, ':');
		buf_json_str(&js, im->labels.v[i]);
	}
	buf_addc(&js, '}');
	buf_adds(&q, "&labels=");
	qesc(&q, js.data);
	progress_step(j->t, 1, "docker build");
	if (docker_build(j->b->d, q.data, tarw_read, &j->tw, build_output, j, on_built, j) < 0)
		set_err(j, "cannot start a request to the engine");
	else
		j->inflight++;
	buf_free(&q);
	buf_free(&js);
	if (stopped(j))
		cleanup(j);
}

/* ---- rootfs ---- */

static void on_import_untagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r; /* a leftover import tag is harmless */
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	succeed(j);
}

static void on_rootfs_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	char *ref;

	(void)r;
	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	ref = xasprintf(IMPORT_REPO ":%s", j->n->keyhex);
	if (docker_image_remove(j->b->d, ref, 0, on_import_untagged, j) == 0)
		j->inflight++;
	else
		succeed(j);
	free(ref);
}

static void on_rootfs_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "commit: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	remove_container(j, &j->cid, on_rootfs_removed);
}

static void on_rootfs_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	spec_reset(j);
	label(j, "graphbuild.key", j->n->keyhex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.image = j->image;
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, j->n->keyhex, &j->spec, on_rootfs_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static ssize_t fd_read(void *arg, char *buf, size_t n)
{
	struct bjob *j = arg;
	ssize_t r;

	do
		r = read(j->rdfd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static void on_imported(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (j->rdfd >= 0) {
		close(j->rdfd);
		j->rdfd = -1;
	}
	if (!r->ok)
		set_err(j, "%s:%d: import: %s", j->n->pos.file, j->n->pos.line, r->error);
	else
		set_image(j, r->id);
	if (stopped(j))
		return cleanup(j);
	progress_step(j->t, 2, "label");
	spec_reset(j);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = j->image;
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_rootfs_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void import_file(struct bjob *j, const char *path)
{
	j->rdfd = open(path, O_RDONLY | O_CLOEXEC);
	if (j->rdfd < 0) {
		set_err(j, "%s:%d: rootfs %s: %s", j->n->pos.file, j->n->pos.line, path, strerror(errno));
		return cleanup(j);
	}
	progress_step(j->t, 1, "import");
	if (docker_image_import(j->b->d, IMPORT_REPO, j->n->keyhex, fd_read, j, on_imported, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

static void on_tarred(struct bjob *j, long status, int sig)
{
	if (stopped(j))
		return cleanup(j);
	if (status || sig) {
		set_err(j, "%s:%d: rootfs: tar of $out failed (exit %ld)", j->n->pos.file, j->n->pos.line, status);
		return cleanup(j);
	}
	import_file(j, j->tmptar);
}

static void on_command_done(struct bjob *j, long status, int sig)
{
	char *argv[] = {"/bin/tar", "-C", j->tmpdir, "--numeric-owner", "-cf", j->tmptar, ".", NULL};

	if (stopped(j))
		return cleanup(j);
	if (status || sig) {
		set_err(j, "%s:%d: rootfs command failed (%s %ld)", j->n->pos.file, j->n->pos.line,
		        sig ? "signal" : "exit", sig ? (long)sig : status);
		j->detail = xstrdup(j->n->u.rootfs.command);
		return cleanup(j);
	}
	progress_step(j->t, 1, "tar $out");
	if (proc_spawn(j, argv, NULL, 0, on_tarred) < 0)
		return cleanup(j);
}

static void start_rootfs(struct bjob *j)
{
	const struct rootfs *r = &j->n->u.rootfs;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *dir, *argv[5], **env = NULL;
	size_t nenv = 0, i;

	if (r->tar)
		return import_file(j, r->tar);
	dir = xasprintf("%s/graphbuild-rootfs-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		set_err(j, "cannot create a temporary directory in %s: %s", tmp, strerror(errno));
		free(dir);
		return cleanup(j);
	}
	j->tmpdir = dir;
	j->tmptar = xasprintf("%s.tar", dir);
	for (i = 0; environ[i]; i++)
		if (strncmp(environ[i], "out=", 4))
			push(&env, &nenv, environ[i]);
	push(&env, &nenv, xasprintf("out=%s", dir));
	push(&env, &nenv, NULL);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = xasprintf("exec 2>&1; %s", r->command);
	argv[3] = NULL;
	progress_step(j->t, 1, r->command);
	proc_spawn(j, argv, env, 1, on_command_done);
	free(argv[2]);
	free(env[nenv - 2]);
	free(env);
	if (!j->proc)
		cleanup(j);
}

/* ---- pull ---- */

static void on_ref_inspected(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok || !r->nimages)
		set_err(j, "%s:%d: %s: inspect after pull: %s", j->n->pos.file, j->n->pos.line, j->n->ref,
		        r->error ? r->error : "no image");
	else
		j->n->ref_id = arena_strdup(j->b->s->arena, r->images[0].id);
	if (stopped(j))
		return cleanup(j);
	succeed(j);
}

static void on_pulled(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "%s:%d: cannot pull %s: %s", j->n->pos.file, j->n->pos.line, j->n->ref, r->error);
	if (stopped(j))
		return cleanup(j);
	if (docker_image_inspect(j->b->d, j->n->ref, on_ref_inspected, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* ---- scheduler ops ---- */

/* Starts the build proper of an image or rootfs node. */
static void start_build(struct bjob *j)
{
	struct node *n = j->n;

	if (n->kind == NODE_ROOTFS)
		start_rootfs(j);
	else if (n->u.image.dockerfile)
		start_dockerfile(j);
	else if (docker_image_list(j->b->d, "graphbuild.key", on_listed, j) < 0)
		set_err(j, "cannot start a request to the engine");
	else
		j->inflight++;
}

/* After a pull from the remote cache: tag <project>/<name>:latest and done,
 * or (a warning) build it here after all. */
static void on_cache_pulled(void *arg, const char *error, const char *id)
{
	struct bjob *j = arg;

	j->inflight--;
	if (stopped(j))
		return cleanup(j);
	if (error) {
		warn("%s; building %s locally", error, j->n->name);
		progress_step(j->t, 0, "build (cache pull failed)");
		start_build(j);
		if (!j->inflight && !j->reported)
			cleanup(j);
		return;
	}
	j->pulled = 1;
	set_image(j, id);
	tag_latest(j, j->image);
}

static int job_start(struct sched_job *sj, void *arg)
{
	struct bjob *j = arg;
	struct node *n = j->n;
	int nsteps = n->kind == NODE_IMAGE ? (int)n->u.image.nsteps : 0;

	j->t0 = now_ms();
	j->t = progress_task(j->b->p, n->name, nsteps);
	if (n->kind != NODE_REF && j->b->r && n->np->action == PLAN_PULL) {
		progress_step(j->t, 0, "pull from the cache");
		if (registry_pull(j->b->d, j->b->r, n->keyhex, NULL, on_cache_pulled, j) == 0)
			j->inflight++;
		else
			start_build(j);
	} else if (n->kind == NODE_REF) {
		progress_step(j->t, 0, "pull");
		if (docker_image_pull(j->b->d, n->ref, on_pulled, j) < 0)
			set_err(j, "cannot start a request to the engine");
		else
			j->inflight++;
	} else
		start_build(j);
	if (!j->inflight && !j->reported)
		cleanup(j);
	return j->reported && !j->ok ? -1 : 0;
}

static void on_cancel_removed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	(void)r;
	j->inflight--;
	cleanup(j);
}

static void job_cancel(struct sched_job *sj, void *arg)
{
	struct bjob *j = arg;

	(void)sj;
	if (j->reported || j->cancelled)
		return;
	j->cancelled = 1;
	if (j->proc)
		kill(-j->proc->p.pid, SIGTERM);
	/* a running step's wait returns once its container is gone */
	if (j->cid && j->waits) {
		char *id = j->cid;
		j->cid = NULL;
		if (docker_container_remove(j->b->d, id, 1, 0, on_cancel_removed, j) == 0)
			j->inflight++;
		else
			j->cid = id, id = NULL;
		free(id);
	}
}

static const struct sched_ops build_ops = {job_start, job_cancel};

/* ---- the builder ---- */

struct build *build_new(struct stack *s, struct docker *d, struct state *st, struct progress *p,
                        struct registry *r)
{
	struct build *b = xcalloc(1, sizeof(*b));

	b->r = r;
	b->s = s;
	b->d = d;
	b->st = st;
	b->p = p;
	return b;
}

static long estimate(struct build *b, struct node *n)
{
	long ms = state_duration(b->st, n->name);
	size_t i;

	if (ms >= 0)
		return ms;
	if (n->kind == NODE_REF)
		return 2000;
	if (n->kind == NODE_ROOTFS)
		return n->u.rootfs.command ? 30000 : 1000;
	if (n->u.image.dockerfile)
		return 10000;
	ms = 100;
	for (i = 0; i < n->u.image.nsteps; i++)
		ms += n->u.image.steps[i].kind == STEP_RUN ? 1000 : 100;
	return ms;
}

void build_add_jobs(struct build *b, struct sched *sc, struct sched_job **jobs)
{
	size_t i, k;

	for (i = 0; i < b->s->norder; i++) {
		struct node *n = b->s->order[i];
		struct bjob *j;

		if (!n->selected || n->kind == NODE_SERVICE || !n->np ||
		    (n->np->action != PLAN_BUILD && n->np->action != PLAN_PULL))
			continue;
		j = xcalloc(1, sizeof(*j));
		j->b = b;
		j->n = n;
		j->rdfd = -1;
		j->spoolfd = -1;
		tarw_init(&j->tw);
		j->sj = sched_add(sc, n, &build_ops, j, 1, estimate(b, n));
		jobs[n->index] = j->sj;
		b->v = xrealloc(b->v, sizeof(*b->v) * (b->n + 1));
		b->v[b->n++] = j;
		if (n->kind != NODE_IMAGE)
			continue;
		if (n->u.image.parent && jobs[n->u.image.parent->index])
			sched_need(j->sj, jobs[n->u.image.parent->index], SCHED_DONE);
		for (k = 0; k < n->u.image.nsteps; k++) {
			struct node *f = n->u.image.steps[k].from;
			if (n->u.image.steps[k].kind == STEP_COPY_FROM && f && jobs[f->index])
				sched_need(j->sj, jobs[f->index], SCHED_DONE);
		}
	}
}

void build_free(struct build *b)
{
	size_t i, k;

	if (!b)
		return;
	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];
		spec_reset(j);
		tarw_free(&j->tw);
		free(j->image);
		free(j->cid);
		free(j->src_cid);
		free(j->err);
		free(j->detail);
		for (k = 0; k < j->nhave; k++)
			free(j->have[k]);
		free(j->have);
		for (k = 0; k < j->ntmp; k++)
			free(j->tmpfiles[k]);
		free(j->tmpfiles);
		free(j->tmpdir);
		free(j->tmptar);
		free(j);
	}
	free(b->v);
	free(b);
}

/* The failure report: position and message, the command, the output tail. */
static void print_failure(struct bjob *j)
{
	const char *tail = j->t ? progress_tail(j->t) : "";

	fprintf(stderr, "\n%s: %s\n", argv0, j->err);
	if (j->detail)
		fprintf(stderr, "  command: %s\n", j->detail);
	progress_print_tail(j->n->name, tail, strlen(tail));
}

int build_run(struct stack *s, struct docker *d, struct state *st, const struct build_opts *o)
{
	uv_loop_t *loop = loop_of(d);
	struct progress *p = progress_new(loop, o->progress);
	struct sched *sc = sched_new(loop, o->jobs, o->fail_fast);
	struct sched_job **jobs = xcalloc(s->nnodes + 1, sizeof(*jobs));
	struct build *b = build_new(s, d, st, p, o->cache);
	size_t i;
	int rc;

	build_add_jobs(b, sc, jobs);
	rc = sched_run(sc);
	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];
		if (!j->t) {
			j->t = progress_task(p, j->n->name, 0);
			j->n->np->outcome = sched_interrupted(sc) ? "cancelled" : "skipped";
			progress_done(j->t, j->n->np->outcome);
		}
	}
	for (i = 0; i < b->n; i++)
		if (b->v[i]->err)
			print_failure(b->v[i]);
	for (i = 0; i < s->norder; i++) { /* the summary names what was reused too */
		struct node *n = s->order[i];
		if (n->selected && n->kind != NODE_SERVICE && n->np && n->np->action == PLAN_REUSE) {
			n->np->outcome = "reused";
			progress_done(progress_task(p, n->kind == NODE_REF ? n->ref : n->name, 0), "reused");
		}
	}
	progress_summary(p);
	if (rc == 130)
		fprintf(stderr, "%s: interrupted; nothing was left running\n", argv0);
	build_free(b);
	sched_free(sc);
	progress_free(p);
	free(jobs);
	return rc;
}

/* ---- pushing to the remote cache ---- */

struct pusher {
	struct docker *d;
	struct registry *r;
	char **keys;
	size_t n, next, done, pushed, failed;
	int inflight;
};

static void push_next(struct pusher *ps);

static void on_pushed_key(void *arg, const char *error, const char *id)
{
	struct pusher *ps = arg;

	(void)id;
	ps->inflight--;
	ps->done++;
	if (error) {
		warn("%s; not cached", error);
		ps->failed++;
	} else
		ps->pushed++;
	push_next(ps);
}

static void push_next(struct pusher *ps)
{
	while (ps->inflight < 4 && ps->next < ps->n) {
		const char *key = ps->keys[ps->next++];

		if (registry_push(ps->d, ps->r, key, on_pushed_key, ps) < 0) {
			warn("push %s to %s: cannot start a request to the engine; not cached", key,
			     registry_name(ps->r));
			ps->done++;
			ps->failed++;
			continue;
		}
		ps->inflight++;
	}
}

static void push_add(struct pusher *ps, const struct keyset *ks, const char *hex)
{
	size_t i;

	if (!keyset_has(ks, hex))
		return;
	for (i = 0; i < ps->n; i++)
		if (!strcmp(ps->keys[i], hex))
			return;
	push(&ps->keys, &ps->n, (char *)hex);
}

size_t build_push(struct stack *s, struct docker *d, struct registry *r, int quiet, size_t *failed)
{
	struct pusher ps = {0};
	struct keyset ks = {0};
	char *err = NULL, *warning = NULL;
	char **miss = NULL;
	size_t i, k, nmiss = 0, nall;
	uint64_t t0 = now_ms();
	int *hit;

	*failed = 0;
	ps.d = d;
	ps.r = r;
	if (plan_engine_keys(d, &ks, &err) < 0) {
		warn("cache %s: nothing pushed: %s", registry_name(r), err);
		free(err);
		return 0;
	}
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || n->kind == NODE_REF || !n->keyed)
			continue;
		push_add(&ps, &ks, n->keyhex);
		if (n->kind == NODE_IMAGE && !n->u.image.dockerfile && n->kx)
			for (k = 0; k < n->kx->nsteps; k++)
				if (plan_step_label(n, k + 1))
					push_add(&ps, &ks, n->kx->steps[k].hex);
	}
	if (!ps.n) {
		keyset_free(&ks);
		return 0;
	}
	hit = xcalloc(ps.n, sizeof(*hit));
	registry_check(r, ps.keys, ps.n, hit, &warning);
	if (warning) {
		/* unreachable or refusing lookups: pushing would fail the same way */
		warn("%s; %zu image(s) not pushed to %s", warning, ps.n, registry_name(r));
		*failed = ps.n;
		free(warning);
		free(hit);
		free(ps.keys);
		keyset_free(&ks);
		return 0;
	}
	nall = ps.n;
	for (i = 0; i < ps.n; i++)
		if (!hit[i])
			push(&miss, &nmiss, ps.keys[i]);
	free(hit);
	free(ps.keys);
	ps.keys = miss;
	ps.n = nmiss;
	push_next(&ps);
	while (ps.done < ps.n)
		uv_run(docker_loop(d), UV_RUN_ONCE);
	if (!quiet || ps.failed)
		fprintf(stderr, "cache %s: pushed %zu image(s) in %.1f s, %zu already there, %zu not pushed\n",
		        registry_name(r), ps.pushed, (double)(now_ms() - t0) / 1000.0, nall - ps.n, ps.failed);
	*failed = ps.failed;
	free(ps.keys);
	keyset_free(&ks);
	return ps.pushed;
}
