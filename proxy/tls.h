/* TLS termination for `terminate` upstreams (docs/proxy.md): the proxy
 * completes the client's handshake with the upstream's certificate and
 * relays plaintext.  OpenSSL is used here only, and only when the proxy is
 * built with it (PX_HAVE_OPENSSL); without it px_tls_new() fails with a
 * message, so `terminate` is a configuration error. */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "relay.h"

/* An upstream's certificate, key and ALPN list, loaded once per
 * configuration (a reload loads them again). */
typedef struct px_tls px_tls;
/* One client connection's TLS state. */
typedef struct px_tls_conn px_tls_conn;

/* The longest `alpn=` list in wire form (1-byte lengths, then names). */
#define PX_TLS_ALPN_MAX 255

/* Parses "p1,p2,..." into wire form: each name 1..255 bytes, at most
 * PX_TLS_ALPN_MAX bytes in all.  Returns the length, or -1. */
int px_tls_alpn_parse(const char *list, uint8_t *out, size_t cap);
/* Loads the PEM certificate chain and private key (alpn: wire form, may be
 * empty).  NULL with a message in err (naming the file) on failure. */
px_tls *px_tls_new(const char *cert, const char *key, const uint8_t *alpn,
                   size_t alpn_len, char *err, size_t errcap);
void px_tls_free(px_tls *t);

/* The server side of socket fd; NULL when out of memory.  The client's
 * hello is still in the socket: OpenSSL reads it itself. */
px_tls_conn *px_tls_conn_new(px_tls *t, int fd);
void px_tls_conn_free(px_tls_conn *tc);
/* Drives the handshake: 1 done, 0 waiting for the socket, -1 failed (an
 * alert, if any, has been sent). */
int px_tls_handshake(px_tls_conn *tc);

/* The PROXY v2 PP2_TYPE_SSL TLV value for the finished handshake (client
 * flags, verify, then the version and cipher sub-TLVs, docs/proxy.md).
 * Returns its length, or -1 when it does not fit. */
int px_tls_pp2_ssl(px_tls_conn *tc, uint8_t *out, size_t cap);

/* Relay, with the channel's fixed buffer (px_chan_open(ch, 0)):
 * client (TLS) -> upstream socket dst; and upstream socket src -> client
 * (TLS).  Bytes moved (plaintext, >= 0) or a PX_PUMP_* failure, like
 * px_pump().  A close_notify from the client is passed on as a FIN, a FIN
 * from the upstream as close_notify and FIN. */
long px_tls_pump_in(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                    int dst);
long px_tls_pump_out(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                     int src, int cfd);

#endif
