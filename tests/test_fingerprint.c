/* sni_ja4(), sni_ja3(), sni_ja3_md5():
 *  - the third-party known answers of ORACLE_DIR/ja4 (FoxIO pcaps' hellos,
 *    TCP and QUIC, and s2n-tls's vectors), read at run time and skipped
 *    when the folder is absent (it is never copied into the repository);
 *  - the same for ORACLE_DIR/pcaps/expected.json through sniroute-inspect
 *    (QUIC v2, ECH, post-quantum hellos);
 *  - our corpus against tshark's JA3 in truth.json and against
 *    vectors/ja4_expected.json, which tests/ja4_ref.py (an independent
 *    Python reader written from the spec) produces and the
 *    fingerprint_reference test keeps in step;
 *  - every spec edge case on built hellos, buffer sizes with guard bytes,
 *    truncated lists and bad arguments.
 *
 *   sniroute-test-fingerprint ORACLE_DIR INSPECT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "json.h"
#include "parser_util.h"

static const char *oracle_dir, *inspect;

/* The six values, in the key names of the oracle files and of inspect. */
enum { FP_JA4, FP_JA4_R, FP_JA4_O, FP_JA4_RO, FP_JA3, FP_JA3_MD5, FP_N };
static const char *const fp_name[FP_N] = {"ja4", "ja4_r", "ja4_o", "ja4_ro", "ja3", "ja3_md5"};
static const size_t fp_max[FP_N] = {SNI_JA4_MAX, SNI_JA4_R_MAX, SNI_JA4_MAX,
                                    SNI_JA4_R_MAX, SNI_JA3_MAX, SNI_JA3_MD5_MAX};

static int fp(const sni_hello *h, int which, char *out, size_t cap) {
  switch (which) {
  case FP_JA4: return sni_ja4(h, SNI_JA4, out, cap);
  case FP_JA4_R: return sni_ja4(h, SNI_JA4_R, out, cap);
  case FP_JA4_O: return sni_ja4(h, SNI_JA4_O, out, cap);
  case FP_JA4_RO: return sni_ja4(h, SNI_JA4_RO, out, cap);
  case FP_JA3: return sni_ja3(h, out, cap);
  default: return sni_ja3_md5(h, out, cap);
  }
}

static uint8_t *unhex(const char *s, size_t *n) {
  size_t len = strlen(s) / 2;
  uint8_t *b = malloc(len ? len : 1);
  assert_non_null(b);
  for (size_t i = 0; i < len; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) fail_msg("bad hex");
    b[i] = (uint8_t)v;
  }
  *n = len;
  return b;
}

/* ORACLE_DIR/rel parsed, or NULL (with a message) when it is absent. */
static int load_json(const char *dir, const char *rel, json_value *out) {
  char path[2048];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  size_t len;
  uint8_t *text = sni_file_load(path, SIZE_MAX, &len);
  if (!text) {
    print_message("%s not found (third-party data, not in the repository): skipped\n", path);
    return 0;
  }
  char err[160];
  if (json_parse((const char *)text, len, out, err, sizeof err) != 0)
    fail_msg("%s: %s", path, err);
  free(text);
  return 1;
}

static const json_value *get(const json_value *o, const char *k) {
  const json_value *v = json_get(o, k);
  if (!v) fail_msg("missing key %s", k);
  return v;
}

/* Compares value `which` of h with want; counts the outcome. */
static int check_one(const char *id, const sni_hello *h, int which, const char *want,
                     unsigned *pass) {
  char got[SNI_JA4_R_MAX > SNI_JA3_MAX ? SNI_JA4_R_MAX : SNI_JA3_MAX];
  int rc = fp(h, which, got, sizeof got);
  if (rc > 0 && (size_t)rc == strlen(want) && !strcmp(got, want)) {
    pass[which]++;
    return 1;
  }
  print_message("%s %s: got %s (%d), want %s\n", id, fp_name[which], rc > 0 ? got : "-", rc,
                want);
  return 0;
}

/* All six values of exp (an object with the fp_name keys). */
static int check_six(const char *id, const sni_hello *h, const json_value *exp,
                     unsigned *pass) {
  int ok = 1;
  for (int i = 0; i < FP_N; i++) ok &= check_one(id, h, i, get(exp, fp_name[i])->str, pass);
  return ok;
}

static void report(const char *what, const unsigned *pass, unsigned total) {
  print_message("%s: %u vectors; passing per value:", what, total);
  for (int i = 0; i < FP_N; i++) print_message(" %s %u", fp_name[i], pass[i]);
  print_message("\n");
}

/* ---- third-party known answers ------------------------------------------- */

static int quic_parse(sni_hello *h, const json_value *dgrams) {
  static uint8_t qbuf[SNI_QUIC_DEFAULT_BUF];
  static sni_quic q;
  assert_int_equal(sni_quic_init(&q, h, qbuf, sizeof qbuf, NULL), 0);
  int rc = SNI_EAGAIN;
  for (size_t i = 0; i < dgrams->n && rc == SNI_EAGAIN; i++) {
    size_t n;
    uint8_t *d = unhex(dgrams->items[i].str, &n);
    rc = sni_quic_feed(&q, d, n);
    free(d);
  }
  return rc;
}

static int handshake_parse(sni_hello *h, const char *hex) {
  size_t n;
  uint8_t *hs = unhex(hex, &n);
  sni_parser p;
  assert_int_equal(sni_parser_init_handshake(&p, h, NULL), 0);
  int rc = sni_parser_feed(&p, hs, n);
  free(hs);
  return rc;
}

static void test_foxio_vectors(void **state) {
  (void)state;
  json_value root;
  if (!load_json(oracle_dir, "ja4/vectors.json", &root)) skip();
  const json_value *vs = get(&root, "vectors");
  unsigned pass[FP_N] = {0}, tcp = 0, quic = 0, bad = 0;
  for (size_t i = 0; i < vs->n; i++) {
    const json_value *v = &vs->items[i];
    const char *id = get(v, "id")->str;
    sni_hello h;
    int rc;
    if (!strcmp(get(v, "transport")->str, "quic")) {
      rc = quic_parse(&h, get(v, "datagrams_hex"));
      quic++;
    } else {
      size_t n;
      uint8_t *wire = unhex(get(v, "record_hex")->str, &n);
      rc = parse_copy(&h, wire, n, NULL);
      free(wire);
      tcp++;
    }
    if (rc <= 0) {
      print_message("%s: parse failed: %s\n", id, sni_errname(rc));
      bad++;
      continue;
    }
    bad += !check_six(id, &h, get(v, "expected"), pass);
  }
  report("FoxIO pcap hellos", pass, tcp + quic);
  print_message("(%u TCP, %u QUIC)\n", tcp, quic);
  assert_int_equal(bad, 0);
  assert_true(tcp >= 90 && quic >= 25);
  json_free(&root);
}

static void test_s2n_vectors(void **state) {
  (void)state;
  json_value root;
  if (!load_json(oracle_dir, "ja4/ja3_ja4_s2n_vectors.json", &root)) skip();
  const json_value *ja3 = get(&root, "ja3"), *ja4 = get(&root, "ja4");
  unsigned pass[FP_N] = {0}, ok = 1;
  for (size_t i = 0; i < ja3->n; i++) {
    const json_value *v = &ja3->items[i];
    sni_hello h;
    assert_true(handshake_parse(&h, get(v, "client_hello_hex")->str) > 0);
    ok &= (unsigned)check_one("s2n ja3", &h, FP_JA3, get(v, "expected_ja3_string")->str, pass);
    ok &= (unsigned)check_one("s2n ja3", &h, FP_JA3_MD5,
                              get(v, "ja3_md5_of_expected_string")->str, pass);
    const json_value *md5 = get(v, "expected_ja3_md5");
    if (md5->type == JSON_STRING)
      ok &= (unsigned)check_one("s2n ja3 (s2n's md5)", &h, FP_JA3_MD5, md5->str, pass);
  }
  for (size_t i = 0; i < ja4->n; i++) {
    sni_hello h;
    assert_true(handshake_parse(&h, get(&ja4->items[i], "client_hello_hex")->str) > 0);
    ok &= (unsigned)check_one("s2n ja4", &h, FP_JA4, get(&ja4->items[i], "expected_ja4")->str,
                              pass);
  }
  report("s2n-tls known answers", pass, (unsigned)(ja3->n + ja4->n));
  assert_true(ok);
  assert_int_equal(pass[FP_JA3], ja3->n);
  json_free(&root);
}

/* ORACLE_DIR/pcaps through sniroute-inspect: the captures need its pcap
 * reader; every hello of a capture is matched by client port. */
static void check_capture(const char *file, const json_value *hellos, unsigned *pass) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' '%s/pcaps/%s'", inspect, oracle_dir, file);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  static char line[1 << 16];
  while (fgets(line, sizeof line, p)) {
    json_value m;
    char err[128];
    if (json_parse(line, strlen(line), &m, err, sizeof err) != 0) fail_msg("inspect: %s", err);
    for (size_t i = 0; i < hellos->n; i++) {
      const json_value *e = &hellos->items[i];
      char port[32];
      snprintf(port, sizeof port, ":%lld -> ", get(e, "sport")->integer);
      if (!strstr(get(&m, "flow")->str, port)) continue;
      for (int k = 0; k < FP_N; k++) {
        const char *want = get(e, fp_name[k])->str;
        if (strcmp(get(&m, k == FP_JA3 ? "ja3_full" : fp_name[k])->str, want) != 0)
          fail_msg("%s port %lld: %s differs from %s", file, get(e, "sport")->integer,
                   fp_name[k], want);
        pass[k]++;
      }
    }
    json_free(&m);
  }
  assert_int_equal(pclose(p), 0);
}

static void test_oracle_captures(void **state) {
  (void)state;
  json_value root;
  if (!load_json(oracle_dir, "pcaps/expected.json", &root)) skip();
  const json_value *caps = get(&root, "captures");
  unsigned pass[FP_N] = {0}, total = 0;
  for (size_t c = 0; c < caps->n; c++) {
    const json_value *hs = get(&caps->items[c], "hellos");
    check_capture(get(&caps->items[c], "file")->str, hs, pass);
    total += (unsigned)hs->n;
  }
  report("oracle captures via sniroute-inspect", pass, total);
  for (int k = 0; k < FP_N; k++) assert_int_equal(pass[k], total);
  json_free(&root);
}

/* ---- our corpus ------------------------------------------------------------ */

static void test_corpus(void **state) {
  (void)state;
  size_t len;
  uint8_t *text = corpus_file(".", "ja4_expected.json", &len);
  assert_non_null(text);
  json_value exp;
  char err[160];
  assert_int_equal(json_parse((const char *)text, len, &exp, err, sizeof err), 0);
  unsigned pass[FP_N] = {0}, ok = 1;
  for (size_t i = 0; i < n_corpus; i++) {
    sni_hello h;
    assert_true(parse_copy(&h, corpus[i].wire, corpus[i].wire_len, NULL) > 0);
    const json_value *e = json_get(&exp, corpus[i].name);
    if (!e) fail_msg("%s: not in ja4_expected.json (run tests/ja4_ref.py)", corpus[i].name);
    ok &= (unsigned)check_six(corpus[i].name, &h, e, pass);
    /* tshark's values, independent of both implementations */
    ok &= (unsigned)check_one(corpus[i].name, &h, FP_JA3,
                              get(&corpus[i].truth, "ja3_full")->str, pass);
    ok &= (unsigned)check_one(corpus[i].name, &h, FP_JA3_MD5,
                              get(&corpus[i].truth, "ja3_md5")->str, pass);
  }
  report("corpus (ja3: twice, reference and tshark)", pass, (unsigned)n_corpus);
  assert_true(ok);
  assert_int_equal(exp.n, n_corpus);
  json_free(&exp);
  free(text);
}

#define GUARD 16
#define GUARD_BYTE 0xa5

/* Every cap below the needed size is SNI_ENOSPC and writes nothing at or
 * past out + cap; the exact size works. */
static void check_caps(const sni_hello *h, int which) {
  char full[SNI_JA4_R_MAX > SNI_JA3_MAX ? SNI_JA4_R_MAX : SNI_JA3_MAX];
  int len = fp(h, which, full, sizeof full);
  assert_true(len > 0);
  assert_true((size_t)len < fp_max[which]);
  for (size_t cap = 0; cap <= (size_t)len + 1; cap++) {
    char *b = malloc(cap + GUARD);
    assert_non_null(b);
    memset(b, GUARD_BYTE, cap + GUARD);
    int rc = fp(h, which, b, cap);
    for (size_t g = cap; g < cap + GUARD; g++)
      if ((unsigned char)b[g] != GUARD_BYTE) fail_msg("%s wrote past cap %zu", fp_name[which], cap);
    if (cap <= (size_t)len) {
      assert_int_equal(rc, SNI_ENOSPC);
      if (cap) assert_int_equal(b[0], '\0');
    } else {
      assert_int_equal(rc, len);
      assert_string_equal(b, full);
    }
    free(b);
  }
}

static void test_buffer_sizes(void **state) {
  (void)state;
  for (size_t i = 0; i < n_corpus; i++) {
    sni_hello h;
    assert_true(parse_copy(&h, corpus[i].wire, corpus[i].wire_len, NULL) > 0);
    for (int k = 0; k < FP_N; k++) check_caps(&h, k);
  }
}

/* The *_MAX sizes are reached: every list full of 5-digit values. */
static void test_worst_case_sizes(void **state) {
  (void)state;
  sni_hello h;
  memset(&h, 0, sizeof h);
  h.legacy_version = 0xffff;
  h.n_ciphers = SNI_CAP_CIPHERS;
  h.n_extensions = SNI_CAP_EXTENSIONS;
  h.n_groups = SNI_CAP_GROUPS;
  h.n_sigalgs = SNI_CAP_SIGALGS;
  h.n_point_formats = SNI_CAP_POINT_FORMATS;
  for (unsigned i = 0; i < SNI_CAP_CIPHERS; i++) h.cipher_suites[i] = (uint16_t)(0xffff - i);
  for (unsigned i = 0; i < SNI_CAP_EXTENSIONS; i++)
    h.extensions[i] = h.groups[i] = h.sigalgs[i] = (uint16_t)(0xffff - i);
  memset(h.point_formats, 0xff, sizeof h.point_formats);
  char out[SNI_JA3_MAX];
  assert_int_equal(sni_ja3(&h, out, sizeof out), SNI_JA3_MAX - 2);
  assert_int_equal(sni_ja4(&h, SNI_JA4_R, out, sizeof out), SNI_JA4_R_MAX - 1);
  assert_int_equal(sni_ja4(&h, SNI_JA4_RO, out, SNI_JA4_R_MAX), SNI_JA4_R_MAX - 1);
  assert_int_equal(sni_ja4(&h, SNI_JA4, out, SNI_JA4_MAX), SNI_JA4_MAX - 1);
  assert_int_equal(sni_ja3_md5(&h, out, SNI_JA3_MD5_MAX), SNI_JA3_MD5_MAX - 1);
  for (int k = 0; k < FP_N; k++) check_caps(&h, k);
}

/* ---- built hellos: spec edge cases ------------------------------------- */

/* Parses a one-record hello built from spec and extensions e. */
static void build_parse(sni_hello *h, const hello_spec *spec) {
  buf wire = {0};
  build_wire(&wire, spec);
  int rc = parse_copy(h, wire.p, wire.n, NULL);
  if (rc <= 0) fail_msg("built hello: %s", sni_errname(rc));
  b_free(&wire);
}

static void ja4_of(const hello_spec *spec, int which, char *out) {
  sni_hello h;
  build_parse(&h, spec);
  assert_true(fp(&h, which, out, SNI_JA4_R_MAX) > 0);
}

static void test_alpn_rules(void **state) {
  (void)state;
  static const struct {
    const char *name, *want;
  } cases[] = {{"\xab", "ab"},       {" ", "20"},        {"\xab\xcd", "ad"},
               {" a", "21"},         {"0\xab", "3b"},    {"a ", "60"},
               {"01\xab\xcd", "3d"}, {"0\xab\xcd" "1", "01"}, {"\xba\xad", "bd"},
               {"http/1.1", "h1"},   {"h3-29", "h9"},    {"hq-interop", "hp"},
               {"q", "qq"},          {"h3", "h3"},       {"h2 ", "60"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    buf e = {0};
    const char *names[] = {cases[i].name, "h2"};
    ext_alpn(&e, names, 2);
    hello_spec s = {.exts = &e};
    char out[SNI_JA4_R_MAX];
    ja4_of(&s, FP_JA4, out);
    if (memcmp(out + 8, cases[i].want, 2) != 0)
      fail_msg("ALPN case %zu: %.10s, want ..%s", i, out, cases[i].want);
    b_free(&e);
  }
  hello_spec none = {0};
  char out[SNI_JA4_R_MAX];
  ja4_of(&none, FP_JA4, out);
  assert_memory_equal(out, "t12i010000", SNI_JA4_A_LEN);
}

static void test_version_rules(void **state) {
  (void)state;
  static const struct {
    uint16_t legacy, sv[3];
    size_t n;
    const char *want;
  } cases[] = {{0x0303, {0x7f1c, 0x0304}, 2, "00"}, {0x0303, {0x0a0a, 0x0303}, 2, "12"},
               {0x0303, {0x0304, 0x0303, 0x0302}, 3, "13"}, {0x0301, {0}, 0, "10"},
               {0x0300, {0}, 0, "s3"}, {0x0302, {0}, 0, "11"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    buf e = {0};
    if (cases[i].n) ext_u16list(&e, 0x002b, 1, cases[i].sv, cases[i].n);
    hello_spec s = {.legacy_version = cases[i].legacy, .exts = &e};
    char out[SNI_JA4_R_MAX];
    ja4_of(&s, FP_JA4, out);
    if (memcmp(out + 1, cases[i].want, 2) != 0)
      fail_msg("version case %zu: %.10s, want t%s", i, out, cases[i].want);
    b_free(&e);
  }
}

/* The worked example of JA4.md, and the spec's empty-list rules. */
static void test_spec_example(void **state) {
  (void)state;
  static const uint16_t cs[] = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                                0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  static const uint16_t sig[] = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
  static const uint16_t groups[] = {0x001d, 0x0017}, sv[] = {0x0304, 0x0303};
  static const uint16_t empty_ok[] = {0x0005, 0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x4469, 0xff01};
  buf e = {0};
  ext_sni(&e, "example.com");
  const char *alpn[] = {"h2", "http/1.1"};
  ext_alpn(&e, alpn, 2);
  ext_u16list(&e, 0x000a, 2, groups, 2);
  ext_raw(&e, 0x000b, "\x01\x00", 2);
  ext_u16list(&e, 0x000d, 2, sig, 8);
  ext_u16list(&e, 0x002b, 1, sv, 2);
  ext_raw(&e, 0x002d, "\x01\x01", 2);
  ext_raw(&e, 0x0033, "\x00\x00", 2);
  for (size_t i = 0; i < sizeof empty_ok / sizeof empty_ok[0]; i++) ext_raw(&e, empty_ok[i], "", 0);
  hello_spec s = {.ciphers = cs, .n_ciphers = 15, .exts = &e};
  char out[SNI_JA4_R_MAX];
  ja4_of(&s, FP_JA4, out);
  assert_string_equal(out, "t13d1516h2_8daaf6152771_e5627efa2ab1");
  ja4_of(&s, FP_JA4_R, out);
  assert_string_equal(out + 11 + 15 * 5,
                      "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
                      "0403,0804,0401,0503,0805,0501,0806,0601");
  b_free(&e);
  /* Only SNI: JA4_c empty, but not the original-order list. */
  buf e2 = {0};
  ext_sni(&e2, "example.com");
  hello_spec s2 = {.legacy_version = 0x0301, .ciphers = cs, .n_ciphers = 1, .exts = &e2};
  ja4_of(&s2, FP_JA4, out);
  assert_string_equal(out, "t10d010100_0f2cb44170f4_000000000000"); /* sha256("1301") */
  ja4_of(&s2, FP_JA4_O, out);
  assert_string_equal(out + 24, "9af15b336e6a"); /* sha256("0000") */
  ja4_of(&s2, FP_JA4_R, out);
  assert_string_equal(out, "t10d010100_1301_");
  ja4_of(&s2, FP_JA4_RO, out);
  assert_string_equal(out, "t10d010100_1301_0000");
  b_free(&e2);
}

/* GREASE is removed everywhere; counts stop at 99. */
static void test_grease_and_counts(void **state) {
  (void)state;
  uint16_t cs[120];
  for (unsigned i = 0; i < 120; i++) cs[i] = (uint16_t)(0x0100 + i);
  cs[0] = 0x0a0a;
  static const uint16_t sig[] = {0x1a1a, 0x0403}, groups[] = {0x2a2a, 0x001d};
  buf e = {0};
  ext_raw(&e, 0x3a3a, "", 0);
  ext_u16list(&e, 0x000d, 2, sig, 2);
  ext_u16list(&e, 0x000a, 2, groups, 2);
  hello_spec s = {.ciphers = cs, .n_ciphers = 120, .exts = &e};
  char out[SNI_JA4_R_MAX];
  ja4_of(&s, FP_JA4_R, out);
  assert_memory_equal(out, "t12i990200_0101,", 16);
  assert_non_null(strstr(out, "_000a,000d_0403"));
  assert_null(strstr(out, "0a0a"));
  sni_hello h;
  build_parse(&h, &s);
  assert_true(sni_ja3(&h, out, sizeof out) > 0);
  assert_non_null(strstr(out, ",13-10,29,"));
  b_free(&e);
}

/* The salesforce/ja3 README examples. */
static void test_ja3_readme(void **state) {
  (void)state;
  static const uint16_t cs1[] = {4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99};
  hello_spec s1 = {.legacy_version = 0x0301, .ciphers = cs1, .n_ciphers = 11, .no_extensions = 1};
  sni_hello h;
  char out[SNI_JA3_MAX];
  build_parse(&h, &s1);
  assert_int_equal(sni_ja3(&h, out, sizeof out), 35);
  assert_string_equal(out, "769,4-5-10-9-100-98-3-6-19-18-99,,,");
  assert_int_equal(sni_ja3_md5(&h, out, SNI_JA3_MD5_MAX), 32);
  assert_string_equal(out, "de350869b8c85de67a350c8d186f11e6");
  static const uint16_t cs2[] = {47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4};
  static const uint16_t groups[] = {23, 24, 25};
  buf e = {0};
  ext_sni(&e, "example.com");
  ext_u16list(&e, 0x000a, 2, groups, 3);
  ext_raw(&e, 0x000b, "\x01\x00", 2);
  hello_spec s2 = {.legacy_version = 0x0301, .ciphers = cs2, .n_ciphers = 12, .exts = &e};
  build_parse(&h, &s2);
  assert_true(sni_ja3(&h, out, sizeof out) > 0);
  assert_string_equal(out, "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
  assert_int_equal(sni_ja3_md5(&h, out, SNI_JA3_MD5_MAX), 32);
  assert_string_equal(out, "ada70206e40642a3e4461f35503241d5");
  b_free(&e);
}

/* JA4 hashes through SHA-256's x86 SHA-extension path where the CPU has
 * it: that path and the portable one agree on every length a JA4 string
 * can have, and on every corpus JA4. */
static void test_sha256_paths_agree(void **state) {
  (void)state;
  static char msg[SNI_JA4_R_MAX];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)("0123456789abcdef,_"[i % 18]);
  for (size_t len = 0; len <= sizeof msg; len++) {
    uint8_t a[SNI_SHA256_LEN], b[SNI_SHA256_LEN];
    sni_crypto_force_portable(1);
    sni_sha256(msg, len, a);
    sni_crypto_force_portable(0);
    sni_sha256(msg, len, b);
    if (memcmp(a, b, sizeof a) != 0) fail_msg("SHA-256 paths differ at length %zu", len);
  }
  for (size_t i = 0; i < n_corpus; i++) {
    sni_hello h;
    char a[SNI_JA4_MAX], b[SNI_JA4_MAX];
    assert_true(parse_copy(&h, corpus[i].wire, corpus[i].wire_len, NULL) > 0);
    sni_crypto_force_portable(1);
    assert_int_equal(sni_ja4(&h, SNI_JA4_O, a, sizeof a), SNI_JA4_MAX - 1);
    sni_crypto_force_portable(0);
    assert_int_equal(sni_ja4(&h, SNI_JA4_O, b, sizeof b), SNI_JA4_MAX - 1);
    assert_string_equal(a, b);
  }
  print_message("SHA-256: accelerated path %s\n",
                sni_crypto_impl() == SNI_CRYPTO_ACCEL ? "compared" : "not available here");
}

/* ---- truncation and bad arguments ------------------------------------- */

static void expect_rc(const sni_hello *h, int which, int want) {
  char out[SNI_JA4_R_MAX > SNI_JA3_MAX ? SNI_JA4_R_MAX : SNI_JA3_MAX];
  memset(out, 'x', sizeof out);
  int rc = fp(h, which, out, sizeof out);
  if (want > 0 ? rc <= 0 : rc != want)
    fail_msg("%s: %s, want %s", fp_name[which], sni_errname(rc), sni_errname(want));
  if (rc < 0 && rc != SNI_EINVAL) assert_int_equal(out[0], '\0');
}

/* Real overflows: more ciphers or extensions than the hello holds, an
 * ALPN list whose first name does not fit. */
static void test_truncated_lists(void **state) {
  (void)state;
  uint16_t cs[SNI_CAP_CIPHERS + 10];
  for (unsigned i = 0; i < SNI_CAP_CIPHERS + 10; i++) cs[i] = (uint16_t)(0x0100 + i);
  hello_spec many = {.ciphers = cs, .n_ciphers = SNI_CAP_CIPHERS + 10};
  sni_hello h;
  build_parse(&h, &many);
  assert_true(h.truncated & SNI_TRUNC_CIPHERS);
  for (int k = 0; k < FP_N; k++) expect_rc(&h, k, SNI_E2BIG);
  buf e = {0};
  for (unsigned i = 0; i < SNI_CAP_EXTENSIONS + 4; i++) ext_raw(&e, (uint16_t)(0x1000 + i), "", 0);
  hello_spec exts = {.exts = &e};
  build_parse(&h, &exts);
  assert_true(h.truncated & SNI_TRUNC_EXTENSIONS);
  for (int k = 0; k < FP_N; k++) expect_rc(&h, k, SNI_E2BIG);
  b_reset(&e);
  char long_name[SNI_CAP_ALPN_BYTES + 20];
  memset(long_name, 'a', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  const char *first_long[] = {long_name, "h2"}, *second_long[] = {"h2", long_name};
  ext_alpn(&e, first_long, 2);
  hello_spec a1 = {.exts = &e};
  build_parse(&h, &a1);
  assert_true((h.truncated & SNI_TRUNC_ALPN) && h.n_alpn == 0);
  expect_rc(&h, FP_JA4, SNI_E2BIG);
  expect_rc(&h, FP_JA3, 1);
  b_reset(&e);
  ext_alpn(&e, second_long, 2);
  build_parse(&h, &a1);
  assert_true((h.truncated & SNI_TRUNC_ALPN) && h.n_alpn == 1);
  expect_rc(&h, FP_JA4, 1); /* the first name is all JA4 reads */
  b_free(&e);
}

/* Which truncation bit matters to which fingerprint. */
static void test_truncation_bits(void **state) {
  (void)state;
  const uint16_t ja4_bits = SNI_TRUNC_CIPHERS | SNI_TRUNC_EXTENSIONS | SNI_TRUNC_SIGALGS |
                            SNI_TRUNC_VERSIONS;
  const uint16_t ja3_bits = SNI_TRUNC_CIPHERS | SNI_TRUNC_EXTENSIONS | SNI_TRUNC_GROUPS |
                            SNI_TRUNC_POINT_FORMATS;
  for (unsigned bit = 1; bit <= SNI_TRUNC_RECORDS; bit <<= 1) {
    sni_hello h;
    assert_true(parse_copy(&h, corpus[0].wire, corpus[0].wire_len, NULL) > 0);
    h.truncated = (uint16_t)bit;
    assert_int_equal(h.n_alpn, 0); /* so SNI_TRUNC_ALPN means "no first name" */
    for (int k = 0; k < FP_N; k++) {
      uint16_t need = k <= FP_JA4_RO ? ja4_bits | SNI_TRUNC_ALPN : ja3_bits;
      expect_rc(&h, k, (need & bit) ? SNI_E2BIG : 1);
    }
  }
}

static void test_bad_arguments(void **state) {
  (void)state;
  sni_hello h;
  assert_true(parse_copy(&h, corpus[0].wire, corpus[0].wire_len, NULL) > 0);
  char out[SNI_JA4_R_MAX];
  assert_int_equal(sni_ja4(NULL, SNI_JA4, out, sizeof out), SNI_EINVAL);
  assert_int_equal(sni_ja4(&h, SNI_JA4, NULL, 0), SNI_EINVAL);
  assert_int_equal(sni_ja4(&h, (sni_ja4_variant)4, out, sizeof out), SNI_EINVAL);
  assert_int_equal(sni_ja3(NULL, out, sizeof out), SNI_EINVAL);
  assert_int_equal(sni_ja3(&h, NULL, 0), SNI_EINVAL);
  assert_int_equal(sni_ja3_md5(NULL, out, sizeof out), SNI_EINVAL);
  assert_int_equal(sni_ja3_md5(&h, NULL, 0), SNI_EINVAL);
  sni_hello bad = h;
  bad.n_ciphers = SNI_CAP_CIPHERS + 1;
  for (int k = 0; k < FP_N; k++) expect_rc(&bad, k, SNI_EINVAL);
  bad = h;
  bad.n_extensions = SNI_CAP_EXTENSIONS + 1;
  for (int k = 0; k < FP_N; k++) expect_rc(&bad, k, SNI_EINVAL);
  bad = h;
  bad.alpn_len = SNI_CAP_ALPN_BYTES + 1;
  expect_rc(&bad, FP_JA4, SNI_EINVAL);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ORACLE_DIR INSPECT\n", argv[0]);
    return 2;
  }
  oracle_dir = argv[1];
  inspect = argv[2];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_foxio_vectors),     cmocka_unit_test(test_s2n_vectors),
      cmocka_unit_test(test_oracle_captures),   cmocka_unit_test(test_corpus),
      cmocka_unit_test(test_buffer_sizes),      cmocka_unit_test(test_worst_case_sizes),
      cmocka_unit_test(test_alpn_rules),        cmocka_unit_test(test_version_rules),
      cmocka_unit_test(test_spec_example),      cmocka_unit_test(test_grease_and_counts),
      cmocka_unit_test(test_ja3_readme),        cmocka_unit_test(test_truncated_lists),
      cmocka_unit_test(test_truncation_bits),   cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_sha256_paths_agree),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
