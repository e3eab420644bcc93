"""The wire layer: `Segment` values to and from IP packets and TCP octets.

* checksum -- the Internet checksum (RFC 1071) and pseudo-headers;
* tcp      -- TCP header and options (RFC 9293 §3.1-3.2, RFC 7323, RFC 2018);
* ip       -- IPv4 (RFC 791) and IPv6 (RFC 8200) framing.

Every rejection is a `WireError` whose `.reason` is a short identifier.
"""
from .checksum import checksum, ones_sum
from .ip import (BadIpChecksum, MalformedPacket, NotTcp, address_family,
                 decode_ip, encode_ip, unwrap_ip, wrap_tcp)
from .tcp import (BadChecksum, MalformedSegment, WireError, decode_tcp,
                  encode_tcp)

__all__ = ["encode_tcp", "decode_tcp", "encode_ip", "decode_ip", "wrap_tcp",
           "unwrap_ip", "address_family", "WireError", "MalformedSegment",
           "MalformedPacket", "BadChecksum", "BadIpChecksum", "NotTcp",
           "checksum", "ones_sum"]
