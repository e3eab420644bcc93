"""Docs that run (issue 12): every command and Python sample in README.md and
docs/*.md is executed, so a doc cannot drift from the code.

What is extracted, from every Markdown file in the repository's root and in
docs/ (files added later are picked up by the glob):

* ```sh / ```bash / ```shell blocks: each line is a command, run by bash
  from a scratch copy of the repository that sits next to a `shared`
  folder, as a fresh clone would; `.venv/bin` comes first on PATH.
* ```console blocks, and untyped blocks whose lines start with `$ `: the
  lines after `$ ` are commands; the rest is output and is not compared.
* ```python blocks: each block is one program, run by the project's Python.

A command must exit 0 and print no traceback. Markers, written in a comment
in the doc itself so that a reader sees them too:

* `[not run: REASON]` on a command line: that command is not run (it needs
  root and a TUN device, a browser, a GUI, or it is this very test suite).
  As the first line of a Python block: the block is not run (for example an
  outline of an interface, not a program).
* `[exit N: REASON]` or `[exit 0 or 1: REASON]` on a command line: the
  command is run and must end with that status.

A marker without a reason is a failure; a block without a marker runs.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DOCS = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```+)([^\n`]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"\[not run:\s*([^\]]*)\]")
EXIT = re.compile(r"\[exit ([0-9]+(?: or [0-9]+)*):\s*([^\]]*)\]")
SHELL_LANGS = {"sh", "bash", "shell"}
PY_LANGS = {"python", "py", "python3"}


def _blocks():
    """(id, kind, text, line) for every runnable block."""
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        rel = doc.relative_to(ROOT)
        for m in FENCE.finditer(text):
            lang = m.group(2).strip().split()[0].lower() if m.group(2).strip() else ""
            body = m.group(3)
            line = text[:m.start()].count("\n") + 1
            if lang in PY_LANGS:
                out.append((f"{rel}:{line}", "python", body, line))
            elif lang in SHELL_LANGS:
                cmds = [ln for ln in _join_continuations(body) if ln.strip() and
                        not ln.lstrip().startswith("#")]
                out.append((f"{rel}:{line}", "shell", cmds, line))
            elif lang == "console" or (lang == "" and
                                       any(ln.startswith("$ ") for ln in body.splitlines())):
                cmds = [ln[2:] for ln in _join_continuations(body) if ln.startswith("$ ")]
                out.append((f"{rel}:{line}", "shell", cmds, line))
    return out


def _join_continuations(body: str) -> list[str]:
    lines: list[str] = []
    for ln in body.splitlines():
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + ln.strip()
        else:
            lines.append(ln)
    return lines


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A scratch 'fresh clone': <tmp>/synack holds links to the repository's
    files (so outputs the docs write land in <tmp>), <tmp>/shared the data."""
    base = tmp_path_factory.mktemp("sx-edge-docs")
    repo = base / "synack"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if entry.name in (".git", "__pycache__", ".pytest_cache"):
            continue
        (repo / entry.name).symlink_to(entry)
    if SHARED.is_dir():
        (base / "shared").symlink_to(SHARED)
    return repo


def _env(repo: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT / "src")
    env.pop("SYNACK_PACKETDRILL_DIR", None)
    env["COLUMNS"] = "100"
    return env


def test_docs_are_found():
    names = {str(d.relative_to(ROOT)) for d in DOCS}
    assert "README.md" in names and "docs/api.md" in names
    assert sum(1 for b in BLOCKS if b[1] == "python") >= 10
    assert sum(len(b[2]) for b in BLOCKS if b[1] == "shell") >= 15


def test_markers_give_a_reason():
    for bid, kind, body, _ in BLOCKS:
        lines = body if kind == "shell" else body.splitlines()[:1]
        for ln in lines:
            for m in NOT_RUN.finditer(ln):
                assert m.group(1).strip(), f"{bid}: [not run: ...] without a reason: {ln!r}"
            for m in EXIT.finditer(ln):
                assert m.group(2).strip(), f"{bid}: [exit N: ...] without a reason: {ln!r}"


def _run(cmd, repo: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=repo, env=_env(repo), capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("bid,kind,body,line", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_runs(bid, kind, body, line, clone):
    if kind == "python":
        first = body.splitlines()[0] if body.strip() else ""
        m = NOT_RUN.search(first)
        if m:
            print(f"{bid}: not run: {m.group(1)}")
            return
        p = _run([sys.executable, "-c", body], clone)
        assert "Traceback" not in p.stderr and p.returncode == 0, \
            f"{bid}: the Python block failed (status {p.returncode}):\n{p.stderr[-3000:]}"
        return
    ran = 0
    for cmd in body:
        m = NOT_RUN.search(cmd)
        if m:
            print(f"{bid}: not run: {cmd.strip()}")
            continue
        want = {0}
        e = EXIT.search(cmd)
        if e:
            want = {int(x) for x in e.group(1).split(" or ")}
        p = _run(["bash", "-o", "pipefail", "-c", cmd], clone)
        ran += 1
        assert "Traceback" not in p.stderr + p.stdout, f"{bid}: `{cmd}`:\n{p.stderr[-3000:]}"
        assert p.returncode in want, (f"{bid}: `{cmd}` exited {p.returncode}, expected "
                                      f"{sorted(want)}:\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
