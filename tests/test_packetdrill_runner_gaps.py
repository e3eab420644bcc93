"""The runner runs every script (issue 13): what used to be skipped or
ignored is evaluated or fails with a reason; packetdrill's options and -D
definitions on the command line and in scripts; what %{ }% blocks print
stays out of --json; the socket-level TCP_INFO fields."""
from __future__ import annotations

import json
import textwrap

import pytest
from pdscripts import SERVER, SERVER_WSCALE

from synack.packetdrill.runner import OPTIONS, RunOptions, main, run_text



def run(text: str, **opts):
    return run_text(textwrap.dedent(text), "<test>", RunOptions(**opts))


def failure(result):
    assert not result.passed, "expected the script to fail"
    return result.failure


# -- nothing skipped -----------------------------------------------------------

def test_unevaluable_block_fails_even_after_passing_ones():
    r = run(SERVER + "    +0 %{ assert tcpi_snd_mss == 1000 }%\n"
                     "    +0 %{ assert tcpi_fackets == 0 }%\n")
    f = failure(r)
    assert f.kind == "unsupported" and f.line == 9 and "tcpi_fackets" in f.message


# -- socket-level TCP_INFO fields ----------------------------------------------------

def test_last_data_recv_counts_from_establishment_then_from_data():
    r = run(SERVER + "    +1 %{ assert 995 <= tcpi_last_data_recv <= 1005, tcpi_last_data_recv }%\n"
                     "    +0 < . 1:1001(1000) ack 1 win 6000\n"
                     "    +0 > . 1:1(0) ack 1001\n"
                     "    +.25 %{ assert tcpi_last_data_recv == 250, tcpi_last_data_recv }%\n")
    assert r.passed, r.failure
    f = failure(run(SERVER + "    +1 %{ assert tcpi_last_data_recv < 900 }%\n"))
    assert f.kind == "python" and "tcpi_last_data_recv=1000" in f.message


def test_rcv_mss_is_the_largest_segment_seen():
    r = run(SERVER + "    +0 %{ assert tcpi_rcv_mss == 536, tcpi_rcv_mss }%\n"
                     "    +0 < . 1:801(800) ack 1 win 6000\n"
                     "    +0 > . 1:1(0) ack 801\n"
                     "    +0 %{ assert tcpi_rcv_mss == 800, tcpi_rcv_mss }%\n")
    assert r.passed, r.failure


def test_busy_and_rwnd_limited_time():
    # the peer's window is 1000: a 3000-byte write waits for it
    script = SERVER.replace("+.1   < . 1:1(0) ack 1 win 6000", "+.1   < . 1:1(0) ack 1 win 1000")
    r = run(script + """\
    +0    write(4, ..., 3000) = 3000
    +0    > . 1:1001(1000) ack 1
    +.1   < . 1:1(0) ack 1001 win 1000
    +0    > . 1001:2001(1000) ack 1
    +.1   < . 1:1(0) ack 2001 win 3000
    +0    > P. 2001:3001(1000) ack 1
    +.05  < . 1:1(0) ack 3001 win 3000
    +0    %{ assert tcpi_rwnd_limited == 200000, tcpi_rwnd_limited }%
    +0    %{ assert tcpi_busy_time == 250000, tcpi_busy_time }%
    +0    %{ assert tcpi_sndbuf_limited == 0, tcpi_sndbuf_limited }%
    """)
    assert r.passed, r.failure


# -- options and definitions ----------------------------------------------------------

def test_every_packetdrill_option_is_known():
    # src/config.c's option table, every entry
    names = {"ip_version", "bind_port", "code_command", "code_format", "code_sockopt",
             "connect_port", "remote_ip", "local_ip", "gateway_ip", "netmask_ip", "speed",
             "mss", "mtu", "init_scripts", "tolerance_usecs", "tolerance_percent",
             "wire_client", "wire_server", "wire_server_ip", "wire_server_at",
             "wire_server_port", "wire_client_dev", "wire_server_dev", "so_filename",
             "so_flags", "tcp_ts_ecr_scaled", "tcp_ts_tick_usecs", "strict_segments",
             "non_fatal", "dry_run", "is_anyip", "send_omit_free", "psp_udp_port", "debug",
             "define", "verbose"}
    assert names == set(OPTIONS)


@pytest.mark.parametrize("option, kind, words", [
    ("--no_such_option=1", "unsupported", "not one of packetdrill's options"),
    ("--wire_client", "unsupported", "wire client/server"),
    ("--tolerance_usecs=0", "script", "bad --tolerance_usecs"),
    ("--tolerance_percent=150", "script", "bad --tolerance_percent"),
    ("--ip_version=ipv5", "script", "bad --ip_version"),
    ("--local_ip=not.an.ip", "script", "bad --local_ip"),
    ("--strict_segments=1", "script", "forbids an argument"),
    ("--mtu", "script", "requires an argument"),
])
def test_bad_or_unsupported_options_fail_with_a_reason(option, kind, words):
    f = failure(run(option + "\n" + SERVER))
    assert f.kind == kind and words in f.message


def test_command_line_options_override_the_script():
    script = "--tolerance_usecs=1000\n" + SERVER + "    +.003 write(4, ..., 10) = 10\n" \
             "    +0 > P. 1:11(10) ack 1\n"
    assert run(script).passed
    late = script.replace("+0 > P. 1:11(10) ack 1", "+.002 > P. 1:11(10) ack 1")
    assert not run(late).passed                               # 2 ms off, 1 ms tolerance
    assert run(late, script_options=[("tolerance_usecs", "3000")]).passed


def test_local_ip_and_ip_version_in_any_order():
    from synack.packetdrill.parser import parse_text
    from synack.packetdrill.runner import Runner
    for opts in (["--local_ip=fd::9", "--ip_version=ipv6"],
                 ["--ip_version=ipv6", "--local_ip=fd::9"]):
        runner = Runner(parse_text("\n".join(opts) + "\n0 socket(..., SOCK_STREAM, "
                                   "IPPROTO_TCP) = 3\n"))
        assert runner.addr.local_ip == "fd::9" and runner.addr.remote_ip == "2001:db8::1"
        assert runner.addr.wire_v6 and runner.addr.socket_v6


def test_defines_substitute_names():
    script = SERVER + "    +0 write(4, ..., LEN) = LEN\n    +0 > P. 1:11(10) ack 1\n"
    assert run(script, defines={"LEN": "10"}).passed
    f = failure(run(script))
    assert "LEN" in f.message


def test_dry_run_parses_only():
    r = run("--dry_run\n" + SERVER + "    +0 > P. 1:11(10) ack 1\n")
    assert r.passed and r.events_run == 0
    assert any("dry_run" in n for n in r.notes)


def test_gso_mss_cuts_an_injected_packet():
    r = run("--mss=700\n" + SERVER + "    +0 < . 1:2101(2100) ack 1 win 6000\n"
            "    +0 > . 1:1(0) ack 2101\n"
            "    +0 %{ assert tcpi_rcv_mss == 700, tcpi_rcv_mss }%\n")
    assert r.passed, r.failure
    assert any("3 segments" in n for n in r.notes)


def test_cli_defines_and_options(tmp_path, capsys):
    p = tmp_path / "t.pkt"
    p.write_text(textwrap.dedent(SERVER) + "+0 write(4, ..., LEN) = LEN\n+0 > P. 1:11(10) ack 1\n")
    assert main(["-D", "LEN=10", "--tolerance_usecs=5000", "--local_ip=192.168.0.7", str(p)]) == 0
    assert "1/1 passed" in capsys.readouterr().out
    assert main([str(p)]) == 1
    capsys.readouterr()
    assert main(["-D", "LEN", str(p)]) == 2
    assert "synack: error: bad definition" in capsys.readouterr().err
    assert main(["--wire_client", str(p)]) == 1


def test_json_stays_json_when_a_block_prints(tmp_path, capsys):
    p = tmp_path / "t.pkt"
    p.write_text(textwrap.dedent(SERVER) + "+0 %{ print(tcpi_snd_mss); print('{oops') }%\n")
    assert main(["--json", str(p)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["results"][0]["output"] == "1000\n{oops\n"


# -- system calls -------------------------------------------------------------------------

def test_epoll_edge_triggered_reports_once_per_wakeup():
    r = run(SERVER + """\
    +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
    +0 epoll_create(1) = 5
    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLOUT|EPOLLET, fd=4}) = 0
    +0 epoll_wait(5, {events=EPOLLOUT, fd=4}, 1, 0) = 1
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 < P. 1:101(100) ack 1 win 6000
    +0 > . 1:1(0) ack 101
    +0 epoll_wait(5, {events=EPOLLIN|EPOLLOUT, fd=4}, 1, 0) = 1
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 read(4, ..., 50) = 50
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    """)
    assert r.passed, r.failure
    # level-triggered: reported while readable
    r = run(SERVER + """\
    +0 epoll_create1(0) = 5
    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 < P. 1:101(100) ack 1 win 6000
    +0 > . 1:1(0) ack 101
    +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
    +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = -1 EEXIST (File exists)
    +0 epoll_ctl(5, EPOLL_CTL_DEL, 4, NULL) = 0
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 close(5) = 0
    """)
    assert r.passed, r.failure


def test_epoll_wait_blocks_until_data():
    r = run(SERVER + """\
    +0 epoll_create(1) = 5
    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0
    +0...0.2 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 1000) = 1
    +.2 < P. 1:101(100) ack 1 win 6000
    """)
    assert r.passed, r.failure
    f = failure(run(SERVER + "    +0 epoll_create(1) = 5\n"
                    "    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, fd=4}) = 0\n"
                    "    +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1\n"))
    assert f.kind == "syscall" and "expected EPOLLIN, actual EPOLLOUT" in f.message


def test_null_buffers_fault():
    r = run(SERVER + """\
    +0 write(4, NULL, 10) = -1 EFAULT (Bad address)
    +0 send(4, NULL, 10, 0) = -1 EFAULT (Bad address)
    +0 < P. 1:101(100) ack 1 win 6000
    +0 > . 1:1(0) ack 101
    +0 read(4, NULL, 10) = -1 EFAULT (Bad address)
    +0 read(4, ..., 100) = 100
    """)
    assert r.passed, r.failure


def test_tcp_inq_control_message():
    script = SERVER + """\
    +0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0
    +0 getsockopt(4, SOL_TCP, TCP_INQ, [1], [4]) = 0
    +0 < P. 1:1001(1000) ack 1 win 6000
    +0 > . 1:1(0) ack 1001
    +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 400}], msg_flags=0,
                   msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=600}]}, 0) = 400
    +0 < F. 1001:1001(0) ack 1 win 6000
    +0 > . 1:1(0) ack 1002
    +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 600}], msg_flags=0,
                   msg_control=[{cmsg_level=SOL_TCP, cmsg_type=TCP_CM_INQ, cmsg_data=1}]}, 0) = 600
    """
    assert run(script).passed
    f = failure(run(script.replace("cmsg_data=600", "cmsg_data=500")))
    assert f.kind == "syscall" and "TCP_CM_INQ expected 500, actual 600" in f.message
    f = failure(run(script.replace("+0 setsockopt(4, SOL_TCP, TCP_INQ, [1], 4) = 0\n", "")
                    .replace("+0 getsockopt(4, SOL_TCP, TCP_INQ, [1], [4]) = 0\n", "")))
    assert "TCP_INQ is off" in f.message


def test_ip_tos_marks_packets():
    r = run(SERVER + """\
    +0 setsockopt(4, SOL_IP, IP_TOS, [0x10], 1) = 0
    +0 getsockopt(4, SOL_IP, IP_TOS, [0x10], [4]) = 0
    +0 write(4, ..., 10) = 10
    +0 > [tos 0x10] P. 1:11(10) ack 1
    +0 setsockopt(4, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DONT], 1) = 0
    +0 getsockopt(4, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DONT], [4]) = 0
    """)
    assert r.passed, r.failure


def test_tcp_cork_holds_partial_segments_until_uncorked():
    r = run(SERVER + """\
    +0 setsockopt(4, SOL_TCP, TCP_CORK, [1], 4) = 0
    +0 write(4, ..., 40) = 40
    +.05 write(4, ..., 40) = 40
    +.01 setsockopt(4, SOL_TCP, TCP_CORK, [0], 4) = 0
    +0 > P. 1:81(80) ack 1
    +.01 < . 1:1(0) ack 81 win 6000
    +0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
    +0 send(4, ..., 40, MSG_MORE) = 40
    +.05 send(4, ..., 40, MSG_MORE) = 40
    +0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
    +0 > . 81:161(80) ack 1
    """)
    assert r.passed, r.failure


def test_msg_more_goes_at_the_probe_timer_when_nothing_is_in_flight():
    # SRTT 100 ms (the handshake), so Linux's RTO is 100 + 200 ms
    r = run(SERVER + """\
    +0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0
    +0 send(4, ..., 40, MSG_MORE) = 40
    +.3 > P. 1:41(40) ack 1
    """)
    assert r.passed, r.failure


def test_msg_eor_ends_segments():
    script = SERVER.replace("win 6000", "win 60000") + """\
    +0 write(4, ..., 1500) = 1500
    +0 send(4, ..., 300, MSG_EOR) = 300
    +0 write(4, ..., 1000) = 1000
    +0 > . 1:1001(1000) ack 1
    +0 > P. 1001:1801(800) ack 1
    +0 > P. 1801:2801(1000) ack 1
    """
    r = run(script)
    assert r.passed, r.failure
    # without MSG_EOR the writes share segments
    f = failure(run(script.replace("MSG_EOR", "0")))
    assert f.kind == "packet" and f.line == 12


# -- shell commands ----------------------------------------------------------------------

def test_shell_arithmetic_and_lists_in_init():
    from synack.engine.config import linux_profile
    from synack.packetdrill.initcmd import read_init, shell_arith
    assert shell_arith("32*1024*1024") == 33554432 and shell_arith("-7/2") == -3
    with pytest.raises(ValueError):
        shell_arith("__import__('os')")
    plan = read_init('sysctl -q net.ipv4.tcp_rmem="4096 87380 $((32*1024*1024))" > /dev/null 2>&1'
                     " ; sysctl -w net.ipv4.tcp_sack=0 && true\n", linux_profile())
    assert plan.changes == {"rcvbuf": 87380, "max_rcvbuf": 33554432, "sack": False}
    assert not plan.unsupported


@pytest.mark.parametrize("command, words", [
    ("sysctl -q net.ipv4.tcp_no_such_thing=1", "no engine equivalent"),
    ("sysctl -q net.ipv4.tcp_mtu_probing=1", "synack models only 0"),
    ("sysctl -q net.ipv4.tcp_rmem=$((1/0))", "division by zero"),
    ("tc qdisc replace dev tun0 root fq maxrate 1mbit", "qdisc fq"),
    ("cat /proc/net/tcp", "a command the runner does not model"),
])
def test_unmodelled_init_commands_fail(command, words):
    f = failure(run(f"`{command}`\n" + SERVER))
    assert f.kind == "unsupported" and f.line == 1 and words in f.message


def test_route_advmss_mtu_initcwnd_in_init():
    r = run("`ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 "
            "initcwnd 3`\n" + SERVER.replace("> S. 0:0(0) ack 1 <mss 1460>",
                                             "> S. 0:0(0) ack 1 <mss 600>")
            + "    +0 write(4, ..., 3000) = 3000\n    +0 > . 1:1801(1800) ack 1\n"
            "    +.1 < . 1:1(0) ack 1801 win 6000\n")
    assert r.passed, r.failure


def test_timed_sysctl_changes_later_connections():
    r = run(SERVER + """\
    +0 `sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=0`
    +0 < S 0:0(0) win 6000 <mss 1000,sackOK,TS val 1 ecr 0>
    """ + "")
    assert r.passed, r.failure
    assert any("tcp_sack=0" in n for n in r.notes)
    # the listener's next connection no longer offers SACK
    r = run(SERVER.replace("< S 0:0(0) win 6000 <mss 1000>", "< S 0:0(0) win 6000 <mss 1000,sackOK,nop,nop>")
            .replace("> S. 0:0(0) ack 1 <mss 1460>", "> S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK>")
            .replace("    0     socket", "    0     `sysctl -q net.ipv4.tcp_sack=1`\n    +0 socket"))
    assert r.passed, r.failure


def test_qdisc_limit_zero_drops_what_synack_sends():
    script = SERVER + """\
    +0 `tc qdisc replace dev tun0 root pfifo limit 0`
    +0 write(4, ..., 10) = 10
    +.5 `tc qdisc del dev tun0 root`
    +0 < . 1:1(0) ack 1 win 6000
    """
    r = run(script + "    * > P. 1:11(10) ack 1\n")
    drops = [t for t in r.trace if t.what == "drop"]
    assert drops and all("limit 0" in t.text for t in drops)
    assert r.passed, r.failure       # the first retransmission after the qdisc is gone
    f = failure(run(script.replace("+.5 `tc qdisc del dev tun0 root`", "+.5 write(4, ..., 1) = 1")
                    + "    +0 > P. 1:11(10) ack 1\n"))
    assert f.kind == "packet"


def test_nstat_counts_retransmissions():
    script = SERVER + """\
    +0 `nstat > /dev/null`
    +0 write(4, ..., 10) = 10
    +0 > P. 1:11(10) ack 1
    * > P. 1:11(10) ack 1
    +0 `nstat | grep TcpRetransSegs > /dev/null`
    """
    r = run(script)
    assert r.passed, r.failure
    f = failure(run(script.replace("* > P. 1:11(10) ack 1\n", "")))
    assert f.kind == "shell" and "TcpRetransSegs" in f.message


# -- how much of a write Linux takes ------------------------------------------------------

def test_write_takes_buffers_of_half_the_peer_window_and_stops_at_notsent_lowat():
    # peer window 32896 -> buffers of 16 segments (16000 bytes); IW 10 goes
    # out at once, the rest waits; a new buffer is started only while unsent
    # data is under TCP_NOTSENT_LOWAT
    script = """\
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
    +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
    +.01 < . 1:1(0) ack 1 win 257
    +0 accept(3, ..., ...) = 4
    +0 setsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [LOWAT], 4) = 0
    +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
    +0 write(4, ..., 59000) = TAKEN
    +0 > P. 1:10001(10000) ack 1
    """
    assert run(script, defines={"LOWAT": "4000", "TAKEN": "26000"}).passed
    assert run(script, defines={"LOWAT": "32000", "TAKEN": "42000"}).passed
    f = failure(run(script, defines={"LOWAT": "4000", "TAKEN": "59000"}))
    assert "expected result 59000 but got 26000" in f.message



def test_min_tso_segs_sets_the_psh_units():
    # tcp_min_tso_segs=10 with cwnd 10: Linux sends 5-segment TSO units
    # (at most half the cwnd), PSH on each unit's last segment
    script = """\
    `sysctl -q net.ipv4.tcp_min_tso_segs=SEGS`
""" + SERVER_WSCALE + """\
    +0 write(4, ..., 26000) = 26000
    +0 > P. 1:5001(5000) ack 1
    +0 > P. 5001:10001(5000) ack 1
    """
    r = run(script.replace("SEGS", "10"))
    assert r.passed, r.failure
    psh = [t.text for t in r.trace if t.what == "send" and t.text.startswith("> P.")]
    assert psh == ["> P. 4001:5001(1000) ack 1 win 512", "> P. 9001:10001(1000) ack 1 win 512"]
    f = failure(run(script.replace("SEGS", "2")))     # 2-segment units: PSH on the 2nd
    assert f.kind == "packet" and f.line == 10


def test_an_undefined_name_asks_for_a_definition():
    script = SERVER.replace("< S 0:0(0) win 6000 <mss 1000>",
                            "< S 0:0(0) win 6000 <mss 1000,FO COOKIE,nop,nop>")
    f = failure(run(script))
    assert f.kind == "script" and "-D COOKIE=VALUE" in f.message and f.line == 4


def test_epoll_oneshot_until_mod():
    r = run(SERVER + """\
    +0 epoll_create(1) = 5
    +0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT|EPOLLONESHOT, fd=4}) = 0
    +0 epoll_wait(5, {events=EPOLLOUT, fd=4}, 1, 0) = 1
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 < P. 1:101(100) ack 1 win 6000
    +0 > . 1:1(0) ack 101
    +0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0
    +0 epoll_ctl(5, EPOLL_CTL_MOD, 4, {events=EPOLLIN, fd=4}) = 0
    +0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
    +0 epoll_ctl(5, EPOLL_CTL_MOD, 3, {events=EPOLLIN, fd=3}) = -1 ENOENT (No such file or directory)
    +0 epoll_ctl(4, EPOLL_CTL_ADD, 3, {events=EPOLLIN, fd=3}) = -1 EINVAL (Invalid argument)
    """)
    assert r.passed, r.failure


def test_sndbuf_limited_counts_only_while_everything_is_sent():
    # SO_SNDBUF 1000 gives Linux's minimum, 4608. The write fills a buffer
    # (half the peer's 60000 window: 30000); IW10 sends 10000 of it, the
    # rest (20000) stays a partly filled buffer, which takes 10000 more; then
    # the queue is over the send buffer and the write stops at 40000. The
    # connection is send-buffer limited from when all of it is sent with
    # cwnd to spare (ack 20001: 20000 in flight, cwnd 30) until the writer
    # may go on (ack 40001: the queue is empty)
    r = run(SERVER.replace("win 6000", "win 60000") + """\
    +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
    +0 setsockopt(4, SOL_SOCKET, SO_SNDBUF, [1000], 4) = 0
    +0 getsockopt(4, SOL_SOCKET, SO_SNDBUF, [4608], [4]) = 0
    +0 write(4, ..., 100000) = 40000
    +.1 < . 1:1(0) ack 10001 win 60000
    +0 %{ assert tcpi_sndbuf_limited == 0, tcpi_sndbuf_limited }%
    +.1 < . 1:1(0) ack 20001 win 60000
    +0 %{ assert tcpi_sndbuf_limited == 0, tcpi_sndbuf_limited }%
    +.1 < . 1:1(0) ack 30001 win 60000
    +.1 < . 1:1(0) ack 40001 win 60000
    +0 %{ assert tcpi_sndbuf_limited == 200000, tcpi_sndbuf_limited }%
    +0 %{ assert tcpi_busy_time == 400000, tcpi_busy_time }%
    +0 %{ assert tcpi_rwnd_limited == 0, tcpi_rwnd_limited }%
    """)
    assert r.passed, r.failure


@pytest.mark.parametrize("sysctl, ok", [
    ("net.ipv4.tcp_fastopen=0x1", True),        # client bit: no socket can use it here
    ("net.ipv4.tcp_fastopen=0x400", False),     # Fast Open on every listener
    ("net.ipv4.tcp_ecn=2", True),               # noted: a script expecting ECN fails at it
    ("net.ipv4.tcp_frto=2", True),              # the profile's value
    ("net.ipv4.tcp_frto=0", False),
    ("net.ipv4.tcp_early_retrans=0", True),     # -> tlp False
])
def test_sysctl_acceptance(sysctl, ok):
    from synack.engine.config import linux_profile
    from synack.packetdrill.initcmd import read_init
    plan = read_init(f"sysctl -q {sysctl}", linux_profile())
    assert (not plan.unsupported) == ok, plan.unsupported
    if sysctl.endswith("early_retrans=0"):
        assert plan.changes == {"tlp": False}


def test_slow_start_after_idle_follows_the_sysctl():
    # Linux's defaults keep cwnd over an idle period (the linux profile);
    # tcp_slow_start_after_idle=1 restarts from the restart window (RFC 5681 §4.1)
    script = """\
    `sysctl -q net.ipv4.tcp_slow_start_after_idle=IDLE`
""" + SERVER_WSCALE + """\
    +0 write(4, ..., 10000) = 10000
    +.1 < . 1:1(0) ack 10001 win 511
    +0 %{ assert tcpi_snd_cwnd == 20, tcpi_snd_cwnd }%
    +2 write(4, ..., 30000) = 30000
    +0 %{ assert tcpi_snd_cwnd == CWND, tcpi_snd_cwnd }%
    """
    assert run(script.replace("IDLE", "0").replace("CWND", "20")).passed
    assert run(script.replace("IDLE", "1").replace("CWND", "10")).passed
    assert run(script.replace("`sysctl -q net.ipv4.tcp_slow_start_after_idle=IDLE`\n", "")
               .replace("CWND", "20")).passed                 # the linux profile: no restart
