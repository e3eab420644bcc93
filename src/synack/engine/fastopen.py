"""Client TCP Fast Open (RFC 7413): the cookie cache and the SYN's share.

A client that asks for Fast Open sends the Fast Open option (kind 34,
RFC 7413 §4.1.1) on its SYN: empty when it holds no cookie for the server
(a cookie request, §4.1.2), else the cookie, and then its first data rides
on the SYN (§4.2). The server's SYN,ACK carries a cookie in the same option;
the client keeps it, with the server's MSS, per server address (§4.1.2,
§4.2: "the client caches the cookie ... along with the server's MSS").

Linux's choices followed here (the reference for the socket surfaces):
- a cookie is 4..16 octets of even length (§4.1.1); anything else in the
  option is taken as no cookie;
- the SYN's data is at most the MSS the cached server MSS and our MTU allow,
  less 40 octets (room for any option a middlebox might add);
- a retransmitted SYN carries neither the option nor data;
- a cookie the client did not ask for (no option on its SYN) is not kept,
  but the server's MSS is;
- net.ipv4.tcp_fastopen (`Config.fastopen`): bit 0x1 lets clients use Fast
  Open at all, bit 0x4 sends data on the SYN without any cookie (and then no
  option).

The experimental option (kind 254, magic 0xF989, RFC 6994) is read too.
Linux's fallback to it is followed: a cookie request answered without any
Fast Open option makes the next request to that server use the
experimental option, once (a request in that form left unanswered too goes
back to kind 34 for good); a cookie received in the experimental form is
sent back in it.
"""
from __future__ import annotations

from typing import Final

from .segment import Options

#: option kinds (RFC 7413 §4.1.1; RFC 6994 for the shared experimental kind)
KIND: Final = 34
KIND_EXP: Final = 254
EXP_MAGIC: Final = b"\xf9\x89"
COOKIE_MIN: Final = 4
COOKIE_MAX: Final = 16
#: Linux's MAX_TCP_OPTION_SPACE: what the SYN's data leaves free for options
OPTION_ROOM: Final = 40

#: net.ipv4.tcp_fastopen bits (Linux's TFO_CLIENT_ENABLE, TFO_CLIENT_NO_COOKIE)
CLIENT_ENABLE: Final = 0x1
CLIENT_NO_COOKIE: Final = 0x4


def peer_option(opts: Options) -> tuple[bytes | None, bool]:
    """The Fast Open option of a received segment (the last one, if several)
    and whether it was the experimental form: its cookie, b"" for an empty
    option, None when there is none or its length is not a valid cookie's
    (RFC 7413 §4.1.1: 4 to 16 octets, even)."""
    found: bytes | None = None
    exp = False
    for kind, data in opts.unknown:
        if kind == KIND:
            found, exp = data, False
        elif kind == KIND_EXP and data[:2] == EXP_MAGIC:
            found, exp = data[2:], True
    if found is None or not found:
        return found, exp
    if COOKIE_MIN <= len(found) <= COOKIE_MAX and not len(found) & 1:
        return found, exp
    return None, exp


def peer_cookie(opts: Options) -> bytes | None:
    """`peer_option`'s cookie alone."""
    return peer_option(opts)[0]


def option(cookie: bytes, exp: bool) -> tuple[int, bytes]:
    """The Fast Open option as an `Options.unknown` entry."""
    return (KIND_EXP, EXP_MAGIC + cookie) if exp else (KIND, cookie)


class FastOpen:
    """Fast Open state of one active open.

    `cookie`: what the first SYN's option carries: b"" (a cookie request),
    the cached cookie, or None (no option: cookie-less mode, CLIENT_NO_COOKIE).
    `syn_data`: the octets the first SYN carries (taken from the send queue).
    `acked`: the SYN,ACK acknowledged all of them (Linux's syn_data_acked).
    `exp`: the option goes in the experimental form (kind 254).
    `write_pending`: set by a socket layer whose blocking write waits for the
    handshake with more to send (Linux's sk_write_pending): the SYN,ACK is
    then not ACKed on its own; that data carries the ACK.
    """

    __slots__ = ("cookie", "syn_data", "acked", "exp", "write_pending")

    def __init__(self, cookie: bytes | None, syn_data: int, exp: bool = False):
        self.cookie = cookie
        self.syn_data = syn_data
        self.acked = False
        self.exp = exp
        self.write_pending = False


_NOTHING: Final = (b"", 0, False, 0)


class CookieCache:
    """Per server address: the cookie (b"" while none), the server's MSS
    (0 while unknown), whether the cookie came in the experimental form, and
    Linux's try_exp (0; 1: ask in the experimental form next; 2: that was
    tried, kind 34 for good). Linux keeps them in its TCP metrics, per
    destination."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, int, bool, int]] = {}

    def get(self, ip: str) -> tuple[bytes, int]:
        cookie, mss, _exp, _try = self.entries.get(ip, _NOTHING)
        return cookie, mss

    def cookie(self, ip: str) -> bytes:
        return self.entries.get(ip, _NOTHING)[0]

    def exp(self, ip: str) -> bool:
        """Whether the next option to `ip` takes the experimental form."""
        cookie, _mss, exp, try_exp = self.entries.get(ip, _NOTHING)
        return exp if cookie else try_exp == 1

    def learn(self, ip: str, cookie: bytes | None, mss: int, exp: bool = False,
              try_exp: int = 0) -> None:
        """After a SYN,ACK: keep its MSS, and its cookie if it is one
        (Linux's tcp_fastopen_cache_set); else raise try_exp."""
        old_cookie, old_mss, old_exp, old_try = self.entries.get(ip, _NOTHING)
        if cookie:
            old_cookie, old_exp = cookie, exp
        elif try_exp > old_try and not old_cookie and not old_exp:
            old_try = try_exp
        self.entries[ip] = (old_cookie, mss or old_mss, old_exp, old_try)

    def clear(self) -> None:
        """Forget everything (`ip tcp_metrics flush all`)."""
        self.entries.clear()


def ready(cfg_fastopen: int, cookie: bytes) -> bool:
    """Whether data may ride on the SYN (Linux's tcp_fastopen_cookie_check):
    a cookie is cached, or cookie-less mode is on."""
    return bool(cookie) or bool(cfg_fastopen & CLIENT_NO_COOKIE)


def syn_room(mtu_mss: int, cached_mss: int, user_mss: int | None) -> int:
    """How many octets the SYN may carry: the MSS our MTU allows, capped by
    the server's cached MSS and a user MSS, less OPTION_ROOM."""
    mss = mtu_mss
    if cached_mss and cached_mss < mss:
        mss = cached_mss
    if user_mss is not None and user_mss < mss:
        mss = user_mss
    return max(mss - OPTION_ROOM, 0)
