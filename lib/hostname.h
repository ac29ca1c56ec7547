/* Internal: host-name classification and normalisation (lib/hostname.c). */
#ifndef SNI_HOSTNAME_H
#define SNI_HOSTNAME_H

#include <stddef.h>
#include <stdint.h>

#include "sniroute.h"

/* Classifies the server name s[0..n) and writes its normalised form (ASCII
 * lowercase, one trailing dot removed, NUL-terminated) to lo, its length to
 * *lo_len.  Returns the SNI_NAME_* bits.  s and lo must each be buffers of
 * SNI_MAX_NAME + 1 bytes and n <= SNI_MAX_NAME: the SIMD version reads and
 * writes whole 16-byte blocks below n (zeros past the name).
 * Pure: no allocation, no system call, thread-safe. */
unsigned sni_host_classify(const char *s, size_t n, char *lo, size_t *lo_len);

#endif
