"""`synack bench`: synack against the Linux kernel, side by side on this machine.

One run measures (every network piece lives in namespaces made for it and
removed afterwards; needs root):

1. bulk throughput, kernel -> synack and synack -> kernel, through synack's
   public socket API over the TUN (application octets delivered), against
   kernel -> kernel over a veth pair between two namespaces, with the same
   kernel-side client program (`synack.tun.kernelside`) in every case;
2. connections per second (connect, one 64-octet request and its echo,
   close) from a kernel client to synack's echo service, against the same
   client and a kernel echo server over the veth pair;
3. memory per idle ESTABLISHED connection in synack (tracemalloc, and RSS,
   over N connections from a kernel client), against the kernel's slab growth
   per socket for N kernel-to-kernel connections;
4. the simulator's full-lifecycle rate (no network involved).

    synack bench                      the table
    synack bench --json               one JSON object (also written with -o FILE)
    synack bench --only bulk,conn     a subset (bulk, conn, idle, sim)

Not a test: nothing fails when a target is missed; the table says so.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time

__all__ = ["sim_lifecycles", "sim_bulk", "run", "format_table", "rich_table", "write_table", "main",
           "TARGETS"]

#: what the issue asks of synack on this machine
TARGETS = {"bulk_in_MBps": (">=", 1000), "bulk_out_MBps": (">=", 1000),
           "conn_per_s": (">=", 10000), "idle_conn_bytes": ("<=", 2048)}

VETH_A, VETH_B = "198.51.100.1", "198.51.100.2"
_KS = [sys.executable, "-m", "synack.tun.kernelside"]


def build_name() -> str:
    """"compiled" when the mypyc build of the hot modules is the one running
    (`make compiled`, then PYTHONPATH=build/compiled/src), else "pure"."""
    from .. import compiled_modules
    return "compiled" if compiled_modules() else "pure"


# ======================================================================= simulator
REQ = b"q" * 1024
RESP = b"r" * 1024


def sim_lifecycles(n: int, trace: bool = False, spacing: float = 0.0001) -> dict:
    """Full lifecycles on the simulator: handshake, a 1 KiB request, a 1 KiB
    response, the client's close, the server's close, and the client's
    TIME-WAIT running out. The application reacts to engine events."""
    from ..engine import events as ev
    from ..engine.config import rfc_profile
    from ..sim import Network
    cfg = rfc_profile()
    net = Network(seed=1, trace=trace)
    client = net.add_host("10.0.0.1", config=cfg)
    server = net.add_host("10.0.0.2", config=cfg)
    net.link(client, server, delay=0.001)
    server.host.listen(0.0, 80, backlog=4096)
    got: dict = {}

    def on_event(sh, e):
        kind, conn, now = e.kind, e.conn, net.now
        if kind is ev.ACCEPTABLE:
            while conn.accept() is not None:
                pass
        elif kind is ev.CONNECTED:
            if not conn.passive:
                conn.send(now, REQ)
        elif kind is ev.READABLE:
            k = got.get(conn, 0) + len(conn.recv(now, 1 << 20))
            got[conn] = k
            if k >= 1024:
                if conn.passive:
                    conn.send(now, RESP)
                else:
                    del got[conn]
                    conn.close(now)
        elif kind is ev.EOF and conn.passive:
            got.pop(conn, None)
            conn.close(now)

    net.on_event = on_event
    chost = client.host

    def opener(i: int) -> None:
        # one connect every `spacing` seconds, each scheduling the next (the
        # event queue stays short, as it would with a real client)
        t = i * spacing
        chost.connect(t, "10.0.0.2", 80)
        if i + 1 < n:
            net.call_at(t + spacing, opener, i + 1)
    if n:
        net.call_at(0.0, opener, 0)
    c0, w0 = time.process_time(), time.perf_counter()
    net.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    done = chost.stats["time_wait_expired"]
    res = {"lifecycles": n, "completed": done, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
           "lifecycles_per_cpu_s": round(done / cpu), "segments": net.stats["sent"], "trace": trace,
           "build": build_name()}
    if done != n:
        # an engine problem, not the benchmark's: report it rather than hide the rate
        res["incomplete"] = {"client": dict(chost.stats), "server": dict(server.host.stats)}
    return res


def bulk_app(net, nbytes: int, chunk: int = 1 << 20):
    """The application of a simulator bulk transfer: the client sends `nbytes`
    and closes, the server reads everything and closes. Returns the
    `on_event` handler and its state: octets sent, received, and the virtual
    time the last one was read (`t_done`)."""
    from ..engine import events as ev
    payload = bytes(chunk)
    state: dict = {"sent": 0, "recv": 0, "t_done": None}

    def on_event(sh, e):
        conn, kind, now = e.conn, e.kind, net.now
        if kind is ev.ACCEPTABLE:
            conn.accept()
        elif kind in (ev.CONNECTED, ev.WRITABLE) and not conn.passive:
            while state["sent"] < nbytes:
                k = conn.send(now, payload[:nbytes - state["sent"]])
                if not k:
                    break
                state["sent"] += k
            if state["sent"] >= nbytes and not conn.wr_shut:
                conn.close(now)
        elif kind is ev.READABLE and conn.passive:
            state["recv"] += len(conn.recv(now, 1 << 30))
            if state["recv"] >= nbytes and state["t_done"] is None:
                state["t_done"] = now
        elif kind is ev.EOF and conn.passive:
            conn.close(now)

    return on_event, state


def sim_bulk(nbytes: int, trace: bool = False) -> dict:
    """One bulk transfer on the simulator (1 Gbit/s link, 5 ms one way)."""
    from ..engine.config import rfc_profile
    from ..sim import Network
    cfg = rfc_profile().replace(rcvbuf=1 << 20, sndbuf=1 << 20)
    net = Network(seed=2, trace=trace)
    a = net.add_host("10.0.0.1", config=cfg)
    b = net.add_host("10.0.0.2", config=cfg)
    net.link(a, b, delay=0.005, bandwidth=1e9)
    b.host.listen(0.0, 80)
    on_event, state = bulk_app(net, nbytes)

    net.on_event = on_event
    net.call_at(0.0, a.host.connect, 0.0, "10.0.0.2", 80)
    c0 = time.process_time()
    net.run()
    cpu = time.process_time() - c0
    if state["recv"] != nbytes:
        raise RuntimeError(f"bulk transfer delivered {state['recv']} of {nbytes} octets")
    return {"bytes": nbytes, "cpu_s": round(cpu, 3),
            "goodput_MBps_per_cpu_s": round(nbytes / cpu / 1e6, 1), "virtual_s": round(net.now, 3)}


# ======================================================================= helpers
def _json_line(proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    """The next JSON line a kernel-side helper prints (its stdout is a pipe)."""
    import select
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer from {proc.args[-4:]}")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            line = proc.stdout.readline()
            if not line:
                err = proc.stderr.read() if proc.stderr else ""
                raise RuntimeError(f"{' '.join(map(str, proc.args[-4:]))} ended: {err.strip()[-500:]}")
            return json.loads(line)


def _run_json(ns, argv: list, timeout: float = 300.0) -> dict:
    r = ns.run_cmd(argv, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[-5:]))} failed: {r.stderr.strip()[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _start(ns, argv: list) -> subprocess.Popen:
    p = ns.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True)
    return p


def _client_sysctls(ns) -> None:
    """Room for many short connections from one client address."""
    ns.sysctl("net.ipv4.ip_local_port_range", "10000 65000")
    ns.sysctl("net.ipv4.tcp_tw_reuse", 1)


@contextlib.contextmanager
def veth_pair(mtu: int = 65535):
    """Two fresh namespaces joined by a veth pair: A has 198.51.100.1/24, B
    198.51.100.2/24. Yields (A, B); both are removed at the end."""
    from .netns import Namespace, unique_name
    a = Namespace(unique_name("benchA"))
    b = Namespace(unique_name("benchB"))
    with a, b:
        with a.ipr() as ipr:
            ipr.link("add", ifname="veth-a", kind="veth", peer="veth-b")
            idx_b = ipr.link_lookup(ifname="veth-b")[0]
            ipr.link("set", index=idx_b, net_ns_fd=b.name)
            idx_a = ipr.link_lookup(ifname="veth-a")[0]
            ipr.link("set", index=idx_a, mtu=mtu, txqlen=10000)
            ipr.addr("add", index=idx_a, address=VETH_A, prefixlen=24)
            ipr.link("set", index=idx_a, state="up")
        with b.ipr() as ipr:
            idx = ipr.link_lookup(ifname="veth-b")[0]
            ipr.link("set", index=idx, mtu=mtu, txqlen=10000)
            ipr.addr("add", index=idx, address=VETH_B, prefixlen=24)
            ipr.link("set", index=idx, state="up")
        yield a, b


def _median(xs):
    return statistics.median(xs) if xs else None


# ======================================================================= bulk
def synack_bulk(mode: str, nbytes: int, repeat: int = 3) -> dict:
    """Kernel client -> synack server (public socket API) and back, `repeat` times."""
    from .driver import TunStack
    from .netns import unique_name
    block = memoryview(os.urandom(4 << 20))
    ins, outs, cpus = [], [], []
    with TunStack(mode, netns=unique_name("bench")) as st:
        sink = st.create_server(("", 5001))
        source = st.create_server(("", 5002))
        received = []

        def sink_loop():
            for _ in range(repeat):
                c, _ = sink.accept()
                n = 0
                while True:
                    d = c.recv(1 << 22)
                    if not d:
                        break
                    n += len(d)
                received.append(n)
                c.sendall(json.dumps({"bytes": n}).encode())
                c.close()

        def source_loop():
            for _ in range(repeat):
                c, _ = source.accept()
                left = nbytes
                while left > 0:
                    k = min(left, len(block))
                    c.sendall(block[:k])
                    left -= k
                c.close()

        threads = [threading.Thread(target=sink_loop, daemon=True),
                   threading.Thread(target=source_loop, daemon=True)]
        for t in threads:
            t.start()
        for _ in range(repeat):
            c0 = time.process_time()
            r = _run_json(st.ns, _KS + ["send", "192.0.2.2", "5001", str(nbytes)])
            if r.get("reply", {}).get("bytes") != nbytes:
                raise RuntimeError(f"synack received {r.get('reply')} of {nbytes} octets")
            ins.append(r["MBps"])
            r = _run_json(st.ns, _KS + ["recv", "192.0.2.2", "5002"])
            if r["bytes"] != nbytes:
                raise RuntimeError(f"the kernel received {r['bytes']} of {nbytes} octets")
            outs.append(r["MBps"])
            cpus.append(time.process_time() - c0)
        for t in threads:
            t.join(10)
        stats = dict(st.stats)
        sink.close()
        source.close()
    return {"mode": mode, "bytes": nbytes, "in_MBps": ins, "out_MBps": outs,
            "synack_cpu_s_per_round": [round(c, 3) for c in cpus], "driver": stats}


def kernel_bulk(nbytes: int, repeat: int = 3, mtu: int = 65535) -> dict:
    """The same client program against kernel servers over a veth pair."""
    ins, outs = [], []
    with veth_pair(mtu) as (a, b):
        sink = _start(b, _KS + ["sink", "5001", "--bind", VETH_B, "--no-hash"])
        source = _start(b, _KS + ["source", "5002", str(nbytes), "--bind", VETH_B])
        _json_line(sink)
        _json_line(source)
        for _ in range(repeat):
            r = _run_json(a, _KS + ["send", VETH_B, "5001", str(nbytes)])
            ins.append(r["MBps"])
            r = _run_json(a, _KS + ["recv", VETH_B, "5002"])
            outs.append(r["MBps"])
    return {"bytes": nbytes, "in_MBps": ins, "out_MBps": outs, "veth_mtu": mtu}


# ================================================================ connections/s
def synack_conn_rate(mode: str, n: int, parallel: int, size: int = 64, repeat: int = 3) -> dict:
    """Kernel client -> synack's echo service (in the driver thread), `repeat` rounds."""
    from .driver import TunStack
    from .netns import unique_name
    from .services import Echo, ServiceHost
    rounds = []
    with TunStack(mode, netns=unique_name("bench")) as st:
        hub = ServiceHost(st, [Echo()], backlog=4096).start()
        _client_sysctls(st.ns)
        for _ in range(repeat):
            c0 = time.process_time()
            r = _run_json(st.ns, _KS + ["rr", "192.0.2.2", "7", "-n", str(n), "-p", str(parallel),
                                        "--size", str(size)])
            r["synack_cpu_s"] = round(time.process_time() - c0, 3)
            r["synack_cpu_us_per_conn"] = round(r["synack_cpu_s"] / max(1, r["connections"]) * 1e6, 1)
            rounds.append(r)
        hub.stop()
    return _median_round(rounds)


def kernel_conn_rate(n: int, parallel: int, size: int = 64, repeat: int = 3) -> dict:
    """The same client against a kernel echo server over a veth pair."""
    rounds = []
    with veth_pair() as (a, b):
        _client_sysctls(a)
        srv = _start(b, _KS + ["echo", "7", "--bind", VETH_B])
        _json_line(srv)
        for _ in range(repeat):
            rounds.append(_run_json(a, _KS + ["rr", VETH_B, "7", "-n", str(n), "-p", str(parallel),
                                              "--size", str(size)]))
    return _median_round(rounds)


def _median_round(rounds: list) -> dict:
    ordered = sorted(rounds, key=lambda r: r["conn_per_s"])
    med = dict(ordered[len(ordered) // 2])
    med["all_conn_per_s"] = [round(r["conn_per_s"]) for r in rounds]
    return med


# ================================================================ idle memory
def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synack_idle(mode: str, n: int) -> dict:
    """Bytes per idle ESTABLISHED connection in synack: n kernel connections to
    synack's discard service, accepted by the service and left idle. Measured
    twice: first the growth of the process's RSS (tracemalloc off, as its own
    bookkeeping would inflate it; first, as memory freed by an earlier pass
    would be reused), then the Python heap with tracemalloc."""
    rss = _idle_pass_in_child(mode, n)
    used = _idle_pass(mode, n, traced=True)
    return {"connections": n, "tracemalloc_bytes_per_conn": round(used["bytes"] / n),
            "rss_bytes_per_conn": round(rss["bytes"] / n), "host_conns": used["host_conns"],
            "timer_heap_entries": used["heap"], "client_open_s": used["open_s"]}


def _idle_pass_in_child(mode: str, n: int) -> dict:
    """`_idle_pass` without tracemalloc in a fresh interpreter, so that memory
    freed by earlier measurements cannot hide the growth."""
    code = ("import json, sys; from synack.tun.bench import _idle_pass; "
            f"print(json.dumps(_idle_pass({mode!r}, {n}, traced=False)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"idle RSS measurement failed: {r.stderr.strip()[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _idle_pass(mode: str, n: int, traced: bool) -> dict:
    import tracemalloc
    from ..engine.states import ESTABLISHED
    from .driver import TunStack
    from .netns import unique_name
    from .services import Discard, ServiceHost
    with TunStack(mode, netns=unique_name("bench")) as st:
        hub = ServiceHost(st, [Discard()], backlog=4096).start()
        time.sleep(0.2)
        gc.collect()
        if traced:
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
        rss0 = _rss()
        holder = _start(st.ns, _KS + ["hold", "192.0.2.2", "9", "-n", str(n)])
        try:
            ready = _json_line(holder, timeout=300)

            def established() -> int:
                with st.lock:
                    return sum(1 for c in hub.conns if c.state is ESTABLISHED)
            end = time.monotonic() + 60
            while established() < n and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(1.0)                    # delayed ACKs and other timers run out
            gc.collect()
            with st.lock:
                used = (tracemalloc.get_traced_memory()[0] - base) if traced else _rss() - rss0
                count = established()
                res = {"bytes": used, "host_conns": len(st.host.conns), "heap": len(st.host._times),
                       "open_s": round(ready.get("seconds", 0), 3)}
        finally:
            if traced:
                tracemalloc.stop()
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(30)
            hub.stop()
    if count < n:
        raise RuntimeError(f"only {count} of {n} connections reached ESTABLISHED")
    return res


def _slab_bytes() -> dict[str, int]:
    out = {}
    with open("/proc/slabinfo") as f:
        for line in f.readlines()[2:]:
            parts = line.split()
            out[parts[0]] = int(parts[1]) * int(parts[3])      # active objects x size
    return out


def kernel_idle(n: int) -> dict:
    """Slab growth per socket for n kernel-to-kernel connections (2n sockets)."""
    with veth_pair() as (a, b):
        srv = _start(b, _KS + ["holdserver", "9", "-n", str(n), "--bind", VETH_B])
        _json_line(srv)
        time.sleep(0.2)
        before = _slab_bytes()
        cli = _start(a, _KS + ["hold", VETH_B, "9", "-n", str(n)])
        _json_line(cli, timeout=300)
        _json_line(srv, timeout=60)
        time.sleep(1.0)
        after = _slab_bytes()
        for p in (cli, srv):
            p.stdin.write("\n")
            p.stdin.flush()
        _json_line(cli)
        srv.wait(30)
        cli.wait(30)
    growth = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    top = sorted(((v, k) for k, v in growth.items() if v > 0), reverse=True)[:8]
    total = sum(v for v in growth.values())
    return {"connections": n, "sockets": 2 * n, "slab_bytes_per_socket": round(total / (2 * n)),
            "top_caches": {k: round(v / (2 * n)) for v, k in top}}


# ======================================================================= run
def run(args) -> dict:
    from .netns import reap_stale, require_privileges
    only = set((args.only or "bulk,conn,idle,sim").split(","))
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                             "kernel": os.uname().release}, "mode": args.mode,
                 "build": build_name()}
    if only & {"bulk", "conn", "idle"}:
        require_privileges("the benchmark's namespaces and TUN devices")
        reap_stale()

    def note(msg):
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    if "bulk" in only:
        note(f"bulk: {args.bytes / 1e6:.0f} MB each way, {args.repeat} rounds, synack ({args.mode}) ...")
        s = synack_bulk(args.mode, args.bytes, args.repeat)
        note("bulk: kernel -> kernel over veth ...")
        k = kernel_bulk(args.bytes, args.repeat, args.veth_mtu)
        res["bulk"] = {"synack": s, "kernel": k}
        res["bulk_in_MBps"] = round(_median(s["in_MBps"]), 1)
        res["bulk_out_MBps"] = round(_median(s["out_MBps"]), 1)
        res["kernel_bulk_MBps"] = round(_median(k["in_MBps"]), 1)
        res["kernel_bulk_out_MBps"] = round(_median(k["out_MBps"]), 1)
    if "conn" in only:
        note(f"connections/s: {args.conns} connections, {args.parallel} at a time ...")
        s = synack_conn_rate(args.mode, args.conns, args.parallel, repeat=args.repeat)
        k = kernel_conn_rate(args.conns, args.parallel, repeat=args.repeat)
        res["conn"] = {"synack": s, "kernel": k}
        res["conn_per_s"] = round(s["conn_per_s"])
        res["kernel_conn_per_s"] = round(k["conn_per_s"])
    if "idle" in only:
        note(f"idle connections: {args.idle} ...")
        s = synack_idle(args.mode, args.idle)
        k = kernel_idle(args.idle)
        res["idle"] = {"synack": s, "kernel": k}
        res["idle_conn_bytes"] = s["tracemalloc_bytes_per_conn"]
        res["idle_conn_rss_bytes"] = s["rss_bytes_per_conn"]
        res["kernel_idle_conn_bytes"] = k["slab_bytes_per_socket"]
    if "sim" in only:
        note(f"simulator: {args.sim} lifecycles ...")
        s = sim_lifecycles(args.sim)
        res["sim"] = s
        res["sim_lifecycles_per_cpu_s"] = s["lifecycles_per_cpu_s"]
        if s["completed"] != s["lifecycles"]:
            note(f"simulator: only {s['completed']} of {s['lifecycles']} lifecycles completed "
                 f"(engine counters in the JSON under sim.incomplete)")
    res["targets"] = {k: {"target": f"{op} {v}", "met": _met(res.get(k), op, v)}
                      for k, (op, v) in TARGETS.items() if k in res}
    return res


def _met(value, op, target):
    if value is None:
        return None
    return value >= target if op == ">=" else value <= target


def _table_rows(res: dict) -> list[tuple[str, str, str, str, str]]:
    """The table's rows, the header first: measure, synack, kernel, target, verdict."""
    rows = [("measure", "synack", "kernel", "target", "")]

    def add(label, key, kkey, unit_fmt="{:,.0f}"):
        if key not in res:
            return
        v = res[key]
        kv = res.get(kkey)
        t = TARGETS.get(key)
        met = res.get("targets", {}).get(key, {}).get("met")
        rows.append((label, unit_fmt.format(v), "" if kv is None else unit_fmt.format(kv),
                     "" if t is None else f"{t[0]} {t[1]:,}", "" if met is None else ("ok" if met else "MISSED")))

    add("bulk kernel -> synack (MB/s)", "bulk_in_MBps", "kernel_bulk_MBps")
    add("bulk synack -> kernel (MB/s)", "bulk_out_MBps", "kernel_bulk_out_MBps")
    add("connections per second", "conn_per_s", "kernel_conn_per_s")
    add("bytes per idle ESTABLISHED conn", "idle_conn_bytes", "kernel_idle_conn_bytes")
    if "idle_conn_rss_bytes" in res:
        rows.append(("  (synack RSS growth per conn)", f"{res['idle_conn_rss_bytes']:,}", "", "", ""))
    if "sim_lifecycles_per_cpu_s" in res:
        rows.append(("simulator lifecycles / CPU-s", f"{res['sim_lifecycles_per_cpu_s']:,}", "", "", ""))
        if res["sim"]["completed"] != res["sim"]["lifecycles"]:
            rows.append(("  (completed lifecycles)", f"{res['sim']['completed']}/{res['sim']['lifecycles']}",
                         "", "", ""))
    return rows


def format_table(res: dict) -> str:
    """The table as plain text (for a pipe or a file), then the notes."""
    rows = _table_rows(res)
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[j]) if j == 0 else c.rjust(widths[j])
                               for j, c in enumerate(r)).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines + [""] + _notes(res)) + "\n"


def rich_table(res: dict):
    """The table as a rich `Table` (for a terminal): a missed target in red."""
    from rich.table import Table
    rows = _table_rows(res)
    table = Table(title="synack bench", title_justify="left")
    for j, name in enumerate(rows[0]):
        table.add_column(name, justify="left" if j == 0 else "right",
                         style="bold" if j == 0 else None)
    for r in rows[1:]:
        verdict = r[4]
        cell = f"[bold red]{verdict}[/]" if verdict == "MISSED" else \
            f"[green]{verdict}[/]" if verdict == "ok" else verdict
        table.add_row(r[0], r[1], r[2], r[3], cell)
    return table


def write_table(res: dict, stream=None) -> None:
    """The table drawn with rich on a terminal, plain text into a pipe or
    file (no escape codes there)."""
    stream = stream if stream is not None else sys.stdout
    if not stream.isatty():
        stream.write(format_table(res))
        return
    from rich.console import Console
    console = Console(file=stream, highlight=False)
    console.print(rich_table(res))
    console.print("\n".join(_notes(res)), style="dim", markup=False)


def _notes(res: dict) -> list[str]:
    notes = [f"mode {res.get('mode')}; {res.get('build', 'pure')} build; {res['machine']['cpus']} CPUs, "
             f"Linux {res['machine']['kernel']}, Python {res['machine']['python']}"]
    if "bulk" in res:
        b = res["bulk"]
        notes.append(f"bulk: median of {len(b['synack']['in_MBps'])} rounds of "
                     f"{b['synack']['bytes'] / 1e6:.0f} MB; all rounds synack in "
                     + "/".join(f"{x:.0f}" for x in b['synack']['in_MBps']) + ", out "
                     + "/".join(f"{x:.0f}" for x in b['synack']['out_MBps'])
                     + f"; kernel over veth (MTU {b['kernel']['veth_mtu']}) in "
                     + "/".join(f"{x:.0f}" for x in b['kernel']['in_MBps']) + ", out "
                     + "/".join(f"{x:.0f}" for x in b['kernel']['out_MBps']))
    if "conn" in res:
        c = res["conn"]["synack"]
        kc = res["conn"]["kernel"]
        notes.append(f"connections: median of rounds of {c['connections']} with {c['parallel']} in flight: "
                     f"synack " + "/".join(map(str, c["all_conn_per_s"])) + ", kernel "
                     + "/".join(map(str, kc["all_conn_per_s"]))
                     + f"; synack used {c['synack_cpu_us_per_conn']:.0f} us of CPU per connection")
    if "idle" in res:
        k = res["idle"]["kernel"]
        notes.append("kernel idle: slab growth over " + ", ".join(f"{n} {v}" for n, v in k["top_caches"].items()))
    return notes


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..usage import int_arg, size_arg
    p.add_argument("--mode", choices=("fast", "plain"), default="fast", help="TUN mode (default fast)")
    p.add_argument("--bytes", type=size_arg, default=1_000_000_000,
                   help="bulk transfer size per direction and round (default 1GB)")
    p.add_argument("--veth-mtu", type=int_arg(1280, 65535), default=65535,
                   help="MTU of the kernel-to-kernel veth pair, 1280 to 65535 (default 65535, "
                        "like synack's TUN)")
    p.add_argument("--repeat", type=int_arg(1, 1000), default=3,
                   help="bulk rounds; the median is reported (default 3)")
    p.add_argument("--conns", type=int_arg(1), default=30000,
                   help="connections for the rate (default 30000)")
    p.add_argument("--parallel", type=int_arg(1, 10000), default=16,
                   help="connections in flight (default 16)")
    p.add_argument("--idle", type=int_arg(1), default=10000, help="idle connections (default 10000)")
    p.add_argument("--sim", type=int_arg(1), default=20000,
                   help="simulator lifecycles (default 20000)")
    p.add_argument("--only", metavar="LIST", type=_only_arg,
                   help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("-o", "--output", metavar="FILE", help="also write the JSON there")


PARTS = ("bulk", "conn", "idle", "sim")


def _only_arg(text: str) -> str:
    parts = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in parts if x not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"wants a comma-separated subset of {','.join(PARTS)}, "
                                         f"not {text!r}")
    return ",".join(parts)


def command(args) -> int:
    from ..usage import check_writable
    check_writable(args.output, "-o")
    if set(args.only.split(",") if args.only else PARTS) & {"bulk", "conn", "idle"}:
        from .commands import require_tun_support
        require_tun_support("the benchmark's network namespaces and TUN devices")
    res = run(args)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(res, f, indent=2)
    if args.json:
        print(json.dumps(res))
    else:
        write_table(res)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="synack bench", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return command(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
