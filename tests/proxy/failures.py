#!/usr/bin/env python3
"""sniroute-proxy: failures a TLS client can see and an operator can read
(issue 10, item 5).

  failures.py PATH/TO/sniroute-proxy

1. the upstream is down (connection refused on every address): a TLS
   client gets a fatal internal_error alert (80), not a bare close; the
   log says verdict=connect_failed; the same when every attempt times
   out.  A client that did not speak TLS is closed without any byte.
2. a plain upstream that closes on the TLS hello without answering (with
   a FIN, or with a reset): the
   client gets alert 80, the log says verdict=upstream_closed_early with
   hint=check_upstream_tls_or_proxy_protocol, the counter and its metric
   count it.
3. a real TLS upstream: verdict=ok, the bytes arrive both ways.
"""
import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (SKIP, Checks, Proxy, Server, free_port, http_get, log, refused_port,
                   main_wrapper, make_cert, parse_kv, read_to_end, recv_exact,
                   reset_close)


def log_lines(px):
    """Log lines of connections that got as far as a route (the start-up
    probe of Proxy() is logged closed_before_hello)."""
    return [d for d in (parse_kv(l) for l in px.stderr_text().splitlines()
                        if " w" in l and " verdict=" in l)
            if d.get("route") is not None]


def wait_lines(px, n, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(log_lines(px)) < n:
        time.sleep(0.05)
    return log_lines(px)


def tls_attempt(port, ctx=None, name="www.test", payload=None):
    """A TLS handshake (and an optional line echoed back) through the
    proxy: ('ok', echoed bytes) or ('alert', reason) or ('other', text)."""
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname=name)
    except ssl.SSLError as e:
        raw.close()
        return ("alert", e.reason or str(e))
    except OSError as e:
        raw.close()
        return ("other", repr(e))
    try:
        got = b""
        if payload is not None:
            s.sendall(payload)
            while not got.endswith(b"\n"):
                d = s.recv(65536)
                if not d:
                    break
                got += d
        s.close()
        return ("ok", got)
    except OSError as e:
        return ("other", repr(e))


def down_case(binary, t):
    dead, dead_hold = refused_port()  # nothing listens there
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--default",
                        "127.0.0.1:%d" % dead])
    try:
        kind, why = tls_attempt(px.port)
        t.check("down upstream: TLS client gets alert internal_error",
                kind == "alert" and why == "TLSV1_ALERT_INTERNAL_ERROR",
                "%s %s" % (kind, why))
        c = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data, how = read_to_end(c, 10)
        c.close()
        t.check("down upstream: non-TLS client closed without a byte",
                data == b"" and how == "eof", "%r %s" % (data[:20], how))
        lines = wait_lines(px, 2)
        t.check("down upstream: both logged verdict=connect_failed",
                [d.get("verdict") for d in lines] == [b"connect_failed"] * 2
                and all("hint" not in d for d in lines), repr(lines))
    finally:
        px.cleanup()


def timeout_case(binary, t):
    """Every attempt times out: a listener whose accept queue is full
    drops new SYNs, so the connect hangs until connect_timeout."""
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(3):  # queue of 1; the others only make sure it is full
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    time.sleep(0.2)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--default",
                        "127.0.0.1:%d" % port, "--connect-timeout", "300ms"])
    try:
        kind, why = tls_attempt(px.port)
        t.check("connect timed out: TLS client gets alert internal_error",
                kind == "alert" and why == "TLSV1_ALERT_INTERNAL_ERROR",
                "%s %s" % (kind, why))
        lines = wait_lines(px, 1)
        t.check("connect timed out: verdict=connect_failed",
                [d.get("verdict") for d in lines] == [b"connect_failed"],
                repr(lines))
        px.stop()
        cn = px.counters() or {}
        t.check("connect timed out: counted in connect_timeouts",
                cn.get("connect_timeouts") == 1, repr(cn))
    finally:
        px.cleanup()
        for f in fillers:
            f.close()
        full.close()


def read_hello(c):
    """The client's first TLS record (its hello), whole."""
    head = recv_exact(c, 5)
    return head + recv_exact(c, struct.unpack("!H", head[3:5])[0])


def early_close_case(binary, t, how):
    """how: 'fin' (the plain server reads the hello, closes) or 'reset'
    (it closes with a reset, as one does that leaves bytes unread)."""
    def h(c):
        read_hello(c)
        if how == "reset":
            reset_close(c)
    up = Server(h)
    mport = free_port()
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--default",
                        "127.0.0.1:%d" % up.port, "--metrics",
                        "127.0.0.1:%d" % mport])
    try:
        kind, why = tls_attempt(px.port)
        t.check("early close (%s): TLS client gets alert internal_error" % how,
                kind == "alert" and why == "TLSV1_ALERT_INTERNAL_ERROR",
                "%s %s" % (kind, why))
        lines = wait_lines(px, 1)
        d = lines[0] if lines else {}
        t.check("early close (%s): verdict=upstream_closed_early, hint" % how,
                len(lines) == 1 and d.get("verdict") ==
                b"upstream_closed_early" and d.get("hint") ==
                b"check_upstream_tls_or_proxy_protocol" and
                d.get("bytes_down") == b"0", repr(lines))
        metrics = http_get(mport)
        t.check("early close (%s): counted in the metrics" % how,
                "sniroute_upstream_closed_early_total 1\n" in metrics,
                metrics[-600:])
        px.stop()
        cn = px.counters() or {}
        t.check("early close (%s): counted in the counters line" % how,
                cn.get("upstream_closed_early") == 1, repr(cn))
    finally:
        px.cleanup()
        up.close()


def normal_case(binary, t, tmp):
    cert, key = make_cert(tmp, "www.test", "ec")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)

    def h(c):
        s = sctx.wrap_socket(c, server_side=True)
        line = b""
        while not line.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            line += d
        s.sendall(b"echo " + line)
        s.close()
    up = Server(h)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--default",
                        "127.0.0.1:%d" % up.port])
    try:
        ctx = ssl.create_default_context(cafile=cert)
        kind, got = tls_attempt(px.port, ctx, "www.test", b"ping\n")
        t.check("TLS upstream: handshake and line through the proxy",
                kind == "ok" and got == b"echo ping\n", "%s %r" % (kind, got))
        lines = wait_lines(px, 1)
        t.check("TLS upstream: verdict=ok, no hint",
                len(lines) == 1 and lines[0].get("verdict") == b"ok" and
                "hint" not in lines[0], repr(lines))
    finally:
        px.cleanup()
        up.close()


def main(binary):
    if not shutil.which("openssl"):
        log("SKIP: openssl (certificates) not found")
        return SKIP
    t = Checks()
    tmp = tempfile.mkdtemp(prefix="sniroute-fail.")
    try:
        down_case(binary, t)
        timeout_case(binary, t)
        early_close_case(binary, t, "fin")
        early_close_case(binary, t, "reset")
        normal_case(binary, t, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(main)
