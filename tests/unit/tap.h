/* tap.h - the unit tests' TAP lines: "ok N - name", "not ok N - name (line
 * L)", and the closing "N passed, M failed" (tap_done). Header-only: every
 * unit test is one file and one process. */
#ifndef GRAPHBUILD_TESTS_TAP_H
#define GRAPHBUILD_TESTS_TAP_H

#include <stdio.h>

static int npass, nfail;

static inline void check(int ok, const char *name, int line)
{
	if (ok) {
		npass++;
		printf("ok %d - %s\n", npass + nfail, name);
	} else {
		nfail++;
		printf("not ok %d - %s (line %d)\n", npass + nfail, name, line);
	}
	fflush(stdout);
}
#define T(name, cond) check(!!(cond), name, __LINE__)

/* Prints the closing line; the exit status: 0 when nothing failed. */
static inline int tap_done(void)
{
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}

#endif
