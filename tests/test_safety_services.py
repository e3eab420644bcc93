"""The echo and HTTP services under back-pressure (issue 17, part 6).

A client sends a lot, half-closes (SHUT_WR) and reads slowly. The peer's FIN
arrives while the service is holding back (its output is queued, the rest of
the input waits in the window). Before, the service stopped reading there and
closed as soon as its queued output had gone, with input still unread: the
engine answered that close with a RST (as Linux does for a close with unread
data), and the client lost the rest. A service must read to the end and close
only when its output is sent. On the simulator, in virtual time.
"""
from __future__ import annotations

import hashlib
import types

import pytest

from synack.engine.config import Config
from synack.sim import Network
from synack.engine.states import CLOSED
from synack.tun.driver import tun_config
from synack.tun.services import Echo, Http, ServiceHost, pattern_bytes
from synack.engine.segment import RST


@pytest.fixture
def sim():
    net = Network(seed=1)
    # a fixed 1 MiB receive buffer (tun_config autotunes it from 128 KiB now):
    # these tests are about the services' reading, not the buffer's growth
    server = net.add_host("10.0.0.2", config=tun_config("plain").replace(
        rcvbuf=1 << 20, sndbuf=1 << 20, rcvbuf_auto=False))
    # the client queues everything at once (a big send buffer), so its FIN
    # arrives while the service is still holding back
    client = net.add_host("10.0.0.1", config=Config(sndbuf=16 << 20))
    net.link(client, server, delay=0.001)
    hub = ServiceHost(server, [Echo(), Http(8080)]).start(now=0.0)
    net.on_event = lambda sh, e: hub.handle([e], net.now) if sh is server else None
    return types.SimpleNamespace(net=net, client=client, server=server, hub=hub)


def slow_exchange(sim, port: int, data: bytes, *, chunk: int = 65536, pause: float = 0.02,
                  limit: float = 600.0):
    """Send everything, SHUT_WR, then read `chunk` octets per `pause` virtual
    seconds until EOF or an error."""
    c = sim.client.connect("10.0.0.2", port)
    sim.net.run_for(0.05)
    sent = 0
    got = bytearray()
    end = sim.net.now + limit
    while sim.net.now < end:
        if sent < len(data):
            sent += c.send(data[sent:])
            if sent == len(data):
                c.shutdown()
        got += c.recv(chunk)
        if c.conn.error or (c.eof and not c.conn.rcvq):
            break
        sim.net.run_for(pause)
    return c, bytes(got)


def _server_rsts(sim) -> int:
    return sum(1 for r in sim.net.trace.records
               if r.type == "segment" and r.a == "send" and r.b.startswith("10.0.0.2:") and r.d.flags & RST)


def test_echo_returns_everything_to_a_slow_reader_after_shut_wr(sim):
    data = hashlib.shake_256(b"echo").digest(6_000_000)
    c, got = slow_exchange(sim, 7, data)
    assert c.conn.error is None, f"{c.conn.error} after {len(got):,} of {len(data):,} octets"
    assert len(got) == len(data) and got == data
    assert _server_rsts(sim) == 0
    sim.net.run_for(5)
    assert sim.hub.errors == 0 and sim.hub.services[0].bytes_out == len(data)
    c.close()
    sim.net.run()
    assert c.state is CLOSED


def test_http_answers_every_pipelined_request_before_closing(sim):
    """Eight pipelined GETs of 1 MiB, then SHUT_WR, read slowly: eight whole
    responses, then the server's FIN (no RST)."""
    n = 8
    req = b"".join(b"GET /bytes/1048576 HTTP/1.1\r\nHost: x\r\n\r\n" for _ in range(n))
    c, got = slow_exchange(sim, 8080, req)
    assert c.conn.error is None, f"{c.conn.error} after {len(got):,} octets"
    body = pattern_bytes(1 << 20)
    count = 0
    rest = got
    while rest:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        assert sep and head.startswith(b"HTTP/1.1 200 OK"), head[:80]
        assert rest[:1 << 20] == body
        rest = rest[1 << 20:]
        count += 1
    assert count == n
    assert c.eof and _server_rsts(sim) == 0


def test_http_connection_close_with_more_input_closes_with_fin(sim):
    """A request with `Connection: close` followed by more octets (which the
    server will not answer): the response is delivered whole and the
    connection ends with a FIN, not a RST that could destroy the response."""
    req = (b"GET /bytes/2000000 HTTP/1.1\r\nConnection: close\r\n\r\n"
           b"GET /bytes/10 HTTP/1.1\r\n\r\n" + b"x" * 200_000)
    c, got = slow_exchange(sim, 8080, req)
    assert c.conn.error is None
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == pattern_bytes(2_000_000)
    assert _server_rsts(sim) == 0
