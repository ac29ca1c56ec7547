/*
 * Load for a UDP forwarder (sniroute-proxy's QUIC listener, or nginx's
 * stream proxy as the baseline): bench/quic_bench.sh runs it.
 *
 *   sniroute-bench-quic-fwd MODE TARGET_PORT SINK_PORT ARG
 *
 * The sink (an upstream that counts and never answers) is bound here on
 * 127.0.0.1:SINK_PORT; the forwarder under test listens on
 * 127.0.0.1:TARGET_PORT and forwards to the sink.  Every flow first sends
 * the client Initial datagram of a synthetic ClientHello for "bench.test"
 * (tests/quic_util.c), as sniroute-proxy needs (nginx forwards anything).
 *
 * MODE
 *   forward SECONDS  one flow; the sender sends 1200-byte datagrams as fast
 *                    as it can, the sink counts what arrives; prints
 *                    datagrams per second delivered.
 *   flows SECONDS    new flows as fast as possible (a fresh socket each,
 *                    its flight, closed at once); prints flows per second
 *                    reaching the sink (distinct source ports).
 *   idle N,PID       reads PID's VmRSS, opens N flows (each delivers its
 *                    flight, the sockets stay open), waits until they have
 *                    reached the sink, reads VmRSS again; prints the growth
 *                    per flow.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "parser_util.h"
#include "quic_util.h"

#define PAYLOAD 1200
#define BATCH 32
#define MAX_PORTS 65536

static qt_flight g_flight;
static atomic_int g_stop;
static atomic_ulong g_sunk;
static atomic_uint g_sources;
static uint8_t g_seen[MAX_PORTS]; /* source ports seen by the sink */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  return a;
}

static void *sink(void *arg) {
  int fd = *(int *)arg;
  struct mmsghdr m[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  static uint8_t bufs[BATCH][2048];
  while (!atomic_load(&g_stop)) {
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){bufs[i], sizeof bufs[i]};
      m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                     .msg_namelen = sizeof from[i],
                                     .msg_iov = &iov[i],
                                     .msg_iovlen = 1};
    }
    /* recvmmsg's own timeout is only checked after a datagram arrives:
     * SO_RCVTIMEO (set in main) bounds the wait instead. */
    int n = recvmmsg(fd, m, BATCH, MSG_WAITFORONE, NULL);
    for (int i = 0; i < n; i++) {
      uint16_t p = ntohs(from[i].sin_port);
      if (!g_seen[p]) {
        g_seen[p] = 1;
        atomic_fetch_add(&g_sources, 1);
      }
    }
    if (n > 0) atomic_fetch_add(&g_sunk, (unsigned long)n);
  }
  return NULL;
}

static void build_flight(void) {
  buf ext = {0}, hs = {0};
  ext_sni(&ext, "bench.test");
  const char *alpn[] = {"h3"};
  ext_alpn(&ext, alpn, 1);
  hello_spec s = {.exts = &ext, .random_fill = 1};
  build_handshake(&hs, &s);
  qt_options o = {.version = 1, .pieces = 1, .max_per_pkt = 1,
                  .pkts_per_dg = 1, .seed = 1};
  if (qt_packetize(hs.p, hs.n, &o, &g_flight) != 0) exit(1);
  b_free(&ext);
  b_free(&hs);
}

static int flow_socket(int target) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in t = loopback(target);
  if (fd < 0 || connect(fd, (struct sockaddr *)&t, sizeof t) != 0) {
    perror("flow socket");
    exit(1);
  }
  for (size_t i = 0; i < g_flight.n; i++)
      if (send(fd, g_flight.d[i], g_flight.len[i], 0) < 0) perror("send");
  return fd;
}

static void forward(int target, double secs) {
  int fd = flow_socket(target);
  usleep(200000); /* the flow is routed before the load starts */
  static uint8_t payload[PAYLOAD];
  memset(payload, 0x42, sizeof payload); /* a short header (0x40 bit) */
  struct iovec iov = {payload, sizeof payload};
  struct mmsghdr m[BATCH];
  for (int i = 0; i < BATCH; i++)
    m[i].msg_hdr = (struct msghdr){.msg_iov = &iov, .msg_iovlen = 1};
  unsigned long base = atomic_load(&g_sunk), sent = 0;
  double t0 = now_s();
  while (now_s() - t0 < secs) {
    int n = sendmmsg(fd, m, BATCH, 0);
    if (n > 0) sent += (unsigned long)n;
  }
  double el = now_s() - t0;
  usleep(200000);
  unsigned long got = atomic_load(&g_sunk) - base;
  printf("forward sent=%lu delivered=%lu seconds=%.2f dgrams_per_s=%.0f\n",
         sent, got, el, (double)got / el);
  close(fd);
}

static void new_flows(int target, double secs) {
  unsigned base = atomic_load(&g_sources);
  unsigned long opened = 0;
  double t0 = now_s();
  while (now_s() - t0 < secs) {
    close(flow_socket(target));
    opened++;
  }
  double el = now_s() - t0;
  usleep(300000);
  unsigned got = atomic_load(&g_sources) - base;
  printf("flows opened=%lu reached_sink=%u seconds=%.2f flows_per_s=%.0f\n",
         opened, got, el, (double)got / el);
}

static long rss_kb(long pid) {
  char path[64], line[256];
  long kb = -1;
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

static void idle(int target, int n, long pid) {
  long before = rss_kb(pid);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  int *fds = calloc((size_t)n, sizeof *fds);
  for (int i = 0; i < n && fds; i++) {
    fds[i] = flow_socket(target);
    if (i % 256 == 255) usleep(20000); /* let the forwarder keep up */
  }
  for (int k = 0; k < 100 && atomic_load(&g_sources) < (unsigned)n; k++)
    usleep(100000);
  sleep(1);
  long after = rss_kb(pid);
  unsigned got = atomic_load(&g_sources);
  printf("idle flows=%d reached_sink=%u rss_before_kb=%ld rss_after_kb=%ld "
         "bytes_per_flow=%.0f\n", n, got, before, after,
         got ? (double)(after - before) * 1024 / got : 0.0);
  for (int i = 0; i < n && fds; i++) close(fds[i]);
  free(fds);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s forward|flows|idle TARGET_PORT SINK_PORT ARG\n",
            argv[0]);
    return 2;
  }
  build_flight();
  int target = atoi(argv[2]);
  int sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in s = loopback(atoi(argv[3]));
  int big = 8 << 20;
  setsockopt(sfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct timeval tv = {0, 100000};
  setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind(sfd, (struct sockaddr *)&s, sizeof s) != 0) {
    perror("sink bind");
    return 1;
  }
  pthread_t th;
  pthread_create(&th, NULL, sink, &sfd);
  if (strcmp(argv[1], "forward") == 0)
    forward(target, atof(argv[4]));
  else if (strcmp(argv[1], "flows") == 0)
    new_flows(target, atof(argv[4]));
  else
    idle(target, atoi(argv[4]), strchr(argv[4], ',') ? atol(strchr(argv[4], ',') + 1) : 0);
  atomic_store(&g_stop, 1);
  pthread_join(th, NULL);
  close(sfd);
  return 0;
}
