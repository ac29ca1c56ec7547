/* PROXY protocol v1/v2 parsing and building of sniroute-proxy
 * (proxy/pp.c): the parser reads bytes from the network, so the
 * malformed and truncated cases matter as much as the good ones. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "file_util.h"
#include "json.h"
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

/* The specification's v1 grammar, exactly (issue 8, item 7). */
static void test_v1_strict(void **state) {
  (void)state;
  static const char *const no[] = {
      "PROXY TCP4 1.2.3.4 5.6.7.8 +80 443\r\n",  /* signed port */
      "PROXY TCP4 1.2.3.4 5.6.7.8 -0 443\r\n",   /* port -0 */
      "PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n",  /* leading zero */
      "PROXY TCP4 1.2.3.4 5.6.7.8 00 443\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 0x50 443\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n", /* trailing space */
      "PROXY TCP4 1.2.3.4  5.6.7.8 80 443\r\n", /* double space */
      "PROXY  TCP4 1.2.3.4 5.6.7.8 80 443\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 80 443 9\r\n", /* 7 fields */
      "PROXY TCP4 1.2.3.4 5.6.7.8 80\t443\r\n",
      "PROXY TCP4 01.2.3.4 5.6.7.8 80 443\r\n", /* octal-looking octet */
      "PROXY TCP4 1.2.3.4 5.6.7.256 80 443\r\n",
      "PROXY TCP4 1.2.3 5.6.7.8 80 443\r\n",
      "PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 80 443\r\n", /* wrong family */
      "PROXY TCP6 1.2.3.4 ::1 80 443\r\n",
      "PROXY TCP6 fe80::1%eth0 ::1 80 443\r\n", /* scope id */
      "PROXY TCP6 1::2::3 ::1 80 443\r\n",
      "PROXY tcp4 1.2.3.4 5.6.7.8 80 443\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n", /* bare LF */
      "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX\n",
      "PROXY UNKNOWNX\r\n",
      "PROXY \r\n",
  };
  px_addr s, d;
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    if (parse(no[i], &s, &d) != -1) fail_msg("accepted: %s", no[i]);
  /* A NUL byte inside the line (strings would stop there). */
  static const char nul[] = "PROXY TCP4 1.2.3.4 5.6.7.8 80 443\0junk\r\n";
  assert_int_equal(px_pp_parse((const uint8_t *)nul, sizeof nul - 1, &s, &d),
                   -1);
  static const char nul2[] = "PROXY TCP4 1.2.3.4 5.6.7.8 80 4\0" "43\r\n";
  assert_int_equal(px_pp_parse((const uint8_t *)nul2, sizeof nul2 - 1, &s, &d),
                   -1);
  /* The good ones: port 0 and 65535, both IPv6 spellings, UNKNOWN. */
  char b[80];
  const char *h = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h));
  str(&d, b);
  assert_string_equal(b, "255.255.255.255:65535");
  h = "PROXY TCP6 ::ffff:1.2.3.4 0001:DB8::1 1 2\r\n";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h));
  str(&d, b);
  assert_string_equal(b, "[1:db8::1]:2");
  h = "PROXY UNKNOWN\r\n";
  assert_int_equal(parse(h, &s, &d), (int)strlen(h));
  /* 107 bytes, CRLF included, is the limit. */
  char line[120];
  memset(line, 'x', sizeof line);
  memcpy(line, "PROXY UNKNOWN ", 14);
  memcpy(line + 105, "\r\n", 2);
  assert_int_equal(px_pp_parse((uint8_t *)line, 107, &s, &d), 107);
  memset(line, 'x', sizeof line);
  memcpy(line, "PROXY UNKNOWN ", 14);
  memcpy(line + 106, "\r\n", 2);
  assert_int_equal(px_pp_parse((uint8_t *)line, 108, &s, &d), -1);
  /* Up to 106 bytes without CRLF: wait; a CR at the end: wait for LF. */
  assert_int_equal(px_pp_parse((uint8_t *)line, 106, &s, &d), -1);
  assert_int_equal(px_pp_parse((uint8_t *)line, 105, &s, &d), 0);
  assert_int_equal(parse("PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r", &s, &d), 0);
}

/* A v2 header: signature, ver_cmd, fam, body. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam,
                 const uint8_t *body, size_t n) {
  static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  memcpy(out, sig, 12);
  out[12] = ver_cmd;
  out[13] = fam;
  out[14] = (uint8_t)(n >> 8);
  out[15] = (uint8_t)n;
  memcpy(out + 16, body, n);
  return 16 + n;
}

static void test_v2_strict(void **state) {
  (void)state;
  static uint8_t body[70000], out[70016];
  px_addr s, d;
  memset(body, 0, sizeof body);
  /* 127.0.0.1:1 -> 127.0.0.2:2, then TLVs. */
  const uint8_t a4[12] = {127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0, 2};
  memcpy(body, a4, 12);
  /* The whole length range: one NOOP TLV filling up to 65535 bytes. */
  size_t sizes[] = {12, 700, 4096, 65535};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t n = sizes[i];
    if (n > 12) {
      body[12] = 0x04;
      body[13] = (uint8_t)((n - 15) >> 8);
      body[14] = (uint8_t)(n - 15);
    }
    size_t len = v2(out, 0x21, 0x11, body, n);
    memset(&s, 0, sizeof s);
    assert_int_equal(px_pp_parse(out, len, &s, &d), (int)len);
    assert_int_equal(s.ss.ss_family, AF_INET);
    assert_int_equal(px_pp_parse(out, len - 1, &s, &d), 0);
  }
  /* Families and protocols: only the defined pairs. */
  static const uint8_t bad_fam[] = {0x01, 0x02, 0x10, 0x13, 0x20, 0x41, 0xF1};
  for (size_t i = 0; i < sizeof bad_fam; i++) {
    size_t len = v2(out, 0x21, bad_fam[i], body, 216);
    assert_int_equal(px_pp_parse(out, len, &s, &d), -1);
    /* rejected before the body arrives */
    assert_int_equal(px_pp_parse(out, 16, &s, &d), -1);
  }
  /* UDP, UNIX and UNSPEC keep the real peer (AF_UNSPEC). */
  static const uint8_t keep[] = {0x00, 0x12, 0x22, 0x31, 0x32};
  memset(body, 0, sizeof body);
  for (size_t i = 0; i < sizeof keep; i++) {
    size_t len = v2(out, 0x21, keep[i], body, 216);
    memset(&s, 0, sizeof s);
    assert_int_equal(px_pp_parse(out, len, &s, &d), (int)len);
    assert_int_equal(s.ss.ss_family, AF_UNSPEC);
  }
  /* Address blocks shorter than the family needs. */
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x21, body, 35), &s, &d), -1);
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x31, body, 215), &s, &d),
                   -1);
  /* LOCAL ignores the family byte and the body. */
  assert_int_equal(px_pp_parse(out, v2(out, 0x20, 0xFF, body, 3), &s, &d),
                   16 + 3);
  /* TLVs must tile the body: a truncated TLV head or value is refused. */
  memcpy(body, a4, 12);
  const uint8_t tlv_short[] = {0x04, 0x00, 0x05, 0, 0};
  memcpy(body + 12, tlv_short, sizeof tlv_short);
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x11, body, 17), &s, &d), -1);
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x11, body, 14), &s, &d), -1);
  /* CRC32C: a wrong value, and one of the wrong size, are refused. */
  const uint8_t crc_tlv[] = {0x03, 0x00, 0x04, 0, 0, 0, 0};
  memcpy(body + 12, crc_tlv, sizeof crc_tlv);
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x11, body, 19), &s, &d), -1);
  body[14] = 3;
  assert_int_equal(px_pp_parse(out, v2(out, 0x21, 0x11, body, 18), &s, &d), -1);
}

/* Round trip with the builder: v1 and v2 of the same endpoints parse back
 * to them. */
static void test_build_round_trip(void **state) {
  (void)state;
  static const char *const ips[][2] = {{"192.0.2.1", "198.51.100.2"},
                                       {"2001:db8::1", "::1"},
                                       {"0.0.0.0", "255.255.255.255"}};
  uint8_t out[600];
  for (size_t i = 0; i < sizeof ips / sizeof *ips; i++) {
    px_addr s, d, ps, pd;
    if (strchr(ips[i][0], ':')) {
      v6(&s, ips[i][0], 0);
      v6(&d, ips[i][1], 65535);
    } else {
      v4(&s, ips[i][0], 0);
      v4(&d, ips[i][1], 65535);
    }
    for (int ver = 1; ver <= 2; ver++) {
      int n = px_pp_build(ver, &s, &d, "a.test", out, sizeof out);
      assert_true(n > 0);
      assert_int_equal(px_pp_parse(out, (size_t)n, &ps, &pd), n);
      assert_int_equal(ps.len, s.len);
      assert_memory_equal(&ps.ss, &s.ss, s.len);
      assert_memory_equal(&pd.ss, &d.ss, d.len);
    }
  }
}

/* The builder's checksum (PP2_TYPE_CRC32C, appended last): the header
 * parses back, and any byte changed anywhere in it, the checksum itself
 * included, makes the parser refuse it. */
static void test_v2_crc32c_out(void **state) {
  (void)state;
  static const uint8_t check[] = "123456789";
  assert_int_equal(px_crc32c(check, 9), 0xE3069283u); /* RFC 3720 B.4 */
  px_addr s, d, ps, pd;
  v4(&s, "192.0.2.1", 40000);
  v4(&d, "198.51.100.2", 443);
  uint8_t h[512];
  int n = px_pp_build(2, &s, &d, "www.example.test", h, sizeof h);
  assert_true(n > 0);
  const uint8_t id[] = "0123456789abcdef";
  n = px_pp_v2_add_tlv(h, (size_t)n, sizeof h, PX_PP2_TYPE_UNIQUE_ID, id, 16);
  assert_true(n > 0);
  int with_crc = px_pp_v2_add_crc32c(h, (size_t)n, sizeof h);
  assert_int_equal(with_crc, n + 7);
  assert_int_equal(px_pp_parse(h, (size_t)with_crc, &ps, &pd), with_crc);
  for (int k = PX_PP_V2_FIXED; k < with_crc; k++) {
    /* The checksum TLV's own type byte: changed, there is no checksum to
     * verify (as the specification has it). */
    if (k == n) continue;
    h[k] ^= 0x01;
    /* A changed TLV length leaves TLVs that do not tile the header: it
     * must not parse as this header either. */
    assert_int_not_equal(px_pp_parse(h, (size_t)with_crc, &ps, &pd), with_crc);
    h[k] ^= 0x01;
  }
  /* No room for the TLV: refused, the header untouched. */
  assert_int_equal(px_pp_v2_add_crc32c(h, (size_t)n, (size_t)n + 6), -1);
}

static void test_tlv_list(void **state) {
  (void)state;
  unsigned m = 0;
  assert_int_equal(px_pp_tlv_parse("authority,unique_id,crc32c,ja4", &m), 0);
  assert_int_equal(m, PX_PP_TLV_AUTHORITY | PX_PP_TLV_UNIQUE_ID |
                          PX_PP_TLV_CRC32C | PX_PP_TLV_JA4);
  assert_int_equal(px_pp_tlv_parse("crc32c", &m), 0);
  assert_int_equal(m, PX_PP_TLV_CRC32C);
  const char *bad[] = {"", ",", "crc32c,", ",ja4", "ja4,ja4", "JA4",
                       "authority unique_id", "ssl", "crc32"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    m = 77;
    assert_int_equal(px_pp_tlv_parse(bad[i], &m), -1);
    assert_int_equal(m, 77);
  }
}

/* Third-party vectors (real balancers' headers, with TLVs and CRC32C),
 * read from outside the repository when present. */
static const char *vectors_path;

static void hex_bytes(const char *hex, uint8_t *out, size_t *n) {
  *n = 0;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    unsigned v;
    assert_int_equal(sscanf(hex + i, "%2x", &v), 1);
    out[(*n)++] = (uint8_t)v;
  }
}

static void same_endpoint(const px_addr *got, const char *want) {
  px_addr w;
  assert_int_equal(px_parse_addr_ex(want, PX_ADDR_NUMERIC, &w), 0);
  assert_int_equal(got->len, w.len);
  assert_memory_equal(&got->ss, &w.ss, w.len);
}

static void test_v2_vectors(void **state) {
  (void)state;
  size_t tl = 0;
  uint8_t *text = vectors_path ? sni_file_load(vectors_path, SIZE_MAX, &tl) : NULL;
  if (!text) skip(); /* not part of the repository */
  json_value root;
  char err[200];
  assert_int_equal(json_parse((const char *)text, tl, &root, err, sizeof err), 0);
  free(text);
  const json_value *vs = json_get(&root, "vectors");
  assert_non_null(vs);
  assert_true(vs->n >= 7);
  /* The file's own check value for the CRC32C it used. */
  const json_value *cv = json_get(&root, "crc32c_check_value");
  assert_non_null(cv);
  const char *in = json_get(cv, "input")->str;
  char got[16];
  snprintf(got, sizeof got, "%08x",
           (unsigned)px_crc32c((const uint8_t *)in, strlen(in)));
  assert_string_equal(got, json_get(cv, "crc32c")->str);
  for (size_t i = 0; i < vs->n; i++) {
    const json_value *v = &vs->items[i];
    uint8_t h[1024];
    size_t n;
    hex_bytes(json_get(v, "hex")->str, h, &n);
    px_addr s, d;
    assert_int_equal(px_pp_parse(h, n, &s, &d), (int)n);
    assert_int_equal((long long)n - 16, json_get(v, "len")->integer);
    same_endpoint(&s, json_get(v, "src")->str);
    same_endpoint(&d, json_get(v, "dst")->str);
    /* Any bit flipped in the addresses, or in a CRC32C value, breaks the
     * checksum the vector carries. */
    const json_value *tlvs = json_get(v, "tlvs");
    int has_crc = 0;
    for (size_t t = 0; t < tlvs->n; t++)
      has_crc |= strcmp(json_get(&tlvs->items[t], "type")->str, "0x03") == 0;
    for (size_t k = 16; has_crc && k < 28; k++) {
      h[k] ^= 0x10;
      assert_int_equal(px_pp_parse(h, n, &s, &d), -1);
      h[k] ^= 0x10;
    }
  }
  json_free(&root);
}

int main(int argc, char **argv) {
  vectors_path = argc > 1 ? argv[1] : NULL;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_v1),
      cmocka_unit_test(test_v2),
      cmocka_unit_test(test_v1_build),
      cmocka_unit_test(test_v1_strict),
      cmocka_unit_test(test_v2_strict),
      cmocka_unit_test(test_build_round_trip),
      cmocka_unit_test(test_v2_vectors),
      cmocka_unit_test(test_v2_crc32c_out),
      cmocka_unit_test(test_tlv_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
