"""What happened in a simulation, in time order.

Recording is cheap (tuples appended to a list); rendering to the documented
JSON Lines form happens only when asked. Event shapes (see docs/trace-format.md):

    segment: {"t", "type": "segment", "event": "send"|"deliver"|"drop", "src", "dst",
              "flags", "seq", "ack", "len", "win", "options", ["reason"]}
    state:   {"t", "type": "state", "host", "local", "remote", "from", "to", "cause"}
    timer:   {"t", "type": "timer", "host", "local", "remote", "timer"}
    app:     {"t", "type": "app", "host", "local", "remote", "event", ["detail"]}
"""
from __future__ import annotations

import json
from typing import Any, Final, Iterable, NamedTuple

from ..engine.segment import Segment, flag_names


class Record(NamedTuple):
    t: float
    type: str          # "segment", "state", "timer", "app"
    a: Any             # segment: event name; others: host name
    b: Any             # segment: src "ip:port"; others: local "ip:port"
    c: Any             # segment: dst "ip:port"; others: remote "ip:port"
    d: Any             # segment: Segment; state: (from, to); timer: name; app: kind
    e: Any = None      # segment: drop reason / retransmission flag; state: cause; app: detail


# A Record built by tuple.__new__: a NamedTuple's own __new__ parses its
# arguments in Python, and a trace records several per segment. Final: a C
# static in the compiled build.
_new: Final = tuple.__new__
_RECORD: Final = Record


def _endpoints(obj: Any) -> tuple[str, str]:
    lip = getattr(obj, "local_ip", "")
    lport = getattr(obj, "local_port", "")
    rip = getattr(obj, "remote_ip", None)
    local = f"{_fmt_ip(lip)}:{lport}"
    remote = f"{_fmt_ip(rip)}:{obj.remote_port}" if rip is not None else "*:*"
    return local, remote


def _fmt_ip(ip: str) -> str:
    return f"[{ip}]" if ip and ":" in ip else ip


class Trace:
    """A list of `Record`s with renderers."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    # recording -------------------------------------------------------------
    def segment(self, t: float, event: str, src_ip: str, dst_ip: str, seg: Segment, note=None) -> None:
        self.records.append(_new(_RECORD, (t, "segment", event, f"{_fmt_ip(src_ip)}:{seg.src_port}",
                                           f"{_fmt_ip(dst_ip)}:{seg.dst_port}", seg, note)))

    def state(self, t: float, host: str, obj, old, new, cause: str) -> None:
        local, remote = _endpoints(obj)
        self.records.append(_new(_RECORD, (t, "state", host, local, remote, (str(old), str(new)), cause)))

    def timer(self, t: float, host: str, obj, what: str) -> None:
        local, remote = _endpoints(obj)
        self.records.append(_new(_RECORD, (t, "timer", host, local, remote, what, None)))

    def app(self, t: float, host: str, obj, kind: str, detail=None) -> None:
        local, remote = _endpoints(obj)
        self.records.append(_new(_RECORD, (t, "app", host, local, remote, kind, detail)))

    # queries ---------------------------------------------------------------
    def segments(self, event: str = "send") -> list[Record]:
        return [r for r in self.records if r.type == "segment" and r.a == event]

    def states(self, host: str | None = None) -> list[Record]:
        return [r for r in self.records if r.type == "state" and (host is None or r.a == host)]

    # rendering -------------------------------------------------------------
    def to_dicts(self) -> Iterable[dict]:
        for r in self.records:
            yield record_to_dict(r)

    def to_jsonl(self) -> str:
        return "".join(json.dumps(d, sort_keys=False) + "\n" for d in self.to_dicts())

    def _repr_svg_(self) -> str:
        """Jupyter shows a trace as its ladder diagram (synack.viz.svg). The
        renderer is imported by name: the compiled build (mypyc) must not
        follow it into the uncompiled viz package."""
        import importlib
        viz: Any = importlib.import_module("synack.viz")
        svg: Any = importlib.import_module("synack.viz.svg")
        return svg.render_svg(viz.build_ladder(self.to_dicts()))


def record_to_dict(r: Record) -> dict:
    t = round(float(r.t), 9)
    if r.type == "segment":
        seg: Any = r.d                      # a Segment
        d = {"t": t, "type": "segment", "event": r.a, "src": r.b, "dst": r.c,
             "flags": flag_names(seg.flags), "seq": seg.seq, "ack": seg.ack,
             "len": len(seg.payload), "win": seg.window, "options": seg.options.describe()}
        if r.e is not None:
            d["reason" if r.a == "drop" else "note"] = r.e
        return d
    if r.type == "state":
        return {"t": t, "type": "state", "host": r.a, "local": r.b, "remote": r.c,
                "from": r.d[0], "to": r.d[1], "cause": r.e}  # type: ignore[index]
    if r.type == "timer":
        return {"t": t, "type": "timer", "host": r.a, "local": r.b, "remote": r.c, "timer": r.d}
    d = {"t": t, "type": "app", "host": r.a, "local": r.b, "remote": r.c, "event": r.d}
    if r.e is not None:
        d["detail"] = r.e
    return d
