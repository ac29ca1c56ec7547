/*
 * sniroute-inspect: print what sniroute sees in the first bytes of a TCP
 * stream, one JSON object per input, with the key names of the corpus
 * truth.json files so outputs can be diffed against an independent
 * dissector.
 *
 *   sniroute-inspect [--chunk N] [FILE...]     (no FILE: read stdin)
 *   sniroute-inspect --routes MAPFILE [FILE...]
 *   sniroute-inspect --routes MAPFILE --match NAME... [--alpn a,b,...]
 *
 * --chunk N feeds the streaming parser N bytes at a time; the output must
 * not change (that is the point of the option).
 *
 * --routes MAPFILE adds "route" (the map file's target string, or null) to
 * each object.  With --match, no input is read: each NAME's target (or
 * "-") is printed on its own line, in order, as routed with the ALPN list
 * of --alpn (one --alpn applies to every --match).
 */
#include <sniroute.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md5.h"

/* A ClientHello is at most 2^24 + 3 bytes plus record headers; the default
 * limit is 16 KiB, so 1 MiB of input is plenty. */
#define MAX_INPUT (1u << 20)

typedef struct out_buf {
  char *s;
  size_t len, cap;
} out_buf;

static void ob_put(out_buf *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->cap) {
    size_t cap = o->cap ? o->cap : 4096;
    while (o->len + n + 1 > cap) cap *= 2;
    char *ns = realloc(o->s, cap);
    if (!ns) {
      fputs("sniroute-inspect: out of memory\n", stderr);
      exit(2);
    }
    o->s = ns;
    o->cap = cap;
  }
  memcpy(o->s + o->len, s, n);
  o->len += n;
  o->s[o->len] = '\0';
}

static void ob_str(out_buf *o, const char *s) { ob_put(o, s, strlen(s)); }

static void ob_fmt(out_buf *o, const char *fmt, unsigned long v) {
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, fmt, v);
  if (n > 0) ob_put(o, tmp, (size_t)n);
}

/* JSON string from raw bytes: printable ASCII as is, everything else as
 * \u00XX (a byte-for-byte view, not a UTF-8 decoding). */
static void ob_json_bytes(out_buf *o, const void *data, size_t n) {
  const unsigned char *b = data;
  ob_put(o, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    if (b[i] == '"' || b[i] == '\\') {
      char esc[2] = {'\\', (char)b[i]};
      ob_put(o, esc, 2);
    } else if (b[i] >= 0x20 && b[i] < 0x7f) {
      ob_put(o, (const char *)b + i, 1);
    } else {
      ob_fmt(o, "\\u%04lx", b[i]);
    }
  }
  ob_put(o, "\"", 1);
}

static void key(out_buf *o, const char *k) {
  if (o->len > 1) ob_str(o, ", ");
  ob_put(o, "\"", 1);
  ob_str(o, k);
  ob_str(o, "\": ");
}

static void kv_num(out_buf *o, const char *k, unsigned long v) {
  key(o, k);
  ob_fmt(o, "%lu", v);
}

static void kv_bool(out_buf *o, const char *k, int v) {
  key(o, k);
  ob_str(o, v ? "true" : "false");
}

static void kv_list16(out_buf *o, const char *k, const uint16_t *v, unsigned n) {
  key(o, k);
  ob_str(o, "[");
  for (unsigned i = 0; i < n; i++) ob_fmt(o, i ? ", %lu" : "%lu", v[i]);
  ob_str(o, "]");
}

static void kv_list8(out_buf *o, const char *k, const uint8_t *v, unsigned n) {
  key(o, k);
  ob_str(o, "[");
  for (unsigned i = 0; i < n; i++) ob_fmt(o, i ? ", %lu" : "%lu", v[i]);
  ob_str(o, "]");
}

/* JA3 as tshark prints it: GREASE values are left out of every list. */
static void ja3_list16(out_buf *o, const uint16_t *v, unsigned n) {
  int first = 1;
  for (unsigned i = 0; i < n; i++) {
    if (sni_is_grease(v[i])) continue;
    ob_fmt(o, first ? "%lu" : "-%lu", v[i]);
    first = 0;
  }
}

static void ja3(const sni_hello *h, out_buf *o) {
  ob_fmt(o, "%lu,", h->legacy_version);
  ja3_list16(o, h->cipher_suites, h->n_ciphers);
  ob_str(o, ",");
  ja3_list16(o, h->extensions, h->n_extensions);
  ob_str(o, ",");
  ja3_list16(o, h->groups, h->n_groups);
  ob_str(o, ",");
  for (unsigned i = 0; i < h->n_point_formats; i++)
    ob_fmt(o, i ? "-%lu" : "%lu", h->point_formats[i]);
}

static void hello_json(out_buf *o, const char *file, int rc, const sni_hello *h) {
  ob_str(o, "{");
  key(o, "file");
  ob_json_bytes(o, file, strlen(file));
  key(o, "verdict");
  ob_json_bytes(o, rc > 0 ? "ok" : sni_errname(rc), strlen(rc > 0 ? "ok" : sni_errname(rc)));
  if (rc <= 0 && rc != SNI_ESSLV2) {
    ob_str(o, "}");
    return;
  }
  key(o, "sni");
  if (h->sni_present)
    ob_json_bytes(o, h->sni, h->sni_len);
  else
    ob_str(o, "null");
  kv_bool(o, "sni_present", h->sni_present);
  key(o, "sni_normalized");
  if (h->sni_present)
    ob_json_bytes(o, h->sni_normalized, h->sni_normalized_len);
  else
    ob_str(o, "null");
  kv_bool(o, "sni_trailing_dot", h->name_flags & SNI_NAME_TRAILING_DOT);
  kv_bool(o, "sni_not_hostname", h->name_flags & SNI_NAME_NOT_HOSTNAME);
  kv_bool(o, "sni_ip_literal", h->name_flags & SNI_NAME_IP_LITERAL);
  key(o, "alpn");
  ob_str(o, "[");
  for (unsigned i = 0; i < h->n_alpn; i++) {
    const uint8_t *name;
    size_t len;
    if (sni_alpn_get(h, i, &name, &len) != 0) break;
    if (i) ob_str(o, ", ");
    ob_json_bytes(o, name, len);
  }
  ob_str(o, "]");
  kv_num(o, "legacy_version", h->legacy_version);
  kv_num(o, "max_version", h->max_version);
  kv_num(o, "record_version", h->record_version);
  kv_bool(o, "sslv2", h->sslv2);
  kv_list16(o, "supported_versions", h->versions, h->n_versions);
  kv_list16(o, "cipher_suites", h->cipher_suites, h->n_ciphers);
  kv_list8(o, "compression_methods", h->compression, h->n_compression);
  kv_list16(o, "extensions", h->extensions, h->n_extensions);
  kv_list16(o, "extension_lengths", h->extension_lengths, h->n_extensions);
  kv_list16(o, "groups", h->groups, h->n_groups);
  kv_list16(o, "key_share_groups", h->key_share_groups, h->n_key_shares);
  kv_list16(o, "key_share_lengths", h->key_share_lengths, h->n_key_shares);
  kv_list16(o, "signature_algorithms", h->sigalgs, h->n_sigalgs);
  kv_list16(o, "signature_algorithms_cert", h->sigalgs_cert, h->n_sigalgs_cert);
  kv_list16(o, "delegated_credentials_sig_algs", h->dc_sigalgs, h->n_dc_sigalgs);
  kv_list8(o, "ec_point_formats", h->point_formats, h->n_point_formats);
  kv_num(o, "session_id_len", h->session_id_len);
  kv_bool(o, "session_ticket", h->session_ticket);
  kv_bool(o, "psk", h->psk);
  kv_num(o, "psk_identities", h->psk_identities);
  kv_bool(o, "early_data", h->early_data);
  kv_bool(o, "ech", h->ech);
  if (h->ech) {
    key(o, "ech_type");
    ob_str(o, h->ech_type == 0 ? "\"outer\"" : "\"inner\"");
    if (h->ech_type == 0) {
      kv_num(o, "ech_kdf", h->ech_kdf);
      kv_num(o, "ech_aead", h->ech_aead);
      kv_num(o, "ech_config_id", h->ech_config_id);
      kv_num(o, "ech_enc_len", h->ech_enc_len);
      kv_num(o, "ech_payload_len", h->ech_payload_len);
    }
  }
  kv_bool(o, "grease", h->grease);
  if (rc > 0) {
    out_buf j = {0};
    ja3(h, &j);
    key(o, "ja3_full");
    ob_json_bytes(o, j.s ? j.s : "", j.len);
    uint8_t d[16];
    sni_example_md5(j.s ? j.s : "", j.len, d);
    char hex[33];
    for (unsigned i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    key(o, "ja3_md5");
    ob_json_bytes(o, hex, 32);
    free(j.s);
  }
  kv_num(o, "hello_len", h->hello_len);
  kv_num(o, "wire_len", h->wire_len);
  kv_num(o, "records", h->records);
  kv_list16(o, "record_lengths", h->record_lengths, h->n_record_list);
  kv_list16(o, "record_versions", h->record_versions, h->n_record_list);
  char rnd[65];
  for (unsigned i = 0; i < 32; i++) snprintf(rnd + 2 * i, 3, "%02x", h->random[i]);
  key(o, "random");
  ob_json_bytes(o, rnd, 64);
  kv_num(o, "truncated", h->truncated);
  ob_str(o, "}");
}

static int read_all(FILE *f, unsigned char **out, size_t *len) {
  size_t cap = 65536, n = 0;
  unsigned char *b = malloc(cap);
  if (!b) return -1;
  for (;;) {
    if (n == cap) {
      if (cap >= MAX_INPUT) break; /* only the first bytes matter */
      cap *= 2;
      unsigned char *nb = realloc(b, cap);
      if (!nb) { free(b); return -1; }
      b = nb;
    }
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  if (ferror(f)) { free(b); return -1; }
  *out = b;
  *len = n;
  return 0;
}

/* Parse buf one-shot (chunk == 0) or through the streaming parser. */
static int parse(sni_hello *h, const unsigned char *buf, size_t len, size_t chunk) {
  if (chunk == 0) return sni_parse(h, buf, len);
  sni_parser p;
  int rc = sni_parser_init(&p, h, NULL);
  if (rc) return rc;
  size_t off = 0;
  rc = SNI_EAGAIN;
  while (off < len) {
    size_t k = len - off < chunk ? len - off : chunk;
    rc = sni_parser_feed(&p, buf + off, k);
    if (rc != SNI_EAGAIN) break;
    off += k;
  }
  /* The streaming answer is the bytes of the last chunk; report the total
   * like sni_parse() does. */
  return rc > 0 ? sni_parser_status(&p) : rc;
}

static void usage(void) {
  fputs("usage: sniroute-inspect [--chunk N] [--routes MAPFILE] [FILE...]\n"
        "       sniroute-inspect --routes MAPFILE --match NAME... "
        "[--alpn a,b,...]\n"
        "  Prints one JSON object per FILE (or stdin) with the ClientHello\n"
        "  fields found in the first bytes of a TCP stream.\n"
        "  --chunk N         feed the streaming parser N bytes at a time\n"
        "  --routes MAPFILE  add \"route\": the map file's target or null\n"
        "  --match NAME      print NAME's target (or -), one line per "
        "--match\n"
        "  --alpn a,b,...    the client's ALPN list for every --match\n",
        stderr);
}

/* ---- routing (--routes, --match, --alpn) ---- */

static sni_router *load_routes(const char *path) {
  sni_router *r = NULL;
  if (sni_router_create(&r, NULL) != 0) return NULL;
  /* resolve NULL: targets are the map file's strings, owned by r */
  if (sni_router_load_map_file(r, path, NULL, NULL) < 0 ||
      sni_router_compile(r) != 0) {
    fprintf(stderr, "sniroute-inspect: %s: %s\n", path, sni_router_errmsg(r));
    sni_router_free(r);
    return NULL;
  }
  return r;
}

/* "a,b" -> wire format (length byte + name, repeated); -1 if malformed. */
static int pack_alpn(const char *csv, unsigned char *out, size_t cap,
                     size_t *len) {
  size_t n = 0;
  while (*csv) {
    size_t l = strcspn(csv, ",");
    if (l == 0 || l > 255 || n + 1 + l > cap) return -1;
    out[n++] = (unsigned char)l;
    memcpy(out + n, csv, l);
    n += l;
    csv += l;
    if (*csv == ',' && *++csv == '\0') return -1;
  }
  *len = n;
  return 0;
}

/* Close o's object with "route": the target string for this parse, or
 * null (the parse result picks not_tls / no_sni). */
static void route_json(out_buf *o, const sni_router *r, int rc,
                       const sni_hello *h) {
  void *t = NULL;
  int k = sni_router_match_hello(r, h, rc, &t);
  o->len--; /* reopen the object: drop its '}' */
  key(o, "route");
  if (k > 0 && t)
    ob_json_bytes(o, t, strlen(t));
  else
    ob_str(o, "null");
  ob_str(o, "}");
}

int main(int argc, char **argv) {
  size_t chunk = 0;
  int nfiles = 0, status = 0, nmatch = 0;
  const char *routes = NULL, *alpn = NULL;
  const char **files = calloc((size_t)argc + 1, sizeof *files);
  const char **match = calloc((size_t)argc + 1, sizeof *match);
  if (!files || !match) return 2;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--routes") == 0 && i + 1 < argc) {
      routes = argv[++i];
    } else if (strcmp(argv[i], "--match") == 0 && i + 1 < argc) {
      match[nmatch++] = argv[++i];
    } else if (strcmp(argv[i], "--alpn") == 0 && i + 1 < argc) {
      alpn = argv[++i];
    } else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
      char *end;
      errno = 0;
      unsigned long v = strtoul(argv[++i], &end, 10);
      if (errno || *end || v == 0) {
        usage();
        return 2;
      }
      chunk = v;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage();
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      usage();
      return 2;
    } else {
      files[nfiles++] = argv[i];
    }
  }
  sni_router *router = NULL;
  if (((nmatch || alpn) && !routes) ||
      (routes && !(router = load_routes(routes)))) {
    if (!routes) usage();
    free(match);
    free(files);
    return 2;
  }
  if (nmatch) {
    unsigned char wire[1024];
    size_t wl = 0;
    if (alpn && pack_alpn(alpn, wire, sizeof wire, &wl)) {
      fprintf(stderr, "sniroute-inspect: bad --alpn list '%s'\n", alpn);
      nmatch = 0;
      status = 2;
    }
    for (int i = 0; i < nmatch; i++) {
      void *t = NULL;
      int k = sni_router_match(router, match[i], strlen(match[i]), wire, wl,
                               &t);
      puts(k > 0 && t ? (const char *)t : "-");
    }
    sni_router_free(router);
    free(match);
    free(files);
    return status;
  }
  if (nfiles == 0) files[nfiles++] = "-";
  for (int i = 0; i < nfiles; i++) {
    FILE *f = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "rb");
    if (!f) {
      fprintf(stderr, "sniroute-inspect: %s: %s\n", files[i], strerror(errno));
      status = 2;
      continue;
    }
    unsigned char *buf;
    size_t len;
    int r = read_all(f, &buf, &len);
    if (f != stdin) fclose(f);
    if (r) {
      fprintf(stderr, "sniroute-inspect: %s: read error\n", files[i]);
      status = 2;
      continue;
    }
    sni_hello h;
    int rc = parse(&h, buf, len, chunk);
    out_buf o = {0};
    hello_json(&o, files[i], rc, &h);
    if (router) route_json(&o, router, rc, &h);
    puts(o.s);
    free(o.s);
    free(buf);
    if (rc <= 0 && status == 0) status = 1;
  }
  sni_router_free(router);
  free(match);
  free(files);
  return status;
}
