/* A small MD5 (RFC 1321) for JA3 fingerprints in sniroute-inspect.
 * MD5 is used here only because JA3 is defined with it. */
#ifndef SNIROUTE_EXAMPLES_MD5_H
#define SNIROUTE_EXAMPLES_MD5_H
#include <stddef.h>
#include <stdint.h>
void sni_example_md5(const void *data, size_t len, uint8_t digest[16]);
#endif
