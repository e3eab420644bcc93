"""Loopback (all of 127.0.0.0/8) and dual-stack call sequences for
tests/test_dualstack_loopback.py.

Each case `case(sock)` takes a socket module (CPython's `socket`, or
`synack.api.socket` with a stack selected) and returns what happened, in the
form of tests/sockdiff.py's `outcome`. Every case stays on the host itself
(loopback), so the same function runs against the kernel in a fresh network
namespace with only `lo` up, and against each of synack's stacks.

    unshare -n sh -c 'ip link set lo up && python tests/edgecases.py'
        every case on the kernel, as JSON
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sockdiff import outcome  # noqa: E402


def _pair(sock, srv_family, bind, connect_family, connect_to, port, *, v6only=None, cbind=None):
    """Listen, connect, accept; the addresses (no ports: those are the
    kernel's choice) each side sees."""
    srv = sock.socket(srv_family, sock.SOCK_STREAM)
    c = sock.socket(connect_family, sock.SOCK_STREAM)
    try:
        srv.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
        if v6only is not None:
            srv.setsockopt(sock.IPPROTO_IPV6, sock.IPV6_V6ONLY, v6only)
        srv.bind((bind, port))
        srv.listen()
        srv.settimeout(5)
        c.settimeout(5)
        if cbind is not None:
            c.bind((cbind, 0))
        r = outcome(c.connect, (connect_to, port))
        if r[0] == "raise":
            return r
        a, peer = srv.accept()
        with a:
            c.sendall(b"ping")
            got = a.recv(10)
            return ["value", {"client": c.getsockname()[0], "client_peer": c.getpeername()[0],
                              "server_local": a.getsockname()[0], "server_peer": peer[0],
                              "peer_tuple": len(peer), "data": got.decode()}]
    finally:
        c.close()
        srv.close()


# ------------------------------------------------------- 127.0.0.0/8 loopback
def c_lo_connect_127_0_0_2(sock):
    return _pair(sock, sock.AF_INET, "", sock.AF_INET, "127.0.0.2", 7200)


def c_lo_connect_127_1_2_3_listener_bound_there(sock):
    return _pair(sock, sock.AF_INET, "127.1.2.3", sock.AF_INET, "127.1.2.3", 7201)


def c_lo_client_bound_127_0_0_5(sock):
    return _pair(sock, sock.AF_INET, "127.0.0.1", sock.AF_INET, "127.0.0.1", 7202, cbind="127.0.0.5")


def c_lo_listener_on_127_0_0_2_not_on_127_0_0_3(sock):
    srv = sock.socket()
    c = sock.socket()
    try:
        srv.bind(("127.0.0.2", 7203))
        srv.listen()
        c.settimeout(5)
        return outcome(c.connect, ("127.0.0.3", 7203))
    finally:
        c.close()
        srv.close()


def c_lo_refused_127_9_9_9(sock):
    c = sock.socket()
    c.settimeout(5)
    try:
        return outcome(c.connect, ("127.9.9.9", 7209))
    finally:
        c.close()


def c_lo_broadcast_127_255_255_255(sock):
    c = sock.socket()
    c.settimeout(5)
    try:
        return outcome(c.connect, ("127.255.255.255", 7209))
    finally:
        c.close()


def c_lo_bind_127_200_0_1(sock):
    s = sock.socket()
    try:
        s.bind(("127.200.0.1", 0))
        return ["value", s.getsockname()[0]]
    finally:
        s.close()


# ------------------------------------------------------------- dual stack
def c_dual_v4_client_to_v6_any(sock):
    return _pair(sock, sock.AF_INET6, "::", sock.AF_INET, "127.0.0.1", 7210)


def c_dual_v4_client_to_v6_empty_host(sock):
    return _pair(sock, sock.AF_INET6, "", sock.AF_INET, "127.0.0.7", 7211)


def c_dual_v6_client_to_v6_any(sock):
    return _pair(sock, sock.AF_INET6, "::", sock.AF_INET6, "::1", 7212)


def c_dual_v6only_refuses_v4(sock):
    return _pair(sock, sock.AF_INET6, "::", sock.AF_INET, "127.0.0.1", 7213, v6only=1)


def c_dual_v6only_default(sock):
    s = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    try:
        return outcome(s.getsockopt, sock.IPPROTO_IPV6, sock.IPV6_V6ONLY)
    finally:
        s.close()


def c_dual_v6only_after_bind(sock):
    s = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    try:
        s.bind(("::", 0))
        return outcome(s.setsockopt, sock.IPPROTO_IPV6, sock.IPV6_V6ONLY, 1)
    finally:
        s.close()


def c_dual_v6only_on_inet_socket(sock):
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        return outcome(s.setsockopt, sock.IPPROTO_IPV6, sock.IPV6_V6ONLY, 1)
    finally:
        s.close()


def c_dual_then_inet_bind_conflicts(sock):
    a = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        a.bind(("::", 7214))
        a.listen()
        return outcome(b.bind, ("0.0.0.0", 7214))
    finally:
        a.close()
        b.close()


def c_dual_then_inet_loopback_bind_conflicts(sock):
    a = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        a.bind(("::", 7215))
        a.listen()
        return outcome(b.bind, ("127.0.0.1", 7215))
    finally:
        a.close()
        b.close()


def c_inet_then_dual_bind_conflicts(sock):
    a = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    try:
        a.bind(("127.0.0.1", 7216))
        a.listen()
        return outcome(b.bind, ("::", 7216))
    finally:
        a.close()
        b.close()


def c_v6only_and_inet_share_a_port(sock):
    a = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    b = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    try:
        a.setsockopt(sock.IPPROTO_IPV6, sock.IPV6_V6ONLY, 1)
        a.bind(("::", 7217))
        a.listen()
        b.bind(("0.0.0.0", 7217))
        b.listen()
        return ["value", [a.getsockname()[:2], b.getsockname()]]
    finally:
        a.close()
        b.close()


def c_dual_create_server_dualstack(sock):
    srv = sock.create_server(("", 7218), family=sock.AF_INET6, dualstack_ipv6=True)
    try:
        c = sock.create_connection(("127.0.0.1", 7218), timeout=5)
        with c:
            a, peer = srv.accept()
            a.close()
            return ["value", [peer[0], srv.getsockopt(sock.IPPROTO_IPV6, sock.IPV6_V6ONLY)]]
    finally:
        srv.close()


def c_dual_create_server_inet6_is_v6only(sock):
    srv = sock.create_server(("", 7219), family=sock.AF_INET6)
    try:
        c = sock.socket()
        c.settimeout(5)
        with c:
            return ["value", [srv.getsockopt(sock.IPPROTO_IPV6, sock.IPV6_V6ONLY),
                              outcome(c.connect, ("127.0.0.1", 7219))]]
    finally:
        srv.close()


def c_dual_create_server_dualstack_needs_inet6(sock):
    return outcome(lambda: sock.create_server(("", 7220), family=sock.AF_INET, dualstack_ipv6=True))


def c_dual_has_dualstack(sock):
    return ["value", sock.has_dualstack_ipv6()]


def c_dual_connect_to_mapped(sock):
    return _pair(sock, sock.AF_INET, "127.0.0.1", sock.AF_INET6, "::ffff:127.0.0.1", 7221)


def c_dual_v6only_connect_to_mapped(sock):
    srv = sock.socket()
    c = sock.socket(sock.AF_INET6, sock.SOCK_STREAM)
    try:
        srv.bind(("127.0.0.1", 7222))
        srv.listen()
        c.setsockopt(sock.IPPROTO_IPV6, sock.IPV6_V6ONLY, 1)
        c.settimeout(5)
        return outcome(c.connect, ("::ffff:127.0.0.1", 7222))
    finally:
        c.close()
        srv.close()


def c_dual_bind_mapped(sock):
    return _pair(sock, sock.AF_INET6, "::ffff:127.0.0.1", sock.AF_INET, "127.0.0.1", 7223)


CASES = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("c_")}


def run_all(sock) -> dict:
    out = {}
    for name, fn in CASES.items():
        try:
            out[name] = fn(sock)
        except BaseException as e:           # noqa: BLE001 - set-up failed: that is a result too
            out[name] = ["setup-failed", type(e).__name__, getattr(e, "errno", None)]
    return out


if __name__ == "__main__":
    import socket
    print(json.dumps(run_all(socket)))
