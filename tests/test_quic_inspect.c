/* sniroute-inspect on QUIC: --quic on our own capture's datagrams (every
 * key the output shares with truth.json must be equal), the same capture
 * as a pcap, and the third-party captures of ../shared/oracle/pcaps
 * against their expected.json when that folder exists (skipped cleanly
 * otherwise: it is not part of the repository).
 *
 *   sniroute-test-quic_inspect INSPECT VECTORS_DIR ORACLE_PCAPS_DIR */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "parser_util.h"

static const char *inspect, *vectors, *oracle;

/* Runs inspect with args; returns its stdout lines parsed, count in *n. */
static json_value *run(const char *args, size_t *n) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' %s", inspect, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  json_value *v = NULL;
  size_t cap = 0;
  *n = 0;
  static char line[1 << 16];
  while (fgets(line, sizeof line, p)) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 8;
      v = realloc(v, cap * sizeof *v);
      assert_non_null(v);
    }
    char err[128];
    if (json_parse(line, strlen(line), &v[*n], err, sizeof err) != 0)
      fail_msg("inspect printed invalid JSON: %s", err);
    (*n)++;
  }
  pclose(p);
  return v;
}

static void free_all(json_value *v, size_t n) {
  for (size_t i = 0; i < n; i++) json_free(&v[i]);
  free(v);
}

static int json_equal(const json_value *a, const json_value *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
  case JSON_NULL: return 1;
  case JSON_BOOL: return a->boolean == b->boolean;
  case JSON_INT: return a->integer == b->integer;
  case JSON_STRING: return a->str_len == b->str_len && !memcmp(a->str, b->str, a->str_len);
  case JSON_ARRAY:
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
      if (!json_equal(&a->items[i], &b->items[i])) return 0;
    return 1;
  default: return 0;
  }
}

static const json_value *get(const json_value *o, const char *k) {
  const json_value *v = json_get(o, k);
  if (!v) fail_msg("missing key %s", k);
  return v;
}

static void test_quic_datagrams_match_truth(void **state) {
  (void)state;
  char args[2048], path[1024];
  snprintf(path, sizeof path, "%s/063-chromium-quic/truth.json", vectors);
  size_t tl;
  uint8_t *tj = sni_file_load(path, SIZE_MAX, &tl);
  assert_non_null(tj);
  json_value t;
  char err[128];
  assert_int_equal(json_parse((const char *)tj, tl, &t, err, sizeof err), 0);
  const char *orders[2][2] = {{"0", "1"}, {"1", "0"}};
  for (int o = 0; o < 3; o++) {
    if (o < 2)
      snprintf(args, sizeof args, "--quic '%s/063-chromium-quic/initial-%s.bin' "
               "'%s/063-chromium-quic/initial-%s.bin'", vectors, orders[o][0], vectors,
               orders[o][1]);
    else /* the same datagrams as a capture */
      snprintf(args, sizeof args, "'%s/063-chromium-quic/datagrams.pcap'", vectors);
    size_t n;
    json_value *out = run(args, &n);
    assert_int_equal(n, 1);
    assert_string_equal(get(&out[0], "verdict")->str, "ok");
    assert_string_equal(get(&out[0], "transport")->str, "quic");
    unsigned shared = 0;
    for (size_t i = 0; i < t.n; i++) {
      const json_value *mine = json_get(&out[0], t.keys[i]);
      if (!mine) continue;
      if (!strcmp(t.keys[i], "transport")) continue;
      if (!json_equal(mine, &t.items[i])) fail_msg("%s differs from truth.json", t.keys[i]);
      shared++;
    }
    assert_true(shared >= 34); /* every ClientHello field, datagrams, wire_len */
    assert_int_equal(get(&out[0], "quic_version")->integer, get(&t, "quic_version")->integer);
    assert_string_equal(get(&out[0], "dcid")->str, get(&t, "quic_dcid")->str);
    assert_string_equal(get(&out[0], "scid")->str, get(&t, "quic_scid")->str);
    assert_int_equal(get(&out[0], "initial_packets")->integer, 2);
    free_all(out, n);
  }
  json_free(&t);
  free(tj);
}

static void hex4_list(const json_value *exp, const json_value *mine, const char *what) {
  assert_int_equal(exp->n, mine->n);
  for (size_t i = 0; i < exp->n; i++)
    if (strtol(exp->items[i].str, NULL, 16) != mine->items[i].integer)
      fail_msg("%s[%zu] differs", what, i);
}

/* The ECH outer extension (expected.json: null, or an object with type,
 * config_id, kdf, aead, enc_len, payload_len) against inspect's flat
 * ech_* keys. */
static void check_ech(const json_value *e, const json_value *m) {
  assert_int_equal(get(m, "ech")->boolean, e->type != JSON_NULL);
  if (e->type == JSON_NULL) return;
  static const char *const keys[] = {"config_id", "kdf", "aead", "enc_len",
                                     "payload_len"};
  assert_string_equal(get(m, "ech_type")->str, get(e, "type")->str);
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    char mine[32];
    snprintf(mine, sizeof mine, "ech_%s", keys[i]);
    assert_int_equal(get(m, mine)->integer, get(e, keys[i])->integer);
  }
}

/* One expected hello against the inspect line of the same flow. */
static void check_hello(const char *file, const json_value *e, const json_value *out, size_t n) {
  char want[32];
  snprintf(want, sizeof want, ":%lld -> ", get(e, "sport")->integer);
  const json_value *m = NULL;
  for (size_t i = 0; i < n; i++)
    if (strstr(get(&out[i], "flow")->str, want)) m = &out[i];
  if (!m) fail_msg("%s: no hello from port %lld", file, get(e, "sport")->integer);
  assert_string_equal(get(m, "verdict")->str, "ok");
  assert_string_equal(get(m, "transport")->str, get(e, "transport")->str);
  const json_value *sni = get(e, "sni");
  if (sni->type == JSON_NULL) assert_int_equal(get(m, "sni")->type, JSON_NULL);
  else assert_string_equal(get(m, "sni")->str, sni->str);
  assert_true(json_equal(get(m, "alpn"), get(e, "alpn")));
  assert_int_equal(get(m, "hello_len")->integer, get(e, "handshake_len")->integer);
  assert_string_equal(get(m, "ja3_md5")->str, get(e, "ja3_md5")->str);
  hex4_list(get(e, "extensions"), get(m, "extensions"), "extensions");
  hex4_list(get(e, "supported_versions"), get(m, "supported_versions"), "versions");
  check_ech(get(e, "ech"), m);
  if (strcmp(get(e, "transport")->str, "quic") != 0) return;
  long long v = !strcmp(get(e, "quic_version")->str, "v2") ? 0x6b3343cf : 1;
  assert_int_equal(get(m, "quic_version")->integer, v);
  assert_string_equal(get(m, "dcid")->str, get(e, "original_dcid")->str);
  assert_int_equal(get(m, "datagrams")->integer, get(e, "datagrams_with_crypto")->integer);
  assert_int_equal(get(m, "initial_packets")->integer,
                   get(e, "initial_packets_with_crypto")->integer);
}

static void test_oracle_captures(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/expected.json", oracle);
  size_t len;
  uint8_t *text = sni_file_load(path, SIZE_MAX, &len);
  if (!text) {
    print_message("%s not found (no ../shared/oracle next to the source tree): skipped\n",
                  path);
    skip();
  }
  json_value ex;
  char err[128];
  assert_int_equal(json_parse((const char *)text, len, &ex, err, sizeof err), 0);
  const json_value *caps = get(&ex, "captures");
  unsigned hellos = 0, quic = 0;
  for (size_t c = 0; c < caps->n; c++) {
    const char *file = get(&caps->items[c], "file")->str;
    const json_value *hs = get(&caps->items[c], "hellos");
    char args[2048];
    snprintf(args, sizeof args, "'%s/%s'", oracle, file);
    size_t n;
    json_value *out = run(args, &n);
    if (n != hs->n) fail_msg("%s: %zu hellos, expected %zu", file, n, hs->n);
    for (size_t i = 0; i < hs->n; i++) {
      check_hello(file, &hs->items[i], out, n);
      hellos++;
      quic += !strcmp(get(&hs->items[i], "transport")->str, "quic");
    }
    free_all(out, n);
  }
  print_message("%u hellos (%u over QUIC) equal to expected.json\n", hellos, quic);
  assert_true(quic >= 10);
  json_free(&ex);
  free(text);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s INSPECT VECTORS_DIR ORACLE_PCAPS_DIR\n", argv[0]);
    return 2;
  }
  inspect = argv[1];
  vectors = argv[2];
  oracle = argv[3];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_quic_datagrams_match_truth),
      cmocka_unit_test(test_oracle_captures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
