"""Shared pieces of the sniroute-proxy hardening tests (tests/proxy/*.py).

Python 3 standard library only; every socket is on loopback.  A test
starts the proxy with Proxy(...), upstreams with the serve_* helpers
(threads), builds ClientHellos with client_hello(), and reads the log with
parse_kv() / json.loads().
"""
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port(host="127.0.0.1"):
    """A port free for TCP and UDP alike: proxies listen on both (quic), and
    a port only checked for TCP may be some other test's UDP socket."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        t = socket.socket(fam, socket.SOCK_STREAM)
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            t.bind((host, 0))
            p = t.getsockname()[1]
            try:
                u.bind((host, p))
            except OSError:
                continue
            return p
        finally:
            t.close()
            u.close()
    raise RuntimeError("no port free for both TCP and UDP")



def refused_port(host="127.0.0.1"):
    """(port, sock): a TCP port that refuses connections for as long as sock
    stays open.  A port merely found free may be handed to the next server
    any test binds to port 0; a socket bound there without listen() keeps
    it, and the kernel answers connection attempts with a reset."""
    s = socket.socket()
    s.bind((host, 0))
    return s.getsockname()[1], s

# ------------------------------------------------------------ ClientHello
def _ext(t, data):
    return struct.pack("!HH", t, len(data)) + data


def client_hello(sni=b"www.test", alpn=(), pad_to=0, record=16384,
                 extra_exts=b""):
    """A TLS 1.3 ClientHello (raw bytes for SNI and ALPN names) framed in
    records of at most `record` bytes; pad_to: handshake message length
    to reach with a padding extension; extra_exts: more extensions (whole,
    as on the wire) before it."""
    exts = b""
    if sni is not None:
        entry = b"\x00" + struct.pack("!H", len(sni)) + sni
        exts += _ext(0, struct.pack("!H", len(entry)) + entry)
    if alpn:
        lst = b"".join(bytes([len(a)]) + a for a in alpn)
        exts += _ext(16, struct.pack("!H", len(lst)) + lst)
    exts += _ext(43, b"\x02\x03\x04")  # supported_versions: TLS 1.3
    exts += _ext(10, b"\x00\x02\x00\x1d")  # supported_groups: x25519
    exts += extra_exts
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" +
            b"\x01\x00")
    if pad_to:
        # 4 (handshake header) + body + 2 (extensions length) + exts + 4
        # (padding header) + n = pad_to
        n = pad_to - (4 + len(body) + 2 + len(exts) + 4)
        assert n >= 0
        exts += _ext(21, b"\x00" * n)
    body += struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + struct.pack("!I", len(body))[1:] + body
    out = bytearray()
    for i in range(0, len(msg), record):
        frag = msg[i:i + record]
        out += b"\x16\x03\x01" + struct.pack("!H", len(frag)) + frag
    return bytes(out)


# ------------------------------------------------------------ log lines
def pct_decode(v):
    out = bytearray()
    i = 0
    b = v.encode("ascii")
    while i < len(b):
        if b[i] == 0x25:
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def parse_kv(line):
    """One kv log line -> dict: 'time', 'worker' and every key=value with
    its value percent-decoded to bytes (None for '-').  Raises ValueError
    for a line that does not have exactly the documented shape."""
    parts = line.rstrip("\n").split(" ")
    if len(parts) < 3:
        raise ValueError("short line %r" % line)
    d = {"time": parts[0], "worker": parts[1]}
    for p in parts[2:]:
        k, eq, v = p.partition("=")
        if not eq or k in d:
            raise ValueError("bad field %r in %r" % (p, line))
        if v == "-":
            d[k] = None
        elif k == "alpn":
            d[k] = [pct_decode(x) for x in v.split(",")]
        else:
            d[k] = pct_decode(v)
    return d


KV_KEYS = ["time", "worker", "id", "client", "server", "sni", "alpn", "ja4",
           "ja3", "ech", "route", "upstream", "bytes_up", "bytes_down", "ms",
           "verdict"]


# ------------------------------------------------------------ the proxy
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "WARNING: ThreadSanitizer")


def env_args(args):
    """SNIROUTE_TEST_RELAY=splice|copy (ctest's per-mode registrations,
    tests/CMakeLists.txt): every proxy a test starts relays that way,
    appended last so that it also overrides a configuration file's
    choice; a test that picks its own (--relay, --no-splice) keeps it.
    SNIROUTE_TEST_PRECONNECT=N likewise adds --preconnect N, so that the
    same tests run over preconnected upstream connections."""
    out = []
    mode = os.environ.get("SNIROUTE_TEST_RELAY")
    if mode and "--relay" not in args and "--no-splice" not in args:
        out += ["--relay", mode]
    pre = os.environ.get("SNIROUTE_TEST_PRECONNECT")
    if pre and "--preconnect" not in args:
        out += ["--preconnect", pre]
    return out


class Proxy:
    """sniroute-proxy on 127.0.0.1:port.  conf: configuration file text
    ('{port}' is replaced) or None for args only.  stdout/stderr go to
    files in a temporary directory unless given.  A sanitizer report in
    its stderr fails the test (main_wrapper())."""
    sanitizer_reports = []

    def __init__(self, binary, args=(), conf=None, port=None, stdout=None,
                 preexec=None, wait=True, stderr=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="sniroute-pxt.")
        self.port = port or free_port()
        cmd = [binary]
        if conf is not None:
            self.conf = os.path.join(self.dir, "proxy.conf")
            with open(self.conf, "w") as f:
                f.write(conf.replace("{port}", str(self.port)))
            cmd += ["--config", self.conf]
        cmd += [a.replace("{port}", str(self.port)) for a in args]
        cmd += env_args(args)
        self.errpath = os.path.join(self.dir, "stderr")
        self.err = open(self.errpath, "wb") if stderr is None else stderr
        self.outpath = os.path.join(self.dir, "stdout")
        out = open(self.outpath, "wb") if stdout is None else stdout
        self.p = subprocess.Popen(cmd, stdout=out, stderr=self.err,
                                  preexec_fn=preexec, env=env)
        if wait:
            try:
                self.wait_listening()
            except Exception:
                self.cleanup()
                raise

    def wait_listening(self, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.p.poll() is not None:
                raise RuntimeError("proxy exited %d: %s" %
                                   (self.p.returncode, self.stderr_text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("proxy not listening: " + self.stderr_text())

    def stderr_text(self):
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.p.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM, wait; returns the exit status, or 'timeout' (then the
        proxy was killed)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                return "timeout"
        return self.p.returncode

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def counters(self, text=None):
        """The last 'counters:' line of stderr as a dict of ints."""
        text = self.stderr_text() if text is None else text
        lines = [l for l in text.splitlines() if "counters:" in l]
        if not lines:
            return None
        d = {}
        for f in lines[-1].split("counters:", 1)[1].split():
            k, _, v = f.partition("=")
            d[k] = int(v)
        return d

    def cleanup(self):
        self.kill()
        text = self.stderr_text()
        if any(m in text for m in SANITIZER_MARKS):
            Proxy.sanitizer_reports.append(text)
        for root, dirs, files in os.walk(self.dir, topdown=False):
            for n in files:
                try:
                    os.unlink(os.path.join(root, n))
                except OSError:
                    pass
            for n in dirs:
                try:
                    os.rmdir(os.path.join(root, n))
                except OSError:
                    pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


# ------------------------------------------------------------ upstreams
class Server:
    """A loopback TCP server; handler(conn) runs in a thread per
    connection."""

    def __init__(self, handler, backlog=512):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(backlog)
        self.port = self.s.getsockname()[1]
        self.handler = handler
        self.errors = []
        self.closed = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self.closed:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c):
        try:
            self.handler(c)
        except Exception as e:  # recorded, the test decides
            self.errors.append(repr(e))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()



def echo(c):
    """Upstream handler: echoes everything, returns at the client's EOF."""
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def exe_for_anyone(binary, directory):
    """A copy of binary in directory (made world-readable) that an
    unprivileged user such as `nobody` can execute, whatever the
    permissions of the build tree (a clone in a `mktemp -d` is 0700)."""
    exe = os.path.join(directory, os.path.basename(binary))
    shutil.copy(binary, exe)
    os.chmod(directory, 0o755)
    os.chmod(exe, 0o755)
    return exe


def wait_for(cond, timeout=10, step=0.05):
    """Polls cond until it holds or timeout seconds pass; its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())

def recv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(1 << 20, n - len(buf)))
        if not d:
            break
        buf += d
    return bytes(buf)


def reset_close(c):
    """Close with RST (SO_LINGER 0)."""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def read_to_end(c, timeout=30):
    """Reads until EOF or an error: (bytes, 'eof' | 'reset' | 'timeout' |
    other error text)."""
    c.settimeout(timeout)
    buf = bytearray()
    while True:
        try:
            d = c.recv(1 << 20)
        except ConnectionResetError:
            return bytes(buf), "reset"
        except socket.timeout:
            return bytes(buf), "timeout"
        except OSError as e:
            return bytes(buf), str(e)
        if not d:
            return bytes(buf), "eof"
        buf += d


def sha(b):
    return hashlib.sha256(b).hexdigest()


def main_wrapper(fn):
    """Runs fn(binary) and exits with its status (0, 1, 77)."""
    if len(sys.argv) < 2:
        log("usage: %s PATH/TO/sniroute-proxy" % sys.argv[0])
        sys.exit(2)
    binary = sys.argv[1]
    if not os.access(binary, os.X_OK):
        log("no proxy at %s" % binary)
        sys.exit(1)
    try:
        rc = fn(binary)
    except Exception:
        import traceback
        traceback.print_exc()
        rc = 1
    for r in Proxy.sanitizer_reports:
        log("FAIL - sanitizer report:\n" + r[-4000:])
        rc = 1
    sys.exit(rc)


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            log("ok   - %s" % name)
        else:
            self.failed += 1
            log("FAIL - %s %s" % (name, detail))
        return ok

    def rc(self):
        return 1 if self.failed else 0


# ------------------------------------------------------------ certificates
def make_cert(directory, name, kind="rsa"):
    """A throwaway self-signed certificate for DNS name `name` (RSA-2048 or
    ECDSA P-256) made with `openssl req`; it is its own CA, so a client
    verifies it with cafile=cert.  Returns (cert path, key path)."""
    base = os.path.join(directory, "%s-%s" % (name, kind))
    key = ["-newkey", "rsa:2048"] if kind == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2",
                    "-subj", "/CN=" + name, "-addext",
                    "subjectAltName=DNS:" + name, "-keyout", base + ".key",
                    "-out", base + ".crt"] + key,
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return base + ".crt", base + ".key"


def http_get(port, path="/metrics", timeout=10):
    """The body of a plain HTTP/1.0 GET on 127.0.0.1:port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\n\r\n")
    data, _ = read_to_end(s, timeout)
    s.close()
    return data.partition(b"\r\n\r\n")[2].decode(errors="replace")
