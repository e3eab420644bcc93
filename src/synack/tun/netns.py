"""Network namespaces for the TUN driver: create, enter, clean up.

Everything the TUN driver creates (the namespace itself, the TUN link, its
addresses and routes) lives in a namespace made here, so that the machine's
own interfaces and routes are never touched.

How code runs "inside" a namespace
----------------------------------
The network namespace is a property of a *thread*, not of the process:
`setns(2)` with CLONE_NEWNET only moves the calling thread.  `run_in_netns`
therefore starts a short-lived thread, moves it into the namespace and runs a
callable there; the main thread never leaves the root namespace.  Objects
created in that thread keep the namespace they were born in after the thread
has exited:

* a socket belongs to the namespace it was created in (`netns_socket`);
* a TUN device is created in the namespace of the thread that opened
  /dev/net/tun (`synack.tun.device`);
* /proc/sys/net/... resolves against the namespace of the thread that opens
  it (`Namespace.sysctl`).

Kernel-side tools (python, curl, ...) are run with `ip netns exec`
(`Namespace.run_cmd` / `Namespace.popen`); every process started that way is
remembered and killed, by PID, when the namespace is removed.

Cleanup
-------
`Namespace` is a context manager; leaving it (normally, by an exception or by
Ctrl-C) kills our processes in it and removes it.  Namespaces that are still
alive at interpreter exit are removed by an `atexit` hook, and SIGTERM/SIGHUP
are turned into `SystemExit` (only if nobody installed a handler already) so
`finally` blocks run.  A namespace named by `unique_name` carries the PID of
its creator; `reap_stale` removes those whose creator has died (SIGKILL).
"""
from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import errno
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")

NETNS_RUN_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_UNIQUE_RE = re.compile(r"^synack-[A-Za-z0-9_]+-(\d+)-\d+$")
_counter = itertools.count(1)
_lock = threading.Lock()
_live: dict[str, "Namespace"] = {}        # namespaces this process created
_handlers_installed = False
_handlers_pid = 0

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


# --------------------------------------------------------------------------
# privileges

def _effective_caps() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def require_privileges(what: str = "network namespaces and TUN devices") -> None:
    """Raise PermissionError unless we hold CAP_NET_ADMIN and CAP_SYS_ADMIN.

    Creating a namespace needs CAP_SYS_ADMIN (mount/unshare); creating and
    configuring links needs CAP_NET_ADMIN.  Running as root gives both.
    """
    caps = _effective_caps()
    missing = [name for bit, name in ((CAP_NET_ADMIN, "CAP_NET_ADMIN"),
                                      (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"))
               if not caps >> bit & 1]
    if missing:
        raise PermissionError(
            f"synack.tun: managing {what} needs root (missing "
            f"{' and '.join(missing)}; euid={os.geteuid()}). "
            "Run as root, e.g. `sudo .venv/bin/python -m pytest -m netns`.")


# --------------------------------------------------------------------------
# names

def unique_name(tag: str = "ns") -> str:
    """A namespace name unique to this process: synack-<tag>-<pid>-<n>."""
    tag = re.sub(r"[^A-Za-z0-9_]", "_", tag) or "ns"
    return f"synack-{tag}-{os.getpid()}-{next(_counter)}"


def netns_path(name: str) -> str:
    _check_name(name)
    return os.path.join(NETNS_RUN_DIR, name)


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise ValueError(f"bad network namespace name {name!r}")


def list_netns() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_RUN_DIR))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> list[str]:
    """Remove namespaces named by `unique_name` whose creating PID is dead.

    Only names of the exact form synack-<tag>-<pid>-<n> are considered, so
    namespaces made by anybody else are never touched.
    """
    removed = []
    for name in list_netns():
        m = _UNIQUE_RE.match(name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            try:
                _remove(name)
                removed.append(name)
            except OSError:
                pass
    return removed


# --------------------------------------------------------------------------
# create / remove / enter

def _create(name: str) -> None:
    from pyroute2 import netns as pr_netns
    if netns_exists(name):
        raise FileExistsError(errno.EEXIST, f"network namespace {name!r} already exists")
    try:
        pr_netns.create(name)
    except Exception as exc:
        # pyroute2 forks a child for unshare(); errors come back as
        # exceptions of various types.  Leave no half-made mount point.
        if netns_exists(name):
            try:
                _remove(name)
            except OSError:
                pass
        if isinstance(exc, PermissionError) or "EPERM" in str(exc) or "ermission" in str(exc):
            raise PermissionError(f"cannot create network namespace {name!r}: {exc}") from exc
        raise
    if not netns_exists(name):
        raise OSError(f"network namespace {name!r} was not created")


def _remove(name: str) -> None:
    from pyroute2 import netns as pr_netns
    if netns_exists(name):
        pr_netns.remove(name)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


def run_in_netns(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call fn(*args, **kwargs) in a fresh thread that lives in namespace `name`.

    Returns its result or re-raises its exception.  If entering the namespace
    fails, fn is not called at all (so nothing is ever created in the root
    namespace by mistake).
    """
    path = netns_path(name)
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:      # carried over to the caller
            box["error"] = exc

    t = threading.Thread(target=body, name=f"netns:{name}", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def netns_socket(name: str, family: int = socket.AF_INET,
                 type: int = socket.SOCK_DGRAM, proto: int = 0) -> socket.socket:
    """A socket that belongs to namespace `name` (usable from any thread)."""
    return run_in_netns(name, socket.socket, family, type, proto)


# --------------------------------------------------------------------------
# cleanup plumbing

def _atexit_cleanup() -> None:
    for ns in list(_live.values()):
        if ns._creator_pid != os.getpid():
            continue
        try:
            ns.remove()
        except Exception:
            pass


def _after_fork_in_child() -> None:
    # A forked child (pyroute2 forks helpers, subprocess forks before exec)
    # inherits our registry and atexit hook; it must never remove the
    # parent's namespaces when it exits.
    _live.clear()


def _raise_exit(signum: int, frame: Any) -> None:
    if os.getpid() != _handlers_pid:
        # A forked child inheriting this handler: die the default way,
        # without running atexit hooks or unwinding the parent's code.
        os._exit(128 + signum)
    raise SystemExit(128 + signum)


def install_cleanup_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally`/`__exit__` run.

    Only replaces handlers still at their default, and only from the main
    thread (Python's rule).  Ctrl-C already raises KeyboardInterrupt.
    """
    global _handlers_installed, _handlers_pid
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _raise_exit)
        except (ValueError, OSError):
            pass
    _handlers_installed = True
    _handlers_pid = os.getpid()


atexit.register(_atexit_cleanup)
os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------
# the object

class Namespace:
    """A network namespace, created on `create()` (or `with`), removed on `remove()`.

    With `create=False` an existing namespace is used and not removed at the
    end (only our processes in it are killed).
    """

    def __init__(self, name: str | None = None, *, create: bool = True,
                 lo_up: bool = True) -> None:
        self.name = name or unique_name()
        _check_name(self.name)
        self.owned = create
        self.lo_up = lo_up
        self._procs: list[subprocess.Popen] = []
        self._active = False
        self._creator_pid = 0

    # -- life cycle
    def create(self) -> "Namespace":
        if self._active:
            return self
        require_privileges()
        install_cleanup_handlers()
        if self.owned:
            with _lock:
                _create(self.name)
                self._creator_pid = os.getpid()
                _live[self.name] = self
        elif not netns_exists(self.name):
            raise FileNotFoundError(f"network namespace {self.name!r} does not exist")
        self._active = True
        try:
            if self.lo_up:
                self.link_up("lo")
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Kill our processes in the namespace, then delete it (if we made it)."""
        self.kill_processes()
        if self.owned and self._creator_pid == os.getpid():
            with _lock:
                try:
                    _remove(self.name)
                finally:
                    _live.pop(self.name, None)
        self._active = False

    def __enter__(self) -> "Namespace":
        return self.create()

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def exists(self) -> bool:
        return netns_exists(self.name)

    # -- running things inside
    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a callable in a thread inside the namespace; return its result."""
        return run_in_netns(self.name, fn, *args, **kwargs)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_DGRAM,
               proto: int = 0) -> socket.socket:
        """A socket created inside the namespace."""
        return netns_socket(self.name, family, type, proto)

    def _argv(self, argv: Sequence[str]) -> list[str]:
        ip = shutil.which("ip") or "/usr/sbin/ip"
        return [ip, "netns", "exec", self.name, *map(str, argv)]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start `argv` inside the namespace (via `ip netns exec`); tracked by PID."""
        proc = subprocess.Popen(self._argv(argv), **kwargs)
        self._procs.append(proc)
        return proc

    def run_cmd(self, argv: Sequence[str], *, check: bool = True,
                timeout: float | None = 60,
                input: str | None = None) -> subprocess.CompletedProcess:
        """Run `argv` inside the namespace to completion; output captured as text."""
        proc = self.popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self._procs.remove(proc)
        res = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if check and res.returncode != 0:
            raise subprocess.CalledProcessError(res.returncode, res.args, out, err)
        return res

    def kill_processes(self) -> None:
        """Terminate (then kill) every process we started in this namespace."""
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    proc.terminate()
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                except ProcessLookupError:
                    pass
        self._procs.clear()

    # -- configuration helpers
    def ipr(self):
        """A pyroute2 IPRoute bound to this namespace (caller closes it)."""
        from pyroute2 import IPRoute
        return IPRoute(netns=self.name, flags=0)

    def link_up(self, ifname: str) -> None:
        with self.ipr() as ipr:
            idx = ipr.link_lookup(ifname=ifname)
            if not idx:
                raise OSError(f"no link {ifname!r} in namespace {self.name!r}")
            ipr.link("set", index=idx[0], state="up")

    def sysctl(self, key: str, value: Any | None = None) -> str:
        """Read (and, with value, write) a net.* sysctl inside the namespace."""
        if key.startswith("/proc/sys/net/"):
            path = key                      # for interface names with dots
        elif key.startswith("net."):
            path = "/proc/sys/" + key.replace(".", "/")
        else:
            raise ValueError("only per-namespace net.* sysctls are allowed")
        if ".." in path:
            raise ValueError(f"bad sysctl {key!r}")

        def access() -> str:
            if value is not None:
                with open(path, "w") as f:
                    f.write(str(value))
            with open(path) as f:
                return f.read().strip()
        return self.run(access)

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, owned={self.owned}, active={self._active})"
