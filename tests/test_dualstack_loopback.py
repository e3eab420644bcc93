"""All of 127.0.0.0/8 is loopback, and an AF_INET6 socket on "::" is dual
stack, on every synack stack, checked against the kernel (issue 12).

* RFC 1122 §3.2.1.3 (g): every address {127, <any>} is the host's own
  loopback; Linux's local route covers the whole /8 with source 127.0.0.1.
* RFC 4291 §2.5.5.2 and RFC 3493 §3.7/§5.3: an AF_INET6 socket bound to the
  unspecified address takes IPv4 peers too, shown IPv4-mapped, unless
  IPV6_V6ONLY (Linux's default net.ipv6.bindv6only = 0).

The cases of tests/edgecases.py run once with CPython's `socket` on the
kernel, in a fresh network namespace with only `lo` up (``unshare -n``), and
once with `synack.api.socket` on the simulated, the real-time and the TUN
stack; results must be equal. Then, over the TUN, kernel clients of both
families reach `TunStack.create_server(("", port))`, and a kernel dual-stack
socket reached the same way sees the same peer addresses.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import edgecases  # noqa: E402

import synack.api  # noqa: E402
from synack.api import RealtimeStack, SimStack, socket as ssock  # noqa: E402
from synack.sim import Network  # noqa: E402

NS = f"e2-dual-{os.getpid()}"


def _need_root():
    if os.geteuid() != 0:
        pytest.fail("needs root: it makes its own network namespace (deselect with "
                    "-m 'not netns')", pytrace=False)


@pytest.fixture(scope="module")
def kernel():
    _need_root()
    r = subprocess.run(["unshare", "-n", "sh", "-c",
                        f"ip link set lo up && exec {sys.executable} {HERE / 'edgecases.py'}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def tun():
    _need_root()
    from synack.tun.driver import TunStack
    st = TunStack("plain", netns=NS, ifname="e2dual0", kernel_v4="10.77.0.1/24",
                  local_v4="10.77.0.2", kernel_v6="fd00:77::1/64", local_v6="fd00:77::2")
    try:
        yield st
    finally:
        st.close()
        if NS in _netns_list():
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
            pytest.fail(f"namespace {NS} left behind")


def _mine(stack) -> dict:
    with synack.api.using(stack):
        return json.loads(json.dumps(edgecases.run_all(ssock)))


def _compare(kernel: dict, mine: dict) -> None:
    diff = {n: (kernel[n], mine.get(n)) for n in kernel if kernel[n] != mine.get(n)}
    assert not diff, "\n".join(f"{n}: kernel {k} synack {m}" for n, (k, m) in diff.items())


def test_enough_cases():
    assert len(edgecases.CASES) >= 20


@pytest.mark.netns
def test_simulated_stack_agrees_with_the_kernel(kernel):
    assert set(kernel) == set(edgecases.CASES)
    _compare(kernel, _mine(SimStack(Network(seed=3), "10.0.0.1")))


@pytest.mark.netns
def test_realtime_stack_agrees_with_the_kernel(kernel):
    a, b = RealtimeStack.pair()
    try:
        _compare(kernel, _mine(a))
    finally:
        a.close()
        b.close()


@pytest.mark.netns
def test_tun_stack_agrees_with_the_kernel(kernel, tun):
    def kernel_rx() -> int:          # frames synack wrote to the TUN, as the kernel counts them
        out = subprocess.run(["ip", "netns", "exec", NS, "cat",
                              "/sys/class/net/e2dual0/statistics/rx_packets"],
                             capture_output=True, text=True, check=True).stdout
        return int(out)
    before = kernel_rx()
    _compare(kernel, _mine(tun))
    assert kernel_rx() == before, "loopback segments went out on the TUN"


# ------------------------------------------------- without a kernel to compare
def test_a_new_127_address_joins_the_host_once_used():
    st = SimStack(Network(seed=1), "10.0.0.1")
    assert "127.3.4.5" not in st.addresses
    s = st.socket()
    s.bind(("127.3.4.5", 0))
    assert "127.3.4.5" in st.addresses
    assert st.address() == "10.0.0.1"          # still the first address that is not loopback
    s.close()


def test_foreign_addresses_are_still_not_ours():
    st = SimStack(Network(seed=1), "10.0.0.1")
    s = st.socket()
    with pytest.raises(OSError) as e:
        s.bind(("10.0.0.9", 0))
    assert e.value.errno == 99                 # EADDRNOTAVAIL
    with pytest.raises(OSError) as e:
        s.bind(("127.0.0.1.5", 0))
    s.close()


def test_stack_create_server_empty_host_takes_both_families_on_the_simulator():
    net = Network(seed=2)
    a = SimStack(net, ("10.0.0.1", "fd00::1"))
    b = SimStack(net, ("10.0.0.2", "fd00::2"))
    net.link(a.sim, b.sim, delay=0.01)
    srv = b.create_server(("", 8080))
    assert srv.family == ssock.AF_INET6 and srv.getsockopt(ssock.IPPROTO_IPV6, ssock.IPV6_V6ONLY) == 0
    peers = []
    for target in ("10.0.0.2", "fd00::2"):
        c = a.create_connection((target, 8080), timeout=5)
        conn, peer = srv.accept()
        c.sendall(b"x")
        assert conn.recv(1) == b"x"
        peers.append(peer[0])
        conn.close()
        c.close()
    assert peers == ["::ffff:10.0.0.1", "fd00::1"]
    srv.close()
    # an explicit family keeps CPython's meaning: IPv4 only
    srv4 = b.create_server(("", 8081), family=ssock.AF_INET)
    assert srv4.family == ssock.AF_INET
    c = a.socket(ssock.AF_INET6)
    c.settimeout(5)
    with pytest.raises(ConnectionRefusedError):
        c.connect(("fd00::2", 8081))
    c.close()
    srv4.close()


def test_asyncio_start_server_without_host_has_a_socket_per_family():
    net = Network(seed=2)
    a = SimStack(net, ("10.0.0.1", "fd00::1"))
    b = SimStack(net, ("10.0.0.2", "fd00::2"))
    net.link(a.sim, b.sim, delay=0.01)
    from synack.api import streams

    async def handle(reader, writer):
        writer.write(str(writer.get_extra_info("peername")[0]).encode())
        await writer.drain()
        writer.close()

    async def main():
        server = await streams.start_server(handle, None, 9000, stack=b)
        fams = sorted(int(s.family) for s in server.sockets)
        got = []
        for target in ("10.0.0.2", "fd00::2"):
            r, w = await streams.open_connection(target, 9000, stack=a)
            got.append((await r.read()).decode())
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()
        return fams, got

    fams, got = streams.run_on(a, main())
    # asyncio: one socket per family, the IPv6 one IPv6-only, so IPv4 peers
    # appear as plain IPv4 addresses
    assert fams == sorted([int(ssock.AF_INET), int(ssock.AF_INET6)])
    assert got == ["10.0.0.1", "fd00::1"]


# ------------------------------------------------------------ over the TUN
def _kernel_client(target: str, port: int) -> str:
    code = ("import socket,sys; c=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10);"
            "print(c.getsockname()[0]); c.sendall(b'hi'); c.recv(10); c.close()")
    return subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", code, target, str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.netns
def test_tun_create_server_empty_host_answers_kernel_clients_of_both_families(tun):
    srv = tun.create_server(("", 8080))
    srv.settimeout(10)
    try:
        seen = []
        for target in (tun.local_v4, tun.local_v6):
            p = _kernel_client(target, 8080)
            try:
                conn, peer = srv.accept()
                with conn:
                    conn.settimeout(10)
                    assert conn.recv(2) == b"hi"
                    conn.sendall(b"ok")
                    seen.append((peer[0], conn.getsockname()[0]))
            finally:
                out, err = p.communicate(timeout=20)
            assert p.returncode == 0, err
    finally:
        srv.close()
    # what a kernel dual-stack socket on "::" shows for the same two clients
    assert seen == [(f"::ffff:{tun.kernel_v4}", f"::ffff:{tun.local_v4}"),
                    (tun.kernel_v6, tun.local_v6)]


@pytest.mark.netns
def test_kernel_dual_stack_socket_shows_the_same_mapped_addresses(tun):
    """The reference for the test above: the kernel's own dual-stack listener,
    reached by kernel clients of both families inside the namespace."""
    code = r"""
import socket
s = socket.create_server(("", 8090), family=socket.AF_INET6, dualstack_ipv6=True)
out = []
for target in ("%s", "%s"):
    c = socket.create_connection((target, 8090), timeout=5)
    a, peer = s.accept()
    out.append((peer[0], a.getsockname()[0]))
    a.close(); c.close()
print(out)
""" % (tun.kernel_v4, tun.kernel_v6)
    r = subprocess.run(["ip", "netns", "exec", NS, sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == repr([(f"::ffff:{tun.kernel_v4}", f"::ffff:{tun.kernel_v4}"),
                                     (tun.kernel_v6, tun.kernel_v6)])


def test_ss_shows_a_dual_stack_socket_once():
    net = Network(seed=2)
    a = SimStack(net, ("10.0.0.1", "fd00::1"))
    b = SimStack(net, ("10.0.0.2", "fd00::2"))
    net.link(a.sim, b.sim, delay=0.01)
    srv = b.create_server(("", 8080))
    c = a.create_connection(("10.0.0.2", 8080), timeout=5)     # IPv4, waiting in the queue
    b.run_for(1.0)                                              # its final ACK has arrived
    listening = [r for r in b.ss() if r.state == "LISTEN"]
    assert [(r.local_text, r.recv_q) for r in listening] == [("[::]:8080", 1)]
    c.close()
    srv.close()
    assert not [r for r in b.ss() if r.state == "LISTEN"]
