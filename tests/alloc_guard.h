/*
 * Counting allocator calls, for the tests that prove a code path never
 * allocates (parser, QUIC reader, crypto, fingerprints, router lookups).
 * Link tests/alloc_guard.c into the test executable; it counts every
 * allocation and release the process makes between arm and disarm:
 *
 *  - glibc builds without AddressSanitizer: the executable replaces every
 *    allocator entry point (malloc, calloc, realloc, free, posix_memalign,
 *    aligned_alloc, memalign, valloc, pvalloc, strdup, strndup), each
 *    forwarding to glibc's __libc_* implementation;
 *  - AddressSanitizer builds (which own malloc): the sanitizer's
 *    allocation hooks count instead;
 *  - anything else: counting is unavailable and the tests skip.
 *
 * Single-threaded use only: the count is process-wide.
 */
#ifndef SNI_TEST_ALLOC_GUARD_H
#define SNI_TEST_ALLOC_GUARD_H

/* 1 when this build can count allocations, 0 when the caller must skip. */
int sni_alloc_guard_available(void);
/* Zeroes the count and starts counting. */
void sni_alloc_guard_arm(void);
/* Stops counting; returns the calls counted since the last arm (or
 * disarm) and zeroes the count, so a second disarm returns what was
 * counted while disarmed: 0 unless counting is broken. */
unsigned long sni_alloc_guard_disarm(void);

#endif
