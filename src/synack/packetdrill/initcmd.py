"""The shell commands of a script: what the runner takes from them.

packetdrill runs a script's init command with /bin/sh before the first
event, and a backquoted command with a time in the middle of the script;
the scripts use them to set Linux sysctls, change the route or the
device's queue, and read counters. synack has no shell or kernel to
configure, so the runner reads the command text instead, and every command
either maps onto the run or fails the script as unsupported (nothing is
ignored silently; commands with no effect on a virtual-time run are noted):

* `.../defaults.sh` means "the Linux defaults": the `linux` profile (or the
  profile chosen with --profile);
* `sysctl [-q] [-w] [-e] name=value ...`, `set_sysctls.py /proc/sys/...=v`
  and `echo v > /proc/sys/...`: the sysctls in `SYSCTLS` set Config fields;
  those in `SAME_AS_PROFILE` are accepted at the value the profile models;
  those in `NO_EFFECT` are noted; any other value or name is unsupported;
* `ip route {add,change,replace} DST ... [advmss N] [mtu [lock] N]
  [initcwnd N]` and `ip link set dev tun0 mtu N`: the announced MSS, MTU and
  initial window of connections made from then on;
* `tc qdisc {add,replace,change,del} dev tun0 root KIND [limit N]`: the
  link model, where a queue limit of 0 drops every packet synack sends;
  `fq` is accepted and noted: synack does not pace, so a script line that
  expects paced times fails on the engine's own times;
* `nstat [-n]` (reset the counters' history) and `nstat | grep NAME`
  (succeeds when counter NAME grew since): synack's host counters under
  Linux's names (`NSTAT`);
* `ip tcp_metrics flush`: empties the Fast Open cookie cache (synack keeps
  no other TCP metrics); `ethtool -K tun0 tso/gso off`: no effect (noted);
* shell arithmetic `$((...))` is evaluated; redirections to /dev/null and
  `;`, `&&`, `||` lists are understood.

The cleanup command (after the last event) is noted and not run: it restores
the host's sysctls, and synack's host ends with the script.
"""
from __future__ import annotations

import ast as _ast
import operator
import re
import shlex
from dataclasses import dataclass, field


def _bool(v: str) -> bool:
    return int(v, 0) != 0


def _syncookies(v: str) -> str:
    return {0: "off", 1: "when-full", 2: "always"}[int(v, 0)]


def _rmem(v: str) -> dict:
    lo, default, hi = (int(x) for x in v.split())
    return {"rcvbuf": default, "max_rcvbuf": hi}


def _wmem(v: str) -> dict:
    lo, default, hi = (int(x) for x in v.split())
    return {"sndbuf": default}


def _early_retrans(v: str) -> dict:
    # Linux sends Tail Loss Probes only with tcp_early_retrans 3 or 4
    return {"tlp": int(v, 0) in (3, 4)}


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
    "net.ipv4.tcp_early_retrans": _early_retrans,
    "net.ipv4.tcp_min_tso_segs": ("tso_segs", int),
    "net.ipv4.tcp_slow_start_after_idle": ("slow_start_after_idle", _bool),
    "net.ipv4.tcp_invalid_ratelimit": ("invalid_ratelimit", lambda v: int(v) / 1000.0),   # ms
    "net.ipv4.tcp_challenge_ack_limit": ("challenge_ack_limit",
                                         lambda v: None if int(v) >= 0x7FFFFFFF else int(v)),
}

#: sysctls the runner itself keeps (not engine Config fields)
RUNNER_SYSCTLS = {"net.ipv4.tcp_notsent_lowat": "notsent_lowat"}

#: sysctls whose Linux default (common/defaults.sh) is what the profile
#: models: accepted at these values, unsupported at any other.
SAME_AS_PROFILE = {
    "net.ipv4.tcp_frto": ("2", "the profile's default"),
    "net.ipv4.tcp_dsack": ("1", "the engine sends D-SACKs (RFC 2883)"),
    "net.ipv4.tcp_fack": ("0", "no FACK (the engine follows RFC 6675)"),
    "net.ipv4.tcp_reordering": ("3", "DupThresh 3 (RFC 6675)"),
    "net.ipv4.tcp_recovery": ("1", "the profile's default"),
    "net.ipv4.tcp_ecn_option": ("2", "no AccECN (ECN is off)"),
    "net.ipv4.tcp_mtu_probing": ("0", "no packetization-layer PMTU discovery"),
    "module.tcp_cubic.parameters.hystart_detect": ("3", "Linux's default HyStart detection"),
}

#: sysctls that change nothing in synack's virtual-time run
NO_EFFECT = {
    "net.ipv4.tcp_tso_win_divisor": "synack never defers sending to build TSO packets",
    "net.ipv4.tcp_pacing_ss_ratio": "nothing is paced without the fq qdisc",
    "net.ipv4.tcp_pacing_ca_ratio": "nothing is paced without the fq qdisc",
    "net.ipv4.tcp_base_mss": "used only by MTU probing, which is off",
    "net.ipv4.tcp_ecn": "synack neither asks for ECN nor agrees to it (RFC 3168 is not "
                        "implemented): a script that expects an ECN handshake fails at that "
                        "packet",
    "net.ipv4.tcp_fastopen_key": "synack has no server-side TCP Fast Open",
    "net.ipv4.tcp_fastopen_blackhole_timeout_sec": "synack does not detect Fast Open "
                                                   "blackholes (it never turns Fast Open off)",
}


def _fastopen(plan: "InitPlan", name: str, value: str, where: str) -> None:
    """net.ipv4.tcp_fastopen -> Config.fastopen. The client bits act: 0x1
    (clients may use Fast Open: TCP_FASTOPEN_CONNECT, MSG_FASTOPEN) and 0x4
    (data on the SYN without a cookie). The server bits (0x2, 0x200, ...)
    take effect only on listeners that ask (TCP_FASTOPEN, unsupported in
    synack); 0x400 (every listener, no socket option) would change plain
    listeners, which synack cannot do."""
    try:
        v = int(value, 0)
    except ValueError:
        plan.unsupported.append(f"sysctl {name}={value} (value not understood)")
        return
    if v & 0x400:
        plan.unsupported.append(f"sysctl {name}={value} (Fast Open on every listener: synack "
                                "has no server-side TCP Fast Open)")
        return
    if not 0 <= v <= 0xFFFFFFFF:
        plan.unsupported.append(f"sysctl {name}={value} (value not understood)")
        return
    plan.changes["fastopen"] = v
    plan.notes.append(f"{where}: sysctl {name}={value}: Config.fastopen={v:#x} (client bits "
                      "0x1 and 0x4 act; server-side Fast Open is not implemented)")


#: synack host counters under Linux's nstat names
NSTAT = {
    "TcpRetransSegs": ("retransmits",),
    "TcpExtTCPChallengeACK": ("challenge_acks",),
    "TcpExtSyncookiesSent": ("syn_cookies_sent",),
    "TcpExtSyncookiesRecv": ("syn_cookies_accepted",),
    "TcpExtListenOverflows": ("listen_overflow",),
    "TcpExtPAWSEstab": ("drop_paws",),
    "TcpExtTCPTimeouts": ("user_timeouts", "keepalive_timeouts"),
    "TcpExtTCPOFOQueue": ("ooo_segments",),
}


@dataclass
class InitPlan:
    """What a shell command asks for."""
    linux_defaults: bool = False
    changes: dict = field(default_factory=dict)     # Config field -> value
    runner: dict = field(default_factory=dict)      # runner setting -> value
    actions: list = field(default_factory=list)     # ("nstat", grep name or None)
    notes: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------
# shell text

_ARITH = re.compile(r"\$\(\((.*?)\)\)")
_OPS = {_ast.Add: operator.add, _ast.Sub: operator.sub, _ast.Mult: operator.mul,
        _ast.FloorDiv: operator.floordiv, _ast.Div: operator.floordiv, _ast.Mod: operator.mod,
        _ast.LShift: operator.lshift, _ast.RShift: operator.rshift,
        _ast.BitOr: operator.or_, _ast.BitAnd: operator.and_, _ast.BitXor: operator.xor}


def shell_arith(expr: str) -> int:
    """`$((expr))`: integer arithmetic, as the shell does it (C-like
    truncating division); anything else is a ValueError."""
    def ev(node):
        if isinstance(node, _ast.Expression):
            return ev(node.body)
        if isinstance(node, _ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, _ast.UnaryOp) and isinstance(node.op, (_ast.USub, _ast.UAdd)):
            v = ev(node.operand)
            return -v if isinstance(node.op, _ast.USub) else v
        if isinstance(node, _ast.BinOp) and type(node.op) in _OPS:
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, (_ast.Div, _ast.FloorDiv, _ast.Mod)):
                if b == 0:
                    raise ValueError("division by zero")
                q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
                return q if not isinstance(node.op, _ast.Mod) else a - q * b
            return _OPS[type(node.op)](a, b)
        raise ValueError(f"not shell arithmetic: {expr!r}")
    try:
        tree = _ast.parse(expr.strip().replace("/", "//").replace("////", "//"), mode="eval")
    except SyntaxError:
        raise ValueError(f"not shell arithmetic: {expr!r}") from None
    return ev(tree)


def _expand(line: str) -> str:
    return _ARITH.sub(lambda m: str(shell_arith(m.group(1))), line)


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


_REDIRECT = re.compile(r"^(\d?>>?|&>|\d?>&\d|<)$")


def _commands(line: str) -> list[list[str]]:
    """A line's simple commands (split at ; && || and |, with redirections
    to /dev/null dropped); a pipeline stays one command with '|' in it."""
    # output thrown away (`> /dev/null`, `2>&1`, `&> /dev/null`) changes nothing here
    line = re.sub(r"(?:(?<=\s)|^)(?:\d?>>?|&>)\s*/dev/null", " ", line)
    line = re.sub(r"(?:(?<=\s)|^)\d?>&\d", " ", line)
    lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lex.whitespace_split = True
    lex.commenters = "#"
    raw = list(lex)
    words: list[str] = []
    i = 0
    while i < len(raw):              # `2>&1`, `2>/dev/null`: fd-numbered redirections
        w = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if w in (">&", "&>") and nxt.isdigit():
            i += 2
            continue
        words.append(w)
        i += 1
    out: list[list[str]] = []
    cur: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in (";", "&&", "||"):
            if cur:
                out.append(cur)
            cur = []
        elif _REDIRECT.match(w) or w in (">", "2>", "&>", ">>"):
            # `> file`, `2> file`, `2>&1`: what the command prints is not used
            if w.endswith(">") and i + 1 < len(words) and not words[i + 1].startswith("&"):
                target = words[i + 1]
                if target != "/dev/null" and not target.startswith("/proc/sys/") \
                        and not target.startswith("/sys/"):
                    cur += [w, target]
                elif target.startswith(("/proc/sys/", "/sys/")):
                    cur += [">", target]
                i += 1
            elif i + 1 < len(words) and words[i + 1] in ("&1", "&2"):
                i += 1
        elif w == ">&" or w == "2>&":
            i += 1
        elif w == "&":
            pass
        else:
            cur.append(w)
        i += 1
    if cur:
        out.append(cur)
    return out


# --------------------------------------------------------------------------
# sysctls

def _apply(plan: InitPlan, name: str, value: str, cfg, where: str) -> None:
    name = name.replace("/", ".").lstrip(".")
    for prefix in ("proc.sys.", "sys."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    value = value.strip()
    if name in RUNNER_SYSCTLS:
        try:
            plan.runner[RUNNER_SYSCTLS[name]] = int(value, 0)
        except ValueError:
            plan.unsupported.append(f"sysctl {name}={value} (value not understood)")
            return
        plan.notes.append(f"{where}: sysctl {name}={value}")
        return
    if name == "net.ipv4.tcp_fastopen":
        _fastopen(plan, name, value, where)
        return
    if name in SAME_AS_PROFILE:
        want, why = SAME_AS_PROFILE[name]
        try:
            same = int(value, 0) == int(want, 0)
        except ValueError:
            same = False
        if same:
            plan.notes.append(f"{where}: sysctl {name}={value}: as the profile ({why})")
        else:
            plan.unsupported.append(f"sysctl {name}={value} (synack models only {want}: {why})")
        return
    if name in NO_EFFECT:
        plan.notes.append(f"{where}: ignored sysctl {name}={value} (no effect: {NO_EFFECT[name]})")
        return
    spec = SYSCTLS.get(name)
    if spec is None:
        plan.unsupported.append(f"sysctl {name}={value} (no engine equivalent)")
        return
    try:
        if callable(spec):
            changes = spec(value)
        else:
            field_name, conv = spec
            changes = {field_name: conv(value)}
    except (ValueError, TypeError, KeyError):
        plan.unsupported.append(f"sysctl {name}={value} (value not understood)")
        return
    if name == "net.ipv4.tcp_congestion_control":
        from ..engine import congestion
        if changes["congestion_control"] not in congestion.available():
            plan.unsupported.append(f"sysctl {name}={value} (the engine has "
                                    f"{', '.join(congestion.available())})")
            return
    for key in changes:
        if not hasattr(cfg, key):
            plan.unsupported.append(f"sysctl {name}={value} (engine Config has no {key})")
            return
    plan.changes.update(changes)
    shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    plan.notes.append(f"{where}: sysctl {name}={value} -> {shown}")


# --------------------------------------------------------------------------
# ip, tc, nstat

def _ip(plan: InitPlan, words: list[str], where: str) -> None:
    args = [w for w in words[1:] if not (w.startswith("-") and w not in ("-4", "-6"))]
    args = [w for w in args if w not in ("-4", "-6")]
    if args[:2] in (["tcp_metrics", "flush"], ["tcp_metrics", "delete"]):
        # the only metrics synack keeps between connections: Fast Open cookies
        plan.runner["tcp_metrics_flush"] = 1
        plan.notes.append(f"{where}: `{' '.join(words)}`: the Fast Open cookie cache is "
                          "emptied (synack keeps no other TCP metrics)")
        return
    if len(args) >= 2 and args[0] == "route" and args[1] in ("add", "change", "replace"):
        rest = args[3:]
        changes = {}
        i = 0
        while i < len(rest):
            w = rest[i]
            nxt = rest[i + 1] if i + 1 < len(rest) else None
            if w in ("via", "dev", "src", "proto", "scope", "metric", "table") and nxt:
                i += 2
                continue
            if w == "lock":
                i += 1
                continue
            if w in ("advmss", "mtu", "initcwnd") and nxt is not None:
                if nxt == "lock":
                    i += 1
                    nxt = rest[i + 1] if i + 1 < len(rest) else None
                try:
                    n = int(nxt or "")
                except ValueError:
                    plan.unsupported.append(f"`{' '.join(words)}` (bad {w})")
                    return
                changes[{"advmss": "mss", "mtu": "mtu", "initcwnd": "initial_window"}[w]] = n
                i += 2
                continue
            plan.unsupported.append(f"`{' '.join(words)}` (route attribute {w!r})")
            return
        plan.changes.update(changes)
        plan.notes.append(f"{where}: route {args[2] if len(args) > 2 else ''}: "
                          + ", ".join(f"{k}={v}" for k, v in changes.items())
                          + " (connections made from now on)")
        return
    if len(args) >= 4 and args[0] == "link" and args[1] == "set" and "mtu" in args:
        try:
            mtu = int(args[args.index("mtu") + 1])
        except (ValueError, IndexError):
            plan.unsupported.append(f"`{' '.join(words)}` (bad mtu)")
            return
        plan.changes["mtu"] = mtu
        plan.notes.append(f"{where}: link mtu {mtu} (connections made from now on)")
        return
    plan.unsupported.append(f"`{' '.join(words)}` (an ip command the runner does not model)")


def _tc(plan: InitPlan, words: list[str], where: str) -> None:
    args = words[1:]
    if len(args) < 2 or args[0] != "qdisc":
        plan.unsupported.append(f"`{' '.join(words)}` (a tc command the runner does not model)")
        return
    op = args[1]
    if op in ("del", "delete"):
        plan.runner["qdisc_limit"] = None
        plan.notes.append(f"{where}: qdisc removed (the link delivers everything)")
        return
    if op not in ("add", "replace", "change"):
        plan.unsupported.append(f"`{' '.join(words)}` (tc qdisc {op})")
        return
    rest = args[2:]
    try:
        kind = rest[rest.index("root") + 1]
    except (ValueError, IndexError):
        plan.unsupported.append(f"`{' '.join(words)}` (only a root qdisc is modelled)")
        return
    if kind == "fq" and not rest[rest.index("root") + 2:]:
        # fq paces a flow; synack does not pace, so its packets go at the
        # times its own engine sends them, and a script line that expects
        # paced times fails on them (a difference that shows, not a skip)
        plan.runner["qdisc_limit"] = None
        plan.notes.append(f"{where}: qdisc fq: synack does not pace; packet times are the "
                          "engine's own, checked against the script's lines as always")
        return
    if kind not in ("pfifo", "pfifo_fast", "bfifo", "fq_codel", "noqueue"):
        plan.unsupported.append(f"`{' '.join(words)}` (qdisc {kind})")
        return
    limit = None
    if "limit" in rest:
        try:
            limit = int(rest[rest.index("limit") + 1])
        except (ValueError, IndexError):
            plan.unsupported.append(f"`{' '.join(words)}` (bad limit)")
            return
    plan.runner["qdisc_limit"] = limit
    plan.notes.append(f"{where}: qdisc {kind}" + (f" limit {limit}" if limit is not None else "")
                      + (" (drops every packet synack sends)" if limit == 0 else ""))


def _nstat(plan: InitPlan, words: list[str], where: str) -> None:
    if "|" in words:
        i = words.index("|")
        rest = words[i + 1:]
        if not rest or rest[0] != "grep" or len(rest) < 2:
            plan.unsupported.append(f"`{' '.join(words)}` (nstat piped into {rest[:1]})")
            return
        name = rest[-1]
        if name not in NSTAT:
            plan.unsupported.append(f"`{' '.join(words)}` (synack has no counter for {name}; "
                                    f"it has {', '.join(sorted(NSTAT))})")
            return
        plan.actions.append(("nstat", name))
        return
    plan.actions.append(("nstat", None))


# --------------------------------------------------------------------------
# the interpreter

def read_shell(text: str, cfg, where: str = "init") -> InitPlan:
    """Interpret a shell command's text against config `cfg` (used only to
    know which fields exist)."""
    plan = InitPlan()
    for line in _logical_lines(text):
        try:
            line = _expand(line)
        except ValueError as e:
            plan.unsupported.append(f"`{line}` ({e})")
            continue
        try:
            commands = _commands(line)
        except ValueError:
            plan.unsupported.append(f"`{line}` (shell syntax the runner does not read)")
            continue
        for words in commands:
            _one(plan, words, cfg, where, line)
    return plan


def _one(plan: InitPlan, words: list[str], cfg, where: str, line: str) -> None:
    cmd = words[0]
    base = cmd.rsplit("/", 1)[-1]
    if base == "defaults.sh":
        plan.linux_defaults = True
        plan.notes.append(f"{where}: {cmd}: Linux defaults (the profile)")
        return
    if base == "sysctl":
        pairs = [w for w in words[1:] if not w.startswith("-")]
        if not pairs or any("=" not in p for p in pairs):
            plan.unsupported.append(f"`{line}` (only sysctl assignments are modelled)")
            return
        for p in pairs:
            k, v = p.split("=", 1)
            _apply(plan, k, v, cfg, where)
        return
    if base == "set_sysctls.py":
        for p in words[1:]:
            if "=" not in p:
                plan.unsupported.append(f"`{line}` (set_sysctls.py wants PATH=VALUE)")
                return
            k, v = p.split("=", 1)
            _apply(plan, k, v, cfg, where)
        return
    if base == "echo" and ">" in words:
        i = words.index(">")
        if i + 1 < len(words) and words[i + 1].startswith(("/proc/sys/", "/sys/")):
            _apply(plan, words[i + 1], " ".join(words[1:i]), cfg, where)
            return
    if base == "ip":
        _ip(plan, words, where)
        return
    if base == "tc":
        _tc(plan, words, where)
        return
    if base == "nstat":
        _nstat(plan, words, where)
        return
    if base == "ethtool" and len(words) >= 3 and words[1] in ("-K", "--offload") \
            and all(w in ("tso", "gso", "gro", "off", "on") for w in words[3:]):
        plan.notes.append(f"{where}: ignored `{' '.join(words)}` (no effect: synack sends "
                          "MSS-sized segments, as with TSO/GSO off)")
        return
    if base in ("true", ":"):
        return
    plan.unsupported.append(f"`{line}` (a command the runner does not model)")


def read_init(text: str, cfg) -> InitPlan:
    """The init command (before the first event)."""
    return read_shell(text, cfg, "init")
