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

from ..config import Config, profile as load_profile
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

    def wait(self, condition: Callable[[], bool], timeout: float = 3600.0) -> bool:
        """Let time pass until `condition()` holds; an error if it never does."""
        ok = self.net.run_until(condition, timeout=timeout)
        if not ok:
            raise ScenarioError(f"{self.scenario.name}: condition not reached by t={self.net.now:.3f}")
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
    pass


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
        self.script(st)
        return Result(self, opts, st.net, st.left, st.right, st.left_name, st.right_name,
                      st.msl, st.notes, st.rules, st.tags, st.facts, st.quiet, st.unknown_sides)

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
