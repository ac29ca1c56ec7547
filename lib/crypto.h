/* The crypto the QUIC Initial reader needs, written from the specs with
 * libc only: SHA-256, HMAC, HKDF and TLS 1.3 HKDF-Expand-Label
 * (sha256.c), AES-128 (aes.c), AES-128-GCM (gcm.c) and QUIC Initial key
 * derivation and header protection (quic_keys.c).
 *
 * Internal: nothing here is exported (the library builds with
 * -fvisibility=hidden and none of these carry SNI_EXTERN), so names and
 * layouts may change freely.  No function allocates, makes a system call
 * or keeps state outside its arguments, except the cached CPU feature
 * probe of sni_crypto_impl().
 *
 * Why it is not hardened against side channels: every key it is meant for
 * is public.  QUIC Initial keys derive from the Destination Connection ID
 * in the clear (RFC 9001 5.2), so anyone on the path computes them too;
 * the portable AES and GHASH therefore use table lookups indexed by key-
 * and data-dependent values.  Only the GCM tag comparison is constant-time,
 * because that costs nothing.  Do not reuse these for secret keys without
 * revisiting that. */
#ifndef SNIROUTE_CRYPTO_H
#define SNIROUTE_CRYPTO_H

#include "sniroute.h"

#include <stddef.h>
#include <stdint.h>

/* Big-endian words, as the FIPS and NIST texts number their bytes. */
static inline uint32_t sni_rd32be(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void sni_wr32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static inline uint32_t sni_ror32(uint32_t x, unsigned n) {
  return x >> n | x << (32 - n);
}

/* ==========================================================================
 *  Implementation choice
 * ========================================================================== */

/* The accelerated code: x86 with GCC or clang, not disabled by
 * SNI_NO_SIMD (which the clang run of scripts/test sets, so that the
 * portable code is also what a whole build runs).  Its functions carry a
 * target attribute instead of the build needing -maes, and run only after
 * the CPU probe says yes. */
#if !defined(SNI_NO_SIMD) && (defined(__x86_64__) || defined(__i386__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define SNI_CRYPTO_X86 1
#define SNI_X86_TARGET __attribute__((target("aes,pclmul,ssse3,sse4.1")))
#endif

/* SNI_CRYPTO_ACCEL is AES-NI + PCLMULQDQ (+ SSSE3/SSE4.1 for shuffles and
 * counter inserts), compiled only on x86 with GCC or clang and without
 * SNI_NO_SIMD; the portable C code is the reference and runs everywhere. */
enum { SNI_CRYPTO_PORTABLE = 1, SNI_CRYPTO_ACCEL = 2 };

/* The implementation new contexts use: SNI_CRYPTO_ACCEL when compiled in,
 * present on this CPU and not forced off, else SNI_CRYPTO_PORTABLE.  The
 * CPU probe runs once and is cached.  Thread-safe. */
int sni_crypto_impl(void);
/* Nonzero when the accelerated code is compiled in and this CPU has it,
 * whatever sni_crypto_force_portable() says. */
int sni_crypto_accel_available(void);
/* For tests: nonzero makes sni_crypto_impl() answer SNI_CRYPTO_PORTABLE, so
 * one test binary runs every vector through both implementations.  Affects
 * contexts initialised afterwards (a context keeps the choice it was made
 * with).  Process-wide; meant for single-threaded tests. */
void sni_crypto_force_portable(int on);

/* ==========================================================================
 *  SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), HKDF (RFC 5869),
 *  HKDF-Expand-Label (RFC 8446 7.1)
 * ========================================================================== */

#define SNI_SHA256_LEN 32
#define SNI_SHA256_BLOCK 64
/* RFC 5869 2.3: at most 255 blocks of output. */
#define SNI_HKDF_MAX_OUT (255 * SNI_SHA256_LEN)
/* RFC 8446 7.1: HkdfLabel.label is opaque <7..255> and starts "tls13 ". */
#define SNI_TLS13_LABEL_PREFIX "tls13 "
#define SNI_TLS13_LABEL_PREFIX_LEN 6
#define SNI_TLS13_LABEL_MAX (255 - SNI_TLS13_LABEL_PREFIX_LEN)
#define SNI_TLS13_CONTEXT_MAX 255

typedef struct sni_sha256_ctx {
  uint32_t h[8];
  uint64_t len; /* bytes absorbed so far */
  uint8_t buf[SNI_SHA256_BLOCK];
} sni_sha256_ctx;

/* Blocks go through the x86 SHA extensions when sni_crypto_impl() answers
 * SNI_CRYPTO_ACCEL and the CPU has them (JA4 hashes per hello), else
 * through the portable code; both give the same digests. */
void sni_sha256_init(sni_sha256_ctx *c);
void sni_sha256_update(sni_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest; the context must be re-initialised before reuse. */
void sni_sha256_final(sni_sha256_ctx *c, uint8_t out[SNI_SHA256_LEN]);
void sni_sha256(const void *data, size_t len, uint8_t out[SNI_SHA256_LEN]);

/* Both hash states are keyed at init, so a keyed context can be copied
 * and reused for many messages under the same key (HKDF-Expand does). */
typedef struct sni_hmac_sha256_ctx {
  sni_sha256_ctx inner;
  sni_sha256_ctx outer;
} sni_hmac_sha256_ctx;

void sni_hmac_sha256_init(sni_hmac_sha256_ctx *c, const uint8_t *key, size_t key_len);
void sni_hmac_sha256_update(sni_hmac_sha256_ctx *c, const void *data, size_t len);
void sni_hmac_sha256_final(sni_hmac_sha256_ctx *c, uint8_t out[SNI_SHA256_LEN]);
void sni_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t len,
                     uint8_t out[SNI_SHA256_LEN]);

/* PRK = HMAC(salt, IKM); a NULL/empty salt means 32 zero bytes. */
void sni_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                      size_t ikm_len, uint8_t prk[SNI_SHA256_LEN]);
/* 0, or SNI_EINVAL when out_len > SNI_HKDF_MAX_OUT (nothing written). */
int sni_hkdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info,
                    size_t info_len, uint8_t *out, size_t out_len);
/* HKDF-Expand(secret, HkdfLabel{out_len, "tls13 " + label, context}).
 * label is label_len bytes without the prefix.  0, or SNI_EINVAL when
 * out_len exceeds 65535 or SNI_HKDF_MAX_OUT, label_len exceeds
 * SNI_TLS13_LABEL_MAX or context_len SNI_TLS13_CONTEXT_MAX. */
int sni_hkdf_expand_label(const uint8_t *secret, size_t secret_len, const char *label,
                          size_t label_len, const uint8_t *context, size_t context_len,
                          uint8_t *out, size_t out_len);

/* ==========================================================================
 *  AES-128 (FIPS 197), encryption only: GCM and header protection never
 *  run the inverse cipher.
 * ========================================================================== */

#define SNI_AES_BLOCK 16
#define SNI_AES128_KEY_LEN 16
#define SNI_AES128_ROUNDS 10
#define SNI_AES128_RK_LEN (SNI_AES_BLOCK * (SNI_AES128_ROUNDS + 1))

typedef struct sni_aes128 {
  /* The expanded key w[0..43] of FIPS 197 5.2 as bytes, in the order
   * AddRoundKey XORs them into the state; AES-NI loads it as is. */
  _Alignas(16) uint8_t rk[SNI_AES128_RK_LEN];
  int impl; /* SNI_CRYPTO_* chosen at init */
} sni_aes128;

void sni_aes128_init(sni_aes128 *a, const uint8_t key[SNI_AES128_KEY_LEN]);
/* in and out may be the same buffer. */
void sni_aes128_encrypt(const sni_aes128 *a, const uint8_t in[SNI_AES_BLOCK],
                        uint8_t out[SNI_AES_BLOCK]);

/* ==========================================================================
 *  AES-128-GCM (NIST SP 800-38D) with 96-bit nonces and 128-bit tags, the
 *  only shape TLS 1.3 and QUIC use.
 * ========================================================================== */

#define SNI_GCM_NONCE_LEN 12
#define SNI_GCM_TAG_LEN 16
/* SP 800-38D 5.2.1.1: plaintext at most 2^39 - 256 bits. */
#define SNI_GCM_MAX_LEN ((((uint64_t)1) << 36) - 32)
#define SNI_GCM_HPOW 8 /* H^1..H^8: the fused decryption folds 8 blocks */

typedef struct sni_aes128_gcm {
  sni_aes128 aes;
  /* Portable GHASH: i*H for every 4-bit i (Shoup's table), as big-endian
   * halves.  Accelerated GHASH: H^1..H^8, byte-reversed, in hpow.  A
   * context uses one of them (aes.impl, fixed at init), so they share
   * storage: the QUIC reader keeps two contexts inside sni_quic. */
  union {
    uint64_t htab[16][2];
    _Alignas(16) uint8_t hpow[SNI_GCM_HPOW][SNI_AES_BLOCK];
  };
} sni_aes128_gcm;

void sni_aes128_gcm_init(sni_aes128_gcm *g, const uint8_t key[SNI_AES128_KEY_LEN]);
/* out may equal in (not partially overlap).  0, or SNI_EINVAL when len is
 * over SNI_GCM_MAX_LEN. */
int sni_aes128_gcm_encrypt(const sni_aes128_gcm *g,
                           const uint8_t nonce[SNI_GCM_NONCE_LEN], const uint8_t *aad,
                           size_t aad_len, const uint8_t *in, size_t len, uint8_t *out,
                           uint8_t tag[SNI_GCM_TAG_LEN]);
/* 0 with the plaintext in out; SNI_EPROTO when the tag does not match (a
 * forged, corrupted or wrongly keyed packet; constant-time compare);
 * SNI_EINVAL for a length over SNI_GCM_MAX_LEN (nothing written).
 * On SNI_EPROTO out is unspecified: the accelerated code decrypts in the
 * same pass that computes the tag, so out may hold unauthenticated
 * plaintext, which the caller must not use (treat it as garbage).  out may
 * equal in (not partially overlap), but then a failed call has destroyed
 * the ciphertext: a caller that wants to try another key afterwards must
 * decrypt out of place. */
int sni_aes128_gcm_decrypt(const sni_aes128_gcm *g,
                           const uint8_t nonce[SNI_GCM_NONCE_LEN], const uint8_t *aad,
                           size_t aad_len, const uint8_t *in, size_t len,
                           const uint8_t tag[SNI_GCM_TAG_LEN], uint8_t *out);

/* ==========================================================================
 *  QUIC Initial keys (RFC 9001 5.2, RFC 9369 3.3) and header protection
 *  (RFC 9001 5.4)
 * ========================================================================== */

#define SNI_QUIC_VERSION_1 0x00000001u
#define SNI_QUIC_VERSION_2 0x6b3343cfu
#define SNI_QUIC_SALT_LEN 20
#define SNI_QUIC_MAX_CID_LEN 20 /* RFC 9000 17.2 */
#define SNI_QUIC_SECRET_LEN SNI_SHA256_LEN
#define SNI_QUIC_KEY_LEN SNI_AES128_KEY_LEN
#define SNI_QUIC_IV_LEN SNI_GCM_NONCE_LEN
#define SNI_QUIC_HP_LEN SNI_AES128_KEY_LEN
#define SNI_QUIC_HP_SAMPLE_LEN 16
#define SNI_QUIC_HP_MASK_LEN 5 /* first byte + up to 4 packet number bytes */
#define SNI_QUIC_MAX_PN_LEN 4

/* Whose Initial packets the keys protect. */
enum { SNI_QUIC_CLIENT = 0, SNI_QUIC_SERVER = 1 };

typedef struct sni_quic_initial_keys {
  uint8_t secret[SNI_QUIC_SECRET_LEN]; /* client_/server_initial_secret */
  uint8_t key[SNI_QUIC_KEY_LEN];
  uint8_t iv[SNI_QUIC_IV_LEN];
  uint8_t hp[SNI_QUIC_HP_LEN];
} sni_quic_initial_keys;

/* Nonzero for a version whose Initial keys this file derives (v1, v2). */
int sni_quic_version_supported(uint32_t version);
/* Derives the Initial keys of `side` from the client's first Destination
 * Connection ID.  0, or SNI_EINVAL for an unsupported version, a NULL
 * argument or a DCID over SNI_QUIC_MAX_CID_LEN. */
int sni_quic_initial_keys_derive(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                                 int side, sni_quic_initial_keys *out);
/* mask = AES-ECB(hp, sample)[0..4]. */
void sni_quic_hp_mask(const sni_aes128 *hp, const uint8_t sample[SNI_QUIC_HP_SAMPLE_LEN],
                      uint8_t mask[SNI_QUIC_HP_MASK_LEN]);
/* The AEAD nonce of RFC 9001 5.3: iv XOR the packet number, left-padded. */
void sni_quic_nonce(const uint8_t iv[SNI_QUIC_IV_LEN], uint64_t pn,
                    uint8_t nonce[SNI_QUIC_IV_LEN]);

#endif
