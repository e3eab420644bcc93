"""The eleven TCP states and the transitions between them (RFC 9293 §3.3.2).

`TRANSITIONS` is the single table the engine enforces: every state change goes
through `Connection._set_state`, which refuses a pair that is not listed here.
The state diagram that `synack states` draws is generated from this table, so
the picture and the code cannot disagree.
"""
from __future__ import annotations

import enum
from typing import Final

from .._mypyc import mypyc_attr


class State(enum.Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RECEIVED = "SYN_RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    def __str__(self) -> str:
        return self.value

    # Members are singletons and compare by identity, so identity hashing is
    # exact -- and C-fast, unlike Enum's Python-level __hash__ (hot path: set
    # and dict look-ups of states on every segment).
    __hash__ = object.__hash__

    @property
    def rfc_name(self) -> str:
        """The spelling RFC 9293 uses: SYN-SENT, FIN-WAIT-1, ..."""
        return self.value.replace("_", "-")


CLOSED: Final = State.CLOSED
LISTEN: Final = State.LISTEN
SYN_SENT: Final = State.SYN_SENT
SYN_RECEIVED: Final = State.SYN_RECEIVED
ESTABLISHED: Final = State.ESTABLISHED
FIN_WAIT_1: Final = State.FIN_WAIT_1
FIN_WAIT_2: Final = State.FIN_WAIT_2
CLOSE_WAIT: Final = State.CLOSE_WAIT
CLOSING: Final = State.CLOSING
LAST_ACK: Final = State.LAST_ACK
TIME_WAIT: Final = State.TIME_WAIT

#: States in which both sequence spaces are synchronized (RFC 9293 §3.5.2).
SYNCHRONIZED: Final = frozenset({ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2, CLOSE_WAIT,
                          CLOSING, LAST_ACK, TIME_WAIT})
#: States in which the application may still queue data to send.
CAN_SEND: Final = frozenset({SYN_SENT, SYN_RECEIVED, ESTABLISHED, CLOSE_WAIT})
#: States in which the peer may still send us data (no FIN received yet).
CAN_RECEIVE: Final = frozenset({SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2})

# (from, to) -> what makes it happen, in the RFC's words where it has them.
TRANSITIONS: Final[dict[tuple[State, State], str]] = {
    (CLOSED, LISTEN): "passive OPEN",
    (CLOSED, SYN_SENT): "active OPEN / snd SYN",
    (LISTEN, SYN_RECEIVED): "rcv SYN / snd SYN,ACK",
    (LISTEN, CLOSED): "CLOSE",
    (SYN_SENT, ESTABLISHED): "rcv SYN,ACK / snd ACK",
    (SYN_SENT, SYN_RECEIVED): "rcv SYN (simultaneous open) / snd SYN,ACK",
    (SYN_SENT, CLOSED): "CLOSE, rcv RST, or SYN retransmissions exhausted",
    (SYN_RECEIVED, ESTABLISHED): "rcv ACK of SYN",
    (SYN_RECEIVED, LISTEN): "rcv RST (passive open)",
    (SYN_RECEIVED, FIN_WAIT_1): "CLOSE / snd FIN",
    (SYN_RECEIVED, CLOSE_WAIT): "rcv FIN / snd ACK",
    (SYN_RECEIVED, CLOSED): "rcv RST (active open), ABORT, or SYN,ACK retransmissions exhausted",
    (ESTABLISHED, FIN_WAIT_1): "CLOSE / snd FIN",
    (ESTABLISHED, CLOSE_WAIT): "rcv FIN / snd ACK",
    (ESTABLISHED, CLOSED): "rcv RST, ABORT, or timeout",
    (FIN_WAIT_1, FIN_WAIT_2): "rcv ACK of FIN",
    (FIN_WAIT_1, CLOSING): "rcv FIN / snd ACK",
    (FIN_WAIT_1, TIME_WAIT): "rcv FIN,ACK of FIN / snd ACK",
    (FIN_WAIT_1, CLOSED): "rcv RST, ABORT, or timeout",
    (FIN_WAIT_2, TIME_WAIT): "rcv FIN / snd ACK",
    (FIN_WAIT_2, CLOSED): "rcv RST, ABORT, or FIN-WAIT-2 timeout",
    (CLOSE_WAIT, LAST_ACK): "CLOSE / snd FIN",
    (CLOSE_WAIT, CLOSED): "rcv RST, ABORT, or timeout",
    (CLOSING, TIME_WAIT): "rcv ACK of FIN",
    (CLOSING, CLOSED): "rcv RST, ABORT, or timeout",
    (LAST_ACK, CLOSED): "rcv ACK of FIN, rcv RST, or timeout",
    (TIME_WAIT, CLOSED): "2MSL timeout, rcv RST, or new SYN takes over the 4-tuple",
}

#: TRANSITIONS by state: where each state may go (derived, for a cheap check)
SUCCESSORS: Final[dict[State, frozenset[State]]] = {
    st: frozenset(b for a, b in TRANSITIONS if a is st) for st in State}


@mypyc_attr(native_class=False)
class IllegalTransition(AssertionError):
    """The engine tried a state change that RFC 9293 does not have."""
