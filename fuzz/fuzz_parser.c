/*
 * Differential fuzzer: sni_parse_ex() over the whole input must agree
 * exactly with sni_parser_feed() over the same bytes cut at fuzzer-chosen
 * points, and a routing-only parse (SNI_PARSE_ROUTING_ONLY) of the same
 * bytes, one-shot and in the same cuts, must give the same verdict and the
 * same routing fields.  Any disagreement, or a broken invariant, aborts.
 *
 * Input: an 8-byte header, then the stream.
 *   [0] flags   bits 0-1: split mode (0 PRNG sizes 1..param+1, 1 fixed size
 *               param+1, 2 one byte per feed, 3 PRNG sizes 0..7 with an
 *               occasional big chunk); bit 2: pass limits; bit 3: also feed
 *               empty chunks; bit 4: invalid limits (EINVAL expected).
 *   [1] param   chunk size parameter
 *   [2..3]      PRNG seed (big-endian)
 *   [4..5]      limits.max_hello_len (big-endian, 0 = default)
 *   [6]         limits.max_records (0 = default)
 *   [7]         with bit 4: which undefined limits flag to set
 */
#include "sniroute.h"
#include "fuzz_util.h"
#include "../tests/routing_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HDR 8

static uint32_t xs(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void check_hello(const sni_hello *h) {
  CHECK(h->n_ciphers <= SNI_CAP_CIPHERS);
  CHECK(h->n_extensions <= SNI_CAP_EXTENSIONS);
  CHECK(h->n_groups <= SNI_CAP_GROUPS);
  CHECK(h->n_key_shares <= SNI_CAP_KEY_SHARES);
  CHECK(h->n_sigalgs <= SNI_CAP_SIGALGS);
  CHECK(h->n_sigalgs_cert <= SNI_CAP_SIGALGS_CERT);
  CHECK(h->n_dc_sigalgs <= SNI_CAP_DC_SIGALGS);
  CHECK(h->n_versions <= SNI_CAP_VERSIONS);
  CHECK(h->n_point_formats <= SNI_CAP_POINT_FORMATS);
  CHECK(h->n_compression <= SNI_CAP_COMPRESSION);
  CHECK(h->n_record_list <= SNI_CAP_RECORDS);
  CHECK(h->n_record_list == h->records ||
        (h->n_record_list == SNI_CAP_RECORDS &&
         (h->truncated & SNI_TRUNC_RECORDS)));
  CHECK(h->alpn_len <= SNI_CAP_ALPN_BYTES);
  CHECK(h->sni_len <= SNI_MAX_NAME);
  CHECK(h->sni[h->sni_len] == '\0');
  CHECK(h->sni_normalized_len <= h->sni_len);
  CHECK(h->sni_normalized[h->sni_normalized_len] == '\0');
  CHECK(h->session_id_len <= 32);
  CHECK(h->sni_present || h->sni_len == 0);
  /* The packed ALPN names must account for exactly alpn_len bytes. */
  size_t used = 0;
  for (unsigned i = 0; i < h->n_alpn; i++) {
    const uint8_t *name;
    size_t len;
    CHECK(sni_alpn_get(h, i, &name, &len) == 0);
    CHECK(len >= 1);
    CHECK(name == h->alpn + used + 1);
    used += 1 + len;
  }
  CHECK(used == h->alpn_len);
  const uint8_t *name;
  size_t len;
  CHECK(sni_alpn_get(h, h->n_alpn, &name, &len) == SNI_ENOENT);
}

/* JA4 (4 variants), JA3, JA3 MD5 of any hello, complete or not: a value
 * or SNI_E2BIG (a truncated list), never a crash; the same text into an
 * exact-size heap buffer (ASan sees any overrun), SNI_ENOSPC one short. */
static int fingerprint(const sni_hello *h, int which, char *out, size_t cap) {
  if (which < 4) return sni_ja4(h, (sni_ja4_variant)which, out, cap);
  return which == 4 ? sni_ja3(h, out, cap) : sni_ja3_md5(h, out, cap);
}

static void check_fingerprints(const sni_hello *h) {
  static const size_t max[6] = {SNI_JA4_MAX, SNI_JA4_R_MAX, SNI_JA4_MAX,
                                SNI_JA4_R_MAX, SNI_JA3_MAX, SNI_JA3_MD5_MAX};
  char big[SNI_JA4_R_MAX > SNI_JA3_MAX ? SNI_JA4_R_MAX : SNI_JA3_MAX];
  for (int k = 0; k < 6; k++) {
    int len = fingerprint(h, k, big, sizeof big);
    CHECK(len > 0 || len == SNI_E2BIG);
    if (len < 0) continue;
    CHECK((size_t)len < max[k] && big[len] == '\0');
    char *exact = malloc((size_t)len + 1);
    CHECK(exact != NULL);
    CHECK(fingerprint(h, k, exact, (size_t)len + 1) == len);
    CHECK(memcmp(exact, big, (size_t)len + 1) == 0);
    CHECK(fingerprint(h, k, exact, (size_t)len) == SNI_ENOSPC);
    free(exact);
  }
}

/* Feeds a heap copy of exactly len bytes so that ASan flags any overread. */
static int feed_exact(sni_parser *p, const uint8_t *data, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  if (len) memcpy(copy, data, len);
  int rc = sni_parser_feed(p, len ? copy : NULL, len);
  free(copy);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < HDR) return 0;
  const unsigned flags = data[0];
  const unsigned param = data[1];
  uint32_t seed = ((uint32_t)data[2] << 8 | data[3]) * 2654435761u | 1u;
  sni_limits lim = {0, 0, 0};
  const sni_limits *limp = NULL;
  if (flags & 4u) {
    lim.max_hello_len = (uint32_t)data[4] << 8 | data[5];
    lim.max_records = data[6];
    limp = &lim;
  }
  if (flags & 16u) {
    /* Invalid limits must be refused the same way by both entry points. */
    if (data[6] & 1u)
      lim.flags = 1u << (1u + data[7] % 31u); /* bit 0 is routing-only */
    else
      lim.max_hello_len = (1u << 24) + 4u + data[5];
    limp = &lim;
  }
  const uint8_t *in = data + HDR;
  const size_t n = size - HDR;

  /* ---- one-shot on an exact-size copy ---- */
  sni_hello *one = malloc(sizeof *one);
  sni_hello *str = malloc(sizeof *str);
  uint8_t *buf = malloc(n ? n : 1);
  CHECK(one && str && buf);
  memset(one, 0xa5, sizeof *one);
  memset(str, 0x5a, sizeof *str);
  if (n) memcpy(buf, in, n);
  int rc1 = sni_parse_ex(one, n ? buf : NULL, n, limp);
  free(buf);

  sni_parser p;
  int rci = sni_parser_init(&p, str, limp);
  if (flags & 16u) {
    CHECK(rc1 == SNI_EINVAL && rci == SNI_EINVAL);
    goto done;
  }
  CHECK(rci == 0);
  CHECK(rc1 != SNI_EINVAL);
  CHECK(rc1 > 0 || rc1 == SNI_EAGAIN || rc1 == SNI_ENOTTLS ||
        rc1 == SNI_ESSLV2 || rc1 == SNI_EPROTO || rc1 == SNI_E2BIG);
  CHECK(rc1 <= (int)n);
  check_hello(one);
  check_fingerprints(one);
  if (rc1 > 0) {
    CHECK((uint32_t)rc1 == one->wire_len);
    CHECK(one->records >= 1);
    CHECK(one->hello_len + 5u * one->records == one->wire_len);
    CHECK(one->n_compression >= 1);
    CHECK(one->n_ciphers >= 1 || (one->truncated & SNI_TRUNC_CIPHERS));
  }
  if (!limp) {
    sni_hello *plain = malloc(sizeof *plain);
    CHECK(plain);
    CHECK(sni_parse(plain, in, n) == rc1);
    CHECK(memcmp(plain, one, sizeof *plain) == 0);
    free(plain);
  }

  /* ---- streaming ---- */
  CHECK(sni_parser_status(&p) == SNI_EAGAIN);
  CHECK(sni_parser_need(&p) >= 1);
  size_t off = 0;
  int done_rc = SNI_EAGAIN; /* status once finished or failed */
  unsigned mode = flags & 3u;
  while (off < n) {
    size_t k;
    switch (mode) {
    case 0: k = 1 + xs(&seed) % (param + 1u); break;
    case 1: k = param + 1u; break;
    case 2: k = 1; break;
    default:
      k = (xs(&seed) & 15u) == 0 ? 1 + xs(&seed) % 2048u : xs(&seed) % 8u;
      break;
    }
    if ((flags & 8u) && (xs(&seed) & 7u) == 0) k = 0;
    if (k > n - off) k = n - off;
    size_t need_before = sni_parser_need(&p);
    int r = feed_exact(&p, in + off, k);
    size_t need = sni_parser_need(&p);
    int st = sni_parser_status(&p);
    if (done_rc != SNI_EAGAIN) {
      /* Finished or failed earlier: sticky, no reading. */
      CHECK(r == (done_rc > 0 ? 0 : done_rc));
      CHECK(st == done_rc);
      CHECK(need == 0);
    } else if (r == SNI_EAGAIN) {
      CHECK(st == SNI_EAGAIN);
      CHECK(need >= 1);
      /* need is a lower bound on what the hello still requires. */
      if (rc1 > 0) CHECK(need <= (size_t)rc1 - (off + k));
    } else if (r > 0) {
      CHECK((size_t)r <= k);
      CHECK(st == (int)(off + (size_t)r));
      CHECK(need == 0);
      CHECK(need_before <= (size_t)r);
      done_rc = st;
    } else {
      CHECK(r != 0);
      CHECK(st == r);
      CHECK(need == 0);
      done_rc = r;
    }
    off += k;
  }
  if (flags & 8u) {
    int r = sni_parser_feed(&p, NULL, 0);
    CHECK(r == (done_rc == SNI_EAGAIN ? SNI_EAGAIN
                : done_rc > 0          ? 0
                                       : done_rc));
  }
  CHECK(done_rc == rc1);
  CHECK(memcmp(one, str, sizeof *one) == 0);
  check_hello(str);

  /* Bytes after the hello are never read: parsing exactly rc1 bytes must
   * give the same answer. */
  if (rc1 > 0 && (size_t)rc1 < n) {
    uint8_t *cut = malloc((size_t)rc1);
    CHECK(cut);
    memcpy(cut, in, (size_t)rc1);
    CHECK(sni_parse_ex(str, cut, (size_t)rc1, limp) == rc1);
    CHECK(memcmp(one, str, sizeof *one) == 0);
    free(cut);
  }

  /* ---- routing-only: one shot, then the same cuts ---- */
  {
    sni_limits rl = limp ? *limp : (sni_limits){0, 0, 0};
    rl.flags = SNI_PARSE_ROUTING_ONLY;
    sni_hello *r1 = malloc(sizeof *r1), *r2 = malloc(sizeof *r2);
    CHECK(r1 && r2);
    uint8_t *rb = malloc(n ? n : 1);
    CHECK(rb);
    if (n) memcpy(rb, in, n);
    int rr = sni_parse_ex(r1, n ? rb : NULL, n, &rl);
    free(rb);
    CHECK(rr == rc1);
    if (rc1 > 0) {
      const char *d = routing_differs(one, r1);
      if (d) fprintf(stderr, "routing-only differs in %s\n", d);
      CHECK(d == NULL);
    }
    sni_parser rp;
    CHECK(sni_parser_init(&rp, r2, &rl) == 0);
    uint32_t s2 = ((uint32_t)data[2] << 8 | data[3]) * 2654435761u | 1u;
    int rdone = SNI_EAGAIN;
    for (size_t o2 = 0; o2 < n && rdone == SNI_EAGAIN;) {
      size_t k = mode == 2 ? 1 : 1 + xs(&s2) % (param + 1u);
      if (k > n - o2) k = n - o2;
      int r = feed_exact(&rp, in + o2, k);
      if (r > 0) rdone = (int)(o2 + (size_t)r);
      else if (r != SNI_EAGAIN) rdone = r;
      o2 += k;
    }
    CHECK(rdone == rc1);
    if (rc1 > 0) CHECK(memcmp(r1, r2, sizeof *r1) == 0);
    free(r1);
    free(r2);
  }
done:
  free(one);
  free(str);
  return 0;
}
