"""Network impairments inside the TUN driver: loss, duplication, reordering, delay.

`tc qdisc ... netem` is the usual tool, but it is a kernel option
(CONFIG_NET_SCH_NETEM) that some kernels -- this project's test machine's
among them -- are built without. `Impairment` does the same to the frames
between the TUN and the engine, in both directions, with netem's semantics:

* ``loss``: each frame is dropped with this probability;
* ``duplicate``: each surviving frame is sent twice with this probability;
* ``delay`` (seconds): frames are held back this long ...
* ``reorder``: ... except this fraction, which goes at once and so overtakes
  the delayed ones (netem's ``reorder 25%`` together with ``delay``).

    TunStack(impair=Impairment(loss=0.02, duplicate=0.01, reorder=0.25, delay=0.002, seed=1))

Frames are whole IP packets (up to 64 KiB in fast mode), as netem sees them.
"""
from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter

__all__ = ["Impairment"]


class Impairment:
    def __init__(self, loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
                 delay: float = 0.0, *, seed: int | None = None, inbound: bool = True,
                 outbound: bool = True):
        for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability, not {p}")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder
        self.delay = delay
        self.inbound = inbound
        self.outbound = outbound
        self.rng = random.Random(seed)
        self.stats: Counter = Counter()
        self._held: list = []                  # heap of (release time, tiebreak, direction, item)
        self._tick = itertools.count()

    def __repr__(self) -> str:
        return (f"Impairment(loss={self.loss}, duplicate={self.duplicate}, reorder={self.reorder}, "
                f"delay={self.delay})")

    def apply(self, direction: str, items: list, now: float) -> list:
        """The items (frames) of `direction` ("in" or "out") that go now; the
        rest is dropped or held back for `release`."""
        if direction == "in" and not self.inbound or direction == "out" and not self.outbound:
            return items
        rnd = self.rng.random
        out = []
        stats = self.stats
        for item in items:
            if self.loss and rnd() < self.loss:
                stats[direction + "_lost"] += 1
                continue
            copies = 2 if self.duplicate and rnd() < self.duplicate else 1
            if copies == 2:
                stats[direction + "_duplicated"] += 1
            for _ in range(copies):
                if self.delay and not (self.reorder and rnd() < self.reorder):
                    heapq.heappush(self._held, (now + self.delay, next(self._tick), direction, item))
                    stats[direction + "_delayed"] += 1
                else:
                    if self.delay:
                        stats[direction + "_reordered"] += 1
                    out.append(item)
        return out

    def release(self, direction: str, now: float) -> list:
        """Held items of `direction` whose time has come, oldest first."""
        held = self._held
        if not held or held[0][0] > now:
            return []
        keep, out = [], []
        while held and held[0][0] <= now:
            entry = heapq.heappop(held)
            (out if entry[2] == direction else keep).append(entry)
        for entry in keep:
            heapq.heappush(held, entry)
        return [e[3] for e in out]

    def next_release(self) -> float | None:
        return self._held[0][0] if self._held else None

    @property
    def holding(self) -> int:
        return len(self._held)
