"""Instructions per SYN answered with a cookie by the TUN driver's frame
path, counted by callgrind (issue 17, item 4).

The program is bench/syn_cpu_bench.py's setup -- a fake device (a
SOCK_SEQPACKET pair, tests/test_tun_stack.py's FakeTun), a TunStack whose
listener answers with cookies, spoofed SYNs with MSS, window scale,
SACK-permitted and timestamps -- run for two numbers of SYNs. Both runs
build the frames of the larger one, so the difference divided by the
difference of the counts is the driver's cost per answer alone (decode,
cookie, SYN,ACK, the write to the socket pair in user space):

    (I(n_big) - I(n_small)) / (n_big - n_small)

Run it on the pure package and on the compiled build:

    .venv/bin/python bench/callgrind_syn.py
    PYTHONPATH=build/compiled/src .venv/bin/python bench/callgrind_syn.py

Needs valgrind (Debian's `valgrind`).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")

_PROGRAM = r'''
import random, sys
sys.path.insert(0, {tests!r})
from test_tun_stack import S4, FakeTun
from synack.engine.segment import SYN, Options, Segment
from synack.tun import vnet
from synack.tun.driver import TunStack, tun_config
from synack.wire import encode_ip
dev = FakeTun(vnet_hdr={fast!r})
st = TunStack(device=dev, start=False, malloc_tuning=False,
              config=tun_config("fast" if {fast!r} else "plain").replace(syn_cookies="always"))
with st.op() as now:
    st.host.listen(now, 80, S4, 128)
rnd = random.Random(3)
frames = []
hdr = vnet.VnetHeader(vnet.F_DATA_VALID).pack() if dev.vnet else b""
for i in range({big}):
    src = "198.18.%d.%d" % (rnd.randrange(256), rnd.randrange(1, 255))
    seg = Segment(rnd.randrange(1024, 65535), 80, rnd.getrandbits(32), 0, SYN, 64240, 0,
                  Options(mss=1460, wscale=7, sack_permitted=True,
                          timestamp=(rnd.getrandbits(32), 0)))
    frames.append(hdr + encode_ip(src, S4, seg))
for i in range(0, {n}, 64):
    with st.lock:
        st._run_pass(frames[i:min(i + 64, {n})])
    while True:
        try:
            dev.kernel.recv(1 << 17)
        except BlockingIOError:
            break
assert st.host.stats["syn_cookies_sent"] == {n}, st.host.stats
st.close()
'''


def instructions(n: int, big: int, fast: bool) -> int:
    """Instructions callgrind counts for a process answering n SYNs."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        prog = _PROGRAM.format(tests=_TESTS, fast=fast, big=big, n=n)
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", prog], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"callgrind_syn: error: the run failed:\n{proc.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
        if not m:
            raise SystemExit("callgrind_syn: error: valgrind printed no instruction count")
        return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=512, help="SYNs of the short run (512)")
    ap.add_argument("--big", type=int, default=4608, help="SYNs of the long run (4608)")
    ap.add_argument("--mode", choices=["fast", "plain", "both"], default="both")
    args = ap.parse_args(argv)
    if args.big <= args.small or args.small < 0:
        ap.error("--big must be larger than --small, and both at least 0")
    if shutil.which("valgrind") is None:
        print("callgrind_syn: error: valgrind is not installed (apt-get install valgrind)",
              file=sys.stderr)
        return 1
    import synack.engine.connection as c
    build = "pure" if c.__file__.endswith(".py") else "compiled"
    for mode in (("fast", "plain") if args.mode == "both" else (args.mode,)):
        small = instructions(args.small, args.big, mode == "fast")
        big = instructions(args.big, args.big, mode == "fast")
        per = (big - small) / (args.big - args.small)
        print(f"{build} {mode}: {per:,.0f} instructions per SYN answered "
              f"(I({args.big}) = {big:,}, I({args.small}) = {small:,})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
