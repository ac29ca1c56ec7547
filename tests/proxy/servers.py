#!/usr/bin/env python3
"""sniroute-proxy server blocks (issue 10, items 1-3).

  servers.py PATH/TO/sniroute-proxy [PATH/TO/sniroute-test-quic-flight]

1. Server blocks: two blocks route the same name to different upstreams
   by the port reached; a name only one block knows gets alert 112 on the
   other; each block's hello_timeout; the log's server= field (kv and
   json, a block's name or index); a reload switches one block's route
   while an open connection keeps working; -t reports every misuse with
   FILE:LINE (mixing top-level listeners with blocks, directives in the
   wrong place, tls off with named routes, silent not shorter than
   hello_timeout, ...).  With the QUIC flight tool: a `listen ... quic`
   in a block is routed by that block's routes.
2. tls off: a plain client is connected to the default route at once and
   relayed both ways from the start (a server that speaks first is heard
   without the client sending); PROXY protocol in and out; a down
   upstream closes the client with a FIN and no byte.
3. silent DURATION TARGET: a client that sends nothing gets the banner of
   TARGET no earlier than DURATION (and well within a generous margin);
   a client that sent part of a hello is never silent (closed at
   hello_timeout, no banner); a complete hello is routed as usual.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, free_port, http_get,
                   main_wrapper, parse_kv, read_to_end, recv_exact,
                   refused_port, wait_for)

ALERT_112 = b"\x15\x03\x03\x00\x02\x02\x70"
SILENT_MS = 300
BANNER = b"220 banner.test ESMTP\r\n"


def tagged(tag):
    """An upstream that reads the client's first bytes and answers its
    tag, then echoes until EOF (so a connection can stay open)."""
    def handler(c):
        c.settimeout(30)
        first = c.recv(65536)
        if not first:
            return
        c.sendall(tag)
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
    return handler


def banner_server(seen):
    """Speaks first; then echoes lines.  seen: what each connection sent
    before its first line, to check PROXY headers."""
    def handler(c):
        c.settimeout(30)
        c.sendall(BANNER)
        buf = b""
        header = None  # a PROXY v1 line is recorded, not echoed
        while True:
            d = c.recv(65536)
            if not d:
                seen.append(buf)
                return
            buf += d
            if header is None:
                if buf.startswith(b"PROXY ") and b"\r\n" not in buf:
                    continue
                header = b""
                if buf.startswith(b"PROXY "):
                    header, d = buf.split(b"\r\n", 1)
                else:
                    d = buf
            if d:
                c.sendall(d)
    return handler


def ask(port, data, n=None, timeout=10):
    """Connects, sends data, reads n bytes (None: to the end)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if n is None:
        got, _ = read_to_end(s, timeout)
    else:
        got = recv_exact(s, n)
    s.close()
    return got


def log_lines(px):
    return [parse_kv(l) for l in px.stderr_text().splitlines()
            if " w" in l and " verdict=" in l and l[:4].isdigit()]


def wait_line(px, pred, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for d in log_lines(px):
            if pred(d):
                return d
        time.sleep(0.05)
    return None


def check_config(binary, t, name, text, want):
    """-t on text: want None (valid) or a piece of the message, which must
    also name the file and a line."""
    d = tempfile.mkdtemp(prefix="sniroute-srv.")
    path = os.path.join(d, "p.conf")
    try:
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([binary, "-t", "--config", path],
                           capture_output=True, text=True, timeout=20)
    finally:
        os.unlink(path)
        os.rmdir(d)
    if want is None:
        t.check("-t: %s is valid" % name, r.returncode == 0, r.stderr)
    else:
        ok = r.returncode != 0 and want in r.stderr and \
            (path + ":") in r.stderr
        t.check("-t: %s: %r at FILE:LINE" % (name, want), ok, r.stderr)
        return r.stderr
    return ""


def config_cases(binary, t):
    p1, p2 = free_port(), free_port()
    ok_conf = """upstream a 127.0.0.1:9
server web {
  listen 127.0.0.1:%d
  listen 127.0.0.1:%d quic
  hello_timeout 2s
  silent 1s 127.0.0.1:25
  routes {
    a.test a
  }
}
server {
  listen 127.0.0.1:%d
  tls off
  route default a
}
""" % (p1, p1, p2)
    check_config(binary, t, "two blocks, QUIC, tls off, silent", ok_conf,
                 None)
    cases = [
        ("a top-level listen after a block",
         "server {\n listen 127.0.0.1:%d\n route default 127.0.0.1:9\n}\n"
         "listen 127.0.0.1:%d\n" % (p1, p2),
         "listen outside a server block"),
        ("a block after top-level routes",
         "listen 127.0.0.1:%d\nroute default 127.0.0.1:9\nserver {\n" % p1,
         "server block after top-level listen or routes"),
        ("tls at top level", "listen 127.0.0.1:%d\ntls off\n" % p1,
         "tls belongs in a server block"),
        ("a global directive in a block",
         "server {\n listen 127.0.0.1:%d\n workers 2\n}\n" % p1,
         "workers is global"),
        ("a block without listen", "server {\n route default 1.2.3.4:5\n}\n",
         "has no listen"),
        ("an unclosed block", "server {\n listen 127.0.0.1:%d\n" % p1,
         "server { without }"),
        ("nested blocks", "server {\n server {\n", "cannot hold another"),
        ("the same name twice",
         "server x {\n listen 127.0.0.1:%d\n}\nserver x {\n" % p1,
         "server x defined twice"),
        ("tls off with a name route",
         "server {\n listen 127.0.0.1:%d\n tls off\n routes {\n"
         "  default 127.0.0.1:9\n  a.test 127.0.0.1:9\n }\n}\n" % p1,
         "only a default route applies"),
        ("tls off without a default",
         "server {\n listen 127.0.0.1:%d\n tls off\n}\n" % p1,
         "it needs a default route"),
        ("silent with tls off",
         "server {\n listen 127.0.0.1:%d\n tls off\n route default "
         "127.0.0.1:9\n silent 1s 127.0.0.1:9\n}\n" % p1,
         "silent needs TLS"),
        ("silent not shorter than hello_timeout",
         "server {\n listen 127.0.0.1:%d\n hello_timeout 1s\n"
         " silent 1s 127.0.0.1:9\n}\n" % p1,
         "silent must be shorter"),
        ("silent 0", "server {\n listen 127.0.0.1:%d\n silent 0 a\n}\n" % p1,
         "silent DURATION TARGET"),
        ("silent to nothing",
         "server {\n listen 127.0.0.1:%d\n silent 1s nowhere\n}\n" % p1,
         "'nowhere' is neither an upstream"),
        ("tls maybe", "server {\n listen 127.0.0.1:%d\n tls maybe\n}\n" % p1,
         "tls on|off"),
    ]
    for name, text, want in cases:
        check_config(binary, t, name, text, want)
    # The line named is the offending one.
    err = check_config(
        binary, t, "the route's line",
        "server {\n listen 127.0.0.1:%d\n tls off\n route a.test "
        "127.0.0.1:9\n route default 127.0.0.1:9\n}\n" % p1,
        "only a default route")
    t.check("-t: the message names line 4", ":4: " in err, err)


def server_series(mport):
    """sniroute_server_connections_total by server label, from /metrics."""
    out = {}
    for line in http_get(mport).splitlines():
        if line.startswith('sniroute_server_connections_total{server="'):
            label = line.split('"')[1]
            out[label] = int(line.rsplit(" ", 1)[1])
    return out


def two_servers(binary, t):
    ups = {k: Server(tagged(k.encode())) for k in ("one", "two", "new")}
    p2, mport = free_port(), free_port()
    conf = """metrics 127.0.0.1:%d
upstream one 127.0.0.1:%d
upstream two 127.0.0.1:%d
upstream new 127.0.0.1:%d
server first {
  listen 127.0.0.1:{port}
  hello_timeout 400ms
  routes {
    a.test one
  }
}
server {
  listen 127.0.0.1:%d
  route a.test two
  route b.test two
}
""" % (mport, ups["one"].port, ups["two"].port, ups["new"].port, p2)
    px = Proxy(binary, conf=conf)
    try:
        a = client_hello(sni=b"a.test")
        t.check("1: a.test on the first server's port -> one",
                ask(px.port, a, 3) == b"one")
        t.check("1: a.test on the second server's port -> two",
                ask(p2, a, 3) == b"two")
        t.check("1: b.test only in the second block: alert 112 on the first",
                ask(px.port, client_hello(sni=b"b.test")) == ALERT_112)
        # first: the start-up probe, a.test, b.test; second: a.test
        want = {"first": 3, "1": 1}
        t.check("1: metrics count each block's connections by its label",
                wait_for(lambda: server_series(mport) == want, 5),
                str(server_series(mport)))
        d = wait_line(px, lambda d: d.get("sni") == b"a.test" and
                      d.get("upstream", b"").startswith(b"two("))
        t.check("1: log server=1 for the unnamed second block",
                d is not None and d.get("server") == b"1", repr(d))
        d = wait_line(px, lambda d: d.get("sni") == b"a.test" and
                      d.get("upstream", b"").startswith(b"one("))
        t.check("1: log server=first for the named block",
                d is not None and d.get("server") == b"first", repr(d))
        # Per-block hello_timeout: 400 ms on the first, 10 s on the second.
        s1 = socket.create_connection(("127.0.0.1", px.port), timeout=5)
        s2 = socket.create_connection(("127.0.0.1", p2), timeout=5)
        t0 = time.monotonic()
        _, how = read_to_end(s1, 5)
        el = time.monotonic() - t0
        t.check("1: the first block's hello_timeout closes an idle client "
                "(%.2fs, %s)" % (el, how), how == "eof" and 0.3 < el < 3)
        s2.settimeout(0.5)
        try:
            still = s2.recv(1) is None
        except socket.timeout:
            still = True
        t.check("1: the second block's (default 10s) keeps it open", still)
        s2.close()
        s1.close()
        # Reload: the second block's a.test moves to `new`; an open
        # connection keeps its upstream.
        held = socket.create_connection(("127.0.0.1", p2), timeout=10)
        held.sendall(a)
        t.check("1: held connection routed to two",
                recv_exact(held, 3) == b"two")
        with open(px.conf, "w") as f:
            f.write(conf.replace("route a.test two", "route a.test new")
                    .replace("{port}", str(px.port)))
        px.signal(signal.SIGHUP)
        end = time.monotonic() + 10
        got = b""
        while time.monotonic() < end and got != b"new":
            got = ask(p2, a, 3)
            time.sleep(0.05)
        t.check("1: after the reload a.test on the second port -> new",
                got == b"new")
        t.check("1: the first block's route is unchanged",
                ask(px.port, a, 3) == b"one")
        held.sendall(b"still there\n")
        t.check("1: the held connection still relays to two",
                recv_exact(held, 12) == b"still there\n")
        held.close()
    finally:
        px.stop()
        px.cleanup()
        for u in ups.values():
            u.close()


def json_server_field(binary, t):
    up = Server(tagged(b"j"))
    conf = """log_format json
server edge {
  listen 127.0.0.1:{port}
  route default 127.0.0.1:%d
}
""" % up.port
    px = Proxy(binary, conf=conf)
    try:
        ask(px.port, client_hello(sni=b"j.test"), 1)
        end = time.monotonic() + 10
        found = None
        while time.monotonic() < end and not found:
            for l in px.stderr_text().splitlines():
                if l.startswith("{") and '"j.test"' in l:
                    found = json.loads(l)
            time.sleep(0.05)
        t.check("1: json log has \"server\":\"edge\" after client",
                found is not None and found.get("server") == "edge" and
                list(found).index("server") == list(found).index("client") + 1,
                repr(found))
    finally:
        px.stop()
        px.cleanup()
        up.close()


def plain_server(binary, t):
    seen = []
    banner = Server(banner_server(seen))
    dead, dead_hold = refused_port()
    p_pp, p_dead = free_port(), free_port()
    conf = """upstream line 127.0.0.1:%d proxy_protocol v1
server tlsside {
  listen 127.0.0.1:{port}
  route default 127.0.0.1:%d
}
server plain {
  listen 127.0.0.1:%d proxy_protocol trusted=127.0.0.1
  tls off
  route default line
}
server down {
  listen 127.0.0.1:%d
  tls off
  route default 127.0.0.1:%d
}
""" % (banner.port, banner.port, p_pp, p_dead, dead)
    px = Proxy(binary, conf=conf)
    try:
        s = socket.create_connection(("127.0.0.1", p_pp), timeout=10)
        s.sendall(b"PROXY TCP4 127.0.0.9 127.0.0.1 5555 443\r\n")
        got = recv_exact(s, len(BANNER))
        t.check("2: tls off: the banner arrives before the client sends "
                "a byte", got == BANNER, repr(got))
        s.sendall(b"plain line\n")
        t.check("2: tls off: the client's bytes are relayed",
                recv_exact(s, 11) == b"plain line\n")
        s.shutdown(socket.SHUT_WR)
        rest, how = read_to_end(s, 10)
        t.check("2: tls off: the upstream's FIN is passed on",
                rest == b"" and how == "eof", how)
        s.close()
        end = time.monotonic() + 5
        while time.monotonic() < end and not seen:
            time.sleep(0.05)
        t.check("2: tls off: PROXY in and out: the upstream learns "
                "127.0.0.9:5555", bool(seen) and seen[0].startswith(
                    b"PROXY TCP4 127.0.0.9 127.0.0.1 5555 443\r\n"),
                repr(seen[:1]))
        d = wait_line(px, lambda d: d.get("server") == b"plain" and
                      d.get("verdict") == b"ok")
        t.check("2: log: route=default, client from the PROXY header",
                d is not None and d.get("route") == b"default" and
                d.get("client") == b"127.0.0.9:5555", repr(d))
        s = socket.create_connection(("127.0.0.1", p_dead), timeout=10)
        s.sendall(b"anyone?\n")
        got, how = read_to_end(s, 10)
        s.close()
        t.check("2: tls off, upstream down: FIN and no byte (no alert)",
                got == b"" and how == "eof", "%r %s" % (got, how))
        d = wait_line(px, lambda d: d.get("server") == b"down")
        t.check("2: log verdict=connect_failed",
                d is not None and d.get("verdict") == b"connect_failed",
                repr(d))
    finally:
        px.stop()
        px.cleanup()
        banner.close()


def silent_server(binary, t):
    seen = []
    banner = Server(banner_server(seen))
    tls_up = Server(tagged(b"tls"))
    conf = """server mail {
  listen 127.0.0.1:{port}
  hello_timeout 1500ms
  silent %dms 127.0.0.1:%d
  route default 127.0.0.1:%d
}
""" % (SILENT_MS, banner.port, tls_up.port)
    px = Proxy(binary, conf=conf)
    try:
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        t0 = time.monotonic()
        got = recv_exact(s, len(BANNER))
        el = (time.monotonic() - t0) * 1000
        t.check("3: a silent client gets the banner (%r)" % got,
                got == BANNER)
        t.check("3: ... no earlier than %d ms and within a generous margin "
                "(%.0f ms)" % (SILENT_MS, el), SILENT_MS - 5 <= el < 2000)
        s.sendall(b"EHLO x\r\n")
        t.check("3: then relayed both ways",
                recv_exact(s, 8) == b"EHLO x\r\n")
        s.close()
        d = wait_line(px, lambda d: d.get("route") == b"silent")
        t.check("3: log route=silent, server=mail",
                d is not None and d.get("server") == b"mail" and
                d.get("upstream", b"").startswith(b"127.0.0.1:%d(" %
                                                  banner.port), repr(d))
        # Part of a hello: never silent, closed at hello_timeout.
        hello = client_hello(sni=b"m.test")
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        s.sendall(hello[:10])
        t0 = time.monotonic()
        got, how = read_to_end(s, 5)
        el = time.monotonic() - t0
        s.close()
        # (closed with unread bytes: the kernel sends a reset)
        t.check("3: a partial hello gets no banner and is closed at "
                "hello_timeout (%.2fs, %r, %s)" % (el, got, how),
                got == b"" and how in ("eof", "reset") and 1.0 < el < 4)
        d = wait_line(px, lambda d: d.get("verdict") == b"hello_timeout")
        t.check("3: log verdict=hello_timeout", d is not None, repr(d))
        # A hello sent after a pause shorter than silent: routed by name.
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        time.sleep(SILENT_MS / 3000)
        s.sendall(hello)
        got = recv_exact(s, 3)
        s.close()
        t.check("3: a complete hello goes to the default route",
                got == b"tls", repr(got))
    finally:
        px.stop()
        px.cleanup()
        banner.close()
        tls_up.close()


def udp_echo(got):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)

    def loop():
        while True:
            try:
                d, a = s.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            got.append(d)
            s.sendto(d, a)
    threading.Thread(target=loop, daemon=True).start()
    return s


def quic_blocks(binary, t, tool):
    """The same name on two blocks' QUIC listeners reaches each block's
    own upstream."""
    got = {"one": [], "two": []}
    socks = {k: udp_echo(got[k]) for k in got}
    p2 = free_port()
    conf = """server one {
  listen 127.0.0.1:{port}
  listen 127.0.0.1:{port} quic
  route q.test 127.0.0.1:%d
}
server two {
  listen 127.0.0.1:%d quic
  route q.test 127.0.0.1:%d
}
""" % (socks["one"].getsockname()[1], p2, socks["two"].getsockname()[1])
    px = Proxy(binary, conf=conf)
    try:
        out = subprocess.run([tool, "q.test", "h3", "7"], check=True,
                             capture_output=True, text=True).stdout
        dgrams = [bytes.fromhex(l) for l in out.split()]
        for name, port in (("one", px.port), ("two", p2)):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.bind(("127.0.0.1", 0))
            for d in dgrams:
                c.sendto(d, ("127.0.0.1", port))
            end = time.monotonic() + 5
            while time.monotonic() < end and len(got[name]) < len(dgrams):
                time.sleep(0.05)
            c.close()
        t.check("1: QUIC in block one -> one's upstream",
                sorted(got["one"]) == sorted(dgrams),
                "%d/%d" % (len(got["one"]), len(dgrams)))
        t.check("1: QUIC in block two -> two's upstream",
                sorted(got["two"]) == sorted(dgrams),
                "%d/%d" % (len(got["two"]), len(dgrams)))
    finally:
        px.stop()
        px.cleanup()
        for s in socks.values():
            s.close()


def run(binary):
    t = Checks()
    config_cases(binary, t)
    two_servers(binary, t)
    if len(sys.argv) > 2:
        quic_blocks(binary, t, sys.argv[2])
    json_server_field(binary, t)
    plain_server(binary, t)
    silent_server(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
