"""IPv4 (RFC 791) and IPv6 (RFC 8200) framing around TCP segments.

`encode_ip` builds a whole packet for a `Segment`; `decode_ip` validates an
IP packet and returns the addresses (as socket.inet_ntop text) and the
decoded segment. `wrap_tcp` / `unwrap_ip` do the same for raw TCP octets.

This stack is an endpoint: it does not reassemble fragments (they are
rejected with reason "fragment") and it does not forward, so IPv6
extension headers are only walked over to find the TCP header.
"""
from __future__ import annotations

import socket
import struct

from .._mypyc import mypyc_attr
from ..engine.segment import Segment
from .checksum import PROTO_TCP, checksum, ones_sum
from .tcp import (BadChecksum, MalformedSegment, WireError, decode_tcp,
                  encode_tcp, pack_address)

__all__ = ["NotTcp", "MalformedPacket", "BadIpChecksum", "encode_ip",
           "decode_ip", "wrap_tcp", "unwrap_ip", "address_family",
           "pack_address", "text_address"]


@mypyc_attr(native_class=False)
class NotTcp(WireError):
    """A valid IP packet whose payload is not TCP (protocol 6)."""

    reason = "not_tcp"


@mypyc_attr(native_class=False)
class MalformedPacket(MalformedSegment):
    """The IP header itself is invalid (bad version, lengths, ...)."""

    reason = "malformed_ip"


@mypyc_attr(native_class=False)
class BadIpChecksum(BadChecksum):
    """The IPv4 header checksum does not verify (RFC 791 §3.1)."""

    reason = "bad_ip_checksum"


# RFC 791 §3.1: version/IHL, TOS, total length, identification,
# flags/fragment offset, TTL, protocol, header checksum, addresses.
_V4 = struct.Struct("!BBHHHBBH4s4s")
# RFC 8200 §3: version/class/flow label, payload length, next header,
# hop limit, addresses.
_V6 = struct.Struct("!IHBB16s16s")

V4_HEADER_LEN = 20
V6_HEADER_LEN = 40
_DF = 0x4000                 # RFC 791 §3.1 flags: bit 1 Don't Fragment
_MF_AND_OFFSET = 0x3FFF      # More Fragments bit and the 13-bit offset

# RFC 8200 §4: extension headers we step over, and the fragment header.
HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTIONS = 0, 43, 44, 60
_SKIPPABLE = frozenset((HOP_BY_HOP, ROUTING, DEST_OPTIONS))

_CACHE_LIMIT = 4096
_TEXT: dict[bytes, str] = {}


# ---------------------------------------------------------------- addresses


def address_family(ip: str) -> int:
    """socket.AF_INET or socket.AF_INET6 for a text address."""
    return socket.AF_INET if len(pack_address(ip)) == 4 else socket.AF_INET6


def text_address(packed: bytes) -> str:
    """socket.inet_ntop text of a 4- or 16-octet address (cached)."""
    text = _TEXT.get(packed)
    if text is None:
        family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
        text = socket.inet_ntop(family, packed)
        if len(_TEXT) >= _CACHE_LIMIT:
            _TEXT.clear()
        _TEXT[packed] = text
    return text


# ---------------------------------------------------------------- encode


def wrap_tcp(src_ip: str, dst_ip: str, tcp_bytes: bytes, *, ttl: int = 64,
             ident: int = 0, tos: int = 0) -> bytes:
    """Prefix already-encoded TCP octets with an IPv4 or IPv6 header.

    IPv4 (RFC 791 §3.1): IHL 5, DF set (we never fragment), protocol 6,
    header checksum computed. IPv6 (RFC 8200 §3): next header 6, hop limit
    `ttl`. `tos`: the IPv4 TOS octet / IPv6 traffic class (RFC 2474's DS
    field and RFC 3168's ECN bits; IP_TOS, IPV6_TCLASS). Raises ValueError
    if the packet would exceed the 16-bit length.
    """
    src, dst = pack_address(src_ip), pack_address(dst_ip)
    if len(src) != len(dst):
        raise ValueError(f"address families differ: {src_ip} {dst_ip}")
    if len(src) == 4:
        total = V4_HEADER_LEN + len(tcp_bytes)
        if total > 0xFFFF:
            raise ValueError(f"IPv4 packet of {total} octets is too long")
        fields = [0x45, tos, total, ident, _DF, ttl, PROTO_TCP, 0, src, dst]
        fields[7] = checksum(_V4.pack(*fields))
        header = _V4.pack(*fields)
    else:
        if len(tcp_bytes) > 0xFFFF:
            raise ValueError("IPv6 payload too long (no jumbograms)")
        header = _V6.pack(6 << 28 | tos << 20, len(tcp_bytes), PROTO_TCP, ttl, src, dst)
    return header + tcp_bytes


def encode_ip(src_ip: str, dst_ip: str, seg: Segment, *, ttl: int = 64,
              ident: int = 0, tos: int = 0) -> bytes:
    """A complete IPv4 or IPv6 packet carrying `seg` (family from the
    addresses)."""
    return wrap_tcp(src_ip, dst_ip, encode_tcp(seg, src_ip, dst_ip),
                    ttl=ttl, ident=ident, tos=tos)


# ---------------------------------------------------------------- decode


def _unwrap_v4(view: memoryview) -> tuple[str, str, memoryview]:
    """Validate an IPv4 header (RFC 791 §3.1) and return the TCP octets."""
    n = len(view)
    if n < V4_HEADER_LEN:
        raise MalformedPacket("truncated", f"{n} octets, need 20")
    (vihl, _tos, total, _ident, frag, _ttl, proto, _csum, src,
     dst) = _V4.unpack_from(view)
    ihl = (vihl & 0x0F) << 2
    if ihl < V4_HEADER_LEN:
        raise MalformedPacket("bad_ihl", f"header length {ihl}")
    if total < ihl:
        raise MalformedPacket("bad_ip_length",
                              f"total length {total} < header {ihl}")
    if total > n:
        raise MalformedPacket("truncated", f"total length {total} > {n}")
    if ones_sum(view[:ihl]) != 0xFFFF:
        raise BadIpChecksum()
    if frag & _MF_AND_OFFSET:
        raise WireError("fragment", "IPv4 fragment (not reassembled)")
    if proto != PROTO_TCP:
        raise NotTcp("not_tcp", f"protocol {proto}")
    return text_address(src), text_address(dst), view[ihl:total]


def _unwrap_v6(view: memoryview) -> tuple[str, str, memoryview]:
    """Validate an IPv6 header (RFC 8200 §3), step over hop-by-hop, routing
    and destination options headers (§4.3, §4.4, §4.6), and return the TCP
    octets. A fragment header (§4.5) is rejected: we do not reassemble."""
    n = len(view)
    if n < V6_HEADER_LEN:
        raise MalformedPacket("truncated", f"{n} octets, need 40")
    _vcf, plen, next_header, _hops, src, dst = _V6.unpack_from(view)
    end = V6_HEADER_LEN + plen
    if end > n:
        raise MalformedPacket("truncated", f"payload length {plen} > {n - 40}")
    pos = V6_HEADER_LEN
    # Being liberal: we do not insist that hop-by-hop comes first (§4.1),
    # and as an endpoint we accept a routing header whatever its Segments
    # Left -- the packet reached us, and the pseudo-header uses the
    # destination address as received (§8.1).
    while next_header in _SKIPPABLE:
        # Each of these starts with Next Header and Hdr Ext Len, the length
        # in 8-octet units not counting the first 8 (RFC 8200 §4.3).
        if pos + 8 > end:
            raise MalformedPacket("bad_ext_header", "extension header cut off")
        next_header = view[pos]
        pos += (view[pos + 1] + 1) << 3
        if pos > end:
            raise MalformedPacket("bad_ext_header",
                                  "extension header too long")
    if next_header == FRAGMENT:
        raise WireError("fragment", "IPv6 fragment (not reassembled)")
    if next_header != PROTO_TCP:
        raise NotTcp("not_tcp", f"next header {next_header}")
    return text_address(src), text_address(dst), view[pos:end]


def unwrap_ip(data) -> tuple[str, str, memoryview]:
    """Validate the IP layer of `data`; return (src, dst, TCP octets).

    Octets beyond the IP total/payload length (link-layer padding) are
    ignored. Raises WireError subclasses with reasons "truncated",
    "bad_ip_version", "bad_ihl", "bad_ip_length", "bad_ip_checksum",
    "bad_ext_header", "fragment" and "not_tcp".
    """
    view = memoryview(data)
    if not view:
        raise MalformedPacket("truncated", "empty packet")
    version = view[0] >> 4
    if version == 4:
        return _unwrap_v4(view)
    if version == 6:
        return _unwrap_v6(view)
    raise MalformedPacket("bad_ip_version", f"version {version}")


def decode_ip(data, *, verify_checksum: bool = True
              ) -> tuple[str, str, Segment]:
    """Decode an IPv4 or IPv6 packet carrying TCP: (src, dst, Segment).

    `verify_checksum` applies to the TCP checksum only; an IPv4 header
    checksum is always verified (RFC 791 §3.1)."""
    src, dst, tcp = unwrap_ip(data)
    return src, dst, decode_tcp(tcp, src, dst,
                                verify_checksum=verify_checksum)
