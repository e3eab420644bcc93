"""How the `linux` profile places PSH in a large write and grows CUBIC after a
timeout, as Linux 6.18 does in cubic/cubic-rto-ss-ca-cwnd-bump (a script the
live kernel passes; docs/conformance.md):

* a TSO unit is at most half the cwnd (tcp_cwnd_test), so at cwnd 2 or 3
  the segments go out one by one, and a one-segment unit carries no PSH;
* a write is copied into skbs of size_goal octets; when one is full Linux
  either pushes it (forced_push: more than half the peer's largest window
  written since the last push; its PSH stays with the skb's end while the
  write appends to it) or, when it is the first unsent skb, sends one unit
  (tcp_push_one);
* at a retransmission timeout ssthresh comes from cwnd, not FlightSize
  (Config.ssthresh_from_cwnd);
* CUBIC in Linux's arithmetic (Config.cubic_linux): after a timeout the
  cubic target is flat, at most one segment per 20 ACKed, the target is
  recomputed at most once per HZ/32 while cwnd is unchanged, and the
  Reno-friendly count decides when cwnd first grows.
"""
from __future__ import annotations

import pytest

from livekernel import assert_live_kernel_passes
from synack.engine.congestion import create
from synack.packetdrill.runner import RunOptions, format_result, run_text, shared_dir

SCRIPT = "tcp/cubic/cubic-rto-ss-ca-cwnd-bump.pkt"


def _prefix(last_line: int) -> str:
    root = shared_dir()
    if root is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    return "\n".join((root / SCRIPT).read_text().splitlines()[:last_line]) + "\n"


def _run(text: str, **config):
    root = shared_dir()
    assert root is not None
    path = str(root / SCRIPT)          # so `../common/defaults.sh` resolves
    return run_text(text, path, RunOptions(profile="linux", config=config or None))


def test_units_of_half_the_cwnd_carry_no_psh():
    """Lines 50-56: at cwnd 2, then 3, the 200 KB write goes out as single
    segments without PSH (a unit PSH on every second segment was wrong)."""
    r = _run(_prefix(56))
    assert r.passed, format_result(r)
    assert not r.skipped, r.skipped


def test_ssthresh_from_cwnd_at_a_timeout():
    """Line 42-45: after the RTO, ssthresh is 7 (cwnd 10 * 0.7), though only
    one segment was in flight; from the FlightSize it would be 2."""
    text = _prefix(45)
    r = _run(text)
    assert r.passed, format_result(r)
    off = _run(text, ssthresh_from_cwnd=False)
    assert not off.passed and off.failure.line == 42, format_result(off)
    assert "tcpi_snd_ssthresh=2" in off.failure.message, off.failure.message


def test_the_whole_script_and_the_forced_push():
    """Line 88 (19001:20001 with PSH) is the forced push's mark, moved from
    19001 to 20001 as the write appended to the same skb; line 110 is the
    cwnd growth of Linux's CUBIC arithmetic."""
    root = shared_dir()
    assert root is not None
    r = _run((root / SCRIPT).read_text())
    assert r.passed, format_result(r)
    assert not r.skipped, r.skipped
    rfc_cubic = _run((root / SCRIPT).read_text(), cubic_linux=False)
    assert not rfc_cubic.passed and rfc_cubic.failure.line == 110, format_result(rfc_cubic)


def _ca_run(linux: bool) -> list[int]:
    """cwnd (segments) after each ACK of one segment in congestion
    avoidance, at the script's spacing: 2 ms apart with a 98 ms gap before
    the 2nd, 9th and 16th ACK; cwnd starts at ssthresh 7 after a timeout."""
    cc = create("cubic", 1000, 10)
    if linux:
        cc.use_linux_arithmetic()
    cc.on_timeout(1.0, 10000)
    assert cc.ssthresh == 7000
    cc.cwnd = 7000
    t = 1.108
    out = []
    for i in range(1, 17):
        if i > 1:
            t += 0.098 if i in (2, 9, 16) else 0.002
        cc.on_ack(t, 1000, cc.cwnd)
        out.append(cc.cwnd // 1000)
    return out


def test_cubic_linux_arithmetic_grows_on_the_16th_ack():
    lx = _ca_run(True)
    assert lx == [7] * 15 + [8], lx
    assert _ca_run(False) != lx


def test_cubic_linux_after_a_timeout_is_one_segment_per_20_acks():
    """No W_max after a timeout (tcp_cubic resets it): with ACKs spaced 50 ms
    (each recomputes the target), cwnd 20 grows by one per 20 ACKs; later
    the Reno-friendly estimate (one segment per 37 ACKs at cwnd 20, counted
    from the epoch) passes cwnd and lowers `cnt` below 20."""
    cc = create("cubic", 1000, 10)
    cc.use_linux_arithmetic()
    cc.on_timeout(0.0, 30000)
    cc.cwnd = cc.ssthresh = 20000
    t = 0.0
    grown_at = []
    for i in range(1, 61):
        t += 0.05
        before = cc.cwnd
        cc.on_ack(t, 1000, cc.cwnd)
        if cc.cwnd > before:
            grown_at.append(i)
    assert grown_at[:2] == [20, 40], grown_at
    assert grown_at[2] - grown_at[1] < 20, grown_at


@pytest.mark.netns
def test_live_kernel_passes_the_script(tmp_path):
    """The oracle: the same script passes on the live kernel with the real
    packetdrill, so the PSH positions, the ssthresh and the cwnd steps the
    tests above hold synack to are Linux's."""
    root = shared_dir()
    if root is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    assert_live_kernel_passes((root / SCRIPT).read_text(), "cwnd-bump.pkt", tmp_path, "lw-pd")
