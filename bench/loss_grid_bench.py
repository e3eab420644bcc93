"""Recovery under random loss: 1 MB kernel -> peer over one impaired path (issue 17, item 5).

This kernel has no netem (and no iptables, nft or dummy devices), so the
loss is made by a relay process (`synack.tun.relay`) that forwards IP packets
between two TUN devices and drops them with `synack.tun.faults.Impairment`
(random, seeded, both directions):

* namespace lg-a-<pid>: the sending kernel, 192.0.2.1 on TUN lga0 (MTU 1500);
* peer "kernel": namespace lg-b-<pid>, the receiving kernel, 192.0.2.2 on TUN lgb0;
* peer "synack linux" / "synack rfc": a `TunStack` (plain mode, MTU 1500,
  `tun_config("plain", <profile>)`) at 192.0.2.2 on one end of a
  SOCK_SEQPACKET socket pair, whose other end the relay serves in place of
  lgb0.

The kernels' congestion control is set on every kernel socket with
TCP_CONGESTION (`--kernel-cc`, default cubic: the Linux default that synack's
profiles implement). The host's own default may differ -- on the machine
this grid was first run on it is bbr, which does not reduce its rate on
random loss; `--kernel-cc bbr` gives that comparison. The table and the JSON
name the congestion control the kernel ran.

Every point is the wall time from the sender's connect() to the receiver
holding all 1 MB (checked byte for byte), median of the runs (default 3);
run i of every peer uses relay seed (seed + i), so all three peers face the
same random sequence. A run that has not finished within --cap seconds
counts as "> cap". Points run one after another (the machine has 2 cores).

    sudo .venv/bin/python bench/loss_grid_bench.py                  # the grid, a table
    sudo .venv/bin/python bench/loss_grid_bench.py --losses 0.05 --runs 1 --json

Needs root (namespaces, TUN). Everything it creates (namespaces, devices,
the relay process) is removed at the end, also on an error or Ctrl-C.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

A_ADDR = "192.0.2.1"
B_ADDR = "192.0.2.2"
PEERS = ("kernel", "synack linux", "synack rfc")


def _payload(size: int) -> bytes:
    block = bytes(range(256)) * 16
    return (block * (size // len(block) + 1))[:size]


class PairDevice:
    """What `TunStack(device=...)` needs of a TunDevice, over a SOCK_SEQPACKET
    socket pair: `fd` is synack's end, `relay_fd` the relay's."""

    vnet = False
    vnet_hdr_len = 0
    mtu = 1500
    bufsize = 1500 + 64
    ifname = "lgpair"
    local_v6 = None
    kernel_v6 = None

    def __init__(self, ns) -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.setblocking(False)
        self._socks = (a, b)
        self.fd = a.fileno()
        self.relay_fd = b.fileno()
        self.local_v4 = ipaddress.ip_address(B_ADDR)
        self.kernel_v4 = ipaddress.ip_interface(A_ADDR + "/24")
        self.ns = ns                   # the sending kernel's namespace
        self.closed = False

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for s in self._socks:
                s.close()


def _available_cc() -> list[str]:
    try:
        with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
            return f.read().split()
    except OSError:
        return []


def _with_cc(sock: socket.socket, cc: str | None) -> socket.socket:
    """`sock` with TCP_CONGESTION `cc` (None: the namespace's default). A
    listener's connections inherit it."""
    if cc:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    return sock


def _cc_of(sock: socket.socket) -> str:
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    return raw.split(b"\0", 1)[0].decode()


def _side(name: str, ifname: str, kernel: str, peer: str):
    """A namespace of ours with a plain TUN holding `kernel`/24 (no IPv6)."""
    from synack.tun.device import TunDevice
    from synack.tun.netns import Namespace
    ns = Namespace(name)
    ns.create()
    try:
        for key in ("net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"):
            ns.sysctl(key, 1)
        # no per-destination metrics carried from one run to the next
        ns.sysctl("net.ipv4.tcp_no_metrics_save", 1)
        dev = TunDevice(ns, mode="plain", ifname=ifname, kernel_v4=kernel + "/24",
                        kernel_v6=None, local_v4=peer, local_v6=None)
        dev.open()
    except BaseException:
        ns.remove()
        raise
    return ns, dev


def _start_relay(fd_a: int, fd_b: int, loss: float, delay: float, seed: int) -> subprocess.Popen:
    code = "from synack.tun.relay import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, str(fd_a), str(fd_b), str(loss),
                             str(delay), str(seed)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, pass_fds=(fd_a, fd_b), text=True)


def _stop_relay(proc: subprocess.Popen) -> dict:
    try:
        proc.stdin.close()                       # the relay's signal to stop
        proc.wait(timeout=10)
        out = proc.stdout.read()
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except (subprocess.TimeoutExpired, ValueError):
        return {}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _transfer(new_sender, listener, addr: tuple, data: bytes, cap: float,
              info: dict | None = None) -> float | None:
    """Send `data` from a socket made by `new_sender()` to `addr`, where
    `listener` accepts; seconds until the receiver holds all of it, or None
    past `cap`. Raises if the bytes that arrive are not the bytes sent.
    `info` gets "connect": the seconds connect() took (a lost SYN or SYN,ACK
    costs the 1 s initial RTO, RFC 6298 §2.1)."""
    got = bytearray()
    box: dict = {}

    def receive() -> None:
        try:
            deadline = t0 + cap
            listener.settimeout(cap)
            conn, _ = listener.accept()
            try:
                while len(got) < len(data):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    conn.settimeout(left)
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        break
                    got.extend(chunk)
                box["t1"] = time.monotonic()
            finally:
                conn.close()
        except OSError as exc:                   # timeouts included
            box["error"] = exc

    snd = new_sender()
    t0 = time.monotonic()
    th = threading.Thread(target=receive, daemon=True)
    th.start()
    try:
        snd.settimeout(cap)
        snd.connect(addr)
        if info is not None:
            info["connect"] = time.monotonic() - t0
        snd.sendall(data)
    except OSError:
        pass                                     # the receiver's deadline decides
    finally:
        th.join(cap + 5)
        snd.close()
    if "t1" not in box:
        return None
    if bytes(got) != data:
        raise AssertionError(f"{addr}: {len(got)} octets arrived and differ from those sent")
    return box["t1"] - t0


class Grid:
    """The two namespaces (made on `with`, removed on leaving it, also on an
    error or Ctrl-C) and one relay process per run. `args` needs size, cap,
    delay and (optionally) reverse: the peer sends to the kernel instead."""

    def __init__(self, args) -> None:
        self.a = args
        self.reverse = bool(getattr(args, "reverse", False))
        self.data = _payload(args.size)
        self.port = 5000
        self.ns_a = self.dev_a = self.ns_b = self.dev_b = None
        self.relay: subprocess.Popen | None = None
        self.info: dict = {}
        self.kernel_cc: str | None = getattr(args, "kernel_cc", None)

    def kernel_socket(self, ns) -> socket.socket:
        """A TCP socket in `ns` with the grid's kernel congestion control."""
        return _with_cc(ns.socket(socket.AF_INET, socket.SOCK_STREAM), self.kernel_cc)

    def __enter__(self) -> "Grid":
        pid = os.getpid()
        try:
            self.ns_a, self.dev_a = _side(f"lg-a-{pid}", "lga0", A_ADDR, B_ADDR)
            self.ns_b, self.dev_b = _side(f"lg-b-{pid}", "lgb0", B_ADDR, A_ADDR)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.relay is not None:
            _stop_relay(self.relay)
        for dev, ns in ((self.dev_b, self.ns_b), (self.dev_a, self.ns_a)):
            try:
                if dev is not None:
                    dev.close()
            finally:
                if ns is not None:
                    ns.remove()

    def _once(self, new_peer_socket, peer_fd: int, loss: float, seed: int) -> tuple:
        """Kernel A -> peer (or the reverse): listener, relay, transfer."""
        def kernel_a() -> socket.socket:
            return self.kernel_socket(self.ns_a)
        if self.reverse:
            listener, new_sender, addr = kernel_a(), new_peer_socket, (A_ADDR, self.port)
        else:
            listener, new_sender, addr = new_peer_socket(), kernel_a, (B_ADDR, self.port)
        try:
            listener.bind(addr)
            listener.listen(8)
            self.relay = _start_relay(self.dev_a.fd, peer_fd, loss, self.a.delay, seed)
            try:
                secs = _transfer(new_sender, listener, addr, self.data, self.a.cap, self.info)
            finally:
                stats = _stop_relay(self.relay)
                self.relay = None
        finally:
            listener.close()
        return secs, stats

    def run(self, peer: str, loss: float, seed: int) -> tuple[float | None, dict]:
        """One transfer between the kernel in lg-a and `peer`; (seconds or None
        past the cap, the relay's counters). `self.info` holds the run's
        connect time."""
        self.port += 1
        self.info = {}
        if peer == "kernel":
            return self._once(lambda: self.kernel_socket(self.ns_b), self.dev_b.fd, loss, seed)
        from synack.tun.driver import TunStack, tun_config
        dev = PairDevice(self.ns_a)
        profile = peer.split()[1]
        st = TunStack("plain", device=dev, config=tun_config("plain", profile, mtu=1500),
                      name=f"lg-{profile}")
        try:
            return self._once(st.socket, dev.relay_fd, loss, seed)
        finally:
            st.close()


def _fmt(v: float | None, cap: float) -> str:
    return f"> {cap:g}" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--losses", default="0.01,0.02,0.05,0.10,0.20",
                    help="comma-separated loss probabilities, each direction (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="runs per point; the median is shown")
    ap.add_argument("--size", type=int, default=1_000_000, help="octets sent (default 1 MB)")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds before a run counts as '> cap'")
    ap.add_argument("--delay", type=float, default=0.0,
                    help="one-way delay added by the relay, seconds (default 0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated subset of: " + ", ".join(PEERS))
    ap.add_argument("--reverse", action="store_true",
                    help="the peer sends and the kernel in lg-a receives (exercises the "
                         "peer's retransmissions and RTO; the default is kernel -> peer)")
    ap.add_argument("--kernel-cc", default="cubic",
                    help="congestion control of the kernel's sockets (TCP_CONGESTION; default "
                         "%(default)s, as synack's profiles; 'default' = the namespace's own)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args()
    try:
        losses = [float(x) for x in a.losses.split(",")]
        if not all(0 <= x < 1 for x in losses):
            raise ValueError
    except ValueError:
        ap.exit(2, f"synack: error: --losses wants probabilities in [0, 1), not {a.losses!r}\n")
    peers = [p.strip() for p in a.peers.split(",")]
    if any(p not in PEERS for p in peers):
        ap.exit(2, f"synack: error: --peers wants some of {', '.join(PEERS)}, not {a.peers!r}\n")
    if a.runs < 1 or a.cap <= 0 or a.size < 1 or a.delay < 0:
        ap.exit(2, "synack: error: --runs, --cap and --size must be positive, --delay not negative\n")
    if a.kernel_cc == "default":
        a.kernel_cc = None
    elif a.kernel_cc not in _available_cc():
        ap.exit(2, f"synack: error: --kernel-cc {a.kernel_cc!r} is not one of this kernel's "
                   f"congestion controls ({' '.join(_available_cc()) or 'none readable'})\n")
    if os.geteuid() != 0:
        ap.exit(2, "synack: error: loss_grid_bench needs root (namespaces and TUN devices)\n")
    try:
        _grid(a, losses, peers)
    except KeyboardInterrupt:                    # everything is removed by then
        ap.exit(130, "synack: error: interrupted; the namespaces and the relay are removed\n")


def _grid(a, losses: list[float], peers: list[str]) -> None:
    from synack.tun.bench import build_name
    rows = []
    with Grid(a) as grid:
        probe = grid.kernel_socket(grid.ns_a)
        kernel_cc = _cc_of(probe)                # what the kernel's sockets really run
        probe.close()
        for loss in losses:
            row: dict = {"loss": loss}
            for peer in peers:
                times, connects, lost = [], [], []
                for i in range(a.runs):
                    secs, stats = grid.run(peer, loss, a.seed + i)
                    times.append(secs)
                    connects.append(grid.info.get("connect"))
                    lost.append([stats.get("out_lost", 0), stats.get("in_lost", 0)])
                    print(f"  loss {loss:.0%} {peer} run {i + 1}: {_fmt(secs, a.cap)} s, connect "
                          f"{grid.info.get('connect', float('nan')):.2f} s "
                          f"(relay lost A->B+B->A {stats.get('out_lost', 0)}+{stats.get('in_lost', 0)})",
                          file=sys.stderr, flush=True)              # progress
                key = [(t if t is not None else float("inf")) for t in times]
                med = statistics.median(key)
                row[peer] = {"runs": times, "median": None if med == float("inf") else med,
                             "connect": connects, "relay_lost_a_to_b_b_to_a": lost}
            rows.append(row)
    result = {"direction": "peer -> kernel" if a.reverse else "kernel -> peer",
              "kernel_cc": kernel_cc, "size": a.size, "runs": a.runs, "cap": a.cap, "delay": a.delay, "seed": a.seed,
              "build": build_name(), "rows": rows}
    if a.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{a.size} octets {result['direction']}, median of {a.runs} (seconds; ratio to kernel -> kernel); "
          f"kernel congestion control {kernel_cc}")
    print(f"{'loss':>6} | " + " | ".join(f"{p:>22}" for p in peers))
    for row in rows:
        k = row.get("kernel", {}).get("median")
        cells = []
        for p in peers:
            m = row[p]["median"]
            cell = _fmt(m, a.cap)
            if p != "kernel" and k:
                cell += f" ({m / k:.1f}x)" if m is not None else f" (> {a.cap / k:.0f}x)"
            cells.append(f"{cell:>22}")
        print(f"{row['loss']:>6.0%} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
