/* Property test: the router against a deliberately naive matcher written
 * from the semantics table in sniroute.h (string compares, level by level,
 * no hashing), on random tables and names.  Seeded and reproducible: set
 * SNI_PROPERTY_SEED to replay a failure; the seed is printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sniroute.h"

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}
static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

enum { K_EXACT, K_STAR, K_DOT, K_TAIL, K_DEFAULT, K_NOSNI };

typedef struct {
  int kind;
  char lit[100];   /* lowercase literal (no '*', no leading/trailing dot) */
  int nalpn;
  const char *alpn[3];
} nroute;

static const char *const label_pool[] = {"a", "b", "c", "xn--d1",
                                         "e-f", "g_h", "0a", "7"};
static const char *const proto_pool[] = {"h2", "http/1.1", "acme-tls/1",
                                         "x"};

/* ---- the naive matcher ------------------------------------------------ */

/* Rule 1 and rule 10: lowercase, one trailing dot off, then is it a host
 * name?  Returns 0 and the normalised name, or -1 for "no_sni". */
static int naive_normalize(const char *in, char *out) {
  size_t n = strlen(in);
  if (n > 0 && in[n - 1] == '.') n--;
  if (n == 0 || n > 253) return -1;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    out[i] = c;
  }
  out[n] = 0;
  /* split on dots and check each label */
  const char *p = out;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t l = dot ? (size_t)(dot - p) : strlen(p);
    if (l == 0 || l > 63) return -1;
    int digits = 1;
    for (size_t i = 0; i < l; i++) {
      char c = p[i];
      int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_';
      if (!ok) return -1;
      if (c < '0' || c > '9') digits = 0;
    }
    if (!dot) return digits ? -1 : 0;
    p = dot + 1;
  }
}

static int has_proto(const nroute *r, const char *p) {
  for (int i = 0; i < r->nalpn; i++)
    if (strcmp(r->alpn[i], p) == 0) return 1;
  return 0;
}

/* Rule 9 for one level given as a list of route indexes.  Returns the
 * route index or -1. */
static int naive_level(const nroute *rt, const int *lv, int nlv,
                       const char *const *client, int nclient) {
  for (int c = 0; c < nclient; c++)
    for (int i = 0; i < nlv; i++)
      if (has_proto(&rt[lv[i]], client[c])) return lv[i];
  for (int i = 0; i < nlv; i++)
    if (rt[lv[i]].nalpn == 0) return lv[i];
  return -1;
}

static int naive_special(const nroute *rt, int n, int kind,
                         const char *const *client, int nclient) {
  int lv[256], nlv = 0;
  if (kind == K_NOSNI) {
    for (int i = 0; i < n; i++)
      if (rt[i].kind == K_NOSNI) lv[nlv++] = i;
    int r = naive_level(rt, lv, nlv, client, nclient);
    if (r >= 0) return r;
    nlv = 0;
  }
  for (int i = 0; i < n; i++)
    if (rt[i].kind == K_DEFAULT) lv[nlv++] = i;
  return naive_level(rt, lv, nlv, client, nclient);
}

/* Rule 8, literally: exact; suffixes longest first (the name itself only
 * for `.s`); tails longest first; default. */
static int naive_match(const nroute *rt, int n, const char *name,
                       const char *const *client, int nclient) {
  char nm[400];
  if (naive_normalize(name, nm)) return naive_special(rt, n, K_NOSNI, client,
                                                      nclient);
  int lv[256], nlv = 0, r;
  for (int i = 0; i < n; i++)
    if (rt[i].kind == K_EXACT && strcmp(rt[i].lit, nm) == 0) lv[nlv++] = i;
  if ((r = naive_level(rt, lv, nlv, client, nclient)) >= 0) return r;
  /* suffixes: the whole name, then after each dot from the left */
  const char *s = nm;
  for (int first = 1; s; first = 0) {
    nlv = 0;
    for (int i = 0; i < n; i++)
      if (strcmp(rt[i].lit, s) == 0 &&
          (rt[i].kind == K_DOT || (rt[i].kind == K_STAR && !first)))
        lv[nlv++] = i;
    if ((r = naive_level(rt, lv, nlv, client, nclient)) >= 0) return r;
    s = strchr(s, '.');
    if (s) s++;
  }
  /* tails: prefixes ending before a dot, longest first */
  for (size_t l = strlen(nm); l-- > 0;) {
    if (nm[l] != '.') continue;
    nlv = 0;
    for (int i = 0; i < n; i++)
      if (rt[i].kind == K_TAIL && strlen(rt[i].lit) == l &&
          strncmp(rt[i].lit, nm, l) == 0)
        lv[nlv++] = i;
    if ((r = naive_level(rt, lv, nlv, client, nclient)) >= 0) return r;
  }
  return naive_special(rt, n, K_DEFAULT, client, nclient);
}

/* Rule 13: same level, both without ALPN, or one protocol twice. */
static int naive_conflicts(const nroute *a, const nroute *b) {
  int ga = a->kind == K_STAR ? K_DOT : a->kind;
  int gb = b->kind == K_STAR ? K_DOT : b->kind;
  if (ga != gb || strcmp(a->lit, b->lit) != 0) return 0;
  if (a->nalpn == 0 && b->nalpn == 0) return 1;
  for (int i = 0; i < a->nalpn; i++)
    if (has_proto(b, a->alpn[i])) return 1;
  return 0;
}

/* ---- generators ------------------------------------------------------- */

static void gen_name(char *out, unsigned maxlabels) {
  unsigned nl = 1 + rn(maxlabels);
  out[0] = 0;
  for (unsigned i = 0; i < nl; i++) {
    if (i) strcat(out, ".");
    strcat(out, label_pool[rn(8)]);
  }
}

static void gen_route(nroute *r) {
  unsigned k = rn(100);
  r->kind = k < 55 ? K_EXACT : k < 70 ? K_STAR : k < 85 ? K_DOT
            : k < 95 ? K_TAIL : k < 98 ? K_DEFAULT : K_NOSNI;
  r->lit[0] = 0;
  if (r->kind <= K_TAIL) {
    do {
      gen_name(r->lit, 3);
      const char *last = strrchr(r->lit, '.');
      last = last ? last + 1 : r->lit;
      /* an all-digit last label would be refused (rule 10) */
      if (r->kind == K_TAIL || strcmp(last, "7") != 0) break;
    } while (1);
  }
  r->nalpn = 0;
  if (rn(100) < 30) {
    int want = 1 + (int)rn(2);
    for (int i = 0; i < want; i++) {
      const char *p = proto_pool[rn(4)];
      if (!has_proto(r, p)) r->alpn[r->nalpn++] = p;
    }
  }
}

/* The pattern text as a user might write it: any case, maybe a trailing
 * dot. */
static void pattern_text(const nroute *r, char *out) {
  switch (r->kind) {
  case K_EXACT: sprintf(out, "%s", r->lit); break;
  case K_STAR: sprintf(out, "*.%s", r->lit); break;
  case K_DOT: sprintf(out, ".%s", r->lit); break;
  default: sprintf(out, "%s.*", r->lit); break;
  }
  for (char *p = out; *p; p++)
    if (*p >= 'a' && *p <= 'z' && rn(4) == 0) *p = (char)(*p - 32);
  if (rn(5) == 0) strcat(out, ".");
}

static void gen_query(char *out) {
  unsigned k = rn(100);
  gen_name(out, 5);
  for (char *p = out; *p; p++)
    if (*p >= 'a' && *p <= 'z' && rn(3) == 0) *p = (char)(*p - 32);
  if (k < 10) strcat(out, ".");
  else if (k < 12) strcat(out, "..");
  else if (k < 14) {
    size_t l = strlen(out);
    memmove(out + 1, out, l + 1);
    out[0] = '.';
  } else if (k < 15) strcat(out, ".a b");
  else if (k < 16) out[0] = 0;
}

static int add_route(sni_router *r, const nroute *rt, int idx) {
  void *target = (void *)(uintptr_t)(idx + 1);
  if (rt->kind == K_DEFAULT)
    return sni_router_add_special(r, SNI_ROUTE_DEFAULT, rt->alpn,
                                  (size_t)rt->nalpn, target);
  if (rt->kind == K_NOSNI)
    return sni_router_add_special(r, SNI_ROUTE_NO_SNI, rt->alpn,
                                  (size_t)rt->nalpn, target);
  char pat[320];
  pattern_text(rt, pat);
  int rc = sni_router_add(r, pat, rt->alpn, (size_t)rt->nalpn, target);
  if (rc) fail_msg("add '%s': %s", pat, sni_router_errmsg(r));
  return rc;
}

/* ---- the property ----------------------------------------------------- */

static void test_router_vs_naive(void **state) {
  (void)state;
  uint64_t seed = 0x5EED2024u;
  const char *env = getenv("SNI_PROPERTY_SEED");
  if (env) seed = strtoull(env, NULL, 0);
  rng_state = seed;
  printf("SNI_PROPERTY_SEED=0x%llx\n", (unsigned long long)seed);
  long queries = 0, conflict_tables = 0, hits = 0;
  static nroute rt[256];
  for (int table = 0; table < 200; table++) {
    int want = 1 + (int)rn(table % 4 == 0 ? 8 : 120);
    int n = 0;
    /* every 5th table keeps conflicting routes: the build must refuse it
     * exactly when the naive rule finds a conflict */
    int keep_conflicts = table % 5 == 4;
    int expect_conflict = 0;
    while (n < want) {
      gen_route(&rt[n]);
      int c = 0;
      for (int j = 0; j < n && !c; j++) c = naive_conflicts(&rt[j], &rt[n]);
      if (c && !keep_conflicts) continue;
      expect_conflict |= c;
      n++;
    }
    sni_router *r = NULL;
    assert_int_equal(sni_router_create(&r, NULL), 0);
    for (int i = 0; i < n; i++) assert_int_equal(add_route(r, &rt[i], i), 0);
    int rc = sni_router_compile(r);
    if (expect_conflict) {
      if (rc != SNI_ECONFLICT)
        fail_msg("seed 0x%llx table %d: conflict not found",
                 (unsigned long long)seed, table);
      conflict_tables++;
      sni_router_free(r);
      continue;
    }
    if (rc) fail_msg("seed 0x%llx table %d: %s", (unsigned long long)seed,
                     table, sni_router_errmsg(r));
    for (int q = 0; q < 1000; q++) {
      char name[512];
      /* half the queries are built around a pattern of the table, so that
       * deep levels and near misses are common */
      if (q % 2 && n) {
        const nroute *p = &rt[rn((unsigned)n)];
        char pre[100];
        gen_name(pre, 2);
        switch (rn(4)) {
        case 0: snprintf(name, sizeof name, "%s", p->lit); break;
        case 1: snprintf(name, sizeof name, "%s.%s", pre, p->lit); break;
        case 2: snprintf(name, sizeof name, "%s.%s", p->lit, pre); break;
        default: snprintf(name, sizeof name, "%s%s", pre, p->lit); break;
        }
      } else {
        gen_query(name);
      }
      const char *client[4];
      int nclient = (int)rn(4);
      for (int c = 0; c < nclient; c++)
        client[c] = rn(6) == 0 ? "zz" : proto_pool[rn(4)];
      uint8_t wire[64];
      size_t wl = 0;
      for (int c = 0; c < nclient; c++) {
        size_t l = strlen(client[c]);
        wire[wl++] = (uint8_t)l;
        memcpy(wire + wl, client[c], l);
        wl += l;
      }
      int want_idx = naive_match(rt, n, name, client, nclient);
      void *t = NULL;
      int got = sni_router_match(r, name, strlen(name), wire, wl, &t);
      int got_idx = got > 0 ? (int)(uintptr_t)t - 1 : -1;
      if (got <= 0 && got != SNI_ENOENT) fail_msg("match rc %d", got);
      if (got_idx != want_idx) {
        char cl[64] = "";
        for (int c = 0; c < nclient; c++) {
          strcat(cl, client[c]);
          strcat(cl, ",");
        }
        fail_msg("seed 0x%llx table %d name '%s' alpn '%s': router %d, "
                 "naive %d (kind %d '%s')",
                 (unsigned long long)seed, table, name, cl, got_idx,
                 want_idx, want_idx >= 0 ? rt[want_idx].kind : -1,
                 want_idx >= 0 ? rt[want_idx].lit : "");
      }
      hits += want_idx >= 0;
      queries++;
    }
    sni_router_free(r);
  }
  printf("%ld queries (%ld routed), %ld conflicting tables refused\n",
         queries, hits, conflict_tables);
  assert_true(queries >= 100000);
  /* the generator must exercise both outcomes */
  assert_true(hits > queries / 4 && hits < queries - queries / 20);
  assert_true(conflict_tables > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_router_vs_naive),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
