"""Out-of-order data held above RCV.NXT until the gap before it fills.

RFC 9293 §3.10.7.4 (seventh step) lets a receiver keep segments that start
past RCV.NXT (SHLD-31: "should" queue them for later processing); RFC 2018 §4
asks that the SACK option report the block holding the segment that arrived
last first, then the others from the most recently changed; RFC 2883 §4 adds
a D-SACK block for data that arrived twice.

A `Reassembly` holds disjoint, sorted blocks `[start, end, chunks, stamp]`:
sequence numbers `start` (first octet) and `end` (one past the last), the
payloads as a list of byte strings (a segment that extends a block appends a
chunk; nothing already held is copied), and `stamp`, which grows with every
insert and says which block changed last. Adjacent blocks are merged, so two
blocks always have a hole between them.

The connection keeps one only while data is held (it is None otherwise: most
connections never see reordering).
"""
from __future__ import annotations

from typing import Final

from .seq import HALF, MASK, gt

_MASK: Final = MASK
_HALF: Final = HALF


def _first(b: list) -> int:
    return b[0]


def _stamp(b: list) -> int:
    return b[3]


class Reassembly:
    """The out-of-order queue of one connection (see the module docstring)."""

    __slots__ = ("blocks", "size", "stamp")

    def __init__(self) -> None:
        self.blocks: list = []     # [[start, end, [chunks], stamp], ...] in sequence order
        self.size = 0              # octets held (they count against the receive buffer)
        self.stamp = 0             # the stamp of the latest insert

    def insert(self, base: int, seq: int, payload: bytes) -> bool:
        """Hold `payload`, which starts at `seq`, past `base` (RCV.NXT, so
        0 < seq - base < 2**31). Octets already held are kept as they are.
        Returns True when every octet was held already (a duplicate, which
        RFC 2883 §4 reports as a D-SACK block); the block holding it then
        counts as changed now (it is reported next after the D-SACK block)."""
        s_off = (seq - base) & _MASK
        e_off = s_off + len(payload)
        self.stamp += 1
        stamp = self.stamp
        # offsets from base: comparisons are plain integer ones from here on
        blocks = [[(b[0] - base) & _MASK, (b[1] - base) & _MASK, b[2], b[3]] for b in self.blocks]
        # the parts of the new segment no block holds yet
        gaps = []
        pos = s_off
        for bs, be, _, _ in blocks:
            if be <= pos:
                continue
            if bs >= e_off:
                break
            if bs > pos:
                gaps.append((pos, bs))
            pos = be
            if pos >= e_off:
                break
        if pos < e_off:
            gaps.append((pos, e_off))
        if not gaps:
            for b in self.blocks:
                if ((b[0] - base) & _MASK) <= s_off and e_off <= ((b[1] - base) & _MASK):
                    b[3] = stamp
            return True
        for lo, hi in gaps:        # (not a, b: under mypyc b is typed by the block loop above)
            piece = payload if (lo == s_off and hi == e_off) else payload[lo - s_off:hi - s_off]
            blocks.append([lo, hi, [piece], stamp])
            self.size += hi - lo
        blocks.sort(key=_first)
        merged = [blocks[0]]
        for b in blocks[1:]:
            last = merged[-1]
            if b[0] <= last[1]:                # adjacent (gaps leave no overlap)
                last[1] = b[1]
                last[2].extend(b[2])
                if b[3] > last[3]:
                    last[3] = b[3]
            else:
                merged.append(b)
        self.blocks = [[(base + b[0]) & _MASK, (base + b[1]) & _MASK, b[2], b[3]] for b in merged]
        return False

    def overlap_below(self, rcv_nxt: int) -> tuple[int, int] | None:
        """The part of the first block below `rcv_nxt`, once in-order data has
        moved RCV.NXT into (or past) it: octets that arrived twice, the
        first duplicate sub-segment RFC 2883 §4.2 reports (its examples 5
        and 6). None when the first block lies wholly above `rcv_nxt`."""
        if not self.blocks:
            return None
        start, end = self.blocks[0][0], self.blocks[0][1]
        if not gt(rcv_nxt, start):
            return None
        if gt(rcv_nxt, end):
            return (start, end)
        return (start, rcv_nxt)

    def drain(self, rcv_nxt: int, rcvq: bytearray) -> int:
        """Move the blocks that RCV.NXT has reached onto `rcvq` (the part of
        each not already there) and return the new RCV.NXT."""
        blocks = self.blocks
        while blocks:
            b = blocks[0]
            s = b[0]
            e = b[1]
            chunks = b[2]
            off = (rcv_nxt - s) & _MASK
            if off >= _HALF:            # still a hole before this block
                break
            blocks.pop(0)
            size = (e - s) & _MASK
            self.size -= size
            if off < size:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                rcvq += memoryview(data)[off:]
                rcv_nxt = e
        return rcv_nxt

    def sack_blocks(self) -> list:
        """The blocks as (start, end), the most recently changed first
        (RFC 2018 §4); the caller puts any D-SACK block before them and cuts
        the list to what the option has room for."""
        q = self.blocks
        if len(q) == 1:
            return [(q[0][0], q[0][1])]
        return [(b[0], b[1]) for b in sorted(q, key=_stamp, reverse=True)]

    def held(self) -> list:
        """[[seq, bytes], ...] in sequence order (for inspection)."""
        return [[b[0], b"".join(b[2])] for b in self.blocks]
