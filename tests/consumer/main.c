/* A consumer of the installed or embedded library: parses a hello given on
 * the command line and prints the server name. */
#include <sniroute.h>
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  unsigned char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  sni_hello h;
  int rc = sni_parse(&h, buf, n);
  if (sni_version() != SNI_VERSION_NUM) return 3;
  printf("%s %s\n", sni_errname(rc), h.sni_present ? h.sni : "-");
  return rc > 0 ? 0 : 1;
}
