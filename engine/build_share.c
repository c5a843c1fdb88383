/* build_share.c - one build of a step key in flight, awaited by the others.
 * Images of one run often share steps: three Dockerfiles whose final stages
 * start with the same COPY onto the same base have the same key for it. The
 * first job to reach a run / copy / copy-from step claims its key; another
 * job reaching the same key waits, and once the owner has committed and
 * tagged it takes the step image (step_ref) as if it had found it in the
 * engine's inventory. If the owner gives up on the step (its step failed, its
 * job was cancelled), the waiters retry: the first claims the key and builds
 * the step itself, so a waiter never fails for another job's failure. Waiters
 * are resumed from the wake timer (a fresh loop iteration), never from inside
 * the owner's callbacks, so neither job re-enters the other's code. */
#define _GNU_SOURCE
#include "build_int.h"

static void on_wake(uv_timer_t *t)
{
	struct build *b = t->data;
	size_t i;

	/* a woken job may wake others (it fails and gives up a claim): they
	 * are marked again and this timer restarted, so scan by index */
	for (i = 0; i < b->n; i++) {
		struct bjob *j = b->v[i];

		if (!j->woken)
			continue;
		j->woken = 0;
		next_step(j);
	}
}

static void wake(struct bjob *j)
{
	struct build *b = j->b;

	j->woken = 1;
	if (!uv_is_active((uv_handle_t *)b->wake))
		uv_timer_start(b->wake, on_wake, 0, 0);
}

/* Wakes every job waiting for owner. */
static void wake_waiters(struct bjob *owner)
{
	struct build *b = owner->b;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->v[i]->wait_for == owner) {
			b->v[i]->wait_for = NULL;
			wake(b->v[i]);
		}
}

static struct shared_step *find(struct build *b, const char *hex)
{
	size_t i;

	for (i = 0; i < b->nsh; i++)
		if (!strcmp(b->sh[i].hex, hex))
			return &b->sh[i];
	return NULL;
}

int share_step(struct bjob *j)
{
	struct build *b = j->b;
	const struct step_key *sk = &j->n->kx->steps[j->step];
	struct shared_step *s = find(b, sk->hex);
	char *d;

	if (s && s->done) {
		char *ref = step_ref(sk->hex);

		set_image(j, ref);
		free(ref);
		d = xasprintf("shared: %s (built by %s)", sk->desc, s->by);
		progress_step(j->t, (int)j->step + 1, d);
		free(d);
		j->nshared++;
		if (j->n->np)
			j->n->np->shared_steps = j->nshared;
		j->step++;
		next_step(j);
		return 0;
	}
	if (s && s->owner) {
		j->wait_for = s->owner;
		d = xasprintf("waits for the same step of %s: %s", s->owner->n->name, sk->desc);
		progress_step(j->t, (int)j->step + 1, d);
		free(d);
		return 0;
	}
	if (!s) {
		b->sh = xreallocarray(b->sh, b->nsh + 1, sizeof(*b->sh));
		s = &b->sh[b->nsh++];
		memset(s, 0, sizeof(*s));
		memcpy(s->hex, sk->hex, sizeof(s->hex));
	}
	s->owner = j;
	s->by = j->n->name;
	j->claim = (size_t)(s - b->sh) + 1;
	return 1;
}

void share_done(struct bjob *j)
{
	struct shared_step *s;

	if (!j->claim)
		return;
	s = &j->b->sh[j->claim - 1];
	j->claim = 0;
	s->owner = NULL;
	s->done = 1;
	wake_waiters(j);
}

void share_release(struct bjob *j)
{
	if (j->wait_for)
		j->wait_for = NULL; /* cleanup runs now: nothing left to wake */
	if (!j->claim)
		return;
	j->b->sh[j->claim - 1].owner = NULL;
	j->claim = 0;
	wake_waiters(j);
}

void share_cancel(struct bjob *j)
{
	if (!j->wait_for)
		return;
	j->wait_for = NULL;
	wake(j); /* next_step sees it stopped and goes to cleanup() */
}

void share_init(struct build *b)
{
	b->wake = xmalloc(sizeof(*b->wake));
	uv_timer_init(loop_of(b->d), b->wake);
	b->wake->data = b;
}

static void on_wake_closed(uv_handle_t *h)
{
	free(h);
}

void share_free(struct build *b)
{
	free(b->sh);
	b->sh = NULL;
	b->nsh = 0;
	if (b->wake)
		uv_close((uv_handle_t *)b->wake, on_wake_closed);
	b->wake = NULL;
}
