"""Recording real-time stacks to pcap (`open_capture`, `--pcap`): frames both ways,
checksums filled in even in the TUN's offload (fast) mode, and explainable.

The TUN driver is given the fake device of tests/test_tun_stack.py (a
SOCK_SEQPACKET pair; the test plays the kernel); the real-time stack runs on the
in-memory wire."""
from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from synack.api.stack import RealtimeStack
from synack.capture import analyse
from synack.pcap import read_pcap
from synack.engine.segment import ACK, FIN, Options, Segment
from synack.tun.driver import TunStack
from synack.wire import decode_ip

from test_tun_stack import K4, K6, S4, S6, FakeTun, handshake, pump

_TUN_N = itertools.count(1)


@pytest.fixture(params=["fast", "plain"])
def fake(request):
    dev = FakeTun(vnet_hdr=request.param == "fast")
    st = TunStack(device=dev, start=False, malloc_tuning=False)
    yield dev, st
    st.close()


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_tun_frames_both_ways_with_checksums(fake, tmp_path, v6):
    dev, st = fake
    src, dst = (K6, S6) if v6 else (K4, S4)
    path = tmp_path / "tun.pcap"
    rec = st.open_capture(path)
    conn, synack = handshake(dev, st, src=src, dst=dst)
    with st.op() as now:
        conn.send(now, b"hello" * 1000)
        conn.close(now)
    frames = dev.take()
    data = [seg for _, _, _, seg in frames]
    assert sum(len(s.payload) for s in data) == 5000 and data[-1].flags & FIN
    fin = data[-1]
    dev.inject(src, dst, Segment(40000, 80, 5001, (fin.seq + len(fin.payload) + 1) & 0xFFFFFFFF, FIN | ACK, 512, 0,
                                 Options(timestamp=(1002, fin.options.timestamp[0]))))
    pump(st)
    dev.take()
    st.close_capture()
    assert rec.frames_in == 3 and rec.frames_out == len(frames) + 2
    recs = read_pcap(path)
    assert len(recs) == rec.count == rec.frames_in + rec.frames_out
    for _, pkt in recs:
        decode_ip(pkt, verify_checksum=True)          # raises on a bad checksum
    conns, stats = analyse(path)
    assert stats.tcp == len(recs) and len(conns) == 1
    c = conns[0]
    assert [(to) for _, ep, _, to, _ in c.transitions if ep == c.b.ep] == [
        "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "TIME_WAIT"]
    assert c.b.bytes == 5000


def test_no_capture_is_the_default(fake):
    dev, st = fake
    assert st.pcap is None
    handshake(dev, st)


def test_realtime_stack_records_a_lifecycle(tmp_path):
    path = tmp_path / "rt.pcap"
    a, b = RealtimeStack.pair()
    try:
        a.open_capture(path)
        srv = b.create_server(("10.0.0.2", 8080))
        cli = a.create_connection(("10.0.0.2", 8080), timeout=10)
        s, _ = srv.accept()
        cli.sendall(b"ping")
        assert s.recv(10) == b"ping"
        s.sendall(b"pong")
        assert cli.recv(10) == b"pong"
        cli.close()
        assert s.recv(10) == b""
        s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conns, _ = analyse(path)
            if conns and conns[0].b.shown() == "CLOSED":
                break
            time.sleep(0.05)
    finally:
        a.close()
        b.close()
    assert a.pcap is None
    for _, pkt in read_pcap(path):
        decode_ip(pkt, verify_checksum=True)
    c = analyse(path)[0][0]
    assert (c.a.shown(), c.b.shown()) == ("TIME_WAIT", "CLOSED")
    assert c.a.bytes == 4 and c.b.bytes == 4


def test_pcap_option_unwritable_is_one_line(tmp_path):
    from synack.tun.commands import _open_stack
    from synack.tun.device import KERNEL_V4, LOCAL_V4
    args = argparse.Namespace(no_ipv6=True, mode="plain", profile="linux",
                              kernel_v4=KERNEL_V4, local_v4=LOCAL_V4,
                              pcap=str(tmp_path / "no" / "such" / "dir" / "x.pcap"))
    with pytest.raises(SystemExit) as e:
        _open_stack(args)
    msg = str(e.value)
    assert msg.startswith("synack: ") and "cannot write --pcap" in msg and "\n" not in msg


@pytest.mark.netns
@pytest.mark.parametrize("mode", ["fast", "plain"])
def test_real_tun_session_recorded_with_good_checksums(tmp_path, mode):
    """synack on a real TUN (its own namespace sx-cap-tun-<pid>-<n>, removed on close)
    serves an echo to a kernel client sending 2 MB; the capture has every frame both
    ways, tshark finds every TCP checksum good (the offloaded ones included), and
    `synack explain` gives the connection's states."""
    if os.geteuid() != 0 or shutil.which("tshark") is None:
        pytest.fail("needs root (a TUN in a namespace) and tshark; deselect with -m 'not netns'",
                    pytrace=False)
    ns = f"sx-cap-tun-{os.getpid()}-{next(_TUN_N)}"
    path = tmp_path / "real.pcap"
    with TunStack(mode, netns=ns) as st:
        st.open_capture(path)
        srv = st.create_server(("", 7007))

        def echo():
            c, _ = srv.accept()
            while True:
                d = c.recv(1 << 20)
                if not d:
                    break
                c.sendall(d)
            c.close()
        th = threading.Thread(target=echo, daemon=True)
        th.start()
        code = ("import socket, threading\n"
                "s = socket.create_connection(('192.0.2.2', 7007))\n"
                "n = 2_000_000; got = [0]\n"
                "def rd():\n"
                "    while True:\n"
                "        d = s.recv(1 << 20)\n"
                "        if not d: break\n"
                "        got[0] += len(d)\n"
                "t = threading.Thread(target=rd); t.start()\n"
                "s.sendall(b'e' * n); s.shutdown(socket.SHUT_WR); t.join(); s.close()\n"
                "print(got[0])\n")
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and r.stdout.strip() == "2000000", r.stderr
        th.join(30)
        # The server closes last (LAST-ACK): wait for the kernel's final ACK to
        # take its connection out of the table, so the capture has it too.
        deadline = time.monotonic() + 30
        while (any(k[1] == 7007 for k in list(st.host.conns))
               and time.monotonic() < deadline):
            time.sleep(0.05)
    assert not os.path.exists(f"/run/netns/{ns}"), "namespace left behind"
    statuses = subprocess.run(["tshark", "-r", str(path), "-o", "tcp.check_checksum:TRUE",
                               "-o", "ip.check_checksum:TRUE", "-Y", "tcp", "-T", "fields",
                               "-e", "tcp.checksum.status", "-e", "ip.checksum.status"],
                              capture_output=True, text=True, timeout=60).stdout.split("\n")
    statuses = [s for s in statuses if s.strip()]
    assert statuses and all(s.split("\t")[0] == "1" for s in statuses), set(statuses)
    conns, stats = analyse(path)
    assert stats.tcp == len(statuses)
    c = next(c for c in conns if c.b.ep == "192.0.2.2:7007")
    assert c.a.bytes == c.b.bytes == 2_000_000
    assert c.ended.startswith("closed: FIN both ways")
    assert [to for _, ep, _, to, _ in c.transitions if ep == c.b.ep][:2] == [
        "SYN_RECEIVED", "ESTABLISHED"]
