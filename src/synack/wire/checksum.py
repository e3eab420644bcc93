"""The Internet checksum (RFC 1071) and the TCP pseudo-headers.

RFC 1071 §1 defines the checksum as the 16-bit ones' complement of the
ones' complement sum of the data taken as big-endian 16-bit words (an odd
trailing octet is padded with a zero octet on its right).

Instead of looping over words in Python we use one arithmetic fact: since
2**16 == 1 (mod 0xFFFF), a big-endian byte string read as one big integer
is congruent, modulo 0xFFFF, to the plain sum of its 16-bit words. The
ones' complement sum is that plain sum with the carries folded back in
("end-around carry", RFC 1071 §1 and §2(C)), which is exactly a reduction
modulo 0xFFFF, except for how zero is written:

* all-zero input sums to +0, i.e. 0x0000;
* a nonzero input whose sum is a multiple of 0xFFFF has the sum -0, i.e.
  0xFFFF (end-around carry never turns a nonzero sum into 0x0000).

`fold` implements exactly that, so `int.from_bytes(data, "big")` plus one
`%` does the work of the whole RFC 1071 loop in C.

Because the sum is associative and commutative (RFC 1071 §2(A)), pieces may
be summed separately and added, as long as every piece except the last
starts at an even offset of the whole. `ones_sum_parts` handles arbitrary
piece lengths; callers that know their pieces are even (pseudo-header, TCP
header) simply add `int.from_bytes` values and `fold` once.
"""
from __future__ import annotations

import struct

PROTO_TCP = 6

_PSEUDO_V4 = struct.Struct("!4s4sBBH")     # RFC 9293 §3.1, Figure 2
_PSEUDO_V6 = struct.Struct("!16s16sI3xB")  # RFC 8200 §8.1


def fold(total: int) -> int:
    """Reduce a non-negative sum of big-endian word values to a 16-bit
    ones' complement sum (0..0xFFFF), following RFC 1071 §1.

    `total` must be a sum of nonnegative terms, so it is zero exactly when
    every octet summed was zero (the +0 case); any other multiple of 0xFFFF
    is the ones' complement -0, written 0xFFFF.
    """
    if total == 0:
        return 0
    return total % 0xFFFF or 0xFFFF


def word_value(data) -> int:
    """The big integer whose residue mod 0xFFFF equals the word sum of
    `data`, with an odd length padded by a zero octet (RFC 9293 §3.1)."""
    n = int.from_bytes(data, "big")
    return n << 8 if len(data) & 1 else n


def ones_sum(data) -> int:
    """16-bit ones' complement sum of `data` (bytes-like), 0..0xFFFF."""
    return fold(word_value(data))


def ones_sum_parts(parts) -> int:
    """ones_sum of the concatenation of `parts`, without concatenating.

    Appending a piece B to A multiplies A's value by 256**len(B), which is
    1 (mod 0xFFFF) for even len(B) and 256 for odd len(B).
    """
    acc = 0
    length = 0
    for part in parts:
        if len(part) & 1:
            acc <<= 8
        acc += int.from_bytes(part, "big")
        length += len(part)
    if length & 1:
        acc <<= 8
    return fold(acc)


def checksum(data) -> int:
    """The value to place in a checksum field: the ones' complement of
    ones_sum(data), computed with the field itself zeroed (RFC 1071 §1(2))."""
    return 0xFFFF - ones_sum(data)


def pseudo_header_v4(src: bytes, dst: bytes, tcp_length: int,
                     proto: int = PROTO_TCP) -> bytes:
    """The 12-octet IPv4 pseudo-header of RFC 9293 §3.1 (Figure 2)."""
    return _PSEUDO_V4.pack(src, dst, 0, proto, tcp_length)


def pseudo_header_v6(src: bytes, dst: bytes, tcp_length: int,
                     next_header: int = PROTO_TCP) -> bytes:
    """The 40-octet IPv6 pseudo-header of RFC 8200 §8.1: addresses, a
    32-bit upper-layer length, three zero octets and the next header."""
    return _PSEUDO_V6.pack(src, dst, tcp_length, next_header)


def pseudo_value(src: bytes, dst: bytes, tcp_length: int,
                 proto: int = PROTO_TCP) -> int:
    """A value congruent (mod 0xFFFF) to the word sum of the pseudo-header,
    for either family, computed without building it: every field is
    word-aligned, so the sum is just the fields added as integers."""
    return (int.from_bytes(src, "big") + int.from_bytes(dst, "big")
            + proto + tcp_length)


def tcp_checksum(src: bytes, dst: bytes, tcp_bytes, payload=b"") -> int:
    """The TCP checksum (RFC 9293 §3.1, MUST-2) over the pseudo-header for
    packed addresses `src`/`dst` (4 or 16 octets) and the segment.

    The segment may be given whole in `tcp_bytes`, or as an even-length
    header in `tcp_bytes` plus the `payload`, to avoid a concatenation. The
    caller zeroes the checksum field; if instead the field holds a correct
    checksum, the result is 0 (that is how a receiver can check, MUST-3).
    """
    if len(src) != len(dst) or len(src) not in (4, 16):
        raise ValueError("addresses must both be 4 or both be 16 octets")
    length = len(tcp_bytes) + len(payload)
    total = pseudo_value(src, dst, length) + word_value(tcp_bytes)
    if payload:
        if len(tcp_bytes) & 1:
            raise ValueError("header part must have an even length")
        total += word_value(payload)
    return 0xFFFF - fold(total)
