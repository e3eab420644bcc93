"""Client TCP Fast Open (RFC 7413) at the socket surfaces, each behaviour
checked on synack and, as the oracle, on the live kernel with the real
packetdrill (tests marked `netns`: root, a namespace of their own, removed
afterwards). synack.api.socket is compared with CPython on the kernel in
tests/test_socket_differential.py (the tfo_* cases of tests/sockdiff.py).

* NULL_BUF: a NULL buffer with MSG_FASTOPEN, or on a deferred socket, is not
  EFAULT: the kernel sends a plain cookie request and answers EINPROGRESS
  (syscall_bad_arg/fastopen-invalid-buf-ptr.pkt names no errno; this one does).
* ERRNOS: TCP_FASTOPEN_CONNECT's checks (EINVAL, EOPNOTSUPP with the sysctl's
  client bit off, EINVAL once connecting), EALREADY for MSG_FASTOPEN while
  connecting, and after it on a socket whose connect() asked for a cookie
  (Linux keeps its fastopen_req), the deferred connect
  (connect() 0, POLLOUT, EAGAIN to read, EISCONN to connect again), the
  SYN's data bounded by the cached MSS less 40, and sent again with PSH
  when the SYN,ACK acknowledges only the SYN (§4.2.2).
"""
from __future__ import annotations


import pytest

from synack.packetdrill.initcmd import read_init
from livekernel import assert_live_kernel_passes
from synack.packetdrill.runner import RunOptions, format_result, run_script, run_text, shared_dir

PREFIX = "tf-pd"

HEAD = """\
`../common/defaults.sh
 ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0`
"""

WARM = """\
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0
   +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
 +.01 < S. 123:123(0) ack 1 win 14600 <mss 1100,nop,nop,sackOK,nop,wscale 6,FO abcd1234,nop,nop>
   +0 > . 1:1(0) ack 1
"""

NULL_BUF = HEAD + WARM + """\
   +0 close(3) = 0
   +0 > F. 1:1(0) ack 1
 +.01 < F. 1:1(0) ack 2 win 92
   +0 > . 2:2(0) ack 2

 +.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 sendto(4, NULL, 1, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
   +0 close(4) = 0

 +.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 5
   +0 fcntl(5, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 setsockopt(5, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0
   +0 connect(5, ..., ...) = 0
   +0 sendto(5, NULL, 1, 0, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
   +0 close(5) = 0

 +.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 6
   +0 fcntl(6, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 setsockopt(6, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0
   +0 connect(6, ..., ...) = 0
   +0 sendto(6, NULL, 1, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
   +0 close(6) = 0
"""

ERRNOS = HEAD + """\
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [2], 4) = -1 EINVAL (Invalid argument)
   +0 getsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [0], [4]) = 0
   +0 `sysctl -q net.ipv4.tcp_fastopen=0`
   +0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = -1 EOPNOTSUPP (Operation not supported)
   +0 sendto(3, ..., 100, MSG_FASTOPEN, ..., ...) = -1 EOPNOTSUPP (Operation not supported)
   +0 `sysctl -q net.ipv4.tcp_fastopen=1`
   +0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0
   +0 getsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], [4]) = 0
   +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
   +0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = -1 EINVAL (Invalid argument)
   +0 sendto(3, ..., 100, MSG_FASTOPEN, ..., ...) = -1 EALREADY (Operation already in progress)
 +.01 < S. 123:123(0) ack 1 win 14600 <mss 1100,nop,nop,sackOK,nop,wscale 6,FO abcd1234,nop,nop>
   +0 > . 1:1(0) ack 1
   +0 sendto(3, ..., 100, MSG_FASTOPEN, ..., ...) = -1 EALREADY (Operation already in progress)
   +0 write(3, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
 +.01 < . 1:1(0) ack 101 win 257
   +0 close(3) = 0
   +0 > F. 101:101(0) ack 1
 +.01 < F. 1:1(0) ack 102 win 257
   +0 > . 102:102(0) ack 2

 +.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 setsockopt(4, SOL_TCP, TCP_FASTOPEN_CONNECT, [1], 4) = 0
   +0 connect(4, ..., ...) = 0
   +0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1
   +0 read(4, ..., 100) = -1 EAGAIN (Resource temporarily unavailable)
   +0 connect(4, ..., ...) = -1 EISCONN (Transport endpoint is already connected)
   +0 write(4, ..., 2000) = 1060
   +0 > S 0:1060(1060) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO abcd1234,nop,nop>
 +.01 < S. 456:456(0) ack 1 win 14600 <mss 1460,nop,nop,sackOK,nop,wscale 6>
   +0 > P. 1:1061(1060) ack 1
   +0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) == 0, tcpi_options }%
 +.01 < . 1:1(0) ack 1061 win 257
"""

SCRIPTS = {"tfo-null-buf.pkt": NULL_BUF, "tfo-errnos.pkt": ERRNOS}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_synack(name):
    r = run_text(SCRIPTS[name], name, RunOptions(profile="linux"))
    assert r.passed, format_result(r)
    assert not r.skipped, r.skipped


def test_the_in_scope_script_passes():
    """Issue 13's syscall_bad_arg/fastopen-invalid-buf-ptr.pkt (line 9 failed
    before: TCP_FASTOPEN_CONNECT unsupported)."""
    root = shared_dir()
    if root is None:
        pytest.fail("the shared packetdrill set is not present", pytrace=False)
    r = run_script(root / "tcp/syscall_bad_arg/fastopen-invalid-buf-ptr.pkt",
                   options=RunOptions(profile="linux"))
    assert r.passed, format_result(r)


def test_null_buffer_is_not_efault():
    """The runner's NULL buffer stays EFAULT where data is to be copied on a
    connected socket; only the Fast Open connect answers EINPROGRESS."""
    bad = NULL_BUF.replace("sendto(4, NULL, 1, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS "
                           "(Operation now in progress)",
                           "sendto(4, NULL, 1, MSG_FASTOPEN, ..., ...) = -1 EFAULT (Bad address)")
    r = run_text(bad, "efault.pkt", RunOptions(profile="linux"))
    assert not r.passed and "EINPROGRESS" in r.failure.message, format_result(r)


@pytest.mark.parametrize("value, fastopen, ok", [
    ("0", 0, True), ("1", 1, True), ("5", 5, True), ("0x3", 3, True),
    ("0x70403", None, False),               # 0x400: Fast Open on every listener (server side)
    ("x", None, False),
])
def test_sysctl_maps_onto_config(value, fastopen, ok):
    """net.ipv4.tcp_fastopen -> Config.fastopen (the client bits 0x1 and 0x4 act)."""
    from synack.engine.config import linux_profile
    plan = read_init(f"sysctl -q net.ipv4.tcp_fastopen={value}", linux_profile())
    assert (not plan.unsupported) == ok, plan.unsupported
    if ok:
        assert plan.changes == {"fastopen": fastopen}


def test_cookie_less_mode():
    """tcp_fastopen=5 (0x4, TFO_CLIENT_NO_COOKIE): data on the SYN, no option."""
    script = """\
`../common/defaults.sh
 ../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 /proc/sys/net/ipv4/tcp_fastopen=5`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 sendto(4, ..., 300, MSG_FASTOPEN, ..., ...) = 300
   +0 > S 0:300(300) <mss 1460,nop,nop,sackOK,nop,wscale 8>
 +.01 < S. 0:0(0) ack 301 win 5840 <mss 1460,nop,nop,sackOK,nop,wscale 6>
   +0 > . 301:301(0) ack 1
   +0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0, tcpi_options }%
"""
    r = run_text(script, "cookieless.pkt", RunOptions(profile="linux"))
    assert r.passed, format_result(r)


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_live_kernel_agrees(name, tmp_path):
    """The same scripts pass on the live kernel: the expectations are Linux's."""
    assert_live_kernel_passes(SCRIPTS[name], name, tmp_path, PREFIX)


def test_tcp_metrics_flush_empties_the_cookie_cache():
    """`ip tcp_metrics flush all` forgets the cookies (Linux keeps them in its
    TCP metrics): the next Fast Open connect asks for a cookie again."""
    script = HEAD + WARM + """\
   +0 close(3) = 0
   +0 > F. 1:1(0) ack 1
 +.01 < F. 1:1(0) ack 2 win 92
   +0 > . 2:2(0) ack 2
   +0 `ip tcp_metrics flush all > /dev/null 2>&1`
 +.01 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 sendto(4, ..., 100, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)
   +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>
"""
    r = run_text(script, "flush.pkt", RunOptions(profile="linux"))
    assert r.passed, format_result(r)
    kept = run_text(script.replace("   +0 `ip tcp_metrics flush all > /dev/null 2>&1`\n", ""),
                    "noflush.pkt", RunOptions(profile="linux"))
    assert not kept.passed, "without the flush the cookie must be used"


def test_api_socket_on_the_simulator():
    """synack.api.socket (its kernel comparison is test_socket_differential's
    tfo_* cases, which need root): no cookie -> EINPROGRESS and a cookie
    request; with one, a blocking sendto(MSG_FASTOPEN) sends it all, the
    SYN's share first; a deferred connect, then EISCONN."""
    import errno

    from synack.api import SimStack, socket

    a, b = SimStack.pair(seed=3, delay=0.01)
    srv = b.socket()
    srv.bind(("", 7))
    srv.listen()
    c = a.socket()
    c.setblocking(False)
    with pytest.raises(BlockingIOError) as e:
        c.sendto(b"abc", socket.MSG_FASTOPEN, ("10.0.0.2", 7))
    assert e.value.errno == errno.EINPROGRESS
    assert c.connection.tfo.cookie == b""              # the SYN asked for a cookie
    with pytest.raises(OSError) as e:
        c.sendto(b"abc", socket.MSG_FASTOPEN, ("10.0.0.2", 7))
    assert e.value.errno == errno.EALREADY
    c.close()
    a.host.tfo_cache.learn("10.0.0.2", b"\x01\x02\x03\x04", 1000)
    d = a.socket()
    assert d.sendto(b"x" * 3000, socket.MSG_FASTOPEN, ("10.0.0.2", 7)) == 3000
    assert d.connection.tfo_taken == 960                # the cached MSS less 40
    e2 = a.socket()
    e2.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN_CONNECT, 1)
    e2.connect(("10.0.0.2", 7))
    assert e2.connection is None
    with pytest.raises(OSError) as e:
        e2.connect(("10.0.0.2", 7))
    assert e.value.errno == errno.EISCONN
    with pytest.raises(OSError) as e:
        e2.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN_CONNECT, 2)
    assert e.value.errno == errno.EINVAL
    for s in (d, e2, srv):
        s.close()
