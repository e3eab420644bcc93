"""Segments and options are built in one place (synack.engine.segment's
make_segment / make_options, issue 11): their parameters follow the
records' fields, so a field added to Segment or Options cannot shift the
engine's values into the wrong field unnoticed."""
from __future__ import annotations

import inspect

from synack.engine.segment import (ACK, NO_OPTIONS, Options, Segment, make_options,
                                   make_segment)


def test_make_segment_parameters_are_the_segment_fields():
    assert tuple(inspect.signature(make_segment).parameters) == Segment._fields


def test_make_options_parameters_are_the_options_fields():
    assert tuple(inspect.signature(make_options).parameters) == Options._fields


def test_make_segment_equals_the_named_constructor():
    opts = make_options(1460, 7, True, ((1, 2),), (10, 20), ((99, b"x"),))
    assert opts == Options(mss=1460, wscale=7, sack_permitted=True, sack=((1, 2),),
                           timestamp=(10, 20), unknown=((99, b"x"),))
    assert type(opts) is Options and opts.timestamp == (10, 20)
    seg = make_segment(1, 2, 3, 4, ACK, 6, 7, opts, b"data")
    assert seg == Segment(src_port=1, dst_port=2, seq=3, ack=4, flags=ACK, window=6,
                          urgent=7, options=opts, payload=b"data")
    assert type(seg) is Segment and seg.payload == b"data" and seg.urgent == 7
    assert make_segment(1, 2, 3, 0, 0, 0, 0, NO_OPTIONS, b"") == Segment(1, 2, 3)


def test_the_engine_builds_segments_only_through_them():
    """No positional tuple.__new__ of a Segment or Options left in the engine
    outside segment.py."""
    import pathlib
    import re

    import synack.engine
    for path in pathlib.Path(synack.engine.__file__).parent.glob("*.py"):
        if path.name == "segment.py":
            continue
        src = path.read_text()
        assert "tuple.__new__" not in src and not re.search(r"(?<!\w)_new\(", src), path.name
