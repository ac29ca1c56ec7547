/* Fingerprint rules (fpdeny.h): whole fingerprints in one sorted array and
 * JA4_a prefixes in another, both searched by bisection, so a match costs
 * two binary searches and no allocation whatever the number of rules. */
#include "fpdeny.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JA4_LEN (SNI_JA4_MAX - 1) /* a_b_c: 10 + 1 + 12 + 1 + 12 */
#define JA4_HASH_LEN 12
#define PREFIX_TAIL "_*"

typedef struct fp_text {
  char s[SNI_JA4_MAX];
} fp_text;

typedef struct fp_list {
  fp_text *v;
  size_t n, cap;
} fp_list;

struct px_fpdeny {
  fp_list exact;  /* whole JA4 strings */
  fp_list prefix; /* JA4_a parts (SNI_JA4_A_LEN characters) */
};

px_fpdeny *px_fpdeny_new(void) { return calloc(1, sizeof(px_fpdeny)); }

void px_fpdeny_free(px_fpdeny *d) {
  if (!d) return;
  free(d->exact.v);
  free(d->prefix.v);
  free(d);
}

/* JA4_a: the transport, two version characters, 'd' or 'i', two digit
 * pairs and the two ALPN characters (letters or digits). */
static int valid_a(const char *s) {
  if (s[0] != 't' && s[0] != 'q' && s[0] != 'd') return 0;
  if (s[3] != 'd' && s[3] != 'i') return 0;
  for (int i = 4; i < 8; i++)
    if (s[i] < '0' || s[i] > '9') return 0;
  for (int i = 1; i < SNI_JA4_A_LEN; i++)
    if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                s[i]))
      return 0;
  return 1;
}

static int valid_hash(const char *s) {
  for (int i = 0; i < JA4_HASH_LEN; i++)
    if (!strchr("0123456789abcdef", s[i]) || !s[i]) return 0;
  return 1;
}

static int push(fp_list *l, const char *s, size_t n) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    fp_text *v = realloc(l->v, cap * sizeof *v);
    if (!v) return -1;
    l->v = v;
    l->cap = cap;
  }
  memset(&l->v[l->n], 0, sizeof l->v[l->n]);
  memcpy(l->v[l->n++].s, s, n);
  return 0;
}

const char *px_fpdeny_add(px_fpdeny *d, const char *t, size_t n) {
  const char *want = "want a JA4 (t13d1516h2_8daaf6152771_e5627efa2ab1) or "
                     "its first part and _* (t13d1516h2_*), hashes in "
                     "lowercase hex";
  char s[SNI_JA4_MAX] = "";
  if (n != JA4_LEN && n != SNI_JA4_A_LEN + strlen(PREFIX_TAIL)) return want;
  memcpy(s, t, n);
  if (memchr(s, 0, n) || !valid_a(s) || s[SNI_JA4_A_LEN] != '_') return want;
  if (n != JA4_LEN) {
    if (strcmp(s + SNI_JA4_A_LEN, PREFIX_TAIL) != 0) return want;
    return push(&d->prefix, s, SNI_JA4_A_LEN) ? "out of memory" : NULL;
  }
  const char *b = s + SNI_JA4_A_LEN + 1, *c = b + JA4_HASH_LEN + 1;
  if (!valid_hash(b) || b[JA4_HASH_LEN] != '_' || !valid_hash(c)) return want;
  return push(&d->exact, s, n) ? "out of memory" : NULL;
}

static int cmp_fp(const void *a, const void *b) {
  return strcmp(((const fp_text *)a)->s, ((const fp_text *)b)->s);
}

void px_fpdeny_finish(px_fpdeny *d) {
  if (d->exact.n) qsort(d->exact.v, d->exact.n, sizeof(fp_text), cmp_fp);
  if (d->prefix.n) qsort(d->prefix.v, d->prefix.n, sizeof(fp_text), cmp_fp);
}

size_t px_fpdeny_count(const px_fpdeny *d) {
  return d ? d->exact.n + d->prefix.n : 0;
}

static int find(const fp_list *l, const char *key) {
  fp_text k;
  memset(&k, 0, sizeof k);
  memcpy(k.s, key, strnlen(key, sizeof k.s - 1));
  return l->n && bsearch(&k, l->v, l->n, sizeof(fp_text), cmp_fp) != NULL;
}

int px_fpdeny_match(const px_fpdeny *d, const char *ja4) {
  if (!d || strlen(ja4) != JA4_LEN) return 0;
  char a[SNI_JA4_A_LEN + 1];
  memcpy(a, ja4, SNI_JA4_A_LEN);
  a[SNI_JA4_A_LEN] = 0;
  return find(&d->exact, ja4) || find(&d->prefix, a);
}

int px_fpdeny_hello(const px_fpdeny *d, const sni_hello *h,
                    char ja4[SNI_JA4_MAX]) {
  /* A hello whose JA4 cannot be computed (lists over the parser's
   * capacities) matches no rule: the rules name fingerprints. */
  if (sni_ja4(h, SNI_JA4, ja4, SNI_JA4_MAX) < 0) ja4[0] = 0;
  return ja4[0] && px_fpdeny_match(d, ja4);
}

enum { ECH_OUTER = 0 }; /* ECHClientHelloType outer (draft-ietf-tls-esni) */

void px_ech_text(const sni_hello *h, char out[PX_ECH_TEXT]) {
  out[0] = 0;
  if (h->ech && h->ech_type == ECH_OUTER)
    snprintf(out, PX_ECH_TEXT, "%u/%u/%u", (unsigned)h->ech_config_id,
             (unsigned)h->ech_kdf, (unsigned)h->ech_aead);
}
