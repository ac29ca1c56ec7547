#!/usr/bin/env python3
"""sniroute-proxy's PROXY v2 TLVs read by a real consumer (issue 14 item 5):
HAProxy from the distribution, run here unprivileged in the foreground,
with `accept-proxy` on its bind line and a log-format that prints
fc_pp_authority and fc_pp_unique_id.

 1. A header built by this script with a right CRC32C is accepted (the
    bytes after it reach HAProxy's echo backend and come back); the same
    header with one bit of the checksum flipped is refused: HAProxy does
    verify CRC32C, so (2) means something.
 2. The proxy with `tlv=authority,unique_id,crc32c,ja4`: the hello goes
    through HAProxy and back, and HAProxy logs exactly the SNI and the id
    the proxy logged.
 3. The default (no tlv=): the authority only, no id.

Exits 77 when haproxy is not installed.

  haproxy_pp.py PATH/TO/sniroute-proxy
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (echo, SKIP, Checks, Proxy, Server, client_hello, free_port,  # noqa: E402
                   log, main_wrapper, parse_kv, read_to_end, recv_exact)
from fingerprints import crc32c, wait_for, wait_line  # noqa: E402

PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PP2_PROXY_V2, PP2_TCP4 = 0x21, 0x11
PP2_AUTHORITY, PP2_CRC32C = 0x02, 0x03

HAPROXY_CFG = """global
    log stdout format raw local0 info
defaults
    mode tcp
    log global
    timeout connect 5s
    timeout client 20s
    timeout server 20s
frontend fe
    bind 127.0.0.1:%d accept-proxy
    log-format "pp authority=%%[fc_pp_authority] id=%%[fc_pp_unique_id] src=%%ci:%%cp"
    default_backend echo
backend echo
    server s1 127.0.0.1:%d
"""


def tlv(t, v):
    return struct.pack("!BH", t, len(v)) + v


def header(authority, src_port, bad_crc=False):
    """A PROXY v2 TCP4 header with AUTHORITY and CRC32C TLVs."""
    addrs = (socket.inet_aton("192.0.2.7") + socket.inet_aton("127.0.0.1") +
             struct.pack("!HH", src_port, 443))
    body = addrs + tlv(PP2_AUTHORITY, authority) + tlv(PP2_CRC32C, b"\0" * 4)
    h = bytearray(PP2_SIG + bytes([PP2_PROXY_V2, PP2_TCP4]) +
                  struct.pack("!H", len(body)) + body)
    c = crc32c(bytes(h)) ^ (1 if bad_crc else 0)
    h[-4:] = struct.pack("!I", c)
    return bytes(h)


def ha_lines(path):
    with open(path, "rb") as f:
        return [l for l in f.read().decode("latin-1").splitlines()
                if l.startswith("pp ")]


def ha_line_for(path, port):
    """HAProxy's log line of the connection whose client port was port."""
    for l in ha_lines(path):
        if l.endswith(":%d" % port):
            return dict(kv.split("=", 1) for kv in l.split()[1:])
    return None


def run(binary):
    haproxy = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK)
        else None)
    if not haproxy:
        log("haproxy not installed: skipped")
        return SKIP
    t = Checks()

    up = Server(echo)
    tmp = tempfile.mkdtemp(prefix="sniroute-ha.")
    cfg, out = os.path.join(tmp, "haproxy.cfg"), os.path.join(tmp, "out")
    hport = free_port()
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG % (hport, up.port))
    outf = open(out, "wb")
    ha = subprocess.Popen([haproxy, "-db", "-f", cfg], stdout=outf,
                          stderr=subprocess.STDOUT)
    px = None
    try:
        def ha_up():
            try:
                socket.create_connection(("127.0.0.1", hport), 0.2).close()
                return True
            except OSError:
                return False
        if not t.check("haproxy listens", wait_for(ha_up)):
            return 1

        for bad in (False, True):
            c = socket.create_connection(("127.0.0.1", hport), timeout=10)
            c.sendall(header(b"crc.test", 40000 + bad, bad) + b"ping")
            data, how = read_to_end(c, 5)
            c.close()
            if bad:
                t.check("haproxy refuses a wrong CRC32C", data == b"",
                        "%r %s" % (data, how))
            else:
                t.check("haproxy accepts a right CRC32C (built here)",
                        data == b"ping", "%r %s" % (data, how))

        px = Proxy(binary, conf="""listen 127.0.0.1:{port}
log stdout
upstream full 127.0.0.1:%d proxy_protocol v2 tlv=authority,unique_id,crc32c,ja4
upstream plain 127.0.0.1:%d proxy_protocol v2
route www.hap.test full
route default plain
""" % (hport, hport))
        for sni, full in ((b"www.hap.test", True), (b"other.test", False)):
            hello = client_hello(sni, alpn=(b"h2",))
            c = socket.create_connection(("127.0.0.1", px.port), timeout=10)
            c.sendall(hello)
            port = c.getsockname()[1]
            back = recv_exact(c, len(hello))
            c.close()
            what = "tlv=authority,unique_id,crc32c,ja4" if full else "default"
            t.check("%s: the hello crosses haproxy and comes back" % what,
                    back == hello)
            pline = wait_line(px, port)
            d = parse_kv(pline) if pline else {}
            got = None
            if wait_for(lambda: ha_line_for(out, port) is not None):
                got = ha_line_for(out, port)
            got = got or {}
            t.check("%s: haproxy logs the SNI as the authority" % what,
                    got.get("authority") == sni.decode(), repr(got))
            if full:
                t.check("haproxy logs the id the proxy logged",
                        d.get("id") and got.get("id") == d["id"].decode(),
                        "%r vs %r" % (got, d.get("id")))
            else:
                t.check("default: no unique id sent", got.get("id") == "-",
                        repr(got))
    finally:
        if px:
            px.cleanup()
        ha.terminate()
        try:
            ha.wait(10)
        except subprocess.TimeoutExpired:
            ha.kill()
            ha.wait()
        outf.close()
        up.close()
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
