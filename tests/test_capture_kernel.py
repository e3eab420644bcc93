"""`synack explain` on captures of the Linux kernel talking to itself.

Each test builds two throwaway network namespaces (sx-cap-<pid>-<n>-c and -s) joined
by a veth pair, runs a client and a server made of plain Python sockets in them,
captures with tshark, and checks that `synack explain` infers the states RFC 9293
gives for the exchange. Where the test can pause the programs, it samples `ss` in
the namespaces and checks that the inferred state at that instant is the one the
kernel reports. Everything is deleted afterwards, also on failure.

Needs root and tshark: without them these tests FAIL saying so (deselect them with
-m 'not netns').
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from synack.capture import analyse
from synack.capture.report import ladder

pytestmark = pytest.mark.netns

C_IP, S_IP = "10.77.0.1", "10.77.0.2"
C_IP6, S_IP6 = "fd00:77::1", "fd00:77::2"
GHOST = "10.77.0.9"          # an address with a neighbour entry but no host: never answers
_counter = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def _needs():
    if os.geteuid() != 0:
        pytest.fail("needs root (creates network namespaces); deselect with -m 'not netns'",
                    pytrace=False)
    if shutil.which("tshark") is None or shutil.which("ss") is None:
        pytest.fail("needs tshark and ss (make system-deps)", pytrace=False)
    yield
    left = [n for n in _netns() if n.startswith(f"sx-cap-{os.getpid()}-")]
    assert not left, f"namespaces left behind: {left}"


def _netns() -> list[str]:
    try:
        return os.listdir("/run/netns")
    except FileNotFoundError:
        return []


def sh(*cmd, check=True) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check and r.returncode:
        raise AssertionError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


class Pair:
    """Two namespaces, client and server, joined by a veth pair."""

    def __init__(self):
        n = next(_counter)
        self.c = f"sx-cap-{os.getpid()}-{n}-c"
        self.s = f"sx-cap-{os.getpid()}-{n}-s"
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        try:
            sh("ip", "netns", "add", self.c)
            sh("ip", "netns", "add", self.s)
            sh("ip", "link", "add", "vc", "netns", self.c, "type", "veth", "peer", "name", "vs",
               "netns", self.s)
            for ns, dev, ip, ip6 in ((self.c, "vc", C_IP, C_IP6), (self.s, "vs", S_IP, S_IP6)):
                sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
                sh("ip", "-n", ns, "addr", "add", f"{ip6}/64", "dev", dev, "nodad")
                sh("ip", "-n", ns, "link", "set", dev, "up")
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            # a neighbour nobody answers for: frames go out on the wire and are dropped
            sh("ip", "-n", self.c, "neigh", "add", GHOST, "lladdr", "02:00:00:00:00:09",
               "dev", "vc", "nud", "permanent")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        for ns in (self.c, self.s):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def py(self, ns: str, code: str) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-u", "-c",
                              textwrap.dedent(code)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def capture(self, ns: str, iface: str, path, fmt: str = "pcapng") -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", ns, "tshark", "-q", "-i", iface, "-F", fmt,
                              "-w", str(path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        # tshark says it is capturing before it is: send UDP until the file grows
        probe = self.py(self.c, f"""
            import socket, time, os
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(600):
                if os.path.exists({str(path)!r}) and os.path.getsize({str(path)!r}) > 600:
                    break
                s.sendto(b"probe", ({S_IP!r}, 9)); time.sleep(0.05)
            """)
        probe.wait(40)
        assert path.exists() and path.stat().st_size > 600, "tshark did not start"
        return p

    def stop(self, cap: subprocess.Popen) -> None:
        time.sleep(0.4)
        cap.terminate()
        cap.wait(20)

    def ss(self, ns: str) -> dict[tuple[str, str], str]:
        """(local, peer) -> state, for TCP sockets in `ns`."""
        out = sh("ip", "netns", "exec", ns, "ss", "-tanH")
        socks = {}
        for ln in out.splitlines():
            f = ln.split()
            if len(f) >= 5:
                socks[(f[3], f[4])] = f[0].replace("-", "_")
        return socks


def wait_line(p: subprocess.Popen, want: str, timeout=20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ln = p.stdout.readline()
        if not ln:
            raise AssertionError(f"program ended before {want!r}: {p.stderr.read()}")
        if ln.startswith(want):
            return ln.strip()
    raise AssertionError(f"no {want!r} within {timeout} s")


SS_NAMES = {"ESTAB": "ESTABLISHED", "SYN_SENT": "SYN_SENT", "SYN_RECV": "SYN_RECEIVED",
            "FIN_WAIT_1": "FIN_WAIT_1", "FIN_WAIT_2": "FIN_WAIT_2", "CLOSE_WAIT": "CLOSE_WAIT",
            "LAST_ACK": "LAST_ACK", "TIME_WAIT": "TIME_WAIT", "CLOSING": "CLOSING",
            "LISTEN": "LISTEN"}


def state_at(conn, ep: str, t: float) -> str:
    """The inferred state of endpoint `ep` at capture time `t`."""
    side = conn.a if conn.a.ep == ep else conn.b
    st = side.first_state or "unknown"
    for tt, e, _frm, to, _cause in conn.transitions:
        if e == ep and tt <= t:
            st = to
    return st


def check_ss(pair, conn, samples) -> None:
    """Each sample: (time, ns, local ep, peer ep); the kernel's state then equals the
    inferred one (a socket ss does not list is CLOSED)."""
    assert samples
    for t, got in samples:
        for (local, peer), kstate in got.items():
            if local not in (conn.a.ep, conn.b.ep) or peer not in (conn.a.ep, conn.b.ep):
                continue
            assert state_at(conn, local, t) == SS_NAMES[kstate], (local, t, kstate,
                                                                  conn.transitions)


def sample(pair, ns):
    return (time.time(), pair.ss(ns))


def transitions(conn, ep):
    return [(f, to) for _, e, f, to, _ in conn.transitions if e == ep]


def the_conn(path, server_port):
    conns, stats = analyse(path, detail=True)
    mine = [c for c in conns if c.b.ep.endswith(f":{server_port}")]
    assert len(mine) == 1, [(c.a.ep, c.b.ep) for c in conns]
    return mine[0], stats


# ---------------------------------------------------------------------- tests
def test_full_lifecycle(tmp_path):
    """Handshake, request/response, the client closes first, the server a second
    later: the textbook four-way close, TIME_WAIT on the client."""
    path = tmp_path / "life.pcapng"
    with Pair() as pair:
        cap = pair.capture(pair.c, "vc", path)
        srv = pair.py(pair.s, f"""
            import socket, time
            ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(({S_IP!r}, 8080)); ls.listen(); print("READY")
            c, _ = ls.accept(); assert c.recv(100) == b"GET"; c.sendall(b"hello")
            assert c.recv(100) == b""; print("EOF"); time.sleep(1.5); c.close(); print("CLOSED")
            time.sleep(1)
            """)
        wait_line(srv, "READY")
        cli = pair.py(pair.c, f"""
            import socket, time
            s = socket.create_connection(({S_IP!r}, 8080)); print("PORT", s.getsockname()[1])
            s.sendall(b"GET"); assert s.recv(100) == b"hello"; print("ESTABLISHED")
            time.sleep(1); s.close(); print("CLOSED"); time.sleep(3)
            """)
        wait_line(cli, "ESTABLISHED")
        samples = [sample(pair, pair.c), sample(pair, pair.s)]
        wait_line(srv, "EOF")
        time.sleep(0.5)                    # the server sleeps: FIN_WAIT_2 / CLOSE_WAIT
        samples += [sample(pair, pair.c), sample(pair, pair.s)]
        wait_line(srv, "CLOSED")
        time.sleep(0.3)
        samples += [sample(pair, pair.c), sample(pair, pair.s)]
        assert any(st == "TIME_WAIT" for _, got in samples for st in got.values())
        assert any(st == "FIN_WAIT_2" for _, got in samples for st in got.values())
        pair.stop(cap)
        conn, stats = the_conn(path, 8080)
        assert stats.fmt == "pcapng" and stats.linktype == 1
        client = conn.a.ep
        assert transitions(conn, client) == [
            ("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("ESTABLISHED", "FIN_WAIT_1"),
            ("FIN_WAIT_1", "FIN_WAIT_2"), ("FIN_WAIT_2", "TIME_WAIT")]
        assert transitions(conn, conn.b.ep) == [
            ("LISTEN", "SYN_RECEIVED"), ("SYN_RECEIVED", "ESTABLISHED"),
            ("ESTABLISHED", "CLOSE_WAIT"), ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSED")]
        assert conn.a.bytes == 3 and conn.b.bytes == 5
        assert conn.ended == "closed: FIN both ways (client first)"
        check_ss(pair, conn, samples)
        lad = ladder(conn)
        assert lad.rows[-1].states == ["TIME_WAIT", "CLOSED"]


def test_half_close(tmp_path):
    """shutdown(SHUT_WR): the client's direction closes, the server keeps sending
    100 kB, then closes."""
    path = tmp_path / "half.pcap"
    with Pair() as pair:
        cap = pair.capture(pair.c, "vc", path, fmt="pcap")
        srv = pair.py(pair.s, f"""
            import socket, time
            ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(({S_IP!r}, 8080)); ls.listen(); print("READY")
            c, _ = ls.accept(); assert c.recv(100) == b"req"; assert c.recv(100) == b""
            print("EOF"); time.sleep(1); c.sendall(b"x" * 100000); time.sleep(0.5); c.close()
            print("CLOSED"); time.sleep(1)
            """)
        wait_line(srv, "READY")
        cli = pair.py(pair.c, f"""
            import socket, time
            s = socket.create_connection(({S_IP!r}, 8080))
            s.sendall(b"req"); s.shutdown(socket.SHUT_WR); n = 0
            while True:
                d = s.recv(65536)
                if not d: break
                n += len(d)
            print("GOT", n); s.close(); time.sleep(2)
            """)
        wait_line(srv, "EOF")
        time.sleep(0.3)
        samples = [sample(pair, pair.c), sample(pair, pair.s)]
        assert "FIN_WAIT_2" in samples[0][1].values() and "CLOSE_WAIT" in samples[1][1].values()
        assert wait_line(cli, "GOT") == "GOT 100000"
        wait_line(srv, "CLOSED")
        samples += [sample(pair, pair.c)]
        pair.stop(cap)
        conn, stats = the_conn(path, 8080)
        assert stats.fmt == "pcap"
        assert transitions(conn, conn.a.ep) == [
            ("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"), ("ESTABLISHED", "FIN_WAIT_1"),
            ("FIN_WAIT_1", "FIN_WAIT_2"), ("FIN_WAIT_2", "TIME_WAIT")]
        assert transitions(conn, conn.b.ep)[-3:] == [
            ("ESTABLISHED", "CLOSE_WAIT"), ("CLOSE_WAIT", "LAST_ACK"), ("LAST_ACK", "CLOSED")]
        # the data came while the client sat in FIN_WAIT_2
        fw2 = next(t for t, e, _, to, _ in conn.transitions if to == "FIN_WAIT_2")
        lw = next(t for t, e, _, to, _ in conn.transitions if to == "LAST_ACK")
        assert conn.b.bytes == 100000 and conn.b.fin_t > fw2 and lw > fw2
        check_ss(pair, conn, samples)


def test_connection_refused(tmp_path):
    """SYN to a port nobody listens on: RST,ACK; connect() fails with ECONNREFUSED.
    Captured with `-i any` (Linux cooked capture) on the server's side."""
    path = tmp_path / "refused.pcapng"
    with Pair() as pair:
        cap = pair.capture(pair.s, "any", path)
        cli = pair.py(pair.c, f"""
            import socket
            try:
                socket.create_connection(({S_IP!r}, 8081), timeout=5)
            except ConnectionRefusedError:
                print("REFUSED")
            """)
        assert wait_line(cli, "REFUSED") == "REFUSED"
        pair.stop(cap)
        conn, stats = the_conn(path, 8081)
        assert stats.linktype in (113, 276)
        assert conn.refused and conn.ended == "refused (RST to the SYN)"
        assert transitions(conn, conn.a.ep) == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "CLOSED")]
        assert transitions(conn, conn.b.ep) == [] and conn.b.shown() == "CLOSED"


def test_so_linger_zero_aborts_with_rst(tmp_path):
    path = tmp_path / "linger.pcapng"
    with Pair() as pair:
        cap = pair.capture(pair.c, "vc", path)
        srv = pair.py(pair.s, f"""
            import socket, time
            ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(({S_IP!r}, 8080)); ls.listen(); print("READY")
            c, _ = ls.accept(); assert c.recv(100) == b"hi"; print("GOT")
            try:
                c.recv(100); print("NO RESET")
            except ConnectionResetError:
                print("RESET")
            """)
        wait_line(srv, "READY")
        cli = pair.py(pair.c, f"""
            import socket, struct, time
            s = socket.create_connection(({S_IP!r}, 8080)); s.sendall(b"hi"); print("SENT")
            time.sleep(1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close(); print("ABORTED"); time.sleep(1)
            """)
        wait_line(srv, "GOT")
        samples = [sample(pair, pair.c), sample(pair, pair.s)]
        assert "ESTAB" in samples[0][1].values()
        assert wait_line(srv, "RESET") == "RESET"
        wait_line(cli, "ABORTED")
        samples += [sample(pair, pair.c), sample(pair, pair.s)]
        pair.stop(cap)
        conn, _ = the_conn(path, 8080)
        assert transitions(conn, conn.a.ep)[-1] == ("ESTABLISHED", "CLOSED")
        assert transitions(conn, conn.b.ep)[-1] == ("ESTABLISHED", "CLOSED")
        causes = [c for _, _, _, _, c in conn.transitions]
        assert "ABORT / snd RST" in causes and "rcv RST" in causes
        assert conn.ended.startswith("reset by client: abort")
        check_ss(pair, conn, samples)


def test_syn_never_answered_backs_off(tmp_path):
    """SYNs to an address that never answers: SYN_SENT, retransmitted after 1 s, then
    2 s (RFC 6298 §5.5 backoff; tcp_syn_retries=2 in the client's namespace)."""
    path = tmp_path / "nosyn.pcapng"
    with Pair() as pair:
        sh("ip", "netns", "exec", pair.c, "sysctl", "-q", "-w", "net.ipv4.tcp_syn_retries=2")
        # Linux 6.7+ retransmits the first SYNs at a linear 1 s (tcp_syn_linear_timeouts,
        # default 4); 0 gives the textbook backoff (per namespace, this one only)
        sh("ip", "netns", "exec", pair.c, "sh", "-c",
           "[ ! -e /proc/sys/net/ipv4/tcp_syn_linear_timeouts ] || "
           "echo 0 > /proc/sys/net/ipv4/tcp_syn_linear_timeouts")
        cap = pair.capture(pair.c, "vc", path)
        cli = pair.py(pair.c, f"""
            import socket
            print("START")
            try:
                socket.create_connection(({GHOST!r}, 8082), timeout=20)
            except (TimeoutError, OSError) as e:
                print("FAILED", type(e).__name__)
            """)
        wait_line(cli, "START")
        time.sleep(0.5)
        samples = [sample(pair, pair.c)]
        assert "SYN_SENT" in samples[0][1].values()
        wait_line(cli, "FAILED", timeout=30)
        pair.stop(cap)
        conn, _ = the_conn(path, 8082)
        assert conn.a.state == "SYN_SENT" and conn.b.shown() == "unknown"
        assert conn.a.syn_rexmits == 2 and conn.ended == "no answer (SYN sent 3 times)"
        texts = [t for ts in conn.explain.values() for t in ts]
        assert any("backing off" in t for t in texts), texts
        check_ss(pair, conn, samples)


def test_linux_linear_syn_timeouts_are_reported_as_not_backing_off(tmp_path):
    """Linux 6.7+ (tcp_syn_linear_timeouts=4, its default) resends the first SYNs every
    second: the explanation must say the interval did not grow. On an older kernel
    without the setting the SYNs back off, and the explanation must say that."""
    path = tmp_path / "linear.pcapng"
    with Pair() as pair:
        linear = sh("ip", "netns", "exec", pair.c, "sh", "-c",
                    "cat /proc/sys/net/ipv4/tcp_syn_linear_timeouts 2>/dev/null || echo 0")
        cap = pair.capture(pair.c, "vc", path)
        cli = pair.py(pair.c, f"""
            import socket
            try:
                socket.create_connection(({GHOST!r}, 8083), timeout=3.6)
            except (TimeoutError, OSError) as e:
                print("FAILED", type(e).__name__)
            """)
        wait_line(cli, "FAILED", timeout=30)
        pair.stop(cap)
        conn, _ = the_conn(path, 8083)
        assert conn.a.syn_rexmits >= 2
        texts = [t for ts in conn.explain.values() for t in ts]
        if int(linear) >= 2:
            assert any("not backing off" in t for t in texts), texts
        else:
            assert any("backing off" in t and "not" not in t for t in texts), texts


def test_ipv6_lifecycle(tmp_path):
    """The same exchange over IPv6: endpoints in brackets, the same states."""
    path = tmp_path / "v6.pcapng"
    with Pair() as pair:
        cap = pair.capture(pair.c, "vc", path)
        srv = pair.py(pair.s, f"""
            import socket
            ls = socket.socket(socket.AF_INET6); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(({S_IP6!r}, 8080)); ls.listen(); print("READY")
            c, _ = ls.accept(); assert c.recv(100) == b"v6"; assert c.recv(100) == b""
            c.close(); print("CLOSED")
            """)
        wait_line(srv, "READY")
        cli = pair.py(pair.c, f"""
            import socket, time
            s = socket.create_connection(({S_IP6!r}, 8080)); s.sendall(b"v6"); time.sleep(0.3)
            s.close(); print("DONE"); time.sleep(1)
            """)
        wait_line(cli, "DONE")
        wait_line(srv, "CLOSED")
        time.sleep(0.3)
        samples = [sample(pair, pair.c)]
        pair.stop(cap)
        conn, _ = the_conn(path, 8080)
        assert conn.a.ep.startswith(f"[{C_IP6}]:") and conn.b.ep == f"[{S_IP6}]:8080"
        assert conn.a.shown() == "TIME_WAIT" and conn.b.shown() == "CLOSED"
        # the server closes at once on end-of-stream: its FIN may carry the ACK of the
        # client's (FIN_WAIT_1 -> TIME_WAIT, RFC 9293 §3.10.7.4) or follow a delayed ACK
        fin_acks_fin = any(to == "TIME_WAIT" and cause == "rcv FIN,ACK of FIN / snd ACK"
                           for _, _, _, to, cause in conn.transitions)
        assert [to for _, e, _, to, _ in conn.transitions if e == conn.a.ep] == (
            ["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "TIME_WAIT"] if fin_acks_fin else
            ["SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"])
        check_ss(pair, conn, samples)
        from synack.capture.report import ladder as draw
        assert draw(conn).right_label == f"[{S_IP6}]:8080"
