/* copy_dest.c - Docker's COPY path rules: where a source lands under its
 * destination (a trailing '/', several sources, the workdir), and the tar
 * entries of a copy step's selected files. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- paths ---- */

/* Joins a and b, collapses "//" and "/./", strips the leading and trailing
 * '/': the archive name of an absolute destination. malloc'd. */
char *arcname(const char *a, const char *b)
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

const char *base_name(const char *p)
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
char *dest_abs(const char *to, const char *workdir)
{
	if (to[0] == '/')
		return xstrdup(to);
	return xasprintf("%s/%s", workdir ? workdir : "/", to);
}

/* Normalised copy source: no "./" prefix, no trailing '/'; "" = context. */
char *norm_source(const char *src)
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
int copy_entries(struct tarw *w, const struct step *st, const struct step_key *sk,
                        const char *context, char **err)
{
	size_t i, k;
	int multi = st->args.n > 1;
	int to_dir = st->to && st->to[strlen(st->to) - 1] == '/';

	w->root = context;
	for (i = 0; i < sk->sel.n; i++) {
		const struct file_entry *f = &sk->sel.v[i];
		char *host = path_join(context, f->path);
		struct stat sb;

		if (jail_stat(context, f->path, S_ISLNK(f->mode), &sb) < 0) {
			*err = errno == ENOENT ? xasprintf("copy source %s vanished since plan", f->path)
			       : errno == EXDEV ? xasprintf("copy source %s now leads outside the context "
			                                    "(a symlink changed since plan)", f->path)
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
			else {
				tarw_add(w, name, '0', f->mode, f->size, NULL, host, f->path, 0);
				tarw_verify(w, f->hash);
			}
			free(name);
			free(root);
		}
		free(host);
	}
	tarw_sort(w);
	return 0;
}
