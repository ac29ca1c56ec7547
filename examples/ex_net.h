/* Socket helpers shared by the integration examples (not part of the
 * library: plain POSIX, IPv4 "ADDR:PORT" only, enough for the demos). */
#ifndef SNIROUTE_EX_NET_H
#define SNIROUTE_EX_NET_H

#include <stddef.h>

/* Listen on "ADDR:PORT" (port 0: any free one) and print
 * "listening on ADDR:PORT" with the bound port on stdout.  -1 on error,
 * errno set. */
int ex_listen(const char *spec);
/* A TCP connection to "HOST:PORT" (a name or a literal), or -1. */
int ex_connect(const char *spec);
/* "ADDR:PORT" of the socket's peer into buf. */
void ex_peer_name(int fd, char *buf, size_t cap);
/* Write all of buf; 0 or -1. */
int ex_write_all(int fd, const void *buf, size_t len);
/* Copy both directions until both have ended, passing each end of stream
 * on as a half-close. */
void ex_relay(int a, int b);

#endif
