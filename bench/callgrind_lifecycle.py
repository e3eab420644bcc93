"""Instructions per simulated TCP lifecycle, counted by callgrind.

callgrind counts instructions, not seconds, so the figure repeats exactly
for the same interpreter, build and inputs, whatever else the machine does.
One lifecycle is `synack.tun.bench.sim_lifecycles`'s: handshake, a 1 KiB
request and response, the four-way close and TIME-WAIT running out. The
fixed cost (interpreter start, imports) is removed by running two sizes and
dividing the difference:

    (I(n_big) - I(n_small)) / (n_big - n_small)

Run it on the pure package and on the compiled build:

    .venv/bin/python bench/callgrind_lifecycle.py
    PYTHONPATH=build/compiled/src .venv/bin/python bench/callgrind_lifecycle.py

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

_PROGRAM = "from synack.tun.bench import sim_lifecycles; sim_lifecycles({n})"


def instructions(n: int) -> int:
    """Instructions callgrind counts for a Python process running n lifecycles."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", _PROGRAM.format(n=n)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"callgrind_lifecycle: valgrind failed:\n{proc.stderr[-2000:]}")
        m = re.search(r"Collected\s*:\s*(\d+)", proc.stderr)
        if not m:
            raise SystemExit("callgrind_lifecycle: valgrind printed no instruction count")
        return int(m.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=200, help="lifecycles of the short run (200)")
    ap.add_argument("--big", type=int, default=1200, help="lifecycles of the long run (1200)")
    args = ap.parse_args(argv)
    if args.big <= args.small or args.small < 0:
        ap.error("--big must be larger than --small, and both at least 0")
    if shutil.which("valgrind") is None:
        print("callgrind_lifecycle: error: valgrind is not installed "
              "(apt-get install valgrind)", file=sys.stderr)
        return 1
    build = "compiled" if _compiled() else "pure"
    small, big = instructions(args.small), instructions(args.big)
    per = (big - small) / (args.big - args.small)
    print(f"{build}: {per:,.0f} instructions per lifecycle "
          f"(I({args.big}) = {big:,}, I({args.small}) = {small:,})")
    return 0


def _compiled() -> bool:
    import synack.engine.connection as c
    return not c.__file__.endswith(".py")


if __name__ == "__main__":
    sys.exit(main())
