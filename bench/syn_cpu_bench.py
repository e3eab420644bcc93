"""CPU time per SYN answered with a cookie by the TUN driver, without the
kernel: a fake device (an AF_UNIX SOCK_SEQPACKET pair, as in
tests/test_tun_stack.py) feeds batches of 256 spoofed SYNs to a TunStack
whose listener answers with cookies (modes: fast with DATA_VALID frames,
fast-verify with frames whose checksum the driver must verify, as a
raw-socket flood arrives, and plain); the driver's passes are run by hand
and timed with the process's CPU clock (less sensitive than wall time to
the rest of the machine, not immune). Run it on the pure package, the
compiled build, and older trees for before/after figures:

    .venv/bin/python bench/syn_cpu_bench.py
    PYTHONPATH=build/compiled/src .venv/bin/python bench/syn_cpu_bench.py
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from test_tun_stack import K4, S4, FakeTun   # noqa: E402

import synack                                 # noqa: E402
from synack.engine.segment import SYN, Options, Segment   # noqa: E402
from synack.tun import vnet                   # noqa: E402
from synack.tun.driver import TunStack, tun_config   # noqa: E402
from synack.wire import encode_ip             # noqa: E402


def run(n: int, mode: str) -> dict:
    dev = FakeTun(vnet_hdr=mode != "plain")
    # every SYN answered: full batches here are not a backlog (no syn_budget)
    st = TunStack(device=dev, start=False, malloc_tuning=False, syn_budget=-1,
                  config=tun_config("plain" if mode == "plain" else "fast").replace(
                      syn_cookies="always"))
    with st.op() as now:
        st.host.listen(now, 80, S4, 128)
    rnd = random.Random(3)
    frames = []
    for i in range(n):
        src = f"198.18.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        seg = Segment(rnd.randrange(1024, 65535), 80, rnd.getrandbits(32), 0, SYN, 64240, 0,
                      Options(mss=1460, wscale=7, sack_permitted=True,
                              timestamp=(rnd.getrandbits(32), 0)))
        pkt = encode_ip(src, S4, seg)
        # "fast": the kernel vouches for the checksum (DATA_VALID); "fast-verify":
        # no flag, as the SYNs of a raw-socket flooder arrive, so the driver
        # verifies the checksum itself
        flags = vnet.F_DATA_VALID if mode == "fast" else 0
        hdr = vnet.VnetHeader(flags).pack() if dev.vnet else b""
        frames.append(hdr + pkt)
    cpu = 0.0
    for i in range(0, n, 256):
        batch = frames[i:i + 256]
        t = time.process_time()
        with st.lock:
            st._run_pass(batch)
        cpu += time.process_time() - t
        while True:                            # drain what synack wrote (not timed)
            try:
                dev.kernel.recv(1 << 17)
            except BlockingIOError:
                break
    from synack.engine import connection
    out = {"mode": mode, "syns": n,
           "build": "pure" if connection.__file__.endswith(".py") else "compiled",
           "package": os.path.dirname(synack.__file__),
           "cookies_sent": st.host.stats["syn_cookies_sent"],
           "framepath": st.stats.get("syn_cookies_framepath", 0),
           "us_per_syn": round(1e6 * cpu / n, 2)}
    st.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--syns", type=int, default=30000)
    a = ap.parse_args()
    for mode in ("fast", "fast-verify", "plain"):
        print(json.dumps(run(a.syns, mode)), flush=True)


if __name__ == "__main__":
    main()
