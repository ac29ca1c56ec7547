/* Every corpus vector parsed one-shot equals its truth.json (produced by
 * TShark, an independent oracle) on every field both sides know. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "parser_util.h"
#include "sniroute.h"

static unsigned mismatches;

static void mismatch(const vec *v, const char *fmt, ...) {
  va_list ap;
  char msg[512];
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_error("%s: %s\n", v->name, msg);
  mismatches++;
}


/* Fields every truth file must carry: without them the comparison would
 * silently test nothing. */
static const char *const required[] = {
    "sni", "sni_present", "alpn", "legacy_version", "record_version",
    "supported_versions", "cipher_suites", "compression_methods",
    "extensions", "extension_lengths", "groups", "hello_len", "wire_len",
    "records", "record_lengths", "record_versions", "random"};

static const json_value *field(const vec *v, const char *key, json_type t) {
  const json_value *j = json_get(&v->truth, key);
  if (j && j->type != t) {
    mismatch(v, "truth field %s has an unexpected JSON type", key);
    return NULL;
  }
  return j;
}

static void cmp_int(const vec *v, const char *key, long long got) {
  const json_value *j = field(v, key, JSON_INT);
  if (j && j->integer != got)
    mismatch(v, "%s: truth %lld, parser %lld", key, j->integer, got);
}

static void cmp_bool(const vec *v, const char *key, unsigned got) {
  const json_value *j = field(v, key, JSON_BOOL);
  if (j && j->boolean != (got != 0))
    mismatch(v, "%s: truth %d, parser %u", key, j->boolean, got);
}

/* The i-th entry of an array of 8- or 16-bit values. */
static unsigned at(const void *arr, size_t size, size_t i) {
  return size == sizeof(uint16_t) ? ((const uint16_t *)arr)[i]
                                  : ((const uint8_t *)arr)[i];
}

/* A wire-order list against a capped parser list: the first cap entries
 * are kept, the count saturates, and the bit says whether any fell off. */
static void cmp_list(const vec *v, const char *key, size_t count,
                     const void *arr, size_t size, const sni_hello *h,
                     size_t cap, unsigned trunc_bit) {
  const json_value *j = field(v, key, JSON_ARRAY);
  if (!j) return;
  size_t keep = j->n < cap ? j->n : cap;
  if (count != keep) {
    mismatch(v, "%s: truth has %zu entries (cap %zu), parser %zu", key, j->n,
             cap, count);
    return;
  }
  for (size_t i = 0; i < keep; i++) {
    if (j->items[i].type != JSON_INT) {
      mismatch(v, "%s[%zu] is not an integer in the truth", key, i);
      return;
    }
    if ((long long)at(arr, size, i) != j->items[i].integer) {
      mismatch(v, "%s[%zu]: truth %lld, parser %u", key, i,
               j->items[i].integer, at(arr, size, i));
      return;
    }
  }
  int want_trunc = j->n > cap;
  if (trunc_bit && (((h->truncated & trunc_bit) != 0) != want_trunc))
    mismatch(v, "%s: truncated bit %s, expected %s", key,
             (h->truncated & trunc_bit) ? "set" : "clear",
             want_trunc ? "set" : "clear");
}

/* A name against the truth's string, or null for a hello without one
 * (then the parser's copy must be empty). */
static void cmp_str(const vec *v, const char *key, unsigned present,
                    const char *s, size_t len) {
  const json_value *j = json_get(&v->truth, key);
  if (!j) return;
  if (j->type == JSON_NULL) {
    if (present || len != 0 || s[0] != '\0')
      mismatch(v, "%s: truth null, parser present=%u len=%zu", key, present,
               len);
    return;
  }
  if (j->type != JSON_STRING) {
    mismatch(v, "%s: unexpected JSON type", key);
    return;
  }
  if (!present || len != j->str_len || memcmp(s, j->str, len) != 0 ||
      s[len] != '\0')
    mismatch(v, "%s: truth \"%s\", parser present=%u \"%.*s\"", key, j->str,
             present, (int)len, s);
}

/* The normalized name is the sent name, ASCII-lowercased, without one
 * trailing dot (empty, with no flags, when there is none); every corpus
 * name is a valid DNS name.  Not in the truth files: derived here. */
static void cmp_normalized(const vec *v, const sni_hello *h) {
  char want[SNI_MAX_NAME + 1];
  size_t n = h->sni_present ? h->sni_len : 0;
  unsigned flags = 0;
  if (n > SNI_MAX_NAME) {
    mismatch(v, "sni_len %zu over SNI_MAX_NAME", n);
    return;
  }
  if (n && h->sni[n - 1] == '.') {
    n--;
    flags = SNI_NAME_TRAILING_DOT;
  }
  for (size_t i = 0; i < n; i++) {
    char c = h->sni[i];
    want[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  want[n] = '\0';
  if (h->sni_normalized_len != n || strcmp(h->sni_normalized, want) != 0)
    mismatch(v, "sni_normalized: expected \"%s\", parser \"%s\" (%u)", want,
             h->sni_normalized, h->sni_normalized_len);
  if (h->name_flags != flags)
    mismatch(v, "name_flags: expected %u, parser %u", flags, h->name_flags);
}

static void cmp_alpn(const vec *v, const char *key, const sni_hello *h) {
  const json_value *j = field(v, key, JSON_ARRAY);
  if (!j) return;
  size_t used = 0, keep = 0;
  int trunc = 0;
  for (size_t i = 0; i < j->n; i++) {
    if (!trunc && used + 1 + j->items[i].str_len <= SNI_CAP_ALPN_BYTES) {
      used += 1 + j->items[i].str_len;
      keep++;
    } else {
      trunc = 1;
    }
  }
  if (h->n_alpn != keep || h->alpn_len != used) {
    mismatch(v, "alpn: expected %zu names in %zu bytes, parser %u in %u",
             keep, used, h->n_alpn, h->alpn_len);
    return;
  }
  for (size_t i = 0; i < keep; i++) {
    const uint8_t *name = NULL;
    size_t len = 0;
    const json_value *s = &j->items[i];
    if (s->type != JSON_STRING ||
        sni_alpn_get(h, (unsigned)i, &name, &len) != 0 || len != s->str_len ||
        memcmp(name, s->str, len) != 0) {
      mismatch(v, "alpn[%zu]: truth \"%s\", parser \"%.*s\"", i,
               s->str ? s->str : "?", (int)len, name ? (const char *)name : "");
      return;
    }
  }
  const uint8_t *name;
  size_t len;
  if (sni_alpn_get(h, (unsigned)keep, &name, &len) != SNI_ENOENT)
    mismatch(v, "sni_alpn_get past the last name is not SNI_ENOENT");
  if (((h->truncated & SNI_TRUNC_ALPN) != 0) != trunc)
    mismatch(v, "alpn: truncated bit wrong");
}

/* Fixed-size bytes against the truth's lowercase hex. */
static void cmp_bytes(const vec *v, const char *key, const uint8_t *b,
                      size_t n) {
  const json_value *j = field(v, key, JSON_STRING);
  if (!j) return;
  if (j->str_len != 2 * n) {
    mismatch(v, "%s: truth is not %zu hex digits", key, 2 * n);
    return;
  }
  char hex[2 * 64 + 1];
  for (size_t i = 0; i < n && i < 64; i++)
    snprintf(hex + 2 * i, 3, "%02x", b[i]);
  if (n > 64 || strcmp(hex, j->str) != 0)
    mismatch(v, "%s: truth %s, parser %.*s", key, j->str, (int)(2 * n), hex);
}

static void cmp_max_version(const vec *v, const sni_hello *h) {
  const json_value *sv = field(v, "supported_versions", JSON_ARRAY);
  const json_value *lv = field(v, "legacy_version", JSON_INT);
  if (!sv || !lv) return;
  long long want = 0;
  for (size_t i = 0; i < sv->n; i++) {
    long long x = sv->items[i].integer;
    if (!sni_is_grease((uint16_t)x) && x > want) want = x;
  }
  if (want == 0) want = lv->integer;
  int has13 = 0;
  for (size_t i = 0; i < sv->n; i++) has13 |= sv->items[i].integer == 772;
  if (has13 && want != 772) mismatch(v, "truth lists 772 below another");
  if (h->max_version != want)
    mismatch(v, "max_version: expected %lld, parser %u", want,
             h->max_version);
}

/* Every member the truth files know, generated from SNI_HELLO_FIELDS: a
 * key a truth file lacks is skipped (`required` above says which may not
 * be), a new member is compared as soon as the truth files carry it. */
#define C_NUM(type, m, key) cmp_int(v, key, h->m);
#define C_FLAG(m, key) cmp_bool(v, key, h->m);
#define C_COUNT(type, m)
#define C_BYTES(m, key) cmp_bytes(v, key, h->m, sizeof h->m);
#define C_STR(m, len, present, key)                                        \
  cmp_str(v, key, h->present, h->m, h->len);
#define C_LIST(type, m, count, trunc, key)                                 \
  cmp_list(v, key, h->count, h->m, sizeof(type), h,                       \
           sizeof h->m / sizeof(type), trunc);
#define C_ALPN(m, count, len, trunc, key) cmp_alpn(v, key, h);

static void compare_truth(const vec *v, const sni_hello *h) {
  SNI_HELLO_FIELDS(C_NUM, C_FLAG, C_COUNT, C_BYTES, C_STR, C_LIST, C_ALPN)
  cmp_normalized(v, h);
  cmp_max_version(v, h);
  /* The parser must see the same fields the truth's list bytes imply. */
  if (h->sslv2) mismatch(v, "sslv2 set on a TLS-framed hello");
}

/* SNI_HELLO_FIELDS names every member of sni_hello, in order, once: a
 * positional initializer with one value per listed member must fill the
 * struct exactly (a missing member is a missing initializer, an error
 * here), and the listed offsets must strictly increase (no member twice,
 * none out of order).  Each listed type must be the member's. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wmissing-field-initializers"
#pragma GCC diagnostic error "-Wmissing-braces"
#endif
#define Z_SCALAR(...) 0,
#define Z_ARRAY(...) {0},
static const sni_hello every_member_listed = {
    SNI_HELLO_FIELDS(Z_SCALAR, Z_SCALAR, Z_SCALAR, Z_ARRAY, Z_ARRAY, Z_ARRAY,
                     Z_ARRAY)};
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define MEMBER(m) (((const sni_hello *)0)->m)
#define IS(type, e) _Generic((e), type: 1, default: 0)
#define T_NUM(type, m, key)                                                 \
  _Static_assert(IS(type, MEMBER(m)), #m " is not " #type);
#define T_FLAG(m, key) _Static_assert(IS(uint8_t, MEMBER(m)), #m);
#define T_COUNT(type, m) T_NUM(type, m, "")
#define T_BYTES(m, key) _Static_assert(IS(uint8_t, MEMBER(m)[0]), #m);
#define T_STR(m, len, present, key)                                         \
  _Static_assert(IS(char, MEMBER(m)[0]), #m);
#define T_LIST(type, m, count, trunc, key)                                  \
  _Static_assert(IS(type, MEMBER(m)[0]), #m " is not " #type "[]");
#define T_ALPN(m, count, len, trunc, key)                                   \
  _Static_assert(IS(uint8_t, MEMBER(m)[0]), #m);
SNI_HELLO_FIELDS(T_NUM, T_FLAG, T_COUNT, T_BYTES, T_STR, T_LIST, T_ALPN)

#define O_ONE(m) {offsetof(sni_hello, m), sizeof MEMBER(m), #m},
#define O_NUM(type, m, key) O_ONE(m)
#define O_FLAG(m, key) O_ONE(m)
#define O_COUNT(type, m) O_ONE(m)
#define O_BYTES(m, key) O_ONE(m)
#define O_STR(m, len, present, key) O_ONE(m)
#define O_LIST(type, m, count, trunc, key) O_ONE(m)
#define O_ALPN(m, count, len, trunc, key) O_ONE(m)
static const struct {
  size_t off, size;
  const char *name;
} listed[] = {
    SNI_HELLO_FIELDS(O_NUM, O_FLAG, O_COUNT, O_BYTES, O_STR, O_LIST, O_ALPN)};

static void test_field_list_covers_struct(void **state) {
  (void)state;
  size_t end = 0;
  for (size_t i = 0; i < sizeof listed / sizeof *listed; i++) {
    if (listed[i].off < end)
      fail_msg("SNI_HELLO_FIELDS: %s is listed out of order or twice",
               listed[i].name);
    end = listed[i].off + listed[i].size;
  }
  assert_true(end <= sizeof(sni_hello));
  /* Only alignment padding may follow the last member. */
  assert_true(sizeof(sni_hello) - end < _Alignof(sni_hello));
  assert_int_equal(every_member_listed.wire_len, 0);
}

static void test_corpus_matches_truth(void **state) {
  (void)state;
  assert_true(n_corpus >= MIN_CORPUS_CASES);
  mismatches = 0;
  for (size_t i = 0; i < n_corpus; i++) {
    const vec *v = &corpus[i];
    for (size_t k = 0; k < sizeof required / sizeof *required; k++)
      if (!json_get(&v->truth, required[k]))
        mismatch(v, "truth.json lacks \"%s\"", required[k]);
    sni_hello h;
    int rc = parse_copy(&h, v->wire, v->wire_len, NULL);
    if (rc != (int)v->wire_len) {
      mismatch(v, "sni_parse returned %d (%s), expected %zu", rc,
               sni_errname(rc), v->wire_len);
      continue;
    }
    compare_truth(v, &h);
  }
  assert_int_equal(mismatches, 0);
}

static const vec *find_case(const char *prefix) {
  for (size_t i = 0; i < n_corpus; i++)
    if (strncmp(corpus[i].name, prefix, strlen(prefix)) == 0)
      return &corpus[i];
  fail_msg("corpus case %s missing", prefix);
  return NULL;
}

/* Hand-computed, not derived from the truth: the case fold and the
 * trailing dot are the two things routing depends on. */
static void test_normalized_names(void **state) {
  (void)state;
  sni_hello h;
  const vec *v = find_case("007-");
  assert_int_equal(parse_copy(&h, v->wire, v->wire_len, NULL),
                   (int)v->wire_len);
  assert_string_equal(h.sni, "MiXeD-Case.Example.COM");
  assert_string_equal(h.sni_normalized, "mixed-case.example.com");
  assert_int_equal(h.sni_normalized_len, strlen("mixed-case.example.com"));
  assert_int_equal(h.name_flags, 0);

  v = find_case("008-");
  assert_int_equal(parse_copy(&h, v->wire, v->wire_len, NULL),
                   (int)v->wire_len);
  assert_string_equal(h.sni, "www.example.org.");
  assert_int_equal(h.sni_len, 16);
  assert_string_equal(h.sni_normalized, "www.example.org");
  assert_int_equal(h.sni_normalized_len, 15);
  assert_int_equal(h.name_flags, SNI_NAME_TRAILING_DOT);

  /* 63-byte labels are the legal maximum: not flagged. */
  v = find_case("006-");
  assert_int_equal(parse_copy(&h, v->wire, v->wire_len, NULL),
                   (int)v->wire_len);
  assert_int_equal(h.name_flags, 0);
  assert_int_equal(h.sni_normalized_len, h.sni_len);

  v = find_case("004-");
  assert_int_equal(parse_copy(&h, v->wire, v->wire_len, NULL),
                   (int)v->wire_len);
  assert_int_equal(h.sni_present, 0);
  assert_int_equal(h.sni_len, 0);
}

/* ECH outer fields are not in the truth: read them from the bytes with
 * the tests' own walker and compare. */
static void test_ech_outer_fields(void **state) {
  (void)state;
  unsigned seen = 0;
  for (size_t i = 0; i < n_corpus; i++) {
    const vec *v = &corpus[i];
    uint8_t hs[65536];
    size_t n = deframe(v->wire, v->wire_len, hs, sizeof hs, NULL);
    assert_true(n > 0);
    extloc e[64];
    size_t ne = 0;
    lenfield f[512];
    assert_true(hello_walk(hs, n, f, 512, e, 64, &ne) > 0);
    sni_hello h;
    assert_int_equal(parse_copy(&h, v->wire, v->wire_len, NULL),
                     (int)v->wire_len);
    const extloc *ech = NULL;
    for (size_t k = 0; k < ne && k < 64; k++)
      if (e[k].type == 0xfe0d) ech = &e[k];
    if (!ech) {
      assert_int_equal(h.ech, 0);
      assert_int_equal(h.ech_kdf, 0);
      assert_int_equal(h.ech_payload_len, 0);
      continue;
    }
    seen++;
    const uint8_t *d = hs + ech->off;
    assert_int_equal(h.ech, 1);
    assert_int_equal(h.ech_type, d[0]);
    assert_int_equal(d[0], 0); /* browsers send GREASE ECH as an outer */
    assert_int_equal(h.ech_kdf, d[1] << 8 | d[2]);
    assert_int_equal(h.ech_aead, d[3] << 8 | d[4]);
    assert_int_equal(h.ech_config_id, d[5]);
    size_t enc = (size_t)d[6] << 8 | d[7];
    assert_int_equal(h.ech_enc_len, enc);
    assert_int_equal(h.ech_payload_len, (size_t)d[8 + enc] << 8 | d[9 + enc]);
    assert_int_equal(ech->len, 10 + enc + h.ech_payload_len);
  }
  assert_true(seen >= 2); /* Chromium and Firefox */
}

/* "Always fully overwritten": stale bytes in the output must not leak into
 * the result, so a dirty struct and a clean one end up identical. */
static void test_output_fully_overwritten(void **state) {
  (void)state;
  for (size_t i = 0; i < n_corpus; i++) {
    const vec *v = &corpus[i];
    sni_hello clean, dirty;
    memset(&clean, 0, sizeof clean);
    memset(&dirty, 0xa5, sizeof dirty);
    assert_int_equal(parse_copy(&clean, v->wire, v->wire_len, NULL),
                     (int)v->wire_len);
    assert_int_equal(parse_copy(&dirty, v->wire, v->wire_len, NULL),
                     (int)v->wire_len);
    if (memcmp(&clean, &dirty, sizeof clean) != 0)
      fail_msg("%s: result depends on the output's previous contents",
               v->name);
  }
}

/* The side files the other tests rely on. */
static void test_side_files(void **state) {
  (void)state;
  const vec *v = find_case("014-");
  size_t n;
  uint8_t *extra = corpus_file(v->name, "extra.bin", &n);
  assert_non_null(extra);
  const json_value *eb = json_get(&v->truth, "extra_bytes");
  assert_non_null(eb);
  assert_int_equal(eb->integer, (long long)n);
  free(extra);
  v = find_case("016-");
  uint8_t *first = corpus_file(v->name, "first-hello.bin", &n);
  assert_non_null(first);
  free(first);
  uint8_t *ccs = corpus_file(v->name, "ccs.bin", &n);
  assert_non_null(ccs);
  assert_int_equal(n, 6);
  assert_int_equal(ccs[0], 0x14);
  free(ccs);
}

/* The JSON reader must refuse what it cannot represent faithfully, or a
 * malformed truth file would compare as something else. */
static void test_json_reader(void **state) {
  (void)state;
  static const char *const bad[] = {
      "", "{", "{}x", "{\"a\":1,}", "[1,]", "{\"a\":1,\"a\":2}", "[01]",
      "[1.5]", "[1e3]", "[-]", "\"\\x\"", "\"a\nb\"", "[\"\\ud800\"]",
      "[\"\\udc00\"]", "[tru]", "{\"a\" 1}", "[1 2]", "\"\xff\"",
      "[99999999999999999999]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_value v;
    char err[128];
    if (json_parse(bad[i], strlen(bad[i]), &v, err, sizeof err) == 0)
      fail_msg("accepted invalid JSON #%zu: %s", i, bad[i]);
    assert_true(err[0] != '\0');
  }
  const char *good =
      " {\"s\":\"a\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\",\"i\":[-3,0,772],"
      "\"t\":true,\"f\":false,\"n\":null,\"o\":{},\"e\":[]} ";
  json_value v;
  char err[128];
  assert_int_equal(json_parse(good, strlen(good), &v, err, sizeof err), 0);
  const json_value *s = json_get(&v, "s");
  assert_non_null(s);
  assert_int_equal(s->str_len, 11);
  assert_memory_equal(s->str, "a\"\\/\n\xc3\xa9\xf0\x9f\x98\x80", 11);
  const json_value *arr = json_get(&v, "i");
  assert_int_equal(arr->type, JSON_ARRAY);
  assert_int_equal(arr->n, 3);
  assert_int_equal(arr->items[0].integer, -3);
  assert_int_equal(arr->items[2].integer, 772);
  assert_int_equal(json_get(&v, "t")->boolean, 1);
  assert_int_equal(json_get(&v, "f")->type, JSON_BOOL);
  assert_int_equal(json_get(&v, "f")->boolean, 0);
  assert_int_equal(json_get(&v, "n")->type, JSON_NULL);
  assert_int_equal(json_get(&v, "o")->type, JSON_OBJECT);
  assert_null(json_get(&v, "missing"));
  json_free(&v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_reader),
      cmocka_unit_test(test_field_list_covers_struct),
      cmocka_unit_test(test_corpus_matches_truth),
      cmocka_unit_test(test_normalized_names),
      cmocka_unit_test(test_ech_outer_fields),
      cmocka_unit_test(test_output_fully_overwritten),
      cmocka_unit_test(test_side_files),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
