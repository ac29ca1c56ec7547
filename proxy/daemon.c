/* Service plumbing (daemon.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PID_TEXT_MAX 32

/* ------------------------------------------------------------- pid file */
static long read_pid(int fd) {
  char buf[PID_TEXT_MAX] = "";
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  return strtol(buf, NULL, 10);
}

static int write_pid(int fd) {
  char buf[PID_TEXT_MAX];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n) return -1;
  return 0;
}

/* The lock is only good if it is on the file the path names now: a holder
 * that exits removes the file, and a waiter that locked the removed inode
 * must start over on the new one. */
static int still_named(const char *path, int fd) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

/* One attempt: 1 locked (pid written), 0 held by another, -1 error. */
static int try_lock(const char *path, int fd) {
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    return errno == EWOULDBLOCK ? 0 : -1;
  if (!still_named(path, fd)) return 2; /* reopen */
  if (write_pid(fd) != 0) {
    fprintf(stderr, "sniroute-proxy: pid_file %s: %s\n", path,
            strerror(errno));
    return -1;
  }
  return 1;
}

static int open_pidfile(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    fprintf(stderr, "sniroute-proxy: pid_file %s: %s\n", path,
            strerror(errno));
  return fd;
}

int px_pidfile_retry(const char *path, int fd, int *held) {
  for (int tries = 0; tries < 4; tries++) {
    int r = try_lock(path, fd);
    if (r == 0 || r == 1) {
      *held = r;
      return fd;
    }
    close(fd);
    if (r < 0) return -1;
    fd = open_pidfile(path);
    if (fd < 0) return -1;
  }
  fprintf(stderr, "sniroute-proxy: pid_file %s keeps being replaced\n", path);
  close(fd);
  return -1;
}

int px_pidfile_open(const char *path, int *held, long *holder) {
  int fd = open_pidfile(path);
  if (fd < 0) return -1;
  fd = px_pidfile_retry(path, fd, held);
  *holder = fd >= 0 && !*held ? read_pid(fd) : 0;
  return fd;
}

void px_pidfile_release(const char *path, int fd) {
  if (fd < 0) return;
  /* Unlinked before the lock goes: a waiter then sees a removed inode
   * (still_named) instead of a stale pid.  After a privilege drop the
   * directory may not be writable; the file then stays, unlocked. */
  if (unlink(path) != 0 && errno != ENOENT) {
    if (ftruncate(fd, 0) != 0) {
    }
  }
  close(fd);
}

/* ----------------------------------------------------------- privileges */
int px_lookup_ids(const char *user, const char *group, uid_t *uid, gid_t *gid) {
  *uid = getuid();
  *gid = getgid();
  if (user[0]) {
    struct passwd *pw = getpwnam(user);
    if (!pw) {
      fprintf(stderr, "sniroute-proxy: unknown user '%s'\n", user);
      return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
  }
  if (group[0]) {
    struct group *gr = getgrnam(group);
    if (!gr) {
      fprintf(stderr, "sniroute-proxy: unknown group '%s'\n", group);
      return -1;
    }
    *gid = gr->gr_gid;
  }
  return 0;
}

static int drop_failed(const char *what) {
  fprintf(stderr, "sniroute-proxy: cannot drop privileges: %s: %s\n", what,
          strerror(errno));
  return -1;
}

int px_drop_privileges(const char *user, const char *group) {
  if (!user[0] && !group[0]) return 0;
  uid_t uid, old_uid = geteuid();
  gid_t gid, old_gid = getegid();
  if (px_lookup_ids(user, group, &uid, &gid) != 0) return -1;
  /* Supplementary groups first: after setuid() they can no longer be
   * changed, and root's would stay. */
  if (setgroups(1, &gid) != 0) return drop_failed("setgroups");
  if (setgid(gid) != 0) return drop_failed("setgid");
  if (user[0] && setuid(uid) != 0) return drop_failed("setuid");
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0)
    return drop_failed("getresuid");
  int ok = rg == gid && eg == gid && sg == gid;
  if (user[0]) ok = ok && r == uid && e == uid && s == uid;
  /* An old id that can be taken back means the drop did not happen. */
  if (ok && user[0] && uid != old_uid && setuid(old_uid) == 0) ok = 0;
  if (ok && gid != old_gid && user[0] && setgid(old_gid) == 0) ok = 0;
  if (!ok) {
    errno = EPERM;
    return drop_failed("verification");
  }
  return 0;
}

/* ------------------------------------------------------------ port guard */
int px_port_in_use(const px_addr *a) {
  int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  /* SO_REUSEADDR: connections in TIME_WAIT do not count, listeners do. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a->ss.ss_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  int r = bind(fd, (const struct sockaddr *)&a->ss, a->len);
  int e = errno;
  close(fd);
  if (r == 0) return 0;
  errno = e;
  return e == EADDRINUSE ? 1 : -1;
}

/* The local address as /proc/net/tcp{,6} prints it: the address words in
 * host byte order, then the port. */
static void proc_addr(const px_addr *a, char *out, size_t cap) {
  if (a->ss.ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
    snprintf(out, cap, "%08X:%04X", (unsigned)s->sin_addr.s_addr,
             (unsigned)ntohs(s->sin_port));
    return;
  }
  const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
  uint32_t w[4];
  memcpy(w, &s->sin6_addr, sizeof w);
  snprintf(out, cap, "%08X%08X%08X%08X:%04X", (unsigned)w[0], (unsigned)w[1],
           (unsigned)w[2], (unsigned)w[3], (unsigned)ntohs(s->sin6_port));
}

int px_count_listeners(const px_addr *a) {
  const char *file =
      a->ss.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6";
  char want[64], line[512];
  proc_addr(a, want, sizeof want);
  FILE *f = fopen(file, "r");
  if (!f) return -1;
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    char local[64], remote[64], state[8];
    /* "  sl  local_address rem_address   st ..." */
    if (sscanf(line, "%*s %63s %63s %7s", local, remote, state) == 3 &&
        strcmp(state, "0A") == 0 && strcmp(local, want) == 0)
      n++;
  }
  fclose(f);
  return n;
}

/* --------------------------------------------------------------- systemd */
void px_notify(const char *msg) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@')) return;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len >= sizeof sa.sun_path) return;
  memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = 0; /* abstract namespace */
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, sl) <
      0) {
  }
  close(fd);
}
