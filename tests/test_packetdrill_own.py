"""synack's own packetdrill scripts for the connection states.

Every script in tests/packetdrill/own/states/ is written for synack (not
taken from packetdrill's set) and covers a case the shared scripts lack:
each state's handling of SYN/ACK/FIN/RST in and out of the window,
simultaneous open and close, TIME-WAIT, SO_LINGER 0, SYN queue overflow,
SYN,ACK retransmission, SYN cookies and RFC 5961 challenge ACKs. Each must
PASS with the default (`linux`) profile; the header comment of each script
says which RFC section it checks.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from synack.packetdrill.runner import format_result, run_script

STATES = Path(__file__).resolve().parent / "packetdrill" / "own" / "states"
SCRIPTS = sorted(p.name for p in STATES.glob("*.pkt"))


def test_the_folder_has_scripts():
    assert SCRIPTS, f"no scripts in {STATES}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_own_state_script_passes(name):
    result = run_script(STATES / name)
    assert result.passed and result.events_run == result.events_total, format_result(result, verbose=True)
