/* jail.h - opening a path beneath a root directory (a build context) so that
 * no component, the last included, is a symlink leading outside the root.
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) where the kernel has it
 * (probed once), otherwise (and to explain a refusal) a walk of every
 * component with openat(O_NOFOLLOW) that follows a symlink only while its
 * target stays beneath the root. */
#ifndef GRAPHBUILD_JAIL_H
#define GRAPHBUILD_JAIL_H

/* Opens root/rel with open(2) flags (O_CLOEXEC is added; O_NOFOLLOW keeps a
 * last-component symlink unfollowed; O_CREAT is not supported). rel is
 * '/'-separated and relative ("" or "." is the root itself). A symlink is
 * followed only if it resolves beneath root (a relative target, or an
 * absolute one inside realpath(root)). Returns an fd, or -1 with errno:
 * EXDEV for a path leaving root, ENOENT (also for a dangling symlink), ELOOP,
 * or open's own. If why is non-NULL and a symlink was at fault (leaving the
 * root, dangling, a loop), *why is a malloc'd sentence naming the link
 * (root-relative) and its target; otherwise *why is NULL. */
int jail_open(const char *root, const char *rel, int flags, char **why);

struct stat;
/* fstat of what jail_open(root, rel, O_PATH | (nofollow ? O_NOFOLLOW : 0))
 * opens. Returns 0, or -1 with errno as jail_open's. */
int jail_stat(const char *root, const char *rel, int nofollow, struct stat *st);

/* 1 if the kernel's openat2 with RESOLVE_BENEATH is used (probed once). */
int jail_has_openat2(void);

#endif
