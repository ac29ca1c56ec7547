#!/usr/bin/env python3
"""sniroute-proxy fingerprints (issue 14 items 4-6): `ja4=`, `ja3=`, `ech=`
and `id=` in the log (kv and JSON), `deny ja4` and `deny ja4_file` (exact
fingerprints and JA4_a prefixes) refusing clients with a handshake_failure
alert and counting them (stderr counters and /metrics), the deny file
reloaded with the configuration and its errors naming file and line, and
the PROXY v2 TLVs of `tlv=unique_id,crc32c,ja4` read back by an upstream
that parses the header itself (checksum recomputed here).

With the QUIC flight tool (tests/quic_flight.c) as second argument, QUIC
flows are checked too: a denied flow's datagrams reach no upstream, an
allowed one's do.

The expected JA4 and JA3 come from tests/ja4_ref.py, a reader that shares
nothing with the C code.

  fingerprints.py PATH/TO/sniroute-proxy [PATH/TO/sniroute-test-quic-flight]
"""
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pxlib import (wait_for, Checks, Proxy, Server, _ext, client_hello, free_port,  # noqa: E402
                   http_get, log, main_wrapper, make_cert, parse_kv,
                   read_to_end, recv_exact)
import ja4_ref  # noqa: E402

ECH_EXT = 0xFE0D
ALERT_HANDSHAKE_FAILURE = bytes([21, 3, 3, 0, 2, 2, 40])
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_AUTHORITY, PP2_CRC32C, PP2_UNIQUE_ID, PP2_JA4 = 0x02, 0x03, 0x05, 0xE4


def ech_outer(config_id, kdf, aead, enc_len=32, payload_len=144):
    body = (b"\x00" + struct.pack("!HHB", kdf, aead, config_id) +
            struct.pack("!H", enc_len) + os.urandom(enc_len) +
            struct.pack("!H", payload_len) + os.urandom(payload_len))
    return _ext(ECH_EXT, body)


def expected(wire):
    """JA4 and JA3 hash of a hello (one record) from the reference."""
    fp = ja4_ref.fingerprints(ja4_ref.deframe(wire))
    return fp["ja4"], fp["ja3_md5"]


def crc32c(data):
    """CRC32C written here from the definition (reflected 0x82F63B78), not
    shared with the proxy."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def parse_pp2(c):
    """Reads a v2 header from c: {type: value}, and whether its CRC32C (if
    any) is right."""
    head = recv_exact(c, 16)
    if head[:12] != PP2_SIG:
        return None, False
    rest = recv_exact(c, struct.unpack("!H", head[14:16])[0])
    hdr = bytearray(head + rest)
    off = 16 + {0x11: 12, 0x21: 36}.get(head[13], 0)
    tlvs, crc_ok = {}, True
    while off + 3 <= len(hdr):
        t, n = hdr[off], struct.unpack("!H", hdr[off + 1:off + 3])[0]
        tlvs[t] = bytes(hdr[off + 3:off + 3 + n])
        if t == PP2_CRC32C:
            want = struct.unpack("!I", tlvs[t])[0]
            z = bytearray(hdr)
            z[off + 3:off + 7] = b"\0\0\0\0"
            crc_ok = crc32c(bytes(z)) == want
        off += 3 + n
    return tlvs, crc_ok and off == len(hdr)


def connect_send(port, hello, timeout=10):
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c.sendall(hello)
    return c


def log_lines(px):
    with open(px.outpath, "rb") as f:
        return f.read().decode("latin-1").splitlines()


def line_for(px, port):
    """The log line of the client that used local port `port`."""
    mark = re.compile(r'127\.0\.0\.1:%d[ "]' % port)
    for l in log_lines(px):
        if mark.search(l):
            return l
    return None


def wait_line(px, port):
    wait_for(lambda: line_for(px, port) is not None)
    return line_for(px, port)


CONF = """listen 127.0.0.1:{port}
log stdout
log_format %s
metrics 127.0.0.1:%d
upstream echo 127.0.0.1:%d
upstream pp 127.0.0.1:%d proxy_protocol v2 tlv=authority,unique_id,crc32c,ja4
route default echo
route pp.test pp
deny ja4 %s
deny ja4_file deny.list
"""


def run(binary):
    t = Checks()
    h2 = client_hello(b"a.test", alpn=(b"h2",))
    h1 = client_hello(b"b.test", alpn=(b"http/1.1",))
    ok = client_hello(b"c.test", extra_exts=ech_outer(0x42, 1, 3))
    ja4_h2, _ = expected(h2)
    ja4_h1, _ = expected(h1)
    ja4_ok, ja3_ok = expected(ok)
    t.check("the three hellos have different JA4_a parts",
            len({ja4_h2[:10], ja4_h1[:10], ja4_ok[:10]}) == 3)

    def echo(c):
        c.sendall(c.recv(65536))

    got_pp = []

    def pp_upstream(c):
        got_pp.append(parse_pp2(c))

    up, ppup = Server(echo), Server(pp_upstream)
    mport = free_port()
    px = None
    tmp = tempfile.mkdtemp(prefix="sniroute-fp.")
    deny = os.path.join(tmp, "deny.list")
    try:
        conf = CONF % ("kv", mport, up.port, ppup.port, ja4_h2)
        with open(deny, "w") as f:
            f.write("# prefix rule\n\n  %s_*   # HTTP/1.1 clients\n" %
                    ja4_h1[:10])
        px = Proxy(binary, conf=conf.replace("deny.list", deny))
        for name, hello, ja4 in (("exact", h2, ja4_h2), ("prefix", h1, ja4_h1)):
            c = connect_send(px.port, hello)
            port = c.getsockname()[1]
            data, how = read_to_end(c)
            c.close()
            t.check("%s rule: handshake_failure alert, then EOF" % name,
                    data == ALERT_HANDSHAKE_FAILURE and how == "eof",
                    "%r %s" % (data, how))
            line = wait_line(px, port)
            d = parse_kv(line) if line else {}
            t.check("%s rule: logged ja4_denied with the JA4" % name,
                    d.get("verdict") == b"ja4_denied" and
                    d.get("ja4") == ja4.encode(), repr(line))
        c = connect_send(px.port, ok)
        port = c.getsockname()[1]
        data = recv_exact(c, len(ok))
        c.close()
        t.check("an allowed client is relayed", data == ok)
        d = parse_kv(wait_line(px, port) or "x x")
        t.check("log: ja4= and ja3= as the reference computes them",
                d.get("ja4") == ja4_ok.encode() and
                d.get("ja3") == ja3_ok.encode(), repr(d))
        t.check("log: ech=CONFIG_ID/KDF/AEAD", d.get("ech") == b"66/1/3",
                repr(d.get("ech")))
        t.check("log: id= is 32 hex digits",
                re.fullmatch(rb"[0-9a-f]{32}", d.get("id") or b"") is not None)
        c = connect_send(px.port, b"GET / HTTP/1.0\r\n\r\n")
        port = c.getsockname()[1]
        c.close()
        d = parse_kv(wait_line(px, port) or "x x")
        t.check("not TLS: ja4=- ja3=- ech=-",
                d.get("ja4", 1) is None and d.get("ja3", 1) is None and
                d.get("ech", 1) is None, repr(d))
        ids = [parse_kv(l).get("id") for l in log_lines(px)]
        t.check("ids differ between connections", len(set(ids)) == len(ids))

        # PROXY v2 TLVs, read by an upstream that parses them itself
        pp_hello = client_hello(b"pp.test", alpn=(b"h3",))
        c = connect_send(px.port, pp_hello)
        port = c.getsockname()[1]
        wait_for(lambda: got_pp)
        c.close()
        d = parse_kv(wait_line(px, port) or "x x")
        tlvs, crc_ok = got_pp[0] if got_pp else ({}, False)
        tlvs = tlvs or {}
        t.check("v2 header: AUTHORITY is the SNI",
                tlvs.get(PP2_AUTHORITY) == b"pp.test", repr(tlvs))
        t.check("v2 header: UNIQUE_ID is the logged id",
                tlvs.get(PP2_UNIQUE_ID) == d.get("id"), repr(tlvs))
        t.check("v2 header: JA4 TLV (0xE4) is the logged JA4",
                tlvs.get(PP2_JA4) == expected(pp_hello)[0].encode() and
                d.get("ja4") == tlvs.get(PP2_JA4), repr(tlvs))
        t.check("v2 header: CRC32C present and right, TLVs tile the header",
                PP2_CRC32C in tlvs and crc_ok)

        body = http_get(mport)
        t.check("/metrics: sniroute_ja4_denied_total 2",
                "sniroute_ja4_denied_total 2\n" in body)

        # reload: the file is read again; a bad line names file and line
        with open(deny, "w") as f:
            f.write("# nothing denied by prefix now\n")
        px.signal(signal.SIGHUP)
        t.check("reload with the edited file", wait_for(
            lambda: "configuration reloaded" in px.stderr_text()))
        c = connect_send(px.port, h1)
        data = recv_exact(c, len(h1))
        c.close()
        t.check("after the reload the prefix rule is gone", data == h1)
        with open(deny, "w") as f:
            f.write("# comment\n%s\nt13d_not_a_fingerprint\n" % ja4_ok)
        px.signal(signal.SIGHUP)
        t.check("a bad line: reload refused, message names FILE:3",
                wait_for(lambda: ("%s:3: deny ja4" % deny) in px.stderr_text()),
                px.stderr_text()[-600:])
        c = connect_send(px.port, ok)
        data = recv_exact(c, len(ok))
        c.close()
        t.check("the running configuration was kept", data == ok)
        px.stop()
        cnt = px.counters() or {}
        t.check("counters line: ja4_denied=2", cnt.get("ja4_denied") == 2,
                repr(cnt))
        px.cleanup()

        # JSON: the same fields, null when absent
        px = Proxy(binary, conf=CONF.replace("deny ja4_file deny.list\n", "")
                   % ("json", free_port(), up.port, ppup.port, ja4_h2))
        c = connect_send(px.port, ok)
        port = c.getsockname()[1]
        recv_exact(c, len(ok))
        c.close()
        line = wait_line(px, port) or "{}"
        j = json.loads(line)
        t.check("json: id, ja4, ja3, ech",
                j.get("ja4") == ja4_ok and j.get("ja3") == ja3_ok and
                j.get("ech") == "66/1/3" and len(j.get("id") or "") == 32,
                line)
        c = connect_send(px.port, b"\x00" * 8)
        port = c.getsockname()[1]
        c.close()
        line = wait_line(px, port) or "{}"
        j = json.loads(line)
        t.check("json: null fingerprints for a client that is not TLS",
                "ja4" in j and j["ja4"] is None and j["ech"] is None, line)
    finally:
        if px:
            px.cleanup()
        up.close()
        ppup.close()
        os.unlink(deny)
        os.rmdir(tmp)
    config_errors(binary, t)
    terminate(binary, t)
    ja4_tlv_without_log(binary, t)
    routing_only_without_log(binary, t)
    if len(sys.argv) > 2:
        quic(binary, sys.argv[2], t)
    return t.rc()


def terminate(binary, t):
    """`terminate` with tlv=: the SSL TLV (0x20) and the tlv= ones in one
    header, the checksum covering them all."""
    tmp = tempfile.mkdtemp(prefix="sniroute-fpt.")
    got = []
    up = Server(lambda c: got.append(parse_pp2(c)))
    px = None
    try:
        cert, key = make_cert(tmp, "term.test", "ec")
        conf = """listen 127.0.0.1:{port}
log stdout
upstream app 127.0.0.1:%d terminate cert=%s key=%s proxy_protocol v2 tlv=authority,unique_id,crc32c,ja4
route default app
""" % (up.port, cert, key)
        r = subprocess.run([binary, "-t", "--config", "/dev/stdin"],
                           input=conf.replace("{port}", "1"),
                           capture_output=True, text=True, timeout=30)
        if "built without OpenSSL" in r.stderr:
            log("terminate: proxy built without OpenSSL, not checked")
            return
        px = Proxy(binary, conf=conf)
        ctx = ssl.create_default_context(cafile=cert)
        raw = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        port = raw.getsockname()[1]
        c = ctx.wrap_socket(raw, server_hostname="term.test")
        wait_for(lambda: got)
        c.close()
        d = parse_kv(wait_line(px, port) or "x x")
        tlvs, crc_ok = got[0] if got else ({}, False)
        tlvs = tlvs or {}
        t.check("terminate: SSL TLV with authority, id and JA4",
                0x20 in tlvs and tlvs.get(PP2_AUTHORITY) == b"term.test" and
                tlvs.get(PP2_UNIQUE_ID) == d.get("id") and
                tlvs.get(PP2_JA4) == d.get("ja4") and d.get("ja4"),
                repr(tlvs))
        t.check("terminate: the CRC32C covers the SSL TLV too",
                PP2_CRC32C in tlvs and crc_ok)
    finally:
        if px:
            px.cleanup()
        up.close()
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)


def routing_only_without_log(binary, t):
    """`log off`, no rule, no tlv=ja4: the proxy parses routing-only, and
    ALPN routing and the authority TLV still come from the hello."""
    got_h2, got_other = [], []
    h2 = Server(lambda c: got_h2.append(parse_pp2(c)))
    other = Server(lambda c: got_other.append(parse_pp2(c)))
    px = Proxy(binary, conf="""listen 127.0.0.1:{port}
log off
upstream h2 127.0.0.1:%d proxy_protocol v2
upstream other 127.0.0.1:%d proxy_protocol v2
routes {
  ro.test h2 alpn=h2
  ro.test other
}
route default other
""" % (h2.port, other.port))
    try:
        for alpn, seen in (((b"h2",), got_h2), ((b"http/1.1",), got_other)):
            c = connect_send(px.port, client_hello(b"RO.test", alpn=alpn))
            wait_for(lambda: seen)
            c.close()
        a = (got_h2[0][0] if got_h2 else None) or {}
        b = (got_other[0][0] if got_other else None) or {}
        t.check("log off: routed by ALPN, authority TLV as sent",
                a == {PP2_AUTHORITY: b"RO.test"} and
                b == {PP2_AUTHORITY: b"RO.test"}, repr((a, b)))
    finally:
        px.cleanup()
        h2.close()
        other.close()


def ja4_tlv_without_log(binary, t):
    """`log off` and no rule: the JA4 is still computed for tlv=ja4."""
    got = []
    up = Server(lambda c: got.append(parse_pp2(c)))
    px = Proxy(binary, conf="""listen 127.0.0.1:{port}
log off
upstream pp 127.0.0.1:%d proxy_protocol v2 tlv=ja4
route default pp
""" % up.port)
    try:
        hello = client_hello(b"nolog.test", alpn=(b"h2",))
        c = connect_send(px.port, hello)
        wait_for(lambda: got)
        c.close()
        tlvs = (got[0][0] if got else None) or {}
        t.check("log off: the JA4 TLV is still sent, and only it",
                tlvs == {PP2_JA4: expected(hello)[0].encode()}, repr(tlvs))
    finally:
        px.cleanup()
        up.close()


def quic_flight(tool, name, alpn, seed, hello=False):
    out = subprocess.run([tool, name, alpn, str(seed)] +
                         (["--hello"] if hello else []), check=True,
                         capture_output=True, text=True).stdout
    return [bytes.fromhex(l) for l in out.split()]


def quic(binary, tool, t):
    """deny ja4 on QUIC flows: the held datagrams are dropped."""
    hs = quic_flight(tool, "q.test", "h3", 1, hello=True)[0]
    ja4 = ja4_ref.fingerprints(hs, quic=True)["ja4"]
    got = []
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(0.2)
    stop = []

    def upstream():
        while not stop:
            try:
                got.append(u.recv(65535))
            except socket.timeout:
                pass
    th = threading.Thread(target=upstream, daemon=True)
    th.start()
    px = Proxy(binary, conf="""listen 127.0.0.1:{port} quic
listen 127.0.0.1:{port}
log stdout
quic_idle_timeout 500ms
route default 127.0.0.1:%d
deny ja4 %s
""" % (u.getsockname()[1], ja4))
    try:
        for alpn, denied in (("h3", True), ("h2", False)):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.bind(("127.0.0.1", 0))
            before = len(got)
            dgrams = quic_flight(tool, "q.test", alpn, 2)
            for d in dgrams:
                c.sendto(d, ("127.0.0.1", px.port))
            if denied:
                line = wait_line(px, c.getsockname()[1])
                d = parse_kv(line) if line else {}
                t.check("QUIC: a denied flow is logged ja4_denied",
                        d.get("verdict") == b"ja4_denied", repr(line))
                t.check("QUIC: no datagram of it reached the upstream",
                        len(got) == before)
                t.check("QUIC: the log line has the JA4 and an id",
                        d.get("ja4") == ja4.encode() and
                        re.fullmatch(rb"[0-9a-f]{32}", d.get("id", b"")),
                        repr(line))
            else:
                t.check("QUIC: an allowed flow reaches the upstream",
                        wait_for(lambda: len(got) >= before + len(dgrams)))
                # Logged when quic_idle_timeout ends it.
                line = wait_line(px, c.getsockname()[1])
                d = parse_kv(line) if line else {}
                hs2 = quic_flight(tool, "q.test", alpn, 1, hello=True)[0]
                ref = ja4_ref.fingerprints(hs2, quic=True)
                t.check("QUIC: the flow's log line has its JA4 and JA3",
                        d.get("ja4") == ref["ja4"].encode() and
                        d.get("ja3") == ref["ja3_md5"].encode() and
                        "ech" in d and d["ech"] is None, repr(line))
            c.close()
        px.stop()
        t.check("QUIC: counted in ja4_denied",
                (px.counters() or {}).get("ja4_denied") == 1)
    finally:
        px.cleanup()
        stop.append(1)
        th.join()
        u.close()


def config_errors(binary, t):
    """-t names the place of each mistake."""
    d = tempfile.mkdtemp(prefix="sniroute-fp.")
    try:
        lst = os.path.join(d, "fp.list")
        with open(lst, "w") as f:
            f.write("t13d1516h2_*\n\nT13D1516H2_*\n")
        cases = [
            ("deny ja4 t13d1516h2_8daaf6152771_E5627EFA2AB1\n",
             "c.conf:2: deny ja4 't13d1516h2_8daaf6152771_E5627EFA2AB1'"),
            ("deny ja4\n", "c.conf:2: write: deny ja4"),
            ("deny ja3 x\n", "c.conf:2: write: deny ja4"),
            ("deny ja4_file fp.list\n", "fp.list:3: deny ja4 'T13D1516H2_*'"),
            ("deny ja4_file missing.list\n", "c.conf:2: deny ja4_file"),
            ("upstream u 127.0.0.1:1 tlv=crc32c\n",
             "c.conf:2: upstream u: tlv= needs proxy_protocol v2"),
            ("upstream u 127.0.0.1:1 proxy_protocol v2 tlv=crc32c,crc32c\n",
             "c.conf:2: upstream u: tlv= takes"),
        ]
        for text, want in cases:
            conf = os.path.join(d, "c.conf")
            with open(conf, "w") as f:
                f.write("listen 127.0.0.1:1\n" + text)
            r = subprocess.run([binary, "-t", "--config", conf],
                               capture_output=True, text=True, timeout=30)
            t.check("-t: %s" % text.strip(), r.returncode != 0 and
                    want in r.stderr, r.stderr)
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write("listen 127.0.0.1:1\ndeny ja4 t13d1516h2_* "
                    "t13d1516h2_8daaf6152771_e5627efa2ab1\n"
                    "upstream u 127.0.0.1:1 proxy_protocol=v2 "
                    "tlv=ja4,unique_id\n")
        r = subprocess.run([binary, "-t", "--config", conf],
                           capture_output=True, text=True, timeout=30)
        t.check("-t: valid rules and tlv list", r.returncode == 0, r.stderr)
    finally:
        for n in os.listdir(d):
            os.unlink(os.path.join(d, n))
        os.rmdir(d)


if __name__ == "__main__":
    main_wrapper(run)
