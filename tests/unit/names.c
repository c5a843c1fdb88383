/* tests/unit/names.c - the names the builder gives images on the engine
 * (engine/names.c, cache_ref in engine/build_job.c): whole, however long
 * the reference (DEFECTS 12: they were cut at 128 bytes). cache_ref is given
 * a reference without an engine ID, the case the integration test (build.sh
 * 23) cannot reach: plan always resolves a present reference's ID first.
 * Prints "ok N - name" lines and "N passed, M failed". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/build_int.h"
#include "graphbuild/graph.h"
#include "graphbuild/names.h"
#include "graphbuild/util.h"

#include "tap.h"

int main(void)
{
	struct node n = {0};
	char hex[33], *r, *ref = xmalloc(320);
	memset(hex, 'a', 32);
	hex[32] = 0;

	r = names_cache_ref(hex);
	T("names_cache_ref: graphbuild-cache:<key>", strcmp(r, "graphbuild-cache:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0);
	free(r);

	/* a 300-byte reference, no engine ID yet: the reference itself, whole */
	snprintf(ref, 320, "registry.example.com:5000/%0*d:tag", 270, 7);
	n.kind = NODE_REF;
	n.ref = ref;
	r = cache_ref(&n);
	T("cache_ref: a 300-byte reference without an ID is used whole", strlen(ref) > 290 && strcmp(r, ref) == 0);
	free(r);
	n.ref_id = "sha256:" "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	r = cache_ref(&n);
	T("cache_ref: a reference with an engine ID: the ID", strcmp(r, n.ref_id) == 0);
	free(r);

	n = (struct node){.kind = NODE_IMAGE};
	memcpy(n.keyhex, hex, sizeof hex);
	r = cache_ref(&n);
	T("cache_ref: an image node: the cache tag of its key", strncmp(r, "graphbuild-cache:", 17) == 0 && strcmp(r + 17, hex) == 0);
	free(r);
	free(ref);
	return tap_done();
}
