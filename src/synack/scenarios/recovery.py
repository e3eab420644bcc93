"""Loss recovery: telling reordering from loss, and how fast to resend.

Each story runs twice, once with RFC 6675's duplicate-ACK threshold and
once with RACK (RFC 8985), or once with RFC 6675's sending rule and once
with PRR (RFC 6937), on the same flights, so the ladders can be compared
side by side.
"""
from __future__ import annotations

from ..engine.seq import add
from ..engine.states import ESTABLISHED
from ..viz.model import kind
from . import CLIENT_IP, SERVER_IP, Stage, scenario

_PORT = 5001


def _open(st: Stage, bandwidth: float | None = None, **client):
    big = dict(window_scaling=True, rcvbuf=1 << 18, sndbuf=1 << 18)
    cfg = dict(sack=True, initial_window=10, tlp=False, **big, **client)
    c = st.host("client", CLIENT_IP, **cfg)
    s = st.host("server", SERVER_IP, sack=True, delayed_ack=False, **big)
    st.link(c, s, bandwidth=bandwidth)
    lst = s.listen(_PORT)
    conn = c.connect(SERVER_IP, _PORT)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    return conn, lst.accept()


def _flight(st: Stage, conn, sconn, segments: int, nth: int, *, delay: float | None,
            note: str) -> None:
    """Send `segments` full segments at once; the `nth` (1-based) is held
    back `delay` seconds on the way (None: it is lost; `nth` 0: none is
    touched); wait until all of
    them are acknowledged."""
    tcb = conn.conn
    mss = tcb.snd_mss
    target = add(tcb.snd_nxt, (nth - 1) * mss)

    def match(p) -> bool:
        return p.src == CLIENT_IP and p.seg.seq == target and bool(p.seg.payload)

    if not nth:
        pass                                      # nothing happens to this flight
    elif delay is None:
        st.net.drop(match, count=1)
    else:
        st.net.delay(match, delay, count=1)
    end = add(tcb.snd_nxt, segments * mss)
    st.note(note, side="left")
    conn.send(bytes(segments * mss))
    st.wait(lambda: _drained(sconn, tcb, end), timeout=60)
    st.run_for(0.05)


def _drained(sconn, tcb, end: int) -> bool:
    sconn.recv()                                  # the server application reads
    return tcb.snd_una == end


def _reordering(st: Stage, rack: bool) -> None:
    conn, sconn = _open(st, rack=rack, rtt_every_ack=rack, linux_rto=rack, rto_min=0.2)
    _flight(st, conn, sconn, 3, 1, delay=0.001,
            note="flight 1: the first of 3 segments arrives 1 ms late")
    _flight(st, conn, sconn, 8, 2, delay=0.004,
            note="flight 2: the second of 8 segments arrives 4 ms late")
    _flight(st, conn, sconn, 8, 2, delay=None,
            note="flight 3: the second of 8 segments is lost")
    st.facts["client"] = conn.conn


@scenario("reordering-dupthresh", "Reordering or loss? RFC 6675's duplicate-ACK threshold",
          "three flights: a segment 1 ms late, one 4 ms late, one lost; DupThresh "
          "retransmits the late one too")
def reordering_dupthresh(st: Stage) -> None:
    """
    Three flights with SACK, under RFC 6675's rule: a hole is lost once
    three segments above it are SACKed (DupThresh). In the first flight the
    first of three segments arrives 1 ms late: only two segments overtake
    it, nothing is resent. In the second flight the second of eight
    segments is 4 ms late: six segments overtake it, the third SACK
    declares it lost and it is retransmitted although it was only late (a
    spurious retransmission; the receiver's D-SACK says so afterwards). In
    the third flight the second segment is really lost, and the same rule
    resends it at the third SACK. DupThresh counts segments, not time, so it
    cannot tell the second flight from the third. Compare with
    reordering-rack.
    """
    _reordering(st, rack=False)


@scenario("reordering-rack", "Reordering or loss? RACK's time-based rule",
          "the same three flights under RACK: the late segment is waited for, the lost "
          "one resent when the reordering timer fires")
def reordering_rack(st: Stage) -> None:
    """
    The flights of reordering-dupthresh under RACK (RFC 8985): a segment is
    lost when a segment sent after it has been delivered and more than one
    round trip plus a reordering window has passed since it was sent. In
    the first flight the late segment arrives after a later one: RACK notes
    that this path reorders. From then on its reordering window is a
    quarter of the minimum RTT (5 ms here). In the second flight the SACKs
    for the six segments that overtook the late one arm the reordering
    timer instead of a retransmission, and the late segment arrives before
    it fires: nothing is resent. In the third flight the segment is really
    lost: the reordering timer fires (the "RACK reordering" row on the
    ladder) and the segment goes then, a few milliseconds later than
    DupThresh would have sent it, but without the spurious retransmission
    of the second flight.
    """
    _reordering(st, rack=True)
    st.explain(kind("timer", "left", "RACK reordering"),
               "RACK's reordering timer: a segment sent after the hole was SACKed, and the "
               "hole's send time + RACK.rtt + the reordering window has now passed. The hole "
               "is lost, not late: it goes now (RFC 8985 §6.3).")


def _burst(st: Stage, prr: bool) -> None:
    conn, sconn = _open(st, bandwidth=10e6, prr=prr, congestion_control="reno")
    tcb = conn.conn
    mss = tcb.snd_mss
    _flight(st, conn, sconn, 30, 0, delay=None, note="30 segments to open the window")
    _flight(st, conn, sconn, 80, 1, delay=None, note="80 segments; the first is lost")


@scenario("recovery-rfc6675", "Fast recovery by RFC 6675: cwnd - pipe",
          "one hole in a large window: cwnd halves at once, the sender pauses, then sends")
def recovery_rfc6675(st: Stage) -> None:
    """
    A first flight opens the window; in the second, the first segment is
    lost. RFC 6675 sets cwnd to ssthresh (half the flight, Reno) on
    entering recovery and sends whenever cwnd - pipe allows: the
    retransmission, then nothing for half a round trip while the pipe
    drains below the new window, then one segment per ACK. Compare with
    recovery-prr.
    """
    _burst(st, prr=False)


@scenario("recovery-prr", "Fast recovery by PRR (RFC 6937)",
          "the same losses: PRR sends about one segment for every two delivered, "
          "spreading the recovery over the round trip")
def recovery_prr(st: Stage) -> None:
    """
    The loss of recovery-rfc6675 with Proportional Rate Reduction: on
    every ACK in recovery the sender may send ssthresh / RecoverFS of what
    that ACK reports delivered (one segment per two here), so
    retransmissions and new data leave evenly over the round trip instead
    of after a pause; once the flight has come down to ssthresh, one
    segment for each delivered.
    """
    _burst(st, prr=True)
