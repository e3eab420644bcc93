"""The reassembly queue (synack.engine.reassembly): out-of-order data above
RCV.NXT, held until the hole before it fills (RFC 9293 §3.10.7.4 seventh
step, SHLD-31), and what the SACK option (RFC 2018 §4) and D-SACK (RFC 2883
§4) need from it."""
from __future__ import annotations

import random

import pytest

from synack.engine.reassembly import Reassembly
from synack.engine.seq import MASK

TOP = 1 << 32


def spans(r: Reassembly) -> list[tuple[int, int]]:
    return [(b[0], b[1]) for b in r.blocks]


def test_empty_queue_holds_nothing():
    r = Reassembly()
    assert r.blocks == [] and r.size == 0 and r.held() == []
    assert r.sack_blocks() == []
    assert r.overlap_below(1000) is None
    q = bytearray()
    assert r.drain(1000, q) == 1000 and q == b""


def test_disjoint_segments_stay_apart_in_sequence_order():
    r = Reassembly()
    assert r.insert(100, 300, b"c" * 10) is False
    assert r.insert(100, 200, b"b" * 10) is False
    assert spans(r) == [(200, 210), (300, 310)]
    assert r.size == 20
    assert r.held() == [[200, b"b" * 10], [300, b"c" * 10]]


def test_adjacent_segments_merge_into_one_block():
    r = Reassembly()
    r.insert(100, 200, b"a" * 10)
    r.insert(100, 210, b"b" * 5)
    r.insert(100, 190, b"z" * 10)
    assert spans(r) == [(190, 215)]
    assert r.held() == [[190, b"z" * 10 + b"a" * 10 + b"b" * 5]]
    assert r.size == 25


def test_overlap_keeps_the_octets_already_held():
    """A segment overlapping held data adds only the octets not held yet;
    the held copy wins (what Linux's tcp_data_queue_ofo keeps, too, for the
    middle of a block)."""
    r = Reassembly()
    r.insert(0, 10, b"A" * 10)           # 10..20
    r.insert(0, 30, b"B" * 10)           # 30..40
    assert r.insert(0, 5, b"x" * 40) is False   # 5..45 covers both and the holes
    assert spans(r) == [(5, 45)]
    assert r.held() == [[5, b"x" * 5 + b"A" * 10 + b"x" * 10 + b"B" * 10 + b"x" * 5]]
    assert r.size == 40


def test_duplicate_is_reported_and_freshens_its_block():
    r = Reassembly()
    r.insert(0, 100, b"a" * 10)          # stamp 1
    r.insert(0, 200, b"b" * 10)          # stamp 2
    assert r.sack_blocks() == [(200, 210), (100, 110)]
    assert r.insert(0, 102, b"a" * 4) is True     # wholly held: a duplicate
    assert r.size == 20                              # nothing added
    # RFC 2018 §4: the block holding the latest segment is reported first
    assert r.sack_blocks() == [(100, 110), (200, 210)]


def test_partial_duplicate_is_not_a_duplicate():
    r = Reassembly()
    r.insert(0, 100, b"a" * 10)
    assert r.insert(0, 105, b"q" * 10) is False
    assert r.held() == [[100, b"a" * 10 + b"q" * 5]]


def test_sack_blocks_most_recently_changed_first():
    r = Reassembly()
    r.insert(0, 100, b"1" * 10)
    r.insert(0, 300, b"3" * 10)
    r.insert(0, 200, b"2" * 10)
    assert r.sack_blocks() == [(200, 210), (300, 310), (100, 110)]
    r.insert(0, 310, b"3" * 5)           # extends 300..310: it changed last
    assert r.sack_blocks() == [(300, 315), (200, 210), (100, 110)]


def test_drain_stops_at_the_next_hole():
    r = Reassembly()
    r.insert(0, 10, b"b" * 10)
    r.insert(0, 30, b"d" * 10)
    q = bytearray(b"a" * 10)             # in-order data 0..10 already queued
    assert r.drain(10, q) == 20
    assert q == b"a" * 10 + b"b" * 10
    assert spans(r) == [(30, 40)] and r.size == 10


def test_drain_takes_only_the_part_past_rcv_nxt():
    """In-order data that ran into a held block: the overlap is already in
    the receive queue, only the rest moves, and the overlap is what a D-SACK
    block reports (RFC 2883 §4.2)."""
    r = Reassembly()
    r.insert(0, 10, b"b" * 10)           # 10..20
    q = bytearray(b"a" * 14)             # the filling segment reached 14
    assert r.overlap_below(14) == (10, 14)
    assert r.drain(14, q) == 20
    assert q == b"a" * 14 + b"b" * 6
    assert r.blocks == [] and r.size == 0


def test_overlap_below_whole_block_and_none():
    r = Reassembly()
    r.insert(0, 10, b"b" * 10)
    assert r.overlap_below(10) is None         # reaches the block, no overlap
    assert r.overlap_below(25) == (10, 20)     # ran past the whole block
    q = bytearray()
    assert r.drain(25, q) == 25 and q == b""   # nothing new: rcv_nxt stays
    assert r.size == 0


@pytest.mark.parametrize("base", [TOP - 15, TOP - 1, TOP - 1000])
def test_wrap_around_2_32(base):
    """Blocks straddling 2**32 - 1 -> 0 sort, merge and drain as if the
    numbers did not wrap (RFC 9293 §3.4)."""
    r = Reassembly()
    s1 = (base + 10) & MASK
    s2 = (base + 30) & MASK
    r.insert(base, s2, b"d" * 10)
    r.insert(base, s1, b"b" * 10)
    assert spans(r) == [(s1, (s1 + 10) & MASK), (s2, (s2 + 10) & MASK)]
    r.insert(base, (base + 20) & MASK, b"c" * 10)
    assert spans(r) == [(s1, (s2 + 10) & MASK)]
    assert r.overlap_below((base + 12) & MASK) == (s1, (base + 12) & MASK)
    q = bytearray(b"a" * 10)
    assert r.drain((base + 10) & MASK, q) == (base + 40) & MASK
    assert q == b"a" * 10 + b"b" * 10 + b"c" * 10 + b"d" * 10
    assert r.blocks == [] and r.size == 0


def _model_run(rng: random.Random, base: int) -> None:
    """Random segments against a map octet -> byte: what is held, the
    duplicate answer and what drains must agree with it."""
    r = Reassembly()
    model: dict[int, int] = {}          # offset from base -> byte
    stream = bytes(rng.randrange(256) for _ in range(400))
    for _ in range(60):
        off = rng.randrange(1, 380)
        n = rng.randrange(1, 20)
        n = min(n, 400 - off)
        payload = stream[off:off + n]
        dup = all(off + i in model for i in range(n))
        assert r.insert(base, (base + off) & MASK, payload) is dup
        for i in range(n):
            model.setdefault(off + i, payload[i])
        assert r.size == len(model)
        # blocks are maximal runs of held octets, in order, disjoint, with holes between
        runs = []
        for o in sorted(model):
            if runs and runs[-1][1] == o:
                runs[-1][1] = o + 1
            else:
                runs.append([o, o + 1])
        assert spans(r) == [((base + a) & MASK, (base + b) & MASK) for a, b in runs]
        assert r.held() == [[(base + a) & MASK, stream[a:b]] for a, b in runs]
        assert sorted(r.sack_blocks()) == sorted(spans(r))
    # octet 0 arrives in order (RCV.NXT base -> base + 1): the drain stops at the first hole
    first_hole = 1
    while first_hole in model:
        first_hole += 1
    q = bytearray(stream[:1])
    got = r.drain((base + 1) & MASK, q)
    assert got == (base + first_hole) & MASK
    assert bytes(q) == stream[:first_hole]


@pytest.mark.parametrize("seed", range(12))
def test_random_segments_match_an_octet_model(seed):
    rng = random.Random(seed)
    base = rng.choice([0, TOP - 200, TOP - 1, rng.randrange(TOP)])
    _model_run(rng, base)
