"""asyncio streams on a synack stack: a drop-in for the `asyncio` module.

Change one import and asyncio code runs on synack::

    from synack.api import streams as asyncio        # instead of: import asyncio

    async def main():
        reader, writer = await asyncio.open_connection("10.0.0.2", 7)
        writer.write(b"hello\\n")
        await writer.drain()
        print(await reader.readline())
        writer.close()
        await writer.wait_closed()

    asyncio.run(main())

Everything else in the module is `asyncio`'s own (sleep, gather, wait_for,
Queue, ...). Replaced or added:

``open_connection`` / ``start_server``
    return asyncio's real `StreamReader` and `StreamWriter` (and a `Server`
    like asyncio's), over a synack connection;
``create_connection`` / ``create_server``
    the protocol-level versions (``protocol_factory`` first, like the loop
    methods), for `asyncio.Protocol` code;
``run``
    on a `SimStack`, runs the coroutine on a `SimEventLoop`: the loop's clock
    is the simulated network's, so ``sleep(3600)`` and TCP timers cost
    nothing and every run is the same; on a `RealtimeStack` it is
    `asyncio.run`.

The stack is the ``stack=`` argument, else the one selected with
`synack.api.using()` or `set_default_stack()`.

Underneath, `SynackTransport` is an `asyncio.Transport` over a non-blocking
`synack.api.socket.socket`: it moves received data to the protocol as it
arrives (stopping when the reader's buffer is full, which closes the TCP
window), buffers what does not fit in the send buffer and pauses the writer
above the high-water mark, so ``drain()`` is real flow control.
"""
from __future__ import annotations

import sys

import asyncio as _asyncio
from asyncio import *  # noqa: F401,F403  (the drop-in: everything asyncio has)
from asyncio import __all__ as _asyncio_all

from ..engine.states import SYN_RECEIVED, SYN_SENT
from .socket import (AF_INET, AF_INET6, IPPROTO_IPV6, IPV6_V6ONLY, SHUT_WR, SO_REUSEADDR,
                     SOL_SOCKET, socket)
from .stack import SimStack, current_stack

_DEFAULT_LIMIT = 2 ** 16
_HIGH_WATER = 64 * 1024

__all__ = list(_asyncio_all) + ["SynackTransport", "run_on"]


def __getattr__(name):
    # asyncio's submodules and private helpers, for code that reaches for them
    return getattr(_asyncio, name)


def _stack(stack):
    return stack if stack is not None else current_stack()


def _family_for(host) -> int:
    return AF_INET6 if host and ":" in host else AF_INET


# ---------------------------------------------------------------- transport
#: Python before 3.12.1: Server.wait_closed() called after close() returns at
#: once, even with accepted connections open (gh-79033 fixed that in 3.12.1)
_WAIT_CLOSED_RETURNS_AFTER_CLOSE = sys.version_info < (3, 12, 1)


class SynackTransport(_asyncio.Transport):
    """An `asyncio.Transport` over a synack connection (see the module doc)."""

    def __init__(self, loop, sock: socket, protocol, server: "Server | None" = None):
        super().__init__({"socket": sock})
        self._loop = loop
        self._sock = sock
        self._stack = sock.stack
        self._conn = sock.connection
        self._protocol = protocol
        self._server = server
        self._buffer = bytearray()
        self._closing = False
        self._conn_lost = 0
        self._eof_seen = False
        self._eof_wanted = False
        self._eof_sent = False
        self._reading = True
        self._protocol_paused = False
        self._high = _HIGH_WATER
        self._low = _HIGH_WATER // 4
        sock.setblocking(False)
        self._extra["sockname"] = sock.getsockname()
        try:
            self._extra["peername"] = sock.getpeername()
        except OSError:
            self._extra["peername"] = None
        self._extra["synack_connection"] = self._conn
        if server is not None:
            server._attach(self)
        self._watch = self._stack.watch(self._conn, loop, self._on_change)
        loop.call_soon(self._start)

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<SynackTransport {self._conn.name} {state}>"

    def _start(self) -> None:
        self._protocol.connection_made(self)
        self._on_change()

    # ------------------------------------------------------ engine changes
    def _on_change(self) -> None:
        """The connection changed: move data in, push buffered data out."""
        if self._conn_lost:
            return
        sock = self._sock
        if self._buffer:
            try:
                n = sock.send(self._buffer)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._fatal_error(exc)
                return
            if n:
                del self._buffer[:n]
                self._maybe_resume_protocol()
            if not self._buffer:
                if self._closing:
                    self._lose(None)
                    return
                if self._eof_wanted and not self._eof_sent:
                    self._send_eof()
        if self._reading and not self._eof_seen:
            while self._reading and not self._conn_lost:
                try:
                    data = sock.recv(_HIGH_WATER)
                except BlockingIOError:
                    break
                except OSError as exc:
                    self._fatal_error(exc)
                    return
                if not data:
                    self._eof_seen = True
                    keep_open = self._protocol.eof_received()
                    if not keep_open:
                        self.close()
                    break
                self._protocol.data_received(data)

    def _fatal_error(self, exc: BaseException) -> None:
        self._force_close(exc)

    def _force_close(self, exc) -> None:
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
        self._closing = True
        self._lose(exc)

    def _lose(self, exc) -> None:
        if self._conn_lost:
            return
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._watch.cancel()
            self._sock.close()
            if self._server is not None:
                self._server._detach(self)
                self._server = None

    # ---------------------------------------------------------------- write
    def write(self, data) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_wanted:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._conn_lost or self._closing:
            return
        if not data:
            return
        if not self._buffer:
            try:
                n = self._sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError as exc:
                self._fatal_error(exc)
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof_wanted:
            return
        self._eof_wanted = True
        if not self._buffer:
            self._send_eof()

    def _send_eof(self) -> None:
        self._eof_sent = True
        try:
            self._sock.shutdown(SHUT_WR)
        except OSError:
            pass

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) > self._high and not self._protocol_paused:
            self._protocol_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as exc:      # a protocol bug must not break the transport
                self._loop.call_exception_handler({"message": "protocol.pause_writing() failed",
                                                   "exception": exc, "transport": self,
                                                   "protocol": self._protocol})

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low:
            self._protocol_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as exc:
                self._loop.call_exception_handler({"message": "protocol.resume_writing() failed",
                                                   "exception": exc, "transport": self,
                                                   "protocol": self._protocol})

    # ----------------------------------------------------------------- read
    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if self._reading or self._closing:
            return
        self._reading = True
        self._loop.call_soon(self._on_change)

    # ---------------------------------------------------------------- close
    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close once the buffered data is in the send buffer; the TCP close
        (FIN) then runs in the stack, as it does in a kernel."""
        if self._closing:
            return
        self._closing = True
        self._reading = False
        if not self._buffer:
            self._lose(None)

    def abort(self) -> None:
        """Close now, dropping buffered data (the connection is closed, not reset)."""
        self._force_close(None)

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol

    def get_extra_info(self, name, default=None):
        return self._extra.get(name, default)


# ------------------------------------------------------------------ server
class Server(_asyncio.AbstractServer):
    """A listening synack socket and the transports it accepted; behaves like
    `asyncio.Server` (close, wait_closed, serve_forever, async with ...)."""

    def __init__(self, loop, sock: "socket | list[socket]", protocol_factory, backlog: int):
        self._loop = loop
        #: the listening sockets: one, or (host None or "") one per family,
        #: as asyncio makes them
        self._socks: list[socket] = list(sock) if isinstance(sock, (list, tuple)) else [sock]
        self._sock = self._socks[0]
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._serving = False
        self._closed = False
        self._watches: list = []
        self._transports: set = set()
        self._serving_forever = None
        self._closed_waiters: list = []

    def __repr__(self) -> str:
        return f"<synack Server sockets={self.sockets!r}>"

    def _attach(self, transport) -> None:
        self._transports.add(transport)

    def _detach(self, transport) -> None:
        self._transports.discard(transport)
        self._wake_closed_waiters()

    def _wake_closed_waiters(self) -> None:
        if not self._closed or self._transports:
            return
        for fut in self._closed_waiters:
            if not fut.done():
                fut.set_result(None)
        self._closed_waiters.clear()

    @property
    def sockets(self) -> tuple:
        return () if self._closed else tuple(self._socks)

    def get_loop(self):
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start()
        await _asyncio.sleep(0)

    def _start(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        for sock in self._socks:
            for lst in (sock.listener, sock._listener4):
                if lst is not None:
                    self._watches.append(sock.stack.watch(lst, self._loop, self._accept_ready))
        self._loop.call_soon(self._accept_ready)

    def _accept_ready(self) -> None:
        for sock in self._socks:
            while self._serving:
                try:
                    child, _ = sock.accept()
                except BlockingIOError:
                    break
                except OSError as exc:
                    if not self._closed:
                        self._loop.call_exception_handler({"message": "accept() failed on a synack server",
                                                           "exception": exc, "socket": sock})
                    break
                protocol = self._protocol_factory()
                SynackTransport(self._loop, child, protocol, server=self)

    def close(self) -> None:
        """Stop listening (connections not yet accepted are reset, as by a
        kernel); connections already accepted stay open."""
        if self._closed:
            return
        self._closed = True
        self._serving = False
        for w in self._watches:
            w.cancel()
        self._watches = []
        for sock in self._socks:
            sock.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()
            self._serving_forever = None
        self._wake_closed_waiters()

    def close_clients(self) -> None:
        """Close every connection this server accepted (asyncio 3.13's name)."""
        for t in list(self._transports):
            t.close()

    def abort_clients(self) -> None:
        for t in list(self._transports):
            t.abort()

    async def wait_closed(self) -> None:
        """As the running Python's asyncio: return once `close()` has been
        called and every connection the server accepted has been closed;
        except that before 3.12.1 a call made after `close()` returns at once,
        whatever is still open (CPython's behaviour until gh-79033 changed it;
        checked against the real asyncio by tests/test_streams_differential.py)."""
        if self._closed and (not self._transports or _WAIT_CLOSED_RETURNS_AFTER_CLOSE):
            return
        fut = self._loop.create_future()
        self._closed_waiters.append(fut)
        await fut

    async def serve_forever(self) -> None:
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        self._start()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except _asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()
        await self.wait_closed()


# --------------------------------------------------------------- the calls
async def create_connection(protocol_factory, host=None, port=None, *, local_addr=None,
                            stack=None, ssl=None, **kwargs):
    """(transport, protocol) connected to host:port, like `loop.create_connection`."""
    if ssl:
        raise NotImplementedError("TLS is not available on synack streams")
    st = _stack(stack)
    loop = _asyncio.get_running_loop()
    st._check_loop(loop)
    if host is None or port is None:
        raise ValueError("host and port was not specified and no sock specified")
    sock = socket(_family_for(host), stack=st)
    try:
        sock.setblocking(False)
        if local_addr is not None:
            sock.bind(local_addr)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass
        conn = sock.connection
        await st.wait_async(lambda: conn.error is not None or conn.state not in
                            (SYN_SENT, SYN_RECEIVED), None, [conn])
        sock.connect((host, port))          # completes, or raises the error (refused ...)
    except BaseException:
        sock.close()
        raise
    protocol = protocol_factory()
    transport = SynackTransport(loop, sock, protocol)
    return transport, protocol


async def create_server(protocol_factory, host=None, port=None, *, backlog: int = 100,
                        reuse_address: bool | None = None, start_serving: bool = True,
                        stack=None, ssl=None, **kwargs) -> Server:
    """A `Server` listening on host:port (all addresses when host is None or "")."""
    if ssl:
        raise NotImplementedError("TLS is not available on synack streams")
    st = _stack(stack)
    loop = _asyncio.get_running_loop()
    st._check_loop(loop)
    if isinstance(host, (list, tuple)):
        if len(host) != 1:
            raise ValueError("a synack server listens on one address")
        host = host[0]
    # host None or "": every address, one socket per family (the IPv6 one
    # IPv6-only), as asyncio does with getaddrinfo(None, port, AI_PASSIVE)
    families = [AF_INET, AF_INET6] if not host else [_family_for(host)]
    socks: list[socket] = []
    try:
        for family in families:
            sock = socket(family, stack=st)
            socks.append(sock)
            if reuse_address is None or reuse_address:
                sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            if family == AF_INET6:
                sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1)    # asyncio sets it on every one
            sock.bind((host or "", port or 0))
            sock.listen(backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    server = Server(loop, socks, protocol_factory, backlog)
    if start_serving:
        server._start()
        await _asyncio.sleep(0)
    return server


async def open_connection(host=None, port=None, *, limit: int = _DEFAULT_LIMIT, stack=None, **kwds):
    """(StreamReader, StreamWriter) connected to host:port, like `asyncio.open_connection`."""
    loop = _asyncio.get_running_loop()
    reader = _asyncio.StreamReader(limit=limit, loop=loop)
    protocol = _asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await create_connection(lambda: protocol, host, port, stack=stack, **kwds)
    writer = _asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def start_server(client_connected_cb, host=None, port=None, *, limit: int = _DEFAULT_LIMIT,
                       stack=None, **kwds) -> Server:
    """A `Server` calling ``client_connected_cb(reader, writer)`` (plain or
    coroutine function) for every connection, like `asyncio.start_server`."""
    loop = _asyncio.get_running_loop()

    def factory():
        reader = _asyncio.StreamReader(limit=limit, loop=loop)
        return _asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)
    return await create_server(factory, host, port, stack=stack, **kwds)


# ---------------------------------------------------------------------- run
def run(main, *, debug=None, stack=None):
    """Run a coroutine to completion, like `asyncio.run`: on a simulated stack
    in virtual time (`SimEventLoop`), otherwise on an ordinary event loop."""
    try:
        st = _stack(stack)
    except RuntimeError:
        st = None
    if isinstance(st, SimStack):
        return run_on(st, main, debug=debug)
    return _asyncio.run(main, debug=debug)


def run_on(stack, main, *, debug=None):
    """Run `main` on the right loop for `stack`, with `stack` selected inside."""
    from .stack import SimEventLoop, using

    async def wrapped():
        with using(stack):
            return await main
    if isinstance(stack, SimStack):
        with _asyncio.Runner(debug=debug, loop_factory=lambda: SimEventLoop(stack.net)) as runner:
            return runner.run(wrapped())
    return _asyncio.run(wrapped(), debug=debug)
