"""TCP_INFO for `%{ ... }%` blocks and getsockopt(TCP_INFO).

packetdrill takes a getsockopt(TCP_INFO) snapshot of the socket under test
at each `%{ }%` event and, after the script ends, runs all blocks in order
as one Python program, each preceded by its snapshot's `tcpi_*` variables.
The runner does the same with the fields below, each computed with its
Linux meaning from the engine's state. A block that reads any other
`tcpi_*` field is not run: it fails the script with the names it could not
evaluate, never counts as a pass.
"""
from __future__ import annotations

import re

from .syscalls import LINUX_STATE

#: The fields the runner provides, and what each is taken from.
MAPPED_FIELDS = {
    "tcpi_state": "connection state, Linux numbering",
    "tcpi_snd_mss": "effective send MSS (options excluded), bytes",
    "tcpi_advmss": "MSS announced in our SYN, bytes",
    "tcpi_snd_cwnd": "congestion window in segments (cwnd // snd_mss)",
    "tcpi_snd_ssthresh": "slow-start threshold in segments (0x7fffffff while infinite)",
    "tcpi_rto": "current RTO including backoff, microseconds",
    "tcpi_rtt": "smoothed RTT, microseconds (0 before a sample)",
    "tcpi_rttvar": "RTT variation, microseconds",
    "tcpi_backoff": "number of RTO doublings in force",
    "tcpi_retransmits": "consecutive RTO expiries without progress",
    "tcpi_probes": "unanswered window probes, and probes the local queue refused",
    "tcpi_snd_wscale": "the peer's window scale (applied to windows we receive)",
    "tcpi_rcv_wscale": "our window scale",
    "tcpi_options": "TCPI_OPT_TIMESTAMPS|SACK|WSCALE as negotiated",
    "tcpi_ca_state": "Open/Disorder/Recovery/Loss (Connection.ca_state)",
    "tcpi_unacked": "segments outstanding (from the per-segment send log)",
    "tcpi_sacked": "outstanding segments SACKed",
    "tcpi_lost": "outstanding segments marked lost",
    "tcpi_retrans": "retransmissions in flight",
    "tcpi_reordering": "reordering degree in segments (RACK's, 3 before any is seen)",
    "tcpi_reord_seen": "reordering events seen (RACK)",
    "tcpi_min_rtt": "smallest RTT sample, microseconds",
}

SYMBOLS = {
    "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
    "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
    "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11,
    "TCPI_OPT_TIMESTAMPS": 1, "TCPI_OPT_SACK": 2, "TCPI_OPT_WSCALE": 4,
    "TCPI_OPT_ECN": 8, "TCPI_OPT_SYN_DATA": 32,
    "TCP_CA_Open": 0, "TCP_CA_Disorder": 1, "TCP_CA_CWR": 2, "TCP_CA_Recovery": 3,
    "TCP_CA_Loss": 4,
}

_INFINITE_SSTHRESH = 0x7FFFFFFF
_NAME = re.compile(r"\b(tcpi_\w+|TCP_CA_\w+|bbr_\w+|dctcp_\w+|tcpv_\w+|SK_MEMINFO_\w+)\b")


def snapshot(obj) -> dict[str, int]:
    """The mapped fields for a Connection (or TIME-WAIT entry / listener);
    {} when there is nothing to look at."""
    if obj is None:
        return {}
    info: dict[str, int] = {}
    state = getattr(obj, "state", None)
    if state in LINUX_STATE:
        info["tcpi_state"] = LINUX_STATE[state]
    if not hasattr(obj, "snd_mss"):
        return info
    mss = obj.snd_mss
    info["tcpi_snd_mss"] = mss
    info["tcpi_advmss"] = obj.rcv_mss
    cc = getattr(obj, "cc", None)
    if cc is not None and mss:
        info["tcpi_snd_cwnd"] = cc.cwnd // mss
        ss = cc.ssthresh
        info["tcpi_snd_ssthresh"] = _INFINITE_SSTHRESH if ss >= (1 << 30) else ss // mss
    rtt = getattr(obj, "rtt", None)
    if rtt is not None:
        info["tcpi_rto"] = int(round(rtt.current() * 1_000_000))
        info["tcpi_rtt"] = int(round((rtt.srtt or 0.0) * 1_000_000))
        info["tcpi_rttvar"] = int(round(rtt.rttvar * 1_000_000))
        info["tcpi_backoff"] = rtt.backoff
    info["tcpi_retransmits"] = getattr(obj, "retries", 0)
    info["tcpi_probes"] = getattr(obj, "probes_out", 0)
    info["tcpi_snd_wscale"] = obj.snd_wscale
    info["tcpi_rcv_wscale"] = obj.rcv_wscale
    opts = 0
    if getattr(obj, "ts_ok", False):
        opts |= 1
    if getattr(obj, "sack_ok", False):
        opts |= 2
    if obj.snd_wscale or obj.rcv_wscale:
        opts |= 4
    info["tcpi_options"] = opts
    if rtt is not None and rtt.min_rtt != float("inf"):
        info["tcpi_min_rtt"] = int(round(rtt.min_rtt * 1_000_000))
    rack = getattr(obj, "rack", None)
    if hasattr(obj, "txlog"):
        info["tcpi_reordering"] = rack.reordering if rack is not None else 3
        info["tcpi_reord_seen"] = rack.reord_seen if rack is not None else 0
    ca_state = getattr(obj, "ca_state", None)
    if ca_state is not None:
        info["tcpi_ca_state"] = ca_state()
    # segment counts: from the per-segment send log when the connection
    # keeps one (Config.rtt_every_ack), all zero with nothing outstanding;
    # otherwise left out (a block that reads them fails, saying so)
    log = getattr(obj, "txlog", None)
    if log is not None:
        unacked, sacked, lost, rxt = log.counts()
    elif getattr(obj, "snd_nxt", 0) == getattr(obj, "snd_una", 0):
        unacked = sacked = lost = rxt = 0
    else:
        return info
    info["tcpi_unacked"] = unacked
    info["tcpi_sacked"] = sacked
    info["tcpi_lost"] = lost
    info["tcpi_retrans"] = rxt
    return info


def names_used(code: str) -> set[str]:
    return set(_NAME.findall(code))


def unmapped_names(code: str) -> list[str]:
    return sorted(n for n in names_used(code) if n not in MAPPED_FIELDS and n not in SYMBOLS)
