/*
 * sniroute-tls-server: a TLS-terminating HTTPS server for many names that
 * chooses the certificate before OpenSSL sees a byte.
 *
 *   sniroute-tls-server [--refuse peek|callback] ADDR:PORT
 *                       --site PATTERN CERT KEY [--site ...]
 *
 * PATTERN is a route pattern (a.test, .b.test, *.c.test, www.d.*, default).
 * Every connection is answered with one line: "site=PATTERN sni=NAME".
 *
 * --refuse peek (default): sni_peek_wait() parses the ClientHello in the
 *   socket's receive queue, the router picks the site's SSL_CTX, and only
 *   then is an SSL object created, on the untouched socket, so OpenSSL
 *   reads the hello itself.  A name no site covers gets a fatal
 *   unrecognized_name alert written by hand: no SSL object, no handshake
 *   state, no crypto.
 * --refuse callback: the usual OpenSSL way, for comparison.  Every
 *   connection gets an SSL object on a front SSL_CTX whose servername
 *   callback routes the name, switches to the site's SSL_CTX, or has
 *   OpenSSL send the same alert.
 *
 * SIGUSR1 prints "cpu_us=N ssl_objects=N refused=N" (process CPU time from
 * getrusage, SSL objects created so far, connections refused), which the
 * test uses to compare the two ways of refusing.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sniroute.h>

#include "ex_net.h"

#define MAX_SITES 32
#define HELLO_TIMEOUT_MS 5000

typedef struct site {
  const char *pattern;
  SSL_CTX *ctx;
} site;

static site sites[MAX_SITES];
static int nsites;
static sni_router *routes; /* name -> site *; frozen before any thread runs */
static SSL_CTX *front_ctx; /* --refuse callback only */
static int refuse_by_peek = 1;
static atomic_ulong n_ssl, n_refused;
static volatile sig_atomic_t want_stats;

static void on_usr1(int sig) {
  (void)sig;
  want_stats = 1;
}

/* A fatal unrecognized_name(112) alert record.  Before the ServerHello
 * the record layer is plaintext, and 3.3 is what TLS 1.2 and 1.3 peers
 * both accept as the record version. */
static const unsigned char alert_unrecognized_name[] = {21, 3, 3, 0, 2, 2, 112};

/* Close without a reset: the hello is still unread in the queue, and
 * closing a socket with unread bytes sends RST, which may destroy the
 * alert before the client reads it. */
static void close_gently(int fd, size_t queued) {
  char sink[4096];
  while (queued > 0) {
    ssize_t n = recv(fd, sink, queued < sizeof sink ? queued : sizeof sink, 0);
    if (n <= 0) break;
    queued -= (size_t)n;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

static int servername_cb(SSL *ssl, int *alert, void *arg) {
  (void)arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  void *t = NULL;
  int rc = sni_router_match(routes, name, name ? strlen(name) : 0, NULL, 0, &t);
  if (rc < 0) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    atomic_fetch_add(&n_refused, 1);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  SSL_set_SSL_CTX(ssl, ((site *)t)->ctx);
  SSL_set_app_data(ssl, t);
  return SSL_TLSEXT_ERR_OK;
}

static void serve_tls(int fd, SSL_CTX *ctx, site *s) {
  SSL *ssl = SSL_new(ctx);
  atomic_fetch_add(&n_ssl, 1);
  if (!ssl) {
    close(fd);
    return;
  }
  if (s) SSL_set_app_data(ssl, s);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    char req[4096];
    int n = SSL_read(ssl, req, sizeof req); /* one request is enough here */
    s = SSL_get_app_data(ssl);
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char body[512], resp[768];
    int blen = snprintf(body, sizeof body, "site=%s sni=%s\n",
                        s ? s->pattern : "-", sni ? sni : "-");
    int rlen = snprintf(resp, sizeof resp,
                        "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                        "Connection: close\r\n\r\n%s", blen, body);
    if (n > 0) SSL_write(ssl, resp, rlen);
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  close(fd);
}

static void *conn_thread(void *arg) {
  int fd = (int)(intptr_t)arg;
  if (!refuse_by_peek) {
    serve_tls(fd, front_ctx, NULL);
    return NULL;
  }
  unsigned char buf[16384];
  sni_hello hello;
  int rc = sni_peek_wait(fd, buf, sizeof buf, &hello, HELLO_TIMEOUT_MS);
  void *t = NULL;
  int kind = sni_router_match_hello(routes, &hello, rc, &t);
  if (kind > 0) {
    serve_tls(fd, ((site *)t)->ctx, t);
    return NULL;
  }
  atomic_fetch_add(&n_refused, 1);
  if (rc > 0) { /* a well-formed hello for a name we do not serve */
    ex_write_all(fd, alert_unrecognized_name, sizeof alert_unrecognized_name);
    close_gently(fd, (size_t)rc);
  } else {      /* not TLS, malformed, timed out: nothing to say */
    close(fd);
  }
  return NULL;
}

static SSL_CTX *new_ctx(const char *cert, const char *key) {
  SSL_CTX *c = SSL_CTX_new(TLS_server_method());
  if (!c) return NULL;
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  if (cert && (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
               SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)) {
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(c);
    return NULL;
  }
  return c;
}

static int usage(const char *argv0) {
  fprintf(stderr, "usage: %s [--refuse peek|callback] ADDR:PORT "
                  "--site PATTERN CERT KEY [--site ...]\n", argv0);
  return 2;
}

int main(int argc, char **argv) {
  const char *listen_spec = NULL;
  if (sni_router_create(&routes, NULL) != 0) return 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--refuse") && i + 1 < argc) {
      refuse_by_peek = strcmp(argv[++i], "callback") != 0;
    } else if (!strcmp(argv[i], "--site") && i + 3 < argc && nsites < MAX_SITES) {
      site *s = &sites[nsites++];
      s->pattern = argv[i + 1];
      s->ctx = new_ctx(argv[i + 2], argv[i + 3]);
      if (!s->ctx) return 1;
      int rc = strcmp(s->pattern, "default") == 0
                   ? sni_router_add_special(routes, SNI_ROUTE_DEFAULT, NULL, 0, s)
                   : sni_router_add(routes, s->pattern, NULL, 0, s);
      if (rc < 0) {
        fprintf(stderr, "%s: %s\n", sni_strerror(rc), sni_router_errmsg(routes));
        return 1;
      }
      i += 3;
    } else if (!listen_spec && argv[i][0] != '-') {
      listen_spec = argv[i];
    } else {
      return usage(argv[0]);
    }
  }
  if (!listen_spec || nsites == 0) return usage(argv[0]);
  int rc = sni_router_compile(routes);
  if (rc < 0) {
    fprintf(stderr, "%s: %s\n", sni_strerror(rc), sni_router_errmsg(routes));
    return 1;
  }
  if (!refuse_by_peek) {
    front_ctx = new_ctx(NULL, NULL);
    if (!front_ctx) return 1;
    SSL_CTX_set_tlsext_servername_callback(front_ctx, servername_cb);
  }

  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_usr1};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);

  int lfd = ex_listen(listen_spec);
  if (lfd < 0) {
    fprintf(stderr, "listen %s: %s\n", listen_spec, strerror(errno));
    return 1;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (;;) {
    if (want_stats) {
      want_stats = 0;
      struct rusage ru;
      getrusage(RUSAGE_SELF, &ru);
      long long us = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
      printf("cpu_us=%lld ssl_objects=%lu refused=%lu\n", us,
             atomic_load(&n_ssl), atomic_load(&n_refused));
      fflush(stdout);
    }
    /* A bounded wait, so a SIGUSR1 that lands just before the wait
     * still gets its answer. */
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    if (poll(&pfd, 1, 100) <= 0) continue;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) continue;
    /* Workers never take SIGUSR1: its handler's flag is the main loop's. */
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
    pthread_t th;
    if (pthread_create(&th, &attr, conn_thread, (void *)(intptr_t)fd) != 0)
      close(fd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
}
