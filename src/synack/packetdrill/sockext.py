"""Socket features beyond the basic calls of `syscalls`: epoll, the
TCP_CM_INQ control message of TCP_INQ, what TCP_NOTSENT_LOWAT does to
writes, MSG_ZEROCOPY, invalid buffer pointers (EFAULT).

These are socket-layer behaviours of Linux that sit above the TCP engine.
The option values themselves are kept and checked by the engine's
`SockOpts` (synack.engine.info, `Sock.opts`); this module does what the
socket layer does with them. TCP_CORK, MSG_MORE, MSG_EOR and IP_TOS /
IPV6_TCLASS are the engine's (Connection.set_cork, Connection.send,
Config.tos).

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

    def linux_write(self, sock: Sock, conn, n: int, more: bool = False,
                    eor: bool = False, cont: bool = False) -> int:
        """`more`, `eor`: MSG_MORE, MSG_EOR (Connection.send); `cont`: the
        rest of a write that blocked (Linux's `copied` is not 0)."""
        push = not more
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
                given = conn.send(self.now, bytes(take), push=mark, more=more,
                                  eor=eor and last, xmit=xmit)
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
        if push and 0 < accepted < n:
            # tcp_push marks the end of what was copied
            end = add(conn.sndq_seq, len(conn.sndq))
            if 0 < ((end - conn.snd_nxt) & 0xFFFFFFFF) < (1 << 31):
                if not isinstance(conn.push_seqs, list):
                    conn.push_seqs = []
                conn.push_seqs.append(end)
        if xmit >= 0 and accepted:
            conn.push(self.now)                          # tcp_push before waiting for room
        return accepted
