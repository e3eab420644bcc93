"""A capture explained: the table of connections, and one connection as a ladder.

`summarize(path)` reads a capture once, streaming, and returns the connections
with their counters (`Conn`); `connection(path, n)` reads it again keeping the
trace events of connection `n` only, and `ladder(conn)` draws them with the
same builder and renderers as the scenarios (`synack.viz`).
"""
from __future__ import annotations

import json

from ..viz.model import LEFT, RIGHT, SEGMENT, build_ladder
from .reader import Stats, read_capture
from .track import UNKNOWN, Conn, Tracker, fmt_iv

__all__ = ["analyse", "summarize", "connection", "ladder", "table_lines", "summary_dicts",
           "conn_dict"]


def analyse(path, detail=()) -> tuple[list[Conn], Stats]:
    """Read `path` once; `detail`: connection numbers to keep events for (True: all)."""
    stats = Stats()
    tracker = Tracker(detail)
    conns = tracker.run(read_capture(path, stats))
    return conns, stats


def summarize(path) -> tuple[list[Conn], Stats]:
    return analyse(path)


def connection(path, n: int) -> tuple[Conn | None, list[Conn], Stats]:
    conns, stats = analyse(path, detail=(n,))
    return (conns[n - 1] if 1 <= n <= len(conns) else None), conns, stats


def initial_state(side) -> str:
    return side.first_state if side.first_state is not None else UNKNOWN


def ladder(c: Conn, *, absolute: bool = False, explain: bool = True):
    """The ladder of connection `c` (tracked with detail)."""
    events = [e for e in (c.events or []) if e is not None]
    ln, rn = c.names()
    lip = c.a.ep.rpartition(":")[0].strip("[]")
    rip = c.b.ep.rpartition(":")[0].strip("[]")
    lad = build_ladder(events, left={lip}, right={rip}, left_name=ln, right_name=rn,
                       absolute=absolute, explain=explain,
                       endpoints={c.a.ep: LEFT, c.b.ep: RIGHT},
                       initial={LEFT: initial_state(c.a), RIGHT: initial_state(c.b)})
    segs = [r for r in lad.rows if r.kind == SEGMENT]
    for k, r in enumerate(segs, 1):
        for tag in c.tags.get(k, ()):
            if tag not in r.tags:
                r.tags.append(tag)
        if explain and k in c.explain:
            r.explain = list(r.explain) + [t for t in c.explain[k] if t]
    for r in lad.rows:              # no MSL is known from a capture
        r.explain = [t.replace("2*MSL = 2*MSL", "2*MSL") for t in r.explain]
    return lad


# ------------------------------------------------------------------ the table
def _bytes(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _states(c: Conn) -> str:
    return f"{c.a.shown()} / {c.b.shown()}"


def conn_dict(c: Conn) -> dict:
    ln, rn = c.names()
    return {"conn": c.number, ln: c.a.ep, rn: c.b.ep, "start": c.first_t,
            "duration": round(c.duration, 9), "packets": c.packets,
            "bytes": {ln: c.a.bytes, rn: c.b.bytes},
            "retransmissions": {ln: c.a.rexmits, rn: c.b.rexmits},
            "states": {ln: c.a.shown(), rn: c.b.shown()},
            "transitions": [{"t": round(t - c.first_t, 9), "endpoint": ep, "from": f, "to": to,
                             "cause": cause} for t, ep, f, to, cause in c.transitions],
            "ended": c.ended, "notes": list(c.notes)}


def summary_dicts(conns) -> list[dict]:
    return [conn_dict(c) for c in conns]


def table_lines(conns: list[Conn], stats: Stats, path: str) -> list[str]:
    """The connection table, like `tshark -z conv,tcp`, with states and endings."""
    skipped = f"; skipped {stats.skipped_text()}" if stats.skipped else ""
    trunc = "; the file is cut off after the last whole record" if stats.truncated else ""
    out = [f"{path}: {stats.fmt}, {stats.frames} frames, {stats.tcp} TCP segments, "
           f"{len(conns)} connection(s){skipped}{trunc}", ""]
    if not conns:
        return out
    rows = [("#", "A (opens)", "B", "start s", "dur s", "A->B", "B->A", "pkts", "rexmit",
             "states at end A / B", "how it ended")]
    t0 = min(c.first_t for c in conns)
    for c in conns:
        mark = "" if c.handshake_seen else "?"
        rows.append((str(c.number) + mark, c.a.ep, c.b.ep, f"{c.first_t - t0:.3f}",
                     f"{c.duration:.3f}", _bytes(c.a.bytes), _bytes(c.b.bytes), str(c.packets),
                     f"{c.a.rexmits}/{c.b.rexmits}", _states(c), c.ended))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {0, 3, 4, 5, 6, 7, 8}
    for r in rows:
        cells = [r[i].rjust(widths[i]) if i in right else r[i].ljust(widths[i])
                 for i in range(len(r))]
        out.append("  ".join(cells).rstrip())
    notes = [(c.number, n) for c in conns for n in c.notes]
    if any(not c.handshake_seen for c in conns):
        out.append("")
        out.append("? the capture does not show this connection's SYN: A is the first sender, "
                   "and the states before its first segment are unknown.")
    if notes:
        out.append("")
        for num, n in notes:
            out.append(f"{num}: {n}")
    out.append("")
    out.append("Draw one with --conn N (text, --format json|mermaid|svg).")
    return out


def header_lines(c: Conn, path: str, absolute: bool) -> list[str]:
    ln, rn = c.names()
    lines = [f"synack explain {path} --conn {c.number}: {ln} {c.a.ep}, {rn} {c.b.ep}",
             f"{c.packets} segments over {fmt_iv(c.duration) if c.duration else '0 s'}; "
             f"{ln} sent {_bytes(c.a.bytes)} ({c.a.rexmits} retransmitted), {rn} sent "
             f"{_bytes(c.b.bytes)} ({c.b.rexmits} retransmitted); ended: {c.ended}"]
    lines.append("States are inferred from the segments as a monitor sees them: a move on "
                 "receiving is drawn with the answer that shows it; 'unknown' where the "
                 "capture cannot tell. t is seconds since this connection's first segment.")
    for n in c.notes:
        lines.append(f"Note: {n}")
    lines.append("seq/ack are absolute" if absolute else
                 "seq/ack are relative to each side's ISN, as in Wireshark (--absolute for "
                 "the real numbers)")
    return lines


def events_jsonl(c: Conn) -> str:
    return "".join(json.dumps(e) + "\n" for e in (c.events or []) if e is not None)
