"""The packetdrill runner's socket options, ioctls and TCP_INFO go through
the engine's one surface (synack.engine.info): the checks and values the
kernel showed in tests/test_socket_differential.py hold in scripts too."""
from __future__ import annotations

import textwrap

from pdscripts import SERVER

from synack.packetdrill.runner import RunOptions, run_text


def run(text: str):
    return run_text(textwrap.dedent(text), "<test>", RunOptions())


def passes(text: str) -> None:
    r = run(text)
    assert r.passed, r.failure


def test_options_as_linux_checks_and_sizes_them():
    passes("""\
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [10000], 4) = 0
        +0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [20000], [4]) = 0
        +0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [1], 4) = 0
        +0 getsockopt(3, SOL_SOCKET, SO_SNDBUF, [4608], [4]) = 0
        +0 setsockopt(3, SOL_IP, IP_TOS, [256], 4) = 0
        +0 getsockopt(3, SOL_IP, IP_TOS, [0], [4]) = 0
        +0 setsockopt(3, SOL_IP, IP_TOS, [-1], 4) = 0
        +0 getsockopt(3, SOL_IP, IP_TOS, [252], [4]) = 0
        +0 setsockopt(3, SOL_TCP, TCP_KEEPCNT, [128], 4) = -1 EINVAL (Invalid argument)
        +0 setsockopt(3, SOL_TCP, TCP_INQ, [2], 4) = -1 EINVAL (Invalid argument)
        +0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [0], 4) = 0
        +0 getsockopt(3, SOL_TCP, TCP_MAXSEG, [536], [4]) = 0
        +0 setsockopt(3, SOL_TCP, TCP_CONGESTION, "nosuch", 6) = -1 ENOENT (No such file or directory)
        +0 getsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [0], [4]) = 0
        +0 setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [5], 4) = 0
        +0 getsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1], [4]) = 0
    """)


def test_a_wrong_expectation_still_fails():
    r = run("""\
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        +0 setsockopt(3, SOL_SOCKET, SO_RCVBUF, [10000], 4) = 0
        +0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [10000], [4]) = 0
    """)
    assert not r.passed and "expected [10000], actual [20000]" in r.failure.message


def test_ioctl_queues_count_the_fin_and_unsent_data():
    passes(SERVER + """\
        +0 write(4, ..., 3000) = 3000
        +0 > . 1:1001(1000) ack 1
        +0 > P. 1001:2001(1000) ack 1
        +0 > P. 2001:3001(1000) ack 1
        +0 ioctl(4, SIOCOUTQ, [3000]) = 0
        +0 ioctl(4, SIOCOUTQNSD, [0]) = 0
        +.1 < . 1:1(0) ack 3001 win 6000
        +0 shutdown(4, SHUT_WR) = 0
        +0 > F. 3001:3001(0) ack 1
        +0 ioctl(4, SIOCOUTQ, [1]) = 0
        +0 ioctl(4, SIOCOUTQNSD, [0]) = 0
        +0 %{ assert tcpi_notsent_bytes == 0 and tcpi_state == TCP_FIN_WAIT1 }%
    """)
