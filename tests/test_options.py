"""TCP options on the bare engine: MSS (RFC 9293 §3.7.1; MUST-4, MUST-14..16,
MUST-65, MUST-67), unknown options (MUST-5, MUST-6), window scaling (RFC 7323
§2) and SACK (RFC 2018)."""
from harness import (ACK, ESTABLISHED, LOCAL_ISS, LOCAL_MSS, LOCAL_PORT, LOCAL_SEQ, NO_OPTIONS,
                     OUR_SYN, PEER_SYN, PEER_SYN_ACK, PSH, RECV, REMOTE_PORT, REMOTE_SEQ,
                     WINDOW, Options, Tcp, cfg)
from synack.engine.host import Host
from synack.engine.isn import FixedIsn

V6_LOCAL, V6_REMOTE = "2001:db8::1", "2001:db8::2"


def v6_connect(**changes):
    h = Host([V6_LOCAL], cfg(**changes), secret=bytes(32), isn=FixedIsn(LOCAL_ISS))
    c = h.connect(0.0, V6_REMOTE, REMOTE_PORT, local_port=LOCAL_PORT)
    [(_, _, syn)] = h.take_outbox()
    return h, c, syn


def test_mss_option_sent_on_syn():
    """MUST-14, MUST-67 (RFC 9293 §3.7.1): the MSS we announce is what we can
    receive: MTU 1500 - 20 (IPv4) - 20 (TCP) = 1460."""
    t = Tcp.syn_sent()
    assert t.conn.rcv_mss == LOCAL_MSS
    t2 = Tcp(cfg())
    t2.host.connect(0.0, "198.51.100.2", REMOTE_PORT, local_port=LOCAL_PORT)
    assert t2.take() == [OUR_SYN]


def test_mss_option_follows_mtu():
    """MUST-67: a 9000-octet MTU announces 8960."""
    t = Tcp(cfg(mtu=9000))
    t.host.connect(0.0, "198.51.100.2", REMOTE_PORT, local_port=LOCAL_PORT)
    [syn] = t.take()
    assert syn.options.mss == 8960


def test_mss_option_ipv6():
    """MUST-67: over IPv6 the headers are 60 octets: MTU 1500 -> MSS 1440."""
    _, _, syn = v6_connect()
    assert syn.options.mss == 1440


def test_mss_default_536_ipv4(syn_sent):
    """MUST-15 (RFC 9293 §3.7.1): no MSS option received -> 536 over IPv4."""
    t = syn_sent
    t.send(PEER_SYN_ACK._replace(options=NO_OPTIONS)).ignore()
    assert t.conn.snd_mss == 536
    t.conn.nodelay = True
    t.write(b"x" * 1000)
    assert [len(s.payload) for s in t.take()] == [536, 464]


def test_mss_default_1220_ipv6():
    """MUST-15: no MSS option received -> 1220 over IPv6."""
    h, c, _ = v6_connect()
    h.receive(0.1, V6_REMOTE, V6_LOCAL, PEER_SYN_ACK._replace(options=NO_OPTIONS))
    assert c.state is ESTABLISHED and c.snd_mss == 1220


def test_mss_passive_default_536(listen):
    """MUST-15 on a passive open."""
    t = listen
    t.send(PEER_SYN._replace(options=NO_OPTIONS)).ignore()
    assert t.entry.snd_mss == 536


def test_mss_honoured_when_sending(established):
    """MUST-14: segments never exceed the peer's MSS (1400)."""
    t = established
    t.write(b"y" * 4000)
    assert all(len(s.payload) <= 1400 for s in t.take())


def test_mss_effective_is_min_of_peer_and_mtu(syn_sent):
    """MUST-16: Eff.snd.MSS = min(SendMSS + 20, MMS_S) - TCPhdrsize - IPoptionsize:
    a peer MSS above our MTU allows is cut to 1460."""
    t = syn_sent
    t.send(PEER_SYN_ACK._replace(options=Options(mss=65000))).ignore()
    assert t.conn.snd_mss == 1460


def test_mss_effective_minus_timestamp_option():
    """MUST-16 (RFC 9293 §3.7.1, RFC 6691 §2): TCP options in every segment (the
    12-octet timestamp option) reduce the data per segment: 1460 -> 1448."""
    t = Tcp.established(peer_options=Options(mss=1460, timestamp=(1, 0)), timestamps=True)
    assert t.conn.ts_ok and t.conn.snd_mss == 1448


def test_mss_not_sent_on_non_syn(established):
    """MUST-65 (RFC 9293 §3.2): the MSS option only on SYN segments."""
    t = established
    t.write(b"data")
    [s] = t.take()
    assert s.options == NO_OPTIONS


def test_unknown_option_ignored_on_syn(syn_sent):
    """MUST-6 (RFC 9293 §3.1): an option we do not implement is ignored,
    without error."""
    t = syn_sent
    t.send(PEER_SYN_ACK._replace(options=Options(mss=1400, unknown=((99, b"\x01\x02"),)))).ignore()
    assert t.conn.state is ESTABLISHED and t.conn.snd_mss == 1400


def test_unknown_option_ignored_on_data(established):
    """MUST-5, MUST-6: options may come on any segment; unknown ones are skipped."""
    t = established
    assert t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"abc",
                  options=Options(unknown=((254, b"xyz"),))) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 3, window=WINDOW - 3)]


def test_mss_option_on_data_segment_ignored(established):
    """MUST-65's other side: an MSS option on a non-SYN segment does not change
    the send MSS (it is only meaningful on a SYN)."""
    t = established
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, options=Options(mss=100))
    assert t.conn.snd_mss == 1400


def test_window_scale_applied_to_non_syn_segments():
    """RFC 7323 §2.3: with both SYNs carrying the option, SND.WND = SEG.WND <<
    Snd.Wind.Shift, and our window field is RCV.WND >> Rcv.Wind.Shift."""
    t = Tcp.established(peer_options=Options(mss=1400, wscale=3), window_scaling=True,
                        rcvbuf=1 << 18)
    c = t.conn
    assert (c.snd_wscale, c.rcv_wscale) == (3, 3)
    assert c.snd_wnd == 8192                 # from the SYN,ACK: never scaled (§2.2)
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ, window=1000)
    assert c.snd_wnd == 8000
    # the handshake's ACK already offered the whole 256 KiB buffer: 32768 << 3
    assert (c.rcv_adv - c.rcv_nxt) == 1 << 18
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"q")
    # 262143 free; 32767 << 3 would pull the right edge back 7 octets, so the
    # field is rounded up (RFC 7323 §2.4: the window must not shrink)
    assert reply.window == 32768


def test_window_scale_field_after_growth():
    """RFC 7323 §2.3: the field is the free space >> Rcv.Wind.Shift, and reopens
    by more than min(RCV.BUFF/2, MSS) are announced (MUST-39)."""
    t = Tcp.established(peer_options=Options(mss=1400, wscale=0), window_scaling=True,
                        rcvbuf=1 << 18)
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"x" * 2000)
    assert reply.window == ((1 << 18) - 2000) >> 3
    t.read()
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ + 2000, ack=LOCAL_SEQ, payload=b"y")
    assert reply.window == ((1 << 18) - 1) >> 3


def test_sack_blocks_for_out_of_order_data():
    """RFC 2018 §3-4: with SACK permitted both ways, the ACK for out-of-order data
    reports the block received."""
    t = Tcp.established(peer_options=Options(mss=1400, sack_permitted=True), sack=True)
    assert t.conn.sack_ok
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ + 3, ack=LOCAL_SEQ, payload=b"def")
    assert (reply.ack, reply.options.sack) == (REMOTE_SEQ, ((REMOTE_SEQ + 3, REMOTE_SEQ + 6),))
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"abc")
    assert (reply.ack, reply.options.sack) == (REMOTE_SEQ + 6, ())


def test_sack_not_used_unless_both_offer():
    """RFC 2018 §2: SACK-permitted on only one SYN -> no SACK blocks."""
    t = Tcp.established(sack=True)
    [reply] = t.send(flags=ACK | PSH, seq=REMOTE_SEQ + 3, ack=LOCAL_SEQ, payload=b"def")
    assert reply.options == NO_OPTIONS
