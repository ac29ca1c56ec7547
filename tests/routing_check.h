/* The test suites' and fuzzers' one definition of what a routing-only
 * parse (SNI_PARSE_ROUTING_ONLY) must give: compared with the full parse
 * of the same bytes, the fields routing-only fills are equal and the ones
 * it leaves are zero.  routing_differs() returns NULL if so, else the
 * name of the first field that is wrong.  Header-only so that the fuzz
 * targets can use it without the test helpers. */
#ifndef SNI_TEST_ROUTING_CHECK_H
#define SNI_TEST_ROUTING_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sniroute.h"


static inline int sni_test_all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static inline const char *routing_differs(const sni_hello *f,
                                          const sni_hello *r) {
#define SAME(x) if (memcmp(&f->x, &r->x, sizeof f->x) != 0) return #x
#define ZERO(x) if (!sni_test_all_zero(&r->x, sizeof r->x)) return #x
  SAME(wire_len); SAME(hello_len); SAME(records); SAME(record_version);
  SAME(legacy_version); SAME(max_version); SAME(record_versions);
  SAME(record_lengths); SAME(n_record_list); SAME(session_id_len);
  SAME(sslv2); SAME(sni_present); SAME(session_ticket); SAME(psk);
  SAME(early_data); SAME(ech); SAME(ech_type); SAME(ech_config_id);
  SAME(name_flags); SAME(quic); SAME(n_extensions); SAME(n_versions);
  SAME(n_alpn); SAME(alpn_len); SAME(psk_identities);
  SAME(session_ticket_len); SAME(ech_kdf); SAME(ech_aead); SAME(ech_enc_len);
  SAME(ech_payload_len); SAME(sni_len); SAME(sni_normalized_len); SAME(sni);
  SAME(sni_normalized); SAME(extensions); SAME(extension_lengths);
  SAME(versions); SAME(alpn);
  if ((f->truncated ^ r->truncated) &
      (SNI_TRUNC_EXTENSIONS | SNI_TRUNC_VERSIONS | SNI_TRUNC_ALPN |
       SNI_TRUNC_RECORDS))
    return "truncated";
  if (r->truncated & ~(SNI_TRUNC_EXTENSIONS | SNI_TRUNC_VERSIONS |
                       SNI_TRUNC_ALPN | SNI_TRUNC_RECORDS))
    return "truncated (a list routing-only does not fill)";
  ZERO(random); ZERO(grease); ZERO(n_ciphers); ZERO(n_groups);
  ZERO(n_key_shares); ZERO(n_sigalgs); ZERO(n_sigalgs_cert);
  ZERO(n_dc_sigalgs); ZERO(n_point_formats); ZERO(n_compression);
  ZERO(cipher_suites); ZERO(groups); ZERO(key_share_groups);
  ZERO(key_share_lengths); ZERO(sigalgs); ZERO(sigalgs_cert);
  ZERO(dc_sigalgs); ZERO(point_formats); ZERO(compression);
#undef SAME
#undef ZERO
  return NULL;
}

#endif
