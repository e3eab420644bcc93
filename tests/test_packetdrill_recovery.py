"""The loss-recovery packetdrill set (../shared/conformance/packetdrill/
TARGET-recovery.txt, 14 scripts Linux 6.18 passes) as a ratchet, under the
`linux` profile.

`PASSING` lists the scripts synack passes: all 14 of the list. Each must keep
passing, and pass with no skipped assertion (a `%{ }%` block the runner
cannot evaluate fails the script).
"""
from __future__ import annotations

import pytest

from synack.packetdrill.runner import format_result, run_script, shared_dir

ROOT = shared_dir()
LIST = ROOT / "TARGET-recovery.txt" if ROOT else None
SCRIPTS = ([line.strip() for line in LIST.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
           if LIST is not None and LIST.exists() else [])

PASSING = {
    "tcp/fast_recovery/prr-ss-ack-below-snd_una-cubic.pkt",
    "tcp/fast_retransmit/fr-4pkt-fack-last-byte.pkt",
    "tcp/sack/sack-shift-sacked-7-5-6-8-9-fack.pkt",
    "tcp/sack/sack-shift-sacked-7-3-4-8-9-fack.pkt",
    "tcp/sack/sack-shift-sacked-2-6-8-3-9-nofack.pkt",
    "tcp/fast_recovery/prr-ss-30pkt-lost-1_4-11_16.pkt",
    "tcp/fast_recovery/prr-ss-10pkt-lost-1.pkt",
    "tcp/fast_recovery/prr-ss-30pkt-lost1_4.pkt",
    "tcp/cubic/cubic-hystart-delay-min-rtt-jumps-downward.pkt",
    "tcp/cubic/cubic-hystart-delay-rtt-jumps-upward.pkt",
    "tcp/cwnd_moderation/cwnd-moderation-disorder-no-moderation.pkt",
    "tcp/sack/sack-route-refresh-ip-tos.pkt",
    "tcp/cubic/cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt",
    "tcp/cubic/cubic-rto-ss-ca-cwnd-bump.pkt",
}


def test_lists_cover_the_shared_list():
    if not SCRIPTS:
        pytest.skip("shared/conformance/packetdrill not present")
    assert set(SCRIPTS) == PASSING          # all 14 pass


@pytest.mark.conformance
@pytest.mark.skipif(not SCRIPTS, reason="shared/conformance/packetdrill not present")
@pytest.mark.parametrize("name", sorted(PASSING))
def test_recovery_script(name):
    result = run_script(ROOT / name, profile="linux")
    assert result.passed, format_result(result)
    assert not result.skipped, result.skipped
