"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4).

Sequence numbers live on a circle of 2**32 values, so "a < b" means "b lies
less than half the circle ahead of a": 0 < (b - a) mod 2**32 < 2**31, the
definition RFC 9293 §3.4 uses for sequence numbers and RFC 7323 §5.2 for
timestamps. Two values exactly 2**31 apart are therefore unordered: neither
is less than, or equal to, the other. (Linux's before() calls each of them
before the other; synack follows the RFCs' definition.) Every comparison in
the engine, of sequence numbers and of timestamps alike, goes through these
helpers so that the wrap is handled in exactly one way.
"""
from typing import Final

MOD: Final = 1 << 32
MASK: Final = MOD - 1
HALF: Final = 1 << 31


def add(a: int, n: int) -> int:
    """a + n on the sequence circle (n may be negative)."""
    return (a + n) & MASK


def sub(a: int, b: int) -> int:
    """The signed distance from b to a: positive when a is ahead of b."""
    d = (a - b) & MASK
    return d - MOD if d >= HALF else d


def lt(a: int, b: int) -> bool:
    """a < b modulo 2**32."""
    return 0 < ((b - a) & MASK) < HALF


def le(a: int, b: int) -> bool:
    """a =< b modulo 2**32."""
    return ((b - a) & MASK) < HALF


def gt(a: int, b: int) -> bool:
    """a > b modulo 2**32."""
    return 0 < ((a - b) & MASK) < HALF


def ge(a: int, b: int) -> bool:
    """a >= b modulo 2**32."""
    return ((a - b) & MASK) < HALF


def between(lo: int, x: int, hi: int) -> bool:
    """lo =< x < hi on the circle, for a window [lo, hi) shorter than 2**31."""
    return ((x - lo) & MASK) < ((hi - lo) & MASK)


def max_seq(a: int, b: int) -> int:
    """The later of two sequence numbers."""
    return b if lt(a, b) else a


def min_seq(a: int, b: int) -> int:
    """The earlier of two sequence numbers."""
    return a if lt(a, b) else b
