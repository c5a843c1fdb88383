/* history.c - fuzzes .graphbuild/history (engine/state.c, included for the
 * loaded table): the input is the file. Whatever loads must survive a
 * record, state_flush and a reload unchanged (the writer and the reader
 * agree), and a corrupt file must load as empty, never fail the run. */
#include "fuzz.h"

#include "../../engine/state.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *dir = fz_tmpdir();
	char *gb = path_join(dir, ".graphbuild"), *hist = path_join(gb, "history");
	struct state *st, *again;
	size_t i;
	int lockfd;

	mkdirs(gb, 0755);
	fz_write(hist, data, size);
	st = state_open(dir, 1);
	FZ_ASSERT(st != NULL);
	(void)state_duration(st, "fuzz-node");
	for (i = 0; i < st->nhist; i++)
		FZ_ASSERT(st->hist[i].ms >= 0 && !strchr(st->hist[i].name, '\n'));
	state_record_duration(st, "fuzz-node", 1234);
	FZ_ASSERT(state_flush(st) == 0);
	/* the lock is per open file: release ours before reading it back */
	lockfd = st->lockfd;
	st->lockfd = -1;
	close(lockfd);
	again = state_open(dir, 0);
	FZ_ASSERT(again != NULL);
	FZ_ASSERT(state_duration(again, "fuzz-node") == 1234);
	FZ_ASSERT(again->nhist == st->nhist);
	for (i = 0; i < st->nhist; i++)
		FZ_ASSERT(state_duration(again, st->hist[i].name) == st->hist[i].ms);
	state_close(again);
	state_close(st);
	free(hist);
	free(gb);
	return 0;
}
