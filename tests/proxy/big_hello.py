#!/usr/bin/env python3
"""sniroute-proxy routes legal ClientHellos too large to peek (issue 8,
item 6).

A 12 KB hello in 1-byte records is 72 KB on the wire, more than the
proxy's 64 KiB peek; the largest hello the parser's default limits
accept (16384 bytes, 1-byte records) is 96 KiB.  The proxy reads such a
hello into a buffer of its own, routes it by its SNI (no default route
here: a hello refused as too large would not be routed at all) and sends
those bytes first; the upstream checks it received every byte.

  big_hello.py PATH/TO/sniroute-proxy
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, main_wrapper,
                   parse_kv, recv_exact)


def case(binary, t, name, hello, extra=(), chunk=None, delay=0.0,
         after=b""):
    expect = hello + after
    seen = {}

    def check(c):
        got = recv_exact(c, len(expect))
        seen["n"] = len(got)
        c.sendall(b"OK" if got == expect else b"BAD")
        c.recv(1)
    up = Server(check)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}",
                        "--route", "big.test=127.0.0.1:%d" % up.port]
               + list(extra))
    try:
        s = socket.create_connection(("127.0.0.1", px.port), timeout=20)
        port = s.getsockname()[1]
        data = hello + after
        if chunk:
            for i in range(0, len(data), chunk):
                s.sendall(data[i:i + chunk])
                time.sleep(delay)
        else:
            s.sendall(data)
        try:
            got = s.recv(10)
        except OSError as e:
            got = repr(e).encode()
        s.close()
        t.check("%s (%d bytes on the wire): the upstream got every byte "
                "(%r, %s bytes)" % (name, len(data), got, seen.get("n")),
                got == b"OK")
        time.sleep(0.2)
        px.stop()
        lines = [parse_kv(l) for l in px.stderr_text().splitlines()
                 if "client=127.0.0.1:%d " % port in l]
        t.check("%s: logged once, route=exact sni=big.test bytes_up=%s" %
                (name, lines and lines[0]["bytes_up"]),
                len(lines) == 1 and lines[0]["route"] == b"exact" and
                lines[0]["sni"] == b"big.test" and
                lines[0]["bytes_up"] == str(len(data)).encode())
    finally:
        px.stop()
        px.cleanup()
        up.close()


def run(binary):
    t = Checks()
    h12 = client_hello(b"big.test", [b"h2"], pad_to=12288, record=1)
    h16 = client_hello(b"big.test", [b"h2"], pad_to=16384, record=1)
    hsmall = client_hello(b"big.test", [b"h2"], pad_to=12288, record=3000)
    case(binary, t, "12 KB hello in 1-byte records", h12)
    case(binary, t, "12 KB hello in 1-byte records, splice off", h12,
         ["--no-splice"])
    case(binary, t, "16 KB hello (the default limit) in 1-byte records", h16)
    case(binary, t, "12 KB hello in 1-byte records, trickling in", h12,
         chunk=4000, delay=0.01)
    case(binary, t, "12 KB hello in 1-byte records, then early data", h12,
         after=b"\x17\x03\x03\x00\x05hello")
    case(binary, t, "12 KB hello in 3000-byte records (peeked)", hsmall)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
