"""The shell commands of a script: what the runner takes from them.

packetdrill runs a script's init command with /bin/sh before the first
event; the scripts use it to set Linux sysctls. synack has no shell or
kernel to configure, so the runner reads the command text instead:

* `.../defaults.sh` means "the Linux defaults": the `linux` profile (or the
  profile chosen with --profile);
* `sysctl [-q] [-w] [-e] name=value ...`, `set_sysctls.py /proc/sys/...=v`
  and `echo v > /proc/sys/...` set the sysctls listed in `SYSCTLS` on the
  profile;
* everything else (other sysctls, ethtool, tc, ip, ...) is ignored, and
  the result says so, line by line.

The cleanup command (after the last event) is ignored too. A shell command
with a time, in the middle of the script, is unsupported: it usually
changes the network under the connection (e.g. a qdisc that drops).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field


def _bool(v: str) -> bool:
    return int(v, 0) != 0


def _syncookies(v: str) -> str:
    return {0: "off", 1: "when-full", 2: "always"}.get(int(v, 0), "when-full")


def _rmem(v: str) -> dict:
    lo, default, hi = (int(x) for x in v.split())
    return {"rcvbuf": default, "max_rcvbuf": hi}


def _wmem(v: str) -> dict:
    lo, default, hi = (int(x) for x in v.split())
    return {"sndbuf": default}


def _rto_min_ms(v: str) -> float:
    return int(v) / 1000.0


#: sysctl name -> (Config field, converter) or a function giving a dict of
#: fields. Only settings with an exact engine equivalent are here.
SYSCTLS = {
    "net.ipv4.tcp_timestamps": ("timestamps", _bool),
    "net.ipv4.tcp_sack": ("sack", _bool),
    "net.ipv4.tcp_window_scaling": ("window_scaling", _bool),
    "net.ipv4.tcp_syn_retries": ("syn_retries", int),
    "net.ipv4.tcp_synack_retries": ("synack_retries", int),
    "net.ipv4.tcp_retries1": ("r1", int),
    "net.ipv4.tcp_retries2": ("r2", int),
    "net.ipv4.tcp_fin_timeout": ("fin_wait_2_timeout", float),
    "net.ipv4.tcp_keepalive_time": ("keepalive_idle", float),
    "net.ipv4.tcp_keepalive_intvl": ("keepalive_interval", float),
    "net.ipv4.tcp_keepalive_probes": ("keepalive_probes", int),
    "net.ipv4.tcp_syncookies": ("syn_cookies", _syncookies),
    "net.ipv4.tcp_rfc1337": ("rst_in_time_wait", lambda v: not _bool(v)),
    "net.ipv4.tcp_rmem": _rmem,
    "net.ipv4.tcp_wmem": _wmem,
    "net.ipv4.tcp_congestion_control": ("congestion_control", str),
    "net.ipv4.tcp_invalid_ratelimit": ("invalid_ratelimit", lambda v: int(v) / 1000.0),   # ms
    "net.ipv4.tcp_challenge_ack_limit": ("challenge_ack_limit",
                                         lambda v: None if int(v) >= 0x7FFFFFFF else int(v)),
}


@dataclass
class InitPlan:
    """What the init command asks for."""
    linux_defaults: bool = False
    changes: dict = field(default_factory=dict)     # Config field -> value
    notes: list[str] = field(default_factory=list)


def _logical_lines(text: str) -> list[str]:
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def _apply(plan: InitPlan, name: str, value: str, cfg, source: str) -> None:
    name = name.replace("/", ".").lstrip(".")
    if name.startswith("proc.sys."):
        name = name[len("proc.sys."):]
    spec = SYSCTLS.get(name)
    if spec is None:
        plan.notes.append(f"init: ignored sysctl {name}={value} (no engine equivalent)")
        return
    try:
        if callable(spec):
            changes = spec(value)
        else:
            field_name, conv = spec
            changes = {field_name: conv(value)}
    except (ValueError, TypeError):
        plan.notes.append(f"init: ignored sysctl {name}={value} (value not understood)")
        return
    if name == "net.ipv4.tcp_congestion_control":
        from .. import congestion
        if changes["congestion_control"] not in congestion.available():
            plan.notes.append(f"init: ignored sysctl {name}={value} (engine has "
                              f"{', '.join(congestion.available())})")
            return
    for key in changes:
        if not hasattr(cfg, key):
            plan.notes.append(f"init: ignored sysctl {name}={value} (engine Config has no {key})")
            return
    plan.changes.update(changes)
    shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    plan.notes.append(f"init: sysctl {name}={value} -> {shown}")


def read_init(text: str, cfg) -> InitPlan:
    """Interpret an init command's text against config `cfg` (used only to
    know which fields exist)."""
    plan = InitPlan()
    for line in _logical_lines(text):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if not words:
            continue
        cmd = words[0]
        base = cmd.rsplit("/", 1)[-1]
        if base == "defaults.sh":
            plan.linux_defaults = True
            plan.notes.append(f"init: {cmd}: Linux defaults (the profile)")
            continue
        if base == "sysctl":
            pairs = [w for w in words[1:] if not w.startswith("-")]
            if not pairs or any("=" not in p for p in pairs):
                plan.notes.append(f"init: ignored `{line}` (not a sysctl assignment)")
                continue
            for p in pairs:
                k, v = p.split("=", 1)
                _apply(plan, k, v, cfg, line)
            continue
        if base == "set_sysctls.py":
            for p in words[1:]:
                if "=" in p:
                    k, v = p.split("=", 1)
                    _apply(plan, k, v, cfg, line)
            continue
        if base == "echo" and ">" in words:
            i = words.index(">")
            if i + 1 < len(words) and words[i + 1].startswith("/proc/sys/"):
                _apply(plan, words[i + 1][len("/proc/sys/"):], " ".join(words[1:i]), cfg, line)
                continue
        plan.notes.append(f"init: ignored `{line}`")
    return plan
