"""A test's own packetdrill script on the live kernel, with the real
packetdrill: the oracle of the tests marked `netns` that check a `linux`
profile behaviour (test_linux_tx_details, test_sendpath_kernel,
test_fastopen_sockets).

The script is written into a temporary `tcp/probe/` folder beside a copy of
the shared set's `common/` files (defaults.sh, set_sysctls.py), so its
`../common/...` lines work as in the shared set. The kernel runs in real
time on a shared machine, so a failing run is rerun up to three times, as
`make conformance` does. Each run has a throwaway namespace of its own
(`prefix`), which must be gone afterwards; `cubic` adds cubic to the host's
allowed congestion controls for the runs and puts the old value back.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from synack.packetdrill import linux as L
from synack.packetdrill.runner import shared_dir


#: the opening of a server-side script: the Linux defaults, a listener on
#: fd 3, a handshake with MSS 1000 and wscale 7 from the peer, fd 4 accepted
OPENING = """\
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
 +.01 < . 1:1(0) ack 1 win 320
   +0 accept(3, ..., ...) = 4
"""


def assert_live_kernel_passes(text: str, name: str, tmp_path, prefix: str,
                              cubic: bool = True) -> None:
    if os.geteuid() != 0:
        pytest.fail("needs root (a network namespace and a TUN device per run)", pytrace=False)
    root = shared_dir()
    if root is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    try:
        tool = L.build_packetdrill()
    except L.ToolUnavailable as e:
        pytest.fail(f"cannot build the real packetdrill: {e}", pytrace=False)
    common = tmp_path / "tcp" / "common"
    shutil.copytree(root / "common", common)
    shutil.copy(root / "tcp" / "common" / "set_sysctls.py", common / "set_sysctls.py")
    for f in common.iterdir():
        f.chmod(0o755)
    folder = tmp_path / "tcp" / "probe"
    folder.mkdir()
    script = folder / name
    script.write_text(text)
    args, defines = L.variant(script)
    errors = []

    def runs():
        for _ in range(1 + L.DEFAULT_RERUNS):
            a = L.run_once(tool, script, args=args, defines=defines, prefix=prefix)
            if a.rc == 0:
                return a
            errors.append(a.error)
        return a

    if cubic:
        with L.allow_congestion_control("cubic"):
            a = runs()
    else:
        a = runs()
    assert a.rc == 0, "\n".join(errors)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"{prefix}-{os.getpid()}-" not in left
