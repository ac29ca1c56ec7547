#!/usr/bin/env python3
"""`preconnect`: upstream connections opened before a client needs them.

  preconnect.py PATH/TO/sniroute-proxy

1. Pool: after the first client routed to an upstream with preconnect=2,
   the upstream holds 1 + 2 connections; every later client's bytes
   arrive on a connection the upstream accepted before that client
   connected (a preconnected one), byte-exact both ways with the client's
   half-close, and each use is replaced; upstream_preconnect_used counts
   them.
2. Age: pooled connections are closed after PX_PRECONNECT_AGE_MS (2 s)
   without data and not replaced (an idle proxy holds none);
   upstream_preconnect_discarded counts them.
3. An upstream that closes connections which stay silent: the pool
   notices, and the next client still gets through on a fresh connect.
4. PROXY v2 through a pooled connection carries the client that used it
   (source port), not whoever caused the connect.
5. A server that speaks first: its greeting, waiting in a pooled
   connection, reaches the client before the echo.
6. A reload (SIGHUP) drops the old configuration's pool.
7. The first address down: clients fail over to the second with one
   failed connect each; nothing is pooled (only a client that got
   through on the first address refills the pool).
8. The global directive applies to HOST:PORT targets (quick form
   --preconnect), a `fastopen` upstream is left out.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, log, main_wrapper,
                   read_to_end, refused_port, wait_for)

AGE_S = 2.0  # PX_PRECONNECT_AGE_MS
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


class Upstream:
    """A server recording each connection: when it was accepted, whether
    it ever carried data, and the PROXY v2 source port if asked to."""

    def __init__(self, pp2=False, greeting=b"", patience=None):
        self.lock = threading.Lock()
        self.conns = []  # dicts: t_accept, t_data, eof_silent, pp_port
        self.pp2, self.greeting, self.patience = pp2, greeting, patience
        self.srv = Server(self._handle)
        self.port = self.srv.port

    def _handle(self, c):
        rec = {"t_accept": time.monotonic(), "t_data": None,
               "eof_silent": False, "pp_port": None}
        with self.lock:
            self.conns.append(rec)
        if self.greeting:
            c.sendall(self.greeting)
        c.settimeout(self.patience)
        try:
            first = c.recv(65536)
        except socket.timeout:
            return  # closed by the handler's return: impatient server
        if not first:
            rec["eof_silent"] = True
            rec["t_eof"] = time.monotonic()
            return
        rec["t_data"] = time.monotonic()
        c.settimeout(None)
        if self.pp2:
            while len(first) < 16:
                first += c.recv(65536)
            n = struct.unpack("!H", first[14:16])[0]
            while len(first) < 16 + n:
                first += c.recv(65536)
            if first[:12] == PP2_SIG and first[13] == 0x11:  # TCP over IPv4
                rec["pp_port"] = struct.unpack("!H", first[24:26])[0]
            first = first[16 + n:]
        data = first
        while True:
            if data:
                c.sendall(data)
            data = c.recv(65536)
            if not data:
                c.shutdown(socket.SHUT_WR)
                return

    def count(self, key=None):
        with self.lock:
            return len([r for r in self.conns if key is None or r[key]])

    def close(self):
        self.srv.close()


def through(port, payload, src=None):
    """One client: hello + payload, half-close, everything back.
    Returns (reply, connect time, local port)."""
    s = socket.socket()
    if src is not None:
        s.bind(("127.0.0.1", 0))
    t = time.monotonic()
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    lport = s.getsockname()[1]
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got, _ = read_to_end(s, 10)
    s.close()
    return got, t, lport


def proxy_for(binary, up, opts="preconnect=1"):
    """sniroute-proxy routing everything to upstream u = up, whose line
    ends with opts."""
    return Proxy(binary, conf="listen 127.0.0.1:{port}\n"
                 "upstream u 127.0.0.1:%d %s\nroute default u\n"
                 % (up.port, opts))


def counters(px):
    px.signal(signal.SIGUSR2)
    wait_for(lambda: px.counters() is not None and
             "upstream_preconnect_used" in px.counters(), 5)
    time.sleep(0.2)
    return px.counters() or {}


def pool_case(binary, t):
    up = Upstream()
    px = proxy_for(binary, up, "preconnect=2")
    try:
        hello = client_hello(b"a.test")
        ok = True
        payload = hello + os.urandom(200000)
        got, _, _ = through(px.port, payload)
        ok &= got == payload
        t.check("first client relayed byte-exact", ok)
        t.check("the pool filled to 2 after the first client",
                wait_for(lambda: up.count() == 3, 5), "accepted=%d" % up.count())
        pooled_ok = 0
        for i in range(4):
            payload = hello + os.urandom(1000 * (i + 1))
            got, tc, _ = through(px.port, payload)
            before = {id(r) for r in up.conns if r["t_accept"] < tc}
            carried = [r for r in up.conns if r["t_data"] and r["t_data"] >= tc]
            if got == payload and carried and id(carried[0]) in before:
                pooled_ok += 1
            wait_for(lambda: up.count() == 3 + i + 1, 5)
        t.check("4 of 4 later clients carried by a connection accepted before "
                "they connected, byte-exact", pooled_ok == 4,
                "pooled_ok=%d" % pooled_ok)
        t.check("each use replaced: 7 accepted, 2 waiting",
                wait_for(lambda: up.count() == 7, 5) and
                up.count("t_data") == 5, "accepted=%d used=%d" %
                (up.count(), up.count("t_data")))
        c = counters(px)
        t.check("upstream_preconnect_used=4", c.get(
            "upstream_preconnect_used") == 4, str(c.get(
                "upstream_preconnect_used")))
        # 2. age
        t.check("pooled connections closed after their age, not replaced",
                wait_for(lambda: up.count("eof_silent") == 2, AGE_S + 2) and
                (time.sleep(0.5) or up.count() == 7),
                "silent_eof=%d accepted=%d" % (up.count("eof_silent"),
                                               up.count()))
        c = counters(px)
        t.check("upstream_preconnect_discarded=2",
                c.get("upstream_preconnect_discarded") == 2,
                str(c.get("upstream_preconnect_discarded")))
        t.check("proxy stops cleanly", px.stop() == 0)
    finally:
        px.cleanup()
        up.close()


def impatient_case(binary, t):
    up = Upstream(patience=0.3)
    px = proxy_for(binary, up, "preconnect=1")
    try:
        payload = client_hello(b"b.test") + b"x" * 100
        good = 0
        for _ in range(3):
            got, _, _ = through(px.port, payload)
            good += got == payload
            time.sleep(1.0)  # the pooled connection is closed meanwhile
        t.check("clients get through while the upstream closes idle "
                "connections (3/3)", good == 3, "good=%d" % good)
        c = counters(px)
        t.check("closed pooled connections discarded, none used",
                c.get("upstream_preconnect_discarded", 0) >= 2 and
                c.get("upstream_preconnect_used") == 0,
                "%s" % {k: v for k, v in c.items() if "preconnect" in k})
    finally:
        px.cleanup()
        up.close()


def pp_case(binary, t):
    up = Upstream(pp2=True)
    px = proxy_for(binary, up, "proxy_protocol v2 preconnect=1")
    try:
        payload = client_hello(b"c.test") + b"y" * 10
        ports = []
        ok = True
        for _ in range(3):
            got, tc, lport = through(px.port, payload, src=True)
            ok &= got == payload
            ports.append((lport, tc))
            wait_for(lambda: up.count() == len(ports) + 1, 5)
        seen = [r["pp_port"] for r in sorted(
            [r for r in up.conns if r["t_data"]], key=lambda r: r["t_data"])]
        pooled = sum(1 for (p, tc), r in zip(ports[1:], sorted(
            [r for r in up.conns if r["t_data"]],
            key=lambda r: r["t_data"])[1:]) if r["t_accept"] < tc)
        t.check("PROXY v2 source port is each client's own", ok and
                seen == [p for p, _ in ports], "seen=%s sent=%s" %
                (seen, [p for p, _ in ports]))
        t.check("clients 2 and 3 used pooled connections", pooled == 2,
                "pooled=%d" % pooled)
    finally:
        px.cleanup()
        up.close()


def greeting_case(binary, t):
    greet = b"220 ready\r\n"
    up = Upstream(greeting=greet)
    px = proxy_for(binary, up, "preconnect=1")
    try:
        payload = client_hello(b"d.test") + b"z" * 50
        got1, _, _ = through(px.port, payload)
        wait_for(lambda: up.count() == 2, 5)
        time.sleep(0.1)  # the greeting is queued in the pooled connection
        got2, tc, _ = through(px.port, payload)
        carried = [r for r in up.conns if r["t_data"] and r["t_data"] >= tc]
        t.check("a server's greeting reaches the client, fresh and pooled",
                got1 == greet + payload and got2 == greet + payload and
                len(carried) == 1 and carried[0]["t_accept"] < tc,
                "%r / %r" % (got1[:20], got2[:20]))
    finally:
        px.cleanup()
        up.close()


def reload_case(binary, t):
    up = Upstream()
    px = proxy_for(binary, up, "preconnect=1")
    try:
        payload = client_hello(b"e.test") + b"w"
        through(px.port, payload)
        wait_for(lambda: up.count() == 2, 5)
        px.signal(signal.SIGHUP)
        time.sleep(0.3)
        got, _, _ = through(px.port, payload)
        ended = wait_for(lambda: up.count("eof_silent") == 1, 2)
        pooled = [r for r in up.conns if r["eof_silent"]]
        early = pooled and pooled[0]["t_eof"] - pooled[0]["t_accept"] < AGE_S
        t.check("after a reload the old pool is closed (before its age) and "
                "clients relay", got == payload and ended and early,
                "silent_eof=%d" % up.count("eof_silent"))
    finally:
        px.cleanup()
        up.close()


def failover_case(binary, t):
    up = Upstream()
    dead, _keep = refused_port()
    px = Proxy(binary, conf="listen 127.0.0.1:{port}\n"
               "upstream u 127.0.0.1:%d 127.0.0.1:%d preconnect=2\n"
               "route default u\n" % (dead, up.port))
    try:
        payload = client_hello(b"f.test") + b"q" * 20
        good = sum(through(px.port, payload)[0] == payload for _ in range(3))
        time.sleep(0.3)
        c = counters(px)
        t.check("first address down: clients fail over, one failed connect "
                "each, nothing pooled", good == 3 and
                c.get("connect_failures") == 3 and up.count() == 3 and
                c.get("upstream_preconnect_used") == 0 and
                c.get("upstream_preconnect_discarded") == 0,
                "good=%d failures=%s accepted=%d discarded=%s" % (
                    good, c.get("connect_failures"), up.count(),
                    c.get("upstream_preconnect_discarded")))
    finally:
        px.cleanup()
        up.close()


def quick_form_case(binary, t):
    up = Upstream()
    fo = Upstream()
    px = Proxy(binary, args=["--listen", "127.0.0.1:{port}", "--route",
                             "f.test=127.0.0.1:%d" % fo.port, "--default",
                             "127.0.0.1:%d" % up.port, "--preconnect", "2"])
    try:
        payload = client_hello(b"g.test") + b"v"
        got, _, _ = through(px.port, payload)
        t.check("--preconnect 2 pools for a HOST:PORT target", got == payload
                and wait_for(lambda: up.count() == 3, 5),
                "accepted=%d" % up.count())
    finally:
        px.cleanup()
        up.close()
        fo.close()
    up = Upstream()
    px = Proxy(binary, conf="listen 127.0.0.1:{port}\npreconnect 3\n"
               "upstream u 127.0.0.1:%d fastopen\nroute default u\n" % up.port)
    try:
        payload = client_hello(b"h.test") + b"v"
        got, _, _ = through(px.port, payload)
        time.sleep(0.3)
        t.check("a fastopen upstream is not pooled by the global directive",
                got == payload and up.count() == 1, "accepted=%d" % up.count())
    finally:
        px.cleanup()
        up.close()


def main(binary):
    t = Checks()
    for case in (pool_case, impatient_case, pp_case, greeting_case,
                 reload_case, failover_case, quick_form_case):
        log("-- %s" % case.__name__)
        case(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(main)
