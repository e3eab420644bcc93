"""synack against the Linux kernel's TCP, through a TUN device.

Every test builds its own network namespace (synack-interop-<pid>-<n>) with a
TUN device in it, runs kernel-side programs (Python sockets, curl,
`python -m http.server`, tshark, ss) inside it, and removes everything at the
end, also when the test fails. Needs root: without it these tests FAIL with a
message saying so (they are not skipped); deselect them with -m 'not netns'.

Both TUN modes run: "plain" (MTU 1500, checksums in Python) and "fast"
(virtio header, MTU 65535, checksum offload, 64 KiB segments).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from synack.tun.driver import TunStack
from synack.tun.faults import Impairment
from synack.tun.netns import list_netns, unique_name
from synack.tun.services import Echo, Http, ServiceHost, pattern_sha256

pytestmark = pytest.mark.netns

MODES = ["plain", "fast"]
K4, S4 = "192.0.2.1", "192.0.2.2"
K6, S6 = "2001:db8::1", "2001:db8::2"
MB100 = 100_000_000
KS = [sys.executable, "-m", "synack.tun.kernelside"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module", autouse=True)
def _root():
    if os.geteuid() != 0:
        pytest.fail("tests marked netns need root (they create network namespaces and TUN "
                    "devices): run them as root, or deselect with -m 'not netns'", pytrace=False)
    yield
    mine = [n for n in list_netns() if f"-{os.getpid()}-" in n]
    assert not mine, f"namespaces left behind: {mine}"


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines()}


@pytest.fixture
def make_stack():
    """TunStack factory; every stack is closed and its namespace checked gone."""
    made = []
    links_before = _links()

    def make(mode="fast", **kw):
        st = TunStack(mode, netns=unique_name("interop"), **kw)
        made.append(st)
        return st
    yield make
    for st in made:
        st.close()
        assert st.netns not in list_netns(), f"namespace {st.netns} left behind"
        assert st.error is None, f"the driver thread failed: {st.error!r}"
    assert _links() == links_before


@pytest.fixture(params=MODES)
def stack(request, make_stack):
    return make_stack(request.param)


def ks(st, *args, timeout=120) -> dict:
    """Run a kernel-side helper to completion; its JSON answer."""
    r = st.ns.run_cmd(KS + [str(a) for a in args], timeout=timeout, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def ks_server(st, *args):
    """Start a kernel-side helper server; wait for its {"ready": port} line."""
    p = st.ns.popen(KS + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line, p.stderr.read()
    return p


def sh(st, cmd: str, timeout=120) -> str:
    r = st.ns.run_cmd(["sh", "-c", cmd], timeout=timeout, check=False)
    assert r.returncode == 0, f"{cmd}: {r.stderr[-2000:]}"
    return r.stdout


def kernel_socket(st, family=socket.AF_INET):
    """A socket of the kernel's TCP, in the test's namespace (made in a thread inside it)."""
    return st.ns.socket(family, socket.SOCK_STREAM)


def serve_once(st, port, handler, family=socket.AF_INET, backlog=16):
    """A synack server (public socket API) running handler(conn) for one connection."""
    srv = st.create_server(("::" if family == socket.AF_INET6 else "", port), family=family,
                           backlog=backlog)
    box = {}

    def run():
        try:
            c, _ = srv.accept()
            with c:
                box["result"] = handler(c)
        except BaseException as e:        # reported by the test
            box["error"] = e
        finally:
            srv.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def result(timeout=120):
        t.join(timeout)
        assert not t.is_alive(), "synack server did not finish"
        if "error" in box:
            raise box["error"]
        return box.get("result")
    return result


def hash_reader(c) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    while True:
        d = c.recv(1 << 22)
        if not d:
            return n, h.hexdigest()
        n += len(d)
        h.update(d)


# ===================================================================== bulk, 100 MB
def test_kernel_python_client_sends_100MB_to_synack(stack):
    """kernel -> synack: a kernel Python client uploads to a synack server (socket API)."""
    def handler(c):
        n, digest = hash_reader(c)
        c.sendall(json.dumps({"bytes": n, "sha256": digest}).encode())
        return n, digest
    result = serve_once(stack, 5001, handler)
    r = ks(stack, "send", S4, 5001, MB100, "--hash")
    n, digest = result()
    assert n == MB100 and digest == r["sha256"] == r["reply"]["sha256"]


def test_curl_downloads_100MB_from_synack_http(stack):
    """synack -> kernel: curl fetches 100 MB from synack's HTTP service."""
    hub = ServiceHost(stack, [Http(8080)]).start()
    out = sh(stack, f"curl -sS --fail http://{S4}:8080/bytes/{MB100} | sha256sum")
    assert out.split()[0] == pattern_sha256(MB100)
    assert hub.errors == 0


def test_curl_uploads_to_synack_http(stack, tmp_path):
    """kernel -> synack with curl: POST a file, synack answers with its SHA-256."""
    f = tmp_path / "upload.bin"
    data = os.urandom(20_000_000)
    f.write_bytes(data)
    ServiceHost(stack, [Http(8080)]).start()
    out = sh(stack, f"curl -sS --fail -T {f} http://{S4}:8080/upload")
    ans = json.loads(out)
    assert ans["bytes"] == len(data) and ans["sha256"] == hashlib.sha256(data).hexdigest()


def test_synack_client_downloads_100MB_from_python_http_server(stack, tmp_path):
    """kernel -> synack: synack's socket API fetches a file from `python -m http.server`."""
    f = tmp_path / "file.bin"
    data = os.urandom(MB100)
    f.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    del data
    p = stack.ns.popen([sys.executable, "-m", "http.server", "8000", "--bind", K4, "--directory",
                        str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = stack.socket()
    s.settimeout(60)
    deadline = time.monotonic() + 10
    while True:                                   # the server needs a moment to listen
        try:
            s.connect((K4, 8000))
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and p.poll() is None, "http.server did not start"
            s.close()
            time.sleep(0.1)
            s = stack.socket()
            s.settimeout(60)
    with s:
        s.sendall(b"GET /file.bin HTTP/1.0\r\nHost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            assert d, "connection closed before the headers"
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200")
        h = hashlib.sha256(body)
        n = len(body)
        while True:
            d = s.recv(1 << 22)
            if not d:
                break
            n += len(d)
            h.update(d)
    assert n == MB100 and h.hexdigest() == want


def test_synack_client_sends_100MB_to_python_socket_server(stack):
    """synack -> kernel: synack's socket API uploads to a kernel Python socket server."""
    p = ks_server(stack, "sink", 5002, "--bind", K4, "--count", 1)
    block = memoryview(os.urandom(1 << 22))
    h = hashlib.sha256()
    with stack.create_connection((K4, 5002), timeout=60) as s:
        left = MB100
        while left:
            k = min(left, len(block))
            s.sendall(block[:k])
            h.update(block[:k])
            left -= k
        s.shutdown(socket.SHUT_WR)
        reply = json.loads(s.recv(65536))
    assert reply["bytes"] == MB100 and reply["sha256"] == h.hexdigest()
    assert json.loads(p.stdout.readline())["sha256"] == h.hexdigest()


def test_ipv6_both_ways(stack):
    """The same over IPv6: 10 MB kernel -> synack and synack -> kernel."""
    n = 10_000_000
    result = serve_once(stack, 5001, lambda c: (hash_reader(c), c.sendall(b"ok")), family=socket.AF_INET6)
    r = ks(stack, "send", S6, 5001, n, "--hash")
    (got, digest), _ = result()
    assert got == n and digest == r["sha256"]
    ks_server(stack, "source", 5002, n, "--bind", "::", "--count", 1)
    with stack.create_connection((K6, 5002), timeout=30) as s:
        got, digest = hash_reader(s)
    assert got == n and digest == pattern_sha256(n)


# ===================================================================== capture
def _start_capture(st, path):
    if shutil.which("tshark") is None:
        pytest.fail("tshark is needed for the capture tests (apt-get install tshark)", pytrace=False)
    p = st.ns.popen(["tshark", "-i", st.dev.ifname, "-B", "64", "-w", str(path)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # tshark says "Capturing on" before the capture really runs: send UDP probes
    # (synack ignores them) until they show up in the file
    probe = st.ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + 30
    with probe:
        while not (path.exists() and path.stat().st_size > 400):
            assert time.monotonic() < deadline and p.poll() is None, "tshark did not start"
            probe.sendto(b"probe", (S4, 9))
            time.sleep(0.05)
    return p


def _stop_capture(p):
    time.sleep(0.3)
    p.terminate()
    p.wait(20)


def _packets(path, *extra):
    r = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE",
                        "-o", "ip.check_checksum:TRUE", "-o", "tcp.relative_sequence_numbers:FALSE",
                        *extra], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _segments(path):
    fields = ["ip.src", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.seq", "tcp.ack",
              "tcp.len", "tcp.checksum.status", "ip.checksum.status"]
    out = _packets(path, "-Y", "tcp", "-T", "fields", *sum((["-e", f] for f in fields), []),
                   "-E", "separator=|")
    segs = []
    for ln in out.splitlines():
        v4src, v6src, sport, dport, flags, seq, ack, ln_, csum, ipcsum = ln.split("|")
        segs.append({"src": v4src or v6src, "sport": int(sport), "dport": int(dport),
                     "flags": int(flags, 16), "seq": int(seq), "ack": int(ack or 0), "len": int(ln_),
                     "csum": csum, "ipcsum": ipcsum})
    return segs


SYN, ACK_, FIN, RST = 0x02, 0x10, 0x01, 0x04


def _check_textbook(segs, client, server_port, closer):
    """The handshake and the close of the connection from `client` to `server_port`
    are the textbook ones; `closer` ("client"/"server") sent the first FIN."""
    conn = [s for s in segs if server_port in (s["sport"], s["dport"])]
    assert len(conn) >= 6, conn
    syn, synack, ack = conn[:3]
    assert syn["flags"] == SYN and syn["src"] == client
    assert synack["flags"] == SYN | ACK_ and synack["ack"] == syn["seq"] + 1
    assert ack["flags"] == ACK_ and ack["src"] == client
    assert ack["seq"] == syn["seq"] + 1 and ack["ack"] == synack["seq"] + 1
    assert not any(s["flags"] & RST for s in conn), "RST in a clean run"
    fins = [s for s in conn if s["flags"] & FIN]
    assert len(fins) == 2, "one FIN each way, never retransmitted"
    first, second = fins
    assert (first["src"] == client) == (closer == "client")
    assert second["src"] != first["src"]
    fin1_end = first["seq"] + first["len"] + 1
    fin2_end = second["seq"] + second["len"] + 1
    # the second FIN acknowledges the first (FIN/ACK), and the last segment acknowledges it
    assert second["flags"] & ACK_ and second["ack"] == fin1_end
    last = conn[-1]
    assert last["flags"] == ACK_ and last["src"] == first["src"] and last["ack"] == fin2_end
    assert conn.index(last) > conn.index(second)


@pytest.mark.parametrize("mode", MODES)
def test_capture_handshake_and_close_are_textbook(make_stack, mode, tmp_path):
    st = make_stack(mode)
    pcap = tmp_path / "tun.pcapng"
    cap = _start_capture(st, pcap)
    # 1. kernel client -> synack echo service; the kernel closes first
    ServiceHost(st, [Echo(7)]).start()
    k = kernel_socket(st)
    k.connect((S4, 7))
    payload = os.urandom(200_000)
    k.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += k.recv(1 << 20)
    assert got == payload
    k.close()
    # 2. synack client -> kernel server; synack closes first
    lst = kernel_socket(st)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((K4, 6000))
    lst.listen()
    s = st.create_connection((K4, 6000), timeout=10)
    c, _ = lst.accept()
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += c.recv(1 << 20)
    assert got == payload
    s.close()
    assert c.recv(10) == b""            # synack's FIN
    c.close()
    lst.close()
    time.sleep(0.5)
    _stop_capture(cap)

    segs = _segments(pcap)
    _check_textbook(segs, K4, 7, closer="client")
    _check_textbook(segs, S4, 6000, closer="client")
    # nothing malformed, no retransmissions, no expert warnings about lost segments
    # (the payload is random: decode it as data, or tshark's echo/X11 dissectors
    # report "malformed" application messages)
    bad = _packets(pcap, "-d", "tcp.port==7,data", "-d", "tcp.port==6000,data",
                   "-Y", "_ws.malformed || tcp.analysis.retransmission || "
                   "tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission || "
                   "tcp.analysis.lost_segment || tcp.analysis.out_of_order || tcp.analysis.ack_lost_segment")
    assert bad.strip() == "", f"{bad}\nsynack's counters: {dict(st.host.stats)}"
    assert all(s["ipcsum"] in ("", "1") for s in segs), "bad IPv4 header checksum"
    if mode == "plain":
        # every TCP checksum, ours and the kernel's, is complete and right
        assert all(s["csum"] == "1" for s in segs), [s for s in segs if s["csum"] != "1"][:3]
    else:
        # fast mode: checksums are offloaded, and a capture on the TUN sees them
        # before completion (as on any NIC with offload); the kernel accepted every
        # segment we wrote (the payloads arrived intact), which it only does with
        # the pseudo-header sum right
        assert st.stats["drop_bad_checksum"] == 0


# ===================================================================== faults
def _bulk_both_ways(st, n):
    data = os.urandom(n)
    want = hashlib.sha256(data).hexdigest()

    def handler(c):
        got = hash_reader(c)
        c.sendall(data)
        return got
    result = serve_once(st, 5001, handler)
    k = kernel_socket(st)
    k.settimeout(120)
    k.connect((S4, 5001))
    k.sendall(data)
    k.shutdown(socket.SHUT_WR)
    back = hash_reader(k)
    k.close()
    assert result() == (n, want), "kernel -> synack not byte-exact"
    assert back == (n, want), "synack -> kernel not byte-exact"


def _netem_available() -> bool:
    ns = f"synack-netemprobe-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        subprocess.run(["ip", "-n", ns, "link", "add", "d0", "type", "dummy"], check=True,
                       capture_output=True)
        r = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "d0", "root",
                            "netem", "delay", "1ms"], capture_output=True)
        return r.returncode == 0
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.parametrize("mode", MODES)
def test_faults_in_the_driver_transfers_byte_exact(make_stack, mode):
    """2% loss, 25% reordering, 1% duplication and 2 ms delay on frames both ways
    (the driver's netem-like impairment): both directions stay byte-exact."""
    imp = Impairment(loss=0.02, duplicate=0.01, reorder=0.25, delay=0.002, seed=7)
    st = make_stack(mode, impair=imp)
    _bulk_both_ways(st, 8_000_000 if mode == "fast" else 2_000_000)
    assert imp.stats["in_lost"] and imp.stats["out_lost"] and imp.stats["in_reordered"]
    assert st.host.stats["retransmits"] > 0


@pytest.mark.parametrize("mode", MODES)
def test_faults_with_tc_netem_transfers_byte_exact(make_stack, mode):
    """The same faults with `tc qdisc netem`, kernel -> synack on the TUN's egress and
    synack -> kernel on an ifb that the TUN's ingress is redirected to."""
    if not _netem_available():
        pytest.skip("this kernel has no sch_netem (CONFIG_NET_SCH_NETEM); the driver-level "
                    "impairment test covers the same faults")
    st = make_stack(mode)
    dev = st.dev.ifname
    netem = ["netem", "delay", "2ms", "loss", "2%", "duplicate", "1%", "reorder", "25%", "50%"]
    run = st.ns.run_cmd
    run(["tc", "qdisc", "add", "dev", dev, "root", *netem])
    run(["ip", "link", "add", "ifb-synack", "type", "ifb"])
    run(["ip", "link", "set", "ifb-synack", "up"])
    run(["tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"])
    run(["tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "all", "u32", "match",
         "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", "ifb-synack"])
    run(["tc", "qdisc", "add", "dev", "ifb-synack", "root", *netem])
    _bulk_both_ways(st, 8_000_000 if mode == "fast" else 2_000_000)


# ===================================================================== states
def kernel_states(st, port) -> list[str]:
    out = sh(st, f"ss -tanH '( sport = :{port} or dport = :{port} )'")
    return [ln.split()[0] for ln in out.splitlines()]


def test_kernel_closes_first_and_holds_time_wait(make_stack):
    st = make_stack()

    def handler(c):
        assert c.recv(100) == b"bye"
        assert c.recv(100) == b""        # the kernel's FIN
        c.sendall(b"ok")
    result = serve_once(st, 5001, handler)
    k = kernel_socket(st)
    k.connect((S4, 5001))
    k.sendall(b"bye")
    k.shutdown(socket.SHUT_WR)
    assert k.recv(10) == b"ok"
    assert k.recv(10) == b""
    k.close()
    result()
    time.sleep(0.2)
    assert kernel_states(st, 5001) == ["TIME-WAIT"]
    assert not st.ss(states="time-wait"), "synack closed second: no TIME-WAIT on its side"


def test_synack_closes_first_and_holds_time_wait(make_stack):
    st = make_stack()
    lst = kernel_socket(st)
    lst.bind((K4, 6001))
    lst.listen()
    s = st.create_connection((K4, 6001), timeout=10)
    c, _ = lst.accept()
    s.close()                           # synack's FIN first
    assert c.recv(10) == b""
    c.close()
    deadline = time.monotonic() + 5
    while not st.ss(states="time-wait") and time.monotonic() < deadline:
        time.sleep(0.02)
    rows = st.ss(states="time-wait")
    assert len(rows) == 1 and rows[0].peer == (K4, 6001)
    assert "TIME-WAIT" not in kernel_states(st, 6001)
    lst.close()


def test_so_linger_zero_on_synack_resets_the_kernel(make_stack):
    st = make_stack()

    def handler(c):
        assert c.recv(10) == b"hi"
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    result = serve_once(st, 5001, handler)
    k = kernel_socket(st)
    k.settimeout(10)
    k.connect((S4, 5001))
    k.sendall(b"hi")
    result()                            # the handler returned: the socket closed with linger 0
    with pytest.raises(ConnectionResetError):
        while k.recv(10):
            pass
    k.close()
    assert not st.ss(states="time-wait")


def test_connect_to_closed_port_is_refused_both_ways(make_stack):
    st = make_stack()
    k = kernel_socket(st)
    k.settimeout(10)
    with pytest.raises(ConnectionRefusedError):
        k.connect((S4, 5999))
    k.close()
    s = st.socket()
    s.settimeout(10)
    with pytest.raises(ConnectionRefusedError):
        s.connect((K4, 5999))
    s.close()


def test_half_close_kernel_first(make_stack):
    st = make_stack()
    reply = os.urandom(3_000_000)

    def handler(c):
        assert c.recv(100) == b"request"
        assert c.recv(100) == b""       # the kernel half-closed ...
        c.sendall(reply)                # ... and still reads everything we send
    result = serve_once(st, 5001, handler)
    k = kernel_socket(st)
    k.settimeout(20)
    k.connect((S4, 5001))
    k.sendall(b"request")
    k.shutdown(socket.SHUT_WR)
    got = bytearray()
    while d := k.recv(1 << 20):
        got += d
    k.close()
    result()
    assert bytes(got) == reply


def test_half_close_synack_first(make_stack):
    st = make_stack()
    lst = kernel_socket(st)
    lst.bind((K4, 6002))
    lst.listen()
    s = st.create_connection((K4, 6002), timeout=20)
    c, _ = lst.accept()
    s.sendall(b"request")
    s.shutdown(socket.SHUT_WR)          # synack half-closes ...
    assert c.recv(100) == b"request"
    assert c.recv(100) == b""
    data = os.urandom(3_000_000)
    c.sendall(data)                     # ... and still reads what the kernel sends
    c.close()
    got = bytearray()
    while d := s.recv(1 << 20):
        got += d
    s.close()
    lst.close()
    assert bytes(got) == data


def test_backlog_full_makes_the_kernel_retransmit_its_syn(make_stack):
    """With the accept queue full synack drops new SYNs (as Linux does); the kernel
    client retransmits its SYN and gets in once the application accepts."""
    st = make_stack()
    srv = st.create_server(("", 5003), backlog=1)
    first = kernel_socket(st)
    first.connect((S4, 5003))                      # fills the accept queue
    second = kernel_socket(st)
    second.settimeout(20)
    done = {}

    def connect_second():
        t0 = time.monotonic()
        second.connect((S4, 5003))
        done["t"] = time.monotonic() - t0
    th = threading.Thread(target=connect_second)
    th.start()
    time.sleep(1.5)                                # the first SYN retransmission is at 1 s
    assert "t" not in done
    assert "SYN-SENT" in kernel_states(st, 5003)
    assert st.host.stats["listen_drops_accept_full"] >= 2
    a, _ = srv.accept()                            # room again: a retransmitted SYN gets in
    th.join(20)
    assert done["t"] > 1.5
    b, _ = srv.accept()
    for x in (a, b, srv, first, second):
        x.close()


# ===================================================================== clean-up
def test_everything_is_removed_after_an_error(make_stack):
    before = set(list_netns())
    with pytest.raises(RuntimeError):
        with TunStack("fast", netns=unique_name("interop")) as st:
            name = st.netns
            assert name in list_netns()
            raise RuntimeError("boom")
    assert name not in list_netns() and set(list_netns()) <= before | set()


def test_serve_command_runs_and_cleans_up(tmp_path):
    """`synack serve` end to end: services reachable, `synack ss` answers, SIGINT
    ends it, nothing is left."""
    ns = unique_name("cli")
    serve = subprocess.Popen([sys.executable, "-m", "synack.tun.commands", "serve", "--tun", "--netns", ns,
                              "--root", str(tmp_path), "--duration", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = ""
        while "Ctrl-C" not in banner:
            line = serve.stdout.readline()
            assert line, serve.stderr.read()
            banner += line
        assert f"ip netns exec {ns} curl http://{S4}:8080/" in banner
        (tmp_path / "hello.txt").write_text("hello over synack\n")
        out = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sS", f"http://{S4}:8080/files/hello.txt"],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout == "hello over synack\n", out.stderr
        ss = subprocess.run([sys.executable, "-m", "synack.tun.commands", "ss", "--netns", ns],
                            capture_output=True, text=True, timeout=30)
        assert ss.returncode == 0 and "LISTEN" in ss.stdout and "0.0.0.0:8080" in ss.stdout
        serve.send_signal(2)                        # Ctrl-C
        assert serve.wait(30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert ns not in list_netns()


def test_connect_command_upload_and_download():
    ns = unique_name("cli")
    for what in ("download", "upload", "echo"):
        r = subprocess.run([sys.executable, "-m", "synack.tun.commands", "connect", "--tun", what,
                            "--netns", ns, "--size", "20MB", "--hash"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "MB/s" in r.stdout and "DIFFERS" not in r.stdout
    assert ns not in list_netns()
