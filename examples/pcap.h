/*
 * A small pcap / pcapng reader for sniroute-inspect: walks a capture held
 * in memory and hands every TCP segment and UDP datagram over IPv4 or IPv6
 * to a callback.  Link types: Ethernet (with 802.1Q/802.1ad tags), Linux
 * cooked v1 and v2, raw IP (101, 228, 229), PPP (9), BSD loopback (0).
 * IP fragments, truncated packets and anything else are skipped.  Part of
 * the tool, not of the library.
 */
#ifndef SNI_EXAMPLE_PCAP_H
#define SNI_EXAMPLE_PCAP_H

#include <stddef.h>
#include <stdint.h>

enum { SNI_PCAP_TCP = 6, SNI_PCAP_UDP = 17 };
enum { SNI_PCAP_TCP_SYN = 0x02, SNI_PCAP_TCP_ACK = 0x10 };

typedef struct sni_pcap_pkt {
  int ipver;              /* 4 or 6 */
  uint8_t src[16], dst[16]; /* IPv4 in the first 4 bytes */
  uint16_t sport, dport;
  int proto;              /* SNI_PCAP_TCP or SNI_PCAP_UDP */
  uint32_t seq;           /* TCP only */
  uint8_t tcp_flags;      /* TCP only */
  const uint8_t *payload; /* inside the capture buffer */
  size_t len;
} sni_pcap_pkt;

/* 1 if b starts like a pcap or pcapng file. */
int sni_pcap_is_capture(const uint8_t *b, size_t n);

/* Calls cb for every TCP/UDP packet of the capture b[0..n), in file order;
 * stops early when cb returns nonzero.  Returns 0, or -1 if b is not a
 * capture this reader understands (a malformed tail just ends the walk). */
int sni_pcap_walk(const uint8_t *b, size_t n,
                  int (*cb)(void *ctx, const sni_pcap_pkt *p), void *ctx);

/* "a.b.c.d:port" or "[v6]:port" into out (at least 64 bytes). */
void sni_pcap_addr(int ipver, const uint8_t *addr, uint16_t port, char *out, size_t cap);

#endif
