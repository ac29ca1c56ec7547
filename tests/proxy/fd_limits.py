#!/usr/bin/env python3
"""sniroute-proxy under a low descriptor limit (issue 8, item 5).

  fd_limits.py PATH/TO/sniroute-proxy

1. RLIMIT_NOFILE 64, default max_connections: 60 clients connect and sit
   idle, then all send their hello.  The default limit leaves each
   accepted connection room for its upstream socket and pipes, so every
   client is answered (the ones over the limit wait in the backlog), and
   no connect attempt fails;
2. the same with max_connections 1000: a warning says it is capped, and
   every client is answered;
3. a descriptor limit lowered under the running proxy (prlimit) so that
   the upstream socket() fails with EMFILE: the failure is counted in
   connect_failures and logged with verdict=connect_failed.
"""
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, log, main_wrapper,
                   parse_kv, recv_exact)

HELLO = client_hello(b"www.test")
NOFILE = 64


def answer_ok(c):
    recv_exact(c, len(HELLO))
    c.sendall(b"ok")


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def idle_then_hello(px, n, t, name):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(20)
        s.connect(("127.0.0.1", px.port))
        socks.append(s)
    time.sleep(0.5)  # the proxy accepts what it accepts
    answers = [None] * n

    def go(i):
        try:
            socks[i].sendall(HELLO)
            answers[i] = socks[i].recv(10)
        except OSError as e:
            answers[i] = repr(e)
        finally:
            socks[i].close()
    ths = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(30)
    bad = [a for a in answers if a != b"ok"]
    t.check("%s: %d idle clients, then hellos: all answered" % (name, n),
            not bad, "%d not answered, e.g. %s" % (len(bad), bad[:3]))


def limit_case(binary, t, extra, name):
    up = Server(answer_ok)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port] + extra,
               preexec=low_nofile)
    try:
        idle_then_hello(px, 60, t, name)
        rc = px.stop()
        c = px.counters() or {}
        t.check("%s: exit %s, connect_failures=%s" %
                (name, rc, c.get("connect_failures")),
                rc == 0 and c.get("connect_failures") == 0)
        return px.stderr_text()
    finally:
        px.stop()
        px.cleanup()
        up.close()


def socket_failure_case(binary, t):
    up = Server(answer_ok)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port])
    try:
        # Room for the client's socket only: the upstream socket() fails.
        time.sleep(0.3)  # the start-up probe's connection is closed
        nfd = len(os.listdir("/proc/%d/fd" % px.p.pid))
        resource.prlimit(px.p.pid, resource.RLIMIT_NOFILE, (nfd + 1, nfd + 1))
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        port = s.getsockname()[1]
        s.sendall(HELLO)
        try:
            got = s.recv(10)
        except OSError as e:
            got = repr(e)
        s.close()
        t.check("socket() failing: the client is not answered (%r)" % got,
                got != b"ok")
        time.sleep(0.3)
        rc = px.stop()
        lines = [parse_kv(l) for l in px.stderr_text().splitlines()
                 if "client=127.0.0.1:%d " % port in l]
        c = px.counters() or {}
        t.check("socket() failing: logged once, verdict=connect_failed (%s)"
                % [l["verdict"] for l in lines],
                len(lines) == 1 and lines[0]["verdict"] == b"connect_failed")
        t.check("socket() failing: counted (connect_failures=%s)" %
                c.get("connect_failures"), c.get("connect_failures", 0) >= 1)
    finally:
        px.stop()
        px.cleanup()
        up.close()


def run(binary):
    t = Checks()
    log("# default max_connections under RLIMIT_NOFILE %d" % NOFILE)
    limit_case(binary, t, [], "default")
    log("# max_connections 1000 under RLIMIT_NOFILE %d" % NOFILE)
    err = limit_case(binary, t, ["--max-connections", "1000"], "1000")
    t.check("a warning says max_connections is capped",
            "capped" in err and "RLIMIT_NOFILE" in err, err[-500:])
    log("# upstream socket() failing")
    socket_failure_case(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
