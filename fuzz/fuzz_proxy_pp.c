/* libFuzzer target: the PROXY protocol v1/v2 header parser of
 * sniroute-proxy (proxy/pp.c) on arbitrary bytes, which it reads straight
 * from the network.
 *
 * Checks: the result is -1, 0 or a length within the input; a header is
 * never "incomplete" past the longest one the specification allows;
 * parsing exactly the accepted bytes gives the same length and addresses,
 * and a few of its strict prefixes ask for more; a header with addresses,
 * rebuilt as v1 and as v2 with px_pp_build(), parses back to the same
 * endpoints (IPv4-mapped IPv6 compared as IPv4, the form the builder
 * chooses). */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/pp.h"

/* Family, address and port in one comparable form. */
typedef struct endpoint {
  int family;
  uint8_t ip[16];
  uint16_t port;
} endpoint;

static endpoint norm(const px_addr *a) {
  endpoint e;
  memset(&e, 0, sizeof e);
  e.family = a->ss.ss_family;
  if (e.family == AF_INET) {
    struct sockaddr_in s;
    memcpy(&s, &a->ss, sizeof s);
    memcpy(e.ip, &s.sin_addr, 4);
    e.port = s.sin_port;
  } else if (e.family == AF_INET6) {
    struct sockaddr_in6 s;
    memcpy(&s, &a->ss, sizeof s);
    e.port = s.sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&s.sin6_addr)) {
      e.family = AF_INET;
      memcpy(e.ip, s.sin6_addr.s6_addr + 12, 4);
    } else {
      memcpy(e.ip, &s.sin6_addr, 16);
    }
  }
  return e;
}

static void same(const px_addr *a, const px_addr *b) {
  endpoint x = norm(a), y = norm(b);
  if (memcmp(&x, &y, sizeof x) != 0) abort();
}

static int parse_copy(const uint8_t *data, size_t n, px_addr *s, px_addr *d) {
  uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
  if (!copy) abort();
  memcpy(copy, data, n);
  memset(s, 0, sizeof *s);
  memset(d, 0, sizeof *d);
  int r = px_pp_parse(copy, n, s, d);
  free(copy);
  return r;
}

static void round_trip(const px_addr *s, const px_addr *d) {
  uint8_t out[PX_PP_V1_MAX + 300];
  for (int ver = 1; ver <= 2; ver++) {
    int n = px_pp_build(ver, s, d, NULL, out, sizeof out);
    if (n <= 0) abort();
    px_addr s2, d2;
    if (parse_copy(out, (size_t)n, &s2, &d2) != n) abort();
    same(s, &s2);
    same(d, &d2);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  px_addr s, d;
  int r = parse_copy(data, size, &s, &d);
  if (r < -1 || (r > 0 && (size_t)r > size)) abort();
  if (r == 0 && size >= PX_PP_V2_MAX) abort();
  if (r <= 0) return 0;
  px_addr s2, d2;
  if (parse_copy(data, (size_t)r, &s2, &d2) != r) abort();
  same(&s, &s2);
  same(&d, &d2);
  size_t prefixes[] = {(size_t)r - 1, (size_t)r / 2, 16, 6, 1};
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
    if (prefixes[i] < (size_t)r && parse_copy(data, prefixes[i], &s2, &d2) != 0)
      abort();
  int known = s.ss.ss_family == AF_INET || s.ss.ss_family == AF_INET6;
  if (known != (d.ss.ss_family == AF_INET || d.ss.ss_family == AF_INET6))
    abort();
  if (known) round_trip(&s, &d);
  return 0;
}
