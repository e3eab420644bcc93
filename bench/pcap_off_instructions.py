"""Instructions the TUN write path spends with recording off, counted by callgrind.

`framepath.write` puts a batch of 8 MSS-sized segments on a fake TUN (a
SOCK_SEQPACKET pair, fast mode, as in tests/test_tun_stack.py) N times. Run it
under callgrind for two N and subtract, for this tree and an older one:

    for n in 200 1200; do PYTHONHASHSEED=0 valgrind --tool=callgrind \\
        --callgrind-out-file=/tmp/cg-$n.out python bench/pcap_off_instructions.py $n; done
    # (Collected 1200 - Collected 200) / 1000 = instructions per batch

Measured on this project's machine: 179,456 instructions per batch before
recording existed (a61eee7, pure), 180,057 with it and the capture off: +601 per
batch of 8 segments (+0.33%).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from synack.engine.segment import ACK, Options, Segment  # noqa: E402
from synack.tun import framepath  # noqa: E402
from synack.tun.driver import TunStack  # noqa: E402
from test_tun_stack import K4, S4, FakeTun  # noqa: E402


def main(n: int) -> None:
    dev = FakeTun(vnet_hdr=True)
    st = TunStack(device=dev, start=False, malloc_tuning=False)
    payload = b"x" * 1448
    out = [(S4, K4, Segment(80, 40000, 1000 + i * 1448, 1, ACK, 512, 0,
                            Options(timestamp=(1, 2)), payload)) for i in range(8)]
    try:
        for _ in range(n):
            framepath.write(st, out)
            while True:
                try:
                    dev.kernel.recv(1 << 17)
                except BlockingIOError:
                    break
    finally:
        st.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
