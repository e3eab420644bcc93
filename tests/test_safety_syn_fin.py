"""SYN+FIN to a listener (issue 17, part 4): dropped, counted, no half-open
connection and no reply, as Linux does. The last test checks Linux itself,
in a throwaway network namespace (root)."""
from __future__ import annotations

import os
import select
import socket
import time

import pytest
from harness import ACK, FIN, PEER_SYN, PSH, SYN, Tcp

from synack.engine.segment import RST, Options, Segment


@pytest.mark.parametrize("cookies", ["off", "when-full", "always"])
def test_syn_fin_to_listener_is_dropped(cookies):
    t = Tcp.listen(syn_cookies=cookies)
    assert t.send(PEER_SYN._replace(flags=SYN | FIN)) == []
    assert t.send(PEER_SYN._replace(flags=SYN | FIN | PSH, payload=b"GET /")) == []
    assert t.stat("drop_syn_fin_in_listen") == 2
    assert not t.listener.syn_queue and not t.host.conns
    # a plain SYN afterwards is answered as usual
    [synack] = t.send(PEER_SYN)
    assert synack.flags == SYN | ACK


def test_syn_fin_ack_to_listener_gets_the_rst_of_any_ack():
    """With ACK set it is an ACK to a listener first (RFC 9293 §3.10.7.2,
    second check): <SEQ=SEG.ACK><CTL=RST>, as Linux answers too."""
    t = Tcp.listen()
    [rst] = t.send(PEER_SYN._replace(flags=SYN | FIN | ACK, ack=12345))
    assert rst.flags == RST and rst.seq == 12345


def _linux_replies(flags: int) -> list[int]:
    """Send one segment with `flags` to a Linux listener on 127.0.0.1 inside
    a new network namespace; return the flags of every TCP segment the
    kernel sends back within 0.5 s."""
    from synack.tun.netns import Namespace
    from synack.wire import decode_ip, encode_ip

    ns = Namespace(f"sx-safe-synfin-{os.getpid()}")
    with ns:
        lst = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw_in = ns.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        raw_out = ns.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            lst.bind(("127.0.0.1", 0))
            lst.listen(8)
            port = lst.getsockname()[1]
            seg = Segment(40000, port, 1000, 0, flags, 65535, 0, Options(mss=1460))
            raw_out.sendto(encode_ip("127.0.0.1", "127.0.0.1", seg), ("127.0.0.1", 0))
            got = []
            end = time.monotonic() + 0.5
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([raw_in], [], [], left)
                if not r:
                    break
                _, _, s = decode_ip(raw_in.recv(65535), verify_checksum=False)  # lo: checksum offloaded
                if s.src_port == port and s.dst_port == 40000:
                    got.append(s.flags)
            return got
        finally:
            lst.close()
            raw_in.close()
            raw_out.close()


@pytest.mark.netns
def test_linux_drops_syn_fin_too():
    """The reference: the kernel answers a SYN with a SYN,ACK and a SYN+FIN
    with nothing; synack the same (above)."""
    if os.geteuid() != 0:
        pytest.fail("needs root to make a network namespace (deselect with -m 'not netns')",
                    pytrace=False)
    assert _linux_replies(SYN) == [SYN | ACK]
    assert _linux_replies(SYN | FIN) == []
    assert [s.flags for s in Tcp.listen().send(PEER_SYN)] == [SYN | ACK]
    assert Tcp.listen().send(PEER_SYN._replace(flags=SYN | FIN)) == []

