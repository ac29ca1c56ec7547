"""A TCP relay that re-frames the client's first TLS record (its
ClientHello) before passing it on, then relays both ways unchanged.

  reframe.py TARGET_PORT [--record N] [--byte-delay-ms D]

--record N: cut the hello's handshake bytes into records of N bytes (the
same content, more record headers: legal TLS that many routers misread).
--byte-delay-ms D: send the re-framed bytes one per TCP segment, D ms
apart.  Prints "listening on 127.0.0.1:PORT".
"""
import argparse
import socket
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("target", type=int)
ap.add_argument("--record", type=int, default=0)
ap.add_argument("--byte-delay-ms", type=float, default=0)
a = ap.parse_args()


def read_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b


def pump(src, dst):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(c):
    up = socket.create_connection(("127.0.0.1", a.target))
    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        hdr = read_exact(c, 5)
        body = read_exact(c, int.from_bytes(hdr[3:5], "big"))
    except EOFError:
        c.close()
        up.close()
        return
    step = a.record or len(body)
    out = b"".join(hdr[:3] + len(body[i:i + step]).to_bytes(2, "big") + body[i:i + step]
                   for i in range(0, len(body), step))
    if a.byte_delay_ms:
        for i in range(len(out)):
            up.sendall(out[i:i + 1])
            time.sleep(a.byte_delay_ms / 1000)
    else:
        up.sendall(out)
    t = threading.Thread(target=pump, args=(up, c), daemon=True)
    t.start()
    pump(c, up)
    t.join()
    c.close()
    up.close()


ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
