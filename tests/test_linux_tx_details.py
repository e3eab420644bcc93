"""Two Linux details of the `linux` profile, each checked on synack and, as
the oracle, on the live kernel with the real packetdrill (tests marked
`netns`: root, a namespace of their own, removed afterwards):

* PSH on a retransmission (issue 13: eor/no-coalesce-retrans,
  sack/sack-route-refresh-ip-tos): the segment that ended a SEND keeps its
  PSH when it is retransmitted in the middle of the queue; a lone segment of
  a two-segment TSO unit is retransmitted without the PSH the unit carried.
* RACK's reordering count (RFC 8985 §6.2 step 3; Linux's tcpi_reord_seen,
  cubic/cubic-rack-reo-timeout-retrans-failed-incoming-data line 26): one
  event per ACK for its SACKed part and one for its cumulatively ACKed part,
  however many segments each covers; the cumulative part compares with the
  highest SACK before the ACK.
* A local queue that refuses every packet (`tc qdisc ... pfifo limit 0`;
  issue 13: user_timeout/user-timeout-probe and the end of
  cubic-rack-reo-timeout-retrans-failed-incoming-data): the data stays
  unsent; the zero-window-probe timer fires at max(RTO, 200 ms), then every
  500 ms (TCP_RESOURCE_PROBE_INTERVAL), counting tcpi_probes, and sends the
  data once the queue takes it.
* Config.fin_delack (issue 14; off in the `linux` profile, see there): a
  FIN that arrives in ESTABLISHED after data was received is ACKed by the
  delayed-ACK timer (ping-pong mode, tcp_fin), 40 ms later here and about
  47 ms on the live kernel (HZ=250); with no data received before, at once.
"""
from __future__ import annotations


import pytest

from livekernel import OPENING, assert_live_kernel_passes
from synack.packetdrill.runner import RunOptions, format_result, run_script, run_text, shared_dir

PREFIX = "sc-psh-test"


# 1:1001 ends a SEND, so its PSH comes back on the retransmission although
# more data follows it; the 4000-octet write goes as the TSO units 2001:4001
# and 4001:6001, each with PSH: 3001:4001, retransmitted alone, has none.
RTX_PSH = OPENING + """\
   +0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
   +0 write(4, ..., 1000) = 1000
   +0 > P. 1:1001(1000) ack 1
   +0 write(4, ..., 1000) = 1000
   +0 > P. 1001:2001(1000) ack 1
   +0 write(4, ..., 4000) = 4000
   +0 > P. 2001:6001(4000) ack 1
 +.01 < . 1:1(0) ack 1 win 320 <sack 1001:3001 4001:6001,nop,nop>
   +0 > P. 1:1001(1000) ack 1
   +0 > . 3001:4001(1000) ack 1
 +.01 < . 1:1(0) ack 6001 win 320
"""

REORD = OPENING + """\
   +0 write(4, ..., 6000) = 6000
   +0 > P. 1:6001(6000) ack 1
 +.01 < . 1:1(0) ack 1 win 320 <sack 5001:6001,nop,nop>
   +0 < . 1:1(0) ack 1 win 320 <sack 2001:3001 5001:6001,nop,nop>
   +0 %{ assert tcpi_reord_seen == 1, tcpi_reord_seen }%
   +0 < . 1:1(0) ack 6001 win 320
   +0 %{ assert tcpi_reord_seen == 2, tcpi_reord_seen }%
   +0 %{ assert tcpi_reordering == 6, tcpi_reordering }%
"""

# the handshake's RTT is 10 ms, so the RTO is 210 ms: probes at 0.22 s
# and 0.72 s are refused, the one at 1.22 s sends
LOCAL_DROP = OPENING + """\
   +0 `tc qdisc replace dev tun0 root pfifo limit 0`
   +0 write(4, ..., 1000) = 1000
 +.9 %{ assert tcpi_probes == 2, tcpi_probes }%
   +0 %{ assert tcpi_unacked == 0, tcpi_unacked }%
   +0 `tc qdisc replace dev tun0 root pfifo limit 100`
 +.31 > P. 1:1001(1000) ack 1
   +0 %{ assert tcpi_probes == 0, tcpi_probes }%
 +.01 < . 1:1(0) ack 1001 win 320
"""

# data, then a FIN 60 ms later: its ACK waits for the delayed-ACK timer
FIN_DELACK = OPENING + """\
   +0 < P. 1:1001(1000) ack 1 win 320
   +0 > . 1:1(0) ack 1001
 +.01 read(4, ..., 1000) = 1000
 +.05 < F. 1001:1001(0) ack 1 win 320
+.04~+.05 > . 1:1(0) ack 1002
   +0 read(4, ..., 1000) = 0
   +0 close(4) = 0
   +0 > F. 1:1(0) ack 1002
 +.01 < . 1002:1002(0) ack 2 win 320
"""

SCRIPTS = {"rtx-psh.pkt": RTX_PSH, "reord-seen.pkt": REORD, "local-drop.pkt": LOCAL_DROP}
#: what the live kernel runs: the above, and the one that needs fin_delack
LIVE = dict(SCRIPTS, **{"fin-delack.pkt": FIN_DELACK})


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_synack(name):
    r = run_text(SCRIPTS[name], name, RunOptions(profile="linux"))
    assert r.passed, format_result(r)
    assert not r.skipped, r.skipped


def test_fin_delack_is_the_setting():
    on = run_text(FIN_DELACK, "fin-delack.pkt", RunOptions(profile="linux",
                                                          config={"fin_delack": True}))
    assert on.passed, format_result(on)
    off = run_text(FIN_DELACK, "fin-delack.pkt", RunOptions(profile="linux"))
    assert not off.passed and off.failure.line == 14 and "timing" in off.failure.message


def test_fin_delack_on_the_shared_scripts():
    """With fin_delack, close-remote-fin-then-close (a FIN before any data)
    still passes, as on Linux; ioctl-siocinq-fin fails where Linux 6.18 fails
    it (line 28: the ACK of data+FIN comes 40 ms late)."""
    root = shared_dir()
    if root is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    opts = RunOptions(profile="linux", config={"fin_delack": True})
    r = run_script(root / "tcp/close/close-remote-fin-then-close.pkt", options=opts)
    assert r.passed, format_result(r)
    r = run_script(root / "tcp/ioctl/ioctl-siocinq-fin.pkt", options=opts)
    assert not r.passed and r.failure.line == 28 and "timing" in r.failure.message, format_result(r)


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_kernel_agrees(name, tmp_path):
    """The same scripts pass on the live kernel: the expectations are Linux's."""
    assert_live_kernel_passes(LIVE[name], name, tmp_path, PREFIX)
