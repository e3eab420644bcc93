"""What running a script produces: a `ScriptResult` (PASS/FAIL, the first
failure in detail, notes, skipped assertions and the trace), and the
`ScriptFailure` exception the runner raises internally to stop a script."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


class ScriptFailure(Exception):
    """The script failed at `line`.

    kind: 'packet' (an expected packet differs or is missing), 'timing',
    'syscall' (result, errno or an output argument differs), 'unsupported'
    (a construct the runner or engine cannot do: never a silent pass),
    'python' (a %{ }% assertion), 'script' (the script itself is invalid),
    'engine' (the engine raised an unexpected exception).
    """

    def __init__(self, kind: str, message: str, *, line: int | None = None,
                 expected: str | None = None, actual: str | None = None,
                 source: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.expected = expected
        self.actual = actual
        self.source = source


def unsupported(what: str, line: int | None = None) -> ScriptFailure:
    return ScriptFailure("unsupported", f"unsupported: {what}", line=line)


@dataclass
class Failure:
    kind: str
    message: str
    line: int | None = None
    source: str | None = None       # the script line's text
    expected: str | None = None
    actual: str | None = None


@dataclass
class TraceEntry:
    """One thing that happened, at `time` seconds of script time.

    what: 'inject' (a `<` packet given to synack), 'send' (a packet synack
    sent; `matched` says which line it matched, or None), 'syscall',
    'python', 'note'."""
    time: float
    what: str
    text: str
    line: int | None = None
    matched: int | None = None


@dataclass
class ScriptResult:
    script: str
    passed: bool
    profile: str
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # always empty: nothing is skipped
    output: str = ""                 # what the script's %{ }% blocks printed
    trace: list[TraceEntry] = field(default_factory=list)
    events_run: int = 0
    events_total: int = 0

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["status"] = self.status
        return d
