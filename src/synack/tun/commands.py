"""The TUN subcommands of `synack`: serve, connect, ss, bench.

    synack serve --tun                     echo, discard, chargen and HTTP on 192.0.2.2
    synack connect --tun download          synack downloads from a kernel server
    synack ss [--watch]                    the connection table of a running `synack serve`
    synack bench                           synack against the kernel, side by side

Each subcommand is a setup function (arguments) and a run function. They are
registered with `synack.cli`'s ``@command`` hook when `synack.cli` imports
this module (it is listed in ``synack.cli._PLUGINS``), with plain argparse by
`register(subparsers)`, and ``python -m synack.tun.commands ...`` runs them
without the main CLI.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shlex
import socket as _std_socket
import sys
import threading
import time

from ..usage import (FAILURE, USAGE, UserError, int_arg, ifname_arg, ipv4_arg, ipv4_interface_arg,
                     ipv6_arg, ipv6_interface_arg, netns_arg, port_arg, seconds_arg, size_arg)

__all__ = ["register", "main", "cmd_serve", "cmd_connect", "cmd_ss", "cmd_bench",
           "add_serve_parser", "add_connect_parser", "add_ss_parser", "add_bench_parser",
           "control_path"]

CONTROL_DIR = "/run/synack"


def control_path(netns: str) -> str:
    """Where a running `synack serve` answers `synack ss` (a Unix socket)."""
    return os.path.join(CONTROL_DIR, f"{netns}.sock")


# ===================================================================== arguments
def _tun_arguments(p: argparse.ArgumentParser) -> None:
    from .device import DEFAULT_IFNAME, KERNEL_V4, KERNEL_V6, LOCAL_V4, LOCAL_V6
    g = p.add_argument_group("TUN device and namespace")
    g.add_argument("--tun", action="store_true", default=True,
                   help="talk to the kernel through a TUN device (the default, and so far the only way)")
    g.add_argument("--mode", choices=("fast", "plain"), default="fast",
                   help="fast: virtio header, MTU 65535, checksum offload, 64 KiB segments (default); "
                        "plain: MTU 1500, every checksum in Python")
    g.add_argument("--netns", default="synack", metavar="NAME", type=netns_arg,
                   help="network namespace (default synack; created if missing and then removed)")
    g.add_argument("--ifname", default=DEFAULT_IFNAME, type=ifname_arg,
                   help=f"TUN interface name, at most 15 characters (default {DEFAULT_IFNAME})")
    g.add_argument("--kernel-v4", default=KERNEL_V4, metavar="ADDR/LEN", type=ipv4_interface_arg,
                   help=f"the kernel side's IPv4 address (default {KERNEL_V4})")
    g.add_argument("--kernel-v6", default=KERNEL_V6, metavar="ADDR/LEN", type=ipv6_interface_arg,
                   help=f"the kernel side's IPv6 address (default {KERNEL_V6})")
    g.add_argument("--local-v4", default=LOCAL_V4, metavar="ADDR", type=ipv4_arg,
                   help=f"synack's IPv4 address, in the kernel side's subnet (default {LOCAL_V4})")
    g.add_argument("--local-v6", default=LOCAL_V6, metavar="ADDR", type=ipv6_arg,
                   help=f"synack's IPv6 address, in the kernel side's subnet (default {LOCAL_V6})")
    g.add_argument("--no-ipv6", action="store_true", help="IPv4 only")
    g.add_argument("--profile", choices=("linux", "rfc"), default="linux",
                   help="engine timers and defaults (default linux)")
    g.add_argument("--pcap", metavar="FILE",
                   help="write every frame both ways to FILE (pcap, checksums filled in); "
                        "`synack explain FILE` reads it")


def check_tun_arguments(args) -> None:
    """The addresses agree with each other: synack's address inside the
    kernel side's subnet, and not the kernel's own."""
    pairs = [("--kernel-v4", args.kernel_v4, "--local-v4", args.local_v4)]
    if not args.no_ipv6:
        pairs.append(("--kernel-v6", args.kernel_v6, "--local-v6", args.local_v6))
    for kopt, kernel, lopt, local in pairs:
        itf, addr = ipaddress.ip_interface(kernel), ipaddress.ip_address(local)
        if addr == itf.ip:
            raise UserError(f"{lopt} {local} is the kernel side's own address ({kopt} {kernel}); "
                            f"give synack another address of that subnet", USAGE)
        if addr not in itf.network:
            raise UserError(f"{lopt} {local} is outside the kernel side's subnet {itf.network} "
                            f"({kopt}); give synack an address in it", USAGE)


def _command_line() -> str:
    return "synack " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "synack"


def require_tun_support(what: str = "the TUN device and its network namespace") -> None:
    """pyroute2 is there and we may make namespaces, or one line that says what to do."""
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        raise UserError("the TUN commands need pyroute2, which is not installed: "
                        "pip install 'synack[tun]' (or pip install pyroute2)", FAILURE) from None
    from .netns import require_privileges
    try:
        require_privileges(what)
    except PermissionError:
        raise UserError(f"{what} need root (CAP_NET_ADMIN and CAP_SYS_ADMIN): run it as root, "
                        f"e.g. `sudo {_command_line()}`", FAILURE) from None


def _open_stack(args):
    """A TunStack for the command-line options, with clear errors."""
    from .driver import TunStack, tun_config
    check_tun_arguments(args)
    require_tun_support()
    v6 = not args.no_ipv6
    cfg = tun_config(args.mode, args.profile)
    pcap = getattr(args, "pcap", None)
    if pcap:
        try:
            open(pcap, "ab").close()
        except OSError as e:
            raise SystemExit(f"synack: error: cannot write --pcap {pcap}: {e.strerror}") from None
    try:
        stack = TunStack(args.mode, netns=args.netns, ifname=args.ifname,
                        kernel_v4=args.kernel_v4, kernel_v6=args.kernel_v6 if v6 else None,
                        local_v4=args.local_v4, local_v6=args.local_v6 if v6 else None, config=cfg)
        if pcap:
            stack.open_capture(pcap)
        return stack
    except FileExistsError:
        raise UserError(f"a link named {args.ifname!r} already exists in namespace "
                        f"{args.netns!r}: is another synack running there? (choose another "
                        f"--ifname or --netns)", FAILURE) from None
    except (OSError, ValueError) as e:
        raise UserError(f"cannot set up the TUN device {args.ifname!r} in namespace "
                        f"{args.netns!r}: {getattr(e, 'strerror', None) or e}", FAILURE) from None


def _mode_text(stack) -> str:
    if stack.mode == "fast":
        return (f"fast mode: MTU {stack.dev.mtu}, virtio-net header, checksum offload, "
                f"segments up to 64 KiB")
    return f"plain mode: MTU {stack.dev.mtu}, checksums computed in Python"


# ========================================================================= serve
def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="run echo, discard, chargen and HTTP on synack, over a TUN",
                              description=_SERVE_DOC)
    setup_serve(p)
    p.set_defaults(_run=cmd_serve)
    return p


_SERVE_DOC = """Run services on synack's side of a TUN device inside a network namespace:
echo (7), discard (9), chargen (19) and an HTTP/1.1 server (8080). Everything
the command creates is removed when it ends (Ctrl-C, SIGTERM, or --duration).
`synack ss` shows its connection table while it runs."""


def setup_serve(p: argparse.ArgumentParser) -> None:
    _tun_arguments(p)
    g = p.add_argument_group("services")
    g.add_argument("--services", default="echo,discard,chargen,http",
                   help="comma-separated subset of echo,discard,chargen,http (default all)")
    for name, port in (("echo", 7), ("discard", 9), ("chargen", 19), ("http", 8080)):
        g.add_argument(f"--{name}-port", type=port_arg, default=port, metavar="PORT",
                       help=f"port of {name}, 1 to 65535 (default {port})")
    g.add_argument("--root", metavar="DIR", help="serve the files under DIR at http://.../files/")
    g.add_argument("--backlog", type=int_arg(1, 65535), default=1024,
                   help="listen backlog, 1 to 65535 (default 1024)")
    g.add_argument("--duration", type=seconds_arg(positive=True), default=None, metavar="SECONDS",
                   help="stop after this long (default: until Ctrl-C)")
    g.add_argument("--stats", type=seconds_arg(positive=True), default=0, metavar="SECONDS",
                   help="print a line of counters this often (default never)")


def cmd_serve(args) -> int:
    from .services import SERVICES, ServiceHost
    wanted = [s.strip() for s in args.services.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SERVICES]
    if unknown:
        raise UserError(f"--services: unknown service(s) {', '.join(unknown)}; "
                        f"known: {', '.join(SERVICES)}", USAGE)
    if not wanted:
        raise UserError(f"--services: name at least one of {', '.join(SERVICES)}", USAGE)
    ports: dict[int, str] = {}
    for name in wanted:
        port = getattr(args, f"{name}_port")
        if port in ports and ports[port] != name:
            raise UserError(f"--{name}-port {port}: {ports[port]} uses that port already; "
                            f"give each service its own", USAGE)
        ports[port] = name
    if args.root and not os.path.isdir(args.root):
        raise UserError(f"--root {args.root!r} is not a directory", USAGE)
    stack = _open_stack(args)
    control = None
    try:
        services = []
        for name in wanted:
            port = getattr(args, f"{name}_port")
            if name == "http":
                services.append(SERVICES[name](port, root=args.root, stack=stack))
            else:
                services.append(SERVICES[name](port))
        hub = ServiceHost(stack, services, backlog=args.backlog).start()
        control = ControlServer(stack, hub).start()
        _print_banner(stack, hub, control)
        _serve_loop(stack, hub, args)
    except KeyboardInterrupt:
        print("\nsynack serve: stopping", file=sys.stderr)
    finally:
        if control is not None:
            control.close()
        stack.close()
    if stack.error is not None:
        print(f"synack serve: the driver failed: {stack.error!r}", file=sys.stderr)
        return 1
    return 0


def _serve_loop(stack, hub, args) -> None:
    end = None if args.duration is None else time.monotonic() + args.duration
    next_stats = time.monotonic() + args.stats if args.stats else None
    while True:
        now = time.monotonic()
        if end is not None and now >= end:
            return
        if stack.error is not None:
            return
        waits = [1.0]
        if end is not None:
            waits.append(end - now)
        if next_stats is not None:
            if now >= next_stats:
                print(_stats_line(stack, hub), flush=True)
                next_stats += args.stats
            waits.append(max(0.0, next_stats - now))
        time.sleep(max(0.0, min(waits)))


def _stats_line(stack, hub) -> str:
    with stack.lock:
        conns = len(stack.host.conns)
        st = dict(stack.stats)
    svc = " ".join(f"{name}:{d['connections']}c/{d['bytes_in'] + d['bytes_out']}B"
                   for name, d in hub.stats().items())
    return (f"[{time.strftime('%H:%M:%S')}] connections {conns} | frames in {st.get('frames_in', 0)} "
            f"out {st.get('frames_out', 0)} | {svc}")


def _print_banner(stack, hub, control) -> None:
    ns = stack.netns
    v4, v6 = stack.local_v4, stack.local_v6
    ports = {svc.name: svc.port for svc in hub.services}
    lines = [f"synack is serving on {stack.dev.ifname} in network namespace {ns!r} ({_mode_text(stack)})",
             "  kernel side: " + ", ".join(str(a) for a in (stack.dev.kernel_v4, stack.dev.kernel_v6) if a)
             + "   synack: " + ", ".join(a for a in (v4, v6) if a), ""]
    ex = f"ip netns exec {ns}"
    host = v4 or f"[{v6}]"
    py = "python3 -c"
    if "http" in ports:
        url = f"http://{host}:{ports['http']}"
        lines += [f"  http     {ports['http']:<5}  {ex} curl {url}/",
                  f"                  {ex} curl -o /dev/null {url}/bytes/100MB",
                  f"                  {ex} curl -T FILE {url}/upload      (answers with the SHA-256)"]
        if v6 and v4:
            lines.append(f"                  {ex} curl -o /dev/null 'http://[{v6}]:{ports['http']}/bytes/1GB'")
    if "echo" in ports:
        lines.append(f"  echo     {ports['echo']:<5}  {ex} {py} 'import socket; s=socket.create_connection("
                     f"(\"{v4 or v6}\",{ports['echo']})); s.sendall(b\"hi\\n\"); print(s.recv(99))'")
    if "discard" in ports:
        lines.append(f"  discard  {ports['discard']:<5}  {ex} {py} 'import socket; socket.create_connection("
                     f"(\"{v4 or v6}\",{ports['discard']})).sendall(bytes(100_000_000))'")
    if "chargen" in ports:
        lines.append(f"  chargen  {ports['chargen']:<5}  {ex} sh -c 'curl -s telnet://{host}:{ports['chargen']}"
                     f" | head -3'")
    lines += ["",
              f"  connection table:  synack ss --netns {ns}   (or --watch for a live view; the kernel's: "
              f"{ex} ss -tan)",
              f"  capture:           {ex} tshark -i {stack.dev.ifname}",
              "Ctrl-C stops it and removes everything it created."]
    print("\n".join(lines), flush=True)


# ================================================================= control socket
class ControlServer:
    """A Unix socket on which a running `synack serve` answers `synack ss`.

    Request: one line, ``ss [STATE ...]`` or ``stats``. Answer: one JSON
    object, then the socket is closed."""

    def __init__(self, stack, hub=None, path: str | None = None):
        self.stack = stack
        self.hub = hub
        self.path = path or control_path(stack.netns)
        self.sock = None
        self._thread = None

    def start(self) -> "ControlServer":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.exists(self.path):
            try:                                        # a live one answers; a stale one does not
                probe = _std_socket.socket(_std_socket.AF_UNIX)
                probe.settimeout(0.5)
                probe.connect(self.path)
                probe.close()
                print(f"synack: {self.path} belongs to another running synack; `synack ss` will "
                      "show that one", file=sys.stderr)
                return self
            except OSError:
                os.unlink(self.path)
        s = _std_socket.socket(_std_socket.AF_UNIX)
        s.bind(self.path)
        os.chmod(self.path, 0o600)
        s.listen(8)
        self.sock = s
        self._thread = threading.Thread(target=self._loop, name="synack-control", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(2.0)
                req = b""
                while not req.endswith(b"\n") and len(req) < 4096:
                    d = c.recv(4096)
                    if not d:
                        break
                    req += d
                c.sendall(json.dumps(self.answer(req.decode(errors="replace").split())).encode())
            except OSError:
                pass
            finally:
                c.close()

    def answer(self, words: list[str]) -> dict:
        stack = self.stack
        if words and words[0] == "stats":
            with stack.lock:
                out = {"driver": dict(stack.stats), "engine": dict(stack.host.stats)}
            if self.hub is not None:
                out["services"] = self.hub.stats()
            return out
        states = words[1:] or None
        rows = stack.ss(states=states)
        return {"netns": stack.netns, "ifname": stack.dev.ifname, "mode": stack.mode,
                "rows": [_row_json(r) for r in rows]}

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            self.sock.close()
        finally:
            self.sock = None
            try:
                os.unlink(self.path)
                os.rmdir(os.path.dirname(self.path))     # only if no other synack uses it
            except OSError:
                pass


def _row_json(r) -> dict:
    return {"state": r.state, "recv_q": r.recv_q, "send_q": r.send_q, "local": list(r.local),
            "peer": list(r.peer), "kind": r.kind,
            "timer": None if r.timer is None else [r.timer.name, r.timer.expires, r.timer.count]}


def query_control(netns: str, request: str, timeout: float = 5.0) -> dict:
    path = control_path(netns)
    s = _std_socket.socket(_std_socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise UserError(f"no synack is serving in namespace {netns!r} "
                        f"({path} is missing or dead); start one with `synack serve --tun`",
                        FAILURE) from None
    except PermissionError:
        raise UserError(f"no permission to open {path}: run it as root, e.g. "
                        f"`sudo {_command_line()}`", FAILURE) from None
    with s:
        s.sendall(request.encode() + b"\n")
        chunks = []
        while True:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    return json.loads(b"".join(chunks))


# ============================================================================ ss
def add_ss_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ss", help="connection table of a running `synack serve`",
                              description="Show the connection table of a running `synack serve`, "
                                          "like `ss -tano` shows the kernel's.")
    setup_ss(p)
    p.set_defaults(_run=cmd_ss)
    return p


def setup_ss(p: argparse.ArgumentParser) -> None:
    p.add_argument("state", nargs="*", help="only these states (established, time-wait, listen, "
                                            "connected, synchronized, ...)")
    p.add_argument("--netns", default="synack", type=netns_arg,
                   help="the namespace synack serves in (default synack)")
    p.add_argument("--watch", nargs="?", type=seconds_arg(positive=True), const=1.0, default=None,
                   metavar="SECONDS",
                   help="redraw every SECONDS (default 1) until Ctrl-C")
    p.add_argument("--json", action="store_true", help="the rows as JSON")
    p.add_argument("--stats", action="store_true", help="the driver's and engine's counters instead")
    # the habits of `ss -tan`: what synack can honour
    g = p.add_argument_group("ss habits")
    g.add_argument("-t", "--tcp", action="store_true", help="accepted: every socket is TCP")
    g.add_argument("-a", "--all", action="store_true", help="accepted: every state is shown")
    g.add_argument("-n", "--numeric", action="store_true", help="accepted: addresses are numeric")
    g.add_argument("-o", "--options", action="store_true", help="accepted: timers are shown")
    g.add_argument("-l", "--listening", action="store_true", help="listening sockets only")


def _format_rows(data: dict) -> str:
    from ..api.ss import SocketRow, Timer, format_table
    rows = []
    for r in data["rows"]:
        peer = tuple(r["peer"])
        timer = None if r["timer"] is None else Timer(*r["timer"])
        rows.append(SocketRow(r["state"], r["recv_q"], r["send_q"], tuple(r["local"]), peer, timer,
                              None, r["kind"]))
    return format_table(rows) or "(no sockets)\n"


def cmd_ss(args) -> int:
    if args.stats:
        print(json.dumps(query_control(args.netns, "stats"), indent=2))
        return 0
    states = list(args.state) + (["listen"] if args.listening else [])
    request = " ".join(["ss", *states])
    if args.watch is None:
        data = query_control(args.netns, request)
        if args.json:
            print(json.dumps(data["rows"]))
        else:
            sys.stdout.write(_format_rows(data))
        return 0
    if sys.stdout.isatty():
        return _watch_live(args, request)
    try:
        while True:
            data = query_control(args.netns, request)
            counts: dict = {}
            for r in data["rows"]:
                counts[r["state"]] = counts.get(r["state"], 0) + 1
            head = (f"synack on {data['ifname']} in {data['netns']} ({data['mode']})  "
                    f"{time.strftime('%H:%M:%S')}  " + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))
            body = _format_rows(data)
            lines = body.splitlines()
            try:
                height = os.get_terminal_size().lines - 2
            except OSError:
                height = 40
            if len(lines) > height:
                lines = lines[:height - 1] + [f"... {len(lines) - height + 1} more"]
            # a file or pipe gets plain snapshots, no screen codes (a terminal: _watch_live)
            sys.stdout.write(head + "\n\n" + "\n".join(lines) + "\n")
            sys.stdout.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def _watch_live(args, request: str) -> int:
    """`ss --watch` on a terminal: a rich Live view, redrawn in place."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text
    console = Console()

    def frame() -> Text:
        data = query_control(args.netns, request)
        counts: dict = {}
        for r in data["rows"]:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        head = (f"synack on {data['ifname']} in {data['netns']} ({data['mode']})  "
                f"{time.strftime('%H:%M:%S')}  "
                + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        lines = _format_rows(data).splitlines()
        height = max(5, console.size.height - 3)
        if len(lines) > height:
            lines = lines[:height - 1] + [f"... {len(lines) - height + 1} more"]
        text = Text(head, style="bold")
        text.append("\n\n" + "\n".join(lines))
        return text
    try:
        with Live(frame(), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(args.watch)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        return 0


# ======================================================================= connect
def add_connect_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("connect", help="synack as a client of a kernel server, over a TUN",
                              description=_CONNECT_DOC)
    setup_connect(p)
    p.set_defaults(_run=cmd_connect)
    return p


_CONNECT_DOC = """Run a synack client against a server on the kernel's side of the TUN and
print the throughput. By default the server is started for you inside the
namespace (a small Python program on kernel sockets); --server HOST:PORT uses
one you run yourself (in an existing namespace, --netns), --url an HTTP one."""


def setup_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("download", "upload", "echo"),
                   help="download: the kernel sends, synack reads; upload: synack sends; "
                        "echo: synack sends and reads the same octets back")
    p.add_argument("--size", type=size_arg, default=100_000_000,
                   help="octets to move (default 100MB; 64k, 1GiB ... accepted)")
    p.add_argument("--server", metavar="ADDR:PORT", type=server_arg,
                   help="use this kernel-side server instead of starting one "
                        "(192.0.2.1:5001, [2001:db8::1]:5001)")
    p.add_argument("--url", metavar="URL", type=url_arg,
                   help="download: GET this URL (HTTP/1.0) from a kernel server")
    p.add_argument("--port", type=port_arg, default=5001,
                   help="port for the server started for you (default 5001)")
    p.add_argument("--hash", action="store_true", help="compare SHA-256 on both sides")
    p.add_argument("-6", dest="ipv6", action="store_true", help="use IPv6")
    _tun_arguments(p)


def server_arg(text: str) -> tuple[str, int]:
    """ADDR:PORT, [V6ADDR]:PORT -> (address, port). An address, not a name:
    synack has no resolver of its own."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
        p = int(port)
        ok = bool(sep) and 1 <= p <= 65535
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"wants an IP address and a port, such as 192.0.2.1:5001 "
                                         f"or [2001:db8::1]:5001, not {text!r}")
    return host, p


def url_arg(text: str) -> str:
    from urllib.parse import urlsplit
    try:
        u = urlsplit(text)
        port = u.port
        ipaddress.ip_address(u.hostname or "")
    except ValueError:
        u = None
    if u is None or u.scheme != "http" or (port is not None and not 1 <= port <= 65535):
        raise argparse.ArgumentTypeError(f"wants http://ADDR[:PORT]/PATH with an IP address "
                                         f"(http://192.0.2.1:8080/, http://[2001:db8::1]/), "
                                         f"not {text!r}")
    return text


def _endpoint(host: str, port: int) -> str:
    """192.0.2.1:80, [2001:db8::1]:80"""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def cmd_connect(args) -> int:
    from .kernelside import _block
    if args.url and args.what != "download":
        raise UserError("--url goes with `download` only", USAGE)
    if args.url and args.server:
        raise UserError("give --server or --url, not both", USAGE)
    if args.no_ipv6 and (args.ipv6 or ":" in (args.server or ("",))[0]):
        raise UserError("-6 or an IPv6 --server with --no-ipv6: choose one", USAGE)
    stack = _open_stack(args)
    try:
        return _connect(stack, args, _block())
    except KeyboardInterrupt:
        return 130
    except (ConnectionError, TimeoutError) as e:
        raise UserError(f"the connection failed: {e.strerror or e}", FAILURE) from None
    finally:
        stack.close()


def _drain(s, h) -> int:
    """Read `s` to its end; the octets go into hash `h` (if any). Returns how many."""
    n = 0
    while True:
        d = s.recv(1 << 22)
        if not d:
            return n
        n += len(d)
        if h is not None:
            h.update(d)


def _send_pattern(s, block: bytes, view: memoryview, size: int, h) -> int:
    """Send `size` octets of the repeating `block` (hashing them into `h`)."""
    left, pos = size, 0
    while left > 0:
        k = min(left, len(block) - pos)
        s.sendall(view[pos:pos + k])
        if h is not None:
            h.update(view[pos:pos + k])
        left -= k
        pos = (pos + k) % len(block)
    return size


def _connect(stack, args, block: bytes) -> int:
    import hashlib
    import subprocess
    kernel = stack.kernel_v6 if args.ipv6 else stack.kernel_v4
    if kernel is None:
        raise UserError("no kernel address of that family (drop -6, or --no-ipv6)", USAGE)
    server = None
    if args.url:
        return _http_download(stack, args)
    if args.server:
        target = args.server
    else:
        bind = "::" if args.ipv6 else "0.0.0.0"
        ks = [sys.executable, "-m", "synack.tun.kernelside"]
        argv = {"download": ks + ["source", str(args.port), str(args.size)],
                "upload": ks + ["sink", str(args.port)] + ([] if args.hash else ["--no-hash"]),
                "echo": ks + ["echo", str(args.port)]}[args.what] + ["--bind", bind, "--count", "1"]
        server = stack.ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = server.stdout.readline()
        if not line:
            err = " ".join(server.stderr.read().split()[-20:])
            raise UserError(f"the kernel-side server did not start: {err}", FAILURE)
        target = (kernel, args.port)
    fam = _std_socket.AF_INET6 if ":" in target[0] else _std_socket.AF_INET
    s = stack.socket(fam)
    s.settimeout(30)
    t0 = time.perf_counter()
    try:
        s.connect(target)
    except OSError as e:
        s.close()
        raise UserError(f"cannot connect to {_endpoint(*target)}: {e.strerror or e}; is a "
                        f"server listening there?", FAILURE) from None
    t_conn = time.perf_counter() - t0
    h = hashlib.sha256() if args.hash else None
    view = memoryview(block)
    n = 0
    t0 = time.perf_counter()
    if args.what == "download":
        n = _drain(s, h)
    elif args.what == "upload":
        n = _send_pattern(s, block, view, args.size, h)
        s.shutdown(_std_socket.SHUT_WR)
        reply = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            reply += d
    else:
        got = {"n": 0}
        rh = hashlib.sha256() if args.hash else None

        def reader():
            while True:
                d = s.recv(1 << 22)
                if not d:
                    break
                got["n"] += len(d)
                if rh is not None:
                    rh.update(d)
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        _send_pattern(s, block, view, args.size, h)
        s.shutdown(_std_socket.SHUT_WR)
        th.join()
        n = got["n"]
    dt = time.perf_counter() - t0
    s.close()
    print(f"synack connect {args.what}: {n:,} octets in {dt:.3f} s = {n / dt / 1e6:,.1f} MB/s "
          f"({n * 8 / dt / 1e9:.2f} Gbit/s); connect took {t_conn * 1e3:.2f} ms; "
          f"server {_endpoint(*target)} ({stack.mode} mode)")
    status = 0
    if args.what == "upload" and server is not None:
        res = json.loads(server.stdout.readline() or "{}")
        ok = res.get("bytes") == n and (h is None or res.get("sha256") == h.hexdigest())
        print(f"  kernel received {res.get('bytes', '?'):,} octets"
              + (f", sha256 {'matches' if ok else 'DIFFERS'}" if h is not None else ""))
        status = 0 if ok else 1
    elif args.what in ("download", "upload") and h is not None and server is None:
        # --server/--url: synack cannot know what the server sent; print the hash to compare
        print(f"  sha256 of what synack {'received' if args.what == 'download' else 'sent'}: "
              f"{h.hexdigest()}")
    elif args.what == "download" and h is not None and server is not None:
        from .services import pattern_sha256
        ok = h.hexdigest() == pattern_sha256(args.size) and n == args.size
        print(f"  sha256 {'matches' if ok else 'DIFFERS from'} what the kernel sent")
        status = 0 if ok else 1
    elif args.what == "echo":
        ok = n == args.size and (rh is None or rh.hexdigest() == h.hexdigest())
        if not ok:
            print(f"  echo returned {n} of {args.size} octets" + (" (content differs)" if h else ""))
            status = 1
        elif h is not None:
            print("  sha256 of the echo matches what was sent")
    if server is not None:
        try:
            server.wait(5)
        except Exception:
            pass
    return status


def _http_download(stack, args) -> int:
    import hashlib
    from urllib.parse import urlsplit
    u = urlsplit(args.url)
    if u.scheme != "http" or not u.hostname:
        raise UserError("--url takes http://ADDR[:PORT]/PATH", USAGE)
    fam = _std_socket.AF_INET6 if ":" in u.hostname else _std_socket.AF_INET
    s = stack.socket(fam)
    s.settimeout(30)
    try:
        s.connect((u.hostname, u.port or 80))
    except OSError as e:
        s.close()
        raise UserError(f"cannot connect to {_endpoint(u.hostname, u.port or 80)}: "
                        f"{e.strerror or e}; is a server listening there?", FAILURE) from None
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: {u.netloc}\r\nUser-Agent: synack\r\n\r\n".encode())
    t0 = time.perf_counter()
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(65536)
        if not d:
            break
        head += d
    head, _, body = head.partition(b"\r\n\r\n")
    h = hashlib.sha256(body) if args.hash else None
    n = len(body) + _drain(s, h)
    dt = time.perf_counter() - t0
    s.close()
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    print(f"synack connect download {args.url}: {status_line}; {n:,} octets of body in {dt:.3f} s = "
          f"{n / dt / 1e6:,.1f} MB/s" + (f"; sha256 {h.hexdigest()}" if h is not None else ""))
    return 0 if " 200 " in status_line + " " else 1


# ========================================================================= bench
def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    from . import bench
    p = subparsers.add_parser("bench", help="synack against the kernel: throughput, connections/s, memory",
                              description=bench.__doc__.split("\n\n")[0])
    bench.add_arguments(p)
    p.set_defaults(_run=cmd_bench)
    return p


def setup_bench(p: argparse.ArgumentParser) -> None:
    from . import bench
    bench.add_arguments(p)


def cmd_bench(args) -> int:
    from . import bench
    return bench.command(args)


# ===================================================================== registration
def register(subparsers) -> None:
    """Add serve, connect, ss and bench to an argparse subparsers object."""
    add_serve_parser(subparsers)
    add_connect_parser(subparsers)
    add_ss_parser(subparsers)
    add_bench_parser(subparsers)


def _register_with_cli() -> None:
    """Use synack.cli's @command hook when it is there."""
    try:
        from ..cli import command
    except ImportError:
        return
    command("serve", "run echo, discard, chargen and HTTP on synack, over a TUN", setup_serve,
            description=_SERVE_DOC)(cmd_serve)
    command("connect", "synack as a client of a kernel server, over a TUN", setup_connect,
            description=_CONNECT_DOC)(cmd_connect)
    command("ss", "connection table of a running `synack serve`", setup_ss,
            description="Show the connection table of a running `synack serve`, like `ss -tano` "
                        "shows the kernel's.")(cmd_ss)
    command("bench", "synack against the kernel: throughput, connections/s, memory", setup_bench,
            description="Measure synack against the Linux kernel on this machine (needs root): bulk "
                        "throughput both ways, connections per second, memory per idle connection, "
                        "and the simulator's lifecycle rate.")(cmd_bench)


_register_with_cli()


def main(argv=None) -> int:
    from ..usage import ArgumentParser, report
    p = ArgumentParser(prog="python -m synack.tun.commands")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    try:
        args = p.parse_args(argv)
        return int(args._run(args) or 0)
    except UserError as e:
        report(str(e))
        return e.status


if __name__ == "__main__":
    sys.exit(main())
