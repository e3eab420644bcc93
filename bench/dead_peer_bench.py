"""A peer that vanishes behind a zero window: how long until the sender drops it.

synack in the simulator (virtual time), and the Linux kernel in two throwaway
network namespaces joined by a veth pair (real time; needs root): the client
stops reading until its window is zero, then its link goes down; the server
keeps probing. Printed as JSON lines.

    sudo .venv/bin/python bench/dead_peer_bench.py            # both
    .venv/bin/python bench/dead_peer_bench.py --only synack   # no root needed
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

from synack.engine.config import Config, linux_profile
from synack.sim import Network
from synack.engine.states import CLOSED, ESTABLISHED

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def synack_case(cfg: Config) -> dict:
    net = Network(seed=5, trace=False)
    client = net.add_host("10.0.0.1", config=cfg.replace(rcvbuf=8192))
    server = net.add_host("10.0.0.2", config=cfg)
    net.link(client, server, delay=0.0005)
    lst = server.listen(80)
    cc = client.connect("10.0.0.2", 80)
    net.run(until=0.5)
    sc = lst.accept()
    assert sc is not None and cc.state is ESTABLISHED
    sc.send(b"x" * 200_000)
    net.run_until(lambda: sc.conn.snd_wnd == 0 and sc.conn.t_persist is not None, timeout=30)
    net.run(until=net.now + 1.3)          # probing, answered, as on the Linux side
    t0 = net.now
    net.drop(lambda p: True, count=None)
    closed = net.run_until(lambda: sc.state is CLOSED, timeout=86400)
    return {"closed": closed, "seconds": round(net.now - t0, 3), "error": sc.conn.error}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def linux_case(user_timeout_ms: int | None, retries2: int | None) -> dict:
    from synack.tun.netns import Namespace
    tag = f"{os.getpid()}"
    with Namespace(f"sx-safe-dpa-{tag}") as a, Namespace(f"sx-safe-dpb-{tag}") as b:
        _ip("link", "add", "sxsa", "netns", a.name, "type", "veth", "peer", "name", "sxsb",
            "netns", b.name)
        _ip("-n", a.name, "addr", "add", "10.99.0.1/24", "dev", "sxsa")
        _ip("-n", b.name, "addr", "add", "10.99.0.2/24", "dev", "sxsb")
        _ip("-n", a.name, "link", "set", "sxsa", "up")
        _ip("-n", b.name, "link", "set", "sxsb", "up")
        if retries2 is not None:
            a.sysctl("net.ipv4.tcp_retries2", retries2)
        lst = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli = b.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            lst.bind(("10.99.0.1", 0))
            lst.listen(1)
            cli.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            cli.connect(lst.getsockname())
            srv, _ = lst.accept()
            if user_timeout_ms is not None:
                srv.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, user_timeout_ms)
            srv.setblocking(False)
            while True:                       # fill everything until the window is shut
                try:
                    srv.send(b"x" * 65536)
                except BlockingIOError:
                    time.sleep(0.3)
                    try:
                        srv.send(b"x" * 65536)
                        continue
                    except BlockingIOError:
                        break
            time.sleep(1.0)                   # the window is zero: probing has begun
            t0 = time.monotonic()
            _ip("-n", b.name, "link", "set", "sxsb", "down")   # the client vanishes
            err = 0
            while time.monotonic() - t0 < 3600:
                err = srv.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    break
                time.sleep(0.05)
            return {"closed": bool(err), "seconds": round(time.monotonic() - t0, 2),
                    "error": os.strerror(err) if err else None}
        finally:
            cli.close()
            lst.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["synack", "linux"])
    args = ap.parse_args(argv)
    cases = [("user timeout 10 s", 10.0, None), ("tcp_retries2 = 5", None, 5)]
    for name, ut, r2 in cases:
        if args.only != "linux":
            cfg = linux_profile().replace(user_timeout=ut) if ut else linux_profile().replace(r2=r2)
            print(json.dumps({"case": name, "stack": "synack (linux profile, virtual s)",
                              **synack_case(cfg)}), flush=True)
        if args.only != "synack":
            if os.geteuid() != 0:
                print("synack: error: the Linux side needs root (network namespaces)", file=sys.stderr)
                return 1
            print(json.dumps({"case": name, "stack": "linux",
                              **linux_case(int(ut * 1000) if ut else None, r2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
