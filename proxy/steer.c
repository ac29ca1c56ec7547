/* SO_REUSEPORT steering for --takeover (steer.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "steer.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Return value of an sk_reuseport program that lets the selection stand. */
#define PX_SK_PASS 1
/* Its one stack slot: the socket-array key. */
#define PX_KEY_SLOT (-4)
/* The program's length in instructions (the map load takes two). */
#define PX_PROG_LEN 13

int px_steer_cbpf(int fd, unsigned first, unsigned n) {
  /* A = first + random % n: the index of one of our sockets in the
   * group, as long as the old instance's sockets fill indexes 0..first-1. */
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
               (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM)),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
      BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, first),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof *code,
                            .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
                    sizeof prog);
}

int px_steer_detach(int fd) {
  int zero = 0;
  return setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero,
                    sizeof zero);
}

static int sys_bpf(int cmd, union bpf_attr *a) {
  return (int)syscall(SYS_bpf, cmd, a, sizeof *a);
}

static struct bpf_insn insn(unsigned code, unsigned dst, unsigned src,
                            int16_t off, int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = (uint8_t)code;
  i.dst_reg = dst & 0xfu;
  i.src_reg = src & 0xfu;
  i.off = off;
  i.imm = imm;
  return i;
}

/* key = ctx->hash % n; bpf_sk_select_reuseport(ctx, map, &key, 0);
 * return SK_PASS.  The hash is the kernel's 4-tuple hash, so a flow's
 * retransmitted SYNs pick the same socket.  Should the selection fail
 * (the socket closed meanwhile) the kernel hashes over the group. */
static void build_prog(struct bpf_insn *p, int map_fd, unsigned n) {
  int k = 0;
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0);
  p[k++] = insn(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1,
                (int16_t)offsetof(struct sk_reuseport_md, hash), 0);
  p[k++] = insn(BPF_ALU | BPF_MOD | BPF_K, BPF_REG_2, 0, 0, (int32_t)n);
  p[k++] = insn(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_2,
                PX_KEY_SLOT, 0);
  p[k++] = insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_2, BPF_PSEUDO_MAP_FD, 0,
                map_fd);
  p[k++] = insn(0, 0, 0, 0, 0); /* upper half of the 64-bit immediate */
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0);
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_10, 0, 0);
  p[k++] = insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_3, 0, 0, PX_KEY_SLOT);
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_4, 0, 0, 0);
  p[k++] = insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_select_reuseport);
  p[k++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, PX_SK_PASS);
  p[k++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* A socket array holding fds[0..n) at keys 0..n-1, or -1. */
static int make_map(const int *fds, unsigned n) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = BPF_MAP_TYPE_REUSEPORT_SOCKARRAY;
  a.key_size = sizeof(uint32_t);
  a.value_size = sizeof(uint64_t);
  a.max_entries = n;
  int map = sys_bpf(BPF_MAP_CREATE, &a);
  if (map < 0) return -1;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t v = (uint64_t)fds[i];
    memset(&a, 0, sizeof a);
    a.map_fd = (uint32_t)map;
    a.key = (uint64_t)(uintptr_t)&i;
    a.value = (uint64_t)(uintptr_t)&v;
    a.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) != 0) {
      int e = errno;
      close(map);
      errno = e;
      return -1;
    }
  }
  return map;
}

static int load_prog(int map, unsigned n, int migrate) {
  struct bpf_insn prog[PX_PROG_LEN];
  build_prog(prog, map, n);
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SK_REUSEPORT;
  a.expected_attach_type =
      migrate ? BPF_SK_REUSEPORT_SELECT_OR_MIGRATE : BPF_SK_REUSEPORT_SELECT;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = PX_PROG_LEN;
  a.license = (uint64_t)(uintptr_t)"Dual MIT/GPL";
  return sys_bpf(BPF_PROG_LOAD, &a);
}

int px_steer_ebpf(const int *fds, unsigned n, int migrate) {
  if (n == 0) {
    errno = EINVAL;
    return -1;
  }
  int map = make_map(fds, n);
  if (map < 0) return -1;
  int prog = load_prog(map, n, migrate);
  int rc = -1, e = errno;
  if (prog >= 0) {
    /* The group keeps the program, the program keeps the map: neither
     * descriptor is needed once attached. */
    rc = setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog,
                    sizeof prog);
    e = errno;
    close(prog);
  }
  close(map);
  errno = e;
  return rc;
}

px_steer_kind px_steer_attach(const int *fds, unsigned n, unsigned first) {
  if (px_steer_ebpf(fds, n, 1) == 0) return PX_STEER_EBPF_MIGRATE;
  if (px_steer_ebpf(fds, n, 0) == 0) return PX_STEER_EBPF;
  if (n && px_steer_cbpf(fds[0], first, n) == 0) return PX_STEER_CBPF;
  return PX_STEER_NONE;
}

const char *px_steer_name(px_steer_kind k) {
  switch (k) {
  case PX_STEER_EBPF_MIGRATE: return "eBPF, migrating queued connections";
  case PX_STEER_EBPF: return "eBPF";
  case PX_STEER_CBPF: return "classic BPF";
  case PX_STEER_NONE: break;
  }
  return "none";
}
