"""The kernel half of the differential tests (test_socket_differential.py,
test_streams_differential.py): inside the namespace of a TunStack the test
made, a route to sockdiff.UNROUTABLE that nobody answers, sockdiff.py's
servers on kernel sockets, and a way to run a program of cases there with
CPython on the kernel. Everything is removed afterwards; a namespace left
behind fails the test."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import sockdiff

HERE = Path(__file__).resolve().parent


def netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.strip()]


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root: it makes its own network namespace (deselect with "
                    "-m 'not netns')", pytrace=False)


@contextlib.contextmanager
def kernel_side(ns: str, kernel: str, stack: Any) -> Iterator[Callable[..., Any]]:
    """Set up namespace `ns` (that of `stack`, a TunStack whose kernel side
    has the address `kernel`); yield run(script, *args), which runs a case
    program (sockdiff.py, streamdiff.py) there on the kernel and returns its
    JSON. On leaving: the servers stop, `stack` closes, the namespace goes."""
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"))
    server = None
    try:
        # sockdiff.UNROUTABLE: routed to a veth inside the namespace whose peer
        # has no address; a fixed neighbour entry lets the SYNs leave (no ARP
        # failure), and nothing answers them
        for cmd in (["link", "add", "e2blk0", "type", "veth", "peer", "name", "e2blk1"],
                    ["link", "set", "e2blk0", "up"], ["link", "set", "e2blk1", "up"],
                    ["route", "add", f"{sockdiff.UNROUTABLE}/32", "dev", "e2blk0"],
                    ["neigh", "add", sockdiff.UNROUTABLE, "lladdr", "02:00:00:00:00:09",
                     "dev", "e2blk0", "nud", "permanent"]):
            subprocess.run(["ip", "-n", ns, *cmd], check=True, capture_output=True)
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(HERE / "sockdiff.py"),
                                   "serve", kernel], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"

        def run(script: str, *args: str) -> Any:
            k = subprocess.run(["ip", "netns", "exec", ns, sys.executable, str(HERE / script),
                                "run", *args], capture_output=True, text=True, env=env, timeout=300)
            assert k.returncode == 0, k.stderr
            return json.loads(k.stdout)
        yield run
    finally:
        if server is not None:
            assert server.stdin is not None
            server.stdin.close()
            server.kill()
            server.wait()
        stack.close()
        if ns in netns_list():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            pytest.fail(f"namespace {ns} left behind")
