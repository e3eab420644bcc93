"""Shared pytest fixtures. The per-state TCP fixtures come from tests/harness.py
(smoltcp-style: a bare Host, pinned ISN, a fixed remote endpoint)."""
import pytest

from harness import Tcp


@pytest.fixture(autouse=True)
def _harness_saw_everything():
    """The strict harness: a segment a test never looked at fails it."""
    Tcp.live = []
    yield
    Tcp.check_all_seen()


@pytest.fixture
def listen():
    return Tcp.listen()


@pytest.fixture
def syn_sent():
    return Tcp.syn_sent()


@pytest.fixture
def syn_received():
    """Passive open: reached from LISTEN."""
    return Tcp.syn_received()


@pytest.fixture
def syn_received_active():
    """Simultaneous open: reached from SYN-SENT."""
    return Tcp.syn_received_active()


@pytest.fixture
def established():
    return Tcp.established()


@pytest.fixture
def established_passive():
    return Tcp.established_passive()


@pytest.fixture
def fin_wait_1():
    return Tcp.fin_wait_1()


@pytest.fixture
def fin_wait_2():
    return Tcp.fin_wait_2()


@pytest.fixture
def close_wait():
    return Tcp.close_wait()


@pytest.fixture
def closing():
    return Tcp.closing()


@pytest.fixture
def last_ack():
    return Tcp.last_ack()


@pytest.fixture
def time_wait():
    return Tcp.time_wait()


@pytest.fixture
def sealed_network():
    """No real AF_INET/AF_INET6 socket during the test (tests/sealing.py):
    for the tests of the simulated APIs, which must never touch the network."""
    import sealing
    with sealing.sealed():
        yield
