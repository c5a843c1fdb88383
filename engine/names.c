/* names.c - the names graphbuild gives to what it makes on the engine. One
 * section per area: images (the builder's), services (up's). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "graphbuild/key.h"
#include "graphbuild/names.h"
#include "graphbuild/graph.h"
#include "graphbuild/util.h"

/* images */

static char *lower(const char *s)
{
	char *r = xstrdup(s), *p;

	for (p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		           *p == '_' || *p == '-' || *p == '/'))
			*p = '-';
	return r;
}

char *names_latest_repo(const struct stack *s, const struct node *n)
{
	char *repo = xasprintf("%s/%s", s->project ? s->project : "graphbuild", n->name);
	char *l = lower(repo);

	free(repo);
	return l;
}

char *names_cache_ref(const char *hex)
{
	return xasprintf(KEY_CACHE_REPO ":%s", hex);
}

const char *names_step_label(const struct node *n, size_t steps)
{
	const struct image *im = &n->u.image;
	const struct node *p = im->parent;

	for (; steps > 0; steps--) {
		enum step_kind k = im->steps[steps - 1].kind;
		if (k != STEP_ENV && k != STEP_WORKDIR && k != STEP_USER)
			return n->kx->steps[steps - 1].hex;
	}
	return p && p->kind != NODE_REF ? p->keyhex : NULL;
}

/* services */

char *names_network(const struct stack *s)
{
	return xasprintf("%s_default", s->project);
}

/* A named volume of the stack: "<project>_<volume>" (malloc'd). */
char *names_volume(const struct stack *s, const char *volume)
{
	return xasprintf("%s_%s", s->project, volume);
}

char *names_container(const struct stack *s, const struct node *n)
{
	return xasprintf("%s-%s", s->project, n->name);
}
