"""The loss-recovery scenarios (synack/scenarios/recovery.py): the same
flights under RFC 6675 and under RACK, and under RFC 6675's sending rule and
under PRR, show what each rule does."""
from synack.scenarios import CLIENT_IP, Options, get


def _client_data(name: str) -> list[dict]:
    res = get(name).run(Options(seed=1))
    return [d for d in res.trace.to_dicts()
            if d["type"] == "segment" and d["event"] == "send"
            and d["src"].startswith(CLIENT_IP + ":") and d["len"]]


def _retransmits(sends: list[dict]) -> list[dict]:
    seen, out = set(), []
    for d in sends:
        if d["seq"] in seen:
            out.append(d)
        seen.add(d["seq"])
    return out


def test_dupthresh_retransmits_the_late_segment_rack_waits_for_it():
    """Flight 2 (a segment 4 ms late, overtaken by six) costs RFC 6675 a
    spurious retransmission; RACK, having seen reordering in flight 1,
    waits its reordering window and resends only the lost segment of
    flight 3."""
    dup = _retransmits(_client_data("reordering-dupthresh"))
    rack = _retransmits(_client_data("reordering-rack"))
    assert len(dup) == 2 and len(rack) == 1
    assert rack[0]["seq"] == dup[1]["seq"]              # the really lost one


def test_rack_scenario_shows_the_reordering_timer():
    res = get("reordering-rack").run(Options(seed=1))
    timers = [d for d in res.trace.to_dicts() if d["type"] == "timer"]
    assert any("RACK" in str(d.get("timer", d)) for d in timers), timers
    client = res.facts["client"]
    assert client.rack is not None and client.rack.reord_seen >= 1


def _longest_gap_in_recovery(name: str) -> float:
    sends = _client_data(name)
    rxt = _retransmits(sends)[0]
    after = [d["t"] for d in sends if d["t"] >= rxt["t"]][:20]
    return max(b - a for a, b in zip(after, after[1:]))


def test_prr_spreads_what_rfc6675_sends_after_a_pause():
    """RFC 6675: after the fast retransmit nothing goes for about half a
    round trip (cwnd halved at once); PRR sends one segment per two
    delivered from the start, never pausing longer than a few ACKs."""
    assert _longest_gap_in_recovery("recovery-rfc6675") > 0.02
    assert _longest_gap_in_recovery("recovery-prr") < 0.005
