/* manifest.c - fuzzes .graphbuild/manifests/NODE (engine/key.c
 * manifest_parse): the input is the file's text. A parsed manifest must
 * survive manifest_format and parse back to the same text (the writer and
 * the reader agree), and manifest_diff against itself and against "never
 * built" must run clean. */
#include "fuzz.h"

#include "graphbuild/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_str(data, size); /* read_file NUL-terminates */
	struct manifest *m = manifest_parse(text, size), *again;
	char *out, *out2, **why = NULL;
	size_t nwhy = 0, i;

	free(text);
	if (!m)
		return 0;
	out = manifest_format(m);
	again = manifest_parse(out, strlen(out));
	FZ_ASSERT(again != NULL);
	out2 = manifest_format(again);
	FZ_ASSERT(strcmp(out, out2) == 0);
	manifest_diff(m, again, &why, &nwhy);
	FZ_ASSERT(nwhy == 0);
	manifest_diff(NULL, m, &why, &nwhy);
	for (i = 0; i < nwhy; i++)
		free(why[i]);
	free(why);
	free(out);
	free(out2);
	manifest_free(again);
	manifest_free(m);
	return 0;
}
