/* Configuration parsing (config.h): the file format and the quick
 * command-line form, both documented in docs/proxy.md. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_UPSTREAMS 4096

typedef struct builder {
  px_cfg *cfg;
  sni_router *router;
  int cap_ups;
  const char *file; /* for messages */
  unsigned line;
  int explicit_workers;
} builder;

static int fail(builder *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (b->file)
    fprintf(stderr, "sniroute-proxy: %s:%u: ", b->file, b->line);
  else
    fprintf(stderr, "sniroute-proxy: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return -1;
}

/* "10s", "500ms", "2m", "1h", "off"; a bare number is seconds. */
static int parse_duration(const char *t, unsigned *ms) {
  if (strcmp(t, "off") == 0) {
    *ms = 0;
    return 0;
  }
  char *e;
  double v = strtod(t, &e);
  if (e == t || v < 0) return -1;
  double mul = 1000;
  if (!*e || strcmp(e, "s") == 0)
    mul = 1000;
  else if (strcmp(e, "ms") == 0)
    mul = 1;
  else if (strcmp(e, "m") == 0)
    mul = 60000;
  else if (strcmp(e, "h") == 0)
    mul = 3600000;
  else
    return -1;
  double r = v * mul;
  if (r > 4e9) return -1;
  *ms = (unsigned)r;
  return 0;
}

static int parse_uint(const char *t, unsigned max, unsigned *out) {
  char *e;
  unsigned long v = strtoul(t, &e, 10);
  if (!*t || *e || v > max) return -1;
  *out = (unsigned)v;
  return 0;
}

static px_upstream *find_upstream(px_cfg *c, const char *name) {
  for (int i = 0; i < c->nups; i++)
    if (strcmp(c->ups[i]->name, name) == 0) return c->ups[i];
  return NULL;
}

static px_upstream *new_upstream(builder *b, const char *name) {
  px_cfg *c = b->cfg;
  if (c->nups == MAX_UPSTREAMS) {
    fail(b, "too many upstreams");
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
  snprintf(u->name, sizeof u->name, "%s", name);
  return u;
}

static int add_addr(builder *b, px_upstream *u, const char *text) {
  if (u->naddrs == PX_MAX_ADDRS)
    return fail(b, "upstream %s: at most %d addresses", u->name, PX_MAX_ADDRS);
  if (px_parse_addr(text, &u->addrs[u->naddrs]) != 0)
    return fail(b, "bad address '%s' (want HOST:PORT or [V6]:PORT)", text);
  snprintf(u->addr_text[u->naddrs], sizeof u->addr_text[0], "%s", text);
  u->naddrs++;
  return 0;
}

/* Map-file targets: an upstream name, or HOST:PORT (an implicit upstream
 * named after the address). */
static int resolve_target(void *ctx, const char *target, size_t len,
                          unsigned line, void **out) {
  builder *b = ctx;
  (void)len;
  (void)line;
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

static int add_route_line(builder *b, const char *text) {
  int r = sni_router_load_map(b->router, text, strlen(text), resolve_target, b);
  if (r < 0)
    return fail(b, "route '%s': %s (%s)", text, sni_strerror(r),
                sni_router_errmsg(b->router));
  return 0;
}

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

static int add_listener(builder *b, char **tok, int n) {
  px_cfg *c = b->cfg;
  if (n < 1) return fail(b, "listen needs ADDR:PORT");
  if (c->nlisteners == PX_MAX_LISTENERS) return fail(b, "too many listeners");
  px_listener *l = &c->listeners[c->nlisteners];
  memset(l, 0, sizeof *l);
  size_t tl = strlen(tok[0]);
  if (tl >= sizeof l->text)
    return fail(b, "listen address '%s' too long (at most %zu bytes)", tok[0],
                sizeof l->text - 1);
  if (px_parse_addr(tok[0], &l->addr) != 0)
    return fail(b, "bad listen address '%s'", tok[0]);
  memcpy(l->text, tok[0], tl + 1);
  for (int i = 1; i < n; i++) {
    if (strcmp(tok[i], "proxy_protocol") == 0) {
      l->accept_pp = 1;
    } else if (strncmp(tok[i], "trusted=", 8) == 0) {
      char *save = NULL;
      for (char *t = strtok_r(tok[i] + 8, ",", &save); t;
           t = strtok_r(NULL, ",", &save)) {
        if (l->ntrusted == PX_MAX_TRUSTED) return fail(b, "too many trusted=");
        if (px_parse_cidr(t, &l->trusted[l->ntrusted++]) != 0)
          return fail(b, "bad trusted address '%s'", t);
      }
    } else {
      return fail(b, "unknown listen option '%s'", tok[i]);
    }
  }
  if (l->accept_pp && l->ntrusted == 0)
    return fail(b, "listen %s proxy_protocol needs trusted=CIDR,... (the "
                   "balancers allowed to send the header)", l->text);
  c->nlisteners++;
  return 0;
}

static int add_upstream_line(builder *b, char **tok, int n) {
  if (n < 2) return fail(b, "upstream needs NAME ADDR:PORT...");
  if (find_upstream(b->cfg, tok[0]))
    return fail(b, "upstream %s defined twice", tok[0]);
  px_upstream *u = new_upstream(b, tok[0]);
  if (!u) return -1;
  for (int i = 1; i < n; i++) {
    const char *v = NULL;
    if (strcmp(tok[i], "proxy_protocol") == 0 && i + 1 < n)
      v = tok[++i];
    else if (strncmp(tok[i], "proxy_protocol=", 15) == 0)
      v = tok[i] + 15;
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
  return 0;
}

static int set_global(builder *b, char **tok, int n) {
  px_cfg *c = b->cfg;
  const char *k = tok[0];
  if (n != 2) return fail(b, "%s takes one value", k);
  const char *v = tok[1];
  unsigned u;
  if (strcmp(k, "workers") == 0) {
    if (parse_uint(v, 256, &u) || u == 0) return fail(b, "workers: 1..256");
    c->workers = (int)u;
  } else if (strcmp(k, "max_connections") == 0) {
    if (parse_uint(v, 10000000, &u)) return fail(b, "bad max_connections");
    c->max_conns = u;
  } else if (strcmp(k, "hello_timeout") == 0) {
    if (parse_duration(v, &c->hello_timeout_ms)) return fail(b, "bad duration");
  } else if (strcmp(k, "connect_timeout") == 0) {
    if (parse_duration(v, &c->connect_timeout_ms)) return fail(b, "bad duration");
  } else if (strcmp(k, "idle_timeout") == 0) {
    if (parse_duration(v, &c->idle_timeout_ms)) return fail(b, "bad duration");
  } else if (strcmp(k, "drain_timeout") == 0) {
    if (parse_duration(v, &c->drain_timeout_ms)) return fail(b, "bad duration");
  } else if (strcmp(k, "log") == 0) {
    snprintf(c->log_target, sizeof c->log_target, "%s", v);
  } else if (strcmp(k, "splice") == 0) {
    if (strcmp(v, "on") && strcmp(v, "off")) return fail(b, "splice on|off");
    c->use_splice = strcmp(v, "on") == 0;
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
  c->use_splice = 1;
  snprintf(c->log_target, sizeof c->log_target, "stderr");
  return c;
}

static void cfg_free(px_cfg *c) {
  if (!c) return;
  sni_router_free(c->router);
  for (int i = 0; i < c->nups; i++) free(c->ups[i]);
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

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  for (;;) {
    if (!s) break;
    n += fread(s + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    cap *= 2;
    char *t = realloc(s, cap);
    if (!t) {
      free(s);
      s = NULL;
    }
    s = t;
  }
  fclose(f);
  if (s) s[n] = 0;
  return s;
}

/* A route line kept until the whole file is read. */
typedef struct pending {
  char *text;
  unsigned line;
} pending;

/* One configuration file being read.  Routes may name upstreams defined
 * later in the file, so route lines are collected and loaded after
 * everything else. */
typedef struct file_state {
  const char *path;
  int in_routes;
  pending *pend;
  size_t npend, cappend;
  char mapfile[768];
  unsigned mapline;
} file_state;

static int push_pending(builder *b, file_state *f, char *text) {
  if (f->npend == f->cappend) {
    pending *nv = realloc(f->pend, f->cappend * 2 * sizeof *nv);
    if (!nv) return fail(b, "out of memory");
    f->pend = nv;
    f->cappend *= 2;
  }
  f->pend[f->npend].text = text;
  f->pend[f->npend++].line = b->line;
  return 0;
}

static int map_directive(builder *b, file_state *f, char **tok, int n) {
  if (n != 2) return fail(b, "map PATH");
  if (tok[1][0] == '/') {
    snprintf(f->mapfile, sizeof f->mapfile, "%s", tok[1]);
  } else {
    const char *sl = strrchr(f->path, '/');
    int dl = sl ? (int)(sl - f->path + 1) : 0;
    snprintf(f->mapfile, sizeof f->mapfile, "%.*s%s", dl, f->path, tok[1]);
  }
  f->mapline = b->line;
  return 0;
}

/* One line outside routes { }. */
static int file_directive(builder *b, file_state *f, char *s) {
  char *tok[64];
  int n = split(s, tok, 64);
  if (n < 0) return fail(b, "line too long");
  if (n == 0) return 0;
  if (strcmp(tok[0], "routes") == 0) {
    if (n != 2 || strcmp(tok[1], "{") != 0) return fail(b, "write: routes {");
    f->in_routes = 1;
    return 0;
  }
  if (strcmp(tok[0], "route") == 0) {
    if (n < 3) return fail(b, "route PATTERN TARGET [alpn=...]");
    /* Rebuild the map line from the tokens after "route". */
    for (int i = 2; i < n; i++) tok[i][-1] = ' ';
    return push_pending(b, f, tok[1]);
  }
  if (strcmp(tok[0], "map") == 0) return map_directive(b, f, tok, n);
  if (strcmp(tok[0], "listen") == 0) return add_listener(b, tok + 1, n - 1);
  if (strcmp(tok[0], "upstream") == 0)
    return add_upstream_line(b, tok + 1, n - 1);
  if (strcmp(tok[0], "workers") == 0) b->explicit_workers = 1;
  return set_global(b, tok, n);
}

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
    if (!f->in_routes)
      rc = file_directive(b, f, s);
    else if (strcmp(s, "}") == 0)
      f->in_routes = 0;
    else
      rc = push_pending(b, f, s);
    if (rc != 0) return rc;
  }
  if (f->in_routes) return fail(b, "routes { without }");
  return 0;
}

/* After the whole file: the inline routes, then the map file. */
static int file_routes(builder *b, file_state *f) {
  for (size_t i = 0; i < f->npend; i++) {
    b->line = f->pend[i].line;
    if (add_route_line(b, f->pend[i].text) != 0) return -1;
  }
  if (!f->mapfile[0]) return 0;
  b->line = f->mapline;
  int r = sni_router_load_map_file(b->router, f->mapfile, resolve_target, b);
  if (r < 0)
    return fail(b, "map %s: %s (%s)", f->mapfile, sni_strerror(r),
                sni_router_errmsg(b->router));
  return 0;
}

static int load_file(builder *b, const char *path) {
  char *text = read_file(path);
  if (!text) {
    fprintf(stderr, "sniroute-proxy: cannot read %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  file_state f = {.path = path, .cappend = 64};
  f.pend = malloc(f.cappend * sizeof *f.pend);
  b->file = path;
  b->line = 0;
  int rc = f.pend ? file_lines(b, &f, text) : fail(b, "out of memory");
  if (rc == 0) rc = file_routes(b, &f);
  free(f.pend);
  free(text);
  b->file = NULL;
  return rc;
}

/* Quick-form options that are plain directives of the file format. */
static int set_option(builder *b, const char *a, const char *v) {
  static const char *const map[][2] = {
      {"--workers", "workers"},
      {"--hello-timeout", "hello_timeout"},
      {"--connect-timeout", "connect_timeout"},
      {"--idle-timeout", "idle_timeout"},
      {"--drain-timeout", "drain_timeout"},
      {"--max-connections", "max_connections"},
      {"--log", "log"}};
  size_t k;
  for (k = 0; k < sizeof map / sizeof *map; k++)
    if (strcmp(a, map[k][0]) == 0) break;
  if (k == sizeof map / sizeof *map)
    return fail(b, "unknown option %s (--help)", a);
  char key[32], val[300];
  snprintf(key, sizeof key, "%s", map[k][1]);
  snprintf(val, sizeof val, "%s", v);
  char *tok[2] = {key, val};
  return set_global(b, tok, 2);
}

/* One quick-form option and its value (the list is in main.c's usage). */
static int apply_option(builder *b, const char *a, const char *v) {
  char line[600];
  if (strcmp(a, "--config") == 0) return 0; /* read before the options */
  if (strcmp(a, "--listen") == 0) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s", v);
    char *tok[1] = {tmp};
    return add_listener(b, tok, 1);
  }
  if (strcmp(a, "--route") == 0) {
    const char *eq = strchr(v, '=');
    if (!eq) return fail(b, "--route PATTERN=HOST:PORT");
    snprintf(line, sizeof line, "%.*s %s", (int)(eq - v), v, eq + 1);
    return add_route_line(b, line);
  }
  if (strcmp(a, "--default") == 0 || strcmp(a, "--no-sni") == 0 ||
      strcmp(a, "--not-tls") == 0) {
    const char *which = strcmp(a, "--default") == 0  ? "default"
                        : strcmp(a, "--no-sni") == 0 ? "no_sni"
                                                     : "not_tls";
    snprintf(line, sizeof line, "%s %s", which, v);
    return add_route_line(b, line);
  }
  return set_option(b, a, v);
}

static int apply_options(builder *b, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--no-splice") == 0) {
      b->cfg->use_splice = 0;
      continue;
    }
    if (i + 1 >= argc) return fail(b, "%s needs a value (--help)", a);
    if (apply_option(b, a, argv[++i]) != 0) return -1;
  }
  return 0;
}

/* argv is kept so SIGHUP can rebuild from the same sources. */
static int g_argc;
static char **g_argv;

static px_cfg *build(int argc, char **argv) {
  builder b = {0};
  px_cfg *c = cfg_new();
  if (!c) return NULL;
  b.cfg = c;
  const char *config = NULL;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
  if (config) snprintf(c->source, sizeof c->source, "%s", config);
  if (sni_router_create(&b.router, NULL) != 0) goto bad;
  c->router = b.router;
  if (config && load_file(&b, config) != 0) goto bad;
  if (apply_options(&b, argc, argv) != 0) goto bad;
  if (c->nlisteners == 0) {
    fail(&b, "no listener (--listen ADDR:PORT or 'listen' in the config; "
             "--help)");
    goto bad;
  }
  int r = sni_router_compile(b.router);
  if (r < 0) {
    fail(&b, "routes: %s (%s)", sni_strerror(r), sni_router_errmsg(b.router));
    goto bad;
  }
  return c;
bad:
  cfg_free(c);
  return NULL;
}

px_cfg *px_cfg_from_args(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  return build(argc, argv);
}

px_cfg *px_cfg_reload(const px_cfg *old) {
  (void)old;
  return build(g_argc, g_argv);
}
