/*
 * Whole-file reading, the one helper for the tests, the benchmarks and
 * sniroute-inspect (which build tests/file_util.c into themselves; it is
 * not part of the library).
 */
#ifndef SNI_TEST_FILE_UTIL_H
#define SNI_TEST_FILE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads f to its end, or its first max bytes (SIZE_MAX: no limit; what
 * lies beyond max is left unread), into a malloc'd buffer of exactly the
 * size read (1 byte for nothing read), so that ASan reports any read past
 * the data.  Stores the size in *len and returns the buffer, which the
 * caller frees; NULL on a read error or out of memory (*len untouched).
 * f stays open. */
uint8_t *sni_file_read(FILE *f, size_t max, size_t *len);

/* sni_file_read() of the file at path ("-": standard input), which is
 * closed again.  NULL when it cannot be opened (errno says why) or read. */
uint8_t *sni_file_load(const char *path, size_t max, size_t *len);

#endif
