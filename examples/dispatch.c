/*
 * sniroute-dispatch: share one port between local servers without a
 * proxy hop.  Each accepted connection is peeked at, routed, and the socket
 * itself is passed (SCM_RIGHTS) to the server process registered for the
 * route, which sees the client's real address and reads the ClientHello
 * itself.  Nothing is relayed.
 *
 *   sniroute-dispatch [--queue-ms N] ADDR:PORT CONTROL_SOCKET MAPFILE
 *
 * MAPFILE: "PATTERN SERVER_NAME" lines (sni_router_load_map()).  Servers
 * register for a SERVER_NAME on the Unix socket CONTROL_SOCKET with
 * sni_handoff_register() (see sniroute-handoff-echo).
 *
 * Restarts.  A connection whose server is not registered (not started
 * yet, restarting) waits up to --queue-ms (default 5000) for one to
 * register, then is closed: clients of a restarting server are delayed,
 * not refused.  A server that dies with connections queued in its channel
 * loses those (the kernel closes them; the clients see a reset).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sniroute.h>

#include "ex_net.h"

#define MAX_SERVERS 64
#define HELLO_TIMEOUT_MS 5000

typedef struct server {
  char name[SNI_HANDOFF_MAX_NAME + 1];
  int channel; /* -1: free slot */
} server;

static server servers[MAX_SERVERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registered = PTHREAD_COND_INITIALIZER;
static sni_router *routes; /* pattern -> server name (map loader strings) */
static int control;
static long queue_ms = 5000;

static void *control_thread(void *arg) {
  (void)arg;
  for (;;) {
    char name[SNI_HANDOFF_MAX_NAME + 1];
    int ch = sni_handoff_accept(control, name, sizeof name, 1000);
    if (ch < 0) {
      if (ch == SNI_ESYS && errno != EINTR && errno != ECONNABORTED) {
        perror("control accept");
        poll(NULL, 0, 100); /* EMFILE and the like: do not spin */
      }
      continue;
    }
    /* Non-blocking, so a server that stops reading makes one send fail
     * instead of stalling whoever holds the lock. */
    fcntl(ch, F_SETFL, fcntl(ch, F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < MAX_SERVERS && servers[i].channel >= 0) i++;
    if (i == MAX_SERVERS) {
      close(ch);
    } else {
      snprintf(servers[i].name, sizeof servers[i].name, "%s", name);
      servers[i].channel = ch;
      printf("registered %s\n", name);
      fflush(stdout);
      pthread_cond_broadcast(&registered);
    }
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

static int before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static struct timespec add_ms(struct timespec t, long ms) {
  t.tv_sec += ms / 1000;
  t.tv_nsec += (ms % 1000) * 1000000;
  if (t.tv_nsec >= 1000000000) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000;
  }
  return t;
}

/* Pass fd to a live server registered as name, waiting for one until
 * deadline.  0 when handed over, -1 when none took it in time. */
static int hand_off(int fd, const char *name, const char *sni,
                    const struct timespec *deadline) {
  pthread_mutex_lock(&lock);
  for (;;) {
    int busy = 0;
    /* A dead server shows up as a failed send, and is dropped. */
    for (int i = MAX_SERVERS - 1; i >= 0; i--) {
      server *s = &servers[i];
      if (s->channel < 0 || strcmp(s->name, name) != 0) continue;
      int rc = sni_handoff_send(s->channel, fd, sni, strlen(sni));
      if (rc == 0) {
        pthread_mutex_unlock(&lock);
        return 0;
      }
      if (rc == SNI_EAGAIN) {
        busy = 1;
        continue;
      }
      printf("server %s gone (%s)\n", s->name, strerror(errno));
      fflush(stdout);
      close(s->channel);
      s->channel = -1;
    }
    /* Servers that are only behind drain their queue without telling us:
     * try again soon instead of waiting for a registration. */
    struct timespec t = *deadline, now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (!before(&now, deadline)) break;
    if (busy) {
      struct timespec soon = add_ms(now, 5);
      if (before(&soon, deadline)) t = soon;
    }
    pthread_cond_timedwait(&registered, &lock, &t);
  }
  pthread_mutex_unlock(&lock);
  return -1;
}

static void *conn_thread(void *arg) {
  int fd = (int)(intptr_t)arg;
  unsigned char buf[16384];
  sni_hello hello;
  int rc = sni_peek_wait(fd, buf, sizeof buf, &hello, HELLO_TIMEOUT_MS);
  void *target = NULL;
  int kind = sni_router_match_hello(routes, &hello, rc, &target);
  char peer[80];
  ex_peer_name(fd, peer, sizeof peer);
  if (kind < 0) {
    printf("refused %s sni=%s: %s\n", peer, hello.sni, sni_strerror(kind));
  } else {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline = add_ms(deadline, queue_ms);
    if (hand_off(fd, target, hello.sni_normalized, &deadline) == 0) {
      close(fd); /* the server holds its own copy now */
      return NULL;
    }
    printf("dropped %s sni=%s: no server %s within %ld ms\n", peer,
           hello.sni, (const char *)target, queue_ms);
  }
  fflush(stdout);
  /* Read what the client sent before closing, so it sees an orderly end
   * of stream rather than a reset. */
  if (rc > 0) {
    while (rc > 0) {
      ssize_t n = recv(fd, buf, (size_t)rc, MSG_DONTWAIT);
      if (n <= 0) break;
      rc -= (int)n;
    }
  }
  close(fd);
  return NULL;
}

int main(int argc, char **argv) {
  int a = 1;
  if (a + 1 < argc && !strcmp(argv[a], "--queue-ms")) {
    queue_ms = atol(argv[a + 1]);
    a += 2;
  }
  if (argc - a != 3) {
    fprintf(stderr, "usage: %s [--queue-ms N] ADDR:PORT CONTROL_SOCKET MAPFILE\n",
            argv[0]);
    return 2;
  }
  int rc = sni_router_create(&routes, NULL);
  if (rc == 0) rc = sni_router_load_map_file(routes, argv[a + 2], NULL, NULL);
  if (rc >= 0) rc = sni_router_compile(routes);
  if (rc < 0) {
    fprintf(stderr, "%s: %s %s\n", argv[a + 2], sni_strerror(rc),
            sni_router_errmsg(routes));
    return 1;
  }
  for (int i = 0; i < MAX_SERVERS; i++) servers[i].channel = -1;
  signal(SIGPIPE, SIG_IGN);
  control = sni_handoff_listen(argv[a + 1], 64);
  if (control < 0) {
    fprintf(stderr, "%s: %s (%s)\n", argv[a + 1], sni_strerror(control),
            strerror(errno));
    return 1;
  }
  int lfd = ex_listen(argv[a]);
  if (lfd < 0) {
    fprintf(stderr, "listen %s: %s\n", argv[a], strerror(errno));
    return 1;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  if (pthread_create(&th, &attr, control_thread, NULL) != 0) return 1;
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    if (pthread_create(&th, &attr, conn_thread, (void *)(intptr_t)fd) != 0)
      close(fd);
  }
}
