"""Every synchronized state against the same events (RFC 9293 §3.10.7.4).

The per-state files test each state's own transitions; this file runs one
table of events through all of ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2,
CLOSE-WAIT, CLOSING, LAST-ACK and TIME-WAIT, with the expected reply computed
from each state's SND.NXT, RCV.NXT and offered window, so a state that
forgets a step of §3.10.7.4 shows up as one failing cell.
"""
from dataclasses import dataclass

import pytest

from harness import (ACK, CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN, FIN_WAIT_1, FIN_WAIT_2,
                     LAST_ACK, LOCAL_SEQ, PSH, RECV, REMOTE_ISS, REMOTE_SEQ, RST, SYN, TIME_WAIT,
                     WINDOW, Tcp)


@dataclass(frozen=True)
class S:
    name: str
    state: object
    snd_nxt: int          # SND.NXT in this state
    rcv_nxt: int          # RCV.NXT in this state
    win: int              # the window field we offer
    receives: bool        # text is still processed (§3.10.7.4 seventh step)
    rst_error: str | None # what a RST at RCV.NXT reports (§3.10.7.4 second step)
    fin_out: bool         # our FIN is sent and unacknowledged (retransmission timer runs)

    def build(self) -> Tcp:
        return getattr(Tcp, self.name)()

    def ack(self, **kw):
        return RECV._replace(flags=ACK, seq=self.snd_nxt, ack=self.rcv_nxt, window=self.win)._replace(**kw)


STATES = [
    S("established", ESTABLISHED, LOCAL_SEQ, REMOTE_SEQ, WINDOW, True, "ECONNRESET", False),
    S("fin_wait_1", FIN_WAIT_1, LOCAL_SEQ + 1, REMOTE_SEQ, WINDOW, True, "ECONNRESET", True),
    S("fin_wait_2", FIN_WAIT_2, LOCAL_SEQ + 1, REMOTE_SEQ, WINDOW, True, "ECONNRESET", False),
    S("close_wait", CLOSE_WAIT, LOCAL_SEQ, REMOTE_SEQ + 1, WINDOW - 1, False, "ECONNRESET", False),
    S("closing", CLOSING, LOCAL_SEQ + 1, REMOTE_SEQ + 1, WINDOW - 1, False, None, True),
    S("last_ack", LAST_ACK, LOCAL_SEQ + 1, REMOTE_SEQ + 1, WINDOW - 1, False, None, True),
    S("time_wait", TIME_WAIT, LOCAL_SEQ + 1, REMOTE_SEQ + 1, WINDOW - 1, False, None, False),
]
ALL = pytest.mark.parametrize("s", STATES, ids=[s.name for s in STATES])
NOT_TW = pytest.mark.parametrize("s", STATES[:-1], ids=[s.name for s in STATES[:-1]])


def our_una(s: S) -> int:
    """SND.UNA: everything but an outstanding FIN is acknowledged."""
    return s.snd_nxt - 1 if s.fin_out else s.snd_nxt


@ALL
def test_synchronized_syn_in_window_challenge_ack(s):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4.2): SYN -> challenge ACK, drop."""
    t = s.build()
    assert t.send(flags=SYN, seq=s.rcv_nxt + 1) == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_syn_ack_old_duplicate_acked(s):
    """RFC 9293 §3.10.7.4 first: the peer's SYN,ACK again is unacceptable: ACK."""
    t = s.build()
    assert t.send(flags=SYN | ACK, seq=REMOTE_ISS, ack=LOCAL_SEQ) == [s.ack()]
    assert t.state is s.state


@NOT_TW
def test_synchronized_ack_too_new(s):
    """RFC 9293 §3.10.7.4 fifth: SEG.ACK > SND.NXT -> send an ACK, drop."""
    t = s.build()
    assert t.send(flags=ACK, seq=s.rcv_nxt, ack=s.snd_nxt + 1) == [s.ack()]
    assert t.state is s.state


@NOT_TW
def test_synchronized_ack_too_old(s):
    """RFC 9293 §3.10.7.4 fifth, RFC 5961 §5.2: SEG.ACK < SND.UNA - MAX.SND.WND ->
    ACK, drop (even a FIN on it is not processed)."""
    t = s.build()
    assert t.send(flags=ACK | FIN, seq=s.rcv_nxt, ack=our_una(s) - 8192 - 1) == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_data_in_window(s):
    """RFC 9293 §3.10.7.4 seventh: delivered and ACKed where the peer may still
    send; ignored after its FIN (CLOSE-WAIT, CLOSING, LAST-ACK; TIME-WAIT
    answers with an ACK, as Linux does)."""
    t = s.build()
    replies = t.send(flags=ACK | PSH, seq=s.rcv_nxt, ack=our_una(s), payload=b"abc")
    if s.receives:
        assert replies == [s.ack(ack=s.rcv_nxt + 3, window=s.win - 3)]
        assert t.read() == b"abc"
    elif s.state is TIME_WAIT:
        assert replies == [s.ack()]
    else:
        assert replies == []
        assert t.conn.rcv_nxt == s.rcv_nxt
    assert t.state is s.state


@ALL
def test_synchronized_data_beyond_window(s):
    """RFC 9293 §3.10.7.4 first, Table 6: not acceptable -> ACK, drop."""
    t = s.build()
    assert t.send(flags=ACK | PSH, seq=s.rcv_nxt + s.win, ack=our_una(s), payload=b"x") == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_data_partly_beyond_window(s):
    """RFC 9293 §3.10.7.4 first: trimmed to the window; what is left is processed
    by the state's rules."""
    t = s.build()
    replies = t.send(flags=ACK | PSH, seq=s.rcv_nxt, ack=our_una(s), payload=b"y" * (s.win + 4))
    if s.receives:
        assert replies == [s.ack(ack=s.rcv_nxt + s.win, window=0)]
    else:
        assert replies == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_data_old_duplicate(s):
    """RFC 9293 §3.10.7.4 first: entirely before RCV.NXT -> ACK, drop."""
    t = s.build()
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ - 5, ack=our_una(s), payload=b"old") == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_rst_exact(s):
    """RFC 9293 §3.10.7.4 second: RST at RCV.NXT -> CLOSED; "connection reset"
    only where the user still has the connection open for reading or writing."""
    t = s.build()
    assert t.send(flags=RST, seq=s.rcv_nxt) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.error == s.rst_error


@ALL
def test_synchronized_rst_in_window_not_exact_challenge_ack(s):
    """RFC 9293 §3.10.7.4 second, check 3 (RFC 5961 §3.2)."""
    t = s.build()
    assert t.send(flags=RST, seq=s.rcv_nxt + 1) == [s.ack()]
    assert t.state is s.state


@ALL
def test_synchronized_rst_out_of_window(s):
    """RFC 9293 §3.10.7.4 second, check 1: silently dropped."""
    t = s.build()
    assert t.send(flags=RST, seq=s.rcv_nxt + s.win) == []
    assert t.send(flags=RST, seq=s.rcv_nxt - 1) == []
    assert t.state is s.state


@ALL
def test_synchronized_no_ack_bit_dropped(s):
    """RFC 9293 §3.10.7.4 fifth: "if the ACK bit is off drop the segment"."""
    t = s.build()
    replies = t.send(flags=PSH, seq=s.rcv_nxt, payload=b"z")
    if s.state is TIME_WAIT:
        assert replies == [s.ack()]          # the TIME-WAIT entry ACKs any text
    else:
        assert replies == []
        assert t.conn.rcv_nxt == s.rcv_nxt
    assert t.state is s.state


@ALL
def test_synchronized_timer_expiry(s):
    """RFC 9293 §3.10.8: our unacknowledged FIN is retransmitted after the RTO;
    TIME-WAIT ends after 2*MSL; otherwise there is no timer at all."""
    t = s.build()
    d = t.next_deadline()
    if s.fin_out:
        assert d == 1.0
        assert t.advance_to(d) == [s.ack(flags=FIN | ACK, seq=s.snd_nxt - 1)]
        assert t.state is s.state
    elif s.state is TIME_WAIT:
        assert d == 60.0
        assert t.advance_to(d) == [] and t.state is CLOSED
    else:
        assert d is None
