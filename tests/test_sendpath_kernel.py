"""TCP_CORK, MSG_EOR, TCP_QUICKACK and IP_TOS (issue 13) as packetdrill
scripts, run on synack and, as the oracle, on the live kernel with the real
packetdrill (tests marked `netns`: root, a namespace of their own per run,
removed afterwards; namespace prefix `sp-`):

* cork.pkt: a corked partial segment goes after the probe timer, RTO
  (210 ms after a 10 ms handshake) later, with PSH; under the cork a
  MSG_EOR record is sent as soon as data follows it (it is no longer the
  queue's last skb), the last write only on uncork;
* quickack.pkt: TCP_QUICKACK reads 1, 0 after setting 0 (ping-pong: the
  ACK of the data is delayed); setting 1 once the data is read sends the
  pending ACK at once;
* tos.pkt: a listener's IP_TOS on its SYN,ACK and inherited by the accepted
  socket; a new value (ECN bits cleared) from the next packet on.
"""
from __future__ import annotations


import pytest

from livekernel import OPENING, assert_live_kernel_passes
from synack.packetdrill.runner import RunOptions, format_result, run_text

PREFIX = "sp-pd"

CORK = OPENING + """\
   +0 setsockopt(4, SOL_TCP, TCP_CORK, [1], 4) = 0
   +0 getsockopt(4, SOL_TCP, TCP_CORK, [1], [4]) = 0
   +0 write(4, ..., 100) = 100
+.21~+.215 > P. 1:101(100) ack 1
 +.01 < . 1:1(0) ack 101 win 320
   +0 send(4, ..., 300, MSG_EOR) = 300
   +0 send(4, ..., 300, MSG_EOR) = 300
   +0 > P. 101:401(300) ack 1
   +0 send(4, ..., 300, 0) = 300
   +0 > P. 401:701(300) ack 1
 +.01 < . 1:1(0) ack 701 win 320
   +0 setsockopt(4, SOL_TCP, TCP_CORK, [0], 4) = 0
   +0 > P. 701:1001(300) ack 1
 +.01 < . 1:1(0) ack 1001 win 320
"""

QUICKACK = OPENING + """\
   +0 getsockopt(4, SOL_TCP, TCP_QUICKACK, [1], [4]) = 0
   +0 setsockopt(4, SOL_TCP, TCP_QUICKACK, [0], 4) = 0
   +0 getsockopt(4, SOL_TCP, TCP_QUICKACK, [0], [4]) = 0
   +0 < P. 1:101(100) ack 1 win 320
 +.01 read(4, ..., 100) = 100
   +0 setsockopt(4, SOL_TCP, TCP_QUICKACK, [1], 4) = 0
   +0 > . 1:1(0) ack 101
   +0 getsockopt(4, SOL_TCP, TCP_QUICKACK, [1], [4]) = 0
"""

TOS = """\
`../common/defaults.sh`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 setsockopt(3, SOL_IP, IP_TOS, [73], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > (tos 0x48) S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
 +.01 < . 1:1(0) ack 1 win 320
   +0 accept(3, ..., ...) = 4
   +0 getsockopt(4, SOL_IP, IP_TOS, [72], [4]) = 0
   +0 write(4, ..., 10) = 10
   +0 > (tos 0x48) P. 1:11(10) ack 1
   +0 setsockopt(4, SOL_IP, IP_TOS, [47], 4) = 0
   +0 getsockopt(4, SOL_IP, IP_TOS, [44], [4]) = 0
 +.01 < . 1:1(0) ack 11 win 320
   +0 write(4, ..., 10) = 10
   +0 > (tos 0x2c) P. 11:21(10) ack 1
 +.01 < . 1:1(0) ack 21 win 320
"""

SCRIPTS = {"cork.pkt": CORK, "quickack.pkt": QUICKACK, "tos.pkt": TOS}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_synack(name):
    r = run_text(SCRIPTS[name], name, RunOptions(profile="linux"))
    assert r.passed, format_result(r)
    assert not r.skipped, r.skipped


@pytest.mark.parametrize("name, old, new", [
    ("cork.pkt", "+.21~+.215 > P. 1:101(100)", "+0 > P. 1:101(100)"),           # not held
    ("cork.pkt", "+0 > P. 401:701(300)", "+0 > P. 401:1001(600)"),             # records joined
    ("quickack.pkt", "+0 > . 1:1(0) ack 101", "+.03 > . 1:1(0) ack 101"),      # ACK not at once
    ("tos.pkt", "(tos 0x2c)", "(tos 0x2f)"),                                     # ECN bits kept
])
def test_the_scripts_can_fail(name, old, new):
    """Each script checks what it claims: with the expectation changed it
    fails (a packet not sent, or sent with another TOS)."""
    text = SCRIPTS[name]
    assert old in text
    r = run_text(text.replace(old, new), name, RunOptions(profile="linux"))
    assert not r.passed, format_result(r)


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_live_kernel_agrees(name, tmp_path):
    """The same scripts pass on the live kernel: the expectations are Linux's."""
    assert_live_kernel_passes(SCRIPTS[name], name, tmp_path, PREFIX, cubic=False)
