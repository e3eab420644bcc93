"""asyncio streams on synack (synack.api.streams): virtual time on the
simulator, the ordinary event loop on the realtime pair."""
from __future__ import annotations

import asyncio as std_asyncio
import os
import sys
import time

import pytest

from sealing import real_network_allowed
from synack.api import Deadlock, RealtimeStack, SimEventLoop, SimStack, streams, using

#: these tests run on simulated or in-memory stacks: no real network socket
#: may be created while they run (tests/sealing.py)
pytestmark = pytest.mark.usefixtures("sealed_network")

A, B = "10.0.0.1", "10.0.0.2"


async def echo_handler(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def echo_roundtrip(asyncio, host, port, payload: bytes) -> bytes:
    """Written against the asyncio module's names only: the same code runs
    with the standard library's asyncio and with synack.api.streams."""
    server = await asyncio.start_server(echo_handler, host, port)
    async with server:
        addr = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_connection(host, addr[1])
        writer.write(b"first line\n")
        await writer.drain()
        first = await reader.readline()
        writer.write(payload)
        writer.write_eof()
        rest = await reader.read()
        writer.close()
        await writer.wait_closed()
    return first + rest


@pytest.fixture
def sim():
    return SimStack.pair(seed=3, delay=0.01)


# -------------------------------------------------------------------- echo
def test_echo_on_the_simulator_in_virtual_time(sim):
    a, b = sim
    payload = os.urandom(300_000)

    async def main():
        loop = streams.get_running_loop()
        assert isinstance(loop, SimEventLoop)
        server = await streams.start_server(echo_handler, "", 7, stack=b)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        assert isinstance(reader, std_asyncio.StreamReader)
        assert isinstance(writer, std_asyncio.StreamWriter)
        assert writer.get_extra_info("peername") == (B, 7)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.write(b"exactly")
        assert await reader.readexactly(7) == b"exactly"
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        assert await reader.read() == payload
        assert writer.is_closing() is False
        writer.close()
        assert writer.is_closing()
        await writer.wait_closed()
        t0 = loop.time()
        await streams.sleep(3600)                  # an hour of virtual time
        assert loop.time() - t0 == pytest.approx(3600)
        server.close()
        await server.wait_closed()
        return loop.time()

    r0 = time.monotonic()
    t = streams.run_on(a, main())
    assert t > 3600 and time.monotonic() - r0 < 10
    assert a.host.conns == {} and b.host.conns == {}


def test_same_code_runs_on_stdlib_asyncio_and_on_synack(sim):
    payload = b"x" * 100_000
    # the standard library on the kernel's loopback ...
    with real_network_allowed():      # the kernel on purpose (the seal covers the rest)
        real = std_asyncio.run(echo_roundtrip(std_asyncio, "127.0.0.1", 0, payload))
    assert real == b"first line\n" + payload
    # ... and the same function with one import changed, on the simulator
    a, b = sim
    a.hosts["server"] = B

    async def on_synack():
        with using(b):
            server = await streams.start_server(echo_handler, "", 7)
        with using(a):
            reader, writer = await streams.open_connection("server", 7)
            writer.write(payload)
            writer.write_eof()
            got = await reader.read()
            writer.close()
            await writer.wait_closed()
        server.close()
        return got
    assert streams.run_on(a, on_synack()) == payload
    c, d = SimStack.pair(seed=5)
    with using(c):
        assert streams.run(echo_roundtrip(streams, "", 0, payload)) == b"first line\n" + payload


def test_echo_on_the_realtime_pair():
    a, b = RealtimeStack.pair()
    try:
        payload = os.urandom(500_000)

        async def main():
            server = await b.start_server(echo_handler, "", 7)
            reader, writer = await a.open_connection(B, 7)
            writer.write(payload)
            writer.write_eof()
            got = await std_asyncio.wait_for(reader.read(), 30)
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            return got
        assert std_asyncio.run(main()) == payload
        with using(a):
            assert streams.run(echo_roundtrip(streams, A, 0, b"rt")) == b"first line\nrt"
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------- flow control
def test_drain_is_flow_control(sim):
    a, b = sim
    seen = []

    async def slow_reader(reader, writer):
        total = 0
        while True:
            data = await reader.read(4096)
            if not data:
                break
            total += len(data)
            await streams.sleep(0.05)
        seen.append(total)
        writer.close()

    async def main():
        server = await streams.start_server(slow_reader, "", 7, stack=b, limit=8192)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        transport = writer.transport
        biggest = 0
        for _ in range(100):
            writer.write(b"y" * 10_000)
            biggest = max(biggest, transport.get_write_buffer_size())
            await writer.drain()
            assert transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]
        writer.write_eof()
        await reader.read()
        writer.close()
        server.close()
        return biggest

    biggest = streams.run_on(a, main())
    assert seen == [1_000_000]
    assert biggest > 64 * 1024         # drain() had to wait: the writer was paused
    assert a.now() > 10                # at the reader's pace: 4 KiB per 50 ms


# ------------------------------------------------------------------ errors
def test_refused_and_reset(sim):
    a, b = sim

    async def rude(reader, writer):
        await reader.readline()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(streams_socket.SOL_SOCKET, streams_socket.SO_LINGER, (1, 0))
        writer.transport.abort()

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await streams.open_connection(B, 9, stack=a)
        server = await streams.start_server(rude, "", 7, stack=b)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        writer.write(b"hello\n")
        with pytest.raises(ConnectionResetError):
            await reader.read(10)
        with pytest.raises(ConnectionResetError):
            writer.write(b"more")
            await writer.drain()
        server.close()

    streams.run_on(a, main())


def test_wait_for_timeout_in_virtual_time(sim):
    a, b = sim

    async def silent(reader, writer):
        await reader.read()

    async def main():
        await streams.start_server(silent, "", 7, stack=b)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        loop = streams.get_running_loop()
        t0 = loop.time()
        with pytest.raises(streams.TimeoutError):
            await streams.wait_for(reader.read(10), 30)
        assert loop.time() - t0 == pytest.approx(30)
        writer.close()

    r0 = time.monotonic()
    streams.run_on(a, main())
    assert time.monotonic() - r0 < 5


def test_connect_timeout_when_syns_vanish(sim):
    a, b = sim
    a.net.drop(lambda p: p.src == A, count=None)

    async def main():
        with pytest.raises(TimeoutError) as ei:
            await streams.open_connection(B, 7, stack=a)
        return ei.value

    err = streams.run_on(a, main())
    assert err.errno == 110           # ETIMEDOUT, after the SYN retries
    assert a.now() > 100


def test_a_virtual_loop_that_can_never_finish_says_so(sim):
    a, b = sim

    async def silent(reader, writer):
        await reader.read()

    async def main():
        await streams.start_server(silent, "", 7, stack=b)
        reader, _ = await streams.open_connection(B, 7, stack=a)
        await reader.read(10)         # nobody will ever write

    with pytest.raises(Deadlock, match="the event loop has nothing left to do"):
        streams.run_on(a, main())


def test_simstack_needs_the_virtual_loop(sim):
    a, _ = sim

    async def main():
        await streams.open_connection(B, 7, stack=a)

    with pytest.raises(RuntimeError, match="virtual-time loop"):
        std_asyncio.run(main())


# ------------------------------------------------------------------ server
def test_server_serve_forever_and_context_manager(sim):
    a, b = sim
    log = []

    async def hello(reader, writer):
        writer.write(b"hi\n")
        await writer.drain()
        writer.close()

    async def main():
        server = await streams.start_server(hello, "", 7, stack=b, start_serving=False)
        assert not server.is_serving()
        assert server.sockets[0].getsockname() == ("0.0.0.0", 7)
        task = streams.create_task(server.serve_forever())
        await streams.sleep(0)
        assert server.is_serving()
        for _ in range(3):
            r, w = await streams.open_connection(B, 7, stack=a)
            log.append(await r.read())
            w.close()
        task.cancel()
        with pytest.raises(streams.CancelledError):
            await task
        assert not server.is_serving() and server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await streams.open_connection(B, 7, stack=a)
        async with await streams.start_server(hello, "", 8, stack=b) as s2:
            r, w = await streams.open_connection(B, 8, stack=a)
            log.append(await r.read())
        assert not s2.is_serving()

    streams.run_on(a, main())
    assert log == [b"hi\n"] * 4


def test_protocol_level_calls(sim):
    a, b = sim

    class Upper(streams.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data.upper())

        def eof_received(self):
            self.transport.close()

    class Collect(streams.Protocol):
        def __init__(self):
            self.data = bytearray()
            self.done = streams.get_running_loop().create_future()

        def data_received(self, data):
            self.data += data

        def connection_lost(self, exc):
            self.done.set_result(bytes(self.data))

    async def main():
        server = await streams.create_server(Upper, "", 7, stack=b)
        transport, proto = await streams.create_connection(Collect, B, 7, stack=a)
        assert transport.get_extra_info("sockname")[0] == A
        transport.write(b"shout")
        transport.write_eof()
        await streams.sleep(1)
        transport.close()
        got = await proto.done
        server.close()
        return got

    assert streams.run_on(a, main()) == b"SHOUT"


from synack.api import socket as streams_socket  # noqa: E402  (used by the rude handler)


def test_server_wait_closed_waits_for_its_connections(sim):
    """Awaited before close(): it returns once the server is closed and its
    accepted connections are too (every Python version's asyncio)."""
    a, b = sim
    order = []

    async def lingering(reader, writer):
        await reader.read()                    # until the client's FIN
        order.append("handler done")
        writer.close()

    async def main():
        server = await streams.start_server(lingering, "", 7, stack=b)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        await streams.sleep(1)
        waiter = streams.create_task(server.wait_closed())
        await streams.sleep(1)
        server.close()
        await streams.sleep(5)
        assert not waiter.done()               # an accepted connection is still open
        writer.close()
        await waiter
        order.append("wait_closed returned")

    streams.run_on(a, main())
    assert order == ["handler done", "wait_closed returned"]


def test_server_wait_closed_after_close_follows_the_running_python(sim):
    """Called after close() with a connection open: before 3.12.1 asyncio
    returns at once, from 3.12.1 on it waits for the connection (gh-79033);
    synack does what the running Python's asyncio does (the streams
    differential test compares the two on the real asyncio)."""
    a, b = sim

    async def lingering(reader, writer):
        await reader.read()
        writer.close()

    async def main():
        server = await streams.start_server(lingering, "", 7, stack=b)
        reader, writer = await streams.open_connection(B, 7, stack=a)
        await streams.sleep(1)
        server.close()
        waiter = streams.create_task(server.wait_closed())
        await streams.sleep(5)
        done_early = waiter.done()
        writer.close()
        await waiter
        return done_early

    assert streams.run_on(a, main()) is (sys.version_info < (3, 12, 1))
