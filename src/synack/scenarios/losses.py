"""Segments lost on the way, and how timers repair the damage."""
from __future__ import annotations

from ..engine.segment import ACK, SYN
from ..engine.states import ESTABLISHED, TIME_WAIT
from ..viz.model import kind, nth, seg
from . import CLIENT_IP, SERVER_IP, Stage, scenario
from .basic import open_pair, request_response


@scenario("lost-syn", "Lost SYNs: retransmitted with doubling intervals",
          "three SYNs lost; the timeout doubles each time: 1 s, 2 s, 4 s")
def lost_syn(st: Stage) -> None:
    """
    The client's SYN is lost, and so are the next two. The client cannot
    tell a lost SYN from a slow server; it waits one retransmission timeout
    (RTO, 1 s before any round trip has been measured, RFC 6298) and sends
    the same SYN again, with the same sequence number. After each
    expiry the timeout doubles (exponential backoff): the SYNs leave at
    0 s, 1 s, 3 s and 7 s. The fourth one gets through. A client that never
    hears back gives up after a number of retries (ETIMEDOUT).
    """
    c, s = st.pair()
    lst = s.listen(80)
    st.net.drop(lambda p: p.seg.flags == SYN and p.src == CLIENT_IP, count=3)
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    st.run_for(0.1)


@scenario("lost-synack", "Lost SYN-ACK: both sides retransmit",
          "the SYN-ACK is lost; the client's and the server's timers both fire")
def lost_synack(st: Stage) -> None:
    """
    The SYN arrives and the server answers, but its SYN-ACK is lost. Now
    both sides are waiting: the client in SYN_SENT for a SYN-ACK, the server
    in SYN_RECEIVED for an ACK. Both have a retransmission timer running,
    and both fire after about 1 s: the server sends its SYN-ACK again, the
    client its SYN. A server that sees the same SYN again knows its
    SYN-ACK went missing and repeats it. The first SYN-ACK to arrive
    completes the handshake; the extra copies are answered or ignored
    harmlessly because their sequence numbers are old.
    """
    c, s = st.pair()
    lst = s.listen(80)
    st.net.drop(lambda p: p.seg.flags == SYN | ACK, count=1)
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    st.run_for(1.0)
    st.explain(seg("SYN,ACK", side="right", lost=True),
               "The server answers and starts its own retransmission timer, but the SYN-ACK is "
               "lost. Now both sides wait: the client for a SYN-ACK, the server for an ACK.")
    st.explain(seg("SYN", side="left", tag="rexmit"),
               "The client's timer fires first (it started first): the same SYN again.")
    st.explain(kind("timer", "right", "RTO"),
               "The server's SYN-ACK timer fires at the very moment the client's second SYN "
               "arrives (both timers are 1 s, started one trip apart).")
    st.explain(nth(seg("SYN,ACK", side="right"), 2),
               "{Who} retransmits its SYN-ACK (same seq, same ack): once for the timer ...")
    st.explain(nth(seg("SYN,ACK", side="right"), 3),
               "... and once more because the repeated SYN shows that its SYN-ACK went missing.")
    st.explain(nth(seg("ACK", side="left"), 2),
               "The second SYN-ACK is a duplicate: the client, already ESTABLISHED, answers it "
               "with a plain ACK and otherwise ignores it.")


@scenario("lost-final-ack", "Lost final ACK: why TIME_WAIT exists",
          "the last ACK is lost; the server repeats its FIN; TIME_WAIT answers it")
def lost_final_ack(st: Stage) -> None:
    """
    The client closes first and ends in TIME_WAIT after sending the last
    ACK, which is lost. The server, in LAST_ACK, cannot tell: its FIN seems
    unacknowledged, so when its retransmission timer fires it sends the
    FIN again. The client is still in TIME_WAIT, remembers the connection,
    acknowledges the FIN again and restarts its 2*MSL timer. Without
    TIME_WAIT, the client would have forgotten the connection and answered
    the FIN with a RST, and the server's application would have seen an
    error instead of a clean close. This is the first of the two reasons
    for TIME_WAIT (the other: see time-wait-old-duplicate).
    """
    c, s, lst, conn, sconn = open_pair(st)
    request_response(st, conn, sconn)
    st.net.drop(lambda p: (p.src == CLIENT_IP and p.seg.flags == ACK and
                           conn.conn.state is TIME_WAIT), count=1)
    conn.close()
    st.wait(lambda: sconn.eof)
    sconn.close()
    st.run()
    st.explain(seg("ACK", side="left", lost=True),
               "The last ACK is lost. {Who} does not know: it is in TIME_WAIT, as it should be. "
               "{Other} is still in LAST_ACK, waiting.")
    st.explain(seg("FIN,ACK", side="right", tag="rexmit"),
               "{Who}'s FIN was never acknowledged, so its retransmission timer sends it again.")
    st.explain(seg("ACK", side="left", tag=None, lost=False, sender_state="TIME_WAIT"),
               "Still in TIME_WAIT, {who} recognises the FIN of the connection it remembers, "
               "acknowledges it again and restarts its 2*MSL timer. Had it forgotten the "
               "connection, it would have answered with a RST.")
    st.explain(kind("timer", "left", "TIME_WAIT"),
               "2*MSL after the second ACK (the timer was restarted), TIME_WAIT ends.")


@scenario("loss", "A bulk transfer at 5% loss",
          "64 KiB over a path losing 5%: duplicate ACKs, fast retransmits, RTOs",
          loss=0.05)
def loss(st: Stage) -> None:
    """
    The client sends 64 KiB to the server over a path that loses 5% of the
    segments, in both directions. Each lost data segment leaves a hole; the
    receiver answers the segments after it with duplicate ACKs (the same
    ack number, the first byte it is missing). Three duplicate ACKs make
    the sender retransmit at once (fast retransmit) and halve its
    congestion window; when too few segments are left in flight to produce
    three duplicates, only the retransmission timer (RTO) helps, and it
    costs much more time. Lost ACKs matter less: ACKs are cumulative, so
    the next one covers for a lost one. Use --plot to see the transfer as a
    time-sequence graph.
    """
    total = 64 * 1024
    c, s, lst, conn, sconn = open_pair(st, port=5001)     # not 80: the bytes are not HTTP
    data = bytes((i * 7) & 0xFF for i in range(total))
    sent = 0
    got = bytearray()

    def pump() -> bool:
        nonlocal sent
        if sent < total:
            sent += conn.send(data[sent:])
        got.extend(sconn.recv())
        return len(got) >= total
    st.wait(pump, timeout=600, what=f"the delivery of all {total} octets")
    conn.close()
    st.wait(lambda: (got.extend(sconn.recv()) or sconn.eof), timeout=600,
            what="the arrival of the client's FIN")
    sconn.close()
    st.run()
    st.facts["received"] = bytes(got)
    st.facts["sent"] = data
