"""Loopback on every stack (issue 12): 127.0.0.1, ::1 and "localhost", as on a
real host (RFC 1122 §3.2.1.3 (g); RFC 4291 §2.5.3), on the simulated stack,
the real-time stack and the TUN stack. The tutorial code, with one import
changed, works: `start_server(handle, "127.0.0.1", 8888)` and a client
connecting to 127.0.0.1.
"""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from synack.api import RealtimeStack, SimStack, socket, streams
from synack.sim import Network


def _echo_once(st, family, bind_ip, connect_to, port=8888):
    srv = st.socket(family)
    srv.bind((bind_ip, port))
    srv.listen()
    c = st.socket(family)
    c.settimeout(10)
    c.connect((connect_to, port))
    s, peer = srv.accept()
    c.sendall(b"hello")
    data = s.recv(100)
    s.sendall(data.upper())
    got = c.recv(100)
    out = (peer[0], c.getsockname()[0], c.getpeername()[0], got)
    for x in (c, s, srv):
        x.close()
    return out


@pytest.mark.parametrize("family,bind_ip,connect_to,addr", [
    (socket.AF_INET, "127.0.0.1", "127.0.0.1", "127.0.0.1"),
    (socket.AF_INET, "", "127.0.0.1", "127.0.0.1"),
    (socket.AF_INET, "127.0.0.1", "localhost", "127.0.0.1"),
    (socket.AF_INET6, "::1", "::1", "::1"),
    (socket.AF_INET6, "", "localhost", "::1"),
])
def test_sim_socket_loopback(family, bind_ip, connect_to, addr):
    st = SimStack(Network(seed=1), "10.0.0.1")
    peer, local, remote, got = _echo_once(st, family, bind_ip, connect_to)
    assert got == b"HELLO"
    assert peer == local == remote == addr           # from 127.0.0.1 to 127.0.0.1, as Linux


def test_sim_loopback_is_in_the_trace_and_not_on_a_link():
    net = Network(seed=1)
    st = SimStack(net, "10.0.0.1")
    _echo_once(st, socket.AF_INET, "127.0.0.1", "127.0.0.1")
    segs = [r for r in net.trace.to_dicts() if r["type"] == "segment"]
    assert segs and all(r["src"].startswith("127.0.0.1:") and r["dst"].startswith("127.0.0.1:")
                        for r in segs)
    assert not [r for r in segs if r["event"] == "drop"]


def test_the_tutorial_asyncio_server_on_127_0_0_1():
    st = SimStack(Network(seed=1), "10.0.0.1")

    async def handle(reader, writer):
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await streams.start_server(handle, "127.0.0.1", 8888, stack=st)
        async with server:
            reader, writer = await streams.open_connection("127.0.0.1", 8888, stack=st)
            writer.write(b"hello\n")
            answer = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return answer

    assert streams.run(main(), stack=st) == b"HELLO\n"


def test_a_closed_loopback_port_is_refused_not_silent():
    st = SimStack(Network(seed=1), "10.0.0.1")
    c = st.socket()
    c.settimeout(5)
    with pytest.raises(ConnectionRefusedError):
        c.connect(("127.0.0.1", 1))


def test_realtime_stack_loopback():
    a, b = RealtimeStack.pair()
    try:
        peer, local, remote, got = _echo_once(a, socket.AF_INET, "127.0.0.1", "127.0.0.1")
        assert got == b"HELLO" and peer == "127.0.0.1"
        # each stack's loopback is its own: b has none of a's sockets
        c = b.socket()
        c.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            c.connect(("127.0.0.1", 8888))
        c.close()
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------- TUN
NS = f"sx-edge-lo-{os.getpid()}"


def _netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


@pytest.fixture
def tun_stack():
    if os.geteuid() != 0:
        pytest.fail("needs root (it makes its own network namespace); deselect with "
                    "-m 'not netns'", pytrace=False)
    from synack.tun.driver import TunStack
    st = TunStack("plain", netns=NS, ifname="sxlo0", kernel_v4="10.78.0.1/24",
                  local_v4="10.78.0.2", kernel_v6="fd00:78::1/64", local_v6="fd00:78::2")
    try:
        yield st
    finally:
        st.close()
        if NS in _netns_list():
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
            pytest.fail(f"namespace {NS} left behind")


@pytest.mark.netns
def test_tun_stack_loopback_stays_inside(tun_stack):
    st = tun_stack

    def kernel_rx() -> int:          # frames synack wrote to the TUN, as the kernel counts them
        out = subprocess.run(["ip", "netns", "exec", NS, "cat",
                              "/sys/class/net/sxlo0/statistics/rx_packets"],
                             capture_output=True, text=True, check=True).stdout
        return int(out)
    before = kernel_rx()
    peer, local, remote, got = _echo_once(st, socket.AF_INET, "127.0.0.1", "127.0.0.1")
    assert got == b"HELLO" and peer == local == "127.0.0.1"
    peer6, _, _, got6 = _echo_once(st, socket.AF_INET6, "::1", "localhost", port=8889)
    assert got6 == b"HELLO" and peer6 == "::1"
    assert kernel_rx() == before, "loopback segments went out on the TUN"
