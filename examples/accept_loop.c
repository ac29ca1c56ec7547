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
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sniroute.h>

#include "ex_net.h"

/* The snippet below names these two; they are the examples' shared socket
 * helpers (ex_net.c). */
static int connect_to(const void *target) { return ex_connect(target); }
static void relay(int a, int b) { ex_relay(a, b); }

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
  int listener = ex_listen(argv[1]);
  if (listener < 0) {
    fprintf(stderr, "%s: cannot listen on %s: %s\n", argv[0], argv[1],
            strerror(errno));
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer gone mid-relay is an error return */
  accept_loop(listener, routes);
}
