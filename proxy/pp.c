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

static int parse_v2(const uint8_t *b, size_t len, px_addr *src,
                    px_addr *dst) {
  if (len < 16) return 0;
  if ((b[12] >> 4) != 2) return -1;
  unsigned cmd = b[12] & 0x0F;
  size_t body = (size_t)b[14] << 8 | b[15];
  if (cmd > 1) return -1;
  if (len < 16 + body) return 0;
  const uint8_t *p = b + 16;
  unsigned fam = b[13] >> 4, proto = b[13] & 0x0F;
  /* LOCAL: the balancer's own health check; keep the real peer address. */
  if (cmd == 0 || proto != 1) return (int)(16 + body);
  if (fam == 1) {
    if (body < 12) return -1;
    set4(src, p, p + 8);
    set4(dst, p + 4, p + 10);
  } else if (fam == 2) {
    if (body < 36) return -1;
    set6(src, p, p + 32);
    set6(dst, p + 16, p + 34);
  }
  return (int)(16 + body);
}

static int v1_addr(const char *ip, const char *port, int fam, px_addr *a) {
  char *end;
  unsigned long pn = strtoul(port, &end, 10);
  if (*end || pn > 65535 || !*port) return -1;
  uint8_t bytes[16], pb[2] = {(uint8_t)(pn >> 8), (uint8_t)pn};
  if (inet_pton(fam, ip, bytes) != 1) return -1;
  if (fam == AF_INET)
    set4(a, bytes, pb);
  else
    set6(a, bytes, pb);
  return 0;
}

static int parse_v1(const uint8_t *b, size_t len, px_addr *src,
                    px_addr *dst) {
  size_t max = len < 107 ? len : 107, end = 0;
  for (size_t i = 0; i + 1 < max; i++)
    if (b[i] == '\r' && b[i + 1] == '\n') {
      end = i + 2;
      break;
    }
  if (!end) return len >= 107 ? -1 : 0;
  char line[108];
  memcpy(line, b, end - 2);
  line[end - 2] = 0;
  char *save = NULL, *tok[6];
  int n = 0;
  for (char *t = strtok_r(line, " ", &save); t && n < 6;
       t = strtok_r(NULL, " ", &save))
    tok[n++] = t;
  if (n >= 2 && strcmp(tok[1], "UNKNOWN") == 0) return (int)end;
  if (n != 6) return -1;
  int fam;
  if (strcmp(tok[1], "TCP4") == 0)
    fam = AF_INET;
  else if (strcmp(tok[1], "TCP6") == 0)
    fam = AF_INET6;
  else
    return -1;
  px_addr s, d;
  if (v1_addr(tok[2], tok[4], fam, &s) || v1_addr(tok[3], tok[5], fam, &d))
    return -1;
  *src = s;
  *dst = d;
  return (int)end;
}

int px_pp_parse(const uint8_t *buf, size_t len, px_addr *src, px_addr *dst) {
  size_t k = len < 12 ? len : 12;
  if (memcmp(buf, v2sig, k) == 0) return len < 12 ? 0 : parse_v2(buf, len, src, dst);
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
  if (cap < 16 + 36 + 3 + alen) return -1;
  memcpy(out, v2sig, 12);
  out[12] = 0x21; /* version 2, PROXY */
  uint8_t *p = out + 16;
  if (!known) {
    out[13] = 0x00;
  } else if (src.ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&src.ss;
    const struct sockaddr_in *b = (const struct sockaddr_in *)&dst.ss;
    out[13] = 0x11;
    memcpy(p, &a->sin_addr, 4);
    memcpy(p + 4, &b->sin_addr, 4);
    memcpy(p + 8, &a->sin_port, 2);
    memcpy(p + 10, &b->sin_port, 2);
    p += 12;
  } else {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&src.ss;
    const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&dst.ss;
    out[13] = 0x21;
    memcpy(p, &a->sin6_addr, 16);
    memcpy(p + 16, &b->sin6_addr, 16);
    memcpy(p + 32, &a->sin6_port, 2);
    memcpy(p + 34, &b->sin6_port, 2);
    p += 36;
  }
  if (alen) {
    /* The upstream learns the requested name without parsing the hello. */
    *p++ = 0x02; /* PP2_TYPE_AUTHORITY */
    *p++ = (uint8_t)(alen >> 8);
    *p++ = (uint8_t)alen;
    memcpy(p, authority, alen);
    p += alen;
  }
  size_t body = (size_t)(p - out) - 16;
  out[14] = (uint8_t)(body >> 8);
  out[15] = (uint8_t)body;
  return (int)(p - out);
}
