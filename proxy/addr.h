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

#define PX_PORT_MAX 65535u
/* px_parse_addr_ex flags: never resolve a host name (literals only). */
#define PX_ADDR_NUMERIC 1

/* "HOST:PORT" or "[V6]:PORT": a non-empty host (an IPv6 literal only in
 * brackets) and a port 1..65535 in plain decimal.  A host name is resolved
 * once with getaddrinfo (the first address), unless PX_ADDR_NUMERIC.
 * 0 or -1. */
int px_parse_addr_ex(const char *text, int flags, px_addr *out);
int px_parse_addr(const char *text, px_addr *out); /* flags 0 */
/* n bytes of plain decimal: digits only, no sign, no leading zero (so
 * nothing can be read as octal or hexadecimal), at most max.  0 or -1. */
int px_parse_dec(const char *s, size_t n, unsigned long max,
                 unsigned long *out);
/* "1.2.3.4:5", "[::1]:5", or "-" for anything else. */
void px_addr_str(const px_addr *a, char *buf, size_t cap);
/* "10.0.0.0/8", "::1" (a bare address is a full-length prefix; the prefix
 * length is px_parse_dec, at most 32 or 128).  0 or -1. */
int px_parse_cidr(const char *text, px_cidr *out);
/* 1 when sa (v4, v6 or v4-mapped v6) is inside one of the n prefixes. */
int px_cidr_match(const px_cidr *list, int n, const struct sockaddr *sa);

/* px_addr_connect()'s failures. */
enum { PX_CONNECT_NO_SOCKET = -1, PX_CONNECT_FAILED = -2 };
/* A non-blocking TCP socket to a, with TCP_NODELAY (and with fastopen,
 * TCP_FASTOPEN_CONNECT: the first send then goes in the SYN when a cookie
 * is cached), its connect() started; to loopback and near hosts it has
 * usually completed on return.  The descriptor, or PX_CONNECT_NO_SOCKET
 * (no descriptor or memory: another address would fare no better) or
 * PX_CONNECT_FAILED (refused at once; nothing left open), errno set. */
int px_addr_connect(const px_addr *a, int fastopen);

#endif
