/* The routing policy of sniroute-proxy: which upstream a connection goes
 * to, given what the peek found.  The one place that decides. */
#ifndef PX_ROUTE_H
#define PX_ROUTE_H

#include "config.h"

typedef struct px_route {
  const px_upstream *up; /* NULL: no route */
  const char *label;     /* rule that matched, for the log (static) */
} px_route;

/* By server s's routes.  status is the peek result: > 0 a complete hello
 * (or SSLv2) in *h, SNI_ENOTTLS, or SNI_EPROTO / SNI_E2BIG / SNI_ENOSPC
 * for a hello that could not be read (h is then not looked at). */
px_route px_route_decide(const px_server *s, const sni_hello *h, int status);
/* A `tls off` server: its default route (the only one it may have), with
 * nothing read from the client. */
px_route px_route_plain(const px_server *s);

#endif
