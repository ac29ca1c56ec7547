/* TLS termination (tls.h) with OpenSSL, non-blocking: the worker's epoll
 * loop drives handshakes and the relay; no thread per handshake. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int px_tls_alpn_parse(const char *list, uint8_t *out, size_t cap) {
  size_t len = 0;
  const char *p = list;
  for (;;) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    /* A wire name is 1..255 bytes behind its length byte. */
    if (n == 0 || n > UINT8_MAX || len + 1 + n > cap ||
        len + 1 + n > PX_TLS_ALPN_MAX)
      return -1;
    out[len++] = (uint8_t)n;
    memcpy(out + len, p, n);
    len += n;
    if (!e) return (int)len;
    p = e + 1;
  }
}

#ifdef PX_HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/ssl.h>

/* PROXY v2 (HAProxy's proxy-protocol.txt, 2.2.5 and 2.2.6). */
enum {
  PP2_CLIENT_SSL = 0x01,
  PP2_SUBTYPE_SSL_VERSION = 0x21,
  PP2_SUBTYPE_SSL_CIPHER = 0x23,
  PP2_SSL_HEAD = 5,   /* client (1 byte), verify (4 bytes) */
  PP2_TLV_HEAD = 3,   /* type, 16-bit length */
  /* verify is 0 only for a client certificate that was verified; none is
   * asked for, so it is never 0. */
  PP2_VERIFY_NO_CLIENT_CERT = 1
};

struct px_tls {
  SSL_CTX *ctx;
  uint8_t alpn[PX_TLS_ALPN_MAX];
  size_t alpn_len;
};

struct px_tls_conn {
  SSL *ssl;
};

/* The first of the configured protocols (in their order) that the client
 * offers; none in common: no ALPN in the answer. */
static int alpn_select(SSL *s, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)s;
  const px_tls *t = arg;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, t->alpn, (unsigned)t->alpn_len, in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* "what FILE: reason" from errno (a file that cannot be read) or from
 * OpenSSL's error queue (one that is not a usable PEM file). */
static void tls_error(char *err, size_t cap, const char *what,
                      const char *file, int sys) {
  const char *why = sys ? strerror(sys)
                        : ERR_reason_error_string(ERR_peek_last_error());
  snprintf(err, cap, "%s %s: %s", what, file, why ? why : "unusable");
  ERR_clear_error();
}

static int readable(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno ? errno : EIO;
  fclose(f);
  return 0;
}

static int load_pair(SSL_CTX *ctx, const char *cert, const char *key,
                     char *err, size_t cap) {
  int e = readable(cert);
  if (e || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    tls_error(err, cap, "certificate", cert, e);
    return -1;
  }
  e = readable(key);
  if (e || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    tls_error(err, cap, "key", key, e);
    return -1;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, cap, "key %s does not match certificate %s", key, cert);
    ERR_clear_error();
    return -1;
  }
  return 0;
}

px_tls *px_tls_new(const char *cert, const char *key, const uint8_t *alpn,
                   size_t alpn_len, char *err, size_t errcap) {
  px_tls *t = calloc(1, sizeof *t);
  SSL_CTX *ctx = t ? SSL_CTX_new(TLS_server_method()) : NULL;
  if (!ctx) {
    snprintf(err, errcap, "out of memory");
    free(t);
    return NULL;
  }
  t->ctx = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* A client FIN without close_notify is passed on as a FIN, as a
   * passthrough relay would. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* Partial writes: the relay keeps its own buffer and offset.  Idle
   * connections give their record buffers back. */
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  if (load_pair(ctx, cert, key, err, errcap) != 0) {
    px_tls_free(t);
    return NULL;
  }
  if (alpn_len) {
    memcpy(t->alpn, alpn, alpn_len < sizeof t->alpn ? alpn_len
                                                    : sizeof t->alpn);
    t->alpn_len = alpn_len < sizeof t->alpn ? alpn_len : sizeof t->alpn;
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, t);
  }
  return t;
}

void px_tls_free(px_tls *t) {
  if (!t) return;
  SSL_CTX_free(t->ctx);
  free(t);
}

px_tls_conn *px_tls_conn_new(px_tls *t, int fd) {
  px_tls_conn *tc = calloc(1, sizeof *tc);
  if (!tc) return NULL;
  tc->ssl = SSL_new(t->ctx);
  if (!tc->ssl || SSL_set_fd(tc->ssl, fd) != 1) {
    ERR_clear_error();
    px_tls_conn_free(tc);
    return NULL;
  }
  SSL_set_accept_state(tc->ssl);
  return tc;
}

void px_tls_conn_free(px_tls_conn *tc) {
  if (!tc) return;
  SSL_free(tc->ssl);
  free(tc);
}

/* 1: the call must wait for the socket; 0: a real failure.  Clears the
 * thread's error queue either way, so the next connection's
 * SSL_get_error() is not misled. */
static int would_block(SSL *ssl, int r) {
  int e = SSL_get_error(ssl, r);
  ERR_clear_error();
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

int px_tls_handshake(px_tls_conn *tc) {
  int r = SSL_accept(tc->ssl);
  if (r == 1) return 1;
  return would_block(tc->ssl, r) ? 0 : -1;
}

static size_t put_tlv(uint8_t *out, uint8_t type, const char *v) {
  size_t n = strlen(v);
  out[0] = type;
  out[1] = (uint8_t)(n >> 8);
  out[2] = (uint8_t)n;
  memcpy(out + PP2_TLV_HEAD, v, n);
  return PP2_TLV_HEAD + n;
}

int px_tls_pp2_ssl(px_tls_conn *tc, uint8_t *out, size_t cap) {
  const char *ver = SSL_get_version(tc->ssl);
  const char *cipher = SSL_get_cipher_name(tc->ssl);
  if (!ver || !cipher) return -1;
  size_t need = PP2_SSL_HEAD + 2 * PP2_TLV_HEAD + strlen(ver) + strlen(cipher);
  if (need > cap) return -1;
  out[0] = PP2_CLIENT_SSL;
  out[1] = out[2] = out[3] = 0;
  out[4] = PP2_VERIFY_NO_CLIENT_CERT;
  size_t n = PP2_SSL_HEAD;
  n += put_tlv(out + n, PP2_SUBTYPE_SSL_VERSION, ver);
  n += put_tlv(out + n, PP2_SUBTYPE_SSL_CIPHER, cipher);
  return (int)n;
}

/* The client's end of the relay. */
static long tls_rd(const px_ends *e, uint8_t *buf, size_t n) {
  px_tls_conn *tc = e->tls;
  int r = SSL_read(tc->ssl, buf, (int)(n < INT_MAX ? n : INT_MAX));
  if (r > 0) return r;
  /* close_notify, or a FIN (SSL_OP_IGNORE_UNEXPECTED_EOF) */
  if (SSL_get_error(tc->ssl, r) == SSL_ERROR_ZERO_RETURN) return 0;
  return would_block(tc->ssl, r) ? PX_IO_AGAIN : PX_PUMP_SRC;
}

static long tls_wr(const px_ends *e, const uint8_t *buf, size_t n) {
  px_tls_conn *tc = e->tls;
  int r = SSL_write(tc->ssl, buf, (int)(n < INT_MAX ? n : INT_MAX));
  if (r > 0) return r;
  return would_block(tc->ssl, r) ? PX_IO_AGAIN : PX_PUMP_DST;
}

/* The upstream ended: close_notify, then the FIN; again at the next event
 * when the alert must wait for room in the client's socket.  Never once
 * both went out (px_pump_buffered() sees to it): a second SSL_shutdown()
 * reads on to wait for the client's close_notify, so it would take
 * application data the client still sends (legal after our close_notify
 * in TLS 1.3) as a protocol error ("application data after close
 * notify") and kill the other direction of the half-closed connection. */
static void tls_fin(const px_ends *e, px_chan *ch, const px_chan *other) {
  px_tls_conn *tc = e->tls;
  int r = SSL_shutdown(tc->ssl);
  if (r < 0 && would_block(tc->ssl, r)) return;
  px_sock_fin(e, ch, other);
}

long px_tls_pump_in(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                    int dst) {
  const px_ends e = {tls_rd, px_sock_wr, px_sock_fin, -1, dst, tc};
  return px_pump_buffered(ch, other, &e);
}

long px_tls_pump_out(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                     int src, int cfd) {
  const px_ends e = {px_sock_rd, tls_wr, tls_fin, src, cfd, tc};
  return px_pump_buffered(ch, other, &e);
}

#else /* built without OpenSSL: `terminate` is a configuration error */

px_tls *px_tls_new(const char *cert, const char *key, const uint8_t *alpn,
                   size_t alpn_len, char *err, size_t errcap) {
  (void)cert;
  (void)key;
  (void)alpn;
  (void)alpn_len;
  snprintf(err, errcap,
           "terminate: this sniroute-proxy was built without OpenSSL");
  return NULL;
}

/* Unreachable without a px_tls; present so that the proxy links. */
void px_tls_free(px_tls *t) { (void)t; }
px_tls_conn *px_tls_conn_new(px_tls *t, int fd) {
  (void)t;
  (void)fd;
  return NULL;
}
void px_tls_conn_free(px_tls_conn *tc) { (void)tc; }
int px_tls_handshake(px_tls_conn *tc) {
  (void)tc;
  return -1;
}
int px_tls_pp2_ssl(px_tls_conn *tc, uint8_t *out, size_t cap) {
  (void)tc;
  (void)out;
  (void)cap;
  return -1;
}
long px_tls_pump_in(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                    int dst) {
  (void)tc;
  (void)ch;
  (void)other;
  (void)dst;
  return PX_PUMP_SRC;
}
long px_tls_pump_out(px_tls_conn *tc, px_chan *ch, const px_chan *other,
                     int src, int cfd) {
  (void)tc;
  (void)ch;
  (void)other;
  (void)src;
  (void)cfd;
  return PX_PUMP_DST;
}
#endif
