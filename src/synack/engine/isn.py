"""Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1, MUST-8, MUST-9, SHLD-1).

ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a
timer ticking every 4 microseconds and F is a keyed hash (BLAKE2s, keyed by a
per-host secret, so it cannot be computed from outside the host, MUST-9).
"""
from __future__ import annotations

import hashlib
import os

from .seq import MASK


class IsnGenerator:
    """F is the top 32 bits of a 64-bit keyed hash of the 4-tuple; the host
    takes the low 32 bits as the connection's TSval offset (RFC 7323 §7.1
    RECOMMENDS a random per-connection offset). RFC 7323 §5.4 suggests the
    ISN's function with a different secret key for it; the two halves of one
    PRF output are as independent of each other as two keys' outputs, and
    cost one hash instead of two (`keyed_hash` remembers its last answer)."""
    __slots__ = ("_key", "_keyed", "_last_in", "_last_out")

    def __init__(self, secret: bytes | None = None):
        self._key = (secret or os.urandom(32))[:32]
        self._keyed = hashlib.blake2s(key=self._key, digest_size=8)   # copied per call
        self._last_in: tuple[str, int, str, int] = ("", -1, "", -1)
        self._last_out = 0

    def keyed_hash(self, local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> int:
        """64 bits of BLAKE2s, keyed by the host's secret, of the 4-tuple."""
        last = self._last_in
        if (local_port == last[1] and remote_port == last[3] and local_ip == last[0]
                and remote_ip == last[2]):
            return self._last_out
        h = self._keyed.copy()
        h.update(f"{local_ip}|{local_port}|{remote_ip}|{remote_port}".encode())
        out = int.from_bytes(h.digest(), "big")
        self._last_in = (local_ip, local_port, remote_ip, remote_port)
        self._last_out = out
        return out

    def __call__(self, now: float, local_ip: str, local_port: int,
                 remote_ip: str, remote_port: int) -> int:
        m = int(now * 250_000)                      # the 4 us clock (MUST-8)
        return (m + (self.keyed_hash(local_ip, local_port, remote_ip, remote_port) >> 32)) & MASK


class FixedIsn:
    """An ISN source for tests: always the same number (or a sequence of them)."""
    __slots__ = ("_values", "_i")

    def __init__(self, *values: int):
        self._values = values or (0,)
        self._i = 0

    def __call__(self, now, local_ip, local_port, remote_ip, remote_port) -> int:
        v = self._values[min(self._i, len(self._values) - 1)]
        self._i += 1
        return v & MASK
