"""A host: the demultiplexer, the listeners, the timer heap (RFC 9293 §3.10.7).

Sans-I/O like the connections it owns. A driver (the simulator, the TUN loop,
the packetdrill runner) does only this:

    host.receive(now, src_ip, dst_ip, segment)   # or host.receive_packet(now, raw_ip_bytes)
    host.poll(now)                               # fire the timers that are due
    for src, dst, seg in host.take_outbox(): ... # put them on the wire
    host.next_deadline()                         # when to call poll() again

Segments are demultiplexed by 4-tuple first, then to a listener on
(address, port) or (wildcard, port); a segment for nothing gets the RST of
RFC 9293 §3.10.7.1.
"""
from __future__ import annotations

import hashlib
import heapq
import ipaddress
import os
import random
from collections import Counter
from typing import Any, Callable, Final

from .config import Config, rfc_profile
from .connection import NEVER, Connection, os_error
from .cookies import CookieJar
from .fastopen import CLIENT_ENABLE, CookieCache
from .fastopen import ready as tfo_ready
from .isn import IsnGenerator
from .listener import Listener
from .segment import ACK, FIN, RST, SYN, Segment
from .seq import MASK
from .states import CLOSED, LISTEN
from .timewait import TimeWait, TimeWaitQueue

# heapq's functions as Final names: C statics in the compiled build, where
# `heapq.heappush` would be an attribute lookup on every call
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop
_heapify: Final = heapq.heapify

WILDCARD_V4: Final = "0.0.0.0"
WILDCARD_V6: Final = "::"


_UNICAST_CACHE: Final[dict[str, bool]] = {}


def unicast(ip: str) -> bool:
    """Whether `ip` can be one end of a TCP connection (RFC 1122 §3.2.1.3, RFC
    9293 §3.9.2.3): not multicast, not unspecified, and for IPv4 not in
    240.0.0.0/4 (reserved, which holds the limited broadcast 255.255.255.255).
    A subnet-directed broadcast cannot be told without the prefix length.
    Answers are cached: parsing an address costs more than a whole segment."""
    ok = _UNICAST_CACHE.get(ip)
    if ok is None:
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            ok = False
        else:
            ok = not (a.is_multicast or a.is_unspecified or (a.version == 4 and a.is_reserved))
        if len(_UNICAST_CACHE) < 65536:
            _UNICAST_CACHE[ip] = ok
    return ok


class Host:
    def __init__(self, addresses=(), config: Config | None = None, *, secret: bytes | None = None,
                 isn=None, name: str | None = None, port_seed: int | None = None):
        self.addresses = list(addresses)
        self._address_set = frozenset(self.addresses)
        self.name = name or (self.addresses[0] if self.addresses else "host")
        self.config = config or rfc_profile()
        self.secret = secret if secret is not None else os.urandom(32)
        self.isn = isn or IsnGenerator(self.secret)
        self.cookies = CookieJar(self.secret)
        self._ts_hash = hashlib.blake2s(key=self.secret[:32], digest_size=4)
        self.conns: dict[tuple, Connection | TimeWait] = {}
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.outbox: list[tuple[str, str, Segment]] = []
        # Set by the driver while its local queue refuses every packet (a
        # qdisc with room for none): a data segment is then not sent at all,
        # as Linux's tcp_transmit_skb failing on a dev_queue_xmit drop (the
        # data stays unsent, a retransmission is not counted as one, and the
        # zero-window-probe timer retries every TCP_RESOURCE_PROBE_INTERVAL).
        self.xmit_blocked = False
        #: TCP Fast Open cookies and MSS per server address (RFC 7413 §4.1.2)
        self.tfo_cache = CookieCache()
        #: set once a connection has a nonzero IP_TOS (Config.tos): only then
        #: do the drivers look it up per packet (tos_of)
        self.tos_used = False
        self.events: list = []
        self.stats: Counter = Counter()
        # timers: a heap of the distinct deadlines, and per deadline the
        # connections whose timer was set for then, in the order they were set
        # (a heap of floats compares faster than one of tuples). TIME-WAIT
        # entries, whose deadlines are all now + 2*MSL, wait in FIFO queues
        # instead, one per 2*MSL value (see _schedule_time_wait). An entry
        # whose object's deadline has moved since is stale and skipped.
        self._times: list[float] = []
        self._due: dict[float, list[Connection]] = {}
        self._tw_queues: dict[float, TimeWaitQueue] = {}
        self._tw_list: list[TimeWaitQueue] = []    # the same queues, to loop over
        self._heap_limit = 256              # rebuild the heap past this size
        #: counts the timers set; a driver may skip next_deadline() while it is
        #: unchanged (the next deadline can then only have moved later)
        self.timers_version = 0
        lo, hi = self.config.ephemeral_ports
        seed = port_seed if port_seed is not None else int.from_bytes(self.secret[:4], "big")
        self._next_port = lo + seed % (hi - lo + 1)
        self._challenge_window = (-1.0, 0)  # (second, challenge ACKs left in it)
        self._challenge_rng: random.Random | None = None
        self.record_transitions = False
        #: host-wide memory (Config.tcp_mem): octets charged by connections,
        #: and the level: 0 normal, 1 under pressure, 2 at the limit
        self.mem_limits: tuple[int, int, int] | None = self.config.tcp_mem
        self.mem_used = 0
        self.mem_level = 0
        self._batch: dict | None = None     # connections touched during receive_batch
        #: tracing hooks (None = off): on_state(host, obj, old, new, cause, now),
        #: on_timer(host, obj, what, now)
        self.on_state: Callable[..., Any] | None = None
        self.on_timer: Callable[..., Any] | None = None

    def __repr__(self) -> str:
        return f"<Host {self.name} conns={len(self.conns)} listeners={len(self.listeners)}>"

    def tos_of(self, src_ip: str, src_port: int, dst_ip: str, dst_port: int) -> int:
        """The TOS / traffic class octet of a packet we send (IP_TOS,
        Config.tos of its connection, or of the listener that answers a SYN
        for one not yet made); 0 when none is set."""
        if not self.tos_used:
            return 0
        obj = self.conns.get((src_ip, src_port, dst_ip, dst_port))
        if isinstance(obj, Connection):
            return obj.cfg.tos
        if obj is not None:
            return 0                        # TIME-WAIT keeps no options
        lst = self.listeners.get((src_ip, src_port)) or self.listeners.get(
            (WILDCARD_V6 if ":" in src_ip else WILDCARD_V4, src_port))
        return lst.cfg.tos if lst is not None else 0

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] += n

    # ------------------------------------------------------------ the driver's side
    def receive(self, now: float, src_ip: str, dst_ip: str, seg: Segment) -> None:
        """A segment arrives from the network."""
        obj = self.conns.get((dst_ip, seg.dst_port, src_ip, seg.src_port))
        if obj is not None:
            if isinstance(obj, Connection):
                Connection.on_segment(obj, now, seg)
                if self.mem_limits is not None:
                    Connection._mem_sync(obj)
                return
            # TIME-WAIT: a new SYN may reopen the 4-tuple, but only if a listener
            # is there to take it (MAY-2); otherwise TIME-WAIT stands (MUST-13).
            lst = self._listener_for(dst_ip, seg.dst_port)
            if obj.on_segment(now, seg, lst is not None):
                assert lst is not None              # True only when a listener can take it
                # ISS above every sequence number the old incarnation used
                # (RFC 9293 §3.6.1 MAY-2 condition (1); Linux adds 65535 + 2 too).
                lst.on_segment(now, src_ip, dst_ip, seg, (obj.snd_nxt + 0xFFFF + 2) & MASK)
            return
        if not unicast(dst_ip) or not unicast(src_ip):
            # RFC 9293 §3.9.2.3 (MUST-57, MUST-63): a SYN to a broadcast or
            # multicast address, or from an invalid source, is silently
            # discarded -- "applicable to all incoming segments": no RST either.
            self.count("drop_bad_address")
            return
        lst = self._listener_for(dst_ip, seg.dst_port)
        if lst is not None:
            lst.on_segment(now, src_ip, dst_ip, seg)
            return
        self._reset_closed(src_ip, dst_ip, seg)

    def _listener_for(self, dst_ip: str, port: int) -> Listener | None:
        lst = self.listeners.get((dst_ip, port))
        if lst is None:
            lst = self.listeners.get((WILDCARD_V6 if ":" in dst_ip else WILDCARD_V4, port))
        return lst

    def receive_batch(self, now: float, items) -> None:
        """Several segments that arrived together: `(src_ip, dst_ip, segment)`
        triples. Every one is processed before any connection sends its
        ACK or data (MUST-59, RFC 9293 §3.8.6.3: "process all queued segments
        before sending any ACK"), so a burst is answered by one ACK per
        connection. Replies that answer one segment alone (RSTs, challenge
        ACKs, duplicate-segment ACKs) still go at once."""
        touched: dict[int, Connection] = {}
        self._batch = touched
        try:
            for src, dst, seg in items:
                self.receive(now, src, dst, seg)
        finally:
            self._batch = None
        for conn in touched.values():
            Connection.flush_output(conn, now)

    def receive_packets(self, now: float, packets) -> None:
        """`receive_batch` for raw IPv4/IPv6 packets (bad ones are counted drops)."""
        items = []
        for data in packets:
            item = self._decode(data)
            if item is not None:
                items.append(item)
        self.receive_batch(now, items)

    def receive_packet(self, now: float, data) -> None:
        """Raw IPv4/IPv6 bytes: decode, verify checksums, then `receive`."""
        item = self._decode(data)
        if item is not None:
            self.receive(now, item[0], item[1], item[2])

    def _decode(self, data) -> tuple[str, str, Segment] | None:
        """(src, dst, segment), or None for a packet that is dropped: a bad one
        is a counted drop (MUST-3, MUST-7), never an exception."""
        from ..wire import WireError, decode_ip
        try:
            src, dst, seg = decode_ip(data)
        except WireError as e:
            self.count("drop_" + e.reason)
            return None
        if self._address_set and dst not in self._address_set:
            self.count("drop_not_for_us")
            return None
        return src, dst, seg

    def poll(self, now: float) -> None:
        """Fire every timer due at or before `now`, earliest first (at equal
        times: connections in the order their timers were set, then TIME-WAIT
        entries)."""
        times = self._times
        while True:
            t = times[0] if times else NEVER
            first_tw: TimeWaitQueue | None = None
            for q in self._tw_list:
                d = q.first()
                if d < t:
                    t = d
                    first_tw = q
            if t > now:
                return
            if first_tw is not None:
                first_tw.pop().on_timer(now)
                continue
            _heappop(times)
            for conn in self._due.pop(t):
                if conn.deadline == t:             # else stale: the timer moved or stopped
                    Connection.on_timer(conn, now)

    def next_deadline(self) -> float | None:
        times = self._times
        due = self._due
        best = NEVER
        while times:
            t = times[0]
            for conn in due[t]:
                if conn.deadline == t:
                    best = t
                    break
            if best != NEVER:
                break
            _heappop(times)                       # all stale: the timers moved or stopped
            del due[t]
        for q in self._tw_list:
            d = q.first()
            if d < best:
                best = d
        return best if best != NEVER else None

    def take_outbox(self) -> list:
        out = self.outbox
        if out:
            self.outbox = []
        return out

    def take_events(self) -> list:
        evs = self.events
        self.events = []
        return evs

    def add_addresses(self, *ips: str) -> None:
        """More addresses of this host (the API stacks add loopback, 127.0.0.1
        and ::1, as every real host has: RFC 1122 §3.2.1.3, RFC 4291 §2.5.3)."""
        for ip in ips:
            if ip not in self._address_set:
                self.addresses.append(ip)
        self._address_set = frozenset(self.addresses)

    # -------------------------------------------------------------- user calls
    def listen(self, now: float, port: int, ip: str | None = None, backlog: int = 128,
               config: Config | None = None) -> Listener:
        """Passive OPEN (RFC 9293 §3.10.1) at time `now`."""
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"Host.listen(now, port, ...): port must be an integer, not {port!r}")
        ip = ip or (self.addresses[0] if self.addresses else WILDCARD_V4)
        key = (ip, port)
        if key in self.listeners:
            raise os_error("EADDRINUSE")
        lst = Listener(self, config or self.config, ip, port, backlog)
        self.listeners[key] = lst
        self._state_changed(now, lst, CLOSED, LISTEN, "passive OPEN")
        return lst

    def connect(self, now: float, remote_ip: str, remote_port: int, local_ip: str | None = None,
                local_port: int = 0, config: Config | None = None, *,
                fastopen: bool = False, data=b"") -> Connection:
        """Active OPEN (RFC 9293 §3.10.1): a new connection in SYN-SENT.

        `fastopen` asks for TCP Fast Open (RFC 7413; needs bit 0x1 of
        `Config.fastopen`): the SYN carries a cookie request, or the cached
        cookie and the first part of `data` (see `Connection.tfo_taken`)."""
        if not (0 < remote_port < 65536):
            raise os_error("EINVAL", "port out of range")
        if not unicast(remote_ip):
            # MUST-46 (RFC 9293 §3.9.1.1): an OPEN to a broadcast or multicast
            # address is an error (Linux says ENETUNREACH)
            raise os_error("ENETUNREACH", "not a unicast address")
        if local_ip is None and remote_ip in self._address_set:
            local_ip = remote_ip        # to ourselves (loopback): from that address, as Linux does
        if local_ip is None:
            v6 = ":" in remote_ip
            for a in self.addresses:
                if (":" in a) == v6:
                    local_ip = a
                    break
            else:
                raise os_error("EADDRNOTAVAIL", "no local address of that family")
        if local_port == 0:
            local_port = self.ephemeral_port(local_ip, remote_ip, remote_port)
        key = (local_ip, local_port, remote_ip, remote_port)
        if key in self.conns:
            raise os_error("EADDRINUSE" if type(self.conns[key]) is not TimeWait else "EADDRNOTAVAIL")
        conn = Connection(self, config or self.config, local_ip, local_port, remote_ip, remote_port)
        conn.transitions = [] if self.record_transitions else None
        conn.ts_offset = self.ts_offset(key)
        self.conns[key] = conn
        iss = self.isn(now, local_ip, local_port, remote_ip, remote_port)
        conn.recover = iss
        if fastopen and conn.cfg.fastopen & CLIENT_ENABLE:
            conn.tfo_prepare(remote_ip, data)
        Connection.open_active(conn, now, iss)
        return conn

    def fastopen_ready(self, remote_ip: str, config: Config | None = None) -> bool:
        """Whether a Fast Open connect to `remote_ip` could put data on its
        SYN now (a cookie is cached, or cookie-less mode is on): Linux then
        defers the SYN of a TCP_FASTOPEN_CONNECT connect() to the first write."""
        cfg = config or self.config
        return bool(cfg.fastopen & CLIENT_ENABLE) and tfo_ready(
            cfg.fastopen, self.tfo_cache.cookie(remote_ip))

    def ephemeral_port(self, local_ip: str, remote_ip: str, remote_port: int) -> int:
        lo, hi = self.config.ephemeral_ports
        span = hi - lo + 1
        for _ in range(span):
            p = self._next_port
            self._next_port = lo + (p - lo + 1) % span
            if (local_ip, p, remote_ip, remote_port) not in self.conns and \
                    (local_ip, p) not in self.listeners:
                return p
        raise os_error("EADDRNOTAVAIL", "no ephemeral port free")

    def ts_offset(self, key: tuple[str, int, str, int]) -> int:
        """A per-connection TSval offset (RFC 7323 §7.1 suggests randomizing it)."""
        isn = self.isn
        if type(isn) is IsnGenerator:
            # the low half of the hash whose high half makes the ISN
            return isn.keyed_hash(key[0], key[1], key[2], key[3]) & MASK
        h = self._ts_hash.copy()             # keyed once (Host.__init__), not per call
        h.update(f"ts|{key[0]}|{key[1]}|{key[2]}|{key[3]}".encode())
        return int.from_bytes(h.digest(), "big")

    def connections(self) -> list:
        """Every connection and TIME-WAIT entry, once each, for an `ss`-like
        view. (A half-open child is both in the 4-tuple table and in its
        listener's SYN queue; it is listed once.)"""
        out = list(self.conns.values())
        seen = {id(o) for o in out}
        for lst in self.listeners.values():
            for c in lst.syn_queue.values():
                if id(c) not in seen:
                    seen.add(id(c))
                    out.append(c)
        return out

    # ------------------------------------------------- called by connections
    def _attach(self, conn: Connection) -> None:
        self.conns[conn.key] = conn

    def _mem_charge(self, delta: int) -> None:
        """A connection's queues changed by `delta` octets: update the total
        and the level (Linux's __sk_mem_raise_allocated / sk_leave_memory_pressure:
        pressure begins above tcp_mem[1] and ends at or below tcp_mem[0])."""
        used = self.mem_used = self.mem_used + delta
        limits = self.mem_limits
        if limits is None:
            return
        lo, pressure, hi = limits
        if used >= hi:
            level = 2
        elif used > pressure or (self.mem_level and used > lo):
            level = 1
        else:
            level = 0
        if level != self.mem_level:
            if level > self.mem_level:
                self.count("mem_pressure" if level == 1 else "mem_limit")
            self.mem_level = level

    def _mem_release(self, conn: Connection) -> None:
        """The connection leaves the table: what it charged goes back, and
        it charges nothing more (Connection._mem_sync)."""
        held = conn.mem_charged
        if held >= 0:
            conn.mem_charged = -1
            if held:
                self._mem_charge(-held)

    def _forget(self, obj) -> None:
        if isinstance(obj, Connection):
            self._mem_release(obj)
        key = obj.key
        cur = self.conns.get(key)
        if cur is obj:
            del self.conns[key]
        elif type(cur) is TimeWait and cur.conn is obj:
            cur.dead = True
            cur.deadline = NEVER
            del self.conns[key]

    def _unlisten(self, lst: Listener) -> None:
        self.listeners.pop((lst.local_ip, lst.local_port), None)

    def _schedule(self, conn: Connection, deadline: float) -> None:
        self.timers_version += 1
        due = self._due.get(deadline)
        if due is not None:
            due.append(conn)
            return
        self._due[deadline] = [conn]
        _heappush(self._times, deadline)
        if len(self._times) > self._heap_limit:
            self._compact_timers()

    def _compact_timers(self) -> None:
        """Drop the stale deadlines. A deadline goes stale when its connection's
        timer moves or stops; it is normally dropped when it comes to the top,
        but one set far ahead (FIN-WAIT-2's 60 s, keepalive's 2 h) would stay
        long after its connection has gone, and every push and pop pays for
        the heap's depth. Rebuilding when the heap has doubled since the last
        rebuild costs O(1) per push, amortized. In place: poll() may be
        running over this list."""
        due = self._due
        live: list[float] = []
        for t in self._times:
            for c in due[t]:
                if c.deadline == t:
                    live.append(t)
                    break
            else:
                del due[t]
        _heapify(live)
        self._times[:] = live
        self._heap_limit = max(256, 2 * len(live))

    def _schedule_time_wait(self, tw: TimeWait, deadline: float) -> None:
        """TIME-WAIT timers go to a FIFO per 2*MSL (see TimeWaitQueue)."""
        self.timers_version += 1
        q = self._tw_queues.get(tw.msl2)
        if q is None:
            q = self._tw_queues[tw.msl2] = TimeWaitQueue()
            self._tw_list.append(q)
        q.push(deadline, tw)

    def _enter_time_wait(self, now: float, conn: Connection) -> None:
        self._mem_release(conn)
        tw = TimeWait(now, conn)
        self.conns[conn.key] = tw
        self._schedule_time_wait(tw, now + tw.msl2)
        conn.deadline = NEVER

    def _state_changed(self, now: float, obj, old, new, cause: str) -> None:
        if self.on_state is not None:
            self.on_state(self, obj, old, new, cause, now)

    def _timer_fired(self, now: float, obj, what: str) -> None:
        if self.on_timer is not None:
            self.on_timer(self, obj, what, now)

    def challenge_ack_allowed(self, now: float, limit: int) -> bool:
        """RFC 5961 §7's host-wide throttle, used only when a Config sets
        `challenge_ack_limit` (off by default: see Connection._oow_ack_allowed).
        Each second of the clock gets a budget drawn at random from
        [limit/2, 3*limit/2) (as Linux does since CVE-2016-5696), so that an
        attacker counting the challenge ACKs it receives cannot tell how many
        went to others. The draw comes from a generator seeded with the
        host's secret: the engine stays deterministic for a given secret."""
        second = float(int(now))
        start, n = self._challenge_window
        if second != start:
            rng = self._challenge_rng
            if rng is None:
                rng = self._challenge_rng = random.Random(self.secret + b"challenge-ack")
            half = (limit + 1) >> 1
            n = rng.randint(half, limit + half - 1) if limit > 0 else 0
            start = second
        if n > 0:
            self._challenge_window = (start, n - 1)
            return True
        self._challenge_window = (start, 0)
        return False

    def _reset_closed(self, src_ip: str, dst_ip: str, seg: Segment) -> None:
        """RFC 9293 §3.10.7.1: a segment for no connection gets a RST (unless it is one)."""
        flags = seg.flags
        if flags & RST:
            self.count("drop_rst_no_connection")
            return
        self.count("rst_no_connection")
        if flags & ACK:
            rst = Segment(seg.dst_port, seg.src_port, seg.ack, 0, RST, 0)
        else:
            slen = len(seg.payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
            rst = Segment(seg.dst_port, seg.src_port, 0, (seg.seq + slen) & MASK, RST | ACK, 0)
        self.outbox.append((dst_ip, src_ip, rst))
