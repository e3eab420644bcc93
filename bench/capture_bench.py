"""`synack explain` on a large capture: packets per second, and memory that does not
grow with the file.

The capture is generated with synack's own pcap writer: one bulk connection
(handshake, MSS-sized data segments each way acknowledged every second segment,
a retransmission now and then, the four-way close), followed by many short
connections (handshake, request, response, close), so both the per-segment path
and the per-connection table are exercised. Each capture is then explained in a
fresh process (`synack explain FILE --format json`, the summary) and that
process's peak RSS is read from getrusage.

    python bench/capture_bench.py                # 400 MB and 20 MB, the table
    python bench/capture_bench.py --mb 100       # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from synack.pcap import PcapWriter
from synack.engine.segment import ACK, FIN, PSH, SYN, Options, Segment
from synack.wire import encode_ip

MSS = 1448


def _template(src, dst, sport, dport, flags, payload_len):
    """An IPv4+TCP packet whose seq/ack are patched per copy (checksums are left as
    they are: the reader does not check them, as on a sending host's capture)."""
    return bytearray(encode_ip(src, dst, Segment(sport, dport, 0, 0, flags, 65535,
                                                 payload=b"\xab" * payload_len)))


def _put(pkt: bytearray, seq: int, ack: int) -> bytes:
    pkt[24:28] = (seq & 0xFFFFFFFF).to_bytes(4, "big")
    pkt[28:32] = (ack & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(pkt)


def generate(path: str, mb: int, short_conns: int) -> dict:
    a, b = "10.1.0.1", "10.1.0.2"
    t = 1_700_000_000.0
    n = 0
    with PcapWriter(path) as w:
        def put(pkt):
            nonlocal t, n
            w.write(t, pkt)
            t += 0.00001
            n += 1
        # the bulk connection
        x, y = 1000, 900_000
        put(encode_ip(a, b, Segment(40000, 80, x, 0, SYN, 65535, options=Options(mss=MSS))))
        put(encode_ip(b, a, Segment(80, 40000, y, x + 1, SYN | ACK, 65535,
                                    options=Options(mss=MSS))))
        put(encode_ip(a, b, Segment(40000, 80, x + 1, y + 1, ACK, 65535)))
        data = _template(a, b, 40000, 80, PSH | ACK, MSS)
        ack = _template(b, a, 80, 40000, ACK, 0)
        seq, rseq = x + 1, y + 1
        total = mb * 1_000_000
        sent = 0
        i = 0
        while sent < total:
            put(_put(data, seq, rseq))
            if i % 997 == 0 and i:                    # a retransmission now and then
                put(_put(data, seq, rseq))
            seq += MSS
            sent += MSS + 56
            i += 1
            if i % 2 == 0:
                put(_put(ack, rseq, seq))
        put(encode_ip(a, b, Segment(40000, 80, seq, rseq, FIN | ACK, 65535)))
        put(encode_ip(b, a, Segment(80, 40000, rseq, seq + 1, ACK, 65535)))
        put(encode_ip(b, a, Segment(80, 40000, rseq, seq + 1, FIN | ACK, 65535)))
        put(encode_ip(a, b, Segment(40000, 80, seq + 1, rseq + 1, ACK, 65535)))
        # many short connections
        for k in range(short_conns):
            port = 1024 + k % 60000
            c_ip = f"10.2.{k // 60000 % 250}.{1 + k // 15_000_000}"
            x, y = 7 * k + 1, 11 * k + 5
            put(encode_ip(c_ip, b, Segment(port, 80, x, 0, SYN, 65535)))
            put(encode_ip(b, c_ip, Segment(80, port, y, x + 1, SYN | ACK, 65535)))
            put(encode_ip(c_ip, b, Segment(port, 80, x + 1, y + 1, ACK, 65535)))
            put(encode_ip(c_ip, b, Segment(port, 80, x + 1, y + 1, PSH | ACK, 65535,
                                           payload=b"GET / HTTP/1.0\r\n\r\n")))
            put(encode_ip(b, c_ip, Segment(80, port, y + 1, x + 19, PSH | ACK | FIN, 65535,
                                           payload=b"HTTP/1.0 200 OK\r\n\r\n")))
            put(encode_ip(c_ip, b, Segment(port, 80, x + 19, y + 21, FIN | ACK, 65535)))
            put(encode_ip(b, c_ip, Segment(80, port, y + 21, x + 20, ACK, 65535)))
    return {"packets": n, "bytes": os.path.getsize(path), "connections": 1 + short_conns}


def explain(path: str) -> dict:
    """`synack explain --format json` in a child process: wall time, CPU, peak RSS."""
    code = ("import sys, time, json, resource\n"
            "from synack.capture import analyse\n"
            "c0 = time.process_time(); t0 = time.perf_counter()\n"
            "conns, st = analyse(sys.argv[1])\n"
            "cpu = time.process_time() - c0; wall = time.perf_counter() - t0\n"
            "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(json.dumps({'cpu': cpu, 'wall': wall, 'tcp': st.tcp, 'conns': len(conns),"
            " 'rss_kb': rss, 'rexmit': conns[0].a.rexmits}))\n")
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=400, help="bulk data in the large capture (MB)")
    ap.add_argument("--small-mb", type=int, default=20)
    ap.add_argument("--conns", type=int, default=20000, help="short connections in each capture")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    compiled = "compiled" if any(f.endswith(".so") for f in os.listdir(
        os.path.dirname(__import__("synack.engine.connection").connection.__file__))) else "pure"
    print(f"synack explain benchmark ({compiled} engine; the capture modules are pure Python)")
    rows = []
    for mb in (args.small_mb, args.mb):
        path = os.path.join(args.dir, f"synack-capture-bench-{os.getpid()}-{mb}.pcap")
        try:
            t0 = time.perf_counter()
            g = generate(path, mb, args.conns)
            gen = time.perf_counter() - t0
            e = explain(path)
        finally:
            if os.path.exists(path):
                os.unlink(path)
        assert e["tcp"] == g["packets"] and e["conns"] == g["connections"]
        rows.append((g, e, gen))
        print(f"  {g['bytes'] / 1e6:8.1f} MB  {g['packets']:>9,} packets  "
              f"{g['connections']:>7,} connections   explained in {e['cpu']:6.2f} s CPU "
              f"({e['wall']:.2f} s wall): {g['packets'] / e['cpu']:>9,.0f} packets/s   "
              f"peak RSS {e['rss_kb'] / 1024:6.1f} MB   (generated in {gen:.1f} s)")
    (g1, e1, _), (g2, e2, _) = rows
    print(f"  file {g2['bytes'] / g1['bytes']:.1f}x larger, peak RSS "
          f"{e2['rss_kb'] / e1['rss_kb']:.2f}x: memory is bounded by the connections and "
          f"the data in flight, not by the length of the capture")


if __name__ == "__main__":
    main()
