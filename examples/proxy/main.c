/* sniroute-proxy: share one TCP port between TLS services by SNI/ALPN,
 * without terminating TLS.  main() owns configuration and signals; the
 * workers (worker.c) own the connections.
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigwaitinfo(), so no handler ever runs inside a worker:
 *   HUP   rebuild the configuration and publish it; new connections use
 *         it, open ones keep the one they were routed with;
 *   TERM  (or INT) stop accepting, drain for drain_timeout, exit;
 *   USR1  print the counters to stderr. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

atomic_uint px_cfg_gen;
atomic_long px_total_conns;
int px_log_fd = -1;

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static px_cfg *cur_cfg;

px_cfg *px_current_cfg(unsigned *gen) {
  /* Taken only when the generation changed, i.e. after a reload. */
  pthread_mutex_lock(&cfg_lock);
  px_cfg *c = cur_cfg;
  px_cfg_ref(c);
  *gen = atomic_load(&px_cfg_gen);
  pthread_mutex_unlock(&cfg_lock);
  return c;
}

static void publish(px_cfg *n) {
  pthread_mutex_lock(&cfg_lock);
  px_cfg *old = cur_cfg;
  cur_cfg = n;
  atomic_fetch_add_explicit(&px_cfg_gen, 1, memory_order_release);
  pthread_mutex_unlock(&cfg_lock);
  px_cfg_unref(old);
}

static int open_log(const char *target) {
  if (strcmp(target, "off") == 0 || strcmp(target, "none") == 0) return -1;
  if (strcmp(target, "stderr") == 0) return STDERR_FILENO;
  if (strcmp(target, "stdout") == 0) return STDOUT_FILENO;
  int fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    fprintf(stderr, "sniroute-proxy: log %s: %s (logging to stderr)\n", target,
            strerror(errno));
  return fd < 0 ? STDERR_FILENO : fd;
}

static void print_counters(px_worker **ws, int n) {
  char out[2048];
  size_t len = 0;
  long active = 0;
  for (int i = 0; i < n; i++) active += px_worker_active(ws[i]);
  len += (size_t)snprintf(out + len, sizeof out - len,
                          "sniroute-proxy counters: active=%ld", active);
  for (int k = 0; k < PXC_COUNT && len < sizeof out; k++) {
    unsigned long long sum = 0;
    for (int i = 0; i < n; i++) sum += px_worker_counter(ws[i], k);
    len += (size_t)snprintf(out + len, sizeof out - len, " %s=%llu",
                            px_counter_names[k], sum);
  }
  if (len < sizeof out - 1) out[len++] = '\n';
  if (write(STDERR_FILENO, out, len < sizeof out ? len : sizeof out) < 0) {
  }
}

int main(int argc, char **argv) {
  px_cfg *cfg = px_cfg_from_args(argc, argv);
  if (!cfg) return 2;

  /* A write to a socket the peer closed must be an EPIPE, not a death. */
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  px_log_fd = open_log(cfg->log_target);
  cur_cfg = cfg;
  atomic_store(&px_cfg_gen, 1);

  int nw = cfg->workers;
  px_worker **ws = calloc((size_t)nw, sizeof *ws);
  if (!ws) return 1;
  for (int i = 0; i < nw; i++) {
    int err = 0;
    ws[i] = px_worker_start(i, cfg, &err);
    if (!ws[i]) {
      for (int k = 0; k < i; k++) {
        px_worker_stop(ws[k]);
        px_worker_join(ws[k]);
        px_worker_free(ws[k]);
      }
      return 1;
    }
  }
  fprintf(stderr, "sniroute-proxy %s: %d worker(s), pid %ld, listening on",
          sni_version_string(), nw, (long)getpid());
  for (int i = 0; i < cfg->nlisteners; i++)
    fprintf(stderr, " %s%s", cfg->listeners[i].text,
            cfg->listeners[i].accept_pp ? "(proxy_protocol)" : "");
  fputc('\n', stderr);

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue;
    if (sig == SIGUSR1) {
      print_counters(ws, nw);
    } else if (sig == SIGHUP) {
      px_cfg *n = px_cfg_reload(cur_cfg);
      if (!n) {
        fprintf(stderr, "sniroute-proxy: reload failed, keeping the running "
                        "configuration\n");
        continue;
      }
      /* Listening sockets and the worker count are fixed at start. */
      publish(n);
      fprintf(stderr, "sniroute-proxy: configuration reloaded (generation "
                      "%u)\n", atomic_load(&px_cfg_gen));
    } else {
      fprintf(stderr, "sniroute-proxy: %s: draining\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  for (int i = 0; i < nw; i++) px_worker_stop(ws[i]);
  for (int i = 0; i < nw; i++) px_worker_join(ws[i]);
  print_counters(ws, nw);
  for (int i = 0; i < nw; i++) px_worker_free(ws[i]);
  free(ws);
  pthread_mutex_lock(&cfg_lock);
  px_cfg_unref(cur_cfg);
  cur_cfg = NULL;
  pthread_mutex_unlock(&cfg_lock);
  if (px_log_fd > STDERR_FILENO) close(px_log_fd);
  return 0;
}
