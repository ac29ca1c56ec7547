/* Relaying one direction of a connection (a "channel"): direct through the
 * worker's scratch buffer while exchanges are small, then through a kernel
 * pipe and splice(), or with `splice off` a fixed buffer.  Buffering is
 * bounded either way and a full pipe or buffer stops reading from the
 * source: back-pressure. */
#ifndef PX_RELAY_H
#define PX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define PX_RW_BUF 65536 /* scratch and per-direction buffers */
#define PX_PIPE_POOL 128

typedef struct px_chan {
  int p[2];
  uint8_t *buf;
  uint32_t off, len;
  size_t inpipe;
  uint64_t bytes;
  uint8_t eof, shut;
} px_chan;

/* Empty pipes kept per worker for the next connection. */
typedef struct px_pipe_pool {
  int fds[PX_PIPE_POOL][2];
  int n;
} px_pipe_pool;

void px_chan_init(px_chan *ch);
/* At relay start: with splice nothing is needed yet, without it the
 * direction's buffer is allocated.  0 or -1 (no memory). */
int px_chan_open(px_chan *ch, int splice_mode);
/* Returns the pipe to the pool (if empty) and frees the buffer. */
void px_chan_release(px_pipe_pool *pool, px_chan *ch);
/* 1 when bytes wait for the destination to become writable. */
int px_chan_pending(const px_chan *ch);
/* Moves bytes src -> dst until the source has nothing (EAGAIN) or the
 * destination is full.  scratch holds PX_RW_BUF bytes; src_hup: an event
 * reported the source's FIN or error.  Returns bytes moved, or -1 (source
 * failed) / -2 (destination failed): tear the connection down.  At EOF the
 * destination is shut down for writing (half-close). */
long px_pump(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
             const px_chan *other, int src, int dst, int src_hup);
void px_pipe_pool_close(px_pipe_pool *pool);

#endif
