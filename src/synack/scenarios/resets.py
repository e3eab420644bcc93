"""Connections that end with a RST instead of a FIN."""
from __future__ import annotations

from ..engine.states import CLOSED
from ..viz.model import seg, state
from . import SERVER_IP, Stage, scenario
from .basic import REQUEST, RESPONSE, open_pair, request_response


@scenario("refused", "Connection refused: SYN to a closed port",
          "SYN to a closed port: RST,ACK, and connect() fails with ECONNREFUSED")
def refused(st: Stage) -> None:
    """
    The client sends a SYN to port 81, where nothing listens. The server's
    TCP has no connection and no listener for it, and answers any such
    segment with a RST (RFC 9293 §3.10.7.1). Because the SYN carried no
    ACK, the RST carries one: ack = x+1 acknowledges the SYN, so the client
    can check that the reset answers its own attempt and not some stale
    segment. The client goes straight from SYN_SENT to CLOSED and connect()
    fails with ECONNREFUSED ("Connection refused").
    """
    c, s = st.pair()
    conn = c.connect(SERVER_IP, 81)
    st.run(until=1.0)
    st.facts["error"] = conn.error
    st.facts["state"] = conn.state


@scenario("linger-abort", "SO_LINGER 0: an abortive close",
          "close() with SO_LINGER 0: RST instead of FIN, no TIME_WAIT, peer reset")
def linger_abort(st: Stage) -> None:
    """
    After its request is answered, the client sets SO_LINGER with a time
    of 0 and closes. That asks for an abortive close: instead of a FIN
    after all data (the orderly release), TCP sends a RST and deletes the
    connection at once. No FIN exchange, no TIME_WAIT on either side, and
    anything still unsent or unread is discarded. The server's next read
    fails with ECONNRESET ("Connection reset by peer"). Some servers do
    this on purpose to avoid TIME_WAIT; it also throws away the protection
    TIME_WAIT gives.
    """
    c, s, lst, conn, sconn = open_pair(st)
    request_response(st, conn, sconn)
    st.note("client application: setsockopt(SO_LINGER, on, 0); close()", side="left")
    conn.set_linger(0)
    conn.close()
    st.wait(lambda: sconn.state is CLOSED)
    st.facts["server_error"] = sconn.error
    st.run_for(1.0)
    st.explain(seg("RST,ACK", side="left"),
               "Linger time 0: close() aborts. A RST goes out instead of a FIN and the client "
               "deletes the connection at once: no FIN_WAIT, no TIME_WAIT.")
    st.explain(state("right", None, "CLOSED"),
               "The RST is in sequence (seq = RCV.NXT), so the server believes it and deletes "
               "the connection straight from ESTABLISHED.")


@scenario("unread-data-close", "Closing with unread data sends RST",
          "the client closes without reading the response: RST instead of FIN")
def unread_data_close(st: Stage) -> None:
    """
    The server's response has arrived, but the client's application closes
    its socket without reading it. The data can never be delivered now, so
    TCP tells the peer the truth: it sends a RST, not a FIN (RFC 2525 §2.17
    recommends this and Linux does it). The server learns that its data
    was not consumed (ECONNRESET) instead of believing all went well.
    Closing with unread data is a common cause of "connection reset by
    peer" in HTTP clients.
    """
    c, s, lst, conn, sconn = open_pair(st)
    conn.send(REQUEST)
    st.wait(lambda: sconn.conn.readable >= len(REQUEST))
    sconn.recv()
    sconn.send(RESPONSE)
    st.wait(lambda: conn.conn.readable >= len(RESPONSE))
    st.run_for(0.5)
    st.note(f"client application: close() with {conn.conn.readable} bytes unread", side="left")
    st.facts["unread"] = conn.conn.readable
    conn.close()
    st.wait(lambda: sconn.state is CLOSED)
    st.facts["server_error"] = sconn.error
    st.run_for(1.0)
    st.explain(seg("RST,ACK", side="left"),
               "There is unread data in the receive buffer, so close() cannot be an orderly "
               "release: RST instead of FIN, and the client forgets the connection.")
