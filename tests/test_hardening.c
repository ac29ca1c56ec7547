/* Regression tests for faults found by adversarial review (issue 8, items
 * 10-12): the map loader reading past the caller's buffer, sni_alpn_get()
 * trusting a corrupted hello's alpn_len, and parsers used without
 * sni_parser_init().  Buffers are exact-size heap copies so that the ASan
 * build reports any read past them; the assertions fail without ASan too
 * wherever the old code gave a wrong answer rather than only a bad read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "parser_util.h"
#include "sniroute.h"
/* Internal: the parser schema tables, checked by test_schema_consistent. */
#include "../lib/hs_schema.h"

/* ---- map loader ---------------------------------------------------------- */

typedef struct {
  const char *refuse; /* refuse this target (NULL: refuse every target) */
  int calls;
  size_t last_len;
  char last[64];
} refuser;

/* Refuses the configured target with SNI_ENOENT; accepts the others with
 * the line number as target.  Checks the contract it is given. */
static int refuse_fn(void *ctx, const char *t, size_t len, unsigned line,
                     void **out) {
  refuser *z = ctx;
  z->calls++;
  assert_int_equal(t[len], 0);
  z->last_len = len;
  snprintf(z->last, sizeof z->last, "%s", t);
  if (!z->refuse || strcmp(t, z->refuse) == 0) return SNI_ENOENT;
  *out = (void *)(uintptr_t)line;
  return 0;
}

/* Load text from a heap buffer of exactly its length, nothing after it. */
static int load_exact(sni_router *r, const char *text, size_t len,
                      sni_map_resolve_fn fn, void *ctx) {
  char *b = len ? malloc(len) : NULL;
  if (len) {
    assert_non_null(b);
    memcpy(b, text, len);
  }
  int rc = sni_router_load_map(r, b, len, fn, ctx);
  free(b);
  return rc;
}

/* Load with a refuser and return the error message in msg. */
static int load_msg(const char *text, size_t len, const char *refuse,
                    char *msg, size_t cap) {
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  refuser z = {refuse, 0, 0, ""};
  int rc = load_exact(r, text, len, refuse_fn, &z);
  snprintf(msg, cap, "%s", sni_router_errmsg(r));
  sni_router_free(r);
  return rc;
}

/* The review's finding: the resolver refuses the last target of a buffer
 * that ends right after it.  The message quoted it with '%.64s', which
 * reads on until a NUL: past the end of the caller's buffer (ASan:
 * heap-buffer-overflow READ in snprintf). */
static void test_map_refused_last_target_exact_buffer(void **state) {
  (void)state;
  static const char text[] = "a.com spare";
  char msg[800];
  int rc = load_msg(text, sizeof text - 1, NULL, msg, sizeof msg);
  assert_int_equal(rc, SNI_ENOENT);
  assert_string_equal(msg, "line 1: target 'spare' refused: no such entry");
  /* the same behind other lines, with a CR line end and a trailing blank */
  static const char text2[] = "b.com ok\r\n\r\nc.com gone \r";
  rc = load_msg(text2, sizeof text2 - 1, "gone", msg, sizeof msg);
  assert_int_equal(rc, SNI_ENOENT);
  assert_string_equal(msg, "line 3: target 'gone' refused: no such entry");
}

/* Inside the buffer the old message was wrong rather than out of bounds:
 * it quoted the text after TARGET up to 64 bytes. */
static void test_map_refused_target_mid_buffer(void **state) {
  (void)state;
  static const char text[] = "a.com ok\nb.com bad alpn=h2\nc.com z\n";
  char msg[800];
  int rc = load_msg(text, sizeof text - 1, "bad", msg, sizeof msg);
  assert_int_equal(rc, SNI_ENOENT);
  assert_string_equal(msg, "line 2: target 'bad' refused: no such entry");
}

/* A quoted TARGET is cut at 64 bytes (marked) and its control bytes are
 * escaped as in pattern messages, so the message stays one line. */
static void test_map_refused_target_quoting(void **state) {
  (void)state;
  char text[256], msg[800], want[256];
  memcpy(text, "a.com ", 6);
  memset(text + 6, 'x', 100);
  int rc = load_msg(text, 106, NULL, msg, sizeof msg);
  assert_int_equal(rc, SNI_ENOENT);
  snprintf(want, sizeof want, "line 1: target '%.64s...' refused: ", text + 6);
  assert_memory_equal(msg, want, strlen(want));

  static const char esc[] = "a.com a\x1b[2Jb\\c";
  rc = load_msg(esc, sizeof esc - 1, NULL, msg, sizeof msg);
  assert_int_equal(rc, SNI_ENOENT);
  assert_string_equal(msg, "line 1: target 'a\\x1b[2Jb\\x5cc' refused: no "
                           "such entry");
}

/* A NUL in TARGET used to reach resolve (told a length strlen disagrees
 * with) or silently shorten the loader's own target string. */
static void test_map_nul_in_target(void **state) {
  (void)state;
  static const char text[] = "a.com ok\nb.com x\0y\n";
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(load_exact(r, text, sizeof text - 1, NULL, NULL),
                   SNI_EINVAL);
  assert_string_equal(sni_router_errmsg(r), "line 2: NUL byte in TARGET");
  /* lines before stay, as for every other error */
  assert_int_equal(sni_router_compile(r), 0);
  void *t = NULL;
  assert_int_equal(sni_router_match(r, "a.com", 5, NULL, 0, &t),
                   SNI_ROUTE_EXACT);
  assert_string_equal((const char *)t, "ok");
  assert_int_equal(sni_router_match(r, "b.com", 5, NULL, 0, &t), SNI_ENOENT);
  sni_router_free(r);

  refuser z = {"never", 0, 0, ""};
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(load_exact(r, text, sizeof text - 1, refuse_fn, &z),
                   SNI_EINVAL);
  assert_int_equal(z.calls, 1); /* only line 1 reached resolve */
  sni_router_free(r);
}

/* A conflict message quotes the ALPN name the two routes share; ALPN names
 * are any bytes (sni_router_add() takes them as given), so they are
 * escaped and the message stays one printable line. */
static void test_conflict_alpn_escaped(void **state) {
  (void)state;
  static const char *const proto[] = {"h2\nverdict=ok\\"};
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add(r, "a.com", proto, 1, (void *)"x"), 0);
  assert_int_equal(sni_router_add(r, "a.com", proto, 1, (void *)"y"), 0);
  assert_int_equal(sni_router_compile(r), SNI_ECONFLICT);
  const char *msg = sni_router_errmsg(r);
  assert_non_null(strstr(msg, "'h2\\x0averdict=ok\\x5c'"));
  for (const char *p = msg; *p; p++) assert_true(*p >= 0x20 && *p < 0x7f);
  sni_router_free(r);
}

/* Line numbers: a last line without '\n', CRLF, blank and comment lines. */
static void test_map_line_numbers(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"a.com x\n\n# c\nb.com", "line 4: missing TARGET"},
      {"a.com x\r\n\r\nb.com\r", "line 3: missing TARGET"},
      {"a.com x\r\n\r\nb.com\r\n", "line 3: missing TARGET"},
      {"\n\n\n\n*.a.*\tt", "line 5: pattern '*.a.*'"},
      {"a.com x alpn=h2 y", "line 1: too many fields"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sni_router *r = NULL;
    assert_int_equal(sni_router_create(&r, NULL), 0);
    int rc = load_exact(r, cases[i].text, strlen(cases[i].text), NULL, NULL);
    assert_true(rc < 0);
    const char *m = sni_router_errmsg(r);
    if (strncmp(m, cases[i].msg, strlen(cases[i].msg)) != 0)
      fail_msg("case %zu: '%s' does not start with '%s'", i, m, cases[i].msg);
    sni_router_free(r);
  }
}

/* CR: one before '\n' (or at the very end) ends the line; any other CR is
 * an ordinary byte of its field. */
static void test_map_cr_handling(void **state) {
  (void)state;
  refuser z = {"none", 0, 0, ""};
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(load_exact(r, "a.com x\r", 8, refuse_fn, &z), 1);
  assert_int_equal(z.last_len, 1);
  assert_string_equal(z.last, "x");
  assert_int_equal(load_exact(r, "b.com y\r\r\n", 10, refuse_fn, &z), 1);
  assert_int_equal(z.last_len, 2);
  assert_string_equal(z.last, "y\r");
  sni_router_free(r);
}

/* Empty and blank buffers add nothing and read nothing. */
static void test_map_empty_buffers(void **state) {
  (void)state;
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_load_map(r, NULL, 0, NULL, NULL), 0);
  assert_int_equal(sni_router_load_map(r, "a.com x", 0, NULL, NULL), 0);
  assert_int_equal(sni_router_load_map(r, NULL, 1, NULL, NULL), SNI_EINVAL);
  static const char *const blank[] = {"\n", "\r", "\r\n", " \t ", "#",
                                      "# only a comment", "\n\n \r\n#x\n"};
  for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++)
    assert_int_equal(load_exact(r, blank[i], strlen(blank[i]), NULL, NULL),
                     0);
  assert_string_equal(sni_router_errmsg(r), "");
  assert_int_equal(sni_router_compile(r), 0);
  sni_router_stats st;
  assert_int_equal(sni_router_get_stats(r, &st), 0);
  assert_int_equal(st.routes, 0);
  sni_router_free(r);
}

/* Very long lines: a 1 MiB pattern, a 100 KB target (resolve gets all of
 * it; the message quotes 64 bytes), a line of a million fields. */
static void test_map_very_long_lines(void **state) {
  (void)state;
  size_t big = 1u << 20;
  char *t = malloc(big + 16);
  assert_non_null(t);
  memset(t, 'a', big);
  memcpy(t + big, " x", 2);
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(load_exact(r, t, big + 2, NULL, NULL), SNI_EPATTERN);
  assert_true(strlen(sni_router_errmsg(r)) < 400);
  assert_non_null(strstr(sni_router_errmsg(r), "longer than 253"));

  size_t tl = 100000;
  memcpy(t, "a.com ", 6);
  memset(t + 6, 'T', tl);
  refuser z = {NULL, 0, 0, ""};
  assert_int_equal(load_exact(r, t, 6 + tl, refuse_fn, &z), SNI_ENOENT);
  assert_int_equal(z.last_len, tl);
  assert_non_null(strstr(sni_router_errmsg(r), "TTT...' refused"));
  z.refuse = "never";
  assert_int_equal(load_exact(r, t, 6 + tl, refuse_fn, &z), 1);
  assert_int_equal(z.last_len, tl);
  assert_int_equal(load_exact(r, t, 6 + tl, NULL, NULL), 1);

  for (size_t i = 0; i < big; i += 2) memcpy(t + i, "f ", 2);
  assert_int_equal(load_exact(r, t, big, NULL, NULL), SNI_EINVAL);
  assert_non_null(strstr(sni_router_errmsg(r), "too many fields"));
  free(t);
  sni_router_free(r);
}

/* Every prefix of a map, each in an exact-size buffer, with targets
 * refused, accepted or the loader's own: whatever the result, nothing is
 * read past the prefix (ASan) and the message names a line. */
static void test_map_every_prefix(void **state) {
  (void)state;
  static const char text[] =
      "# routes\r\n"
      "www.example.com   web\n"
      ".example.com      web2   alpn=h2,http/1.1\n"
      "*.example.org\torg # comment\n"
      "www.example.*     tail\r\n"
      "no_sni            nosni\n"
      "default           fallback";
  for (size_t n = 0; n < sizeof text; n++) {
    for (int mode = 0; mode < 3; mode++) {
      refuser z = {mode == 0 ? "web2" : "never", 0, 0, ""};
      sni_router *r = NULL;
      assert_int_equal(sni_router_create(&r, NULL), 0);
      int rc = load_exact(r, text, n, mode == 2 ? NULL : refuse_fn, &z);
      if (rc < 0) {
        const char *m = sni_router_errmsg(r);
        if (strncmp(m, "line ", 5) != 0)
          fail_msg("prefix %zu: message '%s'", n, m);
      }
      sni_router_free(r);
    }
  }
}

/* ---- sni_alpn_get on a corrupted hello ----------------------------------- */

/* An sni_hello on the heap, exactly its size: reading past h->alpn (the
 * last field) is a heap overflow that ASan reports. */
static sni_hello *heap_hello(void) {
  sni_hello *h = malloc(sizeof *h);
  assert_non_null(h);
  memset(h, 0, sizeof *h);
  return h;
}

static void test_alpn_get_corrupted_len(void **state) {
  (void)state;
  sni_hello *h = heap_hello();
  const uint8_t *name = NULL;
  size_t len = 0;
  /* alpn_len claims 255 bytes of a 128-byte array: the old walk followed
   * alpn[0] = 200 to alpn[201], 73 bytes past the end of the struct. */
  h->n_alpn = 255;
  h->alpn_len = 255;
  h->alpn[0] = 200;
  assert_int_equal(sni_alpn_get(h, 1, &name, &len), SNI_EINVAL);
  /* ...and handed out names that end past the array */
  h->alpn[0] = 127;
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), SNI_EINVAL);
  for (unsigned i = 0; i < 256; i++)
    assert_int_equal(sni_alpn_get(h, i, &name, &len), SNI_EINVAL);
  /* one byte over the capacity is enough */
  h->n_alpn = 1;
  h->alpn_len = SNI_CAP_ALPN_BYTES + 1;
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), SNI_EINVAL);
  /* the router refuses the same hello (the check this mirrors) */
  sni_router *r = NULL;
  assert_int_equal(sni_router_create(&r, NULL), 0);
  assert_int_equal(sni_router_add_special(r, SNI_ROUTE_DEFAULT, NULL, 0,
                                          (void *)"d"),
                   0);
  assert_int_equal(sni_router_compile(r), 0);
  void *t = NULL;
  assert_int_equal(sni_router_match_hello(r, h, 100, &t), SNI_EINVAL);

  /* exactly full is fine: one 127-byte name in 128 bytes */
  h->alpn_len = SNI_CAP_ALPN_BYTES;
  h->alpn[0] = SNI_CAP_ALPN_BYTES - 1;
  memset(h->alpn + 1, 'p', SNI_CAP_ALPN_BYTES - 1);
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), 0);
  assert_int_equal(len, SNI_CAP_ALPN_BYTES - 1);
  assert_ptr_equal(name, h->alpn + 1);
  assert_int_equal(sni_alpn_get(h, 1, &name, &len), SNI_ENOENT);
  assert_int_equal(sni_router_match_hello(r, h, 100, &t), SNI_ROUTE_DEFAULT);
  /* counts that disagree inside the array: not there */
  h->n_alpn = 3;
  h->alpn_len = 4;
  h->alpn[0] = 10;
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), SNI_ENOENT);
  h->alpn[0] = 1;
  h->alpn[2] = 5;
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), 0);
  assert_int_equal(sni_alpn_get(h, 1, &name, &len), SNI_ENOENT);
  assert_int_equal(sni_alpn_get(h, 2, &name, &len), SNI_ENOENT);

  /* a hello of garbage bytes */
  memset(h, 0xA5, sizeof *h);
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), SNI_EINVAL);
  assert_int_equal(sni_router_match_hello(r, h, 100, &t), SNI_EINVAL);
  sni_router_free(r);
  free(h);
}

/* The parser's own hellos still read back (a filled ALPN list). */
static void test_alpn_get_parsed(void **state) {
  (void)state;
  buf e = {0}, w = {0};
  ext_sni(&e, "a.example");
  const char *protos[] = {"h2", "http/1.1"};
  ext_alpn(&e, protos, 2);
  hello_spec s = {0};
  s.exts = &e;
  build_wire(&w, &s);
  sni_hello *h = heap_hello();
  assert_int_equal(sni_parse(h, w.p, w.n), (int)w.n);
  const uint8_t *name = NULL;
  size_t len = 0;
  assert_int_equal(h->n_alpn, 2);
  assert_int_equal(sni_alpn_get(h, 0, &name, &len), 0);
  assert_memory_equal(name, "h2", 2);
  assert_int_equal(len, 2);
  assert_int_equal(sni_alpn_get(h, 1, &name, &len), 0);
  assert_int_equal(len, 8);
  assert_memory_equal(name, "http/1.1", 8);
  assert_int_equal(sni_alpn_get(h, 2, &name, &len), SNI_ENOENT);
  free(h);
  b_free(&w);
  b_free(&e);
}

/* ---- parsers that were never initialised --------------------------------- */

static void check_uninitialised(uint8_t fill) {
  sni_parser p, copy;
  memset(&p, fill, sizeof p);
  memcpy(&copy, &p, sizeof p);
  static const uint8_t first = 0x16;
  assert_int_equal(sni_parser_feed(&p, &first, 1), SNI_EINVAL);
  assert_int_equal(sni_parser_feed(&p, NULL, 0), SNI_EINVAL);
  assert_int_equal(sni_parser_status(&p), SNI_EINVAL);
  assert_int_equal(sni_parser_need(&p), 0);
  /* refused without writing to it */
  assert_memory_equal(&p, &copy, sizeof p);
  /* init makes it usable */
  sni_hello h;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_status(&p), SNI_EAGAIN);
  assert_true(sni_parser_need(&p) >= 1);
  assert_int_equal(sni_parser_feed(&p, &first, 1), SNI_EAGAIN);
}

static void test_parser_uninitialised_zero(void **state) {
  (void)state;
  check_uninitialised(0x00);
}

/* Stack garbage: the old code returned the fill as a "sticky error". */
static void test_parser_uninitialised_garbage(void **state) {
  (void)state;
  check_uninitialised(0xA5);
  check_uninitialised(0xFF);
  check_uninitialised(0x01);
}

static void test_parser_null_arguments(void **state) {
  (void)state;
  sni_hello h;
  sni_parser p;
  static const uint8_t first = 0x16;
  assert_int_equal(sni_parser_init(NULL, &h, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_init(&p, NULL, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_feed(NULL, &first, 1), SNI_EINVAL);
  assert_int_equal(sni_parser_feed(NULL, NULL, 0), SNI_EINVAL);
  assert_int_equal(sni_parser_status(NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_need(NULL), 0);
  /* a failed init leaves p uninitialised, so it is still refused */
  memset(&p, 0xA5, sizeof p);
  assert_int_equal(sni_parser_init(&p, NULL, NULL), SNI_EINVAL);
  assert_int_equal(sni_parser_status(&p), SNI_EINVAL);
  sni_limits bad = {0, 0, 0x80000000u}; /* no such flag */
  assert_int_equal(sni_parser_init(&p, &h, &bad), SNI_EINVAL);
  assert_int_equal(sni_parser_feed(&p, &first, 1), SNI_EINVAL);
}

/* Every path of a real parse keeps the marker: a whole hello in one span,
 * a hello whose last byte comes later, completion and sticky errors all
 * still answer from the parse. */
static void test_parser_initialised_paths(void **state) {
  (void)state;
  buf e = {0}, w = {0};
  ext_sni(&e, "b.example");
  hello_spec s = {0};
  s.exts = &e;
  build_wire(&w, &s);
  sni_hello h;
  sni_parser p;
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n), (int)w.n);
  assert_int_equal(sni_parser_status(&p), (int)w.n);
  assert_int_equal(sni_parser_feed(&p, w.p, 1), 0);
  /* the last byte of the record in a second feed */
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n - 1), SNI_EAGAIN);
  assert_int_equal(sni_parser_need(&p), 1);
  assert_int_equal(sni_parser_feed(&p, w.p + w.n - 1, 1), 1);
  assert_int_equal(sni_parser_status(&p), (int)w.n);
  /* sticky error */
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, "GET ", 4), SNI_ENOTTLS);
  assert_int_equal(sni_parser_status(&p), SNI_ENOTTLS);
  /* a duplicate extension found inside a whole-hello span: the error is
   * sticky and comes from the parse */
  ext_sni(&e, "c.example");
  b_reset(&w);
  build_wire(&w, &s);
  assert_int_equal(sni_parser_init(&p, &h, NULL), 0);
  assert_int_equal(sni_parser_feed(&p, w.p, w.n), SNI_EPROTO);
  assert_int_equal(sni_parser_status(&p), SNI_EPROTO);
  assert_int_equal(sni_parser_feed(&p, w.p, 1), SNI_EPROTO);
  b_free(&w);
  b_free(&e);
}

/* The schema's hand-kept structure (lib/hs_schema.h): each schema starts
 * right after the previous one's end, lists are opened with SB_REPEAT
 * exactly when their entry schema ends with END_ENTRY of itself, fixed
 * parts fit the carry-over buffer, and the extension table is keyed by its
 * own slot hash with distinct duplicate bits.  A wrong edit of the table
 * fails here instead of mis-parsing. */
static void test_schema_consistent(void **state) {
  (void)state;
  const size_t n = sizeof sni_hs_schema / sizeof sni_hs_schema[0];
  for (unsigned s = 0; s < SS_COUNT; s++) {
    unsigned at = sni_hs_schema_start[s];
    assert_true(at < n);
    if (s > 0) {
      assert_true(at > sni_hs_schema_start[s - 1]);
      assert_int_equal(sni_hs_schema[at - 1].kind, SK_END);
    }
    unsigned end = at;
    while (sni_hs_schema[end].kind != SK_END) end++;
    if (s + 1 < SS_COUNT) assert_int_equal(end + 1, sni_hs_schema_start[s + 1]);
    else assert_int_equal(end + 1, n);
  }
  for (size_t i = 0; i < n; i++) {
    const sni_hs_elem *el = &sni_hs_schema[i];
    assert_true(el->pre + el->width <= SNI_HS_TMP);
    assert_true(el->item == 1 || el->item == 2);
    if (el->body != SB_SEQ && el->body != SB_REPEAT) continue;
    assert_true(el->arg < SS_COUNT);
    unsigned end = sni_hs_schema_start[el->arg];
    while (sni_hs_schema[end].kind != SK_END) end++;
    const sni_hs_elem *e = &sni_hs_schema[end];
    if (el->body == SB_REPEAT) {
      assert_true(e->flags & SF_REPEAT);
      assert_int_equal(e->arg, el->arg);
    } else {
      assert_false(e->flags & SF_REPEAT);
    }
  }
  for (unsigned i = 0; i < SL_COUNT; i++) {
    const sni_list_desc *d = &sni_hs_lists[i];
    assert_true(d->cap >= 1 && d->cap <= UINT8_MAX);
    assert_true(d->offn < sizeof(sni_hello) && d->off < sizeof(sni_hello));
  }
  uint32_t bits = 0;
  for (unsigned i = 0; i < SNI_HS_EXT_SLOTS; i++) {
    const sni_ext_rule *r = &sni_hs_ext_rules[i];
    if (r->schema == 0) continue;
    assert_int_equal(SNI_HS_EXT_SLOT(r->type), i);
    assert_true(r->bit < 16 && !(bits & (1u << r->bit)));
    bits |= 1u << r->bit;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_refused_last_target_exact_buffer),
      cmocka_unit_test(test_map_refused_target_mid_buffer),
      cmocka_unit_test(test_map_refused_target_quoting),
      cmocka_unit_test(test_map_nul_in_target),
      cmocka_unit_test(test_map_line_numbers),
      cmocka_unit_test(test_map_cr_handling),
      cmocka_unit_test(test_map_empty_buffers),
      cmocka_unit_test(test_map_very_long_lines),
      cmocka_unit_test(test_map_every_prefix),
      cmocka_unit_test(test_alpn_get_corrupted_len),
      cmocka_unit_test(test_alpn_get_parsed),
      cmocka_unit_test(test_parser_uninitialised_zero),
      cmocka_unit_test(test_parser_uninitialised_garbage),
      cmocka_unit_test(test_parser_null_arguments),
      cmocka_unit_test(test_parser_initialised_paths),
      cmocka_unit_test(test_schema_consistent),
      cmocka_unit_test(test_conflict_alpn_escaped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
