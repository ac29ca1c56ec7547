/* sni_peek(): real loopback TCP sockets (and a UNIX socketpair for the
 * path where SO_RCVLOWAT does not help), real ClientHellos from
 * tests/vectors. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "file_util.h"
#include "sniroute.h"

static uint8_t *load_vector(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/hello.bin", SNI_TEST_DATA, name);
  uint8_t *copy = sni_file_load(path, SIZE_MAX, len);
  assert_non_null(copy);
  assert_true(*len > 0);
  return copy;
}

/* A connected loopback TCP pair: *client writes, *server is peeked. */
static void tcp_pair(int *client, int *server) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(l >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(l, 1), 0);
  socklen_t al = sizeof a;
  assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
  *client = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(*client >= 0);
  assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof a), 0);
  int one = 1;
  setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  *server = accept(l, NULL, NULL);
  assert_true(*server >= 0);
  close(l);
}

static void send_all(int fd, const void *b, size_t n) {
  const uint8_t *p = b;
  while (n > 0) {
    long w = (long)send(fd, p, n, 0);
    assert_true(w > 0);
    p += w;
    n -= (size_t)w;
  }
}

/* Peeked bytes must still be in the queue, in order. */
static void assert_unconsumed(int fd, const uint8_t *want, size_t n) {
  uint8_t *got = malloc(n);
  size_t have = 0;
  while (have < n) {
    long r = (long)recv(fd, got + have, n - have, 0);
    assert_true(r > 0);
    have += (size_t)r;
  }
  assert_memory_equal(got, want, n);
  free(got);
}

static void sleep_us(unsigned us) {
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static uint8_t buf[65536];

static void test_complete_hello(void **state) {
  (void)state;
  const char *cases[] = {"001-openssl-default", "060-chromium-tcp",
                         "070-synthetic-chromium-rechunk100"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t len;
    uint8_t *h = load_vector(cases[i], &len);
    sni_hello ref, got;
    int want = sni_parse(&ref, h, len);
    assert_true(want > 0);
    int c, s;
    tcp_pair(&c, &s);
    send_all(c, h, len);
    send_all(c, "tail", 4); /* bytes after the hello are not the hello */
    int r = SNI_EAGAIN;
    for (int k = 0; k < 200 && r == SNI_EAGAIN; k++) {
      r = sni_peek(s, buf, sizeof buf, &got);
      if (r == SNI_EAGAIN) sleep_us(1000);
    }
    assert_int_equal(r, want);
    assert_memory_equal(&got, &ref, sizeof ref);
    /* A second peek sees the same thing: nothing was consumed. */
    assert_int_equal(sni_peek(s, buf, sizeof buf, &got), want);
    assert_unconsumed(s, h, len);
    close(c);
    close(s);
    free(h);
  }
}

/* A peek that asks for a routing-only parse (SNI_PARSE_ROUTING_ONLY in the
 * limits) answers the same and fills what routing needs; the lists it
 * does not need stay empty. */
static void test_routing_only_peek(void **state) {
  (void)state;
  size_t len;
  uint8_t *h = load_vector("060-chromium-tcp", &len);
  sni_hello ref, got;
  int want = sni_parse(&ref, h, len);
  assert_true(want > 0 && ref.n_ciphers > 0 && ref.n_alpn > 0);
  int c, s;
  tcp_pair(&c, &s);
  send_all(c, h, len);
  const sni_limits ro = {0, 0, SNI_PARSE_ROUTING_ONLY};
  int r = SNI_EAGAIN;
  size_t peeked = 0, need = 0;
  for (int k = 0; k < 200 && r == SNI_EAGAIN; k++) {
    r = sni_peek_ex(s, buf, sizeof buf, &got, &ro, &peeked, &need);
    if (r == SNI_EAGAIN) sleep_us(1000);
  }
  assert_int_equal(r, want);
  assert_int_equal(peeked, len);
  assert_int_equal(got.sni_len, ref.sni_len);
  assert_memory_equal(got.sni_normalized, ref.sni_normalized, ref.sni_len);
  assert_int_equal(got.alpn_len, ref.alpn_len);
  assert_memory_equal(got.alpn, ref.alpn, ref.alpn_len);
  assert_int_equal(got.max_version, ref.max_version);
  assert_int_equal(got.ech, ref.ech);
  assert_int_equal(got.n_ciphers, 0);
  assert_int_equal(got.n_groups, 0);
  assert_unconsumed(s, h, len);
  close(c);
  close(s);
  free(h);
}

static void test_partial_then_eof(void **state) {
  (void)state;
  size_t len;
  uint8_t *h = load_vector("001-openssl-default", &len);
  int c, s;
  tcp_pair(&c, &s);
  sni_hello out;
  size_t peeked = 99, need = 99;
  /* Nothing sent yet. */
  assert_int_equal(sni_peek_ex(s, buf, sizeof buf, &out, NULL, &peeked, &need),
                   SNI_EAGAIN);
  assert_int_equal(peeked, 0);
  assert_true(need >= 1);
  send_all(c, h, 100);
  sleep_us(20000);
  assert_int_equal(sni_peek_ex(s, buf, sizeof buf, &out, NULL, &peeked, &need),
                   SNI_EAGAIN);
  assert_int_equal(peeked, 100);
  /* The record header is known: exactly the rest of the record is needed. */
  assert_int_equal(need, len - 100);
  /* Half-close after a partial hello: recv(MSG_PEEK) still returns the
   * 100 bytes, yet sni_peek must say EOF. */
  shutdown(c, SHUT_WR);
  sleep_us(20000);
  assert_int_equal(sni_peek(s, buf, sizeof buf, &out), SNI_EOF);
  close(c);
  close(s);

  /* Closed with nothing sent. */
  tcp_pair(&c, &s);
  close(c);
  sleep_us(20000);
  assert_int_equal(sni_peek(s, buf, sizeof buf, &out), SNI_EOF);
  close(s);
  free(h);
}

static void test_errors(void **state) {
  (void)state;
  sni_hello out;
  int c, s;
  tcp_pair(&c, &s);
  assert_int_equal(sni_peek(s, NULL, 10, &out), SNI_EINVAL);
  assert_int_equal(sni_peek(s, buf, 0, &out), SNI_EINVAL);
  assert_int_equal(sni_peek(s, buf, sizeof buf, NULL), SNI_EINVAL);
  sni_limits bad = {.flags = 0x80000000u}; /* no such flag */
  assert_int_equal(sni_peek_ex(s, buf, sizeof buf, &out, &bad, NULL, NULL),
                   SNI_EINVAL);

  /* Not TLS. */
  send_all(c, "GET / HTTP/1.1\r\n", 16);
  sleep_us(20000);
  assert_int_equal(sni_peek(s, buf, sizeof buf, &out), SNI_ENOTTLS);
  close(c);
  close(s);

  /* A buffer too small for the hello. */
  size_t len;
  uint8_t *h = load_vector("001-openssl-default", &len);
  tcp_pair(&c, &s);
  send_all(c, h, len);
  sleep_us(20000);
  assert_int_equal(sni_peek(s, buf, 64, &out), SNI_ENOSPC);
  /* Limits are passed to the parser. */
  sni_limits small = {.max_hello_len = 64};
  assert_int_equal(sni_peek_ex(s, buf, sizeof buf, &out, &small, NULL, NULL),
                   SNI_E2BIG);
  close(c);
  close(s);
  free(h);

  /* Bad descriptors keep errno. */
  errno = 0;
  assert_int_equal(sni_peek(-1, buf, sizeof buf, &out), SNI_ESYS);
  assert_int_equal(errno, EBADF);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  errno = 0;
  assert_int_equal(sni_peek(fds[0], buf, sizeof buf, &out), SNI_ESYS);
  assert_int_equal(errno, ENOTSOCK);
  close(fds[0]);
  close(fds[1]);
}

struct trickle {
  int fd;
  const uint8_t *data;
  size_t len, step;
  unsigned pause_us;
};

static void *trickler(void *arg) {
  struct trickle *t = arg;
  for (size_t off = 0; off < t->len; off += t->step) {
    size_t n = t->len - off < t->step ? t->len - off : t->step;
    send_all(t->fd, t->data + off, n);
    sleep_us(t->pause_us);
  }
  return NULL;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void trickle_wait(int c, int s, const char *vec, size_t step,
                         unsigned pause_us) {
  size_t len;
  uint8_t *h = load_vector(vec, &len);
  sni_hello ref, got;
  int want = sni_parse(&ref, h, len);
  assert_true(want > 0);
  struct trickle t = {c, h, len, step, pause_us};
  pthread_t th;
  double cpu0 = cpu_seconds();
  assert_int_equal(pthread_create(&th, NULL, trickler, &t), 0);
  int r = sni_peek_wait(s, buf, sizeof buf, &got, 20000);
  double cpu = cpu_seconds() - cpu0;
  pthread_join(th, NULL);
  assert_int_equal(r, want);
  assert_string_equal(got.sni, ref.sni);
  /* The wait slept: the hello took >= 0.2 s to arrive and a spinning loop
   * would burn about as much CPU as wall time. */
  assert_true(cpu < 0.05);
  assert_unconsumed(s, h, len);
  free(h);
}

static void test_wait_trickle_tcp(void **state) {
  (void)state;
  int c, s;
  tcp_pair(&c, &s);
  trickle_wait(c, s, "001-openssl-default", 13, 10000);
  /* SO_RCVLOWAT is restored. */
  int v = 0;
  socklen_t sl = sizeof v;
  assert_int_equal(getsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, &sl), 0);
  assert_int_equal(v, 1);
  close(c);
  close(s);
}

static void test_wait_trickle_unix(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  trickle_wait(sv[0], sv[1], "070-synthetic-chromium-rechunk100", 150, 20000);
  close(sv[0]);
  close(sv[1]);
}

static void test_wait_timeout(void **state) {
  (void)state;
  size_t len;
  uint8_t *h = load_vector("001-openssl-default", &len);
  int c, s;
  tcp_pair(&c, &s);
  sni_hello out;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(sni_peek_wait(s, buf, sizeof buf, &out, 100), SNI_ETIMEDOUT);
  send_all(c, h, 50);
  assert_int_equal(sni_peek_wait(s, buf, sizeof buf, &out, 100), SNI_ETIMEDOUT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double el = (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(el >= 0.19 && el < 2.0);
  int v = 0;
  socklen_t sl = sizeof v;
  assert_int_equal(getsockopt(s, SOL_SOCKET, SO_RCVLOWAT, &v, &sl), 0);
  assert_int_equal(v, 1);
  /* Zero timeout: one peek, still incomplete. */
  assert_int_equal(sni_peek_wait(s, buf, sizeof buf, &out, 0), SNI_ETIMEDOUT);
  /* The rest arrives; an unbounded wait completes. */
  send_all(c, h + 50, len - 50);
  assert_int_equal(sni_peek_wait(s, buf, sizeof buf, &out, -1), (int)len);
  /* Peer gone mid-hello: EOF, not a timeout. */
  close(c);
  close(s);
  tcp_pair(&c, &s);
  send_all(c, h, 30);
  shutdown(c, SHUT_WR);
  assert_int_equal(sni_peek_wait(s, buf, sizeof buf, &out, 5000), SNI_EOF);
  close(c);
  close(s);
  free(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_complete_hello),
      cmocka_unit_test(test_routing_only_peek),
      cmocka_unit_test(test_partial_then_eof),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_wait_trickle_tcp),
      cmocka_unit_test(test_wait_trickle_unix),
      cmocka_unit_test(test_wait_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
