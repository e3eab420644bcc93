"""`synack explore` in a real browser: Debian's chromium (installed by `make
system-deps`), driven by Playwright for Python. Never a downloaded browser: a
missing /usr/bin/chromium fails these tests with the reason.

The tests do what a learner does and check what the page shows. The server
runs in this process, on 127.0.0.1 and a free port, and is stopped afterwards.
"""
import json
import os
import re
import shutil
import threading
import time
import urllib.parse

import pytest

from synack.scenarios import Options, get

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT = 60_000          # ms: the machine is shared, and the runs are computed on demand


@pytest.fixture(scope="module")
def server():
    from synack.explore.command import bind, make_server
    sock = bind(0)
    srv = make_server(sock)
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    for _ in range(600):
        if srv.started:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the explorer's server did not start")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    th.join(timeout=30)
    sock.close()
    assert not th.is_alive(), "the explorer's server did not stop"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright for Python is missing (the test extra has it): {exc}")
    profile = tmp_path_factory.mktemp("chromium-profile")       # a new, empty user-data-dir
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1500, "height": 950}, accept_downloads=True)
        ctx.set_default_timeout(TIMEOUT)
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser):
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def open_page(page, server, query):
    page.goto(server + "/" + query)
    page.wait_for_selector("body[data-ready='1']")


def selected(page, pane="a") -> dict:
    """What the page shows for the selected row of a ladder."""
    g = page.locator(f"#ladder-{pane} .row.selected")
    g.wait_for(state="attached")
    attrs = g.evaluate("e => Object.assign({}, e.dataset)")
    attrs["states"] = attrs["states"].split("|")
    attrs["flags"] = attrs.get("flags", "").split(",") if attrs.get("flags") else []
    attrs["tags"] = attrs.get("tags", "").split(",") if attrs.get("tags") else []
    return attrs


def wait_text(page, selector, pattern):
    from playwright.sync_api import expect
    expect(page.locator(selector)).to_contain_text(re.compile(pattern), timeout=TIMEOUT)


def step_to_retransmitted_fin(page) -> None:
    """Step forward, one event at a time, until the server's retransmitted FIN."""
    for _ in range(60):
        r = selected(page)
        if r["kind"] == "segment" and r["side"] == "right" and r["flags"] == ["FIN", "ACK"] \
                and "rexmit" in r["tags"]:
            return
        page.click("#fwd")
    pytest.fail("stepped 60 times without seeing the server's retransmitted FIN")


def check_time_wait_answers(page) -> None:
    """At the retransmitted FIN: the client is in TIME_WAIT (state column, state
    machine, TCB); one step on, it acknowledges the FIN from TIME_WAIT."""
    wait_text(page, "#summary", r"^server sends FIN,ACK .*\(rexmit\)")
    r = selected(page)
    assert r["states"] == ["TIME_WAIT", "LAST_ACK"]
    wait_text(page, "#state-left", "^TIME_WAIT$")
    wait_text(page, "#sm-left figcaption .sm-state", "^TIME_WAIT$")
    lit = page.locator("#sm-left svg rect.lit")
    assert lit.count() >= 1 and {lit.nth(i).get_attribute("data-state") for i in range(lit.count())} \
        == {"TIME_WAIT"}
    wait_text(page, "#tcb-body .tcb-host[data-host='client'] .tcb-state", "TIME_WAIT")
    wait_text(page, "#tcb-body .tcb-host[data-host='server'] .tcb-state", "LAST_ACK")
    wait_text(page, "#tcb-body .tcb-host[data-host='server'] tr[data-field='timers']", "RTO at")
    wait_text(page, "#segment-body #seg-label", r"FIN,ACK .*\(rexmit\)")
    page.click("#fwd")
    wait_text(page, "#summary", r"^client sends ACK ")
    r = selected(page)
    assert r["kind"] == "segment" and r["side"] == "left" and r["flags"] == ["ACK"]
    assert r["lost"] == "0" and r["states"][0] == "TIME_WAIT"
    wait_text(page, "#sm-left figcaption .sm-state", "^TIME_WAIT$")
    wait_text(page, "#tcb-body .tcb-host[data-host='client'] .tcb-state", "TIME_WAIT")


def test_lost_final_ack_the_client_answers_the_retransmitted_fin_from_time_wait(page, server):
    open_page(page, server, "?s=lost-final-ack")
    wait_text(page, "#title-a", "lost-final-ack")
    step_to_retransmitted_fin(page)
    check_time_wait_answers(page)
    wait_text(page, "#explain", "Still in TIME_WAIT")


def test_dropping_lifecycles_final_ack_by_clicking_it(page, server):
    open_page(page, server, "?s=lifecycle")
    acks = page.locator("#ladder-a .row[data-kind='segment'][data-side='left'][data-flags='ACK']")
    final_ack = acks.nth(acks.count() - 1)
    assert final_ack.get_attribute("data-states").startswith("TIME_WAIT|")
    final_ack.locator(".seg-hit").click()
    page.locator("#menu").wait_for(state="visible")
    page.click("#menu button[data-edit='drop']")
    page.wait_for_function("() => location.search.includes('e=drop')")
    edits = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["e"]
    assert edits == ["drop:8"]
    wait_text(page, "#title-a", "edited: drop:8")
    wait_text(page, "#edits", "drop:8")
    lost = page.locator("#ladder-a .row[data-lost='1']")
    assert lost.count() == 1 and lost.get_attribute("data-flags") == "ACK"
    page.click("#first")
    step_to_retransmitted_fin(page)
    check_time_wait_answers(page)
    # undoing the edit brings the original run back
    page.click("#edits button[data-undo='0']")
    page.wait_for_function("() => !location.search.includes('e=')")
    wait_text(page, "#title-a", "lifecycle")
    assert page.locator("#ladder-a .row[data-lost='1']").count() == 0


def test_syn_flood_with_and_without_cookies_side_by_side(page, server):
    open_page(page, server, "?s=syn-flood")
    page.click("#compare-toggle")
    page.select_option("#b-scenario", "syn-cookies")
    page.click("#b-run")
    page.locator("#pane-b").wait_for(state="visible")
    wait_text(page, "#title-b", "syn-cookies")
    page.wait_for_function("() => new URLSearchParams(location.search).get('b') === 'syn-cookies'")
    page.click("#last")
    a, b = selected(page, "a"), selected(page, "b")
    # without cookies the client is still knocking; with them it got in long before
    assert a["states"][0] == "SYN_SENT"
    assert b["states"][0] == "ESTABLISHED"
    left_states_a = page.locator("#ladder-a .row").evaluate_all(
        "gs => gs.map(g => g.dataset.states.split('|')[0])")
    assert "ESTABLISHED" not in left_states_a
    # the compared run has its own exports
    with page.expect_download() as dl:
        page.click("#title-b [data-export-b='json']")
    meta = json.loads(open(dl.value.path()).readline())
    assert meta["type"] == "meta" and meta["run"]["scenario"] == "syn-cookies"
    # both panes follow the same moment: B shows the last event at or before A's time
    t_a = float(page.locator("#pos-t").inner_text())
    t_b = float(page.locator("#ladder-b .row.selected .time").text_content())
    assert t_b <= t_a


def test_the_url_keeps_run_and_moment(page, server, browser):
    open_page(page, server, "?s=lost-final-ack")
    step_to_retransmitted_fin(page)
    url = page.url
    assert "r=13" in url
    summary = page.locator("#summary").inner_text()
    other = browser.new_page()
    try:
        other.goto(url)
        other.wait_for_selector("body[data-ready='1']")
        wait_text(other, "#pos-row", "^14$")
        assert other.locator("#summary").inner_text() == summary
        # edited by hand: one event later
        other.goto(url.replace("r=13", "r=14"))
        other.wait_for_selector("body[data-ready='1']")
        wait_text(other, "#summary", "^client sends ACK ")
        # the run's edits are in the URL too: the dropped final ACK of lifecycle
        other.goto(server + "/?s=lifecycle&e=drop:8&r=13")
        other.wait_for_selector("body[data-ready='1']")
        wait_text(other, "#title-a", "edited: drop:8")
        wait_text(other, "#summary", r"^server sends FIN,ACK .*\(rexmit\)")
        # a comparison in the URL: the rfc profile against linux's
        other.goto(server + "/?s=lost-syn&b=lost-syn&bp=linux&r=3")
        other.wait_for_selector("body[data-ready='1']")
        wait_text(other, "#title-b", r"lost-syn.*\(linux\)")
        wait_text(other, "#pos-row", "^4$")
    finally:
        other.close()


def test_loading_a_trace_file(page, server, tmp_path):
    path = tmp_path / "lost-final-ack.jsonl"
    path.write_text(get("lost-final-ack").run(Options()).trace.to_jsonl())
    open_page(page, server, "?s=handshake")
    page.set_input_files("#load", str(path))
    wait_text(page, "#title-a", "a loaded trace")
    wait_text(page, "#title-a", "11 segments")
    page.fill("#jump", "1.06")
    page.click("#jump-go")
    page.click("#fwd")
    wait_text(page, "#summary", r"^server sends FIN,ACK .*\(rexmit\)")
    wait_text(page, "#tcb-body", "no TCBs in a loaded trace")
    wait_text(page, "#segment-body .fields", "sequence number")
    # the page's own JSON export names its run: the engine can compute it again
    open_page(page, server, "?s=lifecycle&e=drop:8")
    with page.expect_download() as dl:
        page.click("[data-export='json']")
    exported = tmp_path / "lifecycle-edited.jsonl"
    dl.value.save_as(exported)
    page.set_input_files("#load", str(exported))
    wait_text(page, "#title-a", "Lost final ACK|whole life")
    wait_text(page, "#tcb-body", "no TCBs in a loaded trace")
    page.click("#rerun")
    wait_text(page, "#title-a", "edited: drop:8")
    wait_text(page, "#tcb-body .tcb-host[data-host='client']", "client")
    # a file that is not a trace: a message, and the page goes on working
    bad = tmp_path / "notes.txt"
    bad.write_text("these are my notes\n")
    page.set_input_files("#load", str(bad))
    wait_text(page, "#error", "That file cannot be loaded: line 1: not JSON")
    wait_text(page, "#title-a", "edited: drop:8")          # what was there stays


def test_loading_a_capture(page, server, tmp_path):
    """A pcap of `lifecycle` (synack's own pcap writer): the connection drawn with
    the states `synack explain` infers, TIME_WAIT on the client's lifeline at the
    end; stepping works; edits are greyed out; a garbage file gets a message."""
    from synack.pcap import PcapWriter
    path = tmp_path / "lifecycle.pcap"
    w = PcapWriter(path)
    try:
        get("lifecycle").run(Options(pcap=w))
    finally:
        w.close()
    open_page(page, server, "?s=handshake")
    page.set_input_files("#load", str(path))
    wait_text(page, "#title-a", "connection 1 of 1")
    wait_text(page, "#title-a", "9 segments")
    assert page.locator("#conn-pick").is_visible()
    wait_text(page, "#conn", r"#1 10\.0\.0\.1:\d+ → 10\.0\.0\.2:80 .*TIME_WAIT / CLOSED")
    wait_text(page, "#about-body #capture-note", "not available for a capture")
    wait_text(page, "#edits", "edits: not available for a capture")
    # the first row: the client's SYN, the server listening
    r = selected(page)
    assert r["kind"] == "segment" and r["flags"] == ["SYN"] and r["states"] == ["SYN_SENT", "LISTEN"]
    page.click("#fwd")
    r = selected(page)
    assert r["flags"] == ["SYN", "ACK"] and r["states"] == ["SYN_SENT", "SYN_RECEIVED"]
    wait_text(page, "#segment-body .fields", "sequence number")
    assert page.locator("#segment-body #seg-edit-off").is_disabled()
    wait_text(page, "#tcb-body", "no TCBs in a loaded capture")
    page.click("#back")
    assert selected(page)["flags"] == ["SYN"]
    # the end: the client's final ACK, then the client in TIME_WAIT, the server CLOSED
    page.click("#last")
    r = selected(page)
    assert r["states"] == ["TIME_WAIT", "CLOSED"]
    wait_text(page, "#state-left", "^TIME_WAIT$")
    wait_text(page, "#sm-left figcaption .sm-state", "^TIME_WAIT$")
    page.click("#back")
    wait_text(page, "#summary", r"^client sends ACK ")
    r = selected(page)
    assert r["side"] == "left" and r["flags"] == ["ACK"] and r["states"][0] == "TIME_WAIT"
    # jump to a time works as for a run
    page.fill("#jump", "0.05")
    page.click("#jump-go")
    wait_text(page, "#summary", r"^client sends FIN,ACK")
    # clicking a segment does not edit a capture: the page says why
    page.locator("#ladder-a .row.selected .seg-hit").first.click()
    wait_text(page, "#error", "edits that recompute a run are not available for a capture")
    assert page.locator("#menu").is_hidden()
    # a garbage file: a message, and the capture stays
    bad = tmp_path / "garbage.pcap"
    bad.write_bytes(bytes(range(256)) * 8)
    page.set_input_files("#load", str(bad))
    wait_text(page, "#error", "That file cannot be loaded: the file is neither a capture")
    wait_text(page, "#title-a", "connection 1 of 1")
    # a capture cut off inside its file header
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:12])
    page.set_input_files("#load", str(cut))
    wait_text(page, "#error", "That file cannot be loaded: the capture cannot be read")
    # a capture of two connections on one 4-tuple: the menu picks the second
    tw = tmp_path / "tw.pcap"
    w = PcapWriter(tw)
    try:
        get("time-wait-old-duplicate").run(Options(pcap=w))
    finally:
        w.close()
    page.set_input_files("#load", str(tw))
    wait_text(page, "#title-a", "connection 1 of 2")
    assert page.locator("#conn option").count() == 2
    page.select_option("#conn", "2")
    wait_text(page, "#title-a", "connection 2 of 2")
    assert page.locator("#conn").input_value() == "2"
    r = selected(page)
    assert r["flags"] == ["SYN"] and r["states"][0] == "SYN_SENT"
    # a run from the form takes the page back to the engine, with its edits
    page.click("#run")
    wait_text(page, "#title-a", "handshake")
    assert page.locator("#conn-pick").is_hidden()


def test_a_bad_value_gets_a_message(page, server):
    open_page(page, server, "?s=lifecycle")
    page.fill("#loss", "5")
    page.click("#run")
    wait_text(page, "#error", r"loss: 5 is out of range \(0 to 0\.9\)")
    wait_text(page, "#title-a", "lifecycle")          # the last good run stays
    page.fill("#jump", "soon")
    page.click("#jump-go")
    wait_text(page, "#error", "is not a time in seconds")
    page.fill("#loss", "")
    page.fill("#msl", "5")
    page.click("#run")
    page.locator("#error").wait_for(state="hidden")
    page.wait_for_function("() => location.search.includes('msl=5')")
    page.click("#last")
    wait_text(page, "#pos-t", r"^10\.0")               # TIME_WAIT lasted 2*MSL = 10 s
    # a composed run with a bad timeline line
    page.click("#compose-toggle")
    page.fill("#c-actions", "0 server listen\n0 client teleport")
    page.click("#compose-run")
    wait_text(page, "#error", "action 2: do: 'teleport' is not one of")
    # a URL with an event number past the end
    open_page(page, server, "?s=handshake&r=999")
    wait_text(page, "#error", "past the run's last event")


def test_ten_thousand_segments_draw_only_what_is_on_screen(page, server):
    custom = {"actions": [{"t": 0, "who": "server", "do": "listen"},
                          {"t": 0, "who": "client", "do": "connect"},
                          {"t": 0.1, "who": "client", "do": "send", "bytes": 10_000_000},
                          {"t": 900, "who": "client", "do": "close"},
                          {"t": 900, "who": "server", "do": "close"}], "until": 1000}
    open_page(page, server, "?s=custom&c=" + urllib.parse.quote(json.dumps(custom)))
    wait_text(page, "#title-a", "custom")
    n = int(re.search(r"(\d+) segments", page.locator("#title-a").inner_text()).group(1))
    assert n >= 10_000
    drawn = page.locator("#ladder-a .row").count()
    assert 0 < drawn < 120
    page.click("#last")
    wait_text(page, "#pos-row", f"^{page.locator('#pos').inner_text().split()[3]}$")
    assert 0 < page.locator("#ladder-a .row").count() < 120
    page.locator("#ladder-a").evaluate("e => { e.scrollTop = e.scrollHeight / 2; }")
    page.wait_for_timeout(300)
    rows = page.locator("#ladder-a .row").evaluate_all("gs => gs.map(g => +g.dataset.row)")
    assert 0 < len(rows) < 120 and min(rows) > 1000


def test_play_step_back_export_and_compose(page, server, tmp_path):
    from synack.pcap import read_pcap
    from synack.wire import decode_ip
    open_page(page, server, "?s=handshake")
    page.select_option("#speed", "20")
    page.click("#play")
    page.wait_for_function("() => +document.querySelector('#pos-row').textContent >= 4")
    page.click("#play")                                   # pause
    wait_text(page, "#play", "play")
    here = int(page.locator("#pos-row").inner_text())
    page.click("#back")
    wait_text(page, "#pos-row", f"^{here - 1}$")
    # the pcap button downloads what is on screen
    with page.expect_download() as dl:
        page.click("[data-export='pcap']")
    path = tmp_path / "h.pcap"
    dl.value.save_as(path)
    flags = [decode_ip(b)[2].flags for _, b in read_pcap(path)]
    assert flags == [0x02, 0x12, 0x10]                    # SYN, SYN+ACK, ACK
    with page.expect_download() as dl:
        page.click("[data-export='svg']")
    svg = tmp_path / "h.svg"
    dl.value.save_as(svg)
    assert svg.read_text().startswith("<svg")
    # a composed run: the timeline as typed
    page.click("#compose-toggle")
    page.fill("#c-actions", "0 server listen\n0 client connect\n0.2 client send 5000\n"
                            "1 client abort")
    page.click("#compose-run")
    wait_text(page, "#title-a", "custom")
    page.click("#last")
    r = selected(page)
    assert r["states"] == ["CLOSED", "CLOSED"]
    assert page.locator("#ladder-a .row[data-flags^='RST']").count() == 1   # SO_LINGER 0: a RST
    assert "c=" in page.url
    # the URL brings the composed run back, its timeline in the compose form
    page.goto(page.url)
    page.wait_for_selector("body[data-ready='1']")
    wait_text(page, "#title-a", "custom")
    assert page.locator("#c-actions").input_value().splitlines() == [
        "0 server listen", "0 client connect", "0.2 client send 5000", "1 client abort"]
