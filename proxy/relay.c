/* Relay (relay.h): splice() through pooled pipes, recv/send through a
 * buffer, and the direct path that needs neither. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPLICE_CHUNK (1 << 20)
#define PIPE_BYTES (1 << 20)

void px_chan_init(px_chan *ch) {
  memset(ch, 0, sizeof *ch);
  ch->p[0] = ch->p[1] = -1;
}

void px_chan_preload(px_chan *ch, uint8_t *buf, uint32_t len, uint32_t cap) {
  free(ch->buf);
  ch->buf = buf;
  ch->off = 0;
  ch->len = len;
  ch->cap = cap;
}

/* What the pipe holds: the kernel may have refused the size asked for
 * (EPERM past fs.pipe-user-pages-soft) or even given less than the
 * default (2 pages). */
static uint32_t pipe_capacity(int wfd, long set) {
  long c = set > 0 ? set : (long)fcntl(wfd, F_GETPIPE_SZ);
  return c > 0 ? (uint32_t)c : 4096; /* unknown: one page always fits */
}

static int pipe_get(px_pipe_pool *pool, px_chan *ch) {
  if (pool->n > 0) {
    pool->n--;
    ch->p[0] = pool->fds[pool->n][0];
    ch->p[1] = pool->fds[pool->n][1];
    ch->pipecap = pool->caps[pool->n];
    return 0;
  }
  /* Out of descriptors or of the user's pipe budget (ENFILE, EMFILE):
   * the caller falls back to a buffer. */
  if (pipe2(ch->p, O_NONBLOCK | O_CLOEXEC) != 0) {
    ch->p[0] = ch->p[1] = -1;
    return -1;
  }
  /* A larger pipe moves bulk data in fewer splice() calls; pages are only
   * taken for bytes actually in flight. */
  long set = (long)fcntl(ch->p[1], F_SETPIPE_SZ, PIPE_BYTES);
  ch->pipecap = pipe_capacity(ch->p[1], set);
  return 0;
}

static void pipe_put(px_pipe_pool *pool, px_chan *ch) {
  if (ch->p[0] < 0) return;
  /* An empty pipe is as good as new; one still holding bytes is not. */
  if (ch->inpipe == 0 && pool->n < pool->max && pool->n < PX_PIPE_POOL) {
    pool->fds[pool->n][0] = ch->p[0];
    pool->fds[pool->n][1] = ch->p[1];
    pool->caps[pool->n] = ch->pipecap;
    pool->n++;
  } else {
    close(ch->p[0]);
    close(ch->p[1]);
  }
  ch->p[0] = ch->p[1] = -1;
  ch->inpipe = 0;
}

long px_sock_rd(const px_ends *e, uint8_t *buf, size_t n) {
  for (;;) {
    long r = (long)recv(e->src, buf, n, MSG_DONTWAIT);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? PX_IO_AGAIN : PX_PUMP_SRC;
  }
}

long px_sock_wr(const px_ends *e, const uint8_t *buf, size_t n) {
  for (;;) {
    long r = (long)send(e->dst, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) return r;
    if (r < 0 && errno == EINTR) continue;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? PX_IO_AGAIN
                                                             : PX_PUMP_DST;
  }
}

/* Passes the source's EOF on (half-close). */
void px_sock_fin(const px_ends *e, px_chan *ch, const px_chan *other) {
  if (ch->shut) return;
  /* When the other way is finished too, close() sends the FIN. */
  if (!other->shut && !(ch->hold_empty_eof && ch->bytes == 0))
    shutdown(e->dst, SHUT_WR);
  ch->shut = 1;
}

/* Sends ch->buf[off, len) through e.  1: all sent (a buffer that is not
 * the direction's fixed one is freed), 0: the destination is full, or
 * PX_PUMP_DST. */
static int flush_buf(px_chan *ch, const px_ends *e, long *moved) {
  while (ch->len > ch->off) {
    long n = e->wr(e, ch->buf + ch->off, ch->len - ch->off);
    if (n == PX_IO_AGAIN) return 0;
    if (n < 0) return (int)n;
    ch->off += (uint32_t)n;
    ch->bytes += (uint64_t)n;
    *moved += n;
  }
  ch->off = ch->len = 0;
  if (!ch->rw) {
    free(ch->buf);
    ch->buf = NULL;
    ch->cap = 0;
  }
  return 1;
}

static px_ends sock_ends(int src, int dst) {
  px_ends e = {px_sock_rd, px_sock_wr, px_sock_fin, src, dst, NULL};
  return e;
}

/* Moves bytes src -> pipe -> dst until the source has nothing (EAGAIN) or
 * the destination is full (EAGAIN with bytes in flight).  Bytes in
 * ch->buf come after the pipe's: they go out once the pipe is empty,
 * before anything more is read.  splice() into the pipe moves what fits,
 * a short count is back-pressure like any other. */
static long pump_splice(px_chan *ch, const px_chan *other, int src, int dst) {
  const px_ends e = sock_ends(src, dst);
  long moved = 0;
  for (;;) {
    if (ch->inpipe > 0) {
      long n = (long)splice(ch->p[0], NULL, dst, NULL, ch->inpipe,
                            SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        ch->inpipe -= (size_t)n;
        ch->bytes += (uint64_t)n;
        moved += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return moved;
      return PX_PUMP_DST;
    }
    if (ch->len > ch->off) {
      int r = flush_buf(ch, &e, &moved);
      if (r < 0) return r;
      if (r == 0) return moved;
      continue;
    }
    if (ch->eof) {
      px_sock_fin(&e, ch, other);
      return moved;
    }
    /* The pipe is empty here, so EAGAIN means the source has nothing. */
    long n = (long)splice(src, NULL, ch->p[1], NULL, SPLICE_CHUNK,
                          SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      ch->inpipe = (size_t)n;
      continue;
    }
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return moved;
    return PX_PUMP_SRC;
  }
}

long px_pump_buffered(px_chan *ch, const px_chan *other, const px_ends *e) {
  long moved = 0;
  for (;;) {
    int r = flush_buf(ch, e, &moved);
    if (r < 0) return r;
    if (r == 0) return moved;
    if (ch->eof) {
      /* Until the end has been passed on: a fin hook may need another
       * event (room for a TLS alert), and must not run after (a second
       * SSL_shutdown() would read the client's data, tls.c). */
      if (!ch->shut) e->fin(e, ch, other);
      return moved;
    }
    long n = e->rd(e, ch->buf, PX_RW_BUF);
    if (n == PX_IO_AGAIN) return moved;
    if (n < 0) return n;
    if (n == 0)
      ch->eof = 1;
    else
      ch->len = (uint32_t)n;
  }
}

static long pump_rw(px_chan *ch, const px_chan *other, int src, int dst) {
  px_ends e = sock_ends(src, dst);
  return px_pump_buffered(ch, other, &e);
}

int px_chan_open(px_chan *ch, int splice_mode) {
  if (splice_mode) return 0; /* starts direct, see pump_direct() */
  ch->rw = 1;
  if (ch->buf && ch->cap >= PX_RW_BUF) return 0; /* preloaded: keep it */
  uint8_t *b = malloc(PX_RW_BUF);
  if (!b) return -1;
  if (ch->len > ch->off) memcpy(b, ch->buf + ch->off, ch->len - ch->off);
  ch->len -= ch->off;
  ch->off = 0;
  free(ch->buf);
  ch->buf = b;
  ch->cap = PX_RW_BUF;
  return 0;
}

/* The unsent rest of a read when the destination stopped taking bytes:
 * into the pipe as far as it holds, anything beyond in a buffer behind
 * it.  Without a pipe (none could be made) the direction keeps a fixed
 * buffer for good.  0 or PX_PUMP_NOMEM. */
static int park_rest(px_pipe_pool *pool, px_chan *ch, const uint8_t *p,
                     size_t rest) {
  if (pipe_get(pool, ch) == 0) {
    size_t k = 0;
    if (rest) {
      size_t room = rest < ch->pipecap ? rest : ch->pipecap;
      long wr = (long)write(ch->p[1], p, room);
      /* A short write (or none) is not an error: the rest waits in the
       * buffer. */
      if (wr > 0) k = (size_t)wr;
    }
    ch->inpipe = k;
    if (k == rest) return 0;
    ch->buf = malloc(rest - k);
    if (!ch->buf) return PX_PUMP_NOMEM;
    memcpy(ch->buf, p + k, rest - k);
    ch->off = 0;
    ch->len = ch->cap = (uint32_t)(rest - k);
    return 0;
  }
  ch->buf = malloc(PX_RW_BUF);
  if (!ch->buf) return PX_PUMP_NOMEM;
  memcpy(ch->buf, p, rest);
  ch->off = 0;
  ch->len = (uint32_t)rest;
  ch->cap = PX_RW_BUF;
  ch->rw = 1;
  return 0;
}

/* Small exchanges (the hello, a handshake, a request) go through the
 * worker's buffer with recv/send and need no per-connection state at all.
 * The first time the destination cannot take everything, or a read fills
 * the buffer (bulk transfer), the direction moves to a pipe for good: the
 * unsent rest is parked (park_rest()), and splice() takes over. */
static long pump_direct(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
                        const px_chan *other, int src, int dst,
                        int src_hup) {
  const px_ends e = sock_ends(src, dst);
  long moved = 0;
  if (ch->len > ch->off) { /* a preloaded hello goes first */
    int r = flush_buf(ch, &e, &moved);
    if (r < 0) return r;
    if (r == 0) return moved;
  }
  for (;;) {
    if (ch->eof) {
      px_sock_fin(&e, ch, other);
      return moved;
    }
    long n = (long)recv(src, scratch, PX_RW_BUF, MSG_DONTWAIT);
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return moved;
      return PX_PUMP_SRC;
    }
    long sent = 0;
    while (sent < n) {
      long k = (long)send(dst, scratch + sent, (size_t)(n - sent),
                          MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        sent += k;
        continue;
      }
      if (k < 0 && errno == EINTR) continue;
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return PX_PUMP_DST;
    }
    ch->bytes += (uint64_t)sent;
    moved += sent;
    if (sent == n && n < PX_RW_BUF) {
      /* A short read emptied the receive queue.  The socket is registered
       * edge-triggered, so any byte (or FIN) that arrives from now on raises
       * a new event: the recv() that would only return EAGAIN is skipped.
       * A FIN that came before the last event was reported with it
       * (src_hup): then read on until recv() returns 0. */
      if (!src_hup) return moved;
      continue;
    }
    size_t rest = (size_t)(n - sent);
    int r = park_rest(pool, ch, scratch + sent, rest);
    if (r < 0) return r;
    if (rest) return moved; /* wait until dst is writable */
    long more = ch->p[0] >= 0 ? pump_splice(ch, other, src, dst)
                              : pump_rw(ch, other, src, dst);
    return more < 0 ? more : moved + more;
  }
}

/* Bulk between peers on this host or next to it.  Autotuning sizes a
 * socket's buffers from what the application reads per round trip, and a
 * relay that waits for its slower side reads in bursts: on loopback the
 * proxy's sockets grew to 16-22 MB queued per connection.  Every byte
 * queued there is copied later, cold, by the peers' cores; and with the
 * window always open, the peers' transmissions are processed in their own
 * context.  A small receive buffer closes the window instead, so a peer's
 * queued bytes go out when the proxy's read reopens it: in the proxy's
 * context, on the proxy's core (bench/README.md, "Bulk relay").  Where the
 * round trip is that short the bandwidth-delay product is small, so the
 * fixed size costs little throughput: 10 Gb/s x 100 us = 125 KB.  A peer
 * farther away (or one whose round trip is not known yet: 0) keeps
 * autotuning.  64 KiB measured better than 32, 48, 96, 128 and 256 KiB on
 * loopback (bench/README.md, "Bulk relay"). */
#define LOCAL_RTT_US 100u
#define LOCAL_SOCKBUF (64 << 10) /* the kernel doubles it: 128 KiB */

static void bound_if_local(int fd, int opt) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0 ||
      l < offsetof(struct tcp_info, tcpi_rtt) + sizeof ti.tcpi_rtt ||
      ti.tcpi_rtt == 0 || ti.tcpi_rtt >= LOCAL_RTT_US)
    return;
  int v = LOCAL_SOCKBUF;
  setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);
}

long px_pump(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
             const px_chan *other, int src, int dst, int src_hup) {
  long r;
  if (ch->p[0] >= 0)
    r = pump_splice(ch, other, src, dst);
  else if (ch->rw)
    r = pump_rw(ch, other, src, dst);
  else
    r = pump_direct(pool, scratch, ch, other, src, dst, src_hup);
  /* Once per direction, when it turns out to be bulk: a failure leaves the
   * kernel's sizing, nothing else depends on it. */
  if (!ch->bulk && ch->bytes >= PX_RW_BUF && r >= 0) {
    ch->bulk = 1;
    bound_if_local(src, SO_RCVBUF);
    bound_if_local(dst, SO_SNDBUF);
  }
  return r;
}

int px_chan_pending(const px_chan *ch) {
  return ch->len > ch->off || (ch->p[0] >= 0 && ch->inpipe > 0);
}

void px_chan_release(px_pipe_pool *pool, px_chan *ch) {
  pipe_put(pool, ch);
  free(ch->buf);
  ch->buf = NULL;
  ch->off = ch->len = ch->cap = 0;
}

void px_pipe_pool_close(px_pipe_pool *pool) {
  for (int i = 0; i < pool->n; i++) {
    close(pool->fds[i][0]);
    close(pool->fds[i][1]);
  }
  pool->n = 0;
}
