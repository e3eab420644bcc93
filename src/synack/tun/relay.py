"""A packet relay between two file descriptors that carry one IP packet per
read/write (plain-mode TUN devices, SOCK_SEQPACKET sockets), impaired by a
`synack.tun.faults.Impairment` on the way.

It exists for `bench/loss_grid_bench.py` (issue 17, item 5). This kernel has
no netem, so the kernel cannot be given random loss on its own path. Instead,
two namespaces each get a TUN device, and this relay joins them. Every packet
from side A goes to side B as the Impairment's "out" direction, and every
packet from B goes to A as "in". A Linux peer (a TUN in a second namespace) and
a synack peer (one end of a socket pair given to `TunStack(device=...)`) then
see the same loss model, drawn from the same seeded random generator::

     namespace lg-a            relay (its own process)      namespace lg-b / synack
    [kernel 192.0.2.1] TUN <==> read, Impairment, write <==> TUN [kernel 192.0.2.2]
                                                        or   socket pair [TunStack 192.0.2.2]

A write that finds the other side full (EAGAIN, e.g. a socket pair whose
reader is behind) drops the packet and counts it as "a_to_b_full" /
"b_to_a_full", as a full queue would; nothing blocks.
"""
from __future__ import annotations

import json
import os
import select
import sys
import time
from collections import Counter

from .faults import Impairment

__all__ = ["Relay", "main"]


class Relay:
    """Forward packets between `fd_a` and `fd_b` (both non-blocking), A->B as
    the impairment's "out" direction and B->A as "in"."""

    def __init__(self, fd_a: int, fd_b: int, impair: Impairment | None = None, *,
                 bufsize: int = 0x10000 + 64, batch: int = 64):
        self.fd_a = fd_a
        self.fd_b = fd_b
        self.impair = impair or Impairment()
        self.bufsize = bufsize
        self.batch = batch
        self.stats: Counter = Counter()

    def _read(self, fd: int) -> list[bytes]:
        out: list[bytes] = []
        try:
            while len(out) < self.batch:
                pkt = os.read(fd, self.bufsize)
                if not pkt:
                    break
                out.append(pkt)
        except BlockingIOError:
            pass
        return out

    def _write(self, fd: int, packets: list[bytes], name: str) -> None:
        for pkt in packets:
            try:
                os.write(fd, pkt)
                self.stats[name + "_sent"] += 1
            except BlockingIOError:
                self.stats[name + "_full"] += 1

    def pump(self, now: float) -> int:
        """One pass: read what is waiting on both sides, forward what the
        impairment lets through (and what it releases by `now`). Returns the
        number of packets read."""
        imp = self.impair
        a = self._read(self.fd_a)
        b = self._read(self.fd_b)
        self.stats["a_to_b_read"] += len(a)
        self.stats["b_to_a_read"] += len(b)
        self._write(self.fd_b, imp.apply("out", a, now) + imp.release("out", now), "a_to_b")
        self._write(self.fd_a, imp.apply("in", b, now) + imp.release("in", now), "b_to_a")
        return len(a) + len(b)

    def run(self, stop_fd: int | None = None) -> None:
        """Pump until `stop_fd` becomes readable (or hangs up: the parent
        closed its end or died)."""
        poll = select.poll()
        poll.register(self.fd_a, select.POLLIN)
        poll.register(self.fd_b, select.POLLIN)
        if stop_fd is not None:
            poll.register(stop_fd, select.POLLIN | select.POLLHUP)
        while True:
            now = time.monotonic()
            self.pump(now)
            nxt = self.impair.next_release()
            timeout = -1 if nxt is None else max(0, int((nxt - time.monotonic()) * 1000) + 1)
            ready = poll.poll(timeout)
            if stop_fd is not None and any(fd == stop_fd for fd, _ in ready):
                return


def main(argv: list[str] | None = None) -> None:
    """`python -c 'from synack.tun.relay import main; main()' FD_A FD_B LOSS DELAY SEED`:
    relay until standard input closes, then print the counters as JSON."""
    args = sys.argv[1:] if argv is None else argv
    fd_a, fd_b = int(args[0]), int(args[1])
    loss, delay, seed = float(args[2]), float(args[3]), int(args[4])
    for fd in (fd_a, fd_b):
        os.set_blocking(fd, False)
    relay = Relay(fd_a, fd_b, Impairment(loss=loss, delay=delay, seed=seed))
    try:
        relay.run(stop_fd=sys.stdin.fileno())
    except KeyboardInterrupt:
        pass
    print(json.dumps({**relay.stats, **relay.impair.stats}), flush=True)
