"""A TUN device living inside its own network namespace.

::

    with TunDevice(mode="plain") as tun:          # namespace "synack" by default
        frames = tun.read_packets(64)             # raw IP packets, until EAGAIN
        tun.write_packet(ip_packet)

Picture::

     namespace "synack"                          this process
    +-----------------------------+             +---------------------+
    | kernel TCP/IP, sockets,     |  TUN link   |  fd from            |
    | curl, python ... 192.0.2.1  |<===========>|  /dev/net/tun       |
    | 2001:db8::1 on the TUN      |             |  synack: 192.0.2.2, |
    +-----------------------------+             |  2001:db8::2        |
                                                +---------------------+

The kernel side owns 192.0.2.1/24 and 2001:db8::1/64 on the TUN; the
connected routes send everything for 192.0.2.2 / 2001:db8::2 (synack's own
addresses, which the kernel does not own) out of the TUN to our fd.

The TUN is created inside the namespace: a helper thread setns()es into it,
opens /dev/net/tun and issues TUNSETIFF, so the link is born there and never
appears in the root namespace; the file descriptor is process-wide and stays
usable from every thread.  Closing the fd destroys the (non-persistent) link.

Modes
-----
``plain``  IFF_TUN|IFF_NO_PI, MTU 1500: one IP packet per read/write.
``fast``   adds IFF_VNET_HDR: every frame starts with a virtio-net header
           (`synack.tun.vnet`), and TUNSETOFFLOAD(TUN_F_CSUM|TSO4|TSO6) lets
           the kernel hand us TCP super-segments (up to 64 KiB) whose checksum
           is not computed (NEEDS_CSUM).  MTU 65535.
"""
from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import select
import socket
import struct
from typing import Any, Iterable, Sequence

from . import vnet
from .netns import Namespace, netns_exists, require_privileges

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNGETFEATURES = 0x800454CF
TUNSETOFFLOAD = 0x400454D0
TUNGETIFF = 0x800454D2
TUNGETVNETHDRSZ = 0x800454D7
TUNSETVNETHDRSZ = 0x400454D8

IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_TUN_EXCL = 0x8000       # fail (EBUSY) instead of attaching to an existing link

TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
TUN_F_TSO_ECN = 0x08
TUN_F_UFO = 0x10
TUN_F_USO4 = 0x20
TUN_F_USO6 = 0x40

IFA_F_NODAD = 0x02
IFA_F_TENTATIVE = 0x40
RTN_LOCAL = 2

PLAIN = "plain"
FAST = "fast"
MODES = (PLAIN, FAST)
DEFAULT_MTU = {PLAIN: 1500, FAST: 65535}
DEFAULT_OFFLOAD = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6

DEFAULT_NETNS = "synack"
DEFAULT_IFNAME = "synack0"
KERNEL_V4 = "192.0.2.1/24"
KERNEL_V6 = "2001:db8::1/64"
LOCAL_V4 = "192.0.2.2"
LOCAL_V6 = "2001:db8::2"


def _ifreq(name: str, flags: int) -> bytes:
    raw = name.encode()
    if not raw or len(raw) > 15:
        raise ValueError(f"bad interface name {name!r}")
    return struct.pack("16sH22x", raw, flags)


def _open_tun(ifname: str, flags: int, vnet_hdr_len: int, offload: int) -> tuple[int, str]:
    """Runs in a thread inside the target namespace: create the TUN there."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            res = fcntl.ioctl(fd, TUNSETIFF, _ifreq(ifname, flags | IFF_TUN_EXCL))
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                raise FileExistsError(errno.EEXIST, f"a link named {ifname!r} already exists "
                                      "in this namespace") from exc
            raise
        name = res[:16].rstrip(b"\0").decode()
        if flags & IFF_VNET_HDR:
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", vnet_hdr_len))
            fcntl.ioctl(fd, TUNSETOFFLOAD, offload)
        os.set_blocking(fd, False)
        return fd, name
    except BaseException:
        os.close(fd)
        raise


class TunDevice:
    """A TUN interface inside a network namespace, with its fd in this process.

    Parameters
    ----------
    netns:       namespace name or `Namespace`.  A name that does not exist
                 yet is created (and removed on close); an existing one is
                 used and left in place.
    mode:        "plain" or "fast" (see the module docstring).
    mtu:         default 1500 (plain) / 65535 (fast).
    kernel_v4, kernel_v6: the kernel side's addresses with prefix length, on
                 the TUN (None to skip one family).
    local_v4, local_v6: synack's own addresses, reached through the TUN
                 (recorded here for the engine; nothing is configured).
    offload:     TUNSETOFFLOAD flags for fast mode.
    vnet_hdr_len: 10 (virtio_net_hdr) or 12 (with num_buffers).
    """

    def __init__(self, netns: str | Namespace = DEFAULT_NETNS, *, mode: str = PLAIN,
                 ifname: str = DEFAULT_IFNAME, mtu: int | None = None,
                 kernel_v4: str | None = KERNEL_V4, kernel_v6: str | None = KERNEL_V6,
                 local_v4: str | None = LOCAL_V4, local_v6: str | None = LOCAL_V6,
                 txqueuelen: int = 10000, offload: int = DEFAULT_OFFLOAD,
                 vnet_hdr_len: int = vnet.HDR_LEN) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if vnet_hdr_len < vnet.HDR_LEN:
            raise ValueError("vnet_hdr_len must be at least 10")
        self.mode = mode
        self.ifname = ifname
        self.mtu = mtu or DEFAULT_MTU[mode]
        self.kernel_v4 = ipaddress.ip_interface(kernel_v4) if kernel_v4 else None
        self.kernel_v6 = ipaddress.ip_interface(kernel_v6) if kernel_v6 else None
        self.local_v4 = ipaddress.ip_address(local_v4) if local_v4 else None
        self.local_v6 = ipaddress.ip_address(local_v6) if local_v6 else None
        self.txqueuelen = txqueuelen
        self.offload = offload
        self.vnet = mode == FAST
        self.vnet_hdr_len = vnet_hdr_len if self.vnet else 0
        # Largest frame a read can return: an IP packet of up to 64 KiB
        # (MTU 65535 or a GSO super-segment) plus the vnet header.
        self.bufsize = self.vnet_hdr_len + (0x10000 if self.vnet else max(self.mtu, 1500)) + 64
        if isinstance(netns, Namespace):
            self.ns = netns
            self._own_ns = False
        else:
            self.ns = Namespace(netns, create=not netns_exists(netns))
            self._own_ns = True
        self.fd = -1
        self.ifindex = 0

    # ------------------------------------------------------------------
    # life cycle
    def open(self) -> "TunDevice":
        if self.fd >= 0:
            return self
        require_privileges("TUN devices")
        if self._own_ns:
            self.ns.create()
        try:
            flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if self.vnet else 0)
            self.fd, self.ifname = self.ns.run(_open_tun, self.ifname, flags,
                                               self.vnet_hdr_len, self.offload)
            self._configure()
        except BaseException:
            self.close()
            raise
        return self

    def _configure(self) -> None:
        with self.ns.ipr() as ipr:
            found = ipr.link_lookup(ifname=self.ifname)
            if not found:
                raise OSError(f"TUN {self.ifname!r} did not appear in namespace {self.ns.name!r}")
            idx = found[0]
            link = ipr.get_links(idx)[0]
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            if kind != "tun":
                raise OSError(f"{self.ifname!r} in {self.ns.name!r} is not a TUN (kind={kind!r})")
            self.ifindex = idx
            ipr.link("set", index=idx, mtu=self.mtu, txqlen=self.txqueuelen)
            if self.kernel_v6 is not None:
                conf = f"/proc/sys/net/ipv6/conf/{self.ifname}/"
                # No duplicate address detection: the address is usable at
                # once (also IFA_F_NODAD below).  No router solicitations or
                # RA processing either: there is no router on this link, and
                # the RS packets would only be noise on the fd.
                self.ns.sysctl(conf + "accept_dad", 0)
                self.ns.sysctl(conf + "router_solicitations", 0)
                self.ns.sysctl(conf + "accept_ra", 0)
            if self.kernel_v4 is not None:
                ipr.addr("add", index=idx, address=str(self.kernel_v4.ip),
                         prefixlen=self.kernel_v4.network.prefixlen)
            if self.kernel_v6 is not None:
                ipr.addr("add", index=idx, address=str(self.kernel_v6.ip),
                         prefixlen=self.kernel_v6.network.prefixlen, flags=IFA_F_NODAD)
            ipr.link("set", index=idx, state="up")
            if self.kernel_v6 is not None:
                self._wait_v6_usable(ipr, idx, str(self.kernel_v6.ip))

    def _wait_v6_usable(self, ipr: Any, idx: int, addr: str, limit: float = 30.0) -> None:
        """Return once the kernel's IPv6 address has left the tentative state.

        Even without DAD the kernel finishes bringing an IPv6 address up in a
        work item after the link goes up; until then the address is
        "tentative" and packets sent to it are dropped. On a loaded machine that
        window lasts long enough to lose a test's first datagram. The local route
        to the address is added last, so that is waited for too."""
        import time
        deadline = time.monotonic() + limit
        while True:
            flags = None
            for msg in ipr.get_addr(index=idx, family=socket.AF_INET6):
                if msg.get_attr("IFA_ADDRESS") == addr:
                    flags = msg.get_attr("IFA_FLAGS")
                    if flags is None:
                        flags = msg["flags"]
            if flags is not None and not flags & IFA_F_TENTATIVE and self._is_local(ipr, addr):
                return
            if time.monotonic() > deadline:
                raise OSError(f"the IPv6 address {addr} on {self.ifname!r} stayed "
                              f"tentative for {limit:.0f} s")
            time.sleep(0.005)

    def _is_local(self, ipr: Any, addr: str) -> bool:
        """True once the kernel routes its IPv6 address as local (the route is
        added only after the address has become usable)."""
        try:
            routes = ipr.route("get", dst=addr)
        except Exception:
            return False
        return any(r["type"] == RTN_LOCAL for r in routes)

    def close(self) -> None:
        """Close the fd (which destroys the link), then the namespace if ours."""
        fd, self.fd = self.fd, -1
        try:
            if fd >= 0:
                os.close(fd)
        finally:
            if self._own_ns:
                self.ns.remove()
            elif self.ifindex and self.ns.exists():
                self._delete_leftover_link()

    def _delete_leftover_link(self) -> None:
        try:
            with self.ns.ipr() as ipr:
                if ipr.link_lookup(ifname=self.ifname):
                    ipr.link("del", index=self.ifindex)
        except Exception:
            pass

    def __enter__(self) -> "TunDevice":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def fileno(self) -> int:
        if self.fd < 0:
            raise ValueError("TUN device is closed")
        return self.fd

    # ------------------------------------------------------------------
    # raw frame I/O: in fast mode each frame starts with the vnet header
    def read_packets(self, max: int = 64) -> list[bytes]:
        """Read up to `max` frames, stopping at EAGAIN; never blocks."""
        out: list[bytes] = []
        read, fd, size = os.read, self.fd, self.bufsize
        try:
            while len(out) < max:
                out.append(read(fd, size))
        except BlockingIOError:
            pass
        return out

    def write_packet(self, frame: bytes | bytearray | memoryview) -> int:
        """Write one frame (vnet header included in fast mode)."""
        return os.write(self.fd, frame)

    def write_packets(self, frames: Iterable[bytes]) -> int:
        n = 0
        for f in frames:
            os.write(self.fd, f)
            n += 1
        return n

    def wait_readable(self, timeout: float | None = None) -> bool:
        """Block until a frame can be read (or timeout seconds pass)."""
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        return bool(p.poll(None if timeout is None else int(timeout * 1000)))

    # ------------------------------------------------------------------
    # IP-level helpers that hide the vnet header
    def recv(self, max: int = 64) -> list[tuple[vnet.VnetHeader | None, bytes]]:
        """(header, IP packet) pairs; header is None in plain mode."""
        frames = self.read_packets(max)
        if not self.vnet:
            return [(None, f) for f in frames]
        n = self.vnet_hdr_len
        return [(vnet.VnetHeader.unpack(f, n), f[n:]) for f in frames]

    def send(self, packet: bytes | bytearray | memoryview | Sequence[bytes | memoryview],
             header: vnet.VnetHeader | None = None) -> int:
        """Write one IP packet; returns the IP packet's length.

        `packet` is bytes-like, or a sequence of pieces (e.g. headers and a
        payload memoryview) written with one writev() and no copying.  In
        fast mode `header` (default: all zero, i.e. a complete packet) is put
        in front; in plain mode no header may be given.
        """
        parts = [packet] if isinstance(packet, (bytes, bytearray, memoryview)) else list(packet)
        if not self.vnet:
            if header is not None and header != vnet.ZERO:
                raise ValueError("vnet header given but the device is in plain mode")
            return os.writev(self.fd, parts)
        hdr = (header or vnet.ZERO).pack(self.vnet_hdr_len)
        return os.writev(self.fd, [hdr, *parts]) - len(hdr)

    def __repr__(self) -> str:
        state = "closed" if self.fd < 0 else f"fd={self.fd}"
        return (f"TunDevice({self.ifname!r} in {self.ns.name!r}, mode={self.mode}, "
                f"mtu={self.mtu}, {state})")
