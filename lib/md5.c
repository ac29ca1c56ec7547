/* MD5 written from the description in RFC 1321 (moved here from the
 * examples so that the library and sniroute-inspect share one). */
#include "md5.h"

#include <string.h>

#define MD5_BLOCK 64
#define MD5_LEN_BYTES 8 /* message length trailer */
#define MD5_PAD_BYTE 0x80

static uint32_t md5_rol(uint32_t x, unsigned s) { return (x << s) | (x >> (32u - s)); }

static void md5_block(uint32_t st[4], const uint8_t *b) {
  static const uint8_t shift[64] = {
      7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
      5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
      4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
      6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
  /* T[i] = floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4 */
  static const uint32_t T[64] = {
      0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
      0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
      0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
      0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
      0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
      0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
      0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
      0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
      0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
      0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
      0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
  uint32_t X[16];
  for (unsigned i = 0; i < 16; i++)
    X[i] = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
           (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
  uint32_t a = st[0], bb = st[1], c = st[2], d = st[3];
  for (unsigned i = 0; i < 64; i++) {
    uint32_t f;
    unsigned g;
    if (i < 16) { f = (bb & c) | (~bb & d); g = i; }
    else if (i < 32) { f = (d & bb) | (~d & c); g = (5 * i + 1) & 15; }
    else if (i < 48) { f = bb ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (bb | ~d); g = (7 * i) & 15; }
    uint32_t tmp = d;
    d = c;
    c = bb;
    bb = bb + md5_rol(a + f + T[i] + X[g], shift[i]);
    a = tmp;
  }
  st[0] += a; st[1] += bb; st[2] += c; st[3] += d;
}

void sni_md5(const void *data, size_t len, uint8_t digest[SNI_MD5_LEN]) {
  uint32_t st[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  const uint8_t *p = data;
  size_t left = len;
  while (left >= MD5_BLOCK) {
    md5_block(st, p);
    p += MD5_BLOCK;
    left -= MD5_BLOCK;
  }
  /* RFC 1321 3.1-3.2: 0x80, zeros, then the bit length (little-endian)
   * in the last 8 bytes of one or two blocks. */
  uint8_t tail[2 * MD5_BLOCK];
  memset(tail, 0, sizeof tail);
  memcpy(tail, p, left);
  tail[left] = MD5_PAD_BYTE;
  size_t tl = left + 1 + MD5_LEN_BYTES <= MD5_BLOCK ? MD5_BLOCK : 2 * MD5_BLOCK;
  uint64_t bits = (uint64_t)len * 8u;
  for (unsigned i = 0; i < MD5_LEN_BYTES; i++)
    tail[tl - MD5_LEN_BYTES + i] = (uint8_t)(bits >> (8 * i));
  md5_block(st, tail);
  if (tl > MD5_BLOCK) md5_block(st, tail + MD5_BLOCK);
  for (unsigned i = 0; i < 4; i++)
    for (unsigned k = 0; k < 4; k++) digest[4 * i + k] = (uint8_t)(st[i] >> (8 * k));
}
