/* sni_peek(): parse the ClientHello still sitting in a socket's receive
 * queue.  Kept apart from the parser so that one stays free of system calls
 * and usable on any platform. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* POLLRDHUP, MSG_DONTWAIT */
#endif
#include "sniroute.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0 /* then the caller must give a non-blocking socket */
#endif

/* A peer that sent a partial hello and then FIN keeps returning the same
 * bytes to MSG_PEEK; only poll() can tell that the stream has ended. */
static int peer_has_closed(int fd) {
#ifdef POLLRDHUP
  struct pollfd pfd = {.fd = fd, .events = POLLRDHUP};
  for (;;) {
    int r = poll(&pfd, 1, 0);
    if (r >= 0) break;
    if (errno != EINTR) return SNI_ESYS;
  }
  if (pfd.revents & (POLLRDHUP | POLLHUP)) return 1;
  if (pfd.revents & (POLLERR | POLLNVAL)) return 1;
#else
  (void)fd;
#endif
  return 0;
}

int sni_peek_ex(int fd, void *buf, size_t cap, sni_hello *out,
                const sni_limits *limits, size_t *peeked, size_t *need) {
  if (peeked) *peeked = 0;
  if (need) *need = 0;
  if (!buf || !out || cap == 0) return SNI_EINVAL;

  /* The streaming parser gives the same answer as sni_parse() and, on top,
   * the lower bound on missing bytes that callers feed to SO_RCVLOWAT. */
  sni_parser p;
  int r = sni_parser_init(&p, out, limits);
  if (r < 0) return r;

  long got;
  for (;;) {
    got = (long)recv(fd, buf, cap, MSG_PEEK | MSG_DONTWAIT);
    if (got >= 0) break;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    return SNI_ESYS;
  }
  if (got == 0) return SNI_EOF; /* orderly shutdown, nothing queued */
  size_t n = got > 0 ? (size_t)got : 0;
  if (peeked) *peeked = n;
  if (n > 0) {
    r = sni_parser_feed(&p, buf, n);
    if (r != SNI_EAGAIN) return sni_parser_status(&p);
  }
  if (n == cap) return SNI_ENOSPC;

  /* With nothing queued, recv() itself reported an end of stream (0), so
   * the extra poll() is only needed behind a partial hello. */
  if (n > 0) {
    int closed = peer_has_closed(fd);
    if (closed < 0) return closed;
    if (closed) return SNI_EOF;
  }
  if (need) {
    size_t k = sni_parser_need(&p);
    *need = k ? k : 1;
  }
  return SNI_EAGAIN;
}

int sni_peek(int fd, void *buf, size_t cap, sni_hello *out) {
  return sni_peek_ex(fd, buf, cap, out, NULL, NULL, NULL);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sni_peek_wait(int fd, void *buf, size_t cap, sni_hello *out,
                  int timeout_ms) {
  const int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
  int saved_lowat = 1, lowat_set = 0, lowat_works = 1;
  size_t last_peeked = 0;
  int backoff = 1, r, saved_errno = 0;

  for (;;) {
    size_t peeked = 0, need = 0;
    r = sni_peek_ex(fd, buf, cap, out, NULL, &peeked, &need);
    if (r != SNI_EAGAIN) break;

    int64_t left = deadline < 0 ? -1 : deadline - now_ms();
    if (deadline >= 0 && left <= 0) {
      r = SNI_ETIMEDOUT;
      break;
    }

    if (peeked > 0 && lowat_works) {
      /* Without a low-water mark the queued bytes would make poll() return
       * at once and this loop would spin until the rest of the hello came. */
      size_t want = peeked + need;
      int v = want > INT32_MAX ? INT32_MAX : (int)want;
      if (!lowat_set) {
        socklen_t sl = sizeof saved_lowat;
        if (getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &saved_lowat, &sl) != 0)
          lowat_works = 0;
      }
      if (lowat_works &&
          setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v) == 0)
        lowat_set = 1;
      else
        lowat_works = 0;
    }

    struct pollfd pfd = {.fd = fd, .events = POLLIN};
#ifdef POLLRDHUP
    pfd.events |= POLLRDHUP;
#endif
    int wait = left < 0 ? -1 : (left > INT32_MAX ? INT32_MAX : (int)left);
    int pr = poll(&pfd, 1, wait);
    if (pr < 0 && errno != EINTR) {
      saved_errno = errno;
      r = SNI_ESYS;
      break;
    }
    if (pr == 0) {
      r = SNI_ETIMEDOUT;
      break;
    }
    if (peeked > 0 && peeked == last_peeked) {
      /* The socket ignores SO_RCVLOWAT for poll (a UNIX socket, say) and
       * nothing new came: sleep instead of spinning on the same bytes. */
      int nap = backoff;
      if (deadline >= 0 && nap > left) nap = (int)left;
      poll(NULL, 0, nap);
      if (backoff < 50) backoff *= 2;
    } else if (peeked != last_peeked) {
      backoff = 1;
    }
    last_peeked = peeked;
  }

  if (lowat_set) {
    int e = errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &saved_lowat, sizeof saved_lowat);
    errno = e;
  }
  if (saved_errno) errno = saved_errno;
  return r;
}
