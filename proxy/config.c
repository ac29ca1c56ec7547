/* Configuration parsing (config.h): the file format and the quick
 * command-line form, both documented in docs/proxy.md.  Every error names
 * its place: FILE:LINE in the file or a map file, "command line:N" (the
 * Nth argument) in the quick form. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fdbudget.h"
#include "fpdeny.h"
#include "pp.h"
#include "tls.h"

#define MAX_UPSTREAMS 4096
#define MAX_TOKENS 64
#define MAX_CONNECTIONS 10000000u
#define QUIC_FLOWS_MAX 1000000u
#define QUIC_HELD_DGRAMS_MAX 64u       /* SNI_QUIC_MAX_PACKETS */
#define QUIC_HELD_BYTES_MIN 1200u      /* one Initial, RFC 9000 14.1 */
#define QUIC_HELD_BYTES_MAX (1u << 20)
#define DURATION_MAX_MS (24u * 60 * 60 * 1000) /* 24 h */
#define FILE_MAX ((size_t)64 << 20)            /* config and map files */
#define CMDLINE "command line"
#define PREFIX "sniroute-proxy: "

/* Where a route line came from. */
typedef struct origin {
  const char *file;
  unsigned line;
} origin;

/* The route lines of every source (inline, map files, command line) in one
 * text, loaded with one call: the library's line k is org[k - 1], so its
 * messages, conflicts naming two lines included, can name real places. */
typedef struct routes {
  char *text;
  size_t len, cap;
  origin *org;
  size_t n, capn;
} routes;

/* Strings that origins point at (map file paths). */
typedef struct kept {
  struct kept *next;
  char s[];
} kept;

typedef struct builder {
  px_cfg *cfg;
  sni_router *router;
  int cap_ups;
  const char *file; /* place for messages: file (or CMDLINE) and line */
  unsigned line;
  FILE *err;
  const char *prefix; /* before each message */
  int addr_flags;     /* px_parse_addr_ex() */
  int reported;       /* the current failure has printed its message */
  routes rts[PX_MAX_SERVERS]; /* each server's route lines */
  routes *rt;                 /* the server being read */
  int cur;                    /* its index */
  int in_block;               /* inside server { } */
  int blocks;                 /* the file uses server blocks */
  int listens;                /* listeners of the current block */
  origin top;                 /* the first top-level listen or route */
  int hello_set[PX_MAX_SERVERS];
  char silent_target[PX_MAX_SERVERS][PX_NAME_MAX];
  origin silent_at[PX_MAX_SERVERS];
  kept *paths;
  origin listen_at[PX_MAX_LISTENERS];
  origin quic_at[PX_MAX_LISTENERS];
  int sandbox; /* px_cfg_src.sandbox */
  const char *config; /* the --config value in use */
} builder;

static int fail(builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(b->prefix, b->err);
  if (b->file && b->line)
    fprintf(b->err, "%s:%u: ", b->file, b->line);
  else if (b->file)
    fprintf(b->err, "%s: ", b->file);
  vfprintf(b->err, fmt, ap);
  fputc('\n', b->err);
  va_end(ap);
  b->reported = 1;
  return -1;
}

static int parse_uint(const char *t, unsigned long max, unsigned *out) {
  unsigned long v;
  if (px_parse_dec(t, strlen(t), max, &v) != 0) return -1;
  *out = (unsigned)v;
  return 0;
}

/* "off" (0), or a whole number with a unit, ms, s, m or h (none: seconds),
 * from 1 ms to 24 h.  Plain decimal only: no fraction, exponent, sign, hex
 * or NaN can slip through a floating-point conversion. */
static int parse_duration(const char *t, unsigned *ms) {
  static const struct {
    const char *unit;
    unsigned ms;
  } units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000},
               {"h", 3600000}};
  if (strcmp(t, "off") == 0) {
    *ms = 0;
    return 0;
  }
  size_t nd = strspn(t, "0123456789");
  unsigned long v;
  if (px_parse_dec(t, nd, DURATION_MAX_MS, &v) != 0) return -1;
  for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
    if (strcmp(t + nd, units[i].unit) != 0) continue;
    if (v == 0 || v > DURATION_MAX_MS / units[i].ms) return -1;
    *ms = (unsigned)v * units[i].ms;
    return 0;
  }
  return -1;
}

static px_upstream *find_upstream(px_cfg *c, const char *name) {
  for (int i = 0; i < c->nups; i++)
    if (strcmp(c->ups[i]->name, name) == 0) return c->ups[i];
  return NULL;
}

static px_upstream *new_upstream(builder *b, const char *name) {
  px_cfg *c = b->cfg;
  if (strlen(name) >= sizeof c->ups[0]->name) {
    fail(b, "route target '%.40s...' is too long (at most %zu bytes)", name,
         sizeof c->ups[0]->name - 1);
    return NULL;
  }
  if (c->nups == MAX_UPSTREAMS) {
    fail(b, "too many upstreams (at most %d)", MAX_UPSTREAMS);
    return NULL;
  }
  if (c->nups == b->cap_ups) {
    int cap = b->cap_ups ? b->cap_ups * 2 : 16;
    px_upstream **n = realloc(c->ups, (size_t)cap * sizeof *n);
    if (!n) {
      fail(b, "out of memory");
      return NULL;
    }
    c->ups = n;
    b->cap_ups = cap;
  }
  /* Each upstream is its own allocation: route targets point at it and
   * must not move when the array grows. */
  px_upstream *u = calloc(1, sizeof *u);
  if (!u) {
    fail(b, "out of memory");
    return NULL;
  }
  c->ups[c->nups++] = u;
  memcpy(u->name, name, strlen(name) + 1);
  u->pp_tlvs = PX_PP_TLV_DEFAULT;
  u->preconnect = -1;
  return u;
}

static int add_addr(builder *b, px_upstream *u, const char *text) {
  if (u->naddrs == PX_MAX_ADDRS)
    return fail(b, "upstream %s: at most %d addresses", u->name, PX_MAX_ADDRS);
  if (strlen(text) >= sizeof u->addr_text[0] ||
      px_parse_addr_ex(text, b->addr_flags, &u->addrs[u->naddrs]) != 0)
    return fail(b, "bad address '%.300s' (want HOST:PORT or [V6]:PORT, port "
                   "1..65535)", text);
  memcpy(u->addr_text[u->naddrs], text, strlen(text) + 1);
  u->naddrs++;
  return 0;
}

/* ---------------------------------------------------------------- routes */
static int rt_append(builder *b, const char *s, size_t n) {
  routes *r = b->rt;
  if (n + 2 > r->cap - r->len || !r->text) {
    size_t cap = r->cap ? r->cap : 4096;
    while (n + 2 > cap - r->len) cap *= 2;
    char *t = realloc(r->text, cap);
    if (!t) return fail(b, "out of memory");
    r->text = t;
    r->cap = cap;
  }
  memcpy(r->text + r->len, s, n);
  r->len += n;
  return 0;
}

/* Ends the line appended last; it came from file:line. */
static int rt_end_line(builder *b, const char *file, unsigned line) {
  routes *r = b->rt;
  if (r->n == r->capn) {
    size_t cap = r->capn ? r->capn * 2 : 64;
    origin *o = realloc(r->org, cap * sizeof *o);
    if (!o) return fail(b, "out of memory");
    r->org = o;
    r->capn = cap;
  }
  r->org[r->n++] = (origin){file, line};
  r->text[r->len++] = '\n';
  return 0;
}

static int rt_line(builder *b, const char *s, size_t n) {
  if (memchr(s, '\n', n)) return fail(b, "a route cannot contain a newline");
  return rt_append(b, s, n) || rt_end_line(b, b->file, b->line) ? -1 : 0;
}

/* Library line k of the combined text as FILE:LINE. */
static void place(const builder *b, unsigned long k, char *out, size_t cap) {
  if (k >= 1 && k <= b->rt->n)
    snprintf(out, cap, "%s:%u", b->rt->org[k - 1].file,
             b->rt->org[k - 1].line);
  else
    snprintf(out, cap, "line %lu", k);
}

static void at_route_line(builder *b, unsigned long k) {
  if (k < 1 || k > b->rt->n) return;
  b->file = b->rt->org[k - 1].file;
  b->line = b->rt->org[k - 1].line;
}

/* "line N" at s (after the caller matched "line "): N, and *end after it;
 * 0 when there is no number. */
static unsigned long line_ref(const char *s, const char **end) {
  size_t nd = strspn(s, "0123456789");
  unsigned long k;
  *end = s + nd;
  return px_parse_dec(s, nd, UINT32_MAX, &k) == 0 ? k : 0;
}

/* The router's message, with its "line N" (its own numbering of the
 * combined text) replaced by the real places. */
static int fail_router(builder *b, int rc) {
  const char *m = sni_router_errmsg(b->router), *e;
  unsigned long k;
  if (strncmp(m, "line ", 5) == 0 && (k = line_ref(m + 5, &e)) &&
      strncmp(e, ": ", 2) == 0) {
    at_route_line(b, k);
    m = e + 2;
  }
  char msg[1024], pl[300];
  size_t o = 0;
  while (*m && o + 1 < sizeof msg) {
    if (strncmp(m, "(line ", 6) == 0 && (k = line_ref(m + 6, &e)) &&
        *e == ')') {
      place(b, k, pl, sizeof pl);
      int w = snprintf(msg + o, sizeof msg - o, "(%s)", pl);
      o = w > 0 && (size_t)w < sizeof msg - o ? o + (size_t)w : o;
      m = e + 1;
      continue;
    }
    msg[o++] = *m++;
  }
  msg[o] = 0;
  return fail(b, "routes: %s (%s)", msg[0] ? msg : "failed", sni_strerror(rc));
}

/* Route targets: an upstream name, or HOST:PORT (an implicit upstream
 * named after the address). */
static int resolve_target(void *ctx, const char *target, size_t len,
                          unsigned line, void **out) {
  builder *b = ctx;
  (void)len;
  at_route_line(b, line);
  px_upstream *u = find_upstream(b->cfg, target);
  if (!u) {
    if (!strchr(target, ':')) {
      fail(b, "route target '%s' is neither an upstream nor HOST:PORT",
           target);
      return SNI_EINVAL;
    }
    u = new_upstream(b, target);
    if (!u || add_addr(b, u, target) != 0) return SNI_EINVAL;
  }
  *out = u;
  return 0;
}

/* Loads every collected route line, then compiles the router. */
static int load_routes(builder *b) {
  b->reported = 0;
  int r = b->rt->len ? sni_router_load_map(b->router, b->rt->text, b->rt->len,
                                          resolve_target, b)
                    : 0;
  if (r < 0) return b->reported ? -1 : fail_router(b, r);
  r = sni_router_compile(b->router);
  return r < 0 ? fail_router(b, r) : 0;
}

/* ------------------------------------------------------------- servers */
/* A new server (a block, or the implicit one) becomes the current one. */
static int new_server(builder *b, const char *name) {
  px_cfg *c = b->cfg;
  if (c->nservers == PX_MAX_SERVERS)
    return fail(b, "too many server blocks (at most %d)", PX_MAX_SERVERS);
  px_server *s = &c->servers[c->nservers];
  if (sni_router_create(&s->router, NULL) != 0) return fail(b, "out of memory");
  if (name)
    snprintf(s->name, sizeof s->name, "%s", name);
  else
    snprintf(s->name, sizeof s->name, "%d", c->nservers);
  s->tls = 1;
  b->cur = c->nservers++;
  b->rt = &b->rts[b->cur];
  b->listens = 0;
  return 0;
}

/* Top-level listeners and routes form the implicit server.  A file uses
 * either that or server blocks: a listener outside every block would
 * have no routes, routes outside every block no listener. */
static int top_level(builder *b, const char *what) {
  if (b->in_block) return 0;
  if (b->blocks)
    return fail(b, "%s outside a server block (this configuration uses "
                   "server blocks: every listen and route goes in one)",
                what);
  if (b->cfg->nservers) return 0;
  b->top = (origin){b->file, b->line};
  return new_server(b, NULL);
}

/* `tls off`: every connection goes to the default route, so a route by
 * name could never match; say so rather than ignore it. */
static int default_only(builder *b) {
  const char *t = b->rt->text;
  for (size_t i = 0, k = 1; i < b->rt->len; k++) {
    const char *e = memchr(t + i, '\n', b->rt->len - i);
    size_t n = (size_t)(e - (t + i)), sp = strspn(t + i, " \t");
    size_t w = sp < n ? strcspn(t + i + sp, " \t\n") : 0;
    if (w && t[i + sp] != '#' &&
        !(w == strlen("default") && memcmp(t + i + sp, "default", w) == 0)) {
      at_route_line(b, k);
      return fail(b, "server %s has tls off: only a default route applies "
                     "(no name is read)", b->cfg->servers[b->cur].name);
    }
    i += n + 1;
  }
  return 0;
}

/* What a server routes to without a hello: `tls off` connections (the
 * default route) and silent clients.  Neither is TLS from the proxy's
 * side, so `terminate` cannot apply. */
static int check_plain(builder *b, px_server *s) {
  void *t = NULL;
  if (!s->tls) {
    if (sni_router_match(s->router, NULL, 0, NULL, 0, &t) <= 0 || !t)
      return fail(b, "server %s has tls off: it needs a default route",
                  s->name);
    if (((const px_upstream *)t)->tls)
      return fail(b, "server %s has tls off: its default upstream cannot "
                     "terminate TLS", s->name);
  }
  if (!b->silent_target[b->cur][0]) return 0;
  b->file = b->silent_at[b->cur].file;
  b->line = b->silent_at[b->cur].line;
  if (!s->tls)
    return fail(b, "server %s: silent needs TLS (with tls off every "
                   "connection is routed at once)", s->name);
  if (s->hello_timeout_ms && s->silent_ms >= s->hello_timeout_ms)
    return fail(b, "server %s: silent must be shorter than its "
                   "hello_timeout (else silent clients are closed first)",
                s->name);
  if (resolve_target(b, b->silent_target[b->cur], 0, 0, &t) != 0) return -1;
  s->silent_up = t;
  if (s->silent_up->tls)
    return fail(b, "server %s: silent target %s cannot terminate TLS (a "
                   "silent client sends no hello)", s->name,
                s->silent_up->name);
  return 0;
}

/* `preconnect N` for the upstreams without preconnect= (HOST:PORT route
 * targets included), except `fastopen` ones. */
static void inherit_preconnect(px_cfg *c) {
  for (int i = 0; i < c->nups; i++)
    if (c->ups[i]->preconnect < 0)
      c->ups[i]->preconnect = c->ups[i]->fastopen ? 0 : (int)c->preconnect;
}

/* Once everything is read: each server's routes, timeouts and targets. */
static int finish_servers(builder *b) {
  px_cfg *c = b->cfg;
  for (int i = 0; i < c->nservers; i++) {
    px_server *s = &c->servers[i];
    b->cur = i;
    b->rt = &b->rts[i];
    b->router = s->router;
    if (!b->hello_set[i]) s->hello_timeout_ms = c->hello_timeout_ms;
    if ((!s->tls && default_only(b) != 0) || load_routes(b) != 0 ||
        check_plain(b, s) != 0)
      return -1;
  }
  return 0;
}

/* --------------------------------------------------------------- directives */
static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
  return s;
}

static int split(char *s, char **tok, int max) {
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(s, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
    if (t[0] == '#') break;
    if (n == max) return -1;
    tok[n++] = t;
  }
  return n;
}

static int add_trusted(builder *b, px_listener *l, char *list) {
  char *save = NULL;
  for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (l->ntrusted == PX_MAX_TRUSTED)
      return fail(b, "too many trusted= prefixes (at most %d)", PX_MAX_TRUSTED);
    if (px_parse_cidr(t, &l->trusted[l->ntrusted++]) != 0)
      return fail(b, "bad trusted prefix '%s' (want ADDR or ADDR/LEN, LEN in "
                     "decimal up to 32 or 128)", t);
  }
  return 0;
}

/* 1 when the listen options include `quic` (a UDP listener). */
static int is_quic(char **tok, int n) {
  for (int i = 1; i < n; i++)
    if (strcmp(tok[i], "quic") == 0) return 1;
  return 0;
}

static int add_listener(builder *b, char **tok, int n) {
  px_cfg *c = b->cfg;
  if (n < 1) return fail(b, "listen needs ADDR:PORT");
  int quic = is_quic(tok, n);
  int *count = quic ? &c->nquic : &c->nlisteners;
  if (*count == PX_MAX_LISTENERS)
    return fail(b, "too many %slisteners (at most %d)", quic ? "quic " : "",
                PX_MAX_LISTENERS);
  px_listener *l = quic ? &c->quic[c->nquic] : &c->listeners[c->nlisteners];
  memset(l, 0, sizeof *l);
  size_t tl = strlen(tok[0]);
  if (tl >= sizeof l->text)
    return fail(b, "listen address '%.40s...' too long (at most %zu bytes)",
                tok[0], sizeof l->text - 1);
  if (px_parse_addr_ex(tok[0], b->addr_flags, &l->addr) != 0)
    return fail(b, "bad listen address '%s' (want HOST:PORT or [V6]:PORT, "
                   "port 1..65535)", tok[0]);
  memcpy(l->text, tok[0], tl + 1);
  for (int i = 1; i < n; i++) {
    if (strcmp(tok[i], "proxy_protocol") == 0) {
      l->accept_pp = 1;
    } else if (strncmp(tok[i], "trusted=", 8) == 0) {
      if (add_trusted(b, l, tok[i] + 8) != 0) return -1;
    } else if (strcmp(tok[i], "quic") != 0) {
      return fail(b, "unknown listen option '%s'", tok[i]);
    }
  }
  if (quic && (l->accept_pp || l->ntrusted))
    return fail(b, "listen %s quic: proxy_protocol does not apply to QUIC",
                l->text);
  l->server = b->cur;
  b->listens++;
  if (quic) {
    b->quic_at[c->nquic++] = (origin){b->file, b->line};
    return 0;
  }
  if (l->accept_pp && l->ntrusted == 0)
    return fail(b, "listen %s proxy_protocol needs trusted=CIDR,... (the "
                   "balancers allowed to send the header)", l->text);
  if (!l->accept_pp && l->ntrusted)
    return fail(b, "listen %s: trusted= applies only with proxy_protocol",
                l->text);
  b->listen_at[c->nlisteners] = (origin){b->file, b->line};
  c->nlisteners++;
  return 0;
}

/* Upstream names are route targets: they must not look like HOST:PORT. */
static int valid_name(const char *s) {
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789._-");
  return n > 0 && !s[n] && n < PX_NAME_MAX;
}

static const char *file_path(builder *b, const char *cfg_path, const char *p);

/* `terminate cert=FILE key=FILE [alpn=P,...]` on an upstream line. */
typedef struct tls_opts {
  int terminate;
  const char *cert, *key, *alpn;
} tls_opts;

/* 1 when t is one of the terminate options (recorded), 0 when it is not
 * one, -1 when it was given before. */
static int tls_option(tls_opts *o, const char *t) {
  const struct {
    const char *key;
    const char **val;
  } kv[] = {{"cert=", &o->cert}, {"key=", &o->key}, {"alpn=", &o->alpn}};
  if (strcmp(t, "terminate") == 0) {
    if (o->terminate) return -1;
    o->terminate = 1;
    return 1;
  }
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
    size_t kl = strlen(kv[i].key);
    if (strncmp(t, kv[i].key, kl) != 0) continue;
    if (*kv[i].val) return -1;
    *kv[i].val = t + kl;
    return 1;
  }
  return 0;
}

/* Loads the certificate now, so that -t and a reload check it. */
static int load_tls(builder *b, px_upstream *u, const tls_opts *o) {
  if (!o->terminate) {
    if (o->cert || o->key || o->alpn)
      return fail(b, "upstream %s: cert=, key= and alpn= need terminate",
                  u->name);
    return 0;
  }
  if (!o->cert || !*o->cert || !o->key || !*o->key)
    return fail(b, "upstream %s: terminate needs cert=FILE and key=FILE",
                u->name);
  uint8_t alpn[PX_TLS_ALPN_MAX];
  int al = o->alpn ? px_tls_alpn_parse(o->alpn, alpn, sizeof alpn) : 0;
  if (al < 0)
    return fail(b, "upstream %s: alpn= takes names of 1..255 bytes separated "
                   "by ',' (at most %d bytes in all)", u->name,
                PX_TLS_ALPN_MAX);
  if (b->sandbox) return fail(b, "terminate: files are not read here");
  const char *cert = file_path(b, b->file, o->cert);
  const char *key = cert ? file_path(b, b->file, o->key) : NULL;
  if (!key) return -1;
  char err[512];
  u->tls = px_tls_new(cert, key, alpn, (size_t)al, err, sizeof err);
  if (!u->tls) return fail(b, "upstream %s: %s", u->name, err);
  return 0;
}

/* `tlv=LIST` (NULL: not given), which needs proxy_protocol v2. */
static int set_tlvs(builder *b, px_upstream *u, const char *tlv) {
  if (!tlv) return 0;
  if (u->pp != 2)
    return fail(b, "upstream %s: tlv= needs proxy_protocol v2", u->name);
  if (px_pp_tlv_parse(tlv, &u->pp_tlvs) != 0)
    return fail(b, "upstream %s: tlv= takes a list of authority, unique_id, "
                   "crc32c and ja4 (each once, separated by ',')", u->name);
  if (u->pp_tlvs & PX_PP_TLV_JA4) b->cfg->ja4_tlv = 1;
  return 0;
}

static int add_upstream_line(builder *b, char **tok, int n) {
  if (n < 2) return fail(b, "upstream needs NAME ADDR:PORT...");
  if (!valid_name(tok[0]))
    return fail(b, "upstream name '%.80s': 1..%d letters, digits, '.', '_' "
                   "or '-'", tok[0], PX_NAME_MAX - 1);
  if (find_upstream(b->cfg, tok[0]))
    return fail(b, "upstream %s defined twice", tok[0]);
  px_upstream *u = new_upstream(b, tok[0]);
  if (!u) return -1;
  tls_opts to = {0};
  const char *tlv = NULL;
  for (int i = 1; i < n; i++) {
    const char *v = NULL;
    int k = tls_option(&to, tok[i]);
    if (k < 0) return fail(b, "upstream %s: %.40s given twice", u->name, tok[i]);
    if (k) continue;
    if (strncmp(tok[i], "tlv=", 4) == 0) {
      if (tlv) return fail(b, "upstream %s: tlv= given twice", u->name);
      tlv = tok[i] + 4;
      continue;
    }
    if (strcmp(tok[i], "fastopen") == 0) {
      if (u->fastopen)
        return fail(b, "upstream %s: fastopen given twice", u->name);
      u->fastopen = 1;
      continue;
    }
    if (strncmp(tok[i], "preconnect=", 11) == 0) {
      unsigned pc;
      if (u->preconnect >= 0)
        return fail(b, "upstream %s: preconnect= given twice", u->name);
      if (parse_uint(tok[i] + 11, PX_PRECONNECT_MAX, &pc))
        return fail(b, "upstream %s: preconnect= takes 0..%d", u->name,
                    PX_PRECONNECT_MAX);
      u->preconnect = (int)pc;
      continue;
    }
    if (strcmp(tok[i], "proxy_protocol") == 0) {
      if (i + 1 == n) return fail(b, "proxy_protocol needs v1, v2 or off");
      v = tok[++i];
    } else if (strncmp(tok[i], "proxy_protocol=", 15) == 0) {
      v = tok[i] + 15;
    }
    if (v) {
      if (strcmp(v, "v1") == 0)
        u->pp = 1;
      else if (strcmp(v, "v2") == 0)
        u->pp = 2;
      else if (strcmp(v, "off") == 0)
        u->pp = 0;
      else
        return fail(b, "proxy_protocol must be v1, v2 or off");
      continue;
    }
    if (add_addr(b, u, tok[i]) != 0) return -1;
  }
  if (u->naddrs == 0) return fail(b, "upstream %s has no address", u->name);
  /* With `terminate` the proxy's own handshake opens the stream: there is
   * no hello to carry in the SYN. */
  if (u->fastopen && to.terminate)
    return fail(b, "upstream %s: fastopen does not go with terminate",
                u->name);
  /* Both take the upstream's handshake off the client's path; a pooled
   * connection has no SYN left to carry the hello. */
  if (u->fastopen && u->preconnect > 0)
    return fail(b, "upstream %s: fastopen and preconnect= exclude each "
                   "other", u->name);
  if (set_tlvs(b, u, tlv) != 0) return -1;
  return load_tls(b, u, &to);
}

static const struct {
  const char *key;
  size_t off;
} durations[] = {
    {"hello_timeout", offsetof(px_cfg, hello_timeout_ms)},
    {"connect_timeout", offsetof(px_cfg, connect_timeout_ms)},
    {"idle_timeout", offsetof(px_cfg, idle_timeout_ms)},
    {"drain_timeout", offsetof(px_cfg, drain_timeout_ms)},
};

/* 1 when k is a duration directive (then set, or failed: *rc). */
static int set_duration(builder *b, const char *k, const char *v, int *rc) {
  for (size_t i = 0; i < sizeof durations / sizeof *durations; i++) {
    if (strcmp(k, durations[i].key) != 0) continue;
    unsigned *ms = (unsigned *)(void *)((char *)b->cfg + durations[i].off);
    *rc = parse_duration(v, ms) == 0
              ? 0
              : fail(b, "%s '%s': want off, or 1ms..24h as a whole number "
                        "with unit ms, s, m or h (none: seconds)", k, v);
    return 1;
  }
  return 0;
}

/* The numeric directives with a range: the QUIC flow settings
 * (docs/proxy.md, QUIC) and `preconnect`; 1 when k is one. */
static int set_ranged(builder *b, const char *k, const char *v, int *rc) {
  static const struct {
    const char *key;
    size_t off;
    unsigned min, max;
  } nums[] = {
      {"quic_max_flows", offsetof(px_cfg, quic_max_flows), 1, QUIC_FLOWS_MAX},
      {"quic_hello_datagrams", offsetof(px_cfg, quic_hello_datagrams), 1,
       QUIC_HELD_DGRAMS_MAX},
      {"quic_hello_bytes", offsetof(px_cfg, quic_hello_bytes),
       QUIC_HELD_BYTES_MIN, QUIC_HELD_BYTES_MAX},
      {"preconnect", offsetof(px_cfg, preconnect), 0, PX_PRECONNECT_MAX}};
  unsigned u;
  if (strcmp(k, "quic_idle_timeout") == 0) {
    /* No "off": a flow has no end but its idle timeout. */
    *rc = parse_duration(v, &b->cfg->quic_idle_timeout_ms) == 0 &&
                  b->cfg->quic_idle_timeout_ms
              ? 0
              : fail(b, "quic_idle_timeout '%s': 1ms..24h as a whole number "
                        "with unit ms, s, m or h (none: seconds)", v);
    return 1;
  }
  for (size_t i = 0; i < sizeof nums / sizeof *nums; i++) {
    if (strcmp(k, nums[i].key) != 0) continue;
    *rc = 0;
    if (parse_uint(v, nums[i].max, &u) || u < nums[i].min)
      *rc = fail(b, "%s '%s': %u..%u", k, v, nums[i].min, nums[i].max);
    else
      *(unsigned *)(void *)((char *)b->cfg + nums[i].off) = u;
    return 1;
  }
  return 0;
}

static int set_global(builder *b, char **tok, int n) {
  px_cfg *c = b->cfg;
  const char *k = tok[0];
  if (n != 2) return fail(b, "%s takes one value", k);
  const char *v = tok[1];
  unsigned u;
  int rc;
  if (set_duration(b, k, v, &rc)) return rc;
  if (set_ranged(b, k, v, &rc)) return rc;
  if (strcmp(k, "workers") == 0) {
    if (parse_uint(v, PX_MAX_WORKERS, &u) || u == 0)
      return fail(b, "workers '%s': 1..%d", v, PX_MAX_WORKERS);
    c->workers = (int)u;
  } else if (strcmp(k, "max_connections") == 0) {
    /* auto (= 0): from RLIMIT_NOFILE, px_limits_apply() */
    if (strcmp(v, "auto") == 0)
      u = 0;
    else if (parse_uint(v, MAX_CONNECTIONS, &u))
      return fail(b, "max_connections '%s': auto or 0..%u", v,
                  MAX_CONNECTIONS);
    c->max_conns = u;
  } else if (strcmp(k, "log") == 0) {
    if (strlen(v) >= sizeof c->log_target)
      return fail(b, "log: path too long (at most %zu bytes)",
                  sizeof c->log_target - 1);
    snprintf(c->log_target, sizeof c->log_target, "%s", v);
  } else if (strcmp(k, "log_format") == 0) {
    if (strcmp(v, "kv") && strcmp(v, "json"))
      return fail(b, "log_format kv|json");
    c->log_format = strcmp(v, "json") == 0; /* PX_LOG_JSON */
  } else if (strcmp(k, "user") == 0 || strcmp(k, "group") == 0) {
    char *dst = k[0] == 'u' ? c->user : c->group;
    if (strlen(v) >= sizeof c->user) return fail(b, "%s: name too long", k);
    snprintf(dst, sizeof c->user, "%s", v);
  } else if (strcmp(k, "pid_file") == 0) {
    if (strlen(v) >= sizeof c->pid_file) return fail(b, "pid_file: too long");
    snprintf(c->pid_file, sizeof c->pid_file, "%s", v);
  } else if (strcmp(k, "metrics") == 0) {
    if (strlen(v) >= sizeof c->metrics_text ||
        px_parse_addr_ex(v, b->addr_flags, &c->metrics) != 0)
      return fail(b, "bad metrics address '%s' (want HOST:PORT)", v);
    snprintf(c->metrics_text, sizeof c->metrics_text, "%s", v);
  } else if (strcmp(k, "splice") == 0) {
    if (strcmp(v, "on") && strcmp(v, "off")) return fail(b, "splice on|off");
    c->use_splice = strcmp(v, "on") == 0;
  } else if (strcmp(k, "relay") == 0) {
    /* The older `splice on|off` is the same switch.  sockmap (in-kernel
     * redirection) is refused rather than quietly replaced: a
     * configuration asks for what it gets (docs/proxy.md, Design notes,
     * "Relay modes"). */
    if (strcmp(v, "sockmap") == 0)
      return fail(b, "relay sockmap: not available in this build "
                     "(relay splice|copy)");
    if (strcmp(v, "splice") && strcmp(v, "copy"))
      return fail(b, "relay splice|copy");
    c->use_splice = strcmp(v, "splice") == 0;
  } else {
    return fail(b, "unknown directive '%s'", k);
  }
  return 0;
}

static px_cfg *cfg_new(void) {
  px_cfg *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  atomic_init(&c->refs, 1);
  c->workers = 1;
  c->max_conns = 0;
  c->hello_timeout_ms = 10000;
  c->connect_timeout_ms = 5000;
  c->idle_timeout_ms = 600000;
  c->drain_timeout_ms = 10000;
  c->quic_idle_timeout_ms = 30000;
  c->quic_max_flows = 16384;
  c->quic_hello_datagrams = 16;
  c->quic_hello_bytes = 32768;
  c->use_splice = 1;
  snprintf(c->log_target, sizeof c->log_target, "stderr");
  return c;
}

static void cfg_free(px_cfg *c) {
  if (!c) return;
  for (int i = 0; i < c->nservers; i++) sni_router_free(c->servers[i].router);
  px_fpdeny_free(c->deny);
  for (int i = 0; i < c->nups; i++) {
    px_tls_free(c->ups[i]->tls);
    free(c->ups[i]);
  }
  free(c->ups);
  free(c);
}

void px_cfg_ref(px_cfg *c) {
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void px_cfg_unref(px_cfg *c) {
  if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
    cfg_free(c);
}

/* ---------------------------------------------------------------- files */
/* The whole file, NUL-terminated, its size in *len; NULL with errno set. */
static char *read_text(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    errno = EISDIR;
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  while (s) {
    n += fread(s + n, 1, cap - n - 1, f);
    if (n < cap - 1 || cap > FILE_MAX) break;
    char *t = realloc(s, cap *= 2);
    if (!t) free(s);
    s = t;
  }
  int e = !s ? ENOMEM : ferror(f) ? EIO : cap > FILE_MAX ? EFBIG : 0;
  fclose(f);
  if (e) {
    free(s);
    errno = e;
    return NULL;
  }
  s[n] = 0;
  *len = n;
  return s;
}

/* Reports a NUL byte: the line parser would silently stop there. */
static int check_nul(builder *b, const char *path, const char *s, size_t n) {
  const char *z = memchr(s, 0, n);
  if (!z) return 0;
  b->file = path;
  b->line = 1;
  for (const char *p = s; p < z; p++) b->line += *p == '\n';
  return fail(b, "NUL byte (this is not a text file)");
}

static const char *keep(builder *b, const char *s) {
  size_t n = strlen(s) + 1;
  kept *k = malloc(sizeof *k + n);
  if (!k) return NULL;
  memcpy(k->s, s, n);
  k->next = b->paths;
  b->paths = k;
  return k->s;
}

/* A path named in the file at cfg_path, relative to its directory unless
 * absolute; kept until the build ends.  NULL: out of memory (reported). */
static const char *file_path(builder *b, const char *cfg_path, const char *p) {
  const char *sl = strrchr(cfg_path, '/');
  size_t dl = p[0] == '/' || !sl ? 0 : (size_t)(sl - cfg_path + 1);
  char *full = malloc(dl + strlen(p) + 1);
  const char *path = NULL;
  if (full) {
    memcpy(full, cfg_path, dl);
    memcpy(full + dl, p, strlen(p) + 1);
    path = keep(b, full);
    free(full);
  }
  if (!path) fail(b, "out of memory");
  return path;
}

/* A file a directive names (`what`: its name in messages), read whole and
 * checked for NUL bytes; its path in *path.  NULL when it cannot be used,
 * the reason reported. */
static char *side_file(builder *b, const char *cfg_path, const char *name,
                       const char *what, const char **path, size_t *len) {
  if (b->sandbox) {
    fail(b, "%s: files are not read here", what);
    return NULL;
  }
  *path = file_path(b, cfg_path, name);
  if (!*path) return NULL;
  char *text = read_text(*path, len);
  if (!text) {
    fail(b, "%s %s: %s", what, *path, strerror(errno));
    return NULL;
  }
  if (check_nul(b, *path, text, *len) == 0) return text;
  free(text);
  return NULL;
}

/* Adds a map file's lines to the routes (relative to the config file). */
static int map_directive(builder *b, const char *cfg_path, char **tok, int n) {
  if (n != 2) return fail(b, "map takes one PATH");
  const char *path;
  size_t len;
  const char *file = b->file;
  unsigned line = b->line;
  char *text = side_file(b, cfg_path, tok[1], "map", &path, &len);
  if (!text) return -1;
  int rc = 0;
  unsigned ml = 0;
  for (size_t i = 0; rc == 0 && i < len; ml++) {
    char *nl = memchr(text + i, '\n', len - i);
    size_t e = nl ? (size_t)(nl - text) : len;
    rc = rt_append(b, text + i, e - i) || rt_end_line(b, path, ml + 1) ? -1 : 0;
    i = e + 1;
  }
  free(text);
  b->file = file;
  b->line = line;
  return rc;
}

/* One rule of a deny list; the caller set b's place. */
static int deny_rule(builder *b, const char *t, size_t n) {
  const char *e = px_fpdeny_add(b->cfg->deny, t, n);
  return e ? fail(b, "deny ja4 '%.*s': %s", (int)(n < 60 ? n : 60), t, e) : 0;
}

/* A file of fingerprints: one per line, '#' comments, blanks around. */
static int deny_file(builder *b, const char *cfg_path, const char *name) {
  const char *path;
  size_t len;
  const char *file = b->file;
  unsigned line = b->line;
  char *text = side_file(b, cfg_path, name, "deny ja4_file", &path, &len);
  if (!text) return -1;
  int rc = 0;
  b->file = path;
  b->line = 0;
  for (char *ln = text, *next; rc == 0 && ln; ln = next) {
    char *nl = strchr(ln, '\n');
    next = nl ? nl + 1 : NULL;
    if (nl) *nl = 0;
    b->line++;
    char *hash = strchr(ln, '#');
    if (hash) *hash = 0;
    char *t = trim(ln);
    if (*t) rc = deny_rule(b, t, strlen(t));
  }
  free(text);
  if (rc == 0) {
    b->file = file;
    b->line = line;
  }
  return rc;
}

/* `deny ja4 FP...` or `deny ja4_file FILE` (docs/proxy.md). */
static int deny_directive(builder *b, const char *cfg_path, char **tok,
                          int n) {
  int is_file = n >= 2 && strcmp(tok[1], "ja4_file") == 0;
  if (n < 3 || (!is_file && strcmp(tok[1], "ja4") != 0) || (is_file && n != 3))
    return fail(b, "write: deny ja4 FINGERPRINT... or deny ja4_file FILE");
  if (!b->cfg->deny && !(b->cfg->deny = px_fpdeny_new()))
    return fail(b, "out of memory");
  int rc = 0;
  if (is_file)
    rc = deny_file(b, cfg_path, tok[2]);
  else
    for (int i = 2; rc == 0 && i < n; i++)
      rc = deny_rule(b, tok[i], strlen(tok[i]));
  /* Sorted after every directive: the set is complete whenever the
   * configuration is. */
  px_fpdeny_finish(b->cfg->deny);
  return rc;
}

const char *const px_directives[] = {
    "listen",          "upstream",      "routes",        "route",
    "map",             "workers",       "max_connections", "hello_timeout",
    "connect_timeout", "idle_timeout",  "drain_timeout", "log",
    "splice",          "user",          "group",         "pid_file",
    "metrics",         "log_format",    "quic_idle_timeout",
    "quic_max_flows",  "quic_hello_datagrams", "quic_hello_bytes",
    "deny",            "server",        "tls",           "silent",
    "relay",           "preconnect",
    NULL};

static int known_directive(const char *k) {
  for (int i = 0; px_directives[i]; i++)
    if (strcmp(k, px_directives[i]) == 0) return 1;
  return 0;
}

/* One configuration file being read. */
typedef struct file_state {
  const char *path;
  unsigned routes_line; /* of an open "routes {", 0 outside */
  unsigned server_line; /* of an open "server {", 0 outside */
} file_state;

/* `server {` or `server NAME {`. */
static int server_open(builder *b, file_state *f, char **tok, int n) {
  if (f->server_line) return fail(b, "a server block cannot hold another");
  if (n < 2 || n > 3 || strcmp(tok[n - 1], "{") != 0)
    return fail(b, "write: server {  or  server NAME {");
  if (b->cfg->nservers && !b->blocks)
    return fail(b, "server block after top-level listen or routes (%s:%u): "
                   "put those in a server block too", b->top.file,
                b->top.line);
  const char *name = n == 3 ? tok[1] : NULL;
  if (name && !valid_name(name))
    return fail(b, "server name '%.80s': 1..%d letters, digits, '.', '_' "
                   "or '-'", name, PX_NAME_MAX - 1);
  for (int i = 0; name && i < b->cfg->nservers; i++)
    if (strcmp(b->cfg->servers[i].name, name) == 0)
      return fail(b, "server %s defined twice", name);
  if (new_server(b, name) != 0) return -1;
  b->blocks = b->in_block = 1;
  f->server_line = b->line;
  return 0;
}

static int server_close(builder *b, file_state *f) {
  if (b->listens == 0) {
    b->line = f->server_line;
    return fail(b, "server %s has no listen", b->cfg->servers[b->cur].name);
  }
  f->server_line = 0;
  b->in_block = 0;
  return 0;
}

/* hello_timeout, tls and silent inside a server block. */
static int server_setting(builder *b, char **tok, int n) {
  px_server *s = &b->cfg->servers[b->cur];
  const char *k = tok[0];
  if (strcmp(k, "tls") == 0) {
    if (n != 2 || (strcmp(tok[1], "on") && strcmp(tok[1], "off")))
      return fail(b, "tls on|off");
    s->tls = strcmp(tok[1], "on") == 0;
    return 0;
  }
  if (strcmp(k, "hello_timeout") == 0) {
    b->hello_set[b->cur] = 1;
    if (n == 2 && parse_duration(tok[1], &s->hello_timeout_ms) == 0) return 0;
    return fail(b, "hello_timeout DURATION|off (1ms..24h)");
  }
  unsigned ms;
  if (n != 3 || parse_duration(tok[1], &ms) != 0 || ms == 0)
    return fail(b, "silent DURATION TARGET (DURATION 1ms..24h, a whole "
                   "number with unit ms, s, m or h)");
  if (strlen(tok[2]) >= sizeof b->silent_target[0])
    return fail(b, "silent target '%.40s...' is too long (at most %zu "
                   "bytes)", tok[2], sizeof b->silent_target[0] - 1);
  s->silent_ms = ms;
  snprintf(b->silent_target[b->cur], sizeof b->silent_target[0], "%s",
           tok[2]);
  b->silent_at[b->cur] = (origin){b->file, b->line};
  return 0;
}

/* Which directives a server block takes, and which only it takes. */
static int block_rules(builder *b, const char *k) {
  static const char *const in_block[] = {"listen", "routes", "route", "map",
                                         "hello_timeout", "tls", "silent"};
  int allowed = 0;
  for (size_t i = 0; i < sizeof in_block / sizeof *in_block; i++)
    allowed |= strcmp(k, in_block[i]) == 0;
  if (b->in_block && !allowed)
    return fail(b, "%s is global: it cannot be used in a server block", k);
  if (!b->in_block && (!strcmp(k, "tls") || !strcmp(k, "silent")))
    return fail(b, "%s belongs in a server block", k);
  if (!allowed || strcmp(k, "hello_timeout") == 0) return 0;
  return top_level(b, k);
}

/* One line outside routes { }. */
static int file_directive(builder *b, file_state *f, char *s) {
  char *tok[MAX_TOKENS];
  int n = split(s, tok, MAX_TOKENS);
  if (n < 0) return fail(b, "too many fields (at most %d)", MAX_TOKENS);
  if (n == 0) return 0;
  if (!known_directive(tok[0]))
    return fail(b, "unknown directive '%s'", tok[0]);
  if (strcmp(tok[0], "server") == 0) return server_open(b, f, tok, n);
  if (block_rules(b, tok[0]) != 0) return -1;
  if (b->in_block && (strcmp(tok[0], "hello_timeout") == 0 ||
                      strcmp(tok[0], "tls") == 0 ||
                      strcmp(tok[0], "silent") == 0))
    return server_setting(b, tok, n);
  if (strcmp(tok[0], "routes") == 0) {
    if (n != 2 || strcmp(tok[1], "{") != 0) return fail(b, "write: routes {");
    f->routes_line = b->line;
    return 0;
  }
  if (strcmp(tok[0], "route") == 0) {
    if (n < 3) return fail(b, "route PATTERN TARGET [alpn=...]");
    /* Rebuild the map line from the tokens after "route". */
    for (int i = 2; i < n; i++) tok[i][-1] = ' ';
    return rt_line(b, tok[1], strlen(tok[1]));
  }
  if (strcmp(tok[0], "map") == 0) return map_directive(b, f->path, tok, n);
  if (strcmp(tok[0], "deny") == 0) return deny_directive(b, f->path, tok, n);
  if (strcmp(tok[0], "listen") == 0) return add_listener(b, tok + 1, n - 1);
  if (strcmp(tok[0], "upstream") == 0)
    return add_upstream_line(b, tok + 1, n - 1);
  return set_global(b, tok, n);
}

/* Route lines are collected: they may name upstreams defined further
 * down, and are loaded once the whole configuration is read. */
static int file_lines(builder *b, file_state *f, char *text) {
  char *next = NULL;
  for (char *ln = text; ln; ln = next) {
    char *nl = strchr(ln, '\n');
    next = nl ? nl + 1 : NULL;
    if (nl) *nl = 0;
    b->line++;
    char *s = trim(ln);
    if (!*s || *s == '#') continue;
    int rc = 0;
    if (f->routes_line && strcmp(s, "}") == 0)
      f->routes_line = 0;
    else if (f->routes_line)
      rc = rt_line(b, s, strlen(s));
    else if (f->server_line && strcmp(s, "}") == 0)
      rc = server_close(b, f);
    else
      rc = file_directive(b, f, s);
    if (rc != 0) return rc;
  }
  if (f->routes_line || f->server_line) {
    b->line = f->routes_line ? f->routes_line : f->server_line;
    return fail(b, "%s { without }", f->routes_line ? "routes" : "server");
  }
  return 0;
}

/* text: len bytes and a NUL; split into lines in place. */
static int parse_text(builder *b, const char *path, char *text, size_t len) {
  file_state f = {.path = path};
  b->file = path;
  b->line = 0;
  int rc = check_nul(b, path, text, len);
  return rc ? rc : file_lines(b, &f, text);
}

static int load_file(builder *b, const char *path) {
  size_t len;
  b->file = path;
  b->line = 0;
  char *text = read_text(path, &len);
  if (!text) return fail(b, "cannot read: %s", strerror(errno));
  int rc = parse_text(b, path, text, len);
  free(text);
  return rc;
}

/* ------------------------------------------------------------ quick form */
/* Quick-form options that are plain directives of the file format. */
static int set_option(builder *b, const char *a, const char *v) {
  static const char *const map[][2] = {
      {"--workers", "workers"},
      {"--hello-timeout", "hello_timeout"},
      {"--connect-timeout", "connect_timeout"},
      {"--idle-timeout", "idle_timeout"},
      {"--drain-timeout", "drain_timeout"},
      {"--max-connections", "max_connections"},
      {"--log", "log"},
      {"--user", "user"},
      {"--group", "group"},
      {"--pid-file", "pid_file"},
      {"--metrics", "metrics"},
      {"--relay", "relay"},
      {"--preconnect", "preconnect"}};
  size_t k;
  for (k = 0; k < sizeof map / sizeof *map; k++)
    if (strcmp(a, map[k][0]) == 0) break;
  if (k == sizeof map / sizeof *map)
    return fail(b, "unknown option %s (--help)", a);
  /* set_global() only reads its tokens. */
  char *tok[2] = {(char *)(uintptr_t)map[k][1], (char *)(uintptr_t)v};
  return set_global(b, tok, 2);
}

/* A route line "HEAD TAIL" from two pieces of one argument. */
static int arg_route(builder *b, const char *head, size_t hl,
                     const char *tail) {
  if (memchr(head, '\n', hl) || strchr(tail, '\n'))
    return fail(b, "a route cannot contain a newline");
  return rt_append(b, head, hl) || rt_append(b, " ", 1) ||
                 rt_append(b, tail, strlen(tail)) ||
                 rt_end_line(b, b->file, b->line)
             ? -1
             : 0;
}

/* One quick-form option and its value (the list is in main.c's usage). */
static int apply_option(builder *b, const char *a, const char *v) {
  static const char *const specials[][2] = {
      {"--default", "default"}, {"--no-sni", "no_sni"}, {"--not-tls", "not_tls"}};
  /* The file is read before the options: only one. */
  if (strcmp(a, "--config") == 0)
    return v == b->config ? 0 : fail(b, "--config given twice");
  /* Listeners and routes of the quick form are top-level ones. */
  if ((!strcmp(a, "--listen") || !strcmp(a, "--quic") || !strcmp(a, "--route") ||
       !strcmp(a, "--default") || !strcmp(a, "--no-sni") ||
       !strcmp(a, "--not-tls")) &&
      top_level(b, a) != 0)
    return -1;
  if (strcmp(a, "--listen") == 0) {
    char *copy = malloc(strlen(v) + 1);
    if (!copy) return fail(b, "out of memory");
    memcpy(copy, v, strlen(v) + 1);
    int rc = add_listener(b, &copy, 1);
    free(copy);
    return rc;
  }
  if (strcmp(a, "--quic") == 0) {
    char *tok[2] = {malloc(strlen(v) + 1), (char *)(uintptr_t)"quic"};
    if (!tok[0]) return fail(b, "out of memory");
    memcpy(tok[0], v, strlen(v) + 1);
    int rc = add_listener(b, tok, 2);
    free(tok[0]);
    return rc;
  }
  if (strcmp(a, "--route") == 0) {
    const char *eq = strchr(v, '=');
    if (!eq) return fail(b, "--route PATTERN=TARGET[ alpn=...]");
    return arg_route(b, v, (size_t)(eq - v), eq + 1);
  }
  for (size_t k = 0; k < sizeof specials / sizeof *specials; k++)
    if (strcmp(a, specials[k][0]) == 0)
      return arg_route(b, specials[k][1], strlen(specials[k][1]), v);
  return set_option(b, a, v);
}

static int apply_options(builder *b, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    b->file = CMDLINE;
    b->line = (unsigned)i;
    if (strcmp(a, "--no-splice") == 0) {
      b->cfg->use_splice = 0;
      continue;
    }
    if (i + 1 >= argc) return fail(b, "%s needs a value (--help)", a);
    if (apply_option(b, a, argv[++i]) != 0) return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------- build */
static void builder_free(builder *b) {
  for (int i = 0; i < PX_MAX_SERVERS; i++) {
    free(b->rts[i].text);
    free(b->rts[i].org);
  }
  while (b->paths) {
    kept *k = b->paths;
    b->paths = k->next;
    free(k);
  }
}

/* The listeners are open sockets of the running process: a reload may
 * change their options, not their addresses. */
static int same_addrs(builder *b, const px_listener *ln, int nn,
                      const px_listener *lo, int no, const origin *at) {
  for (int i = 0; i < nn || i < no; i++) {
    const px_listener *n = i < nn ? &ln[i] : NULL;
    const px_listener *o = i < no ? &lo[i] : NULL;
    if (n && o && n->addr.len == o->addr.len &&
        memcmp(&n->addr.ss, &o->addr.ss, n->addr.len) == 0)
      continue;
    if (n) {
      b->file = at[i].file;
      b->line = at[i].line;
    }
    return fail(b, "listen %s: the listen addresses cannot change on reload "
                   "(restart to change them)", n ? n->text : o->text);
  }
  return 0;
}

static int same_listeners(builder *b, const px_cfg *old) {
  const px_cfg *c = b->cfg;
  return same_addrs(b, c->listeners, c->nlisteners, old->listeners,
                    old->nlisteners, b->listen_at) ||
                 same_addrs(b, c->quic, c->nquic, old->quic, old->nquic,
                            b->quic_at)
             ? -1
             : 0;
}

/* Builds from a file (text given, or read from config) and the options. */
static px_cfg *build(const px_cfg_src *src, const px_cfg *old) {
  builder b = {.err = src->err ? src->err : stderr,
               .prefix = src->bare ? "" : PREFIX,
               .addr_flags = src->numeric ? PX_ADDR_NUMERIC : 0};
  px_cfg *c = cfg_new();
  if (!c) {
    fprintf(b.err, "%sout of memory\n", b.prefix);
    return NULL;
  }
  b.cfg = c;
  const char *config = src->config;
  for (int i = 1; !config && i < src->argc; i++)
    if (strcmp(src->argv[i], "--config") == 0 && i + 1 < src->argc)
      config = src->argv[i + 1];
  if (config) snprintf(c->source, sizeof c->source, "%s", config);
  b.config = config;
  b.sandbox = src->sandbox;
  int rc = 0;
  if (src->text) {
    char *copy = malloc(src->len + 1);
    if (!copy) {
      rc = fail(&b, "out of memory");
    } else {
      memcpy(copy, src->text, src->len);
      copy[src->len] = 0;
      rc = parse_text(&b, config ? config : "-", copy, src->len);
      free(copy);
    }
  } else if (config) {
    rc = load_file(&b, config);
  }
  if (rc == 0) rc = apply_options(&b, src->argc, src->argv);
  b.file = config ? config : CMDLINE;
  b.line = 0;
  if (rc == 0 && c->nlisteners == 0 && c->nquic == 0)
    rc = fail(&b, "no listener (--listen ADDR:PORT or 'listen' in the "
                  "config; --help)");
  if (rc == 0) rc = finish_servers(&b);
  if (rc == 0) inherit_preconnect(c);
  if (rc == 0 && old) rc = same_listeners(&b, old);
  builder_free(&b);
  if (rc == 0) {
    /* max_connections from RLIMIT_NOFILE (fdbudget.h) */
    if (!b.sandbox) px_limits_apply(c);
    return c;
  }
  cfg_free(c);
  return NULL;
}

/* argv is kept so SIGHUP can rebuild from the same sources. */
static int g_argc;
static char **g_argv;

px_cfg *px_cfg_build(const px_cfg_src *src) { return build(src, NULL); }

px_cfg *px_cfg_from_args(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  px_cfg_src s = {.argc = argc, .argv = argv};
  return build(&s, NULL);
}

px_cfg *px_cfg_reload(const px_cfg *old) {
  px_cfg_src s = {.argc = g_argc, .argv = g_argv};
  return build(&s, old);
}

int px_cfg_check(int argc, char **argv, FILE *err) {
  px_cfg_src s = {.argc = argc, .argv = argv, .err = err, .bare = 1};
  px_cfg *c = build(&s, NULL);
  int rc = c ? 0 : -1;
  px_cfg_unref(c);
  return rc;
}
