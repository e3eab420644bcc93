"""Tests for the packetdrill script parser (synack.packetdrill).

The shared conformance scripts are read from the repo root's sibling
`shared/` folder (never copied into the project). Every other script here
is written for these tests.
"""
from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from synack.packetdrill import (
    ArrayExpr, BinaryExpr, CallExpr, ElidedOptions, EllipsisExpr,
    EolOption, FastOpenOption, FieldExpr, IcmpPacket, Ident, IntExpr,
    Md5Option, MssOption, NopOption, Packet, PythonBlock, SackOption,
    SackPermittedOption, Script, ScriptSyntaxError, ShellCommand, StrExpr,
    StructExpr, Syscall, Time, TimestampOption, UdpPacket, UndefinedSymbolError,
    WscaleOption,
    parse_file, parse_text, tokenize,
)

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared" /
          "conformance" / "packetdrill")
CASES = Path(__file__).resolve().parent / "packetdrill" / "parser_cases"


def _target_scripts() -> list[str]:
    target = SHARED / "TARGET.txt"
    if not target.exists():
        return []
    return [line.strip() for line in target.read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def _all_shared_scripts() -> list[str]:
    root = SHARED / "tcp"
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(SHARED)) for p in root.rglob("*.pkt"))


needs_shared = pytest.mark.skipif(not (SHARED / "tcp").is_dir(),
                                  reason="shared/conformance/packetdrill not present")


def one(text: str):
    """Parse a script expected to hold exactly one timed event; return it."""
    script = parse_text(textwrap.dedent(text))
    timed = script.timed_events
    assert len(timed) == 1, timed
    return timed[0]


def pkt(text: str) -> Packet:
    event = one(text)
    assert isinstance(event, Packet)
    return event


def call(text: str) -> Syscall:
    event = one(text)
    assert isinstance(event, Syscall)
    return event


def syntax_error(text: str, path: str = "<string>") -> ScriptSyntaxError:
    with pytest.raises(ScriptSyntaxError) as info:
        parse_text(textwrap.dedent(text), path)
    return info.value


# --------------------------------------------------------------------------
# The shared packetdrill scripts

@needs_shared
def test_target_list_has_28_scripts():
    assert len(_target_scripts()) == 28


@needs_shared
@pytest.mark.parametrize("rel", _target_scripts())
def test_target_script_parses(rel):
    script = parse_file(SHARED / rel)
    assert script.timed_events
    assert script.path.endswith(rel)


@needs_shared
@pytest.mark.parametrize("rel", _all_shared_scripts())
def test_every_shared_script_parses(rel):
    script = parse_file(SHARED / rel)
    # Every script here starts with its init command and a socket() call.
    assert script.init_commands
    first = script.timed_events[0]
    assert isinstance(first, Syscall) and first.name == "socket"
    # At the start of the script: written `0`, or `+0` (packetdrill counts a
    # relative time on the first event from the script's start, as
    # tcp_info/tcp-info-last_data_recv.pkt writes it).
    assert first.time in (Time("absolute", 0.0), Time("relative", 0.0))


@needs_shared
def test_shared_set_is_all_found():
    assert len(_all_shared_scripts()) >= 42


@needs_shared
@pytest.mark.parametrize("rel", _all_shared_scripts())
def test_packet_str_reparses_to_same_packet(rel):
    """str(Packet) is script syntax: reparsing it gives the same packet."""
    for event in parse_file(SHARED / rel).timed_events:
        if isinstance(event, Packet):
            again = pkt(f"{event.time} {event}\n")
            assert dataclasses.replace(again, line=event.line) == event


@needs_shared
def test_shared_blocking_read_details():
    script = parse_file(SHARED / "tcp/blocking/blocking-read.pkt")
    assert script.options == {"tolerance_usecs": "10000"}
    reads = [e for e in script.events
             if isinstance(e, Syscall) and e.name == "read"]
    assert reads[0].time == Time("relative", 0.0, None, 0.1)
    assert reads[1].time.value == pytest.approx(0.1)
    assert reads[1].end_time == pytest.approx(0.2)
    assert reads[1].blocking


@needs_shared
def test_shared_sendmsg_struct():
    script = parse_file(SHARED / "tcp/nagle/sendmsg_msg_more.pkt")
    sends = [e for e in script.events
             if isinstance(e, Syscall) and e.name == "sendmsg"]
    three = [s for s in sends if s.result == IntExpr(495)][0]
    msg = three.args[1]
    assert isinstance(msg, StructExpr)
    iov = msg.field_named("msg_iov")
    assert iov.args == [IntExpr(3)]
    assert [item.items[1] for item in iov.value.items] == \
        [IntExpr(100), IntExpr(200), IntExpr(195)]
    assert three.args[2] == Ident("MSG_MORE")


# --------------------------------------------------------------------------
# Times

@pytest.mark.parametrize("text, expected", [
    ("0 close(3) = 0", Time("absolute", 0.0)),
    ("2 close(3) = 0", Time("absolute", 2.0)),
    ("1.250 close(3) = 0", Time("absolute", 1.25)),
    ("+0 close(3) = 0", Time("relative", 0.0)),
    ("+.1 close(3) = 0", Time("relative", 0.1)),
    ("+0.1 close(3) = 0", Time("relative", 0.1)),
    ("+3 close(3) = 0", Time("relative", 3.0)),
    ("* > . 1:1(0) ack 1", Time("any")),
    ("0.5~0.7 > . 1:1(0) ack 1", Time("absolute", 0.5, 0.7)),
    ("+.02~+.035 > . 1:1(0) ack 1", Time("relative", 0.02, 0.035)),
    ("0...0.2 accept(3, ..., ...) = 4", Time("absolute", 0.0, None, 0.2)),
    ("0.000...0.200 accept(3, ..., ...) = 4",
     Time("absolute", 0.0, None, 0.2)),
    ("+.1...0.250 read(4, ..., 10) = 10", Time("relative", 0.1, None, 0.25)),
    ("+0...0.000 read(4, ..., 10) = 10", Time("relative", 0.0, None, 0.0)),
])
def test_event_times(text, expected):
    assert one(text).time == expected


def test_time_microseconds_are_rounded_not_truncated():
    t = pkt("+.105~+.115 > . 1:1(0) ack 1").time
    assert t.usecs == 105000
    assert t.range_end_usecs == 115000
    assert t.end_usecs is None
    s = call("+.3...0.700 read(3, ..., 1) = 1")
    assert s.time.end_usecs == 700000
    assert s.end_time == pytest.approx(0.7)


def test_time_str():
    assert str(Time("relative", 0.1)) == "+.1"
    assert str(Time("absolute", 0.5, 0.75)) == ".5~.75"
    assert str(Time("relative", 0.0, None, 0.2)) == "+0...0.2"
    assert str(Time("any")) == "*"


def test_event_line_is_the_line_of_its_time():
    script = parse_text(
        "// leading comment\n"
        "\n"
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 setsockopt(3, SOL_SOCKET,\n"
        "              SO_REUSEADDR, [1], 4) = 0\n"
        "/* two\n lines */ +0 listen(3, 7) = 0\n")
    assert [e.line for e in script.events] == [3, 4, 7]


# --------------------------------------------------------------------------
# Packets

def test_inbound_syn_fields():
    p = pkt("+0 < S 0:0(0) win 29200 <mss 1380,nop,wscale 9>")
    assert p.direction == "<" and p.inbound and not p.outbound
    assert p.flags == "S"
    assert (p.start_seq, p.end_seq, p.length) == (0, 0, 0)
    assert p.ack is None and p.win == 29200 and p.urg is None
    assert p.options == [MssOption(1380), NopOption(), WscaleOption(9)]


def test_outbound_data_fields():
    p = pkt("+0 > P. 501:1725(1224) ack 88")
    assert p.outbound and p.flags == "P." and p.has_flag("P")
    assert p.has_flag(".") and not p.has_flag("F")
    assert (p.start_seq, p.end_seq, p.length) == (501, 1725, 1224)
    assert p.ack == 88
    assert p.win is None      # not written: not checked on outbound
    assert p.options is None  # not written: packetdrill means "no options"
    assert not p.options_dont_care


@pytest.mark.parametrize("written, flags", [
    ("S", "S"), ("S.", "S."), ("F.", "F."), ("P.", "P."), ("R", "R"),
    ("R.", "R."), (".", "."), ("-", ""), ("FP.", "FP."), ("SEW", "SEW"),
])
def test_flags(written, flags):
    p = pkt(f"+0 < {written} 10:10(0) win 100")
    assert p.flags == flags


def test_more_flags():
    assert pkt("+0 > U. 1:2(1) ack 1 urg 1").flags == "U."
    assert pkt("+0 > E. 1:1(0) ack 1").flags == "E."
    assert pkt("+0 > W. 1:1(0) ack 1").flags == "W."
    # AccECN ACE field written after the dot.
    assert pkt("+0 > S.5 0:0(0) ack 1").flags == "S.5"


def test_urgent_pointer_and_window_any_order():
    p = pkt("+0 < P. 1:11(10) win 500 urg 4 ack 1")
    assert (p.ack, p.win, p.urg) == (1, 500, 4)


def test_ports_and_ip_attributes():
    p = pkt("+0 < [ect0] 4242>80 S 0:0(0) win 1000")
    assert (p.src_port, p.dst_port) == (4242, 80)
    assert p.ecn == "ect0"
    assert pkt("+0 < (ce) . 1:1(0) ack 1 win 9").ecn == "ce"
    assert pkt("+0 > [noecn] . 1:1(0) ack 1").ecn == "noecn"
    assert pkt("+0 > [ect01] . 1:1(0) ack 1").ecn == "ect01"
    assert pkt("+0 < [tos 0x2c] . 1:1(0) ack 1 win 9").tos == 0x2C
    assert pkt("+0 < [ttl 17] . 1:1(0) ack 1 win 9").ttl == 17
    p = pkt("+0 > [ect1, flowlabel 0xabcde] . 1:1(0) ack 1")
    assert (p.ecn, p.flowlabel) == ("ect1", 0xABCDE)
    assert pkt("+0 > . 1:1(0) ack 1").ecn is None


def test_each_tcp_option_kind():
    p = pkt("+0 > S. 0:0(0) ack 1 <mss 1300,sackOK,TS val 4000000000 ecr 12,"
            "nop,wscale 14,eol,eol,eol,eol>")
    assert p.options == [
        MssOption(1300), SackPermittedOption(),
        TimestampOption(val=4000000000, ecr=12), NopOption(),
        WscaleOption(14), EolOption(), EolOption(), EolOption(),
        EolOption()]
    assert [o.kind for o in p.options[:5]] == \
        ["mss", "sackOK", "TS", "nop", "wscale"]
    assert sum(o.wire_length for o in p.options) == 4 + 2 + 10 + 1 + 3 + 4


def test_sack_blocks():
    p = pkt("+0 < . 1:1(0) ack 1 win 50 <nop,nop,sack 2001:3001 4001:5001 "
            "7001:9001>")
    sack = p.options[2]
    assert isinstance(sack, SackOption)
    assert sack.blocks == [(2001, 3001), (4001, 5001), (7001, 9001)]
    assert sack.wire_length == 26


def test_fast_open_options():
    p = pkt("+0 < S 0:0(0) win 100 <FO 0a1b2c3d4e5f6071,nop,nop>")
    fo = p.options[0]
    assert fo == FastOpenOption(cookie="0a1b2c3d4e5f6071")
    assert fo.cookie_bytes == bytes.fromhex("0a1b2c3d4e5f6071")
    assert fo.wire_length == 10
    # An all-digit cookie and the experimental option.
    p = pkt("+0 > S. 0:0(0) ack 1 <FOEXP 11223344>")
    assert p.options == [FastOpenOption(cookie="11223344", experimental=True)]
    assert p.options[0].wire_length == 8
    # A cookie request: no cookie at all.
    p = pkt("+0 > S 0:0(0) <FO,nop,nop>")
    assert p.options[0] == FastOpenOption()
    assert p.options[0].wire_length == 2


def test_fast_open_cookie_limits_are_packetdrills():
    """A cookie may fill what the 40 option bytes leave after the option's
    header: 38 bytes for FO (kind, length), 36 for FOEXP (kind, length,
    magic), packetdrill's own limits (tcp_options.h)."""
    longest = "ab" * 38
    p = pkt(f"+0 > S 0:0(0) <FO {longest}>")
    assert p.options[0].cookie_bytes == bytes.fromhex(longest)
    assert p.options[0].wire_length == 40
    # 18 bytes, as fastopen/client/valid-cookie-format.pkt sends.
    p = pkt("+0 < S. 0:0(0) ack 1 win 5 <FO 01234567aabbccdd0123456701234567afaf>")
    assert len(p.options[0].cookie_bytes) == 18
    err = syntax_error(f"+0 > S 0:0(0) <FO {'ab' * 39}>\n")
    assert "39 bytes exceeds maximum cookie length of 38 bytes" in err.message
    err = syntax_error(f"+0 > S 0:0(0) <FOEXP {'ab' * 37}>\n")
    assert "37 bytes exceeds maximum cookie length of 36 bytes" in err.message


def test_fast_open_cookie_by_name_and_definition():
    """`FOEXP TFO_COOKIE` names a value packetdrill's `-D TFO_COOKIE=...`
    gives. Without the definition the cookie stays a name, prints as
    written, and asking for its bytes says which definition is missing."""
    line = "+0 < S 0:10(10) win 32792 <mss 1460,sackOK,nop,nop,FOEXP TFO_COOKIE>"
    p = pkt(line)
    fo = p.options[-1]
    assert fo == FastOpenOption(experimental=True, symbol="TFO_COOKIE")
    assert str(fo) == "FOEXP TFO_COOKIE"
    with pytest.raises(UndefinedSymbolError, match="-D TFO_COOKIE=VALUE"):
        fo.cookie_bytes
    # With the definition, the name is replaced by its value where it stands.
    script = parse_text(line + "\n", defines={"TFO_COOKIE": "3021b9d889017eeb"})
    fo = script.timed_events[0].options[-1]
    assert fo == FastOpenOption(cookie="3021b9d889017eeb", experimental=True)
    assert fo.wire_length == 12
    # Any word may be defined, as packetdrill's lexer substitutes any word.
    script = parse_text("+0 < . 1:1(0) ack 1 win WIN\n", defines={"WIN": "257"})
    assert script.timed_events[0].win == 257
    with pytest.raises(ScriptSyntaxError, match="not a single value"):
        parse_text("+0 < . 1:1(0) ack 1 win WIN\n", defines={"WIN": "1 2"})


def test_md5_option():
    digest = "00112233445566778899aabbccddeeff"
    p = pkt(f"+0 < S 0:0(0) win 10 <md5 {digest},nop,nop>")
    assert p.options[0] == Md5Option(digest)
    assert p.options[0].wire_length == 18


def test_dont_care_options():
    p = pkt("+0 > S 0:0(0) <...>")
    assert p.options == [ElidedOptions()]
    assert p.options_dont_care


def test_empty_looking_option_list_is_not_elided():
    p = pkt("+0 > S. 0:0(0) ack 1 <nop,nop,nop,nop>")
    assert not p.options_dont_care
    assert len(p.options) == 4


def test_udp_and_icmp_packets():
    u = one("+0 < udp (120)")
    assert isinstance(u, UdpPacket) and u.length == 120 and u.inbound
    u = one("+0 > udp 1000>2000 (8)")
    assert (u.src_port, u.dst_port, u.length) == (1000, 2000, 8)
    i = one("+0 < icmp unreachable frag_needed mtu 1280 [1:1001(1000)]")
    assert isinstance(i, IcmpPacket)
    assert (i.icmp_type, i.icmp_code, i.mtu) == \
        ("unreachable", "frag_needed", 1280)
    assert (i.echoed_protocol, i.echoed_start_seq, i.echoed_length) == \
        ("tcp", 1, 1000)


# --------------------------------------------------------------------------
# System calls and expressions

def test_plain_syscall():
    s = call("+0 setsockopt(6, SOL_TCP, TCP_NODELAY, [1], 4) = 0")
    assert s.name == "setsockopt"
    assert s.args == [IntExpr(6), Ident("SOL_TCP"), Ident("TCP_NODELAY"),
                      ArrayExpr([IntExpr(1)]), IntExpr(4)]
    assert s.result == IntExpr(0)
    assert s.errno is None and s.note is None
    assert s.end_time is None and not s.blocking


def test_syscall_errno_and_note():
    s = call("+0 write(9, ..., 10) = -1 EPIPE (Broken pipe)")
    assert s.args == [IntExpr(9), EllipsisExpr(), IntExpr(10)]
    assert s.result == IntExpr(-1)
    assert s.errno == "EPIPE"
    assert s.note == "Broken pipe"
    s = call("+0 connect(4, ..., ...) = -1 EINPROGRESS "
             "(Operation   now in\n progress)")
    assert s.errno == "EINPROGRESS"
    assert s.note == "Operation now in progress"


def test_syscall_without_args():
    s = call("+0 getpid() = 1234")
    assert s.args == [] and s.result == IntExpr(1234)


def test_bitwise_or_and_hex():
    s = call("+0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK|0x40) = 0")
    flags = s.args[2]
    assert flags == BinaryExpr("|", BinaryExpr("|", Ident("O_RDWR"),
                                               Ident("O_NONBLOCK")),
                               IntExpr(0x40, is_hex=True))
    assert flags.operands() == [Ident("O_RDWR"), Ident("O_NONBLOCK"),
                                IntExpr(64, is_hex=True)]
    assert str(flags) == "O_RDWR|O_NONBLOCK|0x40"


def test_linger_struct():
    s = call("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, "
             "{l_onoff=1, l_linger=5}, 8) = 0")
    linger = s.args[3]
    assert isinstance(linger, StructExpr)
    assert linger.items == [FieldExpr("l_onoff", IntExpr(1)),
                            FieldExpr("l_linger", IntExpr(5))]
    assert linger.get("l_linger") == IntExpr(5)
    assert linger.get("nope") is None
    assert linger.fields == {"l_onoff": IntExpr(1), "l_linger": IntExpr(5)}


def test_pollfd_array_of_structs():
    s = call("+0 poll([{fd=7, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, "
             "50) = 1")
    pfd = s.args[0].items[0]
    assert pfd.get("fd") == IntExpr(7)
    assert pfd.get("events") == BinaryExpr("|", Ident("POLLIN"),
                                           Ident("POLLOUT"))
    assert pfd.get("revents") == Ident("POLLOUT")


def test_msghdr_and_iovec():
    s = call("""\
        +0 sendmsg(5, {msg_name(...)=...,
                       msg_iov(2)=[{..., 30}, {..., 12}],
                       msg_flags=MSG_DONTWAIT}, 0) = 42
        """)
    msg = s.args[1]
    name = msg.field_named("msg_name")
    assert name == FieldExpr("msg_name", EllipsisExpr(), [EllipsisExpr()])
    iov = msg.field_named("msg_iov")
    assert iov.args == [IntExpr(2)]
    assert iov.value == ArrayExpr([StructExpr([EllipsisExpr(), IntExpr(30)]),
                                   StructExpr([EllipsisExpr(), IntExpr(12)])])
    assert msg.get("msg_flags") == Ident("MSG_DONTWAIT")
    assert s.result == IntExpr(42)


def test_sockaddr_with_calls():
    s = call('+0 bind(3, {sa_family=AF_INET, sin_port=htons(8080), '
             'sin_addr=inet_addr("192.0.2.7")}, 16) = 0')
    addr = s.args[1]
    assert addr.get("sa_family") == Ident("AF_INET")
    assert addr.get("sin_port") == CallExpr("htons", [IntExpr(8080)])
    assert addr.get("sin_addr") == CallExpr("inet_addr",
                                            [StrExpr("192.0.2.7")])


def test_strings():
    s = call('+0 write(3, "hello", 5) = 5')
    assert s.args[1] == StrExpr("hello")
    s = call('+0 write(3, "abc" "def", 6) = 6')
    assert s.args[1] == StrExpr("abcdef")
    s = call('+0 read(3, "GET /"..., 100) = 100')
    assert s.args[1] == StrExpr("GET /", truncated=True)
    s = call(r'+0 write(3, "a\"b\n", 4) = 4')
    assert s.args[1] == StrExpr(r'a\"b\n')  # escapes kept as written


def test_nested_arrays_and_empty_array():
    s = call("+0 frob([], [[1, 2], [3]], {}) = 0")
    assert s.args == [ArrayExpr([]),
                      ArrayExpr([ArrayExpr([IntExpr(1), IntExpr(2)]),
                                 ArrayExpr([IntExpr(3)])]),
                      StructExpr([])]


def test_getsockopt_result_arrays():
    s = call("+.2 getsockopt(4, SOL_TCP, TCP_MAXSEG, [1380], [4]) = 0")
    assert s.time == Time("relative", 0.2)
    assert s.args[3:] == [ArrayExpr([IntExpr(1380)]), ArrayExpr([IntExpr(4)])]


def test_word_result_then_note():
    s = call("+0 fcntl(3, F_GETFL) = O_RDWR|O_NONBLOCK (flags)")
    assert s.result == BinaryExpr("|", Ident("O_RDWR"), Ident("O_NONBLOCK"))
    assert s.errno is None and s.note == "flags"


def test_blocking_syscall():
    s = call("+.05...0.300 accept(3, ..., ...) = 4")
    assert s.time == Time("relative", 0.05, None, 0.3)
    assert s.blocking and s.end_time == pytest.approx(0.3)


def test_syscall_str():
    s = call("+0 setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, "
             "l_linger=0}, 8) = -1 EBADF (Bad file descriptor)")
    assert str(s) == ("setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, "
                      "l_linger=0}, 8) = -1 EBADF (Bad file descriptor)")


# --------------------------------------------------------------------------
# Python blocks, commands, options

def test_python_block_single_line():
    b = one("+0 %{ assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd }%")
    assert isinstance(b, PythonBlock)
    assert b.code == "assert tcpi_snd_cwnd == 7, tcpi_snd_cwnd"


def test_python_block_multi_line():
    script = parse_text(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 %{\n"
        "print(tcpi_rto)\n"
        "assert tcpi_rto > 0\n"
        "}%\n"
        "+0 close(3) = 0\n")
    b = script.events[1]
    assert isinstance(b, PythonBlock) and b.line == 2
    assert b.code == "\nprint(tcpi_rto)\nassert tcpi_rto > 0\n"
    assert script.events[2].line == 6


def test_init_and_cleanup_commands():
    script = parse_text(
        "`sysctl -q net.ipv4.tcp_ecn=1\n"
        "echo two`\n"
        "`echo second init`\n"
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        "+0 `ip addr show`\n"
        "+1 close(3) = 0\n"
        "`echo bye`\n")
    init = script.init_commands
    assert [c.text for c in init] == ["sysctl -q net.ipv4.tcp_ecn=1\necho two",
                                      "echo second init"]
    assert [c.line for c in init] == [1, 3]
    assert all(c.time is None and c.phase == "init" for c in init)
    timed = script.events[3]
    assert isinstance(timed, ShellCommand)
    assert timed.phase == "event" and timed.text == "ip addr show"
    assert timed.time == Time("relative", 0.0) and timed.line == 5
    (cleanup,) = script.cleanup_commands
    assert cleanup.text == "echo bye" and cleanup.line == 7
    assert script.events[-1] is cleanup
    assert len(script.timed_events) == 3


def test_options():
    script = parse_text(
        "// comment before options\n"
        "--tolerance_usecs=7000\n"
        "--ip_version=ipv6\n"
        "--local_ip=198.51.100.4\n"
        '--define=GREETING="hi there"\n'
        '--name="quoted value"\n'
        "--dry_run\n"
        "--tolerance_usecs=9000\n"
        "`true`\n"
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n")
    assert script.options == {
        "tolerance_usecs": "9000",
        "ip_version": "ipv6",
        "local_ip": "198.51.100.4",
        "define": 'GREETING="hi there"',
        "name": "quoted value",
        "dry_run": "",
    }
    assert script.option_items[0] == ("tolerance_usecs", "7000")
    assert ("dry_run", None) in script.option_items
    assert len(script.option_items) == 7


def test_comments_everywhere():
    script = parse_text(
        "0 socket(..., /* any domain */ SOCK_STREAM, IPPROTO_TCP) = 3 // hi\n"
        "+0 > S 0:0(0) <...> // outbound SYN\n")
    assert len(script.events) == 2


def test_script_object():
    script = parse_text("0 close(3) = 0\n", "x/y.pkt")
    assert isinstance(script, Script)
    assert script.path == "x/y.pkt"
    assert script.options == {}


def test_nodes_are_frozen():
    p = pkt("+0 > . 1:1(0) ack 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.ack = 2  # type: ignore[misc]


def test_own_feature_file():
    script = parse_file(CASES / "features.pkt")
    assert script.options == {"tolerance_usecs": "2500", "ip_version": "ipv4",
                              "verbose": ""}
    (init,) = script.init_commands
    assert init.text == "echo setting up\nsysctl -q net.ipv4.tcp_sack=1"
    assert init.line == 7
    kinds = [type(e).__name__ for e in script.timed_events]
    assert kinds == ["Syscall", "Syscall", "Syscall", "Packet", "Packet",
                     "Packet", "Syscall", "Packet", "ShellCommand",
                     "PythonBlock", "Syscall", "Packet"]
    by_line = {e.line: e for e in script.events}
    assert by_line[14].errno == "EINPROGRESS"
    assert by_line[17].time == Time("any") and by_line[17].options_dont_care
    assert by_line[19].time == Time("relative", 0.0, 0.004)
    assert by_line[19].options == [NopOption(), NopOption(),
                                   TimestampOption(9, 0)]
    assert by_line[22].time == Time("absolute", 1.5, None, 1.75)
    assert by_line[23].flags == "F."
    assert script.cleanup_commands[0].text == "echo cleaned up"


# --------------------------------------------------------------------------
# Errors

def test_error_inconsistent_sequence_in_file():
    with pytest.raises(ScriptSyntaxError) as info:
        parse_file(CASES / "inconsistent_seq.pkt")
    err = info.value
    assert err.line == 4 and err.column == 8
    assert err.path.endswith("inconsistent_seq.pkt")
    assert "inconsistent TCP sequence numbers" in err.message
    text = str(err)
    assert text.startswith(f"{err.path}:4:8: inconsistent")
    assert "+0 < . 1:100(100) ack 1 win 1000" in text


@pytest.mark.parametrize("script, line, column, fragment", [
    # Missing ')' in an argument list.
    ("0 socket(..., SOCK_STREAM = 3\n", 1, 9, "unclosed '('"),
    # Bad TCP flag letter.
    ("0 socket(..., SOCK_STREAM, 0) = 3\n+0 > SX 0:0(0)\n", 2, 6,
     "invalid TCP flag: 'X'"),
    # Negative time.
    ("0 close(3) = 0\n\n-1 close(3) = 0\n", 3, 1, "negative time"),
    # '*' on a system call.
    ("0 close(3) = 0\n* close(3) = 0\n", 2, 1, "'*' can only be used"),
    # A time range on an inbound packet.
    ("0 close(3) = 0\n+0~+.1 < . 1:1(0) ack 1 win 5\n", 2, 1,
     "range can only be used with outbound"),
    # <...> on an inbound packet.
    ("+0 < S 0:0(0) win 5 <...>\n", 1, 21, "<...> for TCP options"),
    # Inbound packet without a window.
    ("+0 < . 1:1(0) ack 1\n", 1, 8, "window must be specified"),
    # Unknown TCP option.
    ("+0 > S 0:0(0) <mss 1000,bogus 3>\n", 1, 25, "unknown TCP option 'bogus'"),
    # Options that do not fill whole 32-bit words.
    ("+0 > S 0:0(0) <mss 1000,nop>\n", 1, 15, "not padded correctly"),
    # Odd-length fast open cookie.
    ("+0 > S 0:0(0) <FO abc,nop>\n", 1, 19, "odd number of digits"),
    # Out-of-range window.
    ("+0 < . 1:1(0) ack 1 win 70000\n", 1, 25, "out of range"),
    # Backwards range.
    ("+.3~+.2 > . 1:1(0) ack 1\n", 1, 1, "backwards"),
    # Mixed relative/absolute range.
    ("+.1~.2 > . 1:1(0) ack 1\n", 1, 5, "+a~+b"),
    # Options after the first event.
    ("0 close(3) = 0\n--tolerance_usecs=5\n", 2, 1, "must come before"),
    # An untimed command between events.
    ("0 close(3) = 0\n`echo hi`\n+0 close(4) = 0\n", 2, 1,
     "command without a time"),
    # Unterminated string: reported where it starts.
    ('0 close(3) = 0\n+0 write(3, "abc, 3) = 3\n+0 close(3) = 0\n', 2, 13,
     "unterminated string"),
    # Unterminated code block.
    ("0 close(3) = 0\n+0 %{ print(1)\n", 2, 4, "unterminated code block"),
    # Unterminated backquote.
    ("`echo hi\n0 close(3) = 0\n", 1, 1, "unterminated backquoted"),
    # No '=' after a system call.
    ("0 close(3)\n+0 close(4) = 0\n", 2, 1, "'=' and the expected result"),
    # Something that is not an event.
    ("+0 > . 1:1(0) ack 1\nhello\n", 2, 1, "an event time"),
    # A time with nothing after it.
    ("0 close(3) = 0\n+0\n", 2, 3, "after the event time"),
    # Blocking call that ends before it starts.
    ("0.5...0.2 read(3, ..., 1) = 1\n", 1, 4, "before its start"),
    # Missing end of a struct.
    ("0 f({a=1, b=2) = 0\n", 1, 14, "',' or '}'"),
    # The sequence range is malformed.
    ("+0 > S 0:0 ack 1\n", 1, 12, "'(' in start:end(length)"),
    # SACK without blocks.
    ("+0 > . 1:1(0) ack 1 <sack>\n", 1, 26, "SACK block"),
    # TS without ecr.
    ("+0 > . 1:1(0) ack 1 <TS val 5>\n", 1, 30, "'ecr'"),
    # Encapsulation is not supported.
    ("+0 < ipv4 192.0.2.1 > 192.0.2.2: S 0:0(0) win 1\n", 1, 6,
     "not supported"),
])
def test_syntax_errors(script, line, column, fragment):
    err = syntax_error(script, "bad.pkt")
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in err.message, err.message
    assert err.path == "bad.pkt"
    assert str(err).startswith(f"bad.pkt:{line}:{column}: ")


def test_error_has_caret_under_column():
    err = syntax_error("0 close(3) = 0\n+0 > Q 1:1(0)\n")
    lines = str(err).splitlines()
    assert lines[1].strip() == "+0 > Q 1:1(0)"
    assert lines[2].index("^") == lines[1].index("Q")


def test_error_line_in_long_multiline_event():
    err = syntax_error("""\
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 sendmsg(3, {msg_name(...)=...,
                       msg_iov(1)=[{..., 10}],
                       msg_flags=0 0}, 0) = 10
        """)
    assert err.line == 4
    assert "',' or '}'" in err.message


# --------------------------------------------------------------------------
# Lexer corner cases

def test_lexer_tokens():
    toks = tokenize("+.1...0.200 x 0x1F -3 1.2.3.4 1a2b <...> --opt=v")
    kinds = [(t.kind, t.text) for t in toks]
    assert kinds == [
        ("PUNCT", "+"), ("FLOAT", ".1"), ("ELLIPSIS", "..."),
        ("FLOAT", "0.200"), ("WORD", "x"), ("HEX", "0x1F"), ("INT", "-3"),
        ("IPV4", "1.2.3.4"), ("WORD", "1a2b"), ("PUNCT", "<"),
        ("ELLIPSIS", "..."), ("PUNCT", ">"), ("OPTION", "--opt=v"),
        ("EOF", ""),
    ]
    assert toks[-2].value == ("opt", "v")


def test_lexer_positions_with_tabs_and_crlf():
    toks = tokenize("0 close(3) = 0\r\n\t+0 close(4) = 0\r\n")
    plus = [t for t in toks if t.text == "+"][0]
    assert (plus.line, plus.column) == (2, 2)
