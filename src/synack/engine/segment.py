"""TCP segments as small immutable values (RFC 9293 §3.1).

A `Segment` is the TCP header and payload with the options already parsed;
the IP addresses travel beside it (the host knows them from the IP header).
Codecs to and from bytes live in `synack.wire`; the engine never sees bytes.

`window` is the raw 16-bit field as it is on the wire (unscaled): scaling is
a property of the connection (RFC 7323 §2.3), not of the segment.
"""
from __future__ import annotations

from typing import Final, NamedTuple

# Control bits (RFC 9293 §3.1 and RFC 3168 for ECE/CWR).
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20
ECE: Final = 0x40
CWR: Final = 0x80

FLAG_NAMES: Final = ((SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"),
              (ACK, "ACK"), (URG, "URG"), (ECE, "ECE"), (CWR, "CWR"))


def flag_names(flags: int) -> list[str]:
    """['SYN', 'ACK'] for SYN|ACK, in a fixed, readable order."""
    return [name for bit, name in FLAG_NAMES if flags & bit]


def flags_from_names(names) -> int:
    table = {name: bit for bit, name in FLAG_NAMES}
    out = 0
    for n in names:
        out |= table[n.upper()]
    return out


class Options(NamedTuple):
    """The TCP options this stack understands (RFC 9293 §3.2, RFC 7323, RFC 2018).

    Absent options are None (or False/empty). `unknown` keeps (kind, data)
    pairs of options we do not implement, which are skipped (MUST-6).
    """
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack: tuple[tuple[int, int], ...] = ()
    timestamp: tuple[int, int] | None = None      # (TSval, TSecr)
    unknown: tuple[tuple[int, bytes], ...] = ()

    def describe(self) -> dict:
        d: dict = {}
        if self.mss is not None:
            d["mss"] = self.mss
        if self.wscale is not None:
            d["wscale"] = self.wscale
        if self.sack_permitted:
            d["sack_permitted"] = True
        if self.sack:
            d["sack"] = [list(b) for b in self.sack]
        if self.timestamp is not None:
            d["tsval"], d["tsecr"] = self.timestamp
        for kind, data in self.unknown:
            d.setdefault("unknown", []).append([kind, data.hex()])
        return d


NO_OPTIONS: Final = Options()


class Segment(NamedTuple):
    """One TCP segment: header fields, parsed options and payload."""
    src_port: int
    dst_port: int
    seq: int
    ack: int = 0
    flags: int = 0
    window: int = 0
    urgent: int = 0
    options: Options = NO_OPTIONS
    payload: bytes = b""

    @property
    def seg_len(self) -> int:
        """SEG.LEN: payload octets plus one for SYN and one for FIN (RFC 9293 §3.4)."""
        return len(self.payload) + (self.flags & SYN and 1) + (self.flags & FIN and 1)

    def describe(self) -> str:
        """A one-line, tcpdump-like rendering for logs and error messages."""
        parts = ["|".join(flag_names(self.flags)) or "none",
                 f"seq={self.seq}"]
        if self.flags & ACK:
            parts.append(f"ack={self.ack}")
        parts.append(f"win={self.window}")
        if self.payload:
            parts.append(f"len={len(self.payload)}")
        opts = self.options.describe()
        if opts:
            parts.append("<" + ",".join(f"{k}={v}" for k, v in opts.items()) + ">")
        return f"{self.src_port}>{self.dst_port} " + " ".join(parts)


# tuple.__new__ builds a NamedTuple without its Python-level __new__, which
# parses the arguments. Final names are C statics in the compiled build,
# where a plain module name (the classes' own) is a dict lookup per use.
_new: Final = tuple.__new__
_OPTIONS: Final = Options
_SEGMENT: Final = Segment


def make_options(mss: int | None, wscale: int | None, sack_permitted: bool,
                 sack: tuple, timestamp: tuple[int, int] | None, unknown: tuple) -> Options:
    """`Options(...)` for the engine's hot path, with every field given. The
    one place besides the class that knows the order of its fields: the
    parameters follow it (tests/test_segment_build.py checks)."""
    return _new(_OPTIONS, (mss, wscale, sack_permitted, sack, timestamp, unknown))


def make_segment(src_port: int, dst_port: int, seq: int, ack: int, flags: int, window: int,
                 urgent: int, options: Options, payload: bytes) -> Segment:
    """`Segment(...)` for the engine's hot path, with every field given (see
    make_options)."""
    return _new(_SEGMENT, (src_port, dst_port, seq, ack, flags, window, urgent, options, payload))

