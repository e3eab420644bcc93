"""TIME-WAIT (RFC 9293 §3.6.1, §3.10.7.4; MUST-13): the active closer waits 2*MSL.

Fixture `time_wait`: FIN-WAIT-2 + the peer's FIN at t = 0. The host now holds
a light `TimeWait` entry for the 4-tuple: SND.NXT = LOCAL_SEQ + 1,
RCV.NXT = REMOTE_SEQ + 1, offered window WINDOW - 1, MSL 30 s (2*MSL = 60 s).
"""
import pytest

from harness import (ACK, CLOSED, FIN, LOCAL_IP, LOCAL_PORT, LOCAL_SEQ, PSH, RECV, REMOTE_IP,
                     REMOTE_PORT, REMOTE_SEQ, RST, SEND, SYN, SYN_RECEIVED, TIME_WAIT, WINDOW,
                     Options, Tcp)
from synack.engine.timewait import TimeWait

RCV_NXT = REMOTE_SEQ + 1
ACK_NOW = RECV._replace(flags=ACK, seq=LOCAL_SEQ + 1, ack=RCV_NXT, window=WINDOW - 1)
PEER_FIN = SEND._replace(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1)


def test_time_wait_lasts_exactly_2msl(time_wait):
    """MUST-13 (RFC 9293 §3.6.1), §3.10.8 TIME-WAIT TIMEOUT: after 2*MSL delete
    the TCB, enter CLOSED; nothing is sent."""
    t = time_wait
    assert t.advance_to(59.999) == []
    assert t.state is TIME_WAIT
    assert t.advance_to(60.0) == []
    assert t.state is CLOSED and t.entry is None
    assert t.conn.state is CLOSED and t.conn.error is None
    assert t.events() == [("closed", "2MSL timeout")]


def test_time_wait_msl_configurable():
    """MUST-13: 2*MSL with the configured MSL (here 1 s -> 2 s)."""
    t = Tcp.time_wait(msl=1.0)
    assert t.advance_to(1.999) == [] and t.state is TIME_WAIT
    t.advance_to(2.0)
    assert t.state is CLOSED


def test_time_wait_fin_retransmitted_reacked_and_timer_restarted(time_wait):
    """MUST-13, RFC 9293 §3.10.7.4 fifth and eighth, TIME-WAIT: "The only thing
    that can arrive in this state is a retransmission of the remote FIN.
    Acknowledge it, and restart the 2 MSL timeout"."""
    t = time_wait
    t.advance_to(50.0)
    assert t.send(PEER_FIN) == [ACK_NOW]
    assert t.state is TIME_WAIT
    assert t.advance_to(109.999) == [] and t.state is TIME_WAIT
    t.advance_to(110.0)
    assert t.state is CLOSED


def test_time_wait_fin_with_data_retransmitted_reacked():
    """The retransmitted FIN may carry its data again: still an old FIN."""
    t = Tcp.fin_wait_2()
    t.send(PEER_FIN._replace(flags=FIN | ACK | PSH, payload=b"tail")).ignore()
    assert t.state is TIME_WAIT
    assert t.send(PEER_FIN._replace(flags=FIN | ACK | PSH, payload=b"tail")) == [
        ACK_NOW._replace(ack=REMOTE_SEQ + 5, window=WINDOW - 5)]


def test_time_wait_data_is_acked_not_delivered(time_wait):
    """RFC 9293 §3.10.7.4 seventh, TIME-WAIT: the text is ignored; synack answers
    with an ACK of RCV.NXT (as Linux does) and does not restart the timer."""
    t = time_wait
    assert t.send(flags=ACK | PSH, seq=RCV_NXT, ack=LOCAL_SEQ + 1, payload=b"??") == [ACK_NOW]
    t.advance_to(60.0)
    assert t.state is CLOSED


def test_time_wait_old_segment_acked(time_wait):
    """RFC 9293 §3.10.7.4 first: an unacceptable (old) segment -> ACK, drop."""
    t = time_wait
    assert t.send(flags=ACK, seq=REMOTE_SEQ - 100, ack=LOCAL_SEQ + 1, payload=b"x") == [ACK_NOW]


def test_time_wait_bare_ack_ignored(time_wait):
    """An in-sequence bare ACK (e.g. a duplicate) needs no answer."""
    t = time_wait
    assert t.send(flags=ACK, seq=RCV_NXT, ack=LOCAL_SEQ + 1) == []
    assert t.state is TIME_WAIT


def test_time_wait_rst_exact_closes(time_wait):
    """RFC 9293 §3.10.7.4 second, TIME-WAIT: RST at RCV.NXT -> CLOSED, TCB
    deleted (rst_in_time_wait=True, the RFC 9293 behaviour)."""
    t = time_wait
    assert t.send(flags=RST, seq=RCV_NXT) == []
    assert t.state is CLOSED and t.entry is None
    assert t.events() == [("closed", "rcv RST")]


def test_time_wait_rst_ignored_with_rfc1337():
    """RFC 1337 §3 (TIME-WAIT assassination, fix TW1): with rst_in_time_wait
    off, RSTs are ignored in TIME-WAIT and 2*MSL runs its course."""
    t = Tcp.time_wait(rst_in_time_wait=False)
    assert t.send(flags=RST, seq=RCV_NXT) == []
    assert t.send(flags=RST, seq=RCV_NXT + 5) == []
    assert t.state is TIME_WAIT
    t.advance_to(60.0)
    assert t.state is CLOSED


def test_time_wait_rst_in_window_not_exact_challenge_ack(time_wait):
    """RFC 9293 §3.10.7.4 second, check 3 (RFC 5961 §3.2), which lists
    TIME-WAIT: an in-window RST not at RCV.NXT -> challenge ACK, drop."""
    t = time_wait
    assert t.send(flags=RST, seq=RCV_NXT + 10) == [ACK_NOW]
    assert t.state is TIME_WAIT


def test_time_wait_rst_out_of_window_dropped(time_wait):
    """RFC 9293 §3.10.7.4 second, check 1."""
    t = time_wait
    assert t.send(flags=RST, seq=REMOTE_SEQ) == []
    assert t.send(flags=RST, seq=RCV_NXT + WINDOW) == []
    assert t.state is TIME_WAIT


def test_time_wait_old_syn_challenge_ack(time_wait):
    """RFC 9293 §3.10.7.4 fourth (RFC 5961 §4): a SYN that is not newer than the
    old incarnation gets a challenge ACK; TIME-WAIT stays."""
    t = time_wait
    t.host.listen(t.now, LOCAL_PORT, LOCAL_IP)
    assert t.send(flags=SYN, seq=REMOTE_SEQ - 1000) == [ACK_NOW]
    t.now += 0.5                    # one challenge ACK per 500 ms (Config.invalid_ratelimit)
    assert t.send(flags=SYN, seq=RCV_NXT) == [ACK_NOW]
    assert t.send(flags=SYN, seq=RCV_NXT) == []       # the next within 500 ms: suppressed
    assert t.stat("challenge_acks_suppressed") == 1
    assert t.state is TIME_WAIT


def test_time_wait_new_syn_takes_over(time_wait):
    """MAY-2 (RFC 9293 §3.6.1, RFC 1122 §4.2.2.13): a SYN with a higher sequence
    number reopens the 4-tuple; the new ISS is above every sequence number of
    the old incarnation (condition (1))."""
    t = time_wait
    t.host.listen(t.now, LOCAL_PORT, LOCAL_IP)
    new_isn = RCV_NXT + 100_000
    [synack] = t.send(flags=SYN, seq=new_isn, options=Options(mss=1400))
    iss = LOCAL_SEQ + 1 + 65535 + 2
    assert synack == RECV._replace(flags=SYN | ACK, seq=iss, ack=new_isn + 1, options=Options(mss=1460))
    child = t.entry
    assert type(child) is not TimeWait and child.state is SYN_RECEIVED
    assert t.conn.state is CLOSED
    assert t.stat("time_wait_reused") == 1


def test_time_wait_new_syn_without_listener_keeps_time_wait(time_wait):
    """MUST-13: with no listener to take it, a new SYN cannot end TIME-WAIT; it is
    answered like any SYN in TIME-WAIT (challenge ACK), not with a RST."""
    t = time_wait
    assert t.send(flags=SYN, seq=RCV_NXT + 100_000) == [ACK_NOW]
    assert t.state is TIME_WAIT


def ts_time_wait(**changes) -> Tcp:
    """TIME-WAIT of a connection that used timestamps; the peer's last TSval was 500."""
    t = Tcp.established(peer_options=Options(mss=1400, timestamp=(100, 0)), timestamps=True, **changes)
    assert t.conn.ts_ok
    t.shutdown("wr")
    t.take()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1, options=Options(timestamp=(400, 0)))
    t.send(PEER_FIN._replace(options=Options(timestamp=(500, 0)))).ignore()
    assert t.state is TIME_WAIT and t.entry.ts_recent == 500
    t.host.listen(t.now, LOCAL_PORT, LOCAL_IP)
    return t


def test_time_wait_syn_with_newer_timestamp_takes_over():
    """SHLD-4, RFC 6191 §2: with timestamps, a SYN whose TSval is above the last
    one seen reopens the 4-tuple even with a lower sequence number."""
    t = ts_time_wait()
    [synack] = t.send(flags=SYN, seq=REMOTE_SEQ - 5000, options=Options(mss=1400, timestamp=(501, 0)))
    assert synack.flags == SYN | ACK and synack.ack == REMOTE_SEQ - 4999


def test_time_wait_syn_with_old_timestamp_refused():
    """RFC 6191 §2: an older TSval keeps TIME-WAIT, whatever the sequence number."""
    t = ts_time_wait()
    [reply] = t.send(flags=SYN, seq=RCV_NXT + 100_000, options=Options(mss=1400, timestamp=(499, 0)))
    assert reply.flags == ACK and (reply.seq, reply.ack) == (LOCAL_SEQ + 1, RCV_NXT)
    assert t.state is TIME_WAIT


def test_time_wait_syn_with_equal_timestamp_uses_sequence_number():
    """RFC 6191 §2: an equal TSval reopens only with a higher sequence number."""
    t = ts_time_wait()
    [reply] = t.send(flags=SYN, seq=REMOTE_SEQ - 10, options=Options(mss=1400, timestamp=(500, 0)))
    assert reply.flags == ACK and t.state is TIME_WAIT
    [synack] = t.send(flags=SYN, seq=RCV_NXT + 10, options=Options(mss=1400, timestamp=(500, 0)))
    assert synack.flags == SYN | ACK


def test_time_wait_timestamps_echoed_on_ack():
    """RFC 7323 §3.2: the ACK sent from TIME-WAIT still carries TSecr = TS.Recent."""
    t = ts_time_wait()
    [reply] = t.send(PEER_FIN._replace(options=Options(timestamp=(600, 0))))
    assert reply.options.timestamp[1] == 500


def test_time_wait_connect_to_same_four_tuple_refused(time_wait):
    """MUST-13: the 4-tuple cannot be reused by a local active open during
    TIME-WAIT (EADDRNOTAVAIL)."""
    t = time_wait
    with pytest.raises(OSError):
        t.host.connect(t.now, REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT)


def test_time_wait_read_returns_eof(time_wait):
    """The peer's FIN was delivered: reads see end of stream."""
    t = time_wait
    assert t.read() == b""


def test_time_wait_after_expiry_syn_gets_rst(time_wait):
    """After 2*MSL the 4-tuple is CLOSED (RFC 9293 §3.10.7.1)."""
    t = time_wait
    t.advance_to(60.0)
    assert t.send(flags=SYN, seq=1) == [RECV._replace(flags=RST | ACK, seq=0, ack=2, window=0)]


def test_time_wait_abort_deletes_entry(time_wait):
    """RFC 9293 §3.10.5 ABORT in TIME-WAIT: "ok", delete the TCB, nothing sent."""
    t = time_wait
    t.abort()
    t.expect_nothing()
    assert t.state is CLOSED and t.entry is None
    assert t.advance(100) == []
