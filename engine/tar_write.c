/* tar_write.c - the pull-driven tar writer: entries (host files, directories,
 * symlinks, hard links, spooled data) streamed as ustar with pax records for
 * long names, uid/gid 0, mtime 0, each host file hashed on the way and checked
 * against the plan. tarw_read is a curl/docker.h read callback. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- tar writer ---- */

void tarw_init(struct tarw *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->spool = -1;
}

void tarw_add(struct tarw *w, const char *name, char type, unsigned mode, uint64_t size,
                     const char *link, const char *host, const char *shown, off_t off)
{
	struct tent *e;

	w->v = xreallocarray(w->v, w->n + 1, sizeof(*w->v));
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

/* The last entry added is a host file whose content must still hash to h
 * (the plan's hash, what the key says) when it is streamed. */
void tarw_verify(struct tarw *w, const unsigned char h[16])
{
	w->v[w->n - 1].verify = 1;
	memcpy(w->v[w->n - 1].hash, h, 16);
}

void tarw_free(struct tarw *w)
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
	hash_stream_free(w->hs);
	tarw_init(w);
}

static int cmp_tent(const void *a, const void *b)
{
	return strcmp(((const struct tent *)a)->name, ((const struct tent *)b)->name);
}

/* Sorts by name (a directory before its contents) and drops exact
 * duplicates, keeping the last one added (a later source wins). */
void tarw_sort(struct tarw *w)
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

void octal(char *dst, size_t width, uint64_t v)
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

/* The current host file has been streamed: it must end here and hash to what
 * the plan hashed (a same-size edit between plan and upload would otherwise
 * put other content under the key). Closes it. Returns 0 or -1 (w->err). */
static int tarw_end_file(struct tarw *w)
{
	char extra;
	unsigned char h[16];
	ssize_t r;

	do
		r = read(w->fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	close(w->fd);
	w->fd = -1;
	if (r > 0)
		return (int)tar_fail(w, xasprintf("copy source %s changed since plan (longer)", w->curname));
	if (w->cur && w->cur->verify) {
		hash_stream_digest(w->hs, h);
		if (memcmp(h, w->cur->hash, 16))
			return (int)tar_fail(w, xasprintf("copy source %s changed since plan (content)", w->curname));
	}
	return 0;
}

/* docker_read_fn: streams the archive. Host files are opened as they come;
 * a vanished file, a size change or other content than the plan hashed
 * aborts the upload (the step fails; nothing is committed). */
ssize_t tarw_read(void *arg, char *buf, size_t n)
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
			if (w->fd >= 0 && w->cur && w->cur->verify)
				hash_stream_update(w->hs, buf + got, (size_t)r);
			w->spooloff += r;
			w->left -= (uint64_t)r;
			got += (size_t)r;
			if (!w->left && w->fd >= 0 && tarw_end_file(w) < 0)
				return -1;
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
			w->cur = e;
			if (e->type == '0' && e->host) {
				struct stat sb;
				/* through the jail: a component swapped for a link leaving
				 * the context since the plan is refused, never followed */
				w->fd = w->root && e->shown ? jail_open(w->root, e->shown, O_RDONLY, NULL)
				                            : open(e->host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
				if (w->fd < 0 && errno == EXDEV)
					return tar_fail(w, xasprintf("copy source %s now leads outside the context "
					                             "(a symlink changed since plan)", e->shown));
				if (w->fd < 0 && errno == ENOENT)
					return tar_fail(w, xasprintf("copy source %s vanished since plan", e->shown));
				if (w->fd < 0)
					return tar_fail(w, xasprintf("copy source %s: %s", e->shown, strerror(errno)));
				if (fstat(w->fd, &sb) < 0 || (uint64_t)sb.st_size != e->size)
					return tar_fail(w, xasprintf("copy source %s changed since plan", e->shown));
				if (e->verify) {
					if (!w->hs)
						w->hs = hash_stream_new();
					hash_stream_reset(w->hs);
				}
			} else if (e->type == '0') {
				w->spooloff = e->off;
			}
			tarw_header(w, e);
			if (e->type == '0') {
				w->left = e->size;
				w->pad = (512 - e->size % 512) % 512;
				/* an empty file has no data to stream: end it now */
				if (!w->left && w->fd >= 0 && tarw_end_file(w) < 0)
					return -1;
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
