"""TCP_INFO for `%{ ... }%` blocks and getsockopt(TCP_INFO).

packetdrill takes a getsockopt(TCP_INFO) snapshot of the socket under test
at each `%{ }%` event and, after the script ends, runs all blocks in order
as one Python program, each preceded by its snapshot's `tcpi_*` variables.
The runner does the same with the engine's snapshot
(`synack.engine.info.tcp_info`, each field with its Linux meaning) and the
socket-level clocks the runner keeps itself (`sockstats`). A block that
reads any other `tcpi_*` field is not run: it fails the script with the
names it could not evaluate, never counts as a pass.
"""
from __future__ import annotations

import dataclasses
import re

from ..engine.info import SOCKET_CLOCKS, TcpInfo, tcp_info

#: The fields the engine provides (see `synack.engine.info.TcpInfo`).
MAPPED_FIELDS = {"tcpi_" + f.name: f.type for f in dataclasses.fields(TcpInfo)
                 if f.name not in SOCKET_CLOCKS}

SYMBOLS = {
    "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
    "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
    "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11,
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4,
    "TCPI_OPT_ECN": 8, "TCPI_OPT_SYN_DATA": 32,
    "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3,
    "TCP_CA_Loss": 4,
}

_NAME = re.compile(r"\b(tcpi_\w+|TCP_CA_\w+|bbr_\w+|dctcp_\w+|tcpv_\w+|SK_MEMINFO_\w+)\b")


def snapshot(obj, now: float, clocks: dict[str, int] | None = None) -> dict[str, int]:
    """The tcpi_* fields of a Connection (or TIME-WAIT entry / listener) at
    `now`, with the socket clocks `clocks`; {} when there is nothing to look at."""
    if obj is None:
        return {}
    return tcp_info(now, obj, clocks).fields()


def names_used(code: str) -> set[str]:
    return set(_NAME.findall(code))


def unmapped_names(code: str) -> list[str]:
    return sorted(n for n in names_used(code) if n not in MAPPED_FIELDS and n not in SYMBOLS)
