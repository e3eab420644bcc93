"""The off-path challenge-ACK side channel (CVE-2016-5696) and the limits on
replies to invalid segments (issue 17, part 1).

Cao et al., "Off-Path TCP Exploits: Global Rate Limit Considered Dangerous"
(USENIX Security 2016): with one host-wide budget of challenge ACKs per
second (RFC 5961 §7 as first deployed), an attacker with its own connection
to a server sends spoofed probes for somebody else's connection, then uses
up the rest of the second's budget on its own connection and counts the
challenge ACKs it gets back. A probe that fell inside the victim's window
drew a challenge ACK (to the victim) and spent one unit of the budget: the
attacker sees one fewer. Counting reveals the victim's window, then its
sequence numbers, and a blind in-window RST becomes an exact one.

synack limits these replies per connection (Config.invalid_ratelimit, as
Linux's tcp_invalid_ratelimit), and the host-wide limit is off by default
and randomised when on. These tests run the attack in the simulator.
"""
from __future__ import annotations

import os

import pytest

from synack.engine.config import Config
from synack.engine.segment import ACK, RST, SYN, Segment
from synack.engine.seq import MASK
from synack.sim import Network
from synack.engine.states import ESTABLISHED

VICTIM, SERVER, ATTACKER = "10.0.0.1", "10.0.0.2", "10.0.0.3"
PORT = 80
#: the probes per round: the old host-wide budget was 1,000 per second, and
#: the attack fills it (Cao et al. send as many as the budget per round)
PROBES = 1000


def _world(config: Config | None = None):
    net = Network(seed=17)
    victim = net.add_host(VICTIM, config=config)
    server = net.add_host(SERVER, config=config)
    attacker = net.add_host(ATTACKER, config=config)
    net.link(victim, server, delay=0.005)
    net.link(attacker, server, delay=0.005)
    lst = server.listen(PORT)
    vc = victim.connect(SERVER, PORT)
    ac = attacker.connect(SERVER, PORT)
    net.run(until=1.0)
    by_peer = {}
    while True:
        c = lst.accept()
        if c is None:
            break
        by_peer[c.conn.remote_ip] = c
    assert set(by_peer) == {VICTIM, ATTACKER}
    assert vc.state is ESTABLISHED and ac.state is ESTABLISHED
    return net, server, vc, ac, by_peer[VICTIM]


def _attack_round(net, vc, ac, start: float, guess: int, flags: int = RST) -> int:
    """One round at virtual time `start`: PROBES spoofed segments for the
    victim's connection (source: the victim's address and port) at sequence
    number `guess`, then PROBES in-window RSTs on the attacker's own
    connection (never at RCV.NXT, so each one is challenged). Returns how
    many ACKs the server sent the attacker in reply: all the attacker sees."""
    net.run(until=start)
    trace = net.trace
    first = len(trace.records)
    vport = vc.conn.local_port
    for i in range(PROBES):
        net.inject(VICTIM, SERVER, Segment(vport, PORT, guess, 0, flags, 1000))
    own_seq = ac.conn.snd_nxt
    aport = ac.conn.local_port
    for i in range(PROBES):
        net.inject(ATTACKER, SERVER, Segment(aport, PORT, (own_seq + 100 + i) & MASK, 0, RST, 1000))
    net.run(until=start + 0.5)
    dst = f"{ATTACKER}:{aport}"
    return sum(1 for r in trace.records[first:]
               if r.type == "segment" and r.a == "deliver" and r.c == dst and r.d.flags == ACK)


def test_attacker_counts_do_not_depend_on_the_victims_window():
    """The attacker's count is the same whether its probe hit the victim's
    window or not: it learns nothing. (On a host-wide budget of 1,000 per
    second the in-window probes used up the budget: 0 against 1,000.)"""
    net, server, vc, ac, sv = _world()
    rcv_nxt = sv.conn.rcv_nxt                      # the secret the attacker is after
    guesses = {
        "in window (RCV.NXT + 100)": (rcv_nxt + 100) & MASK,
        "out of window (+2^30)": (rcv_nxt + (1 << 30)) & MASK,
        "in window (RCV.NXT + 5000)": (rcv_nxt + 5000) & MASK,
        "out of window (-2^20)": (rcv_nxt - (1 << 20)) & MASK,
    }
    counts = {}
    start = 2.0
    for name, guess in guesses.items():
        counts[name] = _attack_round(net, vc, ac, start, guess)
        start += 2.0
    assert len(set(counts.values())) == 1, f"the attacker tells the guesses apart: {counts}"
    # the attacker's own connection still gets an answer (RFC 5961 §3.2)
    assert all(n >= 1 for n in counts.values()), counts
    # and the victim's connection is untouched and works
    assert vc.state is ESTABLISHED and sv.state is ESTABLISHED
    vc.send(b"still here")
    net.run(until=start + 1.0)
    assert sv.recv() == b"still here"


def test_attacker_learns_nothing_from_spoofed_syns_either():
    """The same with SYNs as the probes (RFC 5961 §4.2: every SYN in a
    synchronized state draws a challenge ACK)."""
    net, server, vc, ac, sv = _world()
    rcv_nxt = sv.conn.rcv_nxt
    a = _attack_round(net, vc, ac, 2.0, (rcv_nxt + 100) & MASK, flags=SYN)
    b = _attack_round(net, vc, ac, 4.0, (rcv_nxt + (1 << 30)) & MASK, flags=SYN)
    assert a == b, (a, b)
    assert vc.state is ESTABLISHED and sv.state is ESTABLISHED


def test_spoofed_probes_draw_a_bounded_number_of_replies():
    """Not a reflection amplifier: 1,000 spoofed in-window RSTs in half a
    second draw one challenge ACK (one per 500 ms per connection), and
    1,000 pure ACKs for unsent data (RFC 5961 §5.2) and 1,000 out-of-window
    pure ACKs one more each; the rest are counted as suppressed."""
    net, server, vc, ac, sv = _world()
    rcv_nxt = sv.conn.rcv_nxt
    snd_nxt = sv.conn.snd_nxt
    vport = vc.conn.local_port
    stats = server.host.stats
    for kind, seg in (
            ("in-window RST", Segment(vport, PORT, (rcv_nxt + 10) & MASK, 0, RST, 1000)),
            ("ACK of unsent data", Segment(vport, PORT, rcv_nxt, (snd_nxt + 100000) & MASK, ACK, 1000)),
            ("out-of-window ACK", Segment(vport, PORT, (rcv_nxt + (1 << 30)) & MASK, snd_nxt, ACK, 1000)),
    ):
        start = net.now + 1.0
        net.run(until=start)
        first = len(net.trace.records)
        before = stats["invalid_acks_suppressed"]
        for _ in range(1000):
            net.inject(VICTIM, SERVER, seg)
        net.run(until=start + 0.4)
        replies = sum(1 for r in net.trace.records[first:]
                      if r.type == "segment" and r.a == "send" and r.b == f"{SERVER}:{PORT}"
                      and r.c == f"{VICTIM}:{vport}")
        assert replies == 1, f"{kind}: {replies} replies to 1,000 segments"
        assert stats["invalid_acks_suppressed"] - before == 999, kind
    assert vc.state is ESTABLISHED and sv.state is ESTABLISHED


def test_out_of_window_data_is_still_acknowledged_every_time():
    """Linux exempts segments that carry data from the limit (tcp_oow_rate_limited):
    a peer retransmitting data we already have must hear our ACK each time (its
    ACK was lost), and a data segment costs the sender more than the ACK it draws."""
    net, server, vc, ac, sv = _world()
    rcv_nxt = sv.conn.rcv_nxt
    snd_nxt = sv.conn.snd_nxt
    vport = vc.conn.local_port
    net.run(until=2.0)
    first = len(net.trace.records)
    for _ in range(5):
        net.inject(VICTIM, SERVER, Segment(vport, PORT, (rcv_nxt - 100) & MASK, snd_nxt, ACK, 1000,
                                           payload=b"x" * 50))
    net.run(until=2.1)
    replies = [r for r in net.trace.records[first:]
               if r.type == "segment" and r.a == "send" and r.b == f"{SERVER}:{PORT}"]
    assert len(replies) == 5


def test_host_wide_limit_is_off_by_default_and_random_when_on():
    """RFC 5961 §7's host-wide limit: off by default (Linux since 2022); when
    turned on, each second's budget is drawn from [limit/2, 3*limit/2), so the
    count an attacker sees does not tell it what others spent."""
    assert Config().challenge_ack_limit is None
    net = Network(seed=3)
    h = net.add_host("10.0.0.9", config=Config(challenge_ack_limit=100)).host
    budgets = set()
    for second in range(20):
        n = 0
        while h.challenge_ack_allowed(float(second) + 0.0001 * n, 100) and n < 1000:
            n += 1
        assert 50 <= n < 150, n
        budgets.add(n)
    assert len(budgets) > 5, budgets


# ----------------------------------------------------------- the reference
def _linux_attack_counts(probes: int = 100) -> dict:
    """The same attack against the Linux kernel, inside a throwaway network
    namespace on its loopback: a kernel server, a victim connection and the
    attacker's connection; spoofed RSTs for the victim's 4-tuple (in the
    server's window, then far outside it), then in-window RSTs on the
    attacker's own connection. Returns, per guess, the ACKs the server sent
    to the attacker's port (read off the loopback with a raw socket)."""
    import select
    import socket
    import time

    from synack.tun.netns import Namespace
    from synack.wire import decode_ip, encode_ip

    def body():
        sniff = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        lst = socket.socket()
        victim = socket.socket()
        attacker = socket.socket()
        held = [sniff, out, lst, victim, attacker]
        try:
            lst.bind(("127.0.0.1", 0))
            lst.listen(8)
            port = lst.getsockname()[1]
            victim.connect(("127.0.0.1", port))
            held.append(lst.accept()[0])
            attacker.connect(("127.0.0.1", port))
            held.append(lst.accept()[0])
            victim.sendall(b"hello")
            attacker.sendall(b"hello")
            time.sleep(0.3)
            vport, aport = victim.getsockname()[1], attacker.getsockname()[1]

            def drain(timeout: float) -> list:
                segs = []
                end = time.monotonic() + timeout
                while True:
                    left = end - time.monotonic()
                    if left <= 0 or not select.select([sniff], [], [], left)[0]:
                        return segs
                    segs.append(decode_ip(sniff.recv(65535), verify_checksum=False)[2])

            nxt = {}
            for s in drain(0.2):               # the server's RCV.NXT for each client
                if s.dst_port == port:
                    end = (s.seq + len(s.payload) + (1 if s.flags & (SYN | 0x01) else 0)) & MASK
                    nxt[s.src_port] = end if s.src_port not in nxt or \
                        ((end - nxt[s.src_port]) & MASK) < (1 << 31) else nxt[s.src_port]
            counts = {}
            for name, off in (("in window", 100), ("out of window", 1 << 30),
                              ("in window again", 2000), ("out of window again", (1 << 32) - (1 << 20))):
                time.sleep(1.1)                     # a fresh second and a fresh 500 ms
                drain(0.0)
                for _ in range(probes):
                    out.sendto(encode_ip("127.0.0.1", "127.0.0.1",
                                         Segment(vport, port, (nxt[vport] + off) & MASK, 0, RST, 1000)),
                               ("127.0.0.1", 0))
                for i in range(probes):
                    out.sendto(encode_ip("127.0.0.1", "127.0.0.1",
                                         Segment(aport, port, (nxt[aport] + 100 + i) & MASK, 0, RST, 1000)),
                               ("127.0.0.1", 0))
                counts[name] = sum(1 for s in drain(0.3)
                                   if s.src_port == port and s.dst_port == aport and s.flags == ACK)
            return counts
        finally:
            for s in held:
                s.close()

    with Namespace(f"sx-safe-cack-{os.getpid()}") as ns:
        return ns.run(body)


@pytest.mark.netns
def test_linux_reference_attacker_learns_nothing():
    """Linux 6.x: the per-socket limit (tcp_invalid_ratelimit) and no
    host-wide budget by default: the attacker's count is the same for every
    guess, and it is what synack gives (one challenge ACK per round)."""
    if os.geteuid() != 0:
        pytest.fail("needs root to make a network namespace (deselect with -m 'not netns')",
                    pytrace=False)
    linux = _linux_attack_counts()
    assert len(set(linux.values())) == 1, linux
    net, server, vc, ac, sv = _world()
    ours = _attack_round(net, vc, ac, 2.0, (sv.conn.rcv_nxt + 100) & MASK)
    assert set(linux.values()) == {ours}, (linux, ours)
