"""ISN selection (RFC 9293 §3.4.1; MUST-8, MUST-9, SHLD-1, RFC 6528) and what the
host does with raw packets it cannot trust (MUST-3, MUST-7)."""
from harness import ACK, LOCAL_IP, PEER_SYN, REMOTE_IP, SYN, Tcp
from synack.engine.host import Host
from synack.engine.isn import IsnGenerator
from synack.wire import encode_ip

KEY = ("192.0.2.1", 40000, "198.51.100.2", 80)


def test_isn_clock_driven():
    """MUST-8: the ISN follows a clock that ticks every 4 microseconds
    (250 000 per second), for a fixed 4-tuple."""
    g = IsnGenerator(bytes(32))
    a, b = g(10.0, *KEY), g(11.0, *KEY)
    assert (b - a) % 2**32 == 250_000
    assert (g(10.000004, *KEY) - a) % 2**32 == 1


def test_isn_keyed_per_connection():
    """SHLD-1 (RFC 6528): ISN = M + F(4-tuple, secret): different 4-tuples get
    unrelated offsets at the same instant."""
    g = IsnGenerator(bytes(32))
    other = ("192.0.2.1", 40001, "198.51.100.2", 80)
    assert g(5.0, *KEY) != g(5.0, *other)


def test_isn_not_computable_without_the_secret():
    """MUST-9: F() depends on a per-host secret: two hosts with different secrets
    choose different ISNs for the same 4-tuple and time."""
    assert IsnGenerator(b"\x01" * 32)(5.0, *KEY) != IsnGenerator(b"\x02" * 32)(5.0, *KEY)


def test_isn_used_by_host_connect():
    """RFC 9293 §3.10.1: OPEN selects an ISS from the generator."""
    h = Host(["192.0.2.1"], secret=bytes(32))
    c = h.connect(3.0, "198.51.100.2", 80, local_port=40000)
    assert c.iss == IsnGenerator(bytes(32))(3.0, *KEY)


def test_receive_packet_bad_checksum_dropped():
    """MUST-3 (RFC 9293 §3.1): the receiver verifies the checksum; a bad one is a
    counted drop, with no reply and no state."""
    t = Tcp.listen()
    raw = bytearray(encode_ip(REMOTE_IP, LOCAL_IP, PEER_SYN))
    raw[20 + 16] ^= 0xFF                 # the TCP checksum field
    t.host.receive_packet(0.0, bytes(raw))
    assert t.take() == [] and t.host.conns == {}
    assert sum(n for k, n in t.host.stats.items() if "checksum" in k) == 1


def test_receive_packet_good_checksum_accepted():
    """MUST-2/MUST-3 round trip: a correctly encoded SYN is handled as usual."""
    t = Tcp.listen()
    t.host.receive_packet(0.0, encode_ip(REMOTE_IP, LOCAL_IP, PEER_SYN))
    [synack] = t.take()
    assert synack.flags == SYN | ACK


def test_receive_packet_illegal_option_length_dropped():
    """MUST-7 (RFC 9293 §3.1): an option with an illegal length (0) is coped
    with: the segment is dropped and counted, nothing raises."""
    t = Tcp.listen()
    raw = bytearray(encode_ip(REMOTE_IP, LOCAL_IP, PEER_SYN))
    # the MSS option starts right after the 20-octet IP and 20-octet TCP headers
    assert raw[40] == 2
    raw[41] = 0
    t.host.receive_packet(0.0, bytes(raw))
    assert t.take() == [] and t.host.conns == {}
