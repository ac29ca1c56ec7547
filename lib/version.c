#include "sniroute.h"

#define SNI_STR_(x) #x
#define SNI_STR(x) SNI_STR_(x)

unsigned sni_version(void) { return SNI_VERSION_NUM; }

const char *sni_version_string(void) {
  return SNI_STR(SNI_VERSION_MAJOR) "." SNI_STR(SNI_VERSION_MINOR) "." SNI_STR(SNI_VERSION_PATCH);
}
