"""From a trace (the documented JSON form) to the rows of a ladder diagram.

Every renderer (text, Mermaid, SVG, plot) draws from the same `Ladder`:

* one `Row` per segment put on the wire, at the time it was sent, with its
  fate (delivered at `deliver_t`, or lost and why);
* a row for a state change that no segment of the same host accompanies
  (the server becoming ESTABLISHED when the third segment arrives);
* a row for a timer expiry (RTO, persist, keep-alive, 2*MSL, FIN_WAIT_2),
  for an error the application sees, and for the scenario's own notes.

The builder reads only the JSON-form dicts (`Trace.to_dicts()`), so a trace
saved with `--format json` can be drawn again later. It also does the little
analysis Wireshark does: relative sequence numbers, and tags such as
retransmission, duplicate ACK, zero window, window probe and keep-alive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from .explain import Explainer

from ..engine.seq import MASK
HALF = 0x80000000

SEGMENT, STATE, TIMER, ERROR, NOTE = "segment", "state", "timer", "error", "note"
ARRIVAL = "arrival"
LATE = 1.0      #: a segment delivered this much after it was sent gets an arrival row
LEFT, RIGHT = "left", "right"

#: timers that only tag the segment they send (the others get a row of their own:
#: RTO, TIME_WAIT 2MSL, FIN_WAIT_2)
TIMER_TAGS = {"delayed ACK": "delayed ACK", "persist": "persist", "keepalive": "keepalive"}


def split_endpoint(ep: str) -> tuple[str, int | None]:
    """"10.0.0.1:80" -> ("10.0.0.1", 80); "[::1]:80" -> ("::1", 80); "*:*" -> ("*", None)."""
    host, _, port = ep.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host, int(port)
    except ValueError:
        return host, None


def ip_of(ep: str) -> str:
    return split_endpoint(ep)[0]


def rel(x: int, base: int | None) -> int | None:
    """x relative to base in sequence space, signed (-2**31 .. 2**31-1)."""
    if base is None:
        return None
    r = (x - base) & MASK
    return r - (1 << 32) if r >= HALF else r


def after(a: int, b: int) -> bool:
    """a > b in sequence space."""
    return 0 < ((a - b) & MASK) < HALF


@dataclass
class Row:
    kind: str
    t: float
    side: str | None = None            #: the side that acts (sender, timer owner, ...)
    states: list = field(default_factory=lambda: ["", ""])
    changed: list = field(default_factory=lambda: [False, False])
    before: list = field(default_factory=lambda: ["", ""])
    # segments
    src: str = ""
    dst: str = ""
    flags: tuple = ()
    seq: int = 0
    ack: int = 0
    rseq: int | None = None
    rack: int | None = None
    length: int = 0
    win: int = 0
    wnd: int = 0                        #: the window in bytes (scaled when scaling is on)
    options: dict = field(default_factory=dict)
    lost: bool = False
    reason: str | None = None
    deliver_t: float | None = None
    tags: list = field(default_factory=list)
    label: str | None = None            #: the scenario's name for this connection (A, B, ...)
    dt: float | None = None             #: time since this seq was last sent (retransmissions)
    # state / timer / error / note rows
    text: str = ""
    cause: str | None = None
    transitions: list = field(default_factory=list)   #: (side, from, to, cause) in this row
    explain: list = field(default_factory=list)
    absolute: bool = False

    # -- convenience -------------------------------------------------------------------
    def has(self, *flags: str) -> bool:
        return all(f in self.flags for f in flags)

    @property
    def seg_len(self) -> int:
        return self.length + ("SYN" in self.flags) + ("FIN" in self.flags)

    @property
    def shown_seq(self) -> int:
        return self.seq if self.absolute or self.rseq is None else self.rseq

    @property
    def shown_ack(self) -> int:
        return self.ack if self.absolute or self.rack is None else self.rack

    @property
    def other(self) -> str | None:
        return {LEFT: RIGHT, RIGHT: LEFT}.get(self.side)

    def state_of(self, side: str) -> str:
        return self.states[0 if side == LEFT else 1]

    def before_of(self, side: str) -> str:
        return self.before[0 if side == LEFT else 1]

    def changed_to(self, side: str, frm: str | None = None, to: str | None = None) -> bool:
        for s, f, t, _ in self.transitions:
            if s == side and (frm is None or f == frm) and (to is None or t == to):
                return True
        return False

    def flag_text(self) -> str:
        return ",".join(self.flags) if self.flags else "none"


@dataclass
class Ladder:
    rows: list[Row]
    left_name: str
    right_name: str
    left_label: str
    right_label: str
    title: str | None = None
    msl: float | None = None
    absolute: bool = False

    def segments(self) -> list[Row]:
        return [r for r in self.rows if r.kind == SEGMENT]

    def name(self, side: str | None) -> str:
        return self.left_name if side == LEFT else self.right_name if side == RIGHT else "both"


# ---------------------------------------------------------------- predicates for rules
def seg(flags: str | None = None, *, side: str | None = None, tag: str | None = None,
        lost: bool | None = None, data: bool | None = None, sender_state: str | None = None,
        label: str | None = None, injected: bool | None = None,
        dst: str | None = None) -> Callable[[Row], bool]:
    """A predicate for segment rows: `flags` is the exact set ("SYN,ACK", "PSH,ACK").
    `sender_state` is the sender's state after the row; `tag` one of the analysis tags;
    `dst` the receiver's address."""
    want = frozenset(flags.split(",")) if flags else None

    def match(r: Row) -> bool:
        if r.kind != SEGMENT:
            return False
        if want is not None and frozenset(r.flags) != want:
            return False
        if side is not None and r.side != side:
            return False
        if tag is not None and tag not in r.tags:
            return False
        if lost is not None and r.lost != lost:
            return False
        if data is not None and (r.length > 0) != data:
            return False
        if label is not None and r.label != label:
            return False
        if dst is not None and ip_of(r.dst) != dst:
            return False
        if injected is not None and ("injected" in r.tags) != injected:
            return False
        if sender_state is not None and r.state_of(r.side) != sender_state:
            return False
        return True
    return match


def state(side: str | None, frm: str | None = None, to: str | None = None) -> Callable[[Row], bool]:
    """A predicate for rows in which `side` changes state (from `frm` to `to`)."""
    def match(r: Row) -> bool:
        return any((side is None or s == side) and (frm is None or f == frm) and
                   (to is None or t == to) for s, f, t, _ in r.transitions)
    return match


def kind(k: str, side: str | None = None, text: str | None = None) -> Callable[[Row], bool]:
    """A predicate for timer/error/note rows (`text` is a substring)."""
    def match(r: Row) -> bool:
        return r.kind == k and (side is None or r.side == side) and (text is None or text in r.text)
    return match


def nth(pred: Callable[[Row], bool], n: int) -> Callable[[Row], bool]:
    """Matches only the n-th row (1-based) that `pred` matches; rows are offered in
    order, once each, so the count is reliable inside one explanation pass."""
    seen = [0]

    def match(r: Row) -> bool:
        if pred(r):
            seen[0] += 1
            return seen[0] == n
        return False
    return match


# ---------------------------------------------------------------------------- builder
class _Dir:
    """What we know about one direction (src -> dst) of one 4-tuple."""
    __slots__ = ("base", "max_end", "last_ack", "last_win", "fin_seq", "syn_sent", "sent",
                 "wscale", "data_bytes")

    def __init__(self):
        self.base = None
        self.max_end = None
        self.last_ack = None
        self.last_win = None
        self.fin_seq = None
        self.syn_sent: set = set()     # flag tuples of the SYNs sent (SYN, SYN+ACK)
        self.sent: dict[int, float] = {}   # seq -> last time sent (for dt)
        self.wscale = None
        self.data_bytes = 0


class _Builder:
    def __init__(self, events: list[dict], left, right, left_name, right_name, absolute,
                 tags, notes, quiet=(), unknown_sides=(), endpoints=None, initial=None):
        self.endpoints = dict(endpoints or {})     #: "ip:port" -> side, before any ip rule
        self.initial = dict(initial or {})         #: side -> state shown before any change
        self.quiet = set(quiet)
        self.unknown_sides = set(unknown_sides)
        self.events = events
        self.absolute = absolute
        self.tags = dict(tags or {})
        self.left = set(left or ())
        self.right = set(right or ())
        self.left_name = left_name
        self.right_name = right_name
        if not self.left and not self.right:
            self._guess_sides()
        self.rows: list[Row] = []
        self.dirs: dict[tuple[str, str], _Dir] = {}
        self.conn_state: dict[tuple[str, str], str] = {}
        self.listen_state: dict[str, str] = {}
        self.last_key: dict[str, tuple[str, str] | None] = {LEFT: None, RIGHT: None}
        self.pending: list[tuple[float, str, str, str, str]] = []   # t, side, from, to, cause
        self.timer_tag: dict[str, tuple[float, str]] = {}
        self.inflight: list[Row] = []
        self.transit: dict[tuple[str, str], float] = {}
        self.last_timer_row: dict[str, Row] = {}
        self.notes = sorted(notes or (), key=lambda n: (n.t, n.index if n.index is not None
                                                             else len(events)))

    # -- sides -------------------------------------------------------------------------
    def _guess_sides(self) -> None:
        for e in self.events:
            if e["type"] == "segment" and e["flags"] == ["SYN"]:
                self.left.add(ip_of(e["src"]))
                self.right.add(ip_of(e["dst"]))
                return
        for e in self.events:
            if e["type"] == "segment":
                self.left.add(ip_of(e["src"]))
                self.right.add(ip_of(e["dst"]))
                return

    def side_of(self, ep: str) -> str:
        """The side of an endpoint: by `endpoints` first (two ends with one address,
        as on loopback), then by its address."""
        side = self.endpoints.get(ep)
        return side if side is not None else self.side_of_ip(ip_of(ep))

    def side_of_ip(self, ip: str) -> str:
        if ip in self.right:
            return RIGHT
        if ip in self.left:
            return LEFT
        return LEFT if self.right else RIGHT

    def label_for(self, *endpoints: str) -> str | None:
        for ep in endpoints:
            if ep in self.tags:
                return self.tags[ep]
        for ep in endpoints:
            ip = ip_of(ep)
            if ip in self.tags:
                return self.tags[ip]
        return None

    # -- states ------------------------------------------------------------------------
    def shown_state(self, side: str) -> str:
        if side in self.unknown_sides:
            return ""
        key = self.last_key[side]
        if key is not None:
            st = self.conn_state[key]
            label = self.label_for(key[0] if side == LEFT else key[1])
            return f"{label} {st}" if label else st
        for local, st in self.listen_state.items():
            if self.side_of(local) == side:
                return st
        return self.initial.get(side, "CLOSED")

    def snapshot(self) -> list[str]:
        return [self.shown_state(LEFT), self.shown_state(RIGHT)]

    def apply_state(self, e: dict) -> str | None:
        local, remote = e["local"], e["remote"]
        side = self.side_of(local)
        if remote == "*:*":
            self.listen_state[local] = e["to"]
            return side if self.last_key[side] is None else None
        rip = ip_of(remote)
        other = self.left if side == RIGHT else self.right
        if other and rip not in other:
            return None           # a connection with a third party (a spoofed address)
        self.conn_state[(local, remote)] = e["to"]
        self.last_key[side] = (local, remote)
        return side

    # -- rows --------------------------------------------------------------------------
    def add(self, row: Row) -> Row:
        row.absolute = self.absolute
        self.rows.append(row)
        return row

    def flush_pending(self) -> None:
        """State changes no segment or timer row absorbed become rows of their own."""
        if not self.pending:
            return
        by_side: dict = {}
        for t, side, frm, to, cause in self.pending:
            by_side.setdefault((t, side), []).append((side, frm, to, cause))
        for (t, side), trs in by_side.items():
            row = Row(STATE, t, side)
            row.transitions = trs
            row.text = " -> ".join([trs[0][1]] + [x[2] for x in trs])
            row.cause = trs[-1][3]
            self._stamp(row, trs)
            self.add(row)
        self.pending = []

    def _stamp(self, row: Row, trs) -> None:
        row.states = self.snapshot()
        row.before = list(row.states)
        for side, frm, to, _ in trs:
            i = 0 if side == LEFT else 1
            row.changed[i] = True
        # `before` shows the state before the first change of this row
        for side, frm, to, _ in trs:
            i = 0 if side == LEFT else 1
            label = row.states[i].split(" ")[0] if " " in row.states[i] else None
            if row.before[i] == row.states[i]:
                row.before[i] = f"{label} {frm}" if label else frm

    def emit_notes(self, upto: float | None, index: int | None = None) -> None:
        def due(n) -> bool:
            if upto is None:
                return True
            if n.index is not None and index is not None:
                return n.index <= index
            return n.t < upto
        while self.notes and due(self.notes[0]):
            n = self.notes.pop(0)
            self.flush_pending()
            row = Row(NOTE, n.t, n.side)
            row.text = n.text
            row.states = self.snapshot()
            row.before = list(row.states)
            self.add(row)

    def build(self) -> list[Row]:
        events = self.events
        for i, e in enumerate(events):
            t = e["t"]
            if self.notes:
                self.emit_notes(t, i)
            typ = e["type"]
            if typ == "segment":
                ev = e["event"]
                if ev == "send":
                    self.on_send(e)
                elif ev == "drop":
                    self.on_drop(e)
                else:
                    self.on_deliver(e)
            elif typ == "state":
                frm_states = self.snapshot()
                side = self.apply_state(e)
                if side is None:
                    continue
                tr = (side, e["from"], e["to"], e.get("cause"))
                last = self.rows[-1] if self.rows else None
                trow = self.last_timer_row.get(side)
                if (trow is not None and last is trow and trow.t == t and e["to"] == "CLOSED"
                        and not trow.transitions):
                    trow.transitions.append(tr)
                    trow.states = self.snapshot()
                    trow.changed[0 if side == LEFT else 1] = True
                    if not trow.before[0 if side == LEFT else 1]:
                        trow.before = frm_states
                    continue
                self.pending.append((t, side, e["from"], e["to"], e.get("cause")))
                if not self._send_follows(i, side):
                    self.flush_pending()
            elif typ == "timer":
                self.on_timer(e)
            elif typ == "app":
                if e.get("event") == "error":
                    self.flush_pending()
                    side = self.side_of(e["local"])
                    if e["remote"] != "*:*" and self.side_of(e["remote"]) == side:
                        continue
                    row = Row(ERROR, t, side)
                    row.text = str(e.get("detail"))
                    row.label = self.label_for(e["local"], e["remote"])
                    row.states = self.snapshot()
                    row.before = list(row.states)
                    self.add(row)
        self.flush_pending()
        self.emit_notes(None)
        return self.rows

    def _send_follows(self, i: int, side: str) -> bool:
        """Does a segment from `side` follow at the same instant, before anything
        else reaches that side? Then the state change belongs to that row."""
        t = self.events[i]["t"]
        for e in self.events[i + 1:]:
            if e["t"] != t:
                return False
            if e["type"] == "segment":
                if e["event"] == "send":
                    return self.side_of(e["src"]) == side
                if e["event"] == "deliver":
                    return False
            elif e["type"] == "timer":
                return False
            elif e["type"] == "state" and self.side_of(e["local"]) == side:
                return True           # the next change of this side decides for both
        return False

    def on_timer(self, e: dict) -> None:
        side = self.side_of(e["local"])
        name = e["timer"]
        if name in TIMER_TAGS:
            self.timer_tag[side] = (e["t"], TIMER_TAGS[name])
            return
        label = self.label_for(e["local"], e["remote"])
        if label in self.quiet:
            return
        self.flush_pending()
        row = Row(TIMER, e["t"], side)
        row.text = name
        row.label = label
        row.states = self.snapshot()
        row.before = list(row.states)
        self.add(row)
        self.last_timer_row[side] = row

    def direction(self, src: str, dst: str) -> _Dir:
        d = self.dirs.get((src, dst))
        if d is None:
            d = self.dirs[(src, dst)] = _Dir()
        return d

    def on_send(self, e: dict) -> None:
        src, dst = e["src"], e["dst"]
        side = self.side_of(src)
        # pending changes of the other side (or of another instant) get their own rows
        keep = [p for p in self.pending if p[1] == side and p[0] == e["t"]]
        others = [p for p in self.pending if p not in keep]
        if others:
            self.pending = others
            self.flush_pending()
        self.pending = []
        flags = tuple(e["flags"])
        row = Row(SEGMENT, e["t"], side, src=src, dst=dst, flags=flags, seq=e["seq"],
                  ack=e["ack"], length=e["len"], win=e["win"], options=dict(e.get("options") or {}))
        row.label = self.label_for(src, dst)
        fwd = self.direction(src, dst)
        rev = self.direction(dst, src)
        seq, ack, n = row.seq, row.ack, row.length
        is_syn = "SYN" in flags
        is_rst = "RST" in flags
        tags = row.tags
        if e.get("note") == "injected":
            tags.append("injected")
        # relative numbering: a SYN with a new ISN starts a new incarnation
        if is_syn and (fwd.base is None or seq != fwd.base):
            if fwd.base is not None:
                self.dirs[(src, dst)] = fwd = _Dir()
                if "ACK" not in flags:
                    self.dirs[(dst, src)] = rev = _Dir()
            fwd.base = seq
            if "wscale" in row.options:
                fwd.wscale = row.options["wscale"]
        elif is_syn and flags in fwd.syn_sent:
            tags.append("rexmit")
        row.rseq = rel(seq, fwd.base)
        row.rack = rel(ack, rev.base) if "ACK" in flags else None
        # the window in bytes: scaled only off SYNs, when both SYNs carried wscale
        scale = 0
        if not is_syn and fwd.wscale is not None and rev.wscale is not None:
            scale = fwd.wscale              # the shift the sender announced on its SYN
        row.wnd = row.win << scale if not is_syn else row.win
        # analysis tags (Wireshark's tcp.analysis, simplified)
        slen = n + is_syn + ("FIN" in flags)
        pure_ack = flags == ("ACK",) and n == 0
        peer_zero = rev.last_win == 0
        ts = self.timer_tag.pop(side, None)
        timer_name = ts[1] if ts and ts[0] == e["t"] else None
        if is_rst:
            pass
        elif timer_name == "persist" or (peer_zero and flags == ("ACK",) and n <= 1 and
                                         fwd.max_end is not None and
                                         seq in (fwd.max_end, (fwd.max_end - 1) & MASK)):
            tags.append("window probe")
        elif timer_name == "keepalive" or (fwd.max_end is not None and n <= 1 and flags == ("ACK",)
                                           and seq == (fwd.max_end - 1) & MASK):
            tags.append("keep-alive")
        elif not is_syn and slen and fwd.max_end is not None and after(fwd.max_end, seq):
            tags.append("rexmit")
        if timer_name == "delayed ACK":
            tags.append("delayed ACK")
        if pure_ack and fwd.last_ack == ack and "keep-alive" not in tags and "window probe" not in tags:
            if fwd.last_win is not None and row.win > fwd.last_win:
                tags.append("window update")
            elif fwd.last_win == row.win and rev.max_end is not None and after(rev.max_end, ack):
                tags.append("dup ACK")
        if row.win == 0 and not is_rst:
            tags.append("zero window")
        # dt: how long since the same sequence number was sent
        if "rexmit" in tags or "window probe" in tags or "keep-alive" in tags:
            prev = fwd.sent.get(seq)
            if prev is not None:
                row.dt = e["t"] - prev
                trow = self.last_timer_row.get(side)
                if (trow is not None and trow.t == e["t"] and trow.text == "RTO"
                        and trow.dt is None):
                    trow.dt = row.dt
        if slen or is_syn:
            fwd.sent[seq] = e["t"]
        end = (seq + slen) & MASK
        if slen and "window probe" not in tags and "keep-alive" not in tags:
            if fwd.max_end is None or after(end, fwd.max_end):
                fwd.max_end = end
        elif fwd.max_end is None and not is_rst:
            fwd.max_end = seq
        if is_syn:
            fwd.syn_sent.add(flags)
        if "FIN" in flags:
            fwd.fin_seq = (seq + n) & MASK
        if "ACK" in flags and not is_rst:
            fwd.last_ack = ack
            fwd.last_win = row.win
        elif is_syn:
            fwd.last_win = row.win
        fwd.data_bytes += n
        # states: after the row (the sender's change happened just before sending)
        trs = []
        for t0, s, frm, to, cause in keep:
            trs.append((s, frm, to, cause))
        row.transitions = trs
        self._stamp(row, trs)
        self.add(row)
        self.inflight.append(row)

    def _match_inflight(self, e: dict) -> Row | None:
        """The row a deliver/drop event belongs to. Identical copies (a retransmission
        whose original was delayed) are told apart by the usual transit time."""
        found = [r for r in self.inflight
                 if (r.src == e["src"] and r.dst == e["dst"] and r.seq == e["seq"] and
                     r.ack == e["ack"] and r.length == e["len"] and list(r.flags) == e["flags"])]
        if not found:
            return None
        if len(found) == 1 or e["event"] == "drop":
            r = found[0] if e["event"] != "drop" else found[-1]
        else:
            usual = self.transit.get((e["src"], e["dst"]))
            if usual is None:
                r = found[0]
            else:
                r = min(found, key=lambda x: abs((e["t"] - x.t) - usual))
        if e["event"] == "deliver" and len(found) == 1:
            self.transit[(e["src"], e["dst"])] = e["t"] - r.t
        return r

    def on_drop(self, e: dict) -> None:
        r = self._match_inflight(e)
        if r is not None:
            r.lost = True
            r.reason = e.get("reason")
            self.inflight.remove(r)

    def on_deliver(self, e: dict) -> None:
        r = self._match_inflight(e)
        if r is not None:
            r.deliver_t = e["t"]
            self.inflight.remove(r)
            if r.deliver_t - r.t >= LATE:
                self.flush_pending()
                # numbered as the receiver sees it now (a new incarnation may have begun)
                fwd, rev = self.direction(r.src, r.dst), self.direction(r.dst, r.src)
                late = Row(ARRIVAL, e["t"], r.side, src=r.src, dst=r.dst, flags=r.flags,
                           seq=r.seq, ack=r.ack, rseq=rel(r.seq, fwd.base),
                           rack=rel(r.ack, rev.base) if "ACK" in r.flags else None,
                           length=r.length,
                           win=r.win, wnd=r.wnd, options=r.options, label=r.label,
                           deliver_t=r.deliver_t, tags=[t for t in r.tags if t != "rexmit"])
                late.dt = r.deliver_t - r.t
                late.text = f"sent at {r.t:.3f}"
                late.states = self.snapshot()
                late.before = list(late.states)
                self.add(late)


def endpoint_labels(events: list[dict], b: _Builder) -> tuple[str, str]:
    """"client 10.0.0.1:40000" when one endpoint per side, else just the address."""
    eps = {LEFT: [], RIGHT: []}
    for e in events:
        if e["type"] == "segment" and e["event"] == "send" and e.get("note") != "injected":
            for ep in (e["src"], e["dst"]):
                side = b.side_of(ep)
                if ip_of(ep) in (b.left | b.right) and ep not in eps[side]:
                    eps[side].append(ep)

    def label(side: str) -> str:
        found = eps[side]
        if len(found) == 1:
            return found[0]
        ips = sorted(b.left if side == LEFT else b.right)
        return ", ".join(ips)
    return label(LEFT), label(RIGHT)


def build_ladder(events: Iterable[dict], *, left=None, right=None, left_name: str = "client",
                 right_name: str = "server", absolute: bool = False, explain: bool = True,
                 rules=(), notes=(), tags=None, msl: float | None = None,
                 title: str | None = None, quiet=(), unknown_sides=(), endpoints=None,
                 initial=None) -> Ladder:
    """Turn JSON-form trace events into ladder rows (see the module docstring).

    `tags` names endpoints ("ip:port" or "ip") for the arrows; timer rows of the
    names in `quiet` are left out; the state column of a side in `unknown_sides`
    (a host that is not simulated) stays empty. `endpoints` ("ip:port" -> side) places
    endpoints that share an address; `initial` (side -> text) is what a side's state
    column shows before its first change (default CLOSED)."""
    events = list(events)
    b = _Builder(events, left, right, left_name, right_name, absolute, tags, notes, quiet,
                 unknown_sides, endpoints, initial)
    rows = b.build()
    ll, rl = endpoint_labels(events, b)
    ladder = Ladder(rows, left_name, right_name, ll, rl, title, msl, absolute)
    if explain:
        Explainer(ladder, rules).run()
    return ladder
