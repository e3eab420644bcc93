"""Memory per connection when peers never read (issue 17, item 2).

N kernel clients connect to a chargen service (RFC 864: the server writes
as fast as it can) and never read. Measured on the server side:

* synack over TUN (plain mode, MTU 1500) in a throwaway namespace: the
  process's RSS before the clients and after T seconds of writing, and the
  octets the engine holds (Host.mem_used with Config.tcp_mem set, the
  machine's own tcp_mem); then the clients go and the RSS is read again.
* the kernel in another throwaway namespace (loopback, MTU 1500): a Python
  chargen server writing non-blocking until EAGAIN, its sockets' memory
  from `ss -tmn` (skmem: wmem_queued + rmem_alloc; the socket structures
  themselves, a few kB each, are not in skmem).

Needs root (namespaces, TUN). Prints JSON lines.

    .venv/bin/python bench/memory_bench.py --peers 1000 --seconds 5
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

KERNEL_SERVER = r'''
import json, os, select, socket, subprocess, sys, time
n, secs = int(sys.argv[1]), float(sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "mtu", "1500", "up"], check=True)
lst = socket.socket(); lst.bind(("127.0.0.1", 19)); lst.listen(4096)
clients = []
servers = []
for i in range(n):
    c = socket.socket(); c.connect(("127.0.0.1", 19)); clients.append(c)
    s, _ = lst.accept(); s.setblocking(False); servers.append(s)
block = bytes(range(256)) * 256
end = time.monotonic() + secs
written = 0
while time.monotonic() < end:
    progress = False
    for s in servers:
        try:
            while True:
                k = s.send(block)
                written += k
                progress = True
        except BlockingIOError:
            pass
    if not progress:
        time.sleep(0.05)
ss = subprocess.run(["ss", "-tmnH", "state", "established", "sport", "= :19"],
                    capture_output=True, text=True, check=True).stdout
wq = rm = socks = 0
for m in __import__("re").finditer(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f\d+,w(\d+)", ss):
    socks += 1; rm += int(m.group(1)); wq += int(m.group(3))
sockstat = open("/proc/net/sockstat").read()
print(json.dumps({"kernel_sockets": socks, "wmem_queued": wq, "rmem_alloc": rm,
                  "written": written, "sockstat": sockstat.split("TCP:")[1].split("\n")[0].strip()}))
'''


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def synack_side(peers: int, seconds: float, trim: bool) -> dict:
    from synack.tun.driver import TunStack, tun_config
    from synack.tun.services import Chargen, ServiceHost
    st = TunStack("plain", netns=f"s2-mem-{os.getpid()}")
    try:
        hub = ServiceHost(st, [Chargen(19)]).start()
        time.sleep(0.2)
        before = rss()
        ks = []
        for _ in range(peers):
            k = st.ns.socket(socket.AF_INET, socket.SOCK_STREAM)
            k.connect((st.local_v4, 19))
            ks.append(k)
        time.sleep(seconds)
        with st.lock:
            host = st.host
            from synack.engine.connection import Connection
            conns = [c for c in host.conns.values() if isinstance(c, Connection)]
            held = sum(len(c.sndq) + len(c.rcvq) for c in conns)
            bufs = sorted(c.sndbuf_now for c in conns)
            out = {"peers": peers, "connections": len(conns), "held_octets": held,
                   "held_per_peer": held / max(1, len(conns)),
                   "sndbuf_median": bufs[len(bufs) // 2] if bufs else None,
                   "mem_used": getattr(host, "mem_used", None),
                   "tcp_mem": getattr(host, "mem_limits", None),
                   "mem_level": getattr(host, "mem_level", None)}
        during = rss()
        out.update(rss_before=before, rss_during=during, rss_per_peer=(during - before) / peers)
        for k in ks:
            k.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with st.lock:
                left = sum(1 for c in st.host.conns.values() if isinstance(c, Connection))
            if not left:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        out.update(connections_after=left, rss_after_close=rss(),
                   malloc_trims=st.stats["malloc_trims"],
                   chargen_bytes_out=hub.services[0].bytes_out)
        import gc
        gc.collect()
        from synack.tun import driver
        if hasattr(driver, "malloc_trim"):        # (older trees, for a before figure)
            driver.malloc_trim()
        out["rss_after_gc_trim"] = rss()
        hub.stop()
        return out
    finally:
        st.close()


def kernel_side(peers: int, seconds: float) -> dict:
    from synack.tun.netns import Namespace
    with Namespace(f"s2-memk-{os.getpid()}") as ns:
        r = ns.run_cmd([sys.executable, "-c", KERNEL_SERVER, str(peers), str(seconds)],
                       timeout=seconds + 120)
        out = json.loads(r.stdout.strip().splitlines()[-1])
    socks = out["kernel_sockets"] or 1
    out["per_peer"] = (out["wmem_queued"] + out["rmem_alloc"]) / socks
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--only", choices=["synack", "kernel"])
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("synack: error: memory_bench needs root (namespaces and a TUN device)", file=sys.stderr)
        sys.exit(2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * a.peers + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if a.only != "kernel":
        print(json.dumps({"side": "synack", **synack_side(a.peers, a.seconds, True)}), flush=True)
    if a.only != "synack":
        print(json.dumps({"side": "kernel", **kernel_side(a.peers, a.seconds)}), flush=True)


if __name__ == "__main__":
    main()
