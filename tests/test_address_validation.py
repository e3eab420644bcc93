"""Addresses: validation (RFC 9293 §3.9.1.1, §3.9.2.3; MUST-46, MUST-57, MUST-63)
and the choice of the local address (MUST-43, MUST-44, MUST-45)."""
import pytest

from harness import ACK, LOCAL_PORT, PEER_SYN, PSH, REMOTE_PORT, SYN, Segment, Tcp, cfg
from synack.engine.host import Host, unicast


@pytest.mark.parametrize("dst", ["224.0.0.1", "239.1.2.3", "255.255.255.255"])
def test_syn_to_broadcast_or_multicast_discarded(dst):
    """MUST-57: a SYN addressed to a broadcast or multicast address is silently
    discarded: no connection, no SYN,ACK, no RST -- even with a wildcard listener."""
    t = Tcp()
    t.host.listen(t.now, LOCAL_PORT, "0.0.0.0")
    t.host.receive(0.0, "198.51.100.2", dst, PEER_SYN)
    assert t.host.take_outbox() == [] and t.host.conns == {}
    assert t.stat("drop_bad_address") == 1


def test_segment_to_multicast_gets_no_rst():
    """RFC 9293 §3.9.2.3: the rule applies "to all incoming segments": no RST
    for a segment to a multicast address on a closed port."""
    t = Tcp()
    t.host.receive(0.0, "198.51.100.2", "224.0.0.9", Segment(REMOTE_PORT, LOCAL_PORT, 1, 5, ACK, 100))
    assert t.host.take_outbox() == []


@pytest.mark.parametrize("src", ["224.0.0.5", "255.255.255.255", "0.0.0.0", "ff02::1"])
def test_syn_from_invalid_source_ignored(src):
    """MUST-63: an incoming SYN with an invalid source address is ignored."""
    t = Tcp()
    t.host.listen(t.now, LOCAL_PORT, "0.0.0.0")
    t.host.listen(t.now, LOCAL_PORT, "::")
    dst = "2001:db8::1" if ":" in src else "192.0.2.1"
    t.host.receive(0.0, src, dst, PEER_SYN)
    assert t.host.take_outbox() == [] and t.host.conns == {}


def test_ipv6_multicast_destination_discarded():
    """MUST-57 over IPv6: ff00::/8 is multicast."""
    h = Host(["2001:db8::1"], secret=bytes(32))
    h.listen(0.0, LOCAL_PORT, "::")
    h.receive(0.0, "2001:db8::2", "ff02::1", Segment(REMOTE_PORT, LOCAL_PORT, 7, 0, SYN, 1000))
    assert h.take_outbox() == [] and h.conns == {}


@pytest.mark.parametrize("remote", ["224.0.0.1", "255.255.255.255", "0.0.0.0", "ff02::1"])
def test_open_to_invalid_address_rejected(remote):
    """MUST-46: a local OPEN to a broadcast or multicast address is an error."""
    h = Host(["192.0.2.1", "2001:db8::1"], secret=bytes(32))
    with pytest.raises(OSError):
        h.connect(0.0, remote, 80)
    assert h.take_outbox() == [] and h.conns == {}


def test_unicast_classification():
    """The classification behind the checks."""
    assert unicast("192.0.2.1") and unicast("10.0.0.1") and unicast("2001:db8::5") and unicast("::1")
    assert not unicast("224.0.0.1") and not unicast("255.255.255.255") and not unicast("240.0.0.1")
    assert not unicast("0.0.0.0") and not unicast("::") and not unicast("ff05::2")
    assert not unicast("not-an-address")


def test_open_with_local_address():
    """MUST-43 (RFC 9293 §3.9.1.1): OPEN takes an optional local IP address."""
    h = Host(["192.0.2.1", "192.0.2.7"], secret=bytes(32))
    c = h.connect(0.0, "198.51.100.2", 80, local_ip="192.0.2.7")
    [(src, dst, syn)] = h.take_outbox()
    assert (src, dst, c.local_ip) == ("192.0.2.7", "198.51.100.2", "192.0.2.7")


def test_open_chooses_a_source_address():
    """MUST-44: on a multihomed host without a local address, one is chosen (of
    the remote address's family) before the first SYN."""
    h = Host(["192.0.2.1", "2001:db8::1"], secret=bytes(32))
    c = h.connect(0.0, "2001:db8::2", 80)
    [(src, _, _)] = h.take_outbox()
    assert src == c.local_ip == "2001:db8::1"


def test_all_segments_use_the_connection_local_address():
    """MUST-45: every later segment leaves from the connection's local address
    (a passive child answers from the address the SYN was sent to)."""
    h = Host(["192.0.2.1", "192.0.2.7"], cfg(), secret=bytes(32))      # delayed ACK off
    h.listen(0.0, LOCAL_PORT, "0.0.0.0")
    h.receive(0.0, "198.51.100.2", "192.0.2.7", PEER_SYN)
    [(src, _, synack)] = h.take_outbox()
    assert src == "192.0.2.7"
    h.receive(0.1, "198.51.100.2", "192.0.2.7",
              Segment(REMOTE_PORT, LOCAL_PORT, PEER_SYN.seq + 1, synack.seq + 1, ACK | PSH, 100, payload=b"hi"))
    [(src, _, ack)] = h.take_outbox()
    assert src == "192.0.2.7" and ack.ack == PEER_SYN.seq + 3
