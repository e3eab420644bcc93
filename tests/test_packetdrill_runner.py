"""Tests for the packetdrill runner (synack.packetdrill.runner).

Every script here is synack's own: files under tests/packetdrill/own/ and
short texts below. The scripts named fail-*.pkt must FAIL, each for one
precise reason; the others must PASS.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pdscripts import SERVER

from synack.packetdrill import ast as A
from synack.packetdrill.initcmd import read_init
from synack.packetdrill.packets import (ACK, PSH, SYN, Mapping, PacketError,
                                        build_inbound, compare, flags_from_script,
                                        flags_to_script, parse_ip_tcp,
                                        to_script_space)
from synack.packetdrill.parser import parse_text
from synack.packetdrill.runner import RunOptions, main, run_script, run_text
from synack.engine.config import linux_profile

OWN = Path(__file__).resolve().parent / "packetdrill" / "own"
PASSING = sorted(p.name for p in OWN.glob("*.pkt") if not p.name.startswith("fail-"))


def run(text: str, **opts):
    return run_text(textwrap.dedent(text), "<test>", RunOptions(**opts))


def failure(result):
    assert not result.passed, "expected the script to fail"
    return result.failure


# --------------------------------------------------------------------------
# own scripts

@pytest.mark.parametrize("name", PASSING)
def test_own_script_passes(name):
    result = run_script(OWN / name)
    assert result.passed, (result.failure, [t.text for t in result.trace])
    assert result.events_run == result.events_total


def test_wrong_flags_fail():
    f = failure(run_script(OWN / "fail-wrong-flags.pkt"))
    assert f.kind == "packet" and f.line == 7
    assert "flags: expected S, actual S." in f.message
    assert f.actual.startswith("> S. ")


def test_packet_too_early_fails():
    f = failure(run_script(OWN / "fail-too-early.pkt"))
    assert f.kind == "timing" and f.line == 7
    assert "expected outbound packet at 0.100000 sec but happened at 0.000000 sec" in f.message


def test_packet_too_late_fails():
    f = failure(run_script(OWN / "fail-too-late.pkt"))
    assert f.kind == "timing" and f.line == 12
    # the runner looks ahead and shows when the retransmission really comes
    assert "expected outbound packet at 0.200000 sec but happened at" in f.message
    assert f.actual.startswith("> P. 1:101(100) ack 1")


def test_unexpected_packet_fails_the_next_expectation():
    f = failure(run_script(OWN / "fail-unexpected-packet.pkt"))
    assert f.kind == "packet" and f.line == 9
    assert "flags: expected S., actual R" in f.message


def test_wrong_syscall_result_fails():
    f = failure(run_script(OWN / "fail-syscall-result.pkt"))
    assert f.kind == "syscall" and f.line == 11
    assert "expected result 100 but got -1 with errno EAGAIN" in f.message


def test_failure_has_source_line_and_trace():
    r = run_script(OWN / "fail-too-late.pkt")
    assert r.failure.source == "+.1   > P. 1:101(100) ack 1"
    texts = [t.text for t in r.trace]
    assert any(t.startswith("< S 0:0(0)") for t in texts)
    assert any(t.startswith("write(4, ..., 100) = 100") for t in texts)


# --------------------------------------------------------------------------
# timing rules

HANDSHAKE = """\
    0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0    bind(3, ..., ...) = 0
    +0    listen(3, 1) = 0
    +0    < S 0:0(0) win 6000 <mss 1000>
    +0    > S. 0:0(0) ack 1 <mss 1460>
"""


def test_synack_retransmission_within_percent_tolerance():
    # The SYN,ACK is retransmitted after the initial RTO (1 s). Expected at
    # +0.9 it is 100 ms late: within 12.5% of 0.9 s (112.5 ms).
    script = HANDSHAKE + "    +.9   > S. 0:0(0) ack 1 <mss 1460>\n"
    assert run(script).passed
    f = failure(run(script, tolerance_percent=0.0))
    assert f.kind == "timing" and "tolerance 0.004000 sec" in f.message


def test_tolerance_usecs_option_in_script():
    script = HANDSHAKE + "    +.95  > S. 0:0(0) ack 1 <mss 1460>\n"
    assert run(script, tolerance_percent=0.0, tolerance_usecs=60000).passed
    assert not run(script, tolerance_percent=0.0).passed
    with_option = "--tolerance_usecs=60000\n--tolerance_percent=0\n" + textwrap.dedent(script)
    assert run_text(with_option).passed


def test_time_range():
    script = HANDSHAKE + "    +.5~+1.5 > S. 0:0(0) ack 1 <mss 1460>\n"
    assert run(script).passed
    script = HANDSHAKE + "    +.2~+.5 > S. 0:0(0) ack 1 <mss 1460>\n"
    f = failure(run(script))
    assert f.kind == "timing" and "in time range 0.200000~0.500000 sec" in f.message


def test_any_time():
    assert run(HANDSHAKE + "    *     > S. 0:0(0) ack 1 <mss 1460>\n").passed


def test_blocking_call_must_return_at_its_end_time():
    f = failure(run(HANDSHAKE.replace("    +0    < S", "    +0...0.5 accept(3, ..., ...) = 4\n"
                                                      "    +0    < S")
                    + "    +.1   < . 1:1(0) ack 1 win 6000\n"))
    assert f.kind == "timing" and f.line == 4
    assert "expected system call return at 0.500000 sec" in f.message


def test_blocking_call_on_blocking_socket_without_end_time_fails():
    f = failure(run(HANDSHAKE + "    +0    accept(3, ..., ...) = 4\n"))
    assert f.kind == "syscall" and "would block" in f.message


def test_first_event_must_be_at_zero():
    f = failure(run("1 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"))
    assert f.kind == "script" and "time 0" in f.message


# --------------------------------------------------------------------------
# segments and options



def test_consecutive_segments_glued_unless_strict():
    script = SERVER + "    +0 write(4, ..., 3000) = 3000\n    +0 > P. 1:3001(3000) ack 1\n"
    r = run(script)
    assert r.passed, r.failure
    assert any("3 segments glued" in n for n in r.notes)
    f = failure(run(script, strict_segments=True))
    assert "payload: expected 3000 bytes, actual 1000" in f.message


def test_window_checked_only_when_given():
    assert run(SERVER + "    +0 write(4, ..., 10) = 10\n    +0 > P. 1:11(10) ack 1\n").passed
    f = failure(run(SERVER + "    +0 write(4, ..., 10) = 10\n"
                             "    +0 > P. 1:11(10) ack 1 win 1\n"))
    assert "win: expected 1" in f.message


def test_option_dont_care_and_no_options():
    ok = HANDSHAKE.replace("> S. 0:0(0) ack 1 <mss 1460>", "> S. 0:0(0) ack 1 <...>")
    assert run(ok).passed
    bad = HANDSHAKE.replace("> S. 0:0(0) ack 1 <mss 1460>", "> S. 0:0(0) ack 1")
    f = failure(run(bad))
    assert "TCP options: expected no options, actual <mss 1460>" in f.message


def test_timestamps_mapping_and_tick_check():
    script = """\
        --tcp_ts_tick_usecs=1000
        `sysctl -q net.ipv4.tcp_window_scaling=0`
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
        +0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
        +0    > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0>
        +.05  < S. 0:0(0) ack 1 win 5000 <mss 1000,sackOK,TS val 700 ecr 100>
        +0    > . 1:1(0) ack 1 <nop,nop,TS val 150 ecr 700>
        +.5   write(3, ..., 10) = 10
        +0    > P. 1:11(10) ack 1 <nop,nop,TS val 650 ecr 700>
        """
    r = run(script)
    assert r.passed, r.failure
    assert any("net.ipv4.tcp_window_scaling=0" in n for n in r.notes)
    f = failure(run(script.replace("TS val 650", "TS val 300")))
    assert f.kind == "packet" and "TS val: expected 300, actual 650" in f.message


def test_inbound_ts_ecr_needs_an_outbound_ts_val():
    script = """\
        0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0    fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
        +0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
        +0    > S 0:0(0) <...>
        +.05  < S. 0:0(0) ack 1 win 5000 <mss 1000,sackOK,TS val 700 ecr 100>
        """
    f = failure(run(script))
    assert "unable to infer live TS ecr" in f.message


# --------------------------------------------------------------------------
# syscalls, TCP_INFO, unsupported constructs

def test_python_block_with_mapped_fields_runs():
    r = run(SERVER + "    +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%\n"
                     "    +0 %{ assert tcpi_state == TCP_ESTABLISHED }%\n"
                     "    +0 %{ assert tcpi_snd_mss == 1000, tcpi_snd_mss }%\n")
    assert r.passed, r.failure
    assert not r.skipped


def test_python_block_failing_assertion_fails():
    f = failure(run(SERVER + "    +0 %{ assert tcpi_snd_cwnd == 3, tcpi_snd_cwnd }%\n"))
    assert f.kind == "python" and f.line == 8 and "tcpi_snd_cwnd=10" in f.message


def test_python_block_with_unmapped_field_fails_not_skipped():
    # Nothing is skipped silently (issue 13): a block the runner cannot
    # evaluate fails the script, at its line, naming what it lacks.
    r = run(SERVER + "    +0 %{ assert tcpi_no_such_field == 0 }%\n")
    f = failure(r)
    assert f.kind == "unsupported" and f.line == 8
    assert "tcpi_no_such_field" in f.message and not r.skipped


def test_python_block_reads_ca_state():
    r = run(SERVER + "    +0 %{ assert tcpi_ca_state == TCP_CA_Open, tcpi_ca_state }%\n")
    assert r.passed, r.failure
    assert not r.skipped


@pytest.mark.parametrize("line, what", [
    ("+0 < udp (10)", "UDP packets"),
    # (epoll_create, MSG_MORE and TCP_CORK, unsupported here before issue 13,
    # are tested in test_packetdrill_runner_gaps.py)
    ("+0 splice(4, NULL, 5, NULL, 10, 0) = 10", "system call splice()"),
    ("+0 send(4, ..., 10, MSG_OOB) = 10", "send flags"),
    ("+0 setsockopt(4, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0", "TCP_FASTOPEN"),
    ("+0 `tc qdisc add dev tun0 root netem delay 10ms`", "shell command"),
    ("+0 < [ect0] . 1:1(0) ack 1 win 6000", "IP ECN"),
])
def test_unsupported_constructs_fail_clearly(line, what):
    f = failure(run(SERVER + "    " + line + "\n"))
    assert f.kind == "unsupported" and f.line == 8
    assert f.message.startswith("unsupported: ") and what in f.message


def test_unknown_option_is_unsupported():
    f = failure(run_text("--wire_client\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"))
    assert f.kind == "unsupported" and "--wire_client" in f.message


def test_close_of_unknown_fd_is_ebadf():
    assert run("0 close(7) = -1 EBADF (Bad file descriptor)\n").passed


def test_connection_reset_reported_once_then_eof():
    script = SERVER + """\
    +0    < R. 1:1(0) ack 1 win 0
    +0    read(4, ..., 10) = -1 ECONNRESET (Connection reset by peer)
    +0    read(4, ..., 10) = 0
    +0    write(4, ..., 10) = -1 EPIPE (Broken pipe)
    """
    assert run(script).passed


# --------------------------------------------------------------------------
# the building blocks

def _pkt(text: str) -> A.Packet:
    script = parse_text(text)
    (ev,) = script.timed_events
    return ev


def test_inbound_octets_keep_option_order_and_map_numbers():
    m = Mapping(local_isn_live=5000, local_isn_script=0, remote_isn=100)
    ev = _pkt("0 < P. 1:11(10) ack 3 win 77 <sack 5:9,nop,nop>\n")
    p = parse_ip_tcp(build_inbound(ev, m, ("192.0.2.1", 40000), ("192.168.0.1", 8080)))
    assert (p.src_port, p.dst_port, p.window) == (40000, 8080, 77)
    assert p.seq == 101 and p.ack == 5003 and p.flags == PSH | ACK
    assert [o.kind for o in p.options] == [5, 1, 1]
    view = to_script_space(p, Mapping(local_isn_live=100, remote_isn=5000))
    assert view.seq == 1 and view.ack == 3 and view.length == 10


def test_syn_numbers_are_absolute():
    m = Mapping(local_isn_live=9000, local_isn_script=0, remote_isn=0)
    ev = _pkt("0 < S. 777:777(0) ack 1 win 1000\n")
    p = parse_ip_tcp(build_inbound(ev, m, ("192.0.2.1", 8080), ("192.168.0.1", 3333)))
    assert p.seq == 777 and p.ack == 9001 and p.flags == SYN | ACK


def test_flags_text_round_trip():
    for text in ("S", "S.", "P.", "F.", "FP.", "R", "R.", ".", "SEW", "-"):
        assert flags_to_script(flags_from_script(text if text != "-" else "")) == text


def test_compare_reports_every_difference():
    exp = _pkt("0 > P. 1:11(10) ack 5 win 9\n")
    m = Mapping()
    raw = build_inbound(_pkt("0 < . 2:12(10) ack 6 win 8\n"), m, ("10.0.0.1", 1), ("10.0.0.2", 2))
    got = to_script_space(parse_ip_tcp(raw), m)
    problems = compare(exp, got, ts_tick_usecs=0, tolerance_usecs=4000)
    text = "; ".join(problems)
    for part in ("flags: expected P., actual .", "seq: expected 1, actual 2",
                 "ack: expected 5, actual 6", "win: expected 9, actual 8"):
        assert part in text


def test_unknown_ts_ecr_is_an_error():
    with pytest.raises(PacketError):
        Mapping().in_ts_ecr(12345)


def test_init_command_reading():
    plan = read_init("../common/defaults.sh\n"
                     "sysctl -q net.ipv4.tcp_sack=0 net.ipv4.tcp_rmem=\"4096 87380 6291456\"\n"
                     "../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0\n"
                     "echo 3 > /proc/sys/net/ipv4/tcp_syn_retries\n"
                     "ethtool -K tun0 tso off\n"
                     "sysctl -q net.ipv4.tcp_tso_win_divisor=3\n", linux_profile())
    assert plan.linux_defaults
    assert plan.changes == {"sack": False, "rcvbuf": 87380, "max_rcvbuf": 6291456,
                            "timestamps": False, "syn_retries": 3}
    notes = "\n".join(plan.notes)
    assert "ignored `ethtool -K tun0 tso off`" in notes
    assert "ignored sysctl net.ipv4.tcp_tso_win_divisor=3" in notes


# --------------------------------------------------------------------------
# command line

def test_main_exit_status_and_summary(capsys):
    assert main([str(OWN / "closed-port-rst.pkt")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "1/1 passed" in out
    assert main([str(OWN / "closed-port-rst.pkt"), str(OWN / "fail-too-late.pkt")]) == 1
    out = capsys.readouterr().out
    assert "1/2 passed" in out and "fail-too-late.pkt: line 12" in out


def test_main_json(capsys):
    assert main(["--json", str(OWN / "fail-wrong-flags.pkt")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] == 0 and data["total"] == 1
    res = data["results"][0]
    assert res["status"] == "FAIL" and res["failure"]["line"] == 7
    assert res["trace"] and res["profile"] == "linux"


def test_main_usage_errors(capsys):
    assert main([]) == 2
    assert main(["--profile", "nonesuch", str(OWN / "closed-port-rst.pkt")]) == 2


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "synack.packetdrill",
                          str(OWN / "closed-port-rst.pkt")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1/1 passed" in out.stdout


def test_so_linger_zero_close_sends_rst_and_siocoutq():
    script = SERVER + """\
    +0    write(4, ..., 100) = 100
    +0    > P. 1:101(100) ack 1
    +0    ioctl(4, SIOCOUTQ, [100]) = 0
    +0    setsockopt(4, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8) = 0
    +0    close(4) = 0
    +0    > R. 101:101(0) ack 1
    +0    close(4) = -1 EBADF (Bad file descriptor)
    """
    r = run(script)
    assert r.passed, r.failure


def test_getsockopt_output_mismatch_fails():
    f = failure(run(SERVER + "    +0 getsockopt(4, SOL_TCP, TCP_MAXSEG, [1460], [4]) = 0\n"))
    assert f.kind == "syscall" and "expected [1460], actual [1000]" in f.message


def test_python_block_ending_in_a_line_continuation():
    # tcp_info/tcp-info-rwnd-limited.pkt ends a block's last line with `\`:
    # packetdrill runs it (more lines follow in its Python file), so must we.
    r = run(SERVER + "    +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd;\\\n"
                     "          assert tcpi_snd_cwnd > 0;\\\n}%\n")
    assert r.passed, r.failure
    r = run(SERVER + "    +0 %{ assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd;\\\n}%\n")
    assert not r.passed and "tcpi_snd_cwnd=10" in r.failure.message
