"""Stacks: one `Host` plus the knowledge of how to let time pass.

The engine (`synack.engine.host.Host`) is sans-I/O: it never reads a clock and never
waits. The programmer-facing APIs (`synack.api.socket`, `synack.api.streams`,
`synack.api.ss`) need both, so they talk to a *stack*, which owns one host and
answers four questions:

* what time is it? (`now()`)
* run this engine call under the stack's lock, then put what it produced on
  the wire and wake whoever waits for it (`op()`);
* block until a condition holds or a timeout passes (`wait()`), or do the
  same from a coroutine (`wait_async()`);
* tell me (on my event loop) when this connection or listener changes
  (`watch()`).

Two stacks implement them:

`SimStack`
    A host on the deterministic simulator (`synack.sim.Network`). "Waiting" runs
    the network's virtual clock until the condition holds, so a blocking
    ``recv()`` with a five-second timeout returns at once in real time, five
    virtual seconds later. For asyncio there is `SimEventLoop`, an event loop
    whose clock is the network's and which advances the network whenever it
    would otherwise sleep.

`RealtimeStack`
    A host driven by ``time.monotonic()`` in a background thread, exchanging
    raw IP packets through a `PacketIO` (a pair of in-memory queues for tests,
    a TUN device for the real kernel). Blocking calls wait on a condition
    variable; asyncio code runs on the ordinary event loop and is woken with
    ``call_soon_threadsafe``.

A process may hold any number of stacks. The socket and stream functions use
the one given with ``stack=``, else the one selected with `using()` (a
context variable), else the one set with `set_default_stack()`.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import os
import select
import selectors
import socket as _socket
import threading
import time
from collections import deque
from typing import Callable, Iterable

from ..engine.config import Config
from ..engine.host import Host

__all__ = [
    "Stack", "SimStack", "RealtimeStack", "SimEventLoop", "Deadlock", "NotInSimulation",
    "PacketIO", "QueuePacketIO", "DevicePacketIO", "loopback_pair",
    "set_default_stack", "get_default_stack", "current_stack", "using", "LOOPBACK",
    "is_loopback",
]

#: the loopback addresses every stack starts with besides its own (RFC 1122
#: §3.2.1.3 (g), RFC 4291 §2.5.3). The rest of 127.0.0.0/8 is loopback too, as
#: on Linux: an address of it joins the host when a socket binds or connects
#: to it (`Stack.claim_loopback`).
LOOPBACK = ("127.0.0.1", "::1")


#: dual-stack sockets' engine listeners: the "::" one -> its IPv4 half on
#: "0.0.0.0" (synack.api.socket keeps it; `ss` shows the pair as one row, as
#: the kernel has one socket)
DUAL_STACK_LISTENERS: dict = {}


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8 or ::1 (RFC 1122 §3.2.1.3 (g): "{127, <any>}" is the
    internal host loopback address; RFC 4291 §2.5.3)."""
    return ip.startswith("127.") or ip == "::1"


class Deadlock(RuntimeError):
    """A wait on the simulator that can never end: nothing is left to happen
    on the simulated network, and no timeout was given."""


# --------------------------------------------------------------- selection
_default_stack: "Stack | None" = None
_current: contextvars.ContextVar = contextvars.ContextVar("synack_stack", default=None)


def set_default_stack(stack: "Stack | None") -> None:
    """The stack that `socket()`, `open_connection()` ... use when nothing else
    is selected. Process-wide (every thread sees it)."""
    global _default_stack
    _default_stack = stack


def get_default_stack() -> "Stack | None":
    return _default_stack


def current_stack() -> "Stack":
    """The stack selected by `using()` in this context, else the default."""
    st = _current.get() or _default_stack
    if st is None:
        raise RuntimeError("no synack stack selected: pass stack=..., use "
                           "`with synack.api.using(stack):`, or call "
                           "synack.api.set_default_stack(stack)")
    return st


@contextlib.contextmanager
def using(stack: "Stack"):
    """Select `stack` for the code inside the block (this thread or task only)."""
    token = _current.set(stack)
    try:
        yield stack
    finally:
        _current.reset(token)


# ----------------------------------------------------------------- watches
class _Watch:
    """A callback to run on an event loop when an engine object changes.
    Repeated changes before the callback runs are folded into one call."""

    __slots__ = ("stack", "key", "loop", "fn", "pending", "cancelled")

    def __init__(self, stack: "Stack", key, loop: asyncio.AbstractEventLoop, fn: Callable[[], None]):
        self.stack = stack
        self.key = key
        self.loop = loop
        self.fn = fn
        self.pending = False
        self.cancelled = False

    def fire(self) -> None:
        if self.cancelled or self.pending:
            return
        loop = self.loop
        if loop.is_closed():
            return
        self.pending = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is loop:
                loop.call_soon(self._run)
            else:
                loop.call_soon_threadsafe(self._run)
        except RuntimeError:          # the loop closed meanwhile
            self.pending = False

    def _run(self) -> None:
        self.pending = False
        if not self.cancelled:
            self.fn()

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        with self.stack.lock:
            lst = self.stack._watchers.get(self.key)
            if lst is not None:
                try:
                    lst.remove(self)
                except ValueError:
                    pass
                if not lst:
                    del self.stack._watchers[self.key]


_ANY = object()     # watch key: every change on the stack


# ------------------------------------------------------------------- Stack
class Stack:
    """What the socket and stream APIs need from a driver (see the module doc)."""

    #: the host this stack drives
    host: Host

    def __init__(self, host: Host):
        self.host = host
        host.add_addresses(*LOOPBACK)       # 127.0.0.1 and ::1, as on a real host
        self.lock = threading.RLock()
        self._cv = threading.Condition(self.lock)
        self._changed: set = set()
        self._watchers: dict = {}
        #: sockets bound to a port (synack.api.socket keeps this up to date)
        self._bound: dict[int, list] = {}
        self._next_bind_port: int | None = None
        #: names for `socket.connect(("name", port))`: name -> address
        self.hosts: dict[str, str] = {}
        prev = host.on_state

        def on_state(h, obj, old, new, cause, now, _prev=prev):
            if _prev is not None:
                _prev(h, obj, old, new, cause, now)
            self._changed.add(obj)
            if self._immediate:
                self._dispatch()
        host.on_state = on_state

    #: dispatch every change at once (the simulator), or in batches at the
    #: end of each pass of the driver (the realtime thread)
    _immediate = False

    # ---------------------------------------------------------- the driver
    def now(self) -> float:
        raise NotImplementedError

    @contextlib.contextmanager
    def op(self):
        """Run engine calls: ``with stack.op() as now: conn.send(now, data)``.
        Holds the lock; afterwards the outbox goes out and waiters wake."""
        with self.lock:
            try:
                yield self.now()
            finally:
                self._after_op()

    def _after_op(self) -> None:
        raise NotImplementedError

    def wait(self, cond: Callable[[], bool], timeout: float | None = None) -> bool:
        """Block until `cond()` holds (True) or `timeout` seconds pass (False).
        `cond` is evaluated with the stack's lock held."""
        raise NotImplementedError

    async def wait_async(self, cond: Callable[[], bool], timeout: float | None = None,
                         objs: Iterable | None = None) -> bool:
        """`wait()` for coroutines: wakes when one of `objs` (connections,
        listeners; None = anything on this stack) changes and `cond()` holds."""
        loop = asyncio.get_running_loop()
        self._check_loop(loop)
        deadline = None if timeout is None else loop.time() + timeout
        keys = [_ANY] if objs is None else list(objs)
        while True:
            fut = loop.create_future()

            def wake(fut=fut):
                if not fut.done():
                    fut.set_result(None)
            with self.lock:
                if cond():
                    return True
                watches = [self._add_watch(k, loop, wake) for k in keys]
            try:
                if deadline is None:
                    await fut
                else:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return False
                    try:
                        await asyncio.wait_for(fut, remaining)
                    except asyncio.TimeoutError:
                        with self.lock:
                            return bool(cond())
            finally:
                for w in watches:
                    w.cancel()

    def _check_loop(self, loop) -> None:
        pass

    def watch(self, obj, loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> _Watch:
        """Call `fn()` on `loop` whenever `obj` (a connection or listener)
        changes: state, data, window, error. Returns a handle with `cancel()`."""
        with self.lock:
            return self._add_watch(obj, loop, fn)

    def _add_watch(self, key, loop, fn) -> _Watch:
        w = _Watch(self, key, loop, fn)
        self._watchers.setdefault(key, []).append(w)
        return w

    def _note_events(self, events) -> None:
        for e in events:
            self._changed.add(e.conn)

    def _dispatch(self) -> None:
        """Wake blocked threads and the watches of whatever changed (lock held)."""
        changed = self._changed
        if not changed:
            return
        self._changed = set()
        self._notify_threads()
        watchers = self._watchers
        if not watchers:
            return
        for obj in changed:
            ws = watchers.get(obj)
            if ws:
                for w in list(ws):
                    w.fire()
        ws = watchers.get(_ANY)
        if ws:
            for w in list(ws):
                w.fire()

    def _notify_threads(self) -> None:
        """Wake threads blocked in `wait()` (called with the lock held)."""
        self._cv.notify_all()

    def poke(self, obj=None) -> None:
        """Wake the waiters as if `obj` (or everything) had changed."""
        with self.lock:
            self._changed.add(_ANY if obj is None else obj)
            self._dispatch()

    # ------------------------------------------------------------ addresses
    @property
    def addresses(self) -> list[str]:
        return list(self.host.addresses)

    def claim_loopback(self, ip: str) -> bool:
        """Is `ip` an address of this stack? An address of 127.0.0.0/8 always
        is, as on Linux (its local route covers the whole /8): the first time
        a socket binds or connects to one, it joins the host's addresses, so
        that the engine and the driver treat it as their own. Lock held."""
        if ip in self.host._address_set:
            return True
        if not ip.startswith("127."):
            return False
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            return False
        if ip == "127.255.255.255":         # the /8's broadcast address, not a host
            return False
        self.host.add_addresses(ip)
        self._addresses_changed()
        return True

    def _addresses_changed(self) -> None:
        """The host's addresses grew (a driver with its own copy refreshes it)."""

    def address(self, family: int = _socket.AF_INET) -> str:
        """The first address of the family that is not loopback."""
        v6 = family == _socket.AF_INET6
        for a in self.host.addresses:
            if is_loopback(a):
                continue
            if (":" in a) == v6:
                return a
        raise OSError(99, "no local address of that family")   # EADDRNOTAVAIL

    def resolve(self, name: str, family: int = _socket.AF_INET) -> str:
        """An address for a name: literals, "localhost", and `self.hosts`."""
        try:
            ip = ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            pass
        else:
            return str(ip)
        if name in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"):
            return "::1" if family == _socket.AF_INET6 or name.startswith("ip6") else "127.0.0.1"
        ip = self.hosts.get(name)
        if ip is not None:
            return ip
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")

    # --------------------------------------------------- convenience calls
    def socket(self, family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM, proto: int = 0):
        from .socket import socket
        return socket(family, type, proto, stack=self)

    def create_connection(self, address, timeout=None, source_address=None):
        from .socket import create_connection
        return create_connection(address, timeout, source_address, stack=self)

    def create_server(self, address, **kwargs):
        """A listening socket, like `socket.create_server`, with one
        convenience: ``("", port)`` with no family given listens on every
        address of both families, as one dual-stack AF_INET6 socket (IPv4
        peers appear IPv4-mapped, ``::ffff:192.0.2.1``, as on Linux)."""
        from .socket import AF_INET6, create_server
        if (isinstance(address, tuple) and address and address[0] in ("", None)
                and "family" not in kwargs and "dualstack_ipv6" not in kwargs):
            kwargs.update(family=AF_INET6, dualstack_ipv6=True)
            address = ("::",) + tuple(address[1:])
        return create_server(address, stack=self, **kwargs)

    async def open_connection(self, host=None, port=None, **kwargs):
        from .streams import open_connection
        return await open_connection(host, port, stack=self, **kwargs)

    async def start_server(self, client_connected_cb, host=None, port=None, **kwargs):
        from .streams import start_server
        return await start_server(client_connected_cb, host, port, stack=self, **kwargs)

    def ss(self, **kwargs):
        """The connection table (a list of `synack.api.ss.SocketRow`)."""
        from .ss import ss
        return ss(self, **kwargs)

    def ss_text(self, **kwargs) -> str:
        from .ss import format_table, ss
        return format_table(ss(self, **kwargs))


# ---------------------------------------------------------------- SimStack
class _SimRouter:
    """One per network: sends each engine event to the stack of its host."""

    def __init__(self, net):
        self.stacks: dict = {}
        self.prev = net.on_event
        net.on_event = self

    def __call__(self, simhost, event) -> None:
        if self.prev is not None:
            self.prev(simhost, event)
        st = self.stacks.get(simhost)
        if st is not None:
            st._changed.add(event.conn)
            st._dispatch()


class SimStack(Stack):
    """A host on the simulator; waits run the network's virtual clock.

        net = Network(seed=1)
        a = SimStack(net, "10.0.0.1")
        b = SimStack(net, "10.0.0.2")
        net.link(a.sim, b.sim, delay=0.01)

    or ``a, b = SimStack.pair()``. Blocking calls step the whole network (every
    host on it), so one thread can play client and server in turn; for
    concurrency on the simulator use the virtual-time asyncio loop
    (`synack.api.streams.run`). Use a network's stacks from one thread.
    """

    #: a wait without a timeout gives up after this much virtual time
    forever = 10.0 * 365 * 86400
    _immediate = True

    def __init__(self, net, host=None, *, config: Config | None = None, name: str | None = None):
        from ..sim import SimHost
        if isinstance(host, SimHost):
            sim = host
        elif host is None or isinstance(host, str):
            sim = net.add_host(host or f"10.0.0.{len(net.hosts) + 1}", config=config, name=name)
        else:
            sim = net.add_host(*host, config=config, name=name)
        self.net = net
        self.sim = sim
        super().__init__(sim.host)
        router = getattr(net, "_synack_api_router", None)
        if router is None:
            router = _SimRouter(net)
            net._synack_api_router = router
        router.stacks[sim] = self

    def __repr__(self) -> str:
        return f"<SimStack {self.host.name} t={self.net.now:.6f}>"

    @classmethod
    def pair(cls, seed: int = 0, addresses: tuple[str, str] = ("10.0.0.1", "10.0.0.2"), *,
             config: Config | None = None, trace: bool = False, **link) -> tuple["SimStack", "SimStack"]:
        """Two stacks on a fresh network, linked with `link` parameters
        (`delay`, `loss`, `bandwidth`, ... of `synack.sim.LinkParams`)."""
        from ..sim import Network
        net = Network(seed, trace=trace)
        a = cls(net, addresses[0], config=config)
        b = cls(net, addresses[1], config=config)
        net.link(a.sim, b.sim, **link)
        return a, b

    def resolve(self, name: str, family: int = _socket.AF_INET) -> str:
        try:
            return super().resolve(name, family)
        except _socket.gaierror:
            for sh in self.net.hosts:
                if sh.host.name == name:
                    for a in sh.host.addresses:
                        if (":" in a) == (family == _socket.AF_INET6):
                            return a
            raise

    def now(self) -> float:
        return self.net.now

    def _notify_threads(self) -> None:
        pass                  # one thread: waits step the network themselves

    def _after_op(self) -> None:
        self.net.flush_all()
        self._dispatch()

    def wait(self, cond: Callable[[], bool], timeout: float | None = None) -> bool:
        net = self.net
        if cond():
            return True
        start = net.now
        limit = self.forever if timeout is None else max(0.0, timeout)
        if net.run_until(cond, limit):
            return True
        if timeout is None:
            if net.idle:
                raise Deadlock("this call would block forever: nothing is left to happen "
                               "on the simulated network (is the other side's code waiting "
                               "too? use non-blocking sockets or asyncio on the simulator)")
            raise Deadlock(f"nothing made this call return within {self.forever:.0f} s of virtual time")
        net.run(until=start + limit)
        return bool(cond())

    def run(self, until: float | None = None) -> float:
        """Let the network run (until virtual time `until`, or until idle)."""
        return self.net.run(until)

    def run_for(self, seconds: float) -> float:
        return self.net.run(until=self.net.now + seconds)

    def _check_loop(self, loop) -> None:
        if not (isinstance(loop, SimEventLoop) and loop.net is self.net):
            raise RuntimeError("asyncio on a SimStack needs its virtual-time loop: run the "
                               "coroutine with synack.api.streams.run(...) or SimEventLoop(net)")

    def event_loop(self) -> "SimEventLoop":
        return SimEventLoop(self.net)


class _VirtualSelector(selectors.BaseSelector):
    """The selector of `SimEventLoop`: real file descriptors (the loop's
    self-pipe, executor wake-ups) are polled without blocking; when nothing
    is ready the network runs, in virtual time, until an engine change makes
    a callback ready or the loop's next timer is due."""

    def __init__(self, net):
        self.net = net
        self.loop: SimEventLoop | None = None
        self._real = selectors.DefaultSelector()

    def register(self, fileobj, events, data=None):
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj):
        return self._real.unregister(fileobj)

    def modify(self, fileobj, events, data=None):
        return self._real.modify(fileobj, events, data)

    def get_key(self, fileobj):
        return self._real.get_key(fileobj)

    def get_map(self):
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout=None):
        got = self._real.select(0)
        if got or (timeout is not None and timeout <= 0):
            return got
        net = self.net
        loop = self.loop
        ready = loop._ready

        def woke() -> bool:
            return bool(ready)
        if timeout is None:
            if net.run_until(woke, SimStack.forever):
                return []
            if len(self._real.get_map()) <= 1 and loop._default_executor is None:
                raise Deadlock("the event loop has nothing left to do: no callbacks, no "
                               "timers and nothing on the simulated network")
            return self._real.select(None)      # wait for a thread of ours
        start = net.now
        if net.run_until(woke, timeout):
            return []
        net.run(until=start + timeout)
        return []


class SimEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop whose clock is a simulated network's: timers,
    `asyncio.sleep`, `wait_for` timeouts and TCP all run in virtual time, and
    the loop never sleeps in real time while the network has work.

        loop = SimEventLoop(net)
        loop.run_until_complete(main())

    (`synack.api.streams.run(main(), stack=...)` does this for you.)"""

    def __init__(self, net):
        sel = _VirtualSelector(net)
        self.net = net
        super().__init__(sel)
        sel.loop = self

    def time(self) -> float:
        return self.net.now

    # A simulation must never reach the real network. The loop methods that
    # make connections and servers run on the simulated stack selected with
    # `using()` (as `synack.api.streams.run` selects it); name resolution
    # takes numeric addresses only; everything else that would open a real
    # socket, pipe to a process or speak TLS raises NotInSimulation.
    async def create_connection(self, protocol_factory, host=None, port=None, *, sock=None,
                                local_addr=None, ssl=None, **kwargs):
        """`loop.create_connection` on the simulated stack: a `SynackTransport`."""
        if sock is not None:
            raise NotInSimulation("loop.create_connection(sock=...): a real socket is not "
                                  "available in simulation; give host and port")
        if ssl:
            raise NotInSimulation("loop.create_connection(ssl=...): TLS is not available in simulation")
        from . import streams
        return await streams.create_connection(protocol_factory, host, port, local_addr=local_addr,
                                               stack=self._sim_stack("create_connection"))

    async def create_server(self, protocol_factory, host=None, port=None, *, sock=None,
                            backlog: int = 100, ssl=None, reuse_address=None,
                            start_serving: bool = True, **kwargs):
        """`loop.create_server` on the simulated stack."""
        if sock is not None:
            raise NotInSimulation("loop.create_server(sock=...): a real socket is not "
                                  "available in simulation; give host and port")
        if ssl:
            raise NotInSimulation("loop.create_server(ssl=...): TLS is not available in simulation")
        from . import streams
        return await streams.create_server(protocol_factory, host, port, backlog=backlog,
                                           reuse_address=reuse_address, start_serving=start_serving,
                                           stack=self._sim_stack("create_server"))

    def _sim_stack(self, what: str) -> "SimStack":
        try:
            st = current_stack()
        except RuntimeError:
            st = None
        if not isinstance(st, SimStack) or st.net is not self.net:
            raise NotInSimulation(f"loop.{what}: no simulated stack of this loop's network is "
                                  "selected (run the coroutine with synack.api.streams.run(..., "
                                  "stack=...) or inside `with synack.api.using(stack):`)")
        return st

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """Numeric addresses only (as with AI_NUMERICHOST): a simulation has no DNS."""
        addr = _numeric(host, "getaddrinfo")
        if port is None:
            p = 0
        else:
            try:
                p = int(port)
            except (TypeError, ValueError):
                raise NotInSimulation(f"loop.getaddrinfo: service name {port!r} cannot be looked "
                                      "up in simulation; give a port number") from None
        fam = _socket.AF_INET6 if addr.version == 6 else _socket.AF_INET
        if family not in (0, fam):
            raise _socket.gaierror(_socket.EAI_FAMILY, "address family does not match")
        sockaddr = (str(addr), p, 0, 0) if fam == _socket.AF_INET6 else (str(addr), p)
        return [(fam, type or _socket.SOCK_STREAM, proto or _socket.IPPROTO_TCP, "", sockaddr)]

    async def getnameinfo(self, sockaddr, flags=0):
        """Numeric only: the address and the port as text."""
        addr = _numeric(sockaddr[0], "getnameinfo")
        return str(addr), str(sockaddr[1])

    async def create_datagram_endpoint(self, *args, **kwargs):
        raise NotInSimulation("loop.create_datagram_endpoint: UDP is not available in simulation")

    async def create_unix_connection(self, *args, **kwargs):
        raise NotInSimulation("loop.create_unix_connection is not available in simulation")

    async def create_unix_server(self, *args, **kwargs):
        raise NotInSimulation("loop.create_unix_server is not available in simulation")

    async def connect_accepted_socket(self, *args, **kwargs):
        raise NotInSimulation("loop.connect_accepted_socket: a real socket is not available "
                              "in simulation")

    async def start_tls(self, *args, **kwargs):
        raise NotInSimulation("loop.start_tls: TLS is not available in simulation")

    async def subprocess_exec(self, *args, **kwargs):
        raise NotInSimulation("loop.subprocess_exec: processes are not available in simulation")

    async def subprocess_shell(self, *args, **kwargs):
        raise NotInSimulation("loop.subprocess_shell: processes are not available in simulation")

    async def sock_recv(self, sock, n):
        raise _no_sock("sock_recv")

    async def sock_recv_into(self, sock, buf):
        raise _no_sock("sock_recv_into")

    async def sock_recvfrom(self, sock, bufsize):
        raise _no_sock("sock_recvfrom")

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        raise _no_sock("sock_recvfrom_into")

    async def sock_sendall(self, sock, data):
        raise _no_sock("sock_sendall")

    async def sock_sendto(self, sock, data, address):
        raise _no_sock("sock_sendto")

    async def sock_connect(self, sock, address):
        raise _no_sock("sock_connect")

    async def sock_accept(self, sock):
        raise _no_sock("sock_accept")

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        raise _no_sock("sock_sendfile")


class NotInSimulation(NotImplementedError):
    """An event-loop method that would reach outside the simulation (the real
    network, a process, TLS) was called on a `SimEventLoop`."""


def _no_sock(name: str) -> NotInSimulation:
    return NotInSimulation(f"loop.{name} is not available in simulation: use the loop's "
                           "create_connection/create_server, synack.api.streams, or a "
                           "blocking synack.api.socket")


def _numeric(host, what: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise NotInSimulation(f"loop.{what}: {host!r} is not a numeric address, and names "
                              "cannot be resolved in simulation") from None


# ------------------------------------------------------------ packet I/O
class PacketIO:
    """Where a `RealtimeStack` sends and receives raw IP packets."""

    def send_packet(self, data: bytes) -> None:
        raise NotImplementedError

    def packets(self) -> list[bytes]:
        """The packets that have arrived, without blocking."""
        raise NotImplementedError

    def wait(self, timeout: float | None) -> None:
        """Block until packets may have arrived, `wakeup()` is called, or
        `timeout` seconds pass."""
        raise NotImplementedError

    def wakeup(self) -> None:
        """Interrupt a `wait()` from another thread."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class QueuePacketIO(PacketIO):
    """One end of an in-memory wire; see `loopback_pair()`. Optional `loss`
    (a function of the packet returning True to drop it) for experiments."""

    def __init__(self):
        self.peer: QueuePacketIO | None = None
        self._inbox: deque = deque()
        self._cv = threading.Condition(threading.Lock())
        self._woken = False
        self.drop: Callable[[bytes], bool] | None = None
        self.sent = 0
        self.received = 0

    def send_packet(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or (self.drop is not None and self.drop(data)):
            return
        self.sent += 1
        with peer._cv:
            peer._inbox.append(bytes(data))
            peer._cv.notify()

    def packets(self) -> list[bytes]:
        with self._cv:
            out = list(self._inbox)
            self._inbox.clear()
        self.received += len(out)
        return out

    def wait(self, timeout: float | None) -> None:
        with self._cv:
            if not self._inbox and not self._woken:
                self._cv.wait(timeout)
            self._woken = False

    def wakeup(self) -> None:
        with self._cv:
            self._woken = True
            self._cv.notify()


def loopback_pair() -> tuple[QueuePacketIO, QueuePacketIO]:
    """Two `QueuePacketIO`s wired to each other (a packet sent on one arrives on the other)."""
    a, b = QueuePacketIO(), QueuePacketIO()
    a.peer, b.peer = b, a
    return a, b


class DevicePacketIO(PacketIO):
    """Packet I/O through a device with ``fileno()``, ``read_packets(max)``
    (non-blocking) and ``write_packet(bytes)``, such as a plain-mode
    `synack.tun.TunDevice`. Waits with select() on the device and a wake-up pipe."""

    def __init__(self, device, batch: int = 64):
        self.device = device
        self.batch = batch
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    def send_packet(self, data: bytes) -> None:
        self.device.write_packet(data)

    def packets(self) -> list[bytes]:
        out = []
        while True:
            got = self.device.read_packets(self.batch)
            out.extend(got)
            if len(got) < self.batch:
                return out

    def wait(self, timeout: float | None) -> None:
        r, _, _ = select.select([self.device.fileno(), self._r], [], [], timeout)
        if self._r in r:
            try:
                while os.read(self._r, 4096):
                    pass
            except BlockingIOError:
                pass

    def wakeup(self) -> None:
        try:
            os.write(self._w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


# ----------------------------------------------------------- RealtimeStack
class RealtimeStack(Stack):
    """A host in real time: a background thread reads packets from `io`, fires
    the timers at ``time.monotonic()`` deadlines and writes the host's output.

        a_io, b_io = loopback_pair()
        with RealtimeStack(a_io, ["10.0.0.1"]) as a, RealtimeStack(b_io, ["10.0.0.2"]) as b:
            ...

    Packets for one of the stack's own addresses never reach `io`: they are
    handed straight back to the host (a loopback interface)."""

    def __init__(self, io: PacketIO, addresses: Iterable[str], config: Config | None = None, *,
                 name: str | None = None, secret: bytes | None = None, start: bool = True):
        addrs = list(addresses)
        super().__init__(Host(addrs, config, name=name, secret=secret))
        self.io = io
        self._local: deque = deque()
        self._running = False
        self._planned_wake: float | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: a `synack.capture.record.FrameRecorder` while a capture is on (`open_capture`)
        self.pcap = None
        if start:
            self.start()

    def open_capture(self, path_or_file):
        """Write every packet both ways to a pcap file from now on (until `close`)."""
        from ..capture.record import FrameRecorder
        rec = FrameRecorder(path_or_file, getattr(self, "_hdr_len", 0))
        with self.lock:
            old, self.pcap = self.pcap, rec
        if old is not None:
            old.close()
        return rec

    def close_capture(self) -> None:
        with self.lock:
            rec, self.pcap = self.pcap, None
        if rec is not None:
            rec.close()

    def __repr__(self) -> str:
        return f"<RealtimeStack {self.host.name} {'running' if self._running else 'stopped'}>"

    @classmethod
    def pair(cls, addresses: tuple[str, str] = ("10.0.0.1", "10.0.0.2"), *,
             config: Config | None = None) -> tuple["RealtimeStack", "RealtimeStack"]:
        """Two running stacks joined by an in-memory wire (`loopback_pair`)."""
        ia, ib = loopback_pair()
        return (cls(ia, [addresses[0]], config, name=addresses[0]),
                cls(ib, [addresses[1]], config, name=addresses[1]))

    def now(self) -> float:
        return time.monotonic()

    # -------------------------------------------------------------- thread
    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._thread = threading.Thread(target=self._main, name=f"synack-{self.host.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (the connections stop where they are) and close `io`."""
        if not self._running:
            return
        self._running = False
        self.io.wakeup()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.io.close()
        self.close_capture()
        self.poke()

    def __enter__(self) -> "RealtimeStack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _main(self) -> None:
        host = self.host
        io = self.io
        try:
            while self._running:
                with self.lock:
                    now = self.now()
                    raws = io.packets()
                    if self.pcap is not None and raws:
                        self.pcap.packets_in(raws)
                    for raw in raws:
                        host.receive_packet(now, raw)
                    d = self._settle(now)
                    self._planned_wake = d
                    busy = bool(self._local)
                if busy:
                    continue
                io.wait(None if d is None else max(0.0, d - self.now()))
        except BaseException as e:       # keep the failure for the user to see
            self.error = e
            self._running = False
            self.poke()
            raise

    def _settle(self, now: float) -> float | None:
        """After a pass's input (lock held): packets between local sockets,
        due timers, then output and events. Returns the next timer deadline."""
        host = self.host
        local = self._local
        while local:
            host.receive_packet(now, local.popleft())
        host.poll(now)
        self._flush()
        return host.next_deadline()

    def _flush(self) -> None:
        """The outbox to the wire, the events to the waiters (lock held)."""
        host = self.host
        out = host.take_outbox()
        if out:
            from ..wire import encode_ip
            own = host._address_set
            cap = self.pcap
            for src, dst, seg in out:
                tos = host.tos_of(src, seg.src_port, dst, seg.dst_port) if host.tos_used else 0
                raw = encode_ip(src, dst, seg, tos=tos)
                if dst in own:
                    self._local.append(raw)
                else:
                    if cap is not None:
                        cap.packet(raw)
                    self.io.send_packet(raw)
        if host.events:
            self._note_events(host.take_events())
        self._dispatch()

    def _after_op(self) -> None:
        self._flush()
        d = self.host.next_deadline()
        planned = self._planned_wake
        if self._local or (d is not None and (planned is None or d < planned)):
            self._planned_wake = d
            self.io.wakeup()

    def wait(self, cond: Callable[[], bool], timeout: float | None = None) -> bool:
        with self._cv:
            if timeout is None:
                while not cond():
                    if not self._running:
                        raise RuntimeError(f"the stack stopped: {self.error!r}" if self.error
                                           else "the stack is closed")
                    self._cv.wait()
                return True
            return self._cv.wait_for(cond, timeout)
