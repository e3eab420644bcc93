"""Kernel-side helper programs: clients and servers on the *kernel's* TCP.

They run inside the namespace (``ip netns exec NS python -m
synack.tun.kernelside ...``) and talk to synack over the TUN, or to each other
over a veth pair when the benchmark measures the kernel against itself. Only
the standard library is used, and every program prints one JSON object on
stdout when it is done (servers print ``{"ready": port}`` first).

Clients::

    send HOST PORT BYTES         connect, send BYTES, half-close, wait for the peer's FIN
    recv HOST PORT               connect, read until EOF
    rr HOST PORT [-n N] [-p P]   N connections, P at a time: connect, send a small
                                 request, read the same number of octets back, close

    hold HOST PORT [-n N]        open N connections and keep them open until stdin
                                 says otherwise (a line, or EOF)

Servers (one connection after another, until killed or --count is reached)::

    sink PORT                    read until EOF; reply with {"bytes", "sha256"} as JSON
                                 (--no-hash: without the SHA-256)
    source PORT BYTES            send BYTES (the /bytes pattern), then close
    echo PORT                    send back what arrives (many connections at a time)
    holdserver PORT [-n N]       accept N connections and keep them until stdin says

Options: --bind ADDR (servers), --hash (clients: SHA-256 of what was sent or
received), --count N (servers: stop after N connections).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import select as select_mod
import selectors
import socket
import sys
import time

_SEED = 0x53594E41                # the same pattern as synack.tun.services
_BLOCK = 1 << 20


def _block() -> bytes:
    return random.Random(_SEED).randbytes(_BLOCK)


def _out(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# ------------------------------------------------------------------ clients
def client_send(host: str, port: int, n: int, hash_it: bool, chunk: int = 1 << 20) -> dict:
    block = _block()
    view = memoryview(block)
    h = hashlib.sha256() if hash_it else None
    s = socket.create_connection((host, port))
    t0 = time.perf_counter()
    left = n
    pos = 0
    while left > 0:
        k = min(left, chunk, _BLOCK - pos)
        piece = view[pos:pos + k]
        s.sendall(piece)
        if h is not None:
            h.update(piece)
        left -= k
        pos = (pos + k) % _BLOCK
    s.shutdown(socket.SHUT_WR)
    reply = bytearray()
    while True:
        d = s.recv(65536)
        if not d:
            break
        reply += d
    dt = time.perf_counter() - t0
    s.close()
    res = {"bytes": n, "seconds": dt, "MBps": n / dt / 1e6}
    if h is not None:
        res["sha256"] = h.hexdigest()
    if reply:
        try:
            res["reply"] = json.loads(reply)
        except ValueError:
            res["reply"] = reply[:200].decode("latin-1")
    return res


def client_recv(host: str, port: int, hash_it: bool) -> dict:
    h = hashlib.sha256() if hash_it else None
    s = socket.create_connection((host, port))
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    n = 0
    t0 = time.perf_counter()
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        n += k
        if h is not None:
            h.update(view[:k])
    dt = time.perf_counter() - t0
    s.close()
    res = {"bytes": n, "seconds": dt, "MBps": n / dt / 1e6 if dt else 0.0}
    if h is not None:
        res["sha256"] = h.hexdigest()
    return res


def client_rr(host: str, port: int, n: int, parallel: int, size: int, duration: float | None) -> dict:
    """Connections per second: connect, send `size` octets, read `size` back, close.
    `parallel` connections are kept in flight with non-blocking sockets on epoll
    (kept lean: the client, not the server, is often the limit)."""
    request = b"x" * size
    ep = select_mod.epoll()
    fam = _family(host)
    addr = (host, port)
    EPOLLIN, EPOLLOUT = select_mod.EPOLLIN, select_mod.EPOLLOUT
    live: dict = {}                       # fd -> [socket, octets received]
    started = done = failed = 0
    t0 = time.perf_counter()
    end = t0 + duration if duration else None

    def start() -> None:
        nonlocal started, failed
        s = socket.socket(fam, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        started += 1
        err = s.connect_ex(addr)
        if err not in (0, 115):           # EINPROGRESS
            failed += 1
            s.close()
            return
        fd = s.fileno()
        live[fd] = [s, 0]
        ep.register(fd, EPOLLOUT)

    def more() -> bool:
        return time.perf_counter() < end if end is not None else started < n

    for _ in range(parallel):
        if more():
            start()
    while live:
        ready = ep.poll(10.0)
        if not ready:                     # nothing moved for 10 s: give up on the rest
            failed += len(live)
            for s, _ in live.values():
                s.close()
            break
        for fd, mask in ready:
            entry = live[fd]
            s = entry[0]
            try:
                if mask & EPOLLOUT:
                    s.send(request)       # fails if the connect did
                    ep.modify(fd, EPOLLIN)
                    continue
                d = s.recv(65536)
                if not d:
                    raise OSError("early EOF")
                entry[1] += len(d)
                if entry[1] < size:
                    continue
                done += 1
            except OSError:
                failed += 1
            del live[fd]
            s.close()                     # also leaves the epoll set
            if more():
                start()
    dt = time.perf_counter() - t0
    ep.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"connections": done, "failed": failed, "seconds": dt, "conn_per_s": done / dt,
            "parallel": parallel, "size": size, "cpu_user": ru.ru_utime, "cpu_sys": ru.ru_stime}


def _raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 64))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def client_hold(host: str, port: int, n: int, window: int = 256) -> None:
    """Open n connections (at most `window` handshakes at a time), print
    {"ready": n}, keep them open until a line (or EOF) arrives on stdin."""
    _raise_nofile(n)
    fam = _family(host)
    socks = []
    pending = {}
    poller = select_mod.poll()
    t0 = time.perf_counter()
    while len(socks) + len(pending) < n or pending:
        while len(pending) < window and len(socks) + len(pending) < n:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((host, port))
            if err not in (0, 115):
                raise OSError(err, os.strerror(err))
            pending[s.fileno()] = s
            poller.register(s, select_mod.POLLOUT)
        ready = poller.poll(10000)
        if not ready:
            raise TimeoutError(f"{len(pending)} connections did not complete")
        for fd, _ in ready:
            s = pending.pop(fd)
            poller.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            socks.append(s)
    _out({"ready": len(socks), "seconds": time.perf_counter() - t0})
    sys.stdin.readline()
    for s in socks:
        s.close()
    _out({"closed": len(socks)})


# ------------------------------------------------------------------ servers
def server_hold(bind: str, port: int, n: int) -> None:
    """Accept n connections and keep them; print {"held": n}; close them all
    when a line (or EOF) arrives on stdin."""
    _raise_nofile(n)
    srv = _listener(bind, port)
    held = []
    while len(held) < n:
        c, _ = srv.accept()
        held.append(c)
    _out({"held": len(held)})
    sys.stdin.readline()
    for c in held:
        c.close()
def _listener(bind: str, port: int) -> socket.socket:
    s = socket.socket(_family(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind, port))
    s.listen(4096)
    _out({"ready": s.getsockname()[1]})
    return s


def server_sink(bind: str, port: int, count: int | None, hash_it: bool = True) -> None:
    srv = _listener(bind, port)
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    served = 0
    while count is None or served < count:
        c, _ = srv.accept()
        h = hashlib.sha256() if hash_it else None
        n = 0
        t0 = None
        while True:
            k = c.recv_into(buf)
            if t0 is None:
                t0 = time.perf_counter()
            if not k:
                break
            n += k
            if h is not None:
                h.update(view[:k])
        dt = time.perf_counter() - (t0 or time.perf_counter())
        res = {"bytes": n, "seconds": dt}
        if h is not None:
            res["sha256"] = h.hexdigest()
        try:
            c.sendall(json.dumps(res).encode())
        except OSError:
            pass
        c.close()
        _out(res)
        served += 1


def server_source(bind: str, port: int, n: int, count: int | None) -> None:
    srv = _listener(bind, port)
    view = memoryview(_block())
    served = 0
    while count is None or served < count:
        c, _ = srv.accept()
        left = n
        pos = 0
        t0 = time.perf_counter()
        try:
            while left > 0:
                k = min(left, _BLOCK - pos)
                c.sendall(view[pos:pos + k])
                left -= k
                pos = (pos + k) % _BLOCK
            c.shutdown(socket.SHUT_WR)
            c.recv(1)
        except OSError:
            pass
        c.close()
        _out({"bytes": n - left, "seconds": time.perf_counter() - t0})
        served += 1


def server_echo(bind: str, port: int, count: int | None) -> None:
    srv = _listener(bind, port)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    served = 0
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        c, _ = srv.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(True)
                    sel.register(c, selectors.EVENT_READ, "c")
                continue
            c = key.fileobj
            try:
                d = c.recv(1 << 20)
            except OSError:
                d = b""
            if d:
                try:
                    c.sendall(d)
                    continue
                except OSError:
                    pass
            sel.unregister(c)
            c.close()
            served += 1
            if count is not None and served >= count:
                _out({"connections": served})
                return


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m synack.tun.kernelside", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("bytes", type=int)
    p.add_argument("--hash", action="store_true")
    p = sub.add_parser("recv")
    p.add_argument("host"); p.add_argument("port", type=int)
    p.add_argument("--hash", action="store_true")
    p = sub.add_parser("rr")
    p.add_argument("host"); p.add_argument("port", type=int)
    p.add_argument("-n", type=int, default=10000); p.add_argument("-p", "--parallel", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--duration", type=float, default=None)
    p = sub.add_parser("hold")
    p.add_argument("host"); p.add_argument("port", type=int); p.add_argument("-n", type=int, default=10000)
    for name in ("sink", "source", "echo", "holdserver"):
        p = sub.add_parser(name)
        p.add_argument("port", type=int)
        if name == "source":
            p.add_argument("bytes", type=int)
        if name == "holdserver":
            p.add_argument("-n", type=int, default=10000)
        if name == "sink":
            p.add_argument("--no-hash", dest="hash", action="store_false")
        p.add_argument("--bind", default="0.0.0.0")
        p.add_argument("--count", type=int, default=None)
    a = ap.parse_args(argv)
    if a.cmd == "send":
        _out(client_send(a.host, a.port, a.bytes, a.hash))
    elif a.cmd == "recv":
        _out(client_recv(a.host, a.port, a.hash))
    elif a.cmd == "rr":
        _out(client_rr(a.host, a.port, a.n, a.parallel, a.size, a.duration))
    elif a.cmd == "hold":
        client_hold(a.host, a.port, a.n)
    elif a.cmd == "holdserver":
        server_hold(a.bind, a.port, a.n)
    elif a.cmd == "sink":
        server_sink(a.bind, a.port, a.count, a.hash)
    elif a.cmd == "source":
        server_source(a.bind, a.port, a.bytes, a.count)
    elif a.cmd == "echo":
        server_echo(a.bind, a.port, a.count)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
