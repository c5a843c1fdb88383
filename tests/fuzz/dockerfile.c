/* dockerfile.c - fuzzes the Dockerfile front end (engine/dockerfile.c,
 * engine/dockerfile_parse.c): the input's first part (up to a NUL byte) is
 * the Dockerfile, the rest (optional) the --target stage name. A conversion
 * either succeeds with a non-empty text and a handle, or fails with one
 * message "Dockerfile:LINE: INSTRUCTION: ..." and leaves the output
 * untouched. */
#include "fuzz.h"

#include "graphbuild/dockerfile.h"
#include "graphbuild/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	char *text = fz_part(&p, &n), *target = fz_str(p, n);
	struct df_opts o = { .path = "Dockerfile", .text = text, .len = strlen(text), .context = ".",
	                     .target = *target ? target : NULL, .prefix = "app" };
	struct buf b = { 0 };
	buf_adds(&b, "-- before\n");
	size_t before = b.len;
	char *h = NULL, *err = NULL;
	if (dockerfile_to_lua(&o, &b, &h, &err) == 0) {
		FZ_ASSERT(h && *h && b.len > before && !err);
		FZ_ASSERT(strstr(b.data, "image \""));
	} else {
		FZ_ASSERT(!h && err && !strncmp(err, "Dockerfile:", 11) && b.len == before);
		const char *q = err + 11;
		FZ_ASSERT(*q >= '0' && *q <= '9');
		while (*q >= '0' && *q <= '9') q++;
		FZ_ASSERT(q[0] == ':' && q[1] == ' ' && strchr(q + 2, ':'));
	}
	free(h);
	free(err);
	buf_free(&b);
	free(text);
	free(target);
	return 0;
}
