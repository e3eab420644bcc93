"""A sealed simulation: no real AF_INET/AF_INET6 socket while it is sealed.

An audit hook (PEP 578) sees every `socket.__new__`. Audit hooks cannot be
removed, so the hook is installed once and checks a flag; the `sealed_network`
fixture (tests/conftest.py) turns the flag on for a test, and
`real_network_allowed()` lifts it for a block that means to use the kernel
(a comparison with the standard library on loopback). Every violation is
recorded, so a test fails even if the code under test swallowed the error.
"""
from __future__ import annotations

import contextlib
import socket
import sys
import traceback

_state = {"sealed": False, "installed": False}
violations: list[str] = []


class RealNetworkUsed(RuntimeError):
    """A sealed (simulated) test tried to create a real network socket."""


def _hook(event: str, args) -> None:
    if event != "socket.__new__" or not _state["sealed"]:
        return
    family = args[1]
    if family in (socket.AF_INET, socket.AF_INET6):
        where = "".join(traceback.format_stack(limit=8)[:-1])
        violations.append(f"socket(family={family!r}) at\n{where}")
        raise RealNetworkUsed(f"a simulated test created a real socket of family {family!r}")


def install() -> None:
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True


@contextlib.contextmanager
def sealed():
    install()
    before = len(violations)
    _state["sealed"] = True
    try:
        yield
    finally:
        _state["sealed"] = False
    new = violations[before:]
    if new:
        raise AssertionError("the simulation reached the real network:\n" + "\n".join(new))


@contextlib.contextmanager
def real_network_allowed():
    was = _state["sealed"]
    _state["sealed"] = False
    try:
        yield
    finally:
        _state["sealed"] = was


def is_sealed() -> bool:
    return _state["sealed"]
