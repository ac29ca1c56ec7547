#!/usr/bin/env python3
"""sniroute-proxy: a cut is a reset, a clean end is a FIN, and every
connection is logged once, also at shutdown (issue 8, items 2 and 3).

  relay_resets.py PATH/TO/sniroute-proxy

1. the upstream resets mid-stream    -> the client gets ECONNRESET, not EOF
2. the client resets mid-stream      -> the upstream gets ECONNRESET
3. a clean half-close                -> both sides see a clean EOF, all bytes
4. SIGTERM with a short drain_timeout during a bulk transfer
                                     -> both sides get ECONNRESET
5. hello and idle timeouts off, SIGTERM: connections waiting for a hello
   and idle relayed ones are cut, each logged once; final active=0
"""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (echo, wait_for, Checks, Proxy, Server, client_hello, log, main_wrapper,
                   parse_kv, read_to_end, recv_exact, reset_close, sha)

HELLO = client_hello(b"www.test")


def lines_for(px, port):
    out = []
    for l in px.stderr_text().splitlines():
        if " w" in l and "client=127.0.0.1:%d " % port in l:
            out.append(parse_kv(l))
    return out


def connect(px):
    s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
    return s


def upstream_reset_case(binary, t):
    def h(c):
        recv_exact(c, len(HELLO))
        c.sendall(b"x" * 1000)
        time.sleep(0.3)
        reset_close(c)
    up = Server(h)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port])
    try:
        s = connect(px)
        port = s.getsockname()[1]
        s.sendall(HELLO)
        data, how = read_to_end(s, 10)
        s.close()
        t.check("upstream reset -> client sees a reset (got %d bytes, %s)"
                % (len(data), how), how == "reset")
        wait_for(lambda: lines_for(px, port))
        ls = lines_for(px, port)
        t.check("upstream reset logged once as upstream_reset",
                len(ls) == 1 and ls[0]["verdict"] == b"upstream_reset",
                repr(ls))
    finally:
        px.stop()
        px.cleanup()
        up.close()


def client_reset_case(binary, t):
    seen = {}
    done = threading.Event()

    def h(c):
        recv_exact(c, len(HELLO))
        data, how = read_to_end(c, 10)
        seen["how"], seen["n"] = how, len(data)
        done.set()
    up = Server(h)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port])
    try:
        s = connect(px)
        port = s.getsockname()[1]
        s.sendall(HELLO + b"y" * 500)
        time.sleep(0.3)
        reset_close(s)
        done.wait(10)
        t.check("client reset -> upstream sees a reset (%r)" % seen,
                seen.get("how") == "reset")
        wait_for(lambda: lines_for(px, port))
        ls = lines_for(px, port)
        t.check("client reset logged once as client_reset",
                len(ls) == 1 and ls[0]["verdict"] == b"client_reset",
                repr(ls))
    finally:
        px.stop()
        px.cleanup()
        up.close()


def clean_fin_case(binary, t):
    reply = os.urandom(300000)
    seen = {}

    def h(c):
        data, how = read_to_end(c, 10)
        seen["how"], seen["data"] = how, data
        c.sendall(reply)
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
    up = Server(h)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port])
    try:
        body = os.urandom(100000)
        s = connect(px)
        port = s.getsockname()[1]
        s.sendall(HELLO + body)
        s.shutdown(socket.SHUT_WR)
        data, how = read_to_end(s, 10)
        s.close()
        t.check("half-close: upstream read everything to a clean EOF",
                seen.get("how") == "eof" and seen.get("data") == HELLO + body,
                "%s %d" % (seen.get("how"), len(seen.get("data", b""))))
        t.check("half-close: client read the whole reply to a clean EOF "
                "(%s, %d bytes)" % (how, len(data)),
                how == "eof" and sha(data) == sha(reply))
        wait_for(lambda: lines_for(px, port))
        ls = lines_for(px, port)
        t.check("half-close logged once as ok",
                len(ls) == 1 and ls[0]["verdict"] == b"ok", repr(ls))
    finally:
        px.stop()
        px.cleanup()
        up.close()


def drain_case(binary, t):
    total = 64 << 20
    block = os.urandom(1 << 20)
    seen = {}

    def h(c):
        recv_exact(c, len(HELLO))
        sent = 0
        try:
            while sent < total:
                c.sendall(block)
                sent += len(block)
            seen["up"] = "sent all"
        except ConnectionResetError:
            seen["up"] = "reset"
        except BrokenPipeError:
            seen["up"] = "broken pipe"
        except OSError as e:
            seen["up"] = str(e)
    up = Server(h)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port,
                        "--drain-timeout", "500ms"])
    try:
        s = connect(px)
        port = s.getsockname()[1]
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(HELLO)
        got = len(recv_exact(s, 1 << 20))  # the transfer is running
        px.signal(signal.SIGTERM)
        # Read slowly: at 8 MB/s the 64 MB cannot finish in 0.5 s.
        s.settimeout(10)
        how = "eof"
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                how = "reset"
                break
            except socket.timeout:
                how = "timeout"
                break
            if not d:
                break
            got += len(d)
            time.sleep(0.008)
        s.close()
        px.p.wait(20)
        wait_for(lambda: "up" in seen, 10)
        t.check("drain cut: client sees a reset (%s after %d of %d bytes)"
                % (how, got, total), how == "reset" and got < total)
        t.check("drain cut: upstream sees a reset (%s)" % seen.get("up"),
                seen.get("up") in ("reset", "broken pipe"))
        ls = lines_for(px, port)
        t.check("drain cut logged once as drain_timeout",
                len(ls) == 1 and ls[0]["verdict"] == b"drain_timeout",
                repr(ls))
    finally:
        px.stop()
        px.cleanup()
        up.close()


def shutdown_logs_case(binary, t):
    up = Server(echo)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port,
                        "--hello-timeout", "off", "--idle-timeout", "off",
                        "--drain-timeout", "300ms"])
    socks = []
    try:
        # Two waiting for a hello, two relayed and idle.
        for i in range(4):
            s = connect(px)
            socks.append(s)
            if i >= 2:
                s.sendall(HELLO)
                recv_exact(s, len(HELLO))
        time.sleep(0.3)
        ports = [s.getsockname()[1] for s in socks]
        px.stop()
        outcomes = []
        for s in socks:
            outcomes.append(read_to_end(s, 5)[1])
            s.close()
        for i, port in enumerate(ports):
            ls = lines_for(px, port)
            t.check("timeouts off: connection %d logged once at shutdown "
                    "(%s)" % (i, [l["verdict"] for l in ls]),
                    len(ls) == 1 and ls[0]["verdict"] == b"drain_timeout")
        t.check("relayed connections cut with a reset (%s)" % outcomes[2:],
                outcomes[2:] == ["reset", "reset"])
        c = px.counters()
        t.check("final counters: active=0 (%s)" % (c and c.get("active")),
                c is not None and c.get("active") == 0)
    finally:
        for s in socks:
            s.close()
        px.stop()
        px.cleanup()
        up.close()


def run(binary):
    t = Checks()
    for case in (upstream_reset_case, client_reset_case, clean_fin_case,
                 drain_case, shutdown_logs_case):
        log("# %s" % case.__name__)
        case(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
