/* See alloc_guard.h.  The replacements must not call anything that could
 * allocate, and must count nothing while disarmed (cmocka and stdio
 * allocate around the armed windows). */
#include "alloc_guard.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static volatile int armed;
static volatile unsigned long calls;

static void count(void) {
  if (armed) calls = calls + 1;
}

#if defined(__SANITIZE_ADDRESS__)
#define SNI_ALLOC_GUARD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNI_ALLOC_GUARD_ASAN 1
#endif
#endif

#if defined(SNI_ALLOC_GUARD_ASAN)
/* From the sanitizer runtime (gcc does not install its header). */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n) {
  (void)p;
  (void)n;
  count();
}

static void on_free(const volatile void *p) {
  (void)p;
  count();
}

static void install(void) {
  static int done;
  if (!done) done = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
}

int sni_alloc_guard_available(void) {
  install();
  return 1;
}
#elif defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

static void install(void) {}

int sni_alloc_guard_available(void) { return 1; }

void *malloc(size_t n) {
  count();
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t m) {
  count();
  return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n) {
  count();
  return __libc_realloc(p, n);
}

void free(void *p) {
  count();
  __libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t n) {
  count();
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  void *p = __libc_memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void *aligned_alloc(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}

void *memalign(size_t align, size_t n) {
  count();
  return __libc_memalign(align, n);
}

void *valloc(size_t n) {
  count();
  return __libc_valloc(n);
}

void *pvalloc(size_t n) {
  count();
  return __libc_pvalloc(n);
}

char *strdup(const char *s) {
  count();
  size_t n = strlen(s) + 1;
  char *d = __libc_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

char *strndup(const char *s, size_t max) {
  count();
  size_t n = strnlen(s, max);
  char *d = __libc_malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}
#else
static void install(void) { (void)count; }

int sni_alloc_guard_available(void) { return 0; }
#endif

void sni_alloc_guard_arm(void) {
  install();
  calls = 0;
  armed = 1;
}

unsigned long sni_alloc_guard_disarm(void) {
  armed = 0;
  unsigned long n = calls;
  calls = 0;
  return n;
}
