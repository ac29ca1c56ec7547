/*
 * Host names: the one place that says what a server name is.
 *
 * Deliberately byte-based and locale-free.  Used by the parser to fill
 * sni_hello.sni_normalized and name_flags.
 */
#include "hostname.h"

#include <string.h>

#if defined(__SSE2__) && !defined(SNI_NO_SIMD)
#define SNI_USE_SSE2 1
#include <emmintrin.h>
#endif

/* ---- server name classification ---------------------------------------- */

/* The one table of host-name bytes, used by every check in this file (the
 * SSE2 classifier computes the same classes with compares).
 * Character classes for host names: OK = allowed in a label; DIGIT;
 * ALPHA (letters, '-' and '_': what makes a label not all-digit); UPPER is
 * 0x20, the bit that lowercases an ASCII letter; DOT; COLON (IPv6
 * literal); BAD (not allowed in a host name). */
enum { C_OK = 1, C_DIGIT = 2, C_DOT = 4, C_COLON = 8, C_ALPHA = 16,
       C_UPPER = 32, C_BAD = 64 };
static const uint8_t name_class[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 17,  4, 64,
     3,  3,  3,  3,  3,  3,  3,  3,  3,  3, 72, 64, 64, 64, 64, 64,
    64, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49,
    49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 49, 64, 64, 64, 64, 17,
    64, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
    17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

/* 1 if s[0..n) is a dotted quad of decimal octets (only called on names made
 * of digits and dots). */
static int dotted_quad(const char *s, size_t n) {
  unsigned parts = 0, digits = 0, octet = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || s[i] == '.') {
      if (digits == 0 || octet > 255) return 0;
      parts++;
      digits = octet = 0;
    } else if (++digits > 3) {
      return 0;
    } else {
      octet = octet * 10u + (unsigned)(s[i] - '0');
    }
  }
  return parts == 4;
}

/* Classifies and lowercases one server name.  Deliberately byte-based
 * and locale-free: lowercasing is ASCII only, and anything outside LDH
 * (plus '_', which real deployments use) marks the name as not a host name
 * instead of failing the parse, so the router can send it to no_sni.
 * The two versions below compute the same result. */
/* One trailing dot (the DNS root) is allowed and dropped: returns
 * SNI_NAME_TRAILING_DOT then, with *n shortened. */
static unsigned root_dot(const char *s, size_t *n) {
  if (*n == 0 || s[*n - 1] != '.') return 0;
  (*n)--;
  return SNI_NAME_TRAILING_DOT;
}

/* The last entry of a label-start list (see sni_host_labels()). */
static void label_ends(uint8_t *ls, unsigned *nl, unsigned count, size_t n) {
  if (!ls) return;
  ls[0] = 0;
  ls[count] = (uint8_t)(n + 1); /* a host name has n <= 253 */
  *nl = count;
}

#if defined(SNI_USE_SSE2)
/* Bytes of x in [lo, hi]: shifted so that lo lands on -128, one signed
 * compare then bounds the range (SSE2 has no unsigned byte compare). */
static inline __m128i byte_range(__m128i x, int lo, int hi) {
  __m128i b = _mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - lo)));
  return _mm_cmplt_epi8(b, _mm_set1_epi8((char)(-128 + (hi - lo) + 1)));
}

/* The classes of one 16-byte block, as bit masks (bit i: byte i). */
typedef struct name_block {
  unsigned ok, alpha, dot, colon;
} name_block;

/* Lowercases x into *l and classifies it (letters, '-' and '_' are
 * "alpha"; with digits and dots they are "ok"). */
static inline name_block classify_block(__m128i x, __m128i *l) {
  __m128i up = byte_range(x, 'A', 'Z');
  *l = _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
  __m128i alpha = _mm_or_si128(
      byte_range(*l, 'a', 'z'),
      _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                   _mm_cmpeq_epi8(x, _mm_set1_epi8('_'))));
  __m128i dot = _mm_cmpeq_epi8(x, _mm_set1_epi8('.'));
  __m128i ok = _mm_or_si128(alpha, _mm_or_si128(byte_range(x, '0', '9'), dot));
  name_block k = {(unsigned)_mm_movemask_epi8(ok),
                  (unsigned)_mm_movemask_epi8(alpha),
                  (unsigned)_mm_movemask_epi8(dot),
                  (unsigned)_mm_movemask_epi8(
                      _mm_cmpeq_epi8(x, _mm_set1_epi8(':')))};
  return k;
}

/* 16 name bytes per step: lowercase and class masks; the label rules are
 * then checked at the dots only, as the blocks go by. */
unsigned sni_host_classify(const char *s, size_t n, char *lo,
                           size_t *lo_len, uint8_t *ls, unsigned *nl) {
  unsigned flags = root_dot(s, &n), count = 1;
  int bad = (n == 0 || n > 253);
  unsigned badm = 0, colonm = 0;
  size_t label_start = 0, alpha_end = 0; /* alpha_end: last alpha byte + 1 */
  /* sni and sni_normalized are SNI_MAX_NAME + 1 = 256 bytes, so every
   * 16-byte block below n lies inside them; bytes past n are masked off
   * and stored as zero, as the zeroed struct already holds there. */
  for (size_t base = 0; base < n; base += 16) {
    __m128i l, x = _mm_loadu_si128((const __m128i *)(const void *)(s + base));
    name_block k = classify_block(x, &l);
    unsigned valid = 0xffffu;
    if (n - base < 16) {
      valid = (1u << (n - base)) - 1u;
      __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                   13, 14, 15);
      l = _mm_and_si128(
          l, _mm_cmpgt_epi8(_mm_set1_epi8((char)(n - base)), iota));
    }
    _mm_storeu_si128((__m128i *)(void *)(lo + base), l);
    badm |= ~k.ok & valid;
    colonm |= k.colon & valid;
    if (k.alpha & valid)
      alpha_end = base + 32u - (size_t)__builtin_clz(k.alpha & valid);
    for (unsigned m = k.dot & valid; m; m &= m - 1) {
      size_t i = base + (size_t)__builtin_ctz(m);
      if (i == label_start || i - label_start > 63) bad = 1;
      label_start = i + 1;
      if (ls) ls[count++] = (uint8_t)label_start;
    }
  }
  if (badm) bad = 1;
  if (n == label_start || n - label_start > 63) bad = 1;
  if (colonm) flags |= SNI_NAME_IP_LITERAL;
  if (alpha_end == 0 && !badm && dotted_quad(s, n))
    flags |= SNI_NAME_IP_LITERAL;
  /* No TLD is all digits: the last label must hold an alpha byte. */
  if (alpha_end <= label_start) bad = 1;
  if (bad || (flags & SNI_NAME_IP_LITERAL)) flags |= SNI_NAME_NOT_HOSTNAME;
  lo[n] = '\0';
  *lo_len = n;
  label_ends(ls, nl, count, n);
  return flags;
}
#else
/* One table lookup per byte; label rules are checked at the dots only. */
unsigned sni_host_classify(const char *s, size_t n, char *lo,
                           size_t *lo_len, uint8_t *ls, unsigned *nl) {
  unsigned flags = root_dot(s, &n), count = 1;
  unsigned acc = 0;
  int bad = (n == 0 || n > 253);
  size_t label_start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    unsigned k = name_class[ch];
    lo[i] = (char)(ch | (k & C_UPPER));
    acc |= k;
    if (k & C_DOT) {
      if (i == label_start || i - label_start > 63) bad = 1;
      label_start = i + 1;
      if (ls) ls[count++] = (uint8_t)label_start;
    }
  }
  if (n == label_start || n - label_start > 63) bad = 1;
  if (acc & C_BAD) bad = 1;
  if (acc & C_COLON) flags |= SNI_NAME_IP_LITERAL;
  if (!(acc & (C_ALPHA | C_BAD)) && dotted_quad(s, n))
    flags |= SNI_NAME_IP_LITERAL;
  /* No TLD is all digits, so such a name can only be an address or junk. */
  int last_alpha = 0;
  for (size_t i = label_start; i < n; i++)
    last_alpha |= (name_class[(unsigned char)s[i]] & C_ALPHA) != 0;
  if (!last_alpha) bad = 1;
  if (bad || (flags & SNI_NAME_IP_LITERAL)) flags |= SNI_NAME_NOT_HOSTNAME;
  lo[n] = '\0';
  *lo_len = n;
  label_ends(ls, nl, count, n);
  return flags;
}
#endif

/* ---- label starts ------------------------------------------------------- */

#if defined(SNI_USE_SSE2)
/* 16 bytes per step: dots are few, so the work is per block plus per dot,
 * not per byte. */
unsigned sni_host_labels(const char *lo, size_t n, uint8_t *ls) {
  unsigned nl = 1;
  ls[0] = 0;
  const __m128i dot = _mm_set1_epi8('.');
  for (size_t base = 0; base < n; base += 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(lo + base));
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, dot));
    if (n - base < 16) m &= (1u << (n - base)) - 1u;
    for (; m; m &= m - 1)
      ls[nl++] = (uint8_t)(base + (size_t)__builtin_ctz(m) + 1);
  }
  ls[nl] = (uint8_t)(n + 1);
  return nl;
}
#else
/* Bit 7 of every byte of w that equals '.', exactly (no borrow between
 * bytes, so no false hits after a real one). */
static uint64_t dot_bytes(uint64_t w) {
  const uint64_t low7 = 0x7F7F7F7F7F7F7F7Fu;
  uint64_t v = w ^ 0x2E2E2E2E2E2E2E2Eu; /* '.' bytes become zero */
  return ~(((v & low7) + low7) | v | low7);
}

/* 8 bytes per step, as words. */
unsigned sni_host_labels(const char *lo, size_t n, uint8_t *ls) {
  unsigned nl = 1;
  ls[0] = 0;
  for (size_t base = 0; base < n; base += 8) {
    uint64_t w;
    memcpy(&w, lo + base, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    uint64_t m = dot_bytes(w);
    if (n - base < 8) m &= (~(uint64_t)0) >> (8 * (8 - (n - base)));
    for (; m; m &= m - 1)
      ls[nl++] = (uint8_t)(base + (size_t)__builtin_ctzll(m) / 8 + 1);
  }
  ls[nl] = (uint8_t)(n + 1);
  return nl;
}
#endif

/* ---- pattern literals --------------------------------------------------- */

const char *sni_host_check_literal(const char *s, size_t n, int digits_last,
                                   char *lo, size_t *at) {
  size_t start = 0;
  unsigned label_class = 0; /* classes seen in the current label */
  for (size_t i = 0; i <= n; i++) {
    unsigned char c = i < n ? (unsigned char)s[i] : '.';
    unsigned k = name_class[c];
    *at = i;
    if (k & C_DOT) {
      if (i == start) return "empty label";
      if (i - start > 63) return "label longer than 63 bytes";
      if (i == n) break;
      start = i + 1;
      label_class = 0;
      lo[i] = '.';
      continue;
    }
    if (k & C_BAD)
      return "invalid character (allowed: letters, digits, '-', '_', '.', "
             "and '*' as a whole first or last label)";
    label_class |= k;
    lo[i] = (char)(c | (k & C_UPPER));
  }
  *at = n;
  if (!digits_last && !(label_class & C_ALPHA))
    return "last label is all digits: such names are IP literals or not "
           "host names, they take the no_sni route and never match";
  return NULL;
}
