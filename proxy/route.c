/* Routing policy (route.h): the library's router decides by SNI and ALPN;
 * this file adds what it cannot know, how unreadable hellos are treated
 * and the labels the log uses. */
#include "route.h"

static const char *rule_label(int k) {
  switch (k) {
    case SNI_ROUTE_DEFAULT:
      return "default";
    case SNI_ROUTE_NO_SNI:
      return "no_sni";
    case SNI_ROUTE_NOT_TLS:
      return "not_tls";
    case SNI_ROUTE_EXACT:
      return "exact";
    case SNI_ROUTE_WILDCARD:
      return "wildcard";
    default:
      return "tail";
  }
}

px_route px_route_decide(const px_server *s, const sni_hello *h,
                         int status) {
  px_route r = {NULL, "none"};
  void *t = NULL;
  if (status == SNI_EPROTO || status == SNI_E2BIG || status == SNI_ENOSPC) {
    /* A hello we cannot read carries no name we could trust: route it
     * like one without SNI (no_sni, else default). */
    int k = sni_router_match(s->router, NULL, 0, NULL, 0, &t);
    r.up = k > 0 ? t : NULL;
    r.label = status == SNI_EPROTO ? "bad_hello" : "too_large";
    return r;
  }
  /* The router reads only the status for bytes that are not TLS. */
  int k = sni_router_match_hello(s->router, status == SNI_ENOTTLS ? NULL : h,
                                 status, &t);
  if (k > 0 && t) {
    r.up = t;
    r.label = rule_label(k);
  }
  return r;
}

px_route px_route_plain(const px_server *s) {
  void *t = NULL;
  int k = sni_router_match(s->router, NULL, 0, NULL, 0, &t);
  px_route r = {k > 0 ? t : NULL, "default"};
  return r;
}
