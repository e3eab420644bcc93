"""Packets of a packetdrill script, on the wire.

The runner injects `<` lines as real IPv4/IPv6 octets (built here from the
script line, options in the order written) and reads what synack sends as
octets too (the engine's segments go through synack's own wire encoder), so
both directions are checked at the level packetdrill checks them: header
fields, the TCP options in their on-the-wire order and padding, the payload.

Sequence numbers follow packetdrill's tcpdump-like convention:

* on segments with SYN set, sequence and acknowledgement numbers are
  absolute for the side that picked them in the script (the script's own
  ISN for the remote side, whatever the script wrote in its `> S`/`> S.`
  line for the local side);
* on every other segment they are relative to the ISN of their side.

The remote side's live ISN is the script's (the runner picks the remote
ISN, so it is free to use the script's value); the local side's live ISN is
learned from the first SYN or SYN-ACK synack sends.

TCP timestamps: an outbound TS val is mapped into script space relative to
the first outbound packet whose expected and actual lines both carry a
timestamp; inbound TS ecr values are mapped back to the live TS val synack
sent for that script value. A TS val is only compared against the script
when `--tcp_ts_tick_usecs` is given, and an outbound TS ecr is not compared
at all -- both as packetdrill does.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..engine.seq import MASK
from ..wire import wrap_tcp
from ..wire.checksum import tcp_checksum
from ..wire.tcp import pack_address
from . import ast as A

# TCP header flag bits as they sit in the 16-bit word after the data offset
# nibble: the low 8 bits plus AE (RFC 9768 / the old NS bit).
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = (0x01, 0x02, 0x04, 0x08, 0x10,
                                              0x20, 0x40, 0x80, 0x100)
FLAG_LETTERS = (("F", FIN), ("S", SYN), ("R", RST), ("P", PSH), ("U", URG),
                ("E", ECE), ("W", CWR), ("A", AE))

OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACKOK, OPT_SACK = 0, 1, 2, 3, 4, 5
OPT_TS, OPT_MD5, OPT_FASTOPEN, OPT_EXP = 8, 19, 34, 254
_FASTOPEN_MAGIC = 0xF989

_TCP = struct.Struct("!HHIIHHHH")


class PacketError(Exception):
    """A script packet that cannot be turned into octets (e.g. an
    unsupported construct); the message says why."""


# --------------------------------------------------------------------------
# flags

def flags_from_script(text: str) -> int:
    """'P.' -> PSH|ACK. ACE digits (AccECN) are mapped to their bits."""
    bits = 0
    for ch in text:
        if ch == ".":
            bits |= ACK
        elif ch.isdigit():
            ace = int(ch)
            bits |= (ECE if ace & 1 else 0) | (CWR if ace & 2 else 0) | (AE if ace & 4 else 0)
        else:
            for letter, bit in FLAG_LETTERS:
                if letter == ch:
                    bits |= bit
    return bits


def flags_to_script(bits: int) -> str:
    """PSH|ACK -> 'P.'; no flags at all -> '-'."""
    text = "".join(letter for letter, bit in FLAG_LETTERS if bits & bit)
    if bits & ACK:
        text += "."
    return text or "-"


# --------------------------------------------------------------------------
# options as they are on the wire: an ordered list of (kind, data)

@dataclass(frozen=True)
class WireOption:
    kind: int
    data: bytes = b""          # the octets after kind and length

    @property
    def length(self) -> int:
        return 1 if self.kind in (OPT_EOL, OPT_NOP) else 2 + len(self.data)


def parse_options(raw: bytes) -> list[WireOption]:
    """The options in `raw` in order; parsing stops after EOL or at a
    length that does not fit (what is left is reported as one bogus option
    so a comparison fails rather than passes)."""
    out: list[WireOption] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == OPT_EOL:
            out.append(WireOption(OPT_EOL))
            break
        if kind == OPT_NOP:
            out.append(WireOption(OPT_NOP))
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            out.append(WireOption(kind, bytes(raw[i + 1:])))
            break
        length = raw[i + 1]
        out.append(WireOption(kind, bytes(raw[i + 2:i + length])))
        i += length
    return out


def option_to_text(opt: WireOption) -> str:
    k, d = opt.kind, opt.data
    if k == OPT_EOL:
        return "eol"
    if k == OPT_NOP:
        return "nop"
    if k == OPT_MSS and len(d) == 2:
        return f"mss {struct.unpack('!H', d)[0]}"
    if k == OPT_WSCALE and len(d) == 1:
        return f"wscale {d[0]}"
    if k == OPT_SACKOK and not d:
        return "sackOK"
    if k == OPT_SACK and d and len(d) % 8 == 0:
        blocks = [struct.unpack_from("!II", d, j) for j in range(0, len(d), 8)]
        return "sack " + " ".join(f"{a}:{b}" for a, b in blocks)
    if k == OPT_TS and len(d) == 8:
        val, ecr = struct.unpack("!II", d)
        return f"TS val {val} ecr {ecr}"
    if k == OPT_FASTOPEN:
        return ("FO " + d.hex()).strip()
    if k == OPT_EXP and len(d) >= 2 and struct.unpack_from("!H", d)[0] == _FASTOPEN_MAGIC:
        return ("FOEXP " + d[2:].hex()).strip()
    if k == OPT_MD5:
        return f"md5 {d.hex()}"
    return f"opt{k}[{d.hex()}]"


def options_to_text(opts: list[WireOption]) -> str:
    return "<" + ",".join(option_to_text(o) for o in opts) + ">"


# --------------------------------------------------------------------------
# a TCP segment read from octets

@dataclass
class WirePacket:
    """One TCP segment as it was on the wire (after the IP header)."""
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int
    options: list[WireOption]
    payload: bytes
    tos: int = 0
    ttl: int = 64
    header_len: int = 20

    @property
    def option_bytes(self) -> int:
        return self.header_len - 20

    def timestamp(self) -> tuple[int, int] | None:
        for o in self.options:
            if o.kind == OPT_TS and len(o.data) == 8:
                return struct.unpack("!II", o.data)
        return None

    @property
    def tuple4(self) -> tuple:
        return (self.src_ip, self.src_port, self.dst_ip, self.dst_port)


def parse_ip_tcp(raw: bytes) -> WirePacket:
    """Read an IPv4 or IPv6 packet carrying TCP (no IP options expected
    beyond what the IHL says; no IPv6 extension headers)."""
    version = raw[0] >> 4
    if version == 4:
        ihl = (raw[0] & 0x0F) * 4
        tos, ttl = raw[1], raw[8]
        src = ".".join(str(b) for b in raw[12:16])
        dst = ".".join(str(b) for b in raw[16:20])
        tcp = raw[ihl:]
    elif version == 6:
        import ipaddress
        word = struct.unpack_from("!I", raw)[0]
        tos = (word >> 20) & 0xFF
        ttl = raw[7]
        src = str(ipaddress.IPv6Address(bytes(raw[8:24])))
        dst = str(ipaddress.IPv6Address(bytes(raw[24:40])))
        tcp = raw[40:]
    else:
        raise PacketError(f"not an IP packet (version {version})")
    sport, dport, seq, ack, off_flags, window, _csum, urgent = _TCP.unpack_from(tcp)
    hlen = (off_flags >> 12) * 4
    flags = off_flags & 0x1FF
    return WirePacket(src, dst, sport, dport, seq, ack, flags, window, urgent,
                      parse_options(bytes(tcp[20:hlen])), bytes(tcp[hlen:]),
                      tos=tos, ttl=ttl, header_len=hlen)


# --------------------------------------------------------------------------
# sequence-number and timestamp mapping for the socket under test

@dataclass
class Mapping:
    """Script <-> live translation state of packetdrill's "socket under
    test" (see the module docstring)."""
    local_isn_live: int = 0
    local_isn_script: int = 0
    remote_isn: int = 0                 # live == script for the remote side
    ts_map: dict[int, int] = field(default_factory=dict)   # script val -> live val
    first_ts: tuple[int, int] | None = None                 # (script val, live val)
    ts_ecr_scaled: bool = False

    # outbound: live -> script
    def out_seq(self, seq: int, syn: bool) -> int:
        off = (self.local_isn_live - self.local_isn_script) if syn else self.local_isn_live
        return (seq - off) & MASK

    def out_ack(self, ack: int, syn: bool) -> int:
        return (ack - (0 if syn else self.remote_isn)) & MASK

    def out_ts_val(self, val: int) -> int:
        if self.first_ts is None:
            return val
        return (self.first_ts[0] + (val - self.first_ts[1])) & MASK

    # inbound: script -> live
    def in_seq(self, seq: int, syn: bool) -> int:
        return (seq + (0 if syn else self.remote_isn)) & MASK

    def in_ack(self, ack: int, syn: bool) -> int:
        off = (self.local_isn_live - self.local_isn_script) if syn else self.local_isn_live
        return (ack + off) & MASK

    def in_ts_ecr(self, ecr: int) -> int:
        live = self.ts_map.get(ecr)
        if live is not None:
            return live
        if self.ts_ecr_scaled and self.first_ts is not None:
            return (ecr - self.first_ts[0] + self.first_ts[1]) & MASK
        raise PacketError(f"unable to infer live TS ecr for script TS ecr {ecr}; "
                          "no matching or preceding outbound TS val")

    def learn_ts(self, script_val: int, live_val: int) -> None:
        self.ts_map[script_val] = live_val
        if self.first_ts is None:
            self.first_ts = (script_val, live_val)


# --------------------------------------------------------------------------
# building an injected packet

def _script_option_bytes(opt: A.TcpOption, mapping: Mapping, syn: bool,
                         has_ack: bool) -> bytes:
    if isinstance(opt, A.NopOption):
        return b"\x01"
    if isinstance(opt, A.EolOption):
        return b"\x00"
    if isinstance(opt, A.MssOption):
        return struct.pack("!BBH", OPT_MSS, 4, opt.mss)
    if isinstance(opt, A.WscaleOption):
        return struct.pack("!BBB", OPT_WSCALE, 3, opt.shift)
    if isinstance(opt, A.SackPermittedOption):
        return b"\x04\x02"
    if isinstance(opt, A.SackOption):
        out = struct.pack("!BB", OPT_SACK, 2 + 8 * len(opt.blocks))
        for left, right in opt.blocks:
            out += struct.pack("!II", mapping.in_ack(left, syn), mapping.in_ack(right, syn))
        return out
    if isinstance(opt, A.TimestampOption):
        ecr = opt.ecr
        if has_ack:
            ecr = mapping.in_ts_ecr(ecr)
        return struct.pack("!BBII", OPT_TS, 10, opt.val, ecr)
    if isinstance(opt, A.FastOpenOption):
        cookie = opt.cookie_bytes
        if opt.experimental:
            return struct.pack("!BBH", OPT_EXP, 4 + len(cookie), _FASTOPEN_MAGIC) + cookie
        return struct.pack("!BB", OPT_FASTOPEN, 2 + len(cookie)) + cookie
    if isinstance(opt, A.Md5Option):
        digest = bytes.fromhex(opt.digest)
        return struct.pack("!BB", OPT_MD5, 2 + len(digest)) + digest
    raise PacketError(f"unsupported: TCP option {opt}")


def build_inbound(pkt: A.Packet, mapping: Mapping, src: tuple[str, int],
                  dst: tuple[str, int]) -> bytes:
    """The IP packet for an inbound script line, sequence numbers, SACK
    blocks and TS ecr mapped to live values; payload is zeros, as in
    packetdrill."""
    bits = flags_from_script(pkt.flags)
    syn = bool(bits & SYN)
    has_ack = bool(bits & ACK)
    seq = mapping.in_seq(pkt.start_seq, syn)
    ack = pkt.ack or 0
    if has_ack:
        ack = mapping.in_ack(ack, syn)
    opt_bytes = b"".join(_script_option_bytes(o, mapping, syn, has_ack)
                         for o in (pkt.options or []))
    hlen = 20 + len(opt_bytes)
    sport = pkt.src_port if pkt.src_port else src[1]
    dport = pkt.dst_port if pkt.dst_port else dst[1]
    header = _TCP.pack(sport, dport, seq, ack, ((hlen // 4) << 12) | bits,
                       pkt.win or 0, 0, pkt.urg or 0)
    segment = header + opt_bytes + bytes(pkt.length)
    csum = tcp_checksum(pack_address(src[0]), pack_address(dst[0]), segment)
    segment = segment[:16] + struct.pack("!H", csum) + segment[18:]
    return wrap_tcp(src[0], dst[0], segment, ttl=pkt.ttl if pkt.ttl is not None else 64)


# --------------------------------------------------------------------------
# an actual packet in script space, for comparison and display

@dataclass
class ScriptView:
    """An actual packet with its numbers mapped into script space."""
    flags: int
    seq: int
    length: int
    ack: int
    window: int
    urgent: int
    options: list[WireOption]
    payload: bytes
    header_len: int
    tos: int
    ttl: int
    ts_val_raw: int | None = None

    def text(self, direction: str = ">") -> str:
        end = (self.seq + self.length) & MASK
        out = f"{direction} {flags_to_script(self.flags)} {self.seq}:{end}({self.length})"
        if self.flags & ACK or self.ack:
            out += f" ack {self.ack}"
        out += f" win {self.window}"
        if self.urgent:
            out += f" urg {self.urgent}"
        if self.options:
            out += " " + options_to_text(self.options)
        return out


def to_script_space(p: WirePacket, mapping: Mapping) -> ScriptView:
    syn = bool(p.flags & SYN)
    seq = mapping.out_seq(p.seq, syn)
    ack = mapping.out_ack(p.ack, syn) if p.flags & ACK else p.ack
    opts: list[WireOption] = []
    ts_raw = None
    for o in p.options:
        if o.kind == OPT_SACK and o.data and len(o.data) % 8 == 0:
            data = b"".join(struct.pack("!I", mapping.out_ack(v, syn))
                            for v in struct.unpack(f"!{len(o.data) // 4}I", o.data))
            opts.append(WireOption(OPT_SACK, data))
        elif o.kind == OPT_TS and len(o.data) == 8:
            val, ecr = struct.unpack("!II", o.data)
            ts_raw = val
            opts.append(WireOption(OPT_TS, struct.pack("!II", mapping.out_ts_val(val), ecr)))
        else:
            opts.append(o)
    return ScriptView(p.flags, seq, len(p.payload), ack, p.window, p.urgent, opts,
                      p.payload, p.header_len, p.tos, p.ttl, ts_raw)


def expected_text(pkt: A.Packet) -> str:
    """The expected line, as written (normalised spacing)."""
    return str(pkt)


def script_option_wire(opt: A.TcpOption) -> WireOption:
    """A script option as a WireOption in script space (no mapping)."""
    if isinstance(opt, A.NopOption):
        return WireOption(OPT_NOP)
    if isinstance(opt, A.EolOption):
        return WireOption(OPT_EOL)
    if isinstance(opt, A.MssOption):
        return WireOption(OPT_MSS, struct.pack("!H", opt.mss))
    if isinstance(opt, A.WscaleOption):
        return WireOption(OPT_WSCALE, bytes((opt.shift,)))
    if isinstance(opt, A.SackPermittedOption):
        return WireOption(OPT_SACKOK)
    if isinstance(opt, A.SackOption):
        return WireOption(OPT_SACK, b"".join(struct.pack("!II", a, b) for a, b in opt.blocks))
    if isinstance(opt, A.TimestampOption):
        return WireOption(OPT_TS, struct.pack("!II", opt.val, opt.ecr))
    if isinstance(opt, A.FastOpenOption):
        if opt.experimental:
            return WireOption(OPT_EXP, struct.pack("!H", _FASTOPEN_MAGIC) + opt.cookie_bytes)
        return WireOption(OPT_FASTOPEN, opt.cookie_bytes)
    if isinstance(opt, A.Md5Option):
        return WireOption(OPT_MD5, bytes.fromhex(opt.digest))
    raise PacketError(f"unsupported: TCP option {opt}")


# --------------------------------------------------------------------------
# comparing an actual packet with an expected line

_ECN_CODEPOINTS = {"noecn": 0, "ect1": 1, "ect0": 2, "ce": 3}


def compare(exp: A.Packet, act: ScriptView, *, ts_tick_usecs: int,
            tolerance_usecs: int) -> list[str]:
    """Every way `act` differs from `exp` (empty: it matches). The checks
    are packetdrill's: all flags, seq, ack (0 when the line gives none), the
    window when the line gives one, the urgent pointer, the TCP header
    length, the options in order (a TS val only within tolerance when a
    tick is set; TS ecr not at all), IP ECN/TOS/TTL when the line gives
    them, and the payload octets."""
    problems: list[str] = []
    ebits = flags_from_script(exp.flags)
    if ebits != act.flags:
        problems.append(f"flags: expected {flags_to_script(ebits)}, actual "
                        f"{flags_to_script(act.flags)}")
    if exp.start_seq != act.seq:
        problems.append(f"seq: expected {exp.start_seq}, actual {act.seq}")
    if exp.length != act.length:
        problems.append(f"payload: expected {exp.length} bytes, actual {act.length}")
    exp_ack = exp.ack or 0
    if exp_ack != act.ack:
        problems.append(f"ack: expected {exp_ack}, actual {act.ack}")
    if exp.win is not None and exp.win != act.window:
        problems.append(f"win: expected {exp.win}, actual {act.window}")
    if (exp.urg or 0) != act.urgent:
        problems.append(f"urg: expected {exp.urg or 0}, actual {act.urgent}")
    if exp.ecn is not None:
        got = act.tos & 3
        if exp.ecn == "ect01":
            if got not in (1, 2):
                problems.append(f"ip ecn: expected ECT(0) or ECT(1), actual {got:#x}")
        elif _ECN_CODEPOINTS[exp.ecn] != got:
            problems.append(f"ip ecn: expected {exp.ecn}, actual {got:#x}")
    if exp.tos is not None and exp.tos != act.tos:
        problems.append(f"ip tos: expected {exp.tos:#x}, actual {act.tos:#x}")
    if exp.ttl is not None and exp.ttl != act.ttl:
        problems.append(f"ip ttl: expected {exp.ttl}, actual {act.ttl}")
    if not exp.options_dont_care:
        problems.extend(_compare_options(exp, act, ts_tick_usecs, tolerance_usecs))
    if act.payload != bytes(len(act.payload)):
        problems.append("payload octets differ from what the script wrote (zeros)")
    return problems


def _compare_options(exp: A.Packet, act: ScriptView, tick: int, tol: int) -> list[str]:
    want = [script_option_wire(o) for o in (exp.options or [])]
    want_len = sum(o.length for o in want)
    # the option list ends at EOL on both sides; what follows is padding
    for i, o in enumerate(want):
        if o.kind == OPT_EOL:
            want = want[:i + 1]
            break
    shown = (f"expected {options_to_text(want) if want else 'no options'}, actual "
             f"{options_to_text(act.options) if act.options else 'no options'}")
    if 20 + want_len != act.header_len:
        return [f"TCP options: {shown} (header length {20 + want_len} vs {act.header_len})"]
    for w, a in zip(want, act.options):
        if w.kind != a.kind:
            return [f"TCP options: {shown}"]
        if w.kind in (OPT_NOP, OPT_EOL):
            continue
        if w.kind == OPT_TS:
            if tick and len(a.data) == 8 and len(w.data) == 8:
                wval = struct.unpack_from("!I", w.data)[0]
                aval = struct.unpack_from("!I", a.data)[0]
                diff = (aval - wval) & MASK
                if diff >= 1 << 31:
                    diff = (1 << 32) - diff
                if diff * tick > tol:
                    return [f"TS val: expected {wval}, actual {aval} "
                            f"(off by {diff} ticks of {tick} us; tolerance {tol} us)"]
            continue
        if w.data != a.data:
            return [f"TCP options: {shown}"]
    if len(want) != len(act.options):
        return [f"TCP options: {shown}"]
    return []


def fragment_problem(prev: ScriptView, cur: ScriptView) -> str | None:
    """packetdrill's test for gluing two consecutive segments into one
    expected line: same header layout and fields (FIN, PSH and CWR aside),
    contiguous sequence numbers."""
    mask = ~(FIN | PSH | CWR)
    if (prev.flags & mask) != (cur.flags & mask):
        return f"flags {flags_to_script(prev.flags)} then {flags_to_script(cur.flags)}"
    if (prev.seq + prev.length) & MASK != cur.seq:
        return f"sequence gap: {prev.seq}+{prev.length} then {cur.seq}"
    if prev.ack != cur.ack:
        return f"ack {prev.ack} then {cur.ack}"
    if prev.window != cur.window:
        return f"win {prev.window} then {cur.window}"
    if prev.header_len != cur.header_len:
        return f"TCP header length {prev.header_len} then {cur.header_len}"
    if prev.urgent != cur.urgent:
        return f"urg {prev.urgent} then {cur.urgent}"
    return None
