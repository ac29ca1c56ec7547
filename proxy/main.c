/* sniroute-proxy: share one TCP port between TLS services by SNI/ALPN,
 * without terminating TLS.  main() handles the command line, starts the
 * workers (worker.c) and owns the signals.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgstore.h"
#include "config.h"
#include "log.h"
#include "worker.h"

#ifndef PX_VERSION
#error "PX_VERSION (the project version) is set by proxy/CMakeLists.txt"
#endif

static void usage(FILE *out) {
  fputs(
      "usage: sniroute-proxy --config FILE [OPTION...]\n"
      "       sniroute-proxy --listen ADDR:PORT --route PATTERN=TARGET... "
      "[OPTION...]\n"
      "\n"
      "Routes TLS connections by SNI and ALPN without terminating TLS.\n"
      "Options given with --config are applied after the file.\n"
      "\n"
      "  --config FILE             configuration file (docs/proxy.md)\n"
      "  --listen ADDR:PORT        listening address (repeatable)\n"
      "  --route 'PATTERN=TARGET[ alpn=a,b]'\n"
      "                            a route in map syntax (repeatable)\n"
      "  --default TARGET          route for names nothing else matches\n"
      "  --no-sni TARGET           route for hellos without a usable SNI\n"
      "  --not-tls TARGET          route for connections that are not TLS\n"
      "  --workers N               worker threads (1..256, default 1)\n"
      "  --hello-timeout DUR       whole ClientHello within (default 10s)\n"
      "  --connect-timeout DUR     per upstream address (default 5s)\n"
      "  --idle-timeout DUR        relay without a byte (default 10m)\n"
      "  --drain-timeout DUR       open connections after TERM (default 10s)\n"
      "  --max-connections N       pause accepting above N (default 0: none)\n"
      "  --log stderr|stdout|off|FILE  connection log (default stderr)\n"
      "  --no-splice               relay with recv/send instead of splice\n"
      "  -h, --help                print this help and exit\n"
      "  --version                 print the version and exit\n"
      "\n"
      "TARGET is HOST:PORT (or an upstream name from the file); DUR is 500ms,\n"
      "10s, 5m, 1h, a number of seconds, or off.\n"
      "Signals: HUP reloads the configuration, TERM/INT drain and stop,\n"
      "USR1 prints the counters.\n",
      out);
}

/* Options main() answers without reading any configuration.  Returns an
 * exit status, or -1 to go on. */
static int early_options(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    }
    if (strcmp(argv[i], "--version") == 0) {
      unsigned v = sni_version();
      printf("sniroute-proxy %s (libsniroute %u.%u.%u)\n", PX_VERSION,
             v >> 16, (v >> 8) & 0xff, v & 0xff);
      return 0;
    }
  }
  return -1;
}

static void print_counters(px_worker **ws, int n) {
  uint64_t sums[PXC_COUNT] = {0};
  long active = 0;
  for (int i = 0; i < n; i++) {
    active += px_worker_active(ws[i]);
    for (int k = 0; k < PXC_COUNT; k++) sums[k] += px_worker_counter(ws[i], k);
  }
  px_log_counters(active, sums);
}

static void stop_workers(px_worker **ws, int n) {
  for (int i = 0; i < n; i++) px_worker_stop(ws[i]);
  for (int i = 0; i < n; i++) px_worker_join(ws[i]);
}

static void free_workers(px_worker **ws, int n) {
  for (int i = 0; i < n; i++) px_worker_free(ws[i]);
  free(ws);
}

/* NULL when a worker (its listeners) could not be started. */
static px_worker **start_workers(px_cfg *cfg) {
  int nw = cfg->workers;
  px_worker **ws = calloc((size_t)nw, sizeof *ws);
  if (!ws) return NULL;
  for (int i = 0; i < nw; i++) {
    int err = 0;
    ws[i] = px_worker_start(i, cfg, &err);
    if (!ws[i]) {
      stop_workers(ws, i);
      free_workers(ws, i);
      return NULL;
    }
  }
  fprintf(stderr, "sniroute-proxy %s: %d worker(s), pid %ld, listening on",
          sni_version_string(), nw, (long)getpid());
  for (int i = 0; i < cfg->nlisteners; i++)
    fprintf(stderr, " %s%s", cfg->listeners[i].text,
            cfg->listeners[i].accept_pp ? "(proxy_protocol)" : "");
  fputc('\n', stderr);
  return ws;
}

static void reload(void) {
  unsigned gen;
  px_cfg *old = px_cfgstore_get(&gen);
  px_cfg *n = px_cfg_reload(old);
  px_cfg_unref(old);
  if (!n) {
    fprintf(stderr, "sniroute-proxy: reload failed, keeping the running "
                    "configuration\n");
    return;
  }
  /* Listening sockets and the worker count are fixed at start. */
  gen = px_cfgstore_publish(n);
  fprintf(stderr, "sniroute-proxy: configuration reloaded (generation %u)\n",
          gen);
}

/* Takes signals until TERM or INT. */
static void signal_loop(const sigset_t *set, px_worker **ws, int nw) {
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(set, &si);
    if (sig < 0) continue;
    if (sig == SIGUSR1) {
      print_counters(ws, nw);
    } else if (sig == SIGHUP) {
      reload();
    } else {
      fprintf(stderr, "sniroute-proxy: %s: draining\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
      return;
    }
  }
}

int main(int argc, char **argv) {
  int rc = early_options(argc, argv);
  if (rc >= 0) return rc;
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

  px_log_open(cfg->log_target);
  px_cfgstore_init(cfg);
  int nw = cfg->workers;
  px_worker **ws = start_workers(cfg);
  if (!ws) return 1;

  signal_loop(&set, ws, nw);
  stop_workers(ws, nw);
  print_counters(ws, nw);
  free_workers(ws, nw);
  px_cfgstore_clear();
  px_log_close();
  return 0;
}
