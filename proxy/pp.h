/* PROXY protocol v1 (text) and v2 (binary) for sniroute-proxy: parse what
 * a trusted load balancer in front sends, build what upstreams receive. */
#ifndef PX_PP_H
#define PX_PP_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* The longest v1 line, CRLF included (the specification's limit). */
#define PX_PP_V1_MAX 107
/* v2: 16 fixed bytes, then up to 65535 bytes of addresses and TLVs. */
#define PX_PP_V2_FIXED 16
#define PX_PP_V2_MAX (PX_PP_V2_FIXED + 65535)

/* Parses a header at the start of buf.  Returns its length (> 0) and fills
 * src/dst (family AF_UNSPEC for LOCAL/UNKNOWN and for families a TCP proxy
 * cannot use), 0 when more bytes are needed, -1 when the bytes are not a
 * valid header.  Any length up to PX_PP_V2_MAX is accepted; a caller that
 * can look at fewer bytes treats 0 with a full buffer as "too large". */
int px_pp_parse(const uint8_t *buf, size_t len, px_addr *src, px_addr *dst);
/* Writes a v1 or v2 header for src -> dst into out (cap >= 256 + sni).
 * authority (may be NULL/"") goes in a PP2_TYPE_AUTHORITY TLV (v2 only).
 * Returns its length, or -1. */
int px_pp_build(int version, const px_addr *src, const px_addr *dst,
                const char *authority, uint8_t *out, size_t cap);

/* TLV types an upstream header may carry besides the authority. */
#define PX_PP2_TYPE_SSL 0x20
/* Appends a TLV (type, vlen bytes of v) to the v2 header of len bytes in
 * hdr (cap bytes) and updates the header's length.  Returns the new
 * length, or -1 when it does not fit. */
int px_pp_v2_add_tlv(uint8_t *hdr, size_t len, size_t cap, uint8_t type,
                     const uint8_t *v, size_t vlen);

/* More TLV types (docs/proxy.md, "PROXY protocol output"): the
 * specification's UNIQUE_ID (at most 128 bytes), and the client's JA4 in
 * a type from the range the specification leaves to private use
 * (0xE0..0xEF). */
#define PX_PP2_TYPE_UNIQUE_ID 0x05
#define PX_PP2_UNIQUE_ID_MAX 128
#define PX_PP2_TYPE_JA4 0xE4

/* `tlv=` on an upstream line: which TLVs its v2 headers carry. */
enum {
  PX_PP_TLV_AUTHORITY = 1 << 0,
  PX_PP_TLV_UNIQUE_ID = 1 << 1,
  PX_PP_TLV_CRC32C = 1 << 2,
  PX_PP_TLV_JA4 = 1 << 3,
  PX_PP_TLV_DEFAULT = PX_PP_TLV_AUTHORITY
};
/* A comma-separated list of authority, unique_id, crc32c, ja4 (each at
 * most once) into *mask.  0, or -1 for anything else. */
int px_pp_tlv_parse(const char *list, unsigned *mask);
/* Appends a PP2_TYPE_CRC32C TLV to the v2 header of len bytes in hdr
 * (cap bytes), checksumming the whole header, so it must be the last TLV
 * added.  Returns the new length, or -1 when it does not fit. */
int px_pp_v2_add_crc32c(uint8_t *hdr, size_t len, size_t cap);
/* CRC32C (Castagnoli) of n bytes at p: crc32c(p, n) of "123456789" is
 * 0xE3069283. */
uint32_t px_crc32c(const uint8_t *p, size_t n);

#endif
