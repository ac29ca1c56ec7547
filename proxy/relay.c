/* Relay (relay.h): splice() through pooled pipes, recv/send through a
 * buffer, and the direct path that needs neither. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
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

static int pipe_get(px_pipe_pool *pool, int p[2]) {
  if (pool->n > 0) {
    pool->n--;
    p[0] = pool->fds[pool->n][0];
    p[1] = pool->fds[pool->n][1];
    return 0;
  }
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  /* A larger pipe moves bulk data in fewer splice() calls; pages are only
   * taken for bytes actually in flight. */
  fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
  return 0;
}

static void pipe_put(px_pipe_pool *pool, px_chan *ch) {
  if (ch->p[0] < 0) return;
  /* An empty pipe is as good as new; one still holding bytes is not. */
  if (ch->inpipe == 0 && pool->n < PX_PIPE_POOL) {
    pool->fds[pool->n][0] = ch->p[0];
    pool->fds[pool->n][1] = ch->p[1];
    pool->n++;
  } else {
    close(ch->p[0]);
    close(ch->p[1]);
  }
  ch->p[0] = ch->p[1] = -1;
}

/* Moves bytes src -> dst until the source has nothing (EAGAIN) or the
 * destination is full (EAGAIN with bytes in flight).  Returns bytes moved,
 * or -1 (source failed) / -2 (destination failed): tear the connection
 * down. */
static long pump_splice(px_chan *ch, const px_chan *other, int src, int dst) {
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
      return -2;
    }
    if (ch->eof) {
      if (!ch->shut) {
        /* When the other way is finished too, close() sends the FIN. */
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
      return moved;
    }
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
    return -1;
  }
}

static long pump_rw(px_chan *ch, const px_chan *other, int src, int dst) {
  long moved = 0;
  for (;;) {
    if (ch->len > ch->off) {
      long n = (long)send(dst, ch->buf + ch->off, ch->len - ch->off,
                          MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        ch->off += (uint32_t)n;
        ch->bytes += (uint64_t)n;
        moved += n;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return moved;
      return -2;
    }
    ch->off = ch->len = 0;
    if (ch->eof) {
      if (!ch->shut) {
        /* When the other way is finished too, close() sends the FIN. */
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
      return moved;
    }
    long n = (long)recv(src, ch->buf, PX_RW_BUF, MSG_DONTWAIT);
    if (n > 0) {
      ch->len = (uint32_t)n;
      continue;
    }
    if (n == 0) {
      ch->eof = 1;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return moved;
    return -1;
  }
}

int px_chan_open(px_chan *ch, int splice_mode) {
  if (splice_mode) return 0; /* starts direct, see pump_direct() */
  ch->buf = malloc(PX_RW_BUF);
  return ch->buf ? 0 : -1;
}

/* Small exchanges (the hello, a handshake, a request) go through the
 * worker's buffer with recv/send and need no per-connection state at all.
 * The first time the destination cannot take everything, or a read fills
 * the buffer (bulk transfer), the direction moves to a pipe for good: the
 * unsent rest is written into the pipe, and splice() takes over. */
static long pump_direct(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
                        const px_chan *other, int src, int dst,
                        int src_hup) {
  long moved = 0;
  for (;;) {
    if (ch->eof) {
      if (!ch->shut) {
        if (!other->shut) shutdown(dst, SHUT_WR);
        ch->shut = 1;
      }
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
      return -1;
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
      return -2;
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
    if (pipe_get(pool, ch->p) == 0) {
      /* An empty pipe holds at least 64 KiB = PX_RW_BUF: this cannot block. */
      if (rest && (long)write(ch->p[1], scratch + sent, rest) != (long)rest)
        return -2;
      ch->inpipe = rest;
    } else {
      ch->buf = malloc(PX_RW_BUF);
      if (!ch->buf) return -2;
      memcpy(ch->buf, scratch + sent, rest);
      ch->off = 0;
      ch->len = (uint32_t)rest;
    }
    if (rest) return moved; /* wait until dst is writable */
    long more = ch->p[0] >= 0 ? pump_splice(ch, other, src, dst)
                              : pump_rw(ch, other, src, dst);
    return more < 0 ? more : moved + more;
  }
}

long px_pump(px_pipe_pool *pool, uint8_t *scratch, px_chan *ch,
             const px_chan *other, int src, int dst, int src_hup) {
  if (ch->p[0] >= 0) return pump_splice(ch, other, src, dst);
  if (ch->buf) return pump_rw(ch, other, src, dst);
  return pump_direct(pool, scratch, ch, other, src, dst, src_hup);
}

int px_chan_pending(const px_chan *ch) {
  return ch->p[0] >= 0 ? ch->inpipe > 0 : ch->len > ch->off;
}

void px_chan_release(px_pipe_pool *pool, px_chan *ch) {
  pipe_put(pool, ch);
  free(ch->buf);
  ch->buf = NULL;
}

void px_pipe_pool_close(px_pipe_pool *pool) {
  for (int i = 0; i < pool->n; i++) {
    close(pool->fds[i][0]);
    close(pool->fds[i][1]);
  }
  pool->n = 0;
}
