/* Router tests: one test per line of the semantics table in sniroute.h
 * (test_rule_NN), then normalisation edge cases, map files, the builder's
 * error paths and the allocator contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sniroute.h"

/* ---- helpers ------------------------------------------------------------ */

/* Build a router from map text; targets are the loader's strings. */
static sni_router *mk(const char *map) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  int rc = sni_router_load_map(r, map, strlen(map), NULL, NULL);
  if (rc < 0) fail_msg("load: %s", sni_router_errmsg(r));
  rc = sni_router_compile(r);
  if (rc) fail_msg("compile: %s", sni_router_errmsg(r));
  return r;
}

/* Pack "a,b" into wire-format ALPN. */
static size_t pack_alpn(const char *csv, uint8_t *out) {
  size_t n = 0;
  if (!csv) return 0;
  while (*csv) {
    const char *e = strchr(csv, ',');
    size_t l = e ? (size_t)(e - csv) : strlen(csv);
    out[n++] = (uint8_t)l;
    memcpy(out + n, csv, l);
    n += l;
    csv += l;
    if (*csv) csv++;
  }
  return n;
}

/* Route a bare name; "-" when nothing matched.  The kind lands in *kind. */
static const char *route_k(const sni_router *r, const char *name,
                           const char *alpn, int *kind) {
  uint8_t a[512];
  size_t al = pack_alpn(alpn, a);
  void *t = (void *)1;
  int rc = sni_router_match(r, name, name ? strlen(name) : 0, al ? a : NULL,
                            al, &t);
  if (kind) *kind = rc;
  if (rc == SNI_ENOENT) {
    assert_null(t);
    return "-";
  }
  assert_true(rc > 0);
  return t ? (const char *)t : "(null)";
}

static const char *route(const sni_router *r, const char *name,
                         const char *alpn) {
  return route_k(r, name, alpn, NULL);
}

/* Expect a single map line to be refused with code, message containing
 * needle. */
static void refused(const char *line, int code, const char *needle) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  int rc = sni_router_load_map(r, line, strlen(line), NULL, NULL);
  if (rc >= 0) rc = sni_router_compile(r);
  if (rc != code)
    fail_msg("'%s': got %d (%s), want %d", line, rc, sni_router_errmsg(r),
             code);
  if (needle && !strstr(sni_router_errmsg(r), needle))
    fail_msg("'%s': message '%s' lacks '%s'", line, sni_router_errmsg(r),
             needle);
  sni_router_free(r);
}

static void accepted(const char *pattern) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  int rc = sni_router_add(r, pattern, NULL, 0, NULL);
  if (rc) fail_msg("'%s' refused: %s", pattern, sni_router_errmsg(r));
  sni_router_free(r);
}

static char *repeat(char *buf, const char *unit, size_t times,
                    const char *tail) {
  buf[0] = 0;
  for (size_t i = 0; i < times; i++) strcat(buf, unit);
  strcat(buf, tail);
  return buf;
}

/* ---- rule 1: lowercase, one trailing dot --------------------------------- */

static void test_rule_01_case_and_trailing_dot(void **state) {
  (void)state;
  sni_router *r = mk("WWW.Example.COM. t1\n.Sub.EXAMPLE.org t2\n");
  assert_string_equal(route(r, "www.example.com", NULL), "t1");
  assert_string_equal(route(r, "WWW.EXAMPLE.COM", NULL), "t1");
  assert_string_equal(route(r, "www.example.com.", NULL), "t1");
  assert_string_equal(route(r, "wWw.ExAmPlE.cOm.", NULL), "t1");
  assert_string_equal(route(r, "X.SUB.example.ORG.", NULL), "t2");
  /* Only one trailing dot is removed: two leave an empty label. */
  assert_string_equal(route(r, "www.example.com..", NULL), "-");
  sni_router_free(r);
}

/* ---- rule 2: A-labels and lengths ---------------------------------------- */

static void test_rule_02_alabels_and_lengths(void **state) {
  (void)state;
  refused("b\xc3\xbc"
          "cher.example t\n",
          SNI_EPATTERN, "A-label");
  refused("*.\xe4\xbe\x8b.com t\n", SNI_EPATTERN, "non-ASCII");
  refused("a b.com t\n", SNI_EINVAL, "third field must be alpn=");
  refused("a/b.com t\n", SNI_EPATTERN, "invalid character");
  refused("a:b.com t\n", SNI_EPATTERN, "invalid character");
  sni_router *r = mk("xn--bcher-kva.example t\n");
  assert_string_equal(route(r, "XN--BCHER-KVA.Example.", NULL), "t");
  /* The U-label form is not a host name on the wire: no_sni, not t. */
  assert_string_equal(route(r, "b\xc3\xbc"
                               "cher.example",
                            NULL),
                      "-");
  sni_router_free(r);
  char buf[600], pat[700];
  char l63[64], l64[65];
  memset(l63, 'a', 63);
  l63[63] = 0;
  memset(l64, 'b', 64);
  l64[64] = 0;
  snprintf(pat, sizeof pat, "%s.com", l63);
  accepted(pat);
  snprintf(pat, sizeof pat, "%s.com t\n", l64);
  refused(pat, SNI_EPATTERN, "63");
  /* four 61-byte labels with their dots (248 bytes) and "zzzzz": 253 */
  repeat(buf, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi.",
         4, "zzzzz");
  assert_int_equal(strlen(buf), 253);
  accepted(buf);
  snprintf(pat, sizeof pat, "%sz t\n", buf);
  refused(pat, SNI_EPATTERN, "253");
}

/* ---- rule 3: exact --------------------------------------------------------- */

static void test_rule_03_exact(void **state) {
  (void)state;
  sni_router *r = mk("www.a.com exact\ndefault d\n");
  assert_string_equal(route(r, "www.a.com", NULL), "exact");
  assert_string_equal(route(r, "a.com", NULL), "d");
  assert_string_equal(route(r, "x.www.a.com", NULL), "d");
  assert_string_equal(route(r, "bwww.a.com", NULL), "d");
  /* HAProxy `-m dom` trap: a suffix glued on must not match. */
  assert_string_equal(route(r, "www.a.com.evil.net", NULL), "d");
  assert_string_equal(route(r, "www.a.co", NULL), "d");
  int k = 0;
  route_k(r, "www.a.com", NULL, &k);
  assert_int_equal(k, SNI_ROUTE_EXACT);
  sni_router_free(r);
}

/* ---- rule 4: *.a.com ------------------------------------------------------- */

static void test_rule_04_star(void **state) {
  (void)state;
  sni_router *r = mk("*.a.com star\ndefault d\n");
  assert_string_equal(route(r, "x.a.com", NULL), "star");
  assert_string_equal(route(r, "x.y.z.a.com", NULL), "star");
  assert_string_equal(route(r, "a.com", NULL), "d");
  /* HAProxy `-m end` trap */
  assert_string_equal(route(r, "bada.com", NULL), "d");
  assert_string_equal(route(r, "a.com.evil.net", NULL), "d");
  assert_string_equal(route(r, "x.a.co", NULL), "d");
  int k = 0;
  route_k(r, "q.a.com", NULL, &k);
  assert_int_equal(k, SNI_ROUTE_WILDCARD);
  sni_router_free(r);
}

/* ---- rule 5: .a.com ------------------------------------------------------- */

static void test_rule_05_dot(void **state) {
  (void)state;
  sni_router *r = mk(".a.com dot\ndefault d\n");
  assert_string_equal(route(r, "a.com", NULL), "dot");
  assert_string_equal(route(r, "x.a.com", NULL), "dot");
  assert_string_equal(route(r, "x.y.a.com", NULL), "dot");
  assert_string_equal(route(r, "bada.com", NULL), "d");
  assert_string_equal(route(r, "a.com.evil.net", NULL), "d");
  assert_string_equal(route(r, "com", NULL), "d");
  sni_router_free(r);
}

/* ---- rule 6: www.a.* ------------------------------------------------------- */

static void test_rule_06_tail(void **state) {
  (void)state;
  sni_router *r = mk("www.a.* tail\ndefault d\n");
  assert_string_equal(route(r, "www.a.com", NULL), "tail");
  assert_string_equal(route(r, "www.a.co.uk", NULL), "tail");
  assert_string_equal(route(r, "WWW.A.NET.", NULL), "tail");
  assert_string_equal(route(r, "www.a", NULL), "d");
  assert_string_equal(route(r, "www.ab.com", NULL), "d");
  assert_string_equal(route(r, "x.www.a.com", NULL), "d");
  int k = 0;
  route_k(r, "www.a.org", NULL, &k);
  assert_int_equal(k, SNI_ROUTE_TAIL);
  sni_router_free(r);
}

/* ---- rule 7: where '*' may stand ------------------------------------------ */

static void test_rule_07_star_placement(void **state) {
  (void)state;
  refused("*a.com t\n", SNI_EPATTERN, "first or last label");
  refused("a*.com t\n", SNI_EPATTERN, "first or last label");
  refused("a.*.com t\n", SNI_EPATTERN, "first or last label");
  refused("a.com* t\n", SNI_EPATTERN, "first or last label");
  refused("*.a.* t\n", SNI_EPATTERN, "not as both");
  refused("* t\n", SNI_EPATTERN, "alone");
  refused("*.* t\n", SNI_EPATTERN, "alone");
  refused("**.a.com t\n", SNI_EPATTERN, "first or last label");
  refused(".a.* t\n", SNI_EPATTERN, "first or last label");
  accepted("*.a.com");
  accepted("a.*");
  accepted(".a.com");
}

/* ---- rule 8: order ----------------------------------------------------------- */

static void test_rule_08_order(void **state) {
  (void)state;
  sni_router *r = mk("www.a.com exact\n"
                     "*.www.a.com deep\n"
                     ".a.com shallow\n"
                     "www.a.b.* tail-long\n"
                     "www.* tail-short\n"
                     "default d\n");
  /* (a) exact beats any wildcard */
  assert_string_equal(route(r, "www.a.com", NULL), "exact");
  /* (b) longest wildcard suffix first */
  assert_string_equal(route(r, "x.www.a.com", NULL), "deep");
  assert_string_equal(route(r, "x.a.com", NULL), "shallow");
  /* `.a.com` covers a.com itself as a wildcard level */
  assert_string_equal(route(r, "a.com", NULL), "shallow");
  /* (b) before (c): a wildcard suffix beats a longer tail wildcard */
  assert_string_equal(route(r, "www.a.b.a.com", NULL), "shallow");
  /* (c) longest tail first */
  assert_string_equal(route(r, "www.a.b.org", NULL), "tail-long");
  assert_string_equal(route(r, "www.a.c.org", NULL), "tail-short");
  /* (d) default */
  assert_string_equal(route(r, "example.net", NULL), "d");
  sni_router_free(r);

  /* `*.s` and `.s` are one level: the shorter suffix never wins over it */
  r = mk("*.b.c star\n.c dot\n");
  assert_string_equal(route(r, "a.b.c", NULL), "star");
  assert_string_equal(route(r, "b.c", NULL), "dot");
  sni_router_free(r);
  r = mk("*.b.c star-h2 alpn=h2\n.b.c dot\n.c outer\n");
  /* one level: the h2 client gets star-h2, the others `.b.c`, not `.c` */
  assert_string_equal(route(r, "a.b.c", "h2"), "star-h2");
  assert_string_equal(route(r, "a.b.c", "http/1.1"), "dot");
  /* for b.c itself only `.b.c` applies */
  assert_string_equal(route(r, "b.c", "h2"), "dot");
  sni_router_free(r);
}

/* ---- rule 9: ALPN ------------------------------------------------------------- */

static void test_rule_09_alpn(void **state) {
  (void)state;
  /* the example */
  sni_router *r = mk(".a.com acme alpn=acme-tls/1\n.a.com web\n");
  assert_string_equal(route(r, "a.com", "acme-tls/1"), "acme");
  assert_string_equal(route(r, "x.a.com", "acme-tls/1"), "acme");
  assert_string_equal(route(r, "x.a.com", "h2,http/1.1"), "web");
  assert_string_equal(route(r, "x.a.com", NULL), "web");
  sni_router_free(r);

  /* the client's order decides, not the configuration's */
  r = mk("x.com one alpn=http/1.1\nx.com two alpn=h2\n");
  assert_string_equal(route(r, "x.com", "h2,http/1.1"), "two");
  assert_string_equal(route(r, "x.com", "http/1.1,h2"), "one");
  assert_string_equal(route(r, "x.com", "h3,h2"), "two");
  sni_router_free(r);

  /* a level with only ALPN routes and no match passes to the next level */
  r = mk("www.a.com acme alpn=acme-tls/1\n.a.com web\nwww.* tail\n"
         "default d\n");
  assert_string_equal(route(r, "www.a.com", "acme-tls/1"), "acme");
  assert_string_equal(route(r, "www.a.com", "h2"), "web");
  assert_string_equal(route(r, "www.a.com", NULL), "web");
  sni_router_free(r);

  /* one route may name several protocols */
  r = mk("*.a.com web alpn=h2,http/1.1\n*.a.com acme alpn=acme-tls/1\n"
         "default d\n");
  assert_string_equal(route(r, "x.a.com", "http/1.1"), "web");
  assert_string_equal(route(r, "x.a.com", "foo,acme-tls/1,h2"), "acme");
  assert_string_equal(route(r, "x.a.com", "foo"), "d");
  /* ALPN names compare as bytes: case matters */
  assert_string_equal(route(r, "x.a.com", "H2"), "d");
  sni_router_free(r);

  /* the same through the API, with NULL as a valid target */
  sni_router *q = NULL;
  assert_int_equal(sni_router_create(&q, NULL), 0);
  const char *h2[] = {"h2"};
  assert_int_equal(sni_router_add(q, "a.com", h2, 1, NULL), 0);
  assert_int_equal(sni_router_add(q, "a.com", NULL, 0, (void *)"plain"), 0);
  assert_int_equal(sni_router_compile(q), 0);
  void *t = (void *)1;
  uint8_t wire[] = {2, 'h', '2'};
  assert_int_equal(sni_router_match(q, "a.com", 5, wire, 3, &t),
                   SNI_ROUTE_EXACT);
  assert_null(t);
  assert_string_equal(route(q, "a.com", "x"), "plain");
  sni_router_free(q);
}

/* ---- rule 10: no_sni ---------------------------------------------------------- */

static void hello_init(sni_hello *h, const char *sni, const char *alpn) {
  memset(h, 0, sizeof *h);
  if (sni) {
    h->sni_present = 1;
    size_t n = strlen(sni);
    memcpy(h->sni, sni, n);
    h->sni_len = (uint16_t)n;
    /* what the parser stores: lowercase, one trailing dot removed */
    size_t m = n && sni[n - 1] == '.' ? n - 1 : n;
    for (size_t i = 0; i < m; i++)
      h->sni_normalized[i] = (char)((sni[i] >= 'A' && sni[i] <= 'Z')
                                        ? sni[i] + 32
                                        : sni[i]);
    h->sni_normalized_len = (uint16_t)m;
    if (m < n) h->name_flags |= SNI_NAME_TRAILING_DOT;
  }
  uint8_t a[256];
  size_t al = pack_alpn(alpn, a);
  memcpy(h->alpn, a, al);
  h->alpn_len = (uint8_t)al;
  for (size_t o = 0; o < al; o += (size_t)a[o] + 1) h->n_alpn++;
}

static const char *route_hello(const sni_router *r, const sni_hello *h,
                               int prc, int *kind) {
  void *t = (void *)1;
  int rc = sni_router_match_hello(r, h, prc, &t);
  if (kind) *kind = rc;
  if (rc <= 0) {
    assert_null(t);
    return "-";
  }
  return (const char *)t;
}

static void test_rule_10_no_sni(void **state) {
  (void)state;
  sni_router *r = mk(".a.com web\nno_sni nosni\nno_sni nosni-h2 alpn=h2\n"
                     "default d\n");
  int k = 0;
  assert_string_equal(route_k(r, NULL, NULL, &k), "nosni");
  assert_int_equal(k, SNI_ROUTE_NO_SNI);
  assert_string_equal(route(r, "", NULL), "nosni");
  assert_string_equal(route(r, ".", NULL), "nosni");
  assert_string_equal(route(r, "", "h2"), "nosni-h2");
  assert_string_equal(route(r, "192.0.2.1", NULL), "nosni");
  assert_string_equal(route(r, "::1", NULL), "nosni");
  assert_string_equal(route(r, "2001:db8::1", NULL), "nosni");
  assert_string_equal(route(r, "x.a.com:443", NULL), "nosni");
  assert_string_equal(route(r, "a..a.com", NULL), "nosni");
  assert_string_equal(route(r, ".a.com", NULL), "nosni");
  assert_string_equal(route(r, "x y.a.com", NULL), "nosni");
  assert_string_equal(route(r, "x.a.com/", NULL), "nosni");
  assert_string_equal(route(r, "x.a.123", NULL), "nosni");
  assert_string_equal(route(r, "x\xc3\xa9.a.com", NULL), "nosni");
  uint8_t zero[] = {'x', 0, '.', 'a', '.', 'c', 'o', 'm'};
  void *t;
  assert_int_equal(sni_router_match(r, (const char *)zero, sizeof zero, NULL,
                                    0, &t),
                   SNI_ROUTE_NO_SNI);
  /* underscores are tolerated, as the parser does */
  assert_string_equal(route(r, "_acme.a.com", NULL), "web");
  /* an all-digit label that is not the last one is fine */
  assert_string_equal(route(r, "123.a.com", NULL), "web");

  /* hellos: the parser's flags decide */
  sni_hello h;
  hello_init(&h, NULL, "h2");
  assert_string_equal(route_hello(r, &h, 100, &k), "nosni-h2");
  assert_int_equal(k, SNI_ROUTE_NO_SNI);
  hello_init(&h, "10.0.0.1", NULL);
  h.name_flags |= SNI_NAME_IP_LITERAL | SNI_NAME_NOT_HOSTNAME;
  assert_string_equal(route_hello(r, &h, 100, NULL), "nosni");
  hello_init(&h, "x.a.com", NULL);
  h.name_flags |= SNI_NAME_NOT_HOSTNAME;
  assert_string_equal(route_hello(r, &h, 100, NULL), "nosni");
  hello_init(&h, "X.A.COM.", NULL);
  assert_string_equal(route_hello(r, &h, 100, &k), "web");
  assert_int_equal(k, SNI_ROUTE_WILDCARD);
  /* SSLv2-compatible hellos cannot carry SNI */
  hello_init(&h, NULL, NULL);
  h.sslv2 = 1;
  assert_string_equal(route_hello(r, &h, SNI_ESSLV2, NULL), "nosni");
  sni_router_free(r);
}

/* ---- rule 11: not_tls --------------------------------------------------------- */

static void test_rule_11_not_tls(void **state) {
  (void)state;
  sni_router *r = mk("not_tls plain-http\nno_sni nosni\ndefault d\n");
  int k = 0;
  assert_string_equal(route_hello(r, NULL, SNI_ENOTTLS, &k), "plain-http");
  assert_int_equal(k, SNI_ROUTE_NOT_TLS);
  sni_hello h;
  hello_init(&h, "x.com", NULL);
  assert_string_equal(route_hello(r, &h, SNI_ENOTTLS, NULL), "plain-http");
  /* other parse errors are the caller's to handle */
  assert_string_equal(route_hello(r, &h, SNI_EPROTO, &k), "-");
  assert_int_equal(k, SNI_EPROTO);
  assert_string_equal(route_hello(r, &h, SNI_EAGAIN, &k), "-");
  assert_int_equal(k, SNI_EAGAIN);
  assert_string_equal(route_hello(r, &h, 200, &k), "d");
  assert_int_equal(k, SNI_ROUTE_DEFAULT);
  sni_router_free(r);
}

/* ---- rule 12: default and fallbacks --------------------------------------------- */

static void test_rule_12_default_and_fallback(void **state) {
  (void)state;
  sni_router *r = mk("a.com a\ndefault d\ndefault d-h2 alpn=h2\n");
  int k = 0;
  assert_string_equal(route_k(r, "b.com", NULL, &k), "d");
  assert_int_equal(k, SNI_ROUTE_DEFAULT);
  assert_string_equal(route(r, "b.com", "h2"), "d-h2");
  /* unset no_sni and not_tls fall back to default */
  assert_string_equal(route_k(r, "", NULL, &k), "d");
  assert_int_equal(k, SNI_ROUTE_DEFAULT);
  assert_string_equal(route_hello(r, NULL, SNI_ENOTTLS, &k), "d");
  assert_int_equal(k, SNI_ROUTE_DEFAULT);
  sni_router_free(r);

  /* no default: nothing */
  r = mk("a.com a\n");
  assert_string_equal(route_k(r, "b.com", NULL, &k), "-");
  assert_int_equal(k, SNI_ENOENT);
  assert_string_equal(route_k(r, "", NULL, &k), "-");
  assert_int_equal(k, SNI_ENOENT);
  sni_router_free(r);

  /* a special route with only ALPN routes falls back when none applies */
  r = mk("no_sni acme alpn=acme-tls/1\ndefault d\n");
  assert_string_equal(route(r, "", "acme-tls/1"), "acme");
  assert_string_equal(route(r, "", "h2"), "d");
  sni_router_free(r);
}

/* ---- rule 13: conflicts ----------------------------------------------------------- */

static void test_rule_13_conflicts(void **state) {
  (void)state;
  refused("a.com x\na.com y\n", SNI_ECONFLICT, "line 2: pattern 'a.com' "
                                               "conflicts with 'a.com' "
                                               "(line 1)");
  refused("A.com. x\na.com y\n", SNI_ECONFLICT, "without ALPN");
  refused("a.com x alpn=h2\na.com y alpn=h2\n", SNI_ECONFLICT, "'h2'");
  refused("a.com x alpn=h2,http/1.1\na.com y alpn=h3,http/1.1\n",
          SNI_ECONFLICT, "'http/1.1'");
  refused("*.a.com x\n.a.com y\n", SNI_ECONFLICT,
          "pattern '.a.com' conflicts with '*.a.com'");
  refused(".a.com x\n*.a.com y\n", SNI_ECONFLICT, "without ALPN");
  refused("*.a.com x alpn=h2\n.a.com y alpn=h2\n", SNI_ECONFLICT, "'h2'");
  refused("www.* x\nwww.* y\n", SNI_ECONFLICT, "www.*");
  refused("default x\ndefault y\n", SNI_ECONFLICT, "default");
  refused("no_sni x alpn=a\nno_sni y alpn=a\n", SNI_ECONFLICT, "no_sni");

  /* not conflicts */
  sni_router *r = mk("a.com exact\n.a.com dot\n*.b.com s-h2 alpn=h2\n"
                     ".b.com d-h1 alpn=http/1.1\n*.c.com star\n"
                     ".c.com acme alpn=acme-tls/1\nx.com t alpn=h2,h2\n");
  assert_string_equal(route(r, "a.com", NULL), "exact");
  assert_string_equal(route(r, "b.com", "h2,http/1.1"), "d-h1");
  assert_string_equal(route(r, "x.b.com", "h2,http/1.1"), "s-h2");
  assert_string_equal(route(r, "x.b.com", "http/1.1,h2"), "d-h1");
  assert_string_equal(route(r, "c.com", "acme-tls/1"), "acme");
  assert_string_equal(route(r, "c.com", "h2"), "-");
  assert_string_equal(route(r, "x.c.com", "h2"), "star");
  assert_string_equal(route(r, "x.com", "h2"), "t");
  sni_router_free(r);

  /* through the API the message names the patterns without a line */
  sni_router *q = NULL;
  assert_int_equal(sni_router_create(&q, NULL), 0);
  assert_int_equal(sni_router_add(q, "*.x.org", NULL, 0, NULL), 0);
  assert_int_equal(sni_router_add(q, ".x.org", NULL, 0, NULL), 0);
  assert_int_equal(sni_router_compile(q), SNI_ECONFLICT);
  assert_non_null(strstr(sni_router_errmsg(q), "'.x.org' conflicts with "
                                               "'*.x.org'"));
  /* a failed router cannot be used */
  void *t;
  assert_int_equal(sni_router_match(q, "a.x.org", 7, NULL, 0, &t),
                   SNI_EINVAL);
  assert_int_equal(sni_router_add(q, "y.org", NULL, 0, NULL), SNI_EINVAL);
  sni_router_free(q);
}

/* ---- normalisation edge cases ------------------------------------------------------ */

static void test_norm_lengths(void **state) {
  (void)state;
  char l63[64], name[600];
  memset(l63, 'q', 63);
  l63[63] = 0;
  /* 63-byte labels are fine in names, 64 are not host names */
  snprintf(name, sizeof name, "%s.a.com", l63);
  sni_router *r = mk(".a.com w\nno_sni n\n");
  assert_string_equal(route(r, name, NULL), "w");
  snprintf(name, sizeof name, "q%s.a.com", l63);
  assert_string_equal(route(r, name, NULL), "n");
  /* 253 bytes (plus the optional dot) are a name, 254 are not */
  char n253[300];
  snprintf(n253, sizeof n253, "%s.%s.%s.%.55s.a.com", l63, l63, l63, l63);
  assert_int_equal(strlen(n253), 253);
  assert_string_equal(route(r, n253, NULL), "w");
  snprintf(name, sizeof name, "%s.", n253);
  assert_string_equal(route(r, name, NULL), "w");
  snprintf(name, sizeof name, "x%s", n253);
  assert_int_equal(strlen(name), 254);
  assert_string_equal(route(r, name, NULL), "n");
  snprintf(name, sizeof name, "%s..", n253);
  assert_string_equal(route(r, name, NULL), "n");
  /* far over the limit: still no_sni, no overflow */
  memset(name, 'a', 599);
  name[599] = 0;
  assert_string_equal(route(r, name, NULL), "n");
  /* many one-byte labels: 127 labels, 253 bytes */
  char many[300] = "";
  for (int i = 0; i < 125; i++) strcat(many, "a.");
  strcat(many, "a.com");
  assert_int_equal(strlen(many), 255);
  assert_string_equal(route(r, many, NULL), "n");
  memmove(many, many + 4, strlen(many + 4) + 1);
  assert_int_equal(strlen(many), 251);
  assert_string_equal(route(r, many, NULL), "w");
  sni_router_free(r);

  /* exact patterns at the limits */
  snprintf(name, sizeof name, "%s.example", l63);
  r = mk("");
  sni_router_free(r);
  sni_router *q = NULL;
  assert_int_equal(sni_router_create(&q, NULL), 0);
  assert_int_equal(sni_router_add(q, n253, NULL, 0, (void *)"max"), 0);
  /* `*.s` must leave room for one label: s at 252 bytes cannot match */
  assert_int_equal(sni_router_add(q, "*.qqqq", NULL, 0, (void *)"s"), 0);
  char star[320];
  snprintf(star, sizeof star, "*.%s", n253 + 2);
  assert_int_equal(strlen(star), 253);
  assert_int_equal(sni_router_add(q, star, NULL, 0, NULL), 0);
  snprintf(star, sizeof star, "*.%s", n253 + 1);
  assert_int_equal(sni_router_add(q, star, NULL, 0, NULL), SNI_EPATTERN);
  assert_int_equal(sni_router_compile(q), 0);
  assert_string_equal(route(q, n253, NULL), "max");
  char up[300];
  for (size_t i = 0; i <= 253; i++)
    up[i] = (char)(n253[i] >= 'a' && n253[i] <= 'z' ? n253[i] - 32 : n253[i]);
  assert_string_equal(route(q, up, NULL), "max");
  sni_router_free(q);
}

static void test_norm_empty_labels_and_dots(void **state) {
  (void)state;
  refused("a..b.com t\n", SNI_EPATTERN, "empty label");
  refused("a.com.. t\n", SNI_EPATTERN, "empty label");
  refused("..a.com t\n", SNI_EPATTERN, "empty label");
  refused("*..a.com t\n", SNI_EPATTERN, "empty label");
  refused(". t\n", SNI_EPATTERN, "empty pattern");
  refused("*.123 t\n", SNI_EPATTERN, "all digits");
  refused("1.2.3.4 t\n", SNI_EPATTERN, "all digits");
  accepted("10.0.0.*");
  accepted("123.example");
  sni_router *r = mk("a.b t\n.b d\nno_sni n\n");
  assert_string_equal(route(r, "a..b", NULL), "n");
  assert_string_equal(route(r, "..b", NULL), "n");
  assert_string_equal(route(r, "a.b.", NULL), "t");
  assert_string_equal(route(r, "a.b..", NULL), "n");
  assert_string_equal(route(r, "B", NULL), "d");
  sni_router_free(r);
}

/* ---- map files ------------------------------------------------------------------- */

static int resolve_upper(void *ctx, const char *t, size_t len, unsigned line,
                         void **out) {
  int *calls = ctx;
  ++*calls;
  assert_int_equal(strlen(t), len);
  if (strcmp(t, "bad") == 0) return SNI_ENOENT;
  static char store[8][32];
  snprintf(store[line % 8], sizeof store[0], "%u:%s", line, t);
  *out = store[line % 8];
  return 0;
}

static void test_map_syntax(void **state) {
  (void)state;
  const char *text = "# a comment line\n"
                     "\n"
                     "   \t  \n"
                     "a.com\tA   # trailing comment\n"
                     "  .b.com B alpn=h2\r\n"
                     "default D\n"
                     "default. host-named-default\n"
                     "no_sni N\n"
                     "not_tls T";
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_load_map(r, text, strlen(text), NULL, NULL), 6);
  assert_int_equal(sni_router_compile(r), 0);
  assert_string_equal(route(r, "a.com", NULL), "A");
  assert_string_equal(route(r, "x.b.com", "h2"), "B");
  assert_string_equal(route(r, "x.b.com", NULL), "D");
  assert_string_equal(route(r, "default", NULL), "host-named-default");
  assert_string_equal(route(r, "", NULL), "N");
  assert_string_equal(route_hello(r, NULL, SNI_ENOTTLS, NULL), "T");
  sni_router_free(r);

  /* resolve callback: called per line with the line number */
  int calls = 0;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  const char *t2 = "a.com x\n\nb.com y\n";
  assert_int_equal(sni_router_load_map(r, t2, strlen(t2), resolve_upper,
                                       &calls),
                   2);
  assert_int_equal(calls, 2);
  assert_int_equal(sni_router_compile(r), 0);
  assert_string_equal(route(r, "b.com", NULL), "3:y");
  sni_router_free(r);

  assert_int_equal(sni_router_create(&r, NULL), 0);
  const char *t3 = "a.com x\nb.com bad\n";
  assert_int_equal(sni_router_load_map(r, t3, strlen(t3), resolve_upper,
                                       &calls),
                   SNI_ENOENT);
  assert_non_null(strstr(sni_router_errmsg(r), "line 2"));
  assert_non_null(strstr(sni_router_errmsg(r), "bad"));
  /* lines before the bad one stay */
  assert_int_equal(sni_router_compile(r), 0);
  assert_string_equal(route(r, "a.com", NULL), "1:x");
  sni_router_free(r);

  /* a map-file needs no NUL and may stop mid-line */
  assert_int_equal(sni_router_create(&r, NULL), 0);
  const char t4[] = {'a', '.', 'c', 'o', 'm', ' ', 'X', 'Y'};
  assert_int_equal(sni_router_load_map(r, t4, 7, NULL, NULL), 1);
  assert_int_equal(sni_router_compile(r), 0);
  assert_string_equal(route(r, "a.com", NULL), "X");
  sni_router_free(r);
}

static void test_map_errors(void **state) {
  (void)state;
  refused("a.com\n", SNI_EINVAL, "line 1: missing TARGET");
  refused("# x\n\nok.com t\na.com t alpn=h2 extra\n", SNI_EINVAL,
          "line 4: too many fields");
  refused("a.com t h2\n", SNI_EINVAL, "alpn=");
  refused("a.com t alpn=\n", SNI_EINVAL, "empty ALPN");
  refused("a.com t alpn=h2,,x\n", SNI_EINVAL, "empty ALPN");
  refused("a.com t alpn=h2,\n", SNI_EINVAL, "empty ALPN");
  refused("\n\n*.a.* t\n", SNI_EPATTERN, "line 3: pattern '*.a.*'");
  refused("a.com x\r\nb.com y\r\na.com z\r\n", SNI_ECONFLICT, "line 3");
  char big[400] = "a.com t alpn=";
  memset(big + strlen(big), 'p', 256);
  strcat(big, "\n");
  refused(big, SNI_EINVAL, "255");
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_load_map_file(r, "/nonexistent/sniroute.map",
                                            NULL, NULL),
                   SNI_ESYS);
  assert_non_null(strstr(sni_router_errmsg(r), "cannot open"));
  sni_router_free(r);
}

static void test_map_file(void **state) {
  (void)state;
  char path[] = "/tmp/sniroute-test-map-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  for (int i = 0; i < 5000; i++) fprintf(f, "h%d.example t%d\n", i, i);
  fprintf(f, "default d\n");
  fclose(f);
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_load_map_file(r, path, NULL, NULL), 5001);
  remove(path);
  assert_int_equal(sni_router_compile(r), 0);
  assert_string_equal(route(r, "h4999.example", NULL), "t4999");
  assert_string_equal(route(r, "H17.EXAMPLE.", NULL), "t17");
  assert_string_equal(route(r, "h5000.example", NULL), "d");
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), 0);
  assert_int_equal(st.routes, 5001);
  assert_int_equal(st.entries, 5001);
  assert_true(st.name_bytes > 5000 * 9);
  sni_router_free(r);
}

/* ---- API contract ------------------------------------------------------------------ */

static void test_api_einval(void **state) {
  (void)state;
  sni_router *r = NULL;
  void *t;
  assert_int_equal(sni_router_create(NULL, NULL), SNI_EINVAL);
  sni_allocator half = {NULL, NULL, NULL};
  assert_int_equal(sni_router_create(&r, &half), SNI_EINVAL);
  assert_null(r);
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add(NULL, "a.com", NULL, 0, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_add(r, NULL, NULL, 0, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_add(r, "a.com", NULL, 1, NULL), SNI_EINVAL);
  const char *empty[] = {""};
  assert_int_equal(sni_router_add(r, "a.com", empty, 1, NULL), SNI_EINVAL);
  const char *nul[] = {NULL};
  assert_int_equal(sni_router_add(r, "a.com", nul, 1, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_EXACT, NULL, 0, NULL),
                   SNI_EINVAL);
  /* matching before compile is refused */
  assert_int_equal(sni_router_match(r, "a.com", 5, NULL, 0, &t), SNI_EINVAL);
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), SNI_EINVAL);
  assert_int_equal(sni_router_add(r, "a.com", NULL, 0, (void *)"a"), 0);
  assert_int_equal(sni_router_compile(r), 0);
  assert_int_equal(sni_router_compile(r), SNI_EINVAL);
  assert_int_equal(sni_router_add(r, "b.com", NULL, 0, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_load_map(r, "b.com x\n", 8, NULL, NULL),
                   SNI_EINVAL);
  assert_int_equal(sni_router_match(NULL, "a.com", 5, NULL, 0, &t),
                   SNI_EINVAL);
  assert_int_equal(sni_router_match(r, "a.com", 5, NULL, 0, NULL),
                   SNI_EINVAL);
  assert_int_equal(sni_router_match(r, NULL, 5, NULL, 0, &t), SNI_EINVAL);
  assert_int_equal(sni_router_match(r, "a.com", 5, NULL, 3, &t), SNI_EINVAL);
  /* malformed ALPN lists: overrun, empty name */
  uint8_t over[] = {5, 'h', '2'};
  assert_int_equal(sni_router_match(r, "a.com", 5, over, 3, &t), SNI_EINVAL);
  uint8_t zero[] = {0, 2, 'h', '2'};
  assert_int_equal(sni_router_match(r, "a.com", 5, zero, 4, &t), SNI_EINVAL);
  assert_int_equal(sni_router_match_hello(r, NULL, 5, &t), SNI_EINVAL);
  assert_int_equal(sni_router_match_hello(r, NULL, 5, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_match(r, "a.com", 5, NULL, 0, &t),
                   SNI_ROUTE_EXACT);
  assert_string_equal((const char *)t, "a");
  assert_string_equal(sni_router_errmsg(NULL), "");
  sni_router_free(r);
  sni_router_free(NULL);
}

/* An allocator that counts, checks sizes, and can fail the n-th call. */
typedef struct {
  long live, calls, fail_at;
  size_t bytes;
} acct;

static void *acct_alloc(void *ctx, size_t n) {
  acct *a = ctx;
  if (a->fail_at >= 0 && a->calls++ == a->fail_at) return NULL;
  size_t *p = malloc(n + 16);
  if (!p) return NULL;
  p[0] = n;
  a->live++;
  a->bytes += n;
  return (char *)p + 16;
}

static void acct_free(void *ctx, void *p, size_t n) {
  acct *a = ctx;
  size_t *q = (size_t *)((char *)p - 16);
  assert_int_equal(q[0], n);
  a->live--;
  a->bytes -= n;
  free(q);
}

static int build_with(acct *ac, sni_router **out) {
  sni_allocator al = {acct_alloc, acct_free, ac};
  sni_router *r = NULL;
  int rc = sni_router_create(&r, &al);
  if (rc) return rc;
  const char *map = "a.com A\n*.a.com S alpn=h2\n.b.com B\nwww.* T\n"
                    "default D alpn=x,y\nno_sni N\n";
  for (int i = 0; i < 300 && rc >= 0; i++) {
    char line[64];
    snprintf(line, sizeof line, "h%d.example t%d alpn=p%d\n", i, i, i % 7);
    rc = sni_router_load_map(r, line, strlen(line), NULL, NULL);
  }
  if (rc >= 0) rc = sni_router_load_map(r, map, strlen(map), NULL, NULL);
  if (rc >= 0) rc = sni_router_compile(r);
  if (rc < 0) {
    sni_router_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

static void test_allocator_and_oom(void **state) {
  (void)state;
  acct ac = {0, 0, -1, 0};
  sni_router *r = NULL;
  assert_int_equal(build_with(&ac, &r), 0);
  assert_true(ac.live > 0);
  assert_string_equal(route(r, "x.a.com", "h2"), "S");
  assert_string_equal(route(r, "h299.example", "p5"), "t299");
  assert_string_equal(route(r, "h299.example", "p4"), "-");
  assert_string_equal(route(r, "h298.example", "p4"), "t298");
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), 0);
  /* the stats account for what the router holds */
  assert_true(st.bytes <= ac.bytes);
  assert_true(st.bytes + 64 * 1024 >= ac.bytes);
  sni_router_free(r);
  assert_int_equal(ac.live, 0);

  /* every allocation failing in turn gives SNI_ENOMEM and leaks nothing */
  int saw_ok = 0;
  for (long k = 0; k < 400 && !saw_ok; k++) {
    acct f = {0, 0, k, 0};
    r = NULL;
    int rc = build_with(&f, &r);
    if (rc == 0) {
      saw_ok = 1;
      assert_string_equal(route(r, "h1.example", "p1"), "t1");
      sni_router_free(r);
    } else {
      assert_int_equal(rc, SNI_ENOMEM);
    }
    assert_int_equal(f.live, 0);
  }
  assert_true(saw_ok);
}

/* ---- slot: single-threaded contract --------------------------------------------------- */

static void test_slot_basic(void **state) {
  (void)state;
  sni_router *a = mk("x.com A\n"), *b = mk("x.com B\n"), *old = NULL;
  sni_router_slot *s = NULL;
  assert_int_equal(sni_router_slot_create(NULL, a, NULL), SNI_EINVAL);
  sni_router *unc = NULL;
  assert_int_equal(sni_router_create(&unc, NULL), 0);
  assert_int_equal(sni_router_slot_create(&s, unc, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_slot_create(&s, a, NULL), 0);
  sni_router_guard g;
  const sni_router *cur = sni_router_slot_enter(s, &g);
  assert_ptr_equal(cur, a);
  assert_string_equal(route(cur, "x.com", NULL), "A");
  sni_router_slot_exit(s, &g);
  assert_int_equal(sni_router_slot_swap(s, unc, &old), SNI_EINVAL);
  assert_int_equal(sni_router_slot_swap(s, b, NULL), SNI_EINVAL);
  assert_int_equal(sni_router_slot_swap(s, b, &old), 0);
  assert_ptr_equal(old, a);
  sni_router_free(old);
  cur = sni_router_slot_enter(s, &g);
  assert_string_equal(route(cur, "x.com", NULL), "B");
  sni_router_slot_exit(s, &g);
  assert_int_equal(sni_router_slot_swap(s, NULL, &old), 0);
  assert_ptr_equal(old, b);
  assert_null(sni_router_slot_enter(s, &g));
  sni_router_slot_exit(s, &g);
  sni_router_free(old);
  sni_router_free(unc);
  sni_router_slot_free(s);
  sni_router_slot_free(NULL);
}

/* Literals longer than a table slot holds are compared from out of line:
 * names of every length around that limit, of every kind, must match
 * themselves and not a name differing only in the last byte. */
static void long_name(char *nm, size_t n, size_t i) {
  char q[32];
  size_t w = (size_t)snprintf(q, sizeof q, ".c%zu.com", i);
  for (size_t j = 0; j + w < n; j++) nm[j] = j % 10 == 9 ? '.' : 'x';
  nm[n - w - 1] = 'x'; /* no empty label before the suffix */
  memcpy(nm + n - w, q, w + 1);
}

static void test_long_literals(void **state) {
  (void)state;
  static const size_t lens[] = {38, 39, 40, 41, 42, 47, 63, 64, 100, 200, 249};
  char map[16384], nm[300], q[320];
  size_t mo = 0;
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    size_t n = lens[i];
    /* "xxxxxxxxx.xx...x.c<i>.com": a literal of exactly n bytes */
    long_name(nm, n, i);
    assert_int_equal(strlen(nm), n);
    mo += (size_t)snprintf(map + mo, sizeof map - mo,
                           "%s e%zu\n.d%s d%zu\n%s.* t%zu\n", nm, i, nm, i,
                           nm, i);
  }
  sni_router *r = mk(map);
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    size_t n = lens[i];
    long_name(nm, n, i);
    char want[32];
    snprintf(want, sizeof want, "e%zu", i);
    assert_string_equal(route(r, nm, NULL), want);
    nm[n - 1] = 'n'; /* ".con": no route has it */
    assert_string_equal(route(r, nm, NULL), "-");
    nm[n - 1] = 'm';
    snprintf(q, sizeof q, "d%s", nm); /* the `.s` route's name itself */
    snprintf(want, sizeof want, "d%zu", i);
    if (n < 253) assert_string_equal(route(r, q, NULL), want);
    if (n + 4 <= 253) {
      snprintf(q, sizeof q, "a.d%s", nm);
      assert_string_equal(route(r, q, NULL), want);
      q[n + 2] = 'n';
      assert_string_equal(route(r, q, NULL), "-");
      snprintf(q, sizeof q, "%s.zz", nm);
      snprintf(want, sizeof want, "t%zu", i);
      assert_string_equal(route(r, q, NULL), want);
      q[0] = 'y';
      assert_string_equal(route(r, q, NULL), "-");
    }
  }
  sni_router_free(r);
}

/* ---- every kind of route at every name length ----------------------------- */

/* A host name of len bytes (len >= 12) unique to i: "k<i>", labels of up
 * to 60 letters, ".com". */
static void sized_name(char *out, size_t len, unsigned i) {
  size_t o = (size_t)sprintf(out, "k%u", i);
  while (o + 6 <= len) { /* room for ".x" and ".com" */
    out[o++] = '.';
    size_t lab = len - 4 - o;
    if (lab > 60) lab = 60;
    for (size_t j = 0; j < lab; j++) out[o++] = (char)('a' + (i + j) % 26);
  }
  while (o + 4 < len) out[o++] = 'z'; /* pad the last label */
  strcpy(out + o, ".com");
}

/* Names of every length from 12 to 240 bytes for every kind of route, with
 * ALPN-qualified twins, each looked up as itself, one byte off at either
 * end, and as its own literal: the record layout and the name compare are
 * exercised at every length modulo 8 and at record sizes from a few words
 * to over three cache lines. */
static void test_home_and_overflow(void **state) {
  (void)state;
  enum { N = 2400 };
  size_t cap = (size_t)N * 300, mo = 0;
  char *map = malloc(cap);
  assert_non_null(map);
  char nm[300], q[320], want[32];
  static const char *const kinds[] = {"%s e%u\n", ".%s d%u\n", "*.%s s%u\n",
                                      "%s.* t%u\n"};
  for (unsigned i = 0; i < N; i++) {
    sized_name(nm, 12 + (i * 53u) % 229u, i);
    mo += (size_t)snprintf(map + mo, cap - mo, kinds[i % 4], nm, i);
    if (i % 7 == 0 && i % 4 != 3)
      mo += (size_t)snprintf(map + mo, cap - mo, "%s%s a%u alpn=acme\n",
                             i % 4 == 1 ? "." : i % 4 == 2 ? "*." : "", nm,
                             i);
  }
  mo += (size_t)snprintf(map + mo, cap - mo, "%s", "# end\n");
  sni_router *r = mk(map);
  for (unsigned i = 0; i < N; i++) {
    size_t n = 12 + (i * 53u) % 229u;
    sized_name(nm, n, i);
    assert_int_equal(strlen(nm), n);
    static const char kind_letter[] = "edst";
    snprintf(want, sizeof want, "%c%u", kind_letter[i % 4], i);
    switch (i % 4) {
    case 0: snprintf(q, sizeof q, "%s", nm); break;
    case 3: snprintf(q, sizeof q, "%s.zz", nm); break;
    default: snprintf(q, sizeof q, "a.%s", nm); break;
    }
    assert_string_equal(route(r, q, NULL), want);
    if (i % 7 == 0 && i % 4 != 3) {
      snprintf(want, sizeof want, "a%u", i);
      assert_string_equal(route(r, q, "h2,acme"), want);
    }
    /* one byte off, at the end and at the start of the literal */
    q[strlen(q) - 1] ^= 1;
    assert_string_equal(route(r, q, NULL), "-");
    q[strlen(q) - 1] ^= 1;
    q[i % 4 == 0 || i % 4 == 3 ? 1 : 3] ^= 1; /* a digit of k<i> */
    const char *got = route(r, q, NULL);
    assert_true(strcmp(got, want) != 0);
    /* the literal itself: only exact and `.s` routes take it */
    const char *self = route(r, nm, NULL);
    if (i % 4 == 1) {
      snprintf(want, sizeof want, "d%u", i);
      assert_string_equal(self, want);
    } else if (i % 4 != 0) {
      assert_string_equal(self, "-");
    }
  }
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), 0);
  assert_int_equal(st.entries, N);
  sni_router_free(r);
  free(map);
}

/* Tables of several MiB (the default allocator then puts them on huge
 * pages where Linux allows): every route of a large router is found, from
 * the first to the last bucket and record, and near misses are not; with
 * 75,000 wildcard entries every filter word is shared by several, so a
 * filter bit lost or taken from the wrong part of a key fails here. */
static void test_large_tables(void **state) {
  (void)state;
  enum { N = 150000 };
  static const char *const pat[] = {"*.w%lu.example", "t%lu.tail.*",
                                    "h%lu.big.example", "h%lu.big.example"};
  static const char *const query[] = {"a.w%lu.example", "t%lu.tail.org",
                                      "h%lu.big.example", "h%lu.big.example"};
  static const int kind[] = {SNI_ROUTE_WILDCARD, SNI_ROUTE_TAIL,
                             SNI_ROUTE_EXACT, SNI_ROUTE_EXACT};
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  char nm[64];
  for (uintptr_t i = 0; i < N; i++) {
    snprintf(nm, sizeof nm, pat[i % 4], (unsigned long)i);
    assert_int_equal(sni_router_add(r, nm, NULL, 0, (void *)(i + 1)), 0);
  }
  assert_int_equal(sni_router_compile(r), 0);
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), 0);
  assert_true(st.bytes > ((size_t)4 << 20)); /* past the huge-page size */
  for (uintptr_t i = 0; i < N; i++) {
    void *t = NULL;
    int n = snprintf(nm, sizeof nm, query[i % 4], (unsigned long)i);
    assert_int_equal(sni_router_match(r, nm, (size_t)n, NULL, 0, &t),
                     kind[i % 4]);
    assert_ptr_equal(t, (void *)(i + 1));
    nm[1] = 'x'; /* a digit of h<i> or t<i>, or a.w<i> made one label */
    assert_int_equal(sni_router_match(r, nm, (size_t)n, NULL, 0, &t),
                     SNI_ENOENT);
  }
  sni_router_free(r);
}

/* An allocator that remembers the sizes of the blocks still held, so
 * that a test can see the compiled router's tables. */
typedef struct sized {
  size_t n, size[64];
} sized;

static void *sized_alloc(void *ctx, size_t n) {
  sized *s = ctx;
  size_t *p = malloc(n + 16);
  if (!p) return NULL;
  p[0] = n;
  size_t i = 0;
  while (i < s->n && s->size[i] != 0) i++;
  if (i < 64) s->size[i] = n;
  if (i == s->n && i < 64) s->n++;
  return (char *)p + 16;
}

static void sized_free(void *ctx, void *p, size_t n) {
  sized *s = ctx;
  size_t *q = (size_t *)((char *)p - 16);
  assert_int_equal(q[0], n);
  for (size_t i = 0; i < s->n; i++)
    if (s->size[i] == n) {
      s->size[i] = 0;
      break;
    }
  free(q);
}

/* More wildcard entries than the filter's size limit takes at its
 * normal density (router.c, SNI_RT_FILTER_MAX: 512 KiB, six entries a
 * word): the filter stays at the limit (at the normal density it would be
 * 560,008 bytes), its words are shared more densely, and every entry is
 * still found. */
static void test_filter_limit(void **state) {
  (void)state;
  enum { N = 420000 };
  const size_t limit = (size_t)512 << 10, line = 64;
  sized held = {0, {0}};
  sni_allocator al = {sized_alloc, sized_free, &held};
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, &al), 0);
  char nm[64];
  for (uintptr_t i = 0; i < N; i++) {
    snprintf(nm, sizeof nm, i % 2 ? "*.w%lu.example" : "t%lu.tail.*",
             (unsigned long)i);
    assert_int_equal(sni_router_add(r, nm, NULL, 0, (void *)(i + 1)), 0);
  }
  assert_int_equal(sni_router_compile(r), 0);
  /* The filter is the one table block of its size (a cache-line aligned
   * allocation: its bytes plus a line); nothing is between the limit and
   * what the filter would take without it. */
  int at_limit = 0;
  for (size_t i = 0; i < held.n; i++) {
    assert_false(held.size[i] > limit + line && held.size[i] <= 600000);
    at_limit += held.size[i] == limit + line;
  }
  assert_int_equal(at_limit, 1);
  for (uintptr_t i = 0; i < N; i += 3) {
    void *t = NULL;
    int n = snprintf(nm, sizeof nm, i % 2 ? "a.w%lu.example" : "t%lu.tail.org",
                     (unsigned long)i);
    assert_int_equal(sni_router_match(r, nm, (size_t)n, NULL, 0, &t),
                     i % 2 ? SNI_ROUTE_WILDCARD : SNI_ROUTE_TAIL);
    assert_ptr_equal(t, (void *)(i + 1));
  }
  sni_router_free(r);
  for (size_t i = 0; i < held.n; i++) assert_int_equal(held.size[i], 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rule_01_case_and_trailing_dot),
      cmocka_unit_test(test_rule_02_alabels_and_lengths),
      cmocka_unit_test(test_rule_03_exact),
      cmocka_unit_test(test_rule_04_star),
      cmocka_unit_test(test_rule_05_dot),
      cmocka_unit_test(test_rule_06_tail),
      cmocka_unit_test(test_rule_07_star_placement),
      cmocka_unit_test(test_rule_08_order),
      cmocka_unit_test(test_rule_09_alpn),
      cmocka_unit_test(test_rule_10_no_sni),
      cmocka_unit_test(test_rule_11_not_tls),
      cmocka_unit_test(test_rule_12_default_and_fallback),
      cmocka_unit_test(test_rule_13_conflicts),
      cmocka_unit_test(test_norm_lengths),
      cmocka_unit_test(test_norm_empty_labels_and_dots),
      cmocka_unit_test(test_map_syntax),
      cmocka_unit_test(test_map_errors),
      cmocka_unit_test(test_map_file),
      cmocka_unit_test(test_api_einval),
      cmocka_unit_test(test_allocator_and_oom),
      cmocka_unit_test(test_slot_basic),
      cmocka_unit_test(test_long_literals),
      cmocka_unit_test(test_home_and_overflow),
      cmocka_unit_test(test_large_tables),
      cmocka_unit_test(test_filter_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
