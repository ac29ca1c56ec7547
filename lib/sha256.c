/* SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), HKDF (RFC 5869) and the
 * TLS 1.3 HKDF-Expand-Label (RFC 8446 7.1): QUIC Initial key derivation
 * and JA4 fingerprints.  Portable C, plus the x86 SHA extensions where the
 * CPU has them: JA4 hashes two strings of 2..4 blocks per hello, and the
 * portable block function (~0.3 us per block) alone would put a JA4 over
 * its 1 us budget. */
#include "crypto.h"

#include <string.h>

#if defined(SNI_CRYPTO_X86)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define SHA_X86_TARGET __attribute__((target("sha,ssse3,sse4.1")))
#define CPUID_LEAF_FEATURES 1
#define CPUID_LEAF_EXTENDED 7
#endif

#define SHA256_LEN_BYTES 8 /* the message length trailer, in bits, big-endian */
#define SHA256_PAD_BYTE 0x80
#define HMAC_IPAD 0x36
#define HMAC_OPAD 0x5c

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
    0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
    0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
    0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

/* FIPS 180-4 5.3.3: the same for the square roots of the first 8 primes. */
static const uint32_t sha256_h0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

/* FIPS 180-4 6.2.2, with the message schedule kept as a 16-word ring. */
static void sha256_block_portable(uint32_t h[8], const uint8_t *p) {
  uint32_t w[16];
  for (int i = 0; i < 16; i++) w[i] = sni_rd32be(p + 4 * i);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
  uint32_t e = h[4], f = h[5], g = h[6], k = h[7];
  for (int t = 0; t < 64; t++) {
    if (t >= 16) {
      uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      uint32_t s0 = sni_ror32(w15, 7) ^ sni_ror32(w15, 18) ^ (w15 >> 3);
      uint32_t s1 = sni_ror32(w2, 17) ^ sni_ror32(w2, 19) ^ (w2 >> 10);
      w[t & 15] += s0 + w[(t - 7) & 15] + s1;
    }
    uint32_t t1 = k + (sni_ror32(e, 6) ^ sni_ror32(e, 11) ^ sni_ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                  sha256_k[t] + w[t & 15];
    uint32_t t2 =
        (sni_ror32(a, 2) ^ sni_ror32(a, 13) ^ sni_ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

#if defined(SNI_CRYPTO_X86)
/* The same compression with SHA256RNDS2 (two rounds), SHA256MSG1/MSG2 (the
 * message schedule), per the Intel SDM.  The instructions keep the working
 * variables as {A,B,E,F} and {C,D,G,H}, so h[] is rearranged on the way in
 * and out. */
SHA_X86_TARGET static void sha256_block_x86(uint32_t h[8], const uint8_t *p) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)h);
  __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)(h + 4)), 0x1b);
  __m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
  __m128i abef = _mm_alignr_epi8(cdab, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16(hgfe, cdab, 0xf0);
  const __m128i abef0 = abef, cdgh0 = cdgh;
  __m128i m[4];
  for (int i = 0; i < 4; i++)
    m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)), bswap);
  for (int r = 0; r < 16; r++) { /* four rounds each */
    if (r >= 4) {
      __m128i t = _mm_sha256msg1_epu32(m[r & 3], m[(r + 1) & 3]);
      t = _mm_add_epi32(t, _mm_alignr_epi8(m[(r + 3) & 3], m[(r + 2) & 3], 4));
      m[r & 3] = _mm_sha256msg2_epu32(t, m[(r + 3) & 3]);
    }
    __m128i wk = _mm_add_epi32(m[r & 3],
                               _mm_loadu_si128((const __m128i *)(const void *)(sha256_k + 4 * r)));
    /* After two rounds the old {A,B,E,F} is the new {C,D,G,H}: the two
     * variables trade roles twice per four rounds. */
    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
    abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
  }
  abef = _mm_add_epi32(abef, abef0);
  cdgh = _mm_add_epi32(cdgh, cdgh0);
  __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
  __m128i dchg = _mm_shuffle_epi32(cdgh, 0xb1);
  _mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(feba, dchg, 0xf0));
  _mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

enum { SHA_PROBE_UNKNOWN = 0, SHA_PROBE_NO = 1, SHA_PROBE_YES = 2 };
/* Cached like the AES probe (CPUID traps in a VM); racing first callers
 * store the same value. */
static _Atomic int sha_probe = SHA_PROBE_UNKNOWN;

static int sha_ext_available(void) {
  int pr = atomic_load_explicit(&sha_probe, memory_order_relaxed);
  if (pr == SHA_PROBE_UNKNOWN) {
    unsigned eax, ebx, ecx, edx, ok = 0;
    if (__get_cpuid_count(CPUID_LEAF_EXTENDED, 0, &eax, &ebx, &ecx, &edx))
      ok = (ebx & bit_SHA) != 0 && __get_cpuid(CPUID_LEAF_FEATURES, &eax, &ebx, &ecx, &edx) &&
           (ecx & (bit_SSSE3 | bit_SSE4_1)) == (bit_SSSE3 | bit_SSE4_1);
    pr = ok ? SHA_PROBE_YES : SHA_PROBE_NO;
    atomic_store_explicit(&sha_probe, pr, memory_order_relaxed);
  }
  return pr == SHA_PROBE_YES;
}
#endif

/* sni_crypto_force_portable() applies here too, so the tests can run
 * SHA-256 through both paths. */
static void sha256_block(uint32_t h[8], const uint8_t *p) {
#if defined(SNI_CRYPTO_X86)
  if (sni_crypto_impl() == SNI_CRYPTO_ACCEL && sha_ext_available()) {
    sha256_block_x86(h, p);
    return;
  }
#endif
  sha256_block_portable(h, p);
}

void sni_sha256_init(sni_sha256_ctx *c) {
  memcpy(c->h, sha256_h0, sizeof c->h);
  c->len = 0;
}

void sni_sha256_update(sni_sha256_ctx *c, const void *data, size_t len) {
  const uint8_t *p = data;
  size_t fill = (size_t)(c->len % SNI_SHA256_BLOCK);
  c->len += len;
  if (fill) {
    size_t take = SNI_SHA256_BLOCK - fill;
    if (take > len) take = len;
    memcpy(c->buf + fill, p, take);
    p += take;
    len -= take;
    if (fill + take < SNI_SHA256_BLOCK) return;
    sha256_block(c->h, c->buf);
  }
  for (; len >= SNI_SHA256_BLOCK; p += SNI_SHA256_BLOCK, len -= SNI_SHA256_BLOCK)
    sha256_block(c->h, p);
  if (len) memcpy(c->buf, p, len);
}

/* FIPS 180-4 5.1.1: 0x80, zeros, then the bit length in the last 8 bytes. */
void sni_sha256_final(sni_sha256_ctx *c, uint8_t out[SNI_SHA256_LEN]) {
  uint64_t bits = c->len * 8;
  size_t fill = (size_t)(c->len % SNI_SHA256_BLOCK);
  c->buf[fill++] = SHA256_PAD_BYTE;
  if (fill > SNI_SHA256_BLOCK - SHA256_LEN_BYTES) {
    memset(c->buf + fill, 0, SNI_SHA256_BLOCK - fill);
    sha256_block(c->h, c->buf);
    fill = 0;
  }
  memset(c->buf + fill, 0, SNI_SHA256_BLOCK - SHA256_LEN_BYTES - fill);
  sni_wr32be(c->buf + SNI_SHA256_BLOCK - 8, (uint32_t)(bits >> 32));
  sni_wr32be(c->buf + SNI_SHA256_BLOCK - 4, (uint32_t)bits);
  sha256_block(c->h, c->buf);
  for (int i = 0; i < 8; i++) sni_wr32be(out + 4 * i, c->h[i]);
}

void sni_sha256(const void *data, size_t len, uint8_t out[SNI_SHA256_LEN]) {
  sni_sha256_ctx c;
  sni_sha256_init(&c);
  sni_sha256_update(&c, data, len);
  sni_sha256_final(&c, out);
}

/* ---- HMAC -------------------------------------------------------------- */

/* RFC 2104 2: a key longer than the block is hashed first; the key block
 * XOR ipad/opad starts the inner/outer hashes, so both states are ready
 * and a copy of the context serves another message under the same key. */
void sni_hmac_sha256_init(sni_hmac_sha256_ctx *c, const uint8_t *key, size_t key_len) {
  uint8_t k[SNI_SHA256_BLOCK] = {0};
  if (key_len > SNI_SHA256_BLOCK)
    sni_sha256(key, key_len, k);
  else if (key_len)
    memcpy(k, key, key_len);
  uint8_t pad[SNI_SHA256_BLOCK];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = (uint8_t)(k[i] ^ HMAC_IPAD);
  sni_sha256_init(&c->inner);
  sni_sha256_update(&c->inner, pad, sizeof pad);
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = (uint8_t)(k[i] ^ HMAC_OPAD);
  sni_sha256_init(&c->outer);
  sni_sha256_update(&c->outer, pad, sizeof pad);
}

void sni_hmac_sha256_update(sni_hmac_sha256_ctx *c, const void *data, size_t len) {
  sni_sha256_update(&c->inner, data, len);
}

void sni_hmac_sha256_final(sni_hmac_sha256_ctx *c, uint8_t out[SNI_SHA256_LEN]) {
  uint8_t ih[SNI_SHA256_LEN];
  sni_sha256_final(&c->inner, ih);
  sni_sha256_update(&c->outer, ih, sizeof ih);
  sni_sha256_final(&c->outer, out);
}

void sni_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                     uint8_t out[SNI_SHA256_LEN]) {
  sni_hmac_sha256_ctx c;
  sni_hmac_sha256_init(&c, key, key_len);
  sni_hmac_sha256_update(&c, msg, len);
  sni_hmac_sha256_final(&c, out);
}

/* ---- HKDF -------------------------------------------------------------- */

void sni_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                      size_t ikm_len, uint8_t prk[SNI_SHA256_LEN]) {
  /* RFC 5869 2.2: no salt is HashLen zeros, which HMAC pads to the same
   * key block as an empty key. */
  sni_hmac_sha256(salt_len ? salt : NULL, salt_len, ikm, ikm_len, prk);
}

/* RFC 5869 2.3: T(i) = HMAC(PRK, T(i-1) | info | i), OKM = T(1) | T(2) ... */
int sni_hkdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info,
                    size_t info_len, uint8_t *out, size_t out_len) {
  if (out_len > SNI_HKDF_MAX_OUT) return SNI_EINVAL;
  sni_hmac_sha256_ctx keyed;
  sni_hmac_sha256_init(&keyed, prk, prk_len);
  uint8_t t[SNI_SHA256_LEN];
  size_t done = 0;
  for (uint8_t i = 1; done < out_len; i++) {
    sni_hmac_sha256_ctx c = keyed;
    if (i > 1) sni_hmac_sha256_update(&c, t, sizeof t);
    if (info_len) sni_hmac_sha256_update(&c, info, info_len);
    sni_hmac_sha256_update(&c, &i, 1);
    sni_hmac_sha256_final(&c, t);
    size_t n = out_len - done < sizeof t ? out_len - done : sizeof t;
    memcpy(out + done, t, n);
    done += n;
  }
  return 0;
}

/* RFC 8446 7.1: struct { uint16 length; opaque label<7..255>;
 * opaque context<0..255>; } HkdfLabel, label = "tls13 " + Label. */
int sni_hkdf_expand_label(const uint8_t *secret, size_t secret_len, const char *label,
                          size_t label_len, const uint8_t *context, size_t context_len,
                          uint8_t *out, size_t out_len) {
  if (out_len > UINT16_MAX || out_len > SNI_HKDF_MAX_OUT ||
      label_len > SNI_TLS13_LABEL_MAX || context_len > SNI_TLS13_CONTEXT_MAX ||
      (label_len && !label) || (context_len && !context))
    return SNI_EINVAL;
  uint8_t info[2 + 1 + SNI_TLS13_LABEL_PREFIX_LEN + SNI_TLS13_LABEL_MAX + 1 +
               SNI_TLS13_CONTEXT_MAX];
  size_t n = 0;
  info[n++] = (uint8_t)(out_len >> 8);
  info[n++] = (uint8_t)out_len;
  info[n++] = (uint8_t)(SNI_TLS13_LABEL_PREFIX_LEN + label_len);
  memcpy(info + n, SNI_TLS13_LABEL_PREFIX, SNI_TLS13_LABEL_PREFIX_LEN);
  n += SNI_TLS13_LABEL_PREFIX_LEN;
  if (label_len) memcpy(info + n, label, label_len);
  n += label_len;
  info[n++] = (uint8_t)context_len;
  if (context_len) memcpy(info + n, context, context_len);
  n += context_len;
  return sni_hkdf_expand(secret, secret_len, info, n, out, out_len);
}
