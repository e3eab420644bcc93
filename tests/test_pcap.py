"""pcap writing, and tshark's opinion of what the wire layer produces."""
import io
import shutil
import struct
import subprocess

import pytest

from synack.pcap import LINKTYPE_RAW, PcapWriter, read_pcap
from synack.engine.segment import ACK, FIN, PSH, SYN, Options, Segment
from synack.wire import encode_ip, encode_tcp
from synack.wire.ip import wrap_tcp

# ---------------------------------------------------------------- pcap format


def test_global_header(tmp_path):
    path = tmp_path / "empty.pcap"
    PcapWriter(path).close()
    raw = path.read_bytes()
    assert len(raw) == 24
    magic, major, minor, zone, sigfigs, snaplen, link = struct.unpack(
        "<IHHiIII", raw)
    assert (magic, major, minor, zone, sigfigs) == (0xA1B2C3D4, 2, 4, 0, 0)
    assert link == LINKTYPE_RAW == 101 and snaplen >= 65535
    assert read_pcap(path) == []


def test_round_trip_records(tmp_path):
    path = tmp_path / "r.pcap"
    packets = [(0.0, b"\x45" + bytes(19)), (1.5, b"\x60" + bytes(59)),
               (1234567.000001, b"x" * 3000)]
    with PcapWriter(str(path)) as w:
        for t, p in packets:
            w.write(t, p)
        assert w.count == 3
    got = read_pcap(path)
    assert [p for _, p in got] == [p for _, p in packets]
    assert [round(t, 6) for t, _ in got] == [t for t, _ in packets]
    raw = path.read_bytes()
    sec, usec, incl, orig = struct.unpack_from("<IIII", raw, 24 + 16 + 20)
    assert (sec, usec, incl, orig) == (1, 500000, 60, 60)


def test_microsecond_rounding_carries_into_seconds(tmp_path):
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as w:
        w.write(1.9999999, b"p")
    assert struct.unpack_from("<II", path.read_bytes(), 24) == (2, 0)


def test_readable_while_being_written(tmp_path):
    path = tmp_path / "live.pcap"
    w = PcapWriter(path)
    w.write(0.5, b"first")
    assert read_pcap(path) == [(0.5, b"first")]      # flushed already
    w.write(0.75, b"second")
    assert len(read_pcap(path)) == 2
    w.close()
    w.close()                                        # idempotent
    with pytest.raises(ValueError):
        w.write(1.0, b"late")


def test_file_object_is_left_open():
    buf = io.BytesIO()
    with PcapWriter(buf) as w:
        w.write(2.0, b"abc")
    assert not buf.closed
    assert len(buf.getvalue()) == 24 + 16 + 3


def test_snaplen_truncates_but_keeps_original_length(tmp_path):
    path = tmp_path / "s.pcap"
    with PcapWriter(path, snaplen=10) as w:
        w.write(0, b"0123456789abcdef")
    incl, orig = struct.unpack_from("<II", path.read_bytes(), 24 + 8)
    assert (incl, orig) == (10, 16)
    assert read_pcap(path) == [(0.0, b"0123456789")]


def test_negative_time_rejected(tmp_path):
    with PcapWriter(tmp_path / "n.pcap") as w, pytest.raises(ValueError):
        w.write(-1.0, b"x")


def test_read_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a pcap file at all, no")
    with pytest.raises(ValueError):
        read_pcap(bad)


def test_read_big_endian_nanosecond_file(tmp_path):
    path = tmp_path / "be.pcap"
    path.write_bytes(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535,
                                 101)
                     + struct.pack(">IIII", 3, 250_000_000, 2, 2) + b"hi")
    assert read_pcap(path) == [(3.25, b"hi")]


# ---------------------------------------------------------------- tshark

CLIENT_ISS, SERVER_ISS = 1000, 5000
CPORT, SPORT = 40000, 80


def exchange(c: str, s: str) -> list:
    """A handshake, three data segments, a SACKing ACK, a cumulative ACK and
    a FIN exchange, as (src, dst, Segment)."""
    syn = Options(mss=1460, wscale=7, sack_permitted=True, timestamp=(100, 0))
    synack = Options(mss=1400, wscale=9, sack_permitted=True,
                     timestamp=(700, 100))
    cseq, sseq = CLIENT_ISS + 1, SERVER_ISS + 1

    def c2s(seq, ack, flags, ts, payload=b""):
        return (c, s, Segment(CPORT, SPORT, seq, ack, flags, 502,
                              options=Options(timestamp=ts), payload=payload))

    def s2c(seq, ack, flags, ts, payload=b"", sack=()):
        return (s, c, Segment(SPORT, CPORT, seq, ack, flags, 509,
                              options=Options(timestamp=ts, sack=sack),
                              payload=payload))

    return [
        (c, s, Segment(CPORT, SPORT, CLIENT_ISS, 0, SYN, 64240, options=syn)),
        (s, c, Segment(SPORT, CPORT, SERVER_ISS, cseq, SYN | ACK, 65160,
                       options=synack)),
        c2s(cseq, sseq, ACK, (101, 700)),
        c2s(cseq, sseq, ACK | PSH, (102, 700), b"a" * 100),
        c2s(cseq + 100, sseq, ACK | PSH, (103, 700), b"b" * 100),
        c2s(cseq + 200, sseq, ACK | PSH, (104, 700), b"c" * 101),
        s2c(sseq, cseq + 100, ACK, (705, 102),
            sack=((cseq + 200, cseq + 301),)),
        s2c(sseq, cseq + 301, ACK, (706, 104)),
        c2s(cseq + 301, sseq, FIN | ACK, (110, 706)),
        s2c(sseq, cseq + 302, FIN | ACK | PSH, (710, 110), b"bye"),
        c2s(cseq + 302, sseq + 4, ACK, (111, 710)),
    ]


FLOWS = [("192.0.2.1", "198.51.100.2"), ("2001:db8::1", "2001:db8::2")]
PI_WARN = 0x00600000          # tshark expert severities: chat < note < warn

FIELDS = ["frame.number", "ip.version", "ipv6.version", "tcp.flags",
          "tcp.seq", "tcp.ack", "tcp.len", "tcp.options.mss_val",
          "tcp.options.wscale.shift", "tcp.option_kind",
          "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
          "tcp.options.sack_le", "tcp.options.sack_re",
          "tcp.checksum.status", "ip.checksum.status",
          "_ws.expert.severity"]


def tshark(*args) -> str:
    exe = shutil.which("tshark")
    # Deliberately not a skip: the project's test setup installs tshark.
    assert exe, "tshark is not installed (apt-get install -y tshark)"
    proc = subprocess.run(
        [exe, "-n", "-o", "tcp.check_checksum:TRUE",
         "-o", "ip.check_checksum:TRUE", *args],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("tshark") / "exchange.pcap"
    segments = []
    with PcapWriter(path) as w:
        t = 10.0
        for flow in FLOWS:
            for src, dst, seg in exchange(*flow):
                w.write(t, encode_ip(src, dst, seg))
                segments.append(seg)
                t += 0.001
    return path, segments


def test_tshark_verbose_has_no_complaints(capture):
    path, segments = capture
    text = tshark("-r", str(path), "-V")
    assert text.count("Transmission Control Protocol, Src Port") == \
        len(segments) == 22
    # tshark 4.x prints a bad one as "Checksum: 0x0000 incorrect, should be
    # ..." and older versions as "[incorrect, should be ...]".
    for bad in ("Malformed", "incorrect", "Bad checksum", "Status: Bad",
                "Expert Info (Warning", "Expert Info (Error"):
        assert bad not in text, bad
    assert text.count("[Checksum Status: Good]") == 22
    assert text.count("[Header checksum status: Good]") == 11     # IPv4 only


def test_tshark_decodes_fields_and_options(capture):
    path, segments = capture
    out = tshark("-r", str(path), "-o", "tcp.relative_sequence_numbers:FALSE",
                 "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
                 *[a for f in FIELDS for a in ("-e", f)])
    rows = [dict(zip(FIELDS, line.split("\t")))
            for line in out.splitlines() if line.strip()]
    assert len(rows) == len(segments) == 22
    for i, (row, seg) in enumerate(zip(rows, segments)):
        assert row["frame.number"] == str(i + 1)
        assert (row["ip.version"] or row["ipv6.version"]) == \
            ("4" if i < 11 else "6")
        assert int(row["tcp.flags"], 16) == seg.flags
        assert int(row["tcp.seq"]) == seg.seq
        assert int(row["tcp.ack"]) == seg.ack
        assert int(row["tcp.len"]) == len(seg.payload)
        assert row["tcp.checksum.status"] == "1"                # good
        if i < 11:
            assert row["ip.checksum.status"] == "1"
        tsval, tsecr = seg.options.timestamp
        assert (row["tcp.options.timestamp.tsval"],
                row["tcp.options.timestamp.tsecr"]) == (str(tsval), str(tsecr))
        severities = [int(x) for x in row["_ws.expert.severity"].split(",")
                      if x]
        assert all(sev < PI_WARN for sev in severities), row
        if seg.flags & SYN:
            # Linux order: MSS, SACK-permitted, TS, NOP, WS.
            assert row["tcp.option_kind"] == "2,4,8,1,3"
            assert int(row["tcp.options.mss_val"]) == seg.options.mss
            assert int(row["tcp.options.wscale.shift"]) == seg.options.wscale
        elif seg.options.sack:
            assert row["tcp.option_kind"] == "1,1,8,1,1,5"
            (left, right), = seg.options.sack
            assert (row["tcp.options.sack_le"], row["tcp.options.sack_re"]) \
                == (str(left), str(right))
        else:
            assert row["tcp.option_kind"] == "1,1,8"


def test_tshark_notices_a_bad_checksum(tmp_path):
    # Control: the checks above would see a broken checksum if there was one.
    path = tmp_path / "bad.pcap"
    seg = Segment(1, 2, 3, 4, ACK, 5, payload=b"zzz")
    with PcapWriter(path) as w:
        for src, dst in FLOWS:
            w.write(0, wrap_tcp(src, dst, encode_tcp(seg, src, dst,
                                                     checksum=False)))
    text = tshark("-r", str(path), "-V")
    assert text.count("incorrect") == 2
    assert text.count("Bad checksum") >= 2
    assert text.count("[Checksum Status: Bad]") == 2
