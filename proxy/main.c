/* sniroute-proxy: share one TCP port between TLS services by SNI/ALPN,
 * without terminating TLS.  main() handles the command line, starts the
 * workers (worker.c) and owns the signals.
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigwaitinfo(), so no handler ever runs inside a worker:
 *   HUP   rebuild the configuration and publish it; new connections use
 *         it, open ones keep the one they were routed with;
 *   TERM  (or INT) stop accepting, drain for drain_timeout, exit;
 *   USR1  reopen the log file (after a rotation);
 *   USR2  print the counters to stderr.
 * Operations (daemon.c): pid file and its lock, the port guard, dropping
 * privileges once everything is bound, systemd notification, and the
 * --takeover upgrade. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgstore.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "mhttp.h"
#include "steer.h"
#include "worker.h"

/* How often a --takeover instance looks whether the old one has gone. */
#define TAKEOVER_POLL_NS 100000000L

#ifndef PX_VERSION
#error "PX_VERSION (the project version) is set by proxy/CMakeLists.txt"
#endif

static void usage(FILE *out) {
  fputs(
      "usage: sniroute-proxy --config FILE [OPTION...]\n"
      "       sniroute-proxy --listen ADDR:PORT --route PATTERN=TARGET... "
      "[OPTION...]\n"
      "       sniroute-proxy -t --config FILE\n"
      "\n"
      "Routes TLS connections by SNI and ALPN without terminating TLS.\n"
      "Options given with --config are applied after the file.\n"
      "\n"
      "  --config FILE             configuration file (see sniroute-proxy.conf)\n"
      "  --listen ADDR:PORT        listening address (repeatable)\n"
      "  --quic ADDR:PORT          QUIC (UDP) listener, same routes (repeatable)\n"
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
      "  --relay splice|copy       how bytes are relayed (default splice)\n"
      "  --no-splice               the same as --relay copy\n"
      "  --preconnect N            keep N unused connections to each upstream\n"
      "                            in use (0..8, default 0)\n"
      "  --metrics ADDR:PORT       serve Prometheus metrics at /metrics\n"
      "  --pid-file FILE           write the pid to FILE and lock it\n"
      "  --user NAME               run as NAME once the sockets are open\n"
      "  --group NAME              run with group NAME (default: NAME's)\n"
      "  --takeover                replace the instance holding the pid file\n"
      "                            without refusing a connection (upgrade)\n"
      "  -t, --test-config         check the configuration and exit\n"
      "  --list-directives         print the configuration directives\n"
      "  -h, --help                print this help and exit\n"
      "  --version                 print the version and exit\n"
      "\n"
      "TARGET is HOST:PORT (or an upstream name from the file); DUR is 500ms,\n"
      "10s, 5m, 1h, a number of seconds, or off.\n"
      "Signals: HUP reloads the configuration, TERM/INT drain and stop,\n"
      "USR1 reopens the log file, USR2 prints the counters.\n",
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
    if (strcmp(argv[i], "--list-directives") == 0) {
      for (int k = 0; px_directives[k]; k++) puts(px_directives[k]);
      return 0;
    }
  }
  return -1;
}

/* main()'s own flags; everything else is the configuration's. */
typedef struct flags {
  int test, takeover;
} flags;

/* Moves main()'s flags out of argv (kept for reloads).  Returns the new
 * argc. */
static int take_flags(int argc, char **argv, flags *f) {
  int n = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--test-config") == 0)
      f->test = 1;
    else if (strcmp(argv[i], "--takeover") == 0)
      f->takeover = 1;
    else
      argv[n++] = argv[i];
  }
  argv[n] = NULL;
  return n;
}

/* -t: everything a start would check before opening a socket. */
static int test_config(const px_cfg *cfg) {
  uid_t uid;
  gid_t gid;
  if (!cfg || px_lookup_ids(cfg->user, cfg->group, &uid, &gid) != 0) return 1;
  if (cfg->source[0])
    printf("sniroute-proxy: configuration file %s test is successful\n",
           cfg->source);
  else
    printf("sniroute-proxy: command-line configuration test is successful\n");
  return 0;
}

static void print_counters(px_worker **ws, int n) {
  uint64_t sums[PXC_COUNT];
  long active = px_metrics_sum(ws, n, sums);
  px_log_counters(active, sums);
}

/* keep_listeners: another instance shares our listeners and steers new
 * connections away from ours (--takeover).  Closing a socket reorders its
 * SO_REUSEPORT group, which can send a new connection past the steering to
 * a socket of ours that is about to close (and reset it); so while the
 * workers drain, ours stay open, receiving nothing, and are closed
 * together at the end. */
static void stop_workers(px_worker **ws, int n, int keep_listeners) {
  for (int i = 0; i < n; i++) px_worker_stop(ws[i], keep_listeners);
  for (int i = 0; i < n; i++) px_worker_join(ws[i]);
  px_workers_close_listeners(ws, n);
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
      stop_workers(ws, i, 0);
      free_workers(ws, i);
      return NULL;
    }
  }
  fprintf(stderr, "sniroute-proxy %s: %d worker(s), pid %ld, listening on",
          sni_version_string(), nw, (long)getpid());
  for (int i = 0; i < cfg->nlisteners; i++)
    fprintf(stderr, " %s%s", cfg->listeners[i].text,
            cfg->listeners[i].accept_pp ? "(proxy_protocol)" : "");
  for (int i = 0; i < cfg->nquic; i++)
    fprintf(stderr, " %s(quic)", cfg->quic[i].text);
  if (cfg->metrics_text[0])
    fprintf(stderr, ", metrics on %s", cfg->metrics_text);
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
  /* Listening sockets, the worker count and the operations settings
   * (user, pid_file, metrics) are fixed at start. */
  gen = px_cfgstore_publish(n);
  fprintf(stderr, "sniroute-proxy: configuration reloaded (generation %u)\n",
          gen);
}

/* What the process holds while it runs. */
typedef struct runner {
  px_cfg *cfg; /* the start configuration (a reference of its own) */
  px_worker **ws;
  int nw;
  int pidfd;   /* -1: no pid file */
  int held;    /* we hold the pid file's lock */
  int waiting; /* --takeover: the old instance still holds it */
  int nold[PX_MAX_LISTENERS]; /* its sockets in each listener's group */
} runner;

/* Whether some TCP listener's port group holds sockets besides our
 * workers' (an instance taking over from us). */
static int listeners_shared(const runner *r) {
  for (int i = 0; i < r->cfg->nlisteners; i++)
    if (px_count_listeners(&r->cfg->listeners[i].addr) > r->nw) return 1;
  return 0;
}

/* Another process listening on one of our addresses would silently share
 * it through SO_REUSEPORT (same user) or make the bind fail (another
 * user): refuse to start instead, unless taking over on purpose. */
static int guard_ports(const px_cfg *cfg) {
  for (int i = 0; i <= cfg->nlisteners; i++) {
    const px_addr *a = i < cfg->nlisteners ? &cfg->listeners[i].addr
                                           : &cfg->metrics;
    const char *t = i < cfg->nlisteners ? cfg->listeners[i].text
                                        : cfg->metrics_text;
    if (!t[0]) continue;
    if (px_port_in_use(a) == 1) {
      fprintf(stderr, "sniroute-proxy: %s is already in use by another "
                      "process (to replace a running sniroute-proxy, start "
                      "the new one with --takeover)\n", t);
      return -1;
    }
  }
  return 0;
}

static int take_pidfile(runner *r, int takeover) {
  const char *path = r->cfg->pid_file;
  long holder = 0;
  r->pidfd = px_pidfile_open(path, &r->held, &holder);
  if (r->pidfd < 0) return -1;
  if (r->held) return 0;
  if (!takeover) {
    fprintf(stderr, "sniroute-proxy: another sniroute-proxy (pid %ld) holds "
                    "%s\n", holder, path);
    return -1;
  }
  fprintf(stderr, "sniroute-proxy: taking over from pid %ld (%s): serving "
                  "alongside it until it exits\n", holder, path);
  r->waiting = 1;
  for (int i = 0; i < r->cfg->nlisteners; i++) {
    r->nold[i] = px_count_listeners(&r->cfg->listeners[i].addr);
    if (r->nold[i] < 0) {
      fprintf(stderr, "sniroute-proxy: --takeover: cannot read the "
                      "listening sockets: %s\n", strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* --takeover, once our sockets listen: new connections go to them only,
 * so the old instance's accept queues run empty before it closes its
 * listeners (closing a listener resets what waits in its queue, unless
 * the eBPF program migrates it to ours). */
static void steer(runner *r, int on) {
  for (int i = 0; i < r->cfg->nlisteners; i++) {
    const char *what = r->cfg->listeners[i].text;
    if (!on) {
      if (px_steer_detach(r->ws[0]->lfd[i]) != 0)
        fprintf(stderr, "sniroute-proxy: %s: SO_REUSEPORT steering: %s\n",
                what, strerror(errno));
      continue;
    }
    int fds[PX_MAX_WORKERS];
    for (int k = 0; k < r->nw; k++) fds[k] = r->ws[k]->lfd[i];
    px_steer_kind how =
        px_steer_attach(fds, (unsigned)r->nw, (unsigned)r->nold[i]);
    if (how == PX_STEER_NONE)
      fprintf(stderr, "sniroute-proxy: %s: SO_REUSEPORT steering: %s\n",
              what, strerror(errno));
    else
      fprintf(stderr, "sniroute-proxy: %s: new connections steered to this "
                      "instance (%s)\n", what, px_steer_name(how));
  }
}

/* --takeover: polled until the old instance has exited. */
static void poll_takeover(runner *r) {
  r->pidfd = px_pidfile_retry(r->cfg->pid_file, r->pidfd, &r->held);
  if (r->pidfd < 0) {
    r->waiting = 0; /* message printed; keep serving without the file */
    return;
  }
  if (!r->held) return;
  r->waiting = 0;
  steer(r, 0);
  fprintf(stderr, "sniroute-proxy: took over %s\n", r->cfg->pid_file);
}

/* Takes signals until TERM or INT. */
static void signal_loop(const sigset_t *set, runner *r) {
  const struct timespec tick = {.tv_nsec = TAKEOVER_POLL_NS};
  for (;;) {
    siginfo_t si;
    int sig = r->waiting ? sigtimedwait(set, &si, &tick)
                         : sigwaitinfo(set, &si);
    if (r->waiting) poll_takeover(r);
    if (sig < 0) continue;
    if (sig == SIGUSR2) {
      print_counters(r->ws, r->nw);
    } else if (sig == SIGUSR1) {
      px_log_reopen();
    } else if (sig == SIGHUP) {
      reload();
    } else {
      fprintf(stderr, "sniroute-proxy: %s: draining\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
      return;
    }
  }
}

/* Everything up to serving; an exit status on failure, -1 when running. */
static int start(runner *r, const flags *f) {
  px_cfg *cfg = r->cfg;
  uid_t uid;
  gid_t gid;
  if (px_lookup_ids(cfg->user, cfg->group, &uid, &gid) != 0) return 1;
  if (f->takeover && !cfg->pid_file[0]) {
    fprintf(stderr, "sniroute-proxy: --takeover needs pid_file (it tells "
                    "when the old instance is gone)\n");
    return 2;
  }
  if (cfg->pid_file[0] && take_pidfile(r, f->takeover) != 0) return 1;
  if (!r->waiting && guard_ports(cfg) != 0) return 1;
  px_log_open(cfg->log_target);
  if (px_metrics_init(cfg->workers) != 0) {
    fprintf(stderr, "sniroute-proxy: out of memory (metrics)\n");
    return 1;
  }
  px_cfg_ref(cfg);
  px_cfgstore_init(cfg);
  r->nw = cfg->workers;
  r->ws = start_workers(cfg);
  if (!r->ws) return 1;
  if (cfg->metrics_text[0] &&
      px_mhttp_start(&cfg->metrics, cfg->metrics_text, r->ws, r->nw) != 0)
    return 1;
  if (r->waiting) steer(r, 1);
  /* Last, once every socket and file that needs root is open. */
  if (px_drop_privileges(cfg->user, cfg->group) != 0) return 1;
  px_notify("READY=1");
  return -1;
}

static void finish(runner *r) {
  px_notify("STOPPING=1");
  px_mhttp_stop();
  if (r->ws) {
    stop_workers(r->ws, r->nw, listeners_shared(r));
    print_counters(r->ws, r->nw);
    free_workers(r->ws, r->nw);
  }
  px_cfgstore_clear();
  px_metrics_free();
  px_log_close();
  if (r->held)
    px_pidfile_release(r->cfg->pid_file, r->pidfd);
  else if (r->pidfd >= 0)
    close(r->pidfd);
  px_cfg_unref(r->cfg);
}

int main(int argc, char **argv) {
  int rc = early_options(argc, argv);
  if (rc >= 0) return rc;
  flags f = {0};
  argc = take_flags(argc, argv, &f);
  if (f.test) {
    /* Errors as bare "FILE:LINE: message" lines, like compilers. */
    px_cfg_src src = {.argc = argc, .argv = argv, .bare = 1};
    px_cfg *tc = px_cfg_build(&src);
    rc = test_config(tc);
    px_cfg_unref(tc);
    return rc;
  }
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
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  runner r = {.cfg = cfg, .pidfd = -1};
  rc = start(&r, &f);
  if (rc < 0) {
    signal_loop(&set, &r);
    rc = 0;
  }
  finish(&r);
  return rc;
}
