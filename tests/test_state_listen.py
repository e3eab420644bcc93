"""LISTEN (RFC 9293 §3.10.7.2) and the listener's two queues (RFC 4987 §3).

The listener ignores RSTs, answers any ACK with <SEQ=SEG.ACK><CTL=RST>, makes
a SYN-RECEIVED child for a SYN, and drops everything else. Around it sit the
SYN (half-open) queue and the accept queue, both bounded by the backlog as in
Linux; SYN cookies (RFC 4987 §3.6) take over when the SYN queue is full.
"""
import pytest

from harness import (ACK, FIN, LISTEN, LOCAL_IP, LOCAL_ISS, LOCAL_MSS, LOCAL_PORT, LOCAL_SEQ, OUR_SYN_ACK,
                     PEER_SYN, PSH, RECV, REMOTE_ISS, REMOTE_MSS, REMOTE_PORT, REMOTE_SEQ, RST, SEND, SYN,
                     SYN_RECEIVED, ESTABLISHED, WINDOW, Options, Tcp, kinds)
from synack.engine.cookies import MSS_TABLE


def test_listen_rst_ignored(listen):
    """RFC 9293 §3.10.7.2 first: "An incoming RST should be ignored"."""
    t = listen
    assert t.send(flags=RST, seq=REMOTE_ISS) == []
    assert t.send(flags=RST | ACK, seq=REMOTE_ISS, ack=LOCAL_SEQ) == []
    assert t.state is LISTEN and t.host.conns == {}
    assert t.events() == []


def test_listen_syn_rst_ignored(listen):
    """RFC 9293 §3.10.7.2: the RST check comes first, so SYN|RST makes nothing."""
    t = listen
    assert t.send(PEER_SYN._replace(flags=SYN | RST)) == []
    assert t.listener.syn_queue == {}


def test_listen_ack_gets_rst(listen):
    """RFC 9293 §3.10.7.2 second: any ACK -> <SEQ=SEG.ACK><CTL=RST>. With SYN
    cookies on, the ACK is first checked as a cookie; a wrong one still gets the RST."""
    t = listen
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=4242) == [RECV._replace(flags=RST, seq=4242, window=0)]
    assert t.host.conns == {}


def test_listen_ack_gets_rst_cookies_off():
    """RFC 9293 §3.10.7.2 second, without SYN cookies."""
    t = Tcp.listen(syn_cookies="off")
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=4242, payload=b"x") == [
        RECV._replace(flags=RST, seq=4242, window=0)]


def test_listen_syn_ack_gets_rst(listen):
    """RFC 9293 §3.10.7.2: a SYN,ACK is an ACK-bearing segment: RST at SEG.ACK."""
    t = listen
    assert t.send(PEER_SYN._replace(flags=SYN | ACK, ack=999)) == [RECV._replace(flags=RST, seq=999, window=0)]
    assert t.listener.syn_queue == {}


def test_listen_syn(listen):
    """RFC 9293 §3.10.7.2 third: IRS=SEG.SEQ, RCV.NXT=SEG.SEQ+1, send
    <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, SND.NXT=ISS+1, SND.UNA=ISS, SYN-RECEIVED.
    The SYN,ACK carries our MSS (MUST-14) based on the MTU (MUST-67); no event yet."""
    t = listen
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]
    conn = t.entry
    assert conn.state is SYN_RECEIVED and conn.passive
    assert (conn.irs, conn.rcv_nxt, conn.iss, conn.snd_una, conn.snd_nxt) == (
        REMOTE_ISS, REMOTE_SEQ, LOCAL_ISS, LOCAL_ISS, LOCAL_SEQ)
    assert conn.snd_wnd == SEND.window
    assert t.listener.syn_queue == {conn.key: conn}
    assert t.events() == []


def test_listen_syn_window_not_scaled():
    """RFC 7323 §2.2: the window field of a SYN,ACK is never scaled, and the
    Window Scale option is sent only if the peer's SYN carried one."""
    t = Tcp.listen(window_scaling=True, rcvbuf=1 << 20)
    replies = t.send(PEER_SYN._replace(options=Options(mss=REMOTE_MSS, wscale=7)))
    assert replies == [OUR_SYN_ACK._replace(window=0xFFFF, options=Options(mss=LOCAL_MSS, wscale=5))]
    t2 = Tcp.listen(window_scaling=True, rcvbuf=1 << 20)
    assert t2.send(PEER_SYN) == [OUR_SYN_ACK._replace(window=0xFFFF)]


def test_listen_syn_options_only_if_offered():
    """RFC 7323 §3.2 and RFC 2018 §2: timestamps and SACK-permitted are answered
    only when the SYN offered them."""
    t = Tcp.listen(timestamps=True, sack=True)
    assert t.send(PEER_SYN) == [OUR_SYN_ACK]
    t = Tcp.listen(timestamps=True, sack=True)
    replies = t.send(PEER_SYN._replace(options=Options(mss=REMOTE_MSS, sack_permitted=True,
                                                       timestamp=(777, 0))))
    conn = t.entry
    assert replies == [OUR_SYN_ACK._replace(options=Options(
        mss=LOCAL_MSS, sack_permitted=True, timestamp=(conn.ts_offset & 0xFFFFFFFF, 777)))]


def test_listen_syn_with_data_is_not_queued(listen):
    """RFC 9293 §3.10.7.2 says text on a SYN "should be queued for processing
    later"; synack (no TFO, documented in listener.py) drops it and acknowledges
    only the SYN, so the peer retransmits the data after the handshake."""
    t = listen
    assert t.send(PEER_SYN._replace(payload=b"early", flags=SYN | PSH)) == [OUR_SYN_ACK]
    assert t.entry.rcv_nxt == REMOTE_SEQ
    assert t.stat("syn_data_ignored") == 1


def test_listen_fin_dropped(listen):
    """RFC 9293 §3.10.7.2 fourth: neither RST, ACK nor SYN: drop."""
    t = listen
    assert t.send(flags=FIN, seq=REMOTE_ISS) == []
    assert t.send(flags=PSH, seq=REMOTE_ISS, payload=b"data") == []
    assert t.send(flags=0, seq=REMOTE_ISS) == []
    assert t.host.conns == {} and t.stat("drop_no_syn_in_listen") == 3


def test_listen_second_syn_other_port_makes_second_child(listen):
    """RFC 9293 §3.10.7.2: a listen with an unspecified remote socket fills the
    remote fields in per connection: two peers, two children."""
    t = listen
    t.send(PEER_SYN).ignore()
    replies = t.send(PEER_SYN._replace(src_port=REMOTE_PORT + 1))
    assert replies == [OUR_SYN_ACK._replace(dst_port=REMOTE_PORT + 1)]
    assert len(t.listener.syn_queue) == 2


def test_listen_while_syn_sent_on_same_port():
    """MUST-41/MUST-42 (RFC 9293 §3.9.1.1): a LISTEN on a port where a connection
    is already in SYN-SENT does not disturb it, and both work."""
    t = Tcp.syn_sent()
    t.listener = t.host.listen(t.now, LOCAL_PORT, LOCAL_IP)
    # the SYN,ACK for the active open still reaches its connection
    assert t.send(flags=SYN | ACK, seq=REMOTE_ISS, ack=LOCAL_SEQ) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)]
    assert t.conn.state is ESTABLISHED
    # a SYN from another peer port goes to the listener
    assert t.send(PEER_SYN._replace(src_port=REMOTE_PORT + 7)) == [OUR_SYN_ACK._replace(dst_port=REMOTE_PORT + 7)]
    assert len(t.listener.syn_queue) == 1


def test_listen_close_resets_unaccepted_children(listen):
    """Closing a listener aborts the connections nobody accepted (RFC 9293
    §3.10.5 ABORT: <SEQ=SND.NXT><CTL=RST>; synack sets ACK as well, like Linux)."""
    t = listen
    t.send(PEER_SYN).ignore()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    t.listener.close(t.now)
    assert t.take() == [RECV._replace(flags=RST | ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ)]
    assert t.host.conns == {} and t.host.listeners == {}
    # the port is CLOSED now (RFC 9293 §3.10.7.1)
    assert t.send(PEER_SYN) == [RECV._replace(flags=RST | ACK, seq=0, ack=REMOTE_SEQ, window=0)]


# ------------------------------------------------------------------ the SYN queue

def syn_from(port: int, isn: int = REMOTE_ISS):
    return PEER_SYN._replace(src_port=port, seq=isn)


def test_listen_syn_queue_full_drops_without_cookies():
    """RFC 4987 §3: a SYN that finds the SYN queue (bounded by the backlog) full
    is dropped when SYN cookies are off; no state, no reply."""
    t = Tcp.listen(backlog=1, syn_cookies="off")
    assert t.send(syn_from(REMOTE_PORT)) == [OUR_SYN_ACK]
    assert t.send(syn_from(REMOTE_PORT + 1)) == []
    assert len(t.listener.syn_queue) == 1 and t.stat("syn_queue_drops") == 1


def test_listen_syn_queue_full_sends_cookie():
    """RFC 4987 §3.6: with the SYN queue full, the SYN,ACK carries a cookie as
    its ISN and no state is kept. The cookie encodes the peer's MSS rounded down
    to a table value (1400 -> 1360)."""
    t = Tcp.listen(backlog=1)
    t.send(syn_from(REMOTE_PORT)).ignore()
    [synack] = t.send(syn_from(REMOTE_PORT + 1))
    assert synack._replace(seq=0) == OUR_SYN_ACK._replace(dst_port=REMOTE_PORT + 1, seq=0)
    assert synack.seq != LOCAL_ISS
    assert len(t.listener.syn_queue) == 1
    assert (LOCAL_IP, LOCAL_PORT, "198.51.100.2", REMOTE_PORT + 1) not in t.host.conns
    assert t.stat("syn_cookies_sent") == 1


def test_listen_cookie_ack_completes_connection():
    """RFC 4987 §3.6: the final ACK's SEG.ACK-1 is checked as a cookie; a valid
    one creates the connection straight into ESTABLISHED and the accept queue,
    with the MSS the cookie encoded (MUST-15/16: used as the send MSS)."""
    t = Tcp.listen(backlog=1)
    t.send(syn_from(REMOTE_PORT)).ignore()
    [synack] = t.send(syn_from(REMOTE_PORT + 1))
    cookie = synack.seq
    replies = t.send(flags=ACK, src_port=REMOTE_PORT + 1, seq=REMOTE_SEQ, ack=cookie + 1)
    assert replies == []
    conn = t.accept()
    assert conn is not None and conn.remote_port == REMOTE_PORT + 1
    assert conn.state is ESTABLISHED
    assert conn.snd_mss == 1360 and 1360 in MSS_TABLE
    assert (conn.iss, conn.snd_una, conn.rcv_nxt) == (cookie, cookie + 1, REMOTE_SEQ)
    assert "connected" in kinds(t.events())
    # and it carries data both ways
    assert t.send(flags=ACK | PSH, src_port=REMOTE_PORT + 1, seq=REMOTE_SEQ, ack=cookie + 1,
                  payload=b"hi") == [
        RECV._replace(flags=ACK, dst_port=REMOTE_PORT + 1, seq=cookie + 1, ack=REMOTE_SEQ + 2,
                      window=WINDOW - 2)]


def test_listen_cookie_ack_without_mss_uses_default():
    """MUST-15: a SYN without the MSS option means 536; the cookie keeps 536."""
    t = Tcp.listen(syn_cookies="always")
    [synack] = t.send(PEER_SYN._replace(options=Options()))
    assert t.listener.syn_queue == {}
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=synack.seq + 1)
    conn = t.accept()
    assert conn.snd_mss == 536


def test_listen_cookie_ack_wrong_cookie_gets_rst():
    """A forged or stale cookie fails the check: the ACK is answered as any ACK
    in LISTEN (RFC 9293 §3.10.7.2: <SEQ=SEG.ACK><CTL=RST>)."""
    t = Tcp.listen(syn_cookies="always")
    [synack] = t.send(PEER_SYN)
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=synack.seq + 2) == [
        RECV._replace(flags=RST, seq=synack.seq + 2, window=0)]
    assert t.accept() is None


def test_listen_cookie_expires():
    """RFC 4987 §3.6: a cookie is good for the current and the previous 64 s tick only."""
    t = Tcp.listen(syn_cookies="always")
    [synack] = t.send(PEER_SYN)
    t.advance(200.0)
    assert t.send(flags=ACK, seq=REMOTE_SEQ, ack=synack.seq + 1) == [
        RECV._replace(flags=RST, seq=synack.seq + 1, window=0)]


def test_listen_cookie_with_timestamps_keeps_wscale_and_sack():
    """RFC 4987 §3.6: without state, window scale and SACK-permitted ride in the
    TSval low bits (echoed in TSecr), so a timestamped peer keeps them."""
    t = Tcp.listen(syn_cookies="always", timestamps=True, sack=True, window_scaling=True,
                   rcvbuf=1 << 18)
    [synack] = t.send(PEER_SYN._replace(options=Options(mss=1460, wscale=3, sack_permitted=True,
                                                        timestamp=(5000, 0))))
    assert synack.options.wscale == 3 and synack.options.sack_permitted
    tsval = synack.options.timestamp[0]
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=synack.seq + 1, options=Options(timestamp=(5001, tsval)))
    conn = t.accept()
    assert conn.state is ESTABLISHED
    assert (conn.snd_wscale, conn.rcv_wscale, conn.sack_ok, conn.ts_ok) == (3, 3, True, True)
    assert conn.snd_mss == 1460 - 12       # MUST-16: TS option bytes come off the MSS


# ---------------------------------------------------------------- the accept queue

def fill_accept_queue_leaving_half_open() -> Tcp:
    """backlog 2: two connections in the accept queue, a third half-open."""
    t = Tcp.listen(backlog=2, syn_cookies="off")
    a, b, c = REMOTE_PORT, REMOTE_PORT + 1, REMOTE_PORT + 2
    t.send(syn_from(a)).ignore()
    t.send(syn_from(b)).ignore()
    t.send(flags=ACK, src_port=a, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    t.send(syn_from(c)).ignore()
    t.send(flags=ACK, src_port=b, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    assert len(t.listener.accept_queue) == 2 and len(t.listener.syn_queue) == 1
    t.events()
    return t


C_PORT = REMOTE_PORT + 2
C_KEY = (LOCAL_IP, LOCAL_PORT, "198.51.100.2", C_PORT)


def test_listen_accept_queue_full_ignores_final_ack():
    """RFC 4987 §3 / Linux: with the accept queue full the final ACK does not
    create a connection; the half-open child stays in SYN-RECEIVED, silently."""
    t = fill_accept_queue_leaving_half_open()
    assert t.send(flags=ACK, src_port=C_PORT, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.host.conns[C_KEY].state is SYN_RECEIVED
    assert t.stat("listen_overflow") == 1 and t.events() == []


def test_listen_accept_queue_full_synack_retransmits_with_backoff():
    """RFC 6298 §5.5 applied to the SYN,ACK (MUST-22): retransmitted after
    1, 2, 4, 8, 16 s; after synack_retries (5) the half-open entry is dropped
    without a RST and without telling anyone (it was never accepted)."""
    t = fill_accept_queue_leaving_half_open()
    t.send(flags=ACK, src_port=C_PORT, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    synack = OUR_SYN_ACK._replace(dst_port=C_PORT)
    when = 0
    for gap in (1, 2, 4, 8, 16):
        when += gap
        assert t.advance_to(when - 0.001) == []
        assert t.advance_to(when) == [synack], f"SYN,ACK due {gap} s after the previous one"
    assert t.advance_to(when + 32 - 0.001) == []
    assert t.advance_to(when + 32) == []           # 6th expiry: give up, no RST
    assert C_KEY not in t.host.conns and t.listener.syn_queue == {}
    # nothing the application could see: no error, and the listener is untouched
    assert "error" not in kinds(t.events()) and t.accept() is not None
    assert t.stat("syn_timeouts") == 1


def test_listen_accept_queue_full_then_accept_lets_retransmission_complete():
    """Once the application accepts, the peer's answer to the retransmitted
    SYN,ACK (an ACK, RFC 9293 §3.10.7.4 first step) completes the handshake."""
    t = fill_accept_queue_leaving_half_open()
    t.send(flags=ACK, src_port=C_PORT, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    assert t.accept() is not None
    assert t.advance(1.0) == [OUR_SYN_ACK._replace(dst_port=C_PORT)]
    assert t.send(flags=ACK, src_port=C_PORT, seq=REMOTE_SEQ, ack=LOCAL_SEQ) == []
    assert t.host.conns[C_KEY].state is ESTABLISHED
    assert "acceptable" in kinds(t.events())


def test_listen_accept_queue_full_drops_new_syn():
    """Linux (documented in listener.py): a SYN that finds the accept queue full
    is dropped; the client's SYN retransmission tries again later."""
    t = Tcp.listen(backlog=1, syn_cookies="off")
    t.send(PEER_SYN).ignore()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    assert t.send(syn_from(REMOTE_PORT + 5)) == []
    assert t.stat("listen_drops_accept_full") == 1
    t.accept()
    assert t.send(syn_from(REMOTE_PORT + 5)) == [OUR_SYN_ACK._replace(dst_port=REMOTE_PORT + 5)]


def test_listen_syn_cookies_always():
    """RFC 4987 §3.6 ("always" mode): no half-open state at all."""
    t = Tcp.listen(syn_cookies="always")
    [synack] = t.send(PEER_SYN)
    assert synack.flags == SYN | ACK and synack.ack == REMOTE_SEQ
    assert t.listener.syn_queue == {} and t.host.conns == {}
    assert t.next_deadline() is None            # nothing to retransmit: no state


@pytest.mark.parametrize("peer_options", [
    Options(mss=REMOTE_MSS),
    Options(mss=REMOTE_MSS, wscale=7, sack_permitted=True, timestamp=(555, 0)),
    Options(mss=REMOTE_MSS, timestamp=(555, 0)),
    Options(wscale=3),
])
@pytest.mark.parametrize("ours", [
    dict(),
    dict(window_scaling=True, timestamps=True, sack=True),
    dict(window_scaling=True, timestamps=True, sack=True, rcvbuf=1 << 20),
])
def test_listen_cookie_syn_ack_is_the_one_a_child_sends(peer_options, ours):
    """RFC 4987 §3.6: the stateless answer (no connection is built for it) is
    the SYN,ACK a half-open child sends, but for the ISN (the cookie) and the
    TSval (which carries the peer's window scale and SACK-permitted)."""
    syn = PEER_SYN._replace(options=peer_options)
    [child] = Tcp.listen(syn_cookies="off", **ours).send(syn)
    t = Tcp.listen(syn_cookies="always", **ours)
    [cookie] = t.send(syn)
    assert t.host.conns == {} and t.listener.syn_queue == {}
    strip = lambda s: s._replace(seq=0, options=s.options._replace(
        timestamp=s.options.timestamp and (0, s.options.timestamp[1])))
    assert strip(cookie) == strip(child)
    assert cookie.seq != child.seq
