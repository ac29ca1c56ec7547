/* Fingerprint rules: `deny ja4 FP...` and `deny ja4_file FILE`
 * (docs/proxy.md, "Fingerprints").  A rule set is built while a
 * configuration loads and is immutable afterwards, so workers match
 * against it without locks; matching allocates nothing. */
#ifndef PX_FPDENY_H
#define PX_FPDENY_H

#include <stddef.h>

#include "sniroute.h"

/* A rule is a whole JA4 ("t13d1516h2_8daaf6152771_e5627efa2ab1") or the
 * JA4_a part followed by "_*" ("t13d1516h2_*": any b and c). */
typedef struct px_fpdeny px_fpdeny;

px_fpdeny *px_fpdeny_new(void);
void px_fpdeny_free(px_fpdeny *d);
/* Adds one rule (text, n bytes).  NULL, or what is wrong with it (a
 * static message; out of memory is one too). */
const char *px_fpdeny_add(px_fpdeny *d, const char *text, size_t n);
/* Sorts what was added; call before the set is shared (matching needs
 * it).  Cheap to call again after more rules. */
void px_fpdeny_finish(px_fpdeny *d);
size_t px_fpdeny_count(const px_fpdeny *d);
/* 1 when the JA4 ja4 (NUL-terminated) matches a rule. */
int px_fpdeny_match(const px_fpdeny *d, const char *ja4);
/* The JA4 of h into ja4 ("" when it cannot be computed), then whether a
 * rule of d (may be NULL: none) matches it. */
int px_fpdeny_hello(const px_fpdeny *d, const sni_hello *h,
                    char ja4[SNI_JA4_MAX]);

/* "CONFIG_ID/KDF/AEAD" of an ECH outer extension, each up to 5 digits. */
#define PX_ECH_TEXT 20
/* The ECH outer extension of h for the log ("" without one): the server
 * picks its key by the config id, the HPKE suite says what the client
 * encrypted with.  The SNI beside it is the outer (public) name; GREASE
 * ECH looks the same on the wire. */
void px_ech_text(const sni_hello *h, char out[PX_ECH_TEXT]);

#endif
