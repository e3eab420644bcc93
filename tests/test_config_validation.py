"""Engine settings are checked when a Config is made (issue 12): a wrong type
or a value out of range is one ValueError/TypeError naming the field, not a
failure deep inside a connection later."""
import pytest

import synack

from synack.engine.config import PROFILES, Config, linux_profile, rfc_profile


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_profiles_are_valid(name):
    PROFILES[name]().validate()


@pytest.mark.parametrize("field,value,exc", [
    ("psh", "bogus", ValueError),
    ("psh", None, ValueError),
    ("syn_cookies", "maybe", ValueError),
    ("syn_cookies", True, ValueError),
    ("hystart", "yes", ValueError),
    ("mss", "abc", TypeError),
    ("mss", 10, ValueError),
    ("mss", 1460.0, TypeError),
    ("mtu", 100, ValueError),
    ("mtu", 70000, ValueError),
    ("rcvbuf", 0, ValueError),
    ("sndbuf", -1, ValueError),
    ("msl", 0, ValueError),
    ("msl", -5.0, ValueError),
    ("msl", float("nan"), ValueError),
    ("msl", "30", TypeError),
    ("rto_min", 0.0, ValueError),
    ("rto_initial", -1.0, ValueError),
    ("syn_retries", -1, ValueError),
    ("r2", 1.5, TypeError),
    ("delayed_ack_timeout", 0.6, ValueError),       # MUST-40: at most 0.5 s
    ("delayed_ack", "yes", TypeError),
    ("nagle", 1, TypeError),
    ("keepalive_probes", 0, ValueError),
    ("keepalive_idle", -1.0, ValueError),
    ("initial_window", 0, ValueError),
    ("user_timeout", -1.0, ValueError),
    ("ephemeral_ports", (60999, 32768), ValueError),
    ("ephemeral_ports", (0, 10), ValueError),
    ("congestion_control", "", TypeError),
    ("zero_window_probe", "octets", ValueError),
    ("invalid_ratelimit", -0.5, ValueError),
    ("challenge_ack_limit", -1, ValueError),
    ("tso_segs", 0, ValueError),
    ("sndbuf_min", 0, ValueError),
    ("rack", 1, TypeError),
])
def test_bad_setting_is_refused(field, value, exc):
    if "engine.config" in synack.compiled_modules():
        # the compiled Config checks each field's type itself, before __post_init__,
        # with mypyc's own words ("int object expected; got str")
        exc, match = (TypeError, ValueError), None
    else:
        match = f"Config.{field}"
    with pytest.raises(exc, match=match):
        Config(**{field: value})
    with pytest.raises(exc, match=match):
        linux_profile().replace(**{field: value})


def test_rto_min_above_rto_max():
    with pytest.raises(ValueError, match="rto_min"):
        rfc_profile().replace(rto_min=100.0, rto_max=60.0)


@pytest.mark.parametrize("field,value", [
    ("psh", "linux"), ("syn_cookies", "always"), ("syn_cookies", "off"), ("hystart", "rfc9406"),
    ("mss", None), ("mss", 536), ("msl", 0.5), ("user_timeout", None), ("initial_window", 10),
    ("fin_wait_2_timeout", None), ("delayed_ack_timeout", 0.5), ("ephemeral_ports", (1024, 1024)),
])
def test_good_setting_is_kept(field, value):
    assert getattr(Config(**{field: value}), field) == value


def test_every_setting_is_checked():
    """Config.validate names every field: a setting added later cannot slip
    past the checks (each must be refused with a wrong type)."""
    import dataclasses
    for f in dataclasses.fields(Config):
        bad = object()
        with pytest.raises((TypeError, ValueError)):
            Config(**{f.name: bad})
