/*
 * Structure-aware fuzzer: the input is not parsed but used as a source of
 * choices to *generate* a valid ClientHello (every extension the parser
 * interprets, lists over capacity, GREASE, PSK last, ECH inner/outer...),
 * cut it into records of random sizes and versions, and follow it with
 * junk.  The parse must succeed, report exactly the wire bytes of the
 * records, and produce an sni_hello equal (memcmp) to the one built here
 * from the generator's own model; a streaming parse at random splits must
 * agree.  Random bytes rarely get past the length checks, so this is what
 * reaches the deep extension states.
 *
 * Input: a stream of choices; when it runs out every further choice is 0,
 * so any input, even an empty one, yields a valid hello.
 */
#include "sniroute.h"
#include "fuzz_util.h"
#include "../tests/routing_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output buffer for the handshake message being generated. */
#define MAXMSG 60000u
typedef struct out {
  uint8_t b[MAXMSG];
  size_t n;
  int full; /* ran out of room: the input is dropped */
} out;

static void put8(out *o, unsigned v) {
  if (o->n < MAXMSG)
    o->b[o->n++] = (uint8_t)v;
  else
    o->full = 1;
}
static void put16(out *o, unsigned v) {
  put8(o, v >> 8);
  put8(o, v & 0xffu);
}
/* Reserves a 16-bit (w = 2) or 8-bit (w = 1) length, filled by close_len. */
static size_t open_len(out *o, int w) {
  size_t at = o->n;
  if (w == 2) put16(o, 0); else put8(o, 0);
  return at;
}
static void close_len(out *o, size_t at, int w) {
  if (o->full) return;
  size_t len = o->n - at - (size_t)w;
  if (w == 2) {
    o->b[at] = (uint8_t)(len >> 8);
    o->b[at + 1] = (uint8_t)len;
  } else {
    o->b[at] = (uint8_t)len;
  }
}

static int grease16(src *s) { return (int)(range(s, 0, 15) * 0x1010u + 0x0a0au); }

/* A 16-bit value, GREASE one time in eight so that the flag is exercised. */
static unsigned val16(src *s) {
  unsigned v = u16(s);
  return (v & 7u) == 7u ? (unsigned)grease16(s) : v;
}

/* Appends n 16-bit values to the wire and to arr (capacity cap). */
static void list16(src *s, out *o, sni_hello *h, unsigned n, uint16_t *arr,
                   uint8_t *cnt, unsigned cap, unsigned trunc, int g) {
  for (unsigned i = 0; i < n; i++) {
    unsigned v = val16(s);
    put16(o, v);
    if (*cnt < cap)
      arr[(*cnt)++] = (uint16_t)v;
    else
      h->truncated |= (uint16_t)trunc;
    if (g && sni_is_grease((uint16_t)v)) h->grease = 1;
  }
}

/* Reference classification of a server name, written independently of
 * the library's single pass: split into labels first, then judge. */
static void expect_name(sni_hello *h) {
  size_t n = h->sni_len;
  unsigned flags = 0;
  if (n > 0 && h->sni[n - 1] == '.') {
    flags |= SNI_NAME_TRAILING_DOT;
    n--;
  }
  for (size_t i = 0; i < n; i++) {
    char c = h->sni[i];
    h->sni_normalized[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  h->sni_normalized_len = (uint16_t)n;
  int bad = n == 0 || n > 253, colon = 0;
  size_t labels = 0, quad_ok = 1;
  size_t start = 0;
  int last_all_digits = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && h->sni[i] != '.') {
      unsigned char c = (unsigned char)h->sni[i];
      if (c == ':') colon = 1;
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_'))
        bad = 1;
      continue;
    }
    size_t len = i - start;
    unsigned digits = 0, value = 0;
    for (size_t j = start; j < i; j++)
      if (h->sni[j] >= '0' && h->sni[j] <= '9') {
        digits++;
        if (value < 1000) value = value * 10u + (unsigned)(h->sni[j] - '0');
      }
    if (len == 0 || len > 63) bad = 1;
    if (len == 0 || len > 3 || digits != len || value > 255) quad_ok = 0;
    last_all_digits = len > 0 && digits == len;
    labels++;
    start = i + 1;
  }
  if (last_all_digits) bad = 1;
  if (colon || (quad_ok && labels == 4)) flags |= SNI_NAME_IP_LITERAL;
  if (bad || (flags & SNI_NAME_IP_LITERAL)) flags |= SNI_NAME_NOT_HOSTNAME;
  h->name_flags = (uint8_t)flags;
}

enum { X_SNI, X_GROUPS, X_PF, X_SIGALGS, X_ALPN, X_DC, X_TICKET, X_EARLY,
       X_VERSIONS, X_SIGCERT, X_KS, X_ECH, X_OTHER, X_PSK, X_KINDS };
static const uint16_t x_type[X_KINDS] = {0, 10, 11, 13, 16, 34, 35, 42,
                                         43, 50, 51, 0xfe0d, 0, 41};

static int interpreted(unsigned t) {
  for (unsigned i = 0; i < X_KINDS; i++)
    if (i != X_OTHER && x_type[i] == t) return 1;
  return 0;
}

/* Writes one extension body of kind k and records what the parser must
 * report.  The caller has written the type and opened the length. */
static void ext_body(src *s, out *o, sni_hello *h, int k) {
  switch (k) {
  case X_SNI: {
    size_t l = open_len(o, 2);
    unsigned before = range(s, 0, 3) == 3 ? range(s, 1, 2) : 0;
    int host = before == 0 || (u8(s) & 3u) != 0;
    for (unsigned i = 0; i < before; i++) {
      put8(o, range(s, 1, 255));
      unsigned m = range(s, 0, 12);
      put16(o, m);
      for (unsigned j = 0; j < m; j++) put8(o, u8(s));
    }
    if (host) {
      unsigned m = 0;
      if ((u8(s) & 3u) == 0) {
        /* Address-like: dotted groups of mostly digits with the odd
         * stray byte, where IP-literal detection is easiest to get
         * wrong. */
        static const char odd[] = "/:a-\x00\xff";
        unsigned groups = range(s, 2, 5);
        for (unsigned g = 0; g < groups; g++) {
          unsigned gl = range(s, 0, 4);
          for (unsigned j = 0; j < gl && m < SNI_MAX_NAME; j++) {
            unsigned c = u8(s);
            h->sni[m++] = (c & 7u) == 7u ? odd[(c >> 3) % (sizeof odd - 1)]
                                         : (char)('0' + c % 10u);
          }
          if (g + 1 < groups || (u8(s) & 3u) == 0) h->sni[m++] = '.';
        }
        if (m == 0) h->sni[m++] = '1';
      } else {
        m = (u8(s) & 15u) == 0 ? range(s, 1, 255) : range(s, 1, 40);
        static const char alphabet[] = "abcXYZ019-_.:./\x00\xc3";
        for (unsigned j = 0; j < m; j++) {
          unsigned c = u8(s);
          h->sni[j] = c >= 0xf0 ? (char)c : alphabet[c % (sizeof alphabet - 1)];
        }
      }
      put8(o, 0);
      put16(o, m);
      for (unsigned j = 0; j < m; j++) put8(o, (uint8_t)h->sni[j]);
      h->sni_len = (uint16_t)m;
      h->sni_present = 1;
      expect_name(h);
    }
    close_len(o, l, 2);
    break;
  }
  case X_GROUPS: case X_SIGALGS: case X_DC: case X_SIGCERT: {
    size_t l = open_len(o, 2);
    unsigned n = range(s, 1, 40);
    if (k == X_GROUPS)
      list16(s, o, h, n, h->groups, &h->n_groups, SNI_CAP_GROUPS,
             SNI_TRUNC_GROUPS, 1);
    else if (k == X_SIGALGS)
      list16(s, o, h, n, h->sigalgs, &h->n_sigalgs, SNI_CAP_SIGALGS,
             SNI_TRUNC_SIGALGS, 0);
    else if (k == X_DC)
      list16(s, o, h, n, h->dc_sigalgs, &h->n_dc_sigalgs, SNI_CAP_DC_SIGALGS,
             SNI_TRUNC_DC_SIGALGS, 0);
    else
      list16(s, o, h, n, h->sigalgs_cert, &h->n_sigalgs_cert,
             SNI_CAP_SIGALGS_CERT, SNI_TRUNC_SIGALGS_CERT, 0);
    close_len(o, l, 2);
    break;
  }
  case X_VERSIONS: {
    size_t l = open_len(o, 1);
    unsigned n = range(s, 1, 20);
    list16(s, o, h, n, h->versions, &h->n_versions, SNI_CAP_VERSIONS,
           SNI_TRUNC_VERSIONS, 1);
    close_len(o, l, 1);
    break;
  }
  case X_PF: {
    size_t l = open_len(o, 1);
    unsigned n = range(s, 1, 12);
    for (unsigned i = 0; i < n; i++) {
      unsigned v = u8(s);
      put8(o, v);
      if (h->n_point_formats < SNI_CAP_POINT_FORMATS)
        h->point_formats[h->n_point_formats++] = (uint8_t)v;
      else
        h->truncated |= SNI_TRUNC_POINT_FORMATS;
    }
    close_len(o, l, 1);
    break;
  }
  case X_ALPN: {
    size_t l = open_len(o, 2);
    unsigned n = range(s, 1, 12);
    for (unsigned i = 0; i < n; i++) {
      unsigned m = (u8(s) & 7u) == 0 ? range(s, 1, 255) : range(s, 1, 16);
      put8(o, m);
      int keep = !(h->truncated & SNI_TRUNC_ALPN) &&
                 h->alpn_len + 1u + m <= SNI_CAP_ALPN_BYTES;
      if (keep) {
        h->alpn[h->alpn_len] = (uint8_t)m;
        h->n_alpn++;
      } else {
        h->truncated |= SNI_TRUNC_ALPN;
      }
      for (unsigned j = 0; j < m; j++) {
        unsigned c = u8(s);
        put8(o, c);
        if (keep) h->alpn[h->alpn_len + 1u + j] = (uint8_t)c;
      }
      if (keep) h->alpn_len = (uint8_t)(h->alpn_len + 1u + m);
    }
    close_len(o, l, 2);
    break;
  }
  case X_TICKET: {
    unsigned m = (u8(s) & 1u) ? 0 : range(s, 1, 300);
    for (unsigned j = 0; j < m; j++) put8(o, u8(s));
    h->session_ticket = 1;
    h->session_ticket_len = (uint16_t)m;
    break;
  }
  case X_EARLY:
    h->early_data = 1;
    break;
  case X_KS: {
    size_t l = open_len(o, 2);
    unsigned n = range(s, 0, 10);
    for (unsigned i = 0; i < n; i++) {
      unsigned g = val16(s);
      unsigned m = (u8(s) & 7u) == 0 ? 1216u : range(s, 1, 133);
      put16(o, g);
      put16(o, m);
      for (unsigned j = 0; j < m; j++) put8(o, u8(s));
      if (h->n_key_shares < SNI_CAP_KEY_SHARES) {
        h->key_share_groups[h->n_key_shares] = (uint16_t)g;
        h->key_share_lengths[h->n_key_shares] = (uint16_t)m;
        h->n_key_shares++;
      } else {
        h->truncated |= SNI_TRUNC_KEY_SHARES;
      }
    }
    close_len(o, l, 2);
    break;
  }
  case X_ECH:
    h->ech = 1;
    if (u8(s) & 1u) {
      put8(o, 1);
      h->ech_type = 1;
    } else {
      put8(o, 0);
      h->ech_kdf = (uint16_t)u16(s);
      h->ech_aead = (uint16_t)u16(s);
      h->ech_config_id = (uint8_t)u8(s);
      put16(o, h->ech_kdf);
      put16(o, h->ech_aead);
      put8(o, h->ech_config_id);
      unsigned enc = range(s, 0, 64), pay = range(s, 1, 300);
      put16(o, enc);
      for (unsigned j = 0; j < enc; j++) put8(o, u8(s));
      put16(o, pay);
      for (unsigned j = 0; j < pay; j++) put8(o, u8(s));
      h->ech_enc_len = (uint16_t)enc;
      h->ech_payload_len = (uint16_t)pay;
    }
    break;
  case X_OTHER: {
    unsigned m = range(s, 0, 100);
    for (unsigned j = 0; j < m; j++) put8(o, u8(s));
    break;
  }
  case X_PSK: {
    unsigned n = range(s, 1, 4);
    size_t l = open_len(o, 2);
    for (unsigned i = 0; i < n; i++) {
      unsigned m = range(s, 1, 60);
      put16(o, m);
      for (unsigned j = 0; j < m + 4u; j++) put8(o, u8(s));
    }
    close_len(o, l, 2);
    l = open_len(o, 2);
    for (unsigned i = 0; i < n; i++) {
      unsigned m = range(s, 32, 48);
      put8(o, m);
      for (unsigned j = 0; j < m; j++) put8(o, u8(s));
    }
    close_len(o, l, 2);
    h->psk = 1;
    h->psk_identities = (uint16_t)n;
    break;
  }
  default:
    break;
  }
}

static void report_diff(const sni_hello *a, const sni_hello *b) {
  const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
  for (size_t i = 0; i < sizeof *a; i++)
    if (x[i] != y[i]) {
      fprintf(stderr, "sni_hello differs at offset %zu: want %02x got %02x\n",
              i, x[i], y[i]);
      return;
    }
}

static uint32_t xs(uint32_t *st) {
  uint32_t x = *st;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *st = x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static out msg;
  static uint8_t wire[MAXMSG * 6 + 64];
  src s = {data, size, 0};
  sni_hello *want = calloc(1, sizeof *want);
  sni_hello *got = malloc(sizeof *got);
  sni_hello *got2 = malloc(sizeof *got2);
  CHECK(want && got && got2);
  msg.n = 0;
  msg.full = 0;

  /* ---- the handshake message ---- */
  out *o = &msg;
  put8(o, 1);
  put8(o, 0);
  put16(o, 0); /* 24-bit length, patched below */
  want->legacy_version = (uint16_t)(0x0300u | u8(&s));
  put16(o, want->legacy_version);
  for (unsigned i = 0; i < 32; i++) {
    want->random[i] = (uint8_t)u8(&s);
    put8(o, want->random[i]);
  }
  want->session_id_len = (uint8_t)range(&s, 0, 32);
  put8(o, want->session_id_len);
  for (unsigned i = 0; i < want->session_id_len; i++) put8(o, u8(&s));
  size_t l = open_len(o, 2);
  list16(&s, o, want, (u8(&s) & 7u) == 0 ? range(&s, 1, 200) : range(&s, 1, 20),
         want->cipher_suites, &want->n_ciphers, SNI_CAP_CIPHERS,
         SNI_TRUNC_CIPHERS, 1);
  close_len(o, l, 2);
  unsigned nc = range(&s, 1, 10);
  put8(o, nc);
  for (unsigned i = 0; i < nc; i++) {
    unsigned v = u8(&s);
    put8(o, v);
    if (want->n_compression < SNI_CAP_COMPRESSION)
      want->compression[want->n_compression++] = (uint8_t)v;
    else
      want->truncated |= SNI_TRUNC_COMPRESSION;
  }
  unsigned ctl = u8(&s);
  if (ctl != 0xff) { /* 0xff: old client without an extensions block */
    size_t exts = open_len(o, 2);
    unsigned n = range(&s, 0, 48);
    int used_kind[X_KINDS] = {0};
    uint16_t used_other[64];
    unsigned n_other = 0;
    int psk = 0;
    for (unsigned i = 0; i < n; i++) {
      int k = (int)range(&s, 0, X_KINDS - 1);
      if (k == X_PSK) {
        psk = 1; /* must be last: written after the loop */
        continue;
      }
      /* A kind already used becomes an unknown type, so that hellos do
       * get past SNI_CAP_EXTENSIONS extensions. */
      if (k != X_OTHER && used_kind[k]) k = X_OTHER;
      unsigned type = x_type[k];
      if (k == X_OTHER) {
        type = (u8(&s) & 1u) ? (unsigned)grease16(&s) : u16(&s);
        int dup = interpreted(type);
        for (unsigned j = 0; j < n_other; j++)
          if (used_other[j] == type) dup = 1;
        if (dup || n_other == 64) continue;
        used_other[n_other++] = (uint16_t)type;
      } else {
        used_kind[k] = 1;
      }
      put16(o, type);
      size_t el = open_len(o, 2);
      ext_body(&s, o, want, k);
      close_len(o, el, 2);
      if (want->n_extensions < SNI_CAP_EXTENSIONS) {
        want->extensions[want->n_extensions] = (uint16_t)type;
        want->extension_lengths[want->n_extensions] =
            (uint16_t)(o->n - el - 2u);
        want->n_extensions++;
      } else {
        want->truncated |= SNI_TRUNC_EXTENSIONS;
      }
      if (sni_is_grease((uint16_t)type)) want->grease = 1;
    }
    if (psk) {
      put16(o, 41);
      size_t el = open_len(o, 2);
      ext_body(&s, o, want, X_PSK);
      close_len(o, el, 2);
      if (want->n_extensions < SNI_CAP_EXTENSIONS) {
        want->extensions[want->n_extensions] = 41;
        want->extension_lengths[want->n_extensions] = (uint16_t)(o->n - el - 2u);
        want->n_extensions++;
      } else {
        want->truncated |= SNI_TRUNC_EXTENSIONS;
      }
    }
    close_len(o, exts, 2);
  }
  if (o->full || o->n - 4u > 0xffffu) goto done;
  size_t body = o->n - 4u;
  o->b[1] = (uint8_t)(body >> 16);
  o->b[2] = (uint8_t)(body >> 8);
  o->b[3] = (uint8_t)body;
  want->hello_len = (uint32_t)o->n;
  uint16_t maxv = 0;
  for (unsigned i = 0; i < want->n_versions; i++)
    if (!sni_is_grease(want->versions[i]) && want->versions[i] > maxv)
      maxv = want->versions[i];
  want->max_version = maxv ? maxv : want->legacy_version;

  /* ---- records ---- */
  uint32_t seed = (uint32_t)u16(&s) * 2654435761u | 1u;
  unsigned rmode = u8(&s) & 3u;
  size_t w = 0, at = 0;
  while (at < o->n) {
    size_t k;
    switch (rmode) {
    case 0: k = 16384; break;
    case 1: k = 1 + xs(&seed) % 16384u; break;
    case 2: k = 1 + xs(&seed) % 64u; break;
    default: k = (xs(&seed) & 3u) ? 1 : 1 + xs(&seed) % 600u; break;
    }
    if (k > o->n - at) k = o->n - at;
    unsigned ver = 0x0300u | (xs(&seed) & 0xffu);
    if (want->records == 0) want->record_version = (uint16_t)ver;
    if (want->n_record_list < SNI_CAP_RECORDS) {
      want->record_versions[want->n_record_list] = (uint16_t)ver;
      want->record_lengths[want->n_record_list] = (uint16_t)k;
      want->n_record_list++;
    } else {
      want->truncated |= SNI_TRUNC_RECORDS;
    }
    want->records++;
    wire[w++] = 0x16;
    wire[w++] = (uint8_t)(ver >> 8);
    wire[w++] = (uint8_t)ver;
    wire[w++] = (uint8_t)(k >> 8);
    wire[w++] = (uint8_t)k;
    memcpy(wire + w, o->b + at, k);
    w += k;
    at += k;
  }
  want->wire_len = (uint32_t)w;
  /* What a client may send next: never part of the hello. */
  unsigned junk = range(&s, 0, 20);
  for (unsigned i = 0; i < junk; i++) wire[w + i] = (uint8_t)u8(&s);
  size_t total = w + junk;

  /* Hellos over the default limit need explicit limits to be accepted. */
  sni_limits lim = {(1u << 24) + 3u, 0, 0};
  const sni_limits *limp = want->hello_len > SNI_DEFAULT_MAX_HELLO ? &lim : NULL;

  uint8_t *copy = malloc(total);
  CHECK(copy);
  memcpy(copy, wire, total);
  int rc = sni_parse_ex(got, copy, total, limp);
  free(copy);
  if (rc != (int)w || memcmp(want, got, sizeof *want) != 0) {
    fprintf(stderr, "rc %d want %zu\n", rc, w);
    report_diff(want, got);
    abort();
  }

  /* Streaming at random splits, each chunk an exact-size copy. */
  sni_parser p;
  CHECK(sni_parser_init(&p, got2, limp) == 0);
  size_t off = 0;
  int fin = 0;
  while (off < total) {
    size_t k = (xs(&seed) & 7u) == 0 ? 1 + xs(&seed) % 1460u
                                     : 1 + xs(&seed) % 16u;
    if (k > total - off) k = total - off;
    uint8_t *c = malloc(k);
    CHECK(c);
    memcpy(c, wire + off, k);
    int r = sni_parser_feed(&p, c, k);
    free(c);
    if (fin) {
      CHECK(r == 0);
    } else if (r == SNI_EAGAIN) {
      CHECK(off + k < w);
      CHECK(sni_parser_need(&p) >= 1 && sni_parser_need(&p) <= w - off - k);
    } else {
      CHECK(r > 0 && off + (size_t)r == w);
      fin = 1;
    }
    off += k;
  }
  CHECK(fin);
  CHECK(sni_parser_status(&p) == (int)w);
  CHECK(sni_parser_need(&p) == 0);
  if (memcmp(want, got2, sizeof *want) != 0) {
    report_diff(want, got2);
    abort();
  }

  /* Routing-only, one shot and in TCP segments: the same verdict, the
   * routing fields of the full parse, nothing else. */
  sni_limits rl = limp ? *limp : (sni_limits){0, 0, 0};
  rl.flags = SNI_PARSE_ROUTING_ONLY;
  CHECK(sni_parse_ex(got2, wire, total, &rl) == (int)w);
  const char *d = routing_differs(want, got2);
  if (d) fprintf(stderr, "routing-only differs in %s\n", d);
  CHECK(d == NULL);
  CHECK(sni_parser_init(&p, got, &rl) == 0);
  int rr = SNI_EAGAIN;
  for (off = 0; off < total && rr == SNI_EAGAIN; off += 1460u) {
    size_t k = total - off < 1460u ? total - off : 1460u;
    uint8_t *c = malloc(k);
    CHECK(c);
    memcpy(c, wire + off, k);
    rr = sni_parser_feed(&p, c, k);
    free(c);
    if (rr > 0) rr = (int)(off + (size_t)rr);
  }
  CHECK(rr == (int)w);
  CHECK(memcmp(got, got2, sizeof *got) == 0);
done:
  free(want);
  free(got);
  free(got2);
  return 0;
}
