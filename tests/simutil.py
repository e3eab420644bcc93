"""Helpers for tests that run whole conversations on the simulator."""
from __future__ import annotations

from synack.sim import Network
from synack.engine.states import CLOSED


def exchange(net: Network, client, server, port: int, up: bytes, down: bytes,
             step: float = 0.05, limit: float = 20000.0, client_cfg=None, server_cfg=None,
             client_port: int = 0):
    """Client sends `up`, server sends `down`; each half-closes when done sending
    and closes after reading to EOF. Returns (received_by_server, received_by_client,
    client_conn, server_conn)."""
    lst = server.listen(port, config=server_cfg)
    cc = client.connect(server.address, port, config=client_cfg, local_port=client_port)
    sc = None
    got_up, got_down = bytearray(), bytearray()
    sent_up = sent_down = 0
    closed_c = closed_s = False
    t_end = net.now + limit
    while net.now < t_end:
        net.run(until=net.now + step)
        if sc is None:
            sc = lst.accept()
        # client side
        if cc.conn.error:
            break
        if cc.state is not CLOSED or cc.conn.rcvq:
            if sent_up < len(up) and cc.conn.established:
                sent_up += cc.send(up[sent_up:sent_up + 65536])
                if sent_up == len(up):
                    cc.shutdown("wr")
            elif sent_up == len(up) == 0 and cc.conn.established and not cc.conn.wr_shut:
                cc.shutdown("wr")
            got_down += cc.recv()
            if cc.eof and not cc.conn.rcvq and not closed_c and cc.conn.wr_shut:
                cc.close()
                closed_c = True
        if sc is not None and not sc.conn.error:
            if sent_down < len(down):
                sent_down += sc.send(down[sent_down:sent_down + 65536])
                if sent_down == len(down):
                    sc.shutdown("wr")
            elif len(down) == 0 and not sc.conn.wr_shut and sc.conn.established:
                sc.shutdown("wr")
            got_up += sc.recv()
            if sc.eof and not sc.conn.rcvq and not closed_s and sc.conn.wr_shut:
                sc.close()
                closed_s = True
        if closed_c and closed_s and cc.state is CLOSED and sc.state is CLOSED:
            break
    net.run()          # let TIME_WAIT and everything else run out
    lst.close()
    return bytes(got_up), bytes(got_down), cc, sc
