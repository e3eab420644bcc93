"""`mypyc_attr` for the optional mypyc build (setup.py, SYNACK_MYPYC=1).

mypyc reads the decorator when it compiles a module; at run time it changes
nothing. The pure package must not need mypy_extensions installed, so without
it the decorator is a no-op of our own.

What the source does for the compiled build (none of it changes behaviour):

- Module constants are `Final`. A plain module-level name is a dict lookup on
  every use in compiled code; a `Final` one is a C static, or a literal.
- Native classes take no weak references. Connection is one, with no
  subclass, so its internal calls are plain `self._output(now)` and compile
  to direct C calls. (Until issue 11 a TIME-WAIT entry held its Connection
  by a weak reference, which needed an interpreted subclass adding
  `__weakref__`; a call through `self` on such an instance goes through
  Python, so the engine named the class, `Connection._output(self, now)`.
  The entry now holds the connection itself: see engine/timewait.py.)
- Timers and the simulator's queue are heaps of floats (bucketed by time)
  rather than of tuples, which compare element by element through Python.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:
    try:
        from mypy_extensions import mypyc_attr
    except ImportError:                              # the pure install
        def mypyc_attr(*attrs: str, **kwattrs: Any):
            return lambda cls: cls

#: the modules setup.py compiles with SYNACK_MYPYC=1: the engine's hot path,
#: which every segment and timer of the simulator goes through, the trace, and
#: the TUN driver's per-frame path with the wire codec. (The codec's exception
#: classes are `native_class=False`: as native classes they would lose the
#: class attribute `reason` that each subclass overrides.)
COMPILED_MODULES = ("engine.seq", "engine.segment", "engine.states", "engine.config",
                    "engine.events", "engine.isn", "engine.cookies", "engine.rtt",
                    "engine.congestion", "engine.cubic", "engine.sack", "engine.recovery", "engine.reassembly",
                    "engine.timewait", "engine.listener", "engine.host", "engine.connection",
                    "sim.network", "sim.trace", "tun.framepath",
                    "wire.checksum", "wire.tcp", "wire.ip")

__all__ = ["mypyc_attr", "COMPILED_MODULES"]
