/* The README's usage example, verbatim between the markers: a ctest
 * compares the two so the README's code is the code that is compiled and
 * run.  It reads a stream from stdin in whatever pieces read() returns and
 * prints where the connection would go. */
#include <stdio.h>
#include <unistd.h>
/* README-BEGIN */
#include <sniroute.h>

int route_stream(int fd) {
  sni_hello hello;   /* ~1.5 KB, owned by the caller: no allocation */
  sni_parser parser;
  sni_parser_init(&parser, &hello, NULL);    /* NULL: default limits */
  unsigned char buf[4096];
  int rc = SNI_EAGAIN;
  while (rc == SNI_EAGAIN) {
    ssize_t n = read(fd, buf, sizeof buf);   /* any split is fine */
    if (n <= 0) return -1;
    rc = sni_parser_feed(&parser, buf, (size_t)n);
  }
  if (rc < 0) {                 /* SNI_ENOTTLS: plain HTTP, SSH, ... */
    printf("not routed: %s\n", sni_strerror(rc));
    return rc;
  }
  /* rc = bytes of the last read that belonged to the hello */
  printf("sni=%s alpn=%u tls=0x%04x\n", hello.sni_present ? hello.sni_normalized
         : "(none)", hello.n_alpn, hello.max_version);
  return 0;
}
/* README-END */

int main(void) { return route_stream(0) == 0 ? 0 : 1; }
