/* tar_read.c - reading the archive the engine sends for copy-from
 * (GET /containers/ID/archive): its entries, renamed to the destination,
 * become entries of the tar writer that read from the spooled file.
 * Kept on its own: it is to be replaced by libarchive. */
#define _GNU_SOURCE
#include "build_int.h"

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
int from_entries(struct tarw *w, int fd, const char *src, const char *to, int multi,
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
	struct stat sb;
	uint64_t spooled = fstat(fd, &sb) == 0 && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;

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
		/* data said to go past the end of the archive: truncated, stop */
		if ((type == 'x' || type == 'g' || type == 'L' || type == 'K' || type == '0' || type == '7') &&
		    size > spooled - (uint64_t)off) {
			free(h);
			break;
		}
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
					if (!sp || len <= 0 || len > end - p || sp >= p + len)
						break;
					eq = memchr(sp, '=', (size_t)(p + len - sp));
					if (eq && eq + 1 < p + len) { /* "LEN key=value\n" */
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
		if ((type == '0' || type == '7') && size > spooled - (uint64_t)off) {
			free(h);
			break;
		}
		if (pax_path || gnu_name)
			name = xstrdup(pax_path ? pax_path : gnu_name);
		else if (!memcmp(h + 257, "ustar", 5) && h[345])
			name = xasprintf("%.155s/%.100s", h + 345, h);
		else
			name = xstrndup(h, 100);
		v = xreallocarray(v, nv + 1, sizeof(*v));
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
	/* extended headers with no entry after them (a truncated archive) */
	free(pax_path);
	free(pax_link);
	free(gnu_name);
	free(gnu_link);
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
