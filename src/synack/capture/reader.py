"""Reading TCP segments out of capture files (pcap and pcapng).

The container formats are read by `dpkt` (its `pcap.Reader` and
`pcapng.Reader` both stream: one record at a time from the open file).
The link layer and everything above it is ours: the link headers are a
few fixed offsets, and the IP and TCP headers go through `synack.wire`,
the same codec the stack itself uses.

Link types (the numbers of the tcpdump.org LINKTYPE registry):

* 1   Ethernet, with any number of 802.1Q / 802.1ad VLAN tags (0x8100, 0x88a8, 0x9100);
* 113 Linux "cooked" capture v1 (`tcpdump -i any` on older libpcap), 16-octet header;
* 276 Linux "cooked" capture v2 (SLL2), 20-octet header;
* 101 (and the old DLT numbers 12, 14) raw IP; 228 raw IPv4; 229 raw IPv6;
* 0 and 108 BSD loopback (a 4-octet address family).

Nothing in a file can make the reader fail with a traceback: a packet that
is not TCP over IP, a link header we cannot read, a packet cut short by the
snap length before the end of its TCP header, are counted skips (`Stats`);
a file that is not a capture, or whose header is cut off, raises
`CaptureError` with one line for the user. A file cut off in the middle of
a record ends the stream at the last whole record and is counted
(`Stats.truncated`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

from ..engine.segment import Segment
from ..wire import WireError
from ..wire.ip import text_address
from ..wire.tcp import decode_tcp

__all__ = ["CaptureError", "Packet", "Stats", "read_capture", "LINKTYPES"]


class CaptureError(Exception):
    """A capture file that cannot be read at all (one line for the user)."""


LINKTYPES = {0: "BSD loopback", 1: "Ethernet", 12: "raw IP", 14: "raw IP", 101: "raw IP",
             108: "OpenBSD loopback", 113: "Linux cooked (SLL)", 228: "raw IPv4",
             229: "raw IPv6", 276: "Linux cooked v2 (SLL2)"}

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TYPES = (0x8100, 0x88A8, 0x9100)
BSD_AF_INET = 2
BSD_AF_INET6 = (10, 24, 28, 30)     # Linux, NetBSD/OpenBSD, FreeBSD, macOS


class Packet(NamedTuple):
    """One TCP segment as captured."""
    index: int           #: 1-based frame number in the file (as Wireshark counts)
    t: float             #: capture time, seconds since the epoch
    src: str             #: "ip:port", IPv6 in brackets
    dst: str
    seg: Segment         #: the header and the captured payload
    length: int          #: payload octets on the wire (may exceed len(seg.payload) if cut by snaplen)


@dataclass
class Stats:
    """What the reader saw: frames, TCP segments, and the skips by reason."""
    frames: int = 0
    tcp: int = 0
    skipped: dict = field(default_factory=dict)
    truncated: bool = False          #: the file ends in the middle of a record
    linktype: int | None = None
    fmt: str = ""

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {r}" for r, n in sorted(self.skipped.items()))


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _ip_offset(linktype: int, buf: bytes) -> int | None:
    """Where the IP header starts in a frame of `linktype`; None: not IP."""
    if linktype == 1:
        if len(buf) < 14:
            return None
        off = 12
        etype = (buf[12] << 8) | buf[13]
        while etype in VLAN_TYPES:
            off += 4
            if len(buf) < off + 2:
                return None
            etype = (buf[off] << 8) | buf[off + 1]
        return off + 2 if etype in (ETH_IPV4, ETH_IPV6) else None
    if linktype in (101, 12, 14, 228, 229):
        return 0
    if linktype == 113:             # SLL: protocol type at 14
        if len(buf) < 16:
            return None
        etype = (buf[14] << 8) | buf[15]
        return 16 if etype in (ETH_IPV4, ETH_IPV6) else None
    if linktype == 276:             # SLL2: protocol type first
        if len(buf) < 20:
            return None
        etype = (buf[0] << 8) | buf[1]
        return 20 if etype in (ETH_IPV4, ETH_IPV6) else None
    if linktype in (0, 108):
        if len(buf) < 4:
            return None
        fam = struct.unpack_from("<I" if buf[0] else ">I", buf)[0]
        return 4 if fam == BSD_AF_INET or fam in BSD_AF_INET6 else None
    return None


_ADDRS: dict[bytes, str] = {}


def _addr(packed: bytes) -> str:
    """text_address, remembered (a capture has few addresses, many packets)."""
    s = _ADDRS.get(packed)
    if s is None:
        if len(_ADDRS) > 65536:
            _ADDRS.clear()
        s = _ADDRS[packed] = text_address(packed)
    return s


_V6_EXT = (0, 43, 60)     # hop-by-hop, routing, destination options (RFC 8200 §4)


def _ip_tcp(view: memoryview) -> tuple[str, str, memoryview, int] | str:
    """(src, dst, captured TCP octets, TCP length on the wire) or a skip reason.

    Unlike `synack.wire.unwrap_ip`, a packet cut short by the snap length is
    still read (its lengths come from the IP header), and no checksum is
    checked: a capture taken on the sending host shows checksums the NIC
    has yet to fill in (offload), as tcpdump warns."""
    n = len(view)
    if n < 1:
        return "short IP header"
    version = view[0] >> 4
    if version == 4:
        if n < 20:
            return "short IP header"
        ihl = (view[0] & 0x0F) << 2
        total = (view[2] << 8) | view[3]
        if ihl < 20 or total < ihl or n < ihl:
            return "bad IPv4 header"
        if ((view[6] & 0x3F) << 8) | view[7]:
            return "IP fragment"
        if view[9] != 6:
            return "not TCP"
        src, dst = _addr(bytes(view[12:16])), _addr(bytes(view[16:20]))
        if total == 0:              # TSO: the length field may be 0 on the sending host
            total = n
        return src, dst, view[ihl:min(total, n)], total - ihl
    if version == 6:
        if n < 40:
            return "short IP header"
        plen = (view[4] << 8) | view[5]
        nh = view[6]
        pos = 40
        end = 40 + plen if plen else n      # a jumbogram / TSO frame: as captured
        while nh in _V6_EXT:
            if pos + 8 > n:
                return "short IP header"
            nh = view[pos]
            pos += (view[pos + 1] + 1) << 3
        if nh == 44:
            return "IP fragment"
        if nh != 6:
            return "not TCP"
        if pos > n:
            return "short IP header"
        src, dst = _addr(bytes(view[8:24])), _addr(bytes(view[24:40]))
        return src, dst, view[pos:min(end, n)], end - pos
    return "not IP"


def _records(f, stats: Stats) -> Iterator[tuple[float, bytes]]:
    """(time, frame) per record; for pcapng, (time, frame, link type)."""
    import dpkt
    magic = f.read(4)
    f.seek(0)
    try:
        if magic == b"\x0a\x0d\x0d\x0a":
            stats.fmt = "pcapng"
            reader = dpkt.pcapng.Reader(f)
        elif len(magic) == 4 and struct.unpack("<I", magic)[0] in (
                0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1):
            stats.fmt = "pcap"
            reader = dpkt.pcap.Reader(f)
        elif not magic:
            raise CaptureError("the file is empty")
        else:
            raise CaptureError("not a pcap or pcapng file (unknown magic number)")
    except CaptureError:
        raise
    except (ValueError, dpkt.dpkt.Error, struct.error) as e:
        raise CaptureError(f"not a readable {stats.fmt or 'capture'} file: the file header "
                           f"is damaged or cut off ({e or type(e).__name__})") from None
    stats.linktype = reader.datalink()
    if stats.fmt == "pcapng":
        yield from _pcapng_blocks(f, reader, stats)
        return
    it = iter(reader)
    # dpkt hands over a record whose data the file cuts short as it is: hold each
    # classic-pcap record back until the next one shows it was whole
    order = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos = 24
    held = None
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except (dpkt.dpkt.Error, struct.error, ValueError, MemoryError, OverflowError):
            stats.truncated = True          # a record header cut off or damaged
            held = None if stats.fmt == "pcap" else held
            break
        if stats.fmt != "pcap":
            yield rec
            continue
        if held is not None:
            yield held[1]
        held = (pos, rec)
        pos += 16 + len(rec[1])
    if held is not None:
        start, rec = held
        f.seek(start + 8)
        caplen = f.read(4)
        if len(caplen) == 4 and struct.unpack(order + "I", caplen)[0] > len(rec[1]):
            stats.truncated = True
        else:
            yield rec


def _if_time(idb) -> tuple[float, float]:
    """(divisor, offset) of an interface's timestamps (pcapng if_tsresol, if_tsoffset)."""
    div, off = 1e6, 0.0
    le = type(idb).__name__.endswith("LE")
    for opt in getattr(idb, "opts", ()):
        if opt.code == 9 and len(opt.data) >= 1:            # if_tsresol
            v = opt.data[0]
            div = float(2 ** (v & 0x7F) if v & 0x80 else 10 ** (v & 0x7F))
        elif opt.code == 14 and len(opt.data) >= 8:         # if_tsoffset (seconds)
            off = float(struct.unpack("<q" if le else ">q", opt.data[:8])[0])
    return div or 1e6, off


def _pcapng_blocks(f, reader, stats: Stats):
    """The packets of a pcapng file with each one's own interface's link type and
    time resolution (dpkt's Reader keeps only the first interface's): the blocks
    after the first Interface Description Block, parsed with dpkt's block classes."""
    import dpkt
    from dpkt import pcapng as ng
    f.seek(8)
    bom = f.read(4)
    le = bom == b"\x4d\x3c\x2b\x1a"
    f.seek(0)
    # step over the section header and every block up to the first IDB again
    first = reader.idb
    ifaces = [(first.linktype, *_if_time(first))]
    reader_blocks_end = None
    pos = 0
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        btype, blen = struct.unpack("<II" if le else ">II", head)
        if blen < 12:
            stats.truncated = True
            return
        f.seek(pos + blen)
        pos += blen
        if btype == ng.PCAPNG_BT_IDB:
            reader_blocks_end = pos
            break
    assert reader_blocks_end is not None
    last_t = 0.0
    fmt = "<II" if le else ">II"
    while True:
        head = f.read(8)
        if len(head) < 8:
            if head:
                stats.truncated = True
            return
        btype, blen = struct.unpack(fmt, head)
        if btype == ng.PCAPNG_BT_SHB:               # a new section: its own byte order
            bom = f.read(4)
            le = bom == b"\x4d\x3c\x2b\x1a"
            fmt = "<II" if le else ">II"
            btype, blen = struct.unpack(fmt, head)
            if blen < 16 or blen > 1 << 28:
                stats.truncated = True
                return
            rest = f.read(blen - 12)
            if len(rest) < blen - 12:
                stats.truncated = True
                return
            ifaces = []
            continue
        if blen < 12 or blen > 1 << 28:
            stats.truncated = True                  # damaged beyond resynchronising
            return
        body = f.read(blen - 8)
        if len(body) < blen - 8:
            stats.truncated = True
            return
        buf = head + body
        try:
            if btype == ng.PCAPNG_BT_EPB:
                epb = (ng.EnhancedPacketBlockLE if le else ng.EnhancedPacketBlock)(buf)
                if epb.iface_id >= len(ifaces):
                    stats.skip("packet of an undescribed interface")
                    continue
                lt, div, off = ifaces[epb.iface_id]
                last_t = off + ((epb.ts_high << 32) | epb.ts_low) / div
                yield last_t, epb.pkt_data, lt
            elif btype == ng.PCAPNG_BT_IDB:
                idb = (ng.InterfaceDescriptionBlockLE if le else ng.InterfaceDescriptionBlock)(buf)
                ifaces.append((idb.linktype, *_if_time(idb)))
            elif btype == ng.PCAPNG_BT_SPB and ifaces:   # no timestamp: the last one seen
                orig = struct.unpack("<I" if le else ">I", buf[8:12])[0]
                yield last_t, buf[12:12 + min(orig, blen - 16)], ifaces[0][0]
            elif btype == ng.PCAPNG_BT_PB:
                pb = (ng.PacketBlockLE if le else ng.PacketBlock)(buf)
                if pb.iface_id < len(ifaces):
                    lt, div, off = ifaces[pb.iface_id]
                    last_t = off + ((pb.ts_high << 32) | pb.ts_low) / div
                    yield last_t, pb.pkt_data, lt
        except (dpkt.dpkt.Error, struct.error, ValueError, IndexError):
            stats.skip("damaged pcapng block")


def read_capture(path, stats: Stats | None = None) -> Iterator[Packet]:
    """The TCP segments of a pcap or pcapng file, one at a time (bounded memory).

    `stats`, if given, is filled in as the file is read. Raises `CaptureError`
    for a file that is not a capture (or cannot be opened)."""
    stats = stats if stats is not None else Stats()
    try:
        f = open(path, "rb")
    except OSError as e:
        raise CaptureError(f"cannot open {path}: {e.strerror}") from None
    with f:
        records = _records(f, stats)
        linktype = None
        for rec in records:
            if len(rec) == 3:                   # pcapng: each interface its own link type
                t, buf, linktype = rec
                if linktype not in LINKTYPES:
                    stats.frames += 1
                    stats.skip(f"link type {linktype} not supported")
                    continue
            else:
                t, buf = rec
                if linktype is None:
                    linktype = stats.linktype
                    if linktype not in LINKTYPES:
                        raise CaptureError(f"link type {linktype} is not supported (supported: "
                                           "Ethernet, Linux cooked SLL and SLL2, raw IP, "
                                           "loopback)")
            stats.frames += 1
            off = _ip_offset(linktype, buf)
            if off is None:
                stats.skip("not IP")
                continue
            r = _ip_tcp(memoryview(buf)[off:])
            if isinstance(r, str):
                stats.skip(r)
                continue
            src, dst, tcp, tcp_len = r
            if len(tcp) < 20 or len(tcp) < (tcp[12] >> 4) << 2:
                stats.skip("TCP header cut off (snap length)")
                continue
            try:
                seg = decode_tcp(tcp, src, dst, verify_checksum=False)
            except WireError as e:
                stats.skip(f"bad TCP header ({e.reason})")
                continue
            hlen = (tcp[12] >> 4) << 2
            length = max(tcp_len - hlen, len(seg.payload))
            stats.tcp += 1
            yield Packet(stats.frames, t, _endpoint(src, seg.src_port),
                         _endpoint(dst, seg.dst_port), seg, length)
