/* tar_int.h - internal to the tar writer and its producers (tar_write.c,
 * copy_dest.c, tar_read.c) and the build jobs that stream it: the entry list
 * of an archive to send, and the functions that fill and stream it. */
#ifndef GRAPHBUILD_TAR_INT_H
#define GRAPHBUILD_TAR_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "graphbuild/util.h"

struct step;
struct step_key;
struct hash_stream;

struct tent {
	char *name;            /* archive name, no leading '/' */
	char type;             /* '0' file, '5' dir, '2' symlink, '1' hardlink */
	unsigned mode;         /* permission bits */
	uint64_t size;
	char *link;
	char *host;            /* '0': host file to stream (NULL: from the spool) */
	char *shown;           /* name for messages (context-relative) */
	off_t off;             /* '0' from the spool: data offset */
	int verify;            /* '0' host file: hash must match the plan's */
	unsigned char hash[16];/* its XXH3-128 at plan time (the key's view) */
};

struct tarw {
	struct tent *v;
	size_t n, i;
	struct buf hdr;        /* pending header bytes */
	size_t hdrpos;
	int fd;                /* current host file */
	int spool;             /* COPY_FROM: the downloaded archive, or -1 */
	off_t spooloff;
	uint64_t left;         /* data bytes left in the current entry */
	size_t pad;            /* zero bytes left after it */
	size_t endleft;        /* end-of-archive zeros left */
	int started_end;
	char *err;
	const char *curname;
	const struct tent *cur;/* the entry whose data is streaming */
	struct hash_stream *hs;/* hash of the host file being streamed */
	const char *root;      /* the context: host files are opened beneath it (jail.h) */
};

/* tar_write.c */
void tarw_init(struct tarw *w);
void tarw_add(struct tarw *w, const char *name, char type, unsigned mode, uint64_t size,
                     const char *link, const char *host, const char *shown, off_t off);
void tarw_verify(struct tarw *w, const unsigned char h[16]);
void tarw_free(struct tarw *w);
void tarw_sort(struct tarw *w);
void octal(char *dst, size_t width, uint64_t v);
ssize_t tarw_read(void *arg, char *buf, size_t n);

/* copy_dest.c */
char *arcname(const char *a, const char *b);
const char *base_name(const char *p);
char *dest_abs(const char *to, const char *workdir);
char *norm_source(const char *src);
int copy_entries(struct tarw *w, const struct step *st, const struct step_key *sk,
                        const char *context, char **err);

/* tar_read.c */
int from_entries(struct tarw *w, int fd, const char *src, const char *to, int multi,
                        const char *workdir, char **err);
#endif
