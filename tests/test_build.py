"""Which build of synack the suite is running on.

`make test` runs the suite twice: on the pure package, and with
SYNACK_EXPECT_COMPILED=1 on the mypyc build of the hot modules (setup.py,
`make compiled`). These tests make sure each pass really ran on the build it
names, so a compiled run cannot silently fall back to the .py files."""
import os

import synack
from synack._mypyc import COMPILED_MODULES


def test_the_build_is_the_one_expected():
    got = synack.compiled_modules()
    if os.environ.get("SYNACK_EXPECT_COMPILED") == "1":
        assert got == list(COMPILED_MODULES), f"only these are compiled: {got}"
    else:
        assert got == [], f"compiled modules shadow the sources: {got}"
