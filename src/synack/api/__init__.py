"""Programmer-facing APIs over the synack engine, the same on the simulator
and in real time.

* `synack.api.socket`  -- a drop-in for the `socket` module (blocking, timeouts,
  non-blocking; the standard exceptions and errnos);
* `synack.api.streams` -- a drop-in for the `asyncio` module (`open_connection`,
  `start_server`, transports and servers; virtual time on the simulator);
* `synack.api.ss`      -- the connection table, like ``ss -tano``;
* stacks (`SimStack`, `RealtimeStack`) -- a host plus the way time passes.

    from synack.api import SimStack, set_default_stack, socket

    client, server = SimStack.pair(delay=0.01)
    set_default_stack(client)
    s = socket.socket()          # on `client`; or server.socket(), or stack=...

See docs/api.md.
"""
from . import socket, ss, streams
from .stack import (Deadlock, DevicePacketIO, NotInSimulation, PacketIO, QueuePacketIO, RealtimeStack,
                    SimEventLoop, SimStack, Stack, current_stack, get_default_stack,
                    loopback_pair, set_default_stack, using)

__all__ = [
    "socket", "streams", "ss",
    "Stack", "SimStack", "RealtimeStack", "SimEventLoop", "Deadlock", "NotInSimulation",
    "PacketIO", "QueuePacketIO", "DevicePacketIO", "loopback_pair",
    "set_default_stack", "get_default_stack", "current_stack", "using",
]
