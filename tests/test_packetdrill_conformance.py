"""The packetdrill conformance set: each script of the shared TARGET.txt as
one test, run against synack's `linux` profile, in the default test suite.

The scripts are read from the shared folder, never copied into the project
(`synack packetdrill --all` runs the whole shared set and prints
passed/total). A script where synack deliberately differs is listed in
`DRIFT` and checked by its own test, which pins the exact line and packet of
the difference (docs/packetdrill.md keeps the same table).
"""
from __future__ import annotations

import pytest

from synack.packetdrill.runner import format_result, run_script, shared_dir, target_scripts

ROOT = shared_dir()
TARGETS = target_scripts(ROOT) if ROOT else []

#: Scripts where synack deliberately differs from the script, because RFC 9293
#: requires it (the shared README lists them as drift: Linux 6.18 differs too).
#: Each is not skipped but checked by its own test below, which pins the exact
#: line and packet where the difference shows; docs/packetdrill.md has the table.
DRIFT = {"tcp/ts_recent/invalid_ack.pkt"}


def _param(path):
    return pytest.param(path, id=str(path.relative_to(ROOT)))


@pytest.mark.conformance
@pytest.mark.skipif(not TARGETS, reason="shared/conformance/packetdrill not present")
@pytest.mark.parametrize("path", [_param(p) for p in TARGETS
                                  if str(p.relative_to(ROOT)) not in DRIFT])
def test_target_script(path):
    result = run_script(path, profile="linux")
    if not result.passed:
        pytest.fail(format_result(result), pytrace=False)


def test_drift_entries_are_target_scripts():
    """Every drift entry names a TARGET script (no stale entries)."""
    if not TARGETS:
        pytest.skip("shared/conformance/packetdrill not present")
    names = {str(p.relative_to(ROOT)) for p in TARGETS}
    assert DRIFT <= names


@pytest.mark.conformance
@pytest.mark.skipif(not TARGETS, reason="shared/conformance/packetdrill not present")
def test_invalid_ack_differs_only_where_rfc9293_requires():
    """tcp/ts_recent/invalid_ack.pkt injects `F. 1:1(0) ack 9999`, an ACK of data
    never sent. RFC 9293 §3.10.7.4, fifth step: "If the ACK acks something not
    yet sent (SEG.ACK > SND.NXT), then send an ACK, drop the segment, and
    return" -- so synack answers `. 1:1(0) ack 1`, as Linux 6.18 does, where the
    script (written before that kernel change) expects nothing until line 24.
    Everything before that line must pass, and the difference must be exactly
    that ACK. The script's real point, that the dropped segment does not
    update TS.Recent, is tested in test_sack_recovery.py."""
    result = run_script(ROOT / "tcp/ts_recent/invalid_ack.pkt", profile="linux")
    f = result.failure
    assert f is not None and f.kind == "packet" and f.line == 24, format_result(result)
    assert f.actual.startswith("> . 1:1(0) ack 1 "), f.actual      # the RFC's ACK
    assert f.expected.startswith("> . 1:1(0) ack 1001 "), f.expected
    assert result.events_run == result.events_total - 1
