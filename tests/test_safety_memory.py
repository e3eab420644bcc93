"""Memory per connection when peers stop reading (issue 17, part 2; the part
done: send-buffer autotuning and a service that does not copy its output).

With `Config.sndbuf_auto` (on for every TUN connection, `tun_config`, and
the TUN services; off by default)
the send buffer starts at `sndbuf_min` and grows to twice what can be in
flight, min(cwnd, the peer's largest window), up to `sndbuf` (Linux's
tcp_wmem autotuning); SO_SNDBUF fixes it. The HTTP service keeps the unsent
rest of a body chunk as a view, not a copy. In the simulator: 40 clients ask
for 100 MB each and never read.
"""
from __future__ import annotations

from synack.api import SimStack, socket as ssocket
from synack.sim import Network
from synack.tun.driver import DEFAULT_BUFFER, tun_config
from synack.tun.services import Http, ServiceHost, pattern_block

PEERS = 40


def _held_per_peer(server_cfg, hub_config=None) -> float:
    net = Network(seed=4, trace=False)
    server = net.add_host("10.0.0.2", config=server_cfg)
    hub = ServiceHost(server, [Http(8080)], config=hub_config).start(now=0.0)
    net.on_event = lambda sh, e: hub.handle([e], net.now) if sh is server else None
    clients = []
    for i in range(PEERS):
        h = net.add_host(f"10.0.1.{i + 1}")
        net.link(h, server, delay=0.005)
        c = h.connect("10.0.0.2", 8080)
        clients.append(c)
    net.run(until=0.5)
    for c in clients:
        c.send(b"GET /bytes/100000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    net.run(until=10.0)                              # nobody reads
    conns = [c for c in hub.conns]
    assert len(conns) == PEERS
    held = 0
    for conn, st in hub.conns.items():
        held += len(conn.sndq) + len(st.pending)
        rest = getattr(st.src, "rest", None)
        if rest is not None and rest.obj is not pattern_block():
            held += len(rest)                        # a private copy would count
    return held / PEERS


def test_peers_that_never_read_hold_little_memory():
    fixed = tun_config("plain").replace(sndbuf_auto=False)
    before = _held_per_peer(fixed, hub_config=fixed)                  # fixed 4 MiB
    after = _held_per_peer(tun_config("plain"))                       # every TUN connection's default
    print(f"octets held per non-reading peer: {before:,.0f} fixed 4 MiB buffer, {after:,.0f} autotuned")
    assert before >= DEFAULT_BUFFER                  # the old way: the whole 4 MiB, and more
    assert after <= 256 * 1024


def test_so_sndbuf_fixes_the_size():
    a, b = SimStack.pair(seed=1, config=tun_config("plain").replace(sndbuf_auto=True))
    srv = b.socket()
    srv.bind(("", 9))
    srv.listen()
    c = a.socket()
    c.setsockopt(ssocket.SOL_SOCKET, ssocket.SO_SNDBUF, 1 << 20)
    c.connect(("10.0.0.2", 9))
    assert c.connection.sndbuf_auto is False
    assert c.getsockopt(ssocket.SOL_SOCKET, ssocket.SO_SNDBUF) == 1 << 20
    d = a.socket()
    d.connect(("10.0.0.2", 9))
    assert d.connection.sndbuf_auto is True
    assert d.getsockopt(ssocket.SOL_SOCKET, ssocket.SO_SNDBUF) < 1 << 20
