#!/usr/bin/env python3
"""sniroute-proxy operations (issue 9 items 2 and 4).

  operations.py PATH/TO/sniroute-proxy

1. -t / --test-config: success line on stdout (exit 0), FILE:LINE errors
   on stderr (exit 1), the quick form too, an unknown user; no socket is
   opened;
2. pid_file: the pid is written and locked; a second instance on the
   same configuration is refused with the holder's pid; the file goes at
   exit;
3. without pid_file a second instance on a port in use is refused too;
4. user/group (as root): the process runs as nobody, serves, reloads;
   a drop that fails (started unprivileged, `user root`) refuses to run;
5. systemd notification: READY=1 once serving, STOPPING=1 on SIGTERM;
   SIGUSR2 prints the counters;
6. metrics: a scrape during traffic and after it shows exactly what was
   sent (connections per route and upstream, bytes, connect failures,
   histogram counts), the exposition format, 404/405; per-upstream totals
   survive a reload;
7. --takeover: client loops connecting continuously through an upgrade
   (new binary started with --takeover, old one sent SIGTERM) see no
   refused, reset or cut connection; 400 connections queued while the old
   instance is stopped (SIGSTOP) and then sent SIGTERM all relay (without
   the hand-over's steering, those the kernel queued at the old instance
   are reset when it closes its listeners); a long connection through the
   old process finishes; the new one owns the pid file afterwards; over
   IPv4 and IPv6.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pxlib import (echo, exe_for_anyone, wait_for, Checks, Proxy, Server,
                   client_hello, free_port, log, main_wrapper, read_to_end,
                   recv_exact)

NOBODY = 65534
LOOPS = 8
BURST = 400
# Between two connections of a loop: thousands of connections a second
# are plenty, and the client side's TIME_WAIT ports stay far from running
# out.
LOOP_PAUSE = 0.002


def at(port):
    """A port on 127.0.0.1, or a (host, port) pair as it is."""
    return port if isinstance(port, tuple) else ("127.0.0.1", port)


def echo_session(port, sni, payload=b"", timeout=5):
    """hello + payload, half-close, read to EOF: (the bytes echoed, how the
    read ended, the bytes sent)."""
    sent = client_hello(sni) + payload
    s = socket.create_connection(at(port), timeout=timeout)
    try:
        s.sendall(sent)
        s.shutdown(socket.SHUT_WR)
        got, how = read_to_end(s, timeout)
        return got, how, sent
    finally:
        s.close()


def refused(port, sni):
    """A connection the proxy closes without relaying: sends the hello,
    reads until the close."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(client_hello(sni))
        read_to_end(s, 5)
    except OSError:
        pass
    finally:
        s.close()


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30, **kw)


def tmpdir():
    d = tempfile.mkdtemp(prefix="sniroute-ops.")
    os.chmod(d, 0o755)  # readable by the user the proxy drops to
    return d


# ------------------------------------------------------------------ 1. -t
def test_config_case(binary, t):
    d = tmpdir()
    try:
        port = free_port()
        good = os.path.join(d, "good.conf")
        with open(good, "w") as f:
            f.write("listen 127.0.0.1:%d\nupstream a 127.0.0.1:1\n"
                    "routes {\n  a.test a\n}\nmetrics 127.0.0.1:%d\n"
                    "pid_file %s/pid\n" % (port, free_port(), d))
        r = run([binary, "-t", "--config", good])
        want = ("sniroute-proxy: configuration file %s test is successful\n"
                % good)
        t.check("-t good file: exit 0, success line on stdout",
                r.returncode == 0 and r.stdout.decode() == want and
                r.stderr == b"", "%d %r %r" % (r.returncode, r.stdout,
                                               r.stderr))
        t.check("-t opens no socket and writes no pid file",
                not os.path.exists(os.path.join(d, "pid")) and
                connect_fails(port))
        bad = os.path.join(d, "bad.conf")
        with open(bad, "w") as f:
            f.write("listen 127.0.0.1:%d\n# comment\nworkers 0\n" % port)
        r = run([binary, "--test-config", "--config", bad])
        err = r.stderr.decode()
        t.check("-t bad file: exit 1, '%s:3: ...' on stderr, nothing on "
                "stdout" % bad, r.returncode == 1 and r.stdout == b"" and
                re.match(re.escape(bad) + r":3: \S", err) is not None,
                "%d %r" % (r.returncode, err))
        r = run([binary, "-t", "--listen", "127.0.0.1:%d" % port,
                 "--route", "a.test=127.0.0.1:1"])
        t.check("-t quick form: exit 0",
                r.returncode == 0 and b"test is successful" in r.stdout,
                r.stderr.decode())
        r = run([binary, "-t", "--listen", "127.0.0.1:%d" % port,
                 "--route", "a.test=nowhere"])
        t.check("-t quick form, bad route: exit 1 with a message",
                r.returncode == 1 and b"nowhere" in r.stderr, r.stderr)
        r = run([binary, "-t", "--listen", "127.0.0.1:%d" % port,
                 "--user", "no-such-user-sniroute"])
        t.check("-t unknown user: exit 1",
                r.returncode == 1 and b"unknown user" in r.stderr, r.stderr)
    finally:
        shutil.rmtree(d)


def connect_fails(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return False
    except OSError:
        return True


# ------------------------------------------------------------ 2., 3. guards
def pidfile_case(binary, t):
    d = tmpdir()
    pid = os.path.join(d, "sniroute.pid")
    conf = "listen 127.0.0.1:{port}\nlog off\npid_file %s\n" % pid
    a = Proxy(binary, conf=conf)
    try:
        with open(pid) as f:
            t.check("pid_file holds the pid", f.read() == "%d\n" % a.p.pid)
        r = run([binary, "--config", a.conf])
        msg = "another sniroute-proxy (pid %d) holds %s" % (a.p.pid, pid)
        t.check("a second instance is refused: " + msg,
                r.returncode == 1 and msg in r.stderr.decode(),
                r.stderr.decode())
        with open(pid) as f:
            t.check("... and the pid file is untouched",
                    f.read() == "%d\n" % a.p.pid)
        rc = a.stop()
        t.check("the pid file is removed at exit", rc == 0 and
                not os.path.exists(pid))
    finally:
        a.cleanup()
        shutil.rmtree(d)
    a = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--log", "off"])
    try:
        r = run([binary, "--listen", "127.0.0.1:%d" % a.port])
        t.check("without pid_file, a port in use is refused",
                r.returncode == 1 and b"already in use" in r.stderr,
                r.stderr.decode())
    finally:
        a.stop()
        a.cleanup()


# ------------------------------------------------------------------ 4. user
def ids_of(pid):
    with open("/proc/%d/status" % pid) as f:
        st = f.read()
    uid = st.split("Uid:")[1].split("\n")[0].split()
    gid = st.split("Gid:")[1].split("\n")[0].split()
    grp = st.split("Groups:")[1].split("\n")[0].split()
    return uid, gid, grp


def user_case(binary, t):
    if os.geteuid() != 0:
        log("skip - user/group: needs root")
        return
    up = Server(echo)
    d = tmpdir()
    conf = ("listen 127.0.0.1:{port}\nlog off\nuser nobody\n"
            "route a.test 127.0.0.1:%d\n" % up.port)
    px = Proxy(binary, conf=conf)
    try:
        os.chmod(px.dir, 0o755)
        os.chmod(px.conf, 0o644)
        # The listeners accept from the moment they are bound; the drop
        # follows within milliseconds (the metrics listener and the rest
        # are opened in between).
        wait_for(lambda: ids_of(px.p.pid)[0] == [str(NOBODY)] * 4, 5)
        uid, gid, grp = ids_of(px.p.pid)
        t.check("runs as nobody:nogroup, no other group (uid %s gid %s "
                "groups %s)" % (uid, gid, grp),
                uid == [str(NOBODY)] * 4 and gid == [str(NOBODY)] * 4 and
                grp == [str(NOBODY)])
        got, _, sent = echo_session(px.port, b"a.test", b"x" * 1000)
        t.check("serves after the drop", got == sent)
        with open(px.conf, "a") as f:
            f.write("route b.test 127.0.0.1:%d\n" % up.port)
        px.signal(signal.SIGHUP)
        t.check("reload as nobody works", wait_for(
            lambda: "configuration reloaded" in px.stderr_text()),
            px.stderr_text())
        got, _, sent = echo_session(px.port, b"b.test", b"y")
        t.check("... and the new route is used", got == sent)
    finally:
        px.stop()
        px.cleanup()
        up.close()
        shutil.rmtree(d)
    # Unprivileged, `user root` cannot work: refuse to run.
    d = tmpdir()
    r = run([exe_for_anyone(binary, d), "--listen",
             "127.0.0.1:%d" % free_port(), "--log", "off", "--user", "root"],
            preexec_fn=become_nobody)
    shutil.rmtree(d)
    t.check("a failed drop refuses to run (exit 1, message)",
            r.returncode == 1 and b"cannot drop privileges" in r.stderr,
            "%d %r" % (r.returncode, r.stderr))


def become_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


# ------------------------------------------------- 5. notify, USR2 counters
def notify_case(binary, t):
    d = tmpdir()
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    px = Proxy(binary, ["--listen", "127.0.0.1:{port}", "--log", "off"],
               env=env)
    try:
        t.check("READY=1 once listening", s.recv(512) == b"READY=1")
        px.signal(signal.SIGUSR2)
        t.check("SIGUSR2 prints the counters",
                wait_for(lambda: px.counters() is not None))
        px.signal(signal.SIGTERM)
        t.check("STOPPING=1 on SIGTERM", s.recv(512) == b"STOPPING=1")
        t.check("exit 0", px.p.wait(20) == 0)
    finally:
        px.cleanup()
        s.close()
        shutil.rmtree(d)


# --------------------------------------------------------------- 6. metrics
def scrape(port):
    r = run(["curl", "-sS", "http://127.0.0.1:%d/metrics" % port])
    if r.returncode != 0:
        raise RuntimeError("curl: " + r.stderr.decode())
    return r.stdout.decode()


def samples(text):
    """{'name{labels}': value} and a list of format problems."""
    out, problems, typed = {}, [], {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            typed[name] = typ
            continue
        if line.startswith("#") or not line:
            continue
        key, _, val = line.rpartition(" ")
        out[key] = float(val)
        base = key.split("{")[0]
        fam = re.sub(r"_(bucket|sum|count)$", "", base)
        typ = typed.get(base) or typed.get(fam)
        if typ is None:
            problems.append("no TYPE for " + key)
        elif typ == "counter" and not base.endswith("_total"):
            problems.append("counter without _total: " + key)
    return out, problems


def http_status(port, method, path):
    r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X",
             method, "http://127.0.0.1:%d%s" % (port, path)])
    return r.stdout.decode()


def metrics_case(binary, t):
    up = Server(echo)
    held = threading.Event()
    release = threading.Event()

    def hold(c):
        held.set()
        release.wait(20)
        echo(c)
    slow = Server(hold)
    mport, cport = free_port(), closed_port()
    conf = ("listen 127.0.0.1:{port}\nlog off\nworkers 2\n"
            "metrics 127.0.0.1:%d\n"
            "upstream a 127.0.0.1:%d\nupstream b 127.0.0.1:%d\n"
            "routes {\n  a.test a\n  b.test b\n  c.test 127.0.0.1:%d\n}\n"
            % (mport, up.port, slow.port, cport))
    px = Proxy(binary, conf=conf)
    try:
        metrics_traffic(px, mport, cport, t, held, release)
        t.check("GET / is 404", http_status(mport, "GET", "/") == "404")
        idle = socket.create_connection(("127.0.0.1", mport), 5)
        try:
            t.check("a scraper that sends nothing does not hold up another",
                    "sniroute_accepted_total" in scrape(mport))
        finally:
            idle.close()
        big = socket.create_connection(("127.0.0.1", mport), 5)
        try:
            big.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 4096)
            got, _ = read_to_end(big, 5)
        except OSError as e:  # the server may close before taking it all
            got = repr(e).encode()
        finally:
            big.close()
        t.check("a request over 2 KiB is refused (431)",
                got.startswith(b"HTTP/1.1 431"), got[:60])
        t.check("POST /metrics is 405",
                http_status(mport, "POST", "/metrics") == "405")
        with open(px.conf, "w") as f:
            f.write(conf.replace("{port}", str(px.port))
                    .replace("  b.test b\n", "")
                    .replace("upstream b ", "upstream c "))
        px.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in px.stderr_text())
        echo_session(px.port, b"a.test", b"z")
        m, _ = samples(scrape(mport))
        t.check("after a reload without upstream b: b keeps its totals, "
                "a goes on counting",
                m.get('sniroute_upstream_connections_total{upstream="b"}')
                == 3 and
                m.get('sniroute_upstream_connections_total{upstream="a"}')
                == 8, str({k: v for k, v in m.items() if "upstream_conn" in k}))
        release.set()
        t.check("exit 0", px.stop() == 0, px.stderr_text())
    finally:
        release.set()
        px.stop()
        px.cleanup()
        up.close()
        slow.close()


def closed_port():
    """A loopback port nothing listens on (bound, never listening)."""
    global _closed
    _closed = socket.socket()
    _closed.bind(("127.0.0.1", 0))
    return _closed.getsockname()[1]


def metrics_traffic(px, mport, cport, t, held, release):
    sent = {"a": 0, "b": 0}
    pay = {"a": b"A" * 5000, "b": b"B" * 300}
    for _ in range(7):
        got, _, s = echo_session(px.port, b"a.test", pay["a"])
        sent["a"] += len(s)
        if got != s:
            raise RuntimeError("echo through route a differs")
    # b's upstream holds the first connection: a scrape while it is open.
    results = []

    def one_b():
        results.append(echo_session(px.port, b"b.test", pay["b"], 20))
    th = threading.Thread(target=one_b)
    th.start()
    held.wait(10)
    m, problems = samples(scrape(mport))
    t.check("scrape during traffic: connections_active 1",
            m.get("sniroute_connections_active") == 1, str(m.get(
                "sniroute_connections_active")))
    t.check("exposition format: every sample has a TYPE, counters end "
            "in _total", not problems, str(problems[:5]))
    release.set()
    th.join(20)
    for _ in range(2):
        results.append(echo_session(px.port, b"b.test", pay["b"]))
    sent["b"] = 3 * len(client_hello(b"b.test") + pay["b"])
    for _ in range(2):
        refused(px.port, b"unknown.test")
    refused(px.port, b"c.test")  # nothing listens at c's address
    m, problems = samples(scrape(mport))
    want = {
        'sniroute_upstream_connections_total{upstream="a"}': 7,
        'sniroute_upstream_connections_total{upstream="b"}': 3,
        'sniroute_upstream_connections_total{upstream="127.0.0.1:%d"}'
        % cport: 1,
        'sniroute_upstream_connect_failures_total{upstream="127.0.0.1:%d"}'
        % cport: 1,
        # every connection, routed or not, under its server block (the
        # implicit one is "0"); + 1: the start-up probe
        'sniroute_server_connections_total{server="0"}': 14,
        'sniroute_server_connect_failures_total{server="0"}': 1,
        'sniroute_server_bytes_client_to_upstream_total{server="0"}':
            sent["a"] + sent["b"],
        'sniroute_route_connections_total{route="exact"}': 11,
        'sniroute_route_connections_total{route="none"}': 2,
        'sniroute_upstream_bytes_client_to_upstream_total{upstream="a"}':
            sent["a"],
        'sniroute_upstream_bytes_upstream_to_client_total{upstream="a"}':
            sent["a"],
        'sniroute_upstream_bytes_client_to_upstream_total{upstream="b"}':
            sent["b"],
        'sniroute_upstream_connect_failures_total{upstream="a"}': 0,
        # + 1: the start-up probe of Proxy(), closed without a hello
        "sniroute_accepted_total": 14,
        "sniroute_routed_total": 11,
        "sniroute_no_route_total": 2,
        "sniroute_connections_active": 0,
        "sniroute_hello_wait_seconds_count": 13,
        'sniroute_hello_wait_seconds_bucket{le="+Inf"}': 13,
        "sniroute_upstream_connect_seconds_count": 10,
    }
    bad = {k: (m.get(k), v) for k, v in want.items() if m.get(k) != v}
    t.check("after traffic: 7 to a, 3 to b, 1 failed to c, 2 unknown; bytes "
            "and histogram counts match", not bad, str(bad))
    t.check("format still valid", not problems, str(problems[:5]))
    b = [m.get('sniroute_hello_wait_seconds_bucket{le="%s"}' % le)
         for le in ("0.0005", "0.001", "0.01", "0.1", "1", "10")]
    t.check("histogram buckets are cumulative", all(
        x is not None for x in b) and b == sorted(b), str(b))


# -------------------------------------------------------------- 7. takeover
class Loop(threading.Thread):
    """Connects continuously (hello + payload, echo read back byte-exact)
    until stopped; records every failure."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop_ev = port, threading.Event()
        self.ok, self.failures = 0, []

    def run(self):
        i = 0
        while not self.stop_ev.is_set():
            pay = b"%d." % i * 50
            try:
                got, how, sent = echo_session(self.port, b"a.test", pay)
                if got == sent and how == "eof":
                    self.ok += 1
                else:
                    self.failures.append((i, how, len(got)))
            except OSError as e:
                self.failures.append((i, repr(e)))
            i += 1
            time.sleep(LOOP_PAUSE)


def burst(port, n, out):
    """Opens n connections as fast as the kernel completes handshakes
    (nothing waits for the proxy to accept them), then uses each: what
    sat in an accept queue that was closed shows up as a reset.  Every
    hello goes out before any reply is read: a socket left silent until
    the others are served would outlive hello_timeout on a slow machine
    and be closed for that instead."""
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection(at(port), 5))
        except OSError as e:
            out.append(("connect", repr(e)))
    sent = client_hello(b"a.test") + b"burst"
    live = []
    for s in socks:
        try:
            s.sendall(sent)
            s.shutdown(socket.SHUT_WR)
            live.append(s)
        except OSError as e:
            out.append(("send", repr(e)))
            s.close()
    for s in live:
        got, how = read_to_end(s, 10)
        if got != sent or how != "eof":
            out.append((how, len(got)))
        s.close()


def long_session(port):
    s = socket.create_connection(at(port), timeout=10)
    s.sendall(client_hello(b"a.test"))
    recv_exact(s, len(client_hello(b"a.test")))
    return s


def end_takeover(old, new, up, d):
    """Stops both instances (the new one may not have started), the
    upstream, and removes the directory of the pid file."""
    old.stop()
    old.cleanup()
    if new:
        new.stop()
        new.cleanup()
    up.close()
    shutil.rmtree(d)


def takeover_case(binary, t, host="127.0.0.1", unprivileged=False):
    """unprivileged: both instances run as nobody from the start, so the
    new one cannot load eBPF and steers with classic BPF (the fallback,
    whose group indexes a closing listener would shift)."""
    up = Server(echo)
    d = tmpdir()
    pid = os.path.join(d, "pid")
    lst = "[%s]" % host if ":" in host else host
    args = ["--listen", lst + ":{port}", "--log", "off", "--workers", "2",
            "--drain-timeout", "20s", "--pid-file", pid,
            "--route", "a.test=127.0.0.1:%d" % up.port]
    pre = None
    if unprivileged:
        binary = exe_for_anyone(binary, d)
        os.chown(d, NOBODY, NOBODY)  # the pid file is written there
        pre = become_nobody

    def start(extra, port=None):
        return Proxy(binary, args + extra, port=port, wait=False,
                     preexec=pre)
    old = start([])
    wait_for(lambda: "listening on" in old.stderr_text())
    new = None
    # Several clients at once, so that the old instance's accept queues
    # are rarely empty: without the hand-over's steering, its close resets
    # what waits there.
    target = (host, old.port)
    loops = [Loop(target) for _ in range(LOOPS)]
    try:
        long_c = long_session(target)
        for loop in loops:
            loop.start()
        time.sleep(0.5)
        new = start(["--takeover"], old.port)
        t.check("the new instance starts alongside the old one", wait_for(
            lambda: "listening on" in new.stderr_text()), new.stderr_text())
        # Without CAP_BPF the kernel refuses the eBPF program for certain;
        # with it, a seccomp filter or an old kernel may still refuse it,
        # so a privileged run only reports which kind it got.
        steered = "steered to this instance ("
        t.check("... and steers its listeners", wait_for(
            lambda: steered in new.stderr_text()), new.stderr_text())
        got = new.stderr_text().partition(steered)[2].partition(")")[0]
        if unprivileged or os.geteuid() != 0:
            t.check("... with classic BPF (no CAP_BPF)", got == "classic BPF",
                    got)
        else:
            log("   steering kind as root: " + got)
        time.sleep(0.5)
        # The old instance is stopped while a burst connects: whatever the
        # kernel queued on its listeners would be reset when SIGTERM makes
        # it close them (it accepts at most 64 per wake-up first).
        burst_failures = []
        old.signal(signal.SIGSTOP)
        b = threading.Thread(target=burst, args=(target, BURST,
                                                 burst_failures))
        b.start()
        time.sleep(0.5)
        old.signal(signal.SIGTERM)
        old.signal(signal.SIGCONT)
        b.join(60)
        t.check("%d connections opened in a burst while the old instance "
                "is stopped, then sent SIGTERM, all relay" % BURST,
                not burst_failures, "%d failed: %s" % (
                    len(burst_failures), burst_failures[:3]))
        # The long connection still belongs to the old, draining process.
        try:
            long_c.sendall(b"still here")
            back = recv_exact(long_c, 10)
        except OSError as e:
            back = repr(e)
        t.check("a long connection through the old process keeps working "
                "while it drains", back == b"still here" and
                old.p.poll() is None, "%r; old: %s" % (back,
                                                       old.stderr_text()))
        long_c.shutdown(socket.SHUT_WR)
        rest, how = read_to_end(long_c, 10)
        long_c.close()
        t.check("... and finishes cleanly", rest == b"" and how == "eof")
        t.check("the old process then exits 0", old.p.wait(20) == 0)
        t.check("the new instance takes the pid file once the old one is "
                "gone", wait_for(lambda: "took over" in new.stderr_text(),
                                 30),
                "stderr: %d bytes, ends %r" % (len(new.stderr_text()),
                                               new.stderr_text()[-300:]))
        with open(pid) as f:
            t.check("pid file names the new instance",
                    f.read() == "%d\n" % new.p.pid)
        time.sleep(0.5)
        for loop in loops:
            loop.stop_ev.set()
            loop.join(20)
        ok = sum(lp.ok for lp in loops)
        failures = [f for lp in loops for f in lp.failures]
        t.check("%d client loops through the switch: %d connections, none "
                "refused, reset or cut" % (LOOPS, ok),
                not failures and ok > 20, str(failures[:5]))
        got, _, sent = echo_session(target, b"a.test", b"after")
        t.check("the new instance serves alone", got == sent)
        t.check("... and exits 0 on SIGTERM", new.stop() == 0,
                new.stderr_text())
    finally:
        for loop in loops:
            loop.stop_ev.set()
        end_takeover(old, new, up, d)


def takeover_unprivileged_case(binary, t):
    if os.geteuid() != 0:
        log("skip - takeover as nobody: needs root to become nobody")
        return
    takeover_case(binary, t, unprivileged=True)


def takeover_kill_case(binary, t):
    """The old instance dies (SIGKILL) with a burst of connections in its
    accept queues, after a new instance took over: with the eBPF steering's
    migration the kernel moves them to the new instance's listeners, which
    serve every one.  Without migration (no CAP_BPF, kernel before 5.14)
    they would be reset: the check is skipped then."""
    up = Server(echo)
    d = tmpdir()
    pid = os.path.join(d, "pid")
    conf = ("listen 127.0.0.1:{port}\nlog off\nworkers 2\npid_file %s\n"
            "route a.test 127.0.0.1:%d\n" % (pid, up.port))
    old = Proxy(binary, conf=conf)
    new = None
    try:
        old.signal(signal.SIGSTOP)
        failures = []
        b = threading.Thread(target=burst, args=(old.port, BURST // 2,
                                                 failures))
        b.start()
        time.sleep(0.5)  # every connection is queued at the old instance
        new = Proxy(binary, ["--takeover"], conf=conf, port=old.port,
                    wait=False)
        t.check("a new instance starts beside the stopped one", wait_for(
            lambda: "steered to this instance" in new.stderr_text()),
            new.stderr_text())
        migrating = "migrating queued connections" in new.stderr_text()
        old.p.kill()
        old.p.wait()
        b.join(60)
        if migrating:
            t.check("the old instance killed with %d connections queued: "
                    "all migrate to the new one and relay" % (BURST // 2),
                    not failures, "%d failed: %s" % (len(failures),
                                                     failures[:3]))
        else:
            log("skip: no eBPF migration here (%s); %d of %d queued "
                "connections were lost" % (
                    new.stderr_text().strip().splitlines()[-1],
                    len(failures), BURST // 2))
        t.check("the new instance takes the pid file of the dead one",
                wait_for(lambda: "took over" in new.stderr_text(), 10),
                new.stderr_text())
        t.check("... and exits 0 on SIGTERM", new.stop() == 0,
                new.stderr_text())
    finally:
        old.kill()
        end_takeover(old, new, up, d)


def takeover_v6_case(binary, t):
    """The same over IPv6 (the old instance's sockets are counted in
    /proc/net/tcp6, another format)."""
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        log("skip - takeover over IPv6: no ::1")
        return
    takeover_case(binary, t, "::1")


def main(binary):
    if not shutil.which("curl"):
        log("skip: curl missing")
        return 77
    t = Checks()
    for case in (test_config_case, pidfile_case, user_case, notify_case,
                 metrics_case, takeover_case, takeover_v6_case,
                 takeover_unprivileged_case, takeover_kill_case):
        log("== " + case.__name__)
        case(binary, t)
    return t.rc()


if __name__ == "__main__":
    main_wrapper(main)
