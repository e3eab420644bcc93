"""Sequence-number arithmetic modulo 2**32 (RFC 9293 §3.4), across the wrap."""
from hypothesis import given
from hypothesis import strategies as st

from synack.engine import seq

u32 = st.integers(0, 2**32 - 1)
near = st.integers(-(2**31 - 1), 2**31 - 1)


def test_comparisons_across_the_wrap():
    top = 2**32 - 10
    assert seq.lt(top, 5) and seq.le(top, 5) and not seq.gt(top, 5)
    assert seq.gt(5, top) and seq.ge(5, top)
    assert seq.add(top, 20) == 10
    assert seq.sub(10, top) == 20 and seq.sub(top, 10) == -20
    assert seq.between(top, 3, 20) and not seq.between(top, 20, 20)
    assert seq.max_seq(top, 3) == 3 and seq.min_seq(top, 3) == top


@given(a=u32, d=near)
def test_order_follows_the_signed_distance(a, d):
    b = seq.add(a, d)
    assert seq.sub(b, a) == d
    assert seq.lt(a, b) == (d > 0)
    assert seq.le(a, b) == (d >= 0)
    assert seq.gt(a, b) == (d < 0)
    assert seq.ge(a, b) == (d <= 0)
    assert seq.lt(a, b) != seq.ge(a, b)


@given(lo=u32, n=st.integers(1, 2**31 - 1), k=st.integers(0, 2**32 - 1))
def test_between_is_the_window_test(lo, n, k):
    hi = seq.add(lo, n)
    x = seq.add(lo, k)
    assert seq.between(lo, x, hi) == (k < n)


@given(a=u32)
def test_values_half_the_circle_apart_are_unordered(a):
    """The 2**31 edge, decided once: with "a < b iff 0 < (b - a) < 2**31"
    (RFC 9293 §3.4, RFC 7323 §5.2), two values exactly 2**31 apart are
    neither less than, greater than, nor equal to each other."""
    b = seq.add(a, 2**31)
    for x, y in ((a, b), (b, a)):
        assert not seq.lt(x, y) and not seq.le(x, y)
        assert not seq.gt(x, y) and not seq.ge(x, y)
    assert seq.lt(a, seq.add(a, 2**31 - 1)) and seq.gt(a, seq.add(a, 2**31 + 1))


def test_the_engine_compares_with_these_helpers():
    """One spelling: the connection's comparisons are seq.lt and seq.le."""
    from synack.engine import connection
    assert connection._lt is seq.lt and connection._le is seq.le
