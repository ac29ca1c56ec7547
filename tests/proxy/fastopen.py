#!/usr/bin/env python3
"""`fastopen` upstreams: TCP Fast Open towards the upstream (issue 15 item 2).

  fastopen.py PATH/TO/sniroute-proxy

Server-side Fast Open needs net.ipv4.tcp_fastopen bit 2, which this test
sets only inside a network namespace of its own: it runs itself again
under `unshare --net` (skipped where that is not allowed).

1. The hello rides in the SYN: through a `fastopen` upstream whose
   listener takes Fast Open, connections are echoed byte-exact, and once
   the first one has fetched the cookie the kernel counts Fast Open
   connects (TcpExt TCPFastOpenActive) and accepts (TCPFastOpenPassive).
2. With `proxy_protocol v2` the header goes in the SYN with the hello,
   once, before it.
3. A SYN with data that nobody answers (the first address's accept queue
   is full, so its kernel drops the SYN): the connect times out and the
   second address gets the whole hello, exactly once, by an ordinary
   connect.  The proxy keeps the client's bytes until a Fast Open connect
   completes; dropping them when the SYN left would lose the hello here.
4. The counters upstream_fastopen_syn_data / _no_syn_data agree with the
   kernel's count of connects whose SYN carried data.
"""
import os
import shlex
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, echo, log,
                   main_wrapper, read_to_end, recv_exact, wait_for)

NETNS_ENV = "SNIROUTE_FASTOPEN_NETNS"
TFO_SYSCTL = "/proc/sys/net/ipv4/tcp_fastopen"
TFO_CLIENT_SERVER = "3"  # bit 1: client, bit 2: server
TFO_QUEUE = 64           # pending Fast Open requests per listener
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_FIXED = 16           # signature, version/command, family, length
SKIP = 77
TCP_FASTOPEN_CONNECT = getattr(socket, "TCP_FASTOPEN_CONNECT", 30)


def cookie_cached():
    """The kernel holds a Fast Open cookie for 127.0.0.1."""
    out = subprocess.run(["ip", "tcp_metrics", "show", "127.0.0.1"],
                         capture_output=True, text=True).stdout
    return "fo_cookie" in out


def tcp_ext(name):
    """A TcpExt counter of this namespace (/proc/net/netstat)."""
    with open("/proc/net/netstat") as f:
        rows = [l.split() for l in f if l.startswith("TcpExt:")]
    return int(dict(zip(rows[0][1:], rows[1][1:])).get(name, 0))


def fastopen_server(handler, backlog=512):
    up = Server(handler, backlog)
    up.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, TFO_QUEUE)
    return up


def echo_through(port, data):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    got, _ = read_to_end(s, 10)
    s.close()
    return got


def syn_data_case(binary, t):
    up = fastopen_server(echo)
    px = Proxy(binary, conf="listen 127.0.0.1:{port}\n"
               "upstream u 127.0.0.1:%d fastopen\nroute default u\n" % up.port)
    try:
        act, pas = tcp_ext("TCPFastOpenActive"), tcp_ext("TCPFastOpenPassive")
        ok = True
        for i in range(4):
            data = client_hello(b"www.test") + b"payload %d\n" % i
            ok = ok and echo_through(px.port, data) == data
        t.check("fastopen upstream: four connections echoed byte-exact", ok)
        # The first connection fetched the cookie; the others used it.
        t.check("fastopen upstream: connects with data in the SYN",
                tcp_ext("TCPFastOpenActive") - act >= 3 and
                tcp_ext("TCPFastOpenPassive") - pas >= 3,
                "active +%d passive +%d" %
                (tcp_ext("TCPFastOpenActive") - act,
                 tcp_ext("TCPFastOpenPassive") - pas))
        active = tcp_ext("TCPFastOpenActive") - act
        px.stop()
        c = px.counters() or {}
        t.check("fastopen upstream: the counters split the four connects as "
                "the kernel did (data in the SYN or not)",
                c.get("upstream_fastopen_syn_data") == active and
                c.get("upstream_fastopen_no_syn_data") == 4 - active,
                "active +%d, %r" % (active, c))
    finally:
        px.cleanup()
        up.close()


def proxy_header_case(binary, t):
    got = []

    def h(c):
        c.settimeout(20)
        head = recv_exact(c, PP2_FIXED)
        body = recv_exact(c, int.from_bytes(head[14:16], "big"))
        rest, _ = read_to_end(c, 10)
        got.append((head, body, rest))
    up = fastopen_server(h)
    px = Proxy(binary, conf="listen 127.0.0.1:{port}\n"
               "upstream u 127.0.0.1:%d fastopen proxy_protocol v2\n"
               "route default u\n" % up.port)
    try:
        act = tcp_ext("TCPFastOpenActive")
        hello = client_hello(b"www.test")
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", px.port), 5)
            s.sendall(hello)
            s.close()
        wait_for(lambda: len(got) == 3)
        t.check("fastopen + PROXY v2: one header, then the hello, each time",
                len(got) == 3 and all(h[:12] == PP2_SIG and r == hello
                                      for h, _, r in got), repr(got)[:300])
        t.check("fastopen + PROXY v2: data in the SYN",
                tcp_ext("TCPFastOpenActive") - act >= 2)
    finally:
        px.cleanup()
        up.close()


def unanswered_syn_case(binary, t):
    # Address 1: a Fast Open listener whose one-slot accept queue is taken
    # by a connection nobody accepts, so its kernel drops further SYNs.
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    full.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, TFO_QUEUE)
    filler = socket.create_connection(full.getsockname(), 5)
    got = []

    def h(c):
        c.settimeout(20)
        data, _ = read_to_end(c, 10)
        got.append(data)
    up = fastopen_server(h)
    px = Proxy(binary, conf="listen 127.0.0.1:{port}\nconnect_timeout 300ms\n"
               "upstream u 127.0.0.1:%d 127.0.0.1:%d fastopen\n"
               "route default u\n" % (full.getsockname()[1], up.port))
    try:
        # Fast Open cookies are kept per destination address: fetch one
        # for 127.0.0.1 from up, so that the proxy's connect to the full
        # listener sends its data in the SYN.
        w = socket.socket()
        w.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
        w.connect(("127.0.0.1", up.port))
        w.sendall(b"warm")
        w.shutdown(socket.SHUT_WR)
        read_to_end(w, 5)
        w.close()
        wait_for(lambda: len(got) == 1)
        t.check("unanswered SYN with data: a cookie is cached",
                wait_for(cookie_cached, timeout=5))
        hello = client_hello(b"www.test") + b"after the hello\n"
        s = socket.create_connection(("127.0.0.1", px.port), 5)
        s.sendall(hello)
        s.shutdown(socket.SHUT_WR)
        wait_for(lambda: len(got) == 2, timeout=10)
        s.close()
        t.check("unanswered SYN with data: the next address gets the whole "
                "hello, once", len(got) == 2 and got[1] == hello,
                repr(got)[:300])
        px.stop()
        c = px.counters() or {}
        t.check("unanswered SYN with data: counted as a connect timeout",
                c.get("connect_timeouts") == 1, repr(c))
        t.check("unanswered SYN with data: the ordinary connect that took "
                "over counts as a connect without data in the SYN",
                c.get("upstream_fastopen_syn_data") == 0 and
                c.get("upstream_fastopen_no_syn_data") == 1, repr(c))
    finally:
        px.cleanup()
        up.close()
        filler.close()
        full.close()


def in_namespace(binary):
    with open(TFO_SYSCTL, "w") as f:
        f.write(TFO_CLIENT_SERVER)
    t = Checks()
    syn_data_case(binary, t)
    proxy_header_case(binary, t)
    unanswered_syn_case(binary, t)
    return t.rc()


def main(binary):
    if os.environ.get(NETNS_ENV):
        return in_namespace(binary)
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if not unshare or not ip:
        log("SKIP: needs unshare and ip (util-linux, iproute2)")
        return SKIP
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True)
    if probe.returncode != 0:
        log("SKIP: no private network namespace here: %s" %
            probe.stderr.decode(errors="replace").strip())
        return SKIP
    env = dict(os.environ, **{NETNS_ENV: "1"})
    script = "%s link set lo up && exec %s" % (shlex.quote(ip), " ".join(
        shlex.quote(a) for a in (sys.executable, os.path.abspath(__file__),
                                 binary)))
    return subprocess.run([unshare, "--net", "sh", "-c", script],
                          env=env).returncode


if __name__ == "__main__":
    main_wrapper(main)
