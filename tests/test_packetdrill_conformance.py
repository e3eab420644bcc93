"""The packetdrill conformance set: each script of the shared TARGET.txt as
one test, run against synack's `linux` profile.

These tests carry the `conformance` mark and only run when asked for:

    pytest -m conformance                      # or SYNACK_CONFORMANCE=1 pytest

(`make conformance` / `synack packetdrill --all` runs the whole shared set
and prints passed/total.) The scripts are read from the shared folder,
never copied into the project.
"""
from __future__ import annotations

import os

import pytest

from synack.packetdrill.runner import format_result, run_script, shared_dir, target_scripts

ROOT = shared_dir()
TARGETS = target_scripts(ROOT) if ROOT else []


def _wanted(config) -> bool:
    if os.environ.get("SYNACK_CONFORMANCE"):
        return True
    return "conformance" in (config.getoption("markexpr", "") or "")


@pytest.mark.conformance
@pytest.mark.skipif(not TARGETS, reason="shared/conformance/packetdrill not present")
@pytest.mark.parametrize("path", TARGETS, ids=[str(p.relative_to(ROOT)) for p in TARGETS]
                         if ROOT else [])
def test_target_script(path, request):
    if not _wanted(request.config):
        pytest.skip("conformance scripts run with `pytest -m conformance` "
                    "(or SYNACK_CONFORMANCE=1)")
    result = run_script(path, profile="linux")
    if not result.passed:
        pytest.fail(format_result(result), pytrace=False)
