"""The TUN driver's per-frame work, compiled in the mypyc build.

Decoding a batch of frames (with GRO: runs of in-order data merged, as Linux's
tcp_gro_receive does) and encoding and writing segments (fast mode: the
pseudo-header sum in the checksum field, the kernel completes it) run once per
frame, so they live here as plain functions of the `TunStack` (`st`) rather
than as its methods: the stack itself inherits from the interpreted socket-API
layer, this module does not, and setup.py compiles it with the engine
(`COMPILED_MODULES`). The methods of `TunStack` call these; docs/tun.md tells
what each step does and why.
"""
from __future__ import annotations

import os
import struct
import time
from typing import Any, Final

from ..engine.connection import syn_options, wanted_wscale
from ..engine.cookies import mss_index, ts_encode
from ..engine.segment import ACK, NO_OPTIONS, SYN, Segment, make_options, make_segment
from ..engine.seq import HALF, MASK
from ..wire import WireError, decode_ip, encode_ip
from ..wire.checksum import fold, word_value
from ..wire.ip import text_address
from ..wire.tcp import decode_options, encode_options, encode_tcp, pack_address
from . import vnet


# IPv4 header followed by the fixed TCP header (RFC 791 §3.1, RFC 9293 §3.1)
_V4TCP: Final = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
# IPv6 header followed by the fixed TCP header (RFC 8200 §3)
_V6TCP: Final = struct.Struct("!IHBB16s16sHHIIBBHHH")
_TS_WORD: Final = 0x0101080A                     # NOP, NOP, kind 8, length 10
_TS_OPT: Final = struct.Struct("!III")           # that word, TSval, TSecr
_TWO_U32: Final = struct.Struct("!II")
_U32: Final = struct.Struct("!I")
_DF: Final = 0x4000
_TTL_PROTO: Final = (64 << 8) | 6                # TTL 64, protocol TCP, as one word

_F_NO_VERIFY: Final = vnet.F_NEEDS_CSUM | vnet.F_DATA_VALID
_GRO_MAX: Final = 1 << 20                        # the most payload merged into one segment
_ZERO4: Final = bytes(4)
_ZERO8: Final = bytes(8)
_TS_PROBES: Final = (b"\x01\x02\x03\x04\x05\x06\x07\x08", b"\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1")


def collect(into: list):
    """A stand-in for os.writev that keeps the frames (for the impairment layer)."""
    def writev(fd, iov):
        into.append(iov)
    return writev


def receive_frames(st: Any, frames: list, now: float) -> None:
    """Decode a batch of frames and hand the segments to the host.

    Like GRO in a NIC driver, runs of back-to-back in-order data segments of
    one connection are merged into one segment before the engine sees them:
    only segments with the ACK flag (and PSH), the same acknowledgement
    number and identical option bytes (timestamps), each starting where the
    previous one ended -- the conditions Linux's tcp_gro_receive uses. The
    merged segment has the newest window field. Everything else goes to the
    engine as it came, in arrival order.
    """
    host = st.host
    items: list = []
    receive = items.append
    own = st._own
    off = st._hdr_len
    fast = st._fast
    stats = st.stats
    unpack = _V4TCP.unpack_from
    gro = st.gro
    # the run being merged: [src, dst, sport, dport, seq, next_seq, ack, flags,
    #                        window, urgent, option bytes, [payload views], size]
    run = None
    syn_budget_for(st, len(frames))
    for frame in frames:
        n = len(frame)
        verify = not (fast and n > off and frame[0] & _F_NO_VERIFY)
        try:
            if n >= off + 40 and frame[off] == 0x45:
                # IPv4 without options, carrying TCP: the common case, inline
                (_v, _tos, total, _id, frag, _ttl, proto, _ck, s, d, sport, dport, seq, ack,
                 offb, flags, window, _csum, urgent) = unpack(frame, off)
                hlen = (offb >> 4) << 2
                end = off + total
                if (proto == 6 and not frag & 0x3FFF and total >= 40 and end <= n
                        and 20 <= hlen <= total - 20
                        and int.from_bytes(frame[off:off + 20], "big") % 0xFFFF == 0):
                    src = text_address(s)
                    dst = text_address(d)
                    if dst not in own:
                        stats["drop_not_for_us"] += 1
                        continue
                    if verify and not tcp_sum_ok4(frame, off + 20, end, s, d):
                        stats["drop_bad_checksum"] += 1
                        continue
                    t = off + 20
                    plen = end - t - hlen
                    if flags == SYN and not plen and syn_answer(st, frame, t, hlen, src, dst, s, d,
                                                                sport, dport, seq, window, now):
                        continue
                    if gro and plen and (flags == 0x10 or flags == 0x18):
                        ob = frame[t + 20:t + hlen]
                        if run is not None:
                            if (run[5] == seq and run[6] == ack and run[2] == sport
                                    and run[3] == dport and run[0] == src and run[1] == dst
                                    and run[10] == ob and run[12] < _GRO_MAX):
                                run[11].append(memoryview(frame)[t + hlen:end])
                                run[5] = (seq + plen) & MASK
                                run[7] |= flags
                                run[8] = window
                                run[12] += plen
                                continue
                            receive(deliver_run(st, run))
                        run = [src, dst, sport, dport, seq, (seq + plen) & MASK, ack, flags,
                               window, urgent, ob, [memoryview(frame)[t + hlen:end]], plen]
                        continue
                    if run is not None:
                        receive(deliver_run(st, run))
                        run = None
                    if hlen == 20:
                        opts = NO_OPTIONS
                    elif hlen == 32 and _U32.unpack_from(frame, t + 20)[0] == _TS_WORD:
                        opts = make_options(None, None, False, (), _TWO_U32.unpack_from(frame, t + 24), ())
                    else:
                        opts = decode_options(frame, t + 20, t + hlen)
                    payload = frame[t + hlen:end] if plen else b""
                    receive((src, dst, make_segment(sport, dport, seq, ack, flags, window,
                                                    urgent, opts, payload)))
                    continue
            src, dst, seg = decode_ip(memoryview(frame)[off:], verify_checksum=verify)
        except WireError as e:
            stats["drop_" + e.reason] += 1
            continue
        if run is not None:
            receive(deliver_run(st, run))
            run = None
        if dst not in own:
            stats["drop_not_for_us"] += 1
            continue
        receive((src, dst, seg))
    if run is not None:
        receive(deliver_run(st, run))
    if None in items:
        items = [i for i in items if i is not None]
    batch = getattr(host, "receive_batch", None)
    if batch is not None:
        # every segment is processed before any connection answers (MUST-59)
        batch(now, items)
    else:
        for src, dst, seg in items:
            host.receive(now, src, dst, seg)


def syn_budget_for(st: Any, n: int) -> None:
    """How many SYNs `syn_answer` may answer in a batch of n frames
    (`st._syn_budget`; -1: all). A full batch means more frames are waiting
    in the device; but a thread that was not scheduled for a while also
    finds a full device, and a legitimate SYN dropped here costs its
    client a retransmission timeout. So only after `st.syn_grace` full
    batches in a row (the driver is then that many batches behind, still
    far from the device's queue limit, txqueuelen) does each further full
    batch halve the SYNs answered, down to `st.syn_budget`; every batch
    that is not full lifts the limit and doubles the allowance again, up
    to the batch size. Under a flood the driver then answers what it can
    while it still reads every frame, the ACKs and data among them, instead
    of losing them in the device's full queue."""
    floor = st.syn_budget
    if floor < 0:
        st._syn_budget = -1
        return
    allow = st._syn_allow
    if n >= st.batch:
        run = st._syn_full_run + 1
        st._syn_full_run = run
        if run <= st.syn_grace:
            st._syn_budget = -1
            return
        st._syn_budget = allow
        st._syn_allow = max(floor, allow >> 1)
    else:
        st._syn_full_run = 0
        st._syn_budget = -1
        st._syn_allow = min(st.batch, allow << 1)


def syn_answer(st: Any, frame, t: int, hlen: int, src: str, dst: str, s4: bytes, d4: bytes,
               sport: int, dport: int, seq: int, window: int, now: float) -> bool:
    """A bare SYN (IPv4, no data) to a listener that answers with SYN cookies
    now (RFC 4987 §3.6; syn_cookies "always", or "when-full" with the SYN
    queue full): the SYN,ACK is built and written here, in the frame path,
    without a batch entry, the host's dispatch or the listener's checks
    again, and without any connection state. The addresses are checked
    from their four octets (`host.unicast` parses the text, which for the
    random sources of a flood costs a fifth of the answer).
    The answer is the listener's own (`Listener._send_cookie`), octet for
    octet: it is written from a template made once per listener and SYN
    option layout (`syn_template`), with the cookie and TSval filled in and
    the checksums summed from the fields. False -- the engine takes the SYN
    as usual -- for anything else: a 4-tuple in use (a retransmitted SYN,
    TIME-WAIT), no listener, cookies not in use, a full accept queue (the
    engine counts the drop), bad addresses or options.

    When the driver stays behind (`st._syn_budget` >= 0, set per batch by
    `syn_budget_for`), only that many more SYNs are answered; the rest are
    dropped and counted (`drop_syn_budget`), so that the ACKs completing
    handshakes and the data of established connections, read in the same
    batches, keep moving instead of being lost in the device's full queue
    with everything else. A legitimate client retransmits a dropped SYN
    (RFC 9293 §3.8.1), but RFC 4987 §4 notes that at a high attack rate
    the retransmission may be lost too: hence a last resort only."""
    host = st.host
    if (dst, dport, src, sport) in host.conns:
        return False
    lst = host._listener_for(dst, dport)
    if lst is None:
        return False
    cfg = lst.cfg
    mode = cfg.syn_cookies
    if mode == "off" or (mode != "always" and len(lst.syn_queue) < lst.backlog):
        return False
    # unicast (host.unicast): not 0.0.0.0, not multicast (224/4), not 240/4
    if not lst.can_accept() or s4[0] >= 224 or d4[0] >= 224 or s4 == _ZERO4 or d4 == _ZERO4:
        return False
    budget = st._syn_budget
    if budget >= 0:
        if budget == 0:
            st.stats["drop_syn_budget"] += 1
            return True
        st._syn_budget = budget - 1
    ob = frame[t + 20:t + hlen]
    if type(ob) is not bytes:
        ob = bytes(ob)
    k = ob.find(b"\x08\x0a")                # a timestamp option: its values vary per SYN
    tkey = ob if k < 0 else ob[:k + 2] + _ZERO8 + ob[k + 10:]
    tpls = st._syn_tpls.get(lst)
    if tpls is None or tpls[0] is not cfg:
        if len(st._syn_tpls) > 16:
            st._syn_tpls.clear()
        tpls = st._syn_tpls[lst] = [cfg, {}]
    tpl = tpls[1].get(tkey)
    if tpl is None:
        tpl = syn_template(cfg, ob, k)
        if tpl is None:
            return False                     # bad options: the engine counts the drop
        if tpl[10]:
            if len(tpls[1]) > 64:
                tpls[1].clear()
            tpls[1][tkey] = tpl
    st.stats["syn_cookies_framepath"] += 1
    if st.pcap is not None or st.impair is not None or host.tos_used:
        # the generic path, which the capture, the impairment layer and a
        # listener's IP_TOS (Host.tos_of, in write) see
        out = host.outbox
        n = len(out)
        opts = decode_options(frame, t + 20, t + hlen) if hlen > 20 else NO_OPTIONS
        lst._send_cookie(now, src, dst, make_segment(sport, dport, seq, 0, SYN, window, 0, opts,
                                                    b""))
        if len(out) > n:
            write(st, [out.pop()])
        return True
    host.count("syn_cookies_sent")
    write_syn_ack(st, tpl, frame, t, k, s4, d4, sport, dport, seq, now)
    return True


def syn_template(cfg: Any, ob: bytes, k: int) -> tuple | None:
    """What every cookie SYN,ACK of a listener with settings `cfg` has in
    common for SYNs with the option octets `ob` (the timestamp values
    aside, `k` the offset of a timestamp option in `ob` or -1): the MSS
    index the cookie encodes, window scale and SACK-permitted for our TSval
    (cookies.ts_encode), and our option octets and their checksum
    contribution -- made with the listener's own `syn_options`, so the
    answer is `Listener._send_cookie`'s. A tuple
    (struct, mss index, has TS, peer wscale, SACK, total length, header
    length, word sum of the fixed fields, window, option parts, keep), or
    None when the options do not parse (MUST-7) or carry a timestamp
    option that is not at the first "08 0a" (the engine answers those).
    `keep` says whether the template may be kept under `syn_answer`'s key:
    not when "08 0a" was found inside another option (then `k` is no
    timestamp's offset, and such a SYN gets a template of its own)."""
    try:
        peer = decode_options(ob, 0, len(ob))
        if k >= 0 and not _ts_at(ob, k):
            if peer.timestamp is not None:
                return None                  # a timestamp option elsewhere: the engine answers
            k = -2                           # "08 0a" inside another option: no timestamps
    except WireError:
        return None
    idx = mss_index(peer.mss or 536)
    ts_on = bool(cfg.timestamps and peer.timestamp is not None)
    ws = peer.wscale if cfg.window_scaling else None
    sack = bool(peer.sack_permitted and cfg.sack)
    ours = encode_options(syn_options(cfg, peer, cfg.announced_mss(False),
                                      wanted_wscale(cfg, cfg.rcvbuf), 0x01020304 if ts_on else 0,
                                      0x05060708 if ts_on else 0))
    hlen = 20 + len(ours)
    total = 20 + hlen
    win = min(cfg.rcvbuf, 0xFFFF)            # a SYN's window is never scaled
    head = "!BBHHHBBH4s4sHHIIBBHHH"
    if ts_on:
        p = ours.index(b"\x01\x02\x03\x04\x05\x06\x07\x08")
        pre, post = ours[:p], ours[p + 8:]
        layout = struct.Struct(f"{head}{len(pre)}sII{len(post)}s")
        osum = int.from_bytes(pre + bytes(8) + post, "big")
        parts: tuple = (pre, post)
        if p & 1:
            return None                      # never with encode_options' layout
    else:
        layout = struct.Struct(f"{head}{len(ours)}s")
        osum = int.from_bytes(ours, "big")
        parts = (ours,)
    fixed = 6 + hlen + ((hlen << 2) << 8 | SYN | ACK) + win + osum
    return (layout, idx, ts_on, ws, sack, total, hlen, fixed, win, parts, k != -2)


def _ts_at(ob: bytes, k: int) -> bool:
    """Whether the timestamp option the engine reads (the last one,
    decode_options) starts at ob[k]: the template is keyed on `ob` without
    the 8 octets after k + 2, so only then is it right for every SYN with
    that key. Two probe values put there must both come back."""
    if len(ob) < k + 10:
        return False
    for probe in _TS_PROBES:
        try:
            got = decode_options(ob[:k + 2] + probe + ob[k + 10:], 0, len(ob)).timestamp
        except WireError:
            return False
        if got is None or _TWO_U32.pack(*got) != probe:
            return False
    return True


def write_syn_ack(st: Any, tpl: tuple, frame, t: int, k: int, s4: bytes, d4: bytes,
                  sport: int, dport: int, seq: int, now: float) -> None:
    """Write the cookie SYN,ACK for one SYN from its template (see
    `syn_answer`): IP header, TCP header and options packed at once. In
    fast mode the TCP checksum field holds the pseudo-header sum and the
    kernel completes it (NEEDS_CSUM); in plain mode it is summed from the
    fields here -- the fixed part once per template (RFC 1071 §2(A), the
    sum is associative), the cookie, ports, ACK and timestamps per answer."""
    layout, idx, ts_on, ws, sack, total, hlen, fixed, win, parts, _keyed = tpl
    isn, ts_off = st.host.cookies.make_packed(now, d4, dport, s4, sport, seq, idx)
    ack = (seq + 1) & MASK
    p = int.from_bytes(s4, "big") + int.from_bytes(d4, "big")
    ipck = 0xFFFF - fold(p + 0x4500 + total + _DF + _TTL_PROTO)
    if ts_on:
        tsecr = _U32.unpack_from(frame, t + 22 + k)[0]
        tsval = ts_encode((int(now * 1000) + ts_off) & MASK, ws, sack)
    else:
        tsecr = tsval = 0
    fast = st._fast
    if fast:
        csum = fold(p + 6 + hlen)            # NEEDS_CSUM: the pseudo-header sum (docs/tun.md)
    else:
        csum = 0xFFFF - fold(p + fixed + dport + sport + isn + ack + tsval + tsecr)
    if ts_on:
        pkt = layout.pack(0x45, 0, total, 0, _DF, 64, 6, ipck, d4, s4, dport, sport, isn, ack,
                          hlen << 2, SYN | ACK, win, csum, 0, parts[0], tsval, tsecr, parts[1])
    else:
        pkt = layout.pack(0x45, 0, total, 0, _DF, 64, 6, ipck, d4, s4, dport, sport, isn, ack,
                          hlen << 2, SYN | ACK, win, csum, 0, parts[0])
    try:
        if fast:
            os.writev(st._fd, (st._vh4, pkt))
        else:
            os.write(st._fd, pkt)
    except BlockingIOError:
        st.stats["drop_tx_full"] += 1
        return
    except OSError:
        if st.dev.closed:
            return
        raise
    st.stats["frames_out"] += 1


def deliver_run(st: Any, run: list):
    """The segment a GRO run stands for: (src, dst, Segment), or None."""
    src, dst, sport, dport, seq, _nxt, ack, flags, window, urgent, ob, parts, _size = run
    if not ob:
        opts = NO_OPTIONS
    elif len(ob) == 12 and _U32.unpack_from(ob)[0] == _TS_WORD:
        opts = make_options(None, None, False, (), _TWO_U32.unpack_from(ob, 4), ())
    else:
        try:
            opts = decode_options(ob, 0, len(ob))
        except WireError as e:
            st.stats["drop_" + e.reason] += 1
            return None
    if len(parts) == 1:
        payload = bytes(parts[0])
    else:
        payload = b"".join(parts)
        st.stats["gro_merged"] += len(parts) - 1
    return (src, dst, make_segment(sport, dport, seq, ack, flags, window, urgent, opts, payload))


def tcp_sum_ok(st: Any, frame, start: int, end: int, src: str, dst: str) -> bool:
    """Whether the TCP checksum of frame[start:end] verifies (RFC 9293 §3.1, MUST-2)."""
    total = pair(st, src, dst) + 6 + (end - start) + word_value(frame[start:end]) % 0xFFFF
    return total % 0xFFFF == 0


def tcp_sum_ok4(frame, start: int, end: int, s4: bytes, d4: bytes) -> bool:
    """`tcp_sum_ok` for IPv4 from the addresses' four octets (no text, no
    cache: a flood's random sources would only miss it)."""
    total = (int.from_bytes(s4, "big") + int.from_bytes(d4, "big") + 6 + (end - start)
             + word_value(frame[start:end]) % 0xFFFF)
    return total % 0xFFFF == 0


def pair(st: Any, src: str, dst: str) -> int:
    """The addresses' part of the pseudo-header sum, cached per (src, dst)."""
    key = (src, dst)
    v = st._pair_cache.get(key)
    if v is None:
        v = int.from_bytes(pack_address(src), "big") + int.from_bytes(pack_address(dst), "big")
        if len(st._pair_cache) > 4096:
            st._pair_cache.clear()
        st._pair_cache[key] = v
    return v


def coalesce(st: Any, out: list) -> list:
    """Drop pure ACKs that a later segment of the same connection in this
    batch makes redundant: one with a higher acknowledgement number, or
    with the same number and data or a FIN (the ACK would otherwise go out
    just before the answer it precedes). Pure ACKs with SACK blocks are kept,
    and so are runs of pure ACKs with the same number (duplicate ACKs are
    signals of their own, RFC 5681 §2)."""
    last: dict = {}
    for i, (src, dst, seg) in enumerate(out):
        if seg[4] & ACK:
            last[(src, seg[0], dst, seg[1])] = i
    if len(last) == len(out):
        return out
    keep = []
    dropped = 0
    for i, item in enumerate(out):
        src, dst, seg = item
        if seg[4] == ACK and not seg[8] and not seg[7].sack:
            j = last[(src, seg[0], dst, seg[1])]
            if j != i:
                later = out[j][2]
                d = (later[3] - seg[3]) & MASK
                if 0 < d < HALF or (d == 0 and (later[8] or later[4] != ACK)):
                    dropped += 1
                    continue
        keep.append(item)
    if dropped:
        st.stats["acks_coalesced"] += dropped
    return keep


def write(st: Any, out: list) -> None:
    own = st._own
    fd = st._fd
    fast = st._fast
    writev = os.writev
    stats = st.stats
    imp = st.impair
    held: list | None = None
    if imp is not None and imp.outbound:
        held = []
        writev = collect(held)
    if st.pcap is not None:
        writev = st.pcap.tap(writev)
    host = st.host
    for src, dst, seg in out:
        sport, dport, seq, ack, flags, window, urgent, opts, payload = seg
        # IP_TOS / IPV6_TCLASS of the connection (Host.tos_of; 0 unless set)
        tos = host.tos_of(src, sport, dst, dport) if host.tos_used else 0
        if dst in own:
            st._local.append(encode_ip(src, dst, seg, tos=tos))
            continue
        if opts is NO_OPTIONS:
            ob = b""
        elif (opts[4] is not None and opts[0] is None and opts[1] is None and not opts[2]
              and not opts[3] and not opts[5]):
            ob = _TS_OPT.pack(_TS_WORD, *opts[4])
        else:
            ob = encode_options(opts)
        hlen = 20 + len(ob)
        tcp_len = hlen + len(payload)
        v6 = ":" in src
        try:
            if fast:
                # NEEDS_CSUM: the field holds the pseudo-header sum, the
                # kernel adds header and payload (docs/tun.md)
                csum = fold(pair(st, src, dst) + 6 + tcp_len)
                if v6:
                    hdr = _V6TCP.pack(0x60000000 | tos << 20, tcp_len, 6, 64, pack_address(src),
                                      pack_address(dst), sport, dport, seq, ack, hlen << 2,
                                      flags, window, csum, urgent)
                    writev(fd, (st._vh6, hdr, ob, payload) if ob else (st._vh6, hdr, payload))
                else:
                    total = 20 + tcp_len
                    ipck = 0xFFFF - fold(pair(st, src, dst) + (0x4500 | tos) + total + _DF + _TTL_PROTO)
                    hdr = _V4TCP.pack(0x45, tos, total, 0, _DF, 64, 6, ipck, pack_address(src),
                                      pack_address(dst), sport, dport, seq, ack, hlen << 2,
                                      flags, window, csum, urgent)
                    writev(fd, (st._vh4, hdr, ob, payload) if ob else (st._vh4, hdr, payload))
            else:
                tcp = encode_tcp(seg, src, dst)
                if v6:
                    ip = struct.pack("!IHBB16s16s", 0x60000000 | tos << 20, tcp_len, 6, 64,
                                     pack_address(src), pack_address(dst))
                else:
                    total = 20 + tcp_len
                    ipck = 0xFFFF - fold(pair(st, src, dst) + (0x4500 | tos) + total + _DF + _TTL_PROTO)
                    ip = struct.pack("!BBHHHBBH4s4s", 0x45, tos, total, 0, _DF, 64, 6, ipck,
                                     pack_address(src), pack_address(dst))
                writev(fd, (ip, tcp))
        except BlockingIOError:
            stats["drop_tx_full"] += 1          # txqueue full: like a NIC drop
            continue
        except OSError:
            if st.dev.closed:
                return
            raise
    stats["frames_out"] += len(out)
    if held:
        for iov in imp.apply("out", held, time.monotonic()):
            st._writev(iov)
