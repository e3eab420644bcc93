"""RCV.ADV after an active open: the right edge of the window we offered must be
measured from the peer's ISN, whatever it is (RFC 9293 §3.8.6: the total of
RCV.NXT and RCV.WND should not be reduced -- and must start from RCV.NXT).

A regression: the edge was set when our SYN went out (RCV.NXT still 0) and not
rebased on the SYN,ACK. For a peer ISN near 2**31 that read as a zero window
(data at RCV.NXT treated as a window probe, the connection stuck); for about
half of all ISNs as a window of ~2**31 (flow control not enforced).
"""
import pytest

from synack.engine.config import rfc_profile
from synack.engine.isn import FixedIsn
from synack.engine.seq import MASK
from synack.sim import Network


@pytest.mark.parametrize("server_isn", [2**31 + 12194, 2**31 + 10**6, 2**32 - 5, 0, 12345])
def test_data_after_active_open_for_any_peer_isn(server_isn):
    net = Network(seed=1)
    cfg = rfc_profile().replace(rcvbuf=8192)
    c = net.add_host("10.0.0.1", config=cfg)
    s = net.add_host("10.0.0.2", config=cfg, isn=FixedIsn(server_isn))
    net.link(c, s, delay=0.001)
    lst = s.listen(80)
    conn = c.connect("10.0.0.2", 80)
    net.run(until=0.1)
    srv = lst.accept()
    # the offered window is measured from RCV.NXT: at most the buffer
    wnd = (conn.conn.rcv_adv - conn.conn.rcv_nxt) & MASK
    assert 0 < wnd <= 8192
    srv.send(b"a" * 20000)                     # more than the client's buffer
    # (the last partial segment into the small window left waits for the
    # override timeout of sender SWS avoidance, RFC 1122 §4.2.3.4: one RTO)
    net.run(until=2.0)
    assert conn.conn.readable == 8192          # flow control held: nothing beyond the buffer
    got = conn.recv()
    net.run(until=5.0)
    got += conn.recv()
    net.run(until=10.0)
    got += conn.recv()
    assert got == b"a" * 20000
