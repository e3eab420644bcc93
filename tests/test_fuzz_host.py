"""Bad input never crashes the stack (RFC 9293 MUST-7, the brief's standard).

Random bytes, mutated valid packets and random-but-well-formed segments are
thrown at a host holding a connection in each state. Nothing may raise, bad
packets must be counted drops, and each connection's invariants must hold.
"""
from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synack.engine.config import rfc_profile
from synack.engine.segment import ACK, FIN, PSH, RST, SYN, URG, Options, Segment
from synack.engine.seq import HALF, MASK
from synack.sim import Network
from synack.engine.states import CLOSED, State
from synack.wire import encode_ip

STATES_TO_REACH = ["SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2",
                   "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "LISTEN"]


def reach(state_name: str, seed: int = 0):
    """A client/server pair on the simulator, stopped with the client (or the
    server, for server-side states) in `state_name`. Returns (net, host, conn)."""
    net = Network(seed=seed)
    cfg = rfc_profile().replace(delayed_ack=False)
    c = net.add_host("10.0.0.1", config=cfg)
    s = net.add_host("10.0.0.2", config=cfg)
    net.link(c, s, delay=0.01)
    lst = s.listen(80)
    if state_name == "LISTEN":
        return net, s.host, None
    if state_name == "SYN_SENT":
        net.drop(lambda p: p.seg.flags & SYN, count=None)
        conn = c.connect("10.0.0.2", 80)
        return net, c.host, conn.conn
    if state_name == "SYN_RECEIVED":
        net.drop(lambda p: p.seg.flags == SYN | ACK, count=None)
        c.connect("10.0.0.2", 80)
        net.run(until=0.05)
        return net, s.host, next(iter(lst.listener.syn_queue.values()))
    conn = c.connect("10.0.0.2", 80)
    net.run(until=0.1)
    srv = lst.accept()
    conn.send(b"x" * 3000)
    srv.send(b"y" * 2000)
    net.run(until=0.5)
    conn.recv()
    srv.recv()
    if state_name == "ESTABLISHED":
        return net, c.host, conn.conn
    if state_name == "CLOSE_WAIT":
        conn.shutdown("wr")
        net.run(until=1.0)
        return net, s.host, srv.conn
    if state_name == "LAST_ACK":
        conn.shutdown("wr")
        net.run(until=1.0)
        net.drop(lambda p: p.src == "10.0.0.1", count=None)
        srv.close()
        net.run(until=1.05)
        return net, s.host, srv.conn
    net.drop(lambda p: p.src == "10.0.0.2", count=None)      # the server goes silent
    conn.close()
    if state_name == "FIN_WAIT_1":
        return net, c.host, conn.conn
    net.faults.clear()
    net.run(until=1.0)
    if state_name == "FIN_WAIT_2":
        return net, c.host, conn.conn
    srv.close()
    net.run(until=1.2)
    assert state_name == "TIME_WAIT"
    return net, c.host, conn.conn


def check_invariants(host):
    for obj in list(host.conns.values()):
        if not hasattr(obj, "sndq"):
            continue                                   # a TIME-WAIT entry
        assert isinstance(obj.state, State)
        flight = (obj.snd_nxt - obj.snd_una) & MASK
        assert flight < HALF, "SND.UNA passed SND.NXT"
        assert len(obj.rcvq) + obj.ooo_bytes <= obj.rcvbuf + 65535
        assert obj.state is not CLOSED
        for s, d in obj.ooo:
            assert 0 < ((s - obj.rcv_nxt) & MASK) < HALF, "out-of-order block not ahead of RCV.NXT"


@pytest.mark.parametrize("state_name", STATES_TO_REACH)
def test_random_bytes_are_counted_drops(state_name):
    net, host, conn = reach(state_name)
    if conn is not None:
        assert conn.state.name == state_name or state_name == "TIME_WAIT"
    rnd = random.Random(state_name)
    drops_before = sum(v for k, v in host.stats.items() if k.startswith("drop_"))
    for _ in range(300):
        host.receive_packet(net.now, rnd.randbytes(rnd.randrange(0, 120)))
    drops = sum(v for k, v in host.stats.items() if k.startswith("drop_")) - drops_before
    assert drops == 300
    check_invariants(host)


@pytest.mark.parametrize("state_name", STATES_TO_REACH)
def test_mutated_packets_never_raise(state_name):
    net, host, conn = reach(state_name)
    rnd = random.Random(1000 + len(state_name))
    lip = "10.0.0.1" if host.name == "10.0.0.1" else "10.0.0.2"
    rip = "10.0.0.2" if lip == "10.0.0.1" else "10.0.0.1"
    lport = conn.local_port if conn is not None else 80
    rport = conn.remote_port if conn is not None else 40000
    base_seq = conn.rcv_nxt if conn is not None else 1000
    base_ack = conn.snd_nxt if conn is not None else 0
    for i in range(400):
        seg = Segment(rport, lport, (base_seq + rnd.randrange(-3000, 3000)) & MASK,
                      (base_ack + rnd.randrange(-3000, 3000)) & MASK,
                      rnd.randrange(256), rnd.randrange(65536), rnd.randrange(65536),
                      Options(mss=rnd.choice([None, 536, 1460]),
                              timestamp=rnd.choice([None, (rnd.randrange(2**32), rnd.randrange(2**32))])),
                      rnd.randbytes(rnd.choice([0, 1, 100, 1460])))
        pkt = bytearray(encode_ip(rip, lip, seg))
        for _ in range(rnd.randrange(0, 3)):          # and sometimes flip bits
            pkt[rnd.randrange(len(pkt))] ^= 1 << rnd.randrange(8)
        host.receive_packet(net.now + i * 0.001, bytes(pkt))
        host.poll(net.now + i * 0.001)
        host.take_outbox()
        check_invariants(host)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(state_name=st.sampled_from(STATES_TO_REACH),
       segs=st.lists(st.tuples(st.integers(-70000, 70000), st.integers(-70000, 70000),
                               st.sampled_from([0, ACK, SYN, SYN | ACK, FIN | ACK, RST, RST | ACK,
                                                PSH | ACK, URG | ACK, FIN, FIN | PSH | ACK]),
                               st.integers(0, 65535), st.integers(0, 3000)), max_size=25))
def test_well_formed_random_segments_keep_invariants(state_name, segs):
    net, host, conn = reach(state_name)
    lport = conn.local_port if conn is not None else 80
    rport = conn.remote_port if conn is not None else 40000
    rip = conn.remote_ip if conn is not None else "10.0.0.1"
    lip = conn.local_ip if conn is not None else "10.0.0.2"
    base_seq = conn.rcv_nxt if conn is not None else 5000
    base_ack = conn.snd_nxt if conn is not None else 0
    t = net.now
    for dseq, dack, flags, win, n in segs:
        t += 0.05
        host.receive(t, rip, lip, Segment(rport, lport, (base_seq + dseq) & MASK,
                                          (base_ack + dack) & MASK, flags, win, 0,
                                          Options(), bytes(n)))
        host.poll(t)
        host.take_outbox()
        check_invariants(host)


# The receive path in every state, through the wire decoder, with options.
# Bounded by examples (never by time): 9 states x FUZZ_EXAMPLES, each a
# fresh simulated pair and a sequence of up to 30 packets, so a run is
# repeatable in length on any machine.
FUZZ_EXAMPLES = int(os.environ.get("SYNACK_FUZZ_EXAMPLES", "40"))   # more for a longer hunt

_FLAGS = st.integers(0, 0xFF)
_TS = st.one_of(st.none(), st.tuples(st.integers(0, MASK), st.integers(0, MASK)))
_SACK = st.lists(st.tuples(st.integers(-70000, 70000), st.integers(-70000, 70000)), max_size=4)


@pytest.mark.parametrize("state_name", STATES_TO_REACH)
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_receive_path_fuzz_every_state(state_name, data):
    """Random packets with random flags, sequence and acknowledgement numbers
    near the connection's, windows, timestamps, SACK blocks, MSS and window
    scale options and payloads, through `Host.receive_packet` (decode,
    checksum, demultiplex, the state's processing), sometimes with flipped
    bits: nothing raises, every reply encodes, a RST is never answered with
    a RST (RFC 9293 §3.10.7), and the invariants hold after every packet."""
    net, host, conn = reach(state_name)
    lport = conn.local_port if conn is not None else 80
    rport = conn.remote_port if conn is not None else 40000
    rip = conn.remote_ip if conn is not None else "10.0.0.1"
    lip = conn.local_ip if conn is not None else "10.0.0.2"
    base_seq = conn.rcv_nxt if conn is not None else 5000
    base_ack = conn.snd_nxt if conn is not None else 0
    t = net.now
    n = data.draw(st.integers(1, 30), label="packets")
    for _ in range(n):
        dseq = data.draw(st.integers(-70000, 70000))
        dack = data.draw(st.integers(-70000, 70000))
        flags = data.draw(_FLAGS)
        sack = tuple(((base_seq + a) & MASK, (base_seq + b) & MASK) for a, b in data.draw(_SACK))
        opts = Options(mss=data.draw(st.sampled_from([None, 0, 1, 536, 1460, 65535])),
                       wscale=data.draw(st.sampled_from([None, 0, 7, 14, 15, 255])),
                       sack_permitted=data.draw(st.booleans()),
                       sack=sack[:3], timestamp=data.draw(_TS))
        payload = bytes(data.draw(st.sampled_from([0, 1, 100, 1460, 3000])))
        seg = Segment(rport, lport, (base_seq + dseq) & MASK, (base_ack + dack) & MASK, flags,
                      data.draw(st.integers(0, 65535)), data.draw(st.integers(0, 65535)), opts, payload)
        try:
            pkt = bytearray(encode_ip(rip, lip, seg))
        except ValueError:
            continue                                   # options that do not fit the header
        flips = data.draw(st.integers(0, 2))
        for _ in range(flips):
            pkt[data.draw(st.integers(0, len(pkt) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        t += data.draw(st.sampled_from([0.0, 0.001, 0.3, 2.0]))
        conns_before = len(host.conns)
        host.receive_packet(t, bytes(pkt))
        replies = host.take_outbox()
        if flags & RST and not flips:
            assert not any(r.flags & RST for _, _, r in replies), "a RST answered with a RST"
        if state_name == "LISTEN" and flags & SYN and flags & FIN and not flips and not conns_before:
            # SYN+FIN to the listener (no connection holds the 4-tuple yet)
            # opens nothing (Linux drops it; test_safety_syn_fin.py)
            assert not host.conns and not any(r.flags & SYN for _, _, r in replies)
        host.poll(t)
        replies += host.take_outbox()
        for src, dst, r in replies:
            encode_ip(src, dst, r)                     # every reply is a valid packet
        check_invariants(host)
