/* sni_handoff_*: descriptors pass with their message, malformed and
 * oversized messages are refused without leaking descriptors, and the
 * registration handshake works over a real socket path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "sniroute.h"

static int pair(int sv[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv); }

/* Whether fd is open, without disturbing it. */
static int is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void test_send_recv(void **state) {
  (void)state;
  int sv[2], p[2];
  assert_int_equal(pair(sv), 0);
  assert_int_equal(pipe(p), 0);
  assert_int_equal(sni_handoff_send(sv[0], p[1], "www.a.test", 10), 0);
  assert_int_equal(sni_handoff_send(sv[0], p[1], NULL, 0), 0);
  close(p[1]);

  char msg[SNI_HANDOFF_MAX_MSG];
  int fd = -2;
  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), 10);
  assert_memory_equal(msg, "www.a.test", 10);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  assert_int_equal(write(fd, "x", 1), 1); /* the very pipe we sent */
  char c;
  assert_int_equal(read(p[0], &c, 1), 1);
  assert_int_equal(c, 'x');
  close(fd);

  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), 0);
  close(fd);
  close(sv[0]);
  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), SNI_EOF);
  assert_int_equal(fd, -1);
  close(sv[1]);
  close(p[0]);
}

static void test_refusals(void **state) {
  (void)state;
  int sv[2], p[2];
  assert_int_equal(pair(sv), 0);
  assert_int_equal(pipe(p), 0);
  char msg[8];
  int fd;

  /* Longer than cap: refused, and the descriptor that came with it closed
   * (the next descriptor number is free again). */
  assert_int_equal(sni_handoff_send(sv[0], p[1], "0123456789", 10), 0);
  int probe = dup(0);
  close(probe);
  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), SNI_ENOSPC);
  assert_int_equal(fd, -1);
  assert_false(is_open(probe));

  /* No descriptor, or a foreign message: EBADMSG. */
  assert_int_equal(send(sv[0], "Hx", 2, 0), 2);
  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), SNI_EBADMSG);

  /* Non-blocking, nothing queued. */
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  assert_int_equal(sni_handoff_recv(sv[1], &fd, msg, sizeof msg), SNI_EAGAIN);

  assert_int_equal(sni_handoff_send(sv[0], -1, NULL, 0), SNI_EINVAL);
  assert_int_equal(sni_handoff_send(sv[0], p[1], NULL, 1), SNI_EINVAL);
  assert_int_equal(sni_handoff_send(sv[0], p[1], msg, SNI_HANDOFF_MAX_MSG + 1),
                   SNI_EINVAL);
  assert_int_equal(sni_handoff_recv(sv[1], NULL, msg, sizeof msg), SNI_EINVAL);

  /* Peer gone: EPIPE, no SIGPIPE. */
  close(sv[1]);
  assert_int_equal(sni_handoff_send(sv[0], p[1], "a", 1), SNI_ESYS);
  assert_int_equal(errno, EPIPE);
  close(sv[0]);
  close(p[0]);
  close(p[1]);
}

static void test_register(void **state) {
  (void)state;
  char dir[] = "/tmp/sni-handoff-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/ctl", dir);

  assert_true(sni_handoff_register(path, "echo") == SNI_ESYS); /* none yet */
  int l = sni_handoff_listen(path, 4);
  assert_true(l >= 0);
  /* A second dispatcher must not steal a live socket. */
  assert_int_equal(sni_handoff_listen(path, 4), SNI_ESYS);
  assert_int_equal(errno, EADDRINUSE);

  /* The live check was a connection: the live one sees it end unregistered. */
  char name[SNI_HANDOFF_MAX_NAME + 1];
  assert_int_equal(sni_handoff_accept(l, name, sizeof name, 1000), SNI_EOF);

  int srv = sni_handoff_register(path, "echo");
  assert_true(srv >= 0);
  int ch = sni_handoff_accept(l, name, sizeof name, 1000);
  assert_true(ch >= 0);
  assert_string_equal(name, "echo");

  /* Name too long for the caller's buffer. */
  int srv2 = sni_handoff_register(path, "a-longer-name");
  assert_int_equal(sni_handoff_accept(l, name, 5, 1000), SNI_ENOSPC);
  close(srv2);

  /* A connector that never registers times out. */
  int s3 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(connect(s3, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(sni_handoff_accept(l, name, sizeof name, 50), SNI_ETIMEDOUT);
  close(s3);

  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(sni_handoff_send(ch, p[0], "hi", 2), 0);
  char msg[16];
  int fd;
  assert_int_equal(sni_handoff_recv(srv, &fd, msg, sizeof msg), 2);
  close(fd);

  /* A stale socket file (dead dispatcher) is replaced. */
  close(l);
  close(ch);
  close(srv);
  l = sni_handoff_listen(path, 4);
  assert_true(l >= 0);
  close(l);

  assert_int_equal(sni_handoff_register(path, ""), SNI_EINVAL);
  assert_int_equal(sni_handoff_listen(NULL, 1), SNI_EINVAL);
  close(p[0]);
  close(p[1]);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_send_recv),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_register),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
