"""Legitimate clients under a spoofed SYN flood (issue 17, item 4).

A synack echo service on a TUN stack in a throwaway namespace (prefix
given by --netns-prefix, "sf-" by default); inside that namespace a flooder process sends SYNs with random
spoofed sources (198.18.0.0/15) to the service's port through a raw socket,
at a target rate (or as fast as it can), while legitimate kernel clients
connect, exchange one line and close, one after another. Reported: the
rate the flooder reached, legitimate connects that succeeded within 3 s,
their median and p99 connect times, and synack's counters. The same run
against the kernel's own listener (a Python echo server in the same kind
of namespace, net.ipv4.tcp_syncookies=1) for reference.

    .venv/bin/python bench/synflood_bench.py --rates 0,20000,100000,0max --seconds 5

Needs root. Prints JSON lines. Timing figures are this machine's (2 cores
shared with other work): read them as such.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

FLOODER = r'''
import os, random, socket, struct, sys, time
dst, port, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
s.setblocking(False)
rnd = random.Random(5)
d = socket.inet_aton(dst)
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF
pool = []
for i in range(8192):
    src = struct.pack("!I", (198 << 24) | (18 << 16) | rnd.randrange(1, 1 << 17))
    sport = rnd.randrange(1024, 65535)
    opts = struct.pack("!BBH", 2, 4, 1460) + b"\x01\x03\x03\x07" + b"\x04\x02\x01\x01"   # MSS, wscale 7, SACK-perm
    tcp = struct.pack("!HHIIBBHHH", sport, port, rnd.getrandbits(32), 0, (5 + len(opts) // 4) << 4, 0x02, 64240, 0, 0) + opts
    ph = src + d + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0, 64, 6, 0, src, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pool.append(ip + tcp)
addr = (dst, 0)
sent = 0
t0 = time.monotonic()
end = t0 + secs
n = len(pool)
while True:
    now = time.monotonic()
    if now >= end:
        break
    if rate > 0:
        due = int((now - t0) * rate)
        burst = due - sent
        if burst <= 0:
            time.sleep(0.0005)
            continue
    else:
        burst = 256
    for _ in range(burst):
        try:
            s.sendto(pool[sent % n], addr)
        except BlockingIOError:
            break
        sent += 1
el = time.monotonic() - t0
print(f"{sent} {el}")
'''


def legit(connect, addr, seconds: float) -> dict:
    times, fails = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s = connect()
        s.settimeout(3.0)
        t = time.monotonic()
        try:
            s.connect(addr)
            times.append(time.monotonic() - t)
            s.sendall(b"hello\n")
            s.recv(100)
        except OSError:
            fails += 1
        finally:
            s.close()
        time.sleep(0.01)
    total = len(times) + fails
    q = sorted(times)
    return {"attempts": total, "ok": len(times), "success": len(times) / total if total else None,
            "median_ms": round(1000 * statistics.median(q), 2) if q else None,
            "p99_ms": round(1000 * q[min(len(q) - 1, int(0.99 * len(q)))], 2) if q else None}


def flood(ns, dst: str, port: int, rate: float, seconds: float):
    p = ns.popen([sys.executable, "-c", FLOODER, dst, str(port), str(rate), str(seconds)],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p


PREFIX = "sf-"
SYN_BUDGET: int | None = None          # TunStack's default unless --syn-budget


def flooded_connects(ns, addr: str, rate: float, seconds: float) -> dict:
    """Legitimate connects to port 7 of `addr` from inside `ns` while the
    flooder sends `rate` spoofed SYN/s there (0: no flood)."""
    fl = flood(ns, addr, 7, rate, seconds) if rate != 0 else None
    time.sleep(0.3 if fl else 0)
    res = legit(lambda: ns.socket(socket.AF_INET, socket.SOCK_STREAM), (addr, 7), seconds - 1.0)
    if fl is not None:
        out, _err = fl.communicate(timeout=seconds + 30)
        sent, el = out.split()
        res["flood_sent"] = int(sent)
        res["flood_rate"] = round(int(sent) / float(el))
    return res


def synack_case(rate: float, seconds: float) -> dict:
    from synack.tun.driver import TunStack
    from synack.tun.services import Echo, ServiceHost
    kw = {} if SYN_BUDGET is None else {"syn_budget": SYN_BUDGET}
    st = TunStack("fast", netns=f"{PREFIX}flood-{os.getpid()}", **kw)
    try:
        hub = ServiceHost(st, [Echo(7)]).start()
        time.sleep(0.2)
        r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        res = flooded_connects(st.ns, st.local_v4, rate, seconds)
        r1, w1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        # CPU of this process (the driver thread, mostly) against the wall
        # time of the flood: how much of a core synack got
        res["cpu_user_s"] = round(r1.ru_utime - r0.ru_utime, 2)
        res["cpu_sys_s"] = round(r1.ru_stime - r0.ru_stime, 2)
        res["wall_s"] = round(w1 - w0, 2)
        with st.lock:
            stats = st.host.stats
            res["synack"] = dict(stats)
            res["driver"] = dict(st.stats)
        hub.stop()
        return res
    finally:
        st.close()


KERNEL_ECHO = r'''
import socket, subprocess, sys, threading
subprocess.run(["sysctl", "-q", "net.ipv4.tcp_syncookies=1"], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# the spoofed sources need a route, or the kernel drops their SYNs before
# answering (ListenDrops): their SYN,ACKs go out on lo, come back in for an
# address that is not ours and are dropped (no forwarding), as synack's do
# in the kernel's namespace
subprocess.run(["ip", "route", "add", "198.18.0.0/15", "dev", "lo"], check=True)
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 7)); l.listen(128)
print("ready", flush=True)
def serve(c):
    with c:
        d = c.recv(100)
        if d: c.sendall(d)
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'''


def kernel_case(rate: float, seconds: float) -> dict:
    from synack.tun.netns import Namespace
    with Namespace(f"{PREFIX}kflood-{os.getpid()}") as ns:
        srv = ns.popen([sys.executable, "-c", KERNEL_ECHO], stdout=subprocess.PIPE, text=True)
        try:
            assert srv.stdout.readline().strip() == "ready"
            res = flooded_connects(ns, "127.0.0.1", rate, seconds)
            nstat = ns.run_cmd(["nstat", "-az", "TcpExtSyncookiesSent", "TcpExtListenOverflows",
                                "TcpExtListenDrops"], check=False).stdout
            res["kernel"] = {ln.split()[0]: int(ln.split()[1]) for ln in nstat.splitlines()
                             if ln.startswith("TcpExt")}
            return res
        finally:
            srv.kill()
            srv.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="0,20000,100000,max",
                    help="comma-separated SYN/s; 'max' = as fast as the flooder goes")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--only", choices=["synack", "kernel"])
    ap.add_argument("--netns-prefix", default="sf-",
                    help="prefix of the namespaces made (and removed) by the run")
    ap.add_argument("--syn-budget", type=int,
                    help="SYNs answered per full batch (TunStack syn_budget; -1: all)")
    a = ap.parse_args()
    global PREFIX, SYN_BUDGET
    PREFIX = a.netns_prefix
    SYN_BUDGET = a.syn_budget
    if os.geteuid() != 0:
        print("synack: error: synflood_bench needs root (namespaces, a TUN device, raw sockets)",
              file=sys.stderr)
        sys.exit(2)
    for r in a.rates.split(","):
        rate = -1.0 if r.strip() == "max" else float(r)
        for side, fn in (("synack", synack_case), ("kernel", kernel_case)):
            if a.only and a.only != side:
                continue
            res = fn(rate, a.seconds)
            print(json.dumps({"side": side, "target_rate": r.strip(), **res,
                              "load": [round(x, 2) for x in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    main()
