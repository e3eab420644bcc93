"""A peer that vanishes behind a zero window is dropped (issue 17, part 3).

RFC 9293 keeps a zero window open indefinitely only while the receiver
answers the probes (§3.8.6.1, MUST-37). A probe nobody answers is a
retransmission that is never acknowledged: it counts under the
excessive-retransmission rule (§3.8.3, R2, MUST-20) and the user timeout
(§3.10.8, RFC 5482). Linux does the same (tcp_probe_timer: unanswered
probes against tcp_retries2, TCP_USER_TIMEOUT from the first unanswered
probe). In the simulator, in virtual time.
"""
from __future__ import annotations

import pytest

from synack.engine.config import Config
from synack.sim import Network
from synack.engine.states import CLOSED, ESTABLISHED

DAY = 86400.0


def _stalled(server_cfg: Config, client_cfg: Config | None = None):
    """A server whose client stopped reading: the client's window is zero
    and the server has more to send. Returns (net, server connection,
    client connection) once the server is probing."""
    net = Network(seed=5)
    client = net.add_host("10.0.0.1", config=client_cfg or Config(rcvbuf=8192))
    server = net.add_host("10.0.0.2", config=server_cfg)
    net.link(client, server, delay=0.01)
    lst = server.listen(80)
    cc = client.connect("10.0.0.2", 80)
    net.run(until=0.5)
    sc = lst.accept()
    assert sc is not None and cc.state is ESTABLISHED
    sent = sc.send(b"x" * 60000)
    assert sent > 8192
    assert net.run_until(lambda: sc.conn.snd_wnd == 0 and sc.conn.t_persist is not None, timeout=30)
    return net, sc, cc


def _vanish(net: Network):
    """The client disappears: from now on nothing gets through either way."""
    net.drop(lambda p: True, count=None)


def _probes(net: Network, since: float, src: str = "10.0.0.2") -> int:
    return sum(1 for r in net.trace.records
               if r.type == "segment" and r.a == "send" and r.t >= since and r.b.startswith(src + ":")
               and len(r.d.payload) <= 1 and r.d.payload)


def test_dead_peer_behind_zero_window_dropped_after_r2_probes():
    """With the defaults (R2 = 15, no user timeout): 15 unanswered probes,
    then ETIMEDOUT at the 16th expiry of the persist timer."""
    net, sc, cc = _stalled(Config())
    t0 = net.now
    _vanish(net)
    assert net.run_until(lambda: sc.state is CLOSED, timeout=DAY), \
        f"still {sc.state} after a day, {_probes(net, t0)} probes sent"
    assert sc.conn.error == "ETIMEDOUT"
    assert _probes(net, t0) == Config().r2
    assert sc.conn.host.stats["persist_timeouts"] == 1
    # 1 + 2 + 4 + ... backed off to RTO.max = 60 s: about ten minutes
    assert net.now - t0 < 1200


@pytest.mark.parametrize("keepalive", [False, True])
def test_dead_peer_behind_zero_window_user_timeout(keepalive):
    """With a 10 s user timeout (and keep-alive or not, as in the issue's
    report): dropped 10 s after the first probe that is not answered."""
    cfg = Config(user_timeout=10.0, keepalive=keepalive, keepalive_idle=5.0, keepalive_interval=1.0)
    net, sc, cc = _stalled(cfg)
    t0 = net.now
    _vanish(net)
    first_probe = sc.conn.t_persist            # the next probe: the first to go unanswered
    assert net.run_until(lambda: sc.state is CLOSED, timeout=DAY), \
        f"still {sc.state} after a day, {_probes(net, t0)} probes sent"
    assert sc.conn.error == "ETIMEDOUT"
    assert sc.conn.host.stats["user_timeouts"] == 1
    assert net.now == pytest.approx(first_probe + 10.0, abs=1e-6)


def test_answered_probes_keep_the_connection_open_past_the_user_timeout():
    """MUST-37: a receiver that keeps answering keeps the connection open, for
    an hour here, with a 10 s user timeout and R2 = 3; when it starts reading
    again the data flows."""
    net, sc, cc = _stalled(Config(user_timeout=10.0, r2=3))
    net.run(until=net.now + 3600)
    assert sc.state is ESTABLISHED and cc.state is ESTABLISHED
    assert _probes(net, 0.0) > 20
    got = bytearray()
    for _ in range(200):
        got += cc.recv()
        net.run(until=net.now + 0.5)
        if len(got) >= 60000:
            break
    assert len(got) == 60000
