"""The host's timer structures and the simulator's event queue.

Timers are part of the protocol (RFC 9293 §3.10.8: every timeout fires at its
time, TIME-WAIT lasts 2*MSL), so the data structures behind them are tested
for order and for size: a heap that keeps stale entries forever, or a queue
that grows with every connection ever opened, would slow the stack down the
longer it runs.
"""
from synack.engine import events as ev
from synack.engine.config import rfc_profile
from synack.engine.connection import NEVER
from synack.engine.host import Host
from synack.sim import Network
from synack.engine.timewait import TimeWait, TimeWaitQueue

from harness import Tcp


def entries(n: int) -> list[TimeWait]:
    """n TIME-WAIT entries (copies of one connection's), deadlines 60, 61, ..."""
    t = Tcp.time_wait()
    out = []
    for i in range(n):
        e = TimeWait(0.0, t.conn)
        e.deadline = 60.0 + i
        out.append(e)
    return out


def test_time_wait_queue_is_fifo_and_skips_stale_entries():
    q = TimeWaitQueue()
    a, b, c = entries(3)
    for e in (a, b, c):
        q.push(e.deadline, e)
    assert q.first() == 60.0 and q.pop() is a
    b.deadline = NEVER                     # the entry closed (RST, or a new SYN took over)
    assert q.first() == 62.0 and q.pop() is c
    assert q.first() == NEVER and len(q) == 0


def test_time_wait_queue_restarted_entry_fires_at_its_new_deadline():
    """A retransmitted FIN restarts 2*MSL (RFC 9293 §3.10.7.4): the entry is
    queued again and its old place is stale."""
    q = TimeWaitQueue()
    a, b = entries(2)
    q.push(60.0, a)
    q.push(61.0, b)
    a.deadline = 110.0
    q.push(110.0, a)
    assert q.first() == 61.0 and q.pop() is b
    assert q.first() == 110.0 and q.pop() is a
    assert q.first() == NEVER


def test_time_wait_queue_keeps_order_when_the_clock_goes_back():
    q = TimeWaitQueue()
    early, late = entries(2)
    early.deadline, late.deadline = 65.0, 70.0
    q.push(70.0, late)
    q.push(65.0, early)                    # a driver whose clock stepped back
    assert q.first() == 65.0 and q.pop() is early
    assert q.first() == 70.0 and q.pop() is late


def test_time_wait_queue_reclaims_the_consumed_front():
    q = TimeWaitQueue()
    es = entries(2000)
    for e in es:
        q.push(e.deadline, e)
    for e in es[:1500]:
        assert q.first() == e.deadline
        assert q.pop() is e
    assert q.first() == 1560.0
    assert len(q.deadlines) < 1000 and len(q) == 500


def lifecycles(n: int, *, spacing: float = 0.001, keepalive: bool = False):
    """n request/response connections, each closed by the client (which then
    sits in TIME-WAIT): returns the network, the client host, and the largest
    sizes the timer structures reached."""
    cfg = rfc_profile()
    net = Network(seed=3, trace=False)
    client = net.add_host("10.0.0.1", config=cfg)
    server = net.add_host("10.0.0.2", config=cfg)
    net.link(client, server, delay=0.001)
    server.host.listen(0.0, 80, backlog=1024)
    peak = {"client_timers": 0, "server_timers": 0, "events": 0}

    def on_event(sh, e):
        conn = e.conn
        if e.kind is ev.ACCEPTABLE:
            while conn.accept() is not None:
                pass
        elif e.kind is ev.CONNECTED and not conn.passive:
            if keepalive:
                conn.set_keepalive(net.now, True)
            conn.send(net.now, b"q" * 100)
        elif e.kind is ev.READABLE:
            conn.recv(net.now, 1 << 16)
            if conn.passive:
                conn.send(net.now, b"r" * 100)
            else:
                conn.close(net.now)
        elif e.kind is ev.EOF and conn.passive:
            conn.close(net.now)

    net.on_event = on_event

    def opener(i: int) -> None:
        client.host.connect(net.now, "10.0.0.2", 80)
        peak["client_timers"] = max(peak["client_timers"], len(client.host._times))
        peak["server_timers"] = max(peak["server_timers"], len(server.host._times))
        peak["events"] = max(peak["events"], len(net._times))
        if i + 1 < n:
            net.call_at(net.now + spacing, opener, i + 1)

    net.call_at(0.0, opener, 0)
    return net, client, peak


def test_every_time_wait_expires_after_2msl_and_the_heap_stays_small():
    """2,000 connections close one after another; each client end waits 2*MSL
    in TIME-WAIT (MUST-13), and all of them expire. The live-timer heap holds
    the few connections still open, not the thousands in TIME-WAIT."""
    net, client, peak = lifecycles(2000)
    net.run()
    assert client.host.stats["time_wait_expired"] == 2000
    assert not client.host.conns
    assert peak["client_timers"] < 300 and peak["server_timers"] < 300
    assert peak["events"] < 300
    assert net.now >= 2 * rfc_profile().msl


def test_stale_far_timers_are_compacted():
    """Each connection arms a keepalive timer two hours ahead, then closes:
    the stale entries are dropped instead of piling up for two hours."""
    net, client, peak = lifecycles(2000, keepalive=True)
    net.run()
    assert client.host.stats["time_wait_expired"] == 2000
    assert peak["client_timers"] < 600


def test_timers_fire_in_deadline_order_across_connections():
    """Two connections' SYN retransmission timers (RTO 1 s) and a TIME-WAIT
    entry (2*MSL = 2 s), polled late in one go: each fires once, in deadline
    order."""
    cfg = rfc_profile().replace(msl=1.0)
    net = Network(seed=4, trace=True)
    a = net.add_host("10.0.0.1", config=cfg)
    b = net.add_host("10.0.0.2", config=cfg)
    net.link(a, b, delay=0.001)
    lst = b.listen(80)
    c1 = a.connect("10.0.0.2", 80)
    net.run_for(0.1)
    s1 = lst.accept()
    c1.close()
    net.run_for(0.1)
    s1.close()
    net.run_for(0.1)                        # c1 is in TIME-WAIT until about 2.3 s
    assert c1.state.name == "TIME_WAIT"
    net.drop(lambda p: p.flags & 0x02, count=None)     # every SYN is lost
    a.connect("10.0.0.2", 81)
    a.connect("10.0.0.2", 82)
    host = a.host
    host.poll(5.0)
    fired = [(d["timer"], d["local"]) for d in net.trace.to_dicts()
             if d["type"] == "timer" and d["host"] == "10.0.0.1"]
    # RTOs due at 1.3 s, TIME-WAIT's end at 2.3 s; the RTOs re-arm from now
    # (5 s), so they do not fire again in this poll
    assert [w for w, _ in fired] == ["RTO", "RTO", "TIME_WAIT 2MSL"]
    assert len({local for _, local in fired}) == 3
    assert c1.state.name == "CLOSED"


def test_host_next_deadline_is_the_earliest_live_timer():
    h = Host(["10.0.0.1"], rfc_profile())
    assert h.next_deadline() is None
    c = h.connect(0.0, "10.0.0.9", 80)
    assert h.next_deadline() == c.deadline == c.t_rexmt
    c.abort(0.0)
    assert c.deadline == NEVER and h.next_deadline() is None
