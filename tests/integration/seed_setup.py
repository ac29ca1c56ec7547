#!/usr/bin/env python3
"""The seed setup (issue 10, item 6): one sniroute-proxy configuration
replacing this nginx stream configuration, checked against real nginx.

    map $ssl_preread_server_name $name {
        test-web-proxy.*  web;     # nginx http: TLS + HTTP/2 static page
        test-tcp-proxy.*  bd;      # a TLS line server
        test-cn-2-data.*  data;    # nginx TLS, location = /ws: WebSocket
    }

plus a name routed to a `terminate` upstream in front of a plain line
server (the "8008" server), a `tls off` server forwarding plain TCP to that
same line server, a `silent` route to a banner server, and no_sni to web.

  seed_setup.py PATH/TO/sniroute-proxy

Clients connect from 127.0.0.2 for the real-address checks (nginx learns
it through PROXY v2 and realip, the line server through PROXY v1 and v2).
Exit 0 = every check passed, 1 = one failed, 77 = nginx, curl or openssl
missing.  Loopback only; every process started here is stopped by PID.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "proxy"))
from helpers import (read_proxy_header, serve, tls_ctx, ws_handler,  # noqa
                     ws_read, ws_send)
from pxlib import (SKIP, Checks, Proxy, free_port, log, main_wrapper,  # noqa
                   make_cert, read_to_end, recv_exact, refused_port)

CLIENT = "127.0.0.2"  # loopback too: the address nginx and the line server
SILENT_MS = 300       # the silent route's DURATION
SILENT_MARGIN_MS = 1000  # a functional deadline, not a timing test
BANNER = b"220 banner.seed.test ready\r\n"
PAGE = b"<html><body>seed web page</body></html>\n"
NAMES = ("test-web-proxy.example.com", "test-tcp-proxy.example.com",
         "test-cn-2-data.example.com")
LINES = b"first line\nsecond line \xc3\xa9\r\n\x00binary\x7f line\n"

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 128; }}
http {{
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  log_format real '$remote_addr $server_port "$request" $status';
  access_log {d}/access.log real;
  ssl_certificate {cert};
  ssl_certificate_key {key};
  # The proxy sends PROXY v2; the client's address replaces the proxy's.
  set_real_ip_from 127.0.0.1;
  real_ip_header proxy_protocol;
  server {{
    listen 127.0.0.1:{web} ssl http2 proxy_protocol;
    root {d}/www;
    index index.html;
  }}
  server {{
    listen 127.0.0.1:{data} ssl proxy_protocol;
    location = /ws {{
      proxy_pass http://127.0.0.1:{ws};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }}
  }}
}}
"""


class LineServer:
    """Records what each connection sent (after its PROXY header, whose
    client address is kept) and echoes it back."""

    def __init__(self, port, tls=None, pp=False, tag=b""):
        self.got = []  # (client from the PROXY header or None, bytes)
        self.lock = threading.Lock()
        self.tag = tag
        serve(port, self.handle if pp else self.handle_plain, tls=tls, pp=pp)

    def handle_plain(self, c):
        self.handle(c, None)

    def handle(self, c, info):
        if self.tag:
            c.sendall(self.tag)
        buf = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
            c.sendall(d)
        with self.lock:
            self.got.append((info[0] if info else None, buf))


def banner_handler(c):
    c.sendall(BANNER)
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def multi_cert(d):
    """One self-signed certificate for the three upstream names (nginx and
    the TLS line server use it)."""
    base = os.path.join(d, "seed")
    san = ",".join("DNS:" + n for n in NAMES)
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-subj", "/CN=" + NAMES[0], "-addext",
                    "subjectAltName=" + san, "-keyout", base + ".key",
                    "-out", base + ".crt"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return base + ".crt", base + ".key"


PROXY_CONF = """# The seed setup: nginx stream's ssl_preread + map, as server blocks.
log {log}
hello_timeout 5s
connect_timeout 2s

upstream web  127.0.0.1:{web} proxy_protocol v2
upstream data 127.0.0.1:{data} proxy_protocol v2
upstream bd   127.0.0.1:{bd}
upstream bd2  127.0.0.1:{bd2}
upstream line8008     127.0.0.1:{line} proxy_protocol v2 terminate cert={tcert} key={tkey}
upstream line8008_tcp 127.0.0.1:{line} proxy_protocol v1
upstream banner 127.0.0.1:{banner}
upstream down   127.0.0.1:{dead}

server tls {{
  listen 127.0.0.1:{port}
  silent {silent}ms banner
  routes {{
    test-web-proxy.*     web
    test-tcp-proxy.*     {tcp}
    test-cn-2-data.*     data
    line8008.seed.test   line8008
    down.seed.test       down
    no_sni               web
  }}
}}

server plain {{
  listen 127.0.0.1:{plain}
  tls off
  route default line8008_tcp
}}
"""


def tls_client(port, name, cafile=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10,
                                   source_address=(CLIENT, 0))
    try:
        return ctx.wrap_socket(raw, server_hostname=name)
    except Exception:
        raw.close()
        raise


def alert_for(port, name):
    """The TLS alert reason a client gets for name, or 'no alert'."""
    try:
        s = tls_client(port, name)
        s.close()
        return "no alert"
    except ssl.SSLError as e:
        return e.reason or str(e)
    except OSError as e:
        return repr(e)


def lines_roundtrip(s):
    s.sendall(LINES)
    got = recv_exact(s, len(LINES))
    return got == LINES


def wait_got(server, n, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with server.lock:
            if len(server.got) >= n:
                return list(server.got)
        time.sleep(0.05)
    with server.lock:
        return list(server.got)


def web_checks(t, px, d, cert):
    url = "https://%s:%d/" % (NAMES[0], px.port)
    r = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", cert, "--interface", CLIENT,
         "--resolve", "%s:%d:127.0.0.1" % (NAMES[0], px.port),
         "-w", "\nproto=%{http_version}", url],
        capture_output=True, timeout=20)
    t.check("curl --http2 https://test-web-proxy...: the page over HTTP/2",
            r.stdout == PAGE + b"\nproto=2", repr((r.stdout, r.stderr)))
    # no_sni goes to web too (HTTP/1.1 without a name).
    s = tls_client(px.port, None)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    body, _ = read_to_end(s, 10)
    s.close()
    t.check("no SNI -> web: the page", body.endswith(PAGE), repr(body[-80:]))
    acc = os.path.join(d, "nginx", "access.log")
    end = time.monotonic() + 5
    text = ""
    while time.monotonic() < end and text.count("\n") < 2:
        text = open(acc).read() if os.path.exists(acc) else ""
        time.sleep(0.05)
    lines = text.splitlines()
    t.check("nginx logs the real client 127.0.0.2 (PROXY v2 + realip)",
            len(lines) >= 2 and all(l.startswith(CLIENT + " ")
                                    for l in lines), repr(lines))


def ws_checks(t, px):
    s = tls_client(px.port, NAMES[2])
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: "
               "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "\r\n" % NAMES[2]).encode())
    f = s.makefile("rb")
    status = f.readline()
    while f.readline() not in (b"\r\n", b""):
        pass
    t.check("wss test-cn-2-data.../ws: 101 through nginx",
            b" 101 " in status, repr(status))
    text = "héllo seed".encode()
    ws_send(s, 1, text)
    op, p = ws_read(f)
    t.check("wss: text message echoed", op == 1 and p == text, repr(p))
    blob = os.urandom(100 * 1024)
    ws_send(s, 2, blob)
    op, p = ws_read(f)
    t.check("wss: 100 KB binary message echoed byte-exact",
            op == 2 and p == blob, "op=%r len=%d" % (op, len(p or b"")))
    ws_send(s, 8, b"")
    s.close()


def line_checks(t, px, bd, line, tcert, plain_port):
    s = tls_client(px.port, NAMES[1])
    t.check("TLS line server (bd): lines echoed", lines_roundtrip(s))
    s.close()
    got = wait_got(bd, 1)
    t.check("TLS line server received the lines byte-exact",
            bool(got) and got[-1][1] == LINES, repr(got[-1:]))
    # The 8008 server behind `terminate`: the client verifies the proxy's
    # certificate for the name (check_hostname on, cafile = that cert).
    try:
        s = tls_client(px.port, "line8008.seed.test", cafile=tcert)
        ok = True
    except (ssl.SSLError, OSError) as e:
        ok, s = False, None
        log("terminate handshake: %r" % e)
    t.check("terminate: the client's certificate check succeeds", ok)
    if s:
        t.check("terminate: lines echoed by the plain 8008 server",
                lines_roundtrip(s))
        s.close()
    s = socket.create_connection(("127.0.0.1", plain_port), timeout=10,
                                 source_address=(CLIENT, 0))
    t.check("tls off: lines echoed by the plain 8008 server",
            lines_roundtrip(s))
    s.close()
    got = wait_got(line, 2)
    t.check("plain 8008 server: both connections' lines byte-exact",
            len(got) == 2 and all(g[1] == LINES for g in got), repr(got))
    t.check("plain 8008 server learns 127.0.0.2 from PROXY v2 and v1",
            len(got) == 2 and all(g[0].startswith(CLIENT + ":")
                                  for g in got), repr([g[0] for g in got]))


def silent_and_failures(t, px):
    s = socket.create_connection(("127.0.0.1", px.port), timeout=10,
                                 source_address=(CLIENT, 0))
    t0 = time.monotonic()
    got = recv_exact(s, len(BANNER))
    el = (time.monotonic() - t0) * 1000
    s.close()
    t.check("silent client: the banner (%r)" % got, got == BANNER)
    t.check("silent client: after %d ms, within the margin (%.0f ms)" %
            (SILENT_MS, el), SILENT_MS - 5 <= el < SILENT_MS + SILENT_MARGIN_MS)
    r = alert_for(px.port, "unknown.seed.test")
    t.check("unknown name: alert 112 (%s)" % r, "UNRECOGNIZED_NAME" in r)
    r = alert_for(px.port, "down.seed.test")
    t.check("down upstream: alert 80 (%s)" % r, "INTERNAL_ERROR" in r)


def reload_check(t, px, conf):
    held = tls_client(px.port, NAMES[1])
    t.check("reload: a connection to bd is open", lines_roundtrip(held))
    with open(px.conf, "w") as f:
        f.write(conf.replace("test-tcp-proxy.*     bd",
                             "test-tcp-proxy.*     bd2"))
    px.signal(signal.SIGHUP)
    end = time.monotonic() + 10
    first = b""
    while time.monotonic() < end and first != b"b":
        # bd echoes the "?", bd2 says "bd2:" first
        s = tls_client(px.port, NAMES[1])
        s.sendall(b"?")
        first = recv_exact(s, 1)
        s.close()
        time.sleep(0.05)
    t.check("reload: new connections take the new route (bd2)",
            first == b"b", repr(first))
    t.check("reload: the open connection keeps working",
            lines_roundtrip(held))
    held.close()


def run(binary):
    for tool in ("nginx", "curl", "openssl"):
        if not shutil.which(tool):
            log("SKIP: %s not installed" % tool)
            return SKIP
    t = Checks()
    d = tempfile.mkdtemp(prefix="sniroute-seed.")
    ports = {k: free_port() for k in ("web", "data", "ws", "bd", "bd2",
                                      "line", "banner", "plain")}
    ports["dead"], dead_hold = refused_port()  # open until main returns
    cert, key = multi_cert(d)
    tcert, tkey = make_cert(d, "line8008.seed.test", "ec")
    nd = os.path.join(d, "nginx")
    os.makedirs(os.path.join(nd, "www"))
    with open(os.path.join(nd, "www", "index.html"), "wb") as f:
        f.write(PAGE)
    with open(os.path.join(nd, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(d=nd, cert=cert, key=key, **ports))
    ngx = subprocess.Popen(["nginx", "-p", nd, "-c",
                            os.path.join(nd, "nginx.conf"), "-e",
                            os.path.join(nd, "error.log")],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    px = None
    try:
        serve(ports["ws"], ws_handler)
        upctx = tls_ctx(cert, key)
        bd = LineServer(ports["bd"], tls=upctx)
        LineServer(ports["bd2"], tls=upctx, tag=b"bd2:")
        line = LineServer(ports["line"], pp=True)
        serve(ports["banner"], banner_handler)
        if not (wait_port(ports["web"]) and wait_port(ports["data"])):
            log(open(os.path.join(nd, "error.log")).read())
            raise RuntimeError("nginx did not start")
        conf = PROXY_CONF.format(log=os.path.join(d, "proxy.log"),
                                 silent=SILENT_MS, tcp="bd", tcert=tcert,
                                 tkey=tkey, port="{port}", **ports)
        px = Proxy(binary, conf=conf)
        conf = conf.replace("{port}", str(px.port))
        web_checks(t, px, d, cert)
        ws_checks(t, px)
        line_checks(t, px, bd, line, tcert, ports["plain"])
        silent_and_failures(t, px)
        reload_check(t, px, conf)
        rc = px.stop()
        t.check("SIGTERM: exit 0", rc == 0, repr(rc))
        text = open(os.path.join(d, "proxy.log")).read()
        t.check("proxy log: server=tls and server=plain lines",
                " server=tls " in text and " server=plain " in text)
    finally:
        if px:
            px.cleanup()
        ngx.terminate()
        try:
            ngx.wait(20)
        except subprocess.TimeoutExpired:
            ngx.kill()
            ngx.wait()
        shutil.rmtree(d, ignore_errors=True)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(run)
