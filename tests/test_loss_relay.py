"""The loss relay of bench/loss_grid_bench.py (issue 17, item 5).

`synack.tun.relay.Relay` forwards IP packets between two descriptors and drops
them with `synack.tun.faults.Impairment`. Its forwarding and drop logic runs
here on SOCK_SEQPACKET socket pairs (no root). One `netns` test runs the real
bench path (two namespaces, TUN devices, the relay process) for a small
transfer at 0% and 10% loss, kernel -> kernel and kernel -> synack, and checks
that every byte arrives.
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import random
import socket
import threading
import types

import pytest

from synack.tun.faults import Impairment
from synack.tun.netns import list_netns
from synack.tun.relay import Relay

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench" / "loss_grid_bench.py"


def _pair(buf: int = 1 << 20):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buf)
        s.setblocking(False)
    return a, b


def _drain(s: socket.socket) -> list[bytes]:
    out = []
    try:
        while True:
            out.append(s.recv(70000))
    except BlockingIOError:
        return out


@pytest.fixture
def wires():
    """kernel_a <-> relay.fd_a ... relay.fd_b <-> peer_b"""
    kernel_a, relay_a = _pair()
    relay_b, peer_b = _pair()
    yield types.SimpleNamespace(a=kernel_a, b=peer_b, fd_a=relay_a.fileno(), fd_b=relay_b.fileno())
    for s in (kernel_a, relay_a, relay_b, peer_b):
        s.close()


def _packets(n: int, tag: bytes) -> list[bytes]:
    return [tag + i.to_bytes(4, "big") + bytes(i % 200) for i in range(n)]


def test_without_loss_every_packet_goes_through_both_ways_in_order(wires):
    relay = Relay(wires.fd_a, wires.fd_b, Impairment(seed=1))
    fwd, back = _packets(60, b"A"), _packets(40, b"B")
    for p in fwd:
        wires.a.send(p)
    for p in back:
        wires.b.send(p)
    while relay.pump(0.0):
        pass
    assert _drain(wires.b) == fwd
    assert _drain(wires.a) == back
    assert relay.stats["a_to_b_sent"] == 60 and relay.stats["b_to_a_sent"] == 40
    assert not relay.impair.stats["out_lost"] and not relay.impair.stats["in_lost"]


def test_total_loss_forwards_nothing_and_counts_every_drop(wires):
    relay = Relay(wires.fd_a, wires.fd_b, Impairment(loss=1.0, seed=1))
    for p in _packets(30, b"A"):
        wires.a.send(p)
    for p in _packets(20, b"B"):
        wires.b.send(p)
    while relay.pump(0.0):
        pass
    assert _drain(wires.a) == [] and _drain(wires.b) == []
    assert relay.impair.stats["out_lost"] == 30 and relay.impair.stats["in_lost"] == 20


def test_seeded_loss_drops_exactly_the_packets_the_seed_picks(wires):
    """Each packet is dropped when the seeded generator's next draw is below
    the loss probability (netem's model, `Impairment`): a second relay with the
    same seed drops the same ones, and the survivors keep their order."""
    loss, seed, n = 0.2, 7, 500
    sent = _packets(n, b"A")
    rnd = random.Random(seed)
    expected = [p for p in sent if not rnd.random() < loss]
    relay = Relay(wires.fd_a, wires.fd_b, Impairment(loss=loss, seed=seed))
    for p in sent:
        wires.a.send(p)
    got = []
    while relay.pump(0.0):
        got += _drain(wires.b)
    got += _drain(wires.b)
    assert got == expected
    assert relay.impair.stats["out_lost"] == n - len(expected)
    assert 0 < n - len(expected) < n                 # some lost, not all
    rnd2 = random.Random(seed + 1)
    assert [p for p in sent if not rnd2.random() < loss] != expected   # the seed matters


def test_delayed_packets_wait_for_their_time(wires):
    relay = Relay(wires.fd_a, wires.fd_b, Impairment(delay=0.5, seed=1))
    wires.a.send(b"late")
    relay.pump(10.0)
    assert _drain(wires.b) == []
    assert relay.impair.next_release() == pytest.approx(10.5)
    relay.pump(10.4)
    assert _drain(wires.b) == []
    relay.pump(10.5)
    assert _drain(wires.b) == [b"late"]


def test_a_full_side_drops_and_counts_instead_of_blocking():
    a, relay_a = _pair()
    relay_b, b = _pair(buf=4096)                      # nobody reads b
    try:
        relay = Relay(relay_a.fileno(), relay_b.fileno(), Impairment(seed=1))
        for p in _packets(200, b"A"):
            a.send(p)
        while relay.pump(0.0):
            pass
        st = relay.stats
        assert st["a_to_b_full"] > 0
        assert st["a_to_b_sent"] + st["a_to_b_full"] == 200
        assert len(_drain(b)) == st["a_to_b_sent"]
    finally:
        for s in (a, relay_a, relay_b, b):
            s.close()


def test_run_forwards_until_the_stop_descriptor_closes(wires):
    relay = Relay(wires.fd_a, wires.fd_b, Impairment(seed=1))
    r, w = os.pipe()
    th = threading.Thread(target=relay.run, kwargs={"stop_fd": r}, daemon=True)
    th.start()
    try:
        wires.a.setblocking(True)
        wires.b.settimeout(30)
        wires.a.send(b"ping")
        assert wires.b.recv(100) == b"ping"
    finally:
        os.close(w)
        th.join(30)
        os.close(r)
    assert not th.is_alive()


@pytest.mark.netns
def test_small_transfers_arrive_whole_through_the_relay():
    """The bench's real path: 200 kB kernel -> kernel and kernel -> synack (both
    profiles) at 0% and 10% loss; `_transfer` checks the octets byte for byte
    and the loss counters show the relay dropped packets at 10%."""
    if os.geteuid() != 0:
        pytest.fail("needs root (namespaces, TUN devices); deselect with -m 'not netns'",
                    pytrace=False)
    spec = importlib.util.spec_from_file_location("loss_grid_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = types.SimpleNamespace(size=200_000, cap=60.0, delay=0.0)
    pid = os.getpid()
    try:
        with bench.Grid(args) as grid:
            for loss in (0.0, 0.10):
                for peer in bench.PEERS:
                    secs, stats = grid.run(peer, loss, seed=3)
                    assert secs is not None, f"{peer} at {loss:.0%}: not done in 60 s"
                    lost = stats.get("out_lost", 0) + stats.get("in_lost", 0)
                    assert stats, f"{peer} at {loss:.0%}: the relay reported no counters"
                    if loss:
                        assert lost > 0, f"{peer} at 10%: the relay dropped nothing"
                    else:
                        assert lost == 0
    finally:
        assert not [n for n in list_netns() if n in (f"lg-a-{pid}", f"lg-b-{pid}")]


@pytest.mark.parametrize("argv, word", [
    (["--losses", "0.1,2"], "--losses"),
    (["--losses", "ten"], "--losses"),
    (["--peers", "bsd"], "--peers"),
    (["--runs", "0"], "--runs"),
    (["--delay", "-1"], "--delay"),
    (["--size", "0"], "--size"),
    (["--kernel-cc", "no-such-cc"], "--kernel-cc"),
])
def test_bench_refuses_bad_arguments_in_one_line(argv, word):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, str(BENCH), *argv], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synack: error:") and word in lines[0], p.stderr
    assert "Traceback" not in p.stderr and not p.stdout
