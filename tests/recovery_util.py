"""Helpers shared by the loss-recovery tests (test_recovery_*.py): SACK ACKs
and the offsets of what was sent, relative to our first data octet."""
from harness import ACK, LOCAL_SEQ, REMOTE_SEQ, Options

MSS = 1000
BIG = 65535


def ack(n: int, *blocks, window=BIG):
    """The peer's ACK of our first `n` octets, with SACK blocks given as
    (start, end) offsets from LOCAL_SEQ."""
    sack = tuple((LOCAL_SEQ + a, LOCAL_SEQ + b) for a, b in blocks)
    return dict(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + n, window=window,
                options=Options(sack=sack))


def offsets(segs) -> list[tuple[int, int]]:
    """(offset, length) of each data segment in `segs`."""
    return [(s.seq - LOCAL_SEQ, len(s.payload)) for s in segs if s.payload]
