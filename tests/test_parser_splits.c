/* Chunking independence: every way of cutting a corpus hello into chunks
 * yields the one-shot sni_hello byte for byte, with consistent returns and
 * a truthful sni_parser_need(); every strict prefix is SNI_EAGAIN.  Every
 * chunk lives in its own exact-size allocation, so under ASan any read past
 * a chunk is caught. */
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

/* Fixed so that a failure reproduces; printed with every failure. */
#define CHUNKING_SEED 0x5e1f2024c0ffeeull
#define RANDOM_CHUNKINGS 200



/* Wire offset where the last record's payload starts: from there on the
 * parser has read every record header and need() is exact. */
static size_t last_payload_start(const vec *v) {
  size_t off = 0, start = 0;
  while (off + 5 <= v->wire_len) {
    size_t rl = (size_t)v->wire[off + 3] << 8 | v->wire[off + 4];
    start = off + 5;
    off += 5 + rl;
  }
  assert_int_equal(off, v->wire_len);
  return start;
}

typedef struct plan_result {
  char why[256];
} plan_result;

#define PLAN_FAIL(...)                                                      \
  do {                                                                      \
    snprintf(res->why, sizeof res->why, __VA_ARGS__);                       \
    return 0;                                                               \
  } while (0)

/*
 * Feeds data[0..len) (the hello, wire_len bytes, then anything) cut at the
 * given chunk sizes and checks every return, need() and status() against
 * what the header promises.  Returns 1 if all held.
 */
static int run_plan(const vec *v, const uint8_t *data, size_t len,
                    const size_t *sizes, size_t n_sizes,
                    const sni_hello *ref, size_t exact_from,
                    plan_result *res) {
  sni_parser p;
  sni_hello h;
  const size_t wl = v->wire_len;
  if (sni_parser_init(&p, &h, NULL) != 0) PLAN_FAIL("init failed");
  if (sni_parser_status(&p) != SNI_EAGAIN) PLAN_FAIL("status before feeding");
  size_t need0 = sni_parser_need(&p);
  if (need0 < 1 || need0 > wl) PLAN_FAIL("need() %zu before feeding", need0);
  size_t fed = 0;
  int done = 0;
  for (size_t i = 0; i < n_sizes; i++) {
    size_t k = sizes[i];
    uint8_t *chunk = dup_exact(data + fed, k);
    int rc = sni_parser_feed(&p, k ? chunk : NULL, k);
    free(chunk);
    if (done) {
      if (rc != 0) PLAN_FAIL("feed after completion returned %d", rc);
    } else if (fed + k < wl) {
      if (rc != SNI_EAGAIN)
        PLAN_FAIL("chunk %zu (bytes %zu..%zu) returned %d, expected EAGAIN", i,
                  fed, fed + k, rc);
      size_t need = sni_parser_need(&p);
      if (need < 1 || need > wl - (fed + k))
        PLAN_FAIL("after %zu bytes need() = %zu, but %zu remain", fed + k,
                  need, wl - (fed + k));
      if (fed + k >= exact_from && need != wl - (fed + k))
        PLAN_FAIL("after %zu bytes (last record header read) need() = %zu, "
                  "expected exactly %zu", fed + k, need, wl - (fed + k));
      if (sni_parser_status(&p) != SNI_EAGAIN)
        PLAN_FAIL("status() not EAGAIN while incomplete");
    } else {
      if (rc != (int)(wl - fed))
        PLAN_FAIL("completing chunk %zu (bytes %zu..%zu) returned %d, "
                  "expected %zu", i, fed, fed + k, rc, wl - fed);
      done = 1;
    }
    fed += k;
  }
  if (fed != len) PLAN_FAIL("plan covers %zu of %zu bytes", fed, len);
  if (!done) PLAN_FAIL("never completed");
  if (sni_parser_status(&p) != (int)wl)
    PLAN_FAIL("status() = %d, expected %zu", sni_parser_status(&p), wl);
  if (sni_parser_need(&p) != 0) PLAN_FAIL("need() not 0 when complete");
  if (memcmp(&h, ref, sizeof h) != 0)
    PLAN_FAIL("sni_hello differs from the one-shot parse");
  /* Completion is final: more bytes neither count nor change the hello. */
  uint8_t more = 0x16;
  if (sni_parser_feed(&p, &more, 1) != 0)
    PLAN_FAIL("feed after completion is not 0");
  if (memcmp(&h, ref, sizeof h) != 0) PLAN_FAIL("late feed changed hello");
  return 1;
}

static void reference(const vec *v, sni_hello *ref) {
  int rc = parse_copy(ref, v->wire, v->wire_len, NULL);
  if (rc != (int)v->wire_len)
    fail_msg("%s: one-shot parse returned %d", v->name, rc);
}

static void test_two_chunk_splits(void **state) {
  (void)state;
  assert_true(n_corpus >= MIN_CORPUS_CASES);
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref;
    reference(v, &ref);
    size_t exact = last_payload_start(v);
    /* k == 0 also covers an empty first feed. */
    for (size_t k = 0; k < v->wire_len; k++) {
      size_t sizes[2] = {k, v->wire_len - k};
      plan_result r;
      if (!run_plan(v, v->wire, v->wire_len, sizes, 2, &ref, exact, &r))
        fail_msg("%s: split at %zu: %s", v->name, k, r.why);
    }
  }
}

static void test_byte_by_byte(void **state) {
  (void)state;
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref;
    reference(v, &ref);
    size_t *sizes = malloc(v->wire_len * sizeof *sizes);
    assert_non_null(sizes);
    for (size_t i = 0; i < v->wire_len; i++) sizes[i] = 1;
    plan_result r;
    int ok = run_plan(v, v->wire, v->wire_len, sizes, v->wire_len, &ref,
                      last_payload_start(v), &r);
    free(sizes);
    if (!ok) fail_msg("%s: byte by byte: %s", v->name, r.why);
  }
}

/* Random cuts, with bytes after the hello (014's real CCS + 0-RTT data,
 * else random garbage) so that the in-chunk count is exercised wherever
 * the hello happens to end inside a chunk. */
static void test_random_chunkings(void **state) {
  (void)state;
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref;
    reference(v, &ref);
    size_t exact = last_payload_start(v);
    size_t extra_len = 0;
    uint8_t *extra = corpus_file(v->name, "extra.bin", &extra_len);
    for (unsigned t = 0; t < RANDOM_CHUNKINGS; t++) {
      uint64_t seed = CHUNKING_SEED ^ ((uint64_t)c << 32) ^ t;
      rng g = {seed};
      size_t tail = extra ? extra_len : rng_range(&g, 0, 64);
      size_t len = v->wire_len + tail;
      uint8_t *data = malloc(len);
      assert_non_null(data);
      memcpy(data, v->wire, v->wire_len);
      for (size_t i = v->wire_len; i < len; i++)
        data[i] = extra ? extra[i - v->wire_len] : (uint8_t)rng_next(&g);
      size_t *sizes = malloc((len + 1) * sizeof *sizes);
      assert_non_null(sizes);
      size_t n = 0, off = 0;
      /* Mostly small chunks, sometimes a big one, sometimes empty. */
      while (off < len) {
        size_t left = len - off, k;
        switch (rng_next(&g) % 8) {
        case 0: k = 0; break;
        case 1: k = rng_range(&g, 1, left); break;
        case 2: k = rng_range(&g, 1, left < 300 ? left : 300); break;
        default: k = rng_range(&g, 1, left < 9 ? left : 9); break;
        }
        sizes[n++] = k;
        off += k;
      }
      plan_result r;
      int ok = run_plan(v, data, len, sizes, n, &ref, exact, &r);
      free(sizes);
      free(data);
      if (!ok)
        fail_msg("%s: random chunking seed 0x%llx (trial %u): %s", v->name,
                 (unsigned long long)seed, t, r.why);
    }
    free(extra);
  }
}

static void test_strict_prefixes_need_more(void **state) {
  (void)state;
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    for (size_t k = 0; k < v->wire_len; k++) {
      sni_hello h;
      int rc = parse_copy(&h, v->wire, k, NULL);
      if (rc != SNI_EAGAIN)
        fail_msg("%s: prefix of %zu/%zu bytes returned %d (%s)", v->name, k,
                 v->wire_len, rc, sni_errname(rc));
    }
  }
}

/* Bytes after the hello are not part of it, whatever they are. */
static void test_trailing_bytes_not_counted(void **state) {
  (void)state;
  rng g = {CHUNKING_SEED};
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref;
    reference(v, &ref);
    for (unsigned t = 0; t < 8; t++) {
      size_t tail = rng_range(&g, 1, 4096);
      size_t len = v->wire_len + tail;
      uint8_t *data = malloc(len);
      assert_non_null(data);
      memcpy(data, v->wire, v->wire_len);
      for (size_t i = v->wire_len; i < len; i++) {
        /* Half the runs append something that looks like another record. */
        data[i] = (t & 1) ? (uint8_t)rng_next(&g) : (uint8_t)"\x16\x03\x03"[i % 3];
      }
      sni_hello h;
      int rc = parse_copy(&h, data, len, NULL);
      free(data);
      if (rc != (int)v->wire_len || memcmp(&h, &ref, sizeof h) != 0)
        fail_msg("%s: hello + %zu trailing bytes returned %d, expected %zu",
                 v->name, tail, rc, v->wire_len);
    }
  }
}

static void test_early_data_after_hello(void **state) {
  (void)state;
  const vec *v = NULL;
  for (size_t c = 0; c < n_corpus; c++)
    if (strncmp(corpus[c].name, "014-", 4) == 0) v = &corpus[c];
  assert_non_null(v);
  size_t xl;
  uint8_t *extra = corpus_file(v->name, "extra.bin", &xl);
  assert_non_null(extra);
  assert_true(xl > 6);
  assert_int_equal(extra[0], 0x14); /* CCS, then application data */
  size_t len = v->wire_len + xl;
  uint8_t *all = malloc(len);
  assert_non_null(all);
  memcpy(all, v->wire, v->wire_len);
  memcpy(all + v->wire_len, extra, xl);

  sni_hello ref, h;
  reference(v, &ref);
  assert_int_equal(parse_copy(&h, all, len, NULL), (int)v->wire_len);
  assert_memory_equal(&h, &ref, sizeof h);
  assert_int_equal(h.early_data, 1);

  /* Everything in one chunk: the return says where the 0-RTT data starts. */
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  uint8_t *chunk = dup_exact(all, len);
  assert_int_equal(sni_parser_feed(&p, chunk, len), (int)v->wire_len);
  free(chunk);
  assert_int_equal(sni_parser_status(&p), (int)v->wire_len);
  assert_memory_equal(&h, &ref, sizeof h);

  /* The hello's last byte and the CCS in one chunk after a split. */
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  chunk = dup_exact(all, v->wire_len - 1);
  assert_int_equal(sni_parser_feed(&p, chunk, v->wire_len - 1), SNI_EAGAIN);
  free(chunk);
  chunk = dup_exact(all + v->wire_len - 1, xl + 1);
  assert_int_equal(sni_parser_feed(&p, chunk, xl + 1), 1);
  free(chunk);
  assert_memory_equal(&h, &ref, sizeof h);
  free(all);
  free(extra);
}

/* Feeds n bytes in chunks of k (each an exact-size copy) to a parser
 * started by init; returns the first result that is not EAGAIN and, in
 * *end, the offset just past the hello when it completed. */
static int feed_chunks(int (*init)(sni_parser *, sni_hello *, const sni_limits *),
                       sni_hello *h, const uint8_t *w, size_t n, size_t k,
                       const sni_limits *lim, size_t *end) {
  sni_parser p;
  assert_int_equal(init(&p, h, lim), 0);
  int rc = SNI_EAGAIN;
  *end = 0;
  for (size_t off = 0; off < n && rc == SNI_EAGAIN; off += k) {
    size_t m = n - off < k ? n - off : k;
    uint8_t *c = dup_exact(w + off, m);
    rc = sni_parser_feed(&p, c, m);
    free(c);
    if (rc > 0) *end = off + (size_t)rc;
  }
  return rc;
}

/* SNI_PARSE_ROUTING_ONLY: same verdict and routing fields as the full
 * parse for every vector, and the same routing-only hello whatever the
 * chunking (one shot, TCP segments, byte by byte). */
static void test_routing_only(void **state) {
  (void)state;
  const sni_limits ro = {0, 0, SNI_PARSE_ROUTING_ONLY};
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref, r1, r2;
    reference(v, &ref);
    assert_int_equal(parse_copy(&r1, v->wire, v->wire_len, &ro),
                     (int)v->wire_len);
    const char *d = routing_differs(&ref, &r1);
    if (d) fail_msg("%s: routing-only differs in %s", v->name, d);
    const size_t chunks[] = {1460, 1};
    for (size_t i = 0; i < 2; i++) {
      size_t end;
      int rc = feed_chunks(sni_parser_init, &r2, v->wire, v->wire_len,
                           chunks[i], &ro, &end);
      if (rc <= 0 || end != v->wire_len || memcmp(&r1, &r2, sizeof r1))
        fail_msg("%s: routing-only in %zu-byte chunks: %d", v->name,
                 chunks[i], rc);
    }
  }
}

/* sni_parser_init_handshake(): the bare handshake message (what QUIC
 * carries) gives the hello of the records minus the record fields, in
 * one shot, in chunks and byte by byte, full or routing-only, and a chunk
 * running past the message reports where it ended. */
static void test_handshake_entry(void **state) {
  (void)state;
  for (size_t c = 0; c < n_corpus; c++) {
    const vec *v = &corpus[c];
    sni_hello ref, h;
    reference(v, &ref);
    uint8_t hs[65536 + 16];
    size_t n = deframe(v->wire, v->wire_len, hs, sizeof hs - 16, NULL);
    assert_true(n > 0 && n == ref.hello_len);
    memset(hs + n, 0x16, 16); /* whatever follows is not read */
    sni_hello want = ref;
    want.records = 0;
    want.record_version = 0;
    want.n_record_list = 0;
    memset(want.record_versions, 0, sizeof want.record_versions);
    memset(want.record_lengths, 0, sizeof want.record_lengths);
    want.truncated &= (uint16_t)~SNI_TRUNC_RECORDS;
    want.wire_len = (uint32_t)n;
    const size_t chunks[] = {n + 16, 1460, 7, 1};
    for (size_t i = 0; i < 4; i++) {
      size_t end;
      int rc = feed_chunks(sni_parser_init_handshake, &h, hs, n + 16,
                           chunks[i], NULL, &end);
      if (rc <= 0 || end != n || memcmp(&h, &want, sizeof h))
        fail_msg("%s: handshake input in %zu-byte chunks: %d (%s), end %zu",
                 v->name, chunks[i], rc, sni_errname(rc), end);
      const sni_limits ro = {0, 0, SNI_PARSE_ROUTING_ONLY};
      sni_hello r;
      rc = feed_chunks(sni_parser_init_handshake, &r, hs, n, chunks[i], &ro,
                       &end);
      const char *d = rc > 0 ? routing_differs(&want, &r) : "result";
      if (d) fail_msg("%s: routing-only handshake input: %s", v->name, d);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_chunk_splits),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_random_chunkings),
      cmocka_unit_test(test_strict_prefixes_need_more),
      cmocka_unit_test(test_trailing_bytes_not_counted),
      cmocka_unit_test(test_early_data_after_hello),
      cmocka_unit_test(test_routing_only),
      cmocka_unit_test(test_handshake_entry),
  };
  return cmocka_run_group_tests(tests, corpus_setup, corpus_teardown);
}
