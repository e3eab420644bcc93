"""Capture files in the classic libpcap format, readable by tcpdump/Wireshark.

The file is a 24-octet global header followed by records, each a 16-octet
record header (seconds, microseconds, captured length, original length) and
the packet octets. We use link type LINKTYPE_RAW (101): every packet begins
directly with an IPv4 or IPv6 header, told apart by the version nibble, so
both families can share one file.

The writer flushes after every packet so a capture can be watched (e.g.
with `tail -f | tshark -r -`) while a test or simulation is running.
"""
from __future__ import annotations

import os
import struct

__all__ = ["PcapWriter", "read_pcap", "LINKTYPE_RAW"]

LINKTYPE_RAW = 101
MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
DEFAULT_SNAPLEN = 262144

_GLOBAL = struct.Struct("<IHHiIII")   # magic, major, minor, zone, sigfigs,
#                                       snaplen, link type
_RECORD = struct.Struct("<IIII")      # seconds, fraction, incl_len, orig_len


def _split_time(t: float) -> tuple[int, int]:
    """Whole seconds and microseconds, rounding without reaching 10**6."""
    if t < 0:
        raise ValueError(f"negative timestamp {t}")
    usec_total = round(t * 1_000_000)
    return divmod(usec_total, 1_000_000)


class PcapWriter:
    """Write packets to a libpcap file (a path or a binary file object).

    A file given by path is created (truncated) and closed by `close`; a
    file object passed in is flushed but left open for its owner.
    """

    def __init__(self, path_or_file, *, snaplen: int = DEFAULT_SNAPLEN,
                 linktype: int = LINKTYPE_RAW):
        if isinstance(path_or_file, (str, bytes, os.PathLike)):
            self._file = open(path_or_file, "wb")
            self._owns_file = True
        else:
            self._file = path_or_file
            self._owns_file = False
        self.snaplen = snaplen
        self.count = 0
        self._file.write(_GLOBAL.pack(MAGIC_USEC, 2, 4, 0, 0, snaplen,
                                      linktype))
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, t_seconds: float, packet) -> None:
        """Append one packet captured at time `t_seconds` (seconds since
        any epoch; the simulator uses its own clock)."""
        if self._file is None:
            raise ValueError("write to a closed PcapWriter")
        seconds, usec = _split_time(t_seconds)
        captured = bytes(packet[:self.snaplen])
        self._file.write(_RECORD.pack(seconds, usec, len(captured),
                                      len(packet)) + captured)
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        if self._owns_file:
            self._file.close()
        self._file = None

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_pcap(path) -> list[tuple[float, bytes]]:
    """All (time, packet) records of a classic pcap file, either byte order
    and either microsecond or nanosecond resolution. A record cut short at
    the end of the file (a writer still running) is left out."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _GLOBAL.size:
        raise ValueError("not a pcap file: too short")
    for order in "<>":
        magic = struct.unpack_from(order + "I", data)[0]
        if magic in (MAGIC_USEC, MAGIC_NSEC):
            break
    else:
        raise ValueError("not a pcap file: bad magic")
    scale = 1e-6 if magic == MAGIC_USEC else 1e-9
    record = struct.Struct(order + "IIII")
    out = []
    pos = _GLOBAL.size
    while pos + record.size <= len(data):
        seconds, fraction, incl_len, _orig = record.unpack_from(data, pos)
        pos += record.size
        if pos + incl_len > len(data):
            break
        out.append((seconds + fraction * scale, data[pos:pos + incl_len]))
        pos += incl_len
    return out
