"""`synack packetdrill --target` and documented RFC-over-Linux deviations
(issue 12): a shared script that fails *exactly* as RFC_DEVIATIONS documents
(synack follows the RFC section where the script expects older Linux) is
printed as it happens and in the summary, with the section, and does not
make the exit status 1; any other failure does."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from synack.packetdrill.outcome import Failure, ScriptResult
from synack.packetdrill.runner import RFC_DEVIATIONS, deviation_for, shared_dir, target_scripts

ROOT = shared_dir()
INVALID_ACK = "tcp/ts_recent/invalid_ack.pkt"


def _root():
    if ROOT is None:
        pytest.fail("shared/conformance/packetdrill not found beside the repository: "
                    "these checks need the shared scripts", pytrace=False)
    return ROOT


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "synack", "packetdrill", *args],
                          capture_output=True, text=True, timeout=600)


def test_every_deviation_is_a_target_script_with_an_rfc_section():
    names = {str(p.relative_to(_root())) for p in target_scripts(_root())}
    for script, d in RFC_DEVIATIONS.items():
        assert script in names
        assert d.section.startswith("RFC ") and "§" in d.section and d.why


def test_target_exits_0_and_still_prints_the_deviation():
    n = len(target_scripts(_root()))
    r = _cli("--target")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    out = r.stdout
    assert f"FAIL {INVALID_ACK}" in out                     # nothing hidden: it did fail
    assert f"{n - 1}/{n} passed; 1 failed as documented" in out
    summary = out[out.index("documented RFC-over-Linux deviations"):]
    assert INVALID_ACK in summary and "RFC 9293 §3.10.7.4" in summary
    assert "line 24" in summary


def test_target_json_lists_the_deviation():
    r = _cli("--target", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["failed"] == 0 and data["passed"] == data["total"] - 1
    assert [d["script"] for d in data["deviations"]] == [INVALID_ACK]
    assert data["deviations"][0]["section"] == "RFC 9293 §3.10.7.4"


def test_another_failure_still_exits_1(tmp_path):
    bad = tmp_path / "bad.pkt"
    bad.write_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) = 7\n")
    r = _cli(str(_root() / INVALID_ACK), str(bad))
    assert r.returncode == 1, r.stdout
    assert "1 failed as documented (synack follows the RFC), 1 other failure" in r.stdout
    assert "failed:\n  " in r.stdout and "bad.pkt" in r.stdout.split("failed:\n")[1]


def _result(**kw) -> ScriptResult:
    base = dict(script=str(_root() / INVALID_ACK), passed=False, profile="linux",
                failure=Failure("packet", "packet: ack: expected 1001, actual 1", line=24,
                                expected="> . 1:1(0) ack 1001 <nop,nop,TS val 200 ecr 201>",
                                actual="> . 1:1(0) ack 1 win 65535 <nop,nop,TS val 200 ecr 200>"))
    base.update(kw)
    return ScriptResult(**base)


def test_only_the_documented_failure_is_a_deviation():
    assert deviation_for(_result()) is RFC_DEVIATIONS[INVALID_ACK]
    assert deviation_for(_result(passed=True, failure=None)) is None            # a pass is a pass
    assert deviation_for(_result(profile="rfc")) is None                         # another profile
    other_line = Failure("packet", "packet: missing", line=12, expected="> . 1:1(0) ack 1001 ",
                         actual="> . 1:1(0) ack 1 ")
    assert deviation_for(_result(failure=other_line)) is None                    # another line
    other_ack = Failure("packet", "x", line=24, expected="> . 1:1(0) ack 1001 ",
                        actual="> . 1:1(0) ack 7 ")
    assert deviation_for(_result(failure=other_ack)) is None                     # another packet
    elsewhere = _result(script="/tmp/tcp/ts_recent/invalid_ack.pkt")
    assert deviation_for(elsewhere) is None                                      # not the shared one
