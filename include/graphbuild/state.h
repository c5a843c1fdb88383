/* state.h - the .graphbuild/ directory next to the stack file: the last
 * manifest per node, build history (durations), the stat cache path, and the
 * lock that keeps two invocations on one stack from racing. Every write is
 * atomic (temp file, fsync, rename); corrupt or foreign files are discarded
 * with a warning. */
#ifndef GRAPHBUILD_STATE_H
#define GRAPHBUILD_STATE_H

struct manifest;
struct state;

/* Opens the state of the stack in dir. exclusive: take the lock for writing
 * (waits, saying so, while another invocation holds it); otherwise a shared
 * lock. Nothing is created until the first write when create is 0.
 * Returns NULL with a message printed if the lock cannot be taken; without
 * exclusive (plan only reads) an unusable state (.graphbuild a file, …) is
 * instead warned about and read as empty: nothing is read or written. */
struct state *state_open(const char *dir, int exclusive);
void state_close(struct state *st);
/* Path of a file inside .graphbuild/ (malloc'd); creates the dir if mk.
 * NULL when the state is unusable (see state_open). */
char *state_path(struct state *st, const char *name, int mk);
/* The manifest stored for an image node, or NULL (absent, corrupt: warned). */
struct manifest *state_manifest(struct state *st, const char *node);
/* Stores a node's manifest atomically. 0, or -1 with a warning printed. */
int state_save_manifest(struct state *st, const char *node, const struct manifest *m);
/* Last build duration of a node in ms, or -1 if unknown. */
long state_duration(struct state *st, const char *node);
/* Records a build duration (written by state_flush). */
void state_record_duration(struct state *st, const char *node, long ms);
/* Writes pending history atomically. 0 or -1. */
int state_flush(struct state *st);

#endif
