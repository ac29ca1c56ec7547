/* AES-128-GCM (NIST SP 800-38D) for 96-bit nonces: CTR encryption and
 * the GHASH authenticator, portable and with AES-NI + PCLMULQDQ.
 *
 * The accelerated decryption is one pass: each step runs eight counter
 * blocks through AES while GHASH absorbs the same eight ciphertext blocks
 * (independent work, so the core overlaps the AESENC and PCLMULQDQ
 * latencies), and writes the plaintext before the tag is known.  So a
 * packet that fails authentication leaves unauthenticated plaintext in
 * out, and an in-place caller loses its ciphertext; crypto.h states that
 * contract.  The portable decryption stays two passes (tag, then CTR):
 * its cost is the table lookups, which fusing would not reduce.
 *
 * Portable GHASH uses Shoup's 4-bit tables: lookups indexed by H-derived
 * entries and data, so not constant-time; see crypto.h for why that is
 * acceptable for the public keys this library handles. */
#include "crypto.h"

#include <string.h>

#if defined(SNI_CRYPTO_X86)
#include <immintrin.h>
#endif

#define GCM_J0_COUNTER 1u /* SP 800-38D 7.1: J0 = IV || 0^31 || 1 */
#define GCM_CTR_OFFSET SNI_GCM_NONCE_LEN
#define GCM_PAR 4 /* blocks per step of the accelerated CTR loop (encryption, tails) */
#define GCM_WIDE 8 /* blocks per step of the fused decryption */
_Static_assert(GCM_WIDE <= SNI_GCM_HPOW, "the fused step needs H^1..H^GCM_WIDE");

/* GCM's field is GF(2^128) mod x^128 + x^7 + x^2 + x + 1 with bit 0 the
 * most significant bit of byte 0 (SP 800-38D 6.3).  Multiplying by x is
 * then a right shift of the block read as a big-endian integer, and the
 * bit shifted out comes back as R = 0xe1 || 0^120. */
#define GHASH_R_HI 0xe100000000000000ull

/* Z * x^4: the four bits shifted out of the low end, reduced.  Bit p of
 * the dropped nibble (p = 0 the lowest) stands for x^(127-p); times x^4 it
 * is x^128 * x^(3-p) = R >> (3-p), which lies in the top 16 bits. */
static const uint16_t ghash_rem4[16] = {
    0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
    0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0,
};

static uint64_t rd64be(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void wr64be(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* ---- portable GHASH ---------------------------------------------------- */

/* htab[i] = i * H for the 4-bit element i (its bits are the coefficients
 * of 1, x, x^2, x^3 from the most significant down): htab[8] = H,
 * htab[4] = H.x, htab[2] = H.x^2, htab[1] = H.x^3, the rest by linearity. */
static void ghash_table_c(uint64_t htab[16][2], const uint8_t h[SNI_AES_BLOCK]) {
  uint64_t vh = rd64be(h), vl = rd64be(h + 8);
  htab[0][0] = htab[0][1] = 0;
  for (unsigned bit = 8; bit; bit >>= 1) {
    htab[bit][0] = vh;
    htab[bit][1] = vl;
    uint64_t carry = vl & 1;
    vl = vl >> 1 | vh << 63;
    vh = (vh >> 1) ^ (carry * GHASH_R_HI);
  }
  for (unsigned i = 2; i < 16; i <<= 1)
    for (unsigned j = 1; j < i; j++) {
      htab[i + j][0] = htab[i][0] ^ htab[j][0];
      htab[i + j][1] = htab[i][1] ^ htab[j][1];
    }
}

/* Z = Z.x^4 + htab[n]: one Horner step. */
static inline void ghash_step4(uint64_t *zh, uint64_t *zl, const uint64_t htab[16][2],
                               unsigned n) {
  unsigned rem = (unsigned)*zl & 0xf;
  *zl = (*zl >> 4 | *zh << 60) ^ htab[n][1];
  *zh = (*zh >> 4) ^ ((uint64_t)ghash_rem4[rem] << 48) ^ htab[n][0];
}

/* y = y * H by Horner's rule over the 32 nibbles, the last one (the low
 * nibble of byte 15) first.  Z starts at zero, so the first shift is a
 * no-op and needs no special case. */
static void ghash_mul_c(uint64_t y[2], const uint64_t htab[16][2]) {
  uint64_t zh = 0, zl = 0;
  for (int w = 1; w >= 0; w--)
    for (unsigned sh = 0; sh < 64; sh += 8) {
      unsigned byte = (unsigned)(y[w] >> sh) & 0xff;
      ghash_step4(&zh, &zl, htab, byte & 0xf);
      ghash_step4(&zh, &zl, htab, byte >> 4);
    }
  y[0] = zh;
  y[1] = zl;
}

/* Absorbs data, the last partial block zero-padded (SP 800-38D 7.1). */
static void ghash_c(const uint64_t htab[16][2], uint64_t y[2], const uint8_t *p,
                    size_t len) {
  while (len) {
    uint8_t blk[SNI_AES_BLOCK];
    const uint8_t *b = p;
    size_t n = len < SNI_AES_BLOCK ? len : SNI_AES_BLOCK;
    if (n < SNI_AES_BLOCK) {
      memset(blk, 0, sizeof blk);
      memcpy(blk, p, n);
      b = blk;
    }
    y[0] ^= rd64be(b);
    y[1] ^= rd64be(b + 8);
    ghash_mul_c(y, htab);
    p += n;
    len -= n;
  }
}

/* S = GHASH(A || pad || C || pad || [len(A)]64 || [len(C)]64). */
static void ghash_all_c(const sni_aes128_gcm *g, const uint8_t *aad, size_t aad_len,
                        const uint8_t *c, size_t len, uint8_t s[SNI_AES_BLOCK]) {
  uint64_t y[2] = {0, 0};
  ghash_c(g->htab, y, aad, aad_len);
  ghash_c(g->htab, y, c, len);
  y[0] ^= (uint64_t)aad_len * 8;
  y[1] ^= (uint64_t)len * 8;
  ghash_mul_c(y, g->htab);
  wr64be(s, y[0]);
  wr64be(s + 8, y[1]);
}

/* ---- portable CTR ------------------------------------------------------ */

static void ctr_block(uint8_t cb[SNI_AES_BLOCK], const uint8_t nonce[SNI_GCM_NONCE_LEN],
                      uint32_t ctr) {
  memcpy(cb, nonce, SNI_GCM_NONCE_LEN);
  cb[GCM_CTR_OFFSET] = (uint8_t)(ctr >> 24);
  cb[GCM_CTR_OFFSET + 1] = (uint8_t)(ctr >> 16);
  cb[GCM_CTR_OFFSET + 2] = (uint8_t)(ctr >> 8);
  cb[GCM_CTR_OFFSET + 3] = (uint8_t)ctr;
}

/* GCTR from counter J0 + 1 (SP 800-38D 6.5, 7.1 step 3). */
static void ctr_c(const sni_aes128 *a, const uint8_t nonce[SNI_GCM_NONCE_LEN],
                  const uint8_t *in, size_t len, uint8_t *out) {
  uint32_t ctr = GCM_J0_COUNTER + 1;
  while (len) {
    uint8_t cb[SNI_AES_BLOCK], ks[SNI_AES_BLOCK];
    ctr_block(cb, nonce, ctr++);
    sni_aes128_encrypt(a, cb, ks);
    size_t n = len < SNI_AES_BLOCK ? len : SNI_AES_BLOCK;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(in[i] ^ ks[i]);
    in += n;
    out += n;
    len -= n;
  }
}

/* ---- AES-NI + PCLMULQDQ ------------------------------------------------ */

#if defined(SNI_CRYPTO_X86)
/* GHASH on byte-reversed blocks: reversing the 16 bytes turns GCM's bit
 * order into a 128-bit integer whose bit 127 is the coefficient of x^0,
 * i.e. the polynomial with its coefficients reflected.  The carry-less
 * product of two reflected polynomials is the reflected 255-bit product,
 * one bit short of the 256-bit alignment, so ghash_reduce shifts it left
 * by one before reducing.  After that shift, the low 128 bits hold (the
 * reflection of) the product's x^128..x^255 part and the high 128 bits its
 * x^0..x^127 part. */

SNI_X86_TARGET static inline __m128i bswap128(__m128i v) {
  return _mm_shuffle_epi8(
      v, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

SNI_X86_TARGET static inline __m128i load_rev(const uint8_t *p) {
  return bswap128(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Unreduced 256-bit product accumulated as lo (bits 0..127), mid (bits
 * 64..191) and hi (bits 128..255): several products share one reduction. */
typedef struct {
  __m128i lo, mid, hi;
} clmul_acc;

SNI_X86_TARGET static inline void clmul_add(clmul_acc *acc, __m128i a, __m128i b) {
  acc->lo = _mm_xor_si128(acc->lo, _mm_clmulepi64_si128(a, b, 0x00));
  acc->hi = _mm_xor_si128(acc->hi, _mm_clmulepi64_si128(a, b, 0x11));
  acc->mid = _mm_xor_si128(acc->mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
                                                   _mm_clmulepi64_si128(a, b, 0x10)));
}

/* Reduction mod g = x^128 + x^7 + x^2 + x + 1 in the reflected domain,
 * where multiplying by x^k is a right shift by k.  With the product c =
 * c_lo + x^128.c_hi, and x^128 = 1 + x + x^2 + x^7 mod g:
 *   c_hi.(1 + x + x^2 + x^7) = low128 + x^128.e, e = the bits of c_hi
 *   that overflow (shifted out at the bottom, reflected: c_hi << 127,
 *   << 126, << 121), and e.(1 + x + x^2 + x^7) stays below x^128, so
 *   c mod g = c_lo + low128((c_hi + e).(1 + x + x^2 + x^7)). */
SNI_X86_TARGET static inline __m128i ghash_reduce(const clmul_acc *acc) {
  __m128i plo = _mm_xor_si128(acc->lo, _mm_slli_si128(acc->mid, 8));
  __m128i phi = _mm_xor_si128(acc->hi, _mm_srli_si128(acc->mid, 8));
  /* (phi:plo) << 1 */
  __m128i qhi =
      _mm_or_si128(_mm_slli_epi64(phi, 1), _mm_srli_epi64(_mm_slli_si128(phi, 8), 63));
  qhi = _mm_or_si128(qhi, _mm_srli_si128(_mm_srli_epi64(plo, 63), 8));
  __m128i qlo =
      _mm_or_si128(_mm_slli_epi64(plo, 1), _mm_srli_epi64(_mm_slli_si128(plo, 8), 63));
  /* x = c_hi + e: only the low lane overflows, into the high lane. */
  __m128i e =
      _mm_xor_si128(_mm_xor_si128(_mm_slli_epi64(qlo, 63), _mm_slli_epi64(qlo, 62)),
                    _mm_slli_epi64(qlo, 57));
  __m128i x = _mm_xor_si128(qlo, _mm_slli_si128(e, 8));
  /* x + x>>1 + x>>2 + x>>7 as 128-bit shifts: per lane, plus what the
   * high lane passes down to the low lane. */
  __m128i s = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi64(x, 1), _mm_srli_epi64(x, 2)),
                            _mm_srli_epi64(x, 7));
  __m128i down = _mm_xor_si128(
      _mm_xor_si128(_mm_slli_epi64(x, 63), _mm_slli_epi64(x, 62)), _mm_slli_epi64(x, 57));
  s = _mm_xor_si128(s, _mm_srli_si128(down, 8));
  return _mm_xor_si128(qhi, _mm_xor_si128(x, s));
}

SNI_X86_TARGET static inline __m128i gf_mul_ni(__m128i a, __m128i b) {
  clmul_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
  clmul_add(&acc, a, b);
  return ghash_reduce(&acc);
}

/* hpow[i] = H^(i+1), reflected. */
SNI_X86_TARGET static void ghash_powers_ni(uint8_t hpow[SNI_GCM_HPOW][SNI_AES_BLOCK],
                                           const uint8_t h[SNI_AES_BLOCK]) {
  __m128i h1 = load_rev(h), p = h1;
  for (int i = 0; i < SNI_GCM_HPOW; i++) {
    _mm_store_si128((__m128i *)(void *)hpow[i], p);
    p = gf_mul_ni(p, h1);
  }
}

/* Up to GCM_WIDE blocks per reduction: for n blocks, y' = (y + X1).H^n +
 * X2.H^(n-1) + ... + Xn.H, which is what n single steps compute, by
 * distributivity; the last partial block is zero-padded (SP 800-38D 7.1).
 * So a short message (AAD, the tail after the fused steps) costs one
 * reduction, not one per block. */
SNI_X86_TARGET static __m128i ghash_ni(const sni_aes128_gcm *g, __m128i y,
                                       const uint8_t *p, size_t len) {
  const __m128i *hp = (const __m128i *)(const void *)g->hpow;
  while (len) {
    size_t blocks = (len + SNI_AES_BLOCK - 1) / SNI_AES_BLOCK;
    size_t n = blocks < GCM_WIDE ? blocks : GCM_WIDE;
    clmul_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
    for (size_t j = 0; j < n; j++, p += SNI_AES_BLOCK) {
      __m128i x;
      if (len >= SNI_AES_BLOCK) {
        x = load_rev(p);
        len -= SNI_AES_BLOCK;
      } else {
        uint8_t blk[SNI_AES_BLOCK] = {0};
        memcpy(blk, p, len);
        x = load_rev(blk);
        len = 0;
      }
      if (j == 0) x = _mm_xor_si128(x, y);
      clmul_add(&acc, x, _mm_load_si128(hp + (n - 1 - j)));
    }
    y = ghash_reduce(&acc);
  }
  return y;
}

SNI_X86_TARGET static void ghash_all_ni(const sni_aes128_gcm *g, const uint8_t *aad,
                                        size_t aad_len, const uint8_t *c, size_t len,
                                        uint8_t s[SNI_AES_BLOCK]) {
  __m128i y = ghash_ni(g, _mm_setzero_si128(), aad, aad_len);
  y = ghash_ni(g, y, c, len);
  uint8_t lens[SNI_AES_BLOCK];
  wr64be(lens, (uint64_t)aad_len * 8);
  wr64be(lens + 8, (uint64_t)len * 8);
  y = ghash_ni(g, y, lens, sizeof lens);
  _mm_storeu_si128((__m128i *)(void *)s, bswap128(y));
}

SNI_X86_TARGET static inline __m128i ctr_first_round(__m128i base, uint32_t ctr,
                                                     __m128i k0) {
  return _mm_xor_si128(_mm_insert_epi32(base, (int)__builtin_bswap32(ctr), 3), k0);
}

/* Four counter blocks in flight hide AESENC's latency.  Named variables,
 * not an array: GCC at -O2 does not unroll the per-block loops and then
 * keeps the blocks in memory, a third of the speed. */
SNI_X86_TARGET static void ctr4_ni(const __m128i *k, __m128i base, uint32_t ctr,
                                   __m128i x[GCM_PAR]) {
  __m128i a = ctr_first_round(base, ctr, k[0]), b = ctr_first_round(base, ctr + 1, k[0]);
  __m128i c = ctr_first_round(base, ctr + 2, k[0]),
          d = ctr_first_round(base, ctr + 3, k[0]);
  for (int r = 1; r < SNI_AES128_ROUNDS; r++) {
    __m128i rk = _mm_load_si128(k + r);
    a = _mm_aesenc_si128(a, rk);
    b = _mm_aesenc_si128(b, rk);
    c = _mm_aesenc_si128(c, rk);
    d = _mm_aesenc_si128(d, rk);
  }
  __m128i last = _mm_load_si128(k + SNI_AES128_ROUNDS);
  x[0] = _mm_aesenclast_si128(a, last);
  x[1] = _mm_aesenclast_si128(b, last);
  x[2] = _mm_aesenclast_si128(c, last);
  x[3] = _mm_aesenclast_si128(d, last);
}

SNI_X86_TARGET static inline void xor_store(uint8_t *out, const uint8_t *in, __m128i ks) {
  __m128i v = _mm_loadu_si128((const __m128i *)(const void *)in);
  _mm_storeu_si128((__m128i *)(void *)out, _mm_xor_si128(v, ks));
}

/* The counter block with a zero counter field: ctr_first_round inserts. */
SNI_X86_TARGET static inline __m128i ctr_base(const uint8_t nonce[SNI_GCM_NONCE_LEN]) {
  uint8_t base[SNI_AES_BLOCK] = {0};
  memcpy(base, nonce, SNI_GCM_NONCE_LEN);
  return _mm_loadu_si128((const __m128i *)(const void *)base);
}

/* GCTR from counter ctr (J0 + 1 for a whole message). */
SNI_X86_TARGET static void ctr_ni(const sni_aes128 *a, __m128i b, uint32_t ctr,
                                  const uint8_t *in, size_t len, uint8_t *out) {
  const __m128i *k = (const __m128i *)(const void *)a->rk;
  __m128i x[GCM_PAR];
  for (; len >= GCM_PAR * SNI_AES_BLOCK; ctr += GCM_PAR) {
    ctr4_ni(k, b, ctr, x);
    xor_store(out, in, x[0]);
    xor_store(out + SNI_AES_BLOCK, in + SNI_AES_BLOCK, x[1]);
    xor_store(out + 2 * SNI_AES_BLOCK, in + 2 * SNI_AES_BLOCK, x[2]);
    xor_store(out + 3 * SNI_AES_BLOCK, in + 3 * SNI_AES_BLOCK, x[3]);
    in += GCM_PAR * SNI_AES_BLOCK;
    out += GCM_PAR * SNI_AES_BLOCK;
    len -= GCM_PAR * SNI_AES_BLOCK;
  }
  if (!len) return;
  /* The tail (under four blocks) takes one more batch of keystream. */
  uint8_t ks[GCM_PAR * SNI_AES_BLOCK];
  ctr4_ni(k, b, ctr, x);
  for (int j = 0; j < GCM_PAR; j++)
    _mm_storeu_si128((__m128i *)(void *)(ks + SNI_AES_BLOCK * j), x[j]);
  for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(in[i] ^ ks[i]);
}

/* Counter block j of a fused step, first round key added.  crev is the
 * counter block byte-reversed, so that its counter is lane 0 as a native
 * integer: a block is then an add and a shuffle, where ctr_first_round
 * needs a scalar byte swap and an insert (the fused loop is bound by
 * instruction throughput).  The 32-bit lane add wraps as inc32 (SP
 * 800-38D 6.2) does. */
SNI_X86_TARGET static inline __m128i ctr_rev_round(__m128i crev, int j, __m128i k0) {
  return _mm_xor_si128(bswap128(_mm_add_epi32(crev, _mm_set_epi32(0, 0, 0, j))), k0);
}

/* One fused step: eight counter blocks through AES and the eight
 * ciphertext blocks at in into GHASH, y' = (y + C1).H^8 + C2.H^7 + ... +
 * C8.H, one GHASH block per AES round so that both units stay busy.  All
 * of in is read before out is written, which keeps out == in correct. */
SNI_X86_TARGET static __m128i dec8_ni(const __m128i *k, const __m128i *hp, __m128i crev,
                                      __m128i y, const uint8_t *in, uint8_t *out) {
  __m128i b0 = ctr_rev_round(crev, 0, k[0]), b1 = ctr_rev_round(crev, 1, k[0]);
  __m128i b2 = ctr_rev_round(crev, 2, k[0]), b3 = ctr_rev_round(crev, 3, k[0]);
  __m128i b4 = ctr_rev_round(crev, 4, k[0]), b5 = ctr_rev_round(crev, 5, k[0]);
  __m128i b6 = ctr_rev_round(crev, 6, k[0]), b7 = ctr_rev_round(crev, 7, k[0]);
  clmul_acc acc = {_mm_setzero_si128(), _mm_setzero_si128(), _mm_setzero_si128()};
  clmul_add(&acc, _mm_xor_si128(y, load_rev(in)), _mm_load_si128(hp + GCM_WIDE - 1));
  for (int r = 1; r < SNI_AES128_ROUNDS; r++) {
    __m128i rk = _mm_load_si128(k + r);
    b0 = _mm_aesenc_si128(b0, rk);
    b1 = _mm_aesenc_si128(b1, rk);
    b2 = _mm_aesenc_si128(b2, rk);
    b3 = _mm_aesenc_si128(b3, rk);
    b4 = _mm_aesenc_si128(b4, rk);
    b5 = _mm_aesenc_si128(b5, rk);
    b6 = _mm_aesenc_si128(b6, rk);
    b7 = _mm_aesenc_si128(b7, rk);
    if (r < GCM_WIDE) {
      clmul_add(&acc, load_rev(in + SNI_AES_BLOCK * r),
                _mm_load_si128(hp + GCM_WIDE - 1 - r));
      /* Keeps the sums here: GCC otherwise sinks every XOR to the end,
       * keeping all 32 products alive and spilling them to the stack. */
      __asm__("" : "+x"(acc.lo), "+x"(acc.mid), "+x"(acc.hi));
    }
  }
  __m128i last = _mm_load_si128(k + SNI_AES128_ROUNDS);
  xor_store(out, in, _mm_aesenclast_si128(b0, last));
  xor_store(out + SNI_AES_BLOCK, in + SNI_AES_BLOCK, _mm_aesenclast_si128(b1, last));
  xor_store(out + 2 * SNI_AES_BLOCK, in + 2 * SNI_AES_BLOCK, _mm_aesenclast_si128(b2, last));
  xor_store(out + 3 * SNI_AES_BLOCK, in + 3 * SNI_AES_BLOCK, _mm_aesenclast_si128(b3, last));
  xor_store(out + 4 * SNI_AES_BLOCK, in + 4 * SNI_AES_BLOCK, _mm_aesenclast_si128(b4, last));
  xor_store(out + 5 * SNI_AES_BLOCK, in + 5 * SNI_AES_BLOCK, _mm_aesenclast_si128(b5, last));
  xor_store(out + 6 * SNI_AES_BLOCK, in + 6 * SNI_AES_BLOCK, _mm_aesenclast_si128(b6, last));
  xor_store(out + 7 * SNI_AES_BLOCK, in + 7 * SNI_AES_BLOCK, _mm_aesenclast_si128(b7, last));
  return ghash_reduce(&acc);
}

/* One pass over the ciphertext: GHASH of the AAD, fused steps, then the
 * tail (under eight blocks) hashed before it is decrypted, so that an
 * in-place tail is still ciphertext when GHASH reads it.  Writes S, the
 * GHASH of SP 800-38D 7.2 step 6; the caller forms and compares the tag. */
SNI_X86_TARGET static void gcm_decrypt_ni(const sni_aes128_gcm *g,
                                          const uint8_t nonce[SNI_GCM_NONCE_LEN],
                                          const uint8_t *aad, size_t aad_len,
                                          const uint8_t *in, size_t len, uint8_t *out,
                                          uint8_t s[SNI_AES_BLOCK]) {
  const __m128i *k = (const __m128i *)(const void *)g->aes.rk;
  const __m128i *hp = (const __m128i *)(const void *)g->hpow;
  const __m128i base = ctr_base(nonce);
  uint32_t ctr = GCM_J0_COUNTER + 1;
  size_t left = len;
  __m128i y = ghash_ni(g, _mm_setzero_si128(), aad, aad_len);
  __m128i crev = bswap128(_mm_insert_epi32(base, (int)__builtin_bswap32(ctr), 3));
  for (; left >= GCM_WIDE * SNI_AES_BLOCK; left -= GCM_WIDE * SNI_AES_BLOCK) {
    y = dec8_ni(k, hp, crev, y, in, out);
    crev = _mm_add_epi32(crev, _mm_set_epi32(0, 0, 0, GCM_WIDE));
    ctr += GCM_WIDE;
    in += GCM_WIDE * SNI_AES_BLOCK;
    out += GCM_WIDE * SNI_AES_BLOCK;
  }
  y = ghash_ni(g, y, in, left);
  ctr_ni(&g->aes, base, ctr, in, left, out);
  uint8_t lens[SNI_AES_BLOCK];
  wr64be(lens, (uint64_t)aad_len * 8);
  wr64be(lens + 8, (uint64_t)len * 8);
  y = ghash_ni(g, y, lens, sizeof lens);
  _mm_storeu_si128((__m128i *)(void *)s, bswap128(y));
}
#endif

/* ---- GCM --------------------------------------------------------------- */

void sni_aes128_gcm_init(sni_aes128_gcm *g, const uint8_t key[SNI_AES128_KEY_LEN]) {
  static const uint8_t zero[SNI_AES_BLOCK];
  uint8_t h[SNI_AES_BLOCK];
  sni_aes128_init(&g->aes, key);
  sni_aes128_encrypt(&g->aes, zero, h); /* H = E_K(0^128) */
  memset(g->htab, 0, sizeof g->htab);
#if defined(SNI_CRYPTO_X86)
  if (g->aes.impl == SNI_CRYPTO_ACCEL) {
    ghash_powers_ni(g->hpow, h);
    return;
  }
#endif
  ghash_table_c(g->htab, h);
}

static void ghash_all(const sni_aes128_gcm *g, const uint8_t *aad, size_t aad_len,
                      const uint8_t *c, size_t len, uint8_t s[SNI_AES_BLOCK]) {
#if defined(SNI_CRYPTO_X86)
  if (g->aes.impl == SNI_CRYPTO_ACCEL) {
    ghash_all_ni(g, aad, aad_len, c, len, s);
    return;
  }
#endif
  ghash_all_c(g, aad, aad_len, c, len, s);
}

static void gctr(const sni_aes128_gcm *g, const uint8_t nonce[SNI_GCM_NONCE_LEN],
                 const uint8_t *in, size_t len, uint8_t *out) {
#if defined(SNI_CRYPTO_X86)
  if (g->aes.impl == SNI_CRYPTO_ACCEL) {
    ctr_ni(&g->aes, ctr_base(nonce), GCM_J0_COUNTER + 1, in, len, out);
    return;
  }
#endif
  ctr_c(&g->aes, nonce, in, len, out);
}

/* E_K(J0) (SP 800-38D 7.1 step 6): XORed with S it is the tag. */
static void gcm_ekj0(const sni_aes128_gcm *g, const uint8_t nonce[SNI_GCM_NONCE_LEN],
                     uint8_t ekj0[SNI_AES_BLOCK]) {
  uint8_t j0[SNI_AES_BLOCK];
  ctr_block(j0, nonce, GCM_J0_COUNTER);
  sni_aes128_encrypt(&g->aes, j0, ekj0);
}

int sni_aes128_gcm_encrypt(const sni_aes128_gcm *g,
                           const uint8_t nonce[SNI_GCM_NONCE_LEN], const uint8_t *aad,
                           size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                           uint8_t tag[SNI_GCM_TAG_LEN]) {
  if ((uint64_t)len > SNI_GCM_MAX_LEN || (uint64_t)aad_len > SNI_GCM_MAX_LEN)
    return SNI_EINVAL;
  uint8_t ekj0[SNI_AES_BLOCK], s[SNI_AES_BLOCK];
  gctr(g, nonce, in, len, out);
  gcm_ekj0(g, nonce, ekj0);
  ghash_all(g, aad, aad_len, out, len, s);
  for (int i = 0; i < SNI_GCM_TAG_LEN; i++) tag[i] = (uint8_t)(ekj0[i] ^ s[i]);
  return 0;
}

int sni_aes128_gcm_decrypt(const sni_aes128_gcm *g,
                           const uint8_t nonce[SNI_GCM_NONCE_LEN], const uint8_t *aad,
                           size_t aad_len, const uint8_t *in, size_t len,
                           const uint8_t tag[SNI_GCM_TAG_LEN], uint8_t *out) {
  if ((uint64_t)len > SNI_GCM_MAX_LEN || (uint64_t)aad_len > SNI_GCM_MAX_LEN)
    return SNI_EINVAL;
  uint8_t ekj0[SNI_AES_BLOCK], s[SNI_AES_BLOCK];
  gcm_ekj0(g, nonce, ekj0);
  int fused = 0;
#if defined(SNI_CRYPTO_X86)
  if (g->aes.impl == SNI_CRYPTO_ACCEL) {
    gcm_decrypt_ni(g, nonce, aad, aad_len, in, len, out, s);
    fused = 1;
  }
#endif
  /* The portable path checks first: a wrong-key trial then costs no CTR
   * pass (and in any case GHASH must read in before out overwrites it). */
  if (!fused) ghash_all_c(g, aad, aad_len, in, len, s);
  /* Constant-time: the time must not say how many tag bytes were right. */
  unsigned diff = 0;
  for (int i = 0; i < SNI_GCM_TAG_LEN; i++)
    diff |= (unsigned)(ekj0[i] ^ s[i] ^ tag[i]);
  if (diff) return SNI_EPROTO;
  if (!fused) ctr_c(&g->aes, nonce, in, len, out);
  return 0;
}
