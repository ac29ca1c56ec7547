/* libFuzzer target for the map-file loader and the matcher.
 *
 * Input: map-file text, a NUL byte, then queries one per line; a query
 * line is a name, optionally followed by a TAB and a raw wire-format ALPN
 * list (which may be malformed on purpose).  Besides memory safety it
 * checks invariants of the semantics: a routed name routes the same in
 * upper case with a trailing dot, and the kind returned is in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sniroute.h"

static void check(int cond) {
  if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t maplen = nul ? (size_t)(nul - data) : size;
  sni_router *r = NULL;
  if (sni_router_create(&r, NULL)) return 0;
  int rc = sni_router_load_map(r, (const char *)data, maplen, NULL, NULL);
  check(rc >= 0 || sni_router_errmsg(r)[0] != 0);
  if (sni_router_compile(r) != 0) {
    sni_router_free(r);
    return 0;
  }
  const uint8_t *q = nul ? nul + 1 : data + size, *end = data + size;
  while (q < end) {
    const uint8_t *eol = memchr(q, '\n', (size_t)(end - q));
    if (!eol) eol = end;
    const uint8_t *tab = memchr(q, '\t', (size_t)(eol - q));
    const char *name = (const char *)q;
    size_t nlen = (size_t)((tab ? tab : eol) - q);
    const uint8_t *alpn = tab ? tab + 1 : NULL;
    size_t alen = tab ? (size_t)(eol - tab - 1) : 0;
    void *t = NULL;
    int k = sni_router_match(r, name, nlen, alpn, alen, &t);
    check(k == SNI_ENOENT || k == SNI_EINVAL ||
          (k >= SNI_ROUTE_EXACT && k <= SNI_ROUTE_NO_SNI));
    if (k > 0) check(t != NULL); /* the loader's targets are strings */
    if (k <= 0) check(t == NULL);
    if (k > 0 && k != SNI_ROUTE_NO_SNI && nlen < 253 &&
        (nlen == 0 || name[nlen - 1] != '.')) {
      /* rule 1: case and one trailing dot do not matter */
      char up[256];
      for (size_t i = 0; i < nlen; i++)
        up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32
                                                         : name[i]);
      up[nlen] = '.';
      void *t2 = NULL;
      int k2 = sni_router_match(r, up, nlen + 1, alpn, alen, &t2);
      check(k2 == k && t2 == t);
    }
    /* the same name through a hello */
    if (nlen <= SNI_MAX_NAME && alen <= SNI_CAP_ALPN_BYTES) {
      static sni_hello h;
      memset(&h, 0, sizeof h);
      h.sni_present = nlen > 0;
      memcpy(h.sni_normalized, name, nlen);
      h.sni_normalized_len = (uint16_t)nlen;
      if (alen) memcpy(h.alpn, alpn, alen);
      h.alpn_len = (uint8_t)alen;
      void *t3 = NULL;
      int k3 = sni_router_match_hello(r, &h, 100, &t3);
      check(k3 == SNI_EINVAL || k3 == SNI_ENOENT || k3 > 0);
    }
    q = eol + 1;
  }
  void *t = NULL;
  int k = sni_router_match_hello(r, NULL, SNI_ENOTTLS, &t);
  check(k == SNI_ENOENT || k == SNI_ROUTE_NOT_TLS || k == SNI_ROUTE_DEFAULT);
  sni_router_free(r);
  return 0;
}
