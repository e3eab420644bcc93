"""IPv4 (RFC 791) and IPv6 (RFC 8200) framing of TCP segments."""
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synack.engine.segment import ACK, SYN, Options, Segment
from synack.wire import (BadChecksum, MalformedSegment, NotTcp, WireError,
                         address_family, decode_ip, encode_ip, encode_tcp)
from synack.wire.ip import unwrap_ip, wrap_tcp

from wireref import reference_ones_sum

V4 = ("192.0.2.1", "198.51.100.7")
V6 = ("2001:db8::1", "fe80::aa:bb")
U32 = st.integers(0, 2**32 - 1)
U16 = st.integers(0, 0xFFFF)




def v4_packet(tcp: bytes, *, ihl=5, total=None, frag=0x4000, proto=6,
              version=4, good_checksum=True, addrs=V4) -> bytes:
    """A hand-built IPv4 packet (RFC 791 §3.1) around `tcp`."""
    options = bytes(max(ihl - 5, 0) * 4)
    if total is None:
        total = ihl * 4 + len(tcp)
    header = struct.pack("!BBHHHBBH4s4s", version << 4 | ihl, 0, total, 7,
                         frag, 64, proto, 0, socket.inet_aton(addrs[0]),
                         socket.inet_aton(addrs[1])) + options
    csum = 0xFFFF - reference_ones_sum(header)
    if not good_checksum:
        csum ^= 0x0100
    return header[:10] + struct.pack("!H", csum) + header[12:] + tcp


def v6_packet(body: bytes, *, next_header=6, plen=None, addrs=V6) -> bytes:
    """A hand-built IPv6 packet (RFC 8200 §3); `body` includes any
    extension headers."""
    if plen is None:
        plen = len(body)
    return struct.pack("!IHBB16s16s", 6 << 28, plen, next_header, 64,
                       socket.inet_pton(socket.AF_INET6, addrs[0]),
                       socket.inet_pton(socket.AF_INET6, addrs[1])) + body


def ext(next_header: int, units: int = 0) -> bytes:
    """An extension header of (units+1)*8 octets (RFC 8200 §4.3-4.6)."""
    return bytes([next_header, units]) + bytes(6 + 8 * units)


SEG = Segment(40000, 80, 1000, 2000, ACK, 4096,
              options=Options(timestamp=(9, 10)), payload=b"payload!")


def error_of(data) -> WireError:
    with pytest.raises(WireError) as info:
        decode_ip(data)
    return info.value


# ---------------------------------------------------------------- round trip

options_strategy = st.builds(
    Options,
    mss=st.none() | U16,
    wscale=st.none() | st.integers(0, 14),
    sack_permitted=st.booleans(),
    sack=st.lists(st.tuples(U32, U32), max_size=2).map(tuple),
    timestamp=st.none() | st.tuples(U32, U32),
    unknown=st.just(()),
)
segments = st.builds(
    Segment, src_port=U16, dst_port=U16, seq=U32, ack=U32,
    flags=st.integers(0, 255), window=U16, urgent=U16,
    options=options_strategy, payload=st.binary(max_size=3000))
addresses = st.sampled_from([V4, V6, ("10.0.0.1", "10.0.0.2"),
                             ("::1", "::1"), ("2001:db8::5", "2001:db8::6")])


@given(segments, addresses, st.integers(1, 255), U16)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(seg, addrs, ttl, ident):
    packet = encode_ip(*addrs, seg, ttl=ttl, ident=ident)
    assert decode_ip(packet) == (addrs[0], addrs[1], seg)
    assert decode_ip(memoryview(packet)) == (addrs[0], addrs[1], seg)


@given(segments, addresses, st.binary(max_size=40))
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_trailing_bytes_are_ignored(seg, addrs, trailer):
    # Link layers may pad; only the IP length counts (RFC 791 §3.1).
    packet = encode_ip(*addrs, seg)
    assert decode_ip(packet + trailer)[2] == seg


def test_ipv4_header_fields():
    packet = encode_ip(*V4, SEG, ttl=33, ident=0x1234)
    (vihl, tos, total, ident, frag, ttl, proto, _csum, src,
     dst) = struct.unpack_from("!BBHHHBBH4s4s", packet)
    assert vihl == 0x45 and tos == 0
    assert total == len(packet) == 20 + len(encode_tcp(SEG, *V4))
    assert ident == 0x1234 and frag == 0x4000          # DF, no fragment
    assert ttl == 33 and proto == 6
    assert socket.inet_ntoa(src) == V4[0] and socket.inet_ntoa(dst) == V4[1]
    assert reference_ones_sum(packet[:20]) == 0xFFFF
    assert packet[20:] == encode_tcp(SEG, *V4)


def test_ipv6_header_fields():
    packet = encode_ip(*V6, SEG, ttl=9)
    first, plen, nh, hops, src, dst = struct.unpack_from("!IHBB16s16s", packet)
    assert first == 6 << 28 and nh == 6 and hops == 9
    assert plen == len(packet) - 40
    assert socket.inet_ntop(socket.AF_INET6, src) == V6[0]
    assert socket.inet_ntop(socket.AF_INET6, dst) == V6[1]
    assert packet[40:] == encode_tcp(SEG, *V6)


def test_wrap_tcp_is_encode_ip_in_two_steps():
    for addrs in (V4, V6):
        tcp = encode_tcp(SEG, *addrs)
        assert wrap_tcp(*addrs, tcp, ttl=3, ident=4) == \
            encode_ip(*addrs, SEG, ttl=3, ident=4)


def test_addresses_come_back_in_canonical_text():
    packet = encode_ip("2001:0db8:0000::0001", "fe80:0::AA:bb", SEG)
    src, dst, seg = decode_ip(packet)
    assert (src, dst) == ("2001:db8::1", "fe80::aa:bb") and seg == SEG


def test_address_family():
    assert address_family("10.1.2.3") == socket.AF_INET
    assert address_family("::ffff:10.1.2.3") == socket.AF_INET6
    assert address_family("2001:db8::1") == socket.AF_INET6
    with pytest.raises(ValueError):
        address_family("10.1.2")


def test_encode_rejects_oversized_and_mixed():
    with pytest.raises(ValueError):
        encode_ip(*V4, SEG._replace(payload=bytes(65536 - 40)))
    with pytest.raises(ValueError):
        encode_ip(V4[0], V6[1], SEG)
    # IPv6 has no header in its payload length, so this one still fits.
    assert decode_ip(encode_ip(*V6, SEG._replace(
        options=Options(), payload=bytes(65535 - 20))))[2].payload == \
        bytes(65535 - 20)


# ---------------------------------------------------------------- IPv4 errors


def test_ipv4_with_header_options_is_accepted():
    tcp = encode_tcp(SEG, *V4)
    assert decode_ip(v4_packet(tcp, ihl=7)) == (*V4, SEG)


@pytest.mark.parametrize("build, reason, kind", [
    (lambda t: b"", "truncated", MalformedSegment),
    (lambda t: v4_packet(t)[:19], "truncated", MalformedSegment),
    (lambda t: v4_packet(t, version=5), "bad_ip_version", MalformedSegment),
    (lambda t: v4_packet(t, version=0), "bad_ip_version", MalformedSegment),
    (lambda t: v4_packet(t, ihl=4), "bad_ihl", MalformedSegment),
    (lambda t: v4_packet(t, total=19), "bad_ip_length", MalformedSegment),
    (lambda t: v4_packet(t, ihl=6, total=22), "bad_ip_length",
     MalformedSegment),
    (lambda t: v4_packet(t, total=20 + len(t) + 1), "truncated",
     MalformedSegment),
    (lambda t: v4_packet(t, good_checksum=False), "bad_ip_checksum",
     BadChecksum),
    (lambda t: v4_packet(t, frag=0x2000), "fragment", WireError),   # MF
    (lambda t: v4_packet(t, frag=0x0001), "fragment", WireError),   # offset
    (lambda t: v4_packet(t, frag=0x6000), "fragment", WireError),
    (lambda t: v4_packet(t, proto=17), "not_tcp", NotTcp),
    (lambda t: v4_packet(t, proto=1), "not_tcp", NotTcp),
])
def test_ipv4_errors(build, reason, kind):
    err = error_of(build(encode_tcp(SEG, *V4)))
    assert isinstance(err, kind) and err.reason == reason


def test_df_alone_is_not_a_fragment():
    tcp = encode_tcp(SEG, *V4)
    assert decode_ip(v4_packet(tcp, frag=0x4000))[2] == SEG
    assert decode_ip(v4_packet(tcp, frag=0))[2] == SEG


def test_tcp_errors_pass_through():
    wire = bytearray(encode_tcp(SEG, *V4))
    wire[-1] ^= 1
    assert error_of(v4_packet(bytes(wire))).reason == "bad_checksum"
    assert error_of(v4_packet(bytes(wire[:12]))).reason == "truncated"
    assert decode_ip(v4_packet(bytes(wire)), verify_checksum=False)[2] \
        .payload[:-1] == SEG.payload[:-1]


def test_total_length_bounds_the_tcp_segment():
    # Payload octets beyond the IPv4 total length are not TCP data.
    tcp = encode_tcp(SEG, *V4)
    packet = v4_packet(tcp) + b"junk"
    src, dst, view = unwrap_ip(packet)
    assert bytes(view) == tcp


# ---------------------------------------------------------------- IPv6 errors


def test_ipv6_extension_headers_are_walked():
    tcp = encode_tcp(SEG, *V6)
    # hop-by-hop (first, RFC 8200 §4.1) -> routing -> destination options
    body = ext(43, 1) + ext(60, 0) + ext(6, 3) + tcp
    assert decode_ip(v6_packet(body, next_header=0)) == (*V6, SEG)
    body = ext(6, 2) + tcp                           # destination options
    assert decode_ip(v6_packet(body, next_header=60))[2] == SEG


@pytest.mark.parametrize("make, reason, kind", [
    (lambda t: v6_packet(t)[:39], "truncated", MalformedSegment),
    (lambda t: v6_packet(t, plen=len(t) + 1), "truncated", MalformedSegment),
    (lambda t: v6_packet(t, next_header=17), "not_tcp", NotTcp),
    (lambda t: v6_packet(t, next_header=59), "not_tcp", NotTcp),
    (lambda t: v6_packet(ext(6) + t, next_header=44), "fragment", WireError),
    (lambda t: v6_packet(ext(44) + ext(6) + t, next_header=0), "fragment",
     WireError),
    (lambda t: v6_packet(ext(6)[:5], next_header=0), "bad_ext_header",
     MalformedSegment),
    (lambda t: v6_packet(ext(6, 3)[:16], next_header=43), "bad_ext_header",
     MalformedSegment),
    (lambda t: v6_packet(ext(6) + t[:10], next_header=60), "truncated",
     MalformedSegment),
])
def test_ipv6_errors(make, reason, kind):
    err = error_of(make(encode_tcp(SEG, *V6)))
    assert isinstance(err, kind) and err.reason == reason


def test_ipv6_checksum_uses_ipv6_pseudo_header():
    # The same TCP octets checksummed for IPv4 do not verify under IPv6.
    tcp = encode_tcp(SEG, "192.0.2.1", "192.0.2.2")
    assert error_of(v6_packet(tcp)).reason == "bad_checksum"


# ---------------------------------------------------------------- fuzzing


@given(st.binary(max_size=200))
@settings(max_examples=2000)
def test_random_bytes_only_raise_wire_errors(data):
    try:
        decode_ip(data)
    except WireError:
        pass


@given(st.sampled_from([V4, V6]), st.booleans(), st.data())
@settings(max_examples=1500)
def test_mutated_packets_only_raise_wire_errors(addrs, syn, data):
    seg = Segment(1, 2, 3, 4, SYN if syn else ACK, 5,
                  options=Options(mss=1400, wscale=3, sack_permitted=True,
                                  timestamp=(1, 2)) if syn else
                  Options(timestamp=(3, 4), sack=((5, 6),)),
                  payload=b"xyz" * 5)
    packet = bytearray(encode_ip(*addrs, seg))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(packet) - 1))
        packet[pos] = data.draw(st.integers(0, 255))
    ihl = (packet[0] & 0x0F) * 4
    if addrs is V4 and 20 <= ihl <= len(packet) and data.draw(st.booleans()):
        # Repair the header checksum so the mutation reaches the checks
        # behind it (lengths, fragments, protocol, TCP).
        packet[10:12] = b"\x00\x00"
        packet[10:12] = struct.pack(
            "!H", 0xFFFF - reference_ones_sum(bytes(packet[:ihl])))
    cut = data.draw(st.integers(0, len(packet)))
    for verify in (True, False):
        try:
            decode_ip(bytes(packet[:cut]), verify_checksum=verify)
        except WireError:
            pass
