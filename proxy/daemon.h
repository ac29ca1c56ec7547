/* Running as a service: the pid file and its lock, dropping privileges,
 * the listening-port guard (and the count of an old instance's sockets
 * for --takeover), the systemd readiness notification. */
#ifndef PX_DAEMON_H
#define PX_DAEMON_H

#include <sys/types.h>

#include "addr.h"

/* Opens (creates) the pid file and tries to lock it.  Returns the
 * descriptor; *held is 1 when the lock was taken (the pid is then written)
 * and 0 when another process holds it (*holder: its pid, 0 if unknown).
 * -1 with a message on stderr when the file cannot be opened. */
int px_pidfile_open(const char *path, int *held, long *holder);
/* Tries again without waiting (takeover).  Returns the descriptor to keep,
 * which may be a new one if the old holder removed the file; *held as
 * above.  -1 with a message on error. */
int px_pidfile_retry(const char *path, int fd, int *held);
/* Removes the file while the lock is still held, then closes it. */
void px_pidfile_release(const char *path, int fd);

/* 0 when user (and group, or the user's primary group) exist; "" means
 * not set.  Prints "unknown user/group" messages. */
int px_lookup_ids(const char *user, const char *group, uid_t *uid, gid_t *gid);
/* setgroups, setgid, setuid, in that order, then verifies that none of the
 * old ids can be regained.  -1 with a message on any failure. */
int px_drop_privileges(const char *user, const char *group);

/* 1 when some socket already listens on a (a bind without SO_REUSEPORT
 * fails with EADDRINUSE), 0 when the port is free, -1 on another error. */
int px_port_in_use(const px_addr *a);
/* Listening TCP sockets on exactly a (from /proc/net/tcp{,6}), -1 when
 * they cannot be counted. */
int px_count_listeners(const px_addr *a);

/* Sends a systemd notification ("READY=1", ...) when NOTIFY_SOCKET is
 * set; silently nothing otherwise. */
void px_notify(const char *msg);

#endif
