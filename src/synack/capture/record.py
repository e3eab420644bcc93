"""Recording a real-time stack's frames both ways into a pcap file.

`FrameRecorder` is what `RealtimeStack.pcap` and `TunStack.pcap` hold when a
capture is on (`stack.open_capture(path)`; the command line's `--pcap FILE`).
The stacks look at that one attribute once per pass and once per output batch;
when it is None (the default) recording costs nothing more.

Frames are written as raw IP (LINKTYPE_RAW), timestamped with the wall clock,
both directions as synack's interface sees them: what arrives after any
impairment (`synack.tun.faults`), what synack writes before it.

In the TUN's fast mode the checksums are not in the frames: the kernel hands
frames over with NEEDS_CSUM (the TCP checksum field holds only the
pseudo-header sum) and synack writes them the same way (docs/tun.md). The
recorder fills in the TCP checksum (RFC 9293 §3.1) of such frames, so the
capture shows what a NIC would have put on the wire; frames that carry their
own checksums (plain mode) are written as they are, a bad checksum included.
"""
from __future__ import annotations

import time

from ..pcap import PcapWriter
from ..wire.checksum import fold, word_value

__all__ = ["FrameRecorder"]

_NEEDS_CSUM = 0x01


def fill_tcp_checksum(pkt: bytearray) -> None:
    """Compute the TCP checksum of the IP packet `pkt` in place (IPv4 without
    options or with, IPv6 without extension headers); other packets are left alone."""
    v = pkt[0] >> 4 if pkt else 0
    if v == 4 and len(pkt) >= 20 and pkt[9] == 6:
        ihl = (pkt[0] & 0x0F) << 2
        total = min((pkt[2] << 8) | pkt[3] or len(pkt), len(pkt))
        start, end = ihl, total
        pseudo = word_value(pkt[12:20]) + 6 + (end - start)
        # the IPv4 header checksum too (the kernel's own frames have it; ours too)
        pkt[10:12] = b"\0\0"
        pkt[10:12] = (0xFFFF - fold(word_value(pkt[:ihl]))).to_bytes(2, "big")
    elif v == 6 and len(pkt) >= 40 and pkt[6] == 6:
        start = 40
        end = min(40 + ((pkt[4] << 8) | pkt[5]), len(pkt))
        pseudo = word_value(pkt[8:40]) + 6 + (end - start)
    else:
        return
    if end - start < 20:
        return
    pkt[start + 16:start + 18] = b"\0\0"
    seg = memoryview(pkt)[start:end]
    total = pseudo + word_value(seg)
    pkt[start + 16:start + 18] = (0xFFFF - fold(total)).to_bytes(2, "big")


class FrameRecorder:
    """Frames both ways to a pcap file. `vnet_hdr_len`: the virtio-net header in
    front of TUN frames (fast mode), 0 otherwise."""

    def __init__(self, path_or_file, vnet_hdr_len: int = 0):
        self.writer = PcapWriter(path_or_file)
        self.hdr = vnet_hdr_len
        self.frames_in = 0
        self.frames_out = 0

    @property
    def count(self) -> int:
        return self.writer.count

    def close(self) -> None:
        self.writer.close()

    # -- a RealtimeStack: whole IP packets with their checksums
    def packet(self, raw, now: float | None = None) -> None:
        if not self.writer.closed:
            self.writer.write(time.time() if now is None else now, raw)
            self.frames_out += 1

    def packets_in(self, raws) -> None:
        if self.writer.closed:
            return
        now = time.time()
        for raw in raws:
            self.writer.write(now, raw)
        self.frames_in += len(raws)

    # -- a TunStack: frames with or without the virtio header
    def tun_in(self, frames) -> None:
        """Frames read from the TUN (a batch)."""
        if self.writer.closed:
            return
        now = time.time()
        h = self.hdr
        write = self.writer.write
        for f in frames:
            if h:
                if len(f) <= h:
                    continue
                pkt = bytearray(memoryview(f)[h:])
                if f[0] & _NEEDS_CSUM:
                    fill_tcp_checksum(pkt)
                write(now, pkt)
            else:
                write(now, f)
        self.frames_in += len(frames)

    def tap(self, writev):
        """A stand-in for os.writev that records each frame and then writes it."""
        h = self.hdr
        write = self.writer.write

        def recorded(fd, iov):
            if h:
                pkt = bytearray(b"".join(iov[1:]))
                if iov[0][0] & _NEEDS_CSUM:
                    fill_tcp_checksum(pkt)
            else:
                pkt = b"".join(iov)
            if not self.writer.closed:
                write(time.time(), pkt)
                self.frames_out += 1
            return writev(fd, iov)
        return recorded
