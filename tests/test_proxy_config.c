/* sniroute-proxy configuration (proxy/config.c, proxy/addr.c): every value
 * range-checked, every error naming its place as "FILE:LINE: message".
 * Built from memory with numeric addresses only, so nothing is resolved
 * and no socket is opened. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proxy/config.h"

static char errbuf[4096];

/* Builds from text (file name "t.conf") and optional quick-form argv. */
static px_cfg *build_argv(const char *text, size_t len, int argc,
                          char **argv) {
  memset(errbuf, 0, sizeof errbuf);
  FILE *err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  assert_non_null(err);
  px_cfg_src src = {.argc = argc, .argv = argv, .text = text, .len = len,
                    .config = text ? "t.conf" : NULL, .err = err, .bare = 1,
                    .numeric = 1, .sandbox = 1};
  px_cfg *c = px_cfg_build(&src);
  fclose(err);
  return c;
}

static px_cfg *build(const char *text) {
  return build_argv(text, strlen(text), 0, NULL);
}

/* The build fails with exactly one line starting with want. */
static void bad(const char *text, const char *want) {
  px_cfg *c = build(text);
  if (c || strncmp(errbuf, want, strlen(want)) != 0)
    fail_msg("config:\n%s\nwant error '%s...', got %s'%s'", text, want,
             c ? "success, " : "", errbuf);
  const char *nl = strchr(errbuf, '\n');
  assert_non_null(nl);
  assert_int_equal(nl[1], 0); /* one line */
}

static px_cfg *good(const char *text) {
  px_cfg *c = build(text);
  if (!c) fail_msg("config:\n%s\nunexpected error '%s'", text, errbuf);
  return c;
}

#define L "listen 127.0.0.1:8443\n"

static void test_values(void **state) {
  (void)state;
  px_cfg *c = good(L "workers 4\nhello_timeout 500ms\nconnect_timeout 3\n"
                     "idle_timeout 2m\ndrain_timeout 1h\nsplice off\n"
                     "listen [::1]:8444 proxy_protocol trusted=10.0.0.0/8,::1\n"
                     "upstream web 127.0.0.1:9443 [::1]:9443 proxy_protocol v2\n"
                     "routes {\n  www.example.test web\n}\n"
                     "route default 127.0.0.1:9\n");
  assert_int_equal(c->workers, 4);
  assert_int_equal(c->hello_timeout_ms, 500);
  assert_int_equal(c->connect_timeout_ms, 3000);
  assert_int_equal(c->idle_timeout_ms, 120000);
  assert_int_equal(c->drain_timeout_ms, 3600000);
  assert_int_equal(c->use_splice, 0);
  assert_int_equal(c->nlisteners, 2);
  assert_int_equal(c->listeners[1].accept_pp, 1);
  assert_int_equal(c->listeners[1].ntrusted, 2);
  assert_int_equal(c->listeners[1].trusted[0].prefix, 8);
  assert_int_equal(c->nups, 2); /* web, and the implicit 127.0.0.1:9 */
  assert_string_equal(c->ups[0]->name, "web");
  assert_int_equal(c->ups[0]->naddrs, 2);
  assert_int_equal(c->ups[0]->pp, 2);
  assert_string_equal(c->ups[1]->name, "127.0.0.1:9");
  void *t = NULL;
  assert_true(sni_router_match(c->servers[0].router, "www.example.test", 16,
                               NULL, 0, &t) > 0);
  assert_ptr_equal(t, c->ups[0]);
  px_cfg_unref(c);
}

static void test_durations(void **state) {
  (void)state;
  static const struct {
    const char *text;
    unsigned ms;
  } ok[] = {{"1ms", 1},          {"500ms", 500},     {"10s", 10000},
            {"10", 10000},       {"2m", 120000},     {"1h", 3600000},
            {"24h", 86400000},   {"1440m", 86400000}, {"off", 0},
            {"86400000ms", 86400000}};
  static const char *const no[] = {
      "nan", "inf", "0x10", "0.5ms", "1.5s", "1e3", "-1s",   "+1s", "10d",
      "0",   "0ms", "25h",  "010s",  "s",    "ms",  "1 ms",  "1S",  "OFF",
      "86400001ms", "99999999999999999999s", "1sms"};
  char text[200];
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    snprintf(text, sizeof text, L "idle_timeout %s\n", ok[i].text);
    px_cfg *c = good(text);
    assert_int_equal(c->idle_timeout_ms, ok[i].ms);
    px_cfg_unref(c);
  }
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    snprintf(text, sizeof text, L "hello_timeout %s\n", no[i]);
    /* "1 ms" is two values */
    bad(text, strchr(no[i], ' ') ? "t.conf:2: hello_timeout takes one value"
                                  : "t.conf:2: hello_timeout '");
  }
}

static void test_ports_and_addresses(void **state) {
  (void)state;
  static const char *const no[] = {
      "127.0.0.1:0",  "127.0.0.1:65536", "127.0.0.1:70000", "127.0.0.1:+80",
      "127.0.0.1:-0", "127.0.0.1:080",   "127.0.0.1:",      ":443",
      "::1:443",      "[::1]443",        "[127.0.0.1]:443", "127.0.0.1:0x50",
      "localhost:443" /* numeric only here */};
  char text[200];
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    snprintf(text, sizeof text, "listen %s\n", no[i]);
    bad(text, "t.conf:1: bad listen address");
    snprintf(text, sizeof text, L "upstream u %s\nroute default u\n", no[i]);
    bad(text, "t.conf:2: bad address");
  }
  px_cfg *c = good("listen 127.0.0.1:65535\nlisten [::1]:1\n");
  assert_int_equal(c->nlisteners, 2);
  px_cfg_unref(c);
}

static void test_trusted(void **state) {
  (void)state;
  static const char *const no[] = {"1.2.3.4/+8", "1.2.3.4/-0", "1.2.3.4/08",
                                   "1.2.3.4/33", "::1/129",    "1.2.3.4/",
                                   "1.2.3.4/8x", "1.2.3/8",    "x"};
  char text[200];
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    snprintf(text, sizeof text,
             "\nlisten 127.0.0.1:1 proxy_protocol trusted=%s\n", no[i]);
    bad(text, "t.conf:2: bad trusted prefix");
  }
  px_cfg *c = good("listen 127.0.0.1:1 proxy_protocol trusted=0.0.0.0/0,"
                   "::/0,1.2.3.4/32,::1/128\n");
  assert_int_equal(c->listeners[0].ntrusted, 4);
  px_cfg_unref(c);
  bad("listen 127.0.0.1:1 trusted=1.2.3.4\n",
      "t.conf:1: listen 127.0.0.1:1: trusted= applies only with");
  bad("listen 127.0.0.1:1 proxy_protocol\n", "t.conf:1: listen 127.0.0.1:1 "
                                             "proxy_protocol needs trusted=");
}

static void test_file_errors(void **state) {
  (void)state;
  const char nul[] = L "workers 2\n\0\nbogus\n";
  assert_null(build_argv(nul, sizeof nul - 1, 0, NULL));
  assert_string_equal(errbuf, "t.conf:3: NUL byte (this is not a text file)\n");
  bad(L "\n\nbogus\n", "t.conf:4: unknown directive 'bogus'");
  bad(L "bogus 1 2\n", "t.conf:2: unknown directive 'bogus'");
  bad(L "workers\n", "t.conf:2: workers takes one value");
  bad(L "workers 0\n", "t.conf:2: workers '0': 1..256");
  bad(L "workers 257\n", "t.conf:2: workers '257'");
  bad(L "max_connections -1\n", "t.conf:2: max_connections '-1'");
  bad(L "max_connections 10000001\n", "t.conf:2: max_connections");
  bad(L "splice maybe\n", "t.conf:2: splice on|off");
  bad(L "relay maybe\n", "t.conf:2: relay splice|copy");
  bad(L "relay sockmap\n", "t.conf:2: relay sockmap: not available");
  for (int i = 0; i < 2; i++) { /* the last of relay / splice wins */
    px_cfg *r = good(i ? L "relay copy\n" : L "relay copy\nsplice on\n");
    assert_int_equal(r->use_splice, i ? 0 : 1);
    px_cfg_unref(r);
  }
  bad(L "\nroutes {\nwww.a.test 127.0.0.1:1\n",
      "t.conf:3: routes { without }");
  bad(L "map x.map\n", "t.conf:2: map: files are not read here");
  bad(L "upstream u 127.0.0.1:1 proxy_protocol\n",
      "t.conf:2: proxy_protocol needs v1, v2 or off");
  bad(L "upstream u 127.0.0.1:1 proxy_protocol v3\n",
      "t.conf:2: proxy_protocol must be v1, v2 or off");
  bad(L "upstream u\n", "t.conf:2: upstream needs NAME ADDR:PORT");
  bad(L "upstream u 127.0.0.1:1\nupstream u 127.0.0.1:2\n",
      "t.conf:3: upstream u defined twice");
  bad("", "t.conf: no listener");
  char text[400];
  char name[80];
  memset(name, 'n', sizeof name);
  name[63] = 0;
  snprintf(text, sizeof text, L "upstream %s 127.0.0.1:1\n", name);
  px_cfg_unref(good(text));
  name[63] = 'n';
  name[64] = 0;
  snprintf(text, sizeof text, L "upstream %s 127.0.0.1:1\n", name);
  bad(text, "t.conf:2: upstream name 'nnnn");
  bad(L "upstream a:b 127.0.0.1:1\n", "t.conf:2: upstream name 'a:b'");
  /* An implicit upstream is named after its target: too long is an error,
   * never a truncated name. */
  snprintf(text, sizeof text, L "\nroute default [%.*s::1]:1\n", 60,
           "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:");
  bad(text, "t.conf:3: route target '[0000");
}

static void test_route_places(void **state) {
  (void)state;
  /* Inline routes, route directives and the command line in one text: the
   * library's line numbers come back as the real places. */
  bad(L "upstream a 127.0.0.1:1\nroutes {\n  www.a.test a\n\n}\n"
        "route www.a.test a\n",
      "t.conf:7: routes: pattern 'www.a.test' conflicts with 'www.a.test' "
      "(t.conf:4)");
  bad(L "\nroute www.*.test 127.0.0.1:1\n", "t.conf:3: routes: pattern");
  bad(L "route www.a.test nowhere\n",
      "t.conf:2: route target 'nowhere' is neither");
  char *argv[] = {"x", "--route", "www.a.test=127.0.0.1:1", "--default",
                  "127.0.0.1:2", "--route", "www.a.test=127.0.0.1:3"};
  const char *t = L "routes {\n  default 127.0.0.1:4\n}\n";
  assert_null(build_argv(L, strlen(L), 7, argv));
  assert_non_null(strstr(errbuf, "command line:5: routes: pattern 'www.a.test'"
                                 " conflicts with 'www.a.test' (command "
                                 "line:1)"));
  char *argv2[] = {"x", "--default", "127.0.0.1:2"};
  assert_null(build_argv(t, strlen(t), 3, argv2));
  assert_non_null(strstr(errbuf, "command line:1: routes: pattern 'default' "
                                 "conflicts with 'default' (t.conf:3)"));
  /* A long --route is read whole (it was cut at 599 bytes). */
  char route[1200];
  int n = snprintf(route, sizeof route, "www.a.test=127.0.0.1:1");
  memset(route + n, ' ', 900);
  snprintf(route + n + 900, sizeof route - (size_t)n - 900, "alpn=h2");
  char *argv3[] = {"x", "--listen", "127.0.0.1:1", "--route", route};
  px_cfg *c = build_argv(NULL, 0, 5, argv3);
  assert_non_null(c);
  void *tg = NULL;
  /* Only for clients offering h2: the alpn= field 900 blanks on counts. */
  assert_int_equal(sni_router_match(c->servers[0].router, "www.a.test", 10,
                                    NULL, 0, &tg),
                   SNI_ENOENT);
  assert_true(sni_router_match(c->servers[0].router, "www.a.test", 10,
                               (const uint8_t *)"\x02h2", 3, &tg) > 0);
  px_cfg_unref(c);
  char *argv4[] = {"x", "--listen", "127.0.0.1:1", "--route", "a\nb=1.2.3.4:5"};
  assert_null(build_argv(NULL, 0, 5, argv4));
  assert_string_equal(errbuf,
                      "command line:3: a route cannot contain a newline\n");
  char *argv5[] = {"x", "--listen", "127.0.0.1:70000"};
  assert_null(build_argv(NULL, 0, 3, argv5));
  assert_non_null(strstr(errbuf, "command line:1: bad listen address"));
  char *argv6[] = {"x", "--listen", "127.0.0.1:1", "--idle-timeout", "nan"};
  assert_null(build_argv(NULL, 0, 5, argv6));
  assert_non_null(strstr(errbuf, "command line:3: idle_timeout 'nan'"));
  char *argv7[] = {"x", "--listen"};
  assert_null(build_argv(NULL, 0, 2, argv7));
  assert_string_equal(errbuf, "command line:1: --listen needs a value "
                              "(--help)\n");
}

/* Map files: read from the disk (not in a sandbox), lines named by their own
 * file. */
static void test_map_file(void **state) {
  (void)state;
  char dir[] = "/tmp/sniroute-cfg-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char map[64], conf[64];
  snprintf(map, sizeof map, "%s/r.map", dir);
  snprintf(conf, sizeof conf, "%s/c.conf", dir);
  FILE *f = fopen(map, "w");
  assert_non_null(f);
  fputs("# routes\nwww.b.test 127.0.0.1:1\n\nwww.a.test 127.0.0.1:2", f);
  fclose(f);
  memset(errbuf, 0, sizeof errbuf);
  FILE *err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  const char *text = L "map r.map\nroute www.a.test 127.0.0.1:3\n";
  px_cfg_src src = {.text = text, .len = strlen(text), .config = conf,
                    .err = err, .bare = 1, .numeric = 1};
  assert_null(px_cfg_build(&src));
  fclose(err);
  char want[200];
  snprintf(want, sizeof want, "%s:3: routes: pattern 'www.a.test' conflicts "
                              "with 'www.a.test' (%s:4)", conf, map);
  if (!strstr(errbuf, want)) fail_msg("want %s, got %s", want, errbuf);
  /* A map file with a NUL byte, and one that is a directory. */
  f = fopen(map, "w");
  fputs("www.b.test 127.0.0.1:1\nwww.c\0test 127.0.0.1:1\n", f);
  fwrite("x\0", 1, 2, f);
  fclose(f);
  err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  memset(errbuf, 0, sizeof errbuf);
  src.err = err;
  assert_null(px_cfg_build(&src));
  fclose(err);
  snprintf(want, sizeof want, "%s:2: NUL byte", map);
  if (!strstr(errbuf, want)) fail_msg("want %s, got %s", want, errbuf);
  unlink(map);
  assert_int_equal(mkdir(map, 0700), 0);
  err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  memset(errbuf, 0, sizeof errbuf);
  src.err = err;
  assert_null(px_cfg_build(&src));
  fclose(err);
  snprintf(want, sizeof want, "%s:2: map %s: Is a directory", conf, map);
  if (!strstr(errbuf, want)) fail_msg("want %s, got %s", want, errbuf);
  rmdir(map);
  /* --config naming a directory. */
  char *argv[] = {"x", "--config", dir};
  err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  memset(errbuf, 0, sizeof errbuf);
  px_cfg_src s2 = {.argc = 3, .argv = argv, .err = err, .bare = 1};
  assert_null(px_cfg_build(&s2));
  fclose(err);
  snprintf(want, sizeof want, "%s: cannot read: Is a directory\n", dir);
  assert_string_equal(errbuf, want);
  rmdir(dir);
}

/* The -t entry point: the whole build, messages without the program's
 * prefix. */
static void test_check(void **state) {
  (void)state;
  char *ok[] = {"x", "--listen", "127.0.0.1:1", "--default", "127.0.0.1:2"};
  char *no[] = {"x", "--listen", "127.0.0.1:1", "--default", "127.0.0.1:0"};
  memset(errbuf, 0, sizeof errbuf);
  FILE *err = fmemopen(errbuf, sizeof errbuf - 1, "w");
  assert_int_equal(px_cfg_check(5, ok, err), 0);
  fflush(err);
  assert_string_equal(errbuf, "");
  assert_int_equal(px_cfg_check(5, no, err), -1);
  fclose(err);
  assert_non_null(strstr(errbuf, "command line:3: bad address '127.0.0.1:0'"));
  assert_int_equal(errbuf[0], 'c');
}

/* QUIC (issue 13): the quick form --quic adds a UDP listener on the same
 * port that shares the implicit server's routes; the flow settings have
 * their defaults and ranges, and errors name their line. */
static void test_quic(void **state) {
  (void)state;
  char *argv[] = {"x", "--listen", "127.0.0.1:8443", "--quic", "127.0.0.1:8443",
                  "--route", "a.test=127.0.0.1:9443"};
  px_cfg *c = build_argv(NULL, 0, 7, argv);
  assert_non_null(c);
  assert_int_equal(c->nlisteners, 1);
  assert_int_equal(c->nquic, 1);
  assert_string_equal(c->quic[0].text, "127.0.0.1:8443");
  assert_int_equal(c->quic[0].server, c->listeners[0].server);
  assert_int_equal(c->quic_idle_timeout_ms, 30000);
  assert_int_equal(c->quic_max_flows, 16384);
  assert_int_equal(c->quic_hello_datagrams, 16);
  assert_int_equal(c->quic_hello_bytes, 32768);
  px_cfg_unref(c);
  c = good("listen 127.0.0.1:1 quic\nquic_idle_timeout 500ms\n"
           "quic_max_flows 1\nquic_hello_datagrams 64\n"
           "quic_hello_bytes 1048576\nroute a.test 127.0.0.1:2\n");
  assert_int_equal(c->nlisteners, 0);
  assert_int_equal(c->quic_idle_timeout_ms, 500);
  assert_int_equal(c->quic_max_flows, 1);
  assert_int_equal(c->quic_hello_bytes, 1048576);
  px_cfg_unref(c);
  bad("listen 127.0.0.1:1 quic\nquic_max_flows 1000001\n", "t.conf:2: ");
  bad("listen 127.0.0.1:1 quic\nquic_hello_bytes 1048577\n", "t.conf:2: ");
  bad("listen 127.0.0.1:1 quic\nquic_hello_datagrams 0\n", "t.conf:2: ");
  bad("listen 127.0.0.1:1 quic\nquic_idle_timeout 0\n", "t.conf:2: ");
  bad("listen 127.0.0.1:1 quic proxy_protocol trusted=127.0.0.1\n",
      "t.conf:1: ");
}

/* Server blocks: listeners point at their block, each block has its own
 * routes and hello_timeout (else the top-level one), silent resolves its
 * target; misuse names the line. */
static void test_servers(void **state) {
  (void)state;
  px_cfg *c = good("hello_timeout 7s\n"
                   "upstream up 127.0.0.1:9\n"
                   "server a {\n listen 127.0.0.1:1\n listen 127.0.0.1:2\n"
                   " hello_timeout 2s\n silent 1s 127.0.0.1:25\n"
                   " route x.test up\n}\n"
                   "server {\n listen 127.0.0.1:3\n tls off\n"
                   " route default up\n}\n");
  assert_int_equal(c->nservers, 2);
  assert_string_equal(c->servers[0].name, "a");
  assert_string_equal(c->servers[1].name, "1");
  assert_int_equal(c->listeners[1].server, 0);
  assert_int_equal(c->listeners[2].server, 1);
  assert_int_equal(c->servers[0].hello_timeout_ms, 2000);
  assert_int_equal(c->servers[1].hello_timeout_ms, 7000);
  assert_int_equal(c->servers[0].tls, 1);
  assert_int_equal(c->servers[1].tls, 0);
  assert_int_equal(c->servers[0].silent_ms, 1000);
  assert_string_equal(c->servers[0].silent_up->name, "127.0.0.1:25");
  void *t = NULL;
  assert_true(sni_router_match(c->servers[0].router, "x.test", 6, NULL, 0,
                               &t) > 0);
  assert_int_equal(sni_router_match(c->servers[1].router, "x.test", 6, NULL,
                                    0, &t),
                   SNI_ROUTE_DEFAULT);
  px_cfg_unref(c);
  c = good(L "route default 127.0.0.1:9\n");
  assert_int_equal(c->nservers, 1);
  assert_string_equal(c->servers[0].name, "0");
  px_cfg_unref(c);
  bad("server {\n listen 127.0.0.1:1\n}\nroute a.test 127.0.0.1:9\n",
      "t.conf:4: route outside a server block");
  bad("server {\n listen 127.0.0.1:1\n silent 2s 127.0.0.1:9\n"
      " hello_timeout 2s\n}\n",
      "t.conf:3: server 0: silent must be shorter");
  bad("server {\n listen 127.0.0.1:1\n tls off\n routes {\n"
      "  default 127.0.0.1:9\n  *.a.test 127.0.0.1:9\n }\n}\n",
      "t.conf:6: server 0 has tls off: only a default route");
  char *argv[] = {"x", "--listen", "127.0.0.1:5"};
  const char *blk = "server {\n listen 127.0.0.1:1\n}\n";
  assert_null(build_argv(blk, strlen(blk), 3, argv));
  assert_non_null(strstr(errbuf, "command line:1: --listen outside"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_servers),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_ports_and_addresses),
      cmocka_unit_test(test_trusted),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_route_places),
      cmocka_unit_test(test_map_file),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_quic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
