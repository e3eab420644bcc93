"""The state machine's one table (RFC 9293 §3.3.2, Figure 6) and its enforcement."""
import pytest

from synack.engine.config import rfc_profile
from synack.engine.host import Host
from synack.engine.states import (CLOSED, ESTABLISHED, SUCCESSORS, SYN_SENT, TIME_WAIT, TRANSITIONS,
                           IllegalTransition, State)


def test_successors_are_exactly_the_transitions_table():
    pairs = {(a, b) for a, succ in SUCCESSORS.items() for b in succ}
    assert pairs == set(TRANSITIONS)
    assert set(SUCCESSORS) == set(State)
    assert SUCCESSORS[TIME_WAIT] == {CLOSED}


def test_a_transition_not_in_rfc_9293_is_refused_and_nothing_changes():
    h = Host(["10.0.0.1"], rfc_profile())
    c = h.connect(0.0, "10.0.0.9", 80)
    assert c.state is SYN_SENT
    with pytest.raises(IllegalTransition, match="SYN_SENT -> TIME_WAIT"):
        c._set_state(0.0, TIME_WAIT, "no such edge")
    assert c.state is SYN_SENT
    c._set_state(0.0, ESTABLISHED, "rcv SYN,ACK / snd ACK")
    assert c.state is ESTABLISHED
