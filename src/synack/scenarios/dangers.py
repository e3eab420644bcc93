"""Old segments from earlier connections, and what protects against them."""
from __future__ import annotations

import errno

from ..engine.segment import SYN, Options, Segment
from ..engine.states import CLOSED, ESTABLISHED, TIME_WAIT
from ..viz.model import kind, seg, state
from . import CLIENT_IP, SERVER_IP, Stage, scenario
from .basic import REQUEST, RESPONSE

OLD_PORT = 41000


@scenario("old-duplicate-syn", "An old duplicate SYN: why three segments",
          "a stale SYN arrives; the client resets the SYN-ACK; no connection is made")
def old_duplicate_syn(st: Stage) -> None:
    """
    A SYN from an earlier, long-finished connection attempt has been
    wandering in the network and finally reaches the server. The server
    cannot tell it is old: it answers with a SYN-ACK, as for any SYN, and
    waits in SYN_RECEIVED. The client has no such connection attempt, so
    the SYN-ACK acknowledges nothing it sent: it answers with a RST. The RST
    sends the server's half-open connection back to LISTEN, and no
    connection is made.

    This is why the handshake needs three segments (RFC 9293 §3.5, Figure
    8): the third one lets the client confirm that the SYN being
    acknowledged is really its own. With only two, the server would have
    been ESTABLISHED on the strength of a stale SYN, with no one at the
    other end.
    """
    c, s = st.pair()
    lst = s.listen(80)
    stale = Segment(OLD_PORT, 80, 90, 0, SYN, 65535, 0, Options(mss=1460))
    st.net.inject(CLIENT_IP, SERVER_IP, stale, at=0.5)
    st.run(until=3.0)
    st.facts["accept_queue"] = len(lst.listener.accept_queue)
    st.facts["syn_queue"] = len(lst.listener.syn_queue)
    st.explain(seg("SYN", injected=True),
               "An old duplicate SYN (seq = x = {abs_seq}), left over from a connection attempt "
               "the client made long ago from port " + str(OLD_PORT) + ", arrives at last. The "
               "client is not trying to connect now.")
    st.explain(seg("SYN,ACK", side="right"),
               "The server cannot tell the SYN is stale: it answers SYN-ACK with ack = x+1 and "
               "waits in SYN_RECEIVED for the third segment.")
    st.explain(seg("RST", side="left"),
               "The client has no connection on port " + str(OLD_PORT) + ", so this SYN-ACK "
               "acknowledges nothing it sent. It answers RST, with seq = the SYN-ACK's ack "
               "(x+1 = {abs_seq}) so that the server accepts it.")
    st.explain(state("right", "SYN_RECEIVED", "LISTEN"),
               "The RST sends the half-open connection back to LISTEN. No connection was made; "
               "with a two-way handshake the server would now be ESTABLISHED with nobody.")


@scenario("time-wait-old-duplicate", "TIME_WAIT absorbs an old duplicate",
          "a delayed segment of a finished connection meets TIME_WAIT, not a new one")
def time_wait_old_duplicate(st: Stage) -> None:
    """
    The server's response is delayed in the network for 20 s (less than
    the MSL of 30 s). The server retransmits it after its RTO, the copy
    arrives, and the connection finishes normally; the client closed
    first, so it is in TIME_WAIT. Then the delayed original, an "old
    duplicate", finally arrives. TIME_WAIT still holds the 4-tuple: the
    client recognises the segment as old (its sequence number is behind),
    acknowledges what it has and drops it.

    The client wants to connect again from the same port; it may not while
    the 4-tuple is in TIME_WAIT (EADDRNOTAVAIL). That is the second reason
    for TIME_WAIT: a new incarnation of the same 4-tuple might have found
    the old segment inside its window and taken it as data. After 2*MSL no
    such segment can exist any more, and the new connection is safe.

    (The client's ACK provokes a RST from the server, which no longer has
    the connection. The client follows RFC 1337 here and ignores a RST in
    TIME_WAIT; RFC 9293 would let the RST end TIME_WAIT early, the
    "TIME-WAIT assassination" hazard. Try --msl 5 to see the new
    connection made before the old segment arrives.)
    """
    c = st.host("client", CLIENT_IP, rst_in_time_wait=False)
    s = st.host("server", SERVER_IP)
    st.link(c, s)
    lst = s.listen(80)
    conn = c.connect(SERVER_IP, 80)
    port = conn.conn.local_port
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    sconn = lst.accept()
    conn.send(REQUEST)
    st.wait(lambda: sconn.conn.readable >= len(REQUEST))
    sconn.recv()
    st.run_for(0.5)                 # the server thinks for a moment; its ACK goes alone
    late = 20.0
    st.net.delay(lambda p: p.src == SERVER_IP and len(p.seg.payload) > 0, late, count=1)
    sconn.send(RESPONSE)
    st.wait(lambda: conn.conn.readable >= len(RESPONSE))
    conn.recv()
    conn.close()
    st.wait(lambda: sconn.eof)
    sconn.close()
    st.wait(lambda: conn.state is TIME_WAIT and sconn.state is CLOSED)
    st.facts["time_wait_at"] = st.now
    try_at = 10.0

    def reconnect():
        key = (CLIENT_IP, port, SERVER_IP, 80)
        if key in c.host.conns:
            try:
                c.connect(SERVER_IP, 80, local_port=port)
            except OSError as e:
                st.note(f"client application: connect() from port {port} again: "
                        f"{errno.errorcode.get(e.errno, e.errno)} (the 4-tuple is in "
                        f"TIME_WAIT)", side="left")
                return None
        st.note(f"client application: connect() from port {port} again", side="left")
        return c.connect(SERVER_IP, 80, local_port=port)

    st.run(until=try_at)
    new = reconnect()
    if new is None:
        key = (CLIENT_IP, port, SERVER_IP, 80)
        st.wait(lambda: key not in c.host.conns, timeout=4 * st.msl + 60)
        new = reconnect()
    st.facts["reconnected_at"] = st.now
    st.wait(lambda: new.state is ESTABLISHED and bool(lst.listener.accept_queue), timeout=60)
    s2 = lst.accept()
    new.send(REQUEST)
    st.wait(lambda: s2.conn.readable >= len(REQUEST))
    st.facts["second_request"] = s2.recv()
    st.run_for(max(0.0, late + 1.0 - st.now))
    st.run_for(1.0)
    st.explain(seg("PSH,ACK", side="right", lost=False, data=True),
               "The response. This copy will wander in the network for 20 s (the arrow arrives "
               "far below); it is not lost, only late.")
    st.explain(seg("PSH,ACK", side="right", tag="rexmit"),
               "No ACK in time: {who} retransmits the response, and this copy arrives at once.")
    st.explain(seg("RST", side="right"),
               "The server no longer has this connection, so it answers the ACK with a RST. The "
               "client follows RFC 1337 and ignores a RST in TIME_WAIT; by RFC 9293's rule it "
               "would have left TIME_WAIT early (\"TIME-WAIT assassination\").")
    if st.facts["reconnected_at"] < st.facts["time_wait_at"] + late:
        st.explain(kind("arrival"),
                   "The old duplicate arrives, but TIME_WAIT was too short (2*MSL < its 20 s in "
                   "the network): a new connection already uses the 4-tuple. Here it is saved by "
                   "the ISN clock alone: the new sequence numbers are far from the old ones, so "
                   "the segment falls outside the window and only draws an ACK. Had it fallen "
                   "inside, its bytes would have been taken as the new connection's data.")
    else:
        st.explain(kind("arrival"),
                   "The old duplicate finally arrives. The 4-tuple is still in TIME_WAIT, which "
                   "recognises the segment as old (it lies before RCV.NXT): the client "
                   "acknowledges what it has and drops it. No new connection can be confused.")
