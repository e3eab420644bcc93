"""Client TCP Fast Open (RFC 7413) in the engine: the option on our SYN, the
cookie cache, the SYN's data and what a SYN,ACK does with it.

The socket surfaces (the packetdrill runner, synack.api.socket) have their
tests in tests/test_fastopen_sockets.py; Linux is checked there.
"""
import pytest

from harness import (ACK, ESTABLISHED, LOCAL_ISS, LOCAL_MSS, LOCAL_PORT, LOCAL_SEQ, OUR_SYN,
                     PEER_SYN_ACK, PSH, RECV, REMOTE_IP, REMOTE_PORT, REMOTE_SEQ, SYN, Options,
                     Tcp, cfg)
from synack.engine.fastopen import CookieCache, peer_cookie, syn_room
from synack.engine.info import TCPI_OPT_SYN_DATA, tcp_info
from synack.wire.tcp import decode_options, encode_options

COOKIE = bytes.fromhex("abcd1234")
REQUEST = OUR_SYN._replace(options=Options(mss=LOCAL_MSS, unknown=((34, b""),)))


def fo_syn(cookie: bytes, payload: bytes = b"") -> object:
    return OUR_SYN._replace(options=Options(mss=LOCAL_MSS, unknown=((34, cookie),)),
                            payload=payload)


def synack_with(cookie: bytes | None, ack: int = LOCAL_SEQ, mss: int = 1400):
    unknown = () if cookie is None else ((34, cookie),)
    return PEER_SYN_ACK._replace(ack=ack, options=Options(mss=mss, unknown=unknown))


def fo_connect(t: Tcp, data=b""):
    t.conn = t.host.connect(t.now, REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT,
                            fastopen=True, data=data)
    return t.conn


def warm(t: Tcp, cookie: bytes = COOKIE, mss: int = 1400) -> None:
    """A first connection that asks for a cookie and gets `cookie`."""
    fo_connect(t)
    t.expect(REQUEST)
    t.send(synack_with(cookie, mss=mss)).ignore()
    t.abort()
    t.take()
    t.events()


# ------------------------------------------------------------------ the option
def test_cookie_request_without_a_cookie():
    """RFC 7413 §4.1.2: with no cookie cached the SYN carries an empty Fast
    Open option (a cookie request) and no data, even when data was given."""
    t = Tcp()
    conn = fo_connect(t, b"x" * 100)
    t.expect(REQUEST)
    assert conn.tfo_taken == 0 and conn.snd_nxt == LOCAL_SEQ


def test_no_option_without_fastopen():
    """A connection that does not ask sends the plain SYN (Fast Open is opt-in)."""
    t = Tcp()
    t.conn = t.host.connect(t.now, REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT)
    t.expect(OUR_SYN)
    assert t.conn.tfo is None


def test_client_bit_off_means_no_fastopen():
    """Config.fastopen without 0x1 (net.ipv4.tcp_fastopen=0): a plain SYN."""
    t = Tcp(cfg(fastopen=0))
    fo_connect(t, b"abc")
    t.expect(OUR_SYN)


def test_synack_cookie_is_cached_per_server():
    """RFC 7413 §4.1.2: the cookie of the SYN,ACK is kept for the server's
    address, with its MSS; the next SYN carries it and the data."""
    t = Tcp()
    warm(t)
    assert t.host.tfo_cache.get(REMOTE_IP) == (COOKIE, 1400)
    assert t.host.fastopen_ready(REMOTE_IP)
    assert not t.host.fastopen_ready("198.51.100.77")
    conn = fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    assert conn.tfo_taken == 5
    assert conn.snd_nxt == LOCAL_SEQ + 5


@pytest.mark.parametrize("cookie, kept", [
    (b"", False),                 # an empty option: no cookie
    (b"\x01\x02", False),         # below 4 octets
    (b"\x01\x02\x03", False),     # odd length
    (b"\x01" * 4, True), (b"\x01" * 16, True),
    (b"\x01" * 18, False),        # above 16 octets
])
def test_cookie_length_rules(cookie, kept):
    """RFC 7413 §4.1.1: a cookie is 4 to 16 octets, of even length."""
    assert (peer_cookie(Options(unknown=((34, cookie),))) or None) == (cookie if kept else None)
    t = Tcp()
    fo_connect(t)
    t.expect(REQUEST)
    t.send(synack_with(cookie)).ignore()
    assert t.host.tfo_cache.cookie(REMOTE_IP) == (cookie if kept else b"")


def test_experimental_option_is_read():
    """The experimental kind 254 with magic 0xF989 (RFC 6994) carries a cookie too."""
    opts = Options(unknown=((254, b"\xf9\x89" + COOKIE),))
    assert peer_cookie(opts) == COOKIE
    assert peer_cookie(Options(unknown=((254, b"\x12\x34" + COOKIE),))) is None


def test_unsolicited_cookie_is_not_cached():
    """A cookie on the SYN,ACK of a connection that did not ask is ignored
    (Linux: only a Fast Open SYN's answer is read), its MSS is kept."""
    t = Tcp(cfg(fastopen=0x5))                       # cookie-less: no option on the SYN
    conn = fo_connect(t, b"abc")
    t.expect(OUR_SYN._replace(payload=b"abc"))
    t.send(synack_with(COOKIE, ack=LOCAL_SEQ + 3, mss=940)).ignore()
    assert conn.state is ESTABLISHED
    assert t.host.tfo_cache.get(REMOTE_IP) == (b"", 940)


# --------------------------------------------------------------- the SYN's data
def test_syn_data_is_bounded_by_cached_mss():
    """The SYN carries at most min(MTU - 40, the server's cached MSS) - 40
    octets (Linux keeps 40 for options a middlebox may add)."""
    t = Tcp()
    warm(t, mss=940)
    conn = fo_connect(t, b"y" * 5000)
    assert conn.tfo_taken == 900
    got = t.take()
    assert len(got) == 1 and len(got[0].payload) == 900
    assert syn_room(1460, 0, None) == 1420
    assert syn_room(1460, 940, None) == 900
    assert syn_room(1460, 0, 1000) == 960


def test_syn_data_fully_acked():
    """RFC 7413 §4.2: the SYN,ACK acknowledges the data too: nothing to resend,
    TCPI_OPT_SYN_DATA is set (Linux's syn_data_acked)."""
    t = Tcp()
    warm(t)
    conn = fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    assert t.send(synack_with(None, ack=LOCAL_SEQ + 5)) == [
        RECV._replace(flags=ACK, seq=LOCAL_SEQ + 5, ack=REMOTE_SEQ)]
    assert conn.state is ESTABLISHED
    assert (conn.snd_una, conn.snd_nxt, len(conn.sndq)) == (LOCAL_SEQ + 5, LOCAL_SEQ + 5, 0)
    assert tcp_info(t.now, conn).options & TCPI_OPT_SYN_DATA


def test_syn_data_not_acked_is_sent_again():
    """RFC 7413 §4.2.2: a SYN,ACK that acknowledges only the SYN (the server
    did not take the data): the data goes again at once, after the
    handshake, with PSH (it ended a SEND)."""
    t = Tcp()
    warm(t)
    conn = fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    assert t.send(synack_with(COOKIE)) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"hello")]
    assert conn.state is ESTABLISHED
    assert not tcp_info(t.now, conn).options & TCPI_OPT_SYN_DATA


def test_syn_data_partly_acked():
    """A SYN,ACK acknowledging part of the data: the rest goes again."""
    t = Tcp()
    warm(t)
    fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    assert t.send(synack_with(None, ack=LOCAL_SEQ + 2)) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ + 2, ack=REMOTE_SEQ, payload=b"llo")]


def test_ack_beyond_the_data_is_refused():
    """SEG.ACK > SND.NXT (past the SYN's data) in SYN-SENT: a reset (RFC 9293
    §3.10.7.3), as for any SYN."""
    t = Tcp()
    warm(t)
    fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    got = t.send(synack_with(None, ack=LOCAL_SEQ + 6))
    assert [(s.flags, s.seq) for s in got] == [(0x04, LOCAL_SEQ + 6)]


def test_retransmitted_syn_has_no_option_nor_data():
    """A retransmitted SYN carries neither the option nor the data (Linux);
    once the handshake completes the data is sent (RFC 7413 §4.2.2)."""
    t = Tcp()
    warm(t)
    conn = fo_connect(t, b"hello")
    t.expect(fo_syn(COOKIE, b"hello"))
    got = t.advance(1.0)
    assert got == [OUR_SYN]
    assert t.send(PEER_SYN_ACK) == [
        RECV._replace(flags=ACK | PSH, seq=LOCAL_SEQ, ack=REMOTE_SEQ, payload=b"hello")]
    assert conn.state is ESTABLISHED


def test_unreadable_data_sends_a_cookie_request():
    """`data` None (the caller's buffer cannot be read: Linux's fallback in
    tcp_send_syn_data): a plain cookie request even with a cookie cached."""
    t = Tcp()
    warm(t)
    conn = fo_connect(t, None)
    t.expect(REQUEST)
    assert conn.tfo_taken == 0


def test_empty_write_with_a_cookie():
    """No data but a cookie: the SYN carries the cookie (Linux sends it)."""
    t = Tcp()
    warm(t)
    fo_connect(t, b"")
    t.expect(fo_syn(COOKIE))


# -------------------------------------------------------------------- the wire
def test_option_is_nop_aligned_on_the_wire():
    """Linux writes the option followed by two NOPs when its length leaves
    the next word unaligned; a 6-octet cookie needs none."""
    assert encode_options(Options(unknown=((34, b""),))) == bytes.fromhex("22020101")
    assert encode_options(Options(unknown=((34, COOKIE),))) == bytes.fromhex("2206abcd12340101")
    assert encode_options(Options(unknown=((34, b"\x11" * 6),))) == bytes.fromhex("2208" + "11" * 6)
    raw = encode_options(Options(mss=1460, unknown=((34, COOKIE),)))
    assert decode_options(raw, 0, len(raw)).unknown == ((34, COOKIE),)


def test_cache_keeps_the_old_cookie_when_none_comes():
    """A later SYN,ACK without a cookie updates the MSS and keeps the cookie."""
    cache = CookieCache()
    cache.learn("192.0.2.9", COOKIE, 1400)
    cache.learn("192.0.2.9", None, 940)
    assert cache.get("192.0.2.9") == (COOKIE, 940)
    cache.clear()
    assert cache.get("192.0.2.9") == (b"", 0)


def test_iss_unchanged_by_fastopen():
    """The SYN's sequence number is the ISS whatever rides on it."""
    t = Tcp()
    warm(t)
    fo_connect(t, b"z")
    got = t.take()
    assert got[0].seq == LOCAL_ISS and got[0].flags == SYN


def test_no_answer_falls_back_to_the_experimental_option():
    """Linux's fallback: a cookie request answered without any Fast Open
    option makes the next request use the experimental option (kind 254,
    magic 0xF989) once; unanswered again, kind 34 for good."""
    t = Tcp()
    exp_request = OUR_SYN._replace(options=Options(mss=LOCAL_MSS,
                                                   unknown=((254, b"\xf9\x89"),)))
    for want in (REQUEST, exp_request, REQUEST, REQUEST):
        fo_connect(t)
        t.expect(want)
        t.send(synack_with(None)).ignore()
        t.abort()
        t.take()
        t.events()


def test_experimental_cookie_is_sent_back_in_that_form():
    t = Tcp()
    fo_connect(t)
    t.expect(REQUEST)
    t.send(PEER_SYN_ACK._replace(options=Options(
        mss=1400, unknown=((254, b"\xf9\x89" + COOKIE),)))).ignore()
    t.abort()
    t.take()
    t.events()
    fo_connect(t, b"hi")
    t.expect(OUR_SYN._replace(options=Options(mss=LOCAL_MSS,
                                              unknown=((254, b"\xf9\x89" + COOKIE),)),
                              payload=b"hi"))
    assert encode_options(Options(unknown=((254, b"\xf9\x89"),))) == bytes.fromhex("fe04f989")
    assert encode_options(Options(unknown=((254, b"\xf9\x89" + b"\x11" * 4),))) == \
        bytes.fromhex("fe08f989" "11111111")
