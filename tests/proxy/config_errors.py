#!/usr/bin/env python3
"""sniroute-proxy configuration and PROXY-protocol input, end to end
(issue 8 items 8, 9, 13-15; issue 9 item 3).

    config_errors.py PATH/TO/sniroute-proxy

Configuration errors must stop the proxy with exit status 2 and one
message naming FILE:LINE (or "command line:N", N the option's position); a
reload with an error must keep the running configuration and say where
the error is; a reload must apply a revoked trusted= at once and refuse to
move a listener; PROXY v2 headers up to the documented 64 KiB must be
accepted.  Loopback only (pxlib).
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pxlib  # noqa: E402
from pxlib import echo  # noqa: E402

C = pxlib.Checks()
NOOP = 0x04  # PP2_TYPE_NOOP
V2_SIG = b"\r\n\r\n\0\r\nQUIT\n"
V2_PROXY_TCP4 = bytes([0x21, 0x11])
V2_ADDRS_INET = 12
TLV_HEAD = 3


def wait_for(p, pattern, timeout=5.0, start=0):
    """True once stderr (from offset start) matches pattern."""
    end = time.monotonic() + timeout
    while True:
        if re.search(pattern, p.stderr_text()[start:]):
            return True
        if time.monotonic() > end or p.p.poll() is not None:
            return bool(re.search(pattern, p.stderr_text()[start:]))
        time.sleep(0.05)


def run_bad(binary, name, want, args=(), conf=None):
    """The proxy must exit 2 without starting, with a message matching
    want (a function of the Proxy when it needs the file's path)."""
    p = pxlib.Proxy(binary, args, conf=conf, wait=False)
    try:
        rc = p.p.wait(3)
    except subprocess.TimeoutExpired:
        rc = None
    text = p.stderr_text()
    pattern = want(p) if callable(want) else want
    C.check(name, rc == 2 and re.search(pattern, text),
            "exit %s, stderr: %r" % (rc, text[-400:]))
    p.cleanup()


def in_file(tail):
    return lambda p: re.escape(p.conf) + tail


def echo_via(port, data, header=b"", timeout=3.0):
    """Sends header + data through the proxy; returns what came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(header + data)
        while len(got) < len(data):
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    finally:
        s.close()
    return got


def pp_v2(src, sport, body_len):
    """A PROXY v2 TCP4 header src:sport -> 127.0.0.1:443 whose body (the
    addresses and one NOOP TLV) is body_len bytes."""
    addrs = socket.inet_aton(src) + socket.inet_aton("127.0.0.1") + \
        struct.pack("!HH", sport, 443)
    pad = body_len - V2_ADDRS_INET - TLV_HEAD
    body = addrs + struct.pack("!BH", NOOP, pad) + b"\0" * pad
    return V2_SIG + V2_PROXY_TCP4 + struct.pack("!H", len(body)) + body


def config_errors(binary, up):
    base = ["--listen", "127.0.0.1:{port}"]
    # Item 13: ports are range-checked, upstream port 0 is refused.
    run_bad(binary, "listen port 70000 refused",
            r"command line:1: bad listen address '127\.0\.0\.1:70000'",
            ["--listen", "127.0.0.1:70000", "--default", up])
    run_bad(binary, "upstream port 0 refused",
            r"command line:3: .*bad address '127\.0\.0\.1:0'",
            base + ["--default", "127.0.0.1:0"])
    run_bad(binary, "port with sign refused", r"command line:3: .*bad address",
            base + ["--default", "127.0.0.1:+80"])
    # Item 14: durations are plain decimal with a unit, 1 ms .. 24 h.
    for v in ["nan", "0x10", "0.5ms", "1e3", "-1s", "10d", "0", "25h"]:
        run_bad(binary, "hello_timeout %s refused" % v,
                r"command line:5: hello_timeout '%s'" % re.escape(v),
                base + ["--default", up, "--hello-timeout", v])
    # Item 15.
    good = "listen 127.0.0.1:{port}\nroute default %s\n" % up
    run_bad(binary, "NUL byte names file:line", in_file(r":3: NUL byte"),
            conf=good + "\0\nbogus directive\n")
    here = os.path.dirname(os.path.abspath(__file__))
    run_bad(binary, "directory as config refused",
            re.escape(here) + r": cannot read: Is a directory",
            ["--config", here] + base + ["--default", up])
    run_bad(binary, "--config given twice refused",
            r"command line:3: --config given twice",
            ["--config", os.path.join(here, "pxlib.py")], conf=good)
    run_bad(binary, "unknown directive without value",
            in_file(r":2: unknown directive 'bogus'"),
            conf="listen 127.0.0.1:{port}\nbogus\n")
    run_bad(binary, "upstream name over 63 bytes refused",
            in_file(r":2: upstream name 'u{70}'"),
            conf="listen 127.0.0.1:{port}\nupstream %s %s\nroute default %s\n"
            % ("u" * 70, up, "u" * 70))
    run_bad(binary, "trusted prefix with sign refused",
            in_file(r":1: bad trusted prefix '1\.2\.3\.4/\+8'"),
            conf="listen 127.0.0.1:{port} proxy_protocol trusted=1.2.3.4/+8\n")
    run_bad(binary, "route conflict names both places",
            lambda p: in_file(r":9: .*conflicts.*\(")(p) + re.escape(p.conf) +
            r":5\)",
            conf="listen 127.0.0.1:{port}\n\nupstream a %s\nroutes {\n"
            "  www.example.test a\n\n}\n\nroute www.example.test a\n" % up)
    run_bad(binary, "conflict with a --route names the argument",
            r"command line:5: .*conflicts.*\(command line:3\)",
            base + ["--route", "www.example.test=" + up, "--route",
                    "www.example.test=" + up])
    # `fastopen` (docs/proxy.md): once per upstream, never with terminate.
    run_bad(binary, "fastopen given twice refused",
            in_file(r":2: upstream a: fastopen given twice"),
            conf="listen 127.0.0.1:{port}\nupstream a %s fastopen fastopen\n"
            "route default a\n" % up)
    run_bad(binary, "fastopen with terminate refused",
            in_file(r":2: upstream a: fastopen does not go with terminate"),
            conf="listen 127.0.0.1:{port}\nupstream a %s fastopen terminate "
            "cert=/nonexistent key=/nonexistent\nroute default a\n" % up)
    # `preconnect` (docs/proxy.md): 0..8, once, not with fastopen, global.
    top = "listen 127.0.0.1:{port}\n"
    ua = top + "upstream a %s %%s\nroute default a\n" % up
    for name, want, conf in [
            ("preconnect=9", r":2: upstream a: preconnect= takes 0\.\.8",
             ua % "preconnect=9"),
            ("preconnect=-1", r":2: upstream a: preconnect= takes 0\.\.8",
             ua % "preconnect=-1"),
            ("preconnect=x", r":2: upstream a: preconnect= takes 0\.\.8",
             ua % "preconnect=x"),
            ("preconnect=", r":2: upstream a: preconnect= takes 0\.\.8",
             ua % "preconnect="),
            ("preconnect= twice", r":2: upstream a: preconnect= given twice",
             ua % "preconnect=1 preconnect=2"),
            ("preconnect= with fastopen",
             r":2: upstream a: fastopen and preconnect= exclude",
             ua % "fastopen preconnect=1"),
            ("preconnect 9", r":2: preconnect '9': 0\.\.8",
             top + "preconnect 9\nroute default %s\n" % up),
            ("preconnect in a server block", r":3: preconnect is global",
             "server s {\n  listen 127.0.0.1:{port}\n  preconnect 1\n"
             "  route default %s\n}\n" % up)]:
        run_bad(binary, name + " refused", in_file(want), conf=conf)
    run_bad(binary, "--preconnect 9 refused",
            r"command line:5: preconnect '9': 0\.\.8",
            base + ["--default", up, "--preconnect", "9"])
    # A long --route is not cut: the alpn= field after 571 blanks survives
    # (cut at 599 bytes it became "al", a malformed third field).
    p = pxlib.Proxy(binary, base + ["--route", "www.a.test=" + up + " " * 571 +
                                    "alpn=h2"], wait=False)
    C.check("long --route is read whole", wait_for(p, "listening on", 3),
            p.stderr_text()[-300:])
    p.cleanup()


def reload_cases(binary, up):
    good = ("listen 127.0.0.1:{port} proxy_protocol trusted=127.0.0.1\n"
            "route not_tls %s\n" % up)
    p = pxlib.Proxy(binary, conf=good)
    port = p.port
    good = good.replace("{port}", str(port))

    def rewrite(text):
        with open(p.conf, "w") as f:
            f.write(text)
        mark = len(p.stderr_text())
        p.signal(signal.SIGHUP)
        return mark

    try:
        v1 = b"PROXY TCP4 192.0.2.7 127.0.0.1 4000 443\r\n"
        C.check("trusted source echoed",
                echo_via(port, b"ping\n", v1) == b"ping\n", p.stderr_text())
        # Item 8: v2 headers longer than the 600 bytes once peeked, up to
        # the documented limit; one byte more is refused as too large.
        C.check("v2 header with a 700-byte body accepted",
                echo_via(port, b"tlv\n", pp_v2("198.51.100.9", 4444, 700)) ==
                b"tlv\n", p.stderr_text()[-300:])
        C.check("v2 header's address logged",
                wait_for(p, r"198\.51\.100\.9:4444", 3), p.stderr_text()[-300:])
        C.check("v2 header of 64 KiB accepted",
                echo_via(port, b"big\n", pp_v2("198.51.100.9", 4445, 65520)) ==
                b"big\n", p.stderr_text()[-300:])
        C.check("v2 header over 64 KiB refused",
                echo_via(port, b"big\n", pp_v2("198.51.100.9", 4446, 65521)) ==
                b"" and wait_for(p, "proxy_header_too_large", 3),
                p.stderr_text()[-300:])
        # Issue 9 item 3: a broken file keeps the running configuration.
        mark = rewrite(good + "hello_timeout nan\n")
        C.check("reload error names file:line",
                wait_for(p, re.escape(p.conf) + r":3: hello_timeout 'nan'", 5,
                         mark), p.stderr_text()[mark:])
        C.check("reload error keeps the configuration",
                wait_for(p, "keeping the running", 3, mark) and
                "reloaded" not in p.stderr_text()[mark:],
                p.stderr_text()[mark:])
        C.check("old routes still work after a failed reload",
                echo_via(port, b"still\n", v1) == b"still\n",
                p.stderr_text()[-300:])
        # A reload cannot move a listener (its socket is open).
        mark = rewrite(good.replace(str(port), str(pxlib.free_port())))
        C.check("reload with another listen address refused",
                wait_for(p, re.escape(p.conf) + r":1: listen .*cannot change", 5,
                         mark) and wait_for(p, "keeping the running", 3, mark),
                p.stderr_text()[mark:])
        # Item 9: revoking a trusted source takes effect at once.
        mark = rewrite(good.replace("trusted=127.0.0.1", "trusted=10.0.0.1"))
        C.check("reload without 127.0.0.1 done", wait_for(p, "reloaded", 5, mark),
                p.stderr_text()[mark:])
        C.check("revoked source refused after reload",
                echo_via(port, b"forged\n", v1) == b"", p.stderr_text()[-300:])
        C.check("refusal logged", wait_for(p, "untrusted_proxy_source", 3, mark),
                p.stderr_text()[mark:])
    finally:
        p.cleanup()


def main(binary):
    upstream = pxlib.Server(echo)
    try:
        up = "127.0.0.1:%d" % upstream.port
        config_errors(binary, up)
        reload_cases(binary, up)
    finally:
        upstream.close()
    return C.rc()


if __name__ == "__main__":
    pxlib.main_wrapper(main)
