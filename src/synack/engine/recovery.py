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

from .seq import HALF, MASK, gt

RETRANS: Final = 1       # the segment has been retransmitted at least once (Karn)
SACKED: Final = 2        # the receiver holds it (a SACK block covered it)
LOST: Final = 4          # marked lost (stays so when it is retransmitted, until delivered)
RXT_OUT: Final = 8       # a retransmission of it is in flight (not yet known delivered or lost)
PSH_SEND: Final = 16     # first sent with PSH as the end of a SEND ("linux" PSH policy)
PSH_UNIT: Final = 32     # first sent with PSH as the end of a TSO unit ("linux" PSH policy)


class Transmissions:
    """Outstanding segments in sequence order, each [start, end, time, flags,
    order] with absolute sequence numbers, `time` the (latest) transmission
    time and `order` its place among all transmissions (a count).

    RACK asks which of two segments was sent later (RFC 8985 §6.2,
    RACK_sent_after). The RFC compares send times and breaks a tie by
    sequence number, which assumes that segments sent in the same instant go
    in sequence order (one TSO burst). A driver that reads its clock once per
    batch of ACKs (the TUN stack; the simulator with no bandwidth limit) can
    send new data for one ACK and then a retransmission of a lower sequence
    for the next within one clock reading: the tie-break then calls the
    retransmission the earlier one, and the delivery of that new data marks
    it lost while it is still on its way -- a spurious second retransmission
    of every loss. Linux's nanosecond transmit stamps order them as sent;
    `order` does the same here."""

    __slots__ = ("segs", "order")

    def __init__(self) -> None:
        self.segs: list[list] = []
        self.order = 0                  # transmissions so far (the next one's `order`)

    def sent(self, now: float, start: int, end: int, mark: int = 0) -> None:
        """New data (or the FIN) went out for the first time."""
        o = self.order
        self.order = o + 1
        self.segs.append([start, end, now, mark, o])

    def resent(self, now: float, start: int, end: int) -> None:
        """[start, end) was sent again: every segment it overlaps is now a
        retransmission, last sent `now`."""
        o = self.order
        self.order = o + 1
        for s in self.segs:
            if gt(s[1], start) and gt(end, s[0]):
                # s ends after `start` and begins before `end`
                s[2] = now
                s[3] |= RETRANS | RXT_OUT
                s[4] = o

    def acked(self, now: float, una: int, rack: "Rack | None" = None,
              min_rtt: float = 0.0) -> tuple[float, float, bool]:
        """Drop what the cumulative ACK up to `una` covers. Returns (oldest
        send time, newest send time, whether any was retransmitted) of the
        segments it newly delivered; times are -1.0 when there are none.
        Segments already SACKed were delivered before and count not. With
        `rack`, RFC 8985 §6.2 steps 2-3 for each (written out here: this
        runs on every ACK)."""
        segs = self.segs
        first = last = -1.0
        retrans = False
        n = 0
        for s in segs:
            if ((una - s[1]) & MASK) >= HALF:
                if gt(una, s[0]):
                    s[0] = una                      # partly ACKed: trim
                break
            n += 1
            f = s[3]
            if f & SACKED:
                continue
            t = s[2]
            if rack is not None:
                e = s[1]
                o = s[4]
                fack = rack.fack
                if (not f & RETRANS and o >= rack.xmit_ord
                        and (fack is None or gt(e, fack))):
                    # the common case written out: an original segment, sent
                    # no earlier than RACK's and ending above RACK.fack
                    rack.rtt = now - t
                    if o > rack.xmit_ord or gt(e, rack.end_seq):
                        rack.xmit_ts = t
                        rack.xmit_ord = o
                        rack.end_seq = e
                    rack.fack = e
                else:
                    rack.delivered(now, s[0], e, t, bool(f & RETRANS), min_rtt, True, o)
            if f & RETRANS:
                retrans = True
            if first < 0 or t < first:
                first = t
            if t > last:
                last = t
        if n:
            del segs[:n]
        return first, last, retrans

    def mark_sacked(self, now: float, blocks, rack: "Rack | None" = None,
                    min_rtt: float = 0.0) -> int:
        """Mark the segments the scoreboard's blocks cover whole (and tell
        RACK of each). Returns how many were newly marked."""
        n = 0
        if not blocks:
            return 0
        for s in self.segs:
            if s[3] & SACKED:
                continue
            a, b = s[0], s[1]
            for bs, be in blocks:
                if not gt(bs, a) and not gt(b, be):
                    if rack is not None:
                        rack.delivered(now, a, b, s[2], bool(s[3] & RETRANS), min_rtt,
                                       False, s[4])
                    s[3] = (s[3] | SACKED) & ~(LOST | RXT_OUT)
                    n += 1
                    break
        return n

    def pipe(self) -> int:
        """Octets in flight by the marks (Linux's tcp_packets_in_flight, in
        octets): not SACKed, and not lost unless retransmitted since."""
        total = 0
        for s in self.segs:
            f = s[3]
            if f & SACKED:
                continue
            if f & LOST and not f & RXT_OUT:
                continue
            total += (s[1] - s[0]) & MASK
        return total

    def next_lost(self) -> list | None:
        """The first segment marked lost and not retransmitted since."""
        for s in self.segs:
            f = s[3]
            if f & LOST and not f & (RXT_OUT | SACKED):
                return s
        return None

    def mark_all_lost(self) -> None:
        """An RTO: everything not SACKed is lost (Linux tcp_timeout_mark_lost)."""
        for s in self.segs:
            if not s[3] & SACKED:
                s[3] = (s[3] | LOST) & ~RXT_OUT

    def sacked_count(self) -> int:
        n = 0
        for s in self.segs:
            if s[3] & SACKED:
                n += 1
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

    __slots__ = ("delivered", "out", "recover_fs", "ssthresh", "mss", "dup_segs")

    def __init__(self, recover_fs: int, ssthresh: int, mss: int):
        self.delivered = 0               # prr_delivered
        self.out = 0                     # prr_out
        self.recover_fs = recover_fs if recover_fs > 0 else mss   # RecoverFS
        self.ssthresh = ssthresh
        self.mss = mss
        # Without SACK: the segments the duplicate ACKs stand for as having
        # left the network (Linux's sacked_out for Reno, tcp_add_reno_sack)
        self.dup_segs = 0

    def dupack(self, flight: int) -> int:
        """Without SACK, a duplicate ACK in recovery: one more segment has
        left the network (at most all but one of the flight, Linux's
        tcp_limit_reno_sacked). Returns its DeliveredData."""
        if (self.dup_segs + 2) * self.mss <= flight:
            self.dup_segs += 1
        return self.mss

    def partial_ack(self, acked: int) -> int:
        """Without SACK, a partial ACK of `acked` octets: one segment of it
        is the hole it filled, the rest were counted by duplicate ACKs
        already (Linux's tcp_remove_reno_sacks). Returns its DeliveredData."""
        mss = self.mss
        segs = (acked + mss - 1) // mss
        fresh = segs - self.dup_segs
        used = segs - 1 if segs - 1 < self.dup_segs else self.dup_segs
        self.dup_segs -= used
        return (fresh if fresh > 1 else 1) * mss

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


class Rack:
    """RACK (RFC 8985 §6): a segment is lost when a segment sent after it
    has been delivered and more than RACK.rtt + the reordering window has
    passed since it was sent. The reordering window is min_RTT / 4 times a
    multiplier that grows with D-SACKs (§6.2 step 4), 0 when no reordering
    has been seen and the connection is in recovery or DupThresh segments
    are SACKed (RFC 8985 §6.2, as Linux's tcp_rack_reo_wnd)."""

    __slots__ = ("xmit_ts", "xmit_ord", "end_seq", "rtt", "fack", "reord_seen", "reo_wnd_mult",
                 "reo_wnd_persist", "dsack_round", "reordering", "mss", "prior_fack", "reord_low")

    def __init__(self, mss: int):
        self.xmit_ts = -1.0              # RACK.xmit_ts: send time of the newest delivered segment
        self.xmit_ord = -1               # ... and its transmission `order` (Transmissions)
        self.end_seq = 0                 # RACK.end_seq: its end
        self.rtt = 0.0                   # RACK.rtt: the RTT measured from it
        self.fack: int | None = None     # RACK.fack: the highest end delivered
        self.reord_seen = 0              # reordering events seen (RACK.reordering_seen when > 0)
        self.reo_wnd_mult = 1            # RACK.reo_wnd_mult
        self.reo_wnd_persist = 0         # RACK.reo_wnd_persist
        self.dsack_round: int | None = None  # RACK.dsack_round
        self.reordering = 3              # reordering degree in segments (Linux tp->reordering)
        self.mss = mss
        self.prior_fack: int | None = None   # RACK.fack before this ACK's SACK blocks
        self.reord_low: int | None = None    # lowest start of this pass's reordered segments

    def delivered(self, now: float, start: int, end: int, xmit: float, retrans: bool,
                  min_rtt: float, cumulative: bool = False, order: int = 0) -> None:
        """RFC 8985 §6.2 steps 2 and 3 for one newly delivered segment.
        A never-retransmitted segment delivered below the highest delivered
        one is reordering (§6.2 step 3); as Linux counts it (tcp_sacktag_one,
        tcp_clean_rtx_queue), a SACKed one compares with the highest so far,
        a `cumulative`ly ACKed one with the highest before this ACK's SACK
        blocks; `reord_check` closes the pass."""
        rtt = now - xmit
        if not (retrans and rtt < min_rtt):
            # (a retransmitted segment ACKed sooner than min_RTT after its
            # retransmission was delivered by its original: skip it.)
            # RACK.rtt is taken from every segment that passes, as the
            # segments come in sequence order (Linux's tcp_rack_advance);
            # RFC 8985 walks them in send-time order, which leaves the RTT
            # of the most recently sent one
            self.rtt = rtt
            if order > self.xmit_ord or (order == self.xmit_ord and gt(end, self.end_seq)):
                # sent after RACK's segment: by transmission order, which a
                # shared clock reading cannot tie (see Transmissions)
                self.xmit_ts = xmit
                self.xmit_ord = order
                self.end_seq = end
        fack = self.fack
        if cumulative:
            ref = self.prior_fack
            below = ref is not None and not retrans and gt(ref, start)
        else:
            below = fack is not None and not retrans and gt(fack, end)
        if fack is None or gt(end, fack):
            self.fack = end
        if below:
            low = self.reord_low
            if low is None or gt(low, start):
                self.reord_low = start

    def reord_check(self) -> None:
        """The end of one pass over an ACK's SACKed or cumulatively ACKed
        segments: if any was reordered, one reordering event (Linux's
        tcp_check_sack_reordering: tcpi_reord_seen counts events, not
        segments), and the reordering degree grows to the distance from the
        lowest reordered octet to the highest delivered, in segments."""
        low = self.reord_low
        if low is None:
            return
        self.reord_low = None
        self.reord_seen += 1
        fack = self.fack if self.fack is not None else low
        metric = (((fack - low) & MASK) + self.mss - 1) // self.mss
        if metric > self.reordering:
            self.reordering = metric

    def on_dsack(self, una: int, snd_nxt: int) -> None:
        """§6.2 step 4: a D-SACK widens the window, once per round trip."""
        if self.dsack_round is not None and not gt(self.dsack_round, una):
            self.dsack_round = None
        if self.dsack_round is None:
            self.dsack_round = snd_nxt
            self.reo_wnd_mult += 1
            self.reo_wnd_persist = 16

    def recovery_ended(self) -> None:
        """§6.2 step 4: after 16 recoveries without a D-SACK, back to one step."""
        if self.reo_wnd_persist > 0:
            self.reo_wnd_persist -= 1
            if self.reo_wnd_persist == 0:
                self.reo_wnd_mult = 1

    def reo_wnd(self, in_recovery: bool, sacked_segs: int, min_rtt: float, srtt: float) -> float:
        """RACK.reo_wnd (§6.2 step 4, RACK_update_reo_wnd)."""
        if not self.reord_seen and (in_recovery or sacked_segs >= self.reordering):
            return 0.0
        w = self.reo_wnd_mult * min_rtt / 4
        return w if w < srtt else srtt

    def detect_loss(self, now: float, log: Transmissions, una: int, reo_wnd: float) -> tuple[int, float]:
        """§6.2 step 5 (RACK_detect_loss): mark lost every segment sent
        before the newest delivered one whose time is up. Returns (segments
        newly marked, seconds until the next one's time is up or 0)."""
        if self.xmit_ord < 0:
            return 0, 0.0
        lost = 0
        timeout = 0.0
        x, e = self.xmit_ord, self.end_seq
        for s in log.segs:
            f = s[3]
            if f & SACKED or (f & LOST and not f & RXT_OUT):
                continue
            t = s[2]
            o = s[4]
            if not (x > o or (x == o and gt(e, s[1]))):
                # not sent before RACK.xmit_ts; an original segment sent
                # after it means every later original was too (they go out
                # in sequence order) and every retransmission later still
                if not f & RETRANS:
                    break
                continue
            remaining = t + self.rtt + reo_wnd - now
            if remaining <= 0:
                s[3] = (f | LOST) & ~RXT_OUT
                lost += 1
            elif remaining > timeout:
                timeout = remaining
        return lost, timeout
