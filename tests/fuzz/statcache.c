/* statcache.c - fuzzes .graphbuild/statcache (engine/hash.c, included for
 * cache_parse and the table): the file is loaded through hasher_new as a
 * run loads it. Input: a flags byte, then the file; with bit 0 set the last
 * 8 bytes are replaced by the file's true checksum, so the fuzzer gets past
 * it into the records. A cache that loads must be written back by
 * hasher_save into a file the loader accepts with every trusted record. */
#include "fuzz.h"

#include "../../engine/hash.c"

static uv_loop_t loop;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path, *copy, *saved;
	struct hasher *h;
	size_t n, len, ne;

	if (size < 1)
		return 0;
	if (!loop.data) {
		uv_loop_init(&loop);
		loop.data = &loop;
	}
	path = path_join(fz_tmpdir(), "statcache");
	n = size - 1;
	copy = malloc(n ? n : 1);
	memcpy(copy, data + 1, n);
	if ((data[0] & 1) && n >= 8) {
		uint64_t sum = XXH3_64bits(copy, n - 8);

		memcpy(copy + n - 8, &sum, 8);
	}
	fz_write(path, copy, n);
	free(copy);
	h = hasher_new(&loop, path);
	ne = h->ne;
	if (h->filebuf) { /* loaded: write it back and read that */
		h->changed = 1;
		FZ_ASSERT(hasher_save(h) == 0);
		saved = read_file(path, &len);
		FZ_ASSERT(saved != NULL);
		{
			struct hasher *h2 = hasher_new(&loop, NULL);
			const char *why = cache_parse(h2, saved, len);

			FZ_ASSERT(why == NULL);
			FZ_ASSERT(h2->ne <= ne);
			hasher_free(h2);
		}
		free(saved);
	}
	hasher_free(h);
	uv_run(&loop, UV_RUN_NOWAIT);
	free(path);
	return 0;
}
