/* Socket addresses of sniroute-proxy: parsing "HOST:PORT" / "[V6]:PORT",
 * printing, and CIDR lists (the balancers trusted to send PROXY headers). */
#ifndef PX_ADDR_H
#define PX_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct px_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} px_addr;

typedef struct px_cidr {
  int family;
  uint8_t bytes[16];
  unsigned prefix;
} px_cidr;

/* Resolves once (getaddrinfo, numeric port).  0 or -1. */
int px_parse_addr(const char *text, px_addr *out);
/* "1.2.3.4:5", "[::1]:5", or "-" for anything else. */
void px_addr_str(const px_addr *a, char *buf, size_t cap);
/* "10.0.0.0/8", "::1" (a bare address is a full-length prefix).  0 or -1. */
int px_parse_cidr(const char *text, px_cidr *out);
/* 1 when sa (v4, v6 or v4-mapped v6) is inside one of the n prefixes. */
int px_cidr_match(const px_cidr *list, int n, const struct sockaddr *sa);

#endif
