"""The ratchet: every script listed in tests/packetdrill/synack_passes.txt
(the shared packetdrill scripts synack passes) must keep passing.

Each listed script runs against synack (`linux` profile, virtual time, the
same `-D` definitions as the Linux half of `make conformance`) and must pass
with no assertion left unevaluated. A change that makes a listed script fail
fails the suite; so does a change that makes an unlisted script pass, until
it is added: `make conformance-passes` rewrites the list from a fresh run.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from synack.packetdrill.conformance import read_passes, run_synack
from synack.packetdrill.runner import all_scripts, shared_dir

LIST = Path(__file__).parent / "packetdrill" / "synack_passes.txt"
ROOT = shared_dir()
LISTED = read_passes(LIST)


def _need_shared() -> Path:
    if ROOT is None:
        pytest.fail("the shared packetdrill scripts (../shared/conformance/packetdrill, or "
                    "$SYNACK_PACKETDRILL_DIR) are not present: the ratchet cannot run",
                    pytrace=False)
    return ROOT


def test_list_is_well_formed():
    root = _need_shared()
    assert LISTED, "the list is empty"
    assert len(LISTED) == len(set(LISTED)), "duplicate entries"
    assert LISTED == sorted(LISTED), "keep the list sorted (make conformance-passes)"
    known = {str(p.relative_to(root)) for p in all_scripts(root)}
    stale = [n for n in LISTED if n not in known]
    assert not stale, f"not in the shared set: {stale}"


@pytest.mark.conformance
@pytest.mark.parametrize("name", LISTED)
def test_listed_script_still_passes(name):
    root = _need_shared()
    r = run_synack(root / name)
    if r["verdict"] != "PASS":
        lines = [f"{name} was passing (tests/packetdrill/synack_passes.txt) and now fails:",
                 f"  {r['summary']}"]
        if r.get("expected") is not None:
            lines.append(f"  expected: {r['expected']}")
        if r.get("actual") is not None:
            lines.append(f"  actual:   {r['actual']}")
        for s in r["skipped"]:
            lines.append(f"  not evaluated: {s}")
        pytest.fail("\n".join(lines), pytrace=False)


@pytest.mark.conformance
def test_no_unlisted_script_passes():
    """The other direction: a script that now passes but is not listed fails
    the suite until it is added, so the list (and the report's synack half)
    always says what synack passes."""
    root = _need_shared()
    listed = set(LISTED)
    newly = [str(p.relative_to(root)) for p in all_scripts(root)
             if str(p.relative_to(root)) not in listed
             and run_synack(p)["verdict"] == "PASS"]
    assert not newly, (f"these scripts pass now and are not in {LIST.name}: {newly}; "
                       "run `make conformance-passes` and `make conformance-synack`")
