"""Simulator benchmark: full TCP lifecycles per CPU-second, and bulk goodput.

A lifecycle is: three-way handshake, a 1 KiB request, a 1 KiB response, the
four-way close started by the client, and the client's TIME-WAIT running out
after 2*MSL. Application logic reacts to engine events (no polling), links
have a fixed delay and no loss. Run: `make bench` or `python bench/sim_bench.py`.

The measurements live in `synack.tun.bench` (`sim_lifecycles`, `sim_bulk`), which
`synack bench` also reports; this script keeps the old entry point.
"""
from __future__ import annotations

import argparse
import json

from synack.tun.bench import sim_bulk, sim_lifecycles


def lifecycles(n: int, trace: bool, spacing: float = 0.0001) -> dict:
    return sim_lifecycles(n, trace, spacing)


def bulk(nbytes: int, trace: bool = False) -> dict:
    return sim_bulk(nbytes, trace)


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
        print(f"build: {res['lifecycle_trace_off']['build']}")
        print(f"lifecycles/CPU-s, tracing off : {off}")
        print(f"lifecycles/CPU-s, tracing on  : {on}  (tracing costs {res['tracing_cost_pct']}%)")
        for key in ("lifecycle_trace_off", "lifecycle_trace_on"):
            r = res[key]
            if r["completed"] != r["lifecycles"]:
                print(f"  ({key}: only {r['completed']} of {r['lifecycles']} lifecycles completed)")
        b = res["bulk"]
        print(f"bulk {b['bytes'] / 1e6:.0f} MB: {b['goodput_MBps_per_cpu_s']} MB per CPU-second"
              f" ({b['virtual_s']} s virtual)")
    return res


if __name__ == "__main__":
    main()
