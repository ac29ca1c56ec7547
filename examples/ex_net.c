/* See ex_net.h. */
#include "ex_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int split_spec(const char *spec, char *host, size_t cap,
                      const char **port) {
  const char *colon = strrchr(spec, ':');
  if (!colon || (size_t)(colon - spec) >= cap) {
    errno = EINVAL;
    return -1;
  }
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = '\0';
  *port = colon + 1;
  return 0;
}

int ex_listen(const char *spec) {
  char host[64];
  const char *port;
  if (split_spec(spec, host, sizeof host, &port) != 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)atoi(port))};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      listen(fd, 512) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  printf("listening on %s:%u\n", host, (unsigned)ntohs(sa.sin_port));
  fflush(stdout);
  return fd;
}

int ex_connect(const char *spec) {
  char host[256];
  const char *port;
  if (split_spec(spec, host, sizeof host, &port) != 0) return -1;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *p;
  if (getaddrinfo(host, port, &hints, &ai) != 0) return -1;
  int fd = -1;
  for (p = ai; p && fd < 0; p = p->ai_next) {
    fd = socket(p->ai_family, p->ai_socktype, p->ai_protocol);
    if (fd >= 0 && connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(ai);
  return fd;
}

void ex_peer_name(int fd, char *buf, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
    if (ss.ss_family == AF_INET) {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
      port = ntohs(s4->sin_port);
    } else if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
      port = ntohs(s6->sin6_port);
    }
  }
  snprintf(buf, cap, "%s:%u", ip, port);
}

int ex_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

void ex_relay(int a, int b) {
  const int fds[2] = {a, b};
  struct pollfd p[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
  int open_dirs = 2;
  char buf[16384];
  while (open_dirs > 0) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return; /* reset: the other side learns it at close */
      if (n == 0) {
        shutdown(fds[1 - i], SHUT_WR);
        p[i].fd = -1; /* poll skips negative fds */
        open_dirs--;
      } else if (ex_write_all(fds[1 - i], buf, (size_t)n) != 0) {
        return;
      }
    }
  }
}
