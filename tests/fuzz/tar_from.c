/* tar_from.c - fuzzes the copy-from tar reader of engine/tar_read.c (included,
 * for from_entries; the tar writer is linked from tar_write.c): the archive the engine
 * sends for GET /containers/ID/archive?path=SRC is parsed and its entries
 * renamed to the destination, then streamed out again by tarw_read from the
 * spooled file, as a copy { from = img } step does. Entry names must come
 * out relative and clean (no "..", no empty component). Input: a flags byte
 * (bit 0: several sources; bits 1-2: the destination NULL, "/app/",
 * "/app/x" or "rel/dir"; bit 3: a workdir), the source path up to a NUL
 * byte, then the archive. The output must be whole 512-byte blocks, or an
 * error with a message. */
#include "fuzz.h"

#include "../../engine/tar_read.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tos[4] = {NULL, "/app/", "/app/x", "rel/dir"};
	const uint8_t *p;
	size_t n;
	char *src, *path, *err = NULL, buf[4096];
	struct tarw w;
	int flags, fd, rc;
	uint64_t total = 0;
	ssize_t r;

	if (size < 1)
		return 0;
	flags = data[0];
	p = data + 1;
	n = size - 1;
	src = fz_part(&p, &n);
	if (!*src) {
		free(src);
		return 0; /* a copy source is never empty (the DSL checks) */
	}
	path = path_join(fz_tmpdir(), "spool.tar");
	fz_write(path, p, n);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	FZ_ASSERT(fd >= 0);
	tarw_init(&w);
	rc = from_entries(&w, fd, src, tos[flags >> 1 & 3], flags & 1, (flags & 8) ? "/w" : NULL, &err);
	if (rc < 0) {
		FZ_ASSERT(err != NULL);
		free(err);
		close(fd);
	} else {
		size_t i;

		/* names as PUT /archive?path=/ takes them: relative, clean */
		for (i = 0; i < w.n; i++) {
			const char *nm = w.v[i].name;

			FZ_ASSERT(nm[0] && nm[0] != '/' && !strstr(nm, "//"));
			FZ_ASSERT(strcmp(nm, "..") && strncmp(nm, "../", 3) && !strstr(nm, "/../"));
		}
		tarw_sort(&w);
		w.spool = fd; /* the writer owns it now */
		while ((r = tarw_read(&w, buf, sizeof buf)) > 0)
			total += (uint64_t)r;
		if (r == 0)
			FZ_ASSERT(total % 512 == 0 && total >= 1024);
		else
			FZ_ASSERT(w.err != NULL);
	}
	tarw_free(&w);
	free(src);
	free(path);
	return 0;
}
