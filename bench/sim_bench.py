"""Simulator benchmark: full TCP lifecycles per CPU-second, and bulk goodput.

A lifecycle is: three-way handshake, a 1 KiB request, a 1 KiB response, the
four-way close started by the client, and the client's TIME-WAIT running out
after 2*MSL. Application logic reacts to engine events (no polling), links
have a fixed delay and no loss. Run: `make bench` or `python bench/sim_bench.py`.
"""
from __future__ import annotations

import argparse
import json
import time

from synack import events as ev
from synack.config import rfc_profile
from synack.sim import Network
from synack.states import CLOSED

REQ = b"q" * 1024
RESP = b"r" * 1024


def lifecycles(n: int, trace: bool, spacing: float = 0.0001, servers: int = 1) -> dict:
    cfg = rfc_profile()
    net = Network(seed=1, trace=trace)
    client = net.add_host("10.0.0.1", config=cfg)
    server = net.add_host("10.0.0.2", config=cfg)
    net.link(client, server, delay=0.001)
    lst = server.host.listen(80, backlog=4096)
    done = [0]
    got = {}

    def on_event(sh, e):
        kind = e.kind
        conn = e.conn
        now = net.now
        if kind is ev.ACCEPTABLE:
            while conn.accept() is not None:
                pass
        elif kind is ev.CONNECTED:
            if not conn.passive:
                conn.send(REQ, now)
        elif kind is ev.READABLE:
            data = conn.recv(1 << 20, now)
            n = got.get(conn, 0) + len(data)
            got[conn] = n
            if n >= 1024:
                if conn.passive:
                    conn.send(RESP, now)
                else:
                    del got[conn]
                    conn.close(now)
        elif kind is ev.EOF:
            if conn.passive:
                got.pop(conn, None)
                conn.close(now)

    net.on_event = on_event
    host = client.host

    def start():
        host.connect(net.now, "10.0.0.2", 80)

    for i in range(n):
        net.call_at(i * spacing, start)
    c0, w0 = time.process_time(), time.perf_counter()
    net.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    done[0] = client.host.stats["time_wait_expired"]
    assert done[0] == n and not client.host.conns and not server.host.conns, (done[0], n)
    return {"lifecycles": n, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "lifecycles_per_cpu_s": round(n / cpu), "segments": net.stats["sent"],
            "trace": trace}


def bulk(nbytes: int, trace: bool = False) -> dict:
    cfg = rfc_profile().replace(rcvbuf=1 << 20, sndbuf=1 << 20)
    net = Network(seed=2, trace=trace)
    a = net.add_host("10.0.0.1", config=cfg)
    b = net.add_host("10.0.0.2", config=cfg)
    net.link(a, b, delay=0.005, bandwidth=1e9)
    b.host.listen(80)
    payload = bytes(1 << 20)
    state = {"sent": 0, "recv": 0}

    def on_event(sh, e):
        conn, kind, now = e.conn, e.kind, net.now
        if kind is ev.ACCEPTABLE:
            conn.accept()
        elif kind in (ev.CONNECTED, ev.WRITABLE) and not conn.passive:
            while state["sent"] < nbytes:
                k = conn.send(payload[: min(len(payload), nbytes - state["sent"])], now)
                if not k:
                    break
                state["sent"] += k
            if state["sent"] >= nbytes and not conn.wr_shut:
                conn.close(now)
        elif kind is ev.READABLE and conn.passive:
            state["recv"] += len(conn.recv(1 << 30, now))
        elif kind is ev.EOF and conn.passive:
            conn.close(now)

    net.on_event = on_event
    net.call_at(0.0, a.host.connect, 0.0, "10.0.0.2", 80)
    c0 = time.process_time()
    net.run()
    cpu = time.process_time() - c0
    assert state["recv"] == nbytes, state
    return {"bytes": nbytes, "cpu_s": round(cpu, 3), "goodput_MBps_per_cpu_s": round(nbytes / cpu / 1e6, 1),
            "virtual_s": round(net.now, 3)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20000, help="lifecycles (default 20000)")
    ap.add_argument("--bulk-mb", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = {"lifecycle_trace_off": lifecycles(args.n, trace=False),
           "lifecycle_trace_on": lifecycles(max(1000, args.n // 4), trace=True),
           "bulk": bulk(args.bulk_mb * 1_000_000)}
    off = res["lifecycle_trace_off"]["lifecycles_per_cpu_s"]
    on = res["lifecycle_trace_on"]["lifecycles_per_cpu_s"]
    res["sim_lifecycles_per_cpu_s"] = off
    res["tracing_cost_pct"] = round(100 * (off - on) / off, 1)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"lifecycles/CPU-s, tracing off : {off}")
        print(f"lifecycles/CPU-s, tracing on  : {on}  (tracing costs {res['tracing_cost_pct']}%)")
        b = res["bulk"]
        print(f"bulk {b['bytes'] / 1e6:.0f} MB: {b['goodput_MBps_per_cpu_s']} MB per CPU-second"
              f" ({b['virtual_s']} s virtual)")
    return res


if __name__ == "__main__":
    main()
