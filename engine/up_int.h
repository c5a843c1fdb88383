/* up_int.h - what the service files share (svc_list.c, svc_spec.c,
 * svc_plan.c, svc_job.c, svc_retire.c, up.c, down.c, ps.c, logs.c): the
 * container labels, the listing, the config hash, one `up` and its service
 * jobs. Internal: nothing outside engine/ includes it (tests/fuzz/spec.c
 * does, for svc_parse_port and logs_parse_since). */
#ifndef GRAPHBUILD_UP_INT_H
#define GRAPHBUILD_UP_INT_H

#include <stddef.h>

#include <uv.h>

#include "graphbuild/docker.h"
#include "graphbuild/graph.h"
#include "graphbuild/sched.h"
#include "graphbuild/up.h"
#include "graphbuild/util.h"

/* the labels a container remembers what it was created from by */
#define L_PROJECT "graphbuild.project"
#define L_SERVICE "graphbuild.service"
#define L_IMAGE "graphbuild.image-key"
#define L_CONFIG "graphbuild.config"
#define L_ONESHOT "graphbuild.oneshot"
#define L_ENV "graphbuild.env."

/* ---- the container listing (svc_list.c) ---- */

struct ctr {
	char *id, *name, *state, *health, *ip, *ports;
	int exit_code;
	char **lk, **lv;
	size_t nl;
};

struct listing {
	int done, ok;
	char *err;
	struct ctr *v;
	size_t n;
};

/* ctr_on_listing is a docker_container_list callback (arg: the listing);
 * ctr_list_project runs the loop until its reply. 0, or -1 with l->err. */
void ctr_on_listing(void *arg, const struct docker_result *r);
int ctr_list_project(struct docker *d, const char *project, struct listing *l);
void ctr_listing_free(struct listing *l);
const char *ctr_label(const struct ctr *c, const char *k);
const char *ctr_service(const struct ctr *c);
/* Runs the loop until *done (one request of ours; never inside a callback). */
void up_run_until(struct docker *d, int *done);

/* ---- the effective config and the container spec (svc_spec.c) ---- */

enum {
	F_COMMAND, F_ENTRYPOINT, F_ENV, F_LABELS, F_WORKDIR, F_USER, F_PORTS, F_VOLUMES,
	F_ALIASES, F_RESTART, F_STOP_TIMEOUT, F_ONESHOT, F_NETWORK, F_INIT, F_STOP_SIGNAL, NFIELDS
};

struct config_hash {
	char all[33];
	char field[NFIELDS][17];
};
extern const char *const svc_field_name[NFIELDS];

void svc_hash64(const void *p, size_t n, char out[17]);
void svc_config_hash(const struct stack *s, const struct service *sv, struct config_hash *h);
/* The image-key label value: the image node's key, a reference's image ID. */
const char *svc_image_key(const struct node *img);
const char *svc_image_label(const struct node *img);
/* Parses a port string of the DSL into p (pointing into buf, which gets
 * NULs). 0, or -1 if buf is not one. */
int svc_parse_port(char *buf, struct docker_port *p);

/* ---- one `up`: its service jobs (svc_job.c, svc_retire.c, up.c) ---- */

struct up;

enum { PH_IDLE, PH_SETUP, PH_WAIT, PH_TAIL, PH_END };

struct svc {
	struct up *u;
	struct node *n;
	struct sched_job *sj;
	struct sched_job *rj;    /* retiring the old container early, or NULL */
	struct ptask *t;
	const struct ctr *old;   /* its container from the listing, or NULL */
	int retired;             /* rj stopped and removed old */
	char *retire_err;        /* why rj could not */
	int retire_cancelled;
	char *id, *ip;
	int phase;
	int cancelled;
	int nvol;                /* volume creates pending */
	int vol_failed;
	char *err;               /* why it failed (sched_fail message) */
	struct buf tail;         /* the container's last lines, on failure */
	struct health *h;
	uv_timer_t grace;
	int grace_open;
	int started;             /* this run started (or kept running) its container */
	int exited_late;         /* exited after its job was done */
	long exit_code;
	unsigned pending_events; /* reached with DONE after the tail fetch */
};

struct up {
	struct stack *s;
	struct docker *d;
	const struct up_opts *o;
	struct progress *p;
	struct sched *sc;
	char *network;
	int net_state;           /* 0 none, 1 creating, 2 ready, 3 failed */
	char *net_err;
	struct svc **netwait;
	size_t nnetwait;
	int inflight;            /* requests of ours whose callback is pending */
	int orphans_pending;
	int orphan_failed;
	struct svc **v;
	size_t n;
};

/* The create request of a service and the memory it points into. */
struct spec_mem {
	struct docker_spec spec;
	struct docker_port *ports;
	struct docker_mount *mounts;
	char **env, **lk, **lv, **strs;
	size_t nenv, nl, nstrs;
};

void svc_spec_build(struct svc *sv, struct spec_mem *m);
void svc_spec_free(struct spec_mem *m);

/* ---- service planning (svc_plan.c) ---- */

/* The container of service n in the listing, or NULL. */
const struct ctr *svc_find_ctr(const struct stack *s, const struct listing *l, const struct node *n);
/* 2: a port the parser refuses; 1: two services publish one host port. */
int svc_port_clash(struct stack *s);
int svc_nothing_to_do(struct stack *s, const struct up_opts *o, const struct up_orphans *orph);
void svc_recreate_deps(struct stack *s);

/* ---- the service job (svc_job.c) and its retire job (svc_retire.c) ---- */

extern const struct sched_ops svc_ops;
extern const struct sched_ops svc_retire_ops;
int svc_stop_timeout(const struct svc *sv);
/* The first bind source of service n that does not exist, as a message
 * (malloc'd), or NULL when all do. */
char *svc_missing_bind(const struct node *n);
void svc_grace_closed(uv_handle_t *h);

/* ---- logs (logs.c) ---- */

/* "1700000000" or a duration back from now ("10s", "5m", "2h"): unix
 * seconds, or -1 (0: none given, or longer than the epoch). */
long logs_parse_since(const char *s);

#endif
