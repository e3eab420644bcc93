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
import struct
import time
from collections import Counter
from typing import Callable

from ..api.stack import PacketIO, RealtimeStack
from ..config import Config, profile as _profile
from ..segment import ACK, NO_OPTIONS, Options, Segment
from ..seq import HALF, MASK
from ..wire import WireError, decode_ip, encode_ip
from ..wire.checksum import fold, word_value
from ..wire.ip import text_address
from ..wire.tcp import decode_options, encode_options, encode_tcp, pack_address
from . import device as _device
from . import vnet
from .device import FAST, TunDevice

__all__ = ["TunStack", "TunPacketIO", "tun_config", "tune_malloc", "DEFAULT_BUFFER"]

#: receive and send buffer of TUN connections: a few bandwidth-delay products
#: of this path (about 1 GB/s x 1 ms)
DEFAULT_BUFFER = 4 << 20

# IPv4 header followed by the fixed TCP header (RFC 791 §3.1, RFC 9293 §3.1)
_V4TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBHHH")
# IPv6 header followed by the fixed TCP header (RFC 8200 §3)
_V6TCP = struct.Struct("!IHBB16s16sHHIIBBHHH")
_TCP = struct.Struct("!HHIIBBHHH")
_TS_WORD = 0x0101080A                     # NOP, NOP, kind 8, length 10
_TS_OPT = struct.Struct("!III")           # that word, TSval, TSecr
_TWO_U32 = struct.Struct("!II")
_U32 = struct.Struct("!I")
_DF = 0x4000
_TTL_PROTO = (64 << 8) | 6                # TTL 64, protocol TCP, as one word

_F_NO_VERIFY = vnet.F_NEEDS_CSUM | vnet.F_DATA_VALID
_GRO_MAX = 1 << 20                        # the most payload merged into one segment


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
    return ok


def tun_config(mode: str = FAST, base: Config | str | None = "linux", *,
               buffer: int = DEFAULT_BUFFER, mtu: int | None = None) -> Config:
    """The engine configuration for a TUN link: `base` (a profile name or a
    Config; Linux-like timers by default), the link's MTU (so the MSS we
    announce fills a 64 KiB frame in fast mode) and buffers of `buffer` octets
    (window scaling sized for them)."""
    cfg = _profile(base) if isinstance(base, str) else (base or _profile("linux"))
    return cfg.replace(mtu=mtu or _device.DEFAULT_MTU[mode], rcvbuf=buffer, sndbuf=buffer,
                       max_rcvbuf=max(buffer, cfg.max_rcvbuf or 0))


def _collect(into: list):
    """A stand-in for os.writev that keeps the frames (for the impairment layer)."""
    def writev(fd, iov):
        into.append(iov)
    return writev


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
    already open device to use instead of creating one.

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
                 impair=None, device=None):
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
            self._hooks: list[Callable] = []
            self._fd = dev.fd
            self._hdr_len = hl = dev.vnet_hdr_len
            self._fast = dev.vnet
            self._own = frozenset(addrs)
            self._pair_cache: dict = {}
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
            self._receive_frames(frames, now)
        d = self._settle(now)
        if imp is not None and imp.holding:
            r = imp.next_release()
            d = r if d is None or r < d else d
        self._planned_wake = d
        return d, bool(self._local)

    def _receive_frames(self, frames: list, now: float) -> None:
        """Decode a batch of frames and hand the segments to the host.

        Like GRO in a NIC driver, runs of back-to-back in-order data segments of
        one connection are merged into one segment before the engine sees them:
        only segments with the ACK flag (and PSH), the same acknowledgement
        number and identical option bytes (timestamps), each starting where the
        previous one ended -- the conditions Linux's tcp_gro_receive uses. The
        merged segment has the newest window field. Everything else goes to the
        engine as it came, in arrival order.
        """
        host = self.host
        items: list = []
        receive = items.append
        own = self._own
        off = self._hdr_len
        fast = self._fast
        stats = self.stats
        unpack = _V4TCP.unpack_from
        gro = self.gro
        # the run being merged: [src, dst, sport, dport, seq, next_seq, ack, flags,
        #                        window, urgent, option bytes, [payload views], size]
        run = None
        for frame in frames:
            n = len(frame)
            verify = not (fast and n > off and frame[0] & _F_NO_VERIFY)
            try:
                if n >= off + 40 and frame[off] == 0x45:
                    # IPv4 without options, carrying TCP: the common case, inline
                    (_v, _tos, total, _id, frag, _ttl, proto, _ck, s, d, sport, dport, seq, ack,
                     offb, flags, window, _csum, urgent) = unpack(frame, off)
                    hlen = (offb >> 4) << 2
                    end = off + total
                    if (proto == 6 and not frag & 0x3FFF and total >= 40 and end <= n
                            and 20 <= hlen <= total - 20
                            and int.from_bytes(frame[off:off + 20], "big") % 0xFFFF == 0):
                        src = text_address(s)
                        dst = text_address(d)
                        if dst not in own:
                            stats["drop_not_for_us"] += 1
                            continue
                        if verify and not self._tcp_sum_ok(frame, off + 20, end, src, dst):
                            stats["drop_bad_checksum"] += 1
                            continue
                        t = off + 20
                        plen = end - t - hlen
                        if gro and plen and (flags == 0x10 or flags == 0x18):
                            ob = frame[t + 20:t + hlen]
                            if run is not None:
                                if (run[5] == seq and run[6] == ack and run[2] == sport
                                        and run[3] == dport and run[0] == src and run[1] == dst
                                        and run[10] == ob and run[12] < _GRO_MAX):
                                    run[11].append(memoryview(frame)[t + hlen:end])
                                    run[5] = (seq + plen) & MASK
                                    run[7] |= flags
                                    run[8] = window
                                    run[12] += plen
                                    continue
                                receive(self._deliver_run(run))
                            run = [src, dst, sport, dport, seq, (seq + plen) & MASK, ack, flags,
                                   window, urgent, ob, [memoryview(frame)[t + hlen:end]], plen]
                            continue
                        if run is not None:
                            receive(self._deliver_run(run))
                            run = None
                        if hlen == 20:
                            opts = NO_OPTIONS
                        elif hlen == 32 and _U32.unpack_from(frame, t + 20)[0] == _TS_WORD:
                            opts = Options(None, None, False, (), _TWO_U32.unpack_from(frame, t + 24), ())
                        else:
                            opts = decode_options(frame, t + 20, t + hlen)
                        payload = frame[t + hlen:end] if plen else b""
                        receive((src, dst, Segment(sport, dport, seq, ack, flags, window,
                                                   urgent, opts, payload)))
                        continue
                src, dst, seg = decode_ip(memoryview(frame)[off:], verify_checksum=verify)
            except WireError as e:
                stats["drop_" + e.reason] += 1
                continue
            if run is not None:
                receive(self._deliver_run(run))
                run = None
            if dst not in own:
                stats["drop_not_for_us"] += 1
                continue
            receive((src, dst, seg))
        if run is not None:
            receive(self._deliver_run(run))
        if None in items:
            items = [i for i in items if i is not None]
        batch = getattr(host, "receive_batch", None)
        if batch is not None:
            # every segment is processed before any connection answers (MUST-59)
            batch(now, items)
        else:
            for src, dst, seg in items:
                host.receive(now, src, dst, seg)

    def _deliver_run(self, run: list):
        """The segment a GRO run stands for: (src, dst, Segment), or None."""
        src, dst, sport, dport, seq, _nxt, ack, flags, window, urgent, ob, parts, _size = run
        if not ob:
            opts = NO_OPTIONS
        elif len(ob) == 12 and _U32.unpack_from(ob)[0] == _TS_WORD:
            opts = Options(None, None, False, (), _TWO_U32.unpack_from(ob, 4), ())
        else:
            try:
                opts = decode_options(ob, 0, len(ob))
            except WireError as e:
                self.stats["drop_" + e.reason] += 1
                return None
        if len(parts) == 1:
            payload = bytes(parts[0])
        else:
            payload = b"".join(parts)
            self.stats["gro_merged"] += len(parts) - 1
        return (src, dst, Segment(sport, dport, seq, ack, flags, window, urgent, opts, payload))

    def _tcp_sum_ok(self, frame, start: int, end: int, src: str, dst: str) -> bool:
        total = self._pair(src, dst) + 6 + (end - start) + word_value(frame[start:end]) % 0xFFFF
        return total % 0xFFFF == 0

    def _pair(self, src: str, dst: str) -> int:
        key = (src, dst)
        v = self._pair_cache.get(key)
        if v is None:
            v = int.from_bytes(pack_address(src), "big") + int.from_bytes(pack_address(dst), "big")
            if len(self._pair_cache) > 4096:
                self._pair_cache.clear()
            self._pair_cache[key] = v
        return v

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
                out = self._coalesce(out)
            self._write(out)
        self._dispatch()

    def _coalesce(self, out: list) -> list:
        """Drop pure ACKs that a later segment of the same connection in this
        batch makes redundant: one with a higher acknowledgement number, or
        with the same number and data or a FIN (the ACK would otherwise go out
        just before the answer it precedes). Pure ACKs with SACK blocks are kept,
        and so are runs of pure ACKs with the same number (duplicate ACKs are
        signals of their own, RFC 5681 §2)."""
        last: dict = {}
        for i, (src, dst, seg) in enumerate(out):
            if seg[4] & ACK:
                last[(src, seg[0], dst, seg[1])] = i
        if len(last) == len(out):
            return out
        keep = []
        dropped = 0
        for i, item in enumerate(out):
            src, dst, seg = item
            if seg[4] == ACK and not seg[8] and not seg[7].sack:
                j = last[(src, seg[0], dst, seg[1])]
                if j != i:
                    later = out[j][2]
                    d = (later[3] - seg[3]) & MASK
                    if 0 < d < HALF or (d == 0 and (later[8] or later[4] != ACK)):
                        dropped += 1
                        continue
            keep.append(item)
        if dropped:
            self.stats["acks_coalesced"] += dropped
        return keep

    def _write(self, out: list) -> None:
        own = self._own
        fd = self._fd
        fast = self._fast
        writev = os.writev
        stats = self.stats
        imp = self.impair
        held = None
        if imp is not None and imp.outbound:
            held: list = []
            writev = _collect(held)
        for src, dst, seg in out:
            if dst in own:
                self._local.append(encode_ip(src, dst, seg))
                continue
            sport, dport, seq, ack, flags, window, urgent, opts, payload = seg
            if opts is NO_OPTIONS:
                ob = b""
            elif (opts[4] is not None and opts[0] is None and opts[1] is None and not opts[2]
                  and not opts[3] and not opts[5]):
                ob = _TS_OPT.pack(_TS_WORD, *opts[4])
            else:
                ob = encode_options(opts)
            hlen = 20 + len(ob)
            tcp_len = hlen + len(payload)
            v6 = ":" in src
            try:
                if fast:
                    # NEEDS_CSUM: the field holds the pseudo-header sum, the
                    # kernel adds header and payload (docs/tun.md)
                    csum = fold(self._pair(src, dst) + 6 + tcp_len)
                    if v6:
                        hdr = _V6TCP.pack(0x60000000, tcp_len, 6, 64, pack_address(src),
                                          pack_address(dst), sport, dport, seq, ack, hlen << 2,
                                          flags, window, csum, urgent)
                        writev(fd, (self._vh6, hdr, ob, payload) if ob else (self._vh6, hdr, payload))
                    else:
                        total = 20 + tcp_len
                        ipck = 0xFFFF - fold(self._pair(src, dst) + 0x4500 + total + _DF + _TTL_PROTO)
                        hdr = _V4TCP.pack(0x45, 0, total, 0, _DF, 64, 6, ipck, pack_address(src),
                                          pack_address(dst), sport, dport, seq, ack, hlen << 2,
                                          flags, window, csum, urgent)
                        writev(fd, (self._vh4, hdr, ob, payload) if ob else (self._vh4, hdr, payload))
                else:
                    tcp = encode_tcp(seg, src, dst)
                    if v6:
                        ip = struct.pack("!IHBB16s16s", 0x60000000, tcp_len, 6, 64,
                                         pack_address(src), pack_address(dst))
                    else:
                        total = 20 + tcp_len
                        ipck = 0xFFFF - fold(self._pair(src, dst) + 0x4500 + total + _DF + _TTL_PROTO)
                        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, _DF, 64, 6, ipck,
                                         pack_address(src), pack_address(dst))
                    writev(fd, (ip, tcp))
            except BlockingIOError:
                stats["drop_tx_full"] += 1          # txqueue full: like a NIC drop
                continue
            except OSError:
                if self.dev.closed:
                    return
                raise
        stats["frames_out"] += len(out)
        if held:
            for iov in imp.apply("out", held, time.monotonic()):
                self._writev(iov)

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
