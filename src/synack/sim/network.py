"""A deterministic simulated network: a virtual clock, hosts and lossy links.

Everything random comes from one `random.Random(seed)`, so a run is the same
every time for the same seed. Time only moves when the event loop jumps to
the next event, so a 2*MSL TIME-WAIT of 60 s costs nothing.

    net = Network(seed=1)
    client = net.add_host("10.0.0.1")
    server = net.add_host("10.0.0.2")
    net.link(client, server, delay=0.010, loss=0.01)
    lst = server.listen(80)
    conn = client.connect("10.0.0.2", 80)
    net.run()                     # until nothing is left to happen
"""
from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Final

from ..engine.config import Config
from ..engine.connection import Connection
from ..engine.host import Host
from ..engine.listener import Listener
from ..engine.segment import Segment
from ..engine.states import State
from .trace import Trace

_heappush: Final = heapq.heappush      # C statics in the compiled build
_heappop: Final = heapq.heappop

_DELIVER: Final = 0
_DELIVER_BYTES: Final = 1
_WAKE: Final = 2
_CALL: Final = 3


@dataclass
class LinkParams:
    """One direction of a link. Probabilities are per segment."""
    delay: float = 0.005            #: one-way propagation delay (s)
    jitter: float = 0.0             #: extra uniform random delay in [0, jitter)
    bandwidth: float | None = None  #: bits per second; None = infinitely fast
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0            #: chance that a segment is held back ...
    reorder_delay: float = 0.010    #: ... by this much more
    corrupt: float = 0.0            #: chance of one flipped bit (caught by the checksum)
    queue_limit: int | None = None  #: drop-tail queue length, in segments, with bandwidth
    busy_until: float = field(default=0.0, repr=False)
    queued: list = field(default_factory=list, repr=False)


@dataclass
class Fault:
    """A scripted fault: act on the segments `match` accepts, `count` times."""
    match: Callable[["Packet"], Any]  # truthy: a match
    action: str                       # "drop" or "delay"
    count: int | None = 1             # None = every match
    extra: float = 0.0
    hits: int = 0


class Packet:
    """What a fault predicate sees: addresses, the segment, who sent it."""
    __slots__ = ("src", "dst", "seg", "sender", "index")

    def __init__(self, src: str, dst: str, seg: Segment, sender: str, index: int):
        self.src, self.dst, self.seg, self.sender, self.index = src, dst, seg, sender, index

    @property
    def flags(self) -> int:
        return self.seg.flags


class Network:
    def __init__(self, seed: int = 0, *, trace: bool = True, default_link: LinkParams | None = None,
                 pcap=None):
        self.seed = seed
        self.now = 0.0
        self.rng = random.Random(seed)
        # the event queue: a heap of the distinct times at which something is
        # due, and per time a FIFO of (kind, simhost, item) -- events at the
        # same time run in the order they were queued. (A heap of floats
        # compares faster than a heap of tuples, and the simulator runs
        # through the queue once per segment.)
        self._times: list[float] = []
        self._due: dict[float, list[tuple[int, SimHost | None, Any]]] = {}
        self.hosts: list[SimHost] = []
        self._by_addr: dict[str, SimHost] = {}
        self.default_link = default_link or LinkParams()
        self.faults: list[Fault] = []
        self.trace: Trace | None = Trace() if trace else None
        self.pcap = pcap                  # a synack.pcap.PcapWriter, or None
        self._passed = 0                  # segments past the scripted faults (Packet.index)
        self.sent = 0                     # segments put on the wire (see `stats`)
        self.delivered = 0
        self.dropped = 0
        #: on_event(simhost, event): called for every engine event (connected,
        #: readable, eof, acceptable, ...) right after the step that caused it.
        self.on_event: Any = None
        #: the socket API's router for this network (synack.api.stack), once made
        self._synack_api_router: Any = None

    @property
    def stats(self) -> dict[str, int]:
        """Segments sent, delivered and dropped so far."""
        return {"sent": self.sent, "delivered": self.delivered, "dropped": self.dropped}

    # ------------------------------------------------------------------ build
    def add_host(self, *addresses: str, config: Config | None = None, name: str | None = None,
                 secret: bytes | None = None, isn=None) -> "SimHost":
        if not addresses:
            raise ValueError("a host needs at least one address")
        for a in addresses:
            if a in self._by_addr:
                raise ValueError(f"address {a} is already taken")
        if secret is None:
            secret = hashlib.sha256(f"synack-sim:{self.seed}:{addresses[0]}".encode()).digest()
        host = Host(addresses, config, secret=secret, isn=isn, name=name or addresses[0])
        sh = SimHost(self, host, len(self.hosts))
        self.hosts.append(sh)
        for a in addresses:
            self._by_addr[a] = sh
        if self.trace is not None:
            host.on_state = self._on_state
            host.on_timer = self._on_timer
        return sh

    def link(self, a: "SimHost", b: "SimHost", **params) -> tuple[LinkParams, LinkParams]:
        """Connect two hosts; the same parameters both ways (change either after)."""
        ab = LinkParams(**params)
        ba = LinkParams(**params)
        a._paths[b] = ab
        b._paths[a] = ba
        return ab, ba

    def path(self, a: "SimHost", b: "SimHost") -> LinkParams:
        """The direction a -> b (created with the default parameters if absent)."""
        lp = a._paths.get(b)
        if lp is None:
            d = self.default_link
            lp = a._paths[b] = LinkParams(d.delay, d.jitter, d.bandwidth, d.loss, d.duplicate,
                                          d.reorder, d.reorder_delay, d.corrupt, d.queue_limit)
        return lp

    # ------------------------------------------------------------------ faults
    def drop(self, match: Callable[[Packet], Any], count: int | None = 1) -> Fault:
        """Drop the next `count` segments that `match` accepts (None: all of them)."""
        f = Fault(match, "drop", count)
        self.faults.append(f)
        return f

    def delay(self, match: Callable[[Packet], Any], extra: float, count: int | None = 1) -> Fault:
        f = Fault(match, "delay", count, extra)
        self.faults.append(f)
        return f

    def inject(self, src_ip: str, dst_ip: str, seg: Segment, at: float | None = None) -> None:
        """Put a crafted segment on the wire (a spoofed SYN, a stale duplicate, a RST)."""
        t = self.now if at is None else at
        self._push(t, _CALL, None, (self._transmit_injected, (src_ip, dst_ip, seg)))

    def call_at(self, t: float, fn: Callable, *args) -> None:
        """Run `fn(*args)` at virtual time t (for scripted application actions)."""
        self._push(t, _CALL, None, (fn, args))

    # ------------------------------------------------------------------- run
    def run(self, until: float | None = None, max_events: int = 10_000_000) -> float:
        """Process events until none are left (or until virtual time `until`)."""
        times = self._times
        due = self._due
        pop = _heappop
        n = 0
        while times:
            t = times[0]
            if until is not None and t > until:
                self.now = until
                return self.now
            fifo = due[t]
            if len(fifo) == 1:                   # the usual case: one event at t
                del due[t]
                pop(times)
                kind, sh, item = fifo[0]
            else:
                kind, sh, item = fifo.pop(0)
            self.now = t
            if kind == _DELIVER:
                assert sh is not None
                src, dst, seg = item
                if self.trace is not None:
                    self.trace.segment(t, "deliver", src, dst, seg)
                self.delivered += 1
                sh.host.receive(t, src, dst, seg)
                self._flush(sh)
            elif kind == _WAKE:
                assert sh is not None
                sh._queued.discard(t)
                if sh._wake == t:
                    sh._wake = None
                    sh.host.poll(t)
                    self._flush(sh)
            elif kind == _DELIVER_BYTES:
                assert sh is not None
                self.delivered += 1
                sh.host.receive_packet(t, item)
                self._flush(sh)
            else:
                fn, args = item
                fn(*args)
                self.flush_all()
            n += 1
            if n >= max_events:
                raise RuntimeError(f"simulation did not settle after {max_events} events (t={t:.3f})")
        if until is not None:
            self.now = max(self.now, until)
        return self.now

    def run_for(self, seconds: float) -> float:
        return self.run(until=self.now + seconds)

    @property
    def idle(self) -> bool:
        """Nothing is left to happen: no segment in flight, no timer, no call."""
        return not self._times

    def run_until(self, condition: Callable[[], Any], timeout: float = 3600.0) -> bool:
        """Step events until `condition()` holds; False if time ran out first."""
        deadline = self.now + timeout
        times = self._times
        while not condition():
            if not times or times[0] > deadline:
                return False
            self.run(until=times[0])
        return True

    def flush_all(self) -> None:
        for sh in self.hosts:
            self._flush(sh)

    # -------------------------------------------------------------- internals
    def _push(self, t: float, kind: int, sh: SimHost | None, item: Any) -> None:
        fifo = self._due.get(t)
        if fifo is None:
            self._due[t] = [(kind, sh, item)]
            _heappush(self._times, t)
        else:
            fifo.append((kind, sh, item))

    def _flush(self, sh: "SimHost") -> None:
        host = sh.host
        if host.outbox:
            for src, dst, seg in host.take_outbox():
                self._transmit(sh, src, dst, seg)
        if host.events:
            evs = host.take_events()
            if self.trace is not None:
                for e in evs:
                    self.trace.app(self.now, host.name, e.conn, e.kind, e.detail)
            if self.on_event is not None:
                for e in evs:
                    self.on_event(sh, e)
                if host.outbox:
                    for src, dst, seg in host.take_outbox():
                        self._transmit(sh, src, dst, seg)
        if sh._wake is not None and sh._timers_seen == host.timers_version:
            # No timer was set since the last look, so the host's next deadline
            # can only have moved later, and a wake-up is queued at or before it.
            return
        sh._timers_seen = host.timers_version
        d = host.next_deadline()
        if d is not None and (sh._wake is None or d < sh._wake):
            sh._wake = d
            if d not in sh._queued:
                # one queued wake-up per time: a wake-up that lost its place
                # to an earlier one stays queued and is used again when the
                # host's next deadline comes back to it
                sh._queued.add(d)
                self._push(d, _WAKE, sh, None)

    def _on_state(self, host, obj, old, new, cause, now) -> None:
        self.trace.state(now, host.name, obj, old, new, cause)  # type: ignore[union-attr]

    def _on_timer(self, host, obj, what, now) -> None:
        self.trace.timer(now, host.name, obj, what)  # type: ignore[union-attr]

    def _transmit_injected(self, src: str, dst: str, seg: Segment) -> None:
        sender = self._by_addr.get(src)
        self._transmit(sender, src, dst, seg, injected=True)

    def _transmit(self, sender: SimHost | None, src: str, dst: str, seg: Segment,
                  injected: bool = False) -> None:
        now = self.now
        trace = self.trace
        self.sent += 1
        if trace is not None:
            trace.segment(now, "send", src, dst, seg, "injected" if injected else None)
        if self.pcap is not None:
            from ..wire import encode_ip
            tos = sender.host.tos_of(src, seg.src_port, dst, seg.dst_port) if sender else 0
            self.pcap.write(now, encode_ip(src, dst, seg, tos=tos))
        extra = 0.0
        if self.faults:
            pkt = Packet(src, dst, seg, sender.host.name if sender else src, self._passed)
            for f in self.faults:
                if (f.count is None or f.hits < f.count) and f.match(pkt):
                    f.hits += 1
                    if f.action == "drop":
                        self._dropped(src, dst, seg, "scripted")
                        return
                    extra += f.extra
        self._passed += 1
        receiver = self._by_addr.get(dst)
        if receiver is None:
            if sender is not None and dst in sender.host._address_set:
                receiver = sender           # loopback: an address of the sender's own
            else:
                self._dropped(src, dst, seg, "no route")
                return
        if sender is None or sender is receiver:
            self._push(now + extra, _DELIVER, receiver, (src, dst, seg))
            return
        lp = self.path(sender, receiver)
        rng = self.rng
        if lp.loss and rng.random() < lp.loss:
            self._dropped(src, dst, seg, "loss")
            return
        t = now
        if lp.bandwidth:
            size = 40 + len(seg.payload)
            start = lp.busy_until if lp.busy_until > now else now
            if lp.queue_limit is not None:
                q = lp.queued
                while q and q[0] <= now:
                    q.pop(0)
                if len(q) >= lp.queue_limit:
                    self._dropped(src, dst, seg, "queue full")
                    return
            lp.busy_until = start + size * 8 / lp.bandwidth
            if lp.queue_limit is not None:
                lp.queued.append(lp.busy_until)
            t = lp.busy_until
        t += lp.delay + extra
        if lp.jitter:
            t += rng.random() * lp.jitter
        if lp.reorder and rng.random() < lp.reorder:
            t += lp.reorder_delay
        if lp.corrupt and rng.random() < lp.corrupt:
            self._push(t, _DELIVER_BYTES, receiver, self._corrupted(src, dst, seg))
            if trace is not None:
                trace.segment(now, "drop", src, dst, seg, "corrupted (checksum)")
            self.dropped += 1
            return
        self._push(t, _DELIVER, receiver, (src, dst, seg))
        if lp.duplicate and rng.random() < lp.duplicate:
            self._push(t + rng.random() * 0.001, _DELIVER, receiver, (src, dst, seg))

    def _corrupted(self, src: str, dst: str, seg: Segment) -> bytes:
        from ..wire import encode_ip
        data = bytearray(encode_ip(src, dst, seg))
        ihl = 20 if ":" not in src else 40
        bit = self.rng.randrange((len(data) - ihl) * 8)
        data[ihl + bit // 8] ^= 1 << (bit % 8)
        return bytes(data)

    def _dropped(self, src, dst, seg, reason) -> None:
        self.dropped += 1
        if self.trace is not None:
            self.trace.segment(self.now, "drop", src, dst, seg, reason)


class SimHost:
    """A host on the simulated network, with calls that read the virtual clock."""

    def __init__(self, net: Network, host: Host, index: int):
        self.net = net
        self.host = host
        self.index = index
        self._wake: float | None = None       # when the host next wants poll()
        self._timers_seen = -1                # host.timers_version at the last next_deadline()
        self._paths: dict[SimHost, LinkParams] = {}   # link parameters, by receiver
        self._queued: set[float] = set()      # times of the wake-ups in the event queue

    def __repr__(self) -> str:
        return f"<SimHost {self.host.name}>"

    @property
    def address(self) -> str:
        return self.host.addresses[0]

    @property
    def stats(self) -> Counter:
        return self.host.stats

    def listen(self, port: int, backlog: int = 128, config: Config | None = None,
               ip: str | None = None) -> "SimListener":
        lst = self.host.listen(self.net.now, port, ip=ip, backlog=backlog, config=config)
        return SimListener(self, lst)

    def connect(self, remote_ip: str, remote_port: int, *, local_port: int = 0,
                config: Config | None = None) -> "SimConnection":
        conn = self.host.connect(self.net.now, remote_ip, remote_port, local_port=local_port,
                                 config=config)
        self.net._flush(self)
        return SimConnection(self, conn)


class SimListener:
    def __init__(self, sh: SimHost, lst: Listener):
        self.sh = sh
        self.listener = lst

    def __repr__(self) -> str:
        return f"<SimListener {self.listener!r}>"

    @property
    def state(self) -> State:
        return self.listener.state

    def accept(self) -> "SimConnection | None":
        conn = self.listener.accept()
        return SimConnection(self.sh, conn) if conn is not None else None

    def close(self) -> None:
        self.listener.close(self.sh.net.now)
        self.sh.net._flush(self.sh)


class SimConnection:
    """A connection on the simulated network. Calls never block: run the
    network (`net.run()`) to let time pass and segments move."""

    def __init__(self, sh: SimHost, conn: Connection):
        self.sh = sh
        self.conn = conn

    def __repr__(self) -> str:
        return f"<SimConnection {self.conn.name} {self.conn.state}>"

    @property
    def state(self) -> State:
        return self.conn.state

    @property
    def error(self) -> str | None:
        return self.conn.error

    @property
    def eof(self) -> bool:
        return self.conn.eof

    def _done(self):
        self.sh.net._flush(self.sh)

    def send(self, data: bytes) -> int:
        n = self.conn.send(self.sh.net.now, data)
        self._done()
        return n

    def recv(self, n: int = 1 << 20) -> bytes:
        """Whatever has arrived (b"" if nothing yet or at end of stream)."""
        try:
            data = self.conn.recv(self.sh.net.now, n)
        except BlockingIOError:
            data = b""
        self._done()
        return data

    def shutdown(self, how: str = "wr") -> None:
        self.conn.shutdown(self.sh.net.now, how)
        self._done()

    def close(self) -> None:
        self.conn.close(self.sh.net.now)
        self._done()

    def abort(self) -> None:
        self.conn.abort(self.sh.net.now)
        self._done()

    def set_linger(self, seconds: int | None) -> None:
        """SO_LINGER: 0 makes close() send RST (abortive close)."""
        self.conn.linger = seconds
