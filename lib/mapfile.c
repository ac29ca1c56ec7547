/* Map-file loader: `PATTERN TARGET [alpn=a,b]` lines into a router under
 * construction.  Every error names its line. */
#include "sniroute.h"
#include "router_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int sni_map_blank(char c) { return c == ' ' || c == '\t'; }

static int sni_map_fail(sni_router *r, unsigned line, int rc,
                        const char *why) {
  sni_rt_seterr_line(r, line, why);
  return rc;
}

/* Split "a,b,c" into protocols of the route being built. */
static int sni_map_alpn(sni_router *r, const sni_rt_mark *m, const char *s,
                        size_t n, unsigned line) {
  size_t st = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != ',') continue;
    if (i == st)
      return sni_map_fail(r, line, SNI_EINVAL, "empty ALPN protocol name");
    if (i - st > 255)
      return sni_map_fail(r, line, SNI_EINVAL,
                          "ALPN protocol name longer than 255 bytes");
    int rc = sni_rt_push_proto(r, m, s + st, i - st);
    if (rc) return sni_map_fail(r, line, rc, "out of memory");
    st = i + 1;
  }
  return 0;
}

/* Declared in router_int.h. */
void sni_rt_show(char *out, const char *s, size_t n) {
  size_t o = 0;
  size_t m = n < SNI_RT_SHOW_MAX ? n : SNI_RT_SHOW_MAX;
  for (size_t i = 0; i < m; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      static const char hex[] = "0123456789abcdef";
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  if (m < n)
    for (int k = 0; k < 3; k++) out[o++] = '.';
  out[o] = 0;
}

/* Hand TARGET to resolve NUL-terminated: a stack copy when it is short,
 * else a temporary allocation. */
static int sni_map_target(sni_router *r, const char *t, size_t n,
                          sni_map_resolve_fn resolve, void *ctx,
                          unsigned line, void **out) {
  if (!resolve) {
    const char *c = sni_rt_strdup(r, t, n);
    if (!c) return sni_map_fail(r, line, SNI_ENOMEM, "out of memory");
    /* The target is the caller's opaque pointer; here it is our string. */
    *out = (void *)(uintptr_t)c;
    return 0;
  }
  char small[256];
  char *buf = small;
  if (n >= sizeof small) {
    buf = sni_rt_alloc(&r->a, n + 1);
    if (!buf) return sni_map_fail(r, line, SNI_ENOMEM, "out of memory");
  }
  memcpy(buf, t, n);
  buf[n] = 0;
  int rc = resolve(ctx, buf, n, line, out);
  if (buf != small) sni_rt_free(&r->a, buf, n + 1);
  if (rc < 0) {
    char shown[SNI_RT_SHOW_MAX * 4 + 4], why[SNI_RT_SHOW_MAX * 4 + 96];
    sni_rt_show(shown, t, n);
    snprintf(why, sizeof why, "target '%s' refused: %s", shown,
             sni_strerror(rc));
    return sni_map_fail(r, line, rc, why);
  }
  return 0;
}

int sni_router_load_map(sni_router *r, const char *text, size_t len,
                        sni_map_resolve_fn resolve, void *ctx) {
  if (!r || r->state != SNI_RT_BUILDING || (!text && len)) return SNI_EINVAL;
  r->err[0] = 0;
  int added = 0;
  unsigned line = 0;
  size_t pos = 0;
  while (pos < len) {
    /* Saturate rather than wrap to 0, which means "not from a map file". */
    if (line < UINT_MAX) line++;
    size_t eol = pos;
    while (eol < len && text[eol] != '\n') eol++;
    size_t end = eol;
    if (end > pos && text[end - 1] == '\r') end--;
    const char *tok[3];
    size_t tl[3];
    int nt = 0;
    for (size_t i = pos; i < end;) {
      while (i < end && sni_map_blank(text[i])) i++;
      if (i >= end || text[i] == '#') break;
      size_t s = i;
      while (i < end && !sni_map_blank(text[i])) i++;
      if (nt == 3)
        return sni_map_fail(r, line, SNI_EINVAL,
                            "too many fields (expected PATTERN TARGET "
                            "[alpn=PROTO,...])");
      tok[nt] = text + s;
      tl[nt] = i - s;
      nt++;
    }
    pos = eol + 1;
    if (nt == 0) continue;
    if (nt == 1)
      return sni_map_fail(r, line, SNI_EINVAL,
                          "missing TARGET (expected PATTERN TARGET "
                          "[alpn=PROTO,...])");
    sni_rt_mark m;
    sni_rt_begin(r, &m);
    if (nt == 3) {
      if (tl[2] < 5 || memcmp(tok[2], "alpn=", 5) != 0)
        return sni_map_fail(r, line, SNI_EINVAL,
                            "third field must be alpn=PROTO[,PROTO...]");
      int rc = sni_map_alpn(r, &m, tok[2] + 5, tl[2] - 5, line);
      if (rc) {
        sni_rt_rollback(r, &m);
        return rc;
      }
    }
    /* resolve gets TARGET as a C string and the default target is one:
     * a NUL inside would silently cut it short. */
    if (memchr(tok[1], 0, tl[1])) {
      sni_rt_rollback(r, &m);
      return sni_map_fail(r, line, SNI_EINVAL, "NUL byte in TARGET");
    }
    unsigned kind = 0;
    static const char *const sp[] = {"default", "no_sni", "not_tls"};
    for (unsigned k = 0; k < 3; k++)
      if (tl[0] == strlen(sp[k]) && memcmp(tok[0], sp[k], tl[0]) == 0)
        kind = SNI_RT_SP_DEFAULT + k;
    void *target = NULL;
    int rc = sni_map_target(r, tok[1], tl[1], resolve, ctx, line, &target);
    if (rc == 0)
      rc = sni_rt_commit(r, &m, kind, tok[0], tl[0], target, line);
    if (rc) {
      sni_rt_rollback(r, &m);
      return rc;
    }
    if (added < 0x7FFFFFFF) added++;
  }
  return added;
}

int sni_router_load_map_file(sni_router *r, const char *path,
                             sni_map_resolve_fn resolve, void *ctx) {
  if (!r || !path || r->state != SNI_RT_BUILDING) return SNI_EINVAL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    char why[192], msg[64];
    int e = errno;
    /* strerror() may use a static buffer; loaders can run in threads. */
    if (strerror_r(e, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", e);
    snprintf(why, sizeof why, "cannot open %.100s: %s", path, msg);
    sni_rt_seterr_line(r, 0, why);
    errno = e;
    return SNI_ESYS;
  }
  size_t cap = 0, n = 0;
  char *buf = NULL;
  int rc = 0;
  for (;;) {
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 65536;
      char *nb = sni_rt_alloc(&r->a, nc);
      if (!nb) {
        rc = SNI_ENOMEM;
        break;
      }
      if (buf) {
        memcpy(nb, buf, n);
        sni_rt_free(&r->a, buf, cap);
      }
      buf = nb;
      cap = nc;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) rc = SNI_ESYS;
      break;
    }
  }
  int e = errno;
  fclose(f);
  if (rc == 0) {
    rc = sni_router_load_map(r, buf, n, resolve, ctx);
  } else {
    sni_rt_seterr_line(r, 0, rc == SNI_ESYS ? "read error" : "out of memory");
    errno = e;
  }
  sni_rt_free(&r->a, buf, cap);
  return rc;
}
