/* Corrupted corpus hellos: every length field the tests' own walker finds
 * is set to value+-1, 0 and the maximum, the message is cut short with its
 * lengths fixed up, and random bytes are thrown at the parser.  For each
 * mutation the expected outcome is derived from the header's rules; where
 * a mutation shifts the parse onto other bytes, the only claim is "an
 * error or the same wire length", never a crash or a different framing.
 * Every input is also fed byte by byte and must give the same answer. */
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

#define GARBAGE_SEED 0x9a7ba9e5eedull

enum { X_PROTO = 1, X_BIG = 2, X_AGAIN = 4, X_OK = 8, X_NOTTLS = 16,
       X_SSLV2 = 32 };



static unsigned outcome(int rc, size_t wire_len) {
  if (rc == SNI_EPROTO) return X_PROTO;
  if (rc == SNI_E2BIG) return X_BIG;
  if (rc == SNI_EAGAIN) return X_AGAIN;
  if (rc == SNI_ENOTTLS) return X_NOTTLS;
  if (rc == SNI_ESSLV2) return X_SSLV2;
  if (rc > 0 && (size_t)rc == wire_len) return X_OK;
  return 0; /* anything else is never acceptable */
}

/* Two chunks cut at `cut`, each in its own exact-size allocation.
 * Returns the first non-EAGAIN result; *at is the offset of the byte
 * after the hello's end (like feed_bytewise's index + 1). */
static int feed_split(sni_hello *h, const uint8_t *w, size_t n, size_t cut,
                      size_t *at) {
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, h, NULL), 0);
  uint8_t *a = dup_exact(w, cut), *b = dup_exact(w + cut, n - cut);
  int rc = sni_parser_feed(&p, cut ? a : NULL, cut);
  *at = rc > 0 ? (size_t)rc : 0;
  if (rc == SNI_EAGAIN) {
    rc = sni_parser_feed(&p, n - cut ? b : NULL, n - cut);
    *at = rc > 0 ? cut + (size_t)rc : 0;
  }
  free(a);
  free(b);
  return rc;
}

/* One-shot and byte-by-byte (or, for the bulk loops, a two-chunk split)
 * must agree on the code, and on success on the whole hello.  Returns the
 * one-shot code. */
static int parse_consistent_ex(const uint8_t *w, size_t n, const char *what,
                               int bytewise) {
  sni_hello h1, h2;
  int rc = parse_copy(&h1, w, n, NULL);
  size_t at = 0;
  int rc2;
  if (bytewise) {
    rc2 = feed_bytewise(&h2, w, n, NULL, &at);
    if (rc2 == 1) at++;
  } else {
    rc2 = feed_split(&h2, w, n, n * 7 / 13, &at);
    if (rc2 > 0) rc2 = 1;
  }
  if (rc > 0) {
    if (rc2 != 1 || at != (size_t)rc || memcmp(&h1, &h2, sizeof h1))
      fail_msg("%s: one-shot %d, streamed %d ending at %zu (or hello differs)",
               what, rc, rc2, at);
  } else if (rc != rc2) {
    fail_msg("%s: one-shot %s, streamed %s", what, sni_errname(rc),
             sni_errname(rc2));
  }
  /* Routing-only validates the same way: the same verdict, and on success
   * the same routing fields. */
  sni_hello hr;
  sni_limits ro = {0, 0, SNI_PARSE_ROUTING_ONLY};
  int rcr = parse_copy(&hr, w, n, &ro);
  if (rcr != rc)
    fail_msg("%s: full %s, routing-only %s", what, sni_errname(rc),
             sni_errname(rcr));
  const char *d = rc > 0 ? routing_differs(&h1, &hr) : NULL;
  if (d) fail_msg("%s: routing-only differs in %s", what, d);
  return rc;
}

static int parse_consistent(const uint8_t *w, size_t n, const char *what) {
  return parse_consistent_ex(w, n, what, 1);
}

static const uint16_t interpreted[] = {0,  10, 11, 13, 16, 34, 41,
                                       42, 43, 50, 51, 0xfe0d};

static int is_interpreted(uint16_t t) {
  for (size_t i = 0; i < sizeof interpreted / sizeof *interpreted; i++)
    if (interpreted[i] == t) return 1;
  return 0;
}

/* What the header's rules say about length field f set to nv. */
static unsigned expect(const lenfield *f, unsigned long nv) {
  const unsigned long v = f->value;
  switch (f->kind) {
  case F_HS_LEN:
    if (nv + 4 > SNI_DEFAULT_MAX_HELLO) return X_BIG;
    /* Too short, or the extensions block no longer fills the message
     * (every corpus hello has one), or the record runs past the end. */
    return X_PROTO;
  case F_SID:
    /* Over 32, or a shifted parse. */
    return nv > 32 || nv > f->room ? X_PROTO : X_PROTO | X_OK;
  case F_CS:
    return nv == 0 || (nv & 1) || nv > f->room ? X_PROTO : X_PROTO | X_OK;
  case F_COMP:
    return nv == 0 || nv > f->room ? X_PROTO : X_PROTO | X_OK;
  case F_EXTS:
    return X_PROTO; /* must fill the rest of the message exactly */
  case F_EXT:
    if (nv > f->room || is_interpreted(f->ext)) return X_PROTO;
    /* Fewer than 4 bytes left over cannot hold an extension header. */
    if (f->last && nv < v && v - nv < 4) return X_PROTO;
    return X_PROTO | X_OK;
  case F_LIST:
  case F_PSK_IDS:
    return X_PROTO; /* must match the extension exactly */
  case F_ENTRY:
    if (nv == 0 || nv > f->room || f->last) return X_PROTO;
    return X_PROTO | X_OK;
  case F_ECH_ENC:
    return nv > f->room ? X_PROTO : X_PROTO | X_OK;
  case F_REC:
    break;
  }
  return 0;
}

static void describe(char *out, size_t n, const vec *v, const lenfield *f,
                     unsigned long nv) {
  snprintf(out, n, "%s: %s at %zu (ext %u%s) %lu -> %lu", v->name, f->what,
           f->off, f->ext, f->last ? ", last" : "", f->value, nv);
}

static void check(const char *what, int rc, size_t wire_len,
                  unsigned allowed, unsigned *count) {
  if (!(outcome(rc, wire_len) & allowed))
    fail_msg("%s: got %d (%s), allowed mask %#x", what, rc, sni_errname(rc),
             allowed);
  (*count)++;
}

static void set_field(uint8_t *w, const size_t *map, size_t off, int width,
                      unsigned long nv) {
  for (int i = width - 1; i >= 0; i--) {
    w[map[off + (size_t)i]] = (uint8_t)nv;
    nv >>= 8;
  }
}

static void test_length_field_mutations(void **state) {
  (void)state;
  assert_true(n_corpus >= MIN_CORPUS_CASES);
  unsigned checked = 0;
  static uint8_t hs[70000];
  static size_t map[70000];
  static lenfield f[1024];
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    size_t n = deframe(v->wire, v->wire_len, hs, sizeof hs, map);
    assert_true(n > 0);
    size_t nf = hello_walk(hs, n, f, 1024, NULL, 0, NULL);
    if (nf == 0) fail_msg("%s: the tests' walker cannot parse it", v->name);
    assert_true(nf >= 8);
    uint8_t *w = malloc(v->wire_len);
    assert_non_null(w);
    for (size_t i = 0; i < nf; i++) {
      unsigned long maxv = f[i].width == 1 ? 0xff
                           : f[i].width == 2 ? 0xffff : 0xffffff;
      unsigned long vals[8];
      size_t nv = 0;
      vals[nv++] = f[i].value + 1;
      if (f[i].value > 0) vals[nv++] = f[i].value - 1;
      vals[nv++] = 0;
      vals[nv++] = maxv;
      if (f[i].kind == F_HS_LEN) {
        vals[nv++] = 0xffff;
        vals[nv++] = SNI_DEFAULT_MAX_HELLO - 4; /* at the limit */
        vals[nv++] = SNI_DEFAULT_MAX_HELLO - 3; /* one over */
      }
      for (size_t k = 0; k < nv; k++) {
        if (vals[k] > maxv || vals[k] == f[i].value) continue;
        memcpy(w, v->wire, v->wire_len);
        set_field(w, map, f[i].off, f[i].width, vals[k]);
        char what[320];
        describe(what, sizeof what, v, &f[i], vals[k]);
        int rc = parse_consistent(w, v->wire_len, what);
        check(what, rc, v->wire_len, expect(&f[i], vals[k]), &checked);
      }
    }
    free(w);
  }
  print_message("%u length-field mutations checked\n", checked);
  assert_true(checked > 2000);
}

/* Record length fields, on the wire. */
static void test_record_length_mutations(void **state) {
  (void)state;
  unsigned checked = 0;
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    uint8_t *w = malloc(v->wire_len);
    assert_non_null(w);
    size_t off = 0, hs_off = 0, total_hs = 0;
    for (size_t o = 0; o + 5 <= v->wire_len;
         o += 5 + ((size_t)v->wire[o + 3] << 8 | v->wire[o + 4]))
      total_hs += (size_t)v->wire[o + 3] << 8 | v->wire[o + 4];
    while (off < v->wire_len) {
      unsigned long rl = (unsigned long)v->wire[off + 3] << 8 | v->wire[off + 4];
      int last = off + 5 + rl == v->wire_len;
      const unsigned long vals[] = {rl + 1, rl - 1, 0, 0xffff, 16384, 16385};
      for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
        unsigned long nv = vals[k];
        if (nv == rl || nv > 0xffff) continue;
        memcpy(w, v->wire, v->wire_len);
        w[off + 3] = (uint8_t)(nv >> 8);
        w[off + 4] = (uint8_t)nv;
        unsigned allowed;
        if (nv == 0 || nv > 16384) {
          allowed = X_PROTO;
        } else if (last && nv < rl) {
          /* The hello's last byte now starts a record header: EAGAIN
           * today, EPROTO if test_invalid_byte_ends_prefix (parser_errors)
           * gets its way. */
          allowed = X_PROTO | X_AGAIN;
        } else if (hs_off + rl < 4 && nv > rl) {
          /* The handshake length is then read from framing bytes. */
          allowed = X_PROTO | X_BIG;
        } else {
          /* Past the message end, or the next header misaligned. */
          allowed = X_PROTO;
        }
        char what[320];
        snprintf(what, sizeof what, "%s: record at %zu length %lu -> %lu",
                 v->name, off, rl, nv);
        int rc = parse_consistent(w, v->wire_len, what);
        /* A record grown by one byte swallows the next header's 0x16; if
         * that completes the message, it is a different valid hello
         * (its last byte is 0x16) that ends right there. */
        if (!last && nv == rl + 1 && rc > 0 &&
            (size_t)rc == off + 5 + nv && hs_off + nv == total_hs)
          checked++;
        else
          check(what, rc, v->wire_len, allowed, &checked);
      }
      hs_off += rl;
      off += 5 + rl;
    }
    free(w);
  }
  print_message("%u record-length mutations checked\n", checked);
  assert_true(checked > 29 * 4);
}

/* The message cut at every point, with the handshake and record lengths
 * fixed up to match: only the cut at the end of compression_methods is a
 * (shorter, extension-less) valid hello. */
static void test_consistent_truncations(void **state) {
  (void)state;
  unsigned checked = 0;
  static uint8_t hs[70000];
  static lenfield f[1024];
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    size_t n = deframe(v->wire, v->wire_len, hs, sizeof hs, NULL);
    size_t nf = hello_walk(hs, n, f, 1024, NULL, 0, NULL);
    assert_true(nf > 0);
    size_t exts_at = 0;
    for (size_t i = 0; i < nf; i++)
      if (f[i].kind == F_EXTS) exts_at = f[i].off;
    assert_true(exts_at > 0);
    for (size_t cut = 4; cut < n; cut++) {
      buf w = {0};
      uint8_t *t = dup_exact(hs, cut);
      t[1] = (uint8_t)((cut - 4) >> 16);
      t[2] = (uint8_t)((cut - 4) >> 8);
      t[3] = (uint8_t)(cut - 4);
      frame_records(&w, t, cut, 16384);
      free(t);
      char what[320];
      snprintf(what, sizeof what, "%s: cut to %zu of %zu bytes", v->name, cut,
               n);
      int rc = parse_consistent_ex(w.p, w.n, what, cut % 16 == 0);
      unsigned allowed = cut == exts_at ? X_OK : X_PROTO;
      check(what, rc, w.n, allowed, &checked);
      if (cut == exts_at) {
        sni_hello h;
        assert_int_equal(parse_copy(&h, w.p, w.n, NULL), (int)w.n);
        assert_int_equal(h.n_extensions, 0);
        assert_int_equal(h.sni_present, 0);
      }
      b_free(&w);
    }
  }
  print_message("%u truncations checked\n", checked);
  assert_true(checked > 5000);
}

/* Random bytes: never a crash, never a read past the input (ASan), and
 * the same answer however it is fed. */
static void test_random_garbage(void **state) {
  (void)state;
  rng g = {GARBAGE_SEED};
  unsigned counts[5] = {0};
  for (unsigned t = 0; t < 3000; t++) {
    uint64_t seed = g.s;
    size_t n = rng_range(&g, 1, 600);
    uint8_t *w = malloc(n);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++) w[i] = (uint8_t)rng_next(&g);
    unsigned mode = t % 3;
    if (mode >= 1) {
      /* A plausible record header, so the garbage reaches deeper. */
      w[0] = 0x16;
      if (n > 1) w[1] = 3;
      if (n > 4) {
        w[3] = (uint8_t)((n - 5) >> 8);
        w[4] = (uint8_t)(n - 5);
      }
    }
    if (mode == 2 && n > 9) {
      /* ... and a matching client_hello header. */
      w[5] = 1;
      w[6] = 0;
      w[7] = (uint8_t)((n - 9) >> 8);
      w[8] = (uint8_t)(n - 9);
      if (n > 10) w[9] = 3;
    }
    char what[320];
    snprintf(what, sizeof what, "garbage seed 0x%llx", (unsigned long long)seed);
    int rc = parse_consistent(w, n, what);
    unsigned allowed;
    if (w[0] >= 0x80)
      allowed = X_NOTTLS | X_SSLV2 | X_AGAIN;
    else if (w[0] != 0x16)
      allowed = X_NOTTLS; /* decided by the first byte */
    else if (n > 1 && w[1] != 3)
      allowed = X_NOTTLS;
    else if (mode == 2 && n >= 9 + 41)
      allowed = X_PROTO | X_OK; /* framing complete and consistent */
    else
      allowed = X_PROTO | X_AGAIN | X_BIG;
    if (!(outcome(rc, n) & allowed))
      fail_msg("%s (mode %u, %zu bytes): %d (%s), allowed %#x", what, mode, n,
               rc, sni_errname(rc), allowed);
    if (rc > 0) counts[4]++;
    else if (rc >= -5) counts[-rc - 1]++;
    free(w);
  }
  print_message("garbage: EAGAIN %u ENOTTLS %u ESSLV2 %u EPROTO %u ok %u\n",
                counts[0], counts[1], counts[2], counts[3], counts[4]);
  assert_true(counts[1] > 0 && counts[3] > 0);
}

/* Corpus hellos with a few random bytes overwritten. */
static void test_corpus_byte_flips(void **state) {
  (void)state;
  rng g = {GARBAGE_SEED ^ 0xf1f1};
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    uint8_t *w = malloc(v->wire_len);
    assert_non_null(w);
    for (unsigned t = 0; t < 60; t++) {
      uint64_t seed = g.s;
      memcpy(w, v->wire, v->wire_len);
      size_t flips = rng_range(&g, 1, 4);
      int framing = 0;
      for (size_t k = 0; k < flips; k++) {
        size_t at = rng_range(&g, 0, v->wire_len - 1);
        w[at] = (uint8_t)rng_next(&g);
        framing |= at < 9;
      }
      char what[320];
      snprintf(what, sizeof what, "%s: byte flips seed 0x%llx", v->name,
               (unsigned long long)seed);
      int rc = parse_consistent(w, v->wire_len, what);
      /* With the outer framing untouched nothing but the hello can end
       * the parse (single-record vectors). */
      if (!framing && v->wire_len - 5 == ((size_t)v->wire[3] << 8 | v->wire[4]))
        check(what, rc, v->wire_len, X_PROTO | X_OK, &(unsigned){0});
    }
    free(w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_length_field_mutations),
      cmocka_unit_test(test_record_length_mutations),
      cmocka_unit_test(test_consistent_truncations),
      cmocka_unit_test(test_random_garbage),
      cmocka_unit_test(test_corpus_byte_flips),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
