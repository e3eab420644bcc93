"""The TUN device layer: namespaces, the TUN link, plain and vnet-header I/O.

Tests marked `netns` create their own network namespaces (unique names,
synack-test-<pid>-<n>) and need root; without it they FAIL with a message
saying so, they are not skipped.  The vnet/checksum codec tests at the end
need nothing special.
"""
from __future__ import annotations

import ipaddress
import os
import random
import socket
import struct
import subprocess
import time

import pytest

from synack.tun import vnet
from synack.tun.device import TunDevice
from synack.tun.netns import (Namespace, list_netns, netns_exists,
                              require_privileges, unique_name)
from synack.tun import netns as netns_mod

K4, L4 = "192.0.2.1", "192.0.2.2"
K6, L6 = "2001:db8::1", "2001:db8::2"


@pytest.fixture
def root():
    if os.geteuid() != 0:
        pytest.fail("tests marked netns need root (they create network namespaces "
                    "and TUN devices): run them as root, or deselect with -m 'not netns'",
                    pytrace=False)


def name() -> str:
    return unique_name("test")


def root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


# --------------------------------------------------------------------------
# independent packet building (deliberately not using synack.tun.vnet)

def ref_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = 0
    for (w,) in struct.iter_unpack("!H", data):
        s += w
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes,
         csum: bool = True) -> bytes:
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    if csum:
        c = ref_checksum(s + d + struct.pack("!BBH", 0, 17, ulen) + udp) or 0xFFFF
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, random.getrandbits(16), 0x4000,
                     64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", ref_checksum(ip)) + ip[12:]
    return ip + udp


def udp6(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    s = socket.inet_pton(socket.AF_INET6, src)
    d = socket.inet_pton(socket.AF_INET6, dst)
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    c = ref_checksum(s + d + struct.pack("!I3xB", ulen, 17) + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    return struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d + udp


def parse_udp(pkt: bytes):
    """(src, dst, sport, dport, payload, l4 offset) of an IPv4/IPv6 UDP packet, else None."""
    v = pkt[0] >> 4
    if v == 4 and pkt[9] == 17:
        ihl = (pkt[0] & 15) * 4
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
    elif v == 6 and pkt[6] == 17:
        ihl = 40
        src = socket.inet_ntop(socket.AF_INET6, pkt[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, pkt[24:40])
    else:
        return None
    sport, dport, ulen = struct.unpack_from("!HHH", pkt, ihl)
    return src, dst, sport, dport, pkt[ihl + 8:ihl + ulen], ihl


def read_until(tun: TunDevice, match, timeout: float = 3.0):
    """First (header, packet) from the TUN for which match(packet) is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tun.wait_readable(max(0.0, deadline - time.monotonic()))
        for hdr, pkt in tun.recv():
            if match(pkt):
                return hdr, pkt
    raise AssertionError("expected packet not read from the TUN")


def ns_udp(ns: Namespace, family: int, addr: str, port: int = 0) -> socket.socket:
    s = ns.socket(family, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.bind((addr, port))
    return s


# --------------------------------------------------------------------------
# namespaces

@pytest.mark.netns
def test_namespace_created_and_removed(root):
    n = name()
    with Namespace(n) as ns:
        assert netns_exists(n) and n in list_netns()
        out = ns.run_cmd(["ip", "-o", "link", "show", "lo"]).stdout
        assert "UP" in out                      # lo is up inside
        # a socket made "inside" really lives there: 127.0.0.1 works, and
        # its inode differs from the root namespace's
        s = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.close()
        inside = ns.run(lambda: os.readlink("/proc/thread-self/ns/net"))
        assert inside != os.readlink("/proc/self/ns/net")
    assert not netns_exists(n)


@pytest.mark.netns
def test_namespace_removed_when_body_raises(root):
    n = name()
    with pytest.raises(RuntimeError, match="boom"):
        with Namespace(n):
            assert netns_exists(n)
            raise RuntimeError("boom")
    assert not netns_exists(n)


@pytest.mark.netns
def test_namespace_kills_its_processes(root):
    with Namespace(name()) as ns:
        proc = ns.popen(["sleep", "30"])
    assert proc.poll() is not None


@pytest.mark.netns
def test_run_in_netns_does_not_move_the_caller(root):
    before = os.readlink("/proc/thread-self/ns/net")
    with Namespace(name()) as ns:
        ns.run(lambda: None)
        assert os.readlink("/proc/thread-self/ns/net") == before


def test_permission_error_is_readable(monkeypatch):
    monkeypatch.setattr(netns_mod, "_effective_caps", lambda: 0)
    with pytest.raises(PermissionError, match="needs root.*CAP_NET_ADMIN"):
        require_privileges()


# --------------------------------------------------------------------------
# the device

@pytest.mark.netns
@pytest.mark.parametrize("mode,mtu,vnet_on", [("plain", 1500, "off"), ("fast", 65535, "on")])
def test_tun_lives_inside_namespace(root, mode, mtu, vnet_on):
    n = name()
    before = root_links()
    with TunDevice(n, mode=mode) as tun:
        assert tun.fileno() >= 0
        out = tun.ns.run_cmd(["ip", "-d", "-o", "link", "show", "dev", tun.ifname]).stdout
        assert f"mtu {mtu} " in out and "UP" in out
        assert f"vnet_hdr {vnet_on}" in out and "pi off" in out
        addrs = tun.ns.run_cmd(["ip", "-o", "addr", "show", "dev", tun.ifname]).stdout
        assert "inet 192.0.2.1/24" in addrs
        assert "inet6 2001:db8::1/64" in addrs
        assert "tentative" not in addrs          # DAD is off: usable at once
        routes = tun.ns.run_cmd(["ip", "route", "get", L4]).stdout
        assert f"dev {tun.ifname}" in routes
        # not in the root namespace
        assert tun.ifname not in root_links()
        assert root_links() == before
    assert not netns_exists(n)
    assert root_links() == before


@pytest.mark.netns
def test_cleanup_when_body_raises(root):
    n = name()
    with pytest.raises(ValueError):
        with TunDevice(n) as tun:
            assert netns_exists(n)
            raise ValueError
    assert tun.closed
    assert not netns_exists(n)
    tun.close()                                 # idempotent


@pytest.mark.netns
def test_device_in_existing_namespace_leaves_it(root):
    with Namespace(name()) as ns:
        with TunDevice(ns, ifname="tun7") as tun:
            assert "tun7" in ns.run_cmd(["ip", "-o", "link"]).stdout
        assert tun.closed
        assert "tun7" not in ns.run_cmd(["ip", "-o", "link"]).stdout   # link gone
        assert ns.exists()


@pytest.mark.netns
def test_existing_link_name_is_refused_and_left_alone(root):
    with Namespace(name()) as ns:
        with TunDevice(ns, ifname="tun8"):
            with pytest.raises(FileExistsError):
                TunDevice(ns, ifname="tun8").open()
            assert "tun8" in ns.run_cmd(["ip", "-o", "link"]).stdout   # still there


@pytest.mark.netns
def test_read_packets_stops_at_eagain(root):
    with TunDevice(name()) as tun:
        t0 = time.monotonic()
        assert tun.read_packets(8) == []
        assert time.monotonic() - t0 < 0.5


# -- plain mode

@pytest.mark.netns
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_plain_write_reaches_kernel_socket(root, family):
    with TunDevice(name()) as tun:
        if family == socket.AF_INET:
            sock = ns_udp(tun.ns, family, K4)
            port = sock.getsockname()[1]
            pkt = udp4(L4, K4, 40000, port, b"hello over tun")
            src = L4
        else:
            sock = ns_udp(tun.ns, family, K6)
            port = sock.getsockname()[1]
            pkt = udp6(L6, K6, 40000, port, b"hello over tun")
            src = L6
        with sock:
            assert tun.write_packet(pkt) == len(pkt)
            data, addr = sock.recvfrom(100)
        assert data == b"hello over tun"
        assert addr[0] == src and addr[1] == 40000


@pytest.mark.netns
def test_plain_bad_checksum_is_dropped(root):
    with TunDevice(name()) as tun:
        with ns_udp(tun.ns, socket.AF_INET, K4) as sock:
            port = sock.getsockname()[1]
            bad = bytearray(udp4(L4, K4, 40000, port, b"bad"))
            bad[26] ^= 0xFF                     # corrupt the UDP checksum
            tun.write_packet(bytes(bad))
            tun.write_packet(udp4(L4, K4, 40000, port, b"good"))
            assert sock.recv(100) == b"good"    # the bad one never arrives


@pytest.mark.netns
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_plain_kernel_datagram_is_read_from_tun(root, family):
    dst = L4 if family == socket.AF_INET else L6
    with TunDevice(name()) as tun:
        with tun.ns.socket(family, socket.SOCK_DGRAM) as s:
            s.sendto(b"to synack", (dst, 5555))
        hdr, pkt = read_until(tun, lambda p: (u := parse_udp(p)) is not None and u[3] == 5555)
        assert hdr is None
        src, d, sport, dport, payload, _ = parse_udp(pkt)
        assert payload == b"to synack"
        assert ipaddress.ip_address(d) == ipaddress.ip_address(dst)
        assert ipaddress.ip_address(src) == ipaddress.ip_address(K4 if family == socket.AF_INET else K6)
        assert vnet.l4_checksum_ok(pkt)         # plain mode: kernel did the checksum


# -- fast mode (IFF_VNET_HDR)

@pytest.mark.netns
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_fast_read_parses_vnet_header(root, family):
    dst = L4 if family == socket.AF_INET else L6
    payload = os.urandom(3000)                  # > 1500: one packet thanks to MTU 65535
    with TunDevice(name(), mode="fast") as tun:
        with tun.ns.socket(family, socket.SOCK_DGRAM) as s:
            s.sendto(payload, (dst, 5556))
        frames = []
        deadline = time.monotonic() + 3
        while not frames and time.monotonic() < deadline:
            tun.wait_readable(0.2)
            frames = [f for f in tun.read_packets()
                      if (u := parse_udp(f[10:])) is not None and u[3] == 5556]
        assert len(frames) == 1
        hdr, pkt = vnet.split(frames[0])
        assert isinstance(hdr, vnet.VnetHeader)
        u = parse_udp(bytes(pkt))
        assert u[4] == payload
        assert hdr.gso_type == vnet.GSO_NONE
        if hdr.needs_csum:
            # checksum offload: the kernel left the UDP checksum for us
            assert hdr.csum_start == u[5] and hdr.csum_offset == vnet.UDP_CSUM_OFFSET
            assert vnet.l4_checksum_ok(vnet.complete_checksum(pkt, hdr))
        else:
            assert vnet.l4_checksum_ok(pkt)


@pytest.mark.netns
@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_fast_write_with_vnet_header_arrives(root, family):
    with TunDevice(name(), mode="fast") as tun:
        k = K4 if family == socket.AF_INET else K6
        with ns_udp(tun.ns, family, k) as sock:
            port = sock.getsockname()[1]
            build = (lambda p: udp4(L4, K4, 40001, port, p)) if family == socket.AF_INET \
                else (lambda p: udp6(L6, K6, 40001, port, p))
            # 1. a complete packet behind an all-zero header
            tun.send(build(b"zero header"))
            assert sock.recv(100) == b"zero header"
            # 2. the same, written raw with write_packet
            tun.write_packet(vnet.ZERO.pack() + build(b"raw frame"))
            assert sock.recv(100) == b"raw frame"
            # 3. checksum left to the kernel: NEEDS_CSUM + pseudo-header sum
            pkt = bytearray(build(b"offloaded" * 200))
            hdr = vnet.offload_header(pkt)
            assert hdr.needs_csum and hdr.csum_offset == 6
            tun.send(pkt, hdr)
            assert sock.recv(4000) == b"offloaded" * 200


@pytest.mark.netns
def test_fast_kernel_syn_has_offload_header(root):
    """A kernel TCP SYN to synack's address comes out with a vnet header."""
    with TunDevice(name(), mode="fast") as tun:
        s = tun.ns.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect_ex((L4, 7777))
            hdr, pkt = read_until(tun, lambda p: p[0] >> 4 == 4 and p[9] == 6
                                  and struct.unpack_from("!H", p, 22)[0] == 7777)
        finally:
            s.close()
        assert pkt[20 + 13] & 0x02              # SYN
        assert not hdr.is_gso
        if hdr.needs_csum:
            assert hdr.csum_start == 20 and hdr.csum_offset == vnet.TCP_CSUM_OFFSET
            pkt = vnet.complete_checksum(pkt, hdr)
        assert vnet.l4_checksum_ok(pkt)


@pytest.mark.netns
def test_everything_removed_afterwards(root):
    before_ns, before_links = set(list_netns()), root_links()
    names = [name() for _ in range(3)]
    for n, mode in zip(names, ["plain", "fast", "plain"]):
        with TunDevice(n, mode=mode):
            pass
    assert set(list_netns()) == before_ns
    assert root_links() == before_links
    assert not any(netns_exists(n) for n in names)


# --------------------------------------------------------------------------
# vnet header and checksum codecs (no privileges needed)

def test_vnet_header_roundtrip():
    h = vnet.VnetHeader(flags=vnet.F_NEEDS_CSUM, gso_type=vnet.GSO_TCPV4, hdr_len=52,
                        gso_size=1448, csum_start=20, csum_offset=16)
    raw = h.pack()
    assert len(raw) == 10
    assert raw == bytes([1, 1, 52, 0]) + struct.pack("<HHH", 1448, 20, 16)
    assert vnet.VnetHeader.unpack(raw) == h
    raw12 = h._replace(num_buffers=1).pack(12)
    assert len(raw12) == 12 and vnet.VnetHeader.unpack(raw12, 12).num_buffers == 1
    assert h.needs_csum and not h.data_valid and h.is_gso and h.gso_name == "tcpv4"
    hdr, rest = vnet.split(raw + b"\x45abc")
    assert hdr == h and rest == b"\x45abc"
    with pytest.raises(ValueError):
        vnet.VnetHeader.unpack(b"\0" * 9)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 20, 21, 1500, 1501])
def test_checksum_matches_reference(n):
    rnd = random.Random(n)
    for _ in range(20):
        data = bytes(rnd.getrandbits(8) for _ in range(n))
        assert vnet.checksum(data) == ref_checksum(data)
    assert vnet.checksum(b"\xff\xff" * 4) == ref_checksum(b"\xff\xff" * 4)


def test_offload_header_then_completion_gives_valid_checksum():
    for pkt in (udp4(L4, K4, 1, 2, b"x" * 101), udp6(L6, K6, 1, 2, b"y" * 77)):
        buf = bytearray(pkt)
        hdr = vnet.offload_header(buf)
        assert hdr.needs_csum
        done = vnet.complete_checksum(buf, hdr)
        assert done == pkt                      # same checksum as built by hand
        assert vnet.l4_checksum_ok(done)


def test_gso_header_for_tcp_super_segment():
    payload = bytes(10000)
    s, d = socket.inet_aton(L4), socket.inet_aton(K4)
    tcp = struct.pack("!HHIIBBHHH", 1, 2, 100, 0, 5 << 4, 0x18, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + len(payload), 0, 0x4000, 64, 6, 0, s, d)
    buf = bytearray(ip + tcp + payload)
    hdr = vnet.gso_header(buf, 1448)
    assert hdr.gso_type == vnet.GSO_TCPV4 and hdr.gso_size == 1448
    assert hdr.hdr_len == 40 and hdr.csum_start == 20 and hdr.csum_offset == 16
    small = bytearray(ip[:2] + struct.pack("!H", 40 + 100) + ip[4:] + tcp + bytes(100))
    assert not vnet.gso_header(small, 1448).is_gso
