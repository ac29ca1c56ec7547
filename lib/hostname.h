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
 * writes whole 16-byte blocks below n (zeros past the name).  With ls not
 * NULL, the same pass also gives the label starts of lo as
 * sni_host_labels() would (*nl: their count), valid when the result has
 * no SNI_NAME_NOT_HOSTNAME; ls needs SNI_MAX_NAME + 2 entries.  The
 * router's string lookup uses them; the parser passes NULL.
 * Pure: no allocation, no system call, thread-safe. */
unsigned sni_host_classify(const char *s, size_t n, char *lo, size_t *lo_len,
                           uint8_t *ls, unsigned *nl);

/* Most labels a host name holds: 253 bytes make at most 127. */
#define SNI_HOST_MAX_LABELS 127

/* Where the labels of lo[0..n) start, for a name sni_host_classify()
 * accepted (normalised, no SNI_NAME_NOT_HOSTNAME): ls[i] is the start of
 * label i and ls[count] = n + 1, so label i is ls[i] .. ls[i+1] - 2.
 * Returns the label count.  Nothing is validated: for any bytes the
 * result stays in bounds.  lo is read in whole 16-byte blocks below n (its
 * buffer must hold n rounded up to 16 bytes; the bytes past n are
 * ignored); n <= 253 and ls needs n + 2 entries (a name of dots has n + 1
 * labels, a host name at most SNI_HOST_MAX_LABELS).  Pure, thread-safe. */
unsigned sni_host_labels(const char *lo, size_t n, uint8_t *ls);

/* The host-name rules for a name pattern's literal part s[0..n) (the
 * pattern without its `*.`, `.` or `.*`; n >= 1): the byte classes and
 * label rules of sni_host_classify(), and, unless digits_last, a last
 * label that is not all digits.  Writes the lowercase form to lo (n
 * bytes).  Returns NULL when s passes, else the reason (a static string),
 * with *at the offset of the offending byte (n for a rule about the whole
 * name or its last label).  Lengths over 253 are the caller's to refuse. */
const char *sni_host_check_literal(const char *s, size_t n, int digits_last,
                                   char *lo, size_t *at);

#endif
