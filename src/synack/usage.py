"""What the command line checks before anything runs, and how it says no.

A user's mistake ends in one line on standard error,

    synack: error: argument --loss: a probability between 0 and 1, not 2

and exit status 2 (the command was used wrongly) or 1 (it was right but
failed at run time: a refused connection, a file that cannot be written).
`UserError` carries that line and status; `synack.cli.main` prints it.
`ArgumentParser` makes argparse's own complaints that same single line, and
the `*_arg` functions are the option types: each checks a type and a range
and names what it wants, never an internal function name.
"""
from __future__ import annotations

import argparse
import ipaddress
import math
import os
import re
import sys

__all__ = ["UserError", "ArgumentParser", "probability_arg", "seconds_arg", "port_arg",
           "int_arg", "float_arg", "size_arg", "ipv4_interface_arg", "ipv6_interface_arg",
           "ipv4_arg", "ipv6_arg", "ifname_arg", "netns_arg", "check_writable", "report"]

USAGE = 2       #: the command was used wrongly
FAILURE = 1     #: the command was right but could not do its work


class UserError(SystemExit):
    """A mistake of the user's, or a failure the user can act on: one line.

    A SystemExit, so that an entry point other than `synack.cli.main` (such
    as `python -m synack.tun.commands`) still ends with the line and no
    traceback; `synack.cli.main` prints it and exits with `status`."""

    def __init__(self, message: str, status: int = USAGE):
        super().__init__(message)
        self.status = status
        self.code = f"synack: error: {message}"

    def __str__(self) -> str:
        return str(self.args[0])


def report(message: str) -> None:
    """Print the one error line (without a second newline or prefix twice)."""
    message = " ".join(str(message).split())
    if message.startswith("synack: error: "):
        message = message[len("synack: error: "):]
    print(f"synack: error: {message}", file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is a `UserError` of one line that says
    where the help is, instead of the usage block and SystemExit."""

    def error(self, message: str):                     # type: ignore[override]
        raise UserError(f"{message} (see `{self.prog} --help`)", USAGE)


# ------------------------------------------------------------------ option types
def _number(text: str, conv, what: str):
    try:
        v = conv(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}") from None
    if isinstance(v, float) and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}")
    return v


def float_arg(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
              what: str = "a number"):
    """A float in [lo, hi] (lo excluded when lo_open)."""
    def parse(text: str) -> float:
        v = _number(text, float, what)
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"wants {what}, not {text}")
        return v
    parse.__name__ = what
    return parse


def int_arg(lo: int | None = None, hi: int | None = None, *, what: str | None = None):
    """An integer in [lo, hi]."""
    if what is None:
        if lo is not None and hi is not None:
            what = f"an integer from {lo} to {hi}"
        elif lo is not None:
            what = f"an integer of at least {lo}"
        else:
            what = "an integer"

    def parse(text: str) -> int:
        v = _number(text, int, what)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"wants {what}, not {text}")
        return v
    parse.__name__ = what
    return parse


probability_arg = float_arg(0.0, 1.0, what="a probability from 0 to 1 (0.05 is 5%)")


def seconds_arg(positive: bool = False):
    """A duration in seconds: >= 0, or > 0 when `positive`."""
    if positive:
        return float_arg(0.0, lo_open=True, what="a number of seconds greater than 0")
    return float_arg(0.0, what="a number of seconds, 0 or more")


port_arg = int_arg(1, 65535, what="a port number from 1 to 65535")


def size_arg(text: str) -> int:
    """'1500', '64k', '100MB', '1GiB' -> octets (at least 1)."""
    from .tun.services import parse_size
    try:
        v = parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"wants a size such as 1500, 64k, 100MB or 1GiB, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"wants a size of at least one octet, not {text!r}")
    return v


def _interface(version: int):
    what = "an IPv4 address with a prefix length, such as 192.0.2.1/24" if version == 4 else \
        "an IPv6 address with a prefix length, such as 2001:db8::1/64"

    def parse(text: str) -> str:
        try:
            itf = ipaddress.ip_interface(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}") from None
        if itf.version != version or "/" not in text:
            raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}")
        if itf.ip == itf.network.network_address and itf.network.num_addresses > 2:
            raise argparse.ArgumentTypeError(f"{text} is the network's own address; "
                                             f"wants {what}")
        return text
    parse.__name__ = what
    return parse


def _address(version: int):
    what = "an IPv4 address such as 192.0.2.2" if version == 4 else \
        "an IPv6 address such as 2001:db8::2"

    def parse(text: str) -> str:
        try:
            a = ipaddress.ip_address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}") from None
        if a.version != version:
            raise argparse.ArgumentTypeError(f"wants {what}, not {text!r}")
        return text
    parse.__name__ = what
    return parse


ipv4_interface_arg = _interface(4)
ipv6_interface_arg = _interface(6)
ipv4_arg = _address(4)
ipv6_arg = _address(6)

#: Linux's IFNAMSIZ is 16 with the terminating NUL; '/', ':' and white space
#: are refused by the kernel's dev_valid_name()
_IFNAME = re.compile(r"[^/:\s]{1,15}")


def ifname_arg(text: str) -> str:
    if not _IFNAME.fullmatch(text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(
            f"wants a Linux interface name: 1 to 15 characters, no '/', ':' or spaces, "
            f"not {text!r}")
    return text


_NETNS = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def netns_arg(text: str) -> str:
    """A namespace name becomes a file under /run/netns: one path component."""
    if not _NETNS.fullmatch(text) or text in (".", ".."):
        raise argparse.ArgumentTypeError(
            f"wants a namespace name of letters, digits, '.', '_' or '-' (a file name under "
            f"/run/netns), not {text!r}")
    return text


# ------------------------------------------------------------------------- files
def check_writable(path: str | None, option: str) -> None:
    """Refuse, before any work is done, an output file that cannot be created."""
    if not path or path == "-":
        return
    if os.path.isdir(path):
        raise UserError(f"{option} {path}: is a directory; give a file name", USAGE)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UserError(f"{option} {path}: the directory {parent} does not exist", USAGE)
    if os.path.exists(path):
        if not os.path.isfile(path) and not path.startswith("/dev/"):
            raise UserError(f"{option} {path}: not a regular file", USAGE)
        if path.startswith(("/proc/", "/sys/")):
            raise UserError(f"{option} {path}: not a file synack can write", USAGE)
        if not os.access(path, os.W_OK):
            raise UserError(f"{option} {path}: no permission to write it", USAGE)
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: no permission to create a file in {parent}", USAGE)
