"""The TUN driver: the synack engine on a real TUN device, in real time.

    from synack.tun.driver import TunStack

    with TunStack(mode="fast") as stack:          # namespace "synack", 192.0.2.1 <-> 192.0.2.2
        srv = stack.create_server(("", 8080))     # the public socket API, on synack
        conn, peer = srv.accept()                 # ... a kernel client in the namespace connects
        ...

`TunStack` is a `synack.api.RealtimeStack` (same `Host`, same engine as the
simulator, driven by ``time.monotonic()`` in a background thread) whose packet
I/O is a `TunDevice`. It replaces the generic thread loop and packet
encoding of `RealtimeStack` with a TUN-specific fast path:

* **Batches.** The thread reads frames until EAGAIN (at most `batch` per
  pass), feeds them all to the host with one clock reading, fires the timers,
  and only then writes what the engine produced.
* **GRO.** Within a batch, back-to-back in-order data segments of one
  connection (same ACK, same options, ACK/PSH only) are merged into one
  segment before the engine sees them, as Linux's GRO merges them for its TCP.
* **One cumulative ACK.** Pure ACKs that a later segment of the same
  connection in the same batch makes redundant (higher acknowledgement, or the
  same one on data or a FIN) are not written; duplicate ACKs and ACKs with SACK
  blocks always are.
* **Fast mode** (`IFF_VNET_HDR`, MTU 65535, `TUNSETOFFLOAD(CSUM|TSO4|TSO6)`):
  segments of up to 64 KiB each way; TCP checksums are never computed or
  verified in Python. Frames from the kernel arrive `NEEDS_CSUM` (the bytes
  come straight from kernel memory); frames we write carry `NEEDS_CSUM` and
  the pseudo-header sum, and the kernel completes the checksum. A segment is
  written with one ``writev`` of (virtio header, IP+TCP headers, payload),
  without joining the payload into a packet.
* **Plain mode** (no virtio header, MTU 1500): every checksum is computed and
  verified in Python, one packet per read/write.

Engine events can be handled *inside* the driver thread by hooks
(`add_event_hook`), which is how the built-in services (`synack.tun.services`)
run without any thread hand-off.
"""
from __future__ import annotations

import os
import select
import time
from collections import Counter
from typing import Callable

from ..api.stack import PacketIO, RealtimeStack
from ..engine.config import Config, profile as _profile
from . import device as _device
from . import framepath as _fp
from . import vnet
from .device import FAST, TunDevice

__all__ = ["TunStack", "TunPacketIO", "tun_config", "tune_malloc", "malloc_trim", "system_tcp_mem",
           "DEFAULT_BUFFER"]

#: full batches in a row (frames left waiting in the device each time)
#: before SYNs get a budget (framepath.syn_budget_for): 8 x 256 frames
#: behind is a fifth of the device queue TunStack sets up (txqueuelen 10000)
SYN_GRACE = 8

#: receive and send buffer of TUN connections: a few bandwidth-delay products
#: of this path (about 1 GB/s x 1 ms)
DEFAULT_BUFFER = 4 << 20

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_malloc_tuned = False


def tune_malloc(mmap_threshold: int = 32 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Keep glibc from handing large buffers back to the kernel.

    By default glibc serves allocations above 128 KiB (a merged receive
    segment, a receive queue, what `recv` returns) with a fresh mmap() and
    unmaps them on free(), so every such buffer is page-faulted in again, 4 KiB
    at a time: measured, that halved bulk throughput on the TUN. Raising the
    mmap and trim thresholds keeps the memory in the heap for reuse. Process-
    wide, once; returns False where mallopt() is not available (not glibc).
    """
    global _malloc_tuned
    if _malloc_tuned:
        return True
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and \
            bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    except (OSError, AttributeError):
        return False
    _malloc_tuned = ok
    if ok:
        global _trim_threshold
        _trim_threshold = trim_threshold
    return ok


_libc_fns = None
_trim_threshold = 128 * 1024            # glibc's default; tune_malloc raises it


def malloc_trim() -> bool:
    """Give the free memory of the calling thread's malloc arena (and the
    main heap) back to the system. `tune_malloc` keeps freed buffers for
    reuse, which is right for bulk transfer but keeps the peak for ever once
    many connections are gone; glibc's malloc_trim(0) alone does not shrink
    a thread's arena (its top chunk is trimmed only by a free() above the
    trim threshold), so the threshold is lowered for one large malloc/free
    in this thread, then malloc_trim(0), then restored. The driver calls this
    from its own thread, where its connections' buffers live, when 64
    connections (or all) have gone. False where not available (not glibc)."""
    global _libc_fns
    if _libc_fns is None:
        try:
            import ctypes
            import ctypes.util
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
            libc.malloc.restype = ctypes.c_void_p
            libc.free.argtypes = [ctypes.c_void_p]
            _libc_fns = (libc.mallopt, libc.malloc, libc.free, libc.malloc_trim)
        except (OSError, AttributeError):
            _libc_fns = ()
    if not _libc_fns:
        return False
    mallopt, malloc, free, trim = _libc_fns
    mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
    try:
        p = malloc(1 << 20)
        if p:
            free(p)                          # heap_trim of this thread's arena
        trim(0)
    finally:
        mallopt(_M_TRIM_THRESHOLD, _trim_threshold)
    return True


def system_tcp_mem() -> tuple[int, int, int] | None:
    """The machine's own TCP memory levels, net.ipv4.tcp_mem, in octets
    (the kernel's are pages), or None where they cannot be read."""
    try:
        with open("/proc/sys/net/ipv4/tcp_mem") as f:
            pages = [int(v) for v in f.read().split()]
        size = os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None
    if len(pages) != 3 or not 0 < pages[0] <= pages[1] <= pages[2]:
        return None
    return (pages[0] * size, pages[1] * size, pages[2] * size)


def tun_config(mode: str = FAST, base: Config | str | None = "linux", *,
               buffer: int = DEFAULT_BUFFER, mtu: int | None = None) -> Config:
    """The engine configuration for a TUN link: `base` (a profile name or a
    Config; Linux-like timers by default), the link's MTU (so the MSS we
    announce fills a 64 KiB frame in fast mode) and buffers of `buffer` octets
    (window scaling sized for them). The send buffer is autotuned up to
    `buffer` (Config.sndbuf_auto), the receive buffer too (Config.rcvbuf_auto,
    from 128 KiB), and the host's memory bounded by the
    machine's own net.ipv4.tcp_mem (Config.tcp_mem). SO_RCVBUF/SO_SNDBUF keep
    the size asked for (`linux_sockbuf` off; a config with it on gives
    Linux's doubling, as the socket differential test does)."""
    cfg = _profile(base) if isinstance(base, str) else (base or _profile("linux"))
    return cfg.replace(mtu=mtu or _device.DEFAULT_MTU[mode], rcvbuf=buffer, sndbuf=buffer,
                       sndbuf_auto=True, rcvbuf_auto=True, tcp_mem=cfg.tcp_mem or system_tcp_mem(),
                       max_rcvbuf=max(buffer, cfg.max_rcvbuf or 0), linux_sockbuf=False)


class TunPacketIO(PacketIO):
    """`PacketIO` over a `TunDevice`, for code that wants plain IP packets.

    `TunStack` does not go through `packets()`/`send_packet()` on its hot path
    (it reads and writes frames itself) but uses `wait()` and `wakeup()`.
    """

    def __init__(self, dev: TunDevice, batch: int = 256):
        self.dev = dev
        self.batch = batch
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(dev.fileno(), select.POLLIN)
        self._poll.register(self._efd, select.POLLIN)
        self._hdr = dev.vnet_hdr_len
        self._closed = False

    def send_packet(self, data) -> None:
        if self._hdr:
            buf = bytearray(data)
            try:
                hdr = vnet.offload_header(buf).pack(self._hdr)
            except ValueError:
                hdr = bytes(self._hdr)
            os.writev(self.dev.fd, [hdr, buf])
        else:
            os.write(self.dev.fd, data)

    def packets(self) -> list[bytes]:
        n = self._hdr
        frames = self.dev.read_packets(self.batch)
        return [f[n:] for f in frames] if n else frames

    def wait(self, timeout: float | None) -> None:
        ms = -1 if timeout is None else int(timeout * 1000 + 0.999)
        try:
            got = self._poll.poll(ms)
        except InterruptedError:
            return
        for fd, _ in got:
            if fd == self._efd:
                try:
                    os.eventfd_read(self._efd)
                except BlockingIOError:
                    pass

    def wakeup(self) -> None:
        try:
            os.eventfd_write(self._efd, 1)
        except OSError:
            pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            os.close(self._efd)
        except OSError:
            pass
        self.dev.close()


class TunStack(RealtimeStack):
    """A synack host on a TUN device inside a network namespace (see the module doc).

    Parameters: `mode` "fast" or "plain"; `netns` a namespace name (created if
    missing and then removed on close; an existing one is used and kept) or a
    `Namespace`; `ifname`; the kernel side's addresses with prefix
    (`kernel_v4`, `kernel_v6`) and synack's (`local_v4`, `local_v6`; None
    leaves a family out); `config` for the engine (default `tun_config(mode)`);
    `batch`, the most frames handled per pass; `coalesce_acks` and `gro` (see
    the module doc); `impair`, a `synack.tun.faults.Impairment`; `device`, an
    already open device to use instead of creating one; `syn_budget`, the
    fewest SYNs answered with cookies per full batch while the driver stays
    behind under a SYN flood (`framepath.syn_budget_for`; -1: no limit).

    Everything created is removed by `close()` (also on exceptions and Ctrl-C
    with `with`); without root (CAP_NET_ADMIN and CAP_SYS_ADMIN) the
    constructor raises `PermissionError` saying so.
    """

    def __init__(self, mode: str = FAST, *, netns="synack", ifname: str = _device.DEFAULT_IFNAME,
                 kernel_v4: str | None = _device.KERNEL_V4, kernel_v6: str | None = _device.KERNEL_V6,
                 local_v4: str | None = _device.LOCAL_V4, local_v6: str | None = _device.LOCAL_V6,
                 config: Config | None = None, mtu: int | None = None, txqueuelen: int = 10000,
                 batch: int = 256, coalesce_acks: bool = True, gro: bool = True, name: str | None = None,
                 secret: bytes | None = None, start: bool = True, malloc_tuning: bool = True,
                 impair=None, device=None, syn_budget: int = 128):
        if malloc_tuning:
            tune_malloc()
        if device is None:
            dev = TunDevice(netns, mode=mode, ifname=ifname, mtu=mtu, kernel_v4=kernel_v4,
                            kernel_v6=kernel_v6, local_v4=local_v4, local_v6=local_v6,
                            txqueuelen=txqueuelen)
            dev.open()
        else:
            # an open device-like object (tests use a SOCK_SEQPACKET socket pair):
            # fd, fileno(), vnet, vnet_hdr_len, mtu, bufsize, local_v4/v6, close()
            dev = device
            mode = FAST if dev.vnet else "plain"
        io = None
        try:
            addrs = [str(a) for a in (dev.local_v4, dev.local_v6) if a is not None]
            cfg = config or tun_config(mode, mtu=dev.mtu)
            io = TunPacketIO(dev, batch)
            super().__init__(io, addrs, cfg, name=name or addrs[0], secret=secret, start=False)
            self.dev = dev
            self.mode = mode
            self.batch = batch
            self.coalesce_acks = coalesce_acks
            self.gro = gro
            #: a `synack.tun.faults.Impairment` applied to frames both ways, or None
            self.impair = impair
            self.stats: Counter = Counter()
            self._conn_peak = 0             # connections at the last trim (see _maybe_trim)
            self._hooks: list[Callable] = []
            self._fd = dev.fd
            self._hdr_len = hl = dev.vnet_hdr_len
            self._fast = dev.vnet
            self._own = frozenset(self.host.addresses)   # with loopback (Stack adds it)
            self._pair_cache: dict = {}
            #: the fewest SYNs answered with cookies per full batch when the
            #: driver stays behind, the rest dropped and counted
            #: (framepath.syn_budget_for; a negative number: no limit)
            self.syn_budget = syn_budget
            self._syn_budget = -1
            self._syn_allow = batch
            self._syn_full_run = 0
            #: full batches in a row before the SYN budget applies
            self.syn_grace = SYN_GRACE
            self._syn_tpls: dict = {}       # cookie SYN,ACK templates per listener
            # one virtio header per family: NEEDS_CSUM from the TCP header on
            if hl:
                self._vh4 = vnet.VnetHeader(vnet.F_NEEDS_CSUM, 0, 0, 0, 20, vnet.TCP_CSUM_OFFSET).pack(hl)
                self._vh6 = vnet.VnetHeader(vnet.F_NEEDS_CSUM, 0, 0, 0, 40, vnet.TCP_CSUM_OFFSET).pack(hl)
            else:
                self._vh4 = self._vh6 = b""
        except BaseException:
            if io is not None:
                io.close()            # closes the device too
            else:
                dev.close()
            raise
        if start:
            self.start()

    def _addresses_changed(self) -> None:
        self._own = frozenset(self.host.addresses)     # a new 127.x address (claim_loopback)

    # ----------------------------------------------------------- properties
    @property
    def ns(self):
        """The `synack.tun.Namespace` of the kernel side (popen, run_cmd, ...)."""
        return self.dev.ns

    @property
    def netns(self) -> str:
        return self.dev.ns.name

    @property
    def kernel_v4(self) -> str | None:
        return str(self.dev.kernel_v4.ip) if self.dev.kernel_v4 else None

    @property
    def kernel_v6(self) -> str | None:
        return str(self.dev.kernel_v6.ip) if self.dev.kernel_v6 else None

    @property
    def local_v4(self) -> str | None:
        return str(self.dev.local_v4) if self.dev.local_v4 else None

    @property
    def local_v6(self) -> str | None:
        return str(self.dev.local_v6) if self.dev.local_v6 else None

    def __repr__(self) -> str:
        return (f"<TunStack {self.mode} {self.dev.ifname} in {self.netns} "
                f"{' '.join(self.addresses)} {'running' if self._running else 'stopped'}>")

    def close(self) -> None:
        """Stop the thread, close the TUN (the link goes away) and remove the
        namespace if this stack created it."""
        try:
            super().close()
        finally:
            self.io.close()          # idempotent; also when the thread never started

    # -------------------------------------------------------------- hooks
    def add_event_hook(self, fn: Callable[[list, float], None]) -> Callable[[], None]:
        """Call `fn(events, now)` in the driver (with the stack's lock held) for
        every batch of engine events. Returns a function that removes the hook."""
        with self.lock:
            self._hooks.append(fn)

        def remove() -> None:
            with self.lock:
                if fn in self._hooks:
                    self._hooks.remove(fn)
        return remove

    def call(self, fn: Callable[[float], None]) -> None:
        """Run `fn(now)` under the lock, then put its output on the wire."""
        with self.op() as now:
            fn(now)

    # --------------------------------------------------------------- loop
    def _main(self) -> None:
        io = self.io
        fd = self._fd
        bufsize = self.dev.bufsize
        batch = self.batch
        read = os.read
        lock = self.lock
        try:
            while self._running:
                frames: list = []
                try:
                    while len(frames) < batch:
                        frames.append(read(fd, bufsize))
                except BlockingIOError:
                    pass
                except OSError:
                    if not self._running:
                        break
                    raise
                with lock:
                    d, busy = self._run_pass(frames)
                if busy or len(frames) >= batch:
                    continue
                io.wait(None if d is None else max(0.0, d - time.monotonic()))
        except BaseException as e:       # keep the failure for the user to see
            self.error = e
            self._running = False
            self.poke()
            raise

    def _run_pass(self, frames: list):
        """One pass of the loop (lock held): frames in, timers, output. Returns
        (when to wake next, whether to come back at once)."""
        now = time.monotonic()
        imp = self.impair
        if imp is not None:
            frames = imp.release("in", now) + imp.apply("in", frames, now)
            for iov in imp.release("out", now):
                self._writev(iov)
        if frames:
            self.stats["frames_in"] += len(frames)
            self.stats["batches"] += 1
            if self.pcap is not None:
                self.pcap.tun_in(frames)
            _fp.receive_frames(self, frames, now)   # decode, GRO, to the host
        d = self._settle(now)
        if imp is not None and imp.holding:
            r = imp.next_release()
            d = r if d is None or r < d else d
        self._planned_wake = d
        n = len(self.host.conns)
        if n > self._conn_peak:
            self._conn_peak = n
        elif self._conn_peak - n >= 64 or (n == 0 and self._conn_peak >= 8):
            self._conn_peak = n             # many connections are gone:
            if malloc_trim():               # their memory goes back to the system
                self.stats["malloc_trims"] += 1
        return d, bool(self._local)

    # ------------------------------------------------------------- output
    def _flush(self) -> None:
        """Events to hooks and waiters, the outbox to the TUN (lock held)."""
        host = self.host
        hooks = self._hooks
        rounds = 0
        while host.events and rounds < 64:
            rounds += 1
            evs = host.take_events()
            self._note_events(evs)
            if hooks:
                now = time.monotonic()
                for h in list(hooks):
                    h(evs, now)
        out = host.take_outbox()
        if out:
            if self.coalesce_acks and len(out) > 1:
                out = _fp.coalesce(self, out)
            _fp.write(self, out)
        self._dispatch()

    def _coalesce(self, out: list) -> list:
        return _fp.coalesce(self, out)

    def _writev(self, iov) -> None:
        try:
            os.writev(self._fd, iov)
        except BlockingIOError:
            self.stats["drop_tx_full"] += 1
        except OSError:
            if not self.dev.closed:
                raise

    def _after_op(self) -> None:
        super()._after_op()
        imp = self.impair
        if imp is not None and imp.holding:
            r = imp.next_release()
            planned = self._planned_wake
            if planned is None or r < planned:
                self._planned_wake = r
                self.io.wakeup()
