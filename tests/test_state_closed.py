"""CLOSED: a segment for a 4-tuple with no TCB and no listener (RFC 9293 §3.10.7.1).

"An incoming segment containing a RST is discarded. An incoming segment not
containing a RST causes a RST to be sent in response":

    ACK off:  <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    ACK on:   <SEQ=SEG.ACK><CTL=RST>
"""
from harness import (ACK, FIN, LOCAL_IP, LOCAL_PORT, PSH, RECV, REMOTE_IP, REMOTE_PORT, RST, SYN,
                     URG, CLOSED, Segment, Tcp, seq)
from synack.engine.host import Host


def closed() -> Tcp:
    """A host with nothing on LOCAL_PORT."""
    return Tcp()


def test_closed_syn_gets_rst_ack():
    """RFC 9293 §3.10.7.1: SYN (ACK off) -> <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>;
    SEG.LEN counts the SYN."""
    t = closed()
    assert t.send(flags=SYN, seq=1000) == [RECV._replace(flags=RST | ACK, seq=0, ack=1001, window=0)]
    assert t.state is CLOSED
    assert t.events() == []


def test_closed_syn_with_data_acks_all_of_seg_len():
    """RFC 9293 §3.10.7.1, §3.4: SEG.LEN = data octets + SYN + FIN."""
    t = closed()
    assert t.send(flags=SYN | FIN, seq=1000, payload=b"hello") == [
        RECV._replace(flags=RST | ACK, seq=0, ack=1000 + 5 + 1 + 1, window=0)]


def test_closed_ack_gets_rst_at_seg_ack():
    """RFC 9293 §3.10.7.1: ACK on -> <SEQ=SEG.ACK><CTL=RST> (no ACK bit)."""
    t = closed()
    assert t.send(flags=ACK, seq=1000, ack=777) == [RECV._replace(flags=RST, seq=777, ack=0, window=0)]


def test_closed_data_with_ack_gets_rst_at_seg_ack():
    """RFC 9293 §3.10.7.1: "all data in the incoming segment is discarded"."""
    t = closed()
    assert t.send(flags=ACK | PSH, seq=1000, ack=5555, payload=b"data") == [
        RECV._replace(flags=RST, seq=5555, ack=0, window=0)]


def test_closed_fin_without_ack_gets_rst_ack():
    """RFC 9293 §3.10.7.1: a FIN counts one in SEG.LEN."""
    t = closed()
    assert t.send(flags=FIN, seq=1000) == [RECV._replace(flags=RST | ACK, seq=0, ack=1001, window=0)]


def test_closed_no_flags_with_data_gets_rst_ack():
    """RFC 9293 §3.10.7.1: no ACK -> SEQ=0, ACK=SEG.SEQ+SEG.LEN."""
    t = closed()
    assert t.send(flags=PSH | URG, seq=1000, urgent=1, payload=b"abc") == [
        RECV._replace(flags=RST | ACK, seq=0, ack=1003, window=0)]


def test_closed_ack_wraps_around():
    """RFC 9293 §3.4: SEG.SEQ+SEG.LEN is computed modulo 2**32."""
    t = closed()
    assert t.send(flags=SYN, seq=2**32 - 1, payload=b"ab") == [
        RECV._replace(flags=RST | ACK, seq=0, ack=seq(2**32 - 1 + 3), window=0)]


def test_closed_rst_is_discarded():
    """RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded"."""
    t = closed()
    assert t.send(flags=RST, seq=1000) == []
    assert t.send(flags=RST | ACK, seq=1000, ack=5) == []
    assert t.stat("drop_rst_no_connection") == 2


def test_closed_listener_on_another_port_does_not_answer():
    """RFC 9293 §3.10.7.1: demultiplexing is by port; a listener elsewhere is irrelevant."""
    t = closed()
    t.host.listen(t.now, LOCAL_PORT + 1, LOCAL_IP)
    assert t.send(flags=SYN, seq=1000) == [RECV._replace(flags=RST | ACK, seq=0, ack=1001, window=0)]


def test_closed_after_abort_late_segment_gets_rst(established):
    """RFC 9293 §3.10.7.1: once the TCB is deleted, its 4-tuple is CLOSED again."""
    t = established
    t.abort()
    t.take()
    assert t.state is CLOSED
    assert t.send(flags=ACK, seq=300_001, ack=10_001, payload=b"late") == [
        RECV._replace(flags=RST, seq=10_001, ack=0, window=0)]


def test_closed_ipv6_syn_gets_rst_ack():
    """RFC 9293 §3.10.7.1 applies to IPv6 alike; addresses are swapped on the reply."""
    h = Host(["2001:db8::1"], secret=bytes(32))
    h.receive(0.0, "2001:db8::2", "2001:db8::1", Segment(REMOTE_PORT, LOCAL_PORT, 42, 0, SYN, 1000))
    assert h.take_outbox() == [("2001:db8::1", "2001:db8::2",
                                Segment(LOCAL_PORT, REMOTE_PORT, 0, 43, RST | ACK, 0))]


def test_closed_v4_addresses_swapped():
    """The RST goes back to the sender: source and destination exchanged."""
    t = closed()
    t.host.receive(0.0, REMOTE_IP, LOCAL_IP, Segment(REMOTE_PORT, LOCAL_PORT, 1, 0, SYN, 100))
    [(src, dst, seg)] = t.host.take_outbox()
    assert (src, dst, seg.src_port, seg.dst_port) == (LOCAL_IP, REMOTE_IP, LOCAL_PORT, REMOTE_PORT)
