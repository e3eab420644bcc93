"""`synack bench`'s table: drawn with rich on a terminal, plain text into a
pipe or a file (issue 12)."""
from __future__ import annotations

import io
import os
import subprocess
import sys

from synack.tun import bench

RES = {"machine": {"cpus": 2, "python": "3.11", "kernel": "6"}, "mode": "fast",
       "bulk_in_MBps": 1200.0, "kernel_bulk_MBps": 3000.0, "bulk_out_MBps": 900.0,
       "kernel_bulk_out_MBps": 3100.0, "conn_per_s": 7000, "kernel_conn_per_s": 25000,
       "idle_conn_bytes": 2000, "kernel_idle_conn_bytes": 3800, "sim_lifecycles_per_cpu_s": 6000,
       "sim": {"completed": 10, "lifecycles": 10}}
RES["targets"] = {k: {"met": bench._met(RES[k], *v)} for k, v in bench.TARGETS.items()}


def test_a_pipe_gets_the_plain_table():
    out = io.StringIO()                   # isatty() is False
    bench.write_table(RES, out)
    text = out.getvalue()
    assert text == bench.format_table(RES)
    assert "\x1b" not in text and "MISSED" in text and "1,200" in text


def _through_a_terminal(fn) -> str:
    """What `fn(stream)` writes to a real pseudo-terminal."""
    master, slave = os.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        assert stream.isatty()
        fn(stream)
        stream.flush()
    finally:
        stream.close()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:                     # EIO: the other side is closed and drained
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_a_rich_table():
    text = _through_a_terminal(lambda s: bench.write_table(RES, s))
    assert "\x1b[" in text                                  # styled
    assert "┃" in text or "│" in text                       # a drawn table, not dashes
    assert "MISSED" in text and "1,200" in text and "simulator lifecycles / CPU-s" in text
    assert "mode fast" in text                              # the notes follow the table


def test_the_command_into_a_pipe_has_no_escape_codes():
    r = subprocess.run([sys.executable, "-m", "synack", "bench", "--only", "sim", "--sim", "200"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["measure", "synack", "kernel", "target"]
    assert set(lines[1]) == {"-"} and lines[2].startswith("simulator lifecycles / CPU-s")
