"""Explaining captures: any TCP pcap/pcapng as connections, states and ladders.

* reader -- pcap and pcapng (via dpkt), link layers, IP; TCP by `synack.wire`;
* track  -- connections by 4-tuple and incarnation, inferred states, annotations;
* report -- the table of connections, and one connection as a ladder.
"""
from .reader import CaptureError, Packet, Stats, read_capture
from .report import analyse, connection, ladder
from .track import Conn, Tracker

__all__ = ["CaptureError", "Packet", "Stats", "read_capture", "analyse", "connection",
           "ladder", "Conn", "Tracker"]
