"""TLS echo client: send BYTES random bytes in 64 KiB windows, check the
echo is byte-exact, report the rate.

  echo_client.py PORT NAME CAFILE [--src ADDR] [--bytes N] [--timeout S]

Prints "local=ADDR:PORT bytes=N seconds=S MBps=R" and exits 0, or exits 1.
"""
import argparse
import hashlib
import os
import socket
import ssl
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("name")
ap.add_argument("cafile")
ap.add_argument("--src", default="127.0.0.1")
ap.add_argument("--bytes", type=int, default=1 << 20)
ap.add_argument("--timeout", type=float, default=20)
a = ap.parse_args()

ctx = ssl.create_default_context(cafile=a.cafile)
raw = socket.socket()
raw.settimeout(a.timeout)
# Lock-step windows: without this, Nagle and delayed ACKs add 40 ms each.
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
raw.bind((a.src, 0))
raw.connect(("127.0.0.1", a.port))
local = "%s:%d" % raw.getsockname()
print("local=%s" % local, flush=True)
try:
    s = ctx.wrap_socket(raw, server_hostname=a.name)
except (OSError, ssl.SSLError) as e:
    print("handshake failed: %r" % e, flush=True)
    sys.exit(1)
block = os.urandom(1 << 16)
sent = hashlib.sha256()
got = hashlib.sha256()
left = a.bytes
t0 = time.perf_counter()
while left > 0:
    chunk = block[: min(left, len(block))]
    s.sendall(chunk)
    sent.update(chunk)
    need = len(chunk)
    while need > 0:
        d = s.recv(need)
        if not d:
            print("echo ended early", flush=True)
            sys.exit(1)
        got.update(d)
        need -= len(d)
    left -= len(chunk)
dt = time.perf_counter() - t0
s.close()
if sent.digest() != got.digest():
    print("echo differs", flush=True)
    sys.exit(1)
print("local=%s bytes=%d seconds=%.3f MBps=%.1f" % (local, a.bytes, dt, a.bytes / dt / 1e6), flush=True)
