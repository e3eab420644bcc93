"""The listening socket: the SYN queue, the accept queue, SYN floods and cookies."""
from __future__ import annotations

from ..engine.segment import SYN, Options, Segment
from ..engine.states import ESTABLISHED
from ..viz.model import seg, state
from . import CLIENT_IP, SERVER_IP, Stage, scenario
from .basic import request_response

GHOST_IP = "10.0.0.9"
SPOOFED = [f"198.51.100.{i}" for i in range(1, 9)]


@scenario("synack-retransmit", "A client that never completes: SYN-ACK retransmitted",
          "no third segment: the SYN-ACK is retransmitted with backoff, then dropped")
def synack_retransmit(st: Stage) -> None:
    """
    A SYN arrives from 10.0.0.9 and the server answers it, keeping a
    half-open connection in SYN_RECEIVED on its SYN queue. But the client
    has gone away (it crashed, or its route broke) and the SYN-ACKs get
    nowhere. The server retransmits the SYN-ACK with the usual doubling
    timeout (1, 2, 4, 8, 16 s) and after the last retry (5, as Linux's
    tcp_synack_retries) drops the half-open entry: it goes to CLOSED
    without any segment, freeing its place in the SYN queue.
    """
    s = st.host("server", SERVER_IP)
    st.left = [GHOST_IP]
    st.unknown_sides.add("left")
    lst = s.listen(80)
    syn = Segment(40000, 80, 5000, 0, SYN, 65535, 0, Options(mss=1460))
    st.net.inject(GHOST_IP, SERVER_IP, syn, at=0.0)
    st.run()
    st.facts["syn_queue"] = len(lst.listener.syn_queue)
    st.explain(seg("SYN", side="left"),
               "A SYN from 10.0.0.9. The client will send nothing after it: it goes away at once.")
    st.explain(seg("SYN,ACK", side="right", lost=True),
               "The server answers and keeps a half-open connection in SYN_RECEIVED. There is "
               "no route back to 10.0.0.9, so the SYN-ACK is lost.")
    st.explain(state("right", "SYN_RECEIVED", "CLOSED"),
               "After 5 retransmissions the server gives up: the half-open entry is deleted "
               "silently (no RST: there is nobody to tell) and its SYN queue slot is free again.")


def _flood(st: Stage, n: int, at: float = 0.0) -> None:
    for i, ip in enumerate(SPOOFED[:n]):
        st.tag(ip, "spoofed")
        syn = Segment(1024 + i, 80, 7000 + 1000 * i, 0, SYN, 65535, 0, Options(mss=1460))
        st.net.inject(ip, SERVER_IP, syn, at=at + 0.001 * i)
    st.quiet.add("spoofed")


def _flooded_server(st: Stage, cookies: str):
    """A client, and a server whose SYN queue (backlog 4) spoofed SYNs have filled."""
    c = st.host("client", CLIENT_IP)
    s = st.host("server", SERVER_IP, syn_cookies=cookies)
    st.link(c, s)
    lst = s.listen(80, backlog=4)
    _flood(st, 4)
    st.run(until=0.05)
    st.note(f"server: SYN queue full, {len(lst.listener.syn_queue)} of 4 half-open "
            f"connections (SYN_RECEIVED)", side="right")
    st.run(until=0.1)
    return c, s, lst


@scenario("syn-flood", "A SYN flood fills the SYN queue",
          "spoofed SYNs fill the SYN queue; a legitimate client gets no answer")
def syn_flood(st: Stage) -> None:
    """
    An attacker sends SYNs with forged source addresses. Each one makes the
    server keep a half-open connection (SYN_RECEIVED) and send a SYN-ACK to
    an address that never answers, retransmitting it for about a minute.
    With a listen backlog of 4 (tiny, to keep the picture small), four
    spoofed SYNs fill the SYN queue. A legitimate client now connects:
    its SYN arrives and is silently dropped, and so are its retransmissions.
    As long as the attacker keeps the queue full, nobody gets in, at the
    cost of a few tiny packets per minute: a denial of service (RFC 4987).
    SYN cookies (the syn-cookies scenario) are the classic defence; here
    they are off.
    """
    c, s, lst = _flooded_server(st, cookies="off")
    conn = c.connect(SERVER_IP, 80)
    st.run(until=12.0)
    st.facts["client_state"] = conn.state
    st.facts["syn_queue"] = len(lst.listener.syn_queue)
    st.facts["dropped"] = s.host.stats["syn_queue_drops"]
    st.note("... and so on: the SYN-ACKs stop after 5 retries, but an attacker who sends "
            "four new SYNs now and then keeps the queue full for ever", side=None)
    st.explain(seg("SYN", injected=True),
               "A SYN with a forged source address (198.51.100.x). It costs the attacker one "
               "small packet; the server must keep a half-open connection for it.")
    st.explain(seg("SYN,ACK", side="right", label="spoofed"),
               "The SYN-ACK goes to the forged address, which never answers. The server will "
               "retransmit it for about a minute.")
    st.explain(seg("SYN", side="left", injected=False),
               "The legitimate client's SYN arrives, but the SYN queue is full (4 of 4 half-open "
               "connections): the server drops it without an answer.")
    st.explain(seg("SYN", side="left", injected=False, tag="rexmit"),
               "{Who} retransmits ({dt} later) and is dropped again: the queue is still full.",
               once=False)


@scenario("syn-cookies", "SYN cookies: the same flood, and the client gets in",
          "the same flood; the server answers with a cookie, keeps no state")
def syn_cookies(st: Stage) -> None:
    """
    The same flood as in syn-flood, but the server has SYN cookies on (as
    Linux does by default when the queue is full). When a SYN finds the
    SYN queue full, the server still answers, but keeps no state at all:
    it encodes what it needs (a hash of the 4-tuple and a secret, a coarse
    clock and an approximation of the client's MSS) in the sequence number
    of its SYN-ACK, the "cookie". A spoofed source never answers and costs
    nothing; a real client's ACK returns the cookie plus one in its ack
    field, and the server, checking the hash, rebuilds the connection from
    it (RFC 4987 §3.6). The price: options that the cookie cannot hold
    (window scaling, SACK without timestamps) are lost for that connection.
    """
    c, s, lst = _flooded_server(st, cookies="when-full")
    conn = c.connect(SERVER_IP, 80)
    st.wait(lambda: conn.state is ESTABLISHED and bool(lst.listener.accept_queue))
    sconn = lst.accept()
    st.facts["response"] = request_response(st, conn, sconn)
    st.facts["cookies_sent"] = s.host.stats["syn_cookies_sent"]
    st.facts["cookies_accepted"] = s.host.stats["syn_cookies_accepted"]
    st.run(until=0.9)
    st.explain(seg("SYN", injected=True),
               "A SYN with a forged source address: the flood fills the SYN queue as before.")
    st.explain(seg("SYN", side="left", injected=False),
               "The legitimate client's SYN finds the SYN queue full (4 of 4).")
    st.explain(seg("SYN,ACK", side="right", dst=CLIENT_IP),
               "Instead of dropping the SYN, the server answers with a SYN cookie: its ISN "
               "encodes the 4-tuple (hashed with a secret), a clock and the MSS. It keeps no "
               "state: there is no SYN_RECEIVED for this client.")
    st.explain(seg("ACK", side="left"),
               "The client's ACK returns the cookie + 1 in its ack field.")
    st.explain(state("right", "SYN_RECEIVED", "ESTABLISHED"),
               "The server checks the cookie (ack - 1) against the 4-tuple and its secret, "
               "rebuilds the connection from it, and it is ESTABLISHED at once.")


@scenario("backlog-full", "The accept queue is full until the application accepts",
          "a second client's SYNs are dropped while the accept queue is full")
def backlog_full(st: Stage) -> None:
    """
    The server listens with a backlog of 1 and its application is busy: it
    does not call accept(). Client A connects: the handshake completes in
    the kernel and A waits on the accept queue, which is now full. Client
    B's SYN arrives; a SYN that could never be accepted is dropped (as
    Linux does), so B hears nothing and retransmits. At t = 2 s the
    application finally accepts A, freeing the queue; B's next
    retransmission (at 3 s) is answered and B gets in. A busy server thus
    looks like a slow or lossy one to its clients.
    """
    c, s = st.pair()
    lst = s.listen(80, backlog=1)
    a = c.connect(SERVER_IP, 80)
    st.tag(f"{CLIENT_IP}:{a.conn.local_port}", "A")
    st.wait(lambda: a.state is ESTABLISHED and bool(lst.listener.accept_queue))
    st.run(until=0.5)
    b = c.connect(SERVER_IP, 80)
    st.tag(f"{CLIENT_IP}:{b.conn.local_port}", "B")
    st.run(until=2.0)
    st.note("server application: accept() returns A; the accept queue has room again",
            side="right")
    st.facts["accepted"] = lst.accept()
    st.wait(lambda: b.state is ESTABLISHED and bool(lst.listener.accept_queue), timeout=30)
    st.facts["b_established_at"] = st.now
    lst.accept()
    st.run_for(0.1)
    st.explain(seg("SYN", side="left", label="B", tag=None),
               "B's SYN arrives, but the accept queue is full (1 of 1, A is waiting in it): "
               "the server drops it without an answer.")
    st.explain(seg("SYN", side="left", label="B", tag="rexmit"),
               "B retransmits after {dt}; the queue is still full and the SYN is dropped again.")
    st.explain(seg("SYN,ACK", side="right", label="B"),
               "Now there is room: the server answers B's retransmitted SYN.")
