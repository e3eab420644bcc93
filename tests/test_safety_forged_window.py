"""A forged in-window pure ACK with window 0 and a high sequence number
(issue 17, "Also").

RFC 9293 §3.10.7.4's window update rule takes SEG.WND from any acceptable
segment with SND.WL1 < SEG.SEQ (or SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
An attacker who guesses a sequence number inside the receive window and an
acceptable ACK can send a pure ACK with window 0 and SEG.SEQ far above
RCV.NXT: the window update sets SND.WND = 0 and SND.WL1 to that high value,
and every genuine ACK after it (SEG.SEQ = RCV.NXT, below SND.WL1) fails the
rule, so the sender stays frozen until the peer has sent that much data
(Linux has the same weakness). synack takes window updates only from
segments at RCV.NXT (in sequence): a genuine peer's pure ACKs always are, and
a segment beyond a hole updates the window once the hole is filled.
"""
from __future__ import annotations

import hashlib

from harness import ACK, LOCAL_SEQ, PSH, REMOTE_SEQ, REMOTE_WINDOW, Tcp

from synack.engine.segment import Segment
from synack.engine.seq import MASK
from synack.sim import Network
from synack.engine.states import ESTABLISHED


def test_forged_zero_window_ack_above_rcv_nxt_is_not_a_window_update():
    t = Tcp.established()
    assert t.conn.snd_wnd == REMOTE_WINDOW
    wl1 = t.conn.snd_wl1
    # acceptable: zero length, RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND; ACK = SND.UNA
    assert t.send(flags=ACK, seq=REMOTE_SEQ + 3000, ack=LOCAL_SEQ, window=0) == []
    assert t.conn.snd_wnd == REMOTE_WINDOW and t.conn.snd_wl1 == wl1
    assert t.write(b"data") == 4
    [seg] = t.take()
    assert seg.payload == b"data"


def test_window_updates_still_come_from_in_sequence_segments():
    """The genuine peer's window 0 at RCV.NXT closes the window, and its next
    ACK reopens it; a segment beyond a hole updates nothing until the hole is
    filled, then the next in-sequence segment does."""
    t = Tcp.established()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=0)
    assert t.conn.snd_wnd == 0
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=1000)
    assert t.conn.snd_wnd == 1000
    # out of order data (a hole of 100 octets) with a new window: held, window kept
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ + 100, ack=LOCAL_SEQ, window=5000, payload=b"y" * 100).ignore()
    assert t.conn.snd_wnd == 1000
    # the hole is filled: this segment is in sequence and its window is taken
    t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=6000, payload=b"x" * 100).ignore()
    assert t.conn.snd_wnd == 6000 and t.conn.rcv_nxt == REMOTE_SEQ + 200


def _transfer(forge: bool):
    net = Network(seed=11)
    client = net.add_host("10.0.0.1")
    server = net.add_host("10.0.0.2")
    net.link(client, server, delay=0.01)
    lst = server.listen(80)
    c = client.connect("10.0.0.2", 80)
    net.run(until=0.2)
    s = lst.accept()
    data = hashlib.shake_256(b"w").digest(1_000_000)
    sent = 0
    got = bytearray()
    forged = False
    while net.now < 600 and len(got) < len(data) and c.state is ESTABLISHED:
        if sent < len(data):
            sent += c.send(data[sent:])
        got += s.recv()
        if forge and not forged and net.now >= 0.5:
            # the attacker, spoofing the server: in the client's receive window,
            # far above its RCV.NXT; ACK = SND.UNA, window 0
            cc = c.conn
            net.inject("10.0.0.2", "10.0.0.1",
                       Segment(80, cc.local_port, (cc.rcv_nxt + 30000) & MASK, cc.snd_una, ACK, 0))
            forged = True
        net.run(until=net.now + 0.05)
    return bytes(got) == data, net.now, c


def test_forged_zero_window_does_not_freeze_a_transfer():
    ok, t_clean, _ = _transfer(forge=False)
    assert ok
    ok, t_forged, c = _transfer(forge=True)
    assert ok, f"transfer frozen: {c.state}, SND.WND {c.conn.snd_wnd}, error {c.conn.error}"
    assert t_forged <= t_clean + 0.1
