"""synack.api.streams behaves like CPython's asyncio streams, checked
against them (issue 12).

The same small asyncio programs (tests/streamdiff.py: open_connection,
start_server, write/drain/read/readexactly/readuntil/readline, EOF, a
refused connection, close/wait_closed, IncompleteReadError,
LimitOverrunError, a reset, timeouts) run twice against the same servers,
kernel sockets inside a network namespace this test makes: once with
CPython's asyncio on the kernel, in that namespace; once with
`synack.api.streams` over a TUN device into it. Values, exception types,
errnos and the exceptions' `partial`/`expected`/`consumed` must agree.
Needs root (marked netns).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sockdiff  # noqa: E402
import streamdiff  # noqa: E402
from kernelside import kernel_side, need_root  # noqa: E402

pytestmark = pytest.mark.netns
NS = f"e2-streamdiff-{os.getpid()}"
KERNEL, LOCAL = "10.79.0.1", "10.79.0.2"

#: where synack is known to differ, and why (each still runs; the test
#: fails if the difference goes away, so the list stays true)
KNOWN: dict[str, str] = {}


@pytest.fixture(scope="module")
def results():
    need_root()
    from synack.api import streams
    from synack.tun.driver import TunStack
    st = TunStack("plain", netns=NS, ifname="e2sd0", kernel_v4=f"{KERNEL}/24",
                  local_v4=LOCAL, kernel_v6=None, local_v6=None)
    with kernel_side(NS, KERNEL, st) as run:
        kernel = run("streamdiff.py", KERNEL, KERNEL)
        mine = json.loads(json.dumps(streams.run_on(st, streamdiff.run_all(streams, KERNEL, LOCAL))))
        yield kernel, mine


def test_at_least_twenty_programs():
    assert len(streamdiff.CASES) >= 20


@pytest.mark.parametrize("case", sorted(streamdiff.CASES))
def test_same_as_cpython_asyncio_on_the_kernel(results, case):
    kernel, mine = results
    assert kernel[case][0] != "setup-failed", f"{case}: the program itself failed on the kernel: {kernel[case]}"
    if case in KNOWN:
        assert mine[case] != kernel[case], f"{case} now agrees: take it off KNOWN"
        return
    assert mine[case] == kernel[case], f"{case}: kernel {kernel[case]}, synack {mine[case]}"


def test_the_reference_answers_are_the_interesting_ones(results):
    """The kernel's answers themselves, so that a case cannot pass by both
    sides failing the same dull way."""
    kernel, _ = results
    assert kernel["refused"] == ["raise", "ConnectionRefusedError", 111]
    assert kernel["incomplete_read_partial"] == ["raise", "IncompleteReadError", None,
                                                 {"partial": "abc", "expected": 5}]
    assert kernel["limit_overrun"][1][0][1] == "LimitOverrunError"
    assert kernel["read_after_reset"] == ["raise", "ConnectionResetError", 104]
    assert kernel["connect_timeout"] == ["raise", "TimeoutError", None]
