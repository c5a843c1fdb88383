/* ignore.c - fuzzes .dockerignore (engine/ignore.c): the input's first part
 * (up to a NUL byte) is the file, read through ignore_load as a build reads
 * a context's; the rest is a list of context-relative paths, one a line,
 * matched with ignore_match and, for each of their parent directories,
 * ignore_may_reinclude. A pattern the loader rejects must come with a
 * message naming the file and line. */
#include "fuzz.h"

#include "graphbuild/hash.h"
#include "graphbuild/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *text = fz_part(&p, &n), *paths = fz_str(p, n), *line, *save = NULL, *file, *err = NULL;
	struct ignore *ig;

	file = path_join(fz_tmpdir(), ".dockerignore");
	fz_write(file, text, strlen(text));
	ig = ignore_load(fz_tmpdir(), NULL, 0, &err);
	if (!ig) {
		FZ_ASSERT(err && strstr(err, ".dockerignore:"));
		free(err);
	} else {
		for (line = strtok_r(paths, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *slash;
			int m = ignore_match(ig, line, 0);

			FZ_ASSERT(m == 0 || m == 1);
			for (slash = strrchr(line, '/'); slash; slash = strrchr(line, '/')) {
				*slash = 0;
				(void)ignore_may_reinclude(ig, line);
			}
			(void)ignore_may_reinclude(ig, line);
		}
		ignore_free(ig);
	}
	free(file);
	free(text);
	free(paths);
	return 0;
}
