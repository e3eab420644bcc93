"""The Internet checksum (RFC 1071) against a word-by-word reference."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synack.wire.checksum import (checksum, fold, ones_sum, ones_sum_parts,
                                  pseudo_header_v4, pseudo_header_v6,
                                  pseudo_value, tcp_checksum)

from wireref import reference_ones_sum




@given(st.binary(max_size=3000))
@settings(max_examples=500)
def test_matches_reference(data):
    assert ones_sum(data) == reference_ones_sum(data)
    assert checksum(data) == 0xFFFF - reference_ones_sum(data)


@given(st.lists(st.binary(max_size=64), max_size=8))
@settings(max_examples=300)
def test_parts_match_concatenation(parts):
    assert ones_sum_parts(parts) == reference_ones_sum(b"".join(parts))


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x00" * 7, b"\x00" * 64, b"\xff", b"\xff" * 2,
    b"\xff" * 3, b"\xff" * 1001, b"\x01", b"\xab\xcd\xef",
    b"\xff\xfe\x00\x01",          # sums to a multiple of 0xFFFF, nonzero
    b"\x80\x00\x7f\xff",
])
def test_edge_cases(data):
    assert ones_sum(data) == reference_ones_sum(data)


def test_zero_versus_negative_zero():
    # All-zero input is +0; a nonzero input summing to 0 mod 0xFFFF is -0.
    assert ones_sum(b"") == 0
    assert ones_sum(b"\x00\x00\x00") == 0
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\xff\xfe\x00\x01") == 0xFFFF
    assert fold(0) == 0 and fold(0xFFFF) == 0xFFFF and fold(0x1FFFE) == 0xFFFF


def test_rfc1071_numerical_example():
    # RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert checksum(data) == 0x220D


def test_odd_length_pads_on_the_right():
    # RFC 9293 §3.1: the last odd octet is padded with zeros on its right.
    assert ones_sum(b"\x12") == 0x1200
    assert ones_sum(b"\x00\x01\x12") == 0x1201


@given(st.binary(min_size=2, max_size=2000).filter(lambda b: len(b) % 2 == 0),
       st.integers(0, 999))
@settings(max_examples=300)
def test_buffer_with_own_checksum_sums_to_ffff(data, where):
    # RFC 1071 §1(3): a buffer holding its correct checksum sums to -0.
    pos = (where % (len(data) // 2)) * 2
    zeroed = data[:pos] + b"\x00\x00" + data[pos + 2:]
    field = struct.pack("!H", checksum(zeroed))
    filled = zeroed[:pos] + field + zeroed[pos + 2:]
    assert ones_sum(filled) == 0xFFFF
    assert reference_ones_sum(filled) == 0xFFFF


def test_pseudo_headers_layout():
    src, dst = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    assert pseudo_header_v4(src, dst, 40) == src + dst + b"\x00\x06\x00\x28"
    s6, d6 = bytes(range(16)), bytes(range(16, 32))
    ph6 = pseudo_header_v6(s6, d6, 70000)
    assert len(ph6) == 40
    assert ph6 == s6 + d6 + (70000).to_bytes(4, "big") + b"\x00\x00\x00\x06"


@given(st.sampled_from([4, 16]), st.data(), st.integers(0, 0xFFFF))
def test_pseudo_value_matches_pseudo_header(size, data, length):
    src = data.draw(st.binary(min_size=size, max_size=size))
    dst = data.draw(st.binary(min_size=size, max_size=size))
    build = pseudo_header_v4 if size == 4 else pseudo_header_v6
    assert fold(pseudo_value(src, dst, length)) == \
        reference_ones_sum(build(src, dst, length))


@given(st.sampled_from([4, 16]), st.data(),
       st.binary(min_size=20, max_size=60).filter(lambda b: len(b) % 2 == 0),
       st.binary(max_size=1500))
@settings(max_examples=200)
def test_tcp_checksum_against_reference(size, data, header, payload):
    src = data.draw(st.binary(min_size=size, max_size=size))
    dst = data.draw(st.binary(min_size=size, max_size=size))
    build = pseudo_header_v4 if size == 4 else pseudo_header_v6
    segment = header + payload
    whole = build(src, dst, len(segment)) + segment
    expected = 0xFFFF - reference_ones_sum(whole)
    assert tcp_checksum(src, dst, segment) == expected
    assert tcp_checksum(src, dst, header, payload) == expected
    # Filling in the checksum field (offset 16) makes it verify to 0.
    filled = segment[:16] + struct.pack("!H", 0) + segment[18:]
    filled = filled[:16] + struct.pack("!H", tcp_checksum(src, dst, filled)) \
        + filled[18:]
    assert tcp_checksum(src, dst, filled) == 0


def test_tcp_checksum_rejects_mixed_families():
    with pytest.raises(ValueError):
        tcp_checksum(b"\x00" * 4, b"\x00" * 16, b"\x00" * 20)
