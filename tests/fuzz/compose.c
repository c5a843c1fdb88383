/* compose.c - fuzzes the compose front end (engine/compose.c): the input is
 * a compose file, converted with compose_to_lua. A conversion either
 * succeeds with DSL text, or fails with a message naming the file (and,
 * for a fault in it, its line); it never crashes, leaks or hangs. The
 * interpolation of the same bytes must succeed or fail with a message. */
#include "fuzz.h"

#include "graphbuild/compose.h"
#include "graphbuild/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_str(data, size), *file, *err = NULL, *r;
	struct buf b = {0};

	file = path_join(fz_tmpdir(), "docker-compose.yml");
	fz_write(file, text, strlen(text));
	buf_adds(&b, "");
	if (compose_to_lua(file, text, strlen(text), &b, &err) < 0) {
		FZ_ASSERT(err && strstr(err, "docker-compose.yml"));
		free(err);
	} else {
		FZ_ASSERT(b.data && !strncmp(b.data, "-- stack.lua generated", 22));
	}
	buf_free(&b);
	err = NULL;
	r = compose_interpolate(text, NULL, 0, &err);
	FZ_ASSERT(r || err);
	free(r);
	free(err);
	free(file);
	free(text);
	return 0;
}
