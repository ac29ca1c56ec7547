/* libFuzzer target for the map-file loader (sni_router_load_map).
 *
 * Input: byte 0 selects the resolver and allocator, byte 1 is their
 * parameter, the rest is the map text.  The text is copied into a heap
 * buffer of exactly its size with no NUL after it, so ASan reports any
 * read past the caller's span (error messages included).
 *
 *   byte 0 bits 0-1  resolver: 0 refuses targets whose first byte is odd,
 *                    1 refuses targets whose last byte equals byte 1,
 *                    2 accepts everything, 3 none (the loader's own
 *                    string targets)
 *   byte 0 bit 2     the allocator fails its (byte 1)-th call
 *
 * Checks: resolve sees a NUL-terminated target of the length it is told,
 * non-empty, without blanks, with non-decreasing line numbers; a refusal
 * aborts the load with the resolver's code and a message that names the
 * line and quotes exactly that target; every failure names its line;
 * messages are single printable lines; on success the count equals the
 * accepted targets; allocator failures give SNI_ENOMEM and nothing leaks.
 * After a successful load and compile, every exact pattern without ALPN
 * must route to its own line, and every first field is looked up (with
 * the line's ALPN list) through sni_router_match(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sniroute.h"

static void check(int cond) {
  if (!cond) abort();
}

/* ---- allocator that can fail and counts what is live ---------------- */

typedef struct {
  long calls, fail_at, live;
} fz_alloc;

static void *fz_alloc_fn(void *ctx, size_t n) {
  fz_alloc *a = ctx;
  if (a->calls++ == a->fail_at) return NULL;
  void *p = malloc(n ? n : 1);
  if (p) a->live++;
  return p;
}

static void fz_free_fn(void *ctx, void *p, size_t n) {
  fz_alloc *a = ctx;
  (void)n;
  if (!p) return;
  a->live--;
  free(p);
}

/* ---- resolver ------------------------------------------------------- */

typedef struct {
  unsigned mode;
  uint8_t param;
  unsigned last_line;
  unsigned accepted;
  int refused;                 /* the last call refused            */
  char last[80];               /* the refused target, if short     */
  size_t last_len;
} fz_resolve;

static int fz_resolve_fn(void *ctx, const char *t, size_t len, unsigned line,
                         void **out) {
  fz_resolve *z = ctx;
  check(t != NULL && len >= 1 && t[len] == 0 && strlen(t) == len);
  check(!memchr(t, ' ', len) && !memchr(t, '\t', len));
  check(line >= 1 && line >= z->last_line);
  z->last_line = line;
  int refuse = z->mode == 0   ? ((unsigned char)t[0] & 1u)
               : z->mode == 1 ? (unsigned char)t[len - 1] == z->param
                              : 0;
  if (refuse) {
    z->refused = 1;
    z->last_len = len;
    if (len < sizeof z->last) memcpy(z->last, t, len + 1);
    return SNI_ENOENT;
  }
  z->accepted++;
  /* Line numbers make targets checkable after compile. */
  *out = (void *)(uintptr_t)line;
  return 0;
}

static int printable(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* ---- lookups after a successful compile ----------------------------- */

/* Look up the first field of every line (with its alpn= list, packed as
 * on the wire).  max_line: targets are line numbers up to it (0: they are
 * the loader's strings).  by_line: every line was loaded, so an exact
 * pattern of a line without ALPN routes to that very line. */
static void fz_lookups(const sni_router *r, const char *text, size_t len,
                       uintptr_t max_line, int by_line) {
  unsigned line = 0;
  size_t pos = 0;
  while (pos < len) {
    line++;
    size_t eol = pos;
    while (eol < len && text[eol] != '\n') eol++;
    size_t end = eol;
    if (end > pos && text[end - 1] == '\r') end--;
    const char *f[3];
    size_t fl[3];
    int nf = 0;
    for (size_t i = pos; i < end && nf < 3;) {
      while (i < end && blank(text[i])) i++;
      if (i >= end || text[i] == '#') break;
      size_t s = i;
      while (i < end && !blank(text[i])) i++;
      f[nf] = text + s;
      fl[nf] = i - s;
      nf++;
    }
    pos = eol + 1;
    if (nf < 2) continue;
    uint8_t alpn[512];
    size_t alen = 0;
    if (nf == 3 && fl[2] > 5) {
      /* "alpn=a,b" -> 1 'a' 1 'b'; names over 255 bytes were refused */
      const char *s = f[2] + 5;
      size_t n = fl[2] - 5, st = 0;
      for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ',') continue;
        size_t l = i - st;
        if (l == 0 || l > 255 || alen + 1 + l > sizeof alpn) break;
        alpn[alen++] = (uint8_t)l;
        memcpy(alpn + alen, s + st, l);
        alen += l;
        st = i + 1;
      }
    }
    void *t = (void *)1;
    int k = sni_router_match(r, f[0], fl[0], alen ? alpn : NULL, alen, &t);
    check(k == SNI_ENOENT || k == SNI_EINVAL ||
          (k >= SNI_ROUTE_EXACT && k <= SNI_ROUTE_NO_SNI));
    if (k <= 0) check(t == NULL);
    /* targets are line numbers (or the loader's strings) */
    if (k > 0) check(max_line ? (uintptr_t)t >= 1 && (uintptr_t)t <= max_line
                              : t != NULL);
    int special = (fl[0] == 7 && (memcmp(f[0], "default", 7) == 0 ||
                                  memcmp(f[0], "not_tls", 7) == 0)) ||
                  (fl[0] == 6 && memcmp(f[0], "no_sni", 6) == 0);
    int exact = !special && fl[0] > 0 && f[0][0] != '.' &&
                !memchr(f[0], '*', fl[0]);
    if (by_line && exact && nf == 2) {
      void *t2 = NULL;
      check(sni_router_match(r, f[0], fl[0], NULL, 0, &t2) ==
                SNI_ROUTE_EXACT &&
            (uintptr_t)t2 == line);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  unsigned mode = data[0] & 3u;
  int failing = (data[0] & 4u) != 0;
  size_t len = size - 2;
  /* Exact size, nothing after it: a read past the span is a report. */
  char *text = len ? malloc(len) : NULL;
  if (len && !text) return 0;
  if (len) memcpy(text, data + 2, len);

  fz_alloc al = {0, failing ? (long)data[1] : -1, 0};
  sni_allocator a = {fz_alloc_fn, fz_free_fn, &al};
  fz_resolve z;
  memset(&z, 0, sizeof z);
  z.mode = mode;
  z.param = data[1];

  sni_router *r = NULL;
  int rc = sni_router_create(&r, &a);
  if (rc) {
    check(rc == SNI_ENOMEM && failing);
    free(text);
    return 0;
  }
  rc = sni_router_load_map(r, text, len, mode == 3 ? NULL : fz_resolve_fn,
                           &z);
  const char *msg = sni_router_errmsg(r);
  check(strlen(msg) < 768);
  if (rc >= 0) {
    check(!z.refused);
    if (mode != 3) check((unsigned)rc == z.accepted);
  } else {
    check(strncmp(msg, "line ", 5) == 0 && msg[5] >= '1' && msg[5] <= '9');
    check(printable(msg));
    check(rc == SNI_EINVAL || rc == SNI_EPATTERN || rc == SNI_ENOMEM ||
          (z.refused && rc == SNI_ENOENT));
    if (rc == SNI_ENOMEM) check(failing);
    if (z.refused) {
      check(rc == SNI_ENOENT && strstr(msg, "refused") != NULL);
      int plain = z.last_len <= 64 && z.last_len < sizeof z.last &&
                  printable(z.last) && !strchr(z.last, '\\');
      if (plain) {
        /* the quote holds exactly the target: nothing from behind it */
        char want[96];
        memcpy(want, "target '", 8);
        memcpy(want + 8, z.last, z.last_len);
        memcpy(want + 8 + z.last_len, "' refused", 10);
        check(strstr(msg, want) != NULL);
      }
    }
  }
  int crc = sni_router_compile(r);
  if (crc == 0) {
    fz_lookups(r, text, len, mode == 3 ? 0 : z.last_line,
               rc >= 0 && mode != 3);
    void *t = NULL;
    int k = sni_router_match_hello(r, NULL, SNI_ENOTTLS, &t);
    check(k == SNI_ENOENT || k == SNI_ROUTE_NOT_TLS || k == SNI_ROUTE_DEFAULT);
  } else {
    check(crc == SNI_ECONFLICT || (crc == SNI_ENOMEM && failing));
    void *t = (void *)1;
    check(sni_router_match(r, "a.com", 5, NULL, 0, &t) == SNI_EINVAL &&
          t == NULL);
  }
  sni_router_free(r);
  check(al.live == 0);
  free(text);
  return 0;
}
