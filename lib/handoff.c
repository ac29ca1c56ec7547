/* Passing accepted connections to another local process over a Unix
 * socket (SCM_RIGHTS).  See "Handing connections to another process" in
 * sniroute.h for the protocol.  POSIX only, kept apart from the parser
 * like peek.c. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC, SOCK_CLOEXEC, MSG_NOSIGNAL */
#endif
#include "sniroute.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif
#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0
#endif
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* then the caller must ignore SIGPIPE */
#endif

/* First byte of every message: lets a later protocol version be told
 * apart, and makes the fd-carrying messages non-empty (some systems drop
 * ancillary data sent with an empty payload). */
#define TAG_REGISTER 0x52 /* 'R' */
#define TAG_HANDOFF 0x48  /* 'H' */

static const char magic[4] = {'S', 'N', 'H', '1'};

static int set_path(struct sockaddr_un *sa, const char *path) {
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sa->sun_path) return SNI_EINVAL;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, path, n + 1);
  return 0;
}

static int seqpacket_socket(void) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  return fd < 0 ? SNI_ESYS : fd;
}

static int close_keep_errno(int fd, int rc) {
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

int sni_handoff_listen(const char *path, int backlog) {
  struct sockaddr_un sa;
  if (!path || set_path(&sa, path) != 0) return SNI_EINVAL;
  int fd = seqpacket_socket();
  if (fd < 0) return fd;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    if (errno != EADDRINUSE) return close_keep_errno(fd, SNI_ESYS);
    /* A socket file left by a dead dispatcher refuses connections; one
     * that answers belongs to a live one and must not be stolen. */
    int probe = seqpacket_socket();
    if (probe < 0) return close_keep_errno(fd, probe);
    int live = connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
    int e = errno;
    close(probe);
    if (live || e != ECONNREFUSED) {
      errno = live ? EADDRINUSE : e;
      return close_keep_errno(fd, SNI_ESYS);
    }
    if (unlink(path) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
      return close_keep_errno(fd, SNI_ESYS);
  }
  if (listen(fd, backlog > 0 ? backlog : 16) != 0)
    return close_keep_errno(fd, SNI_ESYS);
  return fd;
}

int sni_handoff_register(const char *path, const char *name) {
  struct sockaddr_un sa;
  if (!path || !name || set_path(&sa, path) != 0) return SNI_EINVAL;
  size_t n = strlen(name);
  if (n == 0 || n > SNI_HANDOFF_MAX_NAME) return SNI_EINVAL;
  int fd = seqpacket_socket();
  if (fd < 0) return fd;
  while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    if (errno != EINTR) return close_keep_errno(fd, SNI_ESYS);
  unsigned char msg[1 + sizeof magic + SNI_HANDOFF_MAX_NAME];
  msg[0] = TAG_REGISTER;
  memcpy(msg + 1, magic, sizeof magic);
  memcpy(msg + 1 + sizeof magic, name, n);
  ssize_t w;
  do
    w = send(fd, msg, 1 + sizeof magic + n, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0) return close_keep_errno(fd, SNI_ESYS);
  return fd;
}

int sni_handoff_accept(int listener, char *name, size_t cap, int timeout_ms) {
  if (!name || cap == 0) return SNI_EINVAL;
  int fd;
  do
    fd = accept(listener, NULL, NULL);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return SNI_ESYS;
#if SOCK_CLOEXEC == 0
  fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  /* The registration is the first message; a connector that never sends
   * one must not hold the caller forever. */
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int pr;
  do
    pr = poll(&pfd, 1, timeout_ms);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) return close_keep_errno(fd, SNI_ESYS);
  if (pr == 0) return close_keep_errno(fd, SNI_ETIMEDOUT);

  unsigned char msg[1 + sizeof magic + SNI_HANDOFF_MAX_NAME];
  ssize_t n;
  do
    n = recv(fd, msg, sizeof msg, MSG_DONTWAIT | MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return close_keep_errno(fd, SNI_ESYS);
  if (n == 0) return close_keep_errno(fd, SNI_EOF);
  size_t len = (size_t)n;
  if (len > sizeof msg || len <= 1 + sizeof magic || msg[0] != TAG_REGISTER ||
      memcmp(msg + 1, magic, sizeof magic) != 0)
    return close_keep_errno(fd, SNI_EBADMSG);
  len -= 1 + sizeof magic;
  if (len >= cap) return close_keep_errno(fd, SNI_ENOSPC);
  memcpy(name, msg + 1 + sizeof magic, len);
  name[len] = '\0';
  return fd;
}

int sni_handoff_send(int channel, int fd, const void *msg, size_t len) {
  if (fd < 0 || (!msg && len > 0) || len > SNI_HANDOFF_MAX_MSG)
    return SNI_EINVAL;
  unsigned char tag = TAG_HANDOFF;
  struct iovec iov[2] = {{.iov_base = &tag, .iov_len = 1},
                         {.iov_base = (void *)(uintptr_t)msg, .iov_len = len}};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1,
                      .msg_control = ctl.space,
                      .msg_controllen = sizeof ctl.space};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t w;
  do
    w = sendmsg(channel, &mh, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? SNI_EAGAIN : SNI_ESYS;
  return 0;
}

/* Close every descriptor a message carried: a message we refuse must not
 * leak them into the caller's process. */
static void close_passed(struct msghdr *mh) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      close(fd);
    }
  }
}

int sni_handoff_recv(int channel, int *fd, void *msg, size_t cap) {
  if (!fd || (!msg && cap > 0)) return SNI_EINVAL;
  *fd = -1;
  unsigned char tag = 0;
  struct iovec iov[2] = {{.iov_base = &tag, .iov_len = 1},
                         {.iov_base = msg, .iov_len = cap}};
  /* Room for more than one descriptor, so that a message with several is
   * seen whole (and refused) instead of silently truncated. */
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(4 * sizeof(int))];
  } ctl;
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = cap ? 2 : 1,
                      .msg_control = ctl.space,
                      .msg_controllen = sizeof ctl.space};
  ssize_t n;
  do
    n = recvmsg(channel, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? SNI_EAGAIN : SNI_ESYS;
  if (n == 0) return SNI_EOF;

  int got = -1, count = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    count += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (got < 0 && c->cmsg_len >= CMSG_LEN(sizeof(int)))
      memcpy(&got, CMSG_DATA(c), sizeof got);
  }
  if (mh.msg_flags & MSG_CTRUNC) {
    /* The kernel dropped descriptors: at our fd limit, most likely. */
    close_passed(&mh);
    errno = EMFILE;
    return SNI_ESYS;
  }
  if (mh.msg_flags & MSG_TRUNC) {
    close_passed(&mh);
    return SNI_ENOSPC;
  }
  if (count != 1 || tag != TAG_HANDOFF) {
    close_passed(&mh);
    return SNI_EBADMSG;
  }
#if MSG_CMSG_CLOEXEC == 0
  fcntl(got, F_SETFD, FD_CLOEXEC);
#endif
  *fd = got;
  return (int)(n - 1);
}
