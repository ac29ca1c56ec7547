/* Connection log and counter names (log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const px_counter_names[PXC_COUNT] = {
    "accepted",         "hellos_parsed",    "no_sni",
    "not_tls",          "bad_hello",        "too_large",
    "hello_timeouts",   "connect_timeouts", "idle_timeouts",
    "routed",           "no_route",         "connect_failures",
    "proxy_header_rejected", "accept_pauses", "bytes_client_to_upstream",
    "bytes_upstream_to_client"};

static int log_fd = -1;

void px_log_open(const char *target) {
  if (strcmp(target, "off") == 0 || strcmp(target, "none") == 0) {
    log_fd = -1;
  } else if (strcmp(target, "stderr") == 0) {
    log_fd = STDERR_FILENO;
  } else if (strcmp(target, "stdout") == 0) {
    log_fd = STDOUT_FILENO;
  } else {
    log_fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log_fd < 0) {
      fprintf(stderr, "sniroute-proxy: log %s: %s (logging to stderr)\n",
              target, strerror(errno));
      log_fd = STDERR_FILENO;
    }
  }
}

void px_log_close(void) {
  if (log_fd > STDERR_FILENO) close(log_fd);
  log_fd = -1;
}

int px_log_enabled(void) { return log_fd >= 0; }

static const char *dash(const char *s) { return s && *s ? s : "-"; }

void px_log_conn(const px_log_rec *r) {
  if (log_fd < 0) return;
  char line[1024], ts[40], cl[64], ua[PX_NAME_MAX + 80 + 3] = "-";
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  struct tm tm;
  gmtime_r(&rt.tv_sec, &tm);
  size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", rt.tv_nsec / 1000000);
  px_addr_str(r->client, cl, sizeof cl);
  if (r->up)
    snprintf(ua, sizeof ua, "%s(%s)", r->up->name,
             r->up->addr_text[r->addr_i < r->up->naddrs ? r->addr_i : 0]);
  int n = snprintf(line, sizeof line,
                   "%s w%d client=%s sni=%s alpn=%s route=%s upstream=%s "
                   "bytes_up=%llu bytes_down=%llu ms=%llu verdict=%s\n",
                   ts, r->worker, cl, dash(r->sni), dash(r->alpn),
                   dash(r->route), ua, (unsigned long long)r->bytes_up,
                   (unsigned long long)r->bytes_down,
                   (unsigned long long)r->ms, r->verdict);
  if (n > 0) {
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    /* One write per line keeps lines whole with several workers. */
    if (write(log_fd, line, len) < 0) {
    }
  }
}

void px_log_counters(long active, const uint64_t sums[PXC_COUNT]) {
  char out[2048];
  size_t len = 0;
  len += (size_t)snprintf(out + len, sizeof out - len,
                          "sniroute-proxy counters: active=%ld", active);
  for (int k = 0; k < PXC_COUNT && len < sizeof out; k++)
    len += (size_t)snprintf(out + len, sizeof out - len, " %s=%llu",
                            px_counter_names[k], (unsigned long long)sums[k]);
  if (len < sizeof out - 1) out[len++] = '\n';
  if (write(STDERR_FILENO, out, len < sizeof out ? len : sizeof out) < 0) {
  }
}
