"""The conformance report: every shared packetdrill script against the live
Linux kernel (the real packetdrill, see `synack.packetdrill.linux`) and
against synack (`linux` profile, virtual time), side by side.

    python -m synack.packetdrill.conformance                 # both halves (root), writes docs/
    python -m synack.packetdrill.conformance --synack-only   # reuse docs/conformance.json's Linux half
    python -m synack.packetdrill.conformance --write-passes tests/packetdrill/synack_passes.txt

`make conformance` and `make conformance-synack` run the first two. The
report is docs/conformance.md (per folder, then per script: Linux's verdict,
synack's verdict, and where they differ the first differing line with both
packets or return values and the class of the difference) and
docs/conformance.json beside it (the same data).

Classes of a difference (`classify`):

* `out-of-scope`: the script's folder exercises something outside synack's
  scope for now (Fast Open, ECN, TCP-MD5, the kernel I/O interfaces).
* `feature`: a feature synack (or its runner) lacks: the runner reports the
  construct as unsupported, or an assertion it cannot evaluate.
* `socket-memory`: Linux's socket-memory accounting (skb truesize against
  sk_sndbuf/sk_rcvbuf), which synack does not model.
* `rfc-over-linux`: synack deliberately follows the RFC where Linux does
  not; each such case is in `KNOWN` with its RFC section.
* `bug`: Linux passes, synack fails, and none of the above explains it.
* `linux-fails`: Linux fails the script itself (it expects what another
  kernel did, or something this machine lacks), whatever synack does.

A synack run counts as a pass only when the script passed *and* no assertion
was skipped (an assertion synack cannot evaluate is a failure here).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

from . import linux as L
from .parser import parse_file
from .runner import RunOptions, all_scripts, run_script, shared_dir

OUT_OF_SCOPE = ("fastopen", "ecn", "md5", "zerocopy", "timestamping", "splice",
                "sendfile", "gro")

CLASSES = {
    "feature": "a feature synack (or its runner) lacks",
    "socket-memory": "Linux socket-memory accounting",
    "rfc-over-linux": "synack follows the RFC over Linux",
    "bug": "a bug (no other explanation found)",
    "out-of-scope": "out of scope for now (fastopen, ecn, md5, zerocopy, timestamping, "
                    "splice, sendfile, gro)",
    "linux-fails": "Linux fails the script itself (it expects another kernel's behaviour, "
                   "or something this machine lacks); synack's result is shown beside it",
}

#: Hand-maintained: scripts whose difference has a known explanation. Each
#: `rfc-over-linux` entry cites the RFC section synack follows.
KNOWN: dict[str, tuple[str, str]] = {
    "tcp/ts_recent/invalid_ack.pkt": (
        "rfc-over-linux",
        "RFC 9293 §3.10.7.4 (fifth step): an ACK of data not yet sent (SEG.ACK > SND.NXT) "
        "is answered with an ACK and dropped; the script expects silence, which older "
        "kernels did. Linux 6.18 sends the ACK too (the shared README lists the drift)."),
    "tcp/ioctl/ioctl-siocinq-fin.pkt": (
        "linux-fails",
        "Linux 6.18 delays the ACK of data+FIN by about 40 ms; the script expects it at "
        "once, which is what RFC 9293 §3.10.7.4 (eighth step: \"send an acknowledgment "
        "for the FIN\") asks and synack does."),
    "tcp/blocking/blocking-write.pkt": (
        "socket-memory",
        "the write blocks until Linux's socket-memory accounting (skb truesize against "
        "sk_sndbuf, woken at one third free) lets it go on; synack counts payload octets."),
    "tcp/fast_retransmit/fr-4pkt-fack-last-byte.pkt": (
        "rfc-over-linux",
        "RFC 6675 §4 keeps the scoreboard per octet, so a SACK of the last octet alone is "
        "a SACK that makes the tail loss detectable and suppresses the probe (RFC 8985 "
        "§7.2); Linux SACKs whole segments only, stays in Open state and sends a TLP."),
    "tcp/tcp_info/tcp-info-sndbuf-limited.pkt": (
        "socket-memory",
        "the blocked write resumes when Linux's send-buffer accounting (skb truesize "
        "against sk_sndbuf) frees a third of it; synack counts payload octets."),
    "tcp/fast_retransmit/fr-4pkt-fack-last-mss.pkt": (
        "feature",
        "RACK's reordering timer (RFC 8985 §6.2: a segment is marked lost once a later "
        "one was SACKed and RTT + reo_wnd has passed); synack has RACK's "
        "lost-retransmission rule only."),
    "tcp/sack/sack-shift-sacked-7-3-4-8-9-fack.pkt": (
        "feature", "RACK's reordering timer (RFC 8985 §6.2) fires the fast retransmit "
                   "27 ms after the first SACK; tcpi_lost and tcpi_reordering too."),
    "tcp/sack/sack-shift-sacked-7-5-6-8-9-fack.pkt": (
        "feature", "RACK's reordering timer (RFC 8985 §6.2) fires the fast retransmit "
                   "27 ms after the first SACK; tcpi_lost and tcpi_reordering too."),
    "tcp/slow_start/slow-start-after-idle.pkt": (
        "feature", "tcp_min_tso_segs=10: Linux sends 5- and 10-segment TSO units with PSH "
                   "on the last segment of each; synack's PSH policy models the default "
                   "2-segment unit."),
    "tcp/slow_start/slow-start-after-win-update.pkt": (
        "feature", "tcp_min_tso_segs=10: Linux sends 5- and 10-segment TSO units with PSH "
                   "on the last segment of each; synack's PSH policy models the default "
                   "2-segment unit."),
    "tcp/slow_start/slow-start-fq-ack-per-2pkt.pkt": (
        "feature", "paced by the fq qdisc (`tc qdisc replace dev tun0 root fq`): segment "
                   "times follow the pacing rate; synack does not pace."),
    "tcp/mtu_probe/basic-v4.pkt": (
        "feature", "the init command's `ip route change ... advmss 600 mtu lock 640` (and "
                   "tcp_mtu_probing): the runner does not map route metrics onto the "
                   "config, and synack has no MTU probing (RFC 4821)."),
    "tcp/mtu_probe/basic-v6.pkt": (
        "feature", "the init command's `ip route change ... advmss 600 mtu lock 640` (and "
                   "tcp_mtu_probing): the runner does not map route metrics onto the "
                   "config, and synack has no MTU probing (RFC 4821)."),
    "tcp/fast_recovery/prr-ss-ack-below-snd_una-cubic.pkt": (
        "feature", "PRR (RFC 6937): on the partial ACK Linux sends 3 segments (PRR's "
                   "slow-start reduction bound); synack has no PRR and sends 2."),
    "tcp/fast_recovery/prr-ss-30pkt-lost1_4.pkt": (
        "feature", "PRR (RFC 6937): on leaving recovery cwnd is ssthresh, so the next "
                   "write goes out as 7 segments at once; synack has no PRR."),
    "tcp/fast_recovery/prr-ss-30pkt-lost-1_4-11_16.pkt": (
        "feature", "PRR (RFC 6937): the script walks through PRR's conservative and "
                   "slow-start reduction bounds (a 2-segment send with PSH at line 41); "
                   "synack has no PRR."),
    "tcp/tcp_info/tcp-info-rwnd-limited.pkt": (
        "feature", "Linux's RTO formula (SRTT + max(4·RTTVAR, 200 ms)) puts the zero-window "
                   "probe timer at 0.22 s, after the window-opening ACK at 0.21 s; "
                   "synack's (RFC 6298 §2.3, floored at 200 ms) fires at 0.21 s first and "
                   "probes with one octet. The script also reads tcpi_rwnd_limited, which "
                   "synack does not provide."),
    "tcp/syscall_bad_arg/syscall-invalid-buf-ptr.pkt": (
        "feature", "an invalid buffer pointer must fail with EFAULT; the runner has no "
                   "notion of a bad pointer."),
}


def folder_of(name: str) -> str:
    parts = name.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tcp" else (parts[0] if len(parts) > 1 else ".")


def in_scope(name: str) -> bool:
    return folder_of(name) not in OUT_OF_SCOPE


# --------------------------------------------------------------------------
# the synack half

def run_synack(path: str | os.PathLike, profile: str = "linux") -> dict:
    """Run one script against synack, with the same -D definitions the Linux
    half gives packetdrill. A dict: verdict (PASS/FAIL), kind, line, source,
    message, expected, actual, skipped, summary. Output printed by the
    script's Python blocks is swallowed."""
    path = Path(path)
    _, defines = L.variant(path)
    out: dict = {"verdict": "FAIL", "kind": None, "line": None, "source": None,
                 "message": "", "expected": None, "actual": None, "skipped": []}
    try:
        script = parse_file(path, defines=defines)
    except Exception as e:                          # a script synack cannot parse
        out.update(kind="script", message=f"cannot parse: {e}",
                   summary=f"script: cannot parse: {e}")
        return out
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        try:
            r = run_script(script, options=RunOptions(profile=profile))
        except Exception as e:                      # the runner itself broke
            out.update(kind="engine", message=f"{type(e).__name__}: {e}",
                       summary=f"engine: {type(e).__name__}: {e}")
            return out
    out["skipped"] = list(r.skipped)
    if r.passed and not r.skipped:
        out["verdict"] = "PASS"
        out["summary"] = "PASS"
        return out
    f = r.failure
    if f is None:                                   # passed with skipped assertions
        first = r.skipped[0]
        out.update(kind="unsupported", message=f"assertion not evaluated: {first}",
                   summary=f"unsupported: assertion not evaluated: {first}")
        try:
            out["line"] = int(first.split(":", 1)[0].split()[1])
        except (IndexError, ValueError):
            pass
        return out
    msg = f.message if f.message.startswith(f.kind) else f"{f.kind}: {f.message}"
    out.update(kind=f.kind, line=f.line, source=f.source, message=f.message,
               expected=f.expected, actual=f.actual,
               summary=(f"line {f.line}: {msg}" if f.line else msg))
    return out


# --------------------------------------------------------------------------
# classification

_FEATURE_WORDS = ("unsupported", "not supported", "cannot evaluate", "not evaluated",
                  "which synack does not provide", "unknown symbol", "cannot parse")


def classify(name: str, linux: dict | None, synack: dict) -> tuple[str | None, str]:
    """The class of the difference between Linux's and synack's runs (None
    when there is nothing to explain: both pass) and a one-line reason."""
    lpass = bool(linux) and linux.get("verdict") == "PASS"
    spass = synack.get("verdict") == "PASS"
    if spass and (lpass or linux is None):
        return None, ""
    if not in_scope(name):
        return "out-of-scope", f"folder {folder_of(name)}/ is out of scope for now"
    if name in KNOWN:
        return KNOWN[name]
    if not lpass and linux is not None:
        return "linux-fails", ("Linux fails where synack passes" if spass else
                               "Linux fails too (each one's first failure below)")
    kind = synack.get("kind") or ""
    msg = (synack.get("message") or "").lower()
    if synack.get("skipped") and "assertion not evaluated" in msg:
        return "feature", "an assertion reads something synack does not provide"
    if kind in ("unsupported", "script") or any(w in msg for w in _FEATURE_WORDS):
        return "feature", "the runner or the engine lacks what the script uses"
    if "sndbuf" in msg or "rcvbuf" in msg:
        return "socket-memory", "socket buffer accounting"
    return "bug", "no other explanation found yet"


# --------------------------------------------------------------------------
# the report

def build_report(scripts: list[str], linux: dict[str, dict], synack: dict[str, dict],
                 meta: dict) -> dict:
    rows = []
    for name in scripts:
        lr = linux.get(name)
        sr = synack[name]
        cls, why = classify(name, lr, sr)
        rows.append({"script": name, "folder": folder_of(name), "in_scope": in_scope(name),
                     "linux": lr, "synack": sr, "class": cls, "reason": why})
    return {"meta": meta, "counts": counts(rows), "scripts": rows}


def _lp(row) -> bool:
    return bool(row["linux"]) and row["linux"]["verdict"] == "PASS"


def _sp(row) -> bool:
    return row["synack"]["verdict"] == "PASS"


def counts(rows: list[dict]) -> dict:
    def block(rs):
        c = {"scripts": len(rs), "linux": sum(map(_lp, rs)), "synack": sum(map(_sp, rs)),
             "both": sum(1 for r in rs if _lp(r) and _sp(r)),
             "linux_only": sum(1 for r in rs if _lp(r) and not _sp(r)),
             "synack_only": sum(1 for r in rs if _sp(r) and not _lp(r)),
             "linux_flaky": sum(1 for r in rs if r["linux"] and r["linux"].get("flaky")),
             "linux_first_run": sum(1 for r in rs if r["linux"] and r["linux"].get("attempts")
                                    and r["linux"]["attempts"][0]["rc"] == 0)}
        by_class: dict[str, int] = {}
        for r in rs:
            if _lp(r) and not _sp(r):
                by_class[r["class"]] = by_class.get(r["class"], 0) + 1
        c["linux_only_by_class"] = dict(sorted(by_class.items()))
        return c
    return {"all": block(rows), "in_scope": block([r for r in rows if r["in_scope"]]),
            "out_of_scope": block([r for r in rows if not r["in_scope"]])}


def _verdict(v: dict | None) -> str:
    if not v:
        return "–"
    s = v["verdict"]
    if v.get("flaky"):
        s += f" (rerun: {len(v['attempts'])} runs)"
    elif v.get("attempts") and len(v["attempts"]) > 1:
        s += f" ({len(v['attempts'])}×)"
    return s


def _code(s: str | None) -> str:
    s = (s or "").replace("`", "'").replace("|", "\\|").replace("\n", " ").strip()
    return f"`{s}`" if s else ""


HEADER = """\
# Conformance: the live Linux kernel and synack, script by script

Every script of packetdrill's `gtests/net/tcp` (the shared set in
`../shared/conformance/packetdrill/`, {total} scripts) run twice: against this
machine's Linux kernel by the real packetdrill, and against synack by its own
runner (`linux` profile, virtual time). Generated by `make conformance`; do
not edit by hand.

How it is made (docs/packetdrill.md has the details):

* **Linux**: packetdrill is built from the shared source into `build/packetdrill/`
  (`./configure && make`; needs Debian's bison and flex). Each run has its own
  throwaway network namespace (lo up, removed afterwards), starts in the
  script's folder, with the options and `-D` definitions of packetdrill's own
  `run_all.py` (IPv4 variant; `*v6.pkt`: IPv6), a timeout of 180 s, at most two
  at a time. `cubic` is added to the host's
  `net.ipv4.tcp_allowed_congestion_control` for the run and the old value put
  back afterwards. A Linux failure is rerun up to three times: a script that
  passes on a rerun is a timing flake and counts as a pass ("rerun").
* **synack**: `synack packetdrill` on the same script with the same `-D`
  definitions. A script that passes but leaves an assertion unevaluated is a
  failure here.
* **Regenerate**: `sudo make conformance` (both halves, about {minutes} minutes,
  root); `make conformance-synack` (synack's half only, seconds, no root,
  reusing the Linux half in `docs/conformance.json`). The list of scripts
  synack passes, which the default test suite holds synack to, is
  `tests/packetdrill/synack_passes.txt` (`make conformance-passes` rewrites it).

Linux half: kernel {kernel}, {linux_date}. synack half: {synack_date}.

Classes of a difference: {classes}.

`rfc-over-linux` scripts of TARGET.txt that fail exactly as documented (the
line, and what synack sends instead, per `RFC_DEVIATIONS` in
`synack/packetdrill/runner.py`) do not make `synack packetdrill --target` exit
1: they are still printed as FAIL, then named with their RFC section in a
separate "documented RFC-over-Linux deviations" summary; any other failure,
or a different failure of the same script, exits 1. Today that is
`tcp/ts_recent/invalid_ack.pkt` (RFC 9293 §3.10.7.4).
"""


def render_markdown(report: dict) -> str:
    rows = report["scripts"]
    meta = report["meta"]
    c = report["counts"]
    out = [HEADER.format(
        total=len(rows), minutes=meta.get("linux_minutes", "?"),
        kernel=meta.get("kernel", "?"), linux_date=meta.get("linux_date", "?"),
        synack_date=meta.get("synack_date", "?"),
        classes="; ".join(f"`{k}`: {v}" for k, v in CLASSES.items()))]
    out.append("## Summary\n")
    out.append("| scripts | count | Linux passes | synack passes | both pass | "
               "Linux only | synack only | Linux passed on a rerun | Linux, first run only |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for key, label in (("all", "all"), ("in_scope", "in scope"),
                       ("out_of_scope", "out of scope")):
        b = c[key]
        out.append(f"| {label} | {b['scripts']} | {b['linux']} | {b['synack']} | {b['both']} | "
                   f"{b['linux_only']} | {b['synack_only']} | {b['linux_flaky']} | "
                   f"{b['linux_first_run']} |")
    cls = c["in_scope"]["linux_only_by_class"]
    if cls:
        out.append("\nIn scope, Linux passes and synack fails, by class: "
                   + ", ".join(f"`{k}` {v}" for k, v in cls.items()) + ".")
    out.append("\n## Per folder\n")
    out.append("| folder | in scope | scripts | Linux | synack | both |")
    out.append("|---|---|---|---|---|---|")
    folders: dict[str, list[dict]] = {}
    for r in rows:
        folders.setdefault(r["folder"], []).append(r)
    for f, rs in folders.items():
        out.append(f"| [{f}](#{f.replace('_', '_')}) | {'yes' if rs[0]['in_scope'] else 'no'} | "
                   f"{len(rs)} | {sum(map(_lp, rs))} | {sum(map(_sp, rs))} | "
                   f"{sum(1 for r in rs if _lp(r) and _sp(r))} |")
    out.append("\n## Per script\n")
    for f, rs in folders.items():
        out.append(f"### {f}\n")
        out.append("| script | Linux | synack | class |")
        out.append("|---|---|---|---|")
        for r in rs:
            short = r["script"].split("/", 2)[-1]
            out.append(f"| `{short}` | {_verdict(r['linux'])} | {r['synack']['verdict']} | "
                       f"{r['class'] or ''} |")
        details = [r for r in rs if r["class"]]
        if details:
            out.append("")
        for r in details:
            out.append(_detail(r))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _detail(r: dict) -> str:
    short = r["script"].split("/", 2)[-1]
    reason = " ".join((r["reason"] or "").split())
    lines = [f"* `{short}` — **{r['class']}**: {reason}" if reason
             else f"* `{short}` — **{r['class']}**"]
    lr, sr = r["linux"], r["synack"]
    if lr and lr["verdict"] != "PASS":
        where = f"line {lr['line']}" if lr.get("line") else "script"
        lines.append(f"  * Linux, {where}: {_code(lr.get('message'))}")
        if lr.get("script_packet"):
            lines.append(f"    script: {_code(lr['script_packet'])}")
        if lr.get("actual_packet"):
            lines.append(f"    Linux: {_code(lr['actual_packet'])}")
    if sr["verdict"] != "PASS":
        where = f"line {sr['line']}" if sr.get("line") else "script"
        src = f" {_code(sr['source'])}" if sr.get("source") else ""
        lines.append(f"  * synack, {where}:{src} {_code(sr.get('kind') or '')} "
                     f"{_code(sr.get('message'))}".rstrip())
        if sr.get("expected") is not None:
            lines.append(f"    expected: {_code(sr['expected'])}")
        if sr.get("actual") is not None:
            lines.append(f"    synack: {_code(sr['actual'])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# the command

def _names(root: Path, paths: list[Path]) -> list[str]:
    return [str(p.resolve().relative_to(root.resolve())) for p in paths]


def synack_half(root: Path, names: list[str], profile: str = "linux") -> dict[str, dict]:
    return {n: run_synack(root / n, profile=profile) for n in names}


def passing_scripts(report: dict) -> list[str]:
    return [r["script"] for r in report["scripts"] if _sp(r)]


def write_report(report: dict, md: Path) -> None:
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(report))
    md.with_suffix(".json").write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")


def write_passes(names: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Scripts of the shared packetdrill set (../shared/conformance/packetdrill)\n"
        "# that synack passes (linux profile, virtual time, no assertion skipped).\n"
        "# tests/test_packetdrill_ratchet.py fails if one of them stops passing.\n"
        "# Regenerate: make conformance-passes\n"
        + "".join(n + "\n" for n in names))


def read_passes(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


def main(argv: list[str] | None = None) -> int:
    default_md = (L.repo_root() or Path.cwd()) / "docs" / "conformance.md"
    ap = argparse.ArgumentParser(
        prog="python -m synack.packetdrill.conformance",
        description="Run every shared packetdrill script against the live Linux kernel "
                    "(root) and against synack, and write the conformance report.")
    ap.add_argument("--output", type=Path, default=default_md,
                    help="the Markdown report (the JSON goes beside it); default "
                         "docs/conformance.md")
    ap.add_argument("--synack-only", action="store_true",
                    help="run only synack's half; take Linux's from the existing JSON")
    ap.add_argument("--write-passes", type=Path, metavar="FILE",
                    help="only write the list of scripts synack passes to FILE")
    ap.add_argument("--jobs", "-j", type=int, default=L.MAX_JOBS, help="Linux runs at a time (max 2)")
    ap.add_argument("--reruns", type=int, default=L.DEFAULT_RERUNS)
    ap.add_argument("--timeout", type=float, default=L.DEFAULT_TIMEOUT)
    ap.add_argument("scripts", nargs="*", help="a subset of the shared scripts (default: all)")
    args = ap.parse_args(argv)

    root = shared_dir()
    if root is None:
        print("synack: error: cannot find the shared packetdrill scripts "
              "(set SYNACK_PACKETDRILL_DIR)", file=sys.stderr)
        return 2
    paths = [Path(s) for s in args.scripts] or all_scripts(root)
    try:
        names = _names(root, paths)
    except ValueError:
        print("synack: error: scripts must be in the shared set "
              f"({root}/tcp); use `synack packetdrill --linux` for others", file=sys.stderr)
        return 2

    if args.write_passes:
        synack = synack_half(root, names)
        passes = [n for n in names if synack[n]["verdict"] == "PASS"]
        write_passes(passes, args.write_passes)
        print(f"{len(passes)}/{len(names)} pass; wrote {args.write_passes}")
        return 0

    json_path = args.output.with_suffix(".json")
    meta: dict = {}
    linux: dict[str, dict] = {}
    if args.synack_only:
        if not json_path.is_file():
            print(f"synack: error: no Linux results in {json_path}; run `make conformance` "
                  "(root) first", file=sys.stderr)
            return 2
        old = json.loads(json_path.read_text())
        meta = dict(old.get("meta", {}))
        linux = {}
        for r in old["scripts"]:
            if r.get("linux"):
                lr = L.LinuxResult.from_dict(r["linux"])
                lr.explain()                 # with this version's reading of the errors
                linux[r["script"]] = lr.to_dict()
    else:
        t0 = time.monotonic()
        try:
            results = L.run_linux_many([root / n for n in names], root=root, jobs=args.jobs,
                                       reruns=args.reruns, timeout=args.timeout,
                                       progress=lambda m: print(m, file=sys.stderr, flush=True))
        except (L.ToolUnavailable, PermissionError) as e:
            print(f"synack: error: {e}", file=sys.stderr)
            return 2
        linux = {r.script: r.to_dict() for r in results}
        meta.update(kernel=platform.release(),
                    linux_date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    linux_minutes=max(1, round((time.monotonic() - t0) / 60)),
                    packetdrill_source=L.source_key(L.source_dir()) if L.source_dir() else None)
    synack = synack_half(root, names)
    meta["synack_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta["profile"] = "linux"
    report = build_report(names, linux, synack, meta)
    write_report(report, args.output)
    a, s = report["counts"]["all"], report["counts"]["in_scope"]
    print(f"all {a['scripts']}: linux {a['linux']}, synack {a['synack']}, both {a['both']}; "
          f"in scope {s['scripts']}: linux {s['linux']}, synack {s['synack']}, both {s['both']}")
    print(f"wrote {args.output} and {json_path}")
    return 0


if __name__ == "__main__":                       # pragma: no cover
    sys.exit(main())
