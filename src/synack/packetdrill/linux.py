"""The real packetdrill as the oracle: build it, run scripts against the live
Linux kernel.

packetdrill (the C tool, github.com/google/packetdrill) runs a script against
the kernel it runs on, through its own TUN device. Here each run happens in a
throwaway network namespace made for it (`ip netns add`, lo up, removed
afterwards, also on failure or timeout), from the script's own folder (the
init commands source `../common/defaults.sh`), with a timeout.

* `build_packetdrill()` copies the tool's source (the shared folder's `src/`,
  GPL test tooling: never copied into the project) into `build/packetdrill/`
  (git-ignored), keyed on a hash of the source, and runs `./configure && make
  packetdrill` there; Debian's bison and flex are needed. A build is made once
  per source and reused.
* `stage_scripts()` copies the shared scripts to a temporary folder, because
  the shared copy's helper scripts (`tcp/common/defaults.sh`) are not
  executable and packetdrill executes its init command with `sh -c`.
* `allow_congestion_control("cubic")` adds cubic to the host-wide
  `net.ipv4.tcp_allowed_congestion_control` (a namespace cannot change that
  list; the scripts' defaults select cubic) and puts the old value back
  afterwards, also on failure.
* `run_linux()` runs one script, `run_linux_many()` several (at most two at a
  time), rerunning a failure up to three times so that a timing flake (the
  live kernel runs in real time on a shared machine) is told apart from a
  real difference.

All of this needs root (namespaces, TUN, the host sysctl).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

ALLOWED_CC = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
DEFAULT_TIMEOUT = 180.0         # seconds per run (packetdrill's own run_all.py uses 180)
DEFAULT_RERUNS = 3              # extra runs of a Linux failure, to tell flakes apart
MAX_JOBS = 2

#: The IPv4 variant of packetdrill's own run_all.py (its command-line options
#: and `-D` definitions); scripts named *v6.pkt get the IPv6 variant, as there.
IPV4_ARGS = ["--send_omit_free", "--ip_version=ipv4", "--local_ip=192.168.0.1",
             "--gateway_ip=192.168.0.1", "--netmask_ip=255.255.0.0",
             "--remote_ip=192.0.2.1"]
IPV4_DEFINES = {"TFO_COOKIE": "3021b9d889017eeb", "CODE": "host_unreachable",
                "CMSG_LEVEL_IP": "SOL_IP", "CMSG_TYPE_RECVERR": "IP_RECVERR"}
IPV6_ARGS = ["--send_omit_free", "--ip_version=ipv6", "--mtu=1520",
             "--local_ip=fd3d:0a0b:17d6::1", "--gateway_ip=fd3d:0a0b:17d6:8888::1",
             "--remote_ip=fd3d:fa7b:d17d::1"]
IPV6_DEFINES = {"TFO_COOKIE": "c1d1e9742a47a9bc", "CMSG_LEVEL_IP": "SOL_IPV6",
                "CMSG_TYPE_RECVERR": "IPV6_RECVERR"}


class ToolUnavailable(RuntimeError):
    """packetdrill cannot be built or run here (missing tools, not root, ...)."""


def variant(script: str | os.PathLike) -> tuple[list[str], dict[str, str]]:
    """The command-line options and -D definitions a script runs with."""
    if os.fspath(script).endswith("v6.pkt"):
        return list(IPV6_ARGS), dict(IPV6_DEFINES)
    return list(IPV4_ARGS), dict(IPV4_DEFINES)


# --------------------------------------------------------------------------
# building the tool

def repo_root() -> Path | None:
    """The source checkout this module lives in (None when installed). The
    outermost one, so that the compiled build's copy (build/compiled/) uses
    the checkout's build/ folder."""
    here = Path(__file__).resolve()
    found = None
    for up in here.parents:
        if (up / "pyproject.toml").is_file() and (up / "src" / "synack").is_dir():
            found = up
    return found


def default_build_root() -> Path:
    env = os.environ.get("SYNACK_BUILD_DIR")
    if env:
        return Path(env) / "packetdrill"
    root = repo_root()
    if root is not None:
        return root / "build" / "packetdrill"
    return Path.home() / ".cache" / "synack" / "packetdrill"


def source_dir() -> Path | None:
    from .runner import shared_dir
    root = shared_dir()
    if root is not None and (root / "src" / "packetdrill.c").is_file():
        return root / "src"
    return None


def source_key(src: Path) -> str:
    """A hash of every file of the source tree (names and contents)."""
    h = hashlib.sha256()
    for p in sorted(src.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(src)).encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


_build_lock = threading.Lock()


def build_packetdrill(src: Path | None = None, build_root: Path | None = None,
                      *, log=None) -> Path:
    """Build packetdrill from `src` (default: the shared source) into
    `build_root/<source hash>/` and return the binary's path. Reuses an
    earlier build of the same source. Raises ToolUnavailable with the reason."""
    src = Path(src) if src is not None else source_dir()
    if src is None or not (src / "packetdrill.c").is_file():
        raise ToolUnavailable("cannot find packetdrill's source (the shared folder's "
                              "conformance/packetdrill/src; set SYNACK_PACKETDRILL_DIR)")
    build_root = Path(build_root) if build_root is not None else default_build_root()
    key = source_key(src)
    out = build_root / key
    binary = out / "packetdrill"
    with _build_lock:
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
        missing = [t for t in ("bison", "flex", "make", "cc") if shutil.which(t) is None]
        if missing:
            raise ToolUnavailable(
                f"building packetdrill needs {', '.join(missing)} "
                "(Debian: apt-get install -y bison flex build-essential; `make system-deps`)")
        build_root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=build_root))
        try:
            work = tmp / "src"
            shutil.copytree(src, work, symlinks=True)
            for p in work.rglob("*"):          # the shared copy is read-only
                if not p.is_symlink():
                    p.chmod(p.stat().st_mode | 0o200)
            if log:
                log(f"building packetdrill in {out} ...")
            logf = tmp / "build.log"
            with open(logf, "w") as lf:
                for argv in (["sh", "./configure"], ["make", "-j2", "packetdrill"]):
                    rc = subprocess.run(argv, cwd=work, stdout=lf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL).returncode
                    if rc != 0:
                        lf.flush()
                        tail = logf.read_text(errors="replace").strip().splitlines()[-8:]
                        raise ToolUnavailable(
                            f"building packetdrill failed ({' '.join(argv)} exited {rc}): "
                            + " | ".join(tail))
            if not (work / "packetdrill").is_file():
                raise ToolUnavailable("building packetdrill produced no binary")
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            shutil.copy2(work / "packetdrill", binary)
            shutil.copy2(logf, out / "build.log")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return binary


# --------------------------------------------------------------------------
# the host-wide congestion-control list

_cc_lock = threading.Lock()
_cc_depth = 0
_cc_saved: str | None = None


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@contextmanager
def allow_congestion_control(name: str = "cubic", path: str = ALLOWED_CC) -> Iterator[None]:
    """Add `name` to the host's allowed congestion controls for the block and
    restore the old list afterwards, also when the block raises. Nested and
    concurrent uses in this process share one change (a reference count)."""
    global _cc_depth, _cc_saved
    with _cc_lock:
        if _cc_depth == 0:
            old = _read(path)
            if name not in old.split():
                try:
                    _write(path, f"{old} {name}".strip())
                except OSError as e:
                    raise ToolUnavailable(f"cannot add {name} to {path}: {e.strerror or e}") from e
                _cc_saved = old
            else:
                _cc_saved = None
        _cc_depth += 1
    try:
        yield
    finally:
        with _cc_lock:
            _cc_depth -= 1
            if _cc_depth == 0 and _cc_saved is not None:
                saved, _cc_saved = _cc_saved, None
                _write(path, saved)


# --------------------------------------------------------------------------
# staging the scripts

def stage_scripts(root: Path, dest: Path) -> Path:
    """Copy the shared set's `tcp/` and `common/` into `dest`, ready to run;
    return dest.

    Two fixes to the shared layout, in the copy only: the helper scripts are
    made executable, and both `common/` and `tcp/common/` get the real
    `defaults.sh` and `set_sysctls.py`. (In the shared folder
    `tcp/common/defaults.sh` is a one-line shim naming `../../common/defaults.sh`,
    which the shell resolves against the *current* folder: from a script two
    levels down, such as `tcp/fastopen/client/`, that is the shim itself, which
    then calls itself without end.)"""
    for part in ("tcp", "common"):
        if (root / part).is_dir():
            shutil.copytree(root / part, dest / part, symlinks=True)
    for p in dest.rglob("*"):
        if p.is_symlink():
            continue
        mode = p.stat().st_mode | 0o200
        if p.is_dir() or p.suffix in (".sh", ".py"):
            mode |= 0o755
        p.chmod(mode)
    helpers: dict[str, Path] = {}
    for folder in (dest / "common", dest / "tcp" / "common"):  # the first real one wins
        for f in sorted(folder.glob("*")) if folder.is_dir() else []:
            if f.is_file() and f.stat().st_size > 200 and f.name not in helpers:
                helpers[f.name] = f
    for folder in (dest / "common", dest / "tcp" / "common"):
        folder.mkdir(parents=True, exist_ok=True)
        for name, real in helpers.items():
            target = folder / name
            if target.resolve() != real.resolve():
                if target.exists() or target.is_symlink():
                    target.unlink()
                shutil.copy2(real, target)
                target.chmod(0o755)
    return dest


# --------------------------------------------------------------------------
# one run

_ERR_RE = re.compile(r"^(?P<file>[^\s:]+\.pkt):(?P<line>\d+): (?P<msg>.*)$")


@dataclass
class LinuxAttempt:
    rc: int | None                  # None: timed out
    seconds: float
    error: str = ""                 # packetdrill's stderr (trimmed)


@dataclass
class LinuxResult:
    """What the live kernel did with one script (after reruns)."""
    script: str
    verdict: str                    # PASS, FAIL, TIMEOUT, ERROR
    attempts: list[LinuxAttempt] = field(default_factory=list)
    line: int | None = None         # the first failing line (first failed attempt)
    message: str = ""               # packetdrill's error line
    script_packet: str | None = None
    actual_packet: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def flaky(self) -> bool:
        return self.passed and any(a.rc != 0 for a in self.attempts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flaky"] = self.flaky
        return d

    def explain(self) -> None:
        """Fill line, message and packets from the first failed attempt."""
        first_fail = next((a for a in self.attempts if a.rc != 0), None)
        if first_fail is not None:
            self.line, self.message, self.script_packet, self.actual_packet = \
                parse_error(first_fail.error)

    @classmethod
    def from_dict(cls, d: dict) -> "LinuxResult":
        d = dict(d)
        d.pop("flaky", None)
        d["attempts"] = [LinuxAttempt(**a) for a in d.get("attempts", [])]
        return cls(**d)


def parse_error(stderr: str) -> tuple[int | None, str, str | None, str | None]:
    """(line, message, script packet, actual packet) from packetdrill's stderr.

    The message is packetdrill's `FILE:LINE: ...` line; for a failed Python
    block the failing statement and the exception are added; error lines
    printed before it (by an init command, say) are appended in brackets."""
    line, msg, sp, ap = None, "", None, None
    before: list[str] = []
    lines = [t.strip() for t in stderr.splitlines()]
    for i, text in enumerate(lines):
        m = _ERR_RE.match(text)
        if m and line is None:
            line, msg = int(m.group("line")), m.group("msg")
            if msg.startswith("error in Python code"):
                tb = lines[i + 1:]
                exc = next((t for t in tb if re.match(r"^\w*(Error|Exception)\b.*", t)
                            and not t.startswith("Traceback")), None)
                stmt = None
                for j, t in enumerate(tb):
                    if t.startswith("File ") and j + 1 < len(tb):
                        stmt = tb[j + 1]
                if stmt:
                    msg += f": {stmt}"
                if exc:
                    msg += f" -> {exc}"
        elif text.startswith("script packet:") and sp is None:
            sp = text.split(":", 1)[1].strip()
        elif text.startswith("actual packet:") and ap is None:
            ap = text.split(":", 1)[1].strip()
        elif line is None and text and "error" in text.lower():
            before.append(text)
    if not msg and before:
        msg = before.pop()
    if not msg:
        rest = [t for t in lines if t]
        msg = rest[-1] if rest else ""
    if before:
        msg += " [before it: " + "; ".join(before[:3]) + "]"
    return line, msg, sp, ap


_live_procs: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()


def kill_all_runs() -> None:
    """Kill (by process group) every packetdrill run this process has going."""
    with _live_lock:
        procs = list(_live_procs)
    for proc in procs:
        _kill_group(proc)


_ns_counter = iter(range(1, 1 << 30))
_ns_counter_lock = threading.Lock()


def netns_prefix() -> str:
    return os.environ.get("SYNACK_NETNS_PREFIX", "synack-pd")


def _ns_name(prefix: str) -> str:
    with _ns_counter_lock:
        n = next(_ns_counter)
    return f"{prefix.rstrip('-')}-{os.getpid()}-{n}"


def require_root() -> None:
    if os.geteuid() != 0:
        raise ToolUnavailable("running packetdrill against Linux needs root (it makes a "
                              "network namespace and a TUN device per script); run as root")


def run_once(packetdrill: Path, script: Path, *, args: list[str] | None = None,
             defines: dict[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT,
             prefix: str | None = None) -> LinuxAttempt:
    """Run packetdrill on `script` once, in a new namespace (lo up) removed
    afterwards, from the script's folder. Returns the exit status (None on
    timeout: the whole process group is killed) and stderr."""
    import time

    from ..tun.netns import Namespace, install_cleanup_handlers
    install_cleanup_handlers()
    script = Path(script).resolve()
    argv = [str(packetdrill), *(args or [])]
    for k, v in (defines or {}).items():
        argv += ["-D", f"{k}={v}"]
    argv.append(script.name)
    ns = Namespace(_ns_name(prefix or netns_prefix()))
    t0 = time.monotonic()
    with ns:
        proc = ns.popen(argv, cwd=script.parent, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        errors="replace", start_new_session=True)
        with _live_lock:
            _live_procs.add(proc)
        deadline = t0 + timeout
        rc: int | None = None
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=max(0.01, min(0.5, deadline - time.monotonic())))
                    rc = proc.returncode
                    break
                except subprocess.TimeoutExpired:
                    why = None
                    if _stopping.is_set():
                        why = "stopped"
                    elif time.monotonic() >= deadline:
                        why = f"timed out after {timeout:g} s"
                    elif _session_size(proc.pid) > MAX_PROCESSES:
                        why = f"stopped: more than {MAX_PROCESSES} processes (a runaway init command?)"
                    if why:
                        _kill_group(proc)
                        out, err = proc.communicate()
                        err = (err or "") + f"\n({why})"
                        break
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
            with _live_lock:
                _live_procs.discard(proc)
    text = (err or "").strip()
    if len(text) > 4000:
        text = text[:4000] + "\n..."
    return LinuxAttempt(rc=rc, seconds=round(time.monotonic() - t0, 3), error=text)


MAX_PROCESSES = 200      # a run with more processes than this is stopped


def _session_size(sid: int) -> int:
    """How many processes are in session `sid` (a run's processes)."""
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            n += 1
    return n


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass


def run_linux(packetdrill: Path, script: Path, *, name: str | None = None,
              reruns: int = DEFAULT_RERUNS, timeout: float = DEFAULT_TIMEOUT,
              prefix: str | None = None) -> LinuxResult:
    """Run a script against the live kernel; a failure is rerun up to
    `reruns` times and the script passes if any run passes (then `flaky`)."""
    args, defines = variant(script)
    attempts: list[LinuxAttempt] = []
    for _ in range(1 + max(0, reruns)):
        if _stopping.is_set():
            raise KeyboardInterrupt("stopped")
        a = run_once(packetdrill, script, args=args, defines=defines, timeout=timeout,
                     prefix=prefix)
        attempts.append(a)
        if a.rc == 0:
            break
    res = LinuxResult(script=name or str(script), verdict="FAIL", attempts=attempts)
    if attempts[-1].rc == 0:
        res.verdict = "PASS"
    elif all(a.rc is None for a in attempts):
        res.verdict = "TIMEOUT"
    res.explain()
    return res


def run_linux_many(scripts: list[Path], *, root: Path | None = None,
                   jobs: int = MAX_JOBS, reruns: int = DEFAULT_RERUNS,
                   timeout: float = DEFAULT_TIMEOUT, packetdrill: Path | None = None,
                   prefix: str | None = None, progress=None) -> list[LinuxResult]:
    """Run scripts against Linux (at most `jobs`, capped at 2, at a time), with
    cubic allowed for the whole batch. Scripts under the shared set's `root`
    run from a staged copy of it; others from their own folder. Results are
    named by the path relative to root (else as given), in input order."""
    require_root()
    from ..tun.netns import install_cleanup_handlers
    from .runner import shared_dir
    root = root or shared_dir()
    packetdrill = packetdrill or build_packetdrill(log=progress)
    jobs = max(1, min(MAX_JOBS, jobs))
    with tempfile.TemporaryDirectory(prefix="synack-pd-scripts-") as tmp:
        staged = stage_scripts(root, Path(tmp)) if root is not None else None
        todo = []
        for s in scripts:
            s = Path(s).resolve()
            name, run_path = str(s), s
            if root is not None and staged is not None:
                try:
                    rel = s.relative_to(Path(root).resolve())
                    name, run_path = str(rel), staged / rel
                except ValueError:
                    pass
            todo.append((name, run_path))

        def one(item):
            name, path = item
            r = run_linux(packetdrill, path, name=name, reruns=reruns, timeout=timeout,
                          prefix=prefix)
            if progress:
                extra = f" (flaky: {len(r.attempts)} runs)" if r.flaky else (
                    f" ({len(r.attempts)} runs)" if len(r.attempts) > 1 else "")
                progress(f"linux {r.verdict:7} {name}{extra}")
            return r

        install_cleanup_handlers()          # SIGTERM/SIGHUP unwind through the finally blocks
        _stopping.clear()
        with allow_congestion_control("cubic"):
            ex = ThreadPoolExecutor(max_workers=jobs)
            futures = []
            try:
                futures = [ex.submit(one, item) for item in todo]
                return [f.result() for f in futures]
            except BaseException:
                _stopping.set()             # no new runs; kill the ones going
                for f in futures:
                    f.cancel()
                kill_all_runs()
                raise
            finally:
                ex.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------
# `synack packetdrill --linux FILE...`

def main(argv: list[str] | None = None) -> int:
    """Run scripts against the live kernel and against synack; print both
    verdicts side by side. Exit 0 when every script has the same verdict on
    both, 1 otherwise, 2 on usage errors or when Linux cannot be run."""
    import argparse

    from .conformance import run_synack
    ap = argparse.ArgumentParser(
        prog="synack packetdrill --linux",
        description="Run packetdrill scripts against the live Linux kernel (the real "
                    "packetdrill, built from the shared source, each run in its own "
                    "network namespace; needs root) and against synack (virtual time), "
                    "and print both verdicts side by side.")
    ap.add_argument("--linux", action="store_true", required=True)
    ap.add_argument("scripts", nargs="+", help=".pkt files (or directories)")
    ap.add_argument("--profile", default="linux", help="synack's engine profile")
    ap.add_argument("--reruns", type=int, default=DEFAULT_RERUNS,
                    help="extra runs of a Linux failure (default 3)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                    help="seconds per Linux run (default 180)")
    ap.add_argument("-j", "--jobs", type=int, default=MAX_JOBS, help="at most 2")
    args = ap.parse_args(argv)
    paths: list[Path] = []
    for s in args.scripts:
        p = Path(s)
        if p.is_dir():
            paths.extend(sorted(p.rglob("*.pkt")))
        elif p.is_file():
            paths.append(p)
        else:
            print(f"synack: error: no such script: {s}", file=sys.stderr)
            return 2
    try:
        linux = run_linux_many(paths, jobs=args.jobs, reruns=args.reruns,
                               timeout=args.timeout,
                               progress=lambda m: print(m, file=sys.stderr, flush=True)
                               if m.startswith("building") else None)
    except (ToolUnavailable, PermissionError) as e:
        print(f"synack: error: {e}", file=sys.stderr)
        return 2
    same = 0
    width = max(len(r.script) for r in linux)
    print(f"{'script':{width}}  {'linux':8} synack")
    synack_passed = 0
    for p, lr in zip(paths, linux):
        sr = run_synack(p, profile=args.profile)
        synack_passed += sr["verdict"] == "PASS"
        lv = lr.verdict + ("*" if lr.flaky else "")
        print(f"{lr.script:{width}}  {lv:8} {sr['verdict']}")
        if not lr.passed:
            where = f"line {lr.line}: " if lr.line else ""
            print(f"    linux:  {where}{lr.message}")
            if lr.script_packet:
                print(f"      script: {lr.script_packet}")
            if lr.actual_packet:
                print(f"      actual: {lr.actual_packet}")
        if sr["verdict"] != "PASS":
            print(f"    synack: {sr['summary']}")
            if sr.get("expected"):
                print(f"      expected: {sr['expected']}")
            if sr.get("actual"):
                print(f"      actual:   {sr['actual']}")
        same += lr.passed == (sr["verdict"] == "PASS")
    if any(r.flaky for r in linux):
        print("* passed on a rerun (a timing flake on the live kernel)")
    print(f"\n{same}/{len(linux)} with the same verdict; linux passed "
          f"{sum(r.passed for r in linux)}, synack passed {synack_passed}")
    return 0 if same == len(linux) else 1
