"""SYN floods (issue 17, item 4): the cookie answer from the TUN frame path.

A bare IPv4 SYN to a listener that is answering with SYN cookies (RFC 4987
§3.6) is answered in `synack.tun.framepath.syn_answer`, before the batch
reaches the host: no connection state, only the options decoded, the
listener's own SYN,ACK. Everything else still goes through the engine. A
fake TUN device (as in test_tun_stack.py); the clock is pinned so that the
frame path's answer can be compared octet for octet with the engine's.
"""
from __future__ import annotations

import time

import pytest

from synack.engine.segment import ACK, FIN, SYN, Options, Segment
from synack.tun.driver import TunStack, tun_config

from test_tun_stack import K4, S4, FakeTun, pump

SECRET = bytes(range(32))
SYN_OPTS = Options(mss=1460, wscale=7, sack_permitted=True, timestamp=(77777, 0))


def _stack(mode: str, cookies: str, monkeypatch):
    monkeypatch.setattr(time, "monotonic", lambda: 5000.25)     # the driver's clock, pinned
    dev = FakeTun(vnet_hdr=mode == "fast")
    cfg = tun_config(mode).replace(syn_cookies=cookies)
    st = TunStack(device=dev, start=False, malloc_tuning=False, secret=SECRET, config=cfg)
    with st.op() as now:
        st.host.listen(now, 80, S4, 16)
    return dev, st


def _answer(dev, st, seg, src=K4):
    dev.inject(src, S4, seg)
    pump(st, rounds=1)
    return dev.take()


@pytest.mark.parametrize("mode", ["fast", "plain"])
def test_cookie_syn_ack_comes_from_the_frame_path_and_equals_the_engines(mode, monkeypatch):
    syn = Segment(40000, 80, 123456, 0, SYN, 64240, 0, SYN_OPTS)
    dev, st = _stack(mode, "always", monkeypatch)
    try:
        (_, src, dst, fast), = _answer(dev, st, syn)
        assert st.stats["syn_cookies_framepath"] == 1
        assert st.host.stats["syn_cookies_sent"] == 1
        assert not st.host.conns and not st.host.listeners[(S4, 80)].syn_queue   # no state
        # the same SYN through the engine (the frame path turned away by
        # calling the listener directly, as the batch would)
        lst = st.host.listeners[(S4, 80)]
        with st.op() as now:
            lst.on_segment(now, K4, S4, syn)
        (_, src2, dst2, engine), = dev.take()
        assert (src, dst) == (src2, dst2) == (S4, K4)
        assert fast == engine
        assert fast.flags == SYN | ACK and fast.ack == 123457
        assert fast.options.mss and fast.options.wscale is not None and fast.options.sack_permitted
        assert fast.options.timestamp[1] == 77777
        # the cookie completes a handshake through the engine as before
        dev.inject(K4, S4, Segment(40000, 80, 123457, fast.seq + 1, ACK, 502, 0,
                                   Options(timestamp=(77778, fast.options.timestamp[0]))))
        pump(st, rounds=1)
        conn = lst.accept()
        assert conn is not None and conn.snd_wscale == 7 and conn.sack_ok
        assert st.host.stats["syn_cookies_accepted"] == 1
    finally:
        st.close()


def test_syns_the_engine_must_see_are_not_answered_in_the_frame_path(monkeypatch):
    dev, st = _stack("fast", "when-full", monkeypatch)
    try:
        # cookies not in use (the SYN queue has room): a real half-open child
        _answer(dev, st, Segment(40001, 80, 1000, 0, SYN, 64240, 0, SYN_OPTS))
        assert st.stats["syn_cookies_framepath"] == 0
        assert len(st.host.listeners[(S4, 80)].syn_queue) == 1
        # its retransmission: the 4-tuple is in use
        _answer(dev, st, Segment(40001, 80, 1000, 0, SYN, 64240, 0, SYN_OPTS))
        assert st.stats["syn_cookies_framepath"] == 0
        # SYN+FIN is not a bare SYN: the engine drops it
        _answer(dev, st, Segment(40002, 80, 2000, 0, SYN | FIN, 64240, 0, SYN_OPTS))
        assert st.host.stats["drop_syn_fin_in_listen"] == 1
        # a source that cannot be one end of a connection (multicast,
        # 240/4, 0.0.0.0): the engine drops it (MUST-57), no answer at all
        st.host.listeners[(S4, 80)].cfg = st.host.listeners[(S4, 80)].cfg.replace(
            syn_cookies="always")
        for bad in ("224.1.2.3", "250.0.0.1", "0.0.0.0"):
            assert _answer(dev, st, Segment(40004, 80, 4000, 0, SYN, 64240, 0, SYN_OPTS),
                           src=bad) == []
        assert st.host.stats["drop_bad_address"] == 3
        # no listener: the engine's RST
        (_, _, _, rst), = _answer(dev, st, Segment(40003, 81, 3000, 0, SYN, 64240, 0, SYN_OPTS))
        assert rst.flags & 0x04
        assert st.stats["syn_cookies_framepath"] == 0
    finally:
        st.close()


def test_syn_queue_full_switches_to_the_frame_path(monkeypatch):
    dev, st = _stack("plain", "when-full", monkeypatch)
    try:
        lst = st.host.listeners[(S4, 80)]
        for i in range(lst.backlog + 5):
            _answer(dev, st, Segment(41000 + i, 80, 1000 + i, 0, SYN, 64240, 0, SYN_OPTS))
        assert len(lst.syn_queue) == lst.backlog
        assert st.stats["syn_cookies_framepath"] == 5
    finally:
        st.close()
