"""The virtio-net header that a TUN device with IFF_VNET_HDR puts before packets.

Layout (little-endian, `struct virtio_net_hdr` from <linux/virtio_net.h>)::

    u8   flags         NEEDS_CSUM (1), DATA_VALID (2), RSC_INFO (4)
    u8   gso_type      NONE (0), TCPV4 (1), UDP (3), TCPV6 (4), UDP_L4 (5), | ECN (0x80)
    le16 hdr_len       length of the headers (IP + TCP) of a GSO packet
    le16 gso_size      payload bytes per segment (the MSS) of a GSO packet
    le16 csum_start    offset, from the start of the IP packet, where the
                       checksummed area begins (the TCP/UDP header)
    le16 csum_offset   where, counted from csum_start, the checksum goes
                       (16 for TCP, 6 for UDP)
    le16 num_buffers   only in the 12-byte form (virtio_net_hdr_mrg_rxbuf)

Checksum state (the skb "CHECKSUM_PARTIAL" convention)
------------------------------------------------------
NEEDS_CSUM means: the checksum field at csum_start+csum_offset holds the
*non-complemented* one's-complement sum of the pseudo-header only; whoever
finally needs the real checksum sums everything from csum_start to the end
(including that field), complements it and stores it there.

* Reading: the kernel marks TCP/UDP packets it sends out of the TUN with
  NEEDS_CSUM when checksum offload is on (TUN_F_CSUM): the payload checksum
  was never computed.  Our stack must not verify it (the data came straight
  from the kernel's memory); `complete_checksum` computes it if wanted.
* Writing: `offload_header` prepares a packet that way, so the kernel (or a
  device further along) completes the checksum; `gso_header` additionally
  asks the kernel to cut a TCP super-segment into gso_size-byte segments.

`synack.tun.device` documents what this kernel was measured to do with them.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

F_NEEDS_CSUM = 0x01
F_DATA_VALID = 0x02
F_RSC_INFO = 0x04

GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_UDP_L4 = 5
GSO_ECN = 0x80

HDR_LEN = 10            # struct virtio_net_hdr
HDR_LEN_MRG = 12        # struct virtio_net_hdr_mrg_rxbuf (with num_buffers)

TCP_CSUM_OFFSET = 16
UDP_CSUM_OFFSET = 6

IPPROTO_TCP = 6
IPPROTO_UDP = 17

_HDR = struct.Struct("<BBHHHH")
_HDR_MRG = struct.Struct("<BBHHHHH")

_GSO_NAMES = {GSO_NONE: "none", GSO_TCPV4: "tcpv4", GSO_UDP: "udp",
              GSO_TCPV6: "tcpv6", GSO_UDP_L4: "udp_l4"}


class VnetHeader(NamedTuple):
    flags: int = 0
    gso_type: int = GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0
    num_buffers: int = 0        # only on the wire in the 12-byte form

    # -- codec
    def pack(self, size: int = HDR_LEN) -> bytes:
        if size == HDR_LEN:
            return _HDR.pack(self.flags, self.gso_type, self.hdr_len,
                             self.gso_size, self.csum_start, self.csum_offset)
        if size == HDR_LEN_MRG:
            return _HDR_MRG.pack(self.flags, self.gso_type, self.hdr_len,
                                 self.gso_size, self.csum_start, self.csum_offset,
                                 self.num_buffers)
        if size > HDR_LEN_MRG:
            return self.pack(HDR_LEN_MRG) + bytes(size - HDR_LEN_MRG)
        raise ValueError(f"vnet header size must be >= {HDR_LEN}, got {size}")

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, size: int = HDR_LEN) -> "VnetHeader":
        if len(data) < size or size < HDR_LEN:
            raise ValueError(f"need {size} bytes of vnet header, got {len(data)}")
        if size >= HDR_LEN_MRG:
            return cls(*_HDR_MRG.unpack_from(data))
        return cls(*_HDR.unpack_from(data))

    # -- readable views
    @property
    def needs_csum(self) -> bool:
        return bool(self.flags & F_NEEDS_CSUM)

    @property
    def data_valid(self) -> bool:
        return bool(self.flags & F_DATA_VALID)

    @property
    def is_gso(self) -> bool:
        return (self.gso_type & ~GSO_ECN) != GSO_NONE

    @property
    def gso_name(self) -> str:
        name = _GSO_NAMES.get(self.gso_type & ~GSO_ECN, f"0x{self.gso_type:x}")
        return name + ("|ecn" if self.gso_type & GSO_ECN else "")

    def describe(self) -> str:
        flags = "|".join(n for b, n in ((F_NEEDS_CSUM, "NEEDS_CSUM"), (F_DATA_VALID, "DATA_VALID"),
                                        (F_RSC_INFO, "RSC_INFO")) if self.flags & b) or "-"
        return (f"flags={flags} gso={self.gso_name} hdr_len={self.hdr_len} "
                f"gso_size={self.gso_size} csum_start={self.csum_start} "
                f"csum_offset={self.csum_offset}")


ZERO = VnetHeader()


def split(frame: bytes | bytearray | memoryview, size: int = HDR_LEN):
    """(VnetHeader, packet) from one frame read from a vnet-header TUN."""
    return VnetHeader.unpack(frame, size), frame[size:]


# --------------------------------------------------------------------------
# Internet checksum (RFC 1071) helpers

def _fold(x: int) -> int:
    """End-around-carry fold of a non-negative int to 16 bits.

    Splitting at a multiple of 16 bits keeps the value mod 0xffff (because
    2**16 == 1 mod 0xffff), so halving repeatedly costs about two passes
    over the number: faster than `x % 0xffff` on 64 KiB inputs.
    """
    n = x.bit_length()
    while n > 64:
        half = ((n + 1) // 2 + 15) & ~15
        x = (x >> half) + (x & ((1 << half) - 1))
        n = x.bit_length()
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def ones_sum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """One's-complement sum of 16-bit big-endian words, folded to 16 bits.

    The whole buffer is read as one big integer (int.from_bytes runs in C);
    since 2**16 == 1 (mod 0xffff) it is congruent to the sum of its words.
    A non-zero sum that is 0 mod 0xffff comes out as 0xffff ("negative
    zero"), as RFC 1071 arithmetic gives.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    return _fold(int.from_bytes(data, "big") + initial)


def checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The Internet checksum (complemented) of data, with an optional start sum."""
    return ~ones_sum(data, initial) & 0xFFFF


def pseudo_header_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """Non-complemented folded sum of the IPv4 (4-byte addrs) or IPv6 pseudo-header."""
    if len(src) == 4:
        ph = src + dst + struct.pack("!BBH", 0, proto, length)
    else:
        ph = src + dst + struct.pack("!IxxxB", length, proto)
    return ones_sum(ph)


def _l4_info(packet: bytes | bytearray | memoryview):
    """(ip header length, src, dst, proto, l4 length, is_v6) of an IP packet."""
    v = packet[0] >> 4
    if v == 4:
        ihl = (packet[0] & 0x0F) * 4
        total = int.from_bytes(packet[2:4], "big")
        return ihl, bytes(packet[12:16]), bytes(packet[16:20]), packet[9], total - ihl, False
    if v == 6:
        plen = int.from_bytes(packet[4:6], "big")
        # No extension headers: the stack never sends them.
        return 40, bytes(packet[8:24]), bytes(packet[24:40]), packet[6], plen, True
    raise ValueError(f"not an IP packet (version {v})")


def offload_header(packet: bytearray, *, data_valid: bool = False) -> VnetHeader:
    """Prepare a TCP/UDP packet for checksum offload, in place; return its header.

    Writes the pseudo-header sum (non-complemented) into the checksum field
    and returns a NEEDS_CSUM header pointing at it.
    """
    ihl, src, dst, proto, l4len, _ = _l4_info(packet)
    if proto == IPPROTO_TCP:
        off = TCP_CSUM_OFFSET
    elif proto == IPPROTO_UDP:
        off = UDP_CSUM_OFFSET
    else:
        raise ValueError(f"checksum offload is for TCP/UDP, not protocol {proto}")
    struct.pack_into("!H", packet, ihl + off, pseudo_header_sum(src, dst, proto, l4len))
    return VnetHeader(flags=F_NEEDS_CSUM | (F_DATA_VALID if data_valid else 0),
                      csum_start=ihl, csum_offset=off)


def gso_header(packet: bytearray, mss: int) -> VnetHeader:
    """Like offload_header, and ask for segmentation into `mss`-byte TCP segments.

    The packet is one TCP "super-segment" (IP total length up to 65535);
    the kernel cuts it as TSO hardware would (sequence numbers advanced,
    PSH/FIN only on the last piece, IPv4 ids incremented).
    """
    ihl, _, _, proto, l4len, v6 = _l4_info(packet)
    if proto != IPPROTO_TCP:
        raise ValueError("gso_header is for TCP")
    hdr = offload_header(packet)
    thl = (packet[ihl + 12] >> 4) * 4
    if l4len - thl <= mss:
        return hdr          # a single segment: no GSO needed
    return hdr._replace(gso_type=GSO_TCPV6 if v6 else GSO_TCPV4,
                        hdr_len=ihl + thl, gso_size=mss)


def complete_checksum(packet: bytes | bytearray, header: VnetHeader) -> bytes:
    """Finish a NEEDS_CSUM packet in software (what a NIC would do)."""
    if not header.needs_csum:
        return bytes(packet)
    buf = bytearray(packet)
    start, where = header.csum_start, header.csum_start + header.csum_offset
    csum = checksum(memoryview(buf)[start:])
    if csum == 0 and header.csum_offset == UDP_CSUM_OFFSET:
        csum = 0xFFFF       # UDP sends a computed zero as all ones (RFC 768)
    struct.pack_into("!H", buf, where, csum)
    return bytes(buf)


def l4_checksum_ok(packet: bytes | bytearray | memoryview) -> bool:
    """True if the TCP/UDP checksum of a plain IP packet verifies."""
    ihl, src, dst, proto, l4len, _ = _l4_info(packet)
    seg = memoryview(packet)[ihl:ihl + l4len]
    if proto == IPPROTO_UDP and not (len(src) == 16) and seg[6:8] == b"\0\0":
        return True         # IPv4 UDP without checksum
    return ones_sum(seg, pseudo_header_sum(src, dst, proto, l4len)) == 0xFFFF
