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
import ipaddress
import struct

from .seq import MASK

MSS_TABLE: Final = (536, 1220, 1300, 1360, 1440, 1452, 1460, 8960)
TICK: Final = 64.0
_MAC_V4: Final = struct.Struct("!4s4sHHII")      # local, remote, ports, tick, ISN
_MAC_V6: Final = struct.Struct("!16s16sHHII")


_PACKED: dict = {}


def pack_address(ip: str) -> bytes:
    """The 4- or 16-octet form of a text address (a small cache: the engine's
    cookie path sees text addresses, the frame path already has octets)."""
    b = _PACKED.get(ip)
    if b is None:
        b = ipaddress.ip_address(ip).packed
        if len(_PACKED) >= 4096:
            _PACKED.clear()
        _PACKED[ip] = b
    return b


def mss_index(mss: int) -> int:
    """The index of the largest MSS_TABLE entry not above `mss` (0 below 536)."""
    idx = 0
    for i, m in enumerate(MSS_TABLE):
        if m <= mss:
            idx = i
    return idx


class CookieJar:
    """Makes and checks cookies. The MAC is keyed BLAKE2s (digest size 8)
    over the packed 4-tuple, the tick and the client's ISN: the key is set
    up once and its state copied per cookie, and the input is one
    struct-packed string, so a cookie costs one hash call and no text
    formatting (the frame path, synack.tun.framepath, answers SYN floods
    with it). Of the 64 bits, the top 24 are the cookie's MAC and the low
    32 are the TSval offset of the cookie SYN,ACK (RFC 7323 §7.1 asks for a
    per-connection random offset; disjoint bits of one keyed hash are as
    independent as two hashes, for the price of one -- as Linux keys its
    own cookie and TS offset from secrets the attacker does not see)."""
    __slots__ = ("_keyed",)

    def __init__(self, secret: bytes):
        key = hashlib.blake2s(b"syn-cookie" + secret).digest()
        self._keyed = hashlib.blake2s(key=key, digest_size=8)    # copied per cookie

    def mac(self, local: bytes, lport: int, remote: bytes, rport: int, t: int,
            client_isn: int) -> int:
        """The 64-bit keyed hash of a packed (4- or 16-octet) 4-tuple, the
        tick `t` and the client's ISN."""
        h = self._keyed.copy()
        h.update((_MAC_V4 if len(local) == 4 else _MAC_V6).pack(
            local, remote, lport, rport, t & MASK, client_isn))
        return int.from_bytes(h.digest(), "big")

    def make_packed(self, now: float, local: bytes, lport: int, remote: bytes, rport: int,
                    client_isn: int, mss_index: int) -> tuple[int, int]:
        """The cookie ISN for a SYN (addresses packed, the MSS already an
        index into MSS_TABLE) and the TSval offset of its SYN,ACK."""
        t = int(now // TICK)
        h = self.mac(local, lport, remote, rport, t, client_isn)
        return ((t & 31) << 27) | (mss_index << 24) | (h >> 40), h & MASK

    def make(self, now: float, key4, client_isn: int, mss: int) -> tuple[int, int, int]:
        """The cookie ISN for a SYN, the MSS it will encode, and the TSval
        offset of its SYN,ACK (key4: local ip, port, remote ip, port as text)."""
        lip, lport, rip, rport = key4
        idx = mss_index(mss)
        isn, ts_off = self.make_packed(now, pack_address(lip), lport, pack_address(rip), rport,
                                       client_isn, idx)
        return isn, MSS_TABLE[idx], ts_off

    def check(self, now: float, key4, client_isn: int, cookie: int) -> int | None:
        """The MSS if `cookie` (our ISN) is one we made in the last two ticks."""
        lip, lport, rip, rport = key4
        local, remote = pack_address(lip), pack_address(rip)
        tnow = int(now // TICK)
        for t in (tnow, tnow - 1):
            if (cookie >> 27) != (t & 31):
                continue
            if (cookie & 0xFFFFFF) == self.mac(local, lport, remote, rport, t, client_isn) >> 40:
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
