"""A TLS test server on loopback.

  tls_upstream.py --cert C --key K --tag TAG [--mode http|echo]

Prints "listening on 127.0.0.1:PORT".  http: answers any request with
"upstream=TAG sni=NAME".  echo: echoes bytes until the client closes.
"""
import argparse
import socket
import ssl
import sys
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--tag", required=True)
ap.add_argument("--mode", default="http")
ap.add_argument("--addr", default="127.0.0.1")
args = ap.parse_args()

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)

def on_sni(sslsock, name, _ctx):
    sslsock.sni_name = name


ctx.sni_callback = on_sni


def serve(conn):
    try:
        with ctx.wrap_socket(conn, server_side=True) as s:
            if args.mode == "echo":
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    s.sendall(d)
                return
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 8192:
                d = s.recv(4096)
                if not d:
                    break
                req += d
            body = ("upstream=%s sni=%s\n" % (args.tag, getattr(s, "sni_name", "-"))).encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            try:
                s.unwrap()
            except (OSError, ssl.SSLError):
                pass
    except (OSError, ssl.SSLError) as e:
        print("conn error:", e, flush=True)


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((args.addr, 0))
ls.listen(64)
print("listening on %s:%d" % (args.addr, ls.getsockname()[1]), flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
