"""CUBIC (RFC 9438) and Reno (RFC 5681) controllers on their own."""
import pytest

from synack.engine.congestion import available, create
from synack.engine.rtt import RttEstimator

MSS = 1000


def test_registry_has_reno_and_cubic():
    assert {"reno", "cubic"} <= set(available())
    with pytest.raises(ValueError):
        create("vegas", MSS, 10)


def test_reno_halves_on_loss_and_collapses_on_timeout():
    cc = create("reno", MSS, 10)
    assert cc.cwnd == 10 * MSS
    cc.on_loss(0.0, 20 * MSS)                    # RFC 5681 §3.2 (2)
    # cwnd = ssthresh: the "+ 3*SMSS" inflation of §3.2 step 3 is NewReno
    # fast-recovery bookkeeping the connection does itself (SACK recovery,
    # RFC 6675 §5 (4.2), sets cwnd = ssthresh with no inflation)
    assert cc.ssthresh == 10 * MSS and cc.cwnd == 10 * MSS
    cc.on_recovery_exit(0.1)
    assert cc.cwnd == 10 * MSS
    cc.on_timeout(0.2, 20 * MSS)                 # RFC 5681 §3.1 (4)
    assert cc.cwnd == MSS and cc.ssthresh == 10 * MSS


def test_cubic_reduces_by_beta_07():
    cc = create("cubic", MSS, 10)
    cc.on_loss(0.0, 100 * MSS)                   # RFC 9438 §4.6: ssthresh = flight * 0.7
    assert cc.ssthresh == 70 * MSS
    cc.on_recovery_exit(0.1)
    assert cc.cwnd == 70 * MSS


def test_cubic_regrows_to_w_max_in_about_k_seconds():
    cc = create("cubic", MSS, 10)
    rtt = RttEstimator(1.0, 0.2, 60)
    rtt.sample(0.1)
    cc.rtt = rtt
    cc.cwnd = 100 * MSS
    cc.ssthresh = 1 << 30
    cc.on_loss(0.0, 100 * MSS)
    cc.on_recovery_exit(0.0)
    k = ((100 - 70) / 0.4) ** (1 / 3)            # Figure 2: K = cbrt((W_max - cwnd_epoch) / C)
    t = 0.0
    while t < k - 0.5:                            # concave region: below W_max before K
        cc.on_ack(t, cc.cwnd // 10, 0)
        t += 0.01
    assert 70 * MSS < cc.cwnd < 100 * MSS
    while t < k + 0.5:
        cc.on_ack(t, cc.cwnd // 10, 0)
        t += 0.01
    assert cc.cwnd >= 99 * MSS                    # plateau around W_max near K
    while t < k + 3:
        cc.on_ack(t, cc.cwnd // 10, 0)
        t += 0.01
    assert cc.cwnd > 105 * MSS                    # convex region: probing beyond W_max
