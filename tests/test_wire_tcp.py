"""TCP header and option codec (RFC 9293 §3.1-3.2, RFC 7323, RFC 2018)."""
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synack.engine.segment import (ACK, CWR, FIN, NO_OPTIONS, PSH, SYN, Options,
                             Segment)
from synack.wire import (BadChecksum, MalformedSegment, WireError, decode_tcp,
                         encode_tcp)
from synack.wire.tcp import encode_options

from wireref import reference_ones_sum

V4 = ("192.0.2.1", "198.51.100.7")
V6 = ("2001:db8::1", "2001:db8:ffff::22")
U32 = st.integers(0, 2**32 - 1)
U16 = st.integers(0, 0xFFFF)


# ---------------------------------------------------------------- helpers




def pseudo(src_ip, dst_ip, length):
    """Pseudo-header built independently of the code under test."""
    if ":" in src_ip:
        return (socket.inet_pton(socket.AF_INET6, src_ip)
                + socket.inet_pton(socket.AF_INET6, dst_ip)
                + struct.pack("!I3xB", length, 6))
    return (socket.inet_aton(src_ip) + socket.inet_aton(dst_ip)
            + struct.pack("!xBH", 6, length))


def with_checksum(raw: bytes, addrs=V4) -> bytes:
    """Fill the checksum field of hand-built TCP octets (reference sum)."""
    zeroed = raw[:16] + b"\x00\x00" + raw[18:]
    csum = 0xFFFF - reference_ones_sum(pseudo(*addrs, len(raw)) + zeroed)
    return zeroed[:16] + struct.pack("!H", csum) + zeroed[18:]


def raw_tcp(options: bytes = b"", payload: bytes = b"", *, doff=None,
            flags=ACK, addrs=V4) -> bytes:
    """A hand-built segment with the given option octets, checksummed."""
    if doff is None:
        assert len(options) % 4 == 0, "test bug: pad the options"
        doff = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", 1000, 2000, 11, 22, doff << 4, flags,
                         512, 0, 0)
    return with_checksum(header + options + payload, addrs)


def reason_of(data, addrs=V4, **kw):
    with pytest.raises(WireError) as info:
        decode_tcp(data, *addrs, **kw)
    return info.value


# ---------------------------------------------------------------- strategies

UNKNOWN_KINDS = st.integers(6, 255).filter(lambda k: k != 8)


def options_fit(opts: Options) -> bool:
    try:
        encode_options(opts)
    except ValueError:
        return False
    return True


options_strategy = st.builds(
    Options,
    mss=st.none() | U16,
    wscale=st.none() | st.integers(0, 255),
    sack_permitted=st.booleans(),
    sack=st.lists(st.tuples(U32, U32), max_size=4).map(tuple),
    timestamp=st.none() | st.tuples(U32, U32),
    unknown=st.lists(st.tuples(UNKNOWN_KINDS, st.binary(max_size=8)),
                     max_size=2).map(tuple),
).filter(options_fit)

segments = st.builds(
    Segment,
    src_port=U16, dst_port=U16, seq=U32, ack=U32,
    flags=st.integers(0, 255), window=U16, urgent=U16,
    options=st.just(NO_OPTIONS) | options_strategy,
    payload=st.binary(max_size=3000),
)


# ---------------------------------------------------------------- round trip


@given(segments, st.sampled_from([V4, V6]))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(seg, addrs):
    wire = encode_tcp(seg, *addrs)
    assert decode_tcp(wire, *addrs) == seg
    assert decode_tcp(memoryview(wire), *addrs) == seg
    assert decode_tcp(bytearray(wire), *addrs) == seg


@given(segments, st.sampled_from([V4, V6]))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_encoded_layout_and_checksum_match_reference(seg, addrs):
    wire = encode_tcp(seg, *addrs)
    hlen = (wire[12] >> 4) * 4
    assert hlen % 4 == 0 and 20 <= hlen <= 60
    assert wire[hlen:] == seg.payload
    assert wire[12] & 0x0F == 0                       # reserved bits zero
    assert struct.unpack_from("!HHIIxBHxxH", wire) == (
        seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags,
        seg.window, seg.urgent)
    # The whole segment including its checksum sums to -0 (RFC 1071 §1(3)).
    assert reference_ones_sum(pseudo(*addrs, len(wire)) + wire) == 0xFFFF


def test_unsigned_fields():
    # MUST-1: window (and every other field) is unsigned.
    seg = Segment(0xFFFF, 0xFFFF, 2**32 - 1, 2**32 - 1, 0xFF, 0xFFFF, 0xFFFF,
                  Options(timestamp=(2**32 - 1, 2**32 - 1)))
    back = decode_tcp(encode_tcp(seg, *V4), *V4)
    assert back == seg and back.window == 65535 and back.seq == 2**32 - 1


def test_checksum_false_leaves_field_zero():
    seg = Segment(1, 2, 3, payload=b"abc")
    wire = encode_tcp(seg, *V4, checksum=False)
    assert wire[16:18] == b"\x00\x00"
    assert reason_of(wire).reason == "bad_checksum"
    assert decode_tcp(wire, *V4, verify_checksum=False) == seg


def test_checksum_depends_on_addresses():
    wire = encode_tcp(Segment(1, 2, 3, payload=b"x"), *V4)
    assert isinstance(reason_of(wire, ("192.0.2.1", "198.51.100.8")),
                      BadChecksum)


# ---------------------------------------------------------------- layout


def test_syn_option_order_is_linux_like():
    opts = Options(mss=1460, wscale=7, sack_permitted=True,
                   timestamp=(0x01020304, 0))
    wire = encode_tcp(Segment(1, 2, 3, 0, SYN, 64240, options=opts), *V4)
    assert wire[12] >> 4 == 10                        # 40-octet header
    assert wire[20:] == bytes.fromhex(
        "020405b4" "0402" "080a0102030400000000" "01" "030307")


def test_syn_without_sack_or_ts_uses_nop_alignment():
    wire = encode_options(Options(mss=536, wscale=0))
    assert wire == bytes.fromhex("02040218" "01030300")
    wire = encode_options(Options(mss=536, sack_permitted=True))
    assert wire == bytes.fromhex("02040218" "01010402")
    wire = encode_options(Options(timestamp=(5, 6)))
    assert wire == bytes.fromhex("0101080a" "00000005" "00000006")


def test_data_segment_option_order():
    opts = Options(timestamp=(7, 8), sack=((100, 200), (300, 400)))
    assert encode_options(opts) == bytes.fromhex(
        "0101080a0000000700000008" "01010512"
        "00000064000000c8" "0000012c00000190")


def test_padding_is_eol_then_zero():
    # RFC 9293 §3.1 (MUST-69): the header past EOL must be zero padding.
    assert encode_options(Options(unknown=((30, b"\x07"),))) == \
        bytes.fromhex("1e030700")
    assert encode_options(Options(wscale=3, unknown=((253, b""),))) == \
        bytes.fromhex("01030303" "fd020000")


def test_options_too_large_or_out_of_range():
    too_many = Options(timestamp=(1, 2), sack=((1, 2),) * 4)
    with pytest.raises(ValueError):
        encode_tcp(Segment(1, 2, 3, options=too_many), *V4)
    with pytest.raises(ValueError):
        encode_tcp(Segment(1, 2, 3, options=Options(mss=70000)), *V4)
    with pytest.raises(ValueError):
        encode_tcp(Segment(70000, 2, 3), *V4)
    with pytest.raises(ValueError):
        encode_tcp(Segment(1, 2, 2**32), *V4)
    with pytest.raises(ValueError):
        encode_options(Options(unknown=((2, b"\x00\x00"),)))
    with pytest.raises(ValueError):
        encode_tcp(Segment(1, 2, 3), "192.0.2.1", "2001:db8::1")
    with pytest.raises(ValueError):
        encode_tcp(Segment(1, 2, 3), "not-an-ip", "192.0.2.1")


# ---------------------------------------------------------------- parsing


def test_nop_padding_and_unaligned_options():
    # MUST-64: options need not be word-aligned.
    opts = b"\x01\x02\x04\x05\xb4\x03\x03\x02\x04\x02\x00\x00"
    seg = decode_tcp(raw_tcp(opts, flags=SYN), *V4)
    assert seg.options == Options(mss=1460, wscale=2, sack_permitted=True)


def test_eol_ends_the_list():
    # Anything after EOL is padding and is not parsed (RFC 9293 §3.2).
    opts = b"\x02\x04\x02\x00\x00\x02\x00\x00"
    seg = decode_tcp(raw_tcp(opts), *V4)
    assert seg.options == Options(mss=512)


def test_unknown_options_are_kept_and_skipped():
    # MUST-6: an option we do not implement is skipped by its length.
    opts = b"\x1e\x06abcd" + b"\xfd\x02" + b"\x02\x04\x01\x00"
    seg = decode_tcp(raw_tcp(opts, payload=b"data"), *V4)
    assert seg.options.unknown == ((30, b"abcd"), (253, b""))
    assert seg.options.mss == 256
    assert seg.payload == b"data"


def test_fast_path_timestamp_only():
    opts = b"\x01\x01\x08\x0a" + struct.pack("!II", 0xDEADBEEF, 42)
    seg = decode_tcp(raw_tcp(opts, b"p" * 10), *V4)
    assert seg.options == Options(timestamp=(0xDEADBEEF, 42))
    assert seg.payload == b"p" * 10


def test_twelve_octets_that_are_not_the_ts_layout():
    opts = b"\x01\x01\x05\x0a" + struct.pack("!II", 5, 9)   # one SACK block
    assert decode_tcp(raw_tcp(opts), *V4).options == Options(sack=((5, 9),))


@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
def test_sack_blocks(blocks):
    edges = tuple((i * 1000, i * 1000 + 500) for i in range(blocks))
    body = b"".join(struct.pack("!II", *e) for e in edges)
    opts = b"\x01\x01\x05" + bytes([2 + 8 * blocks]) + body
    assert decode_tcp(raw_tcp(opts), *V4).options.sack == edges


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("opts", [
    b"\x1e\x00\x00\x00",                 # length 0 (MUST-7's example)
    b"\x1e\x01\x00\x00",                 # length 1
    b"\x02\x00\x00\x00",                 # MSS with length 0
    b"\x01\x01\x01\x1e",                 # kind with no room for a length
    b"\x1e\x08\x00\x00",                 # runs past the header end
    b"\x02\x05\x05\xb4\x00\x00\x00\x00", # MSS must be 4
    b"\x02\x03\x05\x00",                 # MSS must be 4
    b"\x03\x04\x07\x00",                 # window scale must be 3
    b"\x03\x02\x00\x00",                 # window scale must be 3
    b"\x04\x03\x00\x00",                 # SACK-permitted must be 2
    b"\x08\x08\x00\x00\x00\x00\x00\x00", # timestamps must be 10
    b"\x08\x0c" + bytes(10),             # timestamps must be 10
    b"\x05\x02\x00\x00",                 # SACK with no block
    b"\x05\x09" + bytes(10),             # SACK not 2+8n
    b"\x05\x0b" + bytes(10),             # SACK not 2+8n
    b"\x05\x12" + bytes(10),             # SACK longer than the header
])
def test_bad_option_length(opts):
    err = reason_of(raw_tcp(opts))
    assert isinstance(err, MalformedSegment)
    assert err.reason == "bad_option_length"


@pytest.mark.parametrize("size", [0, 1, 10, 19])
def test_truncated(size):
    wire = encode_tcp(Segment(1, 2, 3), *V4)[:size]
    err = reason_of(wire)
    assert isinstance(err, MalformedSegment) and err.reason == "truncated"


@pytest.mark.parametrize("doff, extra", [(0, b""), (4, b""), (1, b""),
                                         (6, b""), (15, b"\x01" * 20)])
def test_bad_data_offset(doff, extra):
    err = reason_of(raw_tcp(extra, doff=doff))
    assert isinstance(err, MalformedSegment)
    assert err.reason == "bad_data_offset"


def test_data_offset_exactly_the_buffer():
    wire = raw_tcp(b"\x01" * 40)
    assert decode_tcp(wire, *V4) == Segment(1000, 2000, 11, 22, ACK, 512)


def test_flipped_payload_bit_is_bad_checksum():
    seg = Segment(1, 2, 3, 4, ACK | PSH, 100,
                  options=Options(timestamp=(1, 2)), payload=b"hello world")
    wire = bytearray(encode_tcp(seg, *V6))
    wire[-3] ^= 0x10
    err = reason_of(bytes(wire), V6)
    assert isinstance(err, BadChecksum) and err.reason == "bad_checksum"


@given(segments, st.sampled_from([V4, V6]), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_single_bit_flip_is_bad_checksum(seg, addrs, data):
    wire = bytearray(encode_tcp(seg, *addrs))
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BadChecksum):
        decode_tcp(bytes(wire), *addrs)


def test_error_reasons_are_plain_attributes():
    err = BadChecksum()
    assert err.reason == "bad_checksum" and isinstance(err, WireError)
    err = MalformedSegment("truncated", "3 octets")
    assert err.reason == "truncated" and "3 octets" in str(err)


# ---------------------------------------------------------------- fuzzing


@given(st.binary(max_size=120), st.sampled_from([V4, V6]), st.booleans())
@settings(max_examples=2000)
def test_random_bytes_only_raise_wire_errors(data, addrs, verify):
    try:
        seg = decode_tcp(data, *addrs, verify_checksum=verify)
    except WireError:
        return
    assert isinstance(seg, Segment)


@given(segments, st.data())
@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_segments_only_raise_wire_errors(seg, data):
    # Checksum off so the mutations reach the header and option parser.
    wire = bytearray(encode_tcp(seg, *V4))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, min(len(wire), 64) - 1))
        wire[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    try:
        decode_tcp(bytes(wire[:cut]), *V4, verify_checksum=False)
    except WireError:
        pass


def test_fin_flag_and_cwr_survive():
    seg = Segment(5, 6, 7, 8, FIN | ACK | CWR, 9)
    assert decode_tcp(encode_tcp(seg, *V6), *V6).flags == FIN | ACK | CWR
