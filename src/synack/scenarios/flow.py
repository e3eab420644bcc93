"""Flow control and idle connections: zero windows and keep-alives."""
from __future__ import annotations

from ..engine.states import CLOSED, ESTABLISHED
from ..viz.model import seg
from . import SERVER_IP, Stage, scenario
from .basic import request_response


@scenario("zero-window", "A zero window and persist probes",
          "the receiver stops reading, its window closes, the sender probes it")
def zero_window(st: Stage) -> None:
    """
    The server has a small receive buffer (4 KiB) and its application is
    busy, not reading. The client sends 8 KiB. The first segments fill the
    buffer and the server's ACKs advertise a shrinking window, then win=0:
    the client must stop. It is not allowed to give up, nor to wait for a
    window update that might be lost (an ACK carrying only a window is not
    retransmitted). So it starts the persist timer and, each time it
    fires, sends a window probe (one byte beyond the window), backing off
    like the RTO. When the application reads at t = 6 s the window opens,
    the server says so, and the transfer completes.
    """
    c, s = st.pair(server={"rcvbuf": 4096})
    lst = s.listen(80)
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue),
            what="the three-way handshake")
    sconn = lst.accept()
    data = bytes(range(256)) * 32
    sent = conn.send(data)
    st.facts["queued"] = sent
    st.run(until=6.0)
    st.note("server application: starts reading", side="right")
    got = bytearray()
    st.wait(lambda: (got.extend(sconn.recv()) or len(got) >= len(data)), timeout=120,
            what=f"the delivery of all {len(data)} octets")
    st.facts["received"] = bytes(got)
    st.run_for(0.5)
    st.explain(seg("ACK", side="right", tag="zero window"),
               "The window is 0: the server's 4 KiB buffer is full and its application is not "
               "reading. {Other} must stop sending.")
    st.explain(seg("ACK", side="left", tag="window probe"),
               "The persist timer fires (one RTO after the window closed): {who} sends a window "
               "probe, one byte just past the closed window. The answer, still win=0, tells it "
               "to keep waiting; the next probe comes after twice the interval.")
    st.explain(seg("ACK", side="right", tag="window update"),
               "The application has read: the window opens again (win = {win}), and this "
               "window update lets the client send the rest.")


@scenario("keepalive", "Keep-alive: is the other side still there?",
          "2 h idle: a probe is answered; then the server vanishes: ETIMEDOUT")
def keepalive(st: Stage) -> None:
    """
    An idle TCP connection sends nothing at all, so a side cannot tell an
    idle peer from a dead one. With SO_KEEPALIVE the client, after 2 hours
    of silence (the RFC's minimum default, MUST-28; virtual time costs
    nothing here), sends a keep-alive probe: a segment with seq = SND.NXT-1
    and no data, which the peer must answer with an ACK. The first probe is
    answered. Then the server vanishes (its cable is unplugged): 2 hours
    later the next probe goes unanswered, and the client retries 9 times,
    75 s apart, before it declares the connection dead: ETIMEDOUT. (Had the
    server rebooted instead, it would have answered the probe with a RST.)
    """
    c, s = st.pair(client={"keepalive": True})
    lst = s.listen(80)
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    sconn = lst.accept()
    request_response(st, conn, sconn)
    cut = 8000.0
    st.run(until=cut)
    st.note("the server is unplugged: from now on nothing reaches it or comes from it", None)
    st.net.drop(lambda p: True, count=None)
    st.wait(lambda: conn.state is CLOSED, timeout=20000)
    st.facts["error"] = conn.error
    st.facts["closed_at"] = st.now
    st.run_for(1.0)
    st.explain(seg("ACK", side="left", tag="keep-alive", lost=False),
               "2 hours without a segment: the keep-alive probe. seq = SND.NXT-1 is a byte the "
               "server already has, so it must answer with an ACK, and no data is sent.")
    st.explain(seg("ACK", side="right", lost=False, sender_state="ESTABLISHED"),
               "The server is alive and answers: the client waits another 2 hours.")
    st.explain(seg("ACK", side="left", tag="keep-alive", lost=True),
               "No answer this time. The client probes again every 75 s.")
