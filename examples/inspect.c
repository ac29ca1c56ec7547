/*
 * sniroute-inspect: print what sniroute sees in the first bytes of a TCP
 * stream, one JSON object per input, with the key names of the corpus
 * truth.json files so outputs can be diffed against an independent
 * dissector.
 *
 *   sniroute-inspect [--chunk N] [FILE...]     (no FILE: read stdin)
 *   sniroute-inspect --quic DATAGRAM...
 *   sniroute-inspect CAPTURE.pcap|CAPTURE.pcapng
 *   sniroute-inspect --routes MAPFILE [FILE...]
 *   sniroute-inspect --routes MAPFILE --match NAME... [--alpn a,b,...]
 *
 * --chunk N feeds the streaming parser N bytes at a time; the output must
 * not change (that is the point of the option).
 *
 * --quic: the files are the client's UDP payloads of one QUIC connection,
 * in order, one datagram per file; one object with "transport": "quic",
 * "quic_version", "dcid", "scid", "datagrams" (used) and "initial_packets".
 *
 * A pcap or pcapng file (recognised by its magic) gives one object per
 * ClientHello found in it, with "flow" and "transport": TCP streams are
 * reassembled from their first segment, each direction of a UDP flow is
 * read as a QUIC connection.  The capture reader (pcap.c) is the tool's.
 *
 * --routes MAPFILE adds "route" (the map file's target string, or null) to
 * each object.  With --match, no input is read: each NAME's target (or
 * "-") is printed on its own line, in order, as routed with the ALPN list
 * of --alpn (one --alpn applies to every --match).
 */
#include <sniroute.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_util.h"
#include "pcap.h"

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

/* The first n entries of an array of cap 8- or 16-bit values. */
static void kv_list(out_buf *o, const char *k, const void *v, size_t size,
                    size_t cap, unsigned n) {
  key(o, k);
  ob_str(o, "[");
  for (size_t i = 0; i < n && i < cap; i++) {
    unsigned long x = size == sizeof(uint16_t) ? ((const uint16_t *)v)[i]
                                               : ((const uint8_t *)v)[i];
    ob_fmt(o, i ? ", %lu" : "%lu", x);
  }
  ob_str(o, "]");
}

static void ob_hex(out_buf *o, const uint8_t *b, size_t n) {
  ob_str(o, "\"");
  for (size_t i = 0; i < n; i++) ob_fmt(o, "%02lx", b[i]);
  ob_str(o, "\"");
}

/* A fingerprint from the library (sni_ja3(), sni_ja4() ...) as a JSON
 * string, or null when the hello cannot give one (a truncated list). */
static void kv_fingerprint(out_buf *o, const char *k, const char *v, int rc) {
  key(o, k);
  if (rc > 0)
    ob_json_bytes(o, v, (size_t)rc);
  else
    ob_str(o, "null");
}

static void fingerprints_json(out_buf *o, const sni_hello *h) {
  char ja3[SNI_JA3_MAX], md5[SNI_JA3_MD5_MAX], ja4[SNI_JA4_R_MAX];
  kv_fingerprint(o, "ja3_full", ja3, sni_ja3(h, ja3, sizeof ja3));
  kv_fingerprint(o, "ja3_md5", md5, sni_ja3_md5(h, md5, sizeof md5));
  static const struct {
    const char *key;
    sni_ja4_variant v;
  } ja4s[] = {{"ja4", SNI_JA4}, {"ja4_r", SNI_JA4_R}, {"ja4_o", SNI_JA4_O},
              {"ja4_ro", SNI_JA4_RO}};
  for (size_t i = 0; i < sizeof ja4s / sizeof ja4s[0]; i++)
    kv_fingerprint(o, ja4s[i].key, ja4, sni_ja4(h, ja4s[i].v, ja4, sizeof ja4));
}

/* One integer member.  What the struct's documentation says is not
 * meaningful is left out (ECH outer fields) or null (a QUIC hello's record
 * version); name_flags is spelled out bit by bit. */
static void num_json(out_buf *o, const sni_hello *h, const char *k,
                     size_t member, unsigned long v) {
  switch (member) {
  case offsetof(sni_hello, record_version):
    if (!h->quic) break;
    key(o, k); /* QUIC has no records */
    ob_str(o, "null");
    return;
  case offsetof(sni_hello, name_flags):
    kv_bool(o, "sni_trailing_dot", (v & SNI_NAME_TRAILING_DOT) != 0);
    kv_bool(o, "sni_not_hostname", (v & SNI_NAME_NOT_HOSTNAME) != 0);
    kv_bool(o, "sni_ip_literal", (v & SNI_NAME_IP_LITERAL) != 0);
    return;
  case offsetof(sni_hello, ech_type):
    if (!h->ech) return;
    key(o, k);
    ob_str(o, v == 0 ? "\"outer\"" : "\"inner\"");
    return;
  case offsetof(sni_hello, ech_config_id):
  case offsetof(sni_hello, ech_kdf):
  case offsetof(sni_hello, ech_aead):
  case offsetof(sni_hello, ech_enc_len):
  case offsetof(sni_hello, ech_payload_len):
    if (!h->ech || h->ech_type != 0) return;
    break;
  default:
    break;
  }
  kv_num(o, k, v);
}

/* A name, or null when the hello has none (or the struct is not one the
 * parser filled: no NUL within the array). */
static void str_json(out_buf *o, const char *k, int present, const char *s,
                     size_t len, size_t cap) {
  key(o, k);
  if (present && len < cap)
    ob_json_bytes(o, s, len);
  else
    ob_str(o, "null");
}

static void alpn_json(out_buf *o, const char *k, const sni_hello *h) {
  key(o, k);
  ob_str(o, "[");
  for (unsigned i = 0; i < h->n_alpn; i++) {
    const uint8_t *name;
    size_t len;
    if (sni_alpn_get(h, i, &name, &len) != 0) break;
    if (i) ob_str(o, ", ");
    ob_json_bytes(o, name, len);
  }
  ob_str(o, "]");
}

/* Every member of sni_hello, in declaration order, from SNI_HELLO_FIELDS:
 * a new member is printed without a change here. */
#define J_NUM(type, m, k) num_json(o, h, k, offsetof(sni_hello, m), h->m);
#define J_FLAG(m, k) kv_bool(o, k, h->m);
#define J_COUNT(type, m)
#define J_BYTES(m, k) key(o, k), ob_hex(o, h->m, sizeof h->m);
#define J_STR(m, len, present, k) \
  str_json(o, k, h->present, h->m, h->len, sizeof h->m);
#define J_LIST(type, m, count, trunc, k) \
  kv_list(o, k, h->m, sizeof(type), sizeof h->m / sizeof(type), h->count);
#define J_ALPN(m, count, len, trunc, k) alpn_json(o, k, h);

static void hello_json(out_buf *o, const char *file, int rc, const sni_hello *h) {
  const char *verdict = rc > 0 ? "ok" : sni_errname(rc);
  ob_str(o, "{");
  key(o, "file");
  ob_json_bytes(o, file, strlen(file));
  key(o, "verdict");
  ob_json_bytes(o, verdict, strlen(verdict));
  if (rc > 0 || rc == SNI_ESSLV2) {
    SNI_HELLO_FIELDS(J_NUM, J_FLAG, J_COUNT, J_BYTES, J_STR, J_LIST, J_ALPN)
  }
  if (rc > 0) fingerprints_json(o, h);
  ob_str(o, "}");
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

/* The first MAX_INPUT bytes of file ("-": standard input), or NULL after
 * saying why on stderr. */
static uint8_t *load_input(const char *file, size_t *len) {
  errno = 0;
  uint8_t *d = sni_file_load(file, MAX_INPUT, len);
  if (!d)
    fprintf(stderr, "sniroute-inspect: %s: %s\n", file,
            errno ? strerror(errno) : "read error");
  return d;
}

static void usage(void) {
  fputs("usage: sniroute-inspect [--chunk N] [--routes MAPFILE] [FILE...]\n"
        "       sniroute-inspect [--routes MAPFILE] --quic DATAGRAM...\n"
        "       sniroute-inspect [--routes MAPFILE] CAPTURE.pcap[ng]...\n"
        "       sniroute-inspect --routes MAPFILE --match NAME... "
        "[--alpn a,b,...]\n"
        "  Prints one JSON object per FILE (or stdin) with the ClientHello\n"
        "  fields found in the first bytes of a TCP stream.\n"
        "  --chunk N         feed the streaming parser N bytes at a time\n"
        "  --routes MAPFILE  add \"route\": the map file's target or null\n"
        "  --match NAME      print NAME's target (or -), one line per "
        "--match\n"
        "  --alpn a,b,...    the client's ALPN list for every --match\n"
        "  --quic            the FILEs are one QUIC connection's client\n"
        "                    datagrams, in order, one per file\n"
        "  A pcap/pcapng FILE prints one object per ClientHello in it.\n",
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

/* ---- QUIC (--quic) and captures (pcap, pcapng) ---- */

/* Reopens o's object and appends the transport and, for QUIC, what the
 * reader saw; flow may be NULL. */
static void transport_json(out_buf *o, const char *flow, const sni_quic *q) {
  o->len--; /* drop the closing '}' */
  if (flow) {
    key(o, "flow");
    ob_json_bytes(o, flow, strlen(flow));
  }
  key(o, "transport");
  ob_str(o, q ? "\"quic\"" : "\"tcp\"");
  if (q) {
    sni_quic_info in;
    if (sni_quic_get_info(q, &in) == 0) {
      kv_num(o, "quic_version", in.version);
      key(o, "dcid");
      ob_hex(o, in.dcid, in.dcid_len);
      key(o, "scid");
      ob_hex(o, in.scid, in.scid_len);
      kv_num(o, "datagrams", in.datagrams_used);
      kv_num(o, "initial_packets", in.initial_packets);
    }
  }
  ob_str(o, "}");
}

static void print_hello(const char *file, const char *flow, int rc, const sni_hello *h,
                        const sni_quic *q, const sni_router *router) {
  out_buf o = {0};
  hello_json(&o, file, rc, h);
  transport_json(&o, flow, q);
  if (router) route_json(&o, router, rc, h);
  puts(o.s);
  free(o.s);
}

/* The reassembly space for one QUIC connection: what the header says fits
 * every known client. */
typedef struct quic_conn {
  sni_quic q;
  sni_hello h;
  unsigned char buf[SNI_QUIC_DEFAULT_BUF];
} quic_conn;

static int run_quic(const char *const *files, int nfiles, const sni_router *router) {
  quic_conn *c = malloc(sizeof *c);
  if (!c || sni_quic_init(&c->q, &c->h, c->buf, sizeof c->buf, NULL) != 0) {
    free(c);
    return 2;
  }
  int rc = SNI_EAGAIN;
  for (int i = 0; i < nfiles; i++) {
    size_t len = 0;
    uint8_t *d = load_input(files[i], &len);
    if (!d) {
      free(c);
      return 2;
    }
    int r = sni_quic_feed(&c->q, d, len);
    free(d);
    if (r != 0) rc = r; /* 0: complete already, keep the total */
  }
  print_hello(nfiles ? files[0] : "-", NULL, rc, &c->h, &c->q, router);
  free(c);
  return rc > 0 ? 0 : 1;
}

/* One direction of a TCP or UDP flow in a capture. */
typedef struct flow {
  int ipver, proto, done;
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  /* TCP: the stream from its first byte, and which bytes arrived */
  unsigned char *data, *have;
  size_t contig;
  uint32_t isn;
  int have_isn;
  quic_conn *quic; /* UDP */
  sni_hello h;
} flow;

#define CAPTURE_MAX_STREAM 65536u

typedef struct capture {
  const char *file;
  const sni_router *router;
  flow *flows;
  size_t n, cap;
  int found;
} capture;

static void flow_name(const flow *fl, char *out, size_t cap) {
  char a[64], b[64];
  sni_pcap_addr(fl->ipver, fl->src, fl->sport, a, sizeof a);
  sni_pcap_addr(fl->ipver, fl->dst, fl->dport, b, sizeof b);
  snprintf(out, cap, "%s -> %s", a, b);
}

static flow *flow_find(capture *c, const sni_pcap_pkt *p) {
  for (size_t i = 0; i < c->n; i++) {
    flow *fl = &c->flows[i];
    if (fl->proto == p->proto && fl->ipver == p->ipver && fl->sport == p->sport &&
        fl->dport == p->dport && !memcmp(fl->src, p->src, 16) && !memcmp(fl->dst, p->dst, 16))
      return fl;
  }
  if (c->n == c->cap) {
    size_t ncap = c->cap ? 2 * c->cap : 64;
    flow *nf = realloc(c->flows, ncap * sizeof *nf);
    if (!nf) return NULL;
    c->flows = nf;
    c->cap = ncap;
  }
  flow *fl = &c->flows[c->n++];
  memset(fl, 0, sizeof *fl);
  fl->ipver = p->ipver;
  fl->proto = p->proto;
  memcpy(fl->src, p->src, 16);
  memcpy(fl->dst, p->dst, 16);
  fl->sport = p->sport;
  fl->dport = p->dport;
  return fl;
}

static void report(capture *c, flow *fl, int rc) {
  char name[160];
  flow_name(fl, name, sizeof name);
  print_hello(c->file, name, rc, &fl->h, fl->quic ? &fl->quic->q : NULL, c->router);
  c->found++;
}

static void tcp_segment(capture *c, flow *fl, const sni_pcap_pkt *p) {
  if (p->tcp_flags & SNI_PCAP_TCP_SYN) {
    fl->isn = p->seq + 1u;
    fl->have_isn = 1;
    return;
  }
  if (p->len == 0) return;
  if (!fl->have_isn) {
    fl->isn = p->seq; /* the capture began mid-handshake: first data byte */
    fl->have_isn = 1;
  }
  if (!fl->data) {
    fl->data = malloc(CAPTURE_MAX_STREAM);
    fl->have = calloc(CAPTURE_MAX_STREAM, 1);
    if (!fl->data || !fl->have) {
      fl->done = 1;
      return;
    }
  }
  uint32_t rel = p->seq - fl->isn;
  if (rel >= CAPTURE_MAX_STREAM) return;
  size_t k = p->len < CAPTURE_MAX_STREAM - rel ? p->len : CAPTURE_MAX_STREAM - rel;
  memcpy(fl->data + rel, p->payload, k);
  memset(fl->have + rel, 1, k);
  size_t before = fl->contig;
  while (fl->contig < CAPTURE_MAX_STREAM && fl->have[fl->contig]) fl->contig++;
  if (fl->contig == before) return;
  int rc = sni_parse(&fl->h, fl->data, fl->contig);
  if (rc == SNI_EAGAIN) return;
  fl->done = 1;
  if (rc > 0 || rc == SNI_ESSLV2) report(c, fl, rc); /* other errors: not a client */
}

static void udp_datagram(capture *c, flow *fl, const sni_pcap_pkt *p) {
  if (!fl->quic) {
    fl->quic = malloc(sizeof *fl->quic);
    if (!fl->quic || sni_quic_init(&fl->quic->q, &fl->h, fl->quic->buf,
                                   sizeof fl->quic->buf, NULL) != 0) {
      fl->done = 1;
      return;
    }
  }
  int rc = sni_quic_feed(&fl->quic->q, p->payload, p->len);
  if (rc == SNI_EAGAIN) return;
  fl->done = 1;
  report(c, fl, rc);
}

static int capture_packet(void *ctx, const sni_pcap_pkt *p) {
  capture *c = ctx;
  flow *fl = flow_find(c, p);
  if (!fl || fl->done) return 0;
  if (p->proto == SNI_PCAP_TCP)
    tcp_segment(c, fl, p);
  else
    udp_datagram(c, fl, p);
  return 0;
}

static int run_capture(const char *file, const unsigned char *b, size_t n,
                       const sni_router *router) {
  capture c = {file, router, NULL, 0, 0, 0};
  sni_pcap_walk(b, n, capture_packet, &c);
  for (size_t i = 0; i < c.n; i++) {
    flow *fl = &c.flows[i];
    sni_quic_info in;
    /* A QUIC connection whose hello never completed, for diagnosis. */
    if (!fl->done && fl->quic && sni_quic_get_info(&fl->quic->q, &in) == 0 &&
        in.initial_packets > 0)
      report(&c, fl, SNI_EAGAIN);
    free(fl->data);
    free(fl->have);
    free(fl->quic);
  }
  free(c.flows);
  return c.found ? 0 : 1;
}

int main(int argc, char **argv) {
  size_t chunk = 0;
  int nfiles = 0, status = 0, nmatch = 0, quic = 0;
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
    } else if (strcmp(argv[i], "--quic") == 0) {
      quic = 1;
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
  if (quic) {
    status = nfiles ? run_quic(files, nfiles, router) : 2;
    if (!nfiles) usage();
    sni_router_free(router);
    free(match);
    free(files);
    return status;
  }
  if (nfiles == 0) files[nfiles++] = "-";
  for (int i = 0; i < nfiles; i++) {
    size_t len = 0;
    uint8_t *buf = load_input(files[i], &len);
    if (!buf) {
      status = 2;
      continue;
    }
    if (sni_pcap_is_capture(buf, len)) {
      int cs = run_capture(files[i], buf, len, router);
      free(buf);
      if (cs && status == 0) status = cs;
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
