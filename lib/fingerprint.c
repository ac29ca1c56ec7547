/* JA4 (client) and JA3 fingerprints of a parsed ClientHello, written from
 * FoxIO's technical_details/JA4.md (2026-01) and the salesforce/ja3
 * README.  Everything is computed from the sni_hello lists: no
 * allocation, no system call, no state outside the arguments.  Where the
 * spec and FoxIO's code disagree the spec is followed; include/sniroute.h
 * lists those cases. */
#include "sniroute.h"

#include <string.h>

#include "crypto.h"
#include "md5.h"

enum {
  TLS_SSL2 = 0x0002,
  TLS_SSL3 = 0x0300,
  TLS_1_0 = 0x0301,
  TLS_1_1 = 0x0302,
  TLS_1_2 = 0x0303,
  TLS_1_3 = 0x0304,
  DTLS_1_0 = 0xfeff,
  DTLS_1_2 = 0xfefd,
  DTLS_1_3 = 0xfefc
};

#define JA4_COUNT_MAX 99  /* JA4_a counts are two decimal digits */
#define JA4_HASH_HEX 12   /* JA4_b/c: the first 12 hex digits of SHA-256 */
#define JA4_ITEM 5        /* "xxxx," */
#define JA3_ITEM 6        /* "65535-" */

/* The public sizes must cover the worst case the code below can write. */
_Static_assert(SNI_JA4_MAX == SNI_JA4_A_LEN + 2 * (1 + JA4_HASH_HEX) + 1, "SNI_JA4_MAX");
_Static_assert(SNI_JA4_R_MAX >= SNI_JA4_A_LEN + 1 +
                                    JA4_ITEM * (SNI_CAP_CIPHERS + SNI_CAP_EXTENSIONS +
                                                SNI_CAP_SIGALGS),
               "SNI_JA4_R_MAX");
_Static_assert(SNI_JA3_MAX >= JA3_ITEM * (1 + SNI_CAP_CIPHERS + SNI_CAP_EXTENSIONS +
                                          SNI_CAP_GROUPS) +
                                  4 * SNI_CAP_POINT_FORMATS,
               "SNI_JA3_MAX");

static const char hexdig[] = "0123456789abcdef";

/* Every fingerprint is built in a local buffer of its worst-case size
 * (bounded by the SNI_CAP_* capacities, which counts_valid() enforces) and
 * then copied: out is written only when it fits, and never past cap. */
static int fail(char *out, size_t cap, int err) {
  if (cap) out[0] = '\0';
  return err;
}

static int emit(char *out, size_t cap, const char *s, size_t len) {
  if (len >= cap) return fail(out, cap, SNI_ENOSPC);
  memcpy(out, s, len);
  out[len] = '\0';
  return (int)len;
}

static int counts_valid(const sni_hello *h) {
  return h->n_ciphers <= SNI_CAP_CIPHERS && h->n_extensions <= SNI_CAP_EXTENSIONS &&
         h->n_groups <= SNI_CAP_GROUPS && h->n_sigalgs <= SNI_CAP_SIGALGS &&
         h->n_point_formats <= SNI_CAP_POINT_FORMATS && h->alpn_len <= SNI_CAP_ALPN_BYTES;
}

static int has_extension(const sni_hello *h, uint16_t type) {
  for (unsigned i = 0; i < h->n_extensions; i++)
    if (h->extensions[i] == type) return 1;
  return 0;
}

/* ---- JA4 ------------------------------------------------------------------ */

/* The values JA4 hashes: GREASE removed everywhere; the sorted extension
 * list also drops SNI and ALPN (the original-order one keeps them). */
static size_t ja4_filter(const uint16_t *in, unsigned n, uint16_t *out, int drop_sni_alpn) {
  size_t k = 0;
  for (unsigned i = 0; i < n; i++) {
    uint16_t v = in[i];
    if (sni_is_grease(v)) continue;
    if (drop_sni_alpn && (v == SNI_EXT_SERVER_NAME || v == SNI_EXT_ALPN))
      continue;
    out[k++] = v;
  }
  return k;
}

/* Insertion sort: at most SNI_CAP_CIPHERS values, usually 10..40. */
static void ja4_sort(uint16_t *v, size_t n) {
  for (size_t i = 1; i < n; i++) {
    uint16_t x = v[i];
    uint16_t *p = v + i;
    while (p > v && p[-1] > x) {
      *p = p[-1];
      p--;
    }
    *p = x;
  }
}

/* "xxxx,xxxx,..." into dst (JA4_ITEM * n bytes); returns the length. */
static size_t ja4_hexlist(char *dst, const uint16_t *v, size_t n) {
  char *d = dst;
  for (size_t i = 0; i < n; i++) {
    if (i) *d++ = ',';
    *d++ = hexdig[v[i] >> 12];
    *d++ = hexdig[(v[i] >> 8) & 0xf];
    *d++ = hexdig[(v[i] >> 4) & 0xf];
    *d++ = hexdig[v[i] & 0xf];
  }
  return (size_t)(d - dst);
}

/* Turns the list string at s (n bytes) into its JA4 hash in place, all
 * zeros standing for an empty list; returns the new length. */
static size_t ja4_hash(char *s, size_t n, int empty) {
  if (empty) {
    memset(s, '0', JA4_HASH_HEX);
    return JA4_HASH_HEX;
  }
  uint8_t d[SNI_SHA256_LEN];
  sni_sha256(s, n, d);
  for (unsigned i = 0; i < JA4_HASH_HEX / 2; i++) {
    s[2 * i] = hexdig[d[i] >> 4];
    s[2 * i + 1] = hexdig[d[i] & 0xf];
  }
  return JA4_HASH_HEX;
}

static const char *ja4_version(uint16_t v) {
  switch (v) {
  case TLS_1_3: return "13";
  case TLS_1_2: return "12";
  case TLS_1_1: return "11";
  case TLS_1_0: return "10";
  case TLS_SSL3: return "s3";
  case TLS_SSL2: return "s2";
  case DTLS_1_0: return "d1";
  case DTLS_1_2: return "d2";
  case DTLS_1_3: return "d3";
  default: return "00";
  }
}

static unsigned count_non_grease(const uint16_t *v, unsigned n) {
  unsigned k = 0;
  for (unsigned i = 0; i < n; i++) k += !sni_is_grease(v[i]);
  return k > JA4_COUNT_MAX ? JA4_COUNT_MAX : k;
}

static int is_alnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* First and last character of the first ALPN name; the spec's hex rule
 * (first and last hex digit of the whole value) when either is not
 * alphanumeric.  A one-byte name therefore gives its character twice. */
static void ja4_alpn(const sni_hello *h, char out[2]) {
  const uint8_t *name;
  size_t len;
  if (sni_alpn_get(h, 0, &name, &len) != 0 || len == 0) {
    out[0] = out[1] = '0';
  } else if (is_alnum(name[0]) && is_alnum(name[len - 1])) {
    out[0] = (char)name[0];
    out[1] = (char)name[len - 1];
  } else {
    out[0] = hexdig[name[0] >> 4];
    out[1] = hexdig[name[len - 1] & 0xf];
  }
}

static void ja4_a(const sni_hello *h, char a[SNI_JA4_A_LEN]) {
  /* A hook for DTLS ('d') would go here; the parser reads TLS only. */
  a[0] = h->quic ? 'q' : 't';
  memcpy(a + 1, ja4_version(h->max_version), 2);
  a[3] = has_extension(h, SNI_EXT_SERVER_NAME) ? 'd' : 'i';
  unsigned nc = count_non_grease(h->cipher_suites, h->n_ciphers);
  unsigned ne = count_non_grease(h->extensions, h->n_extensions);
  a[4] = (char)('0' + nc / 10);
  a[5] = (char)('0' + nc % 10);
  a[6] = (char)('0' + ne / 10);
  a[7] = (char)('0' + ne % 10);
  ja4_alpn(h, a + 8);
}

/* JA4 needs the complete cipher, extension, signature algorithm and
 * supported_versions lists, and the first ALPN name. */
static int ja4_lists_complete(const sni_hello *h) {
  const unsigned need = SNI_TRUNC_CIPHERS | SNI_TRUNC_EXTENSIONS |
                        SNI_TRUNC_SIGALGS | SNI_TRUNC_VERSIONS;
  if (h->truncated & need) return 0;
  return !((h->truncated & SNI_TRUNC_ALPN) && h->n_alpn == 0);
}

int sni_ja4(const sni_hello *h, sni_ja4_variant variant, char *out, size_t cap) {
  if (!h || !out || (unsigned)variant > SNI_JA4_RO || !counts_valid(h))
    return SNI_EINVAL;
  if (!ja4_lists_complete(h)) return fail(out, cap, SNI_E2BIG);
  const int raw = ((unsigned)variant & SNI_JA4_R) != 0;
  const int orig = ((unsigned)variant & SNI_JA4_O) != 0;
  uint16_t v[SNI_CAP_CIPHERS];
  char r[SNI_JA4_R_MAX], *d = r;
  ja4_a(h, d);
  d += SNI_JA4_A_LEN;
  *d++ = '_';
  size_t n = ja4_filter(h->cipher_suites, h->n_ciphers, v, 0);
  if (!orig) ja4_sort(v, n);
  size_t len = ja4_hexlist(d, v, n);
  d += raw ? len : ja4_hash(d, len, n == 0);
  *d++ = '_';
  n = ja4_filter(h->extensions, h->n_extensions, v, !orig);
  if (!orig) ja4_sort(v, n);
  len = ja4_hexlist(d, v, n);
  const int empty = n == 0;
  n = ja4_filter(h->sigalgs, h->n_sigalgs, v, 0);
  if (n) {
    d[len++] = '_';
    len += ja4_hexlist(d + len, v, n);
  }
  d += raw ? len : ja4_hash(d, len, empty);
  return emit(out, cap, r, (size_t)(d - r));
}

/* ---- JA3 ------------------------------------------------------------------ */

static char *ja3_dec(char *d, unsigned v) {
  char t[JA3_ITEM];
  size_t i = sizeof t;
  do {
    t[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  memcpy(d, t + i, sizeof t - i);
  return d + (sizeof t - i);
}

static char *ja3_list16(char *d, const uint16_t *v, unsigned n, char end) {
  int first = 1;
  for (unsigned i = 0; i < n; i++) {
    if (sni_is_grease(v[i])) continue;
    if (!first) *d++ = '-';
    d = ja3_dec(d, v[i]);
    first = 0;
  }
  *d++ = end;
  return d;
}

/* The JA3 string into s (SNI_JA3_MAX bytes); its length, or SNI_EINVAL or
 * SNI_E2BIG. */
static int ja3_build(const sni_hello *h, char s[SNI_JA3_MAX]) {
  if (!h || !counts_valid(h)) return SNI_EINVAL;
  const unsigned need = SNI_TRUNC_CIPHERS | SNI_TRUNC_EXTENSIONS |
                        SNI_TRUNC_GROUPS | SNI_TRUNC_POINT_FORMATS;
  if (h->truncated & need) return SNI_E2BIG;
  char *d = ja3_dec(s, h->legacy_version);
  *d++ = ',';
  d = ja3_list16(d, h->cipher_suites, h->n_ciphers, ',');
  d = ja3_list16(d, h->extensions, h->n_extensions, ',');
  d = ja3_list16(d, h->groups, h->n_groups, ',');
  /* Point formats are 8-bit values, outside the GREASE scheme. */
  for (unsigned i = 0; i < h->n_point_formats; i++) {
    if (i) *d++ = '-';
    d = ja3_dec(d, h->point_formats[i]);
  }
  return (int)(d - s);
}

int sni_ja3(const sni_hello *h, char *out, size_t cap) {
  if (!out) return SNI_EINVAL;
  char s[SNI_JA3_MAX];
  int n = ja3_build(h, s);
  if (n == SNI_EINVAL) return n;
  return n < 0 ? fail(out, cap, n) : emit(out, cap, s, (size_t)n);
}

int sni_ja3_md5(const sni_hello *h, char *out, size_t cap) {
  if (!out) return SNI_EINVAL;
  char s[SNI_JA3_MAX];
  int n = ja3_build(h, s);
  if (n == SNI_EINVAL) return n;
  if (n < 0) return fail(out, cap, n);
  uint8_t d[SNI_MD5_LEN];
  sni_md5(s, (size_t)n, d);
  char hx[2 * SNI_MD5_LEN];
  for (unsigned i = 0; i < SNI_MD5_LEN; i++) {
    hx[2 * i] = hexdig[d[i] >> 4];
    hx[2 * i + 1] = hexdig[d[i] & 0xf];
  }
  return emit(out, cap, hx, sizeof hx);
}
