/* names.h - the names graphbuild gives to what it makes on the engine
 * (engine/names.c): one section per area (images: the builder's;
 * services: up's). */
#ifndef GRAPHBUILD_NAMES_H
#define GRAPHBUILD_NAMES_H

#include <stddef.h>

struct stack;
struct node;

/* images */

/* The repository a rootfs tarball is imported into (graphbuild-import:<key>)
 * before it is committed under its key. */
#define NAMES_IMPORT_REPO "graphbuild-import"

/* "<project>/<name>" lowercased, every character a Docker repository name
 * cannot hold made '-': the repository of the readable :latest tag. */
char *names_latest_repo(const struct stack *s, const struct node *n);
/* "graphbuild-cache:<hex>": the tag that names a key on the engine. malloc'd. */
char *names_cache_ref(const char *hex);
/* The graphbuild.key label of the image after `steps` steps of an image node
 * (an env/workdir/user step only tags the image before it): the step's own
 * key, an earlier step's, or the parent's; NULL when that is a registry
 * reference, which carries no label. */
const char *names_step_label(const struct node *n, size_t steps);

/* services */

/* The project's network: "<project>_default" (malloc'd). */
char *names_network(const struct stack *s);
/* A named volume (as the stack writes it) in the engine:
 * "<project>_<volume>" (malloc'd). */
char *names_volume(const struct stack *s, const char *volume);
/* Service n's container: "<project>-<service>" (malloc'd). */
char *names_container(const struct stack *s, const struct node *n);

#endif
