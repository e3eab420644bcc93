"""`synack explain CAPTURE`: captures of synack's own scenarios explained back, link
layers and file formats, and bad files (one clear line or a counted skip, never a
traceback). The kernel's own captures are in tests/test_capture_kernel.py."""
from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synack.capture import CaptureError, Stats, analyse, read_capture
from synack.capture.report import ladder
from synack.cli import main
from synack.pcap import PcapWriter
from synack.scenarios import Options, all_scenarios
from synack.engine.segment import ACK, FIN, PSH, SYN, Options as TcpOptions, Segment
from synack.sim import Network
from synack.wire import encode_ip

#: causes no segment reveals: a capture cannot show them (the timers, the listener's
#: passive OPEN, a CLOSE in a state that sends nothing)
INVISIBLE = ("timeout", "exhausted", "passive OPEN")


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(list(argv))
        except SystemExit as e:         # argparse
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def scenario_run(name, path):
    sc = next(s for s in all_scenarios() if s.name == name)
    w = PcapWriter(path)
    try:
        res = sc.run(Options(pcap=w))
    finally:
        w.close()
    return res


def scenario_capture(name, path):
    return list(scenario_run(name, path).trace.to_dicts())


#: the analysis tags the scenarios' ladders put on segments (synack.viz.model)
TAGS = ("rexmit", "zero window", "window probe", "keep-alive", "dup ACK", "window update")


def per_side(transitions):
    out: dict[str, list] = {}
    for local, remote, frm, to in transitions:
        out.setdefault(f"{local}>{remote}", []).append((frm, to))
    return out


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", [s.name for s in all_scenarios()])
def test_scenario_capture_gives_back_its_states(name, tmp_path):
    """Every scenario's pcap, explained, gives each TCP endpoint the state changes the
    simulator traced, in order, except those no segment shows (timers, LISTEN).
    Endpoints that only ever sent injected segments (spoofed SYNs) have no TCP."""
    path = tmp_path / f"{name}.pcap"
    res = scenario_run(name, path)
    trace = list(res.trace.to_dicts())
    sent: dict[str, set] = {}
    for e in trace:
        if e["type"] == "segment" and e["event"] == "send":
            sent.setdefault(e["src"], set()).add(e.get("note") == "injected")
    no_tcp = {ep for ep, v in sent.items() if v == {True}}
    expected = per_side((e["local"], e["remote"], e["from"], e["to"]) for e in trace
                        if e["type"] == "state" and e["remote"] != "*:*"
                        and not any(w in e["cause"] for w in INVISIBLE)
                        and e["cause"] != "CLOSE")
    conns, stats = analyse(path, detail=True)
    assert stats.tcp == stats.frames > 0 and not stats.skipped
    got = per_side((ep, c.b.ep if ep == c.a.ep else c.a.ep, frm, to)
                   for c in conns for _, ep, frm, to, _ in c.transitions if ep not in no_tcp)
    assert got == expected
    # the ladder of every connection draws, and its state columns end where the table does
    for c in conns:
        lad = ladder(c)
        segs = lad.segments()
        assert len(segs) == c.packets
        last = lad.rows[-1].states
        assert last == [c.a.shown(), c.b.shown()] or c.a.ep in no_tcp or c.b.ep in no_tcp
    # the events: the capture's ladders carry the tags the simulator's ladder has
    # (retransmissions, zero windows, probes, keep-alives, dup ACKs, window updates),
    # segment for segment; and a segment the capture says was lost really was
    sim = res.ladder(explain=False)
    want = sorted((r.src, round(r.t, 6), t) for r in sim.segments() for t in r.tags if t in TAGS)
    lost = {(r.src, r.seq, r.ack, round(r.t, 6)) for r in sim.segments() if r.lost}
    got, said_lost = [], set()
    for c in conns:
        for r in ladder(c, explain=False).segments():
            t = round(r.t + c.first_t, 6)
            got += [(r.src, t, tag) for tag in r.tags if tag in TAGS]
            if r.lost:
                said_lost.add((r.src, r.seq, r.ack, t))
    assert sorted(got) == want
    assert said_lost <= lost


def test_lifecycle_summary_and_formats(tmp_path):
    path = tmp_path / "l.pcap"
    scenario_capture("lifecycle", path)
    rc, out, err = run("explain", str(path))
    assert rc == 0 and err == ""
    row = [ln for ln in out.splitlines() if ln.startswith("1 ")][0]
    assert "10.0.0.1:55233" in row and "10.0.0.2:80" in row
    assert "33 B" in row and "44 B" in row and "TIME_WAIT / CLOSED" in row
    assert "closed: FIN both ways (client first)" in row
    rc, out, _ = run("explain", str(path), "--format", "json")
    d = json.loads(out.splitlines()[0])
    assert d["bytes"] == {"client": 33, "server": 44}
    assert d["states"] == {"client": "TIME_WAIT", "server": "CLOSED"}
    rc, out, _ = run("explain", str(path), "--conn", "1", "--color", "never")
    assert rc == 0
    assert "SYN seq=0 len=0" in out and "SYN,ACK seq=0 ack=1" in out
    assert "FIN_WAIT_1 → FIN_WAIT_2 (rcv ACK of FIN)" in out
    rc, out, _ = run("explain", str(path), "--conn", "1", "--format", "json")
    events = [json.loads(ln) for ln in out.splitlines()]
    assert [e["to"] for e in events if e["type"] == "state"] == [
        "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "ESTABLISHED", "FIN_WAIT_1", "CLOSE_WAIT",
        "FIN_WAIT_2", "LAST_ACK", "TIME_WAIT", "CLOSED"]
    rc, out, _ = run("explain", str(path), "--conn", "1", "--format", "mermaid")
    assert rc == 0 and out.startswith("sequenceDiagram")
    rc, out, _ = run("explain", str(path), "--conn", "1", "--format", "svg")
    assert rc == 0 and out.lstrip().startswith("<svg") and "TIME_WAIT" in out
    rc, out, err = run("explain", str(path), "--conn", "7")
    assert rc == 2 and err.startswith("synack: error:") and "no connection 7" in err


def test_lost_final_ack_is_drawn_lost_and_time_wait_answers(tmp_path):
    """The server repeats its FIN after the client's ACK: that ACK never arrived. The
    server's LAST_ACK -> CLOSED moves to the second ACK, and the first is drawn lost."""
    path = tmp_path / "lfa.pcap"
    scenario_capture("lost-final-ack", path)
    conns, _ = analyse(path, detail=True)
    c = conns[0]
    lad = ladder(c)
    acks = [r for r in lad.segments() if r.flags == ("ACK",) and r.rack == 46]
    assert len(acks) == 2 and acks[0].lost and not acks[1].lost
    assert "FIN in TIME_WAIT" in acks[1].tags
    closed = [r for r in lad.rows if r.changed_to("right", "LAST_ACK", "CLOSED")]
    assert len(closed) == 1 and closed[0].t > acks[1].t - 1e-9
    assert c.tw_fin_answered == 1


def test_syn_backoff_and_flood_are_named(tmp_path):
    path = tmp_path / "ls.pcap"
    scenario_capture("lost-syn", path)
    conns, _ = analyse(path, detail=True)
    texts = [t for ts in conns[0].explain.values() for t in ts]
    assert any("backing off" in t for t in texts), texts
    assert conns[0].a.syn_rexmits == 3
    path = tmp_path / "flood.pcap"
    scenario_capture("syn-flood", path)
    conns, _ = analyse(path)
    flood = [c for c in conns if c.flood]
    assert len(flood) == 4 and all(c.b.ep == "10.0.0.2:80" for c in flood)
    assert all(c.ended.startswith("handshake not completed") for c in flood)
    assert conns[-1].ended.startswith("no answer")


def test_reuse_of_a_four_tuple_is_a_new_connection(tmp_path):
    path = tmp_path / "tw.pcap"
    scenario_capture("time-wait-old-duplicate", path)
    conns, _ = analyse(path)
    assert len(conns) == 2
    assert conns[0].a.ep == conns[1].a.ep and conns[0].b.ep == conns[1].b.ep
    assert conns[1].reused and conns[0].a.isn != conns[1].a.isn
    assert conns[1].transitions[0][2:4] == ("CLOSED", "SYN_SENT")


def test_zero_window_probes_and_keepalives(tmp_path):
    path = tmp_path / "zw.pcap"
    scenario_capture("zero-window", path)
    c = analyse(path)[0][0]
    assert c.b.zero_windows >= 1 and c.a.probes >= 2 and c.a.keepalives == 0
    path = tmp_path / "ka.pcap"
    scenario_capture("keepalive", path)
    c = analyse(path)[0][0]
    assert c.a.keepalives >= 3 and "keep-alive probes from client unanswered" in c.ended


def test_mid_connection_capture_says_unknown(tmp_path):
    """A capture that starts after the handshake: states unknown, not guessed."""
    full = tmp_path / "full.pcap"
    scenario_capture("lifecycle", full)
    from synack.pcap import read_pcap
    recs = read_pcap(full)
    cut = tmp_path / "cut.pcap"
    with PcapWriter(cut) as w:
        for t, pkt in recs[3:5]:          # the two data segments only
            w.write(t, pkt)
    conns, _ = analyse(cut, detail=True)
    c = conns[0]
    assert not c.handshake_seen and c.a.shown() == c.b.shown() == "unknown"
    assert c.transitions == []
    rc, out, _ = run("explain", str(cut))
    assert "unknown / unknown" in out and "1?" in out
    rc, out, _ = run("explain", str(cut), "--conn", "1", "--color", "never")
    assert "unknown" in out.split("\n", 12)[-1]


# ------------------------------------------------------------ link layers, formats
def _frames(ipv6=False):
    """A handshake and a FIN exchange as IP packets."""
    a, b = ("2001:db8::1", "2001:db8::2") if ipv6 else ("192.0.2.1", "192.0.2.2")
    segs = [(a, b, Segment(40000, 80, 1000, 0, SYN, 65535, options=TcpOptions(mss=1460))),
            (b, a, Segment(80, 40000, 5000, 1001, SYN | ACK, 65535)),
            (a, b, Segment(40000, 80, 1001, 5001, ACK, 65535)),
            (a, b, Segment(40000, 80, 1001, 5001, PSH | ACK, 65535, payload=b"hello")),
            (b, a, Segment(80, 40000, 5001, 1006, FIN | ACK, 65535)),
            (a, b, Segment(40000, 80, 1006, 5002, FIN | ACK, 65535)),
            (b, a, Segment(80, 40000, 5002, 1007, ACK, 65535))]
    return [encode_ip(s, d, seg) for s, d, seg in segs]


def _ethertype(pkt):
    return b"\x86\xdd" if pkt[0] >> 4 == 6 else b"\x08\x00"


LINKS = {
    "ethernet": (1, lambda p: bytes(6) + bytes(5) + b"\x01" + _ethertype(p) + p),
    "vlan": (1, lambda p: bytes(12) + b"\x81\x00\x00\x05" + _ethertype(p) + p),
    "qinq": (1, lambda p: bytes(12) + b"\x88\xa8\x00\x07\x81\x00\x00\x05" + _ethertype(p) + p),
    "sll": (113, lambda p: b"\x00\x00\x00\x01\x00\x06" + bytes(8) + _ethertype(p) + p),
    "sll2": (276, lambda p: _ethertype(p) + b"\x00\x00" + b"\x00\x00\x00\x02" + b"\x00\x01"
             + b"\x00\x06" + bytes(8) + p),
    "raw": (101, lambda p: p),
    "ipv4": (228, lambda p: p),
    "null": (0, lambda p: struct.pack("<I", 10 if p[0] >> 4 == 6 else 2) + p),
}


@pytest.mark.parametrize("ipv6", [False, True], ids=["v4", "v6"])
@pytest.mark.parametrize("link", sorted(LINKS))
def test_link_layers(link, ipv6, tmp_path):
    if link == "ipv4" and ipv6:
        link_type, wrap = 229, LINKS["raw"][1]
    else:
        link_type, wrap = LINKS[link]
    path = tmp_path / "l.pcap"
    with PcapWriter(path, linktype=link_type) as w:
        for i, p in enumerate(_frames(ipv6)):
            w.write(1.0 + i / 100, wrap(p))
    conns, stats = analyse(path)
    assert stats.tcp == 7 and not stats.skipped
    c = conns[0]
    assert (c.a.shown(), c.b.shown()) == ("CLOSED", "TIME_WAIT")     # the server closed first
    assert c.ended == "closed: FIN both ways (server first)" and c.a.bytes == 5
    if ipv6:
        assert c.a.ep == "[2001:db8::1]:40000"
        rc, out, _ = run("explain", str(path), "--conn", "1", "--color", "never")
        assert "[2001:db8::2]:80" in out


def test_pcapng_written_by_editcap(tmp_path):
    if shutil.which("editcap") is None:
        pytest.fail("editcap (Debian's wireshark-common, with tshark) is needed", pytrace=False)
    path = tmp_path / "l.pcap"
    scenario_capture("lifecycle", path)
    ng = tmp_path / "l.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(path), str(ng)], check=True)
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    conns, stats = analyse(ng)
    assert stats.fmt == "pcapng" and stats.tcp == 9
    assert (conns[0].a.shown(), conns[0].b.shown()) == ("TIME_WAIT", "CLOSED")


def test_short_snaplen_keeps_headers_and_counts_cut_ones(tmp_path):
    """Cut after the TCP header: still read, lengths from the IP header. Cut inside
    the headers: a counted skip."""
    frames = _frames()
    path = tmp_path / "s.pcap"
    with PcapWriter(path, snaplen=40) as w:     # 20 IP + 20 TCP: the MSS option is cut
        for i, p in enumerate(frames):
            w.write(i, p)
    conns, stats = analyse(path)
    assert stats.skipped == {"TCP header cut off (snap length)": 1}   # the SYN had options
    assert conns[0].a.bytes == 5           # the payload was cut, its length was not
    path = tmp_path / "s2.pcap"
    with PcapWriter(path, snaplen=30) as w:
        for i, p in enumerate(frames):
            w.write(i, p)
    rc, out, err = run("explain", str(path))
    assert rc == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("synack: error:") and "no TCP segments" in err
    assert "7 TCP header cut off (snap length)" in err


# ------------------------------------------------------------------ bad files
def _one_error_line(path, rc_want=None):
    rc, out, err = run("explain", str(path))
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("synack: error:"), err
    assert rc != 0 if rc_want is None else rc == rc_want
    return lines[0]


def test_bad_files(tmp_path):
    good = tmp_path / "g.pcap"
    scenario_capture("lifecycle", good)
    raw = good.read_bytes()
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"this is not a capture at all\n" * 10)
    assert "not a pcap or pcapng file" in _one_error_line(garbage)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    _one_error_line(empty)
    head = tmp_path / "head.pcap"
    head.write_bytes(raw[:10])                 # the file header cut off
    assert "cut off" in _one_error_line(head)
    assert "cannot open" in _one_error_line(tmp_path / "missing.pcap")
    # no TCP: UDP and ARP frames
    udp = tmp_path / "udp.pcap"
    with PcapWriter(udp, linktype=1) as w:
        w.write(0, bytes(12) + b"\x08\x06" + bytes(28))
        ip = bytearray(encode_ip("192.0.2.1", "192.0.2.2", Segment(1, 2, 3)))
        ip[9] = 17
        w.write(1, bytes(12) + b"\x08\x00" + bytes(ip))
    line = _one_error_line(udp, 1)
    assert "no TCP segments" in line and "1 not IP" in line and "1 not TCP" in line
    # a record cut in the middle: a warning, and the whole records before it
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:-7])
    rc, out, err = run("explain", str(cut))
    assert rc == 0 and err.startswith("synack: warning:") and len(err.splitlines()) == 1
    assert "8 TCP segments" in out


def test_garbage_pcapng(tmp_path):
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + b"\xff" * 40)
    _one_error_line(bad)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 2000), junk=st.binary(max_size=300), pos=st.integers(0, 2000))
def test_damaged_captures_never_raise(tmp_path_factory, cut, junk, pos):
    """Random damage (truncation, overwritten bytes): the reader ends cleanly or says
    CaptureError; the tracker never fails."""
    d = tmp_path_factory.mktemp("dmg")
    good = d / "g.pcap"
    net = Network(seed=1, pcap=PcapWriter(good))
    c, s = net.add_host("10.0.0.1"), net.add_host("10.0.0.2")
    net.link(c, s, delay=0.01)
    s.listen(80)
    conn = c.connect("10.0.0.2", 80)
    net.run(until=1)
    conn.send(b"x" * 3000)
    conn.close()
    net.run(until=200)
    net.pcap.close()
    raw = bytearray(good.read_bytes()[:cut or None])
    raw[pos:pos + len(junk)] = junk
    bad = d / "b.pcap"
    bad.write_bytes(bytes(raw))
    stats = Stats()
    from synack.capture import Tracker
    from synack.viz.svg import render_svg
    from synack.viz.text import render_text
    try:
        conns = Tracker(detail=True).run(read_capture(bad, stats))
    except CaptureError:
        return
    for c in conns:                      # and every connection draws
        lad = ladder(c)
        render_text(lad)
        render_svg(lad)


def test_duplicates_reordering_and_unseen_data(tmp_path):
    """A segment captured twice 100 µs apart (duplicate), two segments swapped
    (a hole, then out-of-order), and an ACK for data the capture never saw."""
    a, b = "192.0.2.1", "192.0.2.2"
    x, y = 1000, 5000

    def d(seq, n):
        return encode_ip(a, b, Segment(40000, 80, seq, y + 1, PSH | ACK, 65535, payload=b"d" * n))

    def k(ack):
        return encode_ip(b, a, Segment(80, 40000, y + 1, ack, ACK, 65535))
    pkts = [(0.0, encode_ip(a, b, Segment(40000, 80, x, 0, SYN, 65535))),
            (0.010, encode_ip(b, a, Segment(80, 40000, y, x + 1, SYN | ACK, 65535))),
            (0.020, encode_ip(a, b, Segment(40000, 80, x + 1, y + 1, ACK, 65535))),
            (0.030, d(x + 1, 100)),
            (0.0301, d(x + 1, 100)),                   # the same again: a duplicate
            (0.040, d(x + 201, 100)),                  # x+101.. is missing: a hole
            (0.0402, d(x + 101, 100)),                 # and here it is, 200 µs later
            (0.050, k(x + 301)),
            (0.060, d(x + 401, 100)),                  # x+301..x+400 never captured
            (0.070, k(x + 501))]
    path = tmp_path / "dup.pcap"
    with PcapWriter(path) as w:
        for t, p in pkts:
            w.write(t, p)
    conns, _ = analyse(path, detail=True)
    c = conns[0]
    lad = ladder(c)
    segs = lad.segments()
    assert "duplicate" in segs[4].tags and c.a.dups == 1
    assert "previous segment not seen" in segs[5].tags
    assert "out-of-order" in segs[6].tags and c.a.ooo == 1
    assert "previous segment not seen" in segs[8].tags
    assert c.a.rexmits == 0 and c.a.bytes == 500
    # the data after the gap at x+301 is acknowledged, the gap itself was never seen
    assert c.a.unseen == 0 and "out-of-order" not in segs[9].tags
    pkts.append((0.080, k(x + 1001)))                  # acknowledges 500 octets never seen
    with PcapWriter(path) as w:
        for t, p in pkts:
            w.write(t, p)
    c = analyse(path, detail=True)[0][0]
    assert c.a.unseen == 500 and "ACKed unseen" in c.tags[11]


def test_pcapng_with_interfaces_of_different_link_types(tmp_path):
    """mergecap puts an Ethernet capture and a raw-IP one in one pcapng file, one
    interface each: every packet is read with its own interface's link type."""
    if shutil.which("mergecap") is None:
        pytest.fail("mergecap (Debian's wireshark-common, with tshark) is needed", pytrace=False)
    eth, raw = tmp_path / "eth.pcap", tmp_path / "raw.pcap"
    with PcapWriter(eth, linktype=1) as w:
        for i, p in enumerate(_frames()):
            w.write(1.0 + i / 100, LINKS["ethernet"][1](p))
    with PcapWriter(raw, linktype=101) as w:
        for i, p in enumerate(_frames(ipv6=True)):
            w.write(2.0 + i / 100, p)
    ng = tmp_path / "both.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(ng), str(eth), str(raw)], check=True)
    conns, stats = analyse(ng)
    assert stats.fmt == "pcapng" and stats.tcp == 14 and not stats.skipped
    assert [c.a.ep for c in conns] == ["192.0.2.1:40000", "[2001:db8::1]:40000"]
    assert all((c.a.shown(), c.b.shown()) == ("CLOSED", "TIME_WAIT") for c in conns)
    assert round(conns[1].first_t - conns[0].first_t, 6) == 1.0
