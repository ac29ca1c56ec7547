/* PROXY protocol v1/v2 parsing and building of sniroute-proxy
 * (proxy/pp.c): the parser reads bytes from the network, so the
 * malformed and truncated cases matter as much as the good ones. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/pp.h"

static void v4(px_addr *a, const char *ip, unsigned port) {
  struct sockaddr_in *s = (struct sockaddr_in *)&a->ss;
  memset(a, 0, sizeof *a);
  s->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &s->sin_addr);
  s->sin_port = htons((uint16_t)port);
  a->len = sizeof *s;
}

static void v6(px_addr *a, const char *ip, unsigned port) {
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)&a->ss;
  memset(a, 0, sizeof *a);
  s->sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &s->sin6_addr);
  s->sin6_port = htons((uint16_t)port);
  a->len = sizeof *s;
}

static void str(const px_addr *a, char *buf) { px_addr_str(a, buf, 80); }

static int parse(const char *s, px_addr *src, px_addr *dst) {
  memset(src, 0, sizeof *src);
  memset(dst, 0, sizeof *dst);
  return px_pp_parse((const uint8_t *)s, strlen(s), src, dst);
}

static void test_v1(void **state) {
  (void)state;
  px_addr s, d;
  char b[80];
  const char *h = "PROXY TCP4 203.0.113.9 10.0.0.1 40000 443\r\n\x16\x03\x01";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h) - 3);
  str(&s, b);
  assert_string_equal(b, "203.0.113.9:40000");
  str(&d, b);
  assert_string_equal(b, "10.0.0.1:443");

  h = "PROXY TCP6 2001:db8::1 ::1 5 6\r\n";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h));
  str(&s, b);
  assert_string_equal(b, "[2001:db8::1]:5");

  /* UNKNOWN: header consumed, addresses left unset. */
  h = "PROXY UNKNOWN whatever\r\n";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h));
  assert_int_equal(s.ss.ss_family, AF_UNSPEC);

  /* Prefixes wait for more bytes. */
  assert_int_equal(parse("PRO", &s, &d), 0);
  assert_int_equal(parse("PROXY TCP4 1.2.3.4", &s, &d), 0);

  /* Malformed. */
  assert_int_equal(parse("GET / HTTP/1.1\r\n", &s, &d), -1);
  assert_int_equal(parse("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", &s, &d), -1);
  assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 70000\r\n", &s, &d), -1);
  assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", &s, &d), -1);
  assert_int_equal(parse("PROXY TCP4 ::1 ::1 1 2\r\n", &s, &d), -1);
  assert_int_equal(parse("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", &s, &d), -1);
  char longline[200];
  memset(longline, 'x', sizeof longline - 1);
  memcpy(longline, "PROXY ", 6);
  longline[sizeof longline - 1] = 0;
  assert_int_equal(parse(longline, &s, &d), -1); /* no CRLF in 107 bytes */
}

static void test_v2(void **state) {
  (void)state;
  px_addr s, d, ps, pd;
  char b[80];
  uint8_t out[600];
  v4(&s, "198.51.100.4", 40001);
  v4(&d, "127.0.0.1", 443);
  int n = px_pp_build(2, &s, &d, "www.example.test", out, sizeof out);
  assert_int_equal(n, 16 + 12 + 3 + 16);
  assert_int_equal(out[12], 0x21);
  assert_int_equal(out[13], 0x11);
  assert_int_equal(out[28], 0x02); /* AUTHORITY TLV */
  assert_memory_equal(out + 31, "www.example.test", 16);
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), n);
  str(&ps, b);
  assert_string_equal(b, "198.51.100.4:40001");
  str(&pd, b);
  assert_string_equal(b, "127.0.0.1:443");
  /* Every strict prefix asks for more. */
  for (int k = 0; k < n; k++) {
    memset(&ps, 0, sizeof ps);
    assert_int_equal(px_pp_parse(out, (size_t)k, &ps, &pd), 0);
  }
  /* Wrong version nibble, bad command. */
  out[12] = 0x11;
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), -1);
  out[12] = 0x25;
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), -1);
  /* LOCAL: consumed, addresses untouched. */
  out[12] = 0x20;
  memset(&ps, 0, sizeof ps);
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), n);
  assert_int_equal(ps.ss.ss_family, AF_UNSPEC);
  /* An address block shorter than its family needs. */
  out[12] = 0x21;
  out[14] = 0;
  out[15] = 4;
  assert_int_equal(px_pp_parse(out, 20, &ps, &pd), -1);

  /* IPv6, and a v4 client reaching a v6 listener: both as v6. */
  v6(&s, "2001:db8::7", 1);
  v6(&d, "::1", 2);
  n = px_pp_build(2, &s, &d, NULL, out, sizeof out);
  assert_int_equal(n, 16 + 36);
  assert_int_equal(out[13], 0x21);
  v4(&s, "192.0.2.1", 3);
  n = px_pp_build(2, &s, &d, "", out, sizeof out);
  assert_int_equal(out[13], 0x21);
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), n);
  str(&ps, b);
  assert_string_equal(b, "[::ffff:192.0.2.1]:3");
  /* v4-mapped addresses on both ends become plain v4. */
  v6(&s, "::ffff:192.0.2.1", 3);
  v6(&d, "::ffff:192.0.2.2", 4);
  n = px_pp_build(2, &s, &d, NULL, out, sizeof out);
  assert_int_equal(out[13], 0x11);
  /* Too small an output buffer. */
  assert_int_equal(px_pp_build(2, &s, &d, "x", out, 20), -1);
}

static void test_v1_build(void **state) {
  (void)state;
  px_addr s, d, ps, pd;
  uint8_t out[300];
  v4(&s, "192.0.2.1", 1234);
  v4(&d, "192.0.2.2", 443);
  int n = px_pp_build(1, &s, &d, "ignored", out, sizeof out);
  assert_true(n > 0);
  out[n] = 0;
  assert_string_equal((char *)out, "PROXY TCP4 192.0.2.1 192.0.2.2 1234 443\r\n");
  assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), n);
  memset(&s, 0, sizeof s);
  n = px_pp_build(1, &s, &d, NULL, out, sizeof out);
  out[n] = 0;
  assert_string_equal((char *)out, "PROXY UNKNOWN\r\n");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1),
      cmocka_unit_test(test_v2),
      cmocka_unit_test(test_v1_build),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
