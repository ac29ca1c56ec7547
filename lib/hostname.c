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

#if defined(SNI_USE_SSE2)
/* 16 name bytes per step: lowercase, and masks of dots, "alpha" bytes
 * (letters, '-', '_'), colons and disallowed bytes; the label rules are then
 * checked only at the dots, found in a 256-bit dot bitmap. */
unsigned sni_host_classify(const char *s, size_t n, char *lo,
                           size_t *lo_len) {
  unsigned flags = root_dot(s, &n);
  int bad = (n == 0 || n > 253);
  uint64_t dots[4] = {0, 0, 0, 0}, alph[4] = {0, 0, 0, 0};
  unsigned badm = 0, colonm = 0;
  const __m128i iota = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                     12, 13, 14, 15);
  /* sni and sni_normalized are SNI_MAX_NAME + 1 = 256 bytes, so every
   * 16-byte block below n lies inside them; bytes past n are masked off
   * and stored as zero, as the zeroed struct already holds there. */
  for (size_t base = 0; base < n; base += 16) {
    size_t r = n - base < 16 ? n - base : 16;
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + base));
    __m128i valid = _mm_cmpgt_epi8(_mm_set1_epi8((char)r), iota);
    __m128i up = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
                               _mm_cmplt_epi8(x, _mm_set1_epi8('Z' + 1)));
    __m128i l = _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
    _mm_storeu_si128((__m128i *)(void *)(lo + base), _mm_and_si128(l, valid));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(l, _mm_set1_epi8('a' - 1)),
                                   _mm_cmplt_epi8(l, _mm_set1_epi8('z' + 1)));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i alpha = _mm_or_si128(
        letter, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                             _mm_cmpeq_epi8(x, _mm_set1_epi8('_'))));
    __m128i dot = _mm_cmpeq_epi8(x, _mm_set1_epi8('.'));
    __m128i ok = _mm_or_si128(alpha, _mm_or_si128(digit, dot));
    badm |= (unsigned)_mm_movemask_epi8(_mm_andnot_si128(ok, valid));
    colonm |= (unsigned)_mm_movemask_epi8(
        _mm_and_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(':')), valid));
    unsigned dm = (unsigned)_mm_movemask_epi8(_mm_and_si128(dot, valid));
    unsigned am = (unsigned)_mm_movemask_epi8(_mm_and_si128(alpha, valid));
    dots[base / 64] |= (uint64_t)dm << (base % 64);
    alph[base / 64] |= (uint64_t)am << (base % 64);
  }
  if (badm) bad = 1;
  size_t label_start = 0;
  /* Only the words that hold bytes of the name: one for most names. */
  unsigned nw = (unsigned)((n + 63u) / 64u);
  for (unsigned w = 0; w < nw; w++)
    for (uint64_t m = dots[w]; m; m &= m - 1) {
      size_t i = w * 64u + (size_t)__builtin_ctzll(m);
      if (i == label_start || i - label_start > 63) bad = 1;
      label_start = i + 1;
    }
  if (n == label_start || n - label_start > 63) bad = 1;
  if (colonm) flags |= SNI_NAME_IP_LITERAL;
  int any_alpha = (alph[0] | alph[1] | alph[2] | alph[3]) != 0;
  if (!any_alpha && !badm && dotted_quad(s, n)) flags |= SNI_NAME_IP_LITERAL;
  /* No TLD is all digits: the last label must hold an alpha byte. */
  int last_alpha = 0;
  for (unsigned w = nw; w-- > 0;)
    if (alph[w]) {
      size_t hi = w * 64u + 63u - (size_t)__builtin_clzll(alph[w]);
      last_alpha = hi >= label_start;
      break;
    }
  if (!last_alpha) bad = 1;
  if (bad || (flags & SNI_NAME_IP_LITERAL)) flags |= SNI_NAME_NOT_HOSTNAME;
  lo[n] = '\0';
  *lo_len = n;
  return flags;
}
#else
/* One table lookup per byte; label rules are checked at the dots only. */
unsigned sni_host_classify(const char *s, size_t n, char *lo,
                           size_t *lo_len) {
  unsigned flags = root_dot(s, &n);
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
