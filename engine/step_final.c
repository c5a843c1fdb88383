/* step_final.c - env/workdir/user steps (a tag of the current image) and
 * the final config commit with its tags (key, <project>/<name>:latest). */
#define _GNU_SOURCE
#include "build_int.h"

/* ---- env / workdir / user: an alias of the current image ---- */

static void on_alias_tagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "tag: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	j->step++;
	next_step(j);
}

void step_alias(struct bjob *j)
{
	if (docker_image_tag(j->b->d, j->image, KEY_CACHE_REPO, j->n->kx->steps[j->step].hex,
	                     on_alias_tagged, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

/* ---- final config commit ---- */

static void on_final_tagged(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "tag: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	if (j->cid)
		remove_in_background(j, &j->cid);
	succeed(j);
}

void tag_latest(struct bjob *j, const char *img)
{
	char *lrepo = names_latest_repo(j->b->s, j->n);

	if (docker_image_tag(j->b->d, img, lrepo, "latest", on_final_tagged, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		free(lrepo);
		return cleanup(j);
	}
	j->inflight++;
	free(lrepo);
}

static void on_final_committed(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;

	j->inflight--;
	if (!r->ok)
		set_err(j, "commit: %s", r->error);
	else
		set_image(j, r->id);
	if (stopped(j))
		return cleanup(j);
	remove_in_background(j, &j->cid); /* while the tag is made */
	tag_latest(j, j->image);
}

/* Fills the spec with the image's full config (env/workdir/user at the end). */
static void final_config(struct bjob *j)
{
	const struct image *im = &j->n->u.image;
	const struct node_keys *kx = j->n->kx;
	char **env = NULL;
	size_t nenv = 0, i, k;
	const char *wd = im->workdir, *user = im->user;

	/* env in effect after the last step: the last step's view plus an env step */
	if (kx->nsteps) {
		const struct step_key *sk = &kx->steps[kx->nsteps - 1];
		const struct step *st = &im->steps[kx->nsteps - 1];
		for (i = 0; i < sk->nenv; i++)
			push(&env, &nenv, xstrdup(sk->env[i]));
		if (st->kind == STEP_ENV)
			for (k = 0; k < st->env.n; k++) {
				size_t kl = strlen(st->env.k[k]);
				for (i = 0; i < nenv; i++)
					if (!strncmp(env[i], st->env.k[k], kl) && env[i][kl] == '=')
						break;
				if (i < nenv)
					free(env[i]);
				else
					push(&env, &nenv, NULL);
				env[i] = xasprintf("%s=%s", st->env.k[k], st->env.v[k]);
			}
	} else
		for (i = 0; i < im->env.n; i++)
			push(&env, &nenv, xasprintf("%s=%s", im->env.k[i], im->env.v[i]));
	for (i = 0; i < im->nsteps; i++) {
		if (!im->workdir && im->steps[i].kind == STEP_WORKDIR && im->steps[i].args.n)
			wd = im->steps[i].args.v[0];
		if (!im->user && im->steps[i].kind == STEP_USER && im->steps[i].args.n)
			user = im->steps[i].args.v[0];
	}
	j->envv = env;
	j->nenvv = nenv;
	j->spec.workdir = wd;
	j->spec.user = user;
	for (i = 0; i < im->labels.n; i++)
		label(j, im->labels.k[i], im->labels.v[i]);
	label(j, "graphbuild.key", j->n->keyhex);
	label(j, "graphbuild.node", j->n->name);
	j->spec.expose = im->expose;
	j->spec.nexpose = im->nexpose;
	j->spec.volumes = im->volumes.v;
	j->spec.nvolumes = im->volumes.n;
	j->spec.stop_signal = im->stop_signal;
	j->spec.healthcheck = im->healthcheck;
}

static void on_final_created(void *arg, const struct docker_result *r)
{
	struct bjob *j = arg;
	const struct image *im = &j->n->u.image;
	size_t i;

	j->inflight--;
	if (r->ok)
		j->cid = xstrdup(r->id);
	else
		set_err(j, "create container: %s", r->error);
	if (stopped(j))
		return cleanup(j);
	spec_reset(j);
	final_config(j);
	for (i = 0; i < im->cmd.n; i++)
		push(&j->argv, &j->nargv, xstrdup(im->cmd.v[i]));
	j->spec.cmd_set = im->cmd_set;
	j->spec.entrypoint = im->entrypoint.v;
	j->spec.nentrypoint = im->entrypoint.n;
	j->spec.entrypoint_set = im->entrypoint_set;
	j->spec.image = j->image;
	own_labels(j, 0);
	spec_fill(j);
	if (docker_commit(j->b->d, j->cid, KEY_CACHE_REPO, j->n->keyhex, &j->spec, on_final_committed, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}

void step_final(struct bjob *j)
{
	progress_step(j->t, (int)j->n->u.image.nsteps, "config");
	spec_reset(j);
	final_config(j);
	push(&j->argv, &j->nargv, xstrdup("true"));
	j->spec.image = j->image;
	j->spec.entrypoint_set = 1;
	own_labels(j, 1);
	spec_fill(j);
	if (docker_container_create(j->b->d, &j->spec, on_final_created, j) < 0) {
		set_err(j, "cannot start a request to the engine");
		return cleanup(j);
	}
	j->inflight++;
}
