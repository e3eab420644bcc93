"""Run packetdrill scripts against synack, in virtual time.

    from synack.packetdrill.runner import run_script
    result = run_script("tcp/close/close-on-syn-sent.pkt")     # linux profile
    print(result.status, result.failure)

    python -m synack.packetdrill [--profile linux] [--json] FILE...

Each script gets a fresh sans-I/O `Host` with the chosen profile (`linux`
by default), adjusted by the script's init command (see `initcmd`). The
runner is packetdrill's interpreter loop with a virtual clock instead of
the wall clock and octets instead of a TUN device:

* times resolve as packetdrill resolves them: `+x` counts from the moment
  the previous event finished (from the previous packet's script time when
  both are inbound packets); `a~b` is a range; `*` any time; a blocking call
  `start...end` runs "in another thread" while later events proceed, and
  must return at `end`;
* before each event, virtual time advances to the event's time, firing
  the engine's timers (`Host.next_deadline`/`poll`) in order;
* `<` packets are built as octets and given to `Host.receive_packet`;
* every segment synack sends is collected (`Host.take_outbox`), encoded
  by synack's wire layer, and queued; a `>` line takes the next queued
  packet of the socket under test (advancing time if none is queued yet, up
  to the line's time plus tolerance) and compares it field by field; so an
  unexpected packet sent before a `>` line fails that line, as in
  packetdrill. Consecutive segments are glued to match one longer expected
  line (packetdrill's TSO/GSO aggregation) unless --strict_segments;
* timing tolerance is packetdrill's: max(--tolerance_usecs (4000),
  --tolerance_percent (12.5%) of the time since the previous event);
* system calls map onto the engine (see `syscalls`); `%{ }%` blocks run at
  the end with the TCP_INFO fields `tcpinfo` and `sockstats` provide; a
  block that reads any other field fails the script (never a silent pass).

The first failure stops the script. Constructs neither the runner nor the
engine can do fail it with an "unsupported: ..." message.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import dataclasses
import ipaddress
import json
import os
import sys
import textwrap
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import config as _config
from ..engine.host import Host
from ..wire import encode_ip
from . import ast as A
from .initcmd import NSTAT, read_init, read_shell
from .lexer import ScriptSyntaxError
from .outcome import Failure, ScriptFailure, ScriptResult, TraceEntry, unsupported
from .packets import (ACK, CWR, SYN, Mapping, PacketError, WirePacket,
                      build_inbound, compare, flags_from_script,
                      fragment_problem, parse_ip_tcp, to_script_space)
from .parser import parse_file, parse_text
from .fastopen import FastOpenMixin
from .sockext import NOTSENT_LOWAT_DEFAULT, LinuxWriteMixin, SocketExtrasMixin
from .syscalls import SYSCALLS, Done, Sock, SyscallsMixin, WouldBlock, _BadFd, strerror
from .tcpinfo import SYMBOLS as TCPINFO_SYMBOLS
from .tcpinfo import names_used, snapshot, unmapped_names
from .sockstats import FIELDS as STATS_FIELDS
from .sockstats import SockStats

__all__ = ["RunOptions", "run_script", "run_scripts", "main", "shared_dir",
           "target_scripts", "all_scripts", "format_result"]

DEFAULT_TOLERANCE_USECS = 4000
DEFAULT_TOLERANCE_PERCENT = 12.5
ANY_TIME_HORIZON_US = 600 * 1_000_000     # how long a `*` line waits
LATE_LOOKAHEAD_US = 30 * 1_000_000        # how far to look for a late packet
AWAIT_IDLE_US = 1_000_000                 # packetdrill waits 1 s for a blocking call
SECRET = b"synack packetdrill runner......."


# --------------------------------------------------------------------------
# options and addresses

@dataclass
class RunOptions:
    """How to run scripts. Values left None come from the script's own
    `--name=value` lines, then packetdrill's defaults."""
    profile: str = "linux"
    strict_segments: bool | None = None
    tolerance_usecs: int | None = None
    tolerance_percent: float | None = None
    config: dict = field(default_factory=dict)   # Config field overrides, applied last
    #: packetdrill options given on the command line, (name, value or None),
    #: applied after the script's own (they override them, as in packetdrill)
    script_options: list = field(default_factory=list)
    #: -D NAME=VALUE definitions, substituted when the script is parsed
    defines: dict = field(default_factory=dict)


@dataclass
class Addresses:
    local_ip: str = "192.168.0.1"
    remote_ip: str = "192.0.2.1"
    bind_port: int = 8080
    connect_port: int = 8080
    remote_port: int = 40000          # the remote port of passively opened connections
    socket_v6: bool = False           # AF_INET6 sockets (ipv6 and ipv4-mapped-ipv6)
    wire_v6: bool = False             # IPv6 on the wire
    mapped: bool = False


@dataclass
class SocketUnderTest:
    """packetdrill's "socket under test": the one connection whose packets
    the script's lines describe, and its script<->live mapping."""
    state: str                        # new, listening, passive_syn, passive_synack_sent,
    sock: Sock | None = None          # passive_acked, active_connecting, active_syn_sent,
    live_local: tuple | None = None   # active_acked
    live_remote: tuple | None = None
    mapping: Mapping = field(default_factory=Mapping)

    def outbound_tuple(self) -> tuple | None:
        if self.live_local is None or self.live_remote is None:
            return None
        return (self.live_local[0], self.live_local[1], self.live_remote[0], self.live_remote[1])


@dataclass
class Emitted:
    time_us: int
    pkt: WirePacket
    entry: TraceEntry


@dataclass
class Pending:
    """A blocking call in progress (packetdrill's syscall thread)."""
    ev: A.Syscall
    block: WouldBlock
    start_us: int
    end_us: int
    kind: str


#: packetdrill's options (src/config.c): name -> (takes an argument, None
#: when the runner acts on it, else what it means here: a note, or
#: "unsupported: why" to fail the script).
OPTIONS: dict[str, tuple[bool, str | None]] = {
    "ip_version": (True, None), "bind_port": (True, None), "connect_port": (True, None),
    "local_ip": (True, None), "remote_ip": (True, None), "mtu": (True, None),
    "mss": (True, None), "tolerance_usecs": (True, None), "tolerance_percent": (True, None),
    "tcp_ts_tick_usecs": (True, None), "tcp_ts_ecr_scaled": (False, None),
    "strict_segments": (False, None), "dry_run": (False, None),
    "gateway_ip": (True, "no routing in virtual time: packets go straight to the engine"),
    "netmask_ip": (True, "no routing in virtual time: packets go straight to the engine"),
    "speed": (True, "the simulated link has no serialization delay at any speed"),
    "debug": (False, "no effect on the run"),
    "verbose": (False, "no effect on the run (use -v for the trace)"),
    "code_command": (True, "%{ }% blocks run in synack's own Python"),
    "code_format": (True, "%{ }% blocks run in synack's own Python"),
    "code_sockopt": (True, "TCP_INFO is read from the engine, not by getsockopt"),
    "send_omit_free": (False, "no effect: no send buffers are allocated"),
    "init_scripts": (True, "unsupported: extra init scripts are not read"),
    "non_fatal": (True, "unsupported: every failure is fatal in synack's runner"),
    "wire_client": (False, "unsupported: wire client/server mode (there is no wire)"),
    "wire_server": (False, "unsupported: wire client/server mode (there is no wire)"),
    "wire_server_ip": (True, "unsupported: wire client/server mode (there is no wire)"),
    "wire_server_at": (True, "unsupported: wire client/server mode (there is no wire)"),
    "wire_server_port": (True, "unsupported: wire client/server mode (there is no wire)"),
    "wire_client_dev": (True, "unsupported: wire client/server mode (there is no wire)"),
    "wire_server_dev": (True, "unsupported: wire client/server mode (there is no wire)"),
    "so_filename": (True, "unsupported: a TCP stack loaded from a shared object"),
    "so_flags": (True, "unsupported: a TCP stack loaded from a shared object"),
    "is_anyip": (False, "unsupported: AnyIP local addresses"),
    "psp_udp_port": (True, "unsupported: PSP encapsulation"),
    "define": (True, "unsupported: give definitions with -D NAME=VALUE on the command line "
                     "(the script is parsed before its options are read)"),
}


def _us(seconds: float) -> int:
    return int(round(seconds * 1_000_000))


def _secs(us: int) -> str:
    return f"{us / 1_000_000:.6f}"


# --------------------------------------------------------------------------
# the interpreter

class Runner(SyscallsMixin, SocketExtrasMixin, LinuxWriteMixin, FastOpenMixin):
    def __init__(self, script: A.Script, options: RunOptions | None = None):
        self.script = script
        self.options = options or RunOptions()
        self.lines = self._source_lines()
        self.notes: list[str] = []
        self.skipped: list[str] = []
        self.output = ""                 # what %{ }% blocks printed
        self.trace: list[TraceEntry] = []
        self.fds: dict[int, Sock] = {}
        self.sut: SocketUnderTest | None = None
        self.outq: list[Emitted] = []
        self.pending: Pending | None = None
        self.code_blocks: list[tuple[A.PythonBlock, dict, int]] = []
        self.now_us = 0
        self.stats = SockStats()
        self.epolls: dict = {}
        self.events_run = 0
        self.last_event: tuple[A.Event, int] | None = None
        self._read_options()
        self._setup_config()
        self.host = Host(addresses=[self.addr.local_ip], config=self.base_cfg, secret=SECRET,
                         port_seed=0, name="synack")
        self.host.xmit_blocked = self.qdisc_limit == 0     # an init command's qdisc

    # -- setup ----------------------------------------------------------------
    def _source_lines(self) -> list[str]:
        try:
            return Path(self.script.path).read_text(errors="replace").splitlines()
        except OSError:
            return []

    def _read_options(self) -> None:
        """The script's `--name=value` lines, then the command line's
        (which override them, as in packetdrill's parse_and_finalize_config)."""
        self.addr = Addresses()
        self.tolerance_usecs = DEFAULT_TOLERANCE_USECS
        self.tolerance_percent = DEFAULT_TOLERANCE_PERCENT
        self.ts_tick_usecs = 0
        self.strict_segments = False
        self.ts_ecr_scaled = False
        self.mtu: int | None = None
        self.gso_mss: int | None = None
        self.dry_run = False
        self._ip_version = "ipv4"
        self._ips: dict[str, str] = {}
        items = [(n, v, "script") for n, v in self.script.option_items]
        items += [(n, v, "command line") for n, v in self.options.script_options]
        for name, value, where in items:
            try:
                self._read_option(name, value, where)
            except ValueError:
                raise ScriptFailure("script", f"{where}: bad --{name}: {value}") from None
        if self._ip_version == "ipv6":
            self.addr.local_ip, self.addr.remote_ip = "fd3d:fa7b:d17d::1", "2001:db8::1"
            self.addr.socket_v6 = self.addr.wire_v6 = True
        elif self._ip_version == "ipv4-mapped-ipv6":
            self.addr.socket_v6 = self.addr.mapped = True
        if "local_ip" in self._ips:
            self.addr.local_ip = self._ips["local_ip"]
        if "remote_ip" in self._ips:
            self.addr.remote_ip = self._ips["remote_ip"]
        o = self.options
        if o.tolerance_usecs is not None:
            self.tolerance_usecs = o.tolerance_usecs
        if o.tolerance_percent is not None:
            self.tolerance_percent = o.tolerance_percent
        if o.strict_segments is not None:
            self.strict_segments = o.strict_segments

    def _read_option(self, name: str, v: str | None, where: str = "script") -> None:
        """One of packetdrill's options (its config.c list). Each either
        changes the run, or has no meaning for a virtual-time run and is
        noted, or fails the script as unsupported: none is ignored
        silently."""
        if name not in OPTIONS:
            raise unsupported(f"option --{name} ({where}; not one of packetdrill's options)")
        takes_arg, meaning = OPTIONS[name]
        if takes_arg and v is None:
            raise ScriptFailure("script", f"{where}: option --{name} requires an argument")
        if not takes_arg and v is not None:
            raise ScriptFailure("script", f"{where}: option --{name} forbids an argument")
        if meaning is not None:
            if meaning.startswith("unsupported: "):
                raise unsupported(f"option --{name}: {meaning[len('unsupported: '):]}")
            self.notes.append(f"option --{name}{'' if v is None else '=' + v}: {meaning}")
            return
        assert v is not None or not takes_arg
        val = v or ""
        if name == "tolerance_usecs":
            self.tolerance_usecs = int(val)
            if self.tolerance_usecs <= 0:
                raise ValueError(val)
        elif name == "tolerance_percent":
            self.tolerance_percent = float(val)
            if not 0.0 <= self.tolerance_percent <= 100.0:
                raise ValueError(val)
        elif name == "tcp_ts_tick_usecs":
            self.ts_tick_usecs = int(val)
            if not 0 <= self.ts_tick_usecs <= 1_000_000:
                raise ValueError(val)
        elif name == "strict_segments":
            self.strict_segments = True
        elif name == "tcp_ts_ecr_scaled":
            self.ts_ecr_scaled = True
        elif name == "ip_version":
            if val not in ("ipv4", "ipv6", "ipv4-mapped-ipv6"):
                raise ScriptFailure("script", f"{where}: bad --ip_version: {val}")
            self._ip_version = val
        elif name in ("local_ip", "remote_ip"):
            ip = val.split("/")[0]
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ScriptFailure("script", f"{where}: bad --{name}: {val}") from None
            self._ips[name] = ip
        elif name in ("bind_port", "connect_port"):
            port = int(val)
            if not 0 < port <= 0xFFFF:
                raise ValueError(val)
            setattr(self.addr, name, port)
        elif name == "mtu":
            self.mtu = int(val)
            if self.mtu < 0:
                raise ValueError(val)
        elif name == "mss":
            # packetdrill cooks an injected packet longer than this as a
            # GSO packet of --mss-sized segments (gso_size); the runner
            # injects those segments as one batch, as GRO would hand them up.
            self.gso_mss = int(val)
            if self.gso_mss <= 0:
                raise ValueError(val)
        elif name == "dry_run":
            self.dry_run = True
        else:                                    # pragma: no cover - table and code agree
            raise unsupported(f"option --{name}")

    def _setup_config(self) -> None:
        profile = self.options.profile
        try:
            cfg = _config.profile(profile)
        except ValueError as e:
            raise ScriptFailure("script", str(e)) from None
        self.init_actions: list = []
        for cmd in self.script.init_commands:
            plan = read_init(cmd.text, cfg)
            self.notes.extend(plan.notes)
            if plan.unsupported:
                raise unsupported("init command: " + "; ".join(plan.unsupported), line=cmd.line)
            if plan.linux_defaults and profile != "linux":
                self.notes.append(f"init: the script asks for Linux defaults; running with "
                                  f"profile {profile!r} as requested")
            if plan.changes:
                cfg = cfg.replace(**plan.changes)
            self._runner_settings(plan)
            self.init_actions.extend(plan.actions)
        for cmd in self.script.cleanup_commands:
            self.notes.append(f"cleanup: not run: `{cmd.text.strip()}` (it restores the host's "
                              "sysctls; synack's host ends with the script)")
        if self.mtu is not None:
            cfg = cfg.replace(mtu=self.mtu)
        if self.options.config:
            bad = [k for k in self.options.config if not hasattr(cfg, k)]
            if bad:
                raise ScriptFailure("script", f"unknown Config field(s): {', '.join(bad)}")
            cfg = cfg.replace(**self.options.config)
            self.notes.append("config overrides: " + ", ".join(
                f"{k}={v!r}" for k, v in self.options.config.items()))
        self.base_cfg = cfg

    def _runner_settings(self, plan) -> None:
        host = getattr(self, "host", None)          # (init commands run before it exists)
        if "tcp_metrics_flush" in plan.runner and host is not None:
            host.tfo_cache.clear()
        if "notsent_lowat" in plan.runner:
            self.notsent_lowat_sysctl = plan.runner["notsent_lowat"] or NOTSENT_LOWAT_DEFAULT
        if "qdisc_limit" in plan.runner:
            self.qdisc_limit = plan.runner["qdisc_limit"]
            host = getattr(self, "host", None)      # (init commands run before it exists)
            if host is not None:
                # a queue with room for nothing refuses every packet: the engine
                # is told, as Linux's stack learns of a dev_queue_xmit drop
                host.xmit_blocked = self.qdisc_limit == 0

    def _shell(self, ev: A.ShellCommand) -> None:
        """A timed shell command (see initcmd): sysctls and routes for the
        connections made from now on, the link's queue, nstat."""
        plan = read_shell(ev.text, self.base_cfg, f"line {ev.line}")
        if plan.unsupported:
            raise unsupported("shell command: " + "; ".join(plan.unsupported))
        self.notes.extend(plan.notes)
        if plan.changes:
            self.base_cfg = self.base_cfg.replace(**plan.changes)
            for sock in self.fds.values():       # a listener's next connections see them
                if sock.listener is not None:
                    self._cfg_replace(sock.listener, **plan.changes)
        self._runner_settings(plan)
        self._nstat(plan.actions)
        self.trace.append(TraceEntry(self.now_us / 1e6, "shell", f"`{ev.text.strip()}`",
                                     ev.line))

    def _nstat(self, actions) -> None:
        """`nstat` resets the counters' history; `nstat | grep NAME`
        succeeds (exit status 0) only when NAME grew since (nstat shows
        only counters that changed), else the command fails the script as
        a failing shell command fails it in packetdrill."""
        for what, name in actions:
            now = dict(self.host.stats)
            if name is not None:
                grew = sum(now.get(k, 0) - self._nstat_base.get(k, 0) for k in NSTAT[name])
                if grew <= 0:
                    raise ScriptFailure("shell", f"`nstat | grep {name}` found nothing: the "
                                                 f"counter did not change")
            self._nstat_base = now

    _nstat_base: dict = {}
    qdisc_limit: int | None = None
    _refused_seen = 0

    # -- the loop -----------------------------------------------------------------
    def run(self) -> ScriptResult:
        failure: Failure | None = None
        events = self.script.timed_events
        current: A.Event | None = None
        if self.dry_run:
            self.notes.append("--dry_run: the script was parsed and checked, not run")
            events = []
        self._nstat_base = dict(self.host.stats)
        try:
            for ev in events:
                current = ev
                self._run_event(ev)
                self.events_run += 1
            current = None
            self._finish()
        except ScriptFailure as f:
            line = f.line if f.line is not None else (current.line if current else None)
            failure = Failure(f.kind, f.message, line, self._line_text(line), f.expected, f.actual)
        except A.UndefinedSymbolError as e:          # the script needs a -D definition
            line = current.line if current else None
            failure = Failure("script", str(e), line, self._line_text(line))
        except Exception as e:                      # the engine (or runner) blew up
            line = current.line if current else None
            tb = traceback.format_exception(type(e), e, e.__traceback__)
            where = "".join(tb[-3:]).strip()
            failure = Failure("engine", f"{type(e).__name__}: {e}", line, self._line_text(line),
                              None, where)
        self._flush_trace()
        return ScriptResult(script=self.script.path, passed=failure is None,
                            profile=self.options.profile, failure=failure, notes=self.notes,
                            skipped=self.skipped, output=self.output, trace=self.trace,
                            events_run=self.events_run,
                            events_total=len(events))

    def _line_text(self, line: int | None) -> str | None:
        if line is None or not (0 < line <= len(self.lines)):
            return None
        return self.lines[line - 1].strip()

    def _run_event(self, ev: A.Event) -> None:
        start, rend, bend = self._schedule(ev)
        if isinstance(ev, (A.Packet, A.UdpPacket, A.IcmpPacket)):
            if isinstance(ev, (A.UdpPacket, A.IcmpPacket)):
                raise unsupported(f"{'UDP' if isinstance(ev, A.UdpPacket) else 'ICMP'} packets "
                                  "(synack is a TCP engine)")
            if ev.inbound:
                self._wait_for(ev, start)
                self._inject(ev)
            else:
                self._expect(ev, start, rend)
        elif isinstance(ev, A.Syscall):
            self._syscall(ev, start, bend)
        elif isinstance(ev, A.PythonBlock):
            self._wait_for(ev, start)
            self._sample()
            self.code_blocks.append((ev, self.tcp_info(self._sut_conn()), self.now_us))
        elif isinstance(ev, A.ShellCommand):
            self._wait_for(ev, start)
            self._shell(ev)
        else:
            raise unsupported(f"event {ev}")
        self.last_event = (ev, start)

    def _schedule(self, ev: A.Event) -> tuple[int, int | None, int | None]:
        """packetdrill's adjust_relative_event_times: the event's start,
        range end and blocking end, in script microseconds."""
        t = ev.time
        assert t is not None
        if t.kind == "absolute":
            base = 0
        elif (self.last_event is not None and _is_inbound(self.last_event[0])
              and _is_inbound(ev)):
            base = self.last_event[1]
        else:
            base = self.now_us
        if self.last_event is None:
            if t.kind != "any" and t.usecs != 0:
                raise ScriptFailure("script", "first event should be at time 0")
        elif (t.kind == "absolute" and self.last_event[0].time.kind == "absolute"
              and t.usecs < self.last_event[1]):
            raise ScriptFailure("script", f"time goes backward in script from "
                                          f"{self.last_event[1]} usec to {t.usecs} usec")
        if t.kind == "any":
            return self.now_us, None, None
        start = base + t.usecs
        rend = None if t.range_end_usecs is None else base + t.range_end_usecs
        bend = None if t.end_usecs is None else base + t.end_usecs
        return start, rend, bend

    # -- time ------------------------------------------------------------------------
    def _tolerance(self, expected_us: int, last_us: int | None) -> int:
        tol = self.tolerance_usecs
        if last_us is not None:
            dyn = int(self.tolerance_percent / 100.0 * (expected_us - last_us))
            tol = max(tol, dyn)
        return tol

    def _last_time(self) -> int | None:
        return None if self.last_event is None else self.last_event[1]

    def _time_error(self, kind: str, start: int, rend: int | None, actual: int,
                    last_us: int | None, what: str) -> str | None:
        """packetdrill's verify_time: None when in time, else the message."""
        if kind == "any":
            return None
        tol = self._tolerance(start, last_us)
        if rend is not None:
            if actual < start - tol or actual > rend + tol:
                return (f"timing error: expected {what} in time range {_secs(start)}~"
                        f"{_secs(rend)} sec but happened at {_secs(actual)} sec "
                        f"(tolerance {_secs(tol)} sec)")
            return None
        if actual < start - tol or actual > start + tol:
            return (f"timing error: expected {what} at {_secs(start)} sec but happened at "
                    f"{_secs(actual)} sec; tolerance {_secs(tol)} sec")
        return None

    def _wait_for(self, ev: A.Event, start: int) -> None:
        """Run virtual time up to an event's start (packetdrill's
        wait_for_event); fail if the script could only get there late."""
        if start > self.now_us:
            self._advance(start)
        elif self.now_us > start:
            what = ("inbound packet" if isinstance(ev, A.Packet) else
                    "system call start" if isinstance(ev, A.Syscall) else "event")
            err = self._time_error(ev.time.kind, start, None, self.now_us, self._last_time(), what)
            if err:
                raise ScriptFailure("timing", err)

    def _next_wake(self) -> tuple[int, float] | None:
        """The next time something is due: an engine timer or a blocking
        call's own timeout. (script us, engine seconds)."""
        best: tuple[int, float] | None = None
        d = self.host.next_deadline()
        if d is not None:
            best = (_us(d), d)
        if self.pending is not None and self.pending.block.wake_us is not None:
            w = self.pending.block.wake_us
            if best is None or w < best[0]:
                best = (w, w / 1_000_000)
        return best

    def _advance(self, target_us: int) -> None:
        """Fire every timer due at or before target_us, in order, then set
        the clock to target_us."""
        spins = 0
        while True:
            nxt = self._next_wake()
            if nxt is None or nxt[0] > target_us:
                break
            t_us, t_s = nxt
            spins = spins + 1 if t_us <= self.now_us else 0
            if spins > 10000:
                raise ScriptFailure("engine", f"engine timers keep firing at {_secs(t_us)} s "
                                              "without time advancing")
            self._overdue_check(max(t_us, self.now_us))
            self.now_us = max(self.now_us, t_us)
            self.host.poll(max(t_s, self.now))
            self._step()
        if target_us > self.now_us:
            self._overdue_check(target_us)
            self.now_us = target_us

    @property
    def now(self) -> float:
        return self.now_us / 1_000_000

    def _step(self) -> None:
        """After anything that may have changed the engine: collect what it
        sent, and see whether a blocking call can return now."""
        self._collect()
        self.epoll_sample()
        if self.pending is not None:
            self._try_pending()
            self._collect()
        self._sample()

    def _sample(self) -> None:
        """Let the socket-level clocks (sockstats) see every connection."""
        conns = [s.conn for s in self.fds.values() if s.conn is not None]
        sut = self._sut_conn()
        if sut is not None and all(sut is not c for c in conns):
            conns.append(sut)
        nospace = {id(s.conn) for s in self.fds.values()
                   if s.conn is not None and s.sockopts.get(("nospace",))}
        self.stats.update(self.now_us, conns, nospace)

    def tcp_info(self, obj) -> dict[str, int]:
        """TCP_INFO of a connection (or listener): the engine's snapshot
        with the socket-level clocks."""
        return snapshot(obj, self.now, self.stats.clocks(obj, self.now_us))

    def _collect(self) -> None:
        refused = self.host.stats["xmit_refused"]
        if refused != self._refused_seen:
            # data the engine did not send because the queue refused it
            self.trace.append(TraceEntry(self.now_us / 1e6, "drop", (
                f"{refused - self._refused_seen} data transmission(s) refused by the qdisc: "
                "limit 0 (the engine keeps the data unsent, as Linux does)")))
            self._refused_seen = refused
        for src, dst, seg in self.host.take_outbox():
            try:
                # IP_TOS / IPV6_TCLASS: the engine's (Config.tos, Host.tos_of)
                raw = encode_ip(src, dst, seg,
                                tos=self.host.tos_of(src, seg.src_port, dst, seg.dst_port))
            except ValueError as e:
                raise ScriptFailure("engine", f"synack sent a segment its own wire encoder "
                                              f"rejects ({e}): {seg.describe()}") from None
            if self.qdisc_limit == 0:
                # the link model: a queue that holds nothing drops every packet
                self.trace.append(TraceEntry(self.now_us / 1e6, "drop", "> " + _raw_text(
                    parse_ip_tcp(raw)) + " (dropped by the qdisc: limit 0)"))
                continue
            entry = TraceEntry(self.now_us / 1e6, "send", "")
            self.trace.append(entry)
            self.outq.append(Emitted(self.now_us, parse_ip_tcp(raw), entry))

    # -- the socket under test --------------------------------------------------------
    def new_sut(self, sock: Sock) -> None:
        self.sut = SocketUnderTest("new", sock)

    def sut_listening(self, sock: Sock) -> None:
        if self.sut is not None and self.sut.sock is sock:
            self.sut.state = "listening"

    def sut_connecting(self, sock: Sock, remote: tuple) -> None:
        if self.sut is None or self.sut.sock is not sock:
            self.sut = SocketUnderTest("new", sock)
        self.sut.state = "active_connecting"
        self.sut.live_remote = remote

    def sut_accepted(self, sock: Sock) -> None:
        sut = self.sut
        conn = sock.conn
        if sut is not None and sut.outbound_tuple() == getattr(conn, "key", None):
            sut.sock = sock

    def _sut_conn(self):
        sut = self.sut
        if sut is None:
            return None
        key = sut.outbound_tuple()
        if key is not None:
            obj = self.host.conns.get(key)
            if obj is not None:
                return obj
        if sut.sock is not None:
            return sut.sock.conn or sut.sock.listener
        return None

    def _is_sut_packet(self, p: WirePacket) -> bool:
        sut = self.sut
        if sut is None:
            return False
        if sut.outbound_tuple() == p.tuple4:
            return True
        if (sut.state == "active_syn_sent" and p.flags & SYN and not p.flags & ACK
                and sut.live_remote == (p.dst_ip, p.dst_port)):
            sut.live_local = (p.src_ip, p.src_port)
            sut.mapping.local_isn_live = p.seq
            return True
        return False

    # -- inbound packets ----------------------------------------------------------------
    def _inject(self, ev: A.Packet) -> None:
        if ev.ecn not in (None, "noecn") or ev.tos is not None or ev.flowlabel is not None:
            raise unsupported("IP ECN/TOS/flow label on an injected packet (synack's engine "
                              "does not see IP header fields)")
        if any(c in ev.flags for c in "A01234567"):
            raise unsupported("AccECN flags on an injected packet")
        bits = flags_from_script(ev.flags)
        sut = self.sut
        if sut is None or sut.state in ("new", "listening"):
            lport = self.addr.bind_port
            if sut is not None and sut.sock is not None and sut.sock.bound:
                lport = sut.sock.bound[1]
            sut = SocketUnderTest("passive_syn", None, (self.addr.local_ip, lport),
                                  (self.addr.remote_ip, self.addr.remote_port))
            sut.mapping.remote_isn = ev.start_seq
            sut.mapping.ts_ecr_scaled = self.ts_ecr_scaled
            self.sut = sut
        elif sut.state == "passive_synack_sent" and bits & ACK:
            sut.state = "passive_acked"
        elif sut.state == "active_syn_sent" and bits & SYN and bits & ACK:
            sut.state = "active_acked"
            sut.mapping.remote_isn = ev.start_seq
        if sut.live_local is None or sut.live_remote is None:
            raise ScriptFailure("script", "no connection to inject this packet into (synack "
                                          "has not sent a SYN for this socket yet)")
        sut.mapping.ts_ecr_scaled = self.ts_ecr_scaled
        parts = [ev]
        if self.gso_mss is not None and ev.length > self.gso_mss:
            parts = _gso_segments(ev, self.gso_mss)
        try:
            raws = [build_inbound(p, sut.mapping, sut.live_remote, sut.live_local) for p in parts]
        except PacketError as e:
            kind = "unsupported" if str(e).startswith("unsupported") else "script"
            raise ScriptFailure(kind, str(e)) from None
        self.trace.append(TraceEntry(self.now_us / 1e6, "inject", str(ev), ev.line))
        if len(raws) == 1:
            self.host.receive_packet(self.now, raws[0])
        else:
            self.notes.append(f"line {ev.line}: injected as {len(raws)} segments of at most "
                              f"{self.gso_mss} bytes in one batch (--mss: a GSO packet)")
            self.host.receive_packets(self.now, raws)
        self._step()

    # -- outbound packets ----------------------------------------------------------------
    def _next_sut_packet(self, limit_us: int) -> Emitted | None:
        """The next packet of the socket under test, from the queue or by
        running time forward up to limit_us."""
        while True:
            while self.outq:
                em = self.outq.pop(0)
                if self._is_sut_packet(em.pkt):
                    return em
                em.entry.text = (f"{em.pkt.src_ip}:{em.pkt.src_port} > {em.pkt.dst_ip}:"
                                 f"{em.pkt.dst_port} {_raw_text(em.pkt)} (not the socket "
                                 "under test: ignored, as packetdrill does)")
            nxt = self._next_wake()
            if nxt is None or nxt[0] > limit_us:
                return None
            self._advance(nxt[0])

    def _expect(self, ev: A.Packet, start: int, rend: int | None) -> None:
        sut = self.sut
        if sut is None:
            raise ScriptFailure("script", "no socket for this outbound packet")
        bits = flags_from_script(ev.flags)
        if sut.state == "active_connecting" and bits & SYN and not bits & ACK:
            sut.state = "active_syn_sent"
            sut.mapping.local_isn_script = ev.start_seq
        expecting_synack = sut.state == "passive_syn" and bits & SYN and bits & ACK
        if expecting_synack:
            sut.mapping.local_isn_script = ev.start_seq
        kind = ev.time.kind
        last_us = self._last_time()
        if kind == "any":
            limit = self.now_us + ANY_TIME_HORIZON_US
        else:
            limit = (rend if rend is not None else start) + self._tolerance(start, last_us)
        frags: list[Emitted] = []
        total = 0
        while True:
            em = self._next_sut_packet(limit)
            if em is None:
                break
            if expecting_synack and sut.state == "passive_syn":
                sut.state = "passive_synack_sent"
                sut.mapping.local_isn_live = em.pkt.seq
            view = to_script_space(em.pkt, sut.mapping)
            em.entry.text = view.text()
            em.entry.matched = ev.line
            if frags:
                prev = to_script_space(frags[-1].pkt, sut.mapping)
                problem = fragment_problem(prev, view)
                plen = len(em.pkt.payload)
                prev_len = len(frags[-1].pkt.payload)
                if problem is None and plen < ev.length - total and plen != prev_len:
                    problem = (f"segment of {plen} bytes after one of "
                               f"{len(frags[-1].pkt.payload)}")
                if problem is not None:
                    raise ScriptFailure(
                        "packet", f"could not glue consecutive segments into the expected "
                                  f"line ({problem}); synack sent {total} of {ev.length} bytes "
                                  "in the segments before",
                        expected=f"{ev} at {_secs(start)}",
                        actual=view.text() + f" at {_secs(em.time_us)}")
            frags.append(em)
            total += len(em.pkt.payload)
            if self.strict_segments or total >= ev.length:
                break
        if not frags:
            raise self._missing(ev, start, rend, limit)
        pkt = _aggregate(frags)
        if len(frags) > 1:
            self.notes.append(f"line {ev.line}: matched {len(frags)} segments glued together "
                              f"(packetdrill's TSO/GSO aggregation)")
        # packetdrill learns the script->live TS val mapping from every
        # outbound line whose expected and actual packets both carry TS.
        script_ts = next((o for o in (ev.options or []) if isinstance(o, A.TimestampOption)), None)
        live_ts = pkt.timestamp()
        if script_ts is not None and live_ts is not None:
            sut.mapping.learn_ts(script_ts.val, live_ts[0])
            for em in frags:                    # re-render with the TS mapping known
                em.entry.text = to_script_space(em.pkt, sut.mapping).text()
        view = to_script_space(pkt, sut.mapping)
        actual = view.text() + f" at {_secs(frags[-1].time_us)}"
        if len(frags) > 1:
            actual += f" ({len(frags)} segments glued)"
        if total != ev.length:
            if total < ev.length and not self.strict_segments:
                msg = (f"payload: expected {ev.length} bytes, synack sent {total} "
                       f"({len(frags)} segment{'s' if len(frags) > 1 else ''}) by "
                       f"{_secs(limit)} sec")
            else:
                msg = f"payload: expected {ev.length} bytes, actual {total}"
            raise ScriptFailure("packet", msg, expected=f"{ev} at {_secs(start)}", actual=actual)
        problems = compare(ev, view, ts_tick_usecs=self.ts_tick_usecs,
                           tolerance_usecs=self.tolerance_usecs)
        if problems:
            raise ScriptFailure("packet", "; ".join(problems), expected=f"{ev} at {_secs(start)}",
                                actual=actual)
        err = self._time_error(kind, start, rend, frags[-1].time_us, last_us, "outbound packet")
        if err:
            raise ScriptFailure("timing", err, expected=f"{ev} at {_secs(start)}", actual=actual)
        self._check_ts_ecr(ev, view)
        self.now_us = max(self.now_us, frags[-1].time_us)

    def _check_ts_ecr(self, ev: A.Packet, view) -> None:
        """packetdrill does not compare an outbound TS ecr; the runner
        notes a difference without failing."""
        want = next((o for o in (ev.options or []) if isinstance(o, A.TimestampOption)), None)
        got = next((o for o in view.options if o.kind == 8 and len(o.data) == 8), None)
        if want is not None and got is not None:
            ecr = int.from_bytes(got.data[4:], "big")
            if ecr != want.ecr:
                self.notes.append(f"line {ev.line}: TS ecr {ecr}, script says {want.ecr} "
                                  "(not checked, as in packetdrill)")

    def _missing(self, ev: A.Packet, start: int, rend: int | None, limit: int) -> ScriptFailure:
        """No packet by the end of the window: look further ahead to say
        what synack would have sent, and when."""
        expected = f"{ev} at {_secs(start)}" + (f"~{_secs(rend)}" if rend is not None else "")
        pending_before = self.pending
        self.pending = None          # a late blocking call must not mask the packet diagnosis
        try:
            em = self._next_sut_packet(limit + LATE_LOOKAHEAD_US)
        except ScriptFailure:
            em = None
        self.pending = pending_before
        if em is None:
            return ScriptFailure("packet", f"expected packet not sent: synack sent nothing by "
                                           f"{_secs(limit)} sec (nor in the "
                                           f"{LATE_LOOKAHEAD_US // 1_000_000} s after)",
                                 expected=expected, actual="(nothing)")
        view = to_script_space(em.pkt, self.sut.mapping)
        em.entry.text = view.text() + " (after the failure)"
        actual = view.text() + f" at {_secs(em.time_us)}"
        problems = compare(ev, view, ts_tick_usecs=0, tolerance_usecs=self.tolerance_usecs)
        if not problems:
            # the right packet, late: packetdrill's timing error
            err = self._time_error(ev.time.kind, start, rend, em.time_us, self._last_time(),
                                   "outbound packet")
            return ScriptFailure("timing", err or "late packet", expected=expected, actual=actual)
        return ScriptFailure("packet", f"expected packet not sent by {_secs(limit)} sec; the "
                                       f"next packet synack sends, at {_secs(em.time_us)} sec, "
                                       f"differs: {'; '.join(problems)}",
                             expected=expected, actual=actual)

    # -- system calls ----------------------------------------------------------------------
    def _syscall(self, ev: A.Syscall, start: int, bend: int | None) -> None:
        self._wait_for(ev, start)
        if self.pending is not None:
            self._await_idle(ev)
        self._trace_mark = len(self.trace)
        impl = getattr(self, "sys_" + ev.name, None)
        if impl is None:
            raise unsupported(f"system call {ev.name}() (the runner knows "
                              f"{', '.join(sorted(SYSCALLS))})")
        try:
            done = impl(ev)
        except _BadFd:
            done = Done(-1, "EBADF")
        except WouldBlock as wb:
            self._collect()
            if bend is not None:
                self.pending = Pending(ev, wb, start, bend, ev.time.kind)
                self.trace.insert(self._trace_mark, TraceEntry(
                    self.now_us / 1e6, "syscall", f"{_call_text(ev)} blocks ({wb.why})", ev.line))
                self._step()
                return
            done = self._implicit_block(ev, wb, start)
        except OSError as e:
            raise ScriptFailure("engine", f"the engine raised {type(e).__name__}: {e} "
                                          "where the socket API returns an error") from None
        self._collect()
        self._finish_syscall(ev, done, start, bend, at=self._trace_mark)
        self._step()

    _trace_mark = 0

    def _implicit_block(self, ev: A.Syscall, wb: WouldBlock, start: int) -> Done:
        """A blocking socket's call would block and the script gives no
        `...end`: packetdrill would sit in the call. Let timers run for the
        tolerance; if it still blocks, that is a failure."""
        limit = start + self._tolerance(start, self._last_time())
        self.pending = Pending(ev, wb, start, limit, ev.time.kind)
        self._implicit = True
        try:
            while self.pending is not None:
                nxt = self._next_wake()
                if nxt is None or nxt[0] > limit:
                    break
                self._advance(nxt[0])
        finally:
            self._implicit = False
        if self.pending is None:
            return self._implicit_done
        self.pending = None
        raise ScriptFailure("syscall", f"{ev.name}() would block ({wb.why}): the socket is "
                                       "blocking and the script gives no `...end` time, so "
                                       "packetdrill would wait here; nothing in synack "
                                       "unblocks it by itself")

    _implicit = False
    _implicit_done: Done | None = None

    def _try_pending(self) -> None:
        p = self.pending
        assert p is not None
        try:
            done = p.block.retry()
        except ScriptFailure as f:
            if f.line is None:
                f.line = p.ev.line
            raise
        if done is None:
            return
        self.pending = None
        if self._implicit:
            self._implicit_done = done
            return
        self._finish_syscall(p.ev, done, p.start_us, p.end_us)

    def _overdue_check(self, at_us: int) -> None:
        p = self.pending
        if p is None or self._implicit:
            return
        tol = self._tolerance(p.end_us, p.start_us)
        if at_us > p.end_us + tol:
            raise ScriptFailure("timing", f"timing error: expected system call return at "
                                          f"{_secs(p.end_us)} sec but {p.ev.name}() was still "
                                          f"blocked at {_secs(p.end_us + tol)} sec; tolerance "
                                          f"{_secs(tol)} sec ({p.block.why})", line=p.ev.line,
                                expected=f"{_call_text(p.ev)} returning at {_secs(p.end_us)}",
                                actual="still blocked")

    def _await_idle(self, ev: A.Syscall) -> None:
        """packetdrill waits (up to 1 s) for a blocking call to finish before
        making another call."""
        limit = self.now_us + AWAIT_IDLE_US
        while self.pending is not None:
            nxt = self._next_wake()
            if nxt is None or nxt[0] > limit:
                break
            self._advance(nxt[0])
        if self.pending is not None:
            p = self.pending
            raise ScriptFailure("syscall", f"{ev.name}() needs the system call thread, but "
                                           f"{p.ev.name}() from line {p.ev.line} is still "
                                           "blocked (packetdrill runs one blocking call at a "
                                           "time)")

    def _finish_syscall(self, ev: A.Syscall, done: Done, start: int, bend: int | None,
                        at: int | None = None) -> None:
        text = f"{_call_text(ev)} = {done.result}"
        if done.errno:
            text += f" {done.errno} ({strerror(done.errno)})"
        if done.detail:
            text += f"  [{done.detail}]"
        if bend is not None:
            text += f"  (returned at {_secs(self.now_us)})"
        entry = TraceEntry(self.now_us / 1e6, "syscall", text, ev.line)
        if at is None:
            self.trace.append(entry)
        else:
            self.trace.insert(at, entry)
        self._check_result(ev, done)
        if bend is not None:
            err = self._time_error(ev.time.kind, bend, None, self.now_us, start,
                                   "system call return")
            if err:
                raise ScriptFailure("timing", err, line=ev.line,
                                    expected=f"{_call_text(ev)} returning at {_secs(bend)}",
                                    actual=f"returned at {_secs(self.now_us)}")

    def _check_result(self, ev: A.Syscall, done: Done) -> None:
        res = ev.result
        actual = str(done.result)
        if done.errno:
            actual += f" {done.errno} ({strerror(done.errno)})"
        expected = str(res) + (f" {ev.errno}" if ev.errno else "")
        if isinstance(res, A.EllipsisExpr):
            return
        from .syscalls import eval_int
        try:
            want = eval_int(res, "result")
        except ScriptFailure:
            raise unsupported(f"result expression {res}") from None
        fd_call = ev.name in ("socket", "accept")
        if done.result == -1 and want != -1:
            raise ScriptFailure("syscall", f"expected result {want} but got -1 with errno "
                                           f"{done.errno} ({strerror(done.errno or '')})",
                                line=ev.line, expected=expected, actual=actual)
        if fd_call and want >= 0 and done.result >= 0:
            pass
        elif want != done.result:
            raise ScriptFailure("syscall", f"expected result {want} but got {done.result}",
                                line=ev.line, expected=expected, actual=actual)
        if want == -1 and ev.errno and ev.errno != done.errno:
            raise ScriptFailure("syscall", f"expected errno {ev.errno} but got {done.errno}",
                                line=ev.line, expected=expected, actual=actual)

    # -- the end ----------------------------------------------------------------------------
    def _finish(self) -> None:
        if self.pending is not None:
            p = self.pending
            tol = self._tolerance(p.end_us, p.start_us)
            self._advance(p.end_us + tol)
            if self.pending is not None:
                raise ScriptFailure("timing", f"{p.ev.name}() never returned (the script ended "
                                              f"with it blocked; expected return at "
                                              f"{_secs(p.end_us)} sec)", line=p.ev.line)
        self._run_python()
        self.trace.sort(key=lambda t: t.time)        # %{ }% entries were added last
        left = [em for em in self.outq if self._is_sut_packet(em.pkt)]
        if left:
            self.notes.append(f"{len(left)} packet(s) sent after the last expected packet were "
                              "not checked (packetdrill does not check them either)")

    def _run_python(self) -> None:
        namespace: dict = {"__name__": "__packetdrill__"}
        namespace.update(TCPINFO_SYMBOLS)
        for ev, snap, at_us in self.code_blocks:
            # A block may end its last line with a backslash (as
            # tcp-info-rwnd-limited.pkt does): packetdrill writes every block
            # into one Python file with more lines after it, so the
            # continuation meets an empty line there; end it so here too.
            code = textwrap.dedent(ev.code) + "\n\n"
            missing = [n for n in unmapped_names(code) if n not in STATS_FIELDS]
            absent = sorted(n for n in names_used(code)
                            if n.startswith("tcpi_") and n not in snap and n not in missing)
            if missing or absent:
                # Never a silent pass: an assertion the runner cannot
                # evaluate fails the script, with the reason.
                why = []
                if missing:
                    why.append(f"it reads {', '.join(missing)}, which synack does not provide")
                if absent:
                    why.append(f"no value for {', '.join(absent)} (no connection to read "
                               "TCP_INFO from)")
                raise ScriptFailure("unsupported", "unsupported: %{ }% block cannot be "
                                    "evaluated: " + "; ".join(why), line=ev.line,
                                    expected=ev.code.strip())
            namespace.update(snap)
            values = ", ".join(f"{n}={snap[n]}" for n in sorted(names_used(code)) if n in snap)
            out = io.StringIO()
            try:
                # What a block prints is kept in the result (`output`), so
                # that --json stays one JSON document.
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                    exec(compile(code, f"{self.script.path}:{ev.line}", "exec"), namespace)
            except AssertionError as e:
                self.output += out.getvalue()
                raise ScriptFailure("python", f"assertion failed in %{{ }}% block: {e} "
                                              f"({values})", line=ev.line,
                                    expected=ev.code.strip(), actual=values) from None
            except Exception as e:
                self.output += out.getvalue()
                raise ScriptFailure("python", f"error in %{{ }}% block: {type(e).__name__}: {e}",
                                    line=ev.line) from None
            self.output += out.getvalue()
            self.trace.append(TraceEntry(at_us / 1e6, "python",
                                         f"%{{ }}% passed ({values})", ev.line))

    def _flush_trace(self) -> None:
        for em in self.outq:
            if not em.entry.text:
                if self._is_sut_packet(em.pkt) and self.sut is not None:
                    em.entry.text = to_script_space(em.pkt, self.sut.mapping).text() + \
                        " (not checked)"
                else:
                    em.entry.text = _raw_text(em.pkt) + " (not checked)"
        for entry in self.trace:
            if entry.what == "send" and not entry.text:
                entry.text = "(packet)"


def _is_inbound(ev: A.Event) -> bool:
    return isinstance(ev, (A.Packet, A.UdpPacket, A.IcmpPacket)) and ev.inbound


def _gso_segments(ev: A.Packet, mss: int) -> list[A.Packet]:
    """An inbound line longer than --mss cut as GSO cuts it: mss-sized
    segments, FIN and PSH on the last one only."""
    out = []
    seq, left = ev.start_seq, ev.length
    while left > 0:
        n = min(mss, left)
        last = n == left
        flags = ev.flags if last else ev.flags.replace("F", "").replace("P", "")
        out.append(dataclasses.replace(ev, flags=flags, start_seq=seq, end_seq=seq + n, length=n))
        seq, left = seq + n, left - n
    return out


def _aggregate(frags: list[Emitted]) -> WirePacket:
    """packetdrill's aggregate_packets: headers of the last segment,
    sequence number and CWR of the first, payloads concatenated."""
    if len(frags) == 1:
        return frags[0].pkt
    first, last = frags[0].pkt, frags[-1].pkt
    flags = (last.flags & ~CWR) | (first.flags & CWR)
    return WirePacket(last.src_ip, last.dst_ip, last.src_port, last.dst_port, first.seq,
                      last.ack, flags, last.window, last.urgent, last.options,
                      b"".join(f.pkt.payload for f in frags), last.tos, last.ttl,
                      last.header_len)


def _raw_text(p: WirePacket) -> str:
    from .packets import flags_to_script, options_to_text
    out = f"{flags_to_script(p.flags)} seq {p.seq} ack {p.ack} win {p.window} len {len(p.payload)}"
    if p.options:
        out += " " + options_to_text(p.options)
    return out


def _call_text(ev: A.Syscall) -> str:
    return f"{ev.name}({', '.join(map(str, ev.args))})"


# --------------------------------------------------------------------------
# public API

def run_script(script: str | os.PathLike | A.Script, profile: str | None = None,
               options: RunOptions | None = None) -> ScriptResult:
    """Run one script (a path or a parsed `Script`) against a fresh host,
    with `profile` (default: the options' profile, else linux)."""
    opts = RunOptions(**vars(options)) if options is not None else RunOptions()
    if profile is not None:
        opts.profile = profile
    if not isinstance(script, A.Script):
        path = os.fspath(script)
        try:
            script = parse_file(path, defines=opts.defines or None)
        except (ScriptSyntaxError, OSError) as e:
            return ScriptResult(script=path, passed=False, profile=opts.profile,
                                failure=Failure("script", f"cannot parse: {e}"))
    try:
        runner = Runner(script, opts)
    except ScriptFailure as f:
        return ScriptResult(script=script.path, passed=False, profile=opts.profile,
                            failure=Failure(f.kind, f.message, f.line))
    return runner.run()


def run_text(text: str, path: str = "<string>", options: RunOptions | None = None) -> ScriptResult:
    """Run script text (handy in tests)."""
    try:
        script = parse_text(text, path, defines=(options.defines or None) if options else None)
    except ScriptSyntaxError as e:
        return ScriptResult(script=path, passed=False,
                            profile=(options or RunOptions()).profile,
                            failure=Failure("script", f"cannot parse: {e}"))
    return run_script(script, options=options)


def run_scripts(paths, options: RunOptions | None = None) -> list[ScriptResult]:
    return [run_script(p, options=options) for p in paths]


def shared_dir() -> Path | None:
    """The shared packetdrill test data: $SYNACK_PACKETDRILL_DIR, or
    shared/conformance/packetdrill beside the repository (or beside the
    current directory or one above it)."""
    env = os.environ.get("SYNACK_PACKETDRILL_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    cwd = Path.cwd().resolve()
    for up in [*here.parents, cwd, *cwd.parents]:       # the package, or where the user is
        candidates.append(up.parent / "shared" / "conformance" / "packetdrill")
        candidates.append(up / "shared" / "conformance" / "packetdrill")
    for c in candidates:
        if (c / "tcp").is_dir():
            return c
    return None


def target_scripts(root: Path | None = None) -> list[Path]:
    root = root or shared_dir()
    if root is None or not (root / "TARGET.txt").exists():
        return []
    return [root / line.strip() for line in (root / "TARGET.txt").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def all_scripts(root: Path | None = None) -> list[Path]:
    root = root or shared_dir()
    if root is None:
        return []
    return sorted((root / "tcp").rglob("*.pkt"))


# --------------------------------------------------------------------------
# output

@dataclass(frozen=True)
class Deviation:
    """A shared script synack fails on purpose, because it follows the RFC
    where the script expects older Linux behaviour. It is a deviation, not a
    failure, only if the script fails exactly this way (the line, the kind,
    and what was expected and what synack sent); anything else is a failure."""
    section: str                    # the RFC section synack follows
    why: str
    profile: str
    line: int
    kind: str
    expected: str                   # how the failure's expected text starts
    actual: str                     # how the failure's actual text starts

    def matches(self, r: ScriptResult) -> bool:
        f = r.failure
        return (not r.passed and r.profile == self.profile and f is not None
                and f.line == self.line and f.kind == self.kind
                and (f.expected or "").startswith(self.expected)
                and (f.actual or "").startswith(self.actual))


#: Documented RFC-over-Linux deviations among the shared scripts (paths
#: relative to the shared folder). `synack packetdrill` prints each one as it
#: happens and in the summary, with its RFC section, and does not count it
#: towards the exit status; docs/packetdrill.md and docs/conformance.md list them.
RFC_DEVIATIONS: dict[str, Deviation] = {
    "tcp/ts_recent/invalid_ack.pkt": Deviation(
        section="RFC 9293 §3.10.7.4",
        why="an ACK of data not yet sent (SEG.ACK > SND.NXT) is answered with an ACK and "
            "dropped (fifth step of the ESTABLISHED checks); the script expects silence, "
            "as older kernels did; Linux 6.18 sends the ACK too",
        profile="linux", line=24, kind="packet",
        expected="> . 1:1(0) ack 1001 ", actual="> . 1:1(0) ack 1 "),
}


def deviation_for(r: ScriptResult) -> Deviation | None:
    """The documented deviation `r` shows, or None (a pass, or a real failure)."""
    d = RFC_DEVIATIONS.get(_rel(r.script))
    return d if d is not None and d.matches(r) else None


def _rel(path: str) -> str:
    root = shared_dir()
    try:
        return str(Path(path).resolve().relative_to(root.resolve())) if root else path
    except ValueError:
        return path


def format_result(r: ScriptResult, *, verbose: bool = False, trace_limit: int = 60) -> str:
    out = [f"{r.status} {_rel(r.script)}"]
    if r.failure is not None or verbose:
        f = r.failure
        if f is not None:
            where = f"line {f.line}" if f.line else "script"
            out.append(f"  {where}: {f.source}" if f.source else f"  {where}")
            msg = f.message if f.message.startswith(f.kind) else f"{f.kind}: {f.message}"
            out.append(f"    {msg}")
            if f.expected is not None:
                out.append(f"    expected: {f.expected}")
            if f.actual is not None:
                out.append(f"    actual:   {f.actual}")
        for s in r.skipped:
            out.append(f"  skipped: {s}")
        for n in r.notes:
            out.append(f"  note: {n}")
        trace = r.trace if verbose else r.trace[-trace_limit:]
        if trace:
            hidden = len(r.trace) - len(trace)
            out.append("  trace" + (f" (last {len(trace)} of {len(r.trace)})" if hidden else "")
                       + ": script time, event, script line")
            for t in trace:
                out.append(f"    {t.time:10.6f}  {_trace_text(t)}")
    elif r.skipped:
        for s in r.skipped:
            out.append(f"  skipped: {s}")
    if r.output and (verbose or r.failure is not None):
        out.append("  %{ }% output:")
        out.extend(f"    {line}" for line in r.output.splitlines())
    return "\n".join(out)


def _trace_text(t: TraceEntry) -> str:
    if t.what == "send":
        text = t.text if t.text.startswith(">") else "> " + t.text
        if t.matched is not None:
            return f"{text}  [line {t.matched}]"
        return text
    if t.what == "syscall":
        return f"  {t.text}  [line {t.line}]"
    if t.line is not None:
        return f"{t.text}  [line {t.line}]"
    return t.text


def main(argv: list[str] | None = None) -> int:
    """`synack packetdrill` / `python -m synack.packetdrill`. Exit status 0
    when every script passes, 1 otherwise, 2 on usage errors (one line,
    `synack: error: ...`)."""
    from ..usage import UserError, report
    try:
        return _main(argv)
    except UserError as e:
        report(str(e))
        return e.status
    except BrokenPipeError:                      # `synack packetdrill --json ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _check_script(p: Path) -> None:
    """A readable text file, or a usage error naming it."""
    from ..usage import UserError
    if not p.exists():
        raise UserError(f"{p}: no such file", 2)
    if not p.is_file():
        raise UserError(f"{p}: not a file", 2)
    try:
        head = p.read_bytes()[:65536]
    except OSError as e:
        raise UserError(f"{p}: cannot read it ({e.strerror})", 2) from None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = "\0"
    if "\0" in text:
        raise UserError(f"{p}: not a packetdrill script (a binary file)", 2)


def _main(argv: list[str] | None = None) -> int:
    from ..usage import ArgumentParser, UserError, float_arg, int_arg
    ap = ArgumentParser(
        prog="synack packetdrill",
        description="Run packetdrill scripts against synack in virtual time.")
    ap.add_argument("scripts", nargs="*", help=".pkt files (or directories)")
    ap.add_argument("--profile", default="linux", choices=tuple(_config.PROFILES),
                    help=f"engine profile: {', '.join(_config.PROFILES)} (default: linux)")
    ap.add_argument("--json", action="store_true", help="machine-readable results on stdout")
    ap.add_argument("--all", action="store_true",
                    help="run every script of the shared packetdrill set")
    ap.add_argument("--target", action="store_true",
                    help="run the scripts listed in the shared set's TARGET.txt")
    ap.add_argument("--strict_segments", "--strict-segments", action="store_true", default=None,
                    help="one expected line matches exactly one segment")
    ap.add_argument("--tolerance_usecs", "--tolerance-usecs", type=int_arg(0), default=None)
    ap.add_argument("--tolerance_percent", "--tolerance-percent", default=None,
                    type=float_arg(0.0, 100.0, what="a percentage from 0 to 100"))
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override an engine Config field (repeatable), e.g. --set "
                         "max_rcvbuf=15728640")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print notes and the full trace for every script")
    ap.add_argument("-D", "--define", action="append", default=[], metavar="NAME=VALUE",
                    help="a packetdrill definition, substituted for NAME in the script "
                         "(repeatable), e.g. -D TFO_COOKIE=3021b9d889017eeb")
    pd = ap.add_argument_group("packetdrill options (as in a script's --name=value lines; "
                               "given here they override the script's)")
    for name, (takes_arg, _meaning) in OPTIONS.items():
        if name in _CLI_OWN:
            continue
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        if takes_arg:
            pd.add_argument(*flags, dest=f"pd_{name}", default=None, metavar="VALUE")
        else:
            pd.add_argument(*flags, dest=f"pd_{name}", action="store_true", default=False)
    args = ap.parse_args(argv)

    if args.profile not in _config.PROFILES:
        print(f"unknown profile {args.profile!r}; known: {', '.join(_config.PROFILES)}",
              file=sys.stderr)
        return 2
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise UserError(f"--set wants FIELD=VALUE, not {item!r}")
        k, v = item.split("=", 1)
        if k not in _config.Config.__dataclass_fields__:
            raise UserError(f"--set {item}: no engine setting {k!r} (the fields of "
                            f"synack.engine.config.Config)")
        overrides[k] = _parse_value(v)
    base = _config.profile(args.profile)
    for k, v in overrides.items():               # the engine's own checks (Config), per field
        try:
            base.replace(**{k: v})
        except (TypeError, ValueError) as e:
            raise UserError(f"--set {k}={v!r}: {e}") from None
    paths: list[Path] = []
    if args.all or args.target:
        root = shared_dir()
        if root is None:
            raise UserError("cannot find the shared packetdrill scripts: looked for "
                            "shared/conformance/packetdrill beside the repository and the current "
                            "directory; set SYNACK_PACKETDRILL_DIR to that folder")
        paths.extend(all_scripts(root) if args.all else target_scripts(root))
    for s in args.scripts:
        p = Path(s)
        if p.is_dir():
            found = sorted(p.rglob("*.pkt"))
            if not found:
                raise UserError(f"{p}: a directory without .pkt scripts")
            paths.extend(found)
        else:
            _check_script(p)
            paths.append(p)
    if not paths:
        raise UserError("no scripts given: name .pkt files or directories, or use --target "
                        "or --all")
    defines = {}
    for item in args.define:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UserError(f"bad definition {item!r}: -D wants NAME=VALUE")
        defines[name] = value
    script_options: list[tuple[str, str | None]] = []
    for name, (takes_arg, _meaning) in OPTIONS.items():
        if name in _CLI_OWN:
            continue
        value = getattr(args, f"pd_{name}")
        if takes_arg and value is not None:
            script_options.append((name, value))
        elif not takes_arg and value:
            script_options.append((name, None))
    opts = RunOptions(profile=args.profile, strict_segments=args.strict_segments,
                      tolerance_usecs=args.tolerance_usecs,
                      tolerance_percent=args.tolerance_percent, config=overrides,
                      script_options=script_options, defines=defines)
    results = []
    for p in paths:
        r = run_script(p, options=opts)
        results.append(r)
        if not args.json:
            print(format_result(r, verbose=args.verbose), flush=True)
            d = deviation_for(r)
            if d is not None:
                print(f"  a documented RFC-over-Linux deviation ({d.section}): {d.why}", flush=True)
    passed = sum(r.passed for r in results)
    deviating = [r for r in results if deviation_for(r) is not None]
    failed = [r for r in results if not r.passed and deviation_for(r) is None]
    if args.json:
        devs = []
        for r in deviating:
            d = deviation_for(r)
            assert d is not None
            devs.append({"script": _rel(r.script), "section": d.section, "why": d.why})
        json.dump({"profile": args.profile, "passed": passed, "total": len(results),
                   "failed": len(failed), "deviations": devs,
                   "results": [r.to_dict() for r in results]}, sys.stdout, indent=1)
        print()
    else:
        print(f"\n{passed}/{len(results)} passed"
              + (f"; {len(deviating)} failed as documented (synack follows the RFC), "
                 f"{len(failed)} other failure{'s' if len(failed) != 1 else ''}" if deviating else ""))
        if deviating:
            print("documented RFC-over-Linux deviations (not counted in the exit status):")
            for r in deviating:
                d = deviation_for(r)
                assert d is not None
                print(f"  {_rel(r.script)}: {_one_line(r.failure)} -- {d.section}: {d.why}")
        if failed:
            print("failed:")
            for r in failed:
                print(f"  {_rel(r.script)}: {_one_line(r.failure)}")
    # 0 when every script passed or failed only as documented (RFC_DEVIATIONS)
    return 0 if not failed else 1


#: options the command line has as its own flags (with the same meaning)
_CLI_OWN = {"tolerance_usecs", "tolerance_percent", "strict_segments", "verbose", "define"}


def _one_line(f: Failure | None) -> str:
    if f is None:
        return ""
    msg = f.message if f.message.startswith(f.kind) else f"{f.kind}: {f.message}"
    return f"line {f.line}: {msg}" if f.line else msg


def _parse_value(v: str):
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


if __name__ == "__main__":                       # pragma: no cover
    sys.exit(main())
