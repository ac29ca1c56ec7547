#!/usr/bin/env python3
"""TCP_DEFER_ACCEPT on the listeners (issue 15 item 2).

  defer_accept.py PATH/TO/sniroute-proxy

The kernel hands a connection to the proxy only once the client has sent
something, or when the deferral runs out (its first SYN-ACK retransmission,
about 1 s after the handshake); the proxy defers only where that cannot
delay what it must do with a client that sends nothing (proxy/listen.h).

1. A deferring listener really defers: a client that sends nothing is not
   accepted yet after 300 ms (the proxy's `accepted` counter), one that
   sends a byte is accepted at once; a listener whose `silent` is shorter
   than the deferral does not defer (its silent client is accepted at
   once and gets the banner at `silent`).
2. The deadlines still count from the client's connect: on a deferring
   listener a silent client gets the `silent` banner at `silent` (not a
   second later), a client that sends nothing where no `silent` is set is
   closed at hello_timeout, and the log's ms= covers the kernel's hold.
3. Hellos still route: a hello in three pieces (2-record hello, SNI split
   across the records, pauses between), a hello whose first byte comes
   after the deferral ran out but before `silent`; a hello followed at
   once by the client's FIN, in the same segment (in one write, completed
   by a second write, or sent after a pause on a listener that does not
   defer): the hello goes out with the connect and the FIN must follow;
   and part of a hello then nothing (closed at hello_timeout, never
   silent).
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (Checks, Proxy, Server, client_hello, echo, free_port,
                   main_wrapper, parse_kv, read_to_end, recv_exact, wait_for)

BANNER = b"SSH-2.0-banner.test\r\n"
SILENT_MS = 1300   # longer than the kernel's 1 s deferral: the listener defers
HELLO_MS = 2500
STRICT_MS = 1800   # hello_timeout of the block without silent
SHORT_MS = 300     # silent shorter than the deferral: no deferral
MARGIN_MS = 700    # scheduling slack; far below the 1000 ms a bug would add


def banner(c):
    c.settimeout(30)
    c.sendall(BANNER)
    echo(c)


def tagged(c):
    c.settimeout(30)
    first = c.recv(65536)
    if first:
        c.sendall(b"tls")
        while c.recv(65536):
            pass


def log_lines(px):
    return [parse_kv(l) for l in px.stderr_text().splitlines()
            if " w" in l and " verdict=" in l and l[:4].isdigit()]


def accepted(px):
    """The proxy's accepted counter now (SIGUSR2 prints the counters)."""
    n = px.stderr_text().count("counters:")
    px.signal(signal.SIGUSR2)
    wait_for(lambda: px.stderr_text().count("counters:") > n, 5)
    return (px.counters() or {}).get("accepted")


def two_records(hello, cut):
    """hello (one record) re-framed into two handshake records, split at
    byte `cut` of its body."""
    body = hello[5:]
    ver = hello[1:3]
    rec = lambda b: b"\x16" + ver + struct.pack("!H", len(b)) + b
    return rec(body[:cut]), rec(body[cut:])


def run(binary):
    t = Checks()
    ban, up = Server(banner), Server(tagged)
    p_strict, p_short = free_port(), free_port()
    conf = """workers 1
server deferring {
  listen 127.0.0.1:{port}
  hello_timeout %dms
  silent %dms 127.0.0.1:%d
  route default 127.0.0.1:%d
}
server strict {
  listen 127.0.0.1:%d
  hello_timeout %dms
  route default 127.0.0.1:%d
}
server short {
  listen 127.0.0.1:%d
  hello_timeout %dms
  silent %dms 127.0.0.1:%d
  route default 127.0.0.1:%d
}
""" % (HELLO_MS, SILENT_MS, ban.port, up.port, p_strict, STRICT_MS, up.port,
       p_short, HELLO_MS, SHORT_MS, ban.port, up.port)
    px = Proxy(binary, conf=conf)
    try:
        # wait_listening()'s probe (connect, close) is one accepted
        # connection; let it be counted first.
        time.sleep(0.3)
        base = accepted(px)
        hello = client_hello(sni=b"d.test")

        # 1. Deferring or not.
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        t_conn = time.monotonic()
        time.sleep(0.3)
        n = accepted(px)
        t.check("1: deferring listener: a silent client is not accepted "
                "after 300 ms (accepted %s -> %s)" % (base, n), n == base)
        s2 = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        s2.sendall(hello[:1])
        ok = wait_for(lambda: accepted(px) == base + 1, 0.5, 0.1)
        t.check("1: ... one that sent a byte is accepted at once", ok)
        s2.close()
        got = recv_exact(s, len(BANNER))
        el = (time.monotonic() - t_conn) * 1000
        t.check("2: a silent client gets the banner at silent=%d ms, not a "
                "deferral later (%.0f ms)" % (SILENT_MS, el),
                got == BANNER and SILENT_MS - 5 <= el < SILENT_MS + MARGIN_MS,
                repr(got))
        s.sendall(b"ping\r\n")
        t.check("2: ... then relayed both ways",
                recv_exact(s, 6) == b"ping\r\n")
        s.close()
        d = None
        if wait_for(lambda: any(x.get("route") == b"silent"
                                for x in log_lines(px))):
            d = [x for x in log_lines(px) if x.get("route") == b"silent"][0]
        t.check("2: log route=silent with ms= from the connect (>= %d)" %
                SILENT_MS, d is not None and
                int(d.get("ms", b"0")) >= SILENT_MS - 5, repr(d))

        base = accepted(px)
        s = socket.create_connection(("127.0.0.1", p_short), timeout=10)
        t0 = time.monotonic()
        ok = wait_for(lambda: accepted(px) == base + 1, 0.25, 0.05)
        t.check("1: silent %d ms (< the deferral): accepted at once" %
                SHORT_MS, ok)
        got = recv_exact(s, len(BANNER))
        el = (time.monotonic() - t0) * 1000
        t.check("1: ... banner at %d ms (%.0f ms)" % (SHORT_MS, el),
                got == BANNER and el < SHORT_MS + MARGIN_MS, repr(got))
        s.close()

        # 2. hello_timeout from the connect on a deferring listener.
        s = socket.create_connection(("127.0.0.1", p_strict), timeout=10)
        t0 = time.monotonic()
        got, how = read_to_end(s, 10)
        el = (time.monotonic() - t0) * 1000
        s.close()
        t.check("2: no byte, no silent: closed at hello_timeout=%d ms "
                "(%.0f ms, %s)" % (STRICT_MS, el, how),
                got == b"" and how == "eof" and
                STRICT_MS - 5 <= el < STRICT_MS + MARGIN_MS)
        d = None
        if wait_for(lambda: any(x.get("server") == b"strict"
                                for x in log_lines(px))):
            d = [x for x in log_lines(px) if x.get("server") == b"strict"][0]
        t.check("2: log verdict=hello_timeout, ms= from the connect",
                d is not None and d.get("verdict") == b"hello_timeout" and
                int(d.get("ms", b"0")) >= STRICT_MS - 5, repr(d))

        # 3. Slow and late hellos.
        r1, r2 = two_records(hello, 60)
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        s.sendall(r1[:3])
        time.sleep(0.2)
        s.sendall(r1[3:])
        time.sleep(0.2)
        s.sendall(r2)
        got = recv_exact(s, 3)
        s.close()
        t.check("3: a hello in pieces (2 records, pauses) is routed by name",
                got == b"tls", repr(got))
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        time.sleep(1.1)
        s.sendall(hello)
        got = recv_exact(s, 3)
        s.close()
        t.check("3: a hello first sent after the deferral ran out (1.1 s, "
                "silent 1.3 s) is routed by name", got == b"tls", repr(got))
        # The client's FIN right behind its last bytes, with the hello
        # complete at the first look or only at the second (the socket
        # then was registered while waiting): the hello goes out with the
        # connect and the FIN must follow (the upstream answers, reads to
        # its end, closes).
        # The third case: on a listener that does not defer, the hello
        # comes 100 ms after the connect (nothing queued at the first look).
        for port, pieces in ((px.port, (hello + b"x",)),
                             (px.port, (hello[:10], hello[10:] + b"x")),
                             (p_short, (b"", hello + b"x"))):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            for i, p in enumerate(pieces):
                if i:
                    time.sleep(0.1)
                if i == len(pieces) - 1:
                    # Corked, the FIN rides on the last data segment: the
                    # proxy sees the bytes and the end in one event.
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                s.sendall(p)
            s.shutdown(socket.SHUT_WR)
            got, how = read_to_end(s, 5)
            s.close()
            t.check("3: hello in %r byte write(s), then the FIN: answered, "
                    "and the FIN passed on (%r, %s)" %
                    ([len(p) for p in pieces], got, how),
                    got == b"tls" and how == "eof")
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        s.sendall(hello[:10])
        t0 = time.monotonic()
        got, how = read_to_end(s, 10)
        el = (time.monotonic() - t0) * 1000
        s.close()
        t.check("3: part of a hello: no banner, closed at hello_timeout "
                "(%.0f ms, %s)" % (el, how),
                got == b"" and how in ("eof", "reset") and
                HELLO_MS - 5 <= el < HELLO_MS + MARGIN_MS)
    finally:
        px.stop()
        px.cleanup()
        ban.close()
        up.close()
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
