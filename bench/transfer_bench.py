"""Bulk-transfer goodput on the simulator beside the Mathis et al. model.

One sender, one receiver, a 100 Mbit/s bottleneck with a 20 ms RTT, random
loss p. The Mathis model bounds Reno-style throughput at MSS/RTT * 1.22/sqrt(p).
Goodput is application bytes delivered divided by the virtual time from the
first SYN to the last byte read.

    python bench/transfer_bench.py                 # the full table (100 MB each)
    python bench/transfer_bench.py --mb 10         # quicker
    python bench/transfer_bench.py --grid --mb 2 --losses 0,0.01,0.02,0.05
                                                   # loss x reordering x cc x recovery
"""
from __future__ import annotations

import argparse
import json
import math
import time

from synack.tun.bench import bulk_app
from synack.engine.config import linux_profile
from synack.sim import Network

RATE = 100e6           # bits per second
RTT = 0.020


#: the two loss-recovery settings the grid compares (docs/data-transfer.md)
RECOVERIES = {
    "rfc6675": dict(rack=False, prr=False, rescue_rxt=True),
    "rack-prr": dict(rack=True, prr=True, rescue_rxt=False),
}
REORDER_DELAY = 0.004  # how long a reordered segment is held back


def transfer(mb: float, loss: float, cc: str, sack: bool, seed: int = 1,
             reorder: float = 0.0, recovery: str | None = None) -> dict:
    nbytes = int(mb * 1_000_000)
    cfg = linux_profile().replace(congestion_control=cc, sack=sack,
                                  rcvbuf=4 << 20, sndbuf=4 << 20)
    if recovery is not None:
        cfg = cfg.replace(**RECOVERIES[recovery])
    net = Network(seed=seed, trace=False)
    a = net.add_host("10.0.0.1", config=cfg)
    b = net.add_host("10.0.0.2", config=cfg)
    bdp_pkts = int(RATE * RTT / 8 / 1500)
    net.link(a, b, delay=RTT / 2, bandwidth=RATE, loss=loss, queue_limit=2 * bdp_pkts,
             reorder=reorder, reorder_delay=REORDER_DELAY)
    b.host.listen(0.0, 80)
    on_event, st = bulk_app(net, nbytes)
    net.on_event = on_event
    net.call_at(0.0, a.host.connect, 0.0, "10.0.0.2", 80)
    c0 = time.process_time()
    net.run(until=3600)
    cpu = time.process_time() - c0
    if st["recv"] != nbytes:
        raise RuntimeError(f"transfer incomplete: {st}")
    goodput = nbytes * 8 / st["t_done"] / 1e6
    mss = 1448
    model = (mss * 8 / RTT * 1.22 / math.sqrt(loss) / 1e6) if loss else None
    stats = a.host.stats
    return {"mb": mb, "loss": loss, "reorder": reorder, "recovery": recovery, "cc": cc,
            "sack": sack, "goodput_mbps": round(goodput, 2),
            "spurious": stats.get("dsacks_received", 0),
            "mathis_mbps": round(model, 2) if model else None,
            "link_pct": round(100 * goodput / (RATE / 1e6), 1),
            "retransmits": stats.get("retransmits", 0), "fast_retransmits": stats.get("fast_retransmits", 0),
            "virtual_s": round(st["t_done"], 2), "cpu_s": round(cpu, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=100)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--losses", default="0,0.001,0.01")
    ap.add_argument("--grid", action="store_true",
                    help="loss 0-5 %% x reordering 0-10 %% x {reno, cubic} x {rfc6675, rack-prr}, SACK on")
    ap.add_argument("--reorders", default="0,0.05,0.1")
    args = ap.parse_args(argv)
    if args.grid:
        return grid(args)
    rows = []
    for loss in [float(x) for x in args.losses.split(",")]:
        for cc in ("reno", "cubic"):
            for sack in (True, False):
                rows.append(transfer(args.mb, loss, cc, sack))
                r = rows[-1]
                if not args.json:
                    model = f"{r['mathis_mbps']:8.2f}" if r["mathis_mbps"] else "       -"
                    print(f"loss {loss:<6} {cc:<6} sack={'on ' if sack else 'off'} "
                          f"goodput {r['goodput_mbps']:7.2f} Mbit/s ({r['link_pct']:5.1f}% of link)"
                          f"  Mathis {model}  rtx {r['retransmits']:6d}  cpu {r['cpu_s']}s", flush=True)
    if args.json:
        print(json.dumps(rows))
    return rows


def grid(args) -> list[dict]:
    """Goodput beside the Mathis model over loss and reordering, for both
    congestion controls and both recoveries; `spurious` counts the D-SACKs
    the sender received (each a retransmission that was not needed)."""
    losses = [float(x) for x in args.losses.split(",")]
    reorders = [float(x) for x in args.reorders.split(",")]
    rows = []
    if not args.json:
        print("| loss | reorder | cc | recovery | goodput (Mbit/s) | Mathis | retransmits | spurious |")
        print("|---|---|---|---|---|---|---|---|")
    for loss in losses:
        for reorder in reorders:
            for cc in ("reno", "cubic"):
                for rec in RECOVERIES:
                    r = transfer(args.mb, loss, cc, True, reorder=reorder, recovery=rec)
                    rows.append(r)
                    if not args.json:
                        model = f"{r['mathis_mbps']:.2f}" if r["mathis_mbps"] else "-"
                        print(f"| {loss:g} | {reorder:g} | {cc} | {rec} | {r['goodput_mbps']:.2f} | "
                              f"{model} | {r['retransmits']} | {r['spurious']} |", flush=True)
    if args.json:
        print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
