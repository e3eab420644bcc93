"""SYN floods (issue 17, item 4), the cheap cookie path: the frame path's
cookie SYN,ACK is written from a per-listener template
(`synack.tun.framepath.syn_template` / `write_syn_ack`), and when the device
is backlogged only a budget of SYNs per batch is answered, so that the ACKs
completing handshakes and the data of established connections keep moving.

A fake TUN device (tests/test_tun_stack.py's FakeTun); the driver's clock is
pinned so that the frame path's answer can be compared octet for octet with
the engine's own (`Listener._send_cookie`, written by the generic
`framepath.write`). RFC 4987 §3.6 (cookies), RFC 9293 §3.1 (the checksum,
MUST-2), RFC 7323 §7.1 (the TSval offset).
"""
from __future__ import annotations

import os
import struct
import time

import pytest

from synack.engine.cookies import CookieJar, MSS_TABLE
from synack.engine.segment import ACK, PSH, SYN, Options, Segment
from synack.tun import vnet
from synack.tun.driver import TunStack, tun_config
from synack.wire import decode_ip, encode_ip

from test_tun_stack import K4, S4, FakeTun

SECRET = bytes(range(32))
NOW = 5000.25

# option octets of SYNs, as different stacks and flooders lay them out
# (RFC 9293 §3.2: options may start on any octet, MUST-64)
LAYOUTS = {     # name: (octets, has a timestamp option, answered by the frame path)
    "none": (b"", False, True),
    "mss": (b"\x02\x04\x05\xb4", False, True),
    "mss-ws-sack (flood tools)": (b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x00\x00", False, True),
    "linux (mss sack ts nop ws)": (b"\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x01\x02\x03"
                                   b"\x00\x00\x00\x00\x01\x03\x03\x07", True, True),
    "ts first, odd offset": (b"\x01\x08\x0a\x11\x22\x33\x44\x00\x00\x00\x00\x02\x04\x05\xb4\x00",
                             True, True),
    "ts only": (b"\x01\x01\x08\x0a\x7f\xff\xff\xff\x00\x00\x00\x00", True, True),
    "mss 2058 looks like a ts kind": (b"\x02\x04\x08\x0a\x01\x03\x03\x02\x01\x01\x04\x02",
                                      False, True),
    "two ts options (the last counts)": (b"\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00"
                                         b"\x08\x0a\x00\x00\x00\x02\x00\x00\x00\x00", True, False),
    "wscale 14, sack": (b"\x03\x03\x0e\x04\x02\x00\x00\x00", False, True),
    "mss 9000, ts": (b"\x02\x04\x23\x28\x01\x01\x08\x0a\xde\xad\xbe\xef\x00\x00\x00\x00",
                     True, True),
}


def _stack(mode: str, monkeypatch, **kw):
    monkeypatch.setattr(time, "monotonic", lambda: NOW)       # the driver's clock, pinned
    dev = FakeTun(vnet_hdr=mode == "fast")
    cfg = tun_config(mode).replace(syn_cookies="always")
    st = TunStack(device=dev, start=False, malloc_tuning=False, secret=SECRET, config=cfg, **kw)
    with st.op() as now:
        st.host.listen(now, 80, S4, 16)
    return dev, st


def _syn_frame(dev, src: str, sport: int, isn: int, opts: bytes, ts: int | None = None,
               flags: int = SYN) -> bytes:
    """A SYN as the kernel would hand it over, with raw option octets (and a
    new TSval put into the last timestamp option, if `ts`)."""
    ob = bytearray(opts)
    if ts is not None:
        k = bytes(ob).rfind(b"\x08\x0a")
        ob[k + 2:k + 6] = struct.pack("!I", ts)
    ob += bytes(-len(ob) % 4)
    hlen = 20 + len(ob)
    tcp = struct.pack("!HHIIBBHHH", sport, 80, isn, 0, hlen << 2, flags, 64240, 0, 0) + bytes(ob)
    s, d = bytes(map(int, src.split("."))), bytes(map(int, S4.split(".")))
    ph = s + d + struct.pack("!BBH", 0, 6, len(tcp))
    csum = _csum(ph + tcp)
    tcp = tcp[:16] + struct.pack("!H", csum) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    hdr = vnet.VnetHeader(vnet.F_DATA_VALID).pack() if dev.vnet else b""
    return hdr + ip + tcp


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def _raw_out(dev) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(dev.kernel.recv(1 << 17))
        except BlockingIOError:
            return out


def _pass(st, frames: list) -> None:
    with st.lock:
        st._run_pass(frames)


def _engine_answer(dev, st, frame: bytes) -> bytes:
    """The engine's own answer to the same SYN: decoded by the generic
    decoder and given to the listener, written by the generic write."""
    n = st._hdr_len
    src, dst, seg = decode_ip(frame[n:], verify_checksum=True)
    lst = st.host.listeners[(S4, 80)]
    with st.op() as now:
        assert now == NOW
        lst.on_segment(now, src, dst, seg)
    (raw,) = _raw_out(dev)
    return raw


@pytest.mark.parametrize("mode", ["fast", "plain"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_template_answer_is_octet_for_octet_the_engines(mode, layout, monkeypatch):
    """The templated SYN,ACK equals the engine's to the octet (headers,
    options, checksum field: the pseudo-header sum in fast mode, the full
    RFC 9293 §3.1 checksum in plain mode), for the first SYN of a layout
    (template made) and for later ones (template reused, other addresses,
    ports, ISNs and TSvals)."""
    dev, st = _stack(mode, monkeypatch)
    try:
        opts, has_ts, framepath = LAYOUTS[layout]
        for i, (src, sport, isn) in enumerate([("198.18.7.9", 40000, 123456),
                                               ("198.19.255.254", 1025, 0xFFFFFFFF),
                                               ("10.1.2.3", 65535, 0x80000000)]):
            frame = _syn_frame(dev, src, sport, isn, opts, ts=(77777 + i * 1000) if has_ts else None)
            _pass(st, [frame])
            (fast,) = _raw_out(dev)
            assert st.stats["syn_cookies_framepath"] == (i + 1 if framepath else 0)
            assert not st.host.conns and not st.host.listeners[(S4, 80)].syn_queue   # no state
            engine = _engine_answer(dev, st, frame)
            assert fast == engine, layout
            pkt = vnet.complete_checksum(*reversed(vnet.split(fast))) if dev.vnet else fast
            assert vnet.l4_checksum_ok(pkt)
            _, _, seg = decode_ip(pkt)
            assert seg.flags == SYN | ACK and seg.ack == (isn + 1) & 0xFFFFFFFF
        assert st.host.stats["syn_cookies_sent"] == 6
    finally:
        st.close()


def test_template_is_reused_and_follows_the_listeners_settings(monkeypatch):
    dev, st = _stack("fast", monkeypatch)
    try:
        opts = LAYOUTS["linux (mss sack ts nop ws)"][0]
        for i in range(5):
            _pass(st, [_syn_frame(dev, f"198.18.0.{i + 1}", 40000 + i, i, opts, ts=1000 + i)])
        assert len(_raw_out(dev)) == 5
        lst = st.host.listeners[(S4, 80)]
        (tpls,) = st._syn_tpls.values()
        assert len(tpls[1]) == 1            # one template for the layout, whatever the TSval
        # new settings (no timestamps, no SACK): a new template, still the engine's answer
        lst.cfg = lst.cfg.replace(timestamps=False, sack=False)
        frame = _syn_frame(dev, "198.18.9.9", 41000, 5, opts, ts=5000)
        _pass(st, [frame])
        (fast,) = _raw_out(dev)
        assert fast == _engine_answer(dev, st, frame)
        _, _, seg = decode_ip(vnet.complete_checksum(*reversed(vnet.split(fast))))
        assert seg.options.timestamp is None and not seg.options.sack_permitted
    finally:
        st.close()


def test_malformed_syn_options_go_to_the_engine_and_are_counted(monkeypatch):
    """MUST-7: an option whose length does not fit is a clean counted drop."""
    dev, st = _stack("plain", monkeypatch)
    try:
        _pass(st, [_syn_frame(dev, "198.18.0.1", 40000, 1, b"\x02\x09\x05\xb4")])
        assert _raw_out(dev) == []
        assert st.stats["syn_cookies_framepath"] == 0
        assert st.stats["drop_bad_option_length"] == 1
    finally:
        st.close()


def test_cookie_from_the_template_completes_a_handshake(monkeypatch):
    """The cookie and the TSval the template wrote are the CookieJar's: the
    final ACK (echoing TSval) makes a connection with the MSS, window scale
    and SACK the SYN asked for (RFC 4987 §3.6)."""
    dev, st = _stack("fast", monkeypatch)
    try:
        opts = LAYOUTS["linux (mss sack ts nop ws)"][0]
        _pass(st, [_syn_frame(dev, K4, 40000, 999, opts, ts=4242)])
        (_, src, dst, sa), = dev.take()
        assert (src, dst) == (S4, K4) and sa.options.timestamp[1] == 4242
        jar = CookieJar(SECRET)
        assert jar.check(NOW, (S4, 80, K4, 40000), 999, sa.seq) == MSS_TABLE[6]    # 1460
        dev.inject(K4, S4, Segment(40000, 80, 1000, sa.seq + 1, ACK, 502, 0,
                                   Options(timestamp=(4243, sa.options.timestamp[0]))))
        _pass(st, [os.read(st._fd, st.dev.bufsize)])
        conn = st.host.listeners[(S4, 80)].accept()
        assert conn is not None and conn.snd_wscale == 7 and conn.sack_ok and conn.ts_ok
        assert conn.snd_mss <= 1460
    finally:
        st.close()


def test_cookie_mac_and_ts_offset_are_keyed_and_distinct():
    """The cookie's 24-bit MAC and the TSval offset are disjoint bits of one
    keyed hash: another secret gives other values; another tick, ISN, port
    or address another MAC; the cookie fails for the wrong 4-tuple."""
    a, b = CookieJar(SECRET), CookieJar(bytes(32))
    key = (S4, 80, K4, 40000)
    isn_a, mss_a, off_a = a.make(NOW, key, 5, 1460)
    isn_b, _, off_b = b.make(NOW, key, 5, 1460)
    assert mss_a == 1460 and (isn_a, off_a) != (isn_b, off_b)
    assert a.check(NOW, key, 5, isn_a) == 1460
    assert a.check(NOW + 64, key, 5, isn_a) == 1460           # the previous tick still counts
    assert a.check(NOW + 128, key, 5, isn_a) is None
    assert a.check(NOW, (S4, 80, K4, 40001), 5, isn_a) is None
    assert a.check(NOW, key, 6, isn_a) is None
    assert b.check(NOW, key, 5, isn_a) is None
    assert off_a != isn_a
    # the packed form (the frame path's) gives the same cookie
    s4, k4 = bytes(map(int, S4.split("."))), bytes(map(int, K4.split(".")))
    assert a.make_packed(NOW, s4, 80, k4, 40000, 5, 6) == (isn_a, off_a)


def test_budget_drops_surplus_syns_while_batches_stay_full_and_counts_them(monkeypatch):
    """A full batch means more frames wait in the device. The first
    `syn_grace` in a row still answer every SYN, and so does the next; each
    further full batch in a row halves the SYNs answered, down to
    `syn_budget`; the rest are dropped with the reason counted. A batch
    that is not full answers all and lets the allowance grow back."""
    dev, st = _stack("fast", monkeypatch, batch=16, syn_budget=4)
    try:
        assert st.syn_grace == 8
        st.syn_grace = 2
        opts = LAYOUTS["mss-ws-sack (flood tools)"][0]
        frames = [_syn_frame(dev, f"198.18.1.{i + 1}", 30000 + i, i, opts) for i in range(16)]
        answered = []
        for _ in range(6):
            _pass(st, frames)
            answered.append(len(_raw_out(dev)))
        assert answered == [16, 16, 16, 8, 4, 4]
        assert st.stats["drop_syn_budget"] == 8 + 12 + 12
        assert st.host.stats["syn_cookies_sent"] == 64
        _pass(st, frames[:15])                       # not full: no budget
        assert len(_raw_out(dev)) == 15
        for _ in range(2):                           # within the grace again
            _pass(st, frames)
            assert len(_raw_out(dev)) == 16
        _pass(st, frames)                            # the allowance has doubled: 8
        assert len(_raw_out(dev)) == 8
        assert st.stats["drop_syn_budget"] == 32 + 8
    finally:
        st.close()


def test_no_budget_when_turned_off(monkeypatch):
    dev, st = _stack("plain", monkeypatch, batch=16, syn_budget=-1)
    try:
        opts = LAYOUTS["mss"][0]
        frames = [_syn_frame(dev, f"198.18.2.{i + 1}", 30000 + i, i, opts) for i in range(16)]
        for _ in range(3):
            _pass(st, frames)
            assert len(_raw_out(dev)) == 16
        assert st.stats["drop_syn_budget"] == 0
    finally:
        st.close()


def test_legitimate_traffic_is_handled_in_a_backlogged_batch(monkeypatch):
    """Under a flood, a full batch of SYNs also carries the ACK that
    completes a legitimate cookie handshake and data of an established
    connection: both are handled (the connection is made and accepted, the
    data acknowledged and readable), while the flood's SYNs past the budget
    are dropped."""
    dev, st = _stack("fast", monkeypatch, batch=64, syn_budget=8)
    st.syn_grace = 0
    try:
        lst = st.host.listeners[(S4, 80)]
        # an established connection (cookie handshake, one batch of its own)
        _pass(st, [_syn_frame(dev, K4, 40000, 999, LAYOUTS["mss"][0])])
        (_, _, _, sa1), = dev.take()
        dev.inject(K4, S4, Segment(40000, 80, 1000, sa1.seq + 1, ACK, 502, 0))
        _pass(st, [os.read(st._fd, st.dev.bufsize)])
        est = lst.accept()
        assert est is not None
        # a second legitimate client got its SYN,ACK before the flood
        _pass(st, [_syn_frame(dev, K4, 40001, 5000, LAYOUTS["mss"][0])])
        (_, _, _, sa2), = dev.take()
        # the flood fills a full batch; in its middle the ACK and the data
        flood = [_syn_frame(dev, f"198.18.{i // 250}.{i % 250 + 1}", 20000 + i, i,
                            LAYOUTS["mss-ws-sack (flood tools)"][0]) for i in range(62)]
        dev.inject(K4, S4, Segment(40001, 80, 5001, sa2.seq + 1, ACK, 502, 0))
        ack = os.read(st._fd, st.dev.bufsize)
        dev.inject(K4, S4, Segment(40000, 80, 1000, sa1.seq + 1, ACK | PSH, 502, 0,
                                   payload=b"hello"))
        data = os.read(st._fd, st.dev.bufsize)
        batch = flood[:30] + [ack] + flood[30:62] + [data]
        assert len(batch) == st.batch
        for _ in range(4):                           # the driver stays behind
            _pass(st, flood + flood[:2])
        assert st.stats["drop_syn_budget"] == (64 - 32) + (64 - 16) + (64 - 8)
        dev.take()
        _pass(st, batch)
        assert st.stats["drop_syn_budget"] == (64 - 32) + (64 - 16) + (64 - 8) + (62 - 8)
        conn = lst.accept()
        assert conn is not None and conn.remote_port == 40001
        with st.op() as now:
            assert est.recv(now, 100) == b"hello"
        acks = [s for _, src, dst, s in dev.take() if dst == K4 and s.dst_port == 40000]
        assert acks and acks[-1].ack == 1005
    finally:
        st.close()
