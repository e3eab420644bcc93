"""`synack explore`'s server without a browser: the runs it makes (the same
as the CLI's, deterministic, edited as asked), the TCBs and segment bytes it
reports, its exports, and a clear 4xx for every kind of bad input (with the
server still serving afterwards). The page itself: tests/test_explore_browser.py."""
import json
import subprocess
import sys

import pytest


try:
    from starlette.testclient import TestClient
except ImportError as exc:          # the test extra includes the explore extra
    raise RuntimeError(f"the explorer's tests need the explore extra: {exc}") from None

from synack.cli import main
from synack.explore.runs import execute, normalize
from synack.explore.server import Runs, create_app
from synack.pcap import read_pcap
from synack.scenarios import Options, get, names
from synack.wire import decode_ip


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Runs()), base_url="http://127.0.0.1:8357",
                    raise_server_exceptions=False) as c:
        yield c


def run(client, spec, status=200):
    r = client.post("/api/run", json={"spec": spec})
    assert r.status_code == status, r.text
    return r.json()


def segment_rows(data):
    return [r for r in data["rows"] if r["kind"] == "segment"]


# ------------------------------------------------------------------ the runs
@pytest.mark.parametrize("name", names())
def test_a_scenario_run_is_the_cli_run(client, name):
    """No edits: the explorer's trace is exactly `synack run NAME --format json`'s."""
    r = client.post("/api/export/json", json={"spec": {"scenario": name}})
    assert r.status_code == 200
    lines = r.text.splitlines()
    meta = json.loads(lines[0])
    assert meta["type"] == "meta" and meta["run"]["scenario"] == name
    expected = get(name).run(Options()).trace.to_jsonl().splitlines()
    assert [json.loads(x) for x in lines[1:]] == [json.loads(x) for x in expected]


def test_same_spec_same_run_and_edits_change_it(client):
    a = run(client, {"scenario": "lifecycle", "edits": ["drop:8"]})
    b = run(client, {"scenario": "lifecycle", "seed": "1", "edits": [{"op": "drop", "seg": 8}]})
    assert a["spec"] == b["spec"] and a["rows"] == b["rows"]
    plain = run(client, {"scenario": "lifecycle"})
    assert plain["rows"] != a["rows"]
    # computed afresh (not from the cache): the same rows again
    fresh = execute(normalize({"scenario": "lifecycle", "edits": ["drop:8"]}))
    assert fresh.rows == a["rows"]


def final_ack_story(rows):
    """The lost final ACK's story (RFC 9293 §3.10.7.4, TIME-WAIT): the client's
    last ACK lost, the server's FIN retransmitted from LAST_ACK, the client in
    TIME_WAIT acknowledging it again. Returns the index of the retransmitted FIN."""
    segs = [(i, r) for i, r in enumerate(rows) if r["kind"] == "segment"]
    lost = [i for i, r in segs if r["side"] == "left" and r["flags"] == ["ACK"] and r["lost"]]
    assert len(lost) == 1
    rexmit = [i for i, r in segs if i > lost[0] and r["side"] == "right"
              and r["flags"] == ["FIN", "ACK"] and "rexmit" in r["tags"]]
    assert rexmit, "the server retransmits its FIN"
    answer = [i for i, r in segs if i > rexmit[0] and r["side"] == "left"]
    assert rows[answer[0]]["flags"] == ["ACK"] and not rows[answer[0]]["lost"]
    assert rows[answer[0]]["states"][0] == "TIME_WAIT"
    assert rows[rexmit[0]]["states"] == ["TIME_WAIT", "LAST_ACK"]
    return rexmit[0]


def test_dropping_lifecycles_final_ack_tells_lost_final_acks_story(client):
    data = run(client, {"scenario": "lifecycle"})
    last_ack = segment_rows(data)[-1]
    assert last_ack["flags"] == ["ACK"] and last_ack["side"] == "left"
    edited = run(client, {"scenario": "lifecycle", "edits": [f"drop:{last_ack['seg']}"]})
    i = final_ack_story(edited["rows"])
    final_ack_story(run(client, {"scenario": "lost-final-ack"})["rows"])
    # the TCBs at the retransmitted FIN: the server in LAST_ACK with its RTO armed,
    # the client's TIME-WAIT entry with its 2*MSL timer
    m = client.post("/api/moment", json={"spec": edited["spec"], "row": i}).json()
    server = [c for c in m["tcb"]["server"] if c["kind"] == "connection"][0]
    client_tw = [c for c in m["tcb"]["client"] if c["kind"] == "connection"][0]
    assert server["state"] == "LAST_ACK" and "RTO" in server["timers"]
    assert server["snd_nxt"] == (server["snd_una"] + 1) % 2**32      # the FIN, unacknowledged
    assert client_tw["state"] == "TIME_WAIT" and "TIME_WAIT 2MSL" in client_tw["timers"]
    assert client_tw["rcv_nxt"] == server["snd_nxt"]                  # it has the FIN


def test_segment_bytes_decode_to_the_row(client):
    data = run(client, {"scenario": "handshake", "all_options": True})
    for r in segment_rows(data):
        m = client.post("/api/moment", json={"spec": data["spec"], "row": data["rows"].index(r)}).json()
        src, dst, seg = decode_ip(bytes.fromhex(m["segment"]["hex"]))
        assert (seg.seq, seg.ack, seg.window) == (r["seq"], r["ack"], r["win"])
        assert m["segment"]["fields"]["sequence number"] == r["seq"]
        assert src == r["src"].rsplit(":", 1)[0]


def test_other_edits(client):
    base = run(client, {"scenario": "lifecycle"})
    k = segment_rows(base)[-1]["seg"]
    dup = run(client, {"scenario": "lifecycle", "edits": [f"duplicate:{k}"]})
    assert len(segment_rows(dup)) > len(segment_rows(base))
    assert any("injected" in r["tags"] and r["flags"] == ["ACK"] for r in segment_rows(dup))
    bad = run(client, {"scenario": "lifecycle", "edits": [f"corrupt:{k}"]})
    lost = [r for r in segment_rows(bad) if r["lost"]]
    assert lost and lost[0]["reason"] == "corrupted (checksum)"
    final_ack_story(bad["rows"])
    late = run(client, {"scenario": "lifecycle", "edits": [f"delay:{k}:2"]})
    assert any(r["kind"] == "arrival" for r in late["rows"])
    # a RST injected into the server's connection while it is established
    rst = run(client, {"scenario": "lifecycle", "edits": ["rst:server:0.035"]})
    assert any(r["flags"] == ["RST"] and "injected" in r["tags"] for r in segment_rows(rst))
    assert any(t[2] == "CLOSED" and "RST" in (t[3] or "") for r in rst["rows"]
               for t in r.get("transitions", []))
    # a SYN into the established connection: a challenge ACK (RFC 5961 §4.2), no reset
    syn = run(client, {"scenario": "lifecycle", "edits": ["syn:server:0.035"]})
    rows = segment_rows(syn)
    i = next(k for k, r in enumerate(rows) if r["flags"] == ["SYN"] and "injected" in r["tags"])
    assert rows[i + 1]["side"] == "right" and rows[i + 1]["flags"] == ["ACK"]
    assert rows[i + 1]["t"] == rows[i]["t"] and rows[i + 1]["states"][1] == "ESTABLISHED"


def test_a_composed_run(client):
    spec = {"scenario": "custom", "custom": {
        "link": {"delay": 0.02, "loss": 0.0},
        "options": {"syn_cookies": "off", "backlog": 2, "nagle": False},
        "actions": [{"t": 0, "who": "server", "do": "listen"},
                    {"t": 0, "who": "attacker", "do": "flood", "count": 2},
                    {"t": 0.1, "who": "client", "do": "connect"},
                    {"t": 0.5, "who": "client", "do": "send", "bytes": 5000},
                    {"t": 40, "who": "client", "do": "close"}],
        "until": 60}}
    data = run(client, spec)
    segs = segment_rows(data)
    assert sum(1 for r in segs if "injected" in r["tags"]) == 2
    client_syns = [r for r in segs if r["flags"] == ["SYN"] and "injected" not in r["tags"]]
    assert len(client_syns) > 1          # the queue is full: the client's SYN is retried
    assert data["meta"]["name"] == "custom"


# ------------------------------------------------------------------ exports
def test_exports(client, tmp_path):
    spec = {"scenario": "lost-final-ack"}
    data = run(client, spec)
    pcap = client.post("/api/export/pcap", json={"spec": spec})
    assert pcap.status_code == 200
    p = tmp_path / "x.pcap"
    p.write_bytes(pcap.content)
    pkts = read_pcap(p)
    assert len(pkts) == data["segments"]
    assert [decode_ip(b)[2].seq for _, b in pkts] == [r["seq"] for r in segment_rows(data)]
    svg = client.post("/api/export/svg", json={"spec": spec})
    assert svg.text.startswith("<svg") and "TIME_WAIT" in svg.text
    mm = client.post("/api/export/mermaid", json={"spec": spec})
    assert mm.text.lstrip().startswith(("sequenceDiagram", "---", "%%"))
    # the JSON export loads again, with the same rows
    js = client.post("/api/export/json", json={"spec": spec}).text
    loaded = client.post("/api/load", content=js.encode()).json()
    assert [r["flags"] if "flags" in r else r["kind"] for r in loaded["rows"]] == \
           [r["flags"] if "flags" in r else r["kind"] for r in data["rows"]]
    m = client.post("/api/moment", json={"trace": loaded["trace"], "row": 1}).json()
    assert m["engine"] is False and m["tcb"] is None and m["segment"]["fields"]


def test_a_cli_trace_loads(client):
    text = get("syn-flood").run(Options()).trace.to_jsonl()
    data = client.post("/api/load", content=text.encode()).json()
    assert data["segments"] == text.count('"event": "send"')


# -------------------------------------------------------------- bad input: 4xx
BAD_SPECS = [
    ({"scenario": "no-such-thing"}, "no scenario 'no-such-thing'"),
    ({"scenario": "lifecycle", "loss": 5}, "loss: 5 is out of range"),
    ({"scenario": "lifecycle", "loss": "lots"}, "loss: 'lots' is not a number"),
    ({"scenario": "lifecycle", "delay": -1}, "delay: -1 is out of range"),
    ({"scenario": "lifecycle", "seed": 1.5}, "seed: 1.5 is not a whole number"),
    ({"scenario": "lifecycle", "profile": "bsd"}, "profile: 'bsd' is not one of"),
    ({"scenario": "lifecycle", "msl": "nan"}, "msl: nan is not a finite number"),
    ({"scenario": "lifecycle", "colour": "red"}, "unknown field(s): colour"),
    ({"scenario": "lifecycle", "edits": ["explode:3"]}, "edit 'explode:3'"),
    ({"scenario": "lifecycle", "edits": [{"op": "drop"}]}, "edit 1: seg"),
    ({"scenario": "lifecycle", "edits": ["rst:router:1"]}, "to: 'router' is not one of"),
    ({"scenario": "lifecycle", "edits": "drop:1"}, "edits: a list is expected"),
    ({"scenario": "lifecycle", "edits": ["drop:99"]}, "edit drop:99: the run has no segment #99 "
                                                      "(it has 9, #0 to #8)"),
    ({"scenario": "custom", "custom": {"link": {"loss": 2}}}, "link.loss: 2 is out of range"),
    ({"scenario": "custom", "custom": {"actions": [{"t": 0, "who": "client", "do": "fly"}]}},
     "action 1: do: 'fly' is not one of"),
    ({"scenario": "custom", "custom": {"actions": [{"t": 0, "who": "client", "do": "send",
                                                   "bytes": 10**12}]}}, "bytes"),
    ({"scenario": "custom", "custom": {"options": {"backlog": 0}}}, "options.backlog: 0 is out"),
    ({"scenario": "custom", "custom": {"actions": [{"t": 0, "who": "client", "do": "flood"}]}},
     "only the attacker floods"),
    ({"scenario": "lifecycle", "custom": {}}, "custom: only with"),
    ({"scenario": "custom", "loss": 0.1}, "set custom.link's loss and delay"),
    ("lifecycle", "a run is described by a JSON object"),
]


@pytest.mark.parametrize("spec,message", BAD_SPECS)
def test_a_bad_spec_is_a_400_with_a_message(client, spec, message):
    r = client.post("/api/run", json={"spec": spec})
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert "Traceback" not in r.text


def test_other_bad_requests(client):
    cases = [
        (client.post("/api/run", content=b"{not json"), 400, "not JSON"),
        (client.post("/api/run", content=b"[1, 2]"), 400, "JSON object"),
        (client.post("/api/run", content=b"{\"spec\": {\"delay\": NaN}}"), 400, "not a finite number"),
        (client.post("/api/run", json={}), 400, "give \"spec\""),
        (client.post("/api/moment", json={"spec": {"scenario": "handshake"}, "row": 999}), 400,
         "row 999 is out of range"),
        (client.post("/api/moment", json={"spec": {"scenario": "handshake"}, "row": "x"}), 400,
         "whole number"),
        (client.post("/api/moment", json={"trace": "0123", "row": 0}), 404, "load the file again"),
        (client.post("/api/export/docx", json={"spec": {"scenario": "handshake"}}), 404,
         "no export format 'docx'"),
        (client.get("/api/nothing"), 404, "not found"),
        (client.get("/api/run"), 405, "method not allowed"),
        (client.post("/api/load", content=b"\xff\xfe\x00garbage"), 400, "not UTF-8"),
        (client.post("/api/load", content=b""), 400, "no trace events"),
        (client.post("/api/load", content=b'{"t": 0, "type": "segment"}\n'), 400, "line 1"),
        (client.post("/api/load", content=b'hello\n'), 400, "line 1: not JSON"),
        (client.post("/api/load", content=b'{"t": 1, "type": "timer", "host": "a", "local": "x:1", '
                                           b'"remote": "y:2", "timer": "RTO"}\n{"t": 0, "type": "app"}\n'),
         400, "line 2: \"t\" goes back in time"),
        (client.post("/api/load", content=b'{"t": 0, "type": "state", "host": "a", "local": "x:1", '
                                           b'"remote": "y:2", "from": "CLOSED", "to": "DANCING"}\n'),
         400, "line 1"),
        (client.post("/api/load", content=b'{"t": 0, "type": "segment", "event": "send", "src": "a:1",'
                                           b' "dst": "b:2", "flags": [], "seq": -4, "ack": 0, "len": 0,'
                                           b' "win": 0}\n'), 400, "seq -4"),
    ]
    for r, status, message in cases:
        assert r.status_code == status, (r.status_code, r.text)
        assert message in r.json()["error"], r.text
    # and it goes on serving
    assert run(client, {"scenario": "handshake"})["segments"] == 3


def test_a_request_for_another_host_name_is_refused(client):
    """DNS rebinding: a page elsewhere whose name now points at 127.0.0.1."""
    r = client.get("/api/scenarios", headers={"Host": "attacker.example:8357"})
    assert r.status_code == 400
    assert client.get("/api/scenarios", headers={"Host": "localhost:8357"}).status_code == 200


def test_the_scenarios_and_the_state_table(client):
    sc = client.get("/api/scenarios").json()
    assert [s["name"] for s in sc] == names()
    st = client.get("/api/states").json()
    from synack.engine.states import TRANSITIONS
    assert st["svg"].startswith("<svg")
    assert {(a, b): why for a, b, why in st["transitions"]} == \
           {(a.value, b.value): why for (a, b), why in TRANSITIONS.items()}
    page = client.get("/")
    assert page.status_code == 200 and 'type="module"' in page.text
    # no resource from elsewhere: every src/href is local
    import re
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert ref.startswith(("/", "data:")), ref
    for f in ("app.js", "ladder.js", "style.css"):
        body = client.get(f"/static/{f}").text
        assert "http://" not in body.replace("http://www.w3.org/2000/svg", "") and "https://" not in body


# ------------------------------------------------------------------ the command
def test_explore_without_the_extra_says_so_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)      # as if not installed
    assert main(["explore", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synack: error: ") and "synack[explore]" in err[0]


def test_explore_with_a_bad_port_says_so(capsys):
    assert main(["explore", "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("synack: error: --port 70000") and "Traceback" not in err


def test_explore_prints_its_url_and_binds_loopback_only():
    """The real command, as a process: it prints a 127.0.0.1 URL, serves the page
    there, and listens on no other address."""
    import socket
    import urllib.request
    proc = subprocess.Popen([sys.executable, "-m", "synack", "explore", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("synack explore: http://127.0.0.1:"), line
        url = line.split()[2]
        port = int(url.rsplit(":", 1)[1].strip("/"))
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "api/scenarios", timeout=5) as r:
                    assert json.load(r)[0]["name"] == "handshake"
                break
            except OSError:
                import time
                time.sleep(0.2)
        else:
            pytest.fail("the server never answered")
        with open("/proc/net/tcp") as f:
            rows = [ln.split() for ln in f.readlines()[1:]]
        listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
        assert listening == ["0100007F:%04X" % port]
        # nothing on the wildcard address either
        with pytest.raises(OSError):
            s = socket.create_connection(("127.0.0.2", port), timeout=1)
            s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ------------------------------------------------------------- a loaded capture
def scenario_pcap(name, path) -> bytes:
    """Scenario `name`'s segments, written by synack's own pcap writer."""
    from synack.pcap import PcapWriter
    w = PcapWriter(path)
    try:
        get(name).run(Options(pcap=w))
    finally:
        w.close()
    return path.read_bytes()


def test_a_capture_loads_as_the_explainers_ladder(client, tmp_path):
    """A pcap: its connections listed, the chosen one drawn with the states
    `synack explain` infers on both lifelines (docs/captures.md)."""
    from synack.capture.report import analyse, events_jsonl
    data = scenario_pcap("lifecycle", tmp_path / "l.pcap")
    r = client.post("/api/load", content=data)
    assert r.status_code == 200, r.text
    run_ = r.json()
    cap = run_["meta"]["capture"]
    assert cap["conn"] == 1 and len(cap["connections"]) == 1
    c1 = cap["connections"][0]
    assert c1["states"] == {"client": "TIME_WAIT", "server": "CLOSED"}
    assert run_["meta"]["engine"] is False and run_["meta"]["edits"] == []
    segs = segment_rows(run_)
    assert run_["segments"] == len(segs) == len(read_pcap(tmp_path / "l.pcap")) == c1["packets"]
    # the ladder's rows: the handshake first, both lifelines' inferred states
    assert segs[0]["flags"] == ["SYN"] and segs[0]["states"] == ["SYN_SENT", "LISTEN"]
    assert segs[1]["flags"] == ["SYN", "ACK"] and segs[1]["states"][1] == "SYN_RECEIVED"
    assert run_["rows"][-1]["states"] == ["TIME_WAIT", "CLOSED"]
    assert segs[-1]["flags"] == ["ACK"] and segs[-1]["states"][0] == "TIME_WAIT"
    # the events behind it are the explainer's (`synack explain --conn 1 --format json`)
    conns, _ = analyse(tmp_path / "l.pcap", detail=(1,))
    exported = client.post("/api/export/json", json={"trace": run_["trace"]}).text.splitlines()
    assert [json.loads(x) for x in exported[1:]] == \
        [json.loads(x) for x in events_jsonl(conns[0]).splitlines()]
    # a moment: no TCBs, the segment's header rebuilt from the capture's fields
    for i, row in enumerate(run_["rows"]):
        if row["kind"] != "segment":
            continue
        m = client.post("/api/moment", json={"trace": run_["trace"], "row": i}).json()
        assert m["engine"] is False and m["tcb"] is None
        f = m["segment"]["fields"]
        assert f["sequence number"] == row["seq"] and f["acknowledgment number"] == row["ack"]
        assert set(f["flags"].split()) == set(row["flags"])
    # the SVG export draws the inferred states
    svg = client.post("/api/export/svg", json={"trace": run_["trace"]}).text
    assert "TIME_WAIT" in svg and "LAST_ACK" in svg


def test_a_captures_other_connection_is_picked_by_number(client, tmp_path):
    data = scenario_pcap("time-wait-old-duplicate", tmp_path / "tw.pcap")
    one = client.post("/api/load", content=data).json()
    assert len(one["meta"]["capture"]["connections"]) == 2
    two = client.post("/api/load?conn=2", content=data)
    assert two.status_code == 200, two.text
    two = two.json()
    assert two["meta"]["capture"]["conn"] == 2 and two["trace"] != one["trace"]
    # the second connection is the 4-tuple used again: it starts from CLOSED with a SYN
    assert segment_rows(two)[0]["flags"] == ["SYN"]
    assert segment_rows(two)[0]["states"][0] == "SYN_SENT"
    for q, msg in (("conn=3", "no connection 3 in this capture (there are 2"),
                   ("conn=0", "a connection number is 1 or more"),
                   ("conn=x", "a connection number is 1 or more")):
        r = client.post(f"/api/load?{q}", content=data)
        assert r.status_code == 400 and msg in r.json()["error"], r.text


def test_bad_captures_are_a_400_with_a_message(client, tmp_path):
    from synack.pcap import PcapWriter
    data = scenario_pcap("lifecycle", tmp_path / "l.pcap")
    udp = tmp_path / "udp.pcap"
    w = PcapWriter(udp)       # one IPv4 UDP datagram, no TCP
    w.write(0.0, bytes.fromhex("4500001c00000000401100000a0000010a000002"
                               "0035003500080000"))
    w.close()
    for body, msg in (
            (bytes(range(256)) * 4, "neither a capture (pcap or pcapng) nor a JSON Lines trace"),
            (data[:12], "the capture cannot be read: not a readable pcap file"),
            (data[:24], "no TCP segments in this pcap: no packets"),
            (data[:30], "no TCP segments in this pcap: no packets; the file is cut off"),
            (udp.read_bytes(), "no TCP segments in this pcap: 1 frames"),
            (b"\x0a\x0d\x0d\x0a" + b"\x00" * 5, "the capture cannot be read")):
        r = client.post("/api/load", content=body)
        assert r.status_code == 400, (msg, r.text)
        assert r.headers["content-type"] == "application/json"
        assert msg in r.json()["error"], r.json()
        assert "Traceback" not in r.text
    # cut in the middle of a later record: what is whole is shown, and the page is told
    cut = client.post("/api/load", content=data[:-5]).json()
    assert cut["meta"]["capture"]["truncated"] is True and "cut off" in cut["meta"]["text"]
    assert client.post("/api/run", json={"spec": {"scenario": "handshake"}}).status_code == 200
