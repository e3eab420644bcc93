"""Per-state test harness for the bare engine: one `Host`, no simulator.

The model is smoltcp's socket tests: a pinned ISN, one fixed remote endpoint,
segment templates filled in with `Segment._replace`, and three verbs:

    t = Tcp.established()                    # or the pytest fixture `established`
    replies = t.send(flags=ACK | PSH, seq=REMOTE_SEQ, ack=LOCAL_SEQ, payload=b"abc")
    assert replies == [RECV._replace(flags=ACK, seq=LOCAL_SEQ, ack=REMOTE_SEQ + 3, window=WINDOW - 3)]
    t.expect(flags=ACK, seq=..., ack=...)    # exactly one pending segment, template-filled
    t.expect_nothing()                       # nothing pending
    t.advance(1.0)                           # move virtual time, fire timers, return output

`t.send(...)` feeds one segment from the remote endpoint at the harness's
virtual time `t.now` and returns the segments the host queued in reply (it
drains the outbox). User calls (`t.write`, `t.close`, ...) leave their
output in the outbox for `t.expect` / `t.expect_nothing` / `t.take`.
`advance` fires every timer at its own deadline on the way, as a driver
would.

The harness is strict, as smoltcp's tests are: a segment the test did not
look at fails it.
- `send` and `advance` (and `advance_to`) fail when output from before them
  is still pending: check a user call's output (`expect`, `expect_nothing`,
  `take`) before moving on.
- What `send` and `advance` return must be looked at (compared, indexed,
  iterated, measured with len() or tested for truth) before the next harness
  call and before the test ends; a test that does not care says so with
  `.ignore()`: `t.send(...).ignore()`. An empty answer needs no look.
The conftest's autouse fixture runs `Tcp.check_all_seen()` after each test.

Numbers are chosen to be recognisable in a failure message:

    LOCAL_ISS  = 10_000      (pinned with FixedIsn)   LOCAL_SEQ  = 10_001
    REMOTE_ISS = 300_000                              REMOTE_SEQ = 300_001

The default test `Config` turns off delayed ACKs (replies are immediate),
timestamps, SACK and window scaling (so the option list of every reply is
known exactly), and uses a 4096-octet receive buffer so the window edge is
easy to reach. Tests that need any of those pass `cfg(...)` changes to the
state builders: `Tcp.established(delayed_ack=True)`.

A passive child and an active connection share the same 4-tuple
(LOCAL_IP:LOCAL_PORT <-> REMOTE_IP:REMOTE_PORT), so the same templates serve
both.
"""
from __future__ import annotations

from synack.engine import events as ev
from synack.engine.config import Config
from synack.engine.host import Host
from synack.engine.isn import FixedIsn
from synack.engine.segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, URG, Options, Segment  # noqa: F401
from synack.engine.seq import MASK
from synack.engine.states import (CLOSE_WAIT, CLOSED, CLOSING, ESTABLISHED, FIN_WAIT_1,  # noqa: F401
                           FIN_WAIT_2, LAST_ACK, LISTEN, SYN_RECEIVED, SYN_SENT, TIME_WAIT)
from synack.engine.timewait import TimeWait

LOCAL_IP = "192.0.2.1"
REMOTE_IP = "198.51.100.2"
LOCAL_PORT = 80
REMOTE_PORT = 49500

LOCAL_ISS = 10_000
REMOTE_ISS = 300_000
LOCAL_SEQ = LOCAL_ISS + 1           #: our first data octet (SND.NXT after the SYN)
REMOTE_SEQ = REMOTE_ISS + 1         #: the peer's first data octet (RCV.NXT after its SYN)

WINDOW = 4096                       #: our receive buffer, hence our advertised window
REMOTE_WINDOW = 8192                #: the window the peer advertises
LOCAL_MSS = 1460                    #: what we announce: MTU 1500 - 40 (MUST-67)
REMOTE_MSS = 1400                   #: what the peer announces on its SYN

SECRET = bytes(32)

#: What the peer sends: fill in flags/seq/ack/payload with `_replace`.
SEND = Segment(src_port=REMOTE_PORT, dst_port=LOCAL_PORT, seq=0, ack=0, flags=0,
               window=REMOTE_WINDOW)
#: What we send: fill in flags/seq/ack/window/payload with `_replace`.
RECV = Segment(src_port=LOCAL_PORT, dst_port=REMOTE_PORT, seq=0, ack=0, flags=0, window=WINDOW)

#: The peer's SYN, announcing its MSS.
PEER_SYN = SEND._replace(flags=SYN, seq=REMOTE_ISS, options=Options(mss=REMOTE_MSS))
#: Our SYN (active open) and SYN,ACK (passive open or simultaneous open).
OUR_SYN = RECV._replace(flags=SYN, seq=LOCAL_ISS, options=Options(mss=LOCAL_MSS))
OUR_SYN_ACK = RECV._replace(flags=SYN | ACK, seq=LOCAL_ISS, ack=REMOTE_SEQ,
                            options=Options(mss=LOCAL_MSS))
#: The peer's SYN,ACK to our SYN.
PEER_SYN_ACK = SEND._replace(flags=SYN | ACK, seq=REMOTE_ISS, ack=LOCAL_SEQ,
                             options=Options(mss=REMOTE_MSS))


def seq(n: int) -> int:
    """A sequence number reduced modulo 2**32 (for the wrap-around tests)."""
    return n & MASK


def cfg(**changes) -> Config:
    """The harness's default Config, with `changes` applied. Options off and
    immediate ACKs for exact expectations; Reno (RFC 5681), whose window
    arithmetic the per-state tests spell out (CUBIC has its own tests)."""
    base = Config(delayed_ack=False, timestamps=False, sack=False, window_scaling=False,
                  rcvbuf=WINDOW, congestion_control="reno")
    return base.replace(**changes) if changes else base


def _caller() -> str:
    """file:line of the test code that called into the harness."""
    import sys
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename == __file__:
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "?"


class Replies(list):
    """The segments a `send` or `advance` returned. Any look at them (==,
    indexing, iteration, len, truth, `in`, repr) marks them seen; `.ignore()`
    says the test does not care what they are."""
    seen = False
    origin = "?"

    def _look(self) -> None:
        self.seen = True

    def ignore(self) -> "Replies":
        self.seen = True
        return self

    def __eq__(self, other):
        self._look()
        return list.__eq__(self, other)

    def __ne__(self, other):
        self._look()
        return list.__ne__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, i):
        self._look()
        return list.__getitem__(self, i)

    def __iter__(self):
        self._look()
        return list.__iter__(self)

    def __len__(self):
        self._look()
        return list.__len__(self)

    def __bool__(self):
        self._look()
        return list.__len__(self) != 0

    def __contains__(self, x):
        self._look()
        return list.__contains__(self, x)

    def __repr__(self):
        self._look()
        return list.__repr__(self)


def show(segs) -> str:
    def one(s):
        p = s.payload
        text = f"  payload={p[:24]!r}{'...' if len(p) > 24 else ''}" if p else ""
        return "    " + s.describe() + text
    return "\n".join(one(s) for s in segs) or "    (nothing)"


class Tcp:
    """One host, one remote endpoint, a virtual clock."""

    #: Every harness made during the current test (the conftest checks and
    #: clears it after each test).
    live: list["Tcp"] = []

    @classmethod
    def check_all_seen(cls) -> None:
        """After a test: every answer a harness returned was looked at."""
        made, cls.live = cls.live, []
        for t in made:
            t._check_seen("at the end of the test")

    def __init__(self, config: Config | None = None, *, local_iss: int = LOCAL_ISS,
                 now: float = 0.0):
        Tcp.live.append(self)
        self.last_replies: Replies | None = None
        self.config = config or cfg()
        self.local_iss = local_iss
        self.host = Host([LOCAL_IP], self.config, secret=SECRET, isn=FixedIsn(local_iss),
                         port_seed=0)
        self.host.record_transitions = True
        self.now = now
        self.conn = None
        self.listener = None
        self.pending: list[Segment] = []

    # ---------------------------------------------------------------- output
    def _drain(self) -> list[Segment]:
        out = []
        for src, dst, s in self.host.take_outbox():
            assert (src, dst) == (LOCAL_IP, REMOTE_IP), f"segment for an unexpected path {src}->{dst}"
            out.append(s)
        self.pending.extend(out)
        return out

    def take(self) -> list[Segment]:
        """Everything queued since the last send/take/expect, and forget it."""
        self._drain()
        out, self.pending = self.pending, []
        return out

    def expect(self, *segs: Segment, **fields) -> list[Segment]:
        """Assert the pending output is exactly `segs`, or (with keyword
        arguments) exactly one segment: `RECV._replace(**fields)`."""
        if fields:
            assert not segs, "give segments or template fields, not both"
            segs = (RECV._replace(**fields),)
        got = self.take()
        assert got == list(segs), f"expected:\n{show(segs)}\ngot:\n{show(got)}"
        return got

    def expect_nothing(self) -> None:
        got = self.take()
        assert got == [], f"expected nothing, got:\n{show(got)}"

    # ---------------------------------------------------------- strictness
    def _check_seen(self, where: str) -> None:
        r, self.last_replies = self.last_replies, None
        if r is not None and not r.seen and list.__len__(r):
            raise AssertionError(f"segments the test never looked at ({where}), "
                                 f"returned at {r.origin}:\n"
                                 f"{show(list.__iter__(r))}\n"
                                 "compare them, or say `.ignore()` if they do not matter")

    def _check_quiet(self, verb: str) -> None:
        """Before `verb`: no earlier answer unseen, no earlier output pending."""
        self._check_seen(f"before {verb}")
        self._drain()
        if self.pending:
            got, self.pending = self.pending, []
            raise AssertionError(f"output nobody checked is still pending before {verb} "
                                 f"at {_caller()}:\n"
                                 f"{show(got)}\n"
                                 "check it with expect()/expect_nothing(), or take() it")

    def _answer(self) -> Replies:
        r = Replies(self.take())
        r.origin = _caller()
        self.last_replies = r
        return r

    # ----------------------------------------------------------------- input
    def send(self, seg: Segment | None = None, /, **fields) -> Replies:
        """Deliver one segment from the peer at time `now`; return the replies.
        With keyword arguments the segment is `SEND._replace(**fields)`."""
        if seg is None:
            seg = SEND._replace(**fields)
        elif fields:
            seg = seg._replace(**fields)
        self._check_quiet("send()")
        self.host.receive(self.now, REMOTE_IP, LOCAL_IP, seg)
        return self._answer()

    def advance(self, seconds: float) -> Replies:
        """Move the clock forward by `seconds`, firing every timer on the way at
        its own deadline (as a driver would); return everything that was sent."""
        return self.advance_to(self.now + seconds)

    def advance_to(self, when: float) -> Replies:
        """Like advance, to an absolute time."""
        assert when >= self.now
        self._check_quiet("advance()")
        while True:
            d = self.host.next_deadline()
            if d is None or d > when:
                break
            self.now = max(self.now, d)
            self.host.poll(self.now)
        self.now = when
        self.host.poll(self.now)
        return self._answer()

    def next_deadline(self) -> float | None:
        return self.host.next_deadline()

    # ------------------------------------------------------------ user calls
    def write(self, data: bytes) -> int:
        return self.conn.send(self.now, data)

    def read(self, n: int = 1 << 20) -> bytes:
        return self.conn.recv(self.now, n)

    def close(self) -> None:
        self.conn.close(self.now)

    def shutdown(self, how: str = "wr") -> None:
        self.conn.shutdown(self.now, how)

    def abort(self) -> None:
        self.conn.abort(self.now)

    def accept(self):
        return self.listener.accept()

    # -------------------------------------------------------------- outcome
    @property
    def key(self) -> tuple:
        return (LOCAL_IP, LOCAL_PORT, REMOTE_IP, REMOTE_PORT)

    @property
    def entry(self):
        """What the host's table holds for the 4-tuple: a Connection, a TimeWait, or None."""
        return self.host.conns.get(self.key)

    @property
    def state(self):
        """The connection's state as the host sees it (CLOSED once it is gone)."""
        e = self.entry
        if e is not None:
            return e.state
        if self.conn is None and self.listener is not None:
            return self.listener.state
        if self.conn is not None and self.conn.state is not CLOSED:
            # not in the table: only a passive child sent back to LISTEN can be here
            return self.conn.state
        return CLOSED

    def events(self) -> list[tuple]:
        """App-visible events since the last call, as (kind, detail) pairs."""
        out = [(e.kind, e.detail) for e in self.host.take_events()]
        return out

    def stat(self, name: str) -> int:
        return self.host.stats[name]

    # ------------------------------------------------------------ builders
    # Each builder drives the handshake and asserts every segment on the way,
    # then clears the outbox and the events, so a test starts from silence.

    @classmethod
    def listen(cls, backlog: int = 128, **changes) -> "Tcp":
        t = cls(cfg(**changes))
        t.listener = t.host.listen(t.now, LOCAL_PORT, LOCAL_IP, backlog=backlog)
        return t

    @classmethod
    def syn_received(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """Passive open: LISTEN + SYN -> SYN-RECEIVED, SYN,ACK sent. `peer_options`
        replaces the options of the peer's SYN."""
        t = cls.listen(**changes)
        replies = t.send(PEER_SYN if peer_options is None else PEER_SYN._replace(options=peer_options))
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(SYN | ACK, LOCAL_ISS, REMOTE_SEQ)], show(replies)
        t.conn = t.entry
        assert t.conn.state is SYN_RECEIVED and t.conn.passive
        t.events()
        return t

    @classmethod
    def syn_sent(cls, **changes) -> "Tcp":
        """Active open: SYN sent, SYN-SENT."""
        t = cls(cfg(**changes))
        t.conn = t.host.connect(t.now, REMOTE_IP, REMOTE_PORT, local_port=LOCAL_PORT)
        got = t.take()
        assert [(s.flags, s.seq) for s in got] == [(SYN, LOCAL_ISS)], show(got)
        assert t.conn.state is SYN_SENT
        t.events()
        return t

    @classmethod
    def syn_received_active(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """Simultaneous open (MUST-10): SYN-SENT + SYN -> SYN-RECEIVED, SYN,ACK sent."""
        t = cls.syn_sent(**changes)
        replies = t.send(PEER_SYN if peer_options is None else PEER_SYN._replace(options=peer_options))
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(SYN | ACK, LOCAL_ISS, REMOTE_SEQ)], show(replies)
        assert t.conn.state is SYN_RECEIVED and not t.conn.passive
        t.events()
        return t

    @classmethod
    def established(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """Active open completed: SYN-SENT + SYN,ACK -> ESTABLISHED, ACK sent.
        `peer_options` replaces the options of the peer's SYN,ACK."""
        t = cls.syn_sent(**changes)
        replies = t.send(PEER_SYN_ACK if peer_options is None else PEER_SYN_ACK._replace(options=peer_options))
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(ACK, LOCAL_SEQ, REMOTE_SEQ)], show(replies)
        assert t.conn.state is ESTABLISHED
        t.events()
        return t

    @classmethod
    def established_passive(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """Passive open completed and accepted: SYN-RECEIVED + ACK -> ESTABLISHED."""
        t = cls.syn_received(peer_options, **changes)
        replies = t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
        assert replies == [], show(replies)
        assert t.conn.state is ESTABLISHED
        assert t.accept() is t.conn
        t.events()
        return t

    @classmethod
    def fin_wait_1(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """ESTABLISHED + shutdown(SHUT_WR) -> FIN-WAIT-1, FIN sent. A half-close
        (not close()) so that the application can still read: RFC 9293's CLOSE
        is a half-close; `close()`'s orphan behaviour has its own tests."""
        t = cls.established(peer_options, **changes)
        t.shutdown("wr")
        got = t.take()
        assert [(s.flags, s.seq, s.ack) for s in got] == [(FIN | ACK, LOCAL_SEQ, REMOTE_SEQ)], show(got)
        assert t.conn.state is FIN_WAIT_1
        t.events()
        return t

    @classmethod
    def fin_wait_2(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """FIN-WAIT-1 + ACK of our FIN -> FIN-WAIT-2."""
        t = cls.fin_wait_1(peer_options, **changes)
        replies = t.send(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1)
        assert replies == [], show(replies)
        assert t.conn.state is FIN_WAIT_2
        t.events()
        return t

    @classmethod
    def close_wait(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """ESTABLISHED + FIN -> CLOSE-WAIT, ACK sent."""
        t = cls.established(peer_options, **changes)
        replies = t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(ACK, LOCAL_SEQ, REMOTE_SEQ + 1)], show(replies)
        assert t.conn.state is CLOSE_WAIT
        t.events()
        return t

    @classmethod
    def last_ack(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """CLOSE-WAIT + CLOSE -> LAST-ACK, FIN sent."""
        t = cls.close_wait(peer_options, **changes)
        t.close()
        got = t.take()
        assert [(s.flags, s.seq, s.ack) for s in got] == [(FIN | ACK, LOCAL_SEQ, REMOTE_SEQ + 1)], show(got)
        assert t.conn.state is LAST_ACK
        t.events()
        return t

    @classmethod
    def closing(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """Simultaneous close: FIN-WAIT-1 + FIN (our FIN not yet ACKed) -> CLOSING."""
        t = cls.fin_wait_1(peer_options, **changes)
        replies = t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ)
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(ACK, LOCAL_SEQ + 1, REMOTE_SEQ + 1)], show(replies)
        assert t.conn.state is CLOSING
        t.events()
        return t

    @classmethod
    def time_wait(cls, peer_options: Options | None = None, **changes) -> "Tcp":
        """FIN-WAIT-2 + FIN -> TIME-WAIT, ACK sent; the 4-tuple is now a TimeWait entry."""
        t = cls.fin_wait_2(peer_options, **changes)
        replies = t.send(flags=FIN | ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + 1)
        assert [(s.flags, s.seq, s.ack) for s in replies] == [(ACK, LOCAL_SEQ + 1, REMOTE_SEQ + 1)], show(replies)
        assert t.state is TIME_WAIT and type(t.entry) is TimeWait
        t.events()
        return t


def kinds(events) -> list[str]:
    return [k for k, _ in events]


EV = ev


# -- a sender's view, for the tests of what goes out (Nagle, cork, PSH) --------
def data_sent(segs) -> list[tuple[int, int, bool]]:
    """(offset from our first data octet, length, PSH) of each data segment."""
    return [(s.seq - LOCAL_SEQ, len(s.payload), bool(s.flags & PSH)) for s in segs if s.payload]


def peer_ack(n: int, window: int = 65535) -> dict:
    """The peer's ACK of our first `n` data octets, for `Tcp.send(SEND._replace(**...))`-style use."""
    return dict(flags=ACK, seq=REMOTE_SEQ, ack=LOCAL_SEQ + n, window=window)


def established_client(mss: int = 1000, window: int = 65535, **changes) -> "Tcp":
    """An active opener (IW 10) that has taken the peer's SYN,ACK with this
    MSS and window: ESTABLISHED, nothing sent yet."""
    t = Tcp.syn_sent(initial_window=10, **changes)
    t.send(PEER_SYN_ACK._replace(window=window, options=Options(mss=mss))).ignore()
    return t
