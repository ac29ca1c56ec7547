#include "parser_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SNI_TEST_DATA
#error "SNI_TEST_DATA must name the vectors directory"
#endif

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    abort();
  }
  return p;
}

uint8_t *dup_exact(const void *p, size_t n) {
  uint8_t *d = xmalloc(n);
  if (n) memcpy(d, p, n);
  return d;
}

uint8_t *corpus_file(const char *name, const char *file, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", SNI_TEST_DATA, name, file);
  return sni_file_load(path, SIZE_MAX, len);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(((const vec *)a)->name, ((const vec *)b)->name);
}

size_t corpus_load(vec **out) {
  DIR *d = opendir(SNI_TEST_DATA);
  *out = NULL;
  if (!d) {
    fprintf(stderr, "cannot open %s\n", SNI_TEST_DATA);
    return (size_t)-1;
  }
  size_t n = 0, cap = 0;
  vec *v = NULL;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (strlen(de->d_name) >= sizeof v->name) continue;
    size_t wl, tl;
    uint8_t *wire = corpus_file(de->d_name, "hello.bin", &wl);
    if (!wire) continue; /* not a case directory */
    uint8_t *tj = corpus_file(de->d_name, "truth.json", &tl);
    if (!tj) {
      fprintf(stderr, "%s: hello.bin without truth.json\n", de->d_name);
      free(wire);
      goto fail;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 32;
      vec *nv = realloc(v, cap * sizeof *v);
      if (!nv) abort();
      v = nv;
    }
    vec *c = &v[n];
    memset(c, 0, sizeof *c);
    memcpy(c->name, de->d_name, strlen(de->d_name) + 1); /* length checked */
    c->wire = wire;
    c->wire_len = wl;
    char err[256];
    int rc = json_parse((const char *)tj, tl, &c->truth, err, sizeof err);
    free(tj);
    n++;
    if (rc) {
      fprintf(stderr, "%s/truth.json: %s\n", de->d_name, err);
      goto fail;
    }
  }
  closedir(d);
  if (n) qsort(v, n, sizeof *v, cmp_names);
  *out = v;
  return n;
fail:
  closedir(d);
  corpus_free(v, n);
  return (size_t)-1;
}

void corpus_free(vec *v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) {
    free(v[i].wire);
    json_free(&v[i].truth);
  }
  free(v);
}

int parse_copy(sni_hello *h, const uint8_t *p, size_t n,
               const sni_limits *lim) {
  if (n == 0) return sni_parse_ex(h, NULL, 0, lim);
  uint8_t *c = dup_exact(p, n);
  int rc = sni_parse_ex(h, c, n, lim);
  free(c);
  return rc;
}

int feed_bytewise(sni_hello *h, const uint8_t *p, size_t n,
                  const sni_limits *lim, size_t *at) {
  sni_parser sp;
  int rc = sni_parser_init(&sp, h, lim);
  if (rc) return rc;
  rc = SNI_EAGAIN;
  for (size_t i = 0; i < n; i++) {
    uint8_t *one = dup_exact(p + i, 1);
    rc = sni_parser_feed(&sp, one, 1);
    free(one);
    if (rc != SNI_EAGAIN) {
      if (at) *at = i;
      return rc;
    }
  }
  if (at) *at = n;
  return rc;
}

size_t deframe(const uint8_t *wire, size_t n, uint8_t *hs, size_t cap,
               size_t *hs_to_wire) {
  size_t off = 0, got = 0, want = 0;
  while (off + 5 <= n) {
    if (wire[off] != 0x16 || wire[off + 1] != 3) return 0;
    size_t rl = (size_t)wire[off + 3] << 8 | wire[off + 4];
    if (rl == 0 || off + 5 + rl > n) return 0;
    for (size_t i = 0; i < rl; i++) {
      if (got >= cap) return 0;
      if (hs_to_wire) hs_to_wire[got] = off + 5 + i;
      hs[got++] = wire[off + 5 + i];
    }
    off += 5 + rl;
    if (want == 0 && got >= 4)
      want = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
    if (want && got >= want) return got == want ? got : 0;
  }
  return 0;
}

/* ---- builder ------------------------------------------------------------ */

void b_put(buf *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->n + n > cap) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) abort();
    b->p = np;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, src, n);
  b->n += n;
}

void b_u8(buf *b, unsigned v) {
  uint8_t x = (uint8_t)v;
  b_put(b, &x, 1);
}

void b_u16(buf *b, unsigned v) {
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  b_put(b, x, 2);
}

void b_u24(buf *b, unsigned long v) {
  uint8_t x[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  b_put(b, x, 3);
}

size_t b_open(buf *b, int width) {
  size_t at = b->n;
  static const uint8_t zero[3] = {0, 0, 0};
  b_put(b, zero, (size_t)width);
  return at;
}

void b_close(buf *b, size_t at, int width) {
  size_t len = b->n - at - (size_t)width;
  for (int i = width - 1; i >= 0; i--) {
    b->p[at + (size_t)i] = (uint8_t)len;
    len >>= 8;
  }
}

void b_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

void b_reset(buf *b) { b->n = 0; }

void ext_raw(buf *e, uint16_t type, const void *data, size_t len) {
  b_u16(e, type);
  b_u16(e, (unsigned)len);
  b_put(e, data, len);
}

void ext_sni_n(buf *e, const char *name, size_t len) {
  b_u16(e, 0);
  size_t ext = b_open(e, 2);
  size_t list = b_open(e, 2);
  b_u8(e, 0); /* host_name */
  b_u16(e, (unsigned)len);
  b_put(e, name, len);
  b_close(e, list, 2);
  b_close(e, ext, 2);
}

void ext_sni(buf *e, const char *name) { ext_sni_n(e, name, strlen(name)); }

void ext_alpn(buf *e, const char *const *names, size_t n) {
  b_u16(e, 16);
  size_t ext = b_open(e, 2);
  size_t list = b_open(e, 2);
  for (size_t i = 0; i < n; i++) {
    size_t l = strlen(names[i]);
    b_u8(e, (unsigned)l);
    b_put(e, names[i], l);
  }
  b_close(e, list, 2);
  b_close(e, ext, 2);
}

void ext_u16list(buf *e, uint16_t type, int len_width, const uint16_t *v,
                 size_t n) {
  b_u16(e, type);
  size_t ext = b_open(e, 2);
  size_t list = b_open(e, len_width);
  for (size_t i = 0; i < n; i++) b_u16(e, v[i]);
  b_close(e, list, len_width);
  b_close(e, ext, 2);
}

void build_handshake(buf *hs, const hello_spec *s) {
  static const uint16_t def_cipher = 0x1301;
  static const uint8_t def_comp = 0;
  b_u8(hs, 1);
  size_t len = b_open(hs, 3);
  b_u16(hs, s->legacy_version ? s->legacy_version : 0x0303);
  for (int i = 0; i < 32; i++) b_u8(hs, s->random_fill);
  b_u8(hs, s->sid_len);
  for (unsigned i = 0; i < s->sid_len; i++) b_u8(hs, 0x55);
  const uint16_t *cs = s->ciphers ? s->ciphers : &def_cipher;
  size_t ncs = s->ciphers ? s->n_ciphers : 1;
  b_u16(hs, (unsigned)(2 * ncs));
  for (size_t i = 0; i < ncs; i++) b_u16(hs, cs[i]);
  const uint8_t *cm = s->comp ? s->comp : &def_comp;
  size_t ncm = s->comp ? s->n_comp : 1;
  b_u8(hs, (unsigned)ncm);
  b_put(hs, cm, ncm);
  if (!s->no_extensions) {
    size_t el = b_open(hs, 2);
    if (s->exts) b_put(hs, s->exts->p, s->exts->n);
    b_close(hs, el, 2);
  }
  b_close(hs, len, 3);
}

void frame_records(buf *wire, const uint8_t *hs, size_t n, size_t rec_max) {
  for (size_t off = 0; off < n;) {
    size_t k = n - off < rec_max ? n - off : rec_max;
    b_u8(wire, 0x16);
    b_u16(wire, 0x0301);
    b_u16(wire, (unsigned)k);
    b_put(wire, hs + off, k);
    off += k;
  }
}

void build_wire(buf *wire, const hello_spec *s) {
  buf hs = {0};
  build_handshake(&hs, s);
  frame_records(wire, hs.p, hs.n, 16384);
  b_free(&hs);
}

/* ---- PRNG (splitmix64: tiny, seedable, good enough for test inputs) ---- */

uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

size_t rng_range(rng *r, size_t lo, size_t hi) {
  return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* ---- walker ---------------------------------------------------------------- */

typedef struct walk {
  const uint8_t *hs;
  size_t n;
  lenfield *f;
  size_t fcap, nf;
  int bad;
} walk;

static size_t w_len(walk *w, size_t off, int width) {
  if (off + (size_t)width > w->n) {
    w->bad = 1;
    return 0;
  }
  size_t v = 0;
  for (int i = 0; i < width; i++) v = v << 8 | w->hs[off + (size_t)i];
  return v;
}

/* Records the field at off and returns its value. */
static size_t w_field(walk *w, field_kind k, size_t off, int width,
                      size_t end, uint16_t ext, int last, const char *what) {
  size_t v = w_len(w, off, width);
  if (w->bad) return 0;
  if (end < off + (size_t)width || off + (size_t)width + v > end) {
    w->bad = 1;
    return 0;
  }
  if (w->nf < w->fcap) {
    lenfield *x = &w->f[w->nf];
    x->kind = k;
    x->off = off;
    x->width = width;
    x->value = v;
    x->room = end - off - (size_t)width;
    x->ext = ext;
    x->last = last;
    x->what = what;
  }
  w->nf++;
  return v;
}

/* A list of entries, each a width-byte length and its bytes, preceded by
 * `pre` fixed bytes and followed by `post` fixed bytes. */
static void w_entries(walk *w, size_t off, size_t end, size_t pre, int width,
                      size_t post, uint16_t ext, const char *what) {
  while (!w->bad && off < end) {
    size_t at = off + pre;
    size_t v = w_len(w, at, width);
    size_t next = at + (size_t)width + v + post;
    if (w->bad || next > end) {
      w->bad = 1;
      return;
    }
    w_field(w, F_ENTRY, at, width, end - post, ext, next == end, what);
    off = next;
  }
}

static void w_ext(walk *w, uint16_t type, size_t d, size_t end) {
  size_t l;
  switch (type) {
  case 0:
    l = w_field(w, F_LIST, d, 2, end, type, 1, "server_name list");
    if (d + 2 + l != end) w->bad = 1;
    w_entries(w, d + 2, end, 1, 2, 0, type, "host_name");
    break;
  case 16:
    l = w_field(w, F_LIST, d, 2, end, type, 1, "ALPN list");
    if (d + 2 + l != end) w->bad = 1;
    w_entries(w, d + 2, end, 0, 1, 0, type, "ALPN name");
    break;
  case 10: case 13: case 34: case 50:
    l = w_field(w, F_LIST, d, 2, end, type, 1, "16-bit list");
    if (d + 2 + l != end) w->bad = 1;
    break;
  case 11: case 43:
    l = w_field(w, F_LIST, d, 1, end, type, 1, "8-bit-length list");
    if (d + 1 + l != end) w->bad = 1;
    break;
  case 51:
    l = w_field(w, F_LIST, d, 2, end, type, 1, "client_shares");
    if (d + 2 + l != end) w->bad = 1;
    w_entries(w, d + 2, end, 2, 2, 0, type, "key_exchange");
    break;
  case 41: {
    size_t ids = w_field(w, F_PSK_IDS, d, 2, end, type, 0, "PSK identities");
    size_t ids_end = d + 2 + ids;
    w_entries(w, d + 2, ids_end, 0, 2, 4, type, "PSK identity");
    l = w_field(w, F_LIST, ids_end, 2, end, type, 1, "PSK binders");
    if (ids_end + 2 + l != end) w->bad = 1;
    w_entries(w, ids_end + 2, end, 0, 1, 0, type, "PSK binder");
    break;
  }
  case 0xfe0d:
    if (d < end && w->hs[d] == 0) {
      size_t enc = w_field(w, F_ECH_ENC, d + 6, 2, end, type, 0, "ECH enc");
      size_t p = d + 8 + enc;
      l = w_field(w, F_LIST, p, 2, end, type, 1, "ECH payload");
      if (p + 2 + l != end) w->bad = 1;
    }
    break;
  default:
    break;
  }
}

size_t hello_walk(const uint8_t *hs, size_t n, lenfield *f, size_t fcap,
                  extloc *e, size_t ecap, size_t *n_ext) {
  walk w = {hs, n, f, fcap, 0, 0};
  size_t ne = 0;
  if (n < 4 || hs[0] != 1) return 0;
  size_t body = w_field(&w, F_HS_LEN, 1, 3, n, 0, 0, "handshake length");
  if (w.bad || body + 4 != n) return 0;
  size_t off = 4 + 2 + 32;
  off += 1 + w_field(&w, F_SID, off, 1, n, 0, 0, "session id");
  off += 2 + w_field(&w, F_CS, off, 2, n, 0, 0, "cipher suites");
  off += 1 + w_field(&w, F_COMP, off, 1, n, 0, 0, "compression");
  if (!w.bad && off < n) {
    size_t el = w_field(&w, F_EXTS, off, 2, n, 0, 0, "extensions block");
    off += 2;
    if (off + el != n) w.bad = 1;
    while (!w.bad && off < n) {
      uint16_t type = (uint16_t)w_len(&w, off, 2);
      size_t len = w_len(&w, off + 2, 2);
      size_t end = off + 4 + len;
      if (w.bad || end > n) {
        w.bad = 1;
        break;
      }
      w_field(&w, F_EXT, off + 2, 2, n, type, end == n, "extension");
      if (e && ne < ecap) {
        e[ne].type = type;
        e[ne].off = off + 4;
        e[ne].len = len;
      }
      ne++;
      w_ext(&w, type, off + 4, end);
      off = end;
    }
  }
  if (w.bad || (f && w.nf > fcap)) return 0;
  if (n_ext) *n_ext = ne;
  return w.nf;
}

vec *corpus;
size_t n_corpus;

int corpus_setup(void **state) {
  (void)state;
  n_corpus = corpus_load(&corpus);
  return n_corpus == (size_t)-1 ? -1 : 0;
}

int corpus_teardown(void **state) {
  (void)state;
  corpus_free(corpus, n_corpus);
  return 0;
}

