"""Socket features beyond the basic calls of `syscalls`: epoll, the
TCP_CM_INQ control message of TCP_INQ, what TCP_NOTSENT_LOWAT, TCP_CORK,
MSG_MORE and MSG_EOR do to writes, the IP_TOS/IPV6_TCLASS byte on the
wire, MSG_ZEROCOPY, invalid buffer pointers (EFAULT).

These are socket-layer behaviours of Linux that sit above the TCP engine.
The option values themselves are kept and checked by the engine's
`SockOpts` (synack.engine.info, `Sock.opts`); this module does what the
socket layer does with them.

epoll follows Linux's `ep_poll_callback`: a watched socket goes on the
ready list when it is woken (data arrived, the connection changed state or
failed, or send-buffer space came back after a writer ran out of it) and
its events then intersect what it is watched for; an `epoll_ctl` ADD or MOD
checks at once. `epoll_wait` reports the socket's current events; in
edge-triggered mode (EPOLLET) the socket then leaves the ready list until
the next wakeup, in level-triggered mode it stays while the events hold;
EPOLLONESHOT disarms it after one report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.info import inq_hint
from ..engine.seq import add
from . import ast as A
from .outcome import unsupported
from .syscalls import (SOL_TCP, SYMBOLS, Done, Sock, WouldBlock, _BadFd,
                       eval_box, eval_int, is_ellipsis, mismatch)

EPOLLET = 1 << 31
EPOLLONESHOT = 1 << 30
_EPOLL_NAMES = ("EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLERR", "EPOLLHUP", "EPOLLRDNORM",
                "EPOLLRDBAND", "EPOLLWRNORM", "EPOLLWRBAND", "EPOLLMSG", "EPOLLRDHUP")
#: Linux's default for TCP_NOTSENT_LOWAT when neither the socket nor the
#: sysctl sets it (net.ipv4.tcp_notsent_lowat = UINT_MAX: no limit)
NOTSENT_LOWAT_DEFAULT = 0xFFFFFFFF


@dataclass
class Epoll:
    """An epoll instance: watched fds -> [events, data, ready]."""
    fd: int
    items: dict[int, list] = field(default_factory=dict)


def is_null(expr: A.Expr) -> bool:
    return isinstance(expr, A.Ident) and expr.name == "NULL" or (
        isinstance(expr, A.IntExpr) and expr.value == 0)


def _epoll_text(mask: int) -> str:
    names = [n for n in _EPOLL_NAMES if mask & SYMBOLS[n]]
    return "|".join(names) or "0"


class SocketExtrasMixin:
    """Mixed into the runner next to SyscallsMixin."""

    epolls: dict[int, Epoll]
    notsent_lowat_sysctl: int = NOTSENT_LOWAT_DEFAULT

    # -- bookkeeping the runner calls ------------------------------------------------
    def _wake_signature(self, sock: Sock) -> tuple:
        conn = sock.conn
        if conn is None:
            lst = sock.listener
            return ("l", len(lst.accept_queue)) if lst else ("-",)
        return (conn.rcv_nxt, conn.state, conn.error, conn.eof)

    def epoll_sample(self) -> None:
        """After each step: clear Linux's SOCK_NOSPACE of sockets whose
        writers may go on (sk_stream_write_space), and wake the epoll items
        of every socket that was woken (see the module doc)."""
        if not self.epolls:
            for sock in self.fds.values():
                if sock.sockopts.get(("nospace",)) and sock.conn is not None \
                        and self._writable(sock):
                    sock.sockopts.pop(("nospace",), None)
            return
        sigs = getattr(self, "_wake_sigs", None)
        if sigs is None:
            sigs = self._wake_sigs = {}
        for fd, sock in self.fds.items():
            sig = self._wake_signature(sock)
            old = sigs.get(fd)
            woken = old is not None and old[0] is sock and old[1] != sig
            if sock.sockopts.get(("nospace",)) and sock.conn is not None \
                    and self._writable(sock):
                sock.sockopts.pop(("nospace",), None)
                woken = True                     # sk_write_space after running out
            if woken:
                self._epoll_wake(fd, sock)
            sigs[fd] = (sock, sig)

    def _epoll_wake(self, fd: int, sock: Sock) -> None:
        for ep in self.epolls.values():
            item = ep.items.get(fd)
            if item is not None and item[0] & ~(EPOLLET | EPOLLONESHOT):
                if self._epoll_mask(sock, item[0]):
                    item[2] = True

    def _epoll_mask(self, sock: Sock | None, events: int) -> int:
        # EPOLL* event bits equal the POLL* ones
        return self._revents(sock, events & ~(EPOLLET | EPOLLONESHOT))

    # -- epoll calls ------------------------------------------------------------------
    def _epoll_new(self, ev: A.Syscall) -> Done:
        fd = self._new_fd(ev)
        self.epolls[fd] = Epoll(fd)
        return Done(fd)

    def sys_epoll_create(self, ev: A.Syscall) -> Done:
        (size_e,) = self._args(ev, 1)
        if eval_int(size_e, "size") <= 0:
            return Done(-1, "EINVAL")
        return self._epoll_new(ev)

    def sys_epoll_create1(self, ev: A.Syscall) -> Done:
        (flags_e,) = self._args(ev, 1)
        if eval_int(flags_e, "flags") & ~SYMBOLS["EPOLL_CLOEXEC"]:
            return Done(-1, "EINVAL")
        return self._epoll_new(ev)

    def _epoll(self, expr: A.Expr) -> Epoll:
        fd = eval_int(expr, "epoll fd")
        ep = self.epolls.get(fd)
        if ep is None:
            if fd in self.fds:
                raise _EInval()
            raise _BadFd(fd)
        return ep

    def sys_epoll_ctl(self, ev: A.Syscall) -> Done:
        epfd_e, op_e, fd_e, event_e = self._args(ev, 4)
        try:
            ep = self._epoll(epfd_e)
        except _EInval:
            return Done(-1, "EINVAL")
        op = eval_int(op_e, "epoll_ctl op")
        fd = eval_int(fd_e, "fd")
        if fd not in self.fds:
            return Done(-1, "EBADF")
        events, data = 0, fd
        if isinstance(event_e, A.StructExpr):
            events = eval_int(event_e.fields.get("events", A.IntExpr(0)), "events")
            for key in ("fd", "u32", "u64", "ptr"):
                if key in event_e.fields:
                    data = eval_int(event_e.fields[key], key)
        elif not (is_ellipsis(event_e) or is_null(event_e)) or op != SYMBOLS["EPOLL_CTL_DEL"]:
            raise unsupported(f"epoll_event {event_e}")
        sock = self.fds[fd]
        if op == SYMBOLS["EPOLL_CTL_ADD"]:
            if fd in ep.items:
                return Done(-1, "EEXIST")
            ep.items[fd] = [events, data, bool(self._epoll_mask(sock, events))]
        elif op == SYMBOLS["EPOLL_CTL_MOD"]:
            if fd not in ep.items:
                return Done(-1, "ENOENT")
            ep.items[fd] = [events, data, bool(self._epoll_mask(sock, events))]
        elif op == SYMBOLS["EPOLL_CTL_DEL"]:
            if ep.items.pop(fd, None) is None:
                return Done(-1, "ENOENT")
        else:
            return Done(-1, "EINVAL")
        return Done(0)

    def sys_epoll_wait(self, ev: A.Syscall) -> Done:
        epfd_e, events_e, max_e, timeout_e = self._args(ev, 4)
        try:
            ep = self._epoll(epfd_e)
        except _EInval:
            return Done(-1, "EINVAL")
        maxevents = eval_int(max_e, "maxevents")
        if maxevents <= 0:
            return Done(-1, "EINVAL")
        timeout = eval_int(timeout_e, "timeout")
        wants = self._epoll_expected(events_e)
        wake = None if timeout < 0 else self.now_us + timeout * 1000

        def harvest() -> Done | None:
            got: list[tuple[int, int]] = []
            for fd, item in list(ep.items.items()):
                if len(got) >= maxevents:
                    break
                if not item[2]:
                    continue
                sock = self.fds.get(fd)
                mask = self._epoll_mask(sock, item[0])
                if not mask:
                    item[2] = False
                    continue
                got.append((mask, item[1]))
                if item[0] & (EPOLLET | EPOLLONESHOT):
                    item[2] = False
                if item[0] & EPOLLONESHOT:
                    item[0] &= EPOLLET | EPOLLONESHOT      # disarmed until EPOLL_CTL_MOD
            if not got and (wake is None or self.now_us < wake):
                return None
            for i, (want_events, want_data) in enumerate(wants):
                if i >= len(got):
                    break
                mask, data = got[i]
                if want_events is not None and want_events != mask:
                    raise mismatch(f"epoll_wait: event {i} events expected "
                                   f"{_epoll_text(want_events)}, actual {_epoll_text(mask)}")
                if want_data is not None and want_data != data:
                    raise mismatch(f"epoll_wait: event {i} data expected {want_data}, "
                                   f"actual {data}")
            if not got:
                for want_events, _ in wants[:1]:
                    if want_events:
                        raise mismatch(f"epoll_wait: expected {_epoll_text(want_events)}, "
                                       "but no event was ready")
            return Done(len(got), detail=", ".join(f"{{events={_epoll_text(m)}, data={d}}}"
                                                   for m, d in got) or "no events")
        done = harvest()
        if done is not None:
            return done
        raise WouldBlock(harvest, wake_us=wake, why="epoll_wait() waits for events")

    def _epoll_expected(self, expr: A.Expr) -> list[tuple[int | None, int | None]]:
        items = expr.items if isinstance(expr, A.ArrayExpr) else [expr]
        out = []
        for item in items:
            if is_ellipsis(item):
                out.append((None, None))
                continue
            if not isinstance(item, A.StructExpr):
                raise unsupported(f"epoll_event {item}")
            f = item.fields
            want_events = None
            if "events" in f and not is_ellipsis(f["events"]):
                want_events = eval_int(f["events"], "events")
            want_data = None
            for key in ("fd", "u32", "u64"):
                if key in f and not is_ellipsis(f[key]):
                    want_data = eval_int(f[key], key)
            out.append((want_events, want_data))
        return out

    # -- socket options --------------------------------------------------------------
    def notsent_lowat(self, sock: Sock) -> int:
        return sock.opts.notsent_lowat or self.notsent_lowat_sysctl

    def _writable(self, sock: Sock) -> bool:
        """Linux's __sk_stream_is_writeable(sk, wake=1): free send-buffer
        space of at least half what is queued, and unsent data under half
        the TCP_NOTSENT_LOWAT mark."""
        conn = sock.conn
        if conn is None:
            return True
        space = conn.send_space
        queued = len(conn.sndq)
        if space <= 0 or space < queued // 2:
            return False
        unsent = queued - ((conn.snd_nxt - conn.sndq_seq) & 0xFFFFFFFF)
        return (unsent << 1) < self.notsent_lowat(sock)

    def tos_for(self, key: tuple) -> int:
        """The TOS / traffic class byte of the socket owning connection key."""
        for sock in self.fds.values():
            conn = sock.conn
            if conn is not None and conn.key == key:
                return sock.opts.tos
        return 0

    # -- recvmsg's control messages ----------------------------------------------------
    def cmsg_inq_check(self, sock: Sock, control: A.Expr) -> None:
        """Check the TCP_CM_INQ message a recvmsg() returns (Linux's
        tcp_inq_hint: bytes still queued, or 1 when none is but the peer's
        FIN has come)."""
        if is_ellipsis(control):
            return
        if not isinstance(control, A.ArrayExpr):
            raise unsupported(f"msg_control {control}")
        on = bool(sock.opts.inq)
        for item in control.items:
            if not isinstance(item, A.StructExpr):
                raise unsupported(f"cmsg {item}")
            f = item.fields
            level = eval_int(f.get("cmsg_level", A.IntExpr(-1)), "cmsg_level")
            ctype = eval_int(f.get("cmsg_type", A.IntExpr(-1)), "cmsg_type")
            if (level, ctype) != (SOL_TCP, SYMBOLS["TCP_CM_INQ"]):
                raise unsupported(f"control message {item} (the runner knows TCP_CM_INQ)")
            if not on:
                raise mismatch("recvmsg: expected a TCP_CM_INQ control message, but TCP_INQ "
                               "is off on this socket, so none comes")
            inq = inq_hint(sock.conn) if sock.conn is not None else 0
            want = f.get("cmsg_data")
            if want is not None and not is_ellipsis(want):
                w = eval_box(want, "cmsg_data")
                if w is not None and w != inq:
                    raise mismatch(f"recvmsg: TCP_CM_INQ expected {w}, actual {inq}")


class _EInval(Exception):
    pass



# --------------------------------------------------------------------------
# what the socket holds back from the engine: corked data and MSG_EOR records

@dataclass
class Chunk:
    n: int
    push: bool          # the write's end is a push point (not MSG_MORE)
    eor: bool           # MSG_EOR: nothing later may share its last segment
    more: bool          # held by MSG_MORE (released by the next output chance)


@dataclass
class TxHold:
    """Data a socket has accepted from write() but not yet handed to the
    engine. Linux keeps such data in its write queue; the runner keeps it
    here, so the engine's segmentation sees only what Linux would let it
    send:

    * TCP_CORK and MSG_MORE: only full-sized segments go until the cork
      comes off (setsockopt TCP_CORK 0, TCP_NODELAY 1, a write without
      MSG_MORE); data held by MSG_MORE alone also goes at the next chance to
      send (an incoming segment, Linux's tcp_data_snd_check), and corked data
      with nothing in flight goes when the zero-window-probe timer fires, one
      RTO after it was held (Linux's tcp_check_probe_timer / tcp_write_wakeup,
      with PSH);
    * MSG_EOR: the engine gets the data after an end of record only once
      everything up to that end has been sent, so no segment spans it (and
      a later record is pushed past Nagle, as Linux sends every skb but the
      last in its queue).
    """
    chunks: list[Chunk] = field(default_factory=list)
    eor_end: int | None = None       # engine queue end of a record not yet fully sent
    probe_at_us: int | None = None

    def held(self) -> int:
        return sum(c.n for c in self.chunks)


class TxHoldMixin:
    """The runner's side of TxHold (mixed into the runner)."""

    def _txhold(self, sock: Sock) -> TxHold:
        h = self.txholds.get(sock.fd)
        if h is None or self._txhold_owner.get(sock.fd) is not sock:
            h = self.txholds[sock.fd] = TxHold()
            self._txhold_owner[sock.fd] = sock
        return h

    def corked(self, sock: Sock) -> bool:
        return bool(sock.opts.cork)

    def tx_hold_send(self, sock: Sock, conn, n: int, flags: int) -> bool:
        """Take a write of n bytes into the hold if it must be held; True
        when taken (the write then returns n)."""
        more = bool(flags & SYMBOLS["MSG_MORE"])
        eor = bool(flags & SYMBOLS["MSG_EOR"])
        h = self.txholds.get(sock.fd)
        busy = h is not None and self._txhold_owner.get(sock.fd) is sock and (
            h.chunks or h.eor_end is not None)
        if not (more or eor or busy or self.corked(sock)):
            return False
        h = self._txhold(sock)
        h.chunks.append(Chunk(n, push=not more, eor=eor, more=more and not self.corked(sock)))
        self.tx_release(sock)
        return True

    def tx_release(self, sock: Sock, *, uncork: bool = False, more_too: bool = False,
                   probe: bool = False) -> None:
        """Hand the engine what it may have now (see TxHold)."""
        h = self.txholds.get(sock.fd)
        conn = sock.conn
        if h is None or conn is None or self._txhold_owner.get(sock.fd) is not sock:
            return
        mss = max(1, conn.snd_mss)
        while True:
            if h.eor_end is not None:
                if 0 < ((h.eor_end - conn.snd_nxt) & 0xFFFFFFFF) < (1 << 31):
                    # the record is not all sent yet; its tail does not wait
                    # for Nagle (nothing may join it)
                    nxt = conn.snd_nxt
                    conn.push(self.now)
                    if conn.snd_nxt == nxt or 0 < ((h.eor_end - conn.snd_nxt)
                                                   & 0xFFFFFFFF) < (1 << 31):
                        break
                    continue
                h.eor_end = None
            if not h.chunks:
                break
            held_by_cork = self.corked(sock) and not uncork
            held_by_more = all(c.more for c in h.chunks) and h.chunks[-1].more \
                and not (uncork or more_too)
            if held_by_cork or held_by_more:
                # only whole segments go (up to the first end of record)
                total = 0
                for c in h.chunks:
                    total += c.n
                    if c.eor:
                        break
                full = (total // mss) * mss
                if full == 0:
                    break
                self._tx_give(sock, conn, h, full, allow_push=False)
                continue
            # everything up to the first end of record, in one SEND (so the
            # engine segments it as one stream, as Linux's write queue is)
            group = []
            for c in h.chunks:
                group.append(c)
                if c.eor:
                    break
            total = sum(c.n for c in group)
            given = conn.send(self.now, bytes(total),
                              push=probe or any(c.push for c in group))
            self._drop_front(h, given)
            if given < total:
                break
            if group[-1].eor:
                h.eor_end = add(conn.sndq_seq, len(conn.sndq))
        if not h.chunks:
            h.probe_at_us = None
        elif h.probe_at_us is None and conn.snd_nxt == conn.snd_una:
            rtt = conn.rtt
            # Linux's tcp_set_rto: SRTT + max(4 * RTTVAR, rto_min)
            rto = (rtt.srtt or 0.0) + max(4 * rtt.rttvar, conn.cfg.rto_min) \
                if rtt.srtt else rtt.current()
            h.probe_at_us = self.now_us + int(round(min(rto, conn.cfg.rto_max) * 1e6))

    def _tx_give(self, sock: Sock, conn, h: TxHold, nbytes: int, allow_push: bool) -> None:
        given = conn.send(self.now, bytes(nbytes), push=allow_push)
        self._drop_front(h, given)

    @staticmethod
    def _drop_front(h: TxHold, nbytes: int) -> None:
        while nbytes > 0 and h.chunks:
            c = h.chunks[0]
            take = min(nbytes, c.n)
            c.n -= take
            nbytes -= take
            if c.n == 0:
                h.chunks.pop(0)

    def tx_flush(self, sock: Sock) -> None:
        """close()/shutdown(): everything goes to the engine."""
        h = self.txholds.get(sock.fd)
        if h is None or sock.conn is None or self._txhold_owner.get(sock.fd) is not sock:
            return
        h.eor_end = None
        for c in h.chunks:
            c.eor = False
        self.tx_release(sock, uncork=True)

    def tx_next_wake(self) -> int | None:
        times = [h.probe_at_us for fd, h in self.txholds.items()
                 if h.probe_at_us is not None and fd in self.fds]
        return min(times) if times else None

    def tx_fire(self, now_us: int) -> None:
        for fd, h in list(self.txholds.items()):
            if h.probe_at_us is not None and h.probe_at_us <= now_us:
                h.probe_at_us = None
                sock = self.fds.get(fd)
                if sock is not None and sock.conn is not None:
                    if sock.conn.snd_nxt == sock.conn.snd_una:
                        self.tx_release(sock, uncork=True, probe=True)
                    sock.conn.push(self.now)

    def tx_step(self) -> None:
        for fd, h in list(self.txholds.items()):
            if h.chunks or h.eor_end is not None:
                sock = self.fds.get(fd)
                if sock is not None:
                    try:
                        self.tx_release(sock)
                    except OSError:
                        # the connection can take no more (reset, shut down):
                        # what was held is lost with it, as in Linux
                        h.chunks.clear()
                        h.eor_end = None

    def uncork(self, sock: Sock, push_all: bool = False) -> None:
        self.tx_release(sock, uncork=True, more_too=push_all)


# --------------------------------------------------------------------------
# how much of a write Linux takes (tcp_sendmsg_locked)

#: Linux's GSO limit on the TUN device (GSO_LEGACY_MAX_SIZE) less
#: MAX_TCP_HEADER and one byte, as tcp_xmit_size_goal starts from
_GSO_PKTSIZE = 65536 - 1 - 320


def size_goal(conn) -> int:
    """tcp_xmit_size_goal: the size of the buffers Linux fills from a write,
    whole segments up to half the largest window the peer offered
    (tcp_bound_to_half_wnd), at least one segment."""
    mss = max(1, conn.snd_mss)
    max_window = conn.max_snd_wnd
    cutoff = max_window >> 1 if max_window > 536 else max_window
    goal = _GSO_PKTSIZE
    if cutoff and goal > cutoff:
        goal = max(cutoff, 68 - 20)
    return max(mss, (goal // mss) * mss)


class LinuxWriteMixin:
    """write() as Linux takes it. Data is copied into buffers of
    `size_goal` bytes; a partly filled last buffer is filled first; a new
    buffer is started only while the send queue (sent and unsent data) is
    below the send buffer size and the unsent data is below
    TCP_NOTSENT_LOWAT (sk_stream_memory_free). So a write may overshoot the
    buffer by up to one buffer, and stops as soon as it may not. The push
    mark goes on the last octet taken (tcp_push)."""

    def linux_write(self, sock: Sock, conn, n: int, push: bool = True, cont: bool = False) -> int:
        goal = size_goal(conn)
        lowat = self.notsent_lowat(sock)
        end = add(conn.sndq_seq, len(conn.sndq))        # tp->write_seq
        pushed = end if sock.pushed_seq is None else sock.pushed_seq
        half = conn.max_snd_wnd >> 1
        accepted = 0
        xmit = -1
        while accepted < n:
            unsent = len(conn.sndq) - ((conn.snd_nxt - conn.sndq_seq) & 0xFFFFFFFF)
            tail = unsent % goal
            if tail:
                take = min(n - accepted, goal - tail)
            else:
                if len(conn.sndq) >= conn.sndbuf or unsent >= lowat:
                    break
                take = min(n - accepted, goal)
            last = accepted + take == n
            mark = push and last
            ps = conn.push_seqs
            popped = ((accepted > 0 or cont) and tail > 0 and isinstance(ps, list)
                      and bool(ps) and ps[-1] == end)
            if popped:
                # a forced push's PSH belongs to the skb: while this write
                # appends to that skb, the PSH moves to its new end
                ps.pop()
                mark = True
            xmit = -1 if last else 0
            if not last and tail + take == goal:
                if 0 < ((end + take - pushed - half) & 0xFFFFFFFF) < (1 << 31):
                    # forced_push: more than half the largest window written
                    # since the last push: mark this skb and send (tcp_mark_push)
                    mark = True
                    xmit = -1
                    pushed = add(end, take)
                elif unsent == tail:
                    # the first unsent skb is full: tcp_push_one sends one TSO
                    # unit, at most half the cwnd (tcp_cwnd_test)
                    xmit = max(1, min(conn.cfg.tso_segs, (conn.cc.cwnd // max(1, conn.snd_mss)) >> 1))
            keep = conn.sndbuf
            conn.sndbuf = max(keep, len(conn.sndq) + take)   # the engine's own limit
            try:
                given = conn.send(self.now, bytes(take), push=mark, xmit=xmit)
            except OSError:
                if popped:
                    ps.append(end)                       # nothing was written
                raise
            finally:
                conn.sndbuf = keep
            accepted += given
            end = add(end, given)
            if given < take:
                break
        if push and accepted:
            pushed = end                                 # tcp_push marks the end
        sock.pushed_seq = pushed
        if xmit >= 0 and accepted:
            conn.push(self.now)                          # tcp_push before waiting for room
        if push and 0 < accepted < n:
            # tcp_push marks the end of what was copied
            end = add(conn.sndq_seq, len(conn.sndq))
            if 0 < ((end - conn.snd_nxt) & 0xFFFFFFFF) < (1 << 31):
                if not isinstance(conn.push_seqs, list):
                    conn.push_seqs = []
                conn.push_seqs.append(end)
        return accepted
