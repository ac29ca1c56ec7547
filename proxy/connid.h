/* Connection ids: written in the log line (`id=`) and, with
 * `tlv=unique_id`, sent to the upstream in the PROXY v2 header, so that
 * the proxy's and the upstream's logs can be joined.  An id is unique
 * across workers and restarts: 64 random bits drawn once per process,
 * the worker and the worker's own sequence number. */
#ifndef PX_CONNID_H
#define PX_CONNID_H

#include <stdint.h>

/* 32 hex digits: process (16), worker (4), sequence (12); + NUL. */
#define PX_CONNID_LEN 33

/* The next sequence number of the calling worker thread (never 0). */
uint64_t px_connid_next(void);
/* The id of (worker, seq) into out. */
void px_connid_format(int worker, uint64_t seq, char out[PX_CONNID_LEN]);

#endif
