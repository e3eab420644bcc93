"""Opening and closing, with nothing going wrong."""
from __future__ import annotations

from ..engine.states import CLOSED, ESTABLISHED, TIME_WAIT
from ..viz.model import seg, state
from . import SERVER_IP, Stage, scenario

REQUEST = b"GET / HTTP/1.0\r\nHost: example\r\n\r\n"
RESPONSE = b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"


def open_pair(st: Stage, port: int = 80, **server_changes):
    """Client and server, a listener on `port`, a connection up and accepted."""
    c, s = st.pair(server=server_changes or None)
    lst = s.listen(port)
    conn = c.connect(SERVER_IP, port)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue),
            what="the three-way handshake")
    sconn = lst.accept()
    return c, s, lst, conn, sconn


def request_response(st: Stage, conn, sconn) -> bytes:
    """The client sends REQUEST, the server reads it and answers RESPONSE,
    the client reads that: returns what the client read."""
    conn.send(REQUEST)
    st.wait(lambda: sconn.conn.readable >= len(REQUEST), what="the request's arrival at the server")
    sconn.recv()
    sconn.send(RESPONSE)
    st.wait(lambda: conn.conn.readable >= len(RESPONSE),
            what="the response's arrival at the client")
    return conn.recv()


@scenario("handshake", "The three-way handshake",
          "SYN, SYN-ACK, ACK: both sides pick an ISN and see it acknowledged")
def handshake(st: Stage) -> None:
    """
    Before any data can flow, each side must tell the other the sequence
    number it starts from (its initial sequence number, ISN) and hear it
    acknowledged. That takes three segments: the client's SYN carries x,
    the server's SYN-ACK acknowledges x+1 and carries its own y, and the
    client's ACK acknowledges y+1. The server has already set up a
    half-open connection (SYN_RECEIVED) when the SYN arrived; it becomes
    ESTABLISHED only when the third segment arrives.
    """
    c, s = st.pair()
    lst = s.listen(80)
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue),
            what="the three-way handshake")
    st.facts["client_port"] = conn.conn.local_port
    st.run_for(0.1)


@scenario("lifecycle", "The whole life of a connection",
          "handshake, request and response, the four-way close, TIME_WAIT for 2*MSL")
def lifecycle(st: Stage) -> None:
    """
    A connection from birth to death. The three-way handshake opens it; the
    client sends a small HTTP request and the server answers, its response
    also acknowledging the request. The client then closes first (the
    "active close"): FIN, ACK one way, FIN, ACK the other way, because each
    direction is closed on its own. The side that closes first ends in
    TIME_WAIT and keeps the connection's memory for 2*MSL (twice the
    Maximum Segment Lifetime, 60 s with MSL = 30 s) before it is CLOSED.
    The side that closes second goes CLOSE_WAIT -> LAST_ACK -> CLOSED and
    never waits.
    """
    c, s, lst, conn, sconn = open_pair(st)
    request_response(st, conn, sconn)
    conn.close()
    st.wait(lambda: sconn.eof, what="the arrival of the client's FIN")
    sconn.close()
    st.wait(lambda: conn.state is TIME_WAIT, what="the client's TIME_WAIT")
    st.facts["time_wait_at"] = st.now
    st.run()
    st.explain(state("left", "TIME_WAIT", "CLOSED"),
               "Nothing has arrived for 2*MSL: no old segment of this connection can still "
               "be in the network, so the 4-tuple may be used again.")


@scenario("half-close", "Half-close: the server keeps sending after the client's FIN",
          "shutdown(SHUT_WR): one direction closed, the other still carrying data")
def half_close(st: Stage) -> None:
    """
    A FIN closes only one direction. Here the client sends its request and
    then calls shutdown(SHUT_WR): "I have nothing more to say". Its FIN is
    acknowledged and it waits in FIN_WAIT_2, but it can still receive. The
    server, in CLOSE_WAIT, goes on sending its answer in several pieces and
    the client goes on acknowledging them from FIN_WAIT_2. Only when the
    server closes too does the client reach TIME_WAIT. (This is how
    `ssh host cmd < file` or an HTTP/1.0 upload tells the other side the
    input has ended.)
    """
    c, s, lst, conn, sconn = open_pair(st)
    conn.send(REQUEST)
    conn.shutdown("wr")
    st.wait(lambda: sconn.eof)
    sconn.recv()
    chunks = [b"part one of the answer\n" * 20, b"part two of the answer\n" * 20,
              b"the last part\n" * 20]
    for i, chunk in enumerate(chunks):
        st.at(st.now + 0.3 * (i + 1), sconn.send, chunk)
    st.at(st.now + 0.3 * len(chunks) + 0.3, sconn.close)
    st.run(until=st.now + 0.3 * len(chunks) + 0.31)
    st.facts["received"] = conn.recv()
    st.run()
    st.explain(seg("ACK", side="left", sender_state="FIN_WAIT_2"),
               "The client is in FIN_WAIT_2: it has sent its FIN but it still receives and "
               "acknowledges data; only its sending direction is closed.")


@scenario("simultaneous-open", "Simultaneous open: two SYNs cross",
          "both connect at once: SYN_SENT -> SYN_RECEIVED -> ESTABLISHED, 4 segments")
def simultaneous_open(st: Stage) -> None:
    """
    TCP has no client and server, only two ends. If each end does an
    active OPEN to the other at the same moment (each knowing the other's
    port), the SYNs cross in the network. Each side, in SYN_SENT, receives
    a SYN that is not a SYN-ACK: it moves to SYN_RECEIVED and answers with
    a SYN-ACK that repeats its own SYN and acknowledges the other. When a
    side's SYN is acknowledged it is ESTABLISHED. One connection results,
    not two (RFC 9293 Figure 7). Rare in practice, but it is why the state
    machine has an edge from SYN_SENT to SYN_RECEIVED; NAT traversal
    ("TCP hole punching") relies on it.
    """
    a = st.host("A", "10.0.0.1")
    b = st.host("B", SERVER_IP)
    st.link(a, b)
    st.left_name, st.right_name = "A", "B"
    ca = a.connect(SERVER_IP, 6000, local_port=5000)
    cb = b.connect("10.0.0.1", 5000, local_port=6000)
    st.wait(lambda: ca.state is ESTABLISHED and cb.state is ESTABLISHED)
    st.facts["states"] = (ca.state, cb.state)
    st.run_for(0.5)
    st.explain(seg("SYN", side="right"),
               "At the same moment B opens towards A: each SYN left before the other arrived.")


@scenario("simultaneous-close", "Simultaneous close: both FINs cross",
          "both sides close at once: FIN_WAIT_1 -> CLOSING -> TIME_WAIT on both")
def simultaneous_close(st: Stage) -> None:
    """
    Both applications call close() at the same moment, so both FINs are in
    flight together. Each side, in FIN_WAIT_1, receives a FIN before the
    ACK of its own FIN: it acknowledges the FIN and enters CLOSING. When the
    ACK of its own FIN arrives it enters TIME_WAIT. Both sides did an active
    close, so both wait 2*MSL (RFC 9293 Figure 13).
    """
    c, s, lst, conn, sconn = open_pair(st)
    st.run_for(0.5)
    conn.close()
    sconn.close()
    st.wait(lambda: conn.state is CLOSED and sconn.state is CLOSED, timeout=4 * st.msl + 60)
    st.run()
    st.explain(seg("ACK", side="right", sender_state="CLOSING"),
               "The client's FIN arrives while the server waits for the ACK of its own FIN: "
               "it acknowledges it (ack = {ack}) and enters CLOSING. The client does the same.")
    st.explain(state("left", "CLOSING", "TIME_WAIT"),
               "The ACK of its FIN arrives: CLOSING -> TIME_WAIT. Both sides made an active "
               "close, so both will wait 2*MSL.")
