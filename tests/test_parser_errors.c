/* Hand-built inputs for every strictness rule of the parser (see "Parsing"
 * in sniroute.h), the API's argument checks, and the error tables.  Every
 * synthetic hello is also fed byte by byte and must give the same answer:
 * the rules are about bytes, not chunking. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parser_util.h"
#include "sniroute.h"

/* ---- helpers ------------------------------------------------------------ */

/* One-shot on an exact-size copy, cross-checked against a byte-by-byte
 * feed: same code, and on success the same hello and in-chunk count. */
static int parse_both(const uint8_t *w, size_t n, sni_hello *h,
                      const sni_limits *lim) {
  int rc = parse_copy(h, w, n, lim);
  sni_hello h2;
  size_t at = 0;
  int rc2 = feed_bytewise(&h2, w, n, lim, &at);
  if (rc > 0) {
    if (rc2 != 1 || at + 1 != (size_t)rc)
      fail_msg("one-shot completed at %d, byte by byte returned %d at byte %zu",
               rc, rc2, at);
    if (memcmp(h, &h2, sizeof h2) != 0)
      fail_msg("byte-by-byte hello differs from the one-shot hello");
  } else if (rc2 != rc) {
    fail_msg("one-shot returned %s, byte by byte %s", sni_errname(rc),
             sni_errname(rc2));
  }
  return rc;
}

static int parse_buf(const buf *w, sni_hello *h) {
  return parse_both(w->p, w->n, h, NULL);
}

/* A default TLS 1.3-style hello around the given extensions. */
static int parse_exts(const buf *exts, sni_hello *h) {
  hello_spec s = {0};
  s.exts = exts;
  buf w = {0};
  build_wire(&w, &s);
  int rc = parse_buf(&w, h);
  if (rc > 0) assert_int_equal(rc, w.n);
  b_free(&w);
  return rc;
}

static int parse_spec(const hello_spec *s, sni_hello *h) {
  buf w = {0};
  build_wire(&w, s);
  int rc = parse_buf(&w, h);
  if (rc > 0) assert_int_equal(rc, w.n);
  b_free(&w);
  return rc;
}

static int parse_bytes(const char *bytes, size_t n) {
  sni_hello h;
  return parse_both((const uint8_t *)bytes, n, &h, NULL);
}

/* The extensions of a plausible modern client, for cases that add one
 * more. */
static void modern_exts(buf *e) {
  static const uint16_t versions[] = {0x0304, 0x0303};
  static const uint16_t groups[] = {29, 23};
  static const uint16_t sigalgs[] = {0x0403, 0x0804};
  ext_sni(e, "example.com");
  ext_u16list(e, 43, 1, versions, 2);
  ext_u16list(e, 10, 2, groups, 2);
  ext_u16list(e, 13, 2, sigalgs, 2);
}

/* ---- error tables and version ------------------------------------------ */

static void test_error_strings(void **state) {
  (void)state;
  struct {
    int code;
    const char *name, *msg;
  } const table[] = {
#define ROW(name, val, msg) {val, #name, msg},
      SNI_ERRNO_MAP(ROW)
#undef ROW
  };
  size_t n = sizeof table / sizeof *table;
  assert_true(n >= 14);
  for (size_t i = 0; i < n; i++) {
    assert_true(table[i].code < 0);
    assert_string_equal(sni_errname(table[i].code), table[i].name);
    assert_string_equal(sni_strerror(table[i].code), table[i].msg);
    for (size_t j = 0; j < i; j++) assert_int_not_equal(table[i].code, table[j].code);
  }
  assert_int_equal(SNI_EAGAIN, -1);
  assert_int_equal(SNI_ENOENT, -14);
  assert_string_equal(sni_errname(0), "ok");
  assert_string_equal(sni_errname(1234), "ok");
  assert_string_equal(sni_strerror(0), "success");
  assert_string_equal(sni_strerror(77), "success");
  /* Far from the table, which grows downwards. */
  const int unknown[] = {-1000, -100000, INT_MIN};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(sni_errname(unknown[i]), "EUNKNOWN");
    assert_string_equal(sni_strerror(unknown[i]), "unknown error");
  }
}

static void test_version(void **state) {
  (void)state;
  assert_int_equal(sni_version(), SNI_VERSION_NUM);
  assert_int_equal(SNI_VERSION_NUM, (SNI_VERSION_MAJOR << 16) |
                                        (SNI_VERSION_MINOR << 8) |
                                        SNI_VERSION_PATCH);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", SNI_VERSION_MAJOR,
           SNI_VERSION_MINOR, SNI_VERSION_PATCH);
  assert_non_null(sni_version_string());
  assert_string_equal(sni_version_string(), want);
}

static void test_is_grease(void **state) {
  (void)state;
  unsigned count = 0;
  for (unsigned v = 0; v <= 0xffff; v++) {
    int want = (v & 0x0f0f) == 0x0a0a && (v >> 12) == ((v >> 4) & 0xf);
    assert_int_equal(sni_is_grease((uint16_t)v), want);
    count += (unsigned)want;
  }
  assert_int_equal(count, 16);
  assert_true(sni_is_grease(0x0a0a) && sni_is_grease(0xfafa));
  assert_false(sni_is_grease(0x0a1a) || sni_is_grease(0x0b0b));
}

/* ---- API arguments ------------------------------------------------------ */

static void test_null_arguments(void **state) {
  (void)state;
  sni_hello h;
  sni_parser p;
  const uint8_t one = 0x16;
  assert_int_equal(sni_parse(NULL, &one, 1), SNI_EINVAL);
  assert_int_equal(sni_parse(&h, NULL, 1), SNI_EINVAL);
  assert_int_equal(sni_parse(&h, NULL, 0), SNI_EAGAIN);
  assert_int_equal(sni_parse_ex(NULL, &one, 1, NULL), SNI_EINVAL);
  assert_int_equal(sni_parse_ex(&h, NULL, 5, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_init(NULL, &h, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_init(&p, NULL, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_feed(NULL, &one, 1), SNI_EINVAL);
  assert_int_equal(sni_parser_need(NULL), 0);
  assert_int_equal(sni_parser_status(NULL), SNI_EINVAL);

  /* NULL chunk with bytes is refused without poisoning the parse. */
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, NULL, 3), SNI_EINVAL);
  assert_int_equal(sni_parser_status(&p), SNI_EAGAIN);
  assert_int_equal(sni_parser_feed(&p, NULL, 0), SNI_EAGAIN);
  buf e = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_wire(&w, &s);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n), (int)w.n);
  b_free(&w);
  b_free(&e);

  /* A parser that was never initialised is refused, not dereferenced. */
  sni_parser zero;
  memset(&zero, 0, sizeof zero);
  assert_int_equal(sni_parser_feed(&zero, &one, 1), SNI_EINVAL);
  assert_int_equal(sni_parser_need(&zero), 0);

  const uint8_t *name = NULL;
  size_t len = 0;
  memset(&h, 0, sizeof h);
  assert_int_equal(sni_alpn_get(NULL, 0, &name, &len), SNI_EINVAL);
  assert_int_equal(sni_alpn_get(&h, 0, NULL, &len), SNI_EINVAL);
  assert_int_equal(sni_alpn_get(&h, 0, &name, NULL), SNI_EINVAL);
  assert_int_equal(sni_alpn_get(&h, 0, &name, &len), SNI_ENOENT);
}

static void test_limits_validation(void **state) {
  (void)state;
  sni_hello h;
  sni_parser p;
  const uint8_t rec[] = {0x16, 0x03, 0x01};
  sni_limits l = {0};
  l.flags = 0x80000000u; /* no such flag */
  assert_int_equal(sni_parse_ex(&h, rec, sizeof rec, &l), SNI_EINVAL);
  assert_int_equal(sni_parser_init(&p, &h, &l), SNI_EINVAL);
  l.flags = 0;
  l.max_hello_len = (1u << 24) + 4u;
  assert_int_equal(sni_parse_ex(&h, rec, sizeof rec, &l), SNI_EINVAL);
  assert_int_equal(sni_parser_init(&p, &h, &l), SNI_EINVAL);
  l.max_hello_len = (1u << 24) + 3u;
  assert_int_equal(sni_parse_ex(&h, rec, sizeof rec, &l), SNI_EAGAIN);
  assert_int_equal(sni_parser_init(&p, &h, &l), 0);
  l.max_hello_len = 0;
  l.max_records = 0;
  assert_int_equal(sni_parse_ex(&h, rec, sizeof rec, &l), SNI_EAGAIN);
}

static void test_sticky_errors_and_completion(void **state) {
  (void)state;
  sni_hello h;
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, "GET", 3), SNI_ENOTTLS);
  assert_int_equal(sni_parser_feed(&p, "\x16\x03\x01", 3), SNI_ENOTTLS);
  assert_int_equal(sni_parser_feed(&p, NULL, 0), SNI_ENOTTLS);
  assert_int_equal(sni_parser_status(&p), SNI_ENOTTLS);
  assert_int_equal(sni_parser_need(&p), 0);

  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, "\x16\x03\x01\x00\x00", 5), SNI_EPROTO);
  assert_int_equal(sni_parser_feed(&p, "\x16", 1), SNI_EPROTO);
  assert_int_equal(sni_parser_status(&p), SNI_EPROTO);

  /* Re-initialising clears the error. */
  buf e = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_wire(&w, &s);
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n), (int)w.n);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n), 0);
  assert_int_equal(sni_parser_feed(&p, NULL, 0), 0);
  assert_int_equal(sni_parser_status(&p), (int)w.n);
  assert_int_equal(sni_parser_need(&p), 0);
  b_free(&w);
  b_free(&e);
}

/* ---- first bytes: TLS or not -------------------------------------------- */

static void test_not_tls_first_bytes(void **state) {
  (void)state;
#define S(x) {x, sizeof x - 1}
  static const struct {
    const char *p;
    size_t n;
  } plain[] = {
      S("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
      S("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
      S("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      S("\x15\x03\x03\x00\x02\x02\x28"), /* alert */
      S("\x14\x03\x03\x00\x01\x01"),     /* change_cipher_spec */
      S("\x17\x03\x03\x00\x05hello"),    /* application_data */
      S("\x00\x00\x00\x00"),
      S("\x7f"),
  };
#undef S
  for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
    /* One byte decides, and so does the whole input. */
    assert_int_equal(parse_bytes(plain[i].p, 1), SNI_ENOTTLS);
    assert_int_equal(parse_bytes(plain[i].p, plain[i].n), SNI_ENOTTLS);
    sni_hello h;
    sni_parser p;
    assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
    assert_int_equal(sni_parser_feed(&p, plain[i].p, 1), SNI_ENOTTLS);
  }
  assert_int_equal(parse_bytes("\x16", 1), SNI_EAGAIN);
  assert_int_equal(parse_bytes("\x16\x02", 2), SNI_ENOTTLS);
  assert_int_equal(parse_bytes("\x16\x04\x01", 3), SNI_ENOTTLS);
  assert_int_equal(parse_bytes("\x16\x03", 2), SNI_EAGAIN);
  /* The minor version of the record is ignored (RFC 8446 5.1). */
  assert_int_equal(parse_bytes("\x16\x03\x07\x00\x30", 5), SNI_EAGAIN);
}

static void test_sslv2(void **state) {
  (void)state;
  /* An SSLv2-framed, v3-compatible hello: 2-byte header (0x80 | len), msg
   * type 1, version 3.1, then cipher specs, session id, challenge. */
  buf w = {0};
  b_u8(&w, 0x80);
  size_t len_at = w.n;
  b_u8(&w, 0);
  b_u8(&w, 1);
  b_u16(&w, 0x0301);
  b_u16(&w, 9); /* cipher spec bytes */
  b_u16(&w, 0); /* session id */
  b_u16(&w, 16); /* challenge */
  static const uint8_t specs[9] = {0, 0, 0x2f, 0, 0, 0x35, 0x01, 0, 0x80};
  b_put(&w, specs, sizeof specs);
  for (int i = 0; i < 16; i++) b_u8(&w, 0xcc);
  w.p[len_at] = (uint8_t)(w.n - 2);

  sni_hello h;
  for (size_t k = 1; k < 5; k++)
    assert_int_equal(parse_both(w.p, k, &h, NULL), SNI_EAGAIN);
  for (size_t k = 5; k <= w.n; k++) {
    assert_int_equal(parse_both(w.p, k, &h, NULL), SNI_ESSLV2);
    assert_int_equal(h.legacy_version, 0x0301);
    assert_int_equal(h.max_version, 0x0301);
    assert_int_equal(h.record_version, 2);
    assert_int_equal(h.sslv2, 1);
    assert_int_equal(h.sni_present, 0);
  }
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  for (size_t k = 0; k < 4; k++)
    assert_int_equal(sni_parser_feed(&p, w.p + k, 1), SNI_EAGAIN);
  assert_int_equal(sni_parser_feed(&p, w.p + 4, 1), SNI_ESSLV2);
  assert_int_equal(sni_parser_feed(&p, w.p + 5, 1), SNI_ESSLV2);

  /* TLS 1.2 offered through an SSLv2 header. */
  w.p[4] = 0x03;
  assert_int_equal(parse_both(w.p, w.n, &h, NULL), SNI_ESSLV2);
  assert_int_equal(h.legacy_version, 0x0303);

  /* Pure SSLv2 (version 0.2). */
  w.p[3] = 0x00;
  w.p[4] = 0x02;
  assert_int_equal(parse_both(w.p, w.n, &h, NULL), SNI_ESSLV2);
  assert_int_equal(h.legacy_version, 0x0002);
  assert_int_equal(h.sslv2, 1);

  /* Version 0.3 is neither. */
  w.p[4] = 0x03;
  assert_int_equal(parse_both(w.p, w.n, &h, NULL), SNI_ENOTTLS);
  assert_int_equal(parse_both(w.p, 4, &h, NULL), SNI_EAGAIN);
  /* Major 4 is refused at the fourth byte. */
  w.p[3] = 0x04;
  assert_int_equal(parse_both(w.p, 4, &h, NULL), SNI_ENOTTLS);
  /* Any msg type but CLIENT-HELLO is refused at the third byte. */
  w.p[3] = 0x03;
  w.p[2] = 0x02;
  assert_int_equal(parse_both(w.p, 3, &h, NULL), SNI_ENOTTLS);
  assert_int_equal(parse_both(w.p, 2, &h, NULL), SNI_EAGAIN);
  b_free(&w);

  /* Any first byte with the high bit set starts an SSLv2 header. */
  assert_int_equal(parse_bytes("\xff\xff\x01\x03\x00", 5), SNI_ESSLV2);
}

/* ---- record layer -------------------------------------------------------- */

static void test_record_length_bounds(void **state) {
  (void)state;
  assert_int_equal(parse_bytes("\x16\x03\x01\x40\x01", 5), SNI_EPROTO);
  assert_int_equal(parse_bytes("\x16\x03\x01\xff\xff", 5), SNI_EPROTO);
  assert_int_equal(parse_bytes("\x16\x03\x01\x00\x00", 5), SNI_EPROTO);
  assert_int_equal(parse_bytes("\x16\x03\x01\x40\x00", 5), SNI_EAGAIN);
  assert_int_equal(parse_bytes("\x16\x03\x01\x40", 4), SNI_EAGAIN);
  /* Handshake type other than client_hello (here server_hello). */
  assert_int_equal(parse_bytes("\x16\x03\x01\x00\x30\x02\x00\x00\x2c", 9),
                   SNI_EPROTO);
  assert_int_equal(parse_bytes("\x16\x03\x01\x00\x30\x00\x00\x00\x2c", 9),
                   SNI_EPROTO);
  /* Shorter than the smallest possible ClientHello body (41 bytes). */
  assert_int_equal(parse_bytes("\x16\x03\x01\x00\x30\x01\x00\x00\x28", 9),
                   SNI_EPROTO);
  assert_int_equal(parse_bytes("\x16\x03\x01\x00\x30\x01\x00\x00\x29", 9),
                   SNI_EPROTO); /* record (0x30) overruns the message */
}

/* A hello of exactly 16384 bytes fits one maximal record; one more byte
 * is over the default limit. */
static void test_max_size_hello(void **state) {
  (void)state;
  for (int extra = 0; extra <= 1; extra++) {
    buf e = {0}, hs = {0}, w = {0};
    modern_exts(&e);
    hello_spec s = {0};
    s.exts = &e;
    build_handshake(&hs, &s);
    size_t pad = 16384 + (size_t)extra - hs.n - 4; /* padding ext header */
    b_reset(&hs);
    uint8_t *zeros = calloc(pad, 1);
    assert_non_null(zeros);
    ext_raw(&e, 21, zeros, pad);
    free(zeros);
    build_handshake(&hs, &s);
    assert_int_equal(hs.n, 16384 + (size_t)extra);
    frame_records(&w, hs.p, hs.n, 16384);
    sni_hello h;
    int rc = parse_buf(&w, &h);
    if (extra == 0) {
      assert_int_equal(rc, 16389);
      assert_int_equal(h.records, 1);
      assert_int_equal(h.hello_len, 16384);
      assert_string_equal(h.sni, "example.com");
    } else {
      assert_int_equal(rc, SNI_E2BIG);
      /* Decided by the handshake header, long before the body. */
      assert_int_equal(parse_both(w.p, 9, &h, NULL), SNI_E2BIG);
      assert_int_equal(parse_both(w.p, 8, &h, NULL), SNI_EAGAIN);
    }
    b_free(&e);
    b_free(&hs);
    b_free(&w);
  }
}

static void test_fragmented_hello(void **state) {
  (void)state;
  buf e = {0}, hs = {0}, w1 = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_handshake(&hs, &s);
  frame_records(&w1, hs.p, hs.n, 16384);
  sni_hello ref, h;
  assert_int_equal(parse_buf(&w1, &ref), (int)w1.n);
  /* Every record size, including splits inside the handshake header. */
  for (size_t r = 1; r <= hs.n; r++) {
    b_reset(&w);
    frame_records(&w, hs.p, hs.n, r);
    size_t recs = (hs.n + r - 1) / r;
    assert_int_equal(parse_buf(&w, &h), (int)w.n);
    assert_int_equal(h.records, recs);
    assert_int_equal(h.wire_len, w.n);
    assert_int_equal(h.n_record_list, recs < 16 ? recs : 16);
    assert_int_equal((h.truncated & SNI_TRUNC_RECORDS) != 0, recs > 16);
    assert_int_equal(h.record_lengths[0], r < hs.n ? r : hs.n);
    /* Only the framing differs from the single-record parse. */
    h.records = ref.records;
    h.wire_len = ref.wire_len;
    h.n_record_list = ref.n_record_list;
    h.truncated = ref.truncated;
    memcpy(h.record_lengths, ref.record_lengths, sizeof h.record_lengths);
    memcpy(h.record_versions, ref.record_versions, sizeof h.record_versions);
    assert_memory_equal(&h, &ref, sizeof h);
  }
  b_free(&e);
  b_free(&hs);
  b_free(&w1);
  b_free(&w);
}

/* Builds the default hello in records of rec bytes and lets the caller
 * splice something in before record `at`. */
static void two_record_hello(buf *w, size_t rec, size_t at, const void *ins,
                             size_t ins_len) {
  buf e = {0}, hs = {0}, tmp = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_handshake(&hs, &s);
  frame_records(&tmp, hs.p, hs.n, rec);
  size_t cut = at * (rec + 5);
  assert_true(cut <= tmp.n);
  b_put(w, tmp.p, cut);
  b_put(w, ins, ins_len);
  b_put(w, tmp.p + cut, tmp.n - cut);
  b_free(&e);
  b_free(&hs);
  b_free(&tmp);
}

static void test_interleaved_records(void **state) {
  (void)state;
  sni_hello h;
  static const uint8_t ccs[] = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  static const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
  static const uint8_t empty[] = {0x16, 0x03, 0x03, 0x00, 0x00};
  static const uint8_t v2[] = {0x16, 0x02, 0x00, 0x00, 0x01, 0x00};
  const struct {
    const uint8_t *p;
    size_t n;
  } ins[] = {{ccs, sizeof ccs}, {alert, sizeof alert}, {empty, sizeof empty},
             {v2, sizeof v2}};
  for (size_t i = 0; i < sizeof ins / sizeof *ins; i++) {
    buf w = {0};
    two_record_hello(&w, 60, 1, ins[i].p, ins[i].n);
    assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
    /* Decided by the inserted record's header, before the rest. */
    assert_int_equal(parse_both(w.p, 65 + 5, &h, NULL), SNI_EPROTO);
    b_free(&w);
  }
  /* Inside the handshake header, too. */
  buf w = {0};
  two_record_hello(&w, 2, 1, ccs, sizeof ccs);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  b_free(&w);
}

static void test_record_past_hello(void **state) {
  (void)state;
  buf e = {0}, hs = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_handshake(&hs, &s);
  sni_hello h;
  /* One extra byte inside the only record. */
  b_put(&hs, "\x16", 1);
  frame_records(&w, hs.p, hs.n, 16384);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  /* Decided when the handshake header shows the record is too long. */
  assert_int_equal(parse_both(w.p, 9, &h, NULL), SNI_EPROTO);
  assert_int_equal(parse_both(w.p, 8, &h, NULL), SNI_EAGAIN);
  /* In the last of several records. */
  b_reset(&w);
  frame_records(&w, hs.p, hs.n, 50);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  /* In the last of 2-byte records: the record header announces it. */
  size_t real = hs.n - 1;
  b_reset(&w);
  frame_records(&w, hs.p, real - 1, 2);
  b_u8(&w, 0x16);
  b_u16(&w, 0x0301);
  b_u16(&w, 2);
  b_put(&w, hs.p + real - 1, 1);
  b_u8(&w, 0);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  /* The handshake header split over records: the record that completes
   * it is checked against the message length. */
  b_reset(&w);
  frame_records(&w, hs.p, 2, 2);
  frame_records(&w, hs.p + 2, hs.n - 2, 16384);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  assert_int_equal(parse_both(w.p, 7 + 7, &h, NULL), SNI_EPROTO);
  assert_int_equal(parse_both(w.p, 7 + 6, &h, NULL), SNI_EAGAIN);
  b_free(&e);
  b_free(&hs);
  b_free(&w);
}

static void test_limits_enforced(void **state) {
  (void)state;
  buf e = {0}, hs = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_handshake(&hs, &s);
  frame_records(&w, hs.p, hs.n, 16384);
  sni_hello h;
  sni_limits l = {0};
  l.max_hello_len = (uint32_t)hs.n;
  assert_int_equal(parse_both(w.p, w.n, &h, &l), (int)w.n);
  l.max_hello_len = (uint32_t)hs.n - 1;
  assert_int_equal(parse_both(w.p, w.n, &h, &l), SNI_E2BIG);
  assert_int_equal(parse_both(w.p, 9, &h, &l), SNI_E2BIG);
  assert_int_equal(parse_both(w.p, 8, &h, &l), SNI_EAGAIN);
  /* The limit is on the message, not on the wire bytes. */
  b_reset(&w);
  frame_records(&w, hs.p, hs.n, 1);
  l.max_hello_len = (uint32_t)hs.n;
  assert_int_equal(parse_both(w.p, w.n, &h, &l), (int)w.n);
  l.max_hello_len = (uint32_t)hs.n - 1;
  /* With 1-byte records the header completes in the 4th record (24th
   * wire byte). */
  assert_int_equal(parse_both(w.p, 24, &h, &l), SNI_E2BIG);
  assert_int_equal(parse_both(w.p, 23, &h, &l), SNI_EAGAIN);

  /* max_records: exactly enough is fine, one fewer is E2BIG when the
   * record that does not fit is announced. */
  b_reset(&w);
  frame_records(&w, hs.p, hs.n, 10);
  uint32_t recs = (uint32_t)((hs.n + 9) / 10);
  l.max_hello_len = 0;
  l.max_records = recs;
  assert_int_equal(parse_both(w.p, w.n, &h, &l), (int)w.n);
  assert_int_equal(h.records, recs);
  l.max_records = recs - 1;
  assert_int_equal(parse_both(w.p, w.n, &h, &l), SNI_E2BIG);
  size_t last_hdr = (size_t)(recs - 1) * 15;
  assert_int_equal(parse_both(w.p, last_hdr + 5, &h, &l), SNI_E2BIG);
  assert_int_equal(parse_both(w.p, last_hdr + 4, &h, &l), SNI_EAGAIN);
  b_free(&e);
  b_free(&hs);
  b_free(&w);
}

/* The header's contract: SNI_EAGAIN only "when buf is a valid prefix of a
 * ClientHello".  For the first record the parser refuses a bad byte as
 * soon as it arrives; these are the places where one byte already makes
 * the input impossible but the parser waits for the rest of the element
 * (up to 4 more bytes), so a stalled peer gets a timeout instead of an
 * immediate refusal. */
static void test_invalid_byte_ends_prefix(void **state) {
  (void)state;
  buf e = {0}, hs = {0}, w = {0};
  modern_exts(&e);
  hello_spec s = {0};
  s.exts = &e;
  build_handshake(&hs, &s);
  frame_records(&w, hs.p, hs.n, 60);
  sni_hello h;
  const size_t second = 65; /* first byte of the second record header */
  int rc_type, rc_major, rc_hs_type, rc_version;
  w.p[second] = 0x17; /* application_data in the middle of the hello */
  rc_type = parse_both(w.p, second + 1, &h, NULL);
  w.p[second] = 0x16;
  w.p[second + 1] = 0x02;
  rc_major = parse_both(w.p, second + 2, &h, NULL);
  b_free(&w);
  /* Handshake type 2 (server_hello) in the first handshake byte. */
  rc_hs_type = parse_bytes("\x16\x03\x01\x00\x30\x02", 6);
  /* legacy_version major 2 */
  rc_version = parse_bytes("\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x02", 10);
  b_free(&e);
  b_free(&hs);
  if (rc_type != SNI_EPROTO || rc_major != SNI_EPROTO ||
      rc_hs_type != SNI_EPROTO || rc_version != SNI_EPROTO)
    fail_msg("not valid prefixes, expected EPROTO at the offending byte: "
             "later record type 0x17 -> %s, later record major 2 -> %s, "
             "handshake type 2 -> %s, legacy_version major 2 -> %s",
             sni_errname(rc_type), sni_errname(rc_major),
             sni_errname(rc_hs_type), sni_errname(rc_version));
}

/* ---- fixed fields -------------------------------------------------------- */

static void test_fixed_fields(void **state) {
  (void)state;
  sni_hello h;
  hello_spec s = {0};
  buf e = {0};
  modern_exts(&e);
  s.exts = &e;
  s.random_fill = 0xab;
  s.sid_len = 32;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.session_id_len, 32);
  for (int i = 0; i < 32; i++) assert_int_equal(h.random[i], 0xab);
  s.sid_len = 33;
  assert_int_equal(parse_spec(&s, &h), SNI_EPROTO);
  s.sid_len = 0;
  s.legacy_version = 0x0300; /* SSL 3.0 still has major 3 */
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.legacy_version, 0x0300);
  assert_int_equal(h.max_version, 0x0304);
  s.legacy_version = 0x0203;
  assert_int_equal(parse_spec(&s, &h), SNI_EPROTO);
  s.legacy_version = 0x0403;
  assert_int_equal(parse_spec(&s, &h), SNI_EPROTO);
  s.legacy_version = 0;

  static const uint16_t none[1] = {0};
  s.ciphers = none;
  s.n_ciphers = 0;
  assert_int_equal(parse_spec(&s, &h), SNI_EPROTO);
  s.ciphers = NULL;
  static const uint8_t nocomp[1] = {0};
  s.comp = nocomp;
  s.n_comp = 0;
  assert_int_equal(parse_spec(&s, &h), SNI_EPROTO);
  s.comp = NULL;
  b_free(&e);

  /* An odd cipher_suites length, by hand. */
  buf w = {0};
  s.exts = NULL;
  s.no_extensions = 1;
  build_wire(&w, &s);
  size_t cs_len_at = 5 + 4 + 2 + 32 + 1;
  assert_int_equal(w.p[cs_len_at + 1], 2);
  w.p[cs_len_at + 1] = 3;
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  b_free(&w);
}

static void test_no_extensions_block(void **state) {
  (void)state;
  sni_hello h;
  hello_spec s = {0};
  s.legacy_version = 0x0301;
  s.no_extensions = 1;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.n_extensions, 0);
  assert_int_equal(h.sni_present, 0);
  assert_int_equal(h.max_version, 0x0301);
  assert_int_equal(h.hello_len, 4 + 41);
  /* An empty extensions block is fine too. */
  s.no_extensions = 0;
  s.exts = NULL;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.hello_len, 4 + 43);
  /* One stray byte where the block would be is not. */
  buf hs = {0}, w = {0};
  s.no_extensions = 1;
  build_handshake(&hs, &s);
  b_u8(&hs, 0);
  hs.p[3] = (uint8_t)(hs.p[3] + 1);
  frame_records(&w, hs.p, hs.n, 16384);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  /* Nor an extensions length that does not fill the message. */
  b_reset(&hs);
  b_reset(&w);
  s.no_extensions = 0;
  build_handshake(&hs, &s);
  b_u8(&hs, 0);
  hs.p[3] = (uint8_t)(hs.p[3] + 1);
  frame_records(&w, hs.p, hs.n, 16384);
  assert_int_equal(parse_buf(&w, &h), SNI_EPROTO);
  b_free(&hs);
  b_free(&w);
}

/* ---- extensions ---------------------------------------------------------- */

static void test_duplicate_extensions(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  modern_exts(&e);
  ext_raw(&e, 23, NULL, 0);
  ext_raw(&e, 23, NULL, 0);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  modern_exts(&e);
  ext_sni(&e, "other.example");
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* Non-adjacent, unknown type. */
  b_reset(&e);
  ext_raw(&e, 0x7777, "x", 1);
  modern_exts(&e);
  ext_raw(&e, 0x7777, "yy", 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

/* Past the first SNI_CAP_EXTENSIONS the header promises duplicates of
 * interpreted types are still caught (only uninterpreted ones may slip). */
static void test_duplicate_beyond_capacity(void **state) {
  (void)state;
  static const char *const a1[] = {"h2"};
  static const char *const a2[] = {"http/1.1"};
  static const uint16_t g1[] = {29};
  static const uint16_t g2[] = {23};
  sni_hello h;
  buf e = {0};
  for (int kind = 0; kind < 3; kind++) {
    b_reset(&e);
    for (unsigned i = 0; i < SNI_CAP_EXTENSIONS; i++)
      ext_raw(&e, (uint16_t)(0x7000 + i), NULL, 0);
    if (kind == 0) {
      ext_alpn(&e, a1, 1);
      ext_alpn(&e, a2, 1);
    } else if (kind == 1) {
      ext_u16list(&e, 10, 2, g1, 1);
      ext_u16list(&e, 10, 2, g2, 1);
    } else {
      ext_raw(&e, 42, NULL, 0);
      ext_raw(&e, 42, NULL, 0);
    }
    int rc = parse_exts(&e, &h);
    if (rc != SNI_EPROTO)
      fail_msg("duplicate %s after %d other extensions: got %s "
               "(n_alpn=%u n_groups=%u), expected EPROTO",
               kind == 0 ? "ALPN" : kind == 1 ? "supported_groups"
                                              : "early_data",
               SNI_CAP_EXTENSIONS, sni_errname(rc), h.n_alpn, h.n_groups);
  }
  /* One inside the recorded window and one past it. */
  b_reset(&e);
  ext_alpn(&e, a1, 1);
  for (unsigned i = 0; i < SNI_CAP_EXTENSIONS; i++)
    ext_raw(&e, (uint16_t)(0x7000 + i), NULL, 0);
  ext_alpn(&e, a2, 1);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

static void psk_ext(buf *e, unsigned ids, unsigned binders) {
  b_u16(e, 41);
  size_t ext = b_open(e, 2);
  size_t l = b_open(e, 2);
  for (unsigned i = 0; i < ids; i++) {
    b_u16(e, 3);
    b_put(e, "abc", 3);
    b_put(e, "\0\0\0\1", 4);
  }
  b_close(e, l, 2);
  l = b_open(e, 2);
  for (unsigned i = 0; i < binders; i++) {
    b_u8(e, 32);
    for (int k = 0; k < 32; k++) b_u8(e, 0xbb);
  }
  b_close(e, l, 2);
  b_close(e, ext, 2);
}

static void test_pre_shared_key(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  modern_exts(&e);
  psk_ext(&e, 2, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.psk, 1);
  assert_int_equal(h.psk_identities, 2);
  /* Not last. */
  b_reset(&e);
  modern_exts(&e);
  psk_ext(&e, 1, 1);
  ext_raw(&e, 23, NULL, 0);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* Binder count differs from identity count. */
  b_reset(&e);
  modern_exts(&e);
  psk_ext(&e, 2, 1);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  modern_exts(&e);
  psk_ext(&e, 1, 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

static void test_early_data_and_ticket(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  modern_exts(&e);
  ext_raw(&e, 42, NULL, 0);
  ext_raw(&e, 35, "0123456789", 10);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.early_data, 1);
  assert_int_equal(h.session_ticket, 1);
  assert_int_equal(h.session_ticket_len, 10);
  b_reset(&e);
  modern_exts(&e);
  ext_raw(&e, 42, "\0\0\0\0", 4); /* max_early_data_size: server side only */
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

static void test_alpn_rules(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  static const char *const ok[] = {"h2", "http/1.1", "x"};
  ext_alpn(&e, ok, 3);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_alpn, 3);
  for (unsigned i = 0; i < 3; i++) {
    const uint8_t *name;
    size_t len;
    assert_int_equal(sni_alpn_get(&h, i, &name, &len), 0);
    assert_int_equal(len, strlen(ok[i]));
    assert_memory_equal(name, ok[i], len);
  }
  const uint8_t *name;
  size_t len;
  assert_int_equal(sni_alpn_get(&h, 3, &name, &len), SNI_ENOENT);
  static const char *const empty_name[] = {"h2", ""};
  b_reset(&e);
  ext_alpn(&e, empty_name, 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_alpn(&e, NULL, 0); /* empty list */
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 16, NULL, 0); /* no list at all */
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

static void test_server_name_rules(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  /* Two host_names in one list. */
  b_u16(&e, 0);
  size_t ext = b_open(&e, 2), l = b_open(&e, 2);
  b_u8(&e, 0);
  b_u16(&e, 1);
  b_put(&e, "a", 1);
  b_u8(&e, 0);
  b_u16(&e, 1);
  b_put(&e, "b", 1);
  b_close(&e, l, 2);
  b_close(&e, ext, 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* Empty host_name, empty list, no list. */
  b_reset(&e);
  ext_sni_n(&e, "", 0);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 0, "\0\0", 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* An empty extension body is what a server sends, not a client. */
  b_reset(&e);
  ext_raw(&e, 0, NULL, 0);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);

  /* Unknown name types are skipped, before and after the host_name. */
  b_reset(&e);
  b_u16(&e, 0);
  ext = b_open(&e, 2);
  l = b_open(&e, 2);
  b_u8(&e, 7);
  b_u16(&e, 3);
  b_put(&e, "abc", 3);
  b_u8(&e, 0);
  b_u16(&e, 11);
  b_put(&e, "example.com", 11);
  b_u8(&e, 9);
  b_u16(&e, 0);
  b_close(&e, l, 2);
  b_close(&e, ext, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.sni_present, 1);
  assert_string_equal(h.sni, "example.com");
  /* Only an unknown type: no server name. */
  b_reset(&e);
  b_u16(&e, 0);
  ext = b_open(&e, 2);
  l = b_open(&e, 2);
  b_u8(&e, 1);
  b_u16(&e, 2);
  b_put(&e, "zz", 2);
  b_close(&e, l, 2);
  b_close(&e, ext, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.sni_present, 0);
  assert_int_equal(h.sni_len, 0);
  b_free(&e);
}

static void test_server_name_length(void **state) {
  (void)state;
  char name[300];
  sni_hello h;
  buf e = {0};
  memset(name, 'a', sizeof name);
  ext_sni_n(&e, name, 256);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_sni_n(&e, name, 255);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.sni_len, 255);
  assert_int_equal(strlen(h.sni), 255);
  assert_memory_equal(h.sni, name, 255);
  /* 255 bytes exceed the 253-byte DNS limit and the 63-byte label. */
  assert_int_equal(h.name_flags, SNI_NAME_NOT_HOSTNAME);
  assert_int_equal(h.sni_normalized_len, 255);

  /* 253 bytes of 63-byte labels is the largest valid host name; with a
   * trailing dot it is 254 bytes as sent. */
  char dns[256];
  size_t n = 0;
  for (int lab = 0; lab < 4; lab++) {
    size_t ll = lab < 3 ? 63 : 61;
    memset(dns + n, (char)('a' + lab), ll);
    n += ll;
    if (lab < 3) dns[n++] = '.';
  }
  assert_int_equal(n, 253);
  dns[n] = '.';
  for (int dot = 0; dot <= 1; dot++) {
    b_reset(&e);
    ext_sni_n(&e, dns, n + (size_t)dot);
    assert_true(parse_exts(&e, &h) > 0);
    assert_int_equal(h.name_flags, dot ? SNI_NAME_TRAILING_DOT : 0);
    assert_int_equal(h.sni_normalized_len, 253);
    assert_memory_equal(h.sni_normalized, dns, 253);
  }
  b_free(&e);
}

static void test_server_name_flags(void **state) {
  (void)state;
  const struct {
    const char *name;
    size_t len;
    unsigned flags;
    const char *normalized;
  } cases[] = {
      {"192.0.2.1", 9, SNI_NAME_IP_LITERAL | SNI_NAME_NOT_HOSTNAME, "192.0.2.1"},
      {"192.0.2.1.", 10,
       SNI_NAME_IP_LITERAL | SNI_NAME_NOT_HOSTNAME | SNI_NAME_TRAILING_DOT,
       "192.0.2.1"},
      {"::1", 3, SNI_NAME_IP_LITERAL | SNI_NAME_NOT_HOSTNAME, "::1"},
      {"2001:DB8::1", 11, SNI_NAME_IP_LITERAL | SNI_NAME_NOT_HOSTNAME,
       "2001:db8::1"},
      {"1.2.3.256", 9, SNI_NAME_NOT_HOSTNAME, "1.2.3.256"},
      {"example.123", 11, SNI_NAME_NOT_HOSTNAME, "example.123"},
      {"123.example", 11, 0, "123.example"},
      {"a..b", 4, SNI_NAME_NOT_HOSTNAME, "a..b"},
      {".a", 2, SNI_NAME_NOT_HOSTNAME, ".a"},
      {"a..", 3, SNI_NAME_NOT_HOSTNAME | SNI_NAME_TRAILING_DOT, "a."},
      {".", 1, SNI_NAME_NOT_HOSTNAME | SNI_NAME_TRAILING_DOT, ""},
      {"ex ample.com", 12, SNI_NAME_NOT_HOSTNAME, "ex ample.com"},
      {"a\0b.com", 7, SNI_NAME_NOT_HOSTNAME, "a"},
      {"b\xc3\xbc" "cher.example", 15, SNI_NAME_NOT_HOSTNAME,
       "b\xc3\xbc" "cher.example"},
      {"_acme.Example.COM", 17, 0, "_acme.example.com"},
      {"x-y.example", 11, 0, "x-y.example"},
      {"localhost", 9, 0, "localhost"},
      /* Digits and dots plus bytes outside any host name are not a
       * dotted quad. */
      {"3 .2.3.4", 8, SNI_NAME_NOT_HOSTNAME, "3 .2.3.4"},
      {"1/2.3.4.5", 9, SNI_NAME_NOT_HOSTNAME, "1/2.3.4.5"},
      {"11\xc3.2.3.4", 9, SNI_NAME_NOT_HOSTNAME, "11\xc3.2.3.4"},
  };
  sni_hello h;
  buf e = {0};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    b_reset(&e);
    ext_sni_n(&e, cases[i].name, cases[i].len);
    assert_true(parse_exts(&e, &h) > 0);
    if (h.name_flags != cases[i].flags)
      fail_msg("\"%s\": flags %u, expected %u", cases[i].name, h.name_flags,
               cases[i].flags);
    /* The name is reported exactly as sent, whatever it contains. */
    assert_int_equal(h.sni_len, cases[i].len);
    assert_memory_equal(h.sni, cases[i].name, cases[i].len);
    assert_int_equal(h.sni[cases[i].len], '\0');
    assert_string_equal(h.sni_normalized, cases[i].normalized);
  }
  /* A 64-byte label is one too many. */
  char big[80];
  memset(big, 'q', 64);
  memcpy(big + 64, ".com", 4);
  b_reset(&e);
  ext_sni_n(&e, big, 68);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.name_flags, SNI_NAME_NOT_HOSTNAME);
  b_free(&e);
}

/* Lists over their capacity keep their first entries, in order, and set
 * their bit; at capacity nothing is flagged. */
static void test_list_overflows(void **state) {
  (void)state;
  uint16_t v[300];
  for (unsigned i = 0; i < 300; i++) v[i] = (uint16_t)(0x1000 + i);
  sni_hello h;
  buf e = {0};
  hello_spec s = {0};

  s.ciphers = v;
  s.n_ciphers = 200;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.n_ciphers, SNI_CAP_CIPHERS);
  assert_memory_equal(h.cipher_suites, v, sizeof h.cipher_suites);
  assert_int_equal(h.truncated, SNI_TRUNC_CIPHERS);
  s.n_ciphers = SNI_CAP_CIPHERS;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.truncated, 0);
  s.ciphers = NULL;

  uint8_t comp[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  s.comp = comp;
  s.n_comp = 12;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.n_compression, SNI_CAP_COMPRESSION);
  assert_memory_equal(h.compression, comp, SNI_CAP_COMPRESSION);
  assert_int_equal(h.truncated, SNI_TRUNC_COMPRESSION);
  s.comp = NULL;

  /* 40 extensions: the first 32 types and lengths are kept. */
  for (unsigned i = 0; i < 40; i++) ext_raw(&e, (uint16_t)(0x6000 + i), "abc", i % 4);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_extensions, SNI_CAP_EXTENSIONS);
  assert_int_equal(h.truncated, SNI_TRUNC_EXTENSIONS);
  for (unsigned i = 0; i < SNI_CAP_EXTENSIONS; i++) {
    assert_int_equal(h.extensions[i], 0x6000 + i);
    assert_int_equal(h.extension_lengths[i], i % 4);
  }

  const struct {
    uint16_t type;
    int width;
    size_t n, cap;
    unsigned bit;
    size_t arr_off, cnt_off;
  } lists[] = {
      {10, 2, 40, SNI_CAP_GROUPS, SNI_TRUNC_GROUPS, offsetof(sni_hello, groups),
       offsetof(sni_hello, n_groups)},
      {13, 2, 40, SNI_CAP_SIGALGS, SNI_TRUNC_SIGALGS,
       offsetof(sni_hello, sigalgs), offsetof(sni_hello, n_sigalgs)},
      {50, 2, 40, SNI_CAP_SIGALGS_CERT, SNI_TRUNC_SIGALGS_CERT,
       offsetof(sni_hello, sigalgs_cert), offsetof(sni_hello, n_sigalgs_cert)},
      {34, 2, 20, SNI_CAP_DC_SIGALGS, SNI_TRUNC_DC_SIGALGS,
       offsetof(sni_hello, dc_sigalgs), offsetof(sni_hello, n_dc_sigalgs)},
      {43, 1, 20, SNI_CAP_VERSIONS, SNI_TRUNC_VERSIONS,
       offsetof(sni_hello, versions), offsetof(sni_hello, n_versions)},
  };
  for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
    for (int at_cap = 0; at_cap <= 1; at_cap++) {
      size_t n = at_cap ? lists[k].cap : lists[k].n;
      b_reset(&e);
      ext_u16list(&e, lists[k].type, lists[k].width, v, n);
      assert_true(parse_exts(&e, &h) > 0);
      const uint8_t *base = (const uint8_t *)&h;
      assert_int_equal(base[lists[k].cnt_off], lists[k].cap);
      assert_memory_equal(base + lists[k].arr_off, v, lists[k].cap * 2);
      assert_int_equal(h.truncated, at_cap ? 0 : lists[k].bit);
    }
  }

  /* Point formats: an 8-bit list. */
  b_reset(&e);
  b_u16(&e, 11);
  size_t ext = b_open(&e, 2), l = b_open(&e, 1);
  for (unsigned i = 0; i < 12; i++) b_u8(&e, i);
  b_close(&e, l, 1);
  b_close(&e, ext, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_point_formats, SNI_CAP_POINT_FORMATS);
  assert_int_equal(h.point_formats[7], 7);
  assert_int_equal(h.truncated, SNI_TRUNC_POINT_FORMATS);

  /* Key shares: 10 entries, 8 kept. */
  b_reset(&e);
  b_u16(&e, 51);
  ext = b_open(&e, 2);
  l = b_open(&e, 2);
  for (unsigned i = 0; i < 10; i++) {
    b_u16(&e, 0x100 + i);
    b_u16(&e, i + 1);
    for (unsigned k = 0; k <= i; k++) b_u8(&e, 0xee);
  }
  b_close(&e, l, 2);
  b_close(&e, ext, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_key_shares, SNI_CAP_KEY_SHARES);
  for (unsigned i = 0; i < SNI_CAP_KEY_SHARES; i++) {
    assert_int_equal(h.key_share_groups[i], 0x100 + i);
    assert_int_equal(h.key_share_lengths[i], i + 1);
  }
  assert_int_equal(h.truncated, SNI_TRUNC_KEY_SHARES);

  /* ALPN: 300 bytes of names; the kept names are a prefix and fit. */
  static const char *names[40];
  static char store[40][12];
  for (unsigned i = 0; i < 40; i++) {
    snprintf(store[i], sizeof store[i], "proto-%03u", i);
    names[i] = store[i];
  }
  b_reset(&e);
  ext_alpn(&e, names, 30); /* 30 * 10 = 300 bytes */
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_alpn, SNI_CAP_ALPN_BYTES / 10);
  assert_int_equal(h.alpn_len, 10 * (SNI_CAP_ALPN_BYTES / 10));
  assert_int_equal(h.truncated, SNI_TRUNC_ALPN);
  for (unsigned i = 0; i < h.n_alpn; i++) {
    const uint8_t *name;
    size_t len;
    assert_int_equal(sni_alpn_get(&h, i, &name, &len), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(name, names[i], 9);
  }
  /* A long name that does not fit ends the list even if a short one
   * after it would: the kept names stay a prefix. */
  char longname[130];
  memset(longname, 'L', 127);
  longname[127] = '\0';
  const char *mixed[] = {"h2", longname, "x"};
  b_reset(&e);
  ext_alpn(&e, mixed, 3);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_alpn, 1);
  assert_int_equal(h.alpn_len, 3);
  assert_int_equal(h.truncated, SNI_TRUNC_ALPN);
  b_free(&e);
}

static void test_grease_and_max_version(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  hello_spec s = {0};
  static const uint16_t gc[] = {0x3a3a, 0x1301};
  s.ciphers = gc;
  s.n_ciphers = 2;
  assert_true(parse_spec(&s, &h) > 0);
  assert_int_equal(h.grease, 1);
  s.ciphers = NULL;

  static const uint16_t gv[] = {0x7a7a, 0x0303};
  ext_u16list(&e, 43, 1, gv, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.grease, 1);
  assert_int_equal(h.max_version, 0x0303);

  static const uint16_t only_g[] = {0xdada};
  b_reset(&e);
  ext_u16list(&e, 43, 1, only_g, 1);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.max_version, h.legacy_version);

  static const uint16_t gg[] = {0x2a2a, 29};
  b_reset(&e);
  ext_u16list(&e, 10, 2, gg, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.grease, 1);

  b_reset(&e);
  ext_raw(&e, 0xcaca, NULL, 0);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.grease, 1);

  /* Signature algorithms are not among the GREASE-flagging lists. */
  static const uint16_t gs[] = {0x0a0a, 0x0403};
  b_reset(&e);
  ext_u16list(&e, 13, 2, gs, 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.grease, 0);
  assert_int_equal(h.sigalgs[0], 0x0a0a);

  /* Versions in any order: the highest wins. */
  static const uint16_t vo[] = {0x0302, 0x0304, 0x0303};
  b_reset(&e);
  ext_u16list(&e, 43, 1, vo, 3);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.max_version, 0x0304);
  assert_int_equal(h.grease, 0);
  b_free(&e);
}

static void test_list_length_rules(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  /* supported_versions: odd, empty, or disagreeing with the extension. */
  ext_raw(&e, 43, "\x03\x03\x04\x03", 4);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 43, "\x00", 1);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 43, "\x02\x03\x04\x00", 4);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* supported_groups: odd and empty. */
  b_reset(&e);
  ext_raw(&e, 10, "\x00\x03\x00\x1d\x00", 5);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 10, "\x00\x00", 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* ec_point_formats: empty. */
  b_reset(&e);
  ext_raw(&e, 11, "\x00", 1);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* key_share: empty client_shares is legal (asks for an HRR); an empty
   * key_exchange is not. */
  b_reset(&e);
  ext_raw(&e, 51, "\x00\x00", 2);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.n_key_shares, 0);
  b_reset(&e);
  ext_raw(&e, 51, "\x00\x04\x00\x1d\x00\x00", 6);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* An extension that runs past the block. */
  b_reset(&e);
  b_u16(&e, 0x1234);
  b_u16(&e, 5);
  b_put(&e, "abc", 3);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* A block ending inside an extension header. */
  b_reset(&e);
  b_put(&e, "\x12\x34\x00", 3);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

static void ech_outer(buf *e, uint16_t kdf, uint16_t aead, uint8_t cfg,
                      size_t enc, size_t payload) {
  b_u16(e, 0xfe0d);
  size_t ext = b_open(e, 2);
  b_u8(e, 0);
  b_u16(e, kdf);
  b_u16(e, aead);
  b_u8(e, cfg);
  b_u16(e, (unsigned)enc);
  for (size_t i = 0; i < enc; i++) b_u8(e, 0x11);
  b_u16(e, (unsigned)payload);
  for (size_t i = 0; i < payload; i++) b_u8(e, 0x22);
  b_close(e, ext, 2);
}

static void test_ech(void **state) {
  (void)state;
  sni_hello h;
  buf e = {0};
  modern_exts(&e);
  ech_outer(&e, 0x0001, 0x0003, 0x42, 32, 239);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.ech, 1);
  assert_int_equal(h.ech_type, 0);
  assert_int_equal(h.ech_kdf, 1);
  assert_int_equal(h.ech_aead, 3);
  assert_int_equal(h.ech_config_id, 0x42);
  assert_int_equal(h.ech_enc_len, 32);
  assert_int_equal(h.ech_payload_len, 239);
  assert_string_equal(h.sni, "example.com");
  /* An empty enc is allowed (HRR'd second hello); an empty payload not. */
  b_reset(&e);
  ech_outer(&e, 1, 1, 0, 0, 10);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.ech_enc_len, 0);
  b_reset(&e);
  ech_outer(&e, 1, 1, 0, 32, 0);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* Inner: the type byte alone. */
  b_reset(&e);
  ext_raw(&e, 0xfe0d, "\x01", 1);
  assert_true(parse_exts(&e, &h) > 0);
  assert_int_equal(h.ech, 1);
  assert_int_equal(h.ech_type, 1);
  assert_int_equal(h.ech_kdf, 0);
  b_reset(&e);
  ext_raw(&e, 0xfe0d, "\x01\x00", 2);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_reset(&e);
  ext_raw(&e, 0xfe0d, "\x02", 1);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  /* Outer cut short inside the fixed fields. */
  b_reset(&e);
  ext_raw(&e, 0xfe0d, "\x00\x00\x01\x00", 4);
  assert_int_equal(parse_exts(&e, &h), SNI_EPROTO);
  b_free(&e);
}

/* ---- HelloRetryRequest: two hellos on one connection --------------------- */

static void test_hrr_second_hello(void **state) {
  (void)state;
  const char *name = "016-openssl-hrr-second-hello";
  size_t n1, nc, n2;
  uint8_t *first = corpus_file(name, "first-hello.bin", &n1);
  uint8_t *ccs = corpus_file(name, "ccs.bin", &nc);
  uint8_t *second = corpus_file(name, "hello.bin", &n2);
  assert_non_null(first);
  assert_non_null(ccs);
  assert_non_null(second);

  sni_hello h1, h2, h;
  assert_int_equal(parse_both(first, n1, &h1, NULL), (int)n1);
  assert_int_equal(parse_both(second, n2, &h2, NULL), (int)n2);
  assert_string_equal(h1.sni, h2.sni);
  int cookie1 = 0, cookie2 = 0;
  for (unsigned i = 0; i < h1.n_extensions; i++) cookie1 |= h1.extensions[i] == 44;
  for (unsigned i = 0; i < h2.n_extensions; i++) cookie2 |= h2.extensions[i] == 44;
  assert_false(cookie1);
  assert_true(cookie2);
  assert_memory_equal(h1.random, h2.random, 32); /* same connection */

  /* Everything the client sent, in one chunk: the first hello ends where
   * the CCS starts. */
  size_t total = n1 + nc + n2;
  uint8_t *all = malloc(total);
  assert_non_null(all);
  memcpy(all, first, n1);
  memcpy(all + n1, ccs, nc);
  memcpy(all + n1 + nc, second, n2);
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  uint8_t *chunk = dup_exact(all, total);
  assert_int_equal(sni_parser_feed(&p, chunk, total), (int)n1);
  free(chunk);
  assert_memory_equal(&h, &h1, sizeof h);
  assert_int_equal(parse_copy(&h, all, total, NULL), (int)n1);
  /* After the CCS, a fresh parser reads the second hello. */
  assert_int_equal(parse_copy(&h, all + n1 + nc, n2, NULL), (int)n2);
  assert_memory_equal(&h, &h2, sizeof h);
  free(all);
  free(first);
  free(ccs);
  free(second);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_strings),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_is_grease),
      cmocka_unit_test(test_null_arguments),
      cmocka_unit_test(test_limits_validation),
      cmocka_unit_test(test_sticky_errors_and_completion),
      cmocka_unit_test(test_not_tls_first_bytes),
      cmocka_unit_test(test_sslv2),
      cmocka_unit_test(test_record_length_bounds),
      cmocka_unit_test(test_max_size_hello),
      cmocka_unit_test(test_fragmented_hello),
      cmocka_unit_test(test_interleaved_records),
      cmocka_unit_test(test_record_past_hello),
      cmocka_unit_test(test_limits_enforced),
      cmocka_unit_test(test_invalid_byte_ends_prefix),
      cmocka_unit_test(test_fixed_fields),
      cmocka_unit_test(test_no_extensions_block),
      cmocka_unit_test(test_duplicate_extensions),
      cmocka_unit_test(test_duplicate_beyond_capacity),
      cmocka_unit_test(test_pre_shared_key),
      cmocka_unit_test(test_early_data_and_ticket),
      cmocka_unit_test(test_alpn_rules),
      cmocka_unit_test(test_server_name_rules),
      cmocka_unit_test(test_server_name_length),
      cmocka_unit_test(test_server_name_flags),
      cmocka_unit_test(test_list_overflows),
      cmocka_unit_test(test_grease_and_max_version),
      cmocka_unit_test(test_list_length_rules),
      cmocka_unit_test(test_ech),
      cmocka_unit_test(test_hrr_second_hello),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
