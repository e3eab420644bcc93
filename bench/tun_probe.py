#!/usr/bin/env python3
"""Raw packet-I/O probe for the TUN device layer (no TCP engine needed).

Everything happens in a network namespace created for the run (named
synack-probe-<pid>-<n>) and deleted afterwards, also on errors, Ctrl-C and
SIGTERM.  Traffic only flows between the kernel inside that namespace and
this process, over 192.0.2.0/24 and 2001:db8::/64.

Probes
------
udp     a kernel-side UDP sender (python, via `ip netns exec`) blasts
        datagrams at 192.0.2.2; we count what read_packets() returns.
tcp-rx  a kernel-side TCP client sends bulk data to 192.0.2.2; a tiny
        hand-rolled responder here answers the SYN and ACKs every read
        batch cumulatively (no retransmission, no reordering logic).
tcp-tx  the reverse: we handshake with a kernel listener on 192.0.2.1 and
        push data at it, respecting its window; "fast" writes 64 KiB
        segments with NEEDS_CSUM (and optionally as GSO super-segments).
csum    what the kernel does with NEEDS_CSUM / DATA_VALID / GSO frames we
        write: local delivery, and forwarding to a second, plain TUN where
        the kernel must finish the checksum / cut the segments itself.

    sudo .venv/bin/python bench/tun_probe.py              # all probes, 3 s each
    sudo .venv/bin/python bench/tun_probe.py udp tcp-rx -t 5
"""
from __future__ import annotations

import argparse
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from synack.tun import vnet                                     # noqa: E402
from synack.tun.device import TunDevice                         # noqa: E402
from synack.tun.netns import (Namespace, install_cleanup_handlers, reap_stale,  # noqa: E402
                              unique_name)

K4, L4 = "192.0.2.1", "192.0.2.2"
K6, L6 = "2001:db8::1", "2001:db8::2"
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10

# --------------------------------------------------------------------------
# kernel-side helper programs (run with `ip netns exec`, inside the namespace)

UDP_SENDER = r"""
import socket, sys, time
dst, port, size, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
buf = b"u" * size; addr = (dst, port); n = 0; send = s.sendto
end = time.monotonic() + secs
while time.monotonic() < end:
    for _ in range(64):
        try:
            send(buf, addr); n += 1
        except OSError:
            pass
print(n, flush=True)
"""

TCP_CLIENT = r"""
import socket, sys, time
dst, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(10)
s.connect((dst, port))
buf = bytes(range(256)) * 4096           # 1 MiB
n = 0; end = time.monotonic() + secs
while time.monotonic() < end:
    s.sendall(buf); n += len(buf)
s.shutdown(socket.SHUT_WR)
try:
    s.recv(1)
except OSError:
    pass
s.close()
print(n, flush=True)
"""

TCP_SERVER = r"""
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((addr, port)); ls.listen(1)
print("ready", flush=True)
ls.settimeout(20)
c, _ = ls.accept(); c.settimeout(20)
buf = bytearray(1 << 20); n = 0; t0 = None
while True:
    k = c.recv_into(buf)
    if not k:
        break
    if t0 is None:
        t0 = time.monotonic()
    n += k
t1 = time.monotonic()
c.close()
print(n, (t1 - t0) if t0 else 0.0, flush=True)
"""

# --------------------------------------------------------------------------
# packet building / parsing (just enough TCP/IP for the probes)


def addr_bytes(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def tcp_options(mss: int | None = None, wscale: int | None = None) -> bytes:
    o = b""
    if mss is not None:
        o += struct.pack("!BBH", 2, 4, mss)
    if wscale is not None:
        o += struct.pack("!BBBB", 1, 3, 3, wscale)    # NOP, WS
    return o


class Flow:
    """Addresses/ports of one TCP connection seen from synack's side."""

    def __init__(self, local: str, remote: str, lport: int, rport: int) -> None:
        self.v6 = ":" in local
        self.src, self.dst = addr_bytes(local), addr_bytes(remote)
        self.lport, self.rport = lport, rport
        self.ipid = random.getrandbits(16)

    def build(self, seq: int, ack: int, flags: int, win: int, opts: bytes = b"",
              payload: bytes | memoryview = b"", offload: bool = False,
              gso_mss: int = 0) -> tuple[bytes, vnet.VnetHeader | None]:
        """IP+TCP headers (payload separate) and, if offload, the vnet header.

        offload=False: full checksum computed here (plain mode).
        offload=True: NEEDS_CSUM with the pseudo-header sum in the field.
        """
        thl = 20 + len(opts)
        l4len = thl + len(payload)
        tcp = struct.pack("!HHIIBBHHH", self.lport, self.rport, seq & 0xFFFFFFFF,
                          ack & 0xFFFFFFFF, (thl // 4) << 4, flags, win, 0, 0) + opts
        if self.v6:
            ip = struct.pack("!IHBB", 6 << 28, l4len, 6, 64) + self.src + self.dst
        else:
            self.ipid = (self.ipid + 1) & 0xFFFF
            ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + l4len, self.ipid, 0x4000, 64, 6, 0) \
                + self.src + self.dst
            ip = ip[:10] + struct.pack("!H", vnet.checksum(ip)) + ip[12:]
        ps = vnet.pseudo_header_sum(self.src, self.dst, 6, l4len)
        if offload:
            tcp = tcp[:16] + struct.pack("!H", ps) + tcp[18:]
            hdr = vnet.VnetHeader(flags=vnet.F_NEEDS_CSUM, csum_start=len(ip),
                                  csum_offset=vnet.TCP_CSUM_OFFSET)
            if gso_mss and len(payload) > gso_mss:
                hdr = hdr._replace(gso_type=vnet.GSO_TCPV6 if self.v6 else vnet.GSO_TCPV4,
                                   hdr_len=len(ip) + thl, gso_size=gso_mss)
            return ip + tcp, hdr
        c = vnet.checksum(tcp, vnet.ones_sum(payload, ps)) if payload else vnet.checksum(tcp, ps)
        return ip + tcp[:16] + struct.pack("!H", c) + tcp[18:], None


def parse_tcp(pkt: bytes | memoryview, base: int = 0):
    """(sport, dport, seq, ack, flags, win, payload_len, options, l4_off) or None."""
    v = pkt[base] >> 4
    if v == 4:
        if pkt[base + 9] != 6:
            return None
        ihl = (pkt[base] & 15) * 4
        l4len = struct.unpack_from("!H", pkt, base + 2)[0] - ihl
    elif v == 6:
        if pkt[base + 6] != 6:
            return None
        ihl = 40
        l4len = struct.unpack_from("!H", pkt, base + 4)[0]
    else:
        return None
    off = base + ihl
    sport, dport, seq, ack, doff, flags, win = struct.unpack_from("!HHIIBBH", pkt, off)
    thl = (doff >> 4) * 4
    return sport, dport, seq, ack, flags, win, l4len - thl, bytes(pkt[off + 20:off + thl]), off - base


def parse_options(opts: bytes) -> dict:
    out, i = {}, 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        ln = opts[i + 1]
        if kind == 2:
            out["mss"] = struct.unpack_from("!H", opts, i + 2)[0]
        elif kind == 3:
            out["wscale"] = opts[i + 2]
        i += max(ln, 2)
    return out


def flag_names(counter: Counter) -> dict:
    """{'NEEDS_CSUM/none': n, ...} from a Counter of (flags, gso_type) bytes."""
    out: Counter = Counter()
    for (flags, gso), n in counter.items():
        h = vnet.VnetHeader(flags=flags, gso_type=gso)
        name = "|".join(x for b, x in ((vnet.F_NEEDS_CSUM, "NEEDS_CSUM"), (vnet.F_DATA_VALID, "DATA_VALID"))
                        if flags & b) or "no-flags"
        out[f"{name}/gso={h.gso_name}"] += n
    return dict(out)


def human(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB/s" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB/s"


# --------------------------------------------------------------------------
# probes


def probe_udp(mode: str, size: int, secs: float, family: str = "4") -> dict:
    dst = L4 if family == "4" else L6
    with TunDevice(unique_name("probe"), mode=mode) as tun:
        hl = tun.vnet_hdr_len
        sender = tun.ns.popen([sys.executable, "-c", UDP_SENDER, dst, "9", str(size), str(secs)],
                              stdout=subprocess.PIPE, text=True)
        poll = select.poll()
        poll.register(tun.fileno(), select.POLLIN)
        frames = nbytes = payload = calls = 0
        flags = Counter()
        t_first = t_last = None
        cpu0 = time.thread_time()
        deadline = time.monotonic() + secs + 5
        while time.monotonic() < deadline:
            batch = tun.read_packets(256)
            calls += 1
            if not batch:
                if sender.poll() is not None:
                    break
                poll.poll(50)
                continue
            now = time.monotonic()
            t_first = t_first or now
            t_last = now
            frames += len(batch)
            n = sum(map(len, batch))
            nbytes += n
            payload += n - len(batch) * (hl + (28 if family == "4" else 48))
            if hl:
                flags.update((f[0], f[1]) for f in batch)     # vnet flags, gso_type
        cpu = time.thread_time() - cpu0
        sent = int(sender.communicate(timeout=10)[0].strip() or 0)
    dur = (t_last - t_first) if t_first and t_last and t_last > t_first else secs
    return {"probe": f"udp{family} {mode} {size}B", "frames": frames, "sent": sent,
            "pps": frames / dur, "Bps": nbytes / dur, "goodput": payload / dur,
            "batch": frames / max(calls, 1), "flags": flag_names(flags), "secs": dur,
            "cpu_us": 1e6 * cpu / max(frames, 1)}


def probe_tcp_rx(mode: str, secs: float, mss: int, family: str = "4") -> dict:
    """Kernel TCP sends to us; we ACK each read batch cumulatively."""
    local, remote = (L4, K4) if family == "4" else (L6, K6)
    port = 5001
    with TunDevice(unique_name("probe"), mode=mode) as tun:
        hl = tun.vnet_hdr_len
        fast = tun.vnet
        client = tun.ns.popen([sys.executable, "-c", TCP_CLIENT, local, str(port), str(secs)],
                              stdout=subprocess.PIPE, text=True)
        poll = select.poll()
        poll.register(tun.fileno(), select.POLLIN)
        flow = None
        iss = random.getrandbits(32)
        rcv_nxt = 0
        wscale = 10
        win = 65535
        stats = Counter()
        vflags: Counter = Counter()
        gso_segs = checked = csum_ok = 0
        cpu0 = time.thread_time()
        max_frame = 0
        goodput = nbytes = frames = reads = 0
        t_first = t_last = None
        done = False
        deadline = time.monotonic() + secs + 10
        while time.monotonic() < deadline and not done:
            batch = tun.read_packets(256)
            reads += 1
            if not batch:
                if client.poll() is not None:
                    break
                poll.poll(20)
                continue
            advanced = False
            for f in batch:
                t = parse_tcp(f, hl)
                if t is None:
                    continue
                sport, dport, seq, ack, flags, _w, plen, opts, _ = t
                if dport != port:
                    continue
                frames += 1
                nbytes += len(f)
                max_frame = max(max_frame, len(f) - hl)
                if hl:
                    vflags[(f[0], f[1])] += 1
                    if checked < 50 and plen and f[0] & vnet.F_NEEDS_CSUM:
                        # does finishing the checksum ourselves give a valid one?
                        h, ippkt = vnet.split(f, hl)
                        checked += 1
                        csum_ok += vnet.l4_checksum_ok(vnet.complete_checksum(ippkt, h))
                    if f[1]:
                        gso_segs += -(-plen // vnet.VnetHeader.unpack(f, hl).gso_size)
                if flags & SYN:
                    flow = Flow(local, remote, port, sport)
                    rcv_nxt = (seq + 1) & 0xFFFFFFFF
                    hdr, vh = flow.build(iss, rcv_nxt, SYN | ACK, 65535,
                                         tcp_options(mss=mss, wscale=wscale), offload=fast)
                    tun.send(hdr, vh)
                    continue
                if flow is None:
                    continue
                if plen and seq == rcv_nxt:
                    rcv_nxt = (rcv_nxt + plen) & 0xFFFFFFFF
                    goodput += plen
                    advanced = True
                    now = time.monotonic()
                    t_first = t_first or now
                    t_last = now
                elif plen:
                    stats["out-of-order"] += 1
                if flags & FIN and ((seq + plen) & 0xFFFFFFFF) == rcv_nxt:
                    rcv_nxt = (rcv_nxt + 1) & 0xFFFFFFFF
                    hdr, vh = flow.build(iss + 1, rcv_nxt, FIN | ACK, win, offload=fast)
                    tun.send(hdr, vh)
                    done = True
            if advanced and flow is not None and not done:
                hdr, vh = flow.build(iss + 1, rcv_nxt, ACK, win, offload=fast)
                tun.send(hdr, vh)
                stats["acks"] += 1
        cpu = time.thread_time() - cpu0
        sent = int(client.communicate(timeout=15)[0].strip() or 0)
    dur = (t_last - t_first) if t_first and t_last and t_last > t_first else secs
    stats.update(flag_names(vflags))
    if checked:
        stats["completed-csum-valid"] = f"{csum_ok}/{checked}"
    if gso_segs:
        stats["wire-segs/frame"] = round(gso_segs / max(vflags[(1, 1)] + vflags[(1, 4)], 1), 1)
    return {"probe": f"tcp{family}-rx {mode} mss={mss}", "frames": frames, "sent": sent,
            "received": goodput, "pps": frames / dur, "Bps": nbytes / dur,
            "goodput": goodput / dur, "batch": frames / max(reads, 1), "max_frame": max_frame,
            "flags": dict(stats), "secs": dur, "cpu_us": 1e6 * cpu / max(frames, 1)}


def probe_tcp_tx(mode: str, secs: float, seg: int, gso_mss: int = 0, family: str = "4") -> dict:
    """We send bulk TCP data to a kernel listener, respecting its window.

    Sequence numbers are kept as unbounded ints counted from the ISS and
    masked to 32 bits on the wire.
    """
    local, remote = (L4, K4) if family == "4" else (L6, K6)
    port = 5002
    M = 0xFFFFFFFF
    with TunDevice(unique_name("probe"), mode=mode) as tun:
        hl = tun.vnet_hdr_len
        fast = tun.vnet
        server = tun.ns.popen([sys.executable, "-c", TCP_SERVER, remote, str(port)],
                              stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("kernel-side server did not start")
        poll = select.poll()
        poll.register(tun.fileno(), select.POLLIN)
        flow = Flow(local, remote, 40000 + random.getrandbits(12), port)
        iss = random.getrandbits(32)

        def send(rel_seq: int, ack: int, flags: int, payload=b"") -> None:
            hdr, vh = flow.build((iss + rel_seq) & M, ack, flags, 4096, payload=payload,
                                 offload=fast, gso_mss=gso_mss)
            tun.send((hdr, payload) if payload else hdr, vh)

        def tcp_frames(timeout_ms: int):
            batch = tun.read_packets(256)
            if not batch and timeout_ms:
                poll.poll(timeout_ms)
                batch = tun.read_packets(256)
            for f in batch:
                t = parse_tcp(f, hl)
                if t and t[1] == flow.lport:
                    yield t

        hdr, vh = flow.build(iss, 0, SYN, 65535, tcp_options(mss=65495 if fast else 1460, wscale=7),
                             offload=fast)
        tun.send(hdr, vh)
        peer = None
        end = time.monotonic() + 3
        while peer is None and time.monotonic() < end:
            for t in tcp_frames(50):
                if t[4] & SYN and t[4] & ACK:
                    peer = t
        if peer is None:
            raise RuntimeError("no SYN-ACK from the kernel")
        rcv_nxt = (peer[2] + 1) & M
        popts = parse_options(peer[7])
        pwscale, pmss = popts.get("wscale", 0), popts.get("mss", 536)
        una = nxt = 1                        # relative to iss
        edge = una + peer[5]                 # right window edge (SYN-ACK window is unscaled)
        send(nxt, rcv_nxt, ACK)
        if not gso_mss:
            seg = min(seg, pmss)
        data = memoryview(os.urandom(1 << 17))
        writes = retrans = 0
        cpu0 = time.thread_time()
        t0 = time.monotonic()
        t_end = t0 + secs
        last_progress = t0

        def on_ack(t) -> None:
            nonlocal una, edge, last_progress
            adv = (t[3] - (iss + una)) & M
            if adv <= nxt - una:
                if adv:
                    una += adv
                    last_progress = time.monotonic()
                edge = max(edge, una + (t[5] << pwscale))

        while time.monotonic() < t_end:
            for t in tcp_frames(0 if edge - nxt >= seg else 5):
                on_ack(t)
            if nxt != una and time.monotonic() - last_progress > 0.3:
                nxt = una                    # go back N: nothing acked for a while
                retrans += 1
                last_progress = time.monotonic()
            while edge - nxt >= seg:
                off = nxt & 0xFFFF
                send(nxt, rcv_nxt, ACK | PSH, data[off:off + seg])
                nxt += seg
                writes += 1
        elapsed = time.monotonic() - t0
        cpu = time.thread_time() - cpu0
        end = time.monotonic() + 2
        while una != nxt and time.monotonic() < end:
            for t in tcp_frames(20):
                on_ack(t)
        acked = una - 1
        send(nxt, rcv_nxt, FIN | ACK)
        end = time.monotonic() + 3
        fin_seen = False
        while not fin_seen and time.monotonic() < end:
            for t in tcp_frames(20):
                if t[4] & FIN:
                    fin_seen = True
                    send(nxt + 1, (t[2] + 1) & M, ACK)
        out = server.communicate(timeout=10)[0].split()
    kernel_bytes = int(out[0]) if out else 0
    name = f"tcp{family}-tx {mode} seg={seg}" + (f" gso={gso_mss}" if gso_mss else "")
    return {"probe": name, "frames": writes, "sent": (nxt - 1), "received": kernel_bytes,
            "acked": acked, "pps": writes / elapsed, "Bps": acked / elapsed,
            "goodput": kernel_bytes / elapsed, "retrans": retrans, "secs": elapsed,
            "cpu_us": 1e6 * cpu / max(writes, 1)}


# --------------------------------------------------------------------------
# checksum / GSO semantics


def probe_csum() -> list[tuple[str, str]]:
    """What the kernel makes of vnet headers we write (fast TUN A -> plain TUN B)."""
    rows: list[tuple[str, str]] = []
    with Namespace(unique_name("probe")) as ns:
        a = TunDevice(ns, mode="fast", ifname="tunA", kernel_v4="192.0.2.1/25",
                      kernel_v6="2001:db8::1/65")
        b = TunDevice(ns, mode="plain", ifname="tunB", kernel_v4="192.0.2.129/25",
                      kernel_v6="2001:db8::8000:0:0:1/65")
        with a, b:
            ns.sysctl("net.ipv4.ip_forward", 1)
            ns.sysctl("net.ipv6.conf.all.forwarding", 1)
            ns.sysctl("net.ipv4.conf.all.send_redirects", 0)
            ns.sysctl("/proc/sys/net/ipv4/conf/tunA/send_redirects", 0)

            def drain(dev, wait=0.3):
                got, end = [], time.monotonic() + wait
                while time.monotonic() < end:
                    dev.wait_readable(0.05)
                    got += dev.recv(256)
                return got

            # ---- local delivery of UDP to a socket on 192.0.2.1 ----
            sock = ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((K4, 0))
            sock.setblocking(False)
            port = sock.getsockname()[1]

            def udp_pkt(payload: bytes, csum_field: int | None) -> bytearray:
                s, d = addr_bytes(L4), addr_bytes(K4)
                ulen = 8 + len(payload)
                udp = bytearray(struct.pack("!HHHH", 40000, port, ulen, 0) + payload)
                good = vnet.checksum(udp, vnet.pseudo_header_sum(s, d, 17, ulen)) or 0xFFFF
                struct.pack_into("!H", udp, 6, good if csum_field is None else csum_field)
                ip = bytearray(struct.pack("!BBHHHBBH", 0x45, 0, 20 + ulen, 1, 0x4000, 64, 17, 0) + s + d)
                struct.pack_into("!H", ip, 10, vnet.checksum(ip))
                return ip + udp

            def delivered(pkt, hdr) -> str:
                a.send(pkt, hdr)
                time.sleep(0.05)
                try:
                    sock.recv(70000)
                    return "delivered"
                except BlockingIOError:
                    return "dropped"

            ps = vnet.pseudo_header_sum(addr_bytes(L4), addr_bytes(K4), 17, 8 + 100)
            cs = vnet.VnetHeader(flags=vnet.F_NEEDS_CSUM, csum_start=20, csum_offset=6)
            rows.append(("local UDP, no flags, correct checksum", delivered(udp_pkt(b"x" * 100, None), None)))
            rows.append(("local UDP, no flags, wrong checksum", delivered(udp_pkt(b"x" * 100, 0x1234), None)))
            rows.append(("local UDP, DATA_VALID, wrong checksum",
                         delivered(udp_pkt(b"x" * 100, 0x1234), vnet.VnetHeader(flags=vnet.F_DATA_VALID))))
            rows.append(("local UDP, NEEDS_CSUM, pseudo-header sum", delivered(udp_pkt(b"x" * 100, ps), cs)))
            rows.append(("local UDP, NEEDS_CSUM, garbage in field", delivered(udp_pkt(b"x" * 100, 0x1234), cs)))
            sock.close()

            # ---- forwarding: A (fast) -> kernel -> B (plain, no offloads) ----
            far4 = "192.0.2.130"
            far6 = "2001:db8::8000:0:0:2"
            for fam, far, src in (("4", far4, L4), ("6", far6, L6)):
                flow = Flow(src, far, 40000, 80)
                payload = os.urandom(1000)
                hdrs, vh = flow.build(1000, 1, ACK | PSH, 1000, payload=payload, offload=True)
                ip_len = len(hdrs) - 20

                def forwarded(pkt: bytes, header, label: str) -> None:
                    drain(b, 0.05)
                    a.send(pkt, header)
                    got = [p for _, p in drain(b) if parse_tcp(p)]
                    if not got:
                        rows.append((label, "not forwarded"))
                        return
                    ok = all(vnet.l4_checksum_ok(p) for p in got)
                    sizes = sorted({parse_tcp(p)[6] for p in got})
                    seqs = [parse_tcp(p)[2] for p in got]
                    contiguous = all(seqs[i + 1] - seqs[i] == parse_tcp(got[i])[6] for i in range(len(got) - 1))
                    rows.append((label, f"{len(got)} pkt(s) out of B, payload sizes {sizes}, "
                                        f"checksums {'valid' if ok else 'INVALID'}"
                                        + ("" if len(got) == 1 else f", seq contiguous={contiguous}")))

                pkt = hdrs + payload
                forwarded(pkt, vh, f"fwd v{fam} TCP, NEEDS_CSUM + pseudo sum")
                bad = bytearray(pkt)
                struct.pack_into("!H", bad, ip_len + 16, 0)
                forwarded(bytes(bad), vh, f"fwd v{fam} TCP, NEEDS_CSUM + zero in field")
                fullh, _ = flow.build(1000, 1, ACK | PSH, 1000, payload=payload, offload=False)
                forwarded(fullh + payload, vh, f"fwd v{fam} TCP, NEEDS_CSUM + complete checksum in field")
                forwarded(fullh + payload, None, f"fwd v{fam} TCP, no flags, complete checksum")
                big = os.urandom(20000)
                hdrs, vh = flow.build(5000, 1, ACK | PSH, 1000, payload=big, offload=True, gso_mss=1400)
                forwarded(hdrs + big, vh, f"fwd v{fam} TCP, GSO {vh.gso_name} 20000B mss 1400")
                bad = bytearray(hdrs + big)
                struct.pack_into("!H", bad, ip_len + 16, 0)
                forwarded(bytes(bad), vh, f"fwd v{fam} TCP, GSO, zero in csum field")
                forwarded(hdrs + big, vh._replace(flags=0), f"fwd v{fam} TCP, GSO without NEEDS_CSUM")
                hdrs2, _ = flow.build(5000, 1, ACK | PSH, 1000, payload=os.urandom(1400), offload=False)
                forwarded(hdrs2 + bytes(1400), None, f"fwd v{fam} TCP, no flags, wrong checksum")
    return rows


# --------------------------------------------------------------------------

def table(rows: list[dict]) -> str:
    lines = [f"| {'probe':<34} | {'frames':>9} | {'pkts/s':>9} | {'per read':>8} | "
             f"{'CPU us/pkt':>10} | {'bytes read/written':>18} | {'goodput':>11} | notes"]
    lines.append("|" + "|".join("-" * (w + 2) for w in (34, 9, 9, 8, 10, 18, 11, 6)))
    for r in rows:
        notes = []
        if "sent" in r and r["probe"].startswith("udp"):
            notes.append(f"sent {r['sent']}, read {r['frames'] / max(r['sent'], 1):.0%}")
        if "received" in r:
            notes.append(f"kernel {'sent' if '-rx' in r['probe'] else 'got'} "
                         f"{(r['sent'] if '-rx' in r['probe'] else r['received']) / 1e6:.0f} MB")
        if r.get("max_frame"):
            notes.append(f"max pkt {r['max_frame']}")
        if r.get("retrans"):
            notes.append(f"{r['retrans']} go-back-N")
        if r.get("flags"):
            notes.append(", ".join(f"{k}:{v}" for k, v in sorted(r["flags"].items())))
        lines.append(f"| {r['probe']:<34} | {r['frames']:>9} | {r['pps']:>9.0f} | "
                     f"{(format(r['batch'], '8.1f') if 'batch' in r else '-'):>8} | {r.get('cpu_us', 0):>10.2f} | {human(r['Bps']):>18} | {human(r['goodput']):>11} | "
                     + "; ".join(notes))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("probes", nargs="*", metavar="PROBE",
                    help="udp, tcp-rx, tcp-tx, csum (default: all)")
    ap.add_argument("-t", "--seconds", type=float, default=3.0)
    ap.add_argument("-6", dest="v6", action="store_true", help="also run IPv6 variants")
    args = ap.parse_args(argv)
    known = ["udp", "tcp-rx", "tcp-tx", "csum"]
    if not args.probes:
        args.probes = known
    for p in args.probes:
        if p not in known:
            ap.error(f"unknown probe {p!r} (choose from {', '.join(known)})")
    install_cleanup_handlers()
    for name in reap_stale():
        print(f"removed stale namespace {name} (its creator died)", file=sys.stderr)
    fams = ["4", "6"] if args.v6 else ["4"]
    rows = []
    T = args.seconds
    for fam in fams:
        if "udp" in args.probes:
            rows.append(probe_udp("plain", 1472 if fam == "4" else 1452, T, fam))
            rows.append(probe_udp("fast", 1472 if fam == "4" else 1452, T, fam))
            rows.append(probe_udp("fast", 65507 if fam == "4" else 65487, T, fam))
        if "tcp-rx" in args.probes:
            rows.append(probe_tcp_rx("plain", T, 1460 if fam == "4" else 1440, fam))
            rows.append(probe_tcp_rx("fast", T, 1460 if fam == "4" else 1440, fam))
            rows.append(probe_tcp_rx("fast", T, 65495 if fam == "4" else 65475, fam))
        if "tcp-tx" in args.probes:
            rows.append(probe_tcp_tx("plain", T, 1460 if fam == "4" else 1440, 0, fam))
            rows.append(probe_tcp_tx("fast", T, 65000, 0, fam))
            rows.append(probe_tcp_tx("fast", T, 65000, 1448, fam))
        for r in rows[-9:]:
            print(f"  done: {r['probe']}", file=sys.stderr)
    if rows:
        print(table(rows))
    if "csum" in args.probes:
        print()
        print("| frame written to the fast TUN | what happened |")
        print("|---|---|")
        for label, outcome in probe_csum():
            print(f"| {label} | {outcome} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
