#!/usr/bin/env python3
"""sniroute-proxy's connection log (issue 8 items 4 and 16, issue 9).

  log_hardening.py PATH/TO/sniroute-proxy

1. a log target nobody reads (a pipe) never stops traffic: 3000
   connections are all routed and answered, the dropped lines are
   counted (log_lines_dropped), and the proxy still exits promptly;
2. a hostile SNI and hostile ALPN names (spaces, '=', quotes, backslash,
   newlines, '%', ',', '-', bytes >= 0x80, NUL) give one kv line whose
   fields parse back (percent-decoding) to exactly the bytes sent;
3. the same with log_format json (strings decode, as Latin-1, to the
   bytes sent);
4. SIGUSR1 reopens a log file that was renamed (logrotate): lines after
   the signal land in the new file, none is lost or split while clients
   keep connecting through several rotations.
"""
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (KV_KEYS, Checks, Proxy, Server, client_hello, log,
                   main_wrapper, parse_kv, recv_exact)

HELLO = client_hello(b"www.test")


def answer_ok(c):
    """Upstream: reads the hello, answers, closes."""
    recv_exact(c, len(HELLO))
    c.sendall(b"ok")


def one_conn(port, hello=HELLO, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(hello)
        buf = b""
        while True:
            d = s.recv(100)
            if not d:
                return buf
            buf += d
    finally:
        s.close()


def blocked_log_case(binary, t):
    up = Server(answer_ok)
    r, w = os.pipe()  # nobody ever reads r
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--default", "127.0.0.1:%d" % up.port,
                        "--log", "stdout"], stdout=w)
    os.close(w)
    n, total, failed = 0, 3000, []
    t0 = time.monotonic()
    try:
        lock = threading.Lock()

        def worker(k):
            nonlocal n
            for i in range(k, total, 4):
                if failed:
                    return
                try:
                    got = one_conn(px.port)
                except OSError as e:
                    got = repr(e)
                with lock:
                    if got == b"ok":
                        n += 1
                    else:
                        failed.append((i, got))
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(50)
        t.check("log to a pipe nobody reads: %d of %d connections answered "
                "in %.1f s" % (n, total, time.monotonic() - t0),
                n == total, "first failures: %s" % failed[:3])
        t1 = time.monotonic()
        rc = px.stop(timeout=15)
        t.check("the proxy still exits promptly (%.1f s, status %s)"
                % (time.monotonic() - t1, rc), rc == 0)
        c = px.counters() or {}
        t.check("routed=%s, log_lines_dropped=%s" %
                (c.get("routed"), c.get("log_lines_dropped")),
                c.get("routed", 0) >= total and
                c.get("log_lines_dropped", 0) > 0)
    finally:
        px.kill()
        os.close(r)
        px.cleanup()
        up.close()


HOSTILE_SNI = (b"evil.test verdict=ok \"q\" \\ %41 ,x -\t\n\r"
               b"\x00\x01\x7f\x80\xc3\xa9\xff'=")
HOSTILE_ALPN = [b"h2 verdict=ok", b"a\nb\r\nverdict=ok", b"\"quoted\"",
                b"back\\slash", b"x,y", b"%", b"-", b"\xff\x00\xfe",
                b"{\"json\":1}"]


def hostile_hello_case(binary, t, fmt):
    seen = {}

    def h(c):
        seen["hello"] = recv_exact(c, len(hello))
        c.sendall(b"ok")
    hello = client_hello(HOSTILE_SNI, HOSTILE_ALPN)
    up = Server(h)
    tmp = tempfile.mkdtemp(prefix="sniroute-log.")
    logpath = os.path.join(tmp, "proxy.log")
    # kv is the default format.
    conf = ("listen 127.0.0.1:{port}\n%slog %s\n"
            "routes {\n  default 127.0.0.1:%d\n}\n") % (
                "log_format json\n" if fmt == "json" else "", logpath,
                up.port)
    try:
        px = Proxy(binary, conf=conf)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        up.close()
        raise
    try:
        s = socket.create_connection(("127.0.0.1", px.port), timeout=5)
        port = s.getsockname()[1]
        s.sendall(hello)
        got = s.recv(10)
        s.close()
        t.check("%s: the hostile hello is relayed unchanged" % fmt,
                got == b"ok" and seen.get("hello") == hello)
        px.stop()
        text = open(logpath, "rb").read().decode("ascii", "strict")
        mine = [l for l in text.splitlines()
                if ("127.0.0.1:%d" % port) in l]
        t.check("%s: one line for the connection (%d)" % (fmt, len(mine)),
                len(mine) == 1, repr(mine))
        if len(mine) != 1:
            return
        try:
            if fmt == "kv":
                d = parse_kv(mine[0])
                keys = list(d.keys())
                sni, alpn, verdict = d["sni"], d["alpn"], d["verdict"]
            else:
                j = json.loads(mine[0])
                keys = list(j.keys())
                sni = j["sni"].encode("latin-1")
                alpn = [a.encode("latin-1") for a in j["alpn"]]
                verdict = j["verdict"].encode()
        except (ValueError, KeyError, AttributeError) as e:
            t.check("%s: the line parses" % fmt, False,
                    "%s: %r" % (e, mine[0]))
            return
        t.check("%s: fields in order, each once: %s" % (fmt, keys),
                keys == KV_KEYS)
        t.check("%s: sni parses back to the bytes sent" % fmt,
                sni == HOSTILE_SNI, repr(sni))
        t.check("%s: alpn parses back to the names sent" % fmt,
                alpn == HOSTILE_ALPN, repr(alpn))
        t.check("%s: the real verdict (%r)" % (fmt, verdict),
                verdict == b"ok")
    finally:
        px.stop()
        px.cleanup()
        up.close()
        shutil.rmtree(tmp, ignore_errors=True)


def reopen_case(binary, t):
    up = Server(answer_ok)
    tmp = tempfile.mkdtemp(prefix="sniroute-log.")
    logpath = os.path.join(tmp, "access.log")
    try:
        px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                            "--default", "127.0.0.1:%d" % up.port,
                            "--log", logpath, "--workers", "2"])
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        up.close()
        raise
    stop = threading.Event()
    ports, errors = [], []
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", px.port), 5)
                p = s.getsockname()[1]
                s.sendall(HELLO)
                ok = s.recv(10) == b"ok"
                s.close()
                with lock:
                    ports.append(p) if ok else errors.append(p)
            except OSError as e:
                errors.append(repr(e))
    try:
        # A first connection lands in the first file.
        before = socket.create_connection(("127.0.0.1", px.port), 5)
        before_port = before.getsockname()[1]
        before.sendall(HELLO)
        before.recv(10)
        before.close()
        time.sleep(0.3)
        os.rename(logpath, logpath + ".1")
        px.signal(signal.SIGUSR1)
        time.sleep(0.3)
        after = socket.create_connection(("127.0.0.1", px.port), 5)
        after_port = after.getsockname()[1]
        after.sendall(HELLO)
        after.recv(10)
        after.close()
        time.sleep(0.3)
        old = open(logpath + ".1").read() if os.path.exists(
            logpath + ".1") else ""
        new = open(logpath).read() if os.path.exists(logpath) else ""
        t.check("reopen: the line before the rotation is in the old file",
                ":%d " % before_port in old)
        t.check("reopen: the line after SIGUSR1 is in the new file",
                ":%d " % after_port in new and ":%d " % after_port not in old,
                "new file: %r" % new[:300])
        # Rotations while clients keep connecting: nothing lost or split.
        ths = [threading.Thread(target=client) for _ in range(3)]
        for th in ths:
            th.start()
        for k in range(2, 7):
            time.sleep(0.25)
            os.rename(logpath, logpath + ".%d" % k)
            px.signal(signal.SIGUSR1)
        time.sleep(0.25)
        stop.set()
        for th in ths:
            th.join(10)
        px.stop()
        lines = []
        for k in range(1, 7):
            p = logpath + (".%d" % k)
            if os.path.exists(p):
                lines += open(p).read().splitlines()
        lines += open(logpath).read().splitlines()
        parsed, bad = [], []
        for l in lines:
            try:
                d = parse_kv(l)
                if list(d.keys()) != KV_KEYS:
                    raise ValueError(l)
                parsed.append(d)
            except ValueError:
                bad.append(l)
        # A client port can be used again once its connection is closed:
        # compare how often each port was used with how often it is logged.
        logged = Counter(int(d["client"].rsplit(b":", 1)[1]) for d in parsed
                         if d["verdict"] == b"ok")
        want = Counter(ports + [before_port, after_port])
        diff = [(p, want[p], logged[p]) for p in set(want) | set(logged)
                if want[p] != logged[p]]
        t.check("%d rotations under load: %d connections, each logged "
                "exactly once, no broken line (errors %d)" %
                (5, len(ports), len(errors)),
                ports and not diff and not bad and not errors,
                "port/used/logged %s bad %s" % (diff[:5], bad[:3]))
    finally:
        stop.set()
        px.stop()
        px.cleanup()
        up.close()
        shutil.rmtree(tmp, ignore_errors=True)


def run(binary):
    t = Checks()
    log("# blocked log target")
    blocked_log_case(binary, t)
    log("# hostile SNI/ALPN, kv")
    hostile_hello_case(binary, t, "kv")
    log("# hostile SNI/ALPN, json")
    hostile_hello_case(binary, t, "json")
    log("# reopen")
    reopen_case(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
