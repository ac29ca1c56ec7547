/* Address helpers of sniroute-proxy (addr.h). */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int px_parse_dec(const char *s, size_t n, unsigned long max,
                 unsigned long *out) {
  if (n == 0 || (s[0] == '0' && n > 1)) return -1;
  unsigned long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned long d = (unsigned long)(s[i] - '0');
    if (d > max || v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Splits "HOST:PORT" / "[V6]:PORT" into host (NUL-terminated) and port. */
static int split_host_port(const char *text, char *host, size_t cap,
                           const char **port, int *bracketed) {
  const char *h = text, *e;
  *bracketed = text[0] == '[';
  if (*bracketed) {
    h = text + 1;
    e = strchr(h, ']');
    if (!e || e[1] != ':') return -1;
    *port = e + 2;
  } else {
    e = strrchr(text, ':');
    if (!e) return -1;
    *port = e + 1;
  }
  size_t n = (size_t)(e - h);
  if (n == 0 || n >= cap) return -1;
  memcpy(host, h, n);
  host[n] = 0;
  /* An IPv6 literal without brackets is ambiguous ("::1:443"). */
  return !*bracketed && strchr(host, ':') ? -1 : 0;
}

int px_parse_addr_ex(const char *text, int flags, px_addr *out) {
  char host[256];
  const char *port;
  int br;
  unsigned long pn;
  memset(out, 0, sizeof *out);
  if (split_host_port(text, host, sizeof host, &port, &br) != 0 ||
      px_parse_dec(port, strlen(port), PX_PORT_MAX, &pn) != 0 || pn == 0)
    return -1;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  if (br) hints.ai_family = AF_INET6;
  if (br || (flags & PX_ADDR_NUMERIC)) hints.ai_flags |= AI_NUMERICHOST;
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return -1;
  memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int px_parse_addr(const char *text, px_addr *out) {
  return px_parse_addr_ex(text, 0, out);
}

void px_addr_str(const px_addr *a, char *buf, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (a->ss.ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
    port = ntohs(s->sin_port);
    snprintf(buf, cap, "%s:%u", ip, port);
  } else if (a->ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
    inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
    port = ntohs(s->sin6_port);
    snprintf(buf, cap, "[%s]:%u", ip, port);
  } else {
    snprintf(buf, cap, "-");
  }
}

int px_parse_cidr(const char *t, px_cidr *c) {
  char ip[64];
  const char *slash = strchr(t, '/');
  size_t n = slash ? (size_t)(slash - t) : strlen(t);
  if (n >= sizeof ip) return -1;
  memcpy(ip, t, n);
  ip[n] = 0;
  memset(c, 0, sizeof *c);
  if (inet_pton(AF_INET, ip, c->bytes) == 1) {
    c->family = AF_INET;
    c->prefix = 32;
  } else if (inet_pton(AF_INET6, ip, c->bytes) == 1) {
    c->family = AF_INET6;
    c->prefix = 128;
  } else {
    return -1;
  }
  if (slash) {
    unsigned long p;
    if (px_parse_dec(slash + 1, strlen(slash + 1), c->prefix, &p) != 0)
      return -1;
    c->prefix = (unsigned)p;
  }
  return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned full = bits / 8, rest = bits % 8;
  if (memcmp(a, b, full) != 0) return 0;
  if (!rest) return 1;
  uint8_t m = (uint8_t)(0xFF << (8 - rest));
  return (a[full] & m) == (b[full] & m);
}

int px_cidr_match(const px_cidr *list, int n, const struct sockaddr *sa) {
  uint8_t b4[4], b6[16];
  int have4 = 0, have6 = 0;
  if (sa->sa_family == AF_INET) {
    memcpy(b4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    have4 = 1;
  } else if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    memcpy(b6, a6, 16);
    have6 = 1;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
      memcpy(b4, b6 + 12, 4);
      have4 = 1;
    }
  }
  for (int i = 0; i < n; i++) {
    if (list[i].family == AF_INET && have4 &&
        prefix_eq(list[i].bytes, b4, list[i].prefix))
      return 1;
    if (list[i].family == AF_INET6 && have6 &&
        prefix_eq(list[i].bytes, b6, list[i].prefix))
      return 1;
  }
  return 0;
}

int px_addr_connect(const px_addr *a, int fastopen) {
  int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  if (fd < 0) return PX_CONNECT_NO_SOCKET;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* An old kernel refuses the option: then an ordinary connect. */
  if (fastopen)
    setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 &&
      errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return PX_CONNECT_FAILED;
  }
  return fd;
}
