#!/usr/bin/env python3
"""An independent JA4 / JA3 reference for the tests (Python 3, stdlib only).

Written from FoxIO's technical_details/JA4.md (2026-01; the spec text, not
FoxIO's code) and the salesforce/ja3 README, and from the TLS wire format
(RFC 8446 4.1.2): it shares nothing with lib/fingerprint.c or the C parser.
It reads each corpus case's hello.bin (TLS records), reassembles the
handshake message, walks the ClientHello itself and prints the six values
the library computes.

  ja4_ref.py VECTORS_DIR            print {case: {ja4, ...}} as JSON
  ja4_ref.py VECTORS_DIR --check F  exit 1 unless F holds exactly that
  ja4_ref.py --hex HANDSHAKE_HEX [--quic]   one bare handshake message

Cases without hello.bin (QUIC captures) are left out: this reader does not
decrypt QUIC Initials.
"""
import hashlib
import json
import os
import sys

SERVER_NAME = 0x0000
ALPN = 0x0010
SIGNATURE_ALGORITHMS = 0x000D
SUPPORTED_GROUPS = 0x000A
EC_POINT_FORMATS = 0x000B
SUPPORTED_VERSIONS = 0x002B
HANDSHAKE_RECORD = 22
RECORD_HEADER = 5
CLIENT_HELLO = 1

VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10",
            0x0300: "s3", 0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2",
            0xFEFC: "d3"}


def is_grease(v):
    """RFC 8701: 0x?a?a with both bytes equal."""
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


class Reader:
    def __init__(self, data):
        self.d = data
        self.i = 0

    def take(self, n):
        if self.i + n > len(self.d):
            raise ValueError("truncated")
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def u(self, n):
        return int.from_bytes(self.take(n), "big")

    def vec(self, len_bytes):
        return self.take(self.u(len_bytes))

    def done(self):
        return self.i >= len(self.d)


def u16s(b):
    return [int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)]


def deframe(wire):
    """The handshake message carried by the leading handshake records."""
    hs = b""
    r = Reader(wire)
    while not r.done():
        ctype, _ver, body = r.u(1), r.u(2), r.vec(2)
        if ctype != HANDSHAKE_RECORD:
            break
        hs += body
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    return hs


def parse_hello(hs):
    r = Reader(hs)
    if r.u(1) != CLIENT_HELLO:
        raise ValueError("not a ClientHello")
    body = Reader(r.vec(3))
    h = {"legacy_version": body.u(2)}
    body.take(32)                       # random
    body.vec(1)                         # legacy_session_id
    h["ciphers"] = u16s(body.vec(2))
    body.vec(1)                         # compression methods
    h["exts"] = []
    h["ext_data"] = {}
    if not body.done():
        exts = Reader(body.vec(2))
        while not exts.done():
            t, data = exts.u(2), exts.vec(2)
            h["exts"].append(t)
            h["ext_data"][t] = data
    return h


def ext_list16(h, t, len_bytes=2):
    data = h["ext_data"].get(t)
    if data is None:
        return []
    return u16s(Reader(data).vec(len_bytes))


def first_alpn(h):
    data = h["ext_data"].get(ALPN)
    if not data:
        return None
    names = Reader(Reader(data).vec(2))
    return names.vec(1) if not names.done() else None


def alpn_chars(name):
    if not name:
        return "00"
    first, last = name[0], name[-1]
    if chr(first).isascii() and chr(first).isalnum() and \
            chr(last).isascii() and chr(last).isalnum():
        return chr(first) + chr(last)
    hx = name.hex()
    return hx[0] + hx[-1]


def ja4_version(h):
    if SUPPORTED_VERSIONS in h["ext_data"]:
        vs = [v for v in ext_list16(h, SUPPORTED_VERSIONS, 1)
              if not is_grease(v)]
        if vs:
            return VERSIONS.get(max(vs), "00")
    return VERSIONS.get(h["legacy_version"], "00")


def ja4_a(h, quic):
    ciphers = [c for c in h["ciphers"] if not is_grease(c)]
    exts = [e for e in h["exts"] if not is_grease(e)]
    return "%s%s%s%02d%02d%s" % (
        "q" if quic else "t", ja4_version(h),
        "d" if SERVER_NAME in h["exts"] else "i",
        min(len(ciphers), 99), min(len(exts), 99), alpn_chars(first_alpn(h)))


def hash12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12]


def ja4_all(h, quic=False):
    a = ja4_a(h, quic)
    ciphers = [c for c in h["ciphers"] if not is_grease(c)]
    exts = [e for e in h["exts"] if not is_grease(e)]
    sigs = [s for s in ext_list16(h, SIGNATURE_ALGORITHMS)
            if not is_grease(s)]
    hexl = lambda vs: ",".join("%04x" % v for v in vs)
    out = {}
    for name, order in (("", sorted), ("_o", list)):
        b = hexl(order(ciphers))
        ext = exts if name else [e for e in exts if e not in (SERVER_NAME, ALPN)]
        c = hexl(order(ext))
        if sigs:
            c += "_" + hexl(sigs)
        out["ja4" + name] = "%s_%s_%s" % (
            a, hash12(b) if ciphers else "0" * 12,
            hash12(c) if ext else "0" * 12)
        out["ja4_r" + name[1:]] = "%s_%s_%s" % (a, b, c)
    return out


def ja3(h):
    dec = lambda vs: "-".join(str(v) for v in vs if not is_grease(v))
    pf = h["ext_data"].get(EC_POINT_FORMATS)
    s = "%d,%s,%s,%s,%s" % (
        h["legacy_version"], dec(h["ciphers"]), dec(h["exts"]),
        dec(ext_list16(h, SUPPORTED_GROUPS)),
        "-".join(str(b) for b in Reader(pf).vec(1)) if pf else "")
    return {"ja3": s, "ja3_md5": hashlib.md5(s.encode()).hexdigest()}


def fingerprints(hs, quic=False):
    h = parse_hello(hs)
    out = ja4_all(h, quic)
    out.update(ja3(h))
    return {k: out[k] for k in
            ("ja4", "ja4_r", "ja4_o", "ja4_ro", "ja3", "ja3_md5")}


def corpus(vectors):
    res = {}
    for case in sorted(os.listdir(vectors)):
        path = os.path.join(vectors, case, "hello.bin")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                res[case] = fingerprints(deframe(f.read()))
    return res


def main(argv):
    if len(argv) >= 2 and argv[0] == "--hex":
        json.dump(fingerprints(bytes.fromhex(argv[1]), "--quic" in argv),
                  sys.stdout, indent=1)
        print()
        return 0
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    res = corpus(argv[0])
    text = json.dumps(res, indent=1, sort_keys=True) + "\n"
    if len(argv) == 3 and argv[1] == "--check":
        with open(argv[2]) as f:
            stored = f.read()
        if stored != text:
            print("%s differs from what ja4_ref.py computes now; "
                  "regenerate it with: ja4_ref.py %s > %s"
                  % (argv[2], argv[0], argv[2]), file=sys.stderr)
            return 1
        print("%d cases agree" % len(res))
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
