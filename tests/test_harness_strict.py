"""The per-state harness is strict (smoltcp's `send!`/`recv!`): a segment a
test never looked at fails the test. These tests check the harness itself."""
import pytest

from harness import ACK, LOCAL_SEQ, PSH, REMOTE_SEQ, Tcp


def _data(t: Tcp):
    return t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"abc")


def test_unseen_answer_fails_at_the_next_call():
    t = Tcp.established()
    _data(t)                                   # the ACK of "abc" is never looked at
    with pytest.raises(AssertionError, match=r"never looked at \(before send\(\)\), returned at .*test_harness_strict.py"):
        t.send(flags=ACK, seq=REMOTE_SEQ + 3, ack=LOCAL_SEQ)
    Tcp.live.clear()


def test_unseen_answer_fails_at_the_end_of_the_test():
    t = Tcp.established()
    _data(t)
    with pytest.raises(AssertionError, match=r"never looked at \(at the end of the test\)"):
        Tcp.check_all_seen()


def test_pending_output_fails_before_send_and_advance():
    t = Tcp.established()
    t.write(b"x")
    with pytest.raises(AssertionError, match=r"still pending before send\(\) at .*test_harness_strict.py"):
        t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
    t = Tcp.established()
    t.write(b"y")
    with pytest.raises(AssertionError, match=r"still pending before advance\(\)"):
        t.advance(0.1)
    Tcp.live.clear()


@pytest.mark.parametrize("look", [
    lambda r: r == [],
    lambda r: r[0],
    lambda r: list(r),
    lambda r: len(r),
    lambda r: bool(r),
    lambda r: None in r,
    lambda r: r.ignore(),
])
def test_any_look_or_ignore_counts_as_seen(look):
    t = Tcp.established()
    look(_data(t))
    Tcp.check_all_seen()                       # raises nothing


def test_an_empty_answer_needs_no_look():
    t = Tcp.established()
    t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)   # a pure ACK: no reply
    Tcp.check_all_seen()
