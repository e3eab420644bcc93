"""Runs for the explorer: a run *spec* (plain JSON) in, the trace, the ladder
rows and per-moment TCB snapshots out.

A spec names a scenario (or `"custom"`, a run composed on the page) with the
command line's options, plus *edits*: segments to drop, delay, duplicate or
corrupt, and RSTs or SYNs injected by a third party. The engine runs the
whole thing again from the start, so the same spec always gives the same run
(the simulator is deterministic, see `synack.sim`).

Nothing here changes the engine or the simulator. The explorer watches the
run through what they already offer:

* `Network.faults`: a first fault that never matches sees every segment a
  host sends (just after its `send` record), counts them and takes a TCB
  snapshot; the edits are further faults that match one segment by its
  ordinal among the `send` records;
* `Host.on_state` / `Host.on_timer`, wrapped: a snapshot after each state
  change and timer;
* the `Connection`, `TimeWait` and `Listener` objects' attributes, read.
"""
from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..engine.segment import RST, SYN, Options as SegOptions, Segment
from ..engine.seq import MASK
from ..sim.network import Fault
from ..engine.states import State
from ..engine.timewait import TimeWait

MAX_EDITS = 64
MAX_ACTIONS = 200
MAX_BYTES = 64 * 1024 * 1024
MAX_UNTIL = 7 * 86400.0
MAX_RECORDS = 400_000            #: a run that records more is refused (413-like, as 400)

EDIT_OPS = ("drop", "delay", "duplicate", "corrupt", "rst", "syn")
ACTIONS = ("listen", "connect", "send", "shutdown", "close", "abort", "stop-reading",
           "resume-reading", "flood")
PROFILES = ("rfc", "linux")


class SpecError(ValueError):
    """A spec the explorer cannot run; the message is for the user."""


# --------------------------------------------------------------------- validation
def _num(d: dict, key: str, default, lo: float, hi: float, *, where: str, integer=False,
         allow_none=False):
    v = d.get(key, default)
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                raise SpecError(f"{where}{key}: {v!r} is not a number") from None
        else:
            raise SpecError(f"{where}{key}: {v!r} is not a number")
    if isinstance(v, float) and not math.isfinite(v):
        raise SpecError(f"{where}{key}: {v!r} is not a finite number")
    if not lo <= v <= hi:
        raise SpecError(f"{where}{key}: {v:g} is out of range ({lo:g} to {hi:g})")
    if integer:
        if int(v) != v:
            raise SpecError(f"{where}{key}: {v:g} is not a whole number")
        return int(v)
    return float(v)


def _bool(d: dict, key: str, default: bool, where: str = "") -> bool:
    v = d.get(key, default)
    if isinstance(v, bool):
        return v
    if v in ("1", "true", "on", 1):
        return True
    if v in ("0", "false", "off", 0):
        return False
    raise SpecError(f"{where}{key}: {v!r} is not true or false")


def _choice(d: dict, key: str, default: str, choices, where: str = "") -> str:
    v = d.get(key, default)
    if v not in choices:
        raise SpecError(f"{where}{key}: {v!r} is not one of {', '.join(map(str, choices))}")
    return v


def normalize(spec: Any) -> dict:
    """Check a spec and return it with every default filled in (the canonical
    form: two specs that mean the same run normalize to the same dict)."""
    from ..scenarios import names
    if not isinstance(spec, dict):
        raise SpecError("a run is described by a JSON object")
    known = {"scenario", "seed", "profile", "loss", "delay", "msl", "all_options", "edits",
             "custom"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise SpecError(f"unknown field(s): {', '.join(unknown)}")
    name = spec.get("scenario", "lifecycle")
    if name != "custom" and name not in names():
        raise SpecError(f"no scenario {name!r}; known: {', '.join(names())}, custom")
    out: dict = {"scenario": name}
    out["seed"] = _num(spec, "seed", 1, 0, 2**32 - 1, where="", integer=True)
    out["profile"] = _choice(spec, "profile", "rfc", PROFILES)
    out["loss"] = _num(spec, "loss", None, 0, 0.9, where="", allow_none=True)
    out["delay"] = _num(spec, "delay", None, 0, 10, where="", allow_none=True)
    out["msl"] = _num(spec, "msl", None, 0.001, 3600, where="", allow_none=True)
    out["all_options"] = _bool(spec, "all_options", False)
    edits = spec.get("edits") or []
    if not isinstance(edits, list):
        raise SpecError("edits: a list is expected")
    if len(edits) > MAX_EDITS:
        raise SpecError(f"edits: at most {MAX_EDITS}")
    out["edits"] = [_edit(e, i) for i, e in enumerate(edits)]
    if name == "custom":
        if out["loss"] is not None or out["delay"] is not None:
            raise SpecError("a composed run has its own link: set custom.link's loss and delay")
        out["custom"] = _custom(spec.get("custom") or {})
    elif spec.get("custom") is not None:
        raise SpecError("custom: only with \"scenario\": \"custom\"")
    return out


def _edit(e: Any, i: int) -> dict:
    where = f"edit {i + 1}: "
    if isinstance(e, str):
        e = parse_edit(e)
    if not isinstance(e, dict):
        raise SpecError(f"{where}an object is expected")
    op = _choice(e, "op", None, EDIT_OPS, where)
    if op in ("rst", "syn"):
        return {"op": op, "at": _num(e, "at", None, 0, MAX_UNTIL, where=where),
                "to": _choice(e, "to", "server", ("client", "server"), where)}
    d = {"op": op, "seg": _num(e, "seg", None, 0, MAX_RECORDS, where=where, integer=True)}
    if op == "delay":
        d["by"] = _num(e, "by", 0.5, 0.000001, 3600, where=where)
    return d


def parse_edit(text: str) -> dict:
    """The URL form of an edit: `drop:12`, `delay:12:0.5`, `duplicate:12`,
    `corrupt:12`, `rst:server:1.5`, `syn:client:0.2`."""
    parts = text.split(":")
    op = parts[0]
    try:
        if op in ("drop", "duplicate", "corrupt") and len(parts) == 2:
            return {"op": op, "seg": int(parts[1])}
        if op == "delay" and len(parts) in (2, 3):
            return {"op": op, "seg": int(parts[1]), "by": float(parts[2]) if len(parts) == 3 else 0.5}
        if op in ("rst", "syn") and len(parts) == 3:
            return {"op": op, "to": parts[1], "at": float(parts[2])}
    except ValueError:
        pass
    raise SpecError(f"edit {text!r}: expected drop:N, delay:N:SECONDS, duplicate:N, corrupt:N, "
                    f"rst:server|client:TIME or syn:server|client:TIME")


def edit_text(e: dict) -> str:
    if e["op"] in ("rst", "syn"):
        return f"{e['op']}:{e['to']}:{e['at']:g}"
    if e["op"] == "delay":
        return f"delay:{e['seg']}:{e['by']:g}"
    return f"{e['op']}:{e['seg']}"


def _custom(c: Any) -> dict:
    if not isinstance(c, dict):
        raise SpecError("custom: an object is expected")
    unknown = sorted(set(c) - {"link", "options", "actions", "until"})
    if unknown:
        raise SpecError(f"custom: unknown field(s): {', '.join(unknown)}")
    link = c.get("link") or {}
    if not isinstance(link, dict):
        raise SpecError("custom.link: an object is expected")
    w = "link."
    out_link = {"delay": _num(link, "delay", 0.010, 0, 10, where=w),
                "loss": _num(link, "loss", 0.0, 0, 0.9, where=w),
                "reorder": _num(link, "reorder", 0.0, 0, 1, where=w),
                "duplicate": _num(link, "duplicate", 0.0, 0, 1, where=w),
                "bandwidth": _num(link, "bandwidth", None, 1000, 1e11, where=w, allow_none=True)}
    o = c.get("options") or {}
    if not isinstance(o, dict):
        raise SpecError("custom.options: an object is expected")
    w = "options."
    opts = {"window_scaling": _bool(o, "window_scaling", False, w),
            "timestamps": _bool(o, "timestamps", False, w),
            "sack": _bool(o, "sack", False, w),
            "nagle": _bool(o, "nagle", True, w),
            "delayed_ack": _bool(o, "delayed_ack", True, w),
            "syn_cookies": _choice(o, "syn_cookies", "when-full", ("off", "when-full", "always"), w),
            "backlog": _num(o, "backlog", 128, 1, 65535, where=w, integer=True),
            "congestion_control": _choice(o, "congestion_control", "cubic", ("cubic", "reno"), w),
            "rcvbuf": _num(o, "rcvbuf", 65535, 1, 1 << 30, where=w, integer=True)}
    acts = c.get("actions")
    if acts is None:
        acts = [{"t": 0, "who": "server", "do": "listen"}, {"t": 0, "who": "client", "do": "connect"},
                {"t": 0.1, "who": "client", "do": "send", "bytes": 1000},
                {"t": 0.5, "who": "client", "do": "close"}, {"t": 0.6, "who": "server", "do": "close"}]
    if not isinstance(acts, list):
        raise SpecError("custom.actions: a list is expected")
    if len(acts) > MAX_ACTIONS:
        raise SpecError(f"custom.actions: at most {MAX_ACTIONS}")
    out_acts = []
    total = 0
    for i, a in enumerate(acts):
        w = f"action {i + 1}: "
        if not isinstance(a, dict):
            raise SpecError(f"{w}an object is expected")
        do = _choice(a, "do", None, ACTIONS, w)
        who = _choice(a, "who", "attacker" if do == "flood" else "client",
                      ("client", "server", "attacker"), w)
        if (who == "attacker") != (do == "flood"):
            raise SpecError(f"{w}only the attacker floods, and the attacker only floods")
        act = {"t": _num(a, "t", 0, 0, MAX_UNTIL, where=w), "who": who, "do": do}
        if do == "send":
            act["bytes"] = _num(a, "bytes", 1000, 1, MAX_BYTES, where=w, integer=True)
            total += act["bytes"]
        if do == "flood":
            act["count"] = _num(a, "count", 4, 1, 1000, where=w, integer=True)
        out_acts.append(act)
    if total > MAX_BYTES:
        raise SpecError(f"custom.actions: at most {MAX_BYTES} bytes in all")
    until = _num(c, "until", 300, 0.001, MAX_UNTIL, where="custom.")
    return {"link": out_link, "options": opts,
            "actions": sorted(out_acts, key=lambda a: a["t"]), "until": until}


def spec_key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------- the run
TIMERS = (("RTO", "t_rexmt"), ("delayed ACK", "t_delack"), ("persist", "t_persist"),
          ("keepalive", "t_keep"), ("FIN_WAIT_2", "t_fin2"), ("TLP", "t_pto"))


def _ep(ip: str, port) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def snapshot_host(sh) -> list[dict]:
    """What a host holds now: its listeners and connections (TIME-WAIT entries
    included), read from the engine's own objects."""
    host = sh.host
    out = []
    for lst in host.listeners.values():
        out.append({"kind": "listener", "local": _ep(lst.local_ip or "*", lst.local_port),
                    "state": str(lst.state), "syn_queue": len(lst.syn_queue),
                    "accept_queue": len(lst.accept_queue), "backlog": lst.backlog})
    for c in host.connections():
        st = str(c.state)
        d: dict = {"kind": "connection", "local": _ep(c.local_ip, c.local_port),
                   "remote": _ep(c.remote_ip, c.remote_port), "state": st}
        if isinstance(c, TimeWait):                          # a TIME-WAIT table entry
            conn = c.conn
            if conn is not None:                 # the connection it was: for relative numbers
                d.update(iss=conn.iss, irs=conn.irs)
            d.update(snd_nxt=c.snd_nxt, rcv_nxt=c.rcv_nxt, rcv_wnd=c.rcv_wnd,
                     timers={"TIME_WAIT 2MSL": c.deadline} if math.isfinite(c.deadline) else {})
        else:
            cc = c.cc
            srtt = c.rtt.srtt
            d.update(iss=c.iss, irs=c.irs, snd_una=c.snd_una, snd_nxt=c.snd_nxt,
                     snd_wnd=c.snd_wnd, rcv_nxt=c.rcv_nxt,
                     rcv_wnd=(c.rcv_adv - c.rcv_nxt) & MASK if c.rcv_adv else 0,
                     cwnd=cc.cwnd if cc is not None else None,
                     ssthresh=(cc.ssthresh if cc is not None and cc.ssthresh < (1 << 30)
                               else None),
                     srtt=srtt, rto=c.rtt.current(), mss=c.snd_mss,
                     unacked=(c.snd_nxt - c.snd_una) & MASK,
                     timers={name: getattr(c, attr) for name, attr in TIMERS
                             if getattr(c, attr, None) is not None})
        out.append(d)
    return out


@dataclass
class Run:
    spec: dict
    result: Any                          #: scenarios.Result
    dicts: list[dict]
    records: list                        #: the trace's Records (segments keep their payload)
    snap_at: list[int]                   #: record count when each snapshot was taken
    snaps: list[dict]
    rows: list[dict] = field(default_factory=list)
    row_record: list[int] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    send_index: list[int] = field(default_factory=list)   #: send ordinal -> record index
    ladder: Any = None                   #: a loaded capture's ladder (its inferred states)

    def tcb(self, record_index: int) -> dict:
        """The hosts' TCBs at trace record `record_index`: the last snapshot taken
        with that record in the trace (at a `deliver`, before the segment is
        processed)."""
        k = bisect.bisect_right(self.snap_at, record_index + 1) - 1
        return self.snaps[k] if k >= 0 else {}


class _Watch:
    """The observer and the edits, as simulator faults."""

    def __init__(self, st, edits: list[dict]):
        self.st = st
        self.net = st.net
        self.sends = 0               # send records so far
        self.snap_at: list[int] = []
        self.snaps: list[dict] = []
        self.restore: list = []
        self.wrapped: set[int] = set()
        self.applied: list = []
        self._current = -1
        self.edits_by_seg: dict[int, list[dict]] = {}
        for e in edits:
            if "seg" in e:
                self.edits_by_seg.setdefault(e["seg"], []).append(e)

    def snapshot(self) -> None:
        n = len(self.net.trace.records)
        if n > MAX_RECORDS:
            raise SpecError(f"the run records more than {MAX_RECORDS} events: make it shorter "
                            f"(less data, a shorter time)")
        snap = {sh.host.name: snapshot_host(sh) for sh in self.net.hosts}
        if self.snap_at and self.snap_at[-1] == n:
            self.snaps[-1] = snap
        else:
            self.snap_at.append(n)
            self.snaps.append(snap)

    def install(self) -> None:
        net = self.net
        # the observer: first in the list, never matches
        net.faults.insert(0, Fault(self._observe, "delay", None, 0.0))
        for k, es in sorted(self.edits_by_seg.items()):
            for e in es:
                if e["op"] == "drop":
                    f = Fault(self._is(k), "drop", 1)
                elif e["op"] == "delay":
                    f = Fault(self._is(k), "delay", 1, e["by"])
                elif e["op"] == "duplicate":
                    f = Fault(self._duplicate(k), "delay", 1, 0.0)
                else:
                    f = Fault(self._corrupt(k), "delay", 1, 0.0)
                net.faults.insert(1, f)
                self.applied.append((e, f))

    def check_applied(self) -> None:
        """An edit of a segment the run does not have is the user's mistake: say so."""
        for e, f in self.applied:
            if not f.hits:
                raise SpecError(f"edit {edit_text(e)}: the run has no segment #{e['seg']} "
                                f"(it has {self.sends}, #0 to #{self.sends - 1}), or another "
                                f"edit of that segment came first")

    def wrap_hosts(self) -> None:
        for sh in self.net.hosts:
            if id(sh) in self.wrapped:
                continue
            host = sh.host
            on_state, on_timer = host.on_state, host.on_timer

            def st_hook(h, obj, old, new, cause, now, _f=on_state):
                _f(h, obj, old, new, cause, now)
                self.snapshot()

            def tm_hook(h, obj, what, now, _f=on_timer):
                _f(h, obj, what, now)
                self.snapshot()
            host.on_state, host.on_timer = st_hook, tm_hook
            self.wrapped.add(id(sh))

    def _observe(self, pkt) -> bool:
        if len(self.wrapped) != len(self.net.hosts):
            self.wrap_hosts()
        if self.restore:
            for lp, value in self.restore:
                lp.corrupt = value
            self.restore = []
        self.sends += 1
        self._current = self.sends - 1
        self.snapshot()
        return False

    def _is(self, k: int):
        return lambda pkt: self._current == k

    def _duplicate(self, k: int):
        def match(pkt) -> bool:
            if self._current == k:
                src = pkt.src
                self.net.inject(src, pkt.dst, pkt.seg)
                return True
            return False
        return match

    def _corrupt(self, k: int):
        def match(pkt) -> bool:
            if self._current != k:
                return False
            sender = self._host(pkt.src)
            receiver = self._host(pkt.dst)
            if sender is not None and receiver is not None and sender is not receiver:
                lp = self.net.path(sender, receiver)
                self.restore.append((lp, lp.corrupt))
                lp.corrupt = 1.0
            return True
        return match

    def _host(self, ip: str):
        for sh in self.net.hosts:
            if ip in sh.host.addresses:
                return sh
        return None


def _inject_at(st, watch: _Watch, e: dict) -> None:
    """A RST or SYN from a third party next to host `to`, at time `at`: into
    the connection of `to` that is alive then, spoofed as coming from its peer,
    with the sequence number that side expects next (RCV.NXT), so that it is
    acceptable (RFC 9293 §3.10.7.4; RFC 5961 §3.2: a RST must hit RCV.NXT
    exactly). It arrives at once (the attacker is beside the host), so the
    trace has its `send` (note "injected") and `deliver` at the same `t`.
    With no connection, a SYN goes to the host's listener from 203.0.113.66."""
    def fire() -> None:
        net = st.net
        target = next((sh for sh in net.hosts if sh.host.name == e["to"]), None)
        if target is None:
            return
        conns = [c for c in target.host.connections() if str(c.state) not in ("CLOSED", "LISTEN")]
        if conns:
            c = conns[-1]
            flags = RST if e["op"] == "rst" else SYN
            seg = Segment(c.remote_port, c.local_port, c.rcv_nxt, 0, flags,
                          0 if flags == RST else 65535, 0,
                          SegOptions(mss=1460) if flags == SYN else SegOptions())
            src, dst = c.remote_ip, c.local_ip
        elif e["op"] == "syn" and target.host.listeners:
            lst = next(iter(target.host.listeners.values()))
            seg = Segment(40999, lst.local_port, 123456789, 0, SYN, 65535, 0, SegOptions(mss=1460))
            src, dst = "203.0.113.66", lst.local_ip or target.host.addresses[0]
        else:
            st.note(f"nothing to inject a {e['op'].upper()} into at {e['to']}", side=_side(e["to"]))
            return
        now = net.now
        net.trace.segment(now, "send", src, dst, seg, "injected")
        watch.sends += 1
        net.trace.segment(now, "deliver", src, dst, seg)
        target.host.receive(now, src, dst, seg)
        net.flush_all()
        watch.snapshot()
    st.net.call_at(e["at"], fire)


def _custom_script(spec: dict):
    c = spec["custom"]

    def script(st) -> None:
        from ..scenarios import CLIENT_IP, SERVER_IP
        o = c["options"]
        changes = dict(window_scaling=o["window_scaling"], timestamps=o["timestamps"],
                       sack=o["sack"], nagle=o["nagle"], delayed_ack=o["delayed_ack"],
                       syn_cookies=o["syn_cookies"], congestion_control=o["congestion_control"],
                       rcvbuf=o["rcvbuf"])
        cl = st.host("client", CLIENT_IP, **changes)
        sv = st.host("server", SERVER_IP, **changes)
        link = c["link"]
        st.link(cl, sv, delay=link["delay"], loss=link["loss"], reorder=link["reorder"],
                duplicate=link["duplicate"], bandwidth=link["bandwidth"])
        st._explore_watch.wrap_hosts()
        apps = {"client": _App(st, cl), "server": _App(st, sv)}
        lst_box: list = []
        flood_n = [0]

        def on_event(sh, ev) -> None:
            app = apps.get(sh.host.name)
            if app is None:
                return
            if ev.kind == "acceptable" and lst_box:
                conn = lst_box[0].accept()
                while conn is not None:
                    app.conns.append(conn)
                    conn = lst_box[0].accept()
            app.pump()
        st.net.on_event = on_event

        def act(a: dict) -> None:
            app = apps.get(a["who"])
            do = a["do"]
            try:
                if do == "listen":
                    if not lst_box:
                        lst_box.append(sv.listen(80, backlog=o["backlog"]))
                elif do == "connect":
                    apps["client"].conns.append(cl.connect(SERVER_IP, 80))
                elif do == "flood":
                    for _ in range(a["count"]):
                        i = flood_n[0]
                        flood_n[0] += 1
                        ip = f"198.51.{100 + (i // 250) % 100}.{1 + i % 250}"
                        st.tag(ip, "spoofed")
                        syn = Segment(1024 + i, 80, 7000 + 1000 * i, 0, SYN, 65535, 0,
                                      SegOptions(mss=1460))
                        st.net.inject(ip, SERVER_IP, syn)
                    st.quiet.add("spoofed")
                elif app is not None:
                    app.do(do, a)
            except OSError as exc:
                st.note(f"{a['who']} application: {do}() failed: {exc}", side=_side(a["who"]))
        for a in c["actions"]:
            st.at(a["t"], act, a)
        st.run(until=c["until"])
    return script


def _side(who: str):
    return "left" if who == "client" else "right" if who == "server" else None


class _App:
    """One host's application in a composed run: it reads whatever arrives
    (unless told to stop), and sends what it was asked to as room appears."""

    def __init__(self, st, sh):
        self.st = st
        self.sh = sh
        self.conns: list = []
        self.reading = True
        self.pending = 0

    @property
    def conn(self):
        return self.conns[-1] if self.conns else None

    def do(self, what: str, a: dict) -> None:
        c = self.conn
        if c is None:
            self.st.note(f"{self.sh.host.name} application: {what}: no connection yet",
                         side=_side(self.sh.host.name))
            return
        if what == "send":
            self.pending += a["bytes"]
        elif what == "shutdown":
            c.shutdown("wr")
        elif what == "close":
            c.close()
        elif what == "abort":
            c.set_linger(0)
            c.close()
        elif what == "stop-reading":
            self.reading = False
        elif what == "resume-reading":
            self.reading = True
        self.pump()

    def pump(self) -> None:
        c = self.conn
        if c is None:
            return
        if self.pending and str(c.state) in ("ESTABLISHED", "CLOSE_WAIT"):
            try:
                n = c.send(bytes(min(self.pending, 256 * 1024)))
            except OSError:
                n = 0
                self.pending = 0
            self.pending -= n
        if self.reading:
            for conn in self.conns:
                if conn.conn.readable:
                    conn.recv()


def execute(spec: dict) -> Run:
    """Run a normalized spec."""
    from ..scenarios import Options, Result, Scenario, Stage, get, ScenarioError
    if spec["scenario"] == "custom":
        sc = Scenario("custom", "A run composed in the explorer",
                      "two hosts, a link and the applications' actions on a timeline",
                      "Two hosts and what their applications do, on a timeline chosen in "
                      "the explorer.", _custom_script(spec))
    else:
        sc = get(spec["scenario"])
    opts = Options(seed=spec["seed"], loss=spec["loss"], delay=spec["delay"], msl=spec["msl"],
                   profile=spec["profile"], all_options=spec["all_options"])
    st = Stage(sc, opts)
    watch = _Watch(st, spec["edits"])
    st._explore_watch = watch          # type: ignore[attr-defined]
    watch.install()
    # hosts are made by the script: wrap each as it appears
    add_host = st.host

    def host(name, address, **changes):
        h = add_host(name, address, **changes)
        watch.wrap_hosts()
        return h
    st.host = host                      # type: ignore[method-assign]
    for e in spec["edits"]:
        if e["op"] in ("rst", "syn"):
            _inject_at(st, watch, e)
    try:
        sc.script(st)
    except ScenarioError as exc:
        # an edit can make a scenario's story impossible (the handshake never
        # completes): show what did happen, and say so
        st.notes.append(_note(st, f"the scenario's script stopped: {exc}"))
        st.net.run(until=st.net.now + 1.0)
    except SpecError:
        raise
    except (OSError, ValueError, KeyError, AttributeError, RuntimeError) as exc:
        st.notes.append(_note(st, f"the scenario's script stopped: {type(exc).__name__}: {exc}"))
    watch.check_applied()
    res = Result(sc, opts, st.net, st.left, st.right, st.left_name, st.right_name, st.msl,
                 st.notes, st.rules, st.tags, st.facts, st.quiet, st.unknown_sides)
    watch.snapshot()
    dicts = res.dicts()
    run = Run(spec, res, dicts, list(st.net.trace.records), watch.snap_at, watch.snaps)
    ladder = res.ladder()
    run.meta = {"title": sc.title, "name": sc.name, "text": sc.text,
                "left": res.left, "right": res.right, "left_name": ladder.left_name,
                "right_name": ladder.right_name, "left_label": ladder.left_label,
                "right_label": ladder.right_label, "msl": res.msl,
                "settings": _settings(res, spec), "edits": [edit_text(e) for e in spec["edits"]],
                "engine": True}
    fill_rows(run, ladder)
    return run


def _note(st, text):
    from ..scenarios import Note
    return Note(st.net.now, None, text, len(st.net.trace.records))


def _settings(res, spec) -> str:
    from ..cli import settings_line
    if spec["scenario"] == "custom":
        c = spec["custom"]
        o = c["options"]
        opts = [k for k in ("window_scaling", "timestamps", "sack") if o[k]]
        return (f"seed {spec['seed']} · one-way delay {c['link']['delay'] * 1000:g} ms · loss "
                f"{c['link']['loss'] * 100:g}% · reorder {c['link']['reorder'] * 100:g}% · "
                f"duplicate {c['link']['duplicate'] * 100:g}% · MSL {res.msl:g} s · profile "
                f"{spec['profile']} · {o['congestion_control']} · options: MSS"
                + "".join(", " + x for x in opts))
    return settings_line(res)


def fill_rows(run: Run, ladder) -> None:
    """Rows as JSON for the page, each with the index of its trace record."""
    from ..viz.model import SEGMENT
    dicts = run.dicts
    sends = [i for i, d in enumerate(dicts) if d["type"] == "segment" and d["event"] == "send"]
    run.send_index = sends
    times = [d["t"] for d in dicts]
    k = 0
    rows = []
    rec = []
    last = -1
    for r in ladder.rows:
        if r.kind == SEGMENT:
            idx = sends[k] if k < len(sends) else last
            seg_no = k
            k += 1
        else:
            seg_no = None
            idx = _find_record(dicts, times, r, last)
        last = max(last, idx) if r.kind != "arrival" else last
        rec.append(idx)
        rows.append(row_json(r, seg_no, idx))
    run.rows = rows
    run.row_record = rec


def _find_record(dicts, times, r, last: int) -> int:
    lo = bisect.bisect_left(times, r.t)
    hi = bisect.bisect_right(times, r.t)
    start = max(lo, last + 1) if last + 1 < hi else lo
    for i in range(start, hi):
        d = dicts[i]
        if r.kind == "state" and d["type"] == "state" and r.transitions and \
                d["to"] == r.transitions[-1][2]:
            return i
        if r.kind == "timer" and d["type"] == "timer" and d["timer"] == r.text:
            return i
        if r.kind == "error" and d["type"] == "app" and d.get("event") == "error":
            return i
        if r.kind == "arrival" and d["type"] == "segment" and d["event"] == "deliver":
            return i
    if r.kind == "note":
        return max(last, lo - 1)
    return max(hi - 1, 0) if dicts else 0


def row_json(r, seg_no, idx) -> dict:
    d = {"kind": r.kind, "t": r.t, "side": r.side, "states": list(r.states),
         "changed": list(r.changed), "rec": idx}
    if r.kind in ("segment", "arrival"):
        d.update(seg=seg_no, src=r.src, dst=r.dst, flags=list(r.flags), seq=r.seq, ack=r.ack,
                 rseq=r.rseq, rack=r.rack, len=r.length, win=r.win, wnd=r.wnd,
                 options=r.options, lost=r.lost, reason=r.reason, deliver_t=r.deliver_t,
                 tags=list(r.tags), label=r.label, dt=r.dt)
    if r.text:
        d["text"] = r.text
    if r.cause:
        d["cause"] = r.cause
    if r.transitions:
        d["transitions"] = [list(t) for t in r.transitions]
    if r.explain:
        d["explain"] = list(r.explain)
    if r.kind not in ("segment", "arrival") and r.label:
        d["label"] = r.label
    if r.dt is not None and "dt" not in d:
        d["dt"] = r.dt
    return d


# --------------------------------------------------------------- a loaded trace
def load_trace(text: str) -> Run:
    """A saved JSON Lines trace (ours, or one written by `synack run --format
    json`): checked line by line, drawn without the engine (no TCBs)."""
    from ..viz.model import build_ladder
    dicts = []
    meta = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(f"line {n}: not JSON ({exc.msg})") from None
        if not isinstance(d, dict) or "type" not in d or "t" not in d:
            raise SpecError(f"line {n}: a trace event needs \"t\" and \"type\"")
        if isinstance(d["t"], bool) or not isinstance(d["t"], (int, float)) or not math.isfinite(d["t"]):
            raise SpecError(f"line {n}: \"t\" must be a number")
        if dicts and d["t"] < dicts[-1]["t"]:
            raise SpecError(f"line {n}: \"t\" goes back in time")
        typ = d["type"]
        if typ == "meta":
            meta = d
            continue
        try:
            _check_event(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"line {n}: a {typ} event with a missing or bad field ({exc})") from None
        if typ in ("segment", "state", "timer", "app"):
            dicts.append(d)
    if not dicts:
        raise SpecError("the file holds no trace events")
    m = meta or {}
    try:
        ladder = build_ladder(dicts, left=m.get("left"), right=m.get("right"),
                              left_name=m.get("left_name", "client"),
                              right_name=m.get("right_name", "server"), msl=m.get("msl"))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise SpecError(f"the trace cannot be drawn: {type(exc).__name__}: {exc}") from None
    run = Run({"loaded": True}, None, dicts, [], [], [])
    run.meta = {"title": m.get("title") or "a loaded trace", "name": "loaded",
                "text": m.get("text", ""), "left_name": ladder.left_name,
                "right_name": ladder.right_name, "left_label": ladder.left_label,
                "right_label": ladder.right_label, "msl": m.get("msl"),
                "settings": m.get("settings", "loaded from a file: no engine, no TCBs"),
                "edits": [], "engine": False, "run": m.get("run")}
    fill_rows(run, ladder)
    return run


def _check_event(d: dict) -> None:
    typ = d["type"]
    if typ == "segment":
        if d["event"] not in ("send", "deliver", "drop"):
            raise ValueError(f"event {d['event']!r}")
        for k in ("seq", "ack", "len", "win"):
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v >= 1 << 32:
                raise ValueError(f"{k} {v!r}")
        if not isinstance(d["flags"], list) or not all(isinstance(f, str) for f in d["flags"]):
            raise ValueError("flags")
        for k in ("src", "dst"):
            if not isinstance(d[k], str) or ":" not in d[k]:
                raise ValueError(f"{k} {d[k]!r}")
        if not isinstance(d.get("options", {}), dict):
            raise ValueError("options")
    elif typ == "state":
        for k in ("host", "local", "remote", "from", "to"):
            if not isinstance(d[k], str):
                raise ValueError(k)
        State(d["from"])
        State(d["to"])
    elif typ in ("timer", "app"):
        for k in ("host", "local", "remote"):
            if not isinstance(d[k], str):
                raise ValueError(k)


# ------------------------------------------------------------ segment details
FLAG_BITS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")


def segment_detail(run: Run, seg_no: int) -> dict:
    """The header fields and the bytes (IP and TCP, hex) of send number `seg_no`."""
    if not 0 <= seg_no < len(run.send_index):
        raise SpecError(f"segment {seg_no}: the run has {len(run.send_index)} segments")
    d = run.dicts[run.send_index[seg_no]]
    src_ip = d["src"].rsplit(":", 1)[0].strip("[]")
    dst_ip = d["dst"].rsplit(":", 1)[0].strip("[]")
    if run.records:
        seg = run.records[run.send_index[seg_no]].d
        payload_known = True
    else:                              # a loaded trace: rebuild the header, payload zeros
        from ..engine.segment import flags_from_names
        o = d.get("options") or {}
        opts = SegOptions(mss=o.get("mss"), wscale=o.get("wscale"),
                          sack_permitted=bool(o.get("sack_permitted")),
                          sack=tuple(tuple(x) for x in o.get("sack", ())),
                          timestamp=(o["tsval"], o["tsecr"]) if "tsval" in o else None)
        seg = Segment(int(d["src"].rsplit(":", 1)[1]), int(d["dst"].rsplit(":", 1)[1]),
                      d["seq"], d["ack"], flags_from_names(d["flags"]), min(d["win"], 0xFFFF), 0,
                      opts, bytes(d["len"]))
        payload_known = False
    from ..wire import encode_ip
    data = encode_ip(src_ip, dst_ip, seg)
    ihl = 40 if ":" in src_ip else 20
    tcp = data[ihl:]
    off = (tcp[12] >> 4) * 4
    fields = {"source port": int.from_bytes(tcp[0:2], "big"),
              "destination port": int.from_bytes(tcp[2:4], "big"),
              "sequence number": int.from_bytes(tcp[4:8], "big"),
              "acknowledgment number": int.from_bytes(tcp[8:12], "big"),
              "data offset": f"{off} bytes ({off // 4} words)",
              "flags": " ".join(f for i, f in enumerate(FLAG_BITS) if tcp[13] >> i & 1) or "none",
              "window": int.from_bytes(tcp[14:16], "big"),
              "checksum": "0x" + tcp[16:18].hex(),
              "urgent pointer": int.from_bytes(tcp[18:20], "big"),
              "options": tcp[20:off].hex(" ") or "none",
              "payload": f"{len(tcp) - off} bytes" + ("" if payload_known else
                                                      " (not in the trace: shown as zeros)")}
    return {"seg": seg_no, "event": d, "ip_header_len": ihl, "tcp_header_len": off,
            "hex": data.hex(), "fields": fields}


def export_jsonl(run: Run) -> str:
    """The trace with a first `meta` line (docs/trace-format.md) that names the
    run, so that the explorer can load it again with its sides and names."""
    meta = {"t": 0.0, "type": "meta", "generator": "synack explore",
            "title": run.meta.get("title"), "left": run.meta.get("left"),
            "right": run.meta.get("right"), "left_name": run.meta.get("left_name"),
            "right_name": run.meta.get("right_name"), "msl": run.meta.get("msl"),
            "settings": run.meta.get("settings")}
    if run.spec.get("scenario"):
        meta["run"] = run.spec
    return json.dumps(meta) + "\n" + "".join(json.dumps(d) + "\n" for d in run.dicts)


def export_pcap(run: Run) -> bytes:
    import io
    from ..pcap import PcapWriter
    from ..wire import encode_ip
    buf = io.BytesIO()
    w = PcapWriter(buf)
    for i in range(len(run.send_index)):
        d = run.dicts[run.send_index[i]]
        if run.records:
            seg = run.records[run.send_index[i]].d
            w.write(d["t"], encode_ip(d["src"].rsplit(":", 1)[0].strip("[]"),
                                      d["dst"].rsplit(":", 1)[0].strip("[]"), seg))
        else:
            detail = segment_detail(run, i)
            w.write(d["t"], bytes.fromhex(detail["hex"]))
    return buf.getvalue()


def ladder_of(run: Run):
    from ..viz.model import build_ladder
    if run.result is not None:
        return run.result.ladder()
    if run.ladder is not None:
        return run.ladder
    m = run.meta
    return build_ladder(run.dicts, left=m.get("left"), right=m.get("right"),
                        left_name=m.get("left_name", "client"),
                        right_name=m.get("right_name", "server"))


# ------------------------------------------------------------- a loaded capture
#: the first four bytes of a pcap (either byte order, µs or ns) or a pcapng file
CAPTURE_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1",
                  b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")


def is_capture(data: bytes) -> bool:
    return data[:4] in CAPTURE_MAGICS


def load_capture(data: bytes, conn: int = 1) -> Run:
    """A pcap or pcapng file explained by `synack.capture` (docs/captures.md):
    connection `conn` (1-based, like `synack explain --conn N`) drawn with the
    states the explainer inferred for both ends; the table of all connections
    goes in `meta["capture"]`. No engine, so no TCBs and no edits."""
    import os
    import tempfile

    from ..capture.reader import CaptureError
    from ..capture.report import analyse, conn_dict, header_lines, ladder
    fd, path = tempfile.mkstemp(suffix=".pcap", prefix="synack-explore-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            conns, stats = analyse(path, detail=(conn,))
        except CaptureError as exc:
            raise SpecError(f"the capture cannot be read: {exc}") from None
    finally:
        os.unlink(path)
    if stats.tcp == 0:
        what = f"{stats.frames} frames" if stats.frames else "no packets"
        skipped = f" (skipped: {stats.skipped_text()})" if stats.skipped else ""
        cut = "; the file is cut off" if stats.truncated else ""
        raise SpecError(f"no TCP segments in this {stats.fmt or 'capture'}: {what}{skipped}{cut}")
    if not 1 <= conn <= len(conns):
        raise SpecError(f"no connection {conn} in this capture (there are {len(conns)}: "
                        f"1 to {len(conns)})")
    c = conns[conn - 1]
    dicts = [e for e in (c.events or []) if e is not None]
    lad = ladder(c)
    head = header_lines(c, "the capture", False)
    run = Run({"capture": True}, None, dicts, [], [], [])
    cut = (f" The file is cut off in the middle of a record: the {stats.frames} whole frames "
           "before it are shown.") if stats.truncated else ""
    run.meta = {"title": f"connection {conn} of {len(conns)}: {c.a.ep} → {c.b.ep}",
                "name": f"capture-conn{conn}", "text": "\n\n".join(head[1:]) + cut,
                "left_name": lad.left_name, "right_name": lad.right_name,
                "left_label": lad.left_label, "right_label": lad.right_label, "msl": None,
                "settings": f"{stats.fmt}, {stats.frames} frames, {stats.tcp} TCP segments, "
                            f"{len(conns)} connection(s): states inferred from the segments "
                            "(synack explain), no engine, no TCBs",
                "edits": [], "engine": False, "run": None,
                "capture": {"conn": conn, "connections": [conn_dict(x) for x in conns],
                            "truncated": stats.truncated}}
    run.ladder = lad
    fill_rows(run, lad)
    return run
