/* QUIC Initial packet protection keys (RFC 9001 5.2 for QUIC v1, RFC 9369
 * 3.3 for QUIC v2) and the header-protection mask (RFC 9001 5.4.3).
 *
 * Both versions derive the same way and differ only in the salt and the
 * labels of the last step:
 *   initial_secret = HKDF-Extract(salt, client's first DCID)
 *   side_secret    = HKDF-Expand-Label(initial_secret, "client in"|"server in", "", 32)
 *   key, iv, hp    = HKDF-Expand-Label(side_secret, <label>, "", 16 | 12 | 16) */
#include "crypto.h"

#include <string.h>

/* A label as HkdfLabel carries it: bytes, no terminator. */
typedef struct {
  const char *s;
  size_t len;
} quic_label;

#define QUIC_LABEL_MAX 16 /* expand_keyed's buffer; QUIC_LABEL checks */
/* A label over QUIC_LABEL_MAX makes the array size negative: a compile
 * error, not an overflow in expand_keyed. */
#define QUIC_LABEL(str) \
  {str, sizeof str - 1 + 0 * sizeof(char[sizeof str - 1 <= QUIC_LABEL_MAX ? 1 : -1])}

typedef struct {
  uint32_t version;
  uint8_t salt[SNI_QUIC_SALT_LEN];
  quic_label key, iv, hp;
} quic_version_params;

static const quic_version_params quic_versions[] = {
    /* RFC 9001 5.2 */
    {SNI_QUIC_VERSION_1,
     {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
      0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
     QUIC_LABEL("quic key"), QUIC_LABEL("quic iv"), QUIC_LABEL("quic hp")},
    /* RFC 9369 3.3.1 and 3.3.2 */
    {SNI_QUIC_VERSION_2,
     {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
      0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
     QUIC_LABEL("quicv2 key"), QUIC_LABEL("quicv2 iv"), QUIC_LABEL("quicv2 hp")},
};

/* The same in every version (RFC 9369 3.3.2 keeps them). */
static const quic_label quic_side_label[2] = {QUIC_LABEL("client in"),
                                              QUIC_LABEL("server in")};

static const quic_version_params *quic_find_version(uint32_t version) {
  for (size_t i = 0; i < sizeof quic_versions / sizeof *quic_versions; i++)
    if (quic_versions[i].version == version) return &quic_versions[i];
  return NULL;
}

int sni_quic_version_supported(uint32_t version) {
  return quic_find_version(version) != NULL;
}

/* key, iv and hp fit in one HKDF-Expand block, T(1) = HMAC(secret,
 * HkdfLabel || 0x01) (RFC 5869 2.3), which is what lets expand_keyed skip
 * the general loop. */
_Static_assert(SNI_QUIC_KEY_LEN <= SNI_SHA256_LEN && SNI_QUIC_IV_LEN <= SNI_SHA256_LEN &&
                   SNI_QUIC_HP_LEN <= SNI_SHA256_LEN,
               "QUIC Initial key material fits one HKDF-Expand block");

#define HKDF_FIRST_BLOCK 0x01

/* HKDF-Expand-Label(secret, label, "", out_len) (RFC 8446 7.1) from an
 * HMAC context already keyed with the secret: the three expansions of one
 * side secret share its two key blocks instead of hashing them thrice. */
static void expand_keyed(const sni_hmac_sha256_ctx *keyed, quic_label l, uint8_t *out,
                         size_t out_len) {
  uint8_t info[2 + 1 + SNI_TLS13_LABEL_PREFIX_LEN + QUIC_LABEL_MAX + 1 + 1];
  size_t n = 0;
  info[n++] = (uint8_t)(out_len >> 8);
  info[n++] = (uint8_t)out_len;
  info[n++] = (uint8_t)(SNI_TLS13_LABEL_PREFIX_LEN + l.len);
  memcpy(info + n, SNI_TLS13_LABEL_PREFIX, SNI_TLS13_LABEL_PREFIX_LEN);
  n += SNI_TLS13_LABEL_PREFIX_LEN;
  memcpy(info + n, l.s, l.len);
  n += l.len;
  info[n++] = 0; /* empty context */
  info[n++] = HKDF_FIRST_BLOCK;
  sni_hmac_sha256_ctx c = *keyed;
  uint8_t t[SNI_SHA256_LEN];
  sni_hmac_sha256_update(&c, info, n);
  sni_hmac_sha256_final(&c, t);
  memcpy(out, t, out_len);
}

int sni_quic_initial_keys_derive(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                                 int side, sni_quic_initial_keys *out) {
  const quic_version_params *v = quic_find_version(version);
  if (!v || !out || (dcid_len && !dcid) || dcid_len > SNI_QUIC_MAX_CID_LEN ||
      (side != SNI_QUIC_CLIENT && side != SNI_QUIC_SERVER))
    return SNI_EINVAL;
  uint8_t initial[SNI_SHA256_LEN];
  sni_hkdf_extract(v->salt, sizeof v->salt, dcid, dcid_len, initial);
  /* Every length and label is a constant within the limits, so this
   * cannot fail; the result is checked anyway, so that a change to the
   * limits cannot go unnoticed. */
  int rc = sni_hkdf_expand_label(initial, sizeof initial, quic_side_label[side].s,
                                 quic_side_label[side].len, NULL, 0, out->secret,
                                 sizeof out->secret);
  if (rc) return rc;
  sni_hmac_sha256_ctx keyed;
  sni_hmac_sha256_init(&keyed, out->secret, sizeof out->secret);
  expand_keyed(&keyed, v->key, out->key, sizeof out->key);
  expand_keyed(&keyed, v->iv, out->iv, sizeof out->iv);
  expand_keyed(&keyed, v->hp, out->hp, sizeof out->hp);
  return 0;
}

void sni_quic_hp_mask(const sni_aes128 *hp, const uint8_t sample[SNI_QUIC_HP_SAMPLE_LEN],
                      uint8_t mask[SNI_QUIC_HP_MASK_LEN]) {
  uint8_t block[SNI_AES_BLOCK];
  sni_aes128_encrypt(hp, sample, block);
  memcpy(mask, block, SNI_QUIC_HP_MASK_LEN);
}

void sni_quic_nonce(const uint8_t iv[SNI_QUIC_IV_LEN], uint64_t pn,
                    uint8_t nonce[SNI_QUIC_IV_LEN]) {
  memcpy(nonce, iv, SNI_QUIC_IV_LEN);
  for (int i = SNI_QUIC_IV_LEN - 1; pn; i--, pn >>= 8) nonce[i] ^= (uint8_t)pn;
}
