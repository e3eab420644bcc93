"""The connection table, like ``ss -tano``: as data and as text.

    >>> print(stack.ss_text())                      # or format_table(ss(stack))
    State      Recv-Q Send-Q Local Address:Port Peer Address:Port Timer
    LISTEN     0      128    0.0.0.0:7          0.0.0.0:*
    ESTAB      0      0      10.0.0.2:7         10.0.0.1:40123
    TIME-WAIT  0      0      10.0.0.2:7         10.0.0.1:40122    timer:(timewait,59sec,0)

`ss(source)` takes a stack (`SimStack`, `RealtimeStack`), a `synack.sim.SimHost`,
a whole `synack.sim.Network` (every host; rows then name their host) or a
bare `Host` with ``now=``. It returns `SocketRow`s:

* ``state``: ss's spelling (ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, ...);
  ``tcp_state`` is the engine's `State`;
* ``recv_q``: for a connection, octets received and not yet read by the
  application; for a listener, connections waiting in the accept queue;
* ``send_q``: for a connection, octets not yet acknowledged (in flight and
  not yet sent; our FIN counts one until it is acknowledged, as in Linux's
  write_seq - snd_una); for a listener, the backlog. Both queue sizes are
  SIOCINQ's and SIOCOUTQ's (`synack.engine.info.queues`);
* ``local``, ``peer``: (address, port); a listener's peer port is None ("*");
* ``timer``: the pending timer as ss ``-o`` shows it, or None:
  ``on`` (retransmission; count = retransmissions so far), ``persist``
  (zero-window probe; count = probes), ``keepalive`` (count = unanswered
  probes), ``timewait`` (TIME-WAIT's 2*MSL, and an orphaned FIN-WAIT-2's
  timeout, which Linux also shows as timewait). Delayed-ACK timers are not
  shown, as in ss.

Rows come listeners first, then connections by local and peer address. The
``states`` filter takes ss names or engine names (case-insensitive) and the
groups "all", "connected" (everything but LISTEN and CLOSED) and
"synchronized" (ESTABLISHED onwards).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterable

from ..engine.info import queues
from ..engine.timewait import TimeWait
from ..engine.states import (CLOSED, CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2,
                      LAST_ACK, LISTEN, SYN_RECEIVED, SYN_SENT, SYNCHRONIZED, TIME_WAIT, State)

__all__ = ["SocketRow", "Timer", "ss", "format_table", "SS_NAMES"]

#: engine state -> ss's name for it
SS_NAMES: dict[State, str] = {
    ESTABLISHED: "ESTAB", SYN_SENT: "SYN-SENT", SYN_RECEIVED: "SYN-RECV",
    FIN_WAIT_1: "FIN-WAIT-1", FIN_WAIT_2: "FIN-WAIT-2", TIME_WAIT: "TIME-WAIT",
    CLOSED: "UNCONN", CLOSE_WAIT: "CLOSE-WAIT", LAST_ACK: "LAST-ACK", LISTEN: "LISTEN",
    CLOSING: "CLOSING",
}


def _duration(seconds: float) -> str:
    """ss's way of writing a time: 204ms, 1.2sec, 59sec, 119min."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{int(round(seconds * 1000))}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}sec"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}min" if secs == 0 else f"{minutes}min{secs}sec"


@dataclass(frozen=True)
class Timer:
    name: str           #: on, persist, keepalive, timewait
    expires: float      #: seconds from now
    count: int          #: retransmissions / probes so far

    def __str__(self) -> str:
        return f"timer:({self.name},{_duration(self.expires)},{self.count})"


@dataclass(frozen=True)
class SocketRow:
    state: str
    recv_q: int
    send_q: int
    local: tuple
    peer: tuple
    timer: Timer | None = None
    tcp_state: State | None = None
    kind: str = "connection"            #: "listener", "connection" or "time-wait"
    host: str = ""
    obj: object = field(default=None, repr=False, compare=False)

    @property
    def local_text(self) -> str:
        return _endpoint(*self.local)

    @property
    def peer_text(self) -> str:
        return _endpoint(*self.peer)


def _endpoint(ip: str, port) -> str:
    p = "*" if port is None else str(port)
    return f"[{ip}]:{p}" if ":" in ip else f"{ip}:{p}"


def _conn_timer(conn, now: float) -> Timer | None:
    if conn.t_rexmt is not None:
        return Timer("on", conn.t_rexmt - now, conn.retries)
    if conn.t_persist is not None:
        return Timer("persist", conn.t_persist - now, conn.persist_backoff)
    if conn.t_fin2 is not None:
        return Timer("timewait", conn.t_fin2 - now, 0)
    if conn.t_keep is not None:
        return Timer("keepalive", conn.t_keep - now, conn.keep_probes)
    return None


def _rows_for_host(host, now: float, label: str) -> list[SocketRow]:
    from .stack import DUAL_STACK_LISTENERS
    rows: list[SocketRow] = []
    halves = set(DUAL_STACK_LISTENERS.values())
    for lst in list(host.listeners.values()):
        if lst in halves:
            continue            # the IPv4 half of a dual-stack socket: its "::" row stands for both
        wild = "::" if ":" in lst.local_ip else "0.0.0.0"
        half = DUAL_STACK_LISTENERS.get(lst)
        queued = len(lst.accept_queue) + (len(half.accept_queue) if half is not None else 0)
        rows.append(SocketRow("LISTEN", queued, lst.backlog,
                              (lst.local_ip, lst.local_port), (wild, None), None, LISTEN,
                              "listener", label, lst))
    conns = []
    for obj in host.connections():        # every connection and TIME-WAIT entry, once
        st = obj.state
        key = (obj.local_ip, obj.local_port, obj.remote_ip, obj.remote_port)
        if isinstance(obj, TimeWait):                              # the TIME-WAIT table entry
            timer = Timer("timewait", obj.deadline - now, 0) if not obj.dead else None
            conns.append((key, SocketRow("TIME-WAIT", 0, 0, key[:2], key[2:], timer, TIME_WAIT,
                                         "time-wait", label, obj)))
            continue
        if st is CLOSED and obj.error is None and not obj.rcvq:
            continue
        q = queues(obj)
        conns.append((key, SocketRow(SS_NAMES[st], q.inq, q.outq, key[:2], key[2:],
                                     _conn_timer(obj, now), st, "connection", label, obj)))
    conns.sort(key=lambda kv: kv[0])
    rows.sort(key=lambda r: r.local)
    return rows + [r for _, r in conns]


def _match(row: SocketRow, wanted: set[str]) -> bool:
    if "all" in wanted:
        return True
    st = row.tcp_state
    if "connected" in wanted and st not in (LISTEN, CLOSED):
        return True
    if "synchronized" in wanted and st in SYNCHRONIZED:
        return True
    return row.state.lower() in wanted or (st is not None and (
        st.value.lower() in wanted or st.rfc_name.lower() in wanted))


def ss(source, *, now: float | None = None, states: str | Iterable[str] | None = None,
       ) -> list[SocketRow]:
    """The connection table of `source` (see the module documentation)."""
    from ..engine.host import Host
    from ..sim import Network, SimHost
    targets: list[tuple] = []          # (host, label)
    lock = contextlib.nullcontext()
    if isinstance(source, Host):
        if now is None:
            raise TypeError("ss(host) needs now= (a bare Host has no clock)")
        targets.append((source, ""))
    elif isinstance(source, Network):
        now = source.now if now is None else now
        targets.extend((sh.host, sh.host.name) for sh in source.hosts)
    elif isinstance(source, SimHost):
        now = source.net.now if now is None else now
        targets.append((source.host, ""))
    elif hasattr(source, "host") and hasattr(source, "lock"):                # a Stack
        now = source.now() if now is None else now
        lock = source.lock
        targets.append((source.host, ""))
    else:
        raise TypeError(f"ss() takes a stack, a Network, a SimHost or a Host, not {type(source).__name__}")
    wanted = None
    if states is not None:
        wanted = {states.lower()} if isinstance(states, str) else {s.lower() for s in states}
    rows: list[SocketRow] = []
    with lock:
        for host, label in targets:
            rows.extend(_rows_for_host(host, now, label))
    if wanted is not None:
        rows = [r for r in rows if _match(r, wanted)]
    return rows


def format_table(rows: Iterable[SocketRow], *, header: bool = True, host_column: bool | None = None) -> str:
    """Rows as ``ss -tano`` would print them (plus a Host column for a whole network)."""
    rows = list(rows)
    if host_column is None:
        host_column = any(r.host for r in rows)
    table = []
    if header:
        head = ["State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Timer"]
        table.append((["Host"] if host_column else []) + head)
    for r in rows:
        line = [r.state, str(r.recv_q), str(r.send_q), r.local_text, r.peer_text,
                str(r.timer) if r.timer else ""]
        table.append(([r.host] if host_column else []) + line)
    if not table:
        return ""
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    out = []
    for line in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line)]
        out.append(" ".join(cells).rstrip())
    return "\n".join(out) + "\n"
