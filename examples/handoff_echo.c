/*
 * sniroute-handoff-echo: a TLS echo server that takes its connections from
 * sniroute-dispatch (sni_handoff_register/recv), from its own listening
 * socket, or both.
 *
 *   sniroute-handoff-echo --cert CERT --key KEY
 *                         [--register CONTROL_SOCKET NAME] [--listen ADDR:PORT]
 *
 * A connection received from the dispatcher is an ordinary accepted TCP
 * socket whose ClientHello has not been read: the server runs the TLS
 * handshake on it as if it had accepted it, and getpeername() gives the
 * client's own address.  Each connection is logged as
 * "conn peer=ADDR:PORT via=handoff|listen sni=NAME".
 *
 * If the dispatcher goes away the server registers again (every 100 ms
 * until it is back), so either side may be restarted.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sniroute.h>

#include "ex_net.h"

static SSL_CTX *ctx;
static const char *control_path, *reg_name;

typedef struct conn {
  int fd;
  const char *via;
  char sni[SNI_HANDOFF_MAX_MSG + 1];
} conn;

static void *echo_thread(void *arg) {
  conn *c = arg;
  char peer[80];
  ex_peer_name(c->fd, peer, sizeof peer);
  printf("conn peer=%s via=%s sni=%s\n", peer, c->via, c->sni[0] ? c->sni : "-");
  fflush(stdout);
  /* An echo answers in small pieces; Nagle would hold them for an ACK. */
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL *ssl = SSL_new(ctx);
  if (ssl && SSL_set_fd(ssl, c->fd) == 1 && SSL_accept(ssl) == 1) {
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0)
      if (SSL_write(ssl, buf, n) != n) break;
    SSL_shutdown(ssl);
  }
  SSL_free(ssl);
  close(c->fd);
  free(c);
  return NULL;
}

static void spawn(int fd, const char *via, const char *sni, size_t sni_len) {
  conn *c = malloc(sizeof *c);
  pthread_t th;
  if (!c) {
    close(fd);
    return;
  }
  c->fd = fd;
  c->via = via;
  memcpy(c->sni, sni, sni_len);
  c->sni[sni_len] = '\0';
  if (pthread_create(&th, NULL, echo_thread, c) != 0) {
    close(fd);
    free(c);
    return;
  }
  pthread_detach(th);
}

static void *handoff_thread(void *arg) {
  (void)arg;
  int announced = 0;
  for (;;) {
    int ch = sni_handoff_register(control_path, reg_name);
    if (ch < 0) {
      if (!announced) {
        printf("waiting for the dispatcher at %s: %s\n", control_path,
               strerror(errno));
        fflush(stdout);
        announced = 1;
      }
      poll(NULL, 0, 100);
      continue;
    }
    printf("registered as %s at %s\n", reg_name, control_path);
    fflush(stdout);
    announced = 0;
    for (;;) {
      char msg[SNI_HANDOFF_MAX_MSG];
      int fd, n = sni_handoff_recv(ch, &fd, msg, sizeof msg);
      if (n >= 0) {
        spawn(fd, "handoff", msg, (size_t)n);
      } else if (n == SNI_EOF || n == SNI_ESYS) {
        printf("dispatcher channel closed: %s\n", sni_strerror(n));
        fflush(stdout);
        break;
      }
      /* Other errors lose one connection, not the channel. */
    }
    close(ch);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *cert = NULL, *key = NULL, *listen_spec = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cert") && i + 1 < argc) {
      cert = argv[++i];
    } else if (!strcmp(argv[i], "--key") && i + 1 < argc) {
      key = argv[++i];
    } else if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
      listen_spec = argv[++i];
    } else if (!strcmp(argv[i], "--register") && i + 2 < argc) {
      control_path = argv[++i];
      reg_name = argv[++i];
    } else {
      cert = NULL;
      break;
    }
  }
  if (!cert || !key || (!listen_spec && !control_path)) {
    fprintf(stderr, "usage: %s --cert CERT --key KEY [--register CONTROL_SOCKET "
                    "NAME] [--listen ADDR:PORT]\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  int lfd = -1;
  if (listen_spec && (lfd = ex_listen(listen_spec)) < 0) {
    fprintf(stderr, "listen %s: %s\n", listen_spec, strerror(errno));
    return 1;
  }
  pthread_t th;
  if (control_path && pthread_create(&th, NULL, handoff_thread, NULL) != 0)
    return 1;
  if (lfd < 0) pthread_join(th, NULL); /* never returns */
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) spawn(fd, "listen", "", 0);
  }
}
