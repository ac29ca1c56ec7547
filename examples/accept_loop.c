/*
 * sniroute-accept-loop: the shortest correct blocking SNI router.
 *
 *   sniroute-accept-loop ADDR:PORT MAPFILE
 *
 * MAPFILE holds "PATTERN HOST:PORT" lines (sni_router_load_map(); the
 * words default, no_sni and not_tls work too).  Port 0 picks a free port;
 * the address actually bound is printed as "listening on ADDR:PORT".
 *
 * Each accepted connection gets its own process, so a client that sends
 * half a hello and stalls delays nobody else.  That process waits for the
 * ClientHello with sni_peek_wait() -- nothing is read from the socket --,
 * routes it, connects to the upstream and relays both ways.  The upstream
 * therefore receives the client's stream from its first byte, hello
 * included, and no byte is buffered or replayed here.
 *
 * The part between the README markers is the README's usage example (a
 * ctest compares them).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sniroute.h>

/* "host:port" -> a connected TCP socket, or -1. */
static int connect_to(const void *target) {
  char host[256];
  const char *t = target;
  const char *colon = strrchr(t, ':');
  if (!colon || (size_t)(colon - t) >= sizeof host) return -1;
  memcpy(host, t, (size_t)(colon - t));
  host[colon - t] = '\0';
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *p;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) return -1;
  int fd = -1;
  for (p = ai; p && fd < 0; p = p->ai_next) {
    fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol);
    if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  return fd;
}

/* Copy both directions until both have ended.  An end of stream in one
 * direction is passed on as a half-close, because TLS clients and servers
 * may still be talking the other way. */
static void relay(int a, int b) {
  const int fds[2] = {a, b};
  struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
  int open_dirs = 2;
  char buf[16384];
  while (open_dirs > 0 && poll(p, 2, -1) >= 0) {
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int to = fds[1 - i];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return; /* reset: the other side learns it at close */
        shutdown(to, SHUT_WR);
        p[i].fd = -1; /* poll ignores negative fds */
        open_dirs--;
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return;
        off += w;
      }
    }
  }
}

/* README-BEGIN */
#include <sniroute.h>

/* One accepted connection, in its own process: wait for the ClientHello
 * without consuming it, route it, relay to the upstream the route names. */
static int serve(int fd, const sni_router *routes) {
  unsigned char buf[16384];             /* scratch for the peeked copy */
  sni_hello hello;
  int rc = sni_peek_wait(fd, buf, sizeof buf, &hello, 5000 /* ms */);
  void *upstream = NULL;
  rc = sni_router_match_hello(routes, &hello, rc, &upstream);
  if (rc < 0) {             /* no route, timeout, EOF, malformed hello... */
    fprintf(stderr, "refused '%s': %s\n", hello.sni, sni_strerror(rc));
    return rc;
  }
  int up = connect_to(upstream);        /* "host:port" from the map file */
  if (up < 0) return SNI_ESYS;
  relay(fd, up);              /* the hello is still queued on fd: sent first */
  return 0;
}

static void accept_loop(int listener, const sni_router *routes) {
  signal(SIGCHLD, SIG_IGN);                  /* children reap themselves */
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd >= 0 && fork() == 0) _exit(serve(fd, routes) == 0 ? 0 : 1);
    if (fd >= 0) close(fd);
  }
}
/* README-END */

static int listen_on(const char *spec) {
  char host[64];
  const char *colon = strrchr(spec, ':');
  if (!colon || (size_t)(colon - spec) >= sizeof host) return -1;
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = '\0';
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    close(fd);
    return -1;
  }
  printf("listening on %s:%u\n", host, (unsigned)ntohs(sa.sin_port));
  fflush(stdout);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ADDR:PORT MAPFILE\n", argv[0]);
    return 2;
  }
  sni_router *routes;
  int rc = sni_router_create(&routes, NULL);
  if (rc == 0) rc = sni_router_load_map_file(routes, argv[2], NULL, NULL);
  if (rc >= 0) rc = sni_router_compile(routes);
  if (rc < 0) {
    fprintf(stderr, "%s: %s: %s %s\n", argv[0], argv[2], sni_strerror(rc),
            sni_router_errmsg(routes));
    return 1;
  }
  int listener = listen_on(argv[1]);
  if (listener < 0) {
    fprintf(stderr, "%s: cannot listen on %s: %s\n", argv[0], argv[1],
            strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer gone mid-relay is an error return */
  accept_loop(listener, routes);
}
