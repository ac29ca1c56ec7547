/* The crypto behind the QUIC Initial reader (lib/crypto.h), against
 * published known answers typed from their documents:
 *   FIPS 197 Appendices A.1, B, C.1 (AES-128 key expansion and cipher);
 *   McGrew & Viega, "The Galois/Counter Mode of Operation", test cases
 *   1-4 (the AES-128, 96-bit IV cases, as used by NIST SP 800-38D);
 *   FIPS 180-4 examples (SHA-256 "abc", the 448-bit message, one million
 *   'a') and the empty message;
 *   RFC 4231 4.2-4.8 (HMAC-SHA256 test cases 1-7);
 *   RFC 5869 A.1-A.3 (HKDF-SHA256);
 *   RFC 9001 Appendix A and RFC 9369 Appendix A (QUIC v1 and v2 Initial
 *   keys, header protection, and the client and server Initial packets).
 * Every AES and GCM vector runs through the portable code and, when the
 * CPU has AES-NI and PCLMULQDQ, through the accelerated code as well, and
 * the two are compared on a sweep of lengths.  When ../shared/oracle (the
 * project's outside test data, never copied into the repository) is next
 * to the source tree, the RFC packets and payloads are also compared with
 * the copies there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "quic_rfc.h"
#include "quic_util.h"

#define MAX_BYTES 1500
#define QUIC_LONG_HEADER_HP_BITS 0x0f /* RFC 9001 5.4.1: low 4 bits of byte 0 */
#define QUIC_PN_LEN_BITS 0x03
#define QUIC_VARINT_LEN_SHIFT 6 /* RFC 9000 16: 2-bit length prefix */
#define QUIC_VARINT_VALUE_BITS 0x3f
#define QUIC_FRAME_ACK 0x02
#define QUIC_FRAME_CRYPTO 0x06
#define QUIC_VERSION_OFFSET 1
#define QUIC_VERSION_LEN 4
#define QUIC_DATAGRAM_MIN 1200 /* RFC 9000 14.1: padded client Initial */
#define ORACLE_QUIC_DIR SNI_TEST_DATA "/../../../shared/oracle/quic/"

/* ---- helpers ----------------------------------------------------------- */

static const char *cur_impl = "portable";

/* Selects an implementation for contexts made next; 0 when it is not
 * available on this machine (the test then runs the portable one only). */
static int use_impl(int impl) {
  if (impl == SNI_CRYPTO_ACCEL && !sni_crypto_accel_available()) return 0;
  sni_crypto_force_portable(impl == SNI_CRYPTO_PORTABLE);
  cur_impl = impl == SNI_CRYPTO_ACCEL ? "AES-NI/PCLMULQDQ" : "portable";
  assert_int_equal(sni_crypto_impl(), impl);
  return 1;
}

static const int impls[] = {SNI_CRYPTO_PORTABLE, SNI_CRYPTO_ACCEL};
#define N_IMPLS (sizeof impls / sizeof *impls)

/* Hex with any whitespace in between (the RFCs print 16-byte groups). */
static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = qt_unhex(hex, out, cap);
  if (n == SIZE_MAX) fail_msg("bad hex vector (digit, odd length or over %zu bytes)", cap);
  return n;
}

static void print_hex(const char *what, const uint8_t *p, size_t n) {
  print_message("%s:", what);
  for (size_t i = 0; i < n; i++) print_message("%s%02x", i % 32 ? "" : "\n  ", p[i]);
  print_message("\n");
}

static void expect_hex_at(const uint8_t *got, size_t len, const char *hex,
                          const char *what, int line) {
  uint8_t want[MAX_BYTES];
  size_t n = unhex(hex, want, sizeof want);
  if (n == len && memcmp(got, want, n) == 0) return;
  print_hex("expected", want, n);
  print_hex("got", got, len);
  fail_msg("line %d: %s differs (%s path)", line, what, cur_impl);
}
#define EXPECT_HEX(got, len, hex, what) expect_hex_at(got, len, hex, what, __LINE__)

static int reset_impl(void **state) {
  (void)state;
  sni_crypto_force_portable(0);
  return 0;
}

/* ---- AES (FIPS 197) ---------------------------------------------------- */

static void test_aes_key_expansion(void **state) {
  (void)state;
  uint8_t key[SNI_AES128_KEY_LEN];
  unhex("2b7e151628aed2a6abf7158809cf4f3c", key, sizeof key);
  sni_aes128 a;
  sni_aes128_init(&a, key);
  /* FIPS 197 A.1: w[0..43]. */
  EXPECT_HEX(a.rk, sizeof a.rk,
             "2b7e1516 28aed2a6 abf71588 09cf4f3c a0fafe17 88542cb1 23a33939 2a6c7605"
             "f2c295f2 7a96b943 5935807a 7359f67f 3d80477d 4716fe3e 1e237e44 6d7a883b"
             "ef44a541 a8525b7f b671253b db0bad00 d4d1c6f8 7c839d87 caf2b8bc 11f915bc"
             "6d88a37a 110b3efd dbf98641 ca0093fd 4e54f70e 5f5fc9f3 84a64fb2 4ea6dc4f"
             "ead27321 b58dbad2 312bf560 7f8d292f ac7766f3 19fadc21 28d12941 575c006e"
             "d014f9a8 c9ee2589 e13f0cc8 b6630ca6",
             "FIPS 197 A.1 expanded key");
}

static void test_aes_fips197(void **state) {
  (void)state;
  static const struct {
    const char *key, *in, *out, *what;
  } v[] = {
      {"000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
       "69c4e0d86a7b0430d8cdb78070b4c55a", "FIPS 197 C.1"},
      {"2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734",
       "3925841d02dc09fbdc118597196a0b32", "FIPS 197 B"},
  };
  for (size_t k = 0; k < N_IMPLS; k++) {
    if (!use_impl(impls[k])) continue;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
      uint8_t key[SNI_AES128_KEY_LEN], blk[SNI_AES_BLOCK];
      unhex(v[i].key, key, sizeof key);
      unhex(v[i].in, blk, sizeof blk);
      sni_aes128 a;
      sni_aes128_init(&a, key);
      assert_int_equal(a.impl, impls[k]);
      sni_aes128_encrypt(&a, blk, blk); /* in place */
      EXPECT_HEX(blk, sizeof blk, v[i].out, v[i].what);
    }
  }
}

/* ---- GCM --------------------------------------------------------------- */

typedef struct {
  const char *key, *iv, *pt, *aad, *ct, *tag;
} gcm_vec;

#define MV_K3 "feffe9928665731c6d6a8f9467308308"
#define MV_IV3 "cafebabefacedbaddecaf888"
#define MV_P3                                                        \
  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define MV_C3                                                        \
  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" \
  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"

/* McGrew & Viega test cases 1-4. */
static const gcm_vec mv[] = {
    {"00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {"00000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {MV_K3, MV_IV3, MV_P3 "1aafd255", "", MV_C3 "473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {MV_K3, MV_IV3, MV_P3, "feedfacedeadbeeffeedfacedeadbeefabaddad2", MV_C3,
     "5bc94fbc3221a5db94fae95ae7121a47"},
};

typedef struct {
  uint8_t key[SNI_AES128_KEY_LEN], iv[SNI_GCM_NONCE_LEN], tag[SNI_GCM_TAG_LEN];
  uint8_t pt[MAX_BYTES], aad[MAX_BYTES], ct[MAX_BYTES];
  size_t pt_len, aad_len, ct_len;
} gcm_bytes;

static void gcm_load(const gcm_vec *v, gcm_bytes *b) {
  unhex(v->key, b->key, sizeof b->key);
  unhex(v->iv, b->iv, sizeof b->iv);
  unhex(v->tag, b->tag, sizeof b->tag);
  b->pt_len = unhex(v->pt, b->pt, sizeof b->pt);
  b->aad_len = unhex(v->aad, b->aad, sizeof b->aad);
  b->ct_len = unhex(v->ct, b->ct, sizeof b->ct);
  assert_int_equal(b->pt_len, b->ct_len);
}

static void test_gcm_mcgrew_viega(void **state) {
  (void)state;
  static gcm_bytes b;
  for (size_t k = 0; k < N_IMPLS; k++) {
    if (!use_impl(impls[k])) continue;
    for (size_t i = 0; i < sizeof mv / sizeof *mv; i++) {
      gcm_load(&mv[i], &b);
      sni_aes128_gcm g;
      sni_aes128_gcm_init(&g, b.key);
      assert_int_equal(g.aes.impl, impls[k]);
      uint8_t out[MAX_BYTES], tag[SNI_GCM_TAG_LEN];
      assert_int_equal(
          sni_aes128_gcm_encrypt(&g, b.iv, b.aad, b.aad_len, b.pt, b.pt_len, out, tag),
          0);
      EXPECT_HEX(out, b.pt_len, mv[i].ct, "GCM ciphertext");
      EXPECT_HEX(tag, sizeof tag, mv[i].tag, "GCM tag");
      memset(out, 0xa5, sizeof out);
      assert_int_equal(
          sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, b.ct, b.ct_len, b.tag, out),
          0);
      EXPECT_HEX(out, b.ct_len, mv[i].pt, "GCM plaintext");
    }
  }
}

/* A wrong tag, a flipped ciphertext bit or a flipped AAD bit is rejected.
 * What out holds then is unspecified (the accelerated code decrypts while
 * it hashes), so only the error is checked; an out-of-place failure leaves
 * the ciphertext intact, so the right inputs still open afterwards. */
static void test_gcm_rejects_forgeries(void **state) {
  (void)state;
  static gcm_bytes b;
  for (size_t k = 0; k < N_IMPLS; k++) {
    if (!use_impl(impls[k])) continue;
    gcm_load(&mv[3], &b);
    sni_aes128_gcm g;
    sni_aes128_gcm_init(&g, b.key);
    uint8_t out[MAX_BYTES];
    for (size_t bit = 0; bit < 8 * SNI_GCM_TAG_LEN; bit += 5) {
      b.tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      assert_int_equal(
          sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, b.ct, b.ct_len, b.tag, out),
          SNI_EPROTO);
      b.tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t i = 0; i < b.ct_len; i++) {
      b.ct[i] ^= 0x01;
      uint8_t inplace[MAX_BYTES];
      memcpy(inplace, b.ct, b.ct_len);
      assert_int_equal(sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, inplace,
                                              b.ct_len, b.tag, inplace),
                       SNI_EPROTO);
      b.ct[i] ^= 0x01;
    }
    b.aad[b.aad_len - 1] ^= 0x80;
    assert_int_equal(
        sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, b.ct, b.ct_len, b.tag, out),
        SNI_EPROTO);
    b.aad[b.aad_len - 1] ^= 0x80;
    b.iv[0] ^= 0x01;
    assert_int_equal(
        sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, b.ct, b.ct_len, b.tag, out),
        SNI_EPROTO);
    b.iv[0] ^= 0x01;
    assert_int_equal(
        sni_aes128_gcm_decrypt(&g, b.iv, b.aad, b.aad_len, b.ct, b.ct_len, b.tag, out),
        0);
    EXPECT_HEX(out, b.ct_len, mv[3].pt, "GCM plaintext after rejections");
  }
}

static uint32_t rng_state = 0x2545f491u;
static uint8_t rnd8(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return (uint8_t)(rng_state >> 24);
}

/* Both implementations give the same ciphertext and tag for every length
 * around the 16-, 64- and 128-byte steps of the loops, each opens what the
 * other sealed, out of place and in place, and each rejects a flipped tag
 * bit at every length (the fused path fails after writing out). */
static void test_gcm_paths_agree(void **state) {
  (void)state;
  if (!sni_crypto_accel_available()) {
    print_message("AES-NI/PCLMULQDQ not available (CPU or SNI_NO_SIMD): portable only\n");
    skip();
  }
  static const size_t aad_lens[] = {0, 1, 15, 16, 17, 22, 64, 65, 130};
  static uint8_t key[SNI_AES128_KEY_LEN], iv[SNI_GCM_NONCE_LEN], aad[256], pt[600];
  static uint8_t c[2][600], t[2][SNI_GCM_TAG_LEN], back[600];
  sni_aes128_gcm g[2];
  for (size_t trial = 0; trial < 4; trial++) {
    for (size_t i = 0; i < sizeof key; i++) key[i] = rnd8();
    for (size_t k = 0; k < 2; k++) {
      assert_true(use_impl(impls[k]));
      sni_aes128_gcm_init(&g[k], key);
    }
    for (size_t len = 0; len < sizeof pt; len += len < 200 ? 1 : 37) {
      size_t alen = aad_lens[(len + trial) % (sizeof aad_lens / sizeof *aad_lens)];
      for (size_t i = 0; i < sizeof iv; i++) iv[i] = rnd8();
      for (size_t i = 0; i < alen; i++) aad[i] = rnd8();
      for (size_t i = 0; i < len; i++) pt[i] = rnd8();
      for (size_t k = 0; k < 2; k++)
        assert_int_equal(
            sni_aes128_gcm_encrypt(&g[k], iv, aad, alen, pt, len, c[k], t[k]), 0);
      if (memcmp(c[0], c[1], len) || memcmp(t[0], t[1], sizeof t[0]))
        fail_msg("paths differ at len %zu aad %zu", len, alen);
      for (size_t k = 0; k < 2; k++) {
        assert_int_equal(
            sni_aes128_gcm_decrypt(&g[k], iv, aad, alen, c[1 - k], len, t[1 - k], back),
            0);
        assert_memory_equal(back, pt, len);
        memcpy(back, c[1 - k], len);
        assert_int_equal(
            sni_aes128_gcm_decrypt(&g[k], iv, aad, alen, back, len, t[1 - k], back), 0);
        assert_memory_equal(back, pt, len);
        t[1 - k][len % SNI_GCM_TAG_LEN] ^= 0x40;
        assert_int_equal(
            sni_aes128_gcm_decrypt(&g[k], iv, aad, alen, c[1 - k], len, t[1 - k], back),
            SNI_EPROTO);
        t[1 - k][len % SNI_GCM_TAG_LEN] ^= 0x40;
      }
    }
  }
}

/* ---- SHA-256, HMAC, HKDF ----------------------------------------------- */

static void test_sha256_vectors(void **state) {
  (void)state;
  uint8_t d[SNI_SHA256_LEN];
  sni_sha256("abc", 3, d);
  EXPECT_HEX(d, sizeof d,
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
             "SHA-256(\"abc\")");
  sni_sha256("", 0, d);
  EXPECT_HEX(d, sizeof d,
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
             "SHA-256(\"\")");
  static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sni_sha256(m448, sizeof m448 - 1, d);
  EXPECT_HEX(d, sizeof d,
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
             "SHA-256(448-bit message)");
  /* One million 'a', fed in uneven pieces so that every buffer offset is
   * crossed. */
  static uint8_t as[1000];
  memset(as, 'a', sizeof as);
  sni_sha256_ctx c;
  sni_sha256_init(&c);
  size_t total = 0, step = 1;
  const size_t million = 1000000;
  while (total < million) {
    size_t n = million - total < step ? million - total : step;
    sni_sha256_update(&c, as, n);
    total += n;
    step = step % 997 + 1;
  }
  sni_sha256_final(&c, d);
  EXPECT_HEX(d, sizeof d,
             "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
             "SHA-256(1,000,000 x 'a')");
}

/* Every split of messages around the padding boundaries hashes the same
 * as the one-shot call. */
static void test_sha256_splits(void **state) {
  (void)state;
  uint8_t msg[200];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 7 + 3);
  for (size_t len = 50; len <= 130; len++) {
    uint8_t want[SNI_SHA256_LEN], got[SNI_SHA256_LEN];
    sni_sha256(msg, len, want);
    for (size_t cut = 0; cut <= len; cut += 3) {
      sni_sha256_ctx c;
      sni_sha256_init(&c);
      sni_sha256_update(&c, msg, cut);
      sni_sha256_update(&c, msg + cut, len - cut);
      sni_sha256_final(&c, got);
      assert_memory_equal(got, want, sizeof want);
    }
  }
}

static void test_hmac_rfc4231(void **state) {
  (void)state;
  static const char what_is_it[] =
      "This is a test using a larger than block-size key and a larger than "
      "block-size data. The key needs to be hashed before being used by the "
      "HMAC algorithm.";
  static const struct {
    const char *key_hex, *data, *mac;
    int data_is_hex;
  } v[] = {
      {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 0},
      {"4a656665", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 0},
      {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
       "dddddddddddddddddddddddddddddddddddddddddddddddddd"
       "dddddddddddddddddddddddddddddddddddddddddddddddddd",
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 1},
      {"0102030405060708090a0b0c0d0e0f10111213141516171819",
       "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
       "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 1},
      /* Test case 5 is truncated to 128 bits. */
      {"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation",
       "a3b6167473100ee06e0c796c2955552b", 0},
      {NULL, "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 0},
      {NULL, what_is_it,
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 0},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    uint8_t key[131], data[200], mac[SNI_SHA256_LEN];
    size_t key_len = sizeof key, data_len;
    if (v[i].key_hex)
      key_len = unhex(v[i].key_hex, key, sizeof key);
    else
      memset(key, 0xaa, key_len); /* test cases 6 and 7: 131 bytes of 0xaa */
    if (v[i].data_is_hex) {
      data_len = unhex(v[i].data, data, sizeof data);
    } else {
      data_len = strlen(v[i].data);
      memcpy(data, v[i].data, data_len);
    }
    sni_hmac_sha256(key, key_len, data, data_len, mac);
    size_t want_len = strlen(v[i].mac) / 2;
    char what[32];
    snprintf(what, sizeof what, "RFC 4231 test case %zu", i + 1);
    EXPECT_HEX(mac, want_len, v[i].mac, what);
  }
}

static void test_hkdf_rfc5869(void **state) {
  (void)state;
  static const struct {
    const char *ikm, *salt, *info, *prk, *okm;
  } v[] = {
      {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
       "f0f1f2f3f4f5f6f7f8f9",
       "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
       "34007208d5b887185865"},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
       "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
       "404142434445464748494a4b4c4d4e4f",
       "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
       "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
       "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
       "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
       "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
       "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
       "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
       "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
       "cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
       "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
       "9d201395faa4b61a96c8"},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    uint8_t ikm[100], salt[100], info[100], prk[SNI_SHA256_LEN], okm[100], want[100];
    size_t ikm_len = unhex(v[i].ikm, ikm, sizeof ikm);
    size_t salt_len = unhex(v[i].salt, salt, sizeof salt);
    size_t info_len = unhex(v[i].info, info, sizeof info);
    size_t okm_len = unhex(v[i].okm, want, sizeof want);
    sni_hkdf_extract(salt_len ? salt : NULL, salt_len, ikm, ikm_len, prk);
    EXPECT_HEX(prk, sizeof prk, v[i].prk, "RFC 5869 PRK");
    assert_int_equal(sni_hkdf_expand(prk, sizeof prk, info, info_len, okm, okm_len), 0);
    EXPECT_HEX(okm, okm_len, v[i].okm, "RFC 5869 OKM");
  }
}

static void test_hkdf_limits(void **state) {
  (void)state;
  uint8_t prk[SNI_SHA256_LEN] = {1}, out[SNI_HKDF_MAX_OUT + 1], one[SNI_HKDF_MAX_OUT];
  char label[SNI_TLS13_LABEL_MAX + 1];
  memset(label, 'x', sizeof label);
  assert_int_equal(sni_hkdf_expand(prk, sizeof prk, NULL, 0, out, sizeof out),
                   SNI_EINVAL);
  /* The longest output: its prefixes are the shorter outputs. */
  assert_int_equal(sni_hkdf_expand(prk, sizeof prk, NULL, 0, one, sizeof one), 0);
  assert_int_equal(sni_hkdf_expand(prk, sizeof prk, NULL, 0, out, 100), 0);
  assert_memory_equal(out, one, 100);
  assert_int_equal(
      sni_hkdf_expand_label(prk, sizeof prk, label, sizeof label, NULL, 0, out, 16),
      SNI_EINVAL);
  assert_int_equal(
      sni_hkdf_expand_label(prk, sizeof prk, label, sizeof label - 1, NULL, 0, out, 16),
      0);
  assert_int_equal(sni_hkdf_expand_label(prk, sizeof prk, "a", 1, prk, 256, out, 16),
                   SNI_EINVAL);
}

/* ---- QUIC Initial keys (RFC 9001 A.1, RFC 9369 A.1) -------------------- */

#define RFC_DCID "8394c8f03e515708"

typedef struct {
  uint32_t version;
  const char *initial_secret;
  const char *secret[2], *key[2], *iv[2], *hp[2]; /* [SNI_QUIC_CLIENT / _SERVER] */
  const char *label_key, *label_iv, *label_hp; /* HkdfLabel bytes from the RFC */
} quic_key_vec;

static const quic_key_vec quic_keys[] = {
    {SNI_QUIC_VERSION_1,
     "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44",
     {"c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
      "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b"},
     {"1f369613dd76d5467730efcbe3b1a22d", "cf3a5331653c364c88f0f379b6067e37"},
     {"fa044b2f42a3fd3b46fb255c", "0ac1493ca1905853b0bba03e"},
     {"9f50449e04a0e810283a1e9933adedd2", "c206b8d9b9f0f37644430b490eeaa314"},
     "00100e746c7331332071756963206b657900",
     "000c0d746c733133207175696320697600",
     "00100d746c733133207175696320687000"},
    {SNI_QUIC_VERSION_2,
     "2062e8b3cd8d52092614b8071d0aa1fb7c2e3ac193f78b280e72d8f5751f6aba",
     {"14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
      "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1"},
     {"8b1a0bc121284290a29e0971b5cd045d", "82db637861d55e1d011f19ea71d5d2a7"},
     {"91f73e2351d8fa91660e909f", "dd13c276499c0249d3310652"},
     {"45b95e15235d6f45a6b19cbcb0294ba9", "edf6d05c83121201b436e16877593c3a"},
     "001010746c73313320717569637632206b657900",
     "000c0f746c7331332071756963763220697600",
     "00100f746c7331332071756963763220687000"},
};

/* HKDF-Expand with the RFC's HkdfLabel bytes gives what the label
 * encoder gives. */
static void check_label_bytes(const uint8_t *secret, const char *info_hex,
                              const uint8_t *want, size_t len) {
  uint8_t info[64], got[SNI_SHA256_LEN];
  size_t n = unhex(info_hex, info, sizeof info);
  assert_int_equal(sni_hkdf_expand(secret, SNI_QUIC_SECRET_LEN, info, n, got, len), 0);
  assert_memory_equal(got, want, len);
}

static void test_quic_initial_keys(void **state) {
  (void)state;
  uint8_t dcid[8];
  unhex(RFC_DCID, dcid, sizeof dcid);
  for (size_t i = 0; i < sizeof quic_keys / sizeof *quic_keys; i++) {
    const quic_key_vec *v = &quic_keys[i];
    assert_true(sni_quic_version_supported(v->version));
    uint8_t salt[SNI_QUIC_SALT_LEN], initial[SNI_SHA256_LEN];
    /* The salts as RFC 9001 5.2 and RFC 9369 3.3.1 print them. */
    unhex(v->version == SNI_QUIC_VERSION_1 ? "38762cf7f55934b34d179ae6a4c80cadccbb7f0a"
                                           : "0dede3def700a6db819381be6e269dcbf9bd2ed9",
          salt, sizeof salt);
    sni_hkdf_extract(salt, sizeof salt, dcid, sizeof dcid, initial);
    EXPECT_HEX(initial, sizeof initial, v->initial_secret, "initial_secret");
    for (int side = SNI_QUIC_CLIENT; side <= SNI_QUIC_SERVER; side++) {
      sni_quic_initial_keys k;
      memset(&k, 0, sizeof k);
      assert_int_equal(
          sni_quic_initial_keys_derive(v->version, dcid, sizeof dcid, side, &k), 0);
      EXPECT_HEX(k.secret, sizeof k.secret, v->secret[side], "side initial secret");
      EXPECT_HEX(k.key, sizeof k.key, v->key[side], "quic key");
      EXPECT_HEX(k.iv, sizeof k.iv, v->iv[side], "quic iv");
      EXPECT_HEX(k.hp, sizeof k.hp, v->hp[side], "quic hp");
      check_label_bytes(k.secret, v->label_key, k.key, sizeof k.key);
      check_label_bytes(k.secret, v->label_iv, k.iv, sizeof k.iv);
      check_label_bytes(k.secret, v->label_hp, k.hp, sizeof k.hp);
    }
  }
  /* RFC 9001 A.1 / RFC 9369 A.1: "client in", "server in". */
  uint8_t initial[SNI_SHA256_LEN], secret[SNI_SHA256_LEN];
  unhex(quic_keys[0].initial_secret, initial, sizeof initial);
  unhex(quic_keys[0].secret[SNI_QUIC_CLIENT], secret, sizeof secret);
  check_label_bytes(initial, "00200f746c73313320636c69656e7420696e00", secret,
                    sizeof secret);
  unhex(quic_keys[0].secret[SNI_QUIC_SERVER], secret, sizeof secret);
  check_label_bytes(initial, "00200f746c7331332073657276657220696e00", secret,
                    sizeof secret);
}

static void test_quic_derive_errors(void **state) {
  (void)state;
  uint8_t cid[SNI_QUIC_MAX_CID_LEN + 1] = {0};
  sni_quic_initial_keys k;
  assert_false(sni_quic_version_supported(0xff00001du)); /* draft-29 */
  assert_int_equal(sni_quic_initial_keys_derive(0xff00001du, cid, 8, SNI_QUIC_CLIENT, &k),
                   SNI_EINVAL);
  assert_int_equal(sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, cid, sizeof cid,
                                                SNI_QUIC_CLIENT, &k),
                   SNI_EINVAL);
  assert_int_equal(sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, cid, 8, 2, &k),
                   SNI_EINVAL);
  assert_int_equal(
      sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, NULL, 8, SNI_QUIC_CLIENT, &k),
      SNI_EINVAL);
  assert_int_equal(
      sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, cid, 8, SNI_QUIC_CLIENT, NULL),
      SNI_EINVAL);
  /* Zero-length and maximum-length connection IDs are valid inputs. */
  assert_int_equal(
      sni_quic_initial_keys_derive(SNI_QUIC_VERSION_2, NULL, 0, SNI_QUIC_CLIENT, &k), 0);
  assert_int_equal(
      sni_quic_initial_keys_derive(SNI_QUIC_VERSION_2, cid, SNI_QUIC_MAX_CID_LEN,
                                   SNI_QUIC_SERVER, &k),
      0);
  uint8_t iv[SNI_QUIC_IV_LEN], nonce[SNI_QUIC_IV_LEN];
  unhex("fa044b2f42a3fd3b46fb255c", iv, sizeof iv);
  sni_quic_nonce(iv, 2, nonce);
  EXPECT_HEX(nonce, sizeof nonce, "fa044b2f42a3fd3b46fb255e",
             "nonce for packet number 2");
  sni_quic_nonce(iv, 0x3fffffffffffffffull, nonce); /* the largest packet number */
  EXPECT_HEX(nonce, sizeof nonce, "fa044b2f7d5c02c4b904daa3", "nonce for 2^62-1");
}

/* ---- QUIC Initial packets (RFC 9001 A.2-A.3, RFC 9369 A.2-A.3) --------- */

/* The client payload: the CRYPTO frame of quic_rfc.h, then 917 PADDING
 * bytes. */
#define RFC_CLIENT_PAYLOAD_LEN 1162
#define RFC_SERVER_PAYLOAD_LEN 99

/* Both server Initials carry an ACK frame and a CRYPTO frame. */
#define RFC_SERVER_PAYLOAD                                            \
  "02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739" \
  "88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94" \
  "0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00" \
  "020304"


typedef struct {
  const char *name;
  uint32_t version;
  int side;
  const char *packet; /* the protected packet as the RFC prints it */
  const char *sample, *mask, *header; /* header: unprotected, through the PN */
  uint64_t pn;
  uint8_t first_frame;
  const char *payload; /* its start, or all of it */
  size_t payload_len;
} quic_packet_vec;

static const quic_packet_vec quic_packets[] = {
    {"RFC 9001 A.2 client Initial", SNI_QUIC_VERSION_1, SNI_QUIC_CLIENT,
     quic_rfc9001_client_initial, "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36",
     "c300000001088394c8f03e5157080000449e00000002", 2, QUIC_FRAME_CRYPTO,
     QUIC_RFC_CRYPTO_FRAME, RFC_CLIENT_PAYLOAD_LEN},
    {"RFC 9369 A.2 client Initial", SNI_QUIC_VERSION_2, SNI_QUIC_CLIENT,
     quic_rfc9369_client_initial, "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80",
     "d36b3343cf088394c8f03e5157080000449e00000002", 2, QUIC_FRAME_CRYPTO,
     QUIC_RFC_CRYPTO_FRAME, RFC_CLIENT_PAYLOAD_LEN},
    {"RFC 9001 A.3 server Initial", SNI_QUIC_VERSION_1, SNI_QUIC_SERVER,
     "cf000000010008f067a5502a4262b500 4075c0d95a482cd0991cd25b0aac406a"
     "5816b6394100f37a1c69797554780bb3 8cc5a99f5ede4cf73c3ec2493a1839b3"
     "dbcba3f6ea46c5b7684df3548e7ddeb9 c3bf9c73cc3f3bded74b562bfb19fb84"
     "022f8ef4cdd93795d77d06edbb7aaf2f 58891850abbdca3d20398c276456cbc4"
     "2158407dd074ee",
     "2cd0991cd25b0aac406a5816b6394100", "2ec0d8356a",
     "c1000000010008f067a5502a4262b50040750001", 1, QUIC_FRAME_ACK, RFC_SERVER_PAYLOAD,
     RFC_SERVER_PAYLOAD_LEN},
    {"RFC 9369 A.3 server Initial", SNI_QUIC_VERSION_2, SNI_QUIC_SERVER,
     "dc6b3343cf0008f067a5502a4262b500 4075d92faaf16f05d8a4398c47089698"
     "baeea26b91eb761d9b89237bbf872630 17915358230035f7fd3945d88965cf17"
     "f9af6e16886c61bfc703106fbaf3cb4c fa52382dd16a393e42757507698075b2"
     "c984c707f0a0812d8cd5a6881eaf21ce da98f4bd23f6fe1a3e2c43edd9ce7ca8"
     "4bed8521e2e140",
     "6f05d8a4398c47089698baeea26b91eb", "4dd92e91ea",
     "d16b3343cf0008f067a5502a4262b50040750001", 1, QUIC_FRAME_ACK, RFC_SERVER_PAYLOAD,
     RFC_SERVER_PAYLOAD_LEN},
};

/* RFC 9000 16; fails the test on a truncated integer. */
static uint64_t varint(const uint8_t *p, size_t len, size_t *pos) {
  assert_true(*pos < len);
  size_t n = (size_t)1 << (p[*pos] >> QUIC_VARINT_LEN_SHIFT);
  assert_true(*pos + n <= len);
  uint64_t v = p[*pos] & QUIC_VARINT_VALUE_BITS;
  for (size_t i = 1; i < n; i++) v = v << 8 | p[*pos + i];
  *pos += n;
  return v;
}

/* Long header up to the packet number (RFC 9000 17.2, 17.2.2): returns the
 * packet number offset and the Length field.  Both sides' Initials have a
 * token length (zero from a server). */
static size_t long_header(const uint8_t *p, size_t len, uint32_t version,
                          uint64_t *length) {
  size_t pos = QUIC_VERSION_OFFSET;
  uint32_t v = 0;
  for (size_t i = 0; i < QUIC_VERSION_LEN; i++) v = v << 8 | p[pos++];
  assert_int_equal(v, version);
  pos += 1 + p[pos]; /* DCID */
  pos += 1 + p[pos]; /* SCID */
  assert_true(pos < len);
  uint64_t token = varint(p, len, &pos);
  pos += (size_t)token;
  *length = varint(p, len, &pos);
  assert_true(pos + *length <= len);
  return pos;
}

typedef struct {
  sni_quic_initial_keys k;
  sni_aes128 hp;
  sni_aes128_gcm aead;
} quic_ctx;

static void quic_ctx_init(quic_ctx *q, uint32_t version, int side) {
  uint8_t dcid[8];
  unhex(RFC_DCID, dcid, sizeof dcid);
  assert_int_equal(sni_quic_initial_keys_derive(version, dcid, sizeof dcid, side, &q->k),
                   0);
  sni_aes128_init(&q->hp, q->k.hp);
  sni_aes128_gcm_init(&q->aead, q->k.key);
}

/* Removes header protection in place (RFC 9001 5.4.1-5.4.2) and returns
 * the packet number length. */
static size_t unprotect_header(const quic_ctx *q, const quic_packet_vec *v, uint8_t *p,
                               size_t pn_off) {
  uint8_t mask[SNI_QUIC_HP_MASK_LEN];
  const uint8_t *sample = p + pn_off + SNI_QUIC_MAX_PN_LEN;
  EXPECT_HEX(sample, SNI_QUIC_HP_SAMPLE_LEN, v->sample, "header protection sample");
  sni_quic_hp_mask(&q->hp, sample, mask);
  EXPECT_HEX(mask, sizeof mask, v->mask, "header protection mask");
  p[0] ^= mask[0] & QUIC_LONG_HEADER_HP_BITS;
  size_t pn_len = (size_t)(p[0] & QUIC_PN_LEN_BITS) + 1;
  for (size_t i = 0; i < pn_len; i++) p[pn_off + i] ^= mask[1 + i];
  return pn_len;
}

static void open_quic_packet(const quic_packet_vec *v) {
  uint8_t p[MAX_BYTES], orig[MAX_BYTES], plain[MAX_BYTES];
  size_t len = unhex(v->packet, p, sizeof p);
  memcpy(orig, p, len);
  if (v->side == SNI_QUIC_CLIENT) assert_int_equal(len, QUIC_DATAGRAM_MIN);
  quic_ctx q;
  quic_ctx_init(&q, v->version, v->side);
  uint64_t length;
  size_t pn_off = long_header(p, len, v->version, &length);
  assert_int_equal(pn_off + length, len);
  size_t pn_len = unprotect_header(&q, v, p, pn_off);
  size_t hdr_len = pn_off + pn_len;
  EXPECT_HEX(p, hdr_len, v->header, "unprotected header");
  /* The first packet of a space: the truncated number is the number. */
  uint64_t pn = 0;
  for (size_t i = 0; i < pn_len; i++) pn = pn << 8 | p[pn_off + i];
  assert_int_equal(pn, v->pn);
  uint8_t nonce[SNI_QUIC_IV_LEN];
  sni_quic_nonce(q.k.iv, pn, nonce);
  size_t ct_len = (size_t)length - pn_len - SNI_GCM_TAG_LEN;
  assert_int_equal(ct_len, v->payload_len);
  const uint8_t *tag = p + hdr_len + ct_len;
  assert_int_equal(
      sni_aes128_gcm_decrypt(&q.aead, nonce, p, hdr_len, p + hdr_len, ct_len, tag, plain),
      0);
  uint8_t want[MAX_BYTES];
  size_t want_len = unhex(v->payload, want, sizeof want);
  assert_int_equal(plain[0], v->first_frame);
  EXPECT_HEX(plain, want_len, v->payload, "decrypted payload");
  for (size_t i = want_len; i < ct_len; i++) assert_int_equal(plain[i], 0); /* PADDING */
  /* Sealing the plaintext again and re-applying header protection gives
   * the RFC's packet byte for byte. */
  uint8_t sealed[MAX_BYTES];
  memcpy(sealed, p, hdr_len);
  assert_int_equal(sni_aes128_gcm_encrypt(&q.aead, nonce, p, hdr_len, plain, ct_len,
                                          sealed + hdr_len, sealed + hdr_len + ct_len),
                   0);
  uint8_t mask[SNI_QUIC_HP_MASK_LEN];
  sni_quic_hp_mask(&q.hp, sealed + pn_off + SNI_QUIC_MAX_PN_LEN, mask);
  sealed[0] ^= mask[0] & QUIC_LONG_HEADER_HP_BITS;
  for (size_t i = 0; i < pn_len; i++) sealed[pn_off + i] ^= mask[1 + i];
  if (memcmp(sealed, orig, len))
    fail_msg("%s: re-protected packet differs (%s)", v->name, cur_impl);
  /* In place, as the reader will do it. */
  assert_int_equal(sni_aes128_gcm_decrypt(&q.aead, nonce, p, hdr_len, p + hdr_len, ct_len,
                                          tag, p + hdr_len),
                   0);
  assert_memory_equal(p + hdr_len, plain, ct_len);
}

static void test_quic_packets(void **state) {
  (void)state;
  for (size_t k = 0; k < N_IMPLS; k++) {
    if (!use_impl(impls[k])) continue;
    for (size_t i = 0; i < sizeof quic_packets / sizeof *quic_packets; i++) {
      print_message("%s (%s)\n", quic_packets[i].name, cur_impl);
      open_quic_packet(&quic_packets[i]);
    }
  }
}

/* A client Initial opened with keys from another connection ID fails
 * authentication instead of yielding garbage. */
static void test_quic_wrong_dcid(void **state) {
  (void)state;
  for (size_t k = 0; k < N_IMPLS; k++) {
    if (!use_impl(impls[k])) continue;
    uint8_t p[MAX_BYTES], out[MAX_BYTES];
    size_t len = unhex(quic_rfc9001_client_initial, p, sizeof p);
    uint8_t dcid[8];
    unhex(RFC_DCID, dcid, sizeof dcid);
    dcid[7] ^= 1;
    sni_quic_initial_keys keys;
    assert_int_equal(sni_quic_initial_keys_derive(SNI_QUIC_VERSION_1, dcid, sizeof dcid,
                                                  SNI_QUIC_CLIENT, &keys),
                     0);
    sni_aes128_gcm g;
    sni_aes128_gcm_init(&g, keys.key);
    uint8_t nonce[SNI_QUIC_IV_LEN];
    sni_quic_nonce(keys.iv, 2, nonce);
    uint64_t length;
    size_t pn_off = long_header(p, len, SNI_QUIC_VERSION_1, &length);
    /* The header as the right keys would unprotect it. */
    uint8_t hdr_bytes[MAX_BYTES];
    size_t hdr = unhex(quic_packets[0].header, hdr_bytes, sizeof hdr_bytes);
    assert_int_equal(hdr, pn_off + SNI_QUIC_MAX_PN_LEN);
    memcpy(p, hdr_bytes, hdr);
    size_t ct = len - hdr - SNI_GCM_TAG_LEN;
    assert_int_equal(
        sni_aes128_gcm_decrypt(&g, nonce, p, hdr, p + hdr, ct, p + hdr + ct, out),
        SNI_EPROTO);
  }
}

/* ---- the same packets from ../shared/oracle, when it is there ---------- */

/* Reads an oracle .hex file (comment lines start with '#'); 0 if absent. */
static size_t read_oracle_hex(const char *name, uint8_t *out, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s%s", ORACLE_QUIC_DIR, name);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  static char text[4 * MAX_BYTES];
  size_t n = 0;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (line[0] != '#' && n + strlen(line) < sizeof text) {
      memcpy(text + n, line, strlen(line));
      n += strlen(line);
    }
  fclose(f);
  text[n] = '\0';
  return unhex(text, out, cap);
}

static void test_quic_oracle_files(void **state) {
  (void)state;
  static const struct {
    const char *packet, *payload, *typed;
    uint32_t version;
  } files[] = {
      {"rfc9001_client_initial.hex", "rfc9001_client_initial_payload.hex",
       quic_rfc9001_client_initial, SNI_QUIC_VERSION_1},
      {"rfc9369_client_initial.hex", "rfc9369_client_initial_payload.hex",
       quic_rfc9369_client_initial, SNI_QUIC_VERSION_2},
  };
  static uint8_t pkt[MAX_BYTES], payload[MAX_BYTES], typed[MAX_BYTES], out[MAX_BYTES];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    size_t n = read_oracle_hex(files[i].packet, pkt, sizeof pkt);
    size_t m = read_oracle_hex(files[i].payload, payload, sizeof payload);
    if (!n || !m) {
      print_message("%s not found (no ../shared/oracle next to the source tree)\n",
                    ORACLE_QUIC_DIR);
      skip();
    }
    assert_int_equal(unhex(files[i].typed, typed, sizeof typed), n);
    assert_memory_equal(typed, pkt, n); /* the RFC text as typed here */
    assert_int_equal(m, RFC_CLIENT_PAYLOAD_LEN);
    for (size_t k = 0; k < N_IMPLS; k++) {
      if (!use_impl(impls[k])) continue;
      quic_ctx q;
      quic_ctx_init(&q, files[i].version, SNI_QUIC_CLIENT);
      uint8_t nonce[SNI_QUIC_IV_LEN];
      sni_quic_nonce(q.k.iv, 2, nonce);
      /* The unprotected header is the one the RFC prints. */
      uint8_t hdr[MAX_BYTES];
      size_t hdr_len = unhex(quic_packets[i].header, hdr, sizeof hdr);
      size_t ct = n - hdr_len - SNI_GCM_TAG_LEN;
      assert_int_equal(sni_aes128_gcm_decrypt(&q.aead, nonce, hdr, hdr_len, pkt + hdr_len,
                                              ct, pkt + hdr_len + ct, out),
                       0);
      assert_int_equal(ct, m);
      assert_memory_equal(out, payload, m);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_aes_key_expansion, reset_impl),
      cmocka_unit_test_teardown(test_aes_fips197, reset_impl),
      cmocka_unit_test_teardown(test_gcm_mcgrew_viega, reset_impl),
      cmocka_unit_test_teardown(test_gcm_rejects_forgeries, reset_impl),
      cmocka_unit_test_teardown(test_gcm_paths_agree, reset_impl),
      cmocka_unit_test(test_sha256_vectors),
      cmocka_unit_test(test_sha256_splits),
      cmocka_unit_test(test_hmac_rfc4231),
      cmocka_unit_test(test_hkdf_rfc5869),
      cmocka_unit_test(test_hkdf_limits),
      cmocka_unit_test(test_quic_initial_keys),
      cmocka_unit_test(test_quic_derive_errors),
      cmocka_unit_test_teardown(test_quic_packets, reset_impl),
      cmocka_unit_test_teardown(test_quic_wrong_dcid, reset_impl),
      cmocka_unit_test_teardown(test_quic_oracle_files, reset_impl),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
