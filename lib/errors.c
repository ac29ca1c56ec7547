/* Error names and messages, generated from the one SNI_ERRNO_MAP so the
 * enum, sni_strerror() and sni_errname() can never drift apart. */
#include "sniroute.h"

const char *sni_strerror(int err) {
  if (err >= 0) return "success";
  switch (err) {
#define SNI_ERR_MSG_(name, val, msg) case SNI_##name: return msg;
    SNI_ERRNO_MAP(SNI_ERR_MSG_)
#undef SNI_ERR_MSG_
    default: return "unknown error";
  }
}

const char *sni_errname(int err) {
  if (err >= 0) return "ok";
  switch (err) {
#define SNI_ERR_NAME_(name, val, msg) case SNI_##name: return #name;
    SNI_ERRNO_MAP(SNI_ERR_NAME_)
#undef SNI_ERR_NAME_
    default: return "EUNKNOWN";
  }
}
