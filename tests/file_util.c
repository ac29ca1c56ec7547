#include "file_util.h"

#include <stdlib.h>
#include <string.h>

/* First buffer size: most inputs (hellos, truth files) fit. */
#define SNI_FILE_FIRST_CAP 65536u

uint8_t *sni_file_read(FILE *f, size_t max, size_t *len) {
  size_t cap = max < SNI_FILE_FIRST_CAP ? max : SNI_FILE_FIRST_CAP, n = 0;
  uint8_t *b = malloc(cap ? cap : 1);
  int failed = !b;
  while (!failed) {
    if (n == cap) {
      if (cap >= max) break;
      size_t ncap = cap > max / 2 ? max : 2 * cap;
      uint8_t *nb = realloc(b, ncap);
      failed = !nb;
      if (failed) break;
      b = nb;
      cap = ncap;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      failed = ferror(f) != 0;
      break;
    }
  }
  uint8_t *exact = failed ? NULL : malloc(n ? n : 1);
  if (exact && n) memcpy(exact, b, n);
  free(b);
  if (exact) *len = n;
  return exact;
}

uint8_t *sni_file_load(const char *path, size_t max, size_t *len) {
  if (strcmp(path, "-") == 0) return sni_file_read(stdin, max, len);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *d = sni_file_read(f, max, len);
  fclose(f);
  return d;
}
