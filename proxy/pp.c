/* PROXY protocol v1 (text) and v2 (binary), written from the published
 * specification: parse what a load balancer in front sends us, build what
 * we send to an upstream. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pp.h"

static const uint8_t v2sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                  0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* Addresses are built in a local struct and copied in: writing through a
 * sockaddr_in pointer into a sockaddr_storage and then reading ss_family
 * breaks strict aliasing, and gcc -O2 did reorder exactly that. */
static void set4(px_addr *a, const uint8_t *ip, const uint8_t *port) {
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  memcpy(&s.sin_addr, ip, 4);
  memcpy(&s.sin_port, port, 2);
  memset(a, 0, sizeof *a);
  memcpy(&a->ss, &s, sizeof s);
  a->len = sizeof s;
}

static void set6(px_addr *a, const uint8_t *ip, const uint8_t *port) {
  struct sockaddr_in6 s;
  memset(&s, 0, sizeof s);
  s.sin6_family = AF_INET6;
  memcpy(&s.sin6_addr, ip, 16);
  memcpy(&s.sin6_port, port, 2);
  memset(a, 0, sizeof *a);
  memcpy(&a->ss, &s, sizeof s);
  a->len = sizeof s;
}

/* v2 header fields (the specification's names). */
enum { V2_VERSION = 2, V2_CMD_LOCAL = 0, V2_CMD_PROXY = 1 };
enum { V2_FAM_UNSPEC, V2_FAM_INET, V2_FAM_INET6, V2_FAM_UNIX };
enum { V2_PROTO_UNSPEC, V2_PROTO_STREAM, V2_PROTO_DGRAM };
enum { V2_ADDRS_INET = 12, V2_ADDRS_INET6 = 36, V2_ADDRS_UNIX = 216 };
enum { TLV_HEAD = 3, PP2_TYPE_AUTHORITY = 0x02, PP2_TYPE_CRC32C = 0x03 };
#define CRC32C_LEN 4
#define CRC32C_POLY 0x82F63B78u /* Castagnoli, reflected */

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = crc >> 1 ^ (CRC32C_POLY & (0u - (crc & 1)));
  }
  return crc;
}

#define CRC32C_INIT 0xFFFFFFFFu
#define CRC32C_XOROUT 0xFFFFFFFFu

uint32_t px_crc32c(const uint8_t *p, size_t n) {
  return crc32c(CRC32C_INIT, p, n) ^ CRC32C_XOROUT;
}

/* The PP2_TYPE_CRC32C value covers the whole header with itself zeroed. */
static int crc_ok(const uint8_t *h, size_t total, size_t at) {
  static const uint8_t zero[CRC32C_LEN] = {0};
  uint32_t c = crc32c(CRC32C_INIT, h, at);
  c = crc32c(c, zero, CRC32C_LEN);
  c = crc32c(c, h + at + CRC32C_LEN, total - at - CRC32C_LEN) ^ CRC32C_XOROUT;
  uint32_t want = (uint32_t)h[at] << 24 | (uint32_t)h[at + 1] << 16 |
                  (uint32_t)h[at + 2] << 8 | h[at + 3];
  return c == want;
}

/* TLVs must tile the rest of the header exactly; a checksum, if sent, must
 * match (the specification makes a mismatch fatal). */
static int check_tlvs(const uint8_t *h, size_t total, size_t off) {
  while (off < total) {
    if (total - off < TLV_HEAD) return -1;
    size_t vlen = (size_t)h[off + 1] << 8 | h[off + 2];
    if (total - off - TLV_HEAD < vlen) return -1;
    if (h[off] == PP2_TYPE_CRC32C &&
        (vlen != CRC32C_LEN || !crc_ok(h, total, off + TLV_HEAD)))
      return -1;
    off += TLV_HEAD + vlen;
  }
  return 0;
}

static size_t v2_addr_len(unsigned fam) {
  static const size_t n[] = {0, V2_ADDRS_INET, V2_ADDRS_INET6, V2_ADDRS_UNIX};
  return n[fam];
}

static int parse_v2(const uint8_t *b, size_t len, px_addr *src,
                    px_addr *dst) {
  if (len < PX_PP_V2_FIXED) return 0;
  unsigned cmd = b[12] & 0x0F, fam = b[13] >> 4, proto = b[13] & 0x0F;
  if ((b[12] >> 4) != V2_VERSION || cmd > V2_CMD_PROXY) return -1;
  /* LOCAL ignores the family byte; PROXY allows only the defined pairs
   * (UNSPEC with UNSPEC, or a family with STREAM or DGRAM). */
  if (cmd == V2_CMD_PROXY &&
      (fam > V2_FAM_UNIX || proto > V2_PROTO_DGRAM ||
       (fam == V2_FAM_UNSPEC) != (proto == V2_PROTO_UNSPEC)))
    return -1;
  size_t total = PX_PP_V2_FIXED + ((size_t)b[14] << 8 | b[15]);
  if (len < total) return 0;
  /* LOCAL: the balancer's own health check; keep the real peer address. */
  if (cmd == V2_CMD_LOCAL) return (int)total;
  size_t alen = v2_addr_len(fam);
  if (total - PX_PP_V2_FIXED < alen) return -1;
  if (check_tlvs(b, total, PX_PP_V2_FIXED + alen) != 0) return -1;
  /* Datagram and UNIX endpoints mean nothing for this TCP connection:
   * like UNSPEC, the real peer address stays. */
  if (proto != V2_PROTO_STREAM) return (int)total;
  const uint8_t *p = b + PX_PP_V2_FIXED;
  if (fam == V2_FAM_INET) {
    set4(src, p, p + 8);
    set4(dst, p + 4, p + 10);
  } else if (fam == V2_FAM_INET6) {
    set6(src, p, p + 32);
    set6(dst, p + 16, p + 34);
  }
  return (int)total;
}

/* ------------------------------------------------------------------ v1 */
/* The specification's grammar: single spaces, ports and IPv4 numbers in
 * decimal without sign or leading zeros, addresses of the named family. */
#define V1_FIELDS 6 /* PROXY TCPx SRC DST SPORT DPORT */
#define V1_UNKNOWN "PROXY UNKNOWN"
#define OCTET_MAX 255u

static int v4_canonical(const char *s, size_t n) {
  size_t start = 0;
  int parts = 0;
  unsigned long v;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.') continue;
    if (px_parse_dec(s + start, i - start, OCTET_MAX, &v) != 0) return 0;
    parts++;
    start = i + 1;
  }
  return parts == 4;
}

static int v1_ip(const char *s, size_t n, int fam, uint8_t *out) {
  char tmp[INET6_ADDRSTRLEN];
  if (n == 0 || n >= sizeof tmp) return -1;
  if (fam == AF_INET && !v4_canonical(s, n)) return -1;
  /* inet_pton's grammar, without scope ids or other decorations. */
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr("0123456789abcdefABCDEF:.", s[i])) return -1;
  memcpy(tmp, s, n);
  tmp[n] = 0;
  return inet_pton(fam, tmp, out) == 1 ? 0 : -1;
}

static int v1_endpoint(const char *ip, size_t il, const char *port, size_t pl,
                       int fam, px_addr *a) {
  uint8_t bytes[16];
  unsigned long pn;
  if (px_parse_dec(port, pl, PX_PORT_MAX, &pn) != 0 ||
      v1_ip(ip, il, fam, bytes) != 0)
    return -1;
  uint8_t pb[2] = {(uint8_t)(pn >> 8), (uint8_t)pn};
  if (fam == AF_INET)
    set4(a, bytes, pb);
  else
    set6(a, bytes, pb);
  return 0;
}

/* Length of the line before its CRLF, 0 when more bytes are needed, -1
 * when there is no CRLF within PX_PP_V1_MAX bytes or a bare CR or LF. */
static long v1_line_len(const uint8_t *b, size_t len) {
  for (size_t i = 0; i < len && i + 2 <= PX_PP_V1_MAX; i++) {
    if (b[i] == '\n') return -1;
    if (b[i] != '\r') continue;
    if (i + 1 == len) return 0;
    return b[i + 1] == '\n' ? (long)i : -1;
  }
  return len >= PX_PP_V1_MAX - 1 ? -1 : 0;
}

static int parse_v1(const uint8_t *b, size_t len, px_addr *src,
                    px_addr *dst) {
  long ll = v1_line_len(b, len);
  if (ll <= 0) return (int)ll;
  size_t n = (size_t)ll, k = strlen(V1_UNKNOWN);
  const char *line = (const char *)b;
  int total = (int)n + 2;
  /* UNKNOWN: the rest of the line is to be ignored. */
  if (n >= k && memcmp(line, V1_UNKNOWN, k) == 0 && (n == k || line[k] == ' '))
    return total;
  const char *f[V1_FIELDS];
  size_t fl[V1_FIELDS], start = 0;
  int nf = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && line[i] != ' ') continue;
    if (nf == V1_FIELDS || i == start) return -1; /* extra or empty field */
    f[nf] = line + start;
    fl[nf++] = i - start;
    start = i + 1;
  }
  if (nf != V1_FIELDS || fl[1] != 4) return -1;
  int fam;
  if (memcmp(f[1], "TCP4", 4) == 0)
    fam = AF_INET;
  else if (memcmp(f[1], "TCP6", 4) == 0)
    fam = AF_INET6;
  else
    return -1;
  px_addr s, d;
  if (v1_endpoint(f[2], fl[2], f[4], fl[4], fam, &s) ||
      v1_endpoint(f[3], fl[3], f[5], fl[5], fam, &d))
    return -1;
  *src = s;
  *dst = d;
  return total;
}

int px_pp_parse(const uint8_t *buf, size_t len, px_addr *src, px_addr *dst) {
  size_t k = len < sizeof v2sig ? len : sizeof v2sig;
  if (memcmp(buf, v2sig, k) == 0)
    return len < sizeof v2sig ? 0 : parse_v2(buf, len, src, dst);
  k = len < 6 ? len : 6;
  if (memcmp(buf, "PROXY ", k) != 0) return -1;
  if (len < 6) return 0;
  return parse_v1(buf, len, src, dst);
}

/* Both ends in one family: IPv4-mapped IPv6 becomes IPv4, and a remaining
 * mix is expressed as IPv6. */
static void unify(px_addr *a, px_addr *b) {
  px_addr *v[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    if (v[i]->ss.ss_family != AF_INET6) continue;
    struct sockaddr_in6 s;
    memcpy(&s, &v[i]->ss, sizeof s);
    if (IN6_IS_ADDR_V4MAPPED(&s.sin6_addr)) {
      uint8_t ip[4], port[2];
      memcpy(ip, s.sin6_addr.s6_addr + 12, 4);
      memcpy(port, &s.sin6_port, 2);
      set4(v[i], ip, port);
    }
  }
  if (a->ss.ss_family == b->ss.ss_family) return;
  for (int i = 0; i < 2; i++) {
    if (v[i]->ss.ss_family != AF_INET) continue;
    struct sockaddr_in s;
    memcpy(&s, &v[i]->ss, sizeof s);
    uint8_t ip[16] = {0}, port[2];
    ip[10] = ip[11] = 0xFF;
    memcpy(ip + 12, &s.sin_addr, 4);
    memcpy(port, &s.sin_port, 2);
    set6(v[i], ip, port);
  }
}

int px_pp_build(int version, const px_addr *src_in, const px_addr *dst_in,
                const char *authority, uint8_t *out, size_t cap) {
  px_addr src = *src_in, dst = *dst_in;
  int known = (src.ss.ss_family == AF_INET || src.ss.ss_family == AF_INET6) &&
              (dst.ss.ss_family == AF_INET || dst.ss.ss_family == AF_INET6);
  if (known) unify(&src, &dst);
  if (version == 1) {
    if (!known) {
      int n = snprintf((char *)out, cap, "PROXY UNKNOWN\r\n");
      return n > 0 && (size_t)n < cap ? n : -1;
    }
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    unsigned sp, dp;
    const char *fam;
    if (src.ss.ss_family == AF_INET) {
      const struct sockaddr_in *a = (const struct sockaddr_in *)&src.ss;
      const struct sockaddr_in *b = (const struct sockaddr_in *)&dst.ss;
      inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
      inet_ntop(AF_INET, &b->sin_addr, d, sizeof d);
      sp = ntohs(a->sin_port);
      dp = ntohs(b->sin_port);
      fam = "TCP4";
    } else {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&src.ss;
      const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&dst.ss;
      inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof s);
      inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof d);
      sp = ntohs(a->sin6_port);
      dp = ntohs(b->sin6_port);
      fam = "TCP6";
    }
    int n = snprintf((char *)out, cap, "PROXY %s %s %s %u %u\r\n", fam, s, d,
                     sp, dp);
    return n > 0 && (size_t)n < cap ? n : -1;
  }

  size_t alen = authority ? strlen(authority) : 0;
  if (alen > UINT16_MAX - V2_ADDRS_INET6 - TLV_HEAD ||
      cap < PX_PP_V2_FIXED + V2_ADDRS_INET6 + TLV_HEAD + alen)
    return -1;
  memcpy(out, v2sig, sizeof v2sig);
  out[12] = V2_VERSION << 4 | V2_CMD_PROXY;
  uint8_t *p = out + PX_PP_V2_FIXED;
  if (!known) {
    out[13] = V2_FAM_UNSPEC << 4 | V2_PROTO_UNSPEC;
  } else if (src.ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&src.ss;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&dst.ss;
    out[13] = V2_FAM_INET << 4 | V2_PROTO_STREAM;
    memcpy(p, &a->sin_addr, 4);
    memcpy(p + 4, &b->sin_addr, 4);
    memcpy(p + 8, &a->sin_port, 2);
    memcpy(p + 10, &b->sin_port, 2);
    p += V2_ADDRS_INET;
  } else {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&src.ss;
    const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&dst.ss;
    out[13] = V2_FAM_INET6 << 4 | V2_PROTO_STREAM;
    memcpy(p, &a->sin6_addr, 16);
    memcpy(p + 16, &b->sin6_addr, 16);
    memcpy(p + 32, &a->sin6_port, 2);
    memcpy(p + 34, &b->sin6_port, 2);
    p += V2_ADDRS_INET6;
  }
  if (alen) {
    /* The upstream learns the requested name without parsing the hello. */
    *p++ = PP2_TYPE_AUTHORITY;
    *p++ = (uint8_t)(alen >> 8);
    *p++ = (uint8_t)alen;
    memcpy(p, authority, alen);
    p += alen;
  }
  size_t body = (size_t)(p - out) - PX_PP_V2_FIXED;
  out[14] = (uint8_t)(body >> 8);
  out[15] = (uint8_t)body;
  return (int)(p - out);
}

int px_pp_v2_add_tlv(uint8_t *hdr, size_t len, size_t cap, uint8_t type,
                     const uint8_t *v, size_t vlen) {
  if (len < PX_PP_V2_FIXED || vlen > UINT16_MAX || len + TLV_HEAD + vlen > cap)
    return -1;
  size_t body = len - PX_PP_V2_FIXED + TLV_HEAD + vlen;
  if (body > UINT16_MAX) return -1;
  hdr[len] = type;
  hdr[len + 1] = (uint8_t)(vlen >> 8);
  hdr[len + 2] = (uint8_t)vlen;
  memcpy(hdr + len + TLV_HEAD, v, vlen);
  hdr[14] = (uint8_t)(body >> 8);
  hdr[15] = (uint8_t)body;
  return (int)(len + TLV_HEAD + vlen);
}

int px_pp_v2_add_crc32c(uint8_t *hdr, size_t len, size_t cap) {
  static const uint8_t zero[CRC32C_LEN] = {0};
  int n = px_pp_v2_add_tlv(hdr, len, cap, PP2_TYPE_CRC32C, zero, CRC32C_LEN);
  if (n < 0) return -1;
  uint32_t c = px_crc32c(hdr, (size_t)n);
  uint8_t *v = hdr + n - CRC32C_LEN;
  v[0] = (uint8_t)(c >> 24);
  v[1] = (uint8_t)(c >> 16);
  v[2] = (uint8_t)(c >> 8);
  v[3] = (uint8_t)c;
  return n;
}

int px_pp_tlv_parse(const char *list, unsigned *mask) {
  static const struct {
    const char *name;
    unsigned bit;
  } names[] = {{"authority", PX_PP_TLV_AUTHORITY},
               {"unique_id", PX_PP_TLV_UNIQUE_ID},
               {"crc32c", PX_PP_TLV_CRC32C},
               {"ja4", PX_PP_TLV_JA4}};
  unsigned m = 0;
  for (const char *p = list;; p++) {
    size_t n = strcspn(p, ","), i = 0;
    while (i < sizeof names / sizeof names[0] &&
           (strlen(names[i].name) != n || strncmp(p, names[i].name, n) != 0))
      i++;
    if (i == sizeof names / sizeof names[0] || (m & names[i].bit)) return -1;
    m |= names[i].bit;
    p += n;
    if (!*p) break;
  }
  *mask = m;
  return 0;
}
