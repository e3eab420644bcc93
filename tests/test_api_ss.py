"""The ss-like connection table (synack.api.ss)."""
from __future__ import annotations

import pytest

from synack.api import RealtimeStack, SimStack, socket
from synack.api.ss import Timer, _duration, format_table, ss
from synack.engine.segment import SYN
from synack.engine.states import CLOSE_WAIT, ESTABLISHED, FIN_WAIT_2, LISTEN, SYN_SENT

#: these tests run on simulated or in-memory stacks: no real network socket
#: may be created while they run (tests/sealing.py)
pytestmark = pytest.mark.usefixtures("sealed_network")

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def sim():
    return SimStack.pair(seed=11, delay=0.01)


def listen(stack, port, backlog=16, opts=None):
    s = stack.socket()
    for (level, name), value in (opts or {}).items():
        s.setsockopt(level, name, value)
    s.bind(("", port))
    s.listen(backlog)
    return s


def test_listener_row_counts_the_accept_queue(sim):
    a, b = sim
    srv = listen(b, 80, backlog=16)
    rows = b.ss()
    assert len(rows) == 1
    r = rows[0]
    assert (r.state, r.recv_q, r.send_q, r.local, r.peer) == ("LISTEN", 0, 16, ("0.0.0.0", 80), ("0.0.0.0", None))
    assert r.tcp_state is LISTEN and r.kind == "listener" and r.timer is None
    clients = [a.socket() for _ in range(3)]
    for c in clients:
        c.connect((B, 80))
    b.run_for(0.1)                                # the last handshake's final ACK lands
    lst = [r for r in b.ss() if r.kind == "listener"][0]
    assert lst.recv_q == 3                        # established, waiting for accept()
    srv.accept()
    assert [r for r in b.ss() if r.kind == "listener"][0].recv_q == 2
    assert sum(r.state == "ESTAB" for r in b.ss()) == 3


def test_queues_and_retransmission_timer(sim):
    a, b = sim
    srv = listen(b, 80)
    c = a.socket()
    c.connect((B, 80))
    s, _ = srv.accept()
    c.sendall(b"unread!")
    a.run_for(1)
    row = [r for r in b.ss() if r.kind == "connection"][0]
    assert (row.state, row.recv_q, row.send_q) == ("ESTAB", 7, 0)
    assert row.local == (B, 80) and row.peer == c.getsockname()
    # the server goes silent: the client's data stays unacknowledged
    a.net.drop(lambda p: p.src == B, count=None)
    c.sendall(b"x" * 3000)
    a.run_for(2.5)
    row = a.ss()[0]
    assert row.state == "ESTAB" and row.send_q == 3000
    assert row.timer.name == "on" and row.timer.count >= 1 and row.timer.expires > 0
    assert str(row.timer).startswith("timer:(on,")


def test_syn_sent_time_wait_and_half_close(sim):
    a, b = sim
    srv = listen(b, 80)
    drop = a.net.drop(lambda p: p.src == A and p.flags & SYN, count=2)
    c = a.socket()
    c.setblocking(False)
    c.connect_ex((B, 80))
    a.run_for(1.5)
    row = a.ss()[0]
    assert row.tcp_state is SYN_SENT and row.state == "SYN-SENT"
    assert row.timer.name == "on" and row.timer.count == 1
    a.wait(lambda: c.connection.state is ESTABLISHED, 30)
    assert drop.hits == 2
    s, _ = srv.accept()
    c.shutdown(socket.SHUT_WR)
    a.run_for(1)
    states = {r.tcp_state for r in a.ss() + b.ss()}
    assert FIN_WAIT_2 in states and CLOSE_WAIT in states
    assert {r.state for r in a.ss() + b.ss()} >= {"FIN-WAIT-2", "CLOSE-WAIT"}
    s.close()
    a.run_for(1)
    row = a.ss()[0]
    assert row.state == "TIME-WAIT" and row.kind == "time-wait"
    assert row.timer.name == "timewait" and 58 < row.timer.expires <= 60
    assert a.ss(states="time-wait") == [row]
    assert a.ss(states=["established"]) == []
    a.run()
    assert a.ss() == []


def test_persist_and_keepalive_timers(sim):
    a, b = sim
    srv = listen(b, 80, opts={(socket.SOL_SOCKET, socket.SO_RCVBUF): 4000})
    c = a.socket()
    c.connect((B, 80))
    s, _ = srv.accept()
    c.setblocking(False)
    c.send(b"z" * 20_000)                         # the server never reads: its window closes
    a.run_for(3)
    row = a.ss()[0]
    assert row.timer is not None and row.timer.name == "persist"
    assert row.send_q == 20_000 - 4000
    k = a.socket()
    k.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    k.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 100)
    k.connect((B, 80))
    a.run_for(1)
    row = [r for r in a.ss() if r.local == k.getsockname()][0]
    assert row.timer.name == "keepalive" and 98 < row.timer.expires <= 100


def test_table_text(sim):
    a, b = sim
    listen(b, 80)
    c = a.socket()
    c.connect((B, 80))
    text = b.ss_text()
    assert "SYN-RECV" in text                     # the final ACK is still on its way
    b.run_for(0.1)
    text = b.ss_text()
    lines = text.splitlines()
    assert lines[0].split() == ["State", "Recv-Q", "Send-Q", "Local", "Address:Port", "Peer",
                                "Address:Port", "Timer"]
    assert lines[1].split() == ["LISTEN", "1", "16", "0.0.0.0:80", "0.0.0.0:*"]   # 1 to accept
    port = c.getsockname()[1]
    assert lines[2].split()[:5] == ["ESTAB", "0", "0", "10.0.0.2:80", f"10.0.0.1:{port}"]
    # columns line up
    assert lines[1].index("0.0.0.0:80") == lines[0].index("Local") == lines[2].index("10.0.0.2:80")
    # a whole network: a Host column
    whole = format_table(ss(a.net))
    assert whole.splitlines()[0].startswith("Host")
    assert {line.split()[0] for line in whole.splitlines()[1:]} == {A, B}
    assert format_table([], header=False) == ""


def test_ipv6_and_bare_host(sim):
    net = sim[0].net
    a = SimStack(net, ("2001:db8::1",))
    srv = a.socket(socket.AF_INET6)
    srv.bind(("::", 443))
    srv.listen()
    row = ss(a.host, now=a.now())[0]
    assert row.local_text == "[::]:443" and row.peer_text == "[::]:*"
    with pytest.raises(TypeError):
        ss(a.host)
    assert ss(a.sim)[0].local == ("::", 443)


def test_realtime_stack_table():
    a, b = RealtimeStack.pair()
    try:
        srv = listen(b, 80)
        c = a.create_connection((B, 80), timeout=5)
        s, _ = srv.accept()
        assert [r.state for r in b.ss()] == ["LISTEN", "ESTAB"]
        assert a.ss()[0].peer == (B, 80)
        assert "ESTAB" in a.ss_text()
        for x in (c, s, srv):
            x.close()
    finally:
        a.close()
        b.close()


def test_duration_format():
    assert _duration(0.2041) == "204ms"
    assert _duration(1.2) == "1.2sec"
    assert _duration(59) == "59sec"
    assert _duration(7140) == "119min"
    assert _duration(61) == "1min1sec"
    assert _duration(-1) == "0ms"
    assert str(Timer("timewait", 59.0, 0)) == "timer:(timewait,59sec,0)"
