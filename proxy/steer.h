/* SO_REUSEPORT steering for a zero-downtime upgrade (--takeover): while an
 * old instance and this one share a listening address, new connections
 * must reach this instance's sockets only, so that nothing waits in a
 * queue of the old instance when it closes its listeners. */
#ifndef PX_STEER_H
#define PX_STEER_H

/* What px_steer_attach() could attach, best first. */
typedef enum {
  PX_STEER_NONE = 0,
  /* classic BPF: "index first + random % n" of the group, which is right
   * only while the group keeps its order (closing a socket moves the
   * group's last socket into the freed index) */
  PX_STEER_CBPF,
  /* eBPF sk_reuseport: one of our sockets from a socket array, by the
   * connection's hash, whatever the group's order */
  PX_STEER_EBPF,
  /* the same program attached for migration too (Linux 5.14+): the queued
   * and half-open connections of a listener of the group that closes move
   * to one of our sockets instead of being reset */
  PX_STEER_EBPF_MIGRATE,
} px_steer_kind;

/* Steers the SO_REUSEPORT group of fds[0..n) (this instance's listening
 * sockets of one address, all in the group; n >= 1) to those sockets.
 * first: the index of fds[0] in the group, used by the classic BPF
 * fallback only (the old instance's sockets joined first).  Tries eBPF
 * with migration, eBPF, then classic BPF; eBPF needs CAP_BPF (root) before
 * privileges are dropped.  Returns the kind attached, PX_STEER_NONE with
 * errno set when none could be.  The program stays attached to the group
 * (holding no descriptor of ours) until px_steer_detach(). */
px_steer_kind px_steer_attach(const int *fds, unsigned n, unsigned first);

/* The classic BPF program alone (see PX_STEER_CBPF); 0 or -1 with errno. */
int px_steer_cbpf(int fd, unsigned first, unsigned n);

/* The eBPF program alone; migrate asks for PX_STEER_EBPF_MIGRATE.  0 or
 * -1 with errno (EPERM without CAP_BPF, EINVAL where the kernel lacks the
 * program type or the migrate attach type). */
int px_steer_ebpf(const int *fds, unsigned n, int migrate);

/* Lets the kernel hash connections over the group again.  0 or -1. */
int px_steer_detach(int fd);

/* "eBPF, migrating queued connections", "eBPF", "classic BPF", "none". */
const char *px_steer_name(px_steer_kind k);

#endif
