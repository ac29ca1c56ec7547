/* PROXY protocol v1 (text) and v2 (binary) for sniroute-proxy: parse what
 * a trusted load balancer in front sends, build what upstreams receive. */
#ifndef PX_PP_H
#define PX_PP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Parses a header at the start of buf.  Returns its length (> 0) and fills
 * src/dst (family AF_UNSPEC for LOCAL/UNKNOWN), 0 when more bytes are
 * needed, -1 when the bytes are not a valid header. */
int px_pp_parse(const uint8_t *buf, size_t len, px_addr *src, px_addr *dst);
/* Writes a v1 or v2 header for src -> dst into out (cap >= 256 + sni).
 * authority (may be NULL/"") goes in a PP2_TYPE_AUTHORITY TLV (v2 only).
 * Returns its length, or -1. */
int px_pp_build(int version, const px_addr *src, const px_addr *dst,
                const char *authority, uint8_t *out, size_t cap);

#endif
