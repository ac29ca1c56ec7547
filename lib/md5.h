/* MD5 (RFC 1321), internal to the library: JA3 (sni_ja3_md5()) is defined
 * as an MD5 digest, which is the only reason it is here.  Not for anything
 * that needs collision resistance.  No allocation, no system call. */
#ifndef SNIROUTE_MD5_H
#define SNIROUTE_MD5_H

#include <stddef.h>
#include <stdint.h>

#define SNI_MD5_LEN 16

void sni_md5(const void *data, size_t len, uint8_t digest[SNI_MD5_LEN]);

#endif
