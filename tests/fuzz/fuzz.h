/* fuzz.h - helpers shared by the libFuzzer harnesses in tests/fuzz/ (header
 * only: each harness is one file and one binary, built by run.sh). A
 * harness that needs a parser's static functions includes that engine file
 * ("../../engine/X.c") itself (run.sh then leaves its object out of the link), so the
 * engine's files need no fuzz-only hooks. */
#ifndef GRAPHBUILD_TESTS_FUZZ_H
#define GRAPHBUILD_TESTS_FUZZ_H

#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for files a harness writes (made once per process,
 * removed at exit with everything in it). */
static char fz_dir[64];

static void fz_rmdir(void)
{
	char cmd[96];

	if (fz_dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "fuzz: cannot remove %s\n", fz_dir);
	}
}

static inline const char *fz_tmpdir(void)
{
	if (!fz_dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(fz_dir, sizeof fz_dir, "%s/gbfuzz.XXXXXX", t && strlen(t) < 40 ? t : "/tmp");
		if (!mkdtemp(fz_dir))
			abort();
		atexit(fz_rmdir);
	}
	return fz_dir;
}

/* Writes data to path (replacing it); aborts on failure (a harness bug). */
static inline void fz_write(const char *path, const void *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n) || close(fd) < 0)
		abort();
}

/* The input as a NUL-terminated string (malloc'd; stops at an inner NUL). */
static inline char *fz_str(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, data, n);
	s[n] = 0;
	return s;
}

/* Splits off the part before the next NUL byte (or the rest); p and n
 * advance past it and its NUL. Returns a malloc'd NUL-terminated copy. */
static inline char *fz_part(const uint8_t **p, size_t *n)
{
	const uint8_t *z = memchr(*p, 0, *n);
	size_t k = z ? (size_t)(z - *p) : *n;
	char *s = fz_str(*p, k);

	*p += k + (z ? 1 : 0);
	*n -= k + (z ? 1 : 0);
	return s;
}

/* A property the parser promised does not hold: report it (on the
 * sanitizers' stream: run.sh closes the harness's stderr, which the engine's
 * warnings would flood) and crash, so libFuzzer keeps the input. */
#define FZ_ASSERT(cond)                                                                      \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			char fz_msg[512];                                                    \
			snprintf(fz_msg, sizeof fz_msg, "fuzz: %s:%d: property failed: %s", \
			         __FILE__, __LINE__, #cond);                                 \
			__sanitizer_report_error_summary(fz_msg);                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

#endif
