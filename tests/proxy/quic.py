#!/usr/bin/env python3
"""sniroute-proxy QUIC forwarding (issue 13), without a browser.

tests/quic_flight.c prints the client Initial datagrams of a synthetic
QUIC connection (several datagrams, CRYPTO frames in random order); this
script sends them, shuffled again, from its own UDP sockets through one
proxy with a TCP and a QUIC listener on the same port, to UDP echo
upstreams, and checks:
  * each name reaches its own upstream, every datagram byte for byte, and
    the echoes come back byte for byte (both ways), later datagrams of the
    flow are forwarded unparsed;
  * a name no route matches reaches no upstream and gets nothing back
    (counted); junk from unknown addresses is dropped and counted by kind;
  * quic_idle_timeout ends the flows: one log line each, with quic_version,
    datagrams and bytes each way, and the verdict;
  * a wildcard listener answers from the address the client sent to;
  * ICMP port unreachable from the first upstream address moves a young
    flow to the next address;
  * configuration errors name FILE:LINE.
usage: quic.py PATH/TO/sniroute-proxy PATH/TO/sniroute-test-quic-flight
"""
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxlib  # noqa: E402
from pxlib import Checks, Proxy, free_port, log, parse_kv  # noqa: E402

IDLE_MS = 1500


def flight(tool, name, alpn, seed):
    out = subprocess.run([tool, name, alpn, str(seed)], check=True,
                         capture_output=True, text=True).stdout
    return [bytes.fromhex(l) for l in out.split()]


class Echo:
    """A UDP server on 127.0.0.1 that records every datagram and sends it
    back unchanged."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.got = []
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop:
            try:
                d, a = self.s.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append(d)
            self.s.sendto(d, a)

    def close(self):
        self.stop = True
        self.t.join()
        self.s.close()


def client(bind=("127.0.0.1", 0)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(bind)
    s.settimeout(0.5)
    return s


def recv_all(s, want, timeout=3.0):
    """Datagrams (and their source) until want arrived or timeout."""
    got = []
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        try:
            got.append(s.recvfrom(65535))
        except socket.timeout:
            pass
    return got


def short_packets(n, seed):
    """1-RTT-like datagrams (short header): forwarded once the flow
    exists, never parsed."""
    r = random.Random(seed)
    return [bytes([0x40 | r.randrange(64)]) +
            bytes(r.randrange(256) for _ in range(40 + 30 * i))
            for i in range(n)]


def send_flow(s, port, dgrams, seed, host="127.0.0.1"):
    order = list(dgrams)
    random.Random(seed).shuffle(order)
    for d in order:
        s.sendto(d, (host, port))
    return order


CONF = """
listen 127.0.0.1:{port}
listen 127.0.0.1:{port} quic
listen 0.0.0.0:%(wport)d quic
%(listen6)s
quic_idle_timeout %(idle)dms
hello_timeout 2s
log %(log)s
metrics 127.0.0.1:%(mport)d
upstream fallback 127.0.0.1:%(closed)d 127.0.0.1:%(c)d
route one.test 127.0.0.1:%(a)d
route two.test 127.0.0.1:%(b)d alpn=h3
route two.test 127.0.0.1:%(a)d
route fail.test fallback
"""


def routed_flows(c, px, tool, ea, eb):
    """one.test -> A, two.test (ALPN h3) -> B, byte-exact both ways."""
    flows = {}
    for name, echo, other, seed in (("one.test", ea, eb, 11),
                                    ("two.test", eb, ea, 12)):
        s = client()
        before_other = len(other.got)
        dg = flight(tool, name, "h3", seed)
        c.check("%s: the hello takes %d datagrams" % (name, len(dg)),
                len(dg) >= 3)
        sent = send_flow(s, px.port, dg, seed)
        extra = short_packets(3, seed)
        got = recv_all(s, len(dg))
        for d in extra:
            s.sendto(d, ("127.0.0.1", px.port))
        got += recv_all(s, len(extra))
        back = [d for d, _ in got]
        c.check("%s: every datagram reached its upstream in order" % name,
                echo.got[-len(sent + extra):] == sent + extra,
                "%d datagrams at the upstream" % len(echo.got))
        c.check("%s: every echo came back byte for byte" % name,
                back == sent + extra, "%d of %d" % (len(back), len(sent + extra)))
        c.check("%s: replies come from the listener address" % name,
                all(a == ("127.0.0.1", px.port) for _, a in got))
        c.check("%s: nothing reached the other upstream" % name,
                len(other.got) == before_other)
        flows[name] = (s, sent + extra)
    return flows


def unrouted_and_junk(c, px, tool, ea, eb):
    seen = len(ea.got) + len(eb.got)
    s = client()
    send_flow(s, px.port, flight(tool, "three.test", "h3", 13), 13)
    c.check("three.test (no route): nothing comes back",
            recv_all(s, 1, 1.0) == [])
    c.check("three.test: no upstream got a datagram",
            len(ea.got) + len(eb.got) == seen)
    j = client()
    r = random.Random(5)
    junk_long = bytes([0xc0]) + bytes(r.randrange(256) for _ in range(1299))
    j.sendto(junk_long, ("127.0.0.1", px.port))     # long header, no Initial
    j.sendto(b"\xc0" + b"\x00" * 99, ("127.0.0.1", px.port))  # too short
    j.sendto(b"\x41" + b"\x11" * 60, ("127.0.0.1", px.port))  # short header
    c.check("junk: nothing comes back", recv_all(j, 1, 1.0) == [])
    c.check("junk: no upstream got a datagram",
            len(ea.got) + len(eb.got) == seen)
    return s, j


def wildcard(c, px, tool, wport, ea):
    s = client()
    dg = flight(tool, "one.test", "h3", 21)
    send_flow(s, wport, dg, 21, host="127.0.0.2")
    got = recv_all(s, len(dg))
    c.check("wildcard listener: all echoes back", len(got) == len(dg),
            "%d of %d" % (len(got), len(dg)))
    c.check("wildcard listener: replies come from 127.0.0.2 (where the "
            "client sent)", got and all(a == ("127.0.0.2", wport)
                                        for _, a in got),
            repr(sorted({a for _, a in got})))
    return s


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def wildcard6(c, tool, w6port):
    """[::] listener: replies come from ::1, where the client sent."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.settimeout(0.5)
    dg = flight(tool, "one.test", "h3", 22)
    send_flow(s, w6port, dg, 22, host="::1")
    got = recv_all(s, len(dg))
    c.check("[::] listener: all echoes back, from [::1]:port",
            len(got) == len(dg) and
            all(a[:2] == ("::1", w6port) for _, a in got),
            repr(sorted({a[:2] for _, a in got})))
    return s


def failover(c, px, tool, ec):
    s = client()
    dg = flight(tool, "fail.test", "h3", 31)
    send_flow(s, px.port, dg, 31)
    time.sleep(0.3)
    # The client's retransmission (its PTO) after the refusal.
    for d in dg:
        s.sendto(d, ("127.0.0.1", px.port))
    got = recv_all(s, 1, 2.0)
    c.check("failover: the second address answered after ICMP unreachable",
            len(got) >= 1 and len(ec.got) >= 1)
    return s


def log_lines(path):
    try:
        with open(path) as f:
            return [parse_kv(l) for l in f if l.strip()]
    except OSError:
        return []


def check_log(c, path, flows, echoes):
    end = time.monotonic() + 5 + IDLE_MS / 1000
    want = {b"one.test", b"two.test", b"three.test", b"fail.test"}
    while time.monotonic() < end:
        lines = log_lines(path)
        if want <= {l.get("sni") for l in lines}:
            break
        time.sleep(0.2)
    by = {}
    for l in lines:
        by.setdefault(l.get("sni"), []).append(l)
    for name, up in (("one.test", "127.0.0.1:%d" % echoes[0].port),
                     ("two.test", "127.0.0.1:%d" % echoes[1].port)):
        ls = by.get(name.encode(), [])
        l = ls[0] if ls else {}
        n = len(flows[name][1])
        nbytes = sum(len(d) for d in flows[name][1])
        c.check("%s: one log line after the idle timeout" % name,
                len(ls) == 1 and l.get("verdict") == b"idle_timeout", repr(ls))
        c.check("%s: log fields (version, route, upstream, alpn)" % name,
                l.get("quic_version") == b"0x00000001" and
                l.get("route") == b"exact" and
                l.get("alpn") == [b"h3"] and
                up.encode() in (l.get("upstream") or b""), repr(l))
        c.check("%s: datagrams and bytes each way" % name,
                l.get("dgrams_up") == str(n).encode() and
                l.get("dgrams_down") == str(n).encode() and
                l.get("bytes_up") == str(nbytes).encode() and
                l.get("bytes_down") == str(nbytes).encode(), repr(l))
        c.check("%s: duration at least the idle timeout" % name,
                int(l.get("ms", b"0")) >= IDLE_MS, repr(l))
    ls = by.get(b"three.test", [])
    c.check("three.test: logged with verdict no_route",
            len(ls) == 1 and ls[0].get("verdict") == b"no_route" and
            ls[0].get("upstream") is None, repr(ls))
    ls = by.get(b"fail.test", [])
    c.check("fail.test: logged with the second upstream address",
            len(ls) == 1 and (b"127.0.0.1:%d" % echoes[2].port) in
            (ls[0].get("upstream") or b""), repr(ls))


def check_counters(c, px, mport, extra):
    """extra: flows beyond the five of the IPv4 checks (the [::] one)."""
    text = pxlib.http_get(mport)
    m = {}
    for line in text.splitlines():
        if line.startswith("sniroute_quic_"):
            k, _, v = line.partition(" ")
            m[k] = float(v)
    c.check("metrics: flows, routed, no route",
            m.get("sniroute_quic_flows_total") == 5 + extra and
            m.get("sniroute_quic_routed_total") == 4 + extra and
            m.get("sniroute_quic_no_route_total") == 1, repr(m))
    c.check("metrics: dropped datagrams by kind",
            m.get("sniroute_quic_dropped_no_route_total", 0) >= 3 and
            m.get("sniroute_quic_dropped_not_initial_total") == 2 and
            m.get("sniroute_quic_dropped_short_header_total") == 1, repr(m))
    c.check("metrics: idle timeouts and the failover",
            m.get("sniroute_quic_idle_timeouts_total") == 4 + extra and
            m.get("sniroute_quic_failovers_total") == 1 and
            m.get("sniroute_quic_flows_active") == 0, repr(m))


def config_errors(c, binary):
    d = pxlib.tempfile.mkdtemp(prefix="sniroute-quic.")
    cases = [("listen 127.0.0.1:8443 quic proxy_protocol trusted=10.0.0.0/8\n",
              ":1:", "proxy_protocol does not apply"),
             ("listen 127.0.0.1:8443 quic\nquic_max_flows 0\n", ":2:",
              "quic_max_flows"),
             ("listen 127.0.0.1:8443 quic\nquic_idle_timeout off\n", ":2:",
              "quic_idle_timeout"),
             ("listen 127.0.0.1:8443 quic\n\nquic_hello_bytes 1199\n", ":3:",
              "quic_hello_bytes"),
             ("listen 127.0.0.1:8443 quic\nquic_hello_datagrams 65\n", ":2:",
              "quic_hello_datagrams")]
    path = os.path.join(d, "q.conf")
    for text, place, word in cases:
        with open(path, "w") as f:
            f.write(text + "route a.test 127.0.0.1:9\n")
        r = subprocess.run([binary, "-t", "--config", path],
                           capture_output=True, text=True)
        c.check("config error: %s at %s" % (word, place),
                r.returncode != 0 and (path + place) in r.stderr and
                word in r.stderr, r.stderr)
    with open(path, "w") as f:
        f.write("listen 127.0.0.1:8443 quic\nquic_max_flows 1000000\n"
                "quic_hello_datagrams 64\nquic_hello_bytes 1200\n"
                "quic_idle_timeout 24h\nroute a.test 127.0.0.1:9\n")
    r = subprocess.run([binary, "-t", "--config", path], capture_output=True,
                       text=True)
    c.check("config: QUIC-only configuration at the range limits is valid",
            r.returncode == 0, r.stderr)
    os.unlink(path)
    os.rmdir(d)


def run(binary):
    tool = sys.argv[2]
    c = Checks()
    config_errors(c, binary)
    ea, eb, ec = Echo(), Echo(), Echo()
    closed = free_port()  # nothing listens there: ICMP port unreachable
    wport, mport, w6port = free_port(), free_port(), free_port()
    v6 = have_ipv6()
    logdir = pxlib.tempfile.mkdtemp(prefix="sniroute-quiclog.")
    logpath = os.path.join(logdir, "access.log")
    conf = CONF % {"listen6": "listen [::]:%d quic" % w6port if v6 else "",
                   "wport": wport, "idle": IDLE_MS, "log": logpath,
                   "mport": mport, "closed": closed, "a": ea.port,
                   "b": eb.port, "c": ec.port}
    px = Proxy(binary, conf=conf)
    socks = []
    try:
        flows = routed_flows(c, px, tool, ea, eb)
        socks += [s for s, _ in flows.values()]
        socks += unrouted_and_junk(c, px, tool, ea, eb)
        socks.append(failover(c, px, tool, ec))
        check_log(c, logpath, flows, (ea, eb, ec))
        # After the others ended: the wildcard flow times out on its own.
        socks.append(wildcard(c, px, tool, wport, ea))
        if v6:
            socks.append(wildcard6(c, tool, w6port))
        else:
            log("skip - [::] listener: no IPv6 on loopback")
        time.sleep(IDLE_MS / 1000 + 1.0)
        check_counters(c, px, mport, int(v6))
        # A flow open at SIGTERM ends at once (it cannot be drained).
        s = client()
        socks.append(s)
        dg = flight(tool, "one.test", "h3", 41)
        send_flow(s, px.port, dg, 41)
        c.check("last flow: echoed", len(recv_all(s, len(dg))) == len(dg))
        rc = px.stop()
        c.check("proxy exits 0", rc == 0, repr(rc))
        me = "127.0.0.1:%d" % s.getsockname()[1]
        ls = [l for l in log_lines(logpath) if l.get("client") == me.encode()]
        c.check("a flow open at SIGTERM is logged with verdict shutdown",
                len(ls) == 1 and ls[0].get("verdict") == b"shutdown", repr(ls))
        ctr = px.counters() or {}
        c.check("exit counters line has the QUIC counters",
                ctr.get("quic_flows") == 6 + v6 and
                ctr.get("quic_routed") == 5 + v6,
                repr(ctr))
    finally:
        for s in socks:
            s.close()
        px.cleanup()
        for e in (ea, eb, ec):
            e.close()
        if os.path.exists(logpath):
            os.unlink(logpath)
        os.rmdir(logdir)
    return c.rc()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        log("usage: quic.py PATH/TO/sniroute-proxy PATH/TO/quic-flight-tool")
        sys.exit(2)
    pxlib.main_wrapper(run)
