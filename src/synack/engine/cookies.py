"""SYN cookies (RFC 4987 §3.6; the encoding is its Appendix A).

When the SYN queue is full a listener can answer a SYN without keeping any
state: the SYN,ACK's ISN itself carries what the connection needs.

    ISN = t mod 32 (5 bits) | MSS index (3 bits) | H(secret, 4-tuple, t, client ISN) (24 bits)

t is a counter that ticks every 64 seconds; a cookie is accepted for the
current and the previous tick. The MSS is rounded down to one of eight
values. When the SYN carried timestamps, the window-scale shift (4 bits) and
SACK-permitted (1 bit) ride in the low 6 bits of our TSval, which the client
echoes in TSecr on the final ACK (as Linux does); without timestamps those
options are lost, as RFC 4987 says.
"""
from __future__ import annotations

from typing import Final

import hashlib

from .seq import MASK

MSS_TABLE: Final = (536, 1220, 1300, 1360, 1440, 1452, 1460, 8960)
TICK: Final = 64.0


def _mss_index(mss: int) -> int:
    idx = 0
    for i, m in enumerate(MSS_TABLE):
        if m <= mss:
            idx = i
    return idx


class CookieJar:
    __slots__ = ("_key",)

    def __init__(self, secret: bytes):
        self._key = hashlib.blake2s(b"syn-cookie" + secret).digest()

    def _hash(self, key4, t: int, client_isn: int) -> int:
        lip, lport, rip, rport = key4
        h = hashlib.blake2s(f"{lip}|{lport}|{rip}|{rport}|{t}|{client_isn}".encode(),
                            key=self._key, digest_size=3).digest()
        return int.from_bytes(h, "big")

    def make(self, now: float, key4, client_isn: int, mss: int) -> tuple[int, int]:
        """The cookie ISN for a SYN, and the MSS it will encode."""
        t = int(now // TICK)
        idx = _mss_index(mss)
        isn = ((t & 31) << 27) | (idx << 24) | self._hash(key4, t, client_isn)
        return isn & MASK, MSS_TABLE[idx]

    def check(self, now: float, key4, client_isn: int, cookie: int) -> int | None:
        """The MSS if `cookie` (our ISN) is one we made in the last two ticks."""
        tnow = int(now // TICK)
        for t in (tnow, tnow - 1):
            if (cookie >> 27) != (t & 31):
                continue
            if (cookie & 0xFFFFFF) == self._hash(key4, t, client_isn):
                return MSS_TABLE[(cookie >> 24) & 7]
        return None


def ts_encode(tsval: int, wscale: int | None, sack: bool) -> int:
    """Put wscale (0..14, 15 = none) and SACK-permitted in TSval's low 6 bits."""
    ws = 15 if wscale is None else wscale
    enc = (tsval & ~0x3F) | (int(sack) << 4) | ws
    if enc > tsval:
        enc -= 0x40       # never run ahead of the real clock, or PAWS would bite later
    return enc & MASK


def ts_decode(tsecr: int) -> tuple[int | None, bool]:
    ws = tsecr & 0xF
    return (None if ws == 15 else ws), bool(tsecr & 0x10)
