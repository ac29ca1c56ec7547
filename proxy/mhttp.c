/* The metrics listener (mhttp.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mhttp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

#define MAX_CLIENTS 4        /* scrapes served at the same time */
#define REQ_MAX 2048         /* request line and headers */
#define REQ_TIMEOUT_MS 5000  /* to send the whole request */
#define SEND_TIMEOUT_S 5     /* to take the whole response */

typedef struct client {
  int fd;
  size_t len;
  uint64_t deadline;
  char buf[REQ_MAX + 1];
} client;

static struct {
  int lfd, evfd;
  pthread_t th;
  struct px_worker **ws;
  int nworkers;
  client cl[MAX_CLIENTS];
  int ncl;
} srv = {.lfd = -1, .evfd = -1};

static uint64_t now_ms(void) { return px_metrics_now_us() / 1000u; }

static void send_all(int fd, const char *p, size_t n) {
  /* Blocking with a timeout: a scraper that does not read is dropped
   * after SEND_TIMEOUT_S instead of holding the thread. */
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  while (n > 0) {
    ssize_t s = send(fd, p, n, MSG_NOSIGNAL);
    if (s <= 0) return;
    p += s;
    n -= (size_t)s;
  }
}

static void reply(int fd, const char *status, const char *extra,
                  const char *ctype, const char *body, size_t blen, int head) {
  char hdr[512];
  int n = snprintf(hdr, sizeof hdr,
                   "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "%sConnection: close\r\n\r\n",
                   status, ctype, blen, extra);
  send_all(fd, hdr, (size_t)n);
  if (!head) send_all(fd, body, blen);
}

static void error_reply(int fd, const char *status, const char *extra) {
  char body[64];
  int n = snprintf(body, sizeof body, "%s\n", status);
  reply(fd, status, extra, "text/plain; charset=utf-8", body, (size_t)n, 0);
}

/* "METHOD PATH HTTP/1.x" is all that is looked at. */
static void answer(client *c) {
  char method[16], path[256], version[16];
  if (sscanf(c->buf, "%15s %255s %15s", method, path, version) != 3 ||
      strncmp(version, "HTTP/1.", 7) != 0) {
    error_reply(c->fd, "400 Bad Request", "");
    return;
  }
  int head = strcmp(method, "HEAD") == 0;
  if (!head && strcmp(method, "GET") != 0) {
    error_reply(c->fd, "405 Method Not Allowed", "Allow: GET, HEAD\r\n");
    return;
  }
  path[strcspn(path, "?")] = 0;
  if (strcmp(path, "/metrics") != 0) {
    error_reply(c->fd, "404 Not Found", "");
    return;
  }
  size_t len = 0;
  char *body = px_metrics_render(srv.ws, srv.nworkers, &len);
  if (!body) {
    error_reply(c->fd, "503 Service Unavailable", "");
    return;
  }
  reply(c->fd, "200 OK", "", "text/plain; version=0.0.4; charset=utf-8", body,
        len, head);
  free(body);
}

static void drop(int i) {
  close(srv.cl[i].fd);
  srv.cl[i] = srv.cl[--srv.ncl];
}

/* Reads what arrived; answers once the headers are complete.  Returns 1
 * when the client is done (answered or gone). */
static int on_readable(client *c) {
  ssize_t n = recv(c->fd, c->buf + c->len, REQ_MAX - c->len, MSG_DONTWAIT);
  if (n == 0) return 1;
  if (n < 0) return errno != EAGAIN && errno != EINTR;
  c->len += (size_t)n;
  c->buf[c->len] = 0;
  if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
    answer(c);
    return 1;
  }
  if (c->len == REQ_MAX) {
    error_reply(c->fd, "431 Request Header Fields Too Large", "");
    return 1;
  }
  return 0;
}

static void on_accept(void) {
  while (srv.ncl < MAX_CLIENTS) {
    int fd = accept4(srv.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    client *c = &srv.cl[srv.ncl++];
    c->fd = fd;
    c->len = 0;
    c->deadline = now_ms() + REQ_TIMEOUT_MS;
  }
}

static int poll_timeout(void) {
  uint64_t now = now_ms(), t = UINT64_MAX;
  for (int i = 0; i < srv.ncl; i++)
    if (srv.cl[i].deadline < t) t = srv.cl[i].deadline;
  if (t == UINT64_MAX) return -1;
  return t <= now ? 0 : (int)(t - now);
}

static void *serve(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd p[2 + MAX_CLIENTS];
    p[0] = (struct pollfd){.fd = srv.evfd, .events = POLLIN};
    /* At MAX_CLIENTS the listener is left out: new scrapes wait in the
     * backlog. */
    p[1] = (struct pollfd){.fd = srv.ncl < MAX_CLIENTS ? srv.lfd : -1,
                           .events = POLLIN};
    for (int i = 0; i < srv.ncl; i++)
      p[2 + i] = (struct pollfd){.fd = srv.cl[i].fd, .events = POLLIN};
    int nfds = 2 + srv.ncl;
    if (poll(p, (nfds_t)nfds, poll_timeout()) < 0 && errno != EINTR) break;
    if (p[0].revents) break;
    uint64_t now = now_ms();
    for (int i = srv.ncl - 1; i >= 0; i--) {
      int done = p[2 + i].revents ? on_readable(&srv.cl[i]) : 0;
      if (done || srv.cl[i].deadline <= now) drop(i);
    }
    if (p[1].revents) on_accept();
  }
  while (srv.ncl) drop(srv.ncl - 1);
  return NULL;
}

static int open_listener(const px_addr *a) {
  int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (a->ss.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
      listen(fd, 64) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int px_mhttp_start(const px_addr *a, const char *text, struct px_worker **ws,
                   int nworkers) {
  srv.ws = ws;
  srv.nworkers = nworkers;
  srv.lfd = open_listener(a);
  if (srv.lfd < 0) {
    fprintf(stderr, "sniroute-proxy: metrics %s: %s\n", text, strerror(errno));
    return -1;
  }
  srv.evfd = eventfd(0, EFD_CLOEXEC);
  if (srv.evfd < 0 || pthread_create(&srv.th, NULL, serve, NULL) != 0) {
    fprintf(stderr, "sniroute-proxy: metrics: cannot start: %s\n",
            strerror(errno));
    close(srv.lfd);
    if (srv.evfd >= 0) close(srv.evfd);
    srv.lfd = srv.evfd = -1;
    return -1;
  }
  return 0;
}

void px_mhttp_stop(void) {
  if (srv.lfd < 0) return;
  uint64_t one = 1;
  if (write(srv.evfd, &one, sizeof one) < 0) {
  }
  pthread_join(srv.th, NULL);
  close(srv.lfd);
  close(srv.evfd);
  srv.lfd = srv.evfd = -1;
}
