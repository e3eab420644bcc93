"""The real packetdrill as the oracle (synack.packetdrill.linux) and the
conformance report (synack.packetdrill.conformance).

Tests marked `netns` need root: they create their own network namespaces
(prefix sx-orc-test), build the real packetdrill from the shared source and
run it against the live kernel. A missing build tool or a failed build fails
them with the reason; nothing is skipped.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from synack.packetdrill import conformance as C
from synack.packetdrill import linux as L
from synack.packetdrill.runner import shared_dir

PREFIX = "sx-orc-test"
ROOT = shared_dir()


def _need_shared() -> Path:
    if ROOT is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    return ROOT


@pytest.fixture
def root_user():
    if os.geteuid() != 0:
        pytest.fail("tests marked netns need root (network namespaces, TUN, a host "
                    "sysctl): run them as root, or deselect with -m 'not netns'",
                    pytrace=False)


def our_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines()
            if ln.startswith(f"{PREFIX}-{os.getpid()}-")]


# --------------------------------------------------------------------------
# the host-wide congestion-control list (on a stand-in file, then for real)

def test_allow_cc_adds_and_restores(tmp_path):
    f = tmp_path / "allowed"
    f.write_text("reno bbr\n")
    with L.allow_congestion_control("cubic", path=str(f)):
        assert f.read_text().split() == ["reno", "bbr", "cubic"]
        with L.allow_congestion_control("cubic", path=str(f)):   # nested: shared
            assert f.read_text().split() == ["reno", "bbr", "cubic"]
        assert f.read_text().split() == ["reno", "bbr", "cubic"]
    assert f.read_text() == "reno bbr"


def test_allow_cc_restores_on_failure(tmp_path):
    f = tmp_path / "allowed"
    f.write_text("reno bbr\n")
    with pytest.raises(RuntimeError, match="boom"):
        with L.allow_congestion_control("cubic", path=str(f)):
            assert "cubic" in f.read_text().split()
            raise RuntimeError("boom")
    assert f.read_text() == "reno bbr"
    # the module's state is clean again: a second use changes and restores again
    with L.allow_congestion_control("cubic", path=str(f)):
        assert "cubic" in f.read_text().split()
    assert f.read_text() == "reno bbr"


def test_allow_cc_leaves_a_list_that_has_it(tmp_path):
    f = tmp_path / "allowed"
    f.write_text("reno cubic\n")
    with L.allow_congestion_control("cubic", path=str(f)):
        assert f.read_text() == "reno cubic\n"          # not rewritten
    assert f.read_text() == "reno cubic\n"


@pytest.mark.netns
def test_allow_cc_restores_the_real_sysctl_on_failure(root_user):
    before = Path(L.ALLOWED_CC).read_text().strip()
    with pytest.raises(KeyError):
        with L.allow_congestion_control("cubic"):
            assert "cubic" in Path(L.ALLOWED_CC).read_text().split()
            raise KeyError("fail inside")
    assert Path(L.ALLOWED_CC).read_text().strip() == before


# --------------------------------------------------------------------------
# packetdrill's error output

def test_parse_error_packet_difference():
    err = textwrap.dedent("""\
        invalid_ack.pkt:24: error handling packet: live packet field tcp_ack_seq: expected: 1001 (0x3e9) vs actual: 1 (0x1)
        script packet:  0.200572 . 1:1(0) ack 1001 <nop,nop,TS val 200 ecr 201>
        actual packet:  0.200555 . 1:1(0) ack 1 win 65535 <nop,nop,TS val 200 ecr 200>
        """)
    line, msg, sp, ap = L.parse_error(err)
    assert line == 24
    assert msg.startswith("error handling packet: live packet field tcp_ack_seq")
    assert sp == "0.200572 . 1:1(0) ack 1001 <nop,nop,TS val 200 ecr 201>"
    assert ap == "0.200555 . 1:1(0) ack 1 win 65535 <nop,nop,TS val 200 ecr 200>"


def test_parse_error_syscall_and_init():
    line, msg, sp, ap = L.parse_error(
        "x.pkt:12: runtime error in write call: Expected result 1000 but got -1 with "
        "errno 11 (Resource temporarily unavailable)\n")
    assert (line, sp, ap) == (12, None, None)
    assert msg.startswith("runtime error in write call: Expected result 1000")
    line, msg, _, _ = L.parse_error("sh: 1: x: Permission denied\n"
                                    "y.pkt: error executing init command: non-zero status 126\n")
    assert line is None and msg == "y.pkt: error executing init command: non-zero status 126"


def test_parse_error_python_block():
    err = textwrap.dedent("""\
        Error: Specified qdisc kind is unknown.
        c.pkt:53: error in Python code
        Traceback (most recent call last):
          File "/tmp/code_ptgenx", line 453, in <module>
            print(tcpi_snd_cwnd); assert tcpi_snd_cwnd == 40, tcpi_snd_cwnd
                                         ^^^^^^^^^^^^^^^^^^^
        AssertionError: 36
        c.pkt: error executing code: 'python3' returned non-zero status 1
        """)
    line, msg, _, _ = L.parse_error(err)
    assert line == 53
    assert msg == ("error in Python code: print(tcpi_snd_cwnd); assert tcpi_snd_cwnd == 40, "
                   "tcpi_snd_cwnd -> AssertionError: 36 "
                   "[before it: Error: Specified qdisc kind is unknown.]")


def test_variant_follows_run_all():
    args, defines = L.variant("tcp/close/close-on-syn-sent.pkt")
    assert "--ip_version=ipv4" in args and defines["TFO_COOKIE"] == "3021b9d889017eeb"
    args, defines = L.variant("tcp/mtu_probe/basic-v6.pkt")
    assert "--ip_version=ipv6" in args and defines["CMSG_LEVEL_IP"] == "SOL_IPV6"


# --------------------------------------------------------------------------
# building

def test_build_reports_missing_tools(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "packetdrill.c").write_text("int main(void){return 0;}\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(L.ToolUnavailable, match="bison"):
        L.build_packetdrill(src, tmp_path / "build")


def test_build_reports_a_failed_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "packetdrill.c").write_text("this is not C\n")
    (src / "configure").write_text("#!/bin/sh\necho configure ran\nexit 3\n")
    with pytest.raises(L.ToolUnavailable, match=r"configure exited 3.*configure ran"):
        L.build_packetdrill(src, tmp_path / "build")
    assert not any((tmp_path / "build").glob("*/packetdrill"))   # no half build kept


def test_build_key_changes_with_the_source(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.c").write_text("1")
    k1 = L.source_key(src)
    (src / "a.c").write_text("2")
    assert L.source_key(src) != k1


def _built() -> Path:
    try:
        return L.build_packetdrill()
    except L.ToolUnavailable as e:
        pytest.fail(f"cannot build the real packetdrill: {e}", pytrace=False)


@pytest.mark.netns
def test_build_is_cached():
    first = _built()
    assert first.is_file() and os.access(first, os.X_OK)
    assert first.parent.name == L.source_key(L.source_dir())
    stamp = first.stat().st_mtime_ns
    assert L.build_packetdrill() == first
    assert first.stat().st_mtime_ns == stamp               # not rebuilt


# --------------------------------------------------------------------------
# one run in a throwaway namespace (a stand-in tool, then the real one)

def _fake_tool(tmp_path: Path, body: str) -> Path:
    tool = tmp_path / "fake-packetdrill"
    tool.write_text("#!/bin/sh\n" + body)
    tool.chmod(0o755)
    return tool


@pytest.mark.netns
def test_run_once_in_its_own_namespace_from_the_script_folder(root_user, tmp_path):
    out = tmp_path / "out"
    tool = _fake_tool(tmp_path, f"""
        readlink /proc/self/ns/net > {out}.ns
        pwd > {out}.cwd
        echo "$@" > {out}.args
        ip -o link show lo > {out}.lo
        echo 'x.pkt:7: runtime error in close call: Expected result 0 but got -1' >&2
        exit 1
        """)
    folder = tmp_path / "scripts" / "close"
    folder.mkdir(parents=True)
    (folder / "x.pkt").write_text("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
    a = L.run_once(tool, folder / "x.pkt", args=["--ip_version=ipv4"], defines={"A": "1"},
                   prefix=PREFIX)
    assert a.rc == 1 and "runtime error in close call" in a.error
    assert Path(f"{out}.ns").read_text().strip() != os.readlink("/proc/self/ns/net")
    assert Path(f"{out}.cwd").read_text().strip() == str(folder)
    assert Path(f"{out}.args").read_text().split() == ["--ip_version=ipv4", "-D", "A=1", "x.pkt"]
    assert "UP" in Path(f"{out}.lo").read_text()
    assert our_namespaces() == []                        # removed afterwards


@pytest.mark.netns
def test_run_once_timeout_kills_and_removes(root_user, tmp_path):
    pidfile = tmp_path / "pid"
    tool = _fake_tool(tmp_path, f"sleep 60 & echo $! > {pidfile}\nwait\n")
    script = tmp_path / "x.pkt"
    script.write_text("")
    a = L.run_once(tool, script, timeout=1.0, prefix=PREFIX)
    assert a.rc is None and "timed out" in a.error
    child = int(pidfile.read_text())
    for _ in range(50):                                  # the whole group was killed
        if not os.path.exists(f"/proc/{child}") or \
                Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the tool's child {child} survived the timeout")
    assert our_namespaces() == []


@pytest.mark.netns
def test_run_once_stops_a_runaway(root_user, tmp_path):
    tool = _fake_tool(tmp_path, "i=0; while [ $i -lt 300 ]; do sleep 30 & i=$((i+1)); done; wait\n")
    script = tmp_path / "x.pkt"
    script.write_text("")
    a = L.run_once(tool, script, timeout=60, prefix=PREFIX)
    assert a.rc is None and f"more than {L.MAX_PROCESSES} processes" in a.error
    assert our_namespaces() == []


def test_staged_copy_has_real_helpers_in_both_common_folders(tmp_path):
    """The shared tcp/common/defaults.sh is a shim that, run from a folder two
    levels down (tcp/fastopen/client), names itself: in the staged copy both
    common folders hold the real, executable helpers."""
    root = _need_shared()
    dest = L.stage_scripts(root, tmp_path / "stage")
    real = (root / "common" / "defaults.sh").read_bytes()
    for folder in ("common", "tcp/common"):
        f = dest / folder / "defaults.sh"
        assert f.read_bytes() == real and os.access(f, os.X_OK)
        assert os.access(dest / folder / "set_sysctls.py", os.X_OK)
    client = dest / "tcp" / "fastopen" / "client"
    assert (client / "../../common/defaults.sh").resolve().read_bytes() == real
    assert (dest / "tcp" / "close" / "../common/defaults.sh").resolve().read_bytes() == real


@pytest.mark.netns
def test_run_once_removes_the_namespace_when_starting_fails(root_user, tmp_path):
    with pytest.raises(OSError):
        L.run_once(tmp_path / "tool", tmp_path / "no-such-folder" / "x.pkt", prefix=PREFIX)
    assert our_namespaces() == []


@pytest.mark.netns
def test_real_packetdrill_passes_close_on_syn_sent(root_user):
    root = _need_shared()
    tool = _built()
    before = Path(L.ALLOWED_CC).read_text().strip()
    [r] = L.run_linux_many([root / "tcp/close/close-on-syn-sent.pkt"], root=root,
                           packetdrill=tool, prefix=PREFIX)
    assert r.script == "tcp/close/close-on-syn-sent.pkt"
    assert r.verdict == "PASS", r.attempts
    assert our_namespaces() == []
    assert Path(L.ALLOWED_CC).read_text().strip() == before


@pytest.mark.netns
def test_real_packetdrill_reports_the_first_difference(root_user):
    """tcp/ts_recent/invalid_ack.pkt fails on Linux 6.18 at line 24: the
    kernel ACKs an ACK of unsent data (RFC 9293 §3.10.7.4), the script
    expects silence. The failure is deterministic, so no rerun passes."""
    root = _need_shared()
    [r] = L.run_linux_many([root / "tcp/ts_recent/invalid_ack.pkt"], root=root,
                           packetdrill=_built(), prefix=PREFIX, reruns=1)
    assert r.verdict == "FAIL" and len(r.attempts) == 2
    assert r.line == 24 and "tcp_ack_seq" in r.message
    assert " ack 1001 " in r.script_packet and " ack 1 " in r.actual_packet
    assert our_namespaces() == []


@pytest.mark.netns
def test_cli_linux_side_by_side(root_user, capsys):
    root = _need_shared()
    from synack.cli import main
    rc = main(["packetdrill", "--linux", str(root / "tcp/close/close-on-syn-sent.pkt")])
    out = capsys.readouterr().out
    assert rc == 0, out
    row = next(ln for ln in out.splitlines() if "close-on-syn-sent.pkt" in ln)
    assert row.split()[1:] == ["PASS", "PASS"]
    assert "1/1 with the same verdict" in out


def test_cli_linux_needs_root(monkeypatch, capsys):
    root = _need_shared()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    from synack.cli import main
    rc = main(["packetdrill", "--linux", str(root / "tcp/close/close-on-syn-sent.pkt")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("synack: error: ") and "needs root" in err and len(err.splitlines()) == 1


def test_cli_linux_missing_script(capsys):
    from synack.cli import main
    assert main(["packetdrill", "--linux", "/nonexistent/x.pkt"]) == 2
    assert capsys.readouterr().err.strip() == "synack: error: no such script: /nonexistent/x.pkt"


# --------------------------------------------------------------------------
# the report, on a small fixture

def _linux(verdict, **kw):
    d = {"script": kw.pop("script", "x"), "verdict": verdict,
         "attempts": kw.pop("attempts", [{"rc": 0 if verdict == "PASS" else 1,
                                          "seconds": 0.1, "error": ""}]),
         "line": None, "message": "", "script_packet": None, "actual_packet": None,
         "flaky": kw.pop("flaky", False)}
    d.update(kw)
    return d


def _synack(verdict, **kw):
    d = {"verdict": verdict, "kind": None, "line": None, "source": None, "message": "",
         "expected": None, "actual": None, "skipped": [], "summary": verdict}
    d.update(kw)
    return d


FIXTURE_NAMES = ["tcp/close/a.pkt", "tcp/close/b.pkt", "tcp/nagle/c.pkt",
                 "tcp/fastopen/server/d.pkt", "tcp/ts_recent/invalid_ack.pkt",
                 "tcp/epoll/e.pkt"]


def _fixture_report():
    linux = {
        "tcp/close/a.pkt": _linux("PASS"),
        "tcp/close/b.pkt": _linux("PASS", flaky=True, attempts=[
            {"rc": 1, "seconds": 1, "error": "e"}, {"rc": 0, "seconds": 1, "error": ""}]),
        "tcp/nagle/c.pkt": _linux("PASS"),
        "tcp/fastopen/server/d.pkt": _linux("PASS"),
        "tcp/ts_recent/invalid_ack.pkt": _linux(
            "FAIL", line=24, message="error handling packet: live packet field tcp_ack_seq",
            script_packet="0.2 . 1:1(0) ack 1001", actual_packet="0.2 . 1:1(0) ack 1"),
        "tcp/epoll/e.pkt": _linux("FAIL", line=3, message="runtime error in epoll_wait call"),
    }
    synack = {
        "tcp/close/a.pkt": _synack("PASS"),
        "tcp/close/b.pkt": _synack("FAIL", kind="packet", line=9, source="+0 > F. 1:1(0) ack 1",
                                   message="packet: flags differ", expected="> F. 1:1(0) ack 1",
                                   actual="> . 1:1(0) ack 1", summary="line 9: packet: flags differ"),
        "tcp/nagle/c.pkt": _synack("FAIL", kind="unsupported", line=4,
                                   message="unsupported: MSG_MORE",
                                   summary="line 4: unsupported: MSG_MORE"),
        "tcp/fastopen/server/d.pkt": _synack("FAIL", kind="unsupported", message="unsupported: x"),
        "tcp/ts_recent/invalid_ack.pkt": _synack("FAIL", kind="packet", line=24,
                                                 expected="> . 1:1(0) ack 1001",
                                                 actual="> . 1:1(0) ack 1"),
        "tcp/epoll/e.pkt": _synack("PASS"),
    }
    meta = {"kernel": "6.18-test", "linux_date": "d1", "synack_date": "d2", "linux_minutes": 1}
    return C.build_report(FIXTURE_NAMES, linux, synack, meta)


def test_report_counts_and_classes():
    rep = _fixture_report()
    by = {r["script"]: r for r in rep["scripts"]}
    assert by["tcp/close/a.pkt"]["class"] is None
    assert by["tcp/close/b.pkt"]["class"] == "bug"
    assert by["tcp/nagle/c.pkt"]["class"] == "feature"
    assert by["tcp/fastopen/server/d.pkt"]["class"] == "out-of-scope"
    assert by["tcp/ts_recent/invalid_ack.pkt"]["class"] == "rfc-over-linux"
    assert "RFC 9293 §3.10.7.4" in by["tcp/ts_recent/invalid_ack.pkt"]["reason"]
    assert by["tcp/epoll/e.pkt"]["class"] == "linux-fails"
    a, s = rep["counts"]["all"], rep["counts"]["in_scope"]
    assert (a["scripts"], a["linux"], a["synack"], a["both"]) == (6, 4, 2, 1)
    assert (s["scripts"], s["linux"], s["synack"], s["both"]) == (5, 3, 2, 1)
    assert s["linux_only_by_class"] == {"bug": 1, "feature": 1}
    assert a["linux_flaky"] == 1 and a["synack_only"] == 1
    assert a["linux_first_run"] == 3           # b.pkt passed on its second run


def test_report_markdown_and_json(tmp_path):
    rep = _fixture_report()
    md = tmp_path / "conformance.md"
    C.write_report(rep, md)
    text = md.read_text()
    assert "kernel 6.18-test" in text
    assert "| in scope | 5 | 3 | 2 | 1 | 2 | 1 | 1 | 2 |" in text
    assert "| `b.pkt` | PASS (rerun: 2 runs) | FAIL | bug |" in text
    assert "| `invalid_ack.pkt` | FAIL | FAIL | rfc-over-linux |" in text
    assert "### fastopen" in text and "### close" in text
    # the first differing line with both packets
    assert "synack, line 9: `+0 > F. 1:1(0) ack 1`" in text
    assert "expected: `> F. 1:1(0) ack 1`" in text and "synack: `> . 1:1(0) ack 1`" in text
    assert "Linux, line 24:" in text and "Linux: `0.2 . 1:1(0) ack 1`" in text
    data = json.loads(md.with_suffix(".json").read_text())
    assert data["counts"] == rep["counts"] and len(data["scripts"]) == 6


def test_synack_only_reuses_the_linux_half(tmp_path, capsys):
    root = _need_shared()
    names = ["tcp/close/close-on-syn-sent.pkt", "tcp/ts_recent/invalid_ack.pkt"]
    linux = {names[0]: _linux("PASS", script=names[0]),
             names[1]: _linux("FAIL", script=names[1], line=24, message="m")}
    old = C.build_report(names, linux, {n: _synack("FAIL") for n in names},
                         {"kernel": "k-fixture", "linux_date": "then"})
    md = tmp_path / "c.md"
    C.write_report(old, md)
    rc = C.main(["--synack-only", "--output", str(md), *(str(root / n) for n in names)])
    assert rc == 0
    data = json.loads(md.with_suffix(".json").read_text())
    assert data["meta"]["kernel"] == "k-fixture"                 # Linux half kept
    by = {r["script"]: r for r in data["scripts"]}
    assert by[names[0]]["linux"]["verdict"] == "PASS"
    assert by[names[0]]["synack"]["verdict"] == "PASS"           # synack half rerun
    assert by[names[1]]["synack"]["line"] == 24
    assert "k-fixture" in md.read_text()


def test_synack_only_without_linux_results(tmp_path, capsys):
    assert C.main(["--synack-only", "--output", str(tmp_path / "c.md")]) == 2
    assert capsys.readouterr().err.startswith("synack: error: no Linux results")


def test_write_passes_round_trip(tmp_path):
    f = tmp_path / "passes.txt"
    C.write_passes(["tcp/a.pkt", "tcp/b.pkt"], f)
    assert C.read_passes(f) == ["tcp/a.pkt", "tcp/b.pkt"]
    assert f.read_text().startswith("#")


def test_a_skipped_assertion_is_a_failure():
    """A %{ }% block reading a TCP_INFO field synack does not provide is not a pass."""
    text = textwrap.dedent("""\
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 bind(3, ..., ...) = 0
        +0 listen(3, 1) = 0
        +0 < S 0:0(0) win 1000 <mss 1000>
        +0 > S. 0:0(0) ack 1 <mss 1460>
        +0 < . 1:1(0) ack 1 win 1000
        +0 accept(3, ..., ...) = 4
        +0 %{ assert tcpi_no_such_field_xyz == 0 }%
        """)
    f = Path(os.environ.get("TMPDIR", "/tmp")) / f"sx-orc-skip-{os.getpid()}.pkt"
    f.write_text(text)
    try:
        r = C.run_synack(f)
    finally:
        f.unlink()
    assert r["verdict"] == "FAIL", r
    assert r["kind"] == "unsupported" or r["skipped"], r


@pytest.mark.netns
def test_sigterm_mid_batch_cleans_up(root_user, tmp_path):
    """SIGTERM while scripts run: the runs are killed, their namespaces
    removed and the congestion-control list restored."""
    import signal
    import sys
    tool = _fake_tool(tmp_path, "sleep 60\n")
    for n in ("a", "b", "c"):
        (tmp_path / f"{n}.pkt").write_text("")
    before = Path(L.ALLOWED_CC).read_text().strip()
    code = textwrap.dedent(f"""
        from pathlib import Path
        from synack.packetdrill import linux as L
        L.run_linux_many([Path({str(tmp_path)!r}) / n for n in ("a.pkt", "b.pkt", "c.pkt")],
                         root=Path({str(tmp_path)!r}), packetdrill=Path({str(tool)!r}),
                         prefix={PREFIX!r}, reruns=0, timeout=120)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        mine = f"{PREFIX}-{proc.pid}-"
        # a generous wait: on a loaded machine the child's imports alone take seconds
        deadline = time.monotonic() + 120
        while True:
            out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            if out.count(mine) == 2:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the batch did not start two runs (exit status {proc.poll()})")
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            # the test failed before its SIGTERM: a killed batch cannot clean
            # up, so remove the namespaces it made (the failure stands)
            proc.kill()
            proc.wait()
            listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            for line in listing.splitlines():
                if line.split()[0].startswith(f"{PREFIX}-{proc.pid}-"):
                    subprocess.run(["ip", "netns", "del", line.split()[0]], check=False)
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert mine not in out
    assert Path(L.ALLOWED_CC).read_text().strip() == before


def test_known_entries_are_shared_scripts_and_rfc_choices_cite_a_section():
    import re
    root = _need_shared()
    for name, (cls, reason) in C.KNOWN.items():
        assert (root / name).is_file(), name
        assert cls in C.CLASSES, (name, cls)
        if cls == "rfc-over-linux":
            assert re.search(r"RFC \d+ §\d+(\.\d+)*", reason), (name, reason)
