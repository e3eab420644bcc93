"""The packetdrill conformance set: each script of the shared TARGET.txt as
one test, run against synack's `linux` profile, in the default test suite.

The scripts are read from the shared folder, never copied into the project
(`synack packetdrill --all` runs the whole shared set and prints
passed/total). A script synack does not pass is listed in `EXPECTED_FAILURES`
with the precise reason; it is marked xfail(strict=True), so a change that
makes it pass fails the suite until the entry is removed (docs/packetdrill.md
keeps the same table).
"""
from __future__ import annotations

import pytest

from synack.packetdrill.runner import format_result, run_script, shared_dir, target_scripts

ROOT = shared_dir()
TARGETS = target_scripts(ROOT) if ROOT else []

#: script (relative to the shared folder) -> why synack does not pass it
EXPECTED_FAILURES = {
    "tcp/ts_recent/invalid_ack.pkt": (
        "line 24 expects no reply to `F. 1:1(0) ack 9999` (an ACK above SND.NXT); "
        "RFC 9293 §3.10.7.4 (fifth step) requires an ACK in reply before the segment is "
        "dropped, which synack sends (`. 1:1(0) ack 1`), as Linux 6.18 does too (the "
        "shared README lists this script as drift). The rest of the script's point holds: "
        "the dropped segment leaves TS.Recent alone, so the next data is not PAWS-dropped "
        "(tests/test_sack_recovery.py::test_ts_recent_not_taken_from_a_segment_with_an_ack_of_unsent_data)."
    ),
}


def _param(path):
    rel = str(path.relative_to(ROOT))
    marks = []
    if rel in EXPECTED_FAILURES:
        marks.append(pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[rel]))
    return pytest.param(path, id=rel, marks=marks)


@pytest.mark.conformance
@pytest.mark.skipif(not TARGETS, reason="shared/conformance/packetdrill not present")
@pytest.mark.parametrize("path", [_param(p) for p in TARGETS])
def test_target_script(path):
    result = run_script(path, profile="linux")
    if not result.passed:
        pytest.fail(format_result(result), pytrace=False)


def test_expected_failures_are_target_scripts():
    """Every entry of the table names a TARGET script (no stale entries)."""
    if not TARGETS:
        pytest.skip("shared/conformance/packetdrill not present")
    names = {str(p.relative_to(ROOT)) for p in TARGETS}
    assert set(EXPECTED_FAILURES) <= names
