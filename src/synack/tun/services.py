"""Small servers that run on synack: echo, discard, chargen and HTTP/1.1.

They are written against the engine directly (`Connection.recv/send/close`)
and react to its events, so they run inside the driver's thread with no
thread hand-off per connection: `synack serve --tun` uses them, and so does
the connections-per-second benchmark.

    from synack.tun.services import ServiceHost, default_services
    hub = ServiceHost(stack, default_services())      # stack: a TunStack
    hub.start()                                       # listening; stop() ends it

=========  =======  ==========================================================
service    port     what it does
=========  =======  ==========================================================
echo       7        sends back what it receives (RFC 862); closes after the
                    peer's FIN once everything has been echoed
discard    9        reads and drops everything (RFC 863)
chargen    19       sends the RFC 864 character pattern until the peer closes
http       8080     HTTP/1.1: ``GET /bytes/N`` (N octets of a fixed pseudo-random
                    pattern, see `pattern_sha256`), ``GET /files/PATH`` (from
                    a directory, if given), ``POST`` or ``PUT`` anything (answers
                    with the body's length and SHA-256), ``GET /ss`` (the
                    connection table), ``GET /`` (this list). Keep-alive,
                    pipelining, ``Expect: 100-continue``, ``HEAD``.
=========  =======  ==========================================================

Flow control is the engine's: a service stops reading while it has more than
`PENDING_LIMIT` octets waiting to be sent, so the peer's window closes, and
it refills the send buffer on the engine's WRITABLE events.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import traceback
from typing import Iterable

from ..engine import events as ev
from ..engine.states import CLOSED, CLOSE_WAIT, ESTABLISHED

__all__ = ["Service", "Echo", "Discard", "Chargen", "Http", "ServiceHost", "default_services",
           "parse_size", "pattern_block", "pattern_bytes", "pattern_sha256", "chargen_bytes",
           "SERVICES"]

PENDING_LIMIT = 1 << 20          #: stop reading while this much waits to be sent
READ_CHUNK = 1 << 22

# ----------------------------------------------------------------- patterns
_PATTERN_SEED = 0x53594E41       # "SYNA"
_BLOCK = 1 << 20
_block: bytes | None = None


def pattern_block() -> bytes:
    """The 1 MiB block that ``GET /bytes/N`` repeats (pseudo-random, fixed seed)."""
    global _block
    if _block is None:
        _block = random.Random(_PATTERN_SEED).randbytes(_BLOCK)
    return _block


def pattern_bytes(n: int, offset: int = 0) -> bytes:
    """Octets offset..offset+n of the ``/bytes`` stream."""
    block = pattern_block()
    out = bytearray()
    pos = offset % _BLOCK
    while len(out) < n:
        take = min(n - len(out), _BLOCK - pos)
        out += block[pos:pos + take]
        pos = 0
    return bytes(out)


def pattern_sha256(n: int) -> str:
    """SHA-256 (hex) of the first n octets of the ``/bytes`` stream."""
    h = hashlib.sha256()
    block = memoryview(pattern_block())
    while n > 0:
        k = min(n, _BLOCK)
        h.update(block[:k])
        n -= k
    return h.hexdigest()


def _chargen_period() -> bytes:
    """One full period of RFC 864's pattern: 95 lines of 72 characters + CRLF,
    line i starting at the i-th printable ASCII character."""
    chars = bytes(range(32, 127))
    ring = chars + chars
    return b"".join(ring[i:i + 72] + b"\r\n" for i in range(len(chars)))


_CHARGEN_PERIOD = _chargen_period()
_CHARGEN = _CHARGEN_PERIOD * (_BLOCK // len(_CHARGEN_PERIOD))    # whole periods, ~1 MiB


def chargen_bytes(n: int) -> bytes:
    """The first n octets that the chargen service sends."""
    reps = n // len(_CHARGEN_PERIOD) + 1
    return (_CHARGEN_PERIOD * reps)[:n]


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
          "mb": 1000 ** 2, "g": 1 << 30, "gib": 1 << 30, "gb": 1000 ** 3}


def parse_size(text: str) -> int:
    """'1500', '64k' / '64KiB' (x1024), '100MB' (x10^6), '1G' (x2^30) -> octets."""
    t = text.strip().lower()
    i = len(t)
    while i and not t[i - 1].isdigit() and t[i - 1] != ".":
        i -= 1
    num, unit = t[:i], t[i:].strip()
    if not num or unit not in _UNITS or not num.replace(".", "", 1).isdigit():
        raise ValueError(f"not a size: {text!r} (examples: 1500, 64k, 100MB, 1GiB)")
    return int(float(num) * _UNITS[unit])


# ----------------------------------------------------------------- services
class Service:
    """A server on one port. Subclasses override the hooks; each is called in
    the driver's thread with the stack's lock held, with the engine
    `Connection` and the per-connection state that `opened` returned."""

    name = "service"
    default_port = 0

    def __init__(self, port: int | None = None):
        self.port = self.default_port if port is None else port
        self.connections = 0             # accepted so far
        self.bytes_in = 0
        self.bytes_out = 0

    def opened(self, conn, now: float):
        return None

    def readable(self, conn, st, now: float) -> None:
        _drain(self, conn, now)

    def writable(self, conn, st, now: float) -> None:
        pass

    def eof(self, conn, st, now: float) -> None:
        conn.close(now)

    def closed(self, conn, st) -> None:
        pass

    def describe(self) -> str:
        return self.name


def _drain(svc: Service, conn, now: float) -> int:
    """Read and drop what is there."""
    n = len(conn.rcvq)
    if n:
        conn.recv(now, n)
        svc.bytes_in += n
    return n


class _Out:
    """Octets waiting for room in the send buffer, with a close after them."""

    __slots__ = ("pending", "close_after", "src", "count")

    def __init__(self):
        self.pending = bytearray()
        self.close_after = False
        self.src = None           # a generator of further chunks (HTTP bodies)
        self.count = 0


class _Rest:
    """A body's chunk iterator with the unsent rest of the last chunk in front."""

    __slots__ = ("rest", "it")

    def __init__(self, rest, it):
        self.rest = rest
        self.it = it

    def __iter__(self):
        return self

    def __next__(self):
        r = self.rest
        if r is not None:
            self.rest = None
            return r
        return next(self.it)


def _push(svc: Service, conn, st: _Out, now: float) -> None:
    """Move pending output into the connection's send buffer, as it fits."""
    while True:
        if st.pending:
            if conn.state is not ESTABLISHED and conn.state is not CLOSE_WAIT:
                st.pending.clear()
                st.src = None
                return
            n = conn.send(now, st.pending)
            if n:
                del st.pending[:n]
                svc.bytes_out += n
            if st.pending:
                return                       # the send buffer is full: wait for WRITABLE
        if st.src is None:
            break
        try:
            chunk = next(st.src)
        except StopIteration:
            st.src = None
            continue
        if conn.state is not ESTABLISHED and conn.state is not CLOSE_WAIT:
            st.src = None
            return
        n = conn.send(now, chunk)
        svc.bytes_out += n
        if n < len(chunk):
            # the rest waits as a view of the chunk, not a copy: a /bytes body
            # is views of one shared block, so a peer that stops reading costs
            # the service nothing beyond the connection's send buffer
            rest = memoryview(chunk)[n:]
            src = st.src
            if type(src) is _Rest:
                src.rest = rest
            else:
                st.src = _Rest(rest, src)
            return
    if st.close_after and conn.state is not CLOSED:
        st.close_after = False
        if conn.rcvq:
            # Input nobody will answer (after a `Connection: close` response,
            # say): read and drop it, so the close sends a FIN after the
            # output rather than a RST that could destroy it (a close with
            # unread data resets, as in Linux).
            _drain(svc, conn, now)
        conn.close(now)


class Echo(Service):
    """RFC 862 echo: what arrives goes back."""

    name = "echo"
    default_port = 7

    def opened(self, conn, now):
        return _Out()

    def readable(self, conn, st, now):
        if len(st.pending) >= PENDING_LIMIT:
            return                                # back-pressure: leave it in the window
        n = len(conn.rcvq)
        if not n:
            return
        data = conn.recv(now, n)
        self.bytes_in += n
        if conn.state is not ESTABLISHED and conn.state is not CLOSE_WAIT:
            return
        if st.pending:
            st.pending += data
        else:
            k = conn.send(now, data)
            self.bytes_out += k
            if k < n:
                st.pending += memoryview(data)[k:]

    def writable(self, conn, st, now):
        _push(self, conn, st, now)
        if len(st.pending) < PENDING_LIMIT and conn.rcvq:
            self.readable(conn, st, now)
        self._close_when_done(conn, st, now)

    def eof(self, conn, st, now):
        if conn.rcvq:
            self.readable(conn, st, now)
        self._close_when_done(conn, st, now)

    def _close_when_done(self, conn, st, now):
        # The peer has finished sending. Close once every octet it sent has
        # been read and handed to the send buffer: the close then queues our
        # FIN behind the last of it. Until then back-pressure may hold input
        # in the window; WRITABLE brings us back here.
        if conn.eof and not conn.rcvq and not st.pending and conn.state is CLOSE_WAIT:
            conn.close(now)


class Discard(Service):
    """RFC 863 discard: read everything, answer nothing."""

    name = "discard"
    default_port = 9


class Chargen(Service):
    """RFC 864 character generator: the 72-character lines, until the peer goes."""

    name = "chargen"
    default_port = 19

    def opened(self, conn, now):
        st = _Out()
        st.count = 0                       # position in the pattern
        self.writable(conn, st, now)
        return st

    def writable(self, conn, st, now):
        period = len(_CHARGEN_PERIOD)
        view = memoryview(_CHARGEN)
        while conn.state is ESTABLISHED or conn.state is CLOSE_WAIT:
            room = conn.send_space
            if room <= 0:
                return
            pos = st.count % period
            chunk = view[pos:pos + room] if pos + room <= len(view) else view[pos:]
            n = conn.send(now, chunk)
            if not n:
                return
            st.count += n
            self.bytes_out += n

    def eof(self, conn, st, now):
        _drain(self, conn, now)
        conn.close(now)


# ---------------------------------------------------------------------- HTTP
_REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
            413: "Payload Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            505: "HTTP Version Not Supported"}
_MAX_HEADER = 64 * 1024
_FILE_CHUNK = 1 << 20


class _HttpConn(_Out):
    __slots__ = ("buf", "body_left", "hasher", "req", "keep", "chunked")

    def __init__(self):
        super().__init__()
        self.buf = bytearray()
        self.body_left = 0        # request body octets still to read
        self.hasher = None
        self.req = None           # (method, target, version, headers) of the request being read
        self.keep = True
        #: reading a chunked body (RFC 9112 §7.1): None, "size" (a chunk-size
        #: line next), "data" (body_left octets of a chunk), "crlf" (after a
        #: chunk's data) or "trailer" (after the last chunk)
        self.chunked: str | None = None


class Http(Service):
    """A small HTTP/1.1 server for throughput tests (see the module doc)."""

    name = "http"
    default_port = 8080

    def __init__(self, port: int | None = None, root: str | None = None, stack=None):
        super().__init__(port)
        self.root = os.path.realpath(root) if root else None
        self.stack = stack            # for GET /ss
        self.requests = 0

    def describe(self) -> str:
        return f"http (files from {self.root})" if self.root else "http"

    def opened(self, conn, now):
        return _HttpConn()

    # -- input
    def readable(self, conn, st, now):
        while True:
            if st.chunked is not None and st.chunked != "data":
                if conn.rcvq:
                    data = conn.recv(now, len(conn.rcvq))
                    self.bytes_in += len(data)
                    st.buf += data
                if not self._chunk_framing(conn, st, now):
                    return
                continue
            if st.body_left:
                if st.buf:                       # body octets read along with the header
                    n = min(len(st.buf), st.body_left)
                    data = bytes(st.buf[:n])
                    del st.buf[:n]
                else:
                    n = min(len(conn.rcvq), st.body_left)
                    if not n:
                        return
                    data = conn.recv(now, n)
                    self.bytes_in += n
                st.hasher.update(data)
                st.body_left -= n
                st.count += n
                if st.body_left == 0:
                    if st.chunked is not None:
                        st.chunked = "crlf"
                    else:
                        self._finish_upload(conn, st, now)
                continue
            if st.src is not None or st.pending or st.close_after:
                return                     # a response is still going out: pipelined requests wait
            if conn.rcvq:
                room = _MAX_HEADER + 4 - len(st.buf)
                data = conn.recv(now, min(len(conn.rcvq), max(room, 1)))
                self.bytes_in += len(data)
                st.buf += data
            end = st.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(st.buf) > _MAX_HEADER:
                    self._simple(conn, st, now, 431, "header too large\n", close=True)
                return
            head = bytes(st.buf[:end])
            del st.buf[:end + 4]
            self._request(conn, st, now, head)
            if not conn.rcvq and not st.buf:
                return

    def writable(self, conn, st, now):
        _push(self, conn, st, now)
        if not st.pending and st.src is None and not st.close_after and (st.buf or conn.rcvq):
            self.readable(conn, st, now)
        self._close_when_done(conn, st, now)

    def eof(self, conn, st, now):
        if conn.rcvq or st.buf:
            self.readable(conn, st, now)
        self._close_when_done(conn, st, now)

    def _close_when_done(self, conn, st, now):
        # The peer has finished sending: answer every request it sent (the
        # pipelined ones wait, in the window or in `buf`, while a response
        # goes out), then close once the last response is in the send buffer.
        # What is left in `buf` then is an incomplete request: nothing to answer.
        if not conn.eof or conn.state is CLOSED or st.close_after:
            return
        if st.pending or st.src is not None or conn.rcvq:
            return
        if st.buf and not st.body_left and b"\r\n\r\n" in st.buf:
            self.readable(conn, st, now)          # a whole request not yet answered
            if st.pending or st.src is not None or conn.state is CLOSED:
                return
        conn.close(now)

    # -- requests
    def _request(self, conn, st, now, head: bytes) -> None:
        self.requests += 1
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            headers = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                headers[k.strip().lower()] = v.strip()
        except ValueError:
            self._simple(conn, st, now, 400, "bad request line\n", close=True)
            return
        if not version.startswith("HTTP/1."):
            self._simple(conn, st, now, 505, "HTTP/1.x only\n", close=True)
            return
        conn_hdr = headers.get("connection", "").lower()
        st.keep = (version == "HTTP/1.1" and "close" not in conn_hdr) or \
                  (version == "HTTP/1.0" and "keep-alive" in conn_hdr)
        path = target.split("?", 1)[0]
        if method in ("POST", "PUT"):
            codings = [c.strip().lower() for c in headers.get("transfer-encoding", "").split(",")
                       if c.strip()]
            chunked = bool(codings)
            if codings and codings != ["chunked"]:
                # RFC 9112 §6.1: a transfer coding the server does not know: 501
                self._simple(conn, st, now, 501, "only the chunked transfer coding is known\n",
                             close=True)
                return
            length = 0
            if not chunked:
                text = headers.get("content-length", "").strip()
                if not text:
                    self._simple(conn, st, now, 411, "Content-Length needed\n", close=True)
                    return
                if not text.isdigit():           # RFC 9110 §8.6: 1*DIGIT
                    self._simple(conn, st, now, 400, "bad Content-Length\n", close=True)
                    return
                length = int(text)
            if headers.get("expect", "").lower() == "100-continue":
                st.pending += b"HTTP/1.1 100 Continue\r\n\r\n"
                _push(self, conn, st, now)
            st.hasher = hashlib.sha256()
            st.body_left = length
            st.count = 0
            st.req = (method, path)
            if chunked:
                st.chunked = "size"      # RFC 9112 §7.1: Transfer-Encoding beats Content-Length
            elif length == 0:
                self._finish_upload(conn, st, now)
            return
        if method not in ("GET", "HEAD"):
            self._simple(conn, st, now, 405, "GET, HEAD, POST or PUT\n")
            return
        head_only = method == "HEAD"
        if path.startswith("/bytes/"):
            try:
                n = parse_size(path[len("/bytes/"):])
            except ValueError as e:
                self._simple(conn, st, now, 400, f"{e}\n")
                return
            self._respond(conn, st, now, 200, "application/octet-stream", n,
                          None if head_only else _pattern_chunks(n))
        elif path.startswith("/files/") and self.root:
            self._file(conn, st, now, path[len("/files/"):], head_only)
        elif path == "/ss" and self.stack is not None:
            text = self.stack.ss_text()
            self._simple(conn, st, now, 200, text if text.endswith("\n") else text + "\n",
                         head_only=head_only)
        elif path == "/":
            self._simple(conn, st, now, 200, self._index(), head_only=head_only)
        else:
            self._simple(conn, st, now, 404, "not found\n", head_only=head_only)

    def _index(self) -> str:
        lines = ["synack HTTP service", "",
                 "GET  /bytes/N      N octets of a fixed pseudo-random pattern (N: 1500, 64k, 100MB, 1GiB)",
                 "POST /anything     answers with the body's length and SHA-256",
                 "GET  /ss           synack's connection table"]
        if self.root:
            lines.append(f"GET  /files/PATH   files under {self.root}")
        return "\n".join(lines) + "\n"

    def _file(self, conn, st, now, rel: str, head_only: bool) -> None:
        from urllib.parse import unquote
        root = self.root
        assert root is not None                   # /files/ is routed only with a root
        path = os.path.realpath(os.path.join(root, unquote(rel)))
        if path != root and not path.startswith(root + os.sep):
            self._simple(conn, st, now, 403, "outside the served directory\n")
            return
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self._simple(conn, st, now, 404, "not found\n")
            return
        except PermissionError:
            self._simple(conn, st, now, 403, "forbidden\n")
            return
        size = os.fstat(f.fileno()).st_size
        if head_only:
            f.close()
        self._respond(conn, st, now, 200, "application/octet-stream", size,
                      None if head_only else _file_chunks(f))

    def _chunk_framing(self, conn, st, now) -> bool:
        """One step of a chunked body's framing from st.buf (RFC 9112 §7.1):
        True when it moved on, False when more input is needed."""
        end = st.buf.find(b"\r\n")
        if end < 0:
            if len(st.buf) > _MAX_HEADER:
                st.chunked = None
                self._simple(conn, st, now, 400, "chunk line too long\n", close=True)
            return False
        line = bytes(st.buf[:end])
        del st.buf[:end + 2]
        if st.chunked == "crlf":
            if line:
                st.chunked = None
                self._simple(conn, st, now, 400, "chunk data longer than its size\n", close=True)
                return False
            st.chunked = "size"
        elif st.chunked == "size":
            size = line.split(b";", 1)[0].strip()           # chunk extensions are ignored
            try:
                n = int(size, 16)
            except ValueError:
                n = -1
            if n < 0 or not size or size.startswith((b"-", b"+", b"0x", b"0X")):
                st.chunked = None
                self._simple(conn, st, now, 400, "bad chunk size\n", close=True)
                return False
            if n == 0:
                st.chunked = "trailer"
            else:
                st.body_left = n
                st.chunked = "data"
        elif st.chunked == "trailer":
            if not line:                                    # the empty line ends the message
                st.chunked = None
                self._finish_upload(conn, st, now)
        return True

    def _finish_upload(self, conn, st, now) -> None:
        method, path = st.req
        body = json.dumps({"method": method, "path": path, "bytes": st.count,
                           "sha256": st.hasher.hexdigest()}) + "\n"
        st.hasher = None
        st.req = None
        self._simple(conn, st, now, 200, body, ctype="application/json")

    def _simple(self, conn, st, now, status: int, body: str, *, close: bool = False,
                ctype: str = "text/plain; charset=utf-8", head_only: bool = False) -> None:
        data = body.encode()
        if close:
            st.keep = False
        self._respond(conn, st, now, status, ctype, len(data), None if head_only else iter((data,)))

    def _respond(self, conn, st, now, status: int, ctype: str, length: int, chunks) -> None:
        hdr = (f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
               f"Server: synack\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n"
               f"Connection: {'keep-alive' if st.keep else 'close'}\r\n\r\n")
        st.pending += hdr.encode()
        st.src = chunks
        if not st.keep:
            st.close_after = True
        st.count = 0
        _push(self, conn, st, now)


def _pattern_chunks(n: int):
    view = memoryview(pattern_block())
    while n > 0:
        k = min(n, _BLOCK)
        yield view[:k]
        n -= k


def _file_chunks(f):
    try:
        while True:
            data = f.read(_FILE_CHUNK)
            if not data:
                return
            yield data
    finally:
        f.close()


SERVICES = {"echo": Echo, "discard": Discard, "chargen": Chargen, "http": Http}


def default_services(root: str | None = None, stack=None, ports: dict | None = None) -> list[Service]:
    """echo 7, discard 9, chargen 19, http 8080 (ports overridable by name)."""
    ports = ports or {}
    return [Echo(ports.get("echo")), Discard(ports.get("discard")),
            Chargen(ports.get("chargen")), Http(ports.get("http"), root=root, stack=stack)]


# -------------------------------------------------------------- the hub
_NOT_OURS = object()

class ServiceHost:
    """Listens for a set of services on a stack's host and dispatches engine
    events to them.

    On a `TunStack` the hub installs itself as an event hook, so everything
    runs in the driver thread. Any other driver can call `handle(events, now)`
    with the host's events (the simulator does, in the tests).
    """

    def __init__(self, stack, services: Iterable[Service], *, addresses: Iterable[str] | None = None,
                 backlog: int = 1024, config=None, log=None):
        self.stack = stack
        self.host = stack.host if hasattr(stack, "host") else stack
        self.services = list(services)
        self.addresses = list(addresses) if addresses is not None else None
        self.backlog = backlog
        self.config = config
        self.listeners: dict = {}          # Listener -> Service
        self.by_port: dict = {}            # local port -> Service
        self.conns: dict = {}              # Connection -> the service's state for it
        self.errors = 0
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        self._remove_hook = None

    # -- life cycle
    def start(self, now: float | None = None) -> "ServiceHost":
        stack = self.stack
        if hasattr(stack, "add_event_hook"):
            with stack.op() as t:
                self._listen(t)
            self._remove_hook = stack.add_event_hook(self.handle)
        else:
            self._listen(0.0 if now is None else now)
        return self

    def _listen(self, now: float) -> None:
        host = self.host
        addrs = self.addresses
        if addrs is None:
            addrs = []
            if any(":" not in a for a in host.addresses):
                addrs.append("0.0.0.0")
            if any(":" in a for a in host.addresses):
                addrs.append("::")
        # The services follow the engine's flow control (WRITABLE events), so
        # their connections use an autotuned send buffer (Config.sndbuf_auto):
        # a peer that stops reading holds about twice its window, not the
        # whole configured buffer. A config given to ServiceHost is used as is.
        cfg = self.config if self.config is not None else host.config.replace(sndbuf_auto=True)
        for svc in self.services:
            for ip in addrs:
                lst = host.listen(now, svc.port, ip, self.backlog, cfg)
                self.listeners[lst] = svc
            self.by_port[svc.port] = svc

    def stop(self) -> None:
        """Stop listening and reset the connections still open."""
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None
        stack = self.stack
        if hasattr(stack, "op"):
            with stack.op() as now:
                self._stop(now)
        else:
            self._stop(0.0)

    def _stop(self, now: float) -> None:
        for lst in list(self.listeners):
            if lst.state is not CLOSED:
                lst.close(now)
        self.listeners.clear()
        for conn in list(self.conns):
            if conn.state is not CLOSED:
                conn.abort(now)
        self.conns.clear()

    # -- events
    def handle(self, events: list, now: float) -> None:
        listeners = self.listeners
        conns = self.conns
        by_port = self.by_port
        for e in events:
            obj = e.conn
            st = conns.get(obj, _NOT_OURS)
            if st is _NOT_OURS:
                if e.kind is ev.ACCEPTABLE and obj in listeners:
                    self._accept(obj, listeners[obj], now)
                continue
            svc = by_port[obj.local_port]
            kind = e.kind
            try:
                if kind is ev.READABLE:
                    svc.readable(obj, st, now)
                elif kind is ev.WRITABLE:
                    svc.writable(obj, st, now)
                elif kind is ev.EOF:
                    svc.eof(obj, st, now)
                elif kind is ev.CLOSED:
                    del conns[obj]
                    svc.closed(obj, st)
                elif kind is ev.ERROR:
                    pass                    # CLOSED follows
            except Exception:
                self._failed(obj, svc, now)

    def _accept(self, lst, svc: Service, now: float) -> None:
        conns = self.conns
        while True:
            conn = lst.accept()
            if conn is None:
                return
            svc.connections += 1
            try:
                st = svc.opened(conn, now)
                conns[conn] = st
                if conn.rcvq:
                    svc.readable(conn, st, now)
                if conn.eof and conn in conns:
                    svc.eof(conn, st, now)
                if conn.state is CLOSED:
                    conns.pop(conn, None)
            except Exception:
                self._failed(conn, svc, now)

    def _failed(self, conn, svc: Service, now: float) -> None:
        self.errors += 1
        self.log(f"synack {svc.name}: handler failed, connection reset:\n{traceback.format_exc()}")
        self.conns.pop(conn, None)
        if conn.state is not CLOSED:
            conn.abort(now)

    def describe(self) -> list[tuple[str, int]]:
        return [(s.describe(), s.port) for s in self.services]

    def stats(self) -> dict:
        return {s.name: {"port": s.port, "connections": s.connections, "bytes_in": s.bytes_in,
                         "bytes_out": s.bytes_out} for s in self.services}
