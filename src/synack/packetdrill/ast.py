"""The tree a packetdrill script parses into: small frozen dataclasses.

A `Script` holds the command-line style options written at its top and a
list of events in script order. Events are:

* `Packet` (TCP), `UdpPacket`, `IcmpPacket`: a segment injected (`<`) or
  expected (`>`);
* `Syscall`: a socket call and the result it must return;
* `ShellCommand`: a backquoted shell command, either untimed before the
  first timed event (`phase="init"`), untimed after the last one
  (`phase="cleanup"`) or timed like any other event (`phase="event"`);
* `PythonBlock`: a `%{ ... }%` snippet, run with the socket's TCP_INFO
  fields (`tcpi_*`) as variables.

Every event knows the `line` its time (or, for an untimed command, its
backquote) is on, and its `Time`.

Times are kept as written; they are not resolved against earlier events.
The rules an executor applies (packetdrill's): a relative time `+x` counts
from the start time of the previous event; a range `a~b` / `+a~+b` only
appears on outbound packets and says the packet may be seen anywhere in it;
`*` (any time) only appears on outbound packets; the end time of a blocking
call (`+x...y`, `Time.end`) is in the same base as its start, so `+.1...0.2`
after an event at t starts at t+0.1 and must return at t+0.2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Union

__all__ = [
    "Time", "Event", "Packet", "UdpPacket", "IcmpPacket", "Syscall",
    "ShellCommand", "PythonBlock", "Script",
    "TcpOption", "NopOption", "EolOption", "MssOption", "WscaleOption",
    "SackPermittedOption", "SackOption", "TimestampOption", "FastOpenOption",
    "UndefinedSymbolError",
    "Md5Option", "ElidedOptions",
    "Expr", "IntExpr", "StrExpr", "Ident", "EllipsisExpr", "ArrayExpr",
    "StructExpr", "FieldExpr", "CallExpr", "BinaryExpr",
]


def _fmt_seconds(x: float, short: bool = True) -> str:
    """0.1 -> '.1' (or '0.1' when not short), 2.0 -> '2', 0.0 -> '0'."""
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    if short and text.startswith("0."):
        text = text[1:]
    return text or "0"


def _usecs(x: float) -> int:
    return round(x * 1_000_000)


# --------------------------------------------------------------------------
# Times

TimeKind = Literal["absolute", "relative", "any"]


@dataclass(frozen=True)
class Time:
    """When an event happens, as the script writes it.

    kind       'absolute' (`0.5`), 'relative' (`+0.1`) or 'any' (`*`).
    value      seconds (0.0 for 'any').
    range_end  for `a~b` or `+a~+b`, the later bound, in the same base as
               `value`; None otherwise.
    end        for a blocking system call written `start...end`, the time by
               which it returns, in the same base as `value`; else None.
    """
    kind: TimeKind
    value: float = 0.0
    range_end: float | None = None
    end: float | None = None

    @property
    def usecs(self) -> int:
        return _usecs(self.value)

    @property
    def range_end_usecs(self) -> int | None:
        return None if self.range_end is None else _usecs(self.range_end)

    @property
    def end_usecs(self) -> int | None:
        return None if self.end is None else _usecs(self.end)

    @property
    def is_range(self) -> bool:
        return self.range_end is not None

    def __str__(self) -> str:
        if self.kind == "any":
            return "*"
        plus = "+" if self.kind == "relative" else ""
        text = plus + _fmt_seconds(self.value)
        if self.range_end is not None:
            text += "~" + plus + _fmt_seconds(self.range_end)
        if self.end is not None:
            text += "..." + _fmt_seconds(self.end, short=False)
        return text


# --------------------------------------------------------------------------
# Expressions (system call arguments and results)

@dataclass(frozen=True)
class Expr:
    """Base class of system call argument and result expressions."""


@dataclass(frozen=True)
class IntExpr(Expr):
    """An integer: `42`, `-1`, `0x1f` (is_hex remembers how it was written)."""
    value: int
    is_hex: bool = False

    def __str__(self) -> str:
        return hex(self.value) if self.is_hex else str(self.value)


@dataclass(frozen=True)
class StrExpr(Expr):
    """A string literal, text between the quotes undecoded (backslash
    escapes are kept as written). Adjacent literals are joined.
    `truncated` is the `"abc"...` form: the buffer starts with this text."""
    value: str
    truncated: bool = False

    def __str__(self) -> str:
        return f'"{self.value}"' + ("..." if self.truncated else "")


@dataclass(frozen=True)
class Ident(Expr):
    """A symbolic name: SOL_SOCKET, O_NONBLOCK, POLLIN, AF_INET ..."""
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class EllipsisExpr(Expr):
    """`...`: a value the script does not spell out (buffer, address...)."""

    def __str__(self) -> str:
        return "..."


@dataclass(frozen=True)
class ArrayExpr(Expr):
    """`[a, b, ...]`, also the `[1]` form for a pointer to an int."""
    items: list[Expr] = field(default_factory=list)

    def __str__(self) -> str:
        return "[" + ", ".join(map(str, self.items)) + "]"


@dataclass(frozen=True)
class FieldExpr(Expr):
    """`name=value`, or `name(arg, ...)=value` (e.g. `msg_iov(1)=[...]`,
    `msg_name(...)=...`); `args` is None when there are no parentheses."""
    name: str
    value: Expr
    args: list[Expr] | None = None

    def __str__(self) -> str:
        head = self.name
        if self.args is not None:
            head += "(" + ", ".join(map(str, self.args)) + ")"
        return f"{head}={self.value}"


@dataclass(frozen=True)
class StructExpr(Expr):
    """`{ ... }`: a struct. Items are usually `FieldExpr`s
    (`{l_onoff=1, l_linger=0}`) but may be positional (`{..., 40}` for an
    iovec)."""
    items: list[Expr] = field(default_factory=list)

    def get(self, name: str) -> Expr | None:
        """The value of field `name`, or None if there is no such field."""
        for item in self.items:
            if isinstance(item, FieldExpr) and item.name == name:
                return item.value
        return None

    def field_named(self, name: str) -> FieldExpr | None:
        for item in self.items:
            if isinstance(item, FieldExpr) and item.name == name:
                return item
        return None

    @property
    def fields(self) -> dict[str, Expr]:
        """The named fields as a dict (positional items left out)."""
        return {item.name: item.value for item in self.items
                if isinstance(item, FieldExpr)}

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.items)) + "}"


@dataclass(frozen=True)
class CallExpr(Expr):
    """`name(args)`: htons(8080), inet_addr("192.0.2.1"), sizeof(...)."""
    name: str
    args: list[Expr] = field(default_factory=list)

    def __str__(self) -> str:
        return self.name + "(" + ", ".join(map(str, self.args)) + ")"


@dataclass(frozen=True)
class BinaryExpr(Expr):
    """`left op right`; the only operator is `|` (bitwise or),
    left-associative: `A|B|C` is `(A|B)|C`."""
    op: str
    left: Expr
    right: Expr

    def operands(self) -> list[Expr]:
        """The flat list of operands of a chain of the same operator."""
        out: list[Expr] = []
        for side in (self.left, self.right):
            if isinstance(side, BinaryExpr) and side.op == self.op:
                out.extend(side.operands())
            else:
                out.append(side)
        return out

    def __str__(self) -> str:
        return f"{self.left}{self.op}{self.right}"


# --------------------------------------------------------------------------
# TCP options

@dataclass(frozen=True)
class TcpOption:
    """Base class of the TCP options written in `<...>`.

    `kind` is the script keyword; `wire_length` the bytes the option takes in
    a TCP header."""
    kind: ClassVar[str] = ""

    @property
    def wire_length(self) -> int:
        raise NotImplementedError


@dataclass(frozen=True)
class NopOption(TcpOption):
    kind: ClassVar[str] = "nop"

    @property
    def wire_length(self) -> int:
        return 1

    def __str__(self) -> str:
        return "nop"


@dataclass(frozen=True)
class EolOption(TcpOption):
    kind: ClassVar[str] = "eol"

    @property
    def wire_length(self) -> int:
        return 1

    def __str__(self) -> str:
        return "eol"


@dataclass(frozen=True)
class MssOption(TcpOption):
    kind: ClassVar[str] = "mss"
    mss: int

    @property
    def wire_length(self) -> int:
        return 4

    def __str__(self) -> str:
        return f"mss {self.mss}"


@dataclass(frozen=True)
class WscaleOption(TcpOption):
    kind: ClassVar[str] = "wscale"
    shift: int

    @property
    def wire_length(self) -> int:
        return 3

    def __str__(self) -> str:
        return f"wscale {self.shift}"


@dataclass(frozen=True)
class SackPermittedOption(TcpOption):
    kind: ClassVar[str] = "sackOK"

    @property
    def wire_length(self) -> int:
        return 2

    def __str__(self) -> str:
        return "sackOK"


@dataclass(frozen=True)
class SackOption(TcpOption):
    """`sack 1001:2001 3001:4001`: blocks as (left, right) pairs."""
    kind: ClassVar[str] = "sack"
    blocks: list[tuple[int, int]]

    @property
    def wire_length(self) -> int:
        return 2 + 8 * len(self.blocks)

    def __str__(self) -> str:
        return "sack " + " ".join(f"{a}:{b}" for a, b in self.blocks)


@dataclass(frozen=True)
class TimestampOption(TcpOption):
    """`TS val X ecr Y`."""
    kind: ClassVar[str] = "TS"
    val: int
    ecr: int

    @property
    def wire_length(self) -> int:
        return 10

    def __str__(self) -> str:
        return f"TS val {self.val} ecr {self.ecr}"


@dataclass(frozen=True)
class FastOpenOption(TcpOption):
    """`FO [cookie]` (option 34, RFC 7413) or `FOEXP [cookie]` (the
    experimental option 254 with magic 0xF989). `cookie` is the hex text as
    written ('' when absent); `cookie_bytes` decodes it. `symbol` is set
    instead when the script names the cookie (`FOEXP TFO_COOKIE`) and no
    `-D TFO_COOKIE=...` definition gave it a value."""
    kind: ClassVar[str] = "FO"
    cookie: str = ""
    experimental: bool = False
    symbol: str = ""

    @property
    def cookie_bytes(self) -> bytes:
        if self.symbol:
            raise UndefinedSymbolError(self.symbol)
        return bytes.fromhex(self.cookie)

    @property
    def wire_length(self) -> int:
        return (4 if self.experimental else 2) + len(self.cookie_bytes)

    def __str__(self) -> str:
        name = "FOEXP" if self.experimental else "FO"
        value = self.symbol or self.cookie
        return f"{name} {value}" if value else name


class UndefinedSymbolError(ValueError):
    """A script uses a name that needs a `-D NAME=VALUE` definition."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        super().__init__(f"{symbol} is not defined: give it a value with "
                         f"-D {symbol}=VALUE")


@dataclass(frozen=True)
class Md5Option(TcpOption):
    """`md5 <hex digest>` (RFC 2385); digest as written."""
    kind: ClassVar[str] = "md5"
    digest: str

    @property
    def wire_length(self) -> int:
        return 2 + len(self.digest) // 2

    def __str__(self) -> str:
        return f"md5 {self.digest}"


@dataclass(frozen=True)
class ElidedOptions(TcpOption):
    """`<...>`: any options at all (only allowed on outbound packets).
    It is always the only element of `Packet.options`."""
    kind: ClassVar[str] = "..."

    @property
    def wire_length(self) -> int:
        return 0

    def __str__(self) -> str:
        return "..."


# --------------------------------------------------------------------------
# Events

@dataclass(frozen=True, kw_only=True)
class Event:
    """Base class of events. `time` is None only for untimed shell commands
    (init and cleanup)."""
    line: int
    time: Time | None


@dataclass(frozen=True, kw_only=True)
class _PacketBase(Event):
    """What every packet event shares: direction, ports and IP attributes.

    direction  '<' injected into the stack under test, '>' expected from it.
    src_port, dst_port  from the `sport>dport` form, else None.
    ecn        'noecn', 'ect0', 'ect1', 'ce' or 'ect01' (either ECT), or None.
    tos        an explicit `tos 0x..` byte, or None.
    flowlabel  IPv6 `flowlabel 0x...`, or None.
    ttl        `ttl N`, or None.
    """
    direction: Literal["<", ">"]
    src_port: int | None = None
    dst_port: int | None = None
    ecn: str | None = None
    tos: int | None = None
    flowlabel: int | None = None
    ttl: int | None = None

    @property
    def inbound(self) -> bool:
        return self.direction == "<"

    @property
    def outbound(self) -> bool:
        return self.direction == ">"

    def _ip_prefix(self) -> str:
        parts = []
        if self.ecn is not None:
            parts.append(self.ecn)
        if self.tos is not None:
            parts.append(f"tos {self.tos:#x}")
        if self.flowlabel is not None:
            parts.append(f"flowlabel {self.flowlabel:#x}")
        if self.ttl is not None:
            parts.append(f"ttl {self.ttl}")
        text = f"{self.direction} "
        if parts:
            text += "[" + ", ".join(parts) + "] "
        if self.src_port is not None:
            text += f"{self.src_port}>{self.dst_port} "
        return text


@dataclass(frozen=True, kw_only=True)
class Packet(_PacketBase):
    """A TCP segment: `> P. 1:1001(1000) ack 1 win 257 <nop,nop,sack 5:6>`.

    flags      as written, with '.' for ACK (e.g. 'S', 'S.', 'F.', 'P.',
               'R', '.', 'FP.', 'SEW'); '' for the `-` (no flags) form.
               Letters: F S R P U E(ECE) W(CWR) A(AE); digits 0-7 are the
               AccECN ACE field written `S.5` style.
    start_seq, end_seq, length  from `start:end(length)`; end = start+length.
    ack        the `ack N` value, None when not written.
    win        the `win N` value, None when not written (only outbound
               packets may leave it out: then it is not checked).
    urg        the `urg N` urgent pointer, None when not written.
    options    None when no `<...>` part is written (packetdrill then means
               "no options at all"); a list of `TcpOption`s for `<a,b,...>`;
               `[ElidedOptions()]` for the don't-care form `<...>`.
    """
    flags: str
    start_seq: int
    end_seq: int
    length: int
    ack: int | None = None
    win: int | None = None
    urg: int | None = None
    options: list[TcpOption] | None = None

    @property
    def options_dont_care(self) -> bool:
        """True for `<...>`: the packet's options are not checked."""
        return bool(self.options) and isinstance(self.options[0], ElidedOptions)

    def has_flag(self, letter: str) -> bool:
        """has_flag('S'); use '.' for ACK."""
        return letter in self.flags

    def __str__(self) -> str:
        text = self._ip_prefix()
        text += (self.flags or "-")
        text += f" {self.start_seq}:{self.end_seq}({self.length})"
        if self.ack is not None:
            text += f" ack {self.ack}"
        if self.win is not None:
            text += f" win {self.win}"
        if self.urg is not None:
            text += f" urg {self.urg}"
        if self.options is not None:
            text += " <" + ",".join(map(str, self.options)) + ">"
        return text


@dataclass(frozen=True, kw_only=True)
class UdpPacket(_PacketBase):
    """`< udp (100)` or `> [ect0] 1234>5678 udp (20)`."""
    length: int

    def __str__(self) -> str:
        return self._ip_prefix() + f"udp ({self.length})"


@dataclass(frozen=True, kw_only=True)
class IcmpPacket(_PacketBase):
    """`< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`.

    icmp_type, icmp_code  words as written (code None if absent).
    mtu, echo_id          from `mtu N` / `id N`, else None.
    echoed_protocol       'tcp', 'udp' or 'raw' for the quoted packet in
                          `[...]` ('tcp' when there is none, as packetdrill).
    echoed_start_seq, echoed_length  from `[start:end(len)]`, `[udp (len)]`
                          or `[raw (len)]`; 0 when absent.
    """
    icmp_type: str
    icmp_code: str | None = None
    mtu: int | None = None
    echo_id: int | None = None
    echoed_protocol: str = "tcp"
    echoed_start_seq: int = 0
    echoed_length: int = 0

    def __str__(self) -> str:
        text = self._ip_prefix() + f"icmp {self.icmp_type}"
        if self.icmp_code:
            text += f" {self.icmp_code}"
        if self.mtu is not None:
            text += f" mtu {self.mtu}"
        if self.echo_id is not None:
            text += f" id {self.echo_id}"
        return text


@dataclass(frozen=True, kw_only=True)
class Syscall(Event):
    """`+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)`.

    name    the call, e.g. 'setsockopt'.
    args    argument expressions ([] for `()`).
    result  the expected return value expression.
    errno   the expected errno name (e.g. 'EINPROGRESS'), or None.
    note    the parenthesised text after the errno (its strerror text), or
            after the result when there is no errno; None if absent.
    extra_note  a second parenthesised note, rare; None if absent.
    end_time (property)  `Time.end`: for a blocking call, when it returns.
    """
    name: str
    args: list[Expr] = field(default_factory=list)
    result: Expr
    errno: str | None = None
    note: str | None = None
    extra_note: str | None = None

    @property
    def end_time(self) -> float | None:
        return None if self.time is None else self.time.end

    @property
    def blocking(self) -> bool:
        return self.end_time is not None

    def __str__(self) -> str:
        text = f"{self.name}({', '.join(map(str, self.args))}) = {self.result}"
        if self.errno:
            text += f" {self.errno}"
        if self.note:
            text += f" ({self.note})"
        if self.extra_note:
            text += f" ({self.extra_note})"
        return text


@dataclass(frozen=True, kw_only=True)
class ShellCommand(Event):
    """A backquoted command, text as written between the backquotes (it may
    span lines). phase: 'init' (untimed, before the first timed event),
    'event' (timed), 'cleanup' (untimed, after the last timed event).
    packetdrill runs it with /bin/sh in the script's directory."""
    text: str
    phase: Literal["init", "event", "cleanup"] = "event"

    def __str__(self) -> str:
        return f"`{self.text}`"


@dataclass(frozen=True, kw_only=True)
class PythonBlock(Event):
    """`%{ ... }%`: Python source, with the spaces and tabs at both ends
    trimmed (as packetdrill does; newlines are kept, so a multi-line block
    may still need `textwrap.dedent`)."""
    code: str

    def __str__(self) -> str:
        return "%{ " + self.code + " }%"


AnyEvent = Union[Packet, UdpPacket, IcmpPacket, Syscall, ShellCommand,
                 PythonBlock]


# --------------------------------------------------------------------------
# The script

@dataclass(frozen=True)
class Script:
    """A parsed script.

    options       `--name=value` options as a dict (a bare `--name` maps to
                  ''; when a name repeats, the last value wins).
    events        every event in script order, init/cleanup commands included.
    path          where the script came from ('<string>' for text).
    option_items  the options in order, repeats kept, as (name, value) pairs
                  (value None for a bare `--name`).
    """
    options: dict[str, str]
    events: list[Event]
    path: str = "<string>"
    option_items: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def init_commands(self) -> list[ShellCommand]:
        return [e for e in self.events
                if isinstance(e, ShellCommand) and e.phase == "init"]

    @property
    def cleanup_commands(self) -> list[ShellCommand]:
        return [e for e in self.events
                if isinstance(e, ShellCommand) and e.phase == "cleanup"]

    @property
    def timed_events(self) -> list[Event]:
        """The events that have a time (all but init/cleanup commands)."""
        return [e for e in self.events if e.time is not None]
