/* libFuzzer target: the sniroute-proxy configuration parser
 * (proxy/config.c, proxy/addr.c) on arbitrary bytes as a file.
 *
 * Sandboxed: host names are never resolved (numeric addresses only), `map`
 * reads nothing from the disk, no socket is opened and no process limit is
 * touched.  The input is handed over in an exact-size heap copy.
 *
 * Checks: a failure prints exactly one line, naming the file ("f.conf:",
 * with a line number when it has one); a success has at most 16 TCP
 * listeners, upstreams with 1..PX_MAX_ADDRS addresses, durations off or
 * within 1 ms..24 h, 1..256 workers, and routes whose targets are its own
 * upstreams; building the same bytes again gives the same answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config.h"

#define FILE_NAME "f.conf"
#define DURATION_MAX_MS (24u * 60 * 60 * 1000)

static px_cfg *build(const char *text, size_t n, char **msg, size_t *msg_len) {
  FILE *err = open_memstream(msg, msg_len);
  if (!err) abort();
  px_cfg_src src = {.text = text, .len = n, .config = FILE_NAME, .err = err,
                    .bare = 1, .numeric = 1, .sandbox = 1};
  px_cfg *c = px_cfg_build(&src);
  fclose(err);
  return c;
}

static void check_failure(const char *msg, size_t n) {
  const char *nl = memchr(msg, '\n', n);
  if (!nl || (size_t)(nl - msg) + 1 != n) abort(); /* exactly one line */
  if (strncmp(msg, FILE_NAME ":", strlen(FILE_NAME) + 1) != 0) abort();
}

static int is_upstream(const px_cfg *c, const void *t) {
  for (int i = 0; i < c->nups; i++)
    if (c->ups[i] == t) return 1;
  return 0;
}

static void check_duration(unsigned ms) {
  if (ms > DURATION_MAX_MS) abort();
}

static void check_success(const px_cfg *c) {
  /* TCP listeners may be none when QUIC ones exist. */
  if (c->nlisteners < 0 || c->nlisteners > PX_MAX_LISTENERS) abort();
  if (c->workers < 1 || c->workers > 256) abort();
  check_duration(c->hello_timeout_ms);
  check_duration(c->connect_timeout_ms);
  check_duration(c->idle_timeout_ms);
  check_duration(c->drain_timeout_ms);
  for (int i = 0; i < c->nlisteners; i++) {
    const px_listener *l = &c->listeners[i];
    if (l->accept_pp != (l->ntrusted > 0)) abort();
    if (!memchr(l->text, 0, sizeof l->text)) abort();
    if (l->server < 0 || l->server >= c->nservers) abort();
  }
  if (c->nservers < 1 || c->nservers > PX_MAX_SERVERS) abort();
  for (int i = 0; i < c->nups; i++) {
    const px_upstream *u = c->ups[i];
    if (u->naddrs < 1 || u->naddrs > PX_MAX_ADDRS) abort();
    if (u->pp < 0 || u->pp > 2) abort();
    if (!memchr(u->name, 0, sizeof u->name)) abort();
  }
  /* Whatever the routes are, a lookup lands on one of the upstreams. */
  static const char *const names[] = {"www.example.test", "a", "", "x.y.z"};
  for (int v = 0; v < c->nservers; v++)
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
      void *t = NULL;
      int k = sni_router_match(c->servers[v].router, names[i],
                               strlen(names[i]), NULL, 0, &t);
      if (k > 0 && !is_upstream(c, t)) abort();
      if (k <= 0 && k != SNI_ENOENT) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1);
  if (!text) abort();
  memcpy(text, data, size);
  char *msg = NULL, *msg2 = NULL;
  size_t ml = 0, ml2 = 0;
  px_cfg *c = build(text, size, &msg, &ml);
  if (c)
    check_success(c);
  else
    check_failure(msg, ml);
  px_cfg *c2 = build(text, size, &msg2, &ml2);
  if (!c != !c2 || ml != ml2 || memcmp(msg, msg2, ml) != 0) abort();
  px_cfg_unref(c);
  px_cfg_unref(c2);
  free(msg);
  free(msg2);
  free(text);
  return 0;
}
