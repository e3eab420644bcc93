"""The SACK scoreboard of RFC 6675 §4, kept as sequence ranges.

Blocks are disjoint [start, end) ranges of SACKed octets above HighACK
(SND.UNA), sorted by their distance from SND.UNA so that comparisons survive
the 2**32 wrap. The RFC's per-octet routines become per-hole ones: the octets
SACKed above any octet of a hole are the same for the whole hole, so IsLost
has one answer per hole.
"""
from __future__ import annotations

from typing import Final

from .seq import HALF, MASK

DUPTHRESH: Final = 3


def _off(x: int, base: int) -> int:
    return (x - base) & MASK


class Scoreboard:
    __slots__ = ("blocks", "sacked", "dsacks", "last_dsack")

    def __init__(self) -> None:
        # [[start, end], ...] absolute sequence numbers; always replaced whole, so
        # an unused board shares one empty tuple instead of holding a list
        self.blocks: list[list[int]] | tuple[()] = ()
        self.sacked = 0                      # octets currently marked SACKed
        self.dsacks = 0                      # D-SACK blocks seen (RFC 2883)
        self.last_dsack: tuple[int, int] | None = None  # the D-SACK block of the last update

    def __bool__(self) -> bool:
        return bool(self.blocks)

    def clear(self) -> None:
        self.blocks = ()
        self.sacked = 0

    def update(self, una: int, high_data: int, sack_blocks) -> int:
        """Update (): drop what SND.UNA covers, merge new blocks. Returns the
        number of octets newly SACKed (> 0 makes the ACK a "duplicate" in the
        RFC 6675 §2 sense)."""
        self.last_dsack = None
        if not sack_blocks:
            if self.blocks:
                blocks = self._trim(una)
                self.blocks = [[(una + a) & MASK, (una + b) & MASK] for a, b in blocks]
                self.sacked = sum(b - a for a, b in blocks)
            return 0
        span = _off(high_data, una)
        blocks = self._trim(una)
        before = sum(b - a for a, b in blocks)
        first = True
        for s, e in sack_blocks:
            so, eo = _off(s, una), _off(e, una)
            if so >= HALF or eo > span or eo <= so:
                # below SND.UNA (a D-SACK, RFC 2883 §4) or not data we sent: not for the board
                if first and (so >= HALF or eo >= HALF):
                    self.dsacks += 1
                    self.last_dsack = (s, e)
                first = False
                continue
            if first and len(sack_blocks) > 1 and self._within(s, e, sack_blocks[1]):
                # RFC 2883 §4: a first block inside the second one reports a
                # duplicate of data already SACKed (a first block that merely
                # repeats what the board holds is an ordinary repeated SACK)
                self.dsacks += 1
                self.last_dsack = (s, e)
            first = False
            blocks = self._insert(blocks, so, eo)
        self.blocks = [[(una + a) & MASK, (una + b) & MASK] for a, b in blocks]
        self.sacked = sum(b - a for a, b in blocks)
        return max(0, self.sacked - before)

    def _trim(self, una: int) -> list[list[int]]:
        """Blocks as offsets from `una`, without the cumulatively ACKed part."""
        out = []
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if eo >= HALF or eo == 0:
                continue                          # entirely below SND.UNA
            if so >= HALF:
                so = 0
            out.append([so, eo])
        return out

    @staticmethod
    def _within(s: int, e: int, block) -> bool:
        bs, be = block[0], block[1]
        return ((s - bs) & MASK) < HALF and ((be - e) & MASK) < HALF

    @staticmethod
    def _insert(blocks: list[list[int]], so: int, eo: int) -> list[list[int]]:
        out = []
        for a, b in blocks:
            if b < so or eo < a:
                out.append([a, b])
            else:
                so, eo = min(a, so), max(b, eo)
        out.append([so, eo])
        out.sort()
        return out

    # ------------------------------------------------------------ queries
    def sacked_below(self, seq: int, una: int) -> int:
        """Octets SACKed in [una, seq): what a cumulative ACK up to `seq`
        covers that the receiver had already reported."""
        lim = _off(seq, una)
        if lim >= HALF:
            return 0
        total = 0
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if so >= HALF:
                so = 0
            if eo >= HALF or so >= lim:
                continue
            total += (eo if eo < lim else lim) - so
        return total

    def sacked_end(self, seq: int, una: int) -> int | None:
        """If `seq` lies inside a SACKed block, that block's end; else None."""
        x = _off(seq, una)
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if so <= x < eo:
                return e
        return None

    def highest_sacked(self, una: int) -> int:
        """The end of the highest SACK block (== una when there is none)."""
        if not self.blocks:
            return una
        return self.blocks[-1][1]

    def _above(self, off: int, una: int) -> tuple[int, int]:
        """(discontiguous blocks, octets) SACKed above offset `off`."""
        n = octets = 0
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if eo > off:
                n += 1
                octets += eo - max(so, off)
        return n, octets

    def is_lost(self, seq: int, una: int, mss: int) -> bool:
        """IsLost (SeqNum), RFC 6675 §4."""
        n, octets = self._above(_off(seq, una), una)
        return n >= DUPTHRESH or octets > (DUPTHRESH - 1) * mss

    def holes(self, una: int, high_data: int) -> list[tuple[int, int]]:
        """Unsacked ranges [start, end) as offsets from `una`, up to HighData."""
        out = []
        pos = 0
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if so > pos:
                out.append((pos, so))
            pos = max(pos, eo)
        span = _off(high_data, una)
        if pos < span:
            out.append((pos, span))
        return out

    def _holes_lost(self, una: int, high_data: int, mss: int):
        """Each hole (start, end offsets from `una`) with its IsLost answer,
        in one pass: the SACKed blocks above a hole are all the blocks after
        it, so their count and octets are suffix sums."""
        offs = []
        for s, e in self.blocks:
            so, eo = _off(s, una), _off(e, una)
            if so >= HALF:
                so = 0
            offs.append((so, eo))
        n = len(offs)
        suffix = [0] * (n + 1)
        for i in range(n - 1, -1, -1):
            suffix[i] = suffix[i + 1] + offs[i][1] - offs[i][0]
        limit = (DUPTHRESH - 1) * mss
        out = []
        pos = 0
        for i, (so, eo) in enumerate(offs):
            if so > pos:
                above = n - i
                out.append((pos, so, above >= DUPTHRESH or suffix[i] > limit))
            if eo > pos:
                pos = eo
        span = _off(high_data, una)
        if pos < span:
            out.append((pos, span, False))          # nothing SACKed above the tail
        return out

    def pipe(self, una: int, high_data: int, high_rxt: int, mss: int) -> int:
        """SetPipe (), RFC 6675 §4: octets believed to be in the network."""
        rxt = _off(high_rxt, una)
        if rxt >= HALF:
            rxt = 0
        total = 0
        for a, b, lost in self._holes_lost(una, high_data, mss):
            if not lost:
                total += b - a                          # (a) not lost: still in flight
            if a < rxt:
                total += (b if b < rxt else rxt) - a    # (b) retransmitted: in flight again
        return total

    def next_lost(self, una: int, high_data: int, high_rxt: int, mss: int,
                  require_lost: bool = True) -> tuple[int, int] | None:
        """NextSeg () rules (1) and, with require_lost False, (3): the next hole
        octets above HighRxt and below the highest SACK. Returns (seq, length)."""
        if not self.blocks:
            return None
        top = _off(self.highest_sacked(una), una)
        rxt = _off(high_rxt, una)
        if rxt >= HALF:
            rxt = 0
        for a, b, lost in self._holes_lost(una, high_data, mss):
            start = a if a > rxt else rxt
            if start >= b or start >= top:
                continue
            if require_lost and not lost:
                continue
            return (una + start) & MASK, min(b - start, mss)
        return None
