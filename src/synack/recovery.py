"""Loss recovery state that lives beside the connection's TCB.

- `Transmissions`: when each outstanding segment was (last) sent, and
  whether it was ever retransmitted. From it come an RTT sample on every ACK
  of new data (Karn's rule: never from a retransmitted segment, RFC 6298 §3)
  and RACK's per-segment transmit times (RFC 8985 §5.2, §6).
- `Prr`: Proportional Rate Reduction (RFC 6937 §3), the sending rule during
  fast recovery.

The connection keeps these only when a setting asks for them
(`Config.rtt_every_ack`, `Config.rack`, `Config.prr`): the `rfc` profile
carries none of it.
"""
from __future__ import annotations

from typing import Final

from .seq import HALF, MASK

RETRANS: Final = 1       # the segment has been retransmitted at least once (Karn)
SACKED: Final = 2        # the receiver holds it (a SACK block covered it)
LOST: Final = 4          # marked lost (stays so when it is retransmitted, until delivered)
RXT_OUT: Final = 8       # a retransmission of it is in flight (not yet known delivered or lost)


def _after(a: int, b: int) -> bool:
    """a > b in sequence space."""
    return 0 < ((a - b) & MASK) < HALF


class Transmissions:
    """Outstanding segments in sequence order, each [start, end, time, flags]
    with absolute sequence numbers, `time` the (latest) transmission time."""

    __slots__ = ("segs",)

    def __init__(self) -> None:
        self.segs: list[list] = []

    def sent(self, start: int, end: int, now: float) -> None:
        """New data (or the FIN) went out for the first time."""
        self.segs.append([start, end, now, 0])

    def resent(self, start: int, end: int, now: float) -> None:
        """[start, end) was sent again: every segment it overlaps is now a
        retransmission, last sent `now`."""
        for s in self.segs:
            if ((s[1] - start) & MASK) - 1 < HALF - 1 and ((end - s[0]) & MASK) - 1 < HALF - 1:
                # s ends after `start` and begins before `end`
                s[2] = now
                s[3] |= RETRANS | RXT_OUT

    def acked(self, una: int) -> tuple[float, float, bool]:
        """Drop what the cumulative ACK up to `una` covers. Returns (oldest
        send time, newest send time, whether any was retransmitted) of the
        segments it newly delivered; times are -1.0 when there are none.
        Segments already SACKed were delivered before and count not."""
        segs = self.segs
        first = last = -1.0
        retrans = False
        n = 0
        for s in segs:
            if ((una - s[1]) & MASK) >= HALF:
                if ((una - s[0]) & MASK) - 1 < HALF - 1:
                    s[0] = una                      # partly ACKed: trim
                break
            n += 1
            if s[3] & SACKED:
                continue
            if s[3] & RETRANS:
                retrans = True
            t = s[2]
            if first < 0 or t < first:
                first = t
            if t > last:
                last = t
        if n:
            del segs[:n]
        return first, last, retrans

    def mark_sacked(self, blocks) -> int:
        """Mark the segments the scoreboard's blocks cover whole. Returns
        how many were newly marked."""
        n = 0
        if not blocks:
            return 0
        for s in self.segs:
            if s[3] & SACKED:
                continue
            a, b = s[0], s[1]
            for bs, be in blocks:
                if not _after(bs, a) and not _after(b, be):
                    s[3] = (s[3] | SACKED) & ~(LOST | RXT_OUT)
                    n += 1
                    break
        return n

    def unsack_all(self) -> None:
        """The SACK information was dropped (RFC 2018 §8 reneging)."""
        for s in self.segs:
            s[3] &= ~SACKED

    def counts(self) -> tuple[int, int, int, int]:
        """(outstanding, SACKed, lost, retransmissions in flight), in
        segments: Linux's packets_out, sacked_out, lost_out, retrans_out."""
        sacked = lost = rxt = 0
        for s in self.segs:
            f = s[3]
            if f & SACKED:
                sacked += 1
            if f & LOST:
                lost += 1
            if f & RXT_OUT:
                rxt += 1
        return len(self.segs), sacked, lost, rxt

    def clear(self) -> None:
        self.segs.clear()


class Prr:
    """RFC 6937 §3: during fast recovery, send in proportion to what the
    receiver reports delivered, so the flight comes down to ssthresh over
    one round trip instead of in a burst or a pause (RFC 6675's cwnd - pipe).
    Below ssthresh, slow start towards it, bounded by what was delivered
    (PRR-SSRB), with the extra segment only on an ACK that advances SND.UNA
    (the "SafeACK" of draft-ietf-tcpm-prr-rfc6937bis, which Linux's
    tcp_cwnd_reduction also follows).

    The caller sets cwnd = pipe + sndcnt on every ACK that delivers data (as
    Linux does), so the ordinary cwnd - pipe sending loop sends sndcnt."""

    __slots__ = ("delivered", "out", "recover_fs", "ssthresh", "mss")

    def __init__(self, recover_fs: int, ssthresh: int, mss: int):
        self.delivered = 0               # prr_delivered
        self.out = 0                     # prr_out
        self.recover_fs = recover_fs if recover_fs > 0 else mss   # RecoverFS
        self.ssthresh = ssthresh
        self.mss = mss

    def sndcnt(self, delivered: int, pipe: int, safe_ack: bool) -> int:
        """One ACK in recovery: `delivered` is its DeliveredData (change in
        SND.UNA plus change in SACKed octets), `pipe` the octets in flight
        after it. Returns sndcnt, the octets that may be sent now."""
        self.delivered += delivered
        if pipe > self.ssthresh:
            # proportional rate reduction: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
            n = -(-(self.delivered * self.ssthresh) // self.recover_fs) - self.out
        else:
            limit = self.delivered - self.out
            if limit < delivered:
                limit = delivered
            if safe_ack:
                limit += self.mss
            room = self.ssthresh - pipe
            n = room if room < limit else limit
        if n < 0:
            n = 0
        if self.out == 0 and n < self.mss:
            n = self.mss                 # the fast retransmit always goes
        return n
