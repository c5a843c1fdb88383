/* cache_push.c - pushing the selected images and step images to the remote
 * cache after a build. */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- pushing to the remote cache ---- */

struct pusher {
	struct docker *d;
	struct registry *r;
	char **keys;
	size_t n, next, done, pushed, failed;
	int inflight;
};

static void push_next(struct pusher *ps);

static void on_pushed_key(void *arg, const char *error, const char *id)
{
	struct pusher *ps = arg;

	(void)id;
	ps->inflight--;
	ps->done++;
	if (error) {
		warn("%s; not cached", error);
		ps->failed++;
	} else
		ps->pushed++;
	push_next(ps);
}

static void push_next(struct pusher *ps)
{
	while (ps->inflight < 4 && ps->next < ps->n) {
		const char *key = ps->keys[ps->next++];

		if (registry_push(ps->d, ps->r, key, on_pushed_key, ps) < 0) {
			warn("push %s to %s: cannot start a request to the engine; not cached", key,
			     registry_name(ps->r));
			ps->done++;
			ps->failed++;
			continue;
		}
		ps->inflight++;
	}
}

static void push_add(struct pusher *ps, const struct keyset *ks, const char *hex)
{
	size_t i;

	if (!keyset_has(ks, hex))
		return;
	for (i = 0; i < ps->n; i++)
		if (!strcmp(ps->keys[i], hex))
			return;
	push(&ps->keys, &ps->n, (char *)hex);
}

size_t build_push(struct stack *s, struct docker *d, struct registry *r, int quiet, size_t *failed)
{
	struct pusher ps = {0};
	struct keyset ks = {0};
	char *err = NULL, *warning = NULL;
	char **miss = NULL;
	size_t i, k, nmiss = 0, nall;
	uint64_t t0 = now_ms();
	int *hit;

	*failed = 0;
	ps.d = d;
	ps.r = r;
	if (inventory_keys(d, &ks, &err) < 0) {
		warn("cache %s: nothing pushed: %s", registry_name(r), err);
		free(err);
		return 0;
	}
	for (i = 0; i < s->norder; i++) {
		const struct node *n = s->order[i];

		if (!n->selected || n->kind == NODE_SERVICE || n->kind == NODE_REF || !n->keyed)
			continue;
		push_add(&ps, &ks, n->keyhex);
		if (n->kind == NODE_IMAGE && !n->u.image.dockerfile && n->kx)
			for (k = 0; k < n->kx->nsteps; k++)
				if (names_step_label(n, k + 1))
					push_add(&ps, &ks, n->kx->steps[k].hex);
	}
	if (!ps.n) {
		keyset_free(&ks);
		return 0;
	}
	hit = xcalloc(ps.n, sizeof(*hit));
	registry_check(r, ps.keys, ps.n, hit, &warning);
	if (warning) {
		/* unreachable or refusing lookups: pushing would fail the same way */
		warn("%s; %zu image(s) not pushed to %s", warning, ps.n, registry_name(r));
		*failed = ps.n;
		free(warning);
		free(hit);
		free(ps.keys);
		keyset_free(&ks);
		return 0;
	}
	nall = ps.n;
	for (i = 0; i < ps.n; i++)
		if (!hit[i] || registry_rejected(r, ps.keys[i])) /* a poisoned tag: replace it */
			push(&miss, &nmiss, ps.keys[i]);
	free(hit);
	free(ps.keys);
	ps.keys = miss;
	ps.n = nmiss;
	push_next(&ps);
	while (ps.done < ps.n)
		uv_run(docker_loop(d), UV_RUN_ONCE);
	if (!quiet || ps.failed)
		fprintf(stderr, "cache %s: pushed %zu image(s) in %.1f s, %zu already there, %zu not pushed\n",
		        registry_name(r), ps.pushed, (double)(now_ms() - t0) / 1000.0, nall - ps.n, ps.failed);
	*failed = ps.failed;
	free(ps.keys);
	keyset_free(&ks);
	return ps.pushed;
}
