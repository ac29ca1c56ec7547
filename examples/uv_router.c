/*
 * sniroute-uv: an SNI router on libuv.
 *
 *   sniroute-uv ADDR:PORT MAPFILE
 *
 * MAPFILE holds "PATTERN IP:PORT" lines (sni_router_load_map(); default,
 * no_sni and not_tls work too).  Port 0 picks a free port; the bound
 * address is printed as "listening on ADDR:PORT".
 *
 * An event loop hands over bytes in whatever chunks the kernel had, and
 * they are consumed: there is nothing to peek at.  So each chunk goes to
 * the streaming parser (sni_parser_feed) as it arrives, straight into a
 * per-connection buffer that keeps the bytes; when the hello is complete
 * the connection is routed, the upstream connected, the kept bytes
 * replayed to it in one write, and from then on bytes are relayed both
 * ways.  Every routed connection is logged as
 * "route sni=NAME -> TARGET reads=N records=N bytes=N" (reads: read
 * callbacks the hello took).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include <sniroute.h>

/* The default parser limit is a 16 KiB hello; this leaves room for the
 * record headers of a hello cut into a few hundred records.  A client
 * that needs more is refused. */
#define HELLO_BUF (32 * 1024)
#define HELLO_TIMEOUT_MS 5000
#define RELAY_BUF (64 * 1024)

typedef struct conn {
  uv_tcp_t client, upstream;
  uv_timer_t timer;
  uv_connect_t connect_req;
  int handles;         /* open handles; the conn is freed at zero */
  int closing;
  int upstream_open;
  int half_closed;     /* directions that have seen EOF */
  unsigned reads;
  sni_parser parser;
  sni_hello hello;
  size_t kept;         /* bytes of `bytes` read so far */
  const char *target;
  unsigned char bytes[HELLO_BUF];
} conn;

typedef struct relay_write {
  uv_write_t req;
  conn *c;
  uv_stream_t *from;
  char *buf;
} relay_write;

static uv_loop_t *loop;
static sni_router *routes;

static void on_close(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles == 0) free(c);
}

static void conn_close(conn *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->client, on_close);
  uv_close((uv_handle_t *)&c->timer, on_close);
  if (c->upstream_open) uv_close((uv_handle_t *)&c->upstream, on_close);
}

static uv_stream_t *peer_of(conn *c, uv_stream_t *s) {
  return s == (uv_stream_t *)&c->client ? (uv_stream_t *)&c->upstream
                                        : (uv_stream_t *)&c->client;
}

/* ---- relaying ------------------------------------------------------------ */

static void relay_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  (void)h;
  (void)hint;
  buf->base = malloc(RELAY_BUF);
  buf->len = buf->base ? RELAY_BUF : 0;
}

static void relay_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void relay_written(uv_write_t *req, int status) {
  relay_write *w = (relay_write *)req;
  conn *c = w->c;
  free(w->buf);
  if (status < 0 || c->closing) {
    conn_close(c);
  } else {
    uv_read_start(w->from, relay_alloc, relay_read);
  }
  free(w);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn *c = req->data;
  free(req);
  if (status < 0 || ++c->half_closed == 2) conn_close(c);
}

static void relay_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  if (n == 0) {
    free(buf->base);
    return;
  }
  if (n < 0) {
    free(buf->base);
    uv_read_stop(s);
    if (n != UV_EOF) {
      conn_close(c);
      return;
    }
    /* Pass the end of stream on as a half-close (after pending writes):
     * the other direction may still be talking. */
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req) {
      conn_close(c);
      return;
    }
    req->data = c;
    if (uv_shutdown(req, peer_of(c, s), on_shutdown) != 0) {
      free(req);
      conn_close(c);
    }
    return;
  }
  relay_write *w = malloc(sizeof *w);
  if (!w) {
    free(buf->base);
    conn_close(c);
    return;
  }
  w->c = c;
  w->from = s;
  w->buf = buf->base;
  /* One write in flight per direction: reading resumes when it is done,
   * so a slow receiver slows the sender instead of filling our memory. */
  uv_read_stop(s);
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
  if (uv_write(&w->req, peer_of(c, s), &out, 1, relay_written) != 0) {
    free(w->buf);
    free(w);
    conn_close(c);
  }
}

/* ---- upstream ------------------------------------------------------------ */

static void replayed(uv_write_t *req, int status) {
  conn *c = req->data;
  free(req);
  if (status < 0 || c->closing) {
    conn_close(c);
    return;
  }
  uv_read_start((uv_stream_t *)&c->client, relay_alloc, relay_read);
  uv_read_start((uv_stream_t *)&c->upstream, relay_alloc, relay_read);
}

static void on_upstream(uv_connect_t *req, int status) {
  conn *c = req->data;
  if (c->closing) return;
  if (status < 0) {
    fprintf(stderr, "upstream %s: %s\n", c->target, uv_strerror(status));
    conn_close(c);
    return;
  }
  /* Everything read so far -- the hello and whatever followed it in the
   * same reads -- goes first, exactly as the client sent it. */
  uv_write_t *w = malloc(sizeof *w);
  uv_buf_t b = uv_buf_init((char *)c->bytes, (unsigned)c->kept);
  if (!w) {
    conn_close(c);
    return;
  }
  w->data = c;
  if (uv_write(w, (uv_stream_t *)&c->upstream, &b, 1, replayed) != 0) {
    free(w);
    conn_close(c);
  }
}

static int parse_target(const char *t, struct sockaddr_storage *ss) {
  char host[64];
  const char *colon = strrchr(t, ':');
  if (!colon || (size_t)(colon - t) >= sizeof host) return -1;
  memcpy(host, t, (size_t)(colon - t));
  host[colon - t] = '\0';
  int port = atoi(colon + 1);
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -1;
}

static void route(conn *c, int status) {
  void *t = NULL;
  int kind = sni_router_match_hello(routes, &c->hello, status, &t);
  struct sockaddr_storage ss;
  if (kind < 0 || parse_target(t, &ss) != 0) {
    fprintf(stderr, "refused '%s': %s\n", c->hello.sni,
            sni_strerror(kind < 0 ? kind : SNI_EINVAL));
    conn_close(c);
    return;
  }
  c->target = t;
  printf("route sni=%s -> %s reads=%u records=%u bytes=%zu\n",
         c->hello.sni_present ? c->hello.sni_normalized : "-", c->target,
         c->reads, (unsigned)c->hello.records, c->kept);
  fflush(stdout);
  uv_tcp_init(loop, &c->upstream);
  c->upstream.data = c;
  c->upstream_open = 1;
  c->handles++;
  c->connect_req.data = c;
  int r = uv_tcp_connect(&c->connect_req, &c->upstream,
                         (const struct sockaddr *)&ss, on_upstream);
  if (r != 0) {
    fprintf(stderr, "upstream %s: %s\n", c->target, uv_strerror(r));
    conn_close(c);
  }
}

/* ---- the hello ----------------------------------------------------------- */

/* Reads land directly in the kept bytes: nothing is copied twice. */
static void hello_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  conn *c = h->data;
  (void)hint;
  *buf = uv_buf_init((char *)c->bytes + c->kept, (unsigned)(HELLO_BUF - c->kept));
}

static void hello_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  conn *c = s->data;
  (void)buf;
  if (n == 0) return;
  if (n < 0) { /* EOF or error before a complete hello */
    conn_close(c);
    return;
  }
  c->reads++;
  int rc = sni_parser_feed(&c->parser, c->bytes + c->kept, (size_t)n);
  c->kept += (size_t)n;
  if (rc == SNI_EAGAIN) {
    if (c->kept == HELLO_BUF) {
      fprintf(stderr, "refused: hello over %d bytes of records\n", HELLO_BUF);
      conn_close(c);
    }
    return;
  }
  uv_read_stop(s);
  uv_timer_stop(&c->timer);
  /* The total size, not this chunk's share: route() wants sni_parse()'s
   * kind of result. */
  route(c, sni_parser_status(&c->parser));
}

static void hello_timeout(uv_timer_t *t) {
  conn *c = t->data;
  fprintf(stderr, "refused: no complete hello within %d ms\n", HELLO_TIMEOUT_MS);
  conn_close(c);
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  conn *c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(loop, &c->client);
  c->client.data = c;
  c->handles = 1;
  if (uv_accept(server, (uv_stream_t *)&c->client) != 0) {
    conn_close(c);
    return;
  }
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->handles++;
  uv_timer_start(&c->timer, hello_timeout, HELLO_TIMEOUT_MS, 0);
  sni_parser_init(&c->parser, &c->hello, NULL);
  uv_read_start((uv_stream_t *)&c->client, hello_alloc, hello_read);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ADDR:PORT MAPFILE\n", argv[0]);
    return 2;
  }
  int rc = sni_router_create(&routes, NULL);
  if (rc == 0) rc = sni_router_load_map_file(routes, argv[2], NULL, NULL);
  if (rc >= 0) rc = sni_router_compile(routes);
  if (rc < 0) {
    fprintf(stderr, "%s: %s %s\n", argv[2], sni_strerror(rc),
            sni_router_errmsg(routes));
    return 1;
  }
  loop = uv_default_loop();
  struct sockaddr_storage ss;
  uv_tcp_t server;
  if (parse_target(argv[1], &ss) != 0) {
    fprintf(stderr, "bad address %s\n", argv[1]);
    return 2;
  }
  uv_tcp_init(loop, &server);
  int r = uv_tcp_bind(&server, (const struct sockaddr *)&ss, 0);
  if (r == 0) r = uv_listen((uv_stream_t *)&server, 512, on_connection);
  if (r != 0) {
    fprintf(stderr, "listen %s: %s\n", argv[1], uv_strerror(r));
    return 1;
  }
  int len = sizeof ss;
  char ip[64];
  uv_tcp_getsockname(&server, (struct sockaddr *)&ss, &len);
  uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
  printf("listening on %s:%u\n", ip,
         (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  return uv_run(loop, UV_RUN_DEFAULT);
}
