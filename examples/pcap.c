#include "pcap.h"

#include <stdio.h>
#include <string.h>

/* File formats (pcap: tcpdump's savefile; pcapng: IETF draft). */
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_MAGIC_NS 0xa1b23c4du
#define PCAP_HDR_LEN 24u
#define PCAP_REC_HDR_LEN 16u
#define PCAPNG_SHB 0x0a0d0d0au
#define PCAPNG_IDB 0x00000001u
#define PCAPNG_SPB 0x00000003u
#define PCAPNG_EPB 0x00000006u
#define PCAPNG_BOM 0x1a2b3c4du
#define PCAPNG_MAX_IF 64u

/* Link-layer types (tcpdump.org linktypes). */
enum {
  LINK_NULL = 0,
  LINK_ETHERNET = 1,
  LINK_PPP = 9,
  LINK_RAW = 101,
  LINK_LINUX_SLL = 113,
  LINK_IPV4 = 228,
  LINK_IPV6 = 229,
  LINK_LINUX_SLL2 = 276
};

#define ETH_HDR_LEN 14u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86ddu
#define ETHERTYPE_VLAN 0x8100u
#define ETHERTYPE_QINQ 0x88a8u
#define SLL_HDR_LEN 16u
#define SLL2_HDR_LEN 20u
#define PPP_ADDRESS 0xffu
#define PPP_IPV4 0x0021u
#define PPP_IPV6 0x0057u
#define IPV4_MIN_HDR 20u
#define IPV6_HDR_LEN 40u
#define IPV4_MF 0x2000u
#define IPV4_OFFSET_MASK 0x1fffu
#define TCP_MIN_HDR 20u
#define UDP_HDR_LEN 8u
/* IPv6 extension headers skipped on the way to TCP/UDP. */
#define IP6_HOPOPTS 0u
#define IP6_ROUTING 43u
#define IP6_FRAGMENT 44u
#define IP6_DSTOPTS 60u

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t rd32(const uint8_t *p, int swap) {
  uint32_t v = be32(p);
  return swap ? (v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24) : v;
}
static uint16_t rd16(const uint8_t *p, int swap) {
  uint16_t v = be16(p);
  if (swap) v = (uint16_t)(v >> 8 | v << 8);
  return v;
}

int sni_pcap_is_capture(const uint8_t *b, size_t n) {
  if (n < 4) return 0;
  uint32_t m = be32(b), s = rd32(b, 1);
  return m == PCAP_MAGIC_US || s == PCAP_MAGIC_US || m == PCAP_MAGIC_NS ||
         s == PCAP_MAGIC_NS || m == PCAPNG_SHB;
}

/* TCP or UDP on top of an IP payload. */
static int transport(sni_pcap_pkt *p, int proto, const uint8_t *d, size_t n) {
  if (proto == SNI_PCAP_UDP) {
    if (n < UDP_HDR_LEN) return -1;
    size_t ul = be16(d + 4);
    if (ul < UDP_HDR_LEN || ul > n) ul = n; /* trust the IP length */
    p->sport = be16(d);
    p->dport = be16(d + 2);
    p->payload = d + UDP_HDR_LEN;
    p->len = ul - UDP_HDR_LEN;
  } else if (proto == SNI_PCAP_TCP) {
    if (n < TCP_MIN_HDR) return -1;
    size_t hl = (size_t)(d[12] >> 4) * 4u;
    if (hl < TCP_MIN_HDR || hl > n) return -1;
    p->sport = be16(d);
    p->dport = be16(d + 2);
    p->seq = be32(d + 4);
    p->tcp_flags = d[13];
    p->payload = d + hl;
    p->len = n - hl;
  } else {
    return -1;
  }
  p->proto = proto;
  return 0;
}

static int ipv4(sni_pcap_pkt *p, const uint8_t *d, size_t n) {
  if (n < IPV4_MIN_HDR || d[0] >> 4 != 4) return -1;
  size_t hl = (size_t)(d[0] & 15u) * 4u, tl = be16(d + 2);
  if (hl < IPV4_MIN_HDR || tl < hl || tl > n) return -1;
  if (be16(d + 6) & (IPV4_MF | IPV4_OFFSET_MASK)) return -1; /* a fragment */
  p->ipver = 4;
  memset(p->src, 0, sizeof p->src);
  memset(p->dst, 0, sizeof p->dst);
  memcpy(p->src, d + 12, 4);
  memcpy(p->dst, d + 16, 4);
  return transport(p, d[9], d + hl, tl - hl);
}

static int ipv6(sni_pcap_pkt *p, const uint8_t *d, size_t n) {
  if (n < IPV6_HDR_LEN || d[0] >> 4 != 6) return -1;
  size_t pl = be16(d + 4);
  if (pl > n - IPV6_HDR_LEN) return -1;
  unsigned next = d[6];
  const uint8_t *c = d + IPV6_HDR_LEN, *e = c + pl;
  while (next == IP6_HOPOPTS || next == IP6_ROUTING || next == IP6_DSTOPTS) {
    if (e - c < 8) return -1;
    size_t el = ((size_t)c[1] + 1u) * 8u;
    if ((size_t)(e - c) < el) return -1;
    next = c[0];
    c += el;
  }
  if (next == IP6_FRAGMENT) return -1;
  p->ipver = 6;
  memcpy(p->src, d + 8, 16);
  memcpy(p->dst, d + 24, 16);
  return transport(p, (int)next, c, (size_t)(e - c));
}

static int ip_any(sni_pcap_pkt *p, const uint8_t *d, size_t n) {
  if (n < 1) return -1;
  return d[0] >> 4 == 4 ? ipv4(p, d, n) : d[0] >> 4 == 6 ? ipv6(p, d, n) : -1;
}

static int by_ethertype(sni_pcap_pkt *p, unsigned type, const uint8_t *d, size_t n) {
  if (type == ETHERTYPE_IPV4) return ipv4(p, d, n);
  if (type == ETHERTYPE_IPV6) return ipv6(p, d, n);
  return -1;
}

/* One captured frame to a packet; -1 when it is not TCP/UDP over IP. */
static int frame(sni_pcap_pkt *p, unsigned link, const uint8_t *d, size_t n) {
  switch (link) {
  case LINK_ETHERNET: {
    if (n < ETH_HDR_LEN) return -1;
    size_t off = 12;
    unsigned type = be16(d + off);
    while ((type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) && n >= off + 6) {
      off += 4;
      type = be16(d + off);
    }
    return by_ethertype(p, type, d + off + 2, n - off - 2);
  }
  case LINK_LINUX_SLL:
    if (n < SLL_HDR_LEN) return -1;
    return by_ethertype(p, be16(d + 14), d + SLL_HDR_LEN, n - SLL_HDR_LEN);
  case LINK_LINUX_SLL2:
    if (n < SLL2_HDR_LEN) return -1;
    return by_ethertype(p, be16(d), d + SLL2_HDR_LEN, n - SLL2_HDR_LEN);
  case LINK_RAW:
  case LINK_IPV4:
  case LINK_IPV6:
    return ip_any(p, d, n);
  case LINK_PPP: {
    size_t off = (n >= 2 && d[0] == PPP_ADDRESS) ? 2 : 0; /* address, control */
    if (n < off + 2) return -1;
    unsigned proto = be16(d + off);
    if (proto == PPP_IPV4) return ipv4(p, d + off + 2, n - off - 2);
    if (proto == PPP_IPV6) return ipv6(p, d + off + 2, n - off - 2);
    return -1;
  }
  case LINK_NULL: /* 4-byte address family in host order: look at the IP */
    return n < 4 ? -1 : ip_any(p, d + 4, n - 4);
  default:
    return -1;
  }
}

static int walk_pcap(const uint8_t *b, size_t n,
                     int (*cb)(void *, const sni_pcap_pkt *), void *ctx) {
  if (n < PCAP_HDR_LEN) return -1;
  int swap = be32(b) != PCAP_MAGIC_US && be32(b) != PCAP_MAGIC_NS;
  unsigned link = rd32(b + 20, swap) & 0xffffu; /* upper bits: FCS info */
  size_t off = PCAP_HDR_LEN;
  while (n - off >= PCAP_REC_HDR_LEN) {
    size_t incl = rd32(b + off + 8, swap);
    off += PCAP_REC_HDR_LEN;
    if (incl > n - off) break;
    sni_pcap_pkt p;
    if (frame(&p, link, b + off, incl) == 0 && cb(ctx, &p)) return 0;
    off += incl;
  }
  return 0;
}

static int walk_pcapng(const uint8_t *b, size_t n,
                       int (*cb)(void *, const sni_pcap_pkt *), void *ctx) {
  unsigned links[PCAPNG_MAX_IF];
  unsigned nif = 0;
  int swap = 0;
  size_t off = 0;
  while (n - off >= 12) {
    uint32_t type = rd32(b + off, swap);
    if (type == PCAPNG_SHB) {
      swap = be32(b + off + 8) != PCAPNG_BOM;
      nif = 0; /* interfaces are numbered per section */
    }
    size_t len = rd32(b + off + 4, swap);
    if (len < 12 || len % 4 || len > n - off) break;
    const uint8_t *body = b + off + 8;
    size_t blen = len - 12;
    if (type == PCAPNG_IDB && blen >= 8 && nif < PCAPNG_MAX_IF) {
      links[nif++] = rd16(body, swap);
    } else if (type == PCAPNG_EPB && blen >= 20) {
      uint32_t ifc = rd32(body, swap);
      size_t cap = rd32(body + 12, swap);
      sni_pcap_pkt p;
      if (ifc < nif && cap <= blen - 20 && frame(&p, links[ifc], body + 20, cap) == 0 &&
          cb(ctx, &p))
        return 0;
    } else if (type == PCAPNG_SPB && blen >= 4 && nif > 0) {
      size_t orig = rd32(body, swap), cap = blen - 4 < orig ? blen - 4 : orig;
      sni_pcap_pkt p;
      if (frame(&p, links[0], body + 4, cap) == 0 && cb(ctx, &p)) return 0;
    }
    off += len;
  }
  return 0;
}

int sni_pcap_walk(const uint8_t *b, size_t n,
                  int (*cb)(void *ctx, const sni_pcap_pkt *p), void *ctx) {
  if (!sni_pcap_is_capture(b, n)) return -1;
  if (be32(b) == PCAPNG_SHB) return walk_pcapng(b, n, cb, ctx);
  return walk_pcap(b, n, cb, ctx);
}

void sni_pcap_addr(int ipver, const uint8_t *a, uint16_t port, char *out, size_t cap) {
  if (ipver == 4) {
    snprintf(out, cap, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3], port);
    return;
  }
  /* RFC 5952: lowercase, the longest run of two or more zero groups as "::" */
  unsigned g[8];
  for (int i = 0; i < 8; i++) g[i] = (unsigned)(a[2 * i] << 8 | a[2 * i + 1]);
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && g[j] == 0) j++;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j > i ? j : i + 1;
  }
  char s[48];
  size_t k = 0;
  for (int i = 0; i < 8; i++) {
    if (i == best) {
      k += (size_t)snprintf(s + k, sizeof s - k, "::");
      i += best_len - 1;
      continue;
    }
    k += (size_t)snprintf(s + k, sizeof s - k, "%s%x",
                          (k && s[k - 1] != ':') ? ":" : "", g[i]);
  }
  snprintf(out, cap, "[%s]:%u", s, port);
}
