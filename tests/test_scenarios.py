"""Every scenario's JSON trace, checked against what the textbooks say.

The checks read only the documented JSON form (docs/trace-format.md):
segment events with absolute seq/ack, state events with from/to/cause, app
and timer events. Sequence arithmetic is modulo 2**32.
"""
import functools
import json

import pytest

from synack.scenarios import CLIENT_IP, SERVER_IP, Options, all_scenarios, get, names
from synack.scenarios.basic import REQUEST, RESPONSE
from synack.engine.states import TRANSITIONS, State

M = 1 << 32
MSL = 30.0


def plus(a, n):
    return (a + n) % M


@functools.lru_cache(maxsize=None)
def _run(name, **kw):
    return get(name).run(Options(**kw))


def run(name, **kw):
    return _run(name, **kw)


def events(name, **kw):
    return run(name, **kw).dicts()


def ip(ep):
    return ep.rpartition(":")[0].strip("[]")


def sends(ev, src=None, flags=None, dst=None):
    out = [e for e in ev if e["type"] == "segment" and e["event"] == "send"]
    if src is not None:
        out = [e for e in out if ip(e["src"]) == src]
    if dst is not None:
        out = [e for e in out if ip(e["dst"]) == dst]
    if flags is not None:
        out = [e for e in out if e["flags"] == flags]
    return out


def drops(ev):
    return [e for e in ev if e["type"] == "segment" and e["event"] == "drop"]


def deliveries(ev):
    return [e for e in ev if e["type"] == "segment" and e["event"] == "deliver"]


def transitions(ev, host, listener=False):
    """(from, to) of `host`'s connections (or its listener) in order."""
    return [(e["from"], e["to"]) for e in ev if e["type"] == "state" and e["host"] == host
            and (e["remote"] == "*:*") == listener]


def state_events(ev, host):
    return [e for e in ev if e["type"] == "state" and e["host"] == host and e["remote"] != "*:*"]


def when(ev, host, to, frm=None):
    return [e["t"] for e in state_events(ev, host) if e["to"] == to and (frm is None or e["from"] == frm)]


def app(ev, host=None, kind=None):
    return [e for e in ev if e["type"] == "app" and (host is None or e["host"] == host)
            and (kind is None or e["event"] == kind)]


def states_at_sends(ev, host):
    """For each segment `host` sends, the state of its connection at that moment."""
    addr = {"client": CLIENT_IP, "server": SERVER_IP}[host]
    cur = {}
    out = []
    for e in ev:
        if e["type"] == "state" and e["host"] == host:
            cur[(e["local"], e["remote"])] = e["to"]
        elif e["type"] == "segment" and e["event"] == "send" and ip(e["src"]) == addr:
            out.append((e, cur.get((e["src"], e["dst"]))))
    return out


# ------------------------------------------------------------------------ generic
@pytest.mark.parametrize("name", names())
def test_trace_is_time_ordered_json_lines(name):
    res = run(name)
    lines = res.trace.to_jsonl().splitlines()
    assert lines, "a scenario must produce a trace"
    ts = []
    for line in lines:
        d = json.loads(line)
        assert d["type"] in ("segment", "state", "timer", "app")
        ts.append(d["t"])
        if d["type"] == "segment":
            assert d["event"] in ("send", "deliver", "drop")
            assert set(d) >= {"t", "type", "event", "src", "dst", "flags", "seq", "ack", "len",
                              "win", "options"}
            assert 0 <= d["seq"] < M and 0 <= d["ack"] < M
        elif d["type"] == "state":
            assert set(d) == {"t", "type", "host", "local", "remote", "from", "to", "cause"}
            assert (State(d["from"]), State(d["to"])) in TRANSITIONS
    assert ts == sorted(ts)


@pytest.mark.parametrize("name", names())
def test_deterministic(name):
    a = get(name).run(Options(seed=7)).trace.to_jsonl()
    b = get(name).run(Options(seed=7)).trace.to_jsonl()
    assert a == b


def test_registry_has_the_issue_list():
    wanted = {"handshake", "lifecycle", "half-close", "simultaneous-open", "simultaneous-close",
              "lost-syn", "lost-synack", "lost-final-ack", "old-duplicate-syn",
              "time-wait-old-duplicate", "refused", "linger-abort", "unread-data-close",
              "synack-retransmit", "syn-flood", "syn-cookies", "backlog-full", "zero-window",
              "keepalive", "loss"}
    assert wanted <= set(names())
    for sc in all_scenarios():
        assert sc.title and sc.summary and len(sc.text) > 100


def test_unknown_scenario():
    with pytest.raises(KeyError):
        get("no-such-thing")


# ---------------------------------------------------------------------- handshake
def check_handshake(ev):
    s1, s2, s3 = sends(ev)[:3]
    assert s1["flags"] == ["SYN"] and ip(s1["src"]) == CLIENT_IP and s1["len"] == 0
    x = s1["seq"]
    assert s2["flags"] == ["SYN", "ACK"] and ip(s2["src"]) == SERVER_IP
    assert s2["ack"] == plus(x, 1)
    y = s2["seq"]
    assert s3["flags"] == ["ACK"] and ip(s3["src"]) == CLIENT_IP
    assert s3["seq"] == plus(x, 1) and s3["ack"] == plus(y, 1)
    assert "mss" in s1["options"] and "mss" in s2["options"]
    assert transitions(ev, "client")[:2] == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED")]
    assert transitions(ev, "server", listener=True)[0] == ("CLOSED", "LISTEN")
    assert transitions(ev, "server")[:2] == [("LISTEN", "SYN_RECEIVED"),
                                             ("SYN_RECEIVED", "ESTABLISHED")]
    return x, y


def test_handshake():
    ev = events("handshake")
    check_handshake(ev)
    assert len(sends(ev)) == 3
    # the client is ESTABLISHED when the SYN-ACK arrives, the server one trip later
    (tc,), (ts,) = when(ev, "client", "ESTABLISHED"), when(ev, "server", "ESTABLISHED")
    assert ts == pytest.approx(tc + 0.010)


def test_handshake_options_all():
    ev = events("handshake", all_options=True)
    syn = sends(ev, flags=["SYN"])[0]
    assert {"mss", "wscale", "sack_permitted", "tsval"} <= set(syn["options"])


# ---------------------------------------------------------------------- lifecycle
def check_close(ev, msl=MSL):
    """Client-initiated close: FIN seq=u; ACK ack=u+1; FIN seq=w ack=u+1; ACK seq=u+1 ack=w+1."""
    cfin = sends(ev, src=CLIENT_IP, flags=["FIN", "ACK"])[0]
    u = plus(cfin["seq"], cfin["len"])
    after = [e for e in sends(ev, src=SERVER_IP) if e["t"] >= cfin["t"]]
    ack_u = next(e for e in after if e["flags"] == ["ACK"] and e["ack"] == plus(u, 1))
    sfin = next(e for e in after if "FIN" in e["flags"])
    w = plus(sfin["seq"], sfin["len"])
    assert sfin["ack"] == plus(u, 1)
    assert ack_u["t"] <= sfin["t"]
    last = [e for e in sends(ev, src=CLIENT_IP) if e["t"] >= sfin["t"] and e["flags"] == ["ACK"]]
    assert last[0]["seq"] == plus(u, 1) and last[0]["ack"] == plus(w, 1)
    c = transitions(ev, "client")
    assert c[-4:] == [("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"),
                      ("FIN_WAIT_2", "TIME_WAIT"), ("TIME_WAIT", "CLOSED")]
    (closed_at,) = when(ev, "client", "CLOSED", "TIME_WAIT")
    assert closed_at - last[-1]["t"] == pytest.approx(2 * msl, abs=1e-9)
    s = transitions(ev, "server")
    assert s[-3:] == [("ESTABLISHED", "CLOSE_WAIT"), ("CLOSE_WAIT", "LAST_ACK"),
                      ("LAST_ACK", "CLOSED")]
    return u, w


def test_lifecycle():
    ev = events("lifecycle")
    x, y = check_handshake(ev)
    req = [e for e in sends(ev, src=CLIENT_IP) if e["len"]][0]
    assert req["seq"] == plus(x, 1) and req["len"] == len(REQUEST) and "PSH" in req["flags"]
    resp = [e for e in sends(ev, src=SERVER_IP) if e["len"]][0]
    assert resp["seq"] == plus(y, 1) and resp["len"] == len(RESPONSE)
    assert resp["ack"] == plus(x, 1 + len(REQUEST))          # the ACK rides on the response
    u, w = check_close(ev)
    assert u == plus(x, 1 + len(REQUEST)) and w == plus(y, 1 + len(RESPONSE))
    assert not [e for e in sends(ev) if "RST" in e["flags"]]
    assert [e["timer"] for e in ev if e["type"] == "timer"][-1] == "TIME_WAIT 2MSL"


def test_lifecycle_msl_option():
    ev = events("lifecycle", msl=5.0)
    check_close(ev, msl=5.0)


def test_lifecycle_linux_profile():
    ev = events("lifecycle", profile="linux")
    check_handshake(ev)
    check_close(ev)


# --------------------------------------------------------------------- half-close
def test_half_close():
    ev = events("half-close")
    res = run("half-close")
    cfin = sends(ev, src=CLIENT_IP, flags=["FIN", "ACK"])[0]
    data_after = [e for e in sends(ev, src=SERVER_IP) if e["len"] and e["t"] > cfin["t"]]
    assert len(data_after) >= 3, "the server keeps sending after the client's FIN"
    in_fw2 = [(e, st) for e, st in states_at_sends(ev, "client") if st == "FIN_WAIT_2"]
    acks = [e for e, _ in in_fw2 if e["flags"] == ["ACK"]]
    assert acks, "the client acknowledges data while in FIN_WAIT_2"
    end = plus(data_after[-1]["seq"], data_after[-1]["len"])
    assert any(a["ack"] == end for a in acks), "the last data is acknowledged from FIN_WAIT_2"
    s = transitions(ev, "server")
    assert ("ESTABLISHED", "CLOSE_WAIT") in s and s[-2:] == [("CLOSE_WAIT", "LAST_ACK"),
                                                             ("LAST_ACK", "CLOSED")]
    check_close(ev)
    assert len(res.facts["received"]) == sum(e["len"] for e in data_after)


# -------------------------------------------------------------- simultaneous open
def test_simultaneous_open():
    ev = events("simultaneous-open")
    for host in ("A", "B"):
        assert transitions(ev, host) == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "SYN_RECEIVED"),
                                         ("SYN_RECEIVED", "ESTABLISHED")]
    a_syn = sends(ev, src="10.0.0.1", flags=["SYN"])
    b_syn = sends(ev, src=SERVER_IP, flags=["SYN"])
    assert len(a_syn) == len(b_syn) == 1
    a_sa = sends(ev, src="10.0.0.1", flags=["SYN", "ACK"])[0]
    b_sa = sends(ev, src=SERVER_IP, flags=["SYN", "ACK"])[0]
    # each SYN,ACK repeats its sender's SYN and acknowledges the other's
    assert a_sa["seq"] == a_syn[0]["seq"] and a_sa["ack"] == plus(b_syn[0]["seq"], 1)
    assert b_sa["seq"] == b_syn[0]["seq"] and b_sa["ack"] == plus(a_syn[0]["seq"], 1)
    # RFC 9293 Figure 7: four segments, ESTABLISHED when the SYN,ACK arrives
    assert len(sends(ev)) == 4
    assert when(ev, "A", "ESTABLISHED") == [pytest.approx(b_sa["t"] + 0.010)]


# ------------------------------------------------------------- simultaneous close
def test_simultaneous_close_through_closing():
    ev = events("simultaneous-close")
    for host, addr in (("client", CLIENT_IP), ("server", SERVER_IP)):
        assert transitions(ev, host)[-4:] == [("ESTABLISHED", "FIN_WAIT_1"),
                                              ("FIN_WAIT_1", "CLOSING"), ("CLOSING", "TIME_WAIT"),
                                              ("TIME_WAIT", "CLOSED")]
        (tw,) = when(ev, host, "TIME_WAIT")
        (cl,) = when(ev, host, "CLOSED", "TIME_WAIT")
        assert cl - tw == pytest.approx(2 * MSL)
        fins = sends(ev, src=addr, flags=["FIN", "ACK"])
        assert len(fins) == 1
    cfin = sends(ev, src=CLIENT_IP, flags=["FIN", "ACK"])[0]
    sfin = sends(ev, src=SERVER_IP, flags=["FIN", "ACK"])[0]
    assert cfin["t"] == sfin["t"], "the FINs cross"
    # each FIN is acknowledged by the other side with ack = FIN + 1
    assert any(e["ack"] == plus(cfin["seq"], 1) for e in sends(ev, src=SERVER_IP, flags=["ACK"]))
    assert any(e["ack"] == plus(sfin["seq"], 1) for e in sends(ev, src=CLIENT_IP, flags=["ACK"]))


def test_simultaneous_close_segments_are_figure_13():
    ev = events("simultaneous-close")
    cfin = sends(ev, src=CLIENT_IP, flags=["FIN", "ACK"])[0]
    closing = [e for e in sends(ev) if e["t"] >= cfin["t"]]
    assert len(closing) == 4      # FIN, FIN crossing; ACK, ACK crossing


# ---------------------------------------------------------------------- lost-syn
def test_lost_syn_backoff():
    ev = events("lost-syn")
    syns = sends(ev, src=CLIENT_IP, flags=["SYN"])
    assert len(syns) == 4
    assert len({e["seq"] for e in syns}) == 1, "a retransmitted SYN has the same seq"
    gaps = [round(b["t"] - a["t"], 6) for a, b in zip(syns, syns[1:])]
    assert gaps == [1.0, 2.0, 4.0], "the interval doubles"
    assert [d["flags"] for d in drops(ev)] == [["SYN"]] * 3
    rtos = [e for e in ev if e["type"] == "timer" and e["timer"] == "RTO"]
    assert [e["t"] for e in rtos] == [e["t"] for e in syns[1:]]
    check_handshake([e for e in ev if not (e["type"] == "segment" and e["flags"] == ["SYN"]
                                           and e["t"] < syns[-1]["t"])])


# ------------------------------------------------------------------- lost-synack
def test_lost_synack():
    ev = events("lost-synack")
    sa = sends(ev, src=SERVER_IP, flags=["SYN", "ACK"])
    assert drops(ev)[0]["flags"] == ["SYN", "ACK"]
    assert len(sa) >= 2 and len({(e["seq"], e["ack"]) for e in sa}) == 1
    syns = sends(ev, src=CLIENT_IP, flags=["SYN"])
    assert len(syns) == 2 and syns[0]["seq"] == syns[1]["seq"]
    assert syns[1]["t"] - syns[0]["t"] == pytest.approx(1.0)
    assert sa[1]["t"] - sa[0]["t"] == pytest.approx(1.0), "the server's own timer fires too"
    assert transitions(ev, "client") == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED")]
    assert transitions(ev, "server") == [("LISTEN", "SYN_RECEIVED"),
                                         ("SYN_RECEIVED", "ESTABLISHED")]
    assert not [e for e in sends(ev) if "RST" in e["flags"]]


# ---------------------------------------------------------------- lost-final-ack
def test_lost_final_ack_time_wait_reacks():
    ev = events("lost-final-ack")
    (lost,) = drops(ev)
    assert lost["flags"] == ["ACK"] and ip(lost["src"]) == CLIENT_IP
    sfins = sends(ev, src=SERVER_IP, flags=["FIN", "ACK"])
    assert len(sfins) == 2 and sfins[0]["seq"] == sfins[1]["seq"], "the FIN is retransmitted"
    assert sfins[1]["t"] - sfins[0]["t"] >= 1.0
    acks = [e for e, st in states_at_sends(ev, "client") if st == "TIME_WAIT"]
    assert len(acks) == 2 and acks[0]["seq"] == acks[1]["seq"] and acks[0]["ack"] == acks[1]["ack"]
    assert acks[1]["ack"] == plus(sfins[0]["seq"], 1)
    # the server got its ACK: LAST_ACK -> CLOSED, no reset
    assert transitions(ev, "server")[-1] == ("LAST_ACK", "CLOSED")
    assert not [e for e in sends(ev) if "RST" in e["flags"]]
    # TIME_WAIT was restarted: CLOSED 2*MSL after the *second* ACK
    (closed,) = when(ev, "client", "CLOSED", "TIME_WAIT")
    assert closed - acks[1]["t"] == pytest.approx(2 * MSL)
    assert transitions(ev, "client").count(("FIN_WAIT_2", "TIME_WAIT")) == 1


# ------------------------------------------------------------- old-duplicate-syn
def test_old_duplicate_syn_is_reset():
    ev = events("old-duplicate-syn")
    syn, synack, rst = sends(ev)
    assert syn.get("note") == "injected" and syn["flags"] == ["SYN"]
    assert synack["flags"] == ["SYN", "ACK"] and synack["ack"] == plus(syn["seq"], 1)
    assert ip(rst["src"]) == CLIENT_IP and rst["flags"] == ["RST"]
    assert rst["seq"] == synack["ack"], "RST <SEQ=SEG.ACK> (RFC 9293 §3.10.7.1)"
    assert transitions(ev, "server") == [("LISTEN", "SYN_RECEIVED"), ("SYN_RECEIVED", "LISTEN")]
    assert not any(e["to"] == "ESTABLISHED" for e in ev if e["type"] == "state")
    assert transitions(ev, "client") == []
    facts = run("old-duplicate-syn").facts
    assert facts["accept_queue"] == 0 and facts["syn_queue"] == 0


# ------------------------------------------------------- time-wait-old-duplicate
def test_time_wait_absorbs_old_duplicate():
    ev = events("time-wait-old-duplicate")
    res = run("time-wait-old-duplicate")
    late = [d for d in deliveries(ev)
            if d["len"] and ip(d["src"]) == SERVER_IP
            and d["t"] - max(s["t"] for s in sends(ev, src=SERVER_IP)
                             if s["seq"] == d["seq"] and s["t"] <= d["t"] and s["len"]) > 0]
    old = [d for d in deliveries(ev) if d["len"] and ip(d["src"]) == SERVER_IP and d["t"] > 15]
    assert len(old) == 1
    t_old = old[0]["t"]
    (tw,) = [t for t in when(ev, "client", "TIME_WAIT")]
    (tw_end,) = when(ev, "client", "CLOSED", "TIME_WAIT")
    assert tw < t_old < tw_end, "the old duplicate arrives during TIME_WAIT"
    # TIME_WAIT answers with an ACK of what it has and keeps waiting
    reply = [e for e in sends(ev, src=CLIENT_IP) if e["t"] == t_old]
    assert reply and reply[0]["flags"] == ["ACK"]
    assert tw_end - tw == pytest.approx(2 * MSL), "an old segment does not restart 2*MSL"
    # no new incarnation while TIME_WAIT holds the 4-tuple; then a clean one
    assert res.facts["reconnected_at"] >= tw_end
    assert res.facts["second_request"] == REQUEST
    assert late is not None


def test_time_wait_old_duplicate_short_msl():
    res = run("time-wait-old-duplicate", msl=5.0)
    assert res.facts["reconnected_at"] < 20.0      # the new connection exists before the old segment
    assert res.facts["second_request"] == REQUEST


# ------------------------------------------------------------------------ refused
def test_refused():
    ev = events("refused")
    syn, rst = sends(ev)
    assert syn["flags"] == ["SYN"] and syn["dst"].endswith(":81")
    assert rst["flags"] == ["RST", "ACK"] and rst["seq"] == 0 and rst["ack"] == plus(syn["seq"], 1)
    assert transitions(ev, "client") == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "CLOSED")]
    assert [e["detail"] for e in app(ev, "client", "error")] == ["ECONNREFUSED"]
    assert run("refused").facts["error"] == "ECONNREFUSED"


# ------------------------------------------------------------------- linger-abort
def check_abort(name):
    ev = events(name)
    c = sends(ev, src=CLIENT_IP)
    assert not [e for e in c if "FIN" in e["flags"]], "no FIN: an abortive close"
    rst = [e for e in c if "RST" in e["flags"]]
    assert len(rst) == 1
    last_server = [e for e in sends(ev, src=SERVER_IP) if e["t"] <= rst[0]["t"]][-1]
    assert rst[0]["seq"] == last_server["ack"], "the RST is in sequence, so it is believed"
    assert transitions(ev, "client")[-1] == ("ESTABLISHED", "CLOSED")
    assert transitions(ev, "server")[-1] == ("ESTABLISHED", "CLOSED")
    assert not any(e["to"] == "TIME_WAIT" for e in ev if e["type"] == "state")
    assert [e["detail"] for e in app(ev, "server", "error")] == ["ECONNRESET"]
    assert run(name).facts["server_error"] == "ECONNRESET"
    return ev


def test_linger_abort():
    check_abort("linger-abort")


def test_unread_data_close():
    check_abort("unread-data-close")
    assert run("unread-data-close").facts["unread"] == len(RESPONSE)


# -------------------------------------------------------------- synack-retransmit
def test_synack_retransmit_backoff_then_drop():
    ev = events("synack-retransmit")
    sa = sends(ev, src=SERVER_IP, flags=["SYN", "ACK"])
    assert len(sa) == 6, "the SYN-ACK and 5 retransmissions"
    assert len({(e["seq"], e["ack"]) for e in sa}) == 1
    gaps = [round(b["t"] - a["t"], 6) for a, b in zip(sa, sa[1:])]
    assert gaps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert len(drops(ev)) == 6
    assert transitions(ev, "server") == [("LISTEN", "SYN_RECEIVED"), ("SYN_RECEIVED", "CLOSED")]
    (gone,) = when(ev, "server", "CLOSED")
    assert gone - sa[-1]["t"] == pytest.approx(32.0)
    assert not [e for e in sends(ev) if e["t"] == gone], "the entry goes silently"
    assert run("synack-retransmit").facts["syn_queue"] == 0


# ---------------------------------------------------------------- syn flood/cookies
def test_syn_flood_locks_out_the_client():
    ev = events("syn-flood")
    res = run("syn-flood")
    spoofed = [e for e in sends(ev, flags=["SYN"]) if e.get("note") == "injected"]
    assert len(spoofed) == 4
    half_open = [e for e in state_events(ev, "server") if e["to"] == "SYN_RECEIVED"]
    assert len(half_open) == 4 and all(ip(e["remote"]) != CLIENT_IP for e in half_open)
    client_syns = sends(ev, src=CLIENT_IP, flags=["SYN"])
    assert len(client_syns) >= 3
    got = [d for d in deliveries(ev) if ip(d["src"]) == CLIENT_IP]
    assert len(got) == len(client_syns), "the SYNs arrive ..."
    assert not sends(ev, src=SERVER_IP, dst=CLIENT_IP), "... and get no answer"
    assert res.facts["client_state"] is State.SYN_SENT
    assert res.facts["dropped"] == len(client_syns)


def test_syn_cookies_let_the_client_in():
    ev = events("syn-cookies")
    res = run("syn-cookies")
    assert len([e for e in state_events(ev, "server") if e["to"] == "SYN_RECEIVED"
                and ip(e["remote"]) != CLIENT_IP]) == 4, "the SYN queue is full"
    syn = sends(ev, src=CLIENT_IP, flags=["SYN"])
    assert len(syn) == 1, "answered at once: no retransmission needed"
    (sa,) = sends(ev, src=SERVER_IP, dst=CLIENT_IP, flags=["SYN", "ACK"])
    assert sa["ack"] == plus(syn[0]["seq"], 1)
    ack = sends(ev, src=CLIENT_IP, flags=["ACK"])[0]
    assert ack["ack"] == plus(sa["seq"], 1), "the ACK returns cookie + 1"
    mine = [e for e in state_events(ev, "server") if ip(e["remote"]) == CLIENT_IP]
    assert [(e["from"], e["to"]) for e in mine][:2] == [("LISTEN", "SYN_RECEIVED"),
                                                       ("SYN_RECEIVED", "ESTABLISHED")]
    arrival = [d for d in deliveries(ev) if d["seq"] == ack["seq"] and d["flags"] == ["ACK"]]
    assert mine[0]["t"] == arrival[0]["t"] > sa["t"], "no state until the cookie comes back"
    assert res.facts["cookies_sent"] == 1 and res.facts["cookies_accepted"] == 1
    assert res.facts["response"] == RESPONSE


# ------------------------------------------------------------------- backlog-full
def test_backlog_full_until_accept():
    ev = events("backlog-full")
    res = run("backlog-full")
    ports = []
    for e in sends(ev, src=CLIENT_IP, flags=["SYN"]):
        if e["src"] not in ports:
            ports.append(e["src"])
    assert len(ports) == 2
    a, b = ports
    b_syns = [e for e in sends(ev, flags=["SYN"]) if e["src"] == b]
    b_sa = [e for e in sends(ev, src=SERVER_IP, flags=["SYN", "ACK"]) if e["dst"] == b]
    assert len(b_syns) == 3 and [round(e["t"], 6) for e in b_syns] == [0.5, 1.5, 3.5]
    assert len(b_sa) == 1 and b_sa[0]["t"] == pytest.approx(3.51), \
        "B is answered only after accept() at t=2 made room"
    assert res.facts["b_established_at"] == pytest.approx(3.53)   # the server side, one trip later
    assert res.facts["accepted"] is not None


# -------------------------------------------------------------------- zero-window
def test_zero_window_persist_probes():
    ev = events("zero-window")
    res = run("zero-window")
    zero = [e for e in sends(ev, src=SERVER_IP) if e["win"] == 0 and "ACK" in e["flags"]]
    assert zero, "the receiver advertises a zero window"
    first_zero = zero[0]
    edge = first_zero["ack"]
    probes = [e for e in sends(ev, src=CLIENT_IP) if e["t"] > first_zero["t"] and e["t"] < 6.0]
    assert len(probes) >= 2
    assert all(p["seq"] == edge and p["len"] == 1 for p in probes), "one byte past the window"
    gaps = [round(b["t"] - a["t"], 6) for a, b in zip(probes, probes[1:])]
    assert all(g2 == pytest.approx(2 * g1) for g1, g2 in zip(gaps, gaps[1:])) and gaps
    answers = [e for e in sends(ev, src=SERVER_IP) if first_zero["t"] < e["t"] < 6.0]
    assert answers and all(e["win"] == 0 and e["ack"] == edge for e in answers)
    update = [e for e in sends(ev, src=SERVER_IP) if e["t"] >= 6.0][0]
    assert update["win"] > 0 and update["ack"] == edge, "a window update opens it again"
    assert res.facts["received"] == bytes(range(256)) * 32


def test_zero_window_no_hole_after_reopening():
    ev = events("zero-window")
    zero = [e for e in sends(ev, src=SERVER_IP) if e["win"] == 0 and "ACK" in e["flags"]]
    edge = zero[0]["ack"]
    resumed = [e for e in sends(ev, src=CLIENT_IP) if e["t"] >= 6.0 and e["len"]]
    assert resumed[0]["seq"] == edge, "after the window opens, sending resumes at SND.UNA"
    assert not [e for e in ev if e["type"] == "timer" and e["timer"] == "RTO"]


# ---------------------------------------------------------------------- keepalive
def test_keepalive():
    ev = events("keepalive")
    res = run("keepalive")
    before = [e for e in sends(ev) if e["t"] < 1000]
    probes = [e for e in sends(ev, src=CLIENT_IP) if e["t"] > 1000]
    assert len(probes) == 10, "one answered probe, then 9 unanswered ones"
    last_client = [e for e in before if ip(e["src"]) == CLIENT_IP][-1]
    for p in probes:
        assert p["flags"] == ["ACK"] and p["len"] == 0
        assert p["seq"] == plus(last_client["seq"], -1), "seq = SND.NXT - 1"
    assert probes[0]["t"] >= 7200.0
    answer = [e for e in sends(ev, src=SERVER_IP) if e["t"] > 1000]
    assert len(answer) == 1 and answer[0]["t"] == pytest.approx(probes[0]["t"] + 0.010)
    assert probes[1]["t"] - answer[0]["t"] == pytest.approx(7200.0, abs=0.05)
    gaps = [round(b["t"] - a["t"], 6) for a, b in zip(probes[1:], probes[2:])]
    assert gaps == [75.0] * 8
    assert [e["detail"] for e in app(ev, "client", "error")] == ["ETIMEDOUT"]
    assert res.facts["error"] == "ETIMEDOUT"
    assert res.facts["closed_at"] - probes[-1]["t"] == pytest.approx(75.0)


# --------------------------------------------------------------------------- loss
def test_loss_transfer_survives():
    ev = events("loss")
    res = run("loss")
    assert res.facts["received"] == res.facts["sent"]
    lost = [d for d in drops(ev) if d["reason"] == "loss"]
    assert lost, "5% loss drops something"
    data = [e for e in sends(ev, src=CLIENT_IP) if e["len"]]
    seqs = [e["seq"] for e in data]
    assert len(seqs) > len(set(seqs)), "lost data is retransmitted (same seq again)"
    for d in lost:
        if d["len"] and ip(d["src"]) == CLIENT_IP:
            assert any(e["seq"] == d["seq"] and e["t"] > d["t"] for e in data)
    check_close(ev)


def test_loss_option_overrides():
    ev = events("lifecycle", loss=0.3, seed=3)
    assert drops(ev)
    assert transitions(ev, "server")[-1] == ("LAST_ACK", "CLOSED")


def test_every_state_change_is_in_the_table():
    for name in names():
        for e in events(name):
            if e["type"] == "state":
                assert (State(e["from"]), State(e["to"])) in TRANSITIONS
