"""TUN driver, device layer: network namespaces, the TUN device, virtio-net headers.

    from synack.tun import TunDevice
    with TunDevice(mode="fast") as tun:        # namespace "synack", 192.0.2.1 <-> 192.0.2.2
        for hdr, pkt in tun.recv(64):
            ...

Linux only; needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN).  See docs/tun.md.
"""
from .device import (FAST, KERNEL_V4, KERNEL_V6, LOCAL_V4, LOCAL_V6, PLAIN,
                     TunDevice)
from .netns import (Namespace, install_cleanup_handlers, list_netns, netns_exists,
                    netns_socket, reap_stale, require_privileges, run_in_netns,
                    unique_name)
from .vnet import VnetHeader

__all__ = [
    "TunDevice", "PLAIN", "FAST", "KERNEL_V4", "KERNEL_V6", "LOCAL_V4", "LOCAL_V6",
    "Namespace", "run_in_netns", "netns_socket", "unique_name", "list_netns",
    "netns_exists", "reap_stale", "require_privileges", "install_cleanup_handlers",
    "VnetHeader",
]
