"""The simulated network: virtual time, seeded randomness, scripted faults."""
from .network import Fault, LinkParams, Network, Packet, SimConnection, SimHost, SimListener
from .trace import Record, Trace

__all__ = ["Network", "LinkParams", "Fault", "Packet", "SimHost", "SimListener",
           "SimConnection", "Trace", "Record"]
