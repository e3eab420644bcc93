"""TCP segments to and from bytes (RFC 9293 §3.1, §3.2; RFC 7323; RFC 2018).

`encode_tcp` turns a `Segment` into the octets of a TCP header, options and
payload with a correct checksum; `decode_tcp` does the reverse and rejects
anything malformed with a `WireError` whose `.reason` is a short, stable
identifier (the host counts drops by it).

The IP addresses are passed as text beside the segment because the
checksum covers a pseudo-header built from them (RFC 9293 §3.1, Figure 2
for IPv4; RFC 8200 §8.1 for IPv6); the family is chosen by the text form.
"""
from __future__ import annotations

import socket
import struct
from typing import Any

from .._mypyc import mypyc_attr
from ..engine.segment import NO_OPTIONS, Options, Segment
from .checksum import PROTO_TCP, fold, word_value

__all__ = ["WireError", "MalformedSegment", "BadChecksum", "encode_tcp",
           "decode_tcp", "encode_options", "decode_options", "pack_address",
           "MAX_OPTION_SPACE"]

# ---------------------------------------------------------------- errors


@mypyc_attr(native_class=False)
class WireError(Exception):
    """A packet or segment that cannot be accepted; `.reason` names why."""

    reason = "wire_error"

    def __init__(self, reason: str | None = None, detail: str = ""):
        if reason is not None:
            self.reason = reason
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)


@mypyc_attr(native_class=False)
class MalformedSegment(WireError):
    """The octets do not form a valid TCP segment (e.g. MUST-7 violations)."""

    reason = "malformed"


@mypyc_attr(native_class=False)
class BadChecksum(WireError):
    """The checksum does not verify (RFC 9293 §3.1, MUST-3)."""

    reason = "bad_checksum"


# ---------------------------------------------------------------- addresses

_CACHE_LIMIT = 4096
_PACKED: dict[str, bytes] = {}
_PAIR_VALUE: dict[tuple[str, str], int] = {}


def pack_address(ip: str) -> bytes:
    """The 4- or 16-octet network form of an IPv4 or IPv6 text address.

    Results are kept in a small dict: the hot path sees the same few
    addresses over and over.
    """
    packed = _PACKED.get(ip)
    if packed is None:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            packed = socket.inet_pton(family, ip)
        except (OSError, TypeError):
            raise ValueError(f"not an IP address: {ip!r}") from None
        if len(_PACKED) >= _CACHE_LIMIT:
            _PACKED.clear()
        _PACKED[ip] = packed
    return packed


def _pair_value(src_ip: str, dst_ip: str) -> int:
    """Word-sum value of the two pseudo-header addresses (cached)."""
    key = (src_ip, dst_ip)
    value = _PAIR_VALUE.get(key)
    if value is None:
        src, dst = pack_address(src_ip), pack_address(dst_ip)
        if len(src) != len(dst):
            raise ValueError(f"address families differ: {src_ip} {dst_ip}")
        value = int.from_bytes(src, "big") + int.from_bytes(dst, "big")
        if len(_PAIR_VALUE) >= _CACHE_LIMIT:
            _PAIR_VALUE.clear()
        _PAIR_VALUE[key] = value
    return value


# ---------------------------------------------------------------- layout

_HEADER = struct.Struct("!HHIIBBHHH")            # RFC 9293 §3.1, Figure 1
_HEADER_TS = struct.Struct("!HHIIBBHHHIII")   # + NOP,NOP,TS (RFC 7323 App. A)
_TWO_U32 = struct.Struct("!II")
_OPT_MSS = struct.Struct("!BBH")
_OPT_TS_FULL = struct.Struct("!BBII")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

HEADER_LEN = 20
MAX_OPTION_SPACE = 40             # data offset is 4 bits: at most 60 octets

EOL, NOP, MSS, WSCALE, SACK_PERMITTED, SACK, TIMESTAMP = 0, 1, 2, 3, 4, 5, 8
FASTOPEN = 34                 # RFC 7413 §4.1.1 (kept in `unknown`: engine/fastopen.py)
_KNOWN_KINDS = frozenset((EOL, NOP, MSS, WSCALE, SACK_PERMITTED, SACK,
                          TIMESTAMP))
_FIXED_LENGTH = {MSS: 4, WSCALE: 3, SACK_PERMITTED: 2, TIMESTAMP: 10}

_NOP_NOP_TS = 0x0101080A          # the word NOP, NOP, kind 8, length 10
_NOP_NOP_TS_VALUE = 0x0101 + 0x080A   # its contribution to the word sum


# ---------------------------------------------------------------- options


def encode_options(opts: Options) -> bytes:
    """The option octets for `opts`, padded to a multiple of 4.

    Layout follows the familiar Linux order so captures read naturally:
    MSS; SACK-permitted and timestamps (SACK-permitted taking the place of
    the two NOPs that otherwise align TS, RFC 7323 Appendix A); NOP and
    window scale; NOP, NOP and SACK blocks; then any `unknown` options as
    given (a Fast Open option, kind 34 or the experimental 254 with magic
    0xF989, followed by two NOPs where its length leaves the next option
    unaligned, as Linux writes it). Padding
    after the last option is EOL followed by zeros (RFC 9293 §3.1: the
    header past EOL MUST be zero, MUST-69).

    The wire layer encodes what it is given; deciding which options belong
    on which segment (e.g. MSS only on SYN, MUST-65) is the engine's job.
    Raises ValueError if a value does not fit or the options exceed the 40
    octets a header can carry.
    """
    mss, wscale, sack_permitted, sack, timestamp, unknown = opts
    out = bytearray()
    if mss is not None:
        out += _OPT_MSS.pack(MSS, 4, mss)
    if timestamp is not None:
        out += b"\x04\x02" if sack_permitted else b"\x01\x01"
        out += _OPT_TS_FULL.pack(TIMESTAMP, 10, *timestamp)
    elif sack_permitted:
        out += b"\x01\x01\x04\x02"
    if wscale is not None:
        out += bytes((NOP, WSCALE, 3, wscale))
    if sack:
        if len(sack) > 4:
            raise ValueError("at most 4 SACK blocks fit (RFC 2018 §3)")
        out += bytes((NOP, NOP, SACK, 2 + 8 * len(sack)))
        for left, right in sack:
            out += _TWO_U32.pack(left, right)
    for kind, data in unknown:
        if kind in _KNOWN_KINDS or not 0 <= kind <= 255 or len(data) > 38:
            raise ValueError(f"cannot encode unknown option {kind}")
        out += bytes((kind, 2 + len(data)))
        out += data
        if (kind == FASTOPEN or (kind == 254 and data[:2] == b"\xf9\x89")) \
                and len(data) & 3 == 0:
            out += b"\x01\x01"      # Linux aligns a Fast Open option with two NOPs
    out += bytes(-len(out) % 4)
    if len(out) > MAX_OPTION_SPACE:
        raise ValueError(f"options need {len(out)} octets, at most 40 fit")
    return bytes(out)


def _option_error(kind: int, detail: str) -> MalformedSegment:
    return MalformedSegment("bad_option_length", f"option {kind}: {detail}")


def decode_options(buf, start: int, end: int) -> Options:
    """Parse the options in buf[start:end] (RFC 9293 §3.1, §3.2).

    Options may start on any octet (MUST-64); parsing stops at EOL. Options
    this stack does not implement are skipped and kept in `unknown`
    (MUST-6). An illegal length -- below 2, past the end of the header, or
    not the fixed size of an option we know -- raises MalformedSegment with
    reason "bad_option_length" (MUST-7). A repeated option overrides the
    earlier one.
    """
    mss = wscale = timestamp = None
    sack_permitted = False
    sack: tuple = ()
    unknown: list = []
    i = start
    while i < end:
        kind = buf[i]
        if kind == EOL:
            break
        if kind == NOP:
            i += 1
            continue
        if i + 1 >= end:
            raise _option_error(kind, "no room for the length octet")
        length = buf[i + 1]
        if length < 2 or i + length > end:
            raise _option_error(kind, f"length {length} does not fit")
        fixed = _FIXED_LENGTH.get(kind)
        if fixed is not None and length != fixed:
            raise _option_error(kind, f"length {length}, expected {fixed}")
        if kind == MSS:
            mss = _U16.unpack_from(buf, i + 2)[0]
        elif kind == TIMESTAMP:
            timestamp = _TWO_U32.unpack_from(buf, i + 2)
        elif kind == SACK_PERMITTED:
            sack_permitted = True
        elif kind == WSCALE:
            wscale = buf[i + 2]
        elif kind == SACK:
            sack = _decode_sack(buf, i, length)
        else:
            unknown.append((kind, bytes(buf[i + 2:i + length])))
        i += length
    return Options(mss, wscale, sack_permitted, sack, timestamp,
                   tuple(unknown))


def _decode_sack(buf, i: int, length: int) -> tuple:
    """SACK blocks (RFC 2018 §3): length is 2 + 8n with n >= 1."""
    if length < 10 or (length - 2) % 8:
        raise _option_error(SACK, f"length {length} is not 2+8n")
    return tuple(_TWO_U32.unpack_from(buf, j)
                 for j in range(i + 2, i + length, 8))


# ---------------------------------------------------------------- encode


def _ts_only(opts: Options) -> bool:
    """True when the only option is timestamps (the common data segment)."""
    return (opts[4] is not None and opts[0] is None and opts[1] is None
            and not opts[2] and not opts[3] and not opts[5])


def encode_tcp(seg: Segment, src_ip: str, dst_ip: str, *,
               checksum: bool = True) -> bytes:
    """The octets of `seg`: header, options, payload (RFC 9293 §3.1).

    The data offset is computed from the options; the checksum covers the
    IPv4 or IPv6 pseudo-header picked by the family of the addresses
    (MUST-2). With checksum=False the field is left zero (for tests, or for
    an interface that offloads it). Raises ValueError when a field does not
    fit its width.
    """
    sport, dport, seq, ack, flags, window, urgent, opts, payload = seg
    ts_fast = opts is not NO_OPTIONS and _ts_only(opts)
    tsopt: Any = opts[4]                    # (TSval, TSecr) when ts_fast
    if ts_fast:
        option_bytes = b""
        hlen = 32
    elif opts is NO_OPTIONS or opts == NO_OPTIONS:
        option_bytes = b""
        hlen = HEADER_LEN
    else:
        try:
            option_bytes = encode_options(opts)
        except struct.error as exc:
            raise ValueError(f"option value out of range: {exc}") from None
        hlen = HEADER_LEN + len(option_bytes)
    offset_byte = hlen << 2                      # (hlen // 4) << 4
    csum = 0
    if checksum:
        # The word sum of the header is congruent (mod 0xFFFF) to its
        # fields added as integers, so no second packing pass is needed;
        # the payload is reduced on its own so the big integer is touched
        # by one `%` only.
        total = (_pair_value(src_ip, dst_ip) + PROTO_TCP + hlen + len(payload)
                 + sport + dport + seq + ack + (offset_byte << 8 | flags)
                 + window + urgent)
        if ts_fast:
            total += _NOP_NOP_TS_VALUE + tsopt[0] + tsopt[1]
        elif option_bytes:
            total += int.from_bytes(option_bytes, "big")
        if payload:
            total += word_value(payload) % 0xFFFF
        csum = 0xFFFF - fold(total)
    try:
        if ts_fast:
            header = _HEADER_TS.pack(sport, dport, seq, ack, offset_byte,
                                     flags, window, csum, urgent,
                                     _NOP_NOP_TS, *tsopt)
        else:
            header = _HEADER.pack(sport, dport, seq, ack, offset_byte, flags,
                                  window, csum, urgent)
    except struct.error as exc:
        raise ValueError(f"header field out of range: {exc}") from None
    return b"".join((header, option_bytes, payload))


# ---------------------------------------------------------------- decode


def decode_tcp(data, src_ip: str, dst_ip: str, *,
               verify_checksum: bool = True) -> Segment:
    """Parse a TCP segment from `data` (bytes, bytearray or memoryview).

    All fields are read as unsigned (MUST-1). The checksum is verified over
    the pseudo-header unless verify_checksum is False (MUST-3). Errors:
    MalformedSegment "truncated" (shorter than 20 octets), "bad_data_offset"
    (data offset < 5 or past the end), "bad_option_length" (MUST-7);
    BadChecksum "bad_checksum". The checksum is checked before the data
    offset and options, so random corruption is counted as a bad checksum.
    """
    n = len(data)
    if n < HEADER_LEN:
        raise MalformedSegment("truncated", f"{n} octets, need 20")
    if verify_checksum:
        # A correct segment sums to 0xFFFF; the sum includes the protocol
        # number, so it is never zero and "fold == 0xFFFF" is "% == 0".
        total = (_pair_value(src_ip, dst_ip) + PROTO_TCP + n
                 + word_value(data) % 0xFFFF)
        if total % 0xFFFF:
            raise BadChecksum("bad_checksum")
    (sport, dport, seq, ack, offset_byte, flags, window, _csum,
     urgent) = _HEADER.unpack_from(data)
    hlen = (offset_byte >> 4) << 2               # the 4 reserved bits ignored
    if hlen == HEADER_LEN:
        opts = NO_OPTIONS
    elif hlen < HEADER_LEN or hlen > n:
        raise MalformedSegment("bad_data_offset",
                               f"header length {hlen} with {n} octets")
    elif hlen == 32 and _U32.unpack_from(data, 20)[0] == _NOP_NOP_TS:
        opts = Options(None, None, False, (), _TWO_U32.unpack_from(data, 24),
                       ())
    else:
        opts = decode_options(data, HEADER_LEN, hlen)
    if hlen == n:
        payload = b""
    elif type(data) is bytes:
        payload = data[hlen:]
    else:
        payload = bytes(memoryview(data)[hlen:])
    return Segment(sport, dport, seq, ack, flags, window, urgent, opts,
                   payload)
