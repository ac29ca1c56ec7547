/* Relaying one direction of a connection (a "channel"): direct through the
 * worker's scratch buffer while exchanges are small, then through a kernel
 * pipe and splice(), or with `splice off` a fixed buffer.  Buffering is
 * bounded either way and a full pipe or buffer stops reading from the
 * source: back-pressure.
 *
 * A pipe holds what the kernel gave it, not what was asked for: an
 * unprivileged user past fs.pipe-user-pages-soft gets 2 pages (8 KiB)
 * whatever F_SETPIPE_SZ requested.  Each pipe's real capacity is kept
 * (F_GETPIPE_SZ) and nothing more is ever written into it; bytes already
 * read that do not fit wait in a small heap buffer (ch->buf) behind the
 * pipe's bytes. */
#ifndef PX_RELAY_H
#define PX_RELAY_H

#include <stddef.h>
#include <stdint.h>

#define PX_RW_BUF 65536 /* scratch and per-direction buffers */
#define PX_PIPE_POOL 128

typedef struct px_chan {
  int p[2];
  /* Bytes already read from the source and not yet sent, in order after
   * whatever is in the pipe: the rest of a read that did not fit the pipe,
   * or the hello the proxy had to read itself (px_chan_preload()).  With
   * `rw` set it is the direction's fixed buffer (cap >= PX_RW_BUF). */
  uint8_t *buf;
  uint32_t off, len, cap;
  uint32_t pipecap; /* bytes p can hold (the kernel's answer) */
  size_t inpipe;
  uint64_t bytes;
  uint8_t eof, shut, rw;
  /* An EOF before any byte is not passed on (no shutdown()): the caller
   * sees eof with bytes == 0 and ends the connection its own way (conn.c
   * sends the TLS client an alert instead of a bare FIN). */
  uint8_t hold_empty_eof;
  /* The direction has moved PX_RW_BUF bytes: its sockets' buffers were
   * looked at (relay.c, bound_if_local()). */
  uint8_t bulk;
} px_chan;

/* Empty pipes kept per worker for the next connection; at most `max`
 * (<= PX_PIPE_POOL, chosen from the descriptor budget, fdbudget.h). */
typedef struct px_pipe_pool {
  int fds[PX_PIPE_POOL][2];
  uint32_t caps[PX_PIPE_POOL];
  int n, max;
} px_pipe_pool;

/* px_pump() failures: tear the connection down (with a reset, conn.c). */
enum {
  PX_PUMP_SRC = -1,  /* reading the source failed (reset, error) */
  PX_PUMP_DST = -2,  /* writing the destination failed */
  PX_PUMP_NOMEM = -3 /* no memory for bytes already read */
};

void px_chan_init(px_chan *ch);
/* Hands the channel bytes already read from its source (a hello the proxy
 * had to consume): malloc'ed buf of cap bytes (cap >= PX_RW_BUF), len of
 * them used; they are sent before anything else.  The channel owns buf. */
void px_chan_preload(px_chan *ch, uint8_t *buf, uint32_t len, uint32_t cap);
/* At relay start: with splice nothing is needed yet, without it the
 * direction's buffer is allocated (or the preloaded one kept).  0 or -1
 * (no memory). */
int px_chan_open(px_chan *ch, int splice_mode);
/* Returns the pipe to the pool (if empty) and frees the buffer. */
void px_chan_release(px_pipe_pool *pool, px_chan *ch);
/* 1 when bytes wait for the destination to become writable. */
int px_chan_pending(const px_chan *ch);
/* Moves bytes src -> dst until the source has nothing (EAGAIN) or the
 * destination is full.  scratch holds PX_RW_BUF bytes; src_hup: an event
 * reported the source's FIN or error.  Returns bytes moved (>= 0) or a
 * PX_PUMP_* failure.  At EOF the destination is shut down for writing
 * (half-close). */
long px_pump(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
             const px_chan *other, int src, int dst, int src_hup);
void px_pipe_pool_close(px_pipe_pool *pool);

/* The two ends of a buffered pump (px_pump_buffered()): plain sockets
 * (`splice off`, and the upstream side of `terminate`) or a TLS session
 * (tls.c). */
#define PX_IO_AGAIN (-4) /* would block: wait for the next event */
typedef struct px_ends px_ends;
struct px_ends {
  /* Up to n bytes from the source: > 0, 0 at its end, PX_IO_AGAIN or
   * PX_PUMP_SRC. */
  long (*rd)(const px_ends *e, uint8_t *buf, size_t n);
  /* Up to n bytes to the destination: > 0 taken, PX_IO_AGAIN or
   * PX_PUMP_DST. */
  long (*wr)(const px_ends *e, const uint8_t *buf, size_t n);
  /* Passes the source's end on to the destination and marks ch shut; or
   * leaves ch as it is to be called again at the next event.  Never
   * called again once ch is shut. */
  void (*fin)(const px_ends *e, px_chan *ch, const px_chan *other);
  int src, dst;
  void *tls; /* tls.c's session, for its ends */
};
/* Socket ends: recv() from e->src, send() to e->dst, shutdown(SHUT_WR)
 * of e->dst (or nothing when the other direction has ended too: close()
 * sends the FIN). */
long px_sock_rd(const px_ends *e, uint8_t *buf, size_t n);
long px_sock_wr(const px_ends *e, const uint8_t *buf, size_t n);
void px_sock_fin(const px_ends *e, px_chan *ch, const px_chan *other);
/* Moves bytes through the channel's fixed buffer (px_chan_open(ch, 0))
 * until the source has nothing or the destination is full; at the
 * source's end, e->fin.  Bytes moved (>= 0) or a PX_PUMP_* failure. */
long px_pump_buffered(px_chan *ch, const px_chan *other, const px_ends *e);

#endif
