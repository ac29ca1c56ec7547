#!/usr/bin/env python3
"""Backends and clients for the sniroute-proxy integration test (proxy.sh).

Python standard library only.  Every server binds loopback addresses only.

  helpers.py backends CONFIG.json      run the demo/test upstreams until killed
  helpers.py tls HOST PORT [--sni N] [--alpn P] [--src IP] [--pp1 SRC]
                                       TLS client: print the first line sent
  helpers.py echo HOST PORT --sni N --bytes N     byte-exact echo check
  helpers.py ws HOST PORT --sni N --path /ws      WebSocket (RFC 6455) echo
  helpers.py raw HOST PORT --file F [--chunk N] [--delay S]
                                       send raw bytes slowly, print the reply
  helpers.py idle HOST PORT            connect, send nothing, print seconds
                                       until the proxy closes
  helpers.py hold HOST PORT --sni N --seconds S   long echo session that
                                       checks round trips until S elapsed
"""
import base64
import hashlib
import json
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ servers
def read_proxy_header(c):
    """Consume a PROXY v1/v2 header; return (client 'ip:port', authority)."""
    first = c.recv(16, socket.MSG_PEEK | socket.MSG_WAITALL)
    if first.startswith(b"PROXY "):
        line = b""
        while not line.endswith(b"\r\n"):
            line += c.recv(1)
        f = line.decode().split()
        return ("%s:%s" % (f[2], f[4]) if len(f) == 6 else "?"), ""
    if first[:12] != b"\r\n\r\n\x00\r\nQUIT\n":
        return "?", ""
    n = struct.unpack("!H", first[14:16])[0]
    hdr = b""
    while len(hdr) < 16 + n:
        hdr += c.recv(16 + n - len(hdr))
    body, fam = hdr[16:], hdr[13] >> 4
    client, off = "?", 0
    if fam == 1:
        client = "%s:%d" % (socket.inet_ntop(socket.AF_INET, body[0:4]),
                            struct.unpack("!H", body[8:10])[0])
        off = 12
    elif fam == 2:
        client = "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, body[0:16]),
                              struct.unpack("!H", body[32:34])[0])
        off = 36
    authority = ""
    while off + 3 <= len(body):
        t, ln = body[off], struct.unpack("!H", body[off + 1:off + 3])[0]
        if t == 0x02:
            authority = body[off + 3:off + 3 + ln].decode(errors="replace")
        off += 3 + ln
    return client, authority


def serve(port, handler, tls=None, pp=False):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=run_one, args=(c,), daemon=True).start()

    def run_one(c):
        try:
            info = None
            if pp:
                info = read_proxy_header(c)
            if tls is not None:
                c.settimeout(10)
                c = tls.wrap_socket(c, server_side=True)
                c.settimeout(None)
            if info is not None:
                handler(c, info)
            else:
                handler(c)
        except Exception as e:  # a failing client must not stop the server
            log("backend %d: %s" % (port, e))
        finally:
            try:
                c.close()
            except Exception:
                pass

    threading.Thread(target=loop, daemon=True).start()


def tls_ctx(cert, key, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def echo_handler(ident):
    def h(c, info=None):
        if ident and info:
            c.sendall(("ID:%s client=%s authority=%s\n" % (ident, info[0], info[1])).encode())
        elif ident:
            c.sendall(("ID:%s\n" % ident).encode())
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    return h


def raw_handler(ident):
    # A plain TCP upstream: whatever the client sent first (its ClientHello,
    # relayed untouched) is answered with an ID line.
    def h(c):
        got = c.recv(65536)
        if got:
            c.sendall(("ID:%s %d\n" % (ident, got[0])).encode())
        while c.recv(65536):
            pass
    return h


def ws_handler(c):
    f = c.makefile("rb")
    headers = {}
    line = f.readline()
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    key = headers.get("sec-websocket-key", "")
    acc = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    while True:
        op, payload = ws_read(f)
        if op is None or op == 8:
            c.sendall(b"\x88\x00")
            break
        ws_send(c, op, payload, mask=False)


def ws_read(f):
    h = f.read(2)
    if len(h) < 2:
        return None, None
    op = h[0] & 0x0F
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    mask = f.read(4) if h[1] & 0x80 else None
    p = f.read(n)
    if mask:
        p = bytes(b ^ mask[i % 4] for i, b in enumerate(p))
    return op, p


def ws_send(c, op, payload, mask=True):
    n = len(payload)
    hdr = bytes([0x80 | op])
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr += bytes([mbit | n])
    elif n < 65536:
        hdr += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        hdr += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        m = os.urandom(4)
        payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
        hdr += m
    c.sendall(hdr + payload)


def cmd_backends(cfgfile):
    cfg = json.load(open(cfgfile))
    for b in cfg["backends"]:
        kind, port, ident = b["kind"], b["port"], b.get("id", "")
        if kind == "tls-echo":
            serve(port, echo_handler(ident),
                  tls_ctx(cfg["cert"], cfg["key"], b.get("alpn")),
                  pp=b.get("pp", False))
        elif kind == "raw":
            serve(port, raw_handler(ident))
        elif kind == "ws":
            serve(port, ws_handler)
        else:
            raise SystemExit("unknown backend kind " + kind)
    log("backends ready")
    if cfg.get("ready"):
        open(cfg["ready"], "w").write("ok\n")
    while True:
        time.sleep(3600)


# ------------------------------------------------------------------ clients
def client_ctx(alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn.split(","))
    return ctx


def connect(host, port, src=None, pp1=None, timeout=10, pp2=None):
    s = socket.create_connection((host, port), timeout=timeout,
                                 source_address=(src, 0) if src else None)
    if pp1:
        # A load balancer in front: PROXY v1 header with the real client.
        s.sendall(("PROXY TCP4 %s %s 40000 443\r\n" % (pp1, host)).encode())
    if pp2:
        # The same in v2 (binary), with a TLV the proxy must skip.
        body = (socket.inet_aton(pp2) + socket.inet_aton(host) +
                struct.pack("!HH", 40001, 443) + b"\x04\x00\x02ab")
        s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" +
                  struct.pack("!H", len(body)) + body)
    return s


def tls_connect(a):
    s = connect(a.host, a.port, a.src, a.pp1, pp2=a.pp2)
    return client_ctx(a.alpn).wrap_socket(s, server_hostname=a.sni)


def read_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace").strip()


def cmd_tls(a):
    try:
        tls_session(a)
    except ssl.SSLError as e:
        print("SSLERROR %s" % e.reason)
    except (ConnectionError, OSError) as e:
        print("CONNERROR %s" % e)


def tls_session(a):
    s = tls_connect(a)
    if a.http:
        s.sendall(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (a.http, a.sni)).encode())
        body = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            body += d
        print(body.decode(errors="replace").strip().splitlines()[-1])
    else:
        print(read_line(s))
    s.close()


def cmd_echo(a):
    # One thread: an SSL socket must not be read and written concurrently.
    s = tls_connect(a)
    s.settimeout(30)
    data = os.urandom(a.bytes)
    got = bytearray()
    sent, eof = 0, False
    while not eof and len(got) < len(data):
        if sent < len(data):
            s.sendall(data[sent:sent + 16384])
            sent = min(sent + 16384, len(data))
        while not eof and len(got) < len(data):
            if s.pending() == 0:
                wait = 0 if sent < len(data) else 30
                r, _, _ = select.select([s], [], [], wait)
                if not r:
                    break
            try:
                d = s.recv(65536)
            except ssl.SSLWantReadError:
                continue
            if not d:
                eof = True
            got.extend(d)
    ok = bytes(got) == data
    print("ECHO %s %d/%d sha256=%s" % ("ok" if ok else "MISMATCH", len(got),
                                       len(data),
                                       hashlib.sha256(got).hexdigest()[:16]))
    s.close()


def cmd_ws(a):
    s = tls_connect(a)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (a.path, a.sni, key)).encode())
    f = s.makefile("rb")
    status = f.readline().decode().strip()
    while f.readline() not in (b"\r\n", b""):
        pass
    if " 101 " not in status + " ":
        print("WS FAIL status=%r" % status)
        return
    msgs = [b"hello", os.urandom(1000), os.urandom(70000)]
    for m in msgs:
        ws_send(s, 2, m)
        op, p = ws_read(f)
        if p != m:
            print("WS FAIL echo mismatch (%d bytes)" % len(m))
            return
    ws_send(s, 8, b"")
    print("WS ok %d messages echoed" % len(msgs))


def cmd_raw(a):
    data = open(a.file, "rb").read()
    s = connect(a.host, a.port, timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), a.chunk):
        s.sendall(data[i:i + a.chunk])
        if a.delay:
            time.sleep(a.delay)
    print(read_line(s))


def cmd_idle(a):
    s = connect(a.host, a.port, timeout=60)
    t0 = time.monotonic()
    try:
        d = s.recv(100)
    except ConnectionResetError:
        d = b""
    print("CLOSED after %.1f s (%d bytes)" % (time.monotonic() - t0, len(d)))


def cmd_hold(a):
    s = tls_connect(a)
    end = time.monotonic() + a.seconds
    n = 0
    while time.monotonic() < end:
        m = os.urandom(100)
        s.sendall(m)
        got = b""
        while len(got) < len(m):
            d = s.recv(1000)
            if not d:
                print("HOLD FAIL closed after %d round trips" % n)
                return
            got += d
        if got != m:
            print("HOLD FAIL mismatch")
            return
        n += 1
        time.sleep(0.2)
    print("HOLD ok %d round trips" % n)


def main():
    import argparse
    if len(sys.argv) > 2 and sys.argv[1] == "backends":
        return cmd_backends(sys.argv[2])
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--sni")
    p.add_argument("--alpn")
    p.add_argument("--src")
    p.add_argument("--pp1")
    p.add_argument("--pp2")
    p.add_argument("--http")
    p.add_argument("--bytes", type=int, default=10_000_000)
    p.add_argument("--path", default="/ws")
    p.add_argument("--file")
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    {"tls": cmd_tls, "echo": cmd_echo, "ws": cmd_ws, "raw": cmd_raw,
     "idle": cmd_idle, "hold": cmd_hold}[a.mode](a)


if __name__ == "__main__":
    main()
