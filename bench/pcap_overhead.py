"""What recording costs the TUN fast path: bulk throughput with the capture off and on.

Runs `synack.tun.bench.synack_bulk` (kernel -> synack and synack -> kernel over a TUN in
a throwaway namespace; needs root), once as it is and once with every stack opening
a capture (`open_capture`) to a temporary file. Run the "off" half under an older
tree's PYTHONPATH to compare with the code before recording existed:

    sudo python bench/pcap_overhead.py --bytes 300M
    sudo PYTHONPATH=/tmp/base/src python bench/pcap_overhead.py --bytes 300M --only off
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

from synack import bench
from synack.tun import driver
from synack.tun.services import parse_size


def run(mode: str, nbytes: int, repeat: int, capture: bool, where: str | None) -> dict:
    path = None
    if capture:
        fd, path = tempfile.mkstemp(prefix="synack-pcap-overhead-", suffix=".pcap", dir=where)
        os.close(fd)
        base = driver.TunStack

        class Recording(base):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                self.open_capture(path)
        driver.TunStack = Recording
    try:
        r = bench.synack_bulk(mode, nbytes, repeat)
        size = os.path.getsize(path) if path else 0
    finally:
        if capture:
            driver.TunStack = base
            os.unlink(path)
    return {"capture": capture, "in_MBps": statistics.median(r["in_MBps"]),
            "out_MBps": statistics.median(r["out_MBps"]), "pcap_bytes": size,
            "synack_cpu_s_per_round": statistics.median(r["synack_cpu_s_per_round"]),
            "rounds_in": r["in_MBps"], "rounds_out": r["out_MBps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", type=parse_size, default=300_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=("fast", "plain"), default="fast")
    ap.add_argument("--only", choices=("off", "on"))
    ap.add_argument("--dir", help="where the capture goes (default: the temporary directory; "
                                  "/dev/shm takes the disk out of the measure)")
    args = ap.parse_args()
    has_capture = hasattr(driver.TunStack, "open_capture")
    for capture in (False, True):
        if args.only and args.only != ("on" if capture else "off"):
            continue
        if capture and not has_capture:
            continue
        print(json.dumps(dict(run(args.mode, args.bytes, args.repeat, capture, args.dir),
                              tree="with recording" if has_capture else "before recording")),
              flush=True)


if __name__ == "__main__":
    main()
