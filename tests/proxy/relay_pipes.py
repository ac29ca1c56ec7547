#!/usr/bin/env python3
"""sniroute-proxy relays every byte when the kernel gives it small pipes
(issue 8, item 1).

An unprivileged user past fs.pipe-user-pages-soft gets 2-page pipes and
F_SETPIPE_SZ fails with EPERM.  The proxy runs as `nobody` with the soft
limit lowered to 16 pages (so every pipe but the first is 8 KiB) and
relays many concurrent bulk downloads to clients that start reading late
(the relay has to park what the client cannot take yet); every byte must
arrive, checksummed, with a clean EOF.

Needs root (setpriv, the sysctl); exit 77 otherwise.  The sysctl is
global: it is restored on every exit path, and concurrent runs (other
build directories' ctest) take turns through a lock file, so none of
them saves another's lowered value as the one to restore.

  relay_pipes.py PATH/TO/sniroute-proxy
"""
import fcntl
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (SKIP, Checks, Proxy, Server, client_hello, exe_for_anyone, log,
                   main_wrapper, parse_kv, read_to_end, recv_exact, sha)

SOFT = "/proc/sys/fs/pipe-user-pages-soft"
CONNS = 16
# More than the proxy's socket can take unread (send buffer autotuned up
# to tcp_wmem[2], 4 MiB by default, plus the client's window).
SIZE = 8 << 20


def run(binary):
    if os.geteuid() != 0:
        log("SKIP: needs root (runs the proxy as nobody, lowers %s)" % SOFT)
        return SKIP
    if not shutil.which("setpriv"):
        log("SKIP: setpriv not installed")
        return SKIP
    lock = open(os.path.join(tempfile.gettempdir(),
                             "sniroute-pipe-user-pages-soft.lock"), "w")
    end = time.monotonic() + 45
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > end:
                log("SKIP: another run holds %s for too long" % lock.name)
                return SKIP
            time.sleep(0.2)
    try:
        old = open(SOFT).read().strip()
        open(SOFT, "w").write(old + "\n")
    except OSError as e:
        log("SKIP: cannot write %s: %s" % (SOFT, e))
        return SKIP

    def restore(*_):
        with open(SOFT, "w") as f:
            f.write(old + "\n")
    prev = {s: signal.signal(s, lambda *a: sys.exit(1))
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    tmp = tempfile.mkdtemp(prefix="sniroute-pipes.")
    try:
        with open(SOFT, "w") as f:
            f.write("16\n")
        return relay(binary, tmp)
    finally:
        restore()
        for s, h in prev.items():
            signal.signal(s, h)
        shutil.rmtree(tmp, ignore_errors=True)


def relay(binary, tmp):
    t = Checks()
    exe = exe_for_anyone(binary, tmp)
    data = os.urandom(SIZE)
    digest = sha(data)
    hello = client_hello(b"bulk.test")

    def bulk(c):
        recv_exact(c, len(hello))
        # Writes of less than the relay's 64 KiB buffer, apart in time,
        # keep it on its direct path until the client's socket is full:
        # then the unsent rest of a read (anything up to the chunk, the
        # sizes vary so that it is often more than 8 KiB) must be parked.
        rnd = random.Random(c.getpeername()[1])
        i = 0
        while i < len(data):
            n = rnd.randrange(16000, 60000)
            c.sendall(data[i:i + n])
            i += n
            time.sleep(0.002)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(30)
        c.recv(1)
    up = Server(bulk)
    px = Proxy("setpriv", ["--reuid=nobody", "--regid=nogroup",
                           "--clear-groups", "--", exe,
                           "--listen", "127.0.0.1:{port}",
                           "--default", "127.0.0.1:%d" % up.port])
    results = [None] * CONNS
    try:
        def client(i):
            try:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
                s.connect(("127.0.0.1", px.port))
                s.sendall(hello)
                time.sleep(1.0)  # the relay must hold what we do not read
                got, how = read_to_end(s, 40)
                s.close()
                results[i] = (len(got), sha(got) == digest, how)
            except OSError as e:
                results[i] = (0, False, str(e))
        ths = [threading.Thread(target=client, args=(i,))
               for i in range(CONNS)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(50)
        bad = [(i, r) for i, r in enumerate(results)
               if not r or r[0] != SIZE or not r[1] or r[2] != "eof"]
        t.check("%d concurrent downloads of %d bytes through 8 KiB pipes: "
                "all complete, checksums match, clean EOF" % (CONNS, SIZE),
                not bad, "bad: %s" % bad[:5])
        px.stop()
        lines = [parse_kv(l) for l in px.stderr_text().splitlines()
                 if " w0 " in l and "sni=bulk.test" in l]
        verdicts = sorted(set(l["verdict"] for l in lines))
        t.check("every download logged ok (%s)" % verdicts,
                len(lines) == CONNS and verdicts == [b"ok"])
    finally:
        px.stop()
        px.cleanup()
        up.close()
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
