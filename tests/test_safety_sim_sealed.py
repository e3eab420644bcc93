"""The simulated asyncio loop never reaches the real network (issue 17, part 7).

`SimEventLoop` is a selector loop underneath; before, `loop.create_connection`
inside `streams.run(...)` on a `SimStack` opened a real TCP connection with
the kernel. Now the loop's connection and server methods run on the simulated
stack, name resolution takes numeric addresses only, and the methods that
would reach outside (real sockets, UDP, Unix sockets, TLS, processes) raise
`NotInSimulation`. The `sealed_network` fixture (tests/sealing.py) fails the
test on any real AF_INET/AF_INET6 socket; the simulated API test files use it
too.
"""
from __future__ import annotations

import asyncio as std_asyncio
import socket as kernel_socket

import pytest

import sealing
from synack.api import NotInSimulation, SimStack, streams

pytestmark = pytest.mark.usefixtures("sealed_network")

A, B = "10.0.0.1", "10.0.0.2"


class Collect(std_asyncio.Protocol):
    def __init__(self):
        self.data = bytearray()
        self.done = std_asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        if not self.done.done():
            self.done.set_result(bytes(self.data))


def test_the_seal_is_on_and_catches_a_real_socket():
    assert sealing.is_sealed()
    with pytest.raises(sealing.RealNetworkUsed):
        kernel_socket.socket(kernel_socket.AF_INET, kernel_socket.SOCK_STREAM)
    del sealing.violations[-1:]          # this one was on purpose


def test_loop_create_connection_and_server_run_on_the_simulated_stack():
    """The issue's example: `await loop.create_connection(asyncio.Protocol,
    "10.0.0.2", 7)` inside streams.run on a SimStack, and a server made with
    loop.create_server on the other simulated host."""
    a, b = SimStack.pair(seed=1, delay=0.01)

    async def main():
        loop = std_asyncio.get_running_loop()
        server_side = []

        def factory():
            p = Collect()
            server_side.append(p)
            return p
        from synack.api import using
        with using(b):
            server = await loop.create_server(factory, "", 7)
        transport, proto = await loop.create_connection(std_asyncio.Protocol, B, 7)
        assert type(transport).__name__ == "SynackTransport"
        transport.write(b"over the simulator")
        transport.write_eof()
        await std_asyncio.sleep(0.5)
        assert len(server_side) == 1
        got = await std_asyncio.wait_for(server_side[0].done, 5)
        transport.close()
        server.close()
        return got, loop.time()

    got, t = streams.run(main(), stack=a)
    assert got == b"over the simulator"
    assert b.host.stats["rst_no_connection"] == 0


def test_name_resolution_takes_numeric_addresses_only():
    a, b = SimStack.pair(seed=1)

    async def main():
        loop = std_asyncio.get_running_loop()
        v4 = await loop.getaddrinfo(B, 7)
        v6 = await loop.getaddrinfo("2001:db8::1", "80", type=kernel_socket.SOCK_STREAM)
        name = await loop.getnameinfo((B, 7))
        with pytest.raises(NotInSimulation, match="cannot be resolved in simulation"):
            await loop.getaddrinfo("example.com", 80)
        with pytest.raises(NotInSimulation, match="in simulation"):
            await loop.getaddrinfo(B, "http")
        with pytest.raises(NotInSimulation):
            await loop.getnameinfo(("example.com", 80))
        return v4, v6, name

    v4, v6, name = streams.run(main(), stack=a)
    assert v4 == [(kernel_socket.AF_INET, kernel_socket.SOCK_STREAM, kernel_socket.IPPROTO_TCP, "", (B, 7))]
    assert v6[0][0] == kernel_socket.AF_INET6 and v6[0][4] == ("2001:db8::1", 80, 0, 0)
    assert name == (B, "7")


@pytest.mark.parametrize("call", [
    "create_datagram_endpoint", "create_unix_connection", "create_unix_server",
    "connect_accepted_socket", "start_tls", "subprocess_exec", "subprocess_shell",
    "sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into", "sock_sendall",
    "sock_sendto", "sock_connect", "sock_accept", "sock_sendfile",
    "create_connection(sock=)", "create_server(sock=)", "create_connection(ssl=)",
])
def test_methods_that_would_leave_the_simulation_raise(call):
    a, b = SimStack.pair(seed=1)

    async def main():
        loop = std_asyncio.get_running_loop()
        if call == "create_connection(sock=)":
            coro = loop.create_connection(std_asyncio.Protocol, sock=object())
        elif call == "create_server(sock=)":
            coro = loop.create_server(std_asyncio.Protocol, sock=object())
        elif call == "create_connection(ssl=)":
            coro = loop.create_connection(std_asyncio.Protocol, B, 443, ssl=True)
        elif call.startswith("sock_"):
            args = {"sock_recv": (None, 10), "sock_recv_into": (None, bytearray(1)),
                    "sock_recvfrom": (None, 10), "sock_recvfrom_into": (None, bytearray(1)),
                    "sock_sendall": (None, b"x"), "sock_sendto": (None, b"x", (B, 7)),
                    "sock_connect": (None, (B, 7)), "sock_accept": (None,),
                    "sock_sendfile": (None, None)}[call]
            coro = getattr(loop, call)(*args)
        else:
            coro = getattr(loop, call)(std_asyncio.Protocol, "x")
        with pytest.raises(NotInSimulation, match="not available in simulation"):
            await coro
        return True

    assert streams.run(main(), stack=a)


def test_create_connection_without_a_selected_stack_says_so():
    a, b = SimStack.pair(seed=1)
    from synack.api import SimEventLoop

    async def main():
        loop = std_asyncio.get_running_loop()
        with pytest.raises(NotInSimulation, match="no simulated stack"):
            await loop.create_connection(std_asyncio.Protocol, B, 7)
        return True

    loop = SimEventLoop(a.net)
    try:
        assert loop.run_until_complete(main())
    finally:
        loop.close()
