"""Script openings shared by the packetdrill runner tests."""

#: a listener accepts one connection (peer MSS 1000, window 6000)
SERVER = """\
    0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0    bind(3, ..., ...) = 0
    +0    listen(3, 1) = 0
    +0    < S 0:0(0) win 6000 <mss 1000>
    +0    > S. 0:0(0) ack 1 <mss 1460>
    +.1   < . 1:1(0) ack 1 win 6000
    +0    accept(3, ..., ...) = 4
"""

#: the same with window scaling both ways (peer shift 7, ours 8), window 511 << 7
SERVER_WSCALE = """\
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
    +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>
    +.1 < . 1:1(0) ack 1 win 511
    +0 accept(3, ..., ...) = 4
"""
