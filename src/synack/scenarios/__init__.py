"""Textbook TCP scenarios, each a short script on the deterministic simulator.

A scenario is a function that receives a `Stage` (the network, the hosts and
a few helpers) and plays its story on it: open, send, lose, close. The
registry keeps its name, a title and a plain-words explanation, which the
`synack` command prints above the ladder diagram.

    from synack.scenarios import get, Options
    result = get("lost-syn").run(Options(seed=3))
    result.trace.to_jsonl()

Every run is deterministic: the same options give the same trace.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Callable

from ..engine.config import Config, profile as load_profile
from ..sim import Network

__all__ = ["Scenario", "Options", "Stage", "Result", "Note", "Rule", "scenario", "get",
           "names", "all_scenarios", "CLIENT_IP", "SERVER_IP"]

CLIENT_IP = "10.0.0.1"
SERVER_IP = "10.0.0.2"
DEFAULT_DELAY = 0.010      # one-way propagation delay: a 20 ms round trip


@dataclass
class Options:
    """What the command line lets a user change. None means "the scenario's own"."""
    seed: int = 1
    loss: float | None = None       #: random loss probability, both directions
    delay: float | None = None      #: one-way delay in seconds
    msl: float | None = None        #: Maximum Segment Lifetime (TIME_WAIT lasts 2*MSL)
    profile: str = "rfc"
    all_options: bool = False       #: keep window scaling, timestamps and SACK on the SYNs
    pcap: object = None             #: a synack.pcap.PcapWriter, or None


@dataclass
class Note:
    """A line the scenario script adds to the ladder (not part of the JSON trace)."""
    t: float
    side: str | None                #: "left", "right" or None (both)
    text: str
    index: int | None = None        #: drawn before the trace record with this index


@dataclass
class Rule:
    """A scenario-specific explanation: shown under the first row `match` accepts
    (every such row when `once` is False). `text` may use the row's fields,
    see `synack.viz.model.Row.fields`."""
    match: Callable
    text: str
    once: bool = True


@dataclass
class Result:
    """A finished run: the network (with its trace) and what the renderers need."""
    scenario: "Scenario"
    options: Options
    net: Network
    left: list[str]                 #: addresses drawn on the left (the client side)
    right: list[str]                #: addresses drawn on the right (the server side)
    left_name: str
    right_name: str
    msl: float
    notes: list[Note]
    rules: list[Rule]
    tags: dict[str, str]
    facts: dict
    quiet: set = field(default_factory=set)
    unknown_sides: set = field(default_factory=set)
    #: None when the scenario reached its end; else the `ScenarioError` that
    #: stopped it (what it waited for, and when)
    failure: "ScenarioError | None" = None

    def diagnosis(self) -> list[str]:
        """Why the run stopped short, in plain words (empty when it did not)."""
        if self.failure is None:
            return []
        return diagnose(self.dicts(), self.failure, self.left, self.right,
                        self.left_name, self.right_name)

    @property
    def trace(self):
        return self.net.trace

    def dicts(self) -> list[dict]:
        return list(self.net.trace.to_dicts())

    def _repr_svg_(self) -> str:
        """Jupyter shows a run as its ladder diagram, explanations as tooltips."""
        from ..viz.svg import render_svg
        return render_svg(self.ladder(), title=f"{self.scenario.name}: {self.scenario.title}")

    def ladder(self, absolute: bool = False, explain: bool = True):
        """The row model every renderer draws from."""
        from ..viz.model import build_ladder
        return build_ladder(self.dicts(), left=self.left, right=self.right,
                            left_name=self.left_name, right_name=self.right_name,
                            absolute=absolute, explain=explain, rules=self.rules,
                            notes=self.notes, tags=self.tags, msl=self.msl,
                            title=self.scenario.title, quiet=self.quiet,
                            unknown_sides=self.unknown_sides)


class Stage:
    """What a scenario script works with. `client` and `server` exist already,
    linked with the chosen delay and loss; `config()` gives the configuration
    every host uses (profile, MSL, options), to adjust per scenario."""

    def __init__(self, sc: "Scenario", opts: Options):
        self.scenario = sc
        self.opts = opts
        self.net = Network(seed=opts.seed, pcap=opts.pcap)
        self.base = self._base_config()
        self.delay = opts.delay if opts.delay is not None else sc.delay
        self.loss = opts.loss if opts.loss is not None else sc.loss
        self.notes: list[Note] = []
        self.rules: list[Rule] = []
        self.tags: dict[str, str] = {}
        self.quiet: set[str] = set()        #: labels whose timer rows are not drawn
        self.unknown_sides: set[str] = set()  #: sides without a simulated host
        self.facts: dict = {}
        self.left: list[str] = [CLIENT_IP]
        self.right: list[str] = [SERVER_IP]
        self.left_name = "client"
        self.right_name = "server"
        self._hosts: dict[str, object] = {}

    def _base_config(self) -> Config:
        cfg = load_profile(self.opts.profile)
        if not self.opts.all_options:
            # Only MSS on the SYNs: the textbook picture (see docs/scenarios.md).
            cfg = cfg.replace(window_scaling=False, timestamps=False, sack=False)
        if self.opts.msl is not None:
            cfg = cfg.replace(msl=self.opts.msl)
        return cfg

    def config(self, **changes) -> Config:
        return self.base.replace(**changes) if changes else self.base

    @property
    def msl(self) -> float:
        return self.base.msl

    # -- building ----------------------------------------------------------------
    def host(self, name: str, address: str, **config_changes):
        """A host named `name` (its name in the trace) with the base config."""
        h = self.net.add_host(address, name=name, config=self.config(**config_changes))
        self._hosts[name] = h
        return h

    def link(self, a, b, **params):
        params.setdefault("delay", self.delay)
        params.setdefault("loss", self.loss)
        return self.net.link(a, b, **params)

    def pair(self, client: dict | None = None, server: dict | None = None):
        """The usual two hosts, client 10.0.0.1 and server 10.0.0.2, linked."""
        c = self.host("client", CLIENT_IP, **(client or {}))
        s = self.host("server", SERVER_IP, **(server or {}))
        self.link(c, s)
        return c, s

    # -- time ----------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.net.now

    def run(self, until: float | None = None) -> None:
        self.net.run(until=None if until is None else float(until))

    def run_for(self, seconds: float) -> None:
        self.net.run(until=self.net.now + float(seconds))

    def wait(self, condition: Callable[[], bool], timeout: float = 3600.0,
             what: str = "the step the scenario waited for") -> bool:
        """Let time pass until `condition()` holds; a `ScenarioError` if it
        never does (`what` names the step for the user: "the handshake")."""
        ok = self.net.run_until(condition, timeout=timeout)
        if not ok:
            raise ScenarioError(f"{self.scenario.name}: {what} never happened "
                                f"(still waiting at t={self.net.now:.3f})",
                                what=what, t=self.net.now)
        return ok

    def at(self, t: float, fn: Callable, *args) -> None:
        self.net.call_at(float(t), fn, *args)

    # -- annotations ----------------------------------------------------------------
    def note(self, text: str, side: str | None = None) -> None:
        """A ladder row at the current time, before whatever happens next (so call
        it just before the action it describes)."""
        self.notes.append(Note(self.net.now, side, text, len(self.net.trace.records)))

    def explain(self, match: Callable, text: str, once: bool = True) -> None:
        self.rules.append(Rule(match, text, once))

    def tag(self, endpoint: str, label: str) -> None:
        """Label arrows from/to `endpoint` ("ip:port" or "ip") in the ladder."""
        self.tags[endpoint] = label


class ScenarioError(RuntimeError):
    """A scenario's step never happened (heavy `--loss`, say). `Scenario.run`
    keeps the run so far: `Result.failure` is this, `Result.diagnosis()` the
    words for it."""

    def __init__(self, message: str, what: str = "", t: float = 0.0):
        super().__init__(message)
        self.what = what
        self.t = t


def _endpoint_name(ep: str, left: list[str], right: list[str], lname: str, rname: str) -> str:
    ip = ep.rsplit(":", 1)[0].strip("[]")
    if ip in left:
        return lname
    if ip in right:
        return rname
    return ep


#: what the application sees when a connection in this state gives up
_GAVE_UP = {"SYN_SENT": "connect() gave up", "SYN_RECEIVED": "the half-open connection was dropped"}


def diagnose(records: list[dict], failure: ScenarioError, left: list[str], right: list[str],
             lname: str = "client", rname: str = "server") -> list[str]:
    """Which step never happened and why, from the trace: which segments
    were lost, how often a side retransmitted before giving up, and what
    the application was told."""
    name = lambda ep: _endpoint_name(ep, left, right, lname, rname)   # noqa: E731
    lines = [f"The scenario stopped at t={failure.t:.3f} s: {failure.what} never happened."]
    sends = [r for r in records if r.get("type") == "segment" and r.get("event") == "send"]
    drops = [r for r in records if r.get("type") == "segment" and r.get("event") == "drop"]
    if sends:
        lost = f"{len(drops)} of the {len(sends)} segments sent were lost"
        by_reason: dict[str, int] = {}
        for d in drops:
            by_reason[d.get("reason", "?")] = by_reason.get(d.get("reason", "?"), 0) + 1
        if by_reason and set(by_reason) != {"loss"}:
            lost += " (" + ", ".join(f"{n} by {k}" for k, n in sorted(by_reason.items())) + ")"
        lines.append(lost + ".")
    # every connection that ended by giving up: the segment it kept repeating
    errors = {(r.get("host"), r.get("local")): r.get("detail") for r in records
              if r.get("type") == "app" and r.get("event") == "error"}
    for r in records:
        if r.get("type") != "state" or r.get("to") != "CLOSED":
            continue
        cause = r.get("cause") or ""
        if "exhausted" not in cause and "timeout" not in cause.lower() and \
                (r.get("host"), r.get("local")) not in errors:
            continue
        local, who = r.get("local", ""), name(r.get("local", ""))
        mine = [s for s in sends if s["src"] == local and s["t"] <= r["t"]]
        if not mine:
            continue
        last = mine[-1]
        key = (tuple(last["flags"]), last["seq"], last.get("len", 0))
        n = sum(1 for s in mine if (tuple(s["flags"]), s["seq"], s.get("len", 0)) == key)
        n_lost = sum(1 for d in drops if d["src"] == local and
                     (tuple(d["flags"]), d["seq"], d.get("len", 0)) == key)
        answers_lost = sum(1 for d in drops if d["dst"] == local)
        kind = ",".join(last["flags"]) + (f" with {last['len']} octets" if last.get("len") else "")
        text = f"The {who}'s {kind} was sent {n} time{'s' * (n != 1)}"
        if n_lost == n:
            text += f" and lost every time"
        else:
            text += f", {n_lost} of them lost"
            if answers_lost:
                text += f", and {answers_lost} segment{'s' * (answers_lost != 1)} back to the " \
                        f"{who} were lost"
        gave_up = _GAVE_UP.get(r.get("from", ""), "the connection was given up")
        err = errors.get((r.get("host"), r.get("local")))
        text += f"; {gave_up} at t={r['t']:.3f} s ({cause}" + (f", {err}" if err else "") + ")."
        lines.append(text)
    if len(lines) <= 2:
        seen: set = set()
        rexmits = 0
        for x in sends:
            key = (x["src"], tuple(x["flags"]), x["seq"], x.get("len", 0))
            if x.get("len", 0) or "SYN" in x["flags"] or "FIN" in x["flags"]:
                rexmits += key in seen
            seen.add(key)
        lines.append(f"No connection gave up: the senders were still retransmitting ({rexmits} "
                     f"retransmissions so far) when the scenario stopped "
                     f"waiting. Try a smaller --loss, or another --seed.")
    else:
        lines.append("Try a smaller --loss, or another --seed.")
    return lines


@dataclass
class Scenario:
    name: str
    title: str
    summary: str            #: one line, for `synack scenarios`
    explanation: str        #: a paragraph or two, printed above the ladder
    script: Callable[[Stage], None]
    delay: float = DEFAULT_DELAY
    loss: float = 0.0
    order: int = 0

    def run(self, opts: Options | None = None) -> Result:
        opts = opts or Options()
        st = Stage(self, opts)
        failure = None
        try:
            self.script(st)
        except ScenarioError as e:           # the run so far is drawn, and why it stopped
            failure = e
        return Result(self, opts, st.net, st.left, st.right, st.left_name, st.right_name,
                      st.msl, st.notes, st.rules, st.tags, st.facts, st.quiet, st.unknown_sides,
                      failure)

    @property
    def text(self) -> str:
        return textwrap.dedent(self.explanation).strip()


_REGISTRY: dict[str, Scenario] = {}

#: the order `synack scenarios` lists them in: opening, closing, losses, old segments,
#: resets, the listener under pressure, flow control and idle connections
ORDER = ("handshake", "lifecycle", "half-close", "simultaneous-open", "simultaneous-close",
         "lost-syn", "lost-synack", "lost-final-ack", "old-duplicate-syn",
         "time-wait-old-duplicate", "refused", "linger-abort", "unread-data-close",
         "synack-retransmit", "syn-flood", "syn-cookies", "backlog-full", "zero-window",
         "keepalive", "loss", "reordering-dupthresh", "reordering-rack", "recovery-rfc6675",
         "recovery-prr")


def scenario(name: str, title: str, summary: str, *, delay: float = DEFAULT_DELAY,
             loss: float = 0.0):
    """Register the decorated script; its docstring is the explanation."""
    def deco(fn: Callable[[Stage], None]) -> Callable[[Stage], None]:
        if name in _REGISTRY:
            raise ValueError(f"scenario {name!r} registered twice")
        _REGISTRY[name] = Scenario(name, title, summary, fn.__doc__ or "", fn, delay, loss,
                                   order=len(_REGISTRY))
        return fn
    return deco


def _load() -> None:
    from . import basic, dangers, listening, losses, resets, flow, recovery  # noqa: F401  (registration)


def get(name: str) -> Scenario:
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(names())}") from None


def all_scenarios() -> list[Scenario]:
    _load()
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(_REGISTRY.values(), key=lambda sc: (rank.get(sc.name, len(ORDER)), sc.order))


def names() -> list[str]:
    return [sc.name for sc in all_scenarios()]
