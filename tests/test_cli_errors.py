"""A user's mistake ends in one line, never a traceback (issue 12).

Each row is a bad invocation of `python -m synack ...` run as a subprocess:
the exit status (2: the command was used wrongly; 1: it failed at run time),
exactly one line on standard error, `synack: error: ...`, with the words the
user needs, and no "Traceback" anywhere.

Network safety: no row sends a packet anywhere but inside a namespace this
file creates (prefix sx-edge-), with its own addresses (10.77.0.0/24); every
row that names the default kernel address is refused by validation before
any device exists.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKT = ROOT.parent / "shared" / "conformance" / "packetdrill" / "tcp" / "close" / "close-on-syn-sent.pkt"
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]

#: (arguments, status, words the line must contain); "{tmp}" is a scratch directory,
#: "{bin}" a binary file, "{pkt}" a real packetdrill script, "{empty}" an empty directory
CASES = [
    # output files, refused before anything runs
    ("run lost-syn -o /nonexistent/x.txt", 2, ["-o /nonexistent/x.txt", "does not exist"]),
    ("run lost-syn --pcap /nonexistent/x.pcap", 2, ["--pcap", "does not exist"]),
    ("run lost-syn --plot /nonexistent/p.png", 2, ["--plot", "does not exist"]),
    ("run lost-syn --pcap /proc/version", 2, ["--pcap /proc/version"]),
    ("run lost-syn -o {tmp}", 2, ["is a directory"]),
    ("run lost-syn --plot {tmp}/p.txt", 2, [".png", ".svg"]),
    ("demo --pcap {tmp}", 2, ["is a directory"]),
    ("states -o /nonexistent/s.txt", 2, ["does not exist"]),
    # scenario options: a type and a range each
    ("run handshake --delay -1", 2, ["--delay", "-1"]),
    ("run handshake --delay nan", 2, ["--delay"]),
    ("run handshake --loss -0.5", 2, ["--loss", "probability"]),
    ("run handshake --loss 2", 2, ["--loss", "probability"]),
    ("run handshake --loss abc", 2, ["--loss", "'abc'"]),
    ("run handshake --msl 0", 2, ["--msl", "greater than 0"]),
    ("run handshake --msl -5", 2, ["--msl"]),
    ("run handshake --seed -1", 2, ["--seed", "at least 0"]),
    ("run handshake --seed 1.5", 2, ["--seed"]),
    ("run handshake --format foo", 2, ["--format", "text"]),
    ("run nosuch", 2, ["no scenario 'nosuch'", "synack scenarios"]),
    ("run", 2, ["NAME"]),
    ("nosuchcommand", 2, ["nosuchcommand", "demo"]),
    ("scenarios --format yaml", 2, ["--format"]),
    # serve: ports, addresses, names, all before any device is made
    ("serve --tun --http-port 70000", 2, ["--http-port", "1 to 65535"]),
    ("serve --tun --http-port 0", 2, ["--http-port", "1 to 65535"]),
    ("serve --tun --echo-port 8080", 2, ["8080", "echo", "http"]),
    ("serve --tun --local-v4 192.0.2.1", 2, ["--local-v4", "kernel side's own address"]),
    ("serve --tun --local-v4 10.9.9.9", 2, ["--local-v4", "outside"]),
    ("serve --tun --local-v6 2001:db8::1", 2, ["--local-v6", "own address"]),
    ("serve --tun --duration -1", 2, ["--duration"]),
    ("serve --tun --stats -1", 2, ["--stats"]),
    ("serve --tun --kernel-v4 300.1.1.1/24", 2, ["--kernel-v4", "300.1.1.1/24"]),
    ("serve --tun --kernel-v4 2001:db8::1/64", 2, ["--kernel-v4", "IPv4"]),
    ("serve --tun --kernel-v6 10.0.0.1/24", 2, ["--kernel-v6", "IPv6"]),
    ("serve --tun --ifname thisnameiswaytoolongforlinux", 2, ["--ifname", "15 characters"]),
    ("serve --tun --netns bad/name", 2, ["--netns", "bad/name"]),
    ("serve --tun --services echo,nosuch", 2, ["nosuch", "known"]),
    ("serve --tun --backlog 0", 2, ["--backlog"]),
    ("serve --tun --root /nonexistent", 2, ["--root", "not a directory"]),
    # connect
    ("connect --tun download --server nohost", 2, ["--server", "'nohost'"]),
    ("connect --tun download --server 10.1.1.1:99999", 2, ["--server"]),
    ("connect --tun download --server 192.0.2.1", 2, ["--server"]),
    ("connect --tun download --url http://nohost/", 2, ["--url", "IP address"]),
    ("connect --tun download --url ftp://10.0.0.1/", 2, ["--url"]),
    ("connect --tun upload --url http://10.0.0.1/", 2, ["--url", "download"]),
    ("connect --tun download --size xyz", 2, ["--size", "'xyz'"]),
    ("connect --tun download --size 0", 2, ["--size"]),
    ("connect --tun download --port 0", 2, ["--port"]),
    ("connect --tun frobnicate", 2, ["frobnicate", "download"]),
    # ss and bench
    ("ss --watch 0", 2, ["--watch"]),
    ("ss --netns bad/name", 2, ["--netns"]),
    ("ss --netns sx-edge-nothing-here", 1, ["no synack is serving", "synack serve --tun"]),
    ("bench --only foo", 2, ["--only", "bulk"]),
    ("bench --repeat 0", 2, ["--repeat"]),
    ("bench --bytes 12zz", 2, ["--bytes"]),
    ("bench --sim 100 -o /nonexistent/b.json", 2, ["does not exist"]),
    # packetdrill: usage errors are usage errors, not failed tests
    ("packetdrill nosuch.pkt", 2, ["nosuch.pkt", "no such file"]),
    ("packetdrill {bin}", 2, ["binary"]),
    ("packetdrill {empty}", 2, ["without .pkt"]),
    ("packetdrill", 2, ["no scripts", "--target"]),
    ("packetdrill --set mss=abc {pkt}", 2, ["--set", "mss"]),
    ("packetdrill --set mss=-3 {pkt}", 2, ["--set", "mss"]),
    ("packetdrill --set nosuch=1 {pkt}", 2, ["nosuch"]),
    ("packetdrill --set psh=bogus {pkt}", 2, ["psh", "'bogus'"]),
    ("packetdrill --set syn_cookies=maybe {pkt}", 2, ["syn_cookies"]),
    ("packetdrill --set mss {pkt}", 2, ["FIELD=VALUE"]),
    ("packetdrill --tolerance_usecs -5 {pkt}", 2, ["--tolerance_usecs"]),
    ("packetdrill --tolerance_percent 200 {pkt}", 2, ["--tolerance_percent"]),
    ("packetdrill --profile foo {pkt}", 2, ["--profile", "linux"]),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    d = tmp_path_factory.mktemp("sx-edge-cli")
    (d / "empty").mkdir()
    (d / "bin.pkt").write_bytes(bytes(range(256)) * 8)
    os.chmod(d, 0o755)
    return d


def run_synack(args: list[str], prefix: list[str] | None = None, env: dict | None = None,
               timeout: float = 120):
    full_env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), COLUMNS="100")
    full_env.update(env or {})
    return subprocess.run([*(prefix or []), sys.executable, "-m", "synack", *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd="/tmp")


def check_one_line(p, status: int, words: list[str]) -> str:
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{p.stderr}"
    line = lines[0]
    assert line.startswith("synack: error: "), line
    for w in words:
        assert w in line, f"{w!r} not in {line!r}"
    # argparse's internal names ("invalid parse_size value") never reach the user
    assert not re.search(r"invalid \w+ value", line), line
    assert p.returncode == status, (p.returncode, line)
    return line


def test_at_least_forty_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("cmd,status,words", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation(cmd, status, words, scratch):
    if "{pkt}" in cmd and not PKT.is_file():
        pytest.fail(f"the shared packetdrill script {PKT} is missing", pytrace=False)
    args = [a.format(tmp=scratch, bin=scratch / "bin.pkt", pkt=PKT, empty=scratch / "empty")
            for a in cmd.split()]
    p = run_synack(args)
    check_one_line(p, status, words)
    if status == 2:
        assert p.stdout == "", "nothing is drawn before a usage error"


# ------------------------------------------------------------------ unprivileged
def _nobody_can_run() -> None:
    p = subprocess.run([*NOBODY, sys.executable, "-c", "import synack, rich"],
                       capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    if p.returncode != 0:
        pytest.fail(f"cannot run synack as uid 65534 here: {p.stderr.strip()}", pytrace=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: see the same rows below")
def test_unprivileged_pcap_in_root_home():
    _nobody_can_run()
    p = run_synack(["run", "handshake", "--pcap", "/root/x.pcap"], prefix=NOBODY)
    check_one_line(p, 2, ["--pcap /root/x.pcap", "permission"])
    assert not os.path.exists("/root/x.pcap")


def test_bench_without_root_names_the_command():
    prefix = NOBODY if os.geteuid() == 0 else []
    if prefix:
        _nobody_can_run()
    p = run_synack(["bench", "--only", "bulk"], prefix=prefix)
    line = check_one_line(p, 1, ["root", "sudo synack bench --only bulk"])
    assert "pytest" not in line


def test_serve_without_pyroute2_says_what_to_install(tmp_path):
    fake = tmp_path / "pyroute2"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'pyroute2'\")\n")
    p = run_synack(["serve", "--tun", "--netns", "sx-edge-nopyroute"],
                   env={"PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}"})
    check_one_line(p, 1, ["pyroute2", "pip install"])


def test_packetdrill_json_into_head():
    if not PKT.is_file():
        pytest.fail(f"the shared packetdrill script {PKT} is missing", pytrace=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(f"{sys.executable} -m synack packetdrill --json {PKT} {PKT} {PKT} | head -c 20",
                       shell=True, capture_output=True, text=True, env=env, timeout=120)
    assert len(p.stdout) == 20
    assert p.stderr == "", p.stderr


# ------------------------------------------------------------ run-time failures
NS = f"sx-edge-cli-{os.getpid()}"
TUN_ARGS = ["--netns", NS, "--ifname", "sxe0", "--kernel-v4", "10.77.0.1/24",
            "--local-v4", "10.77.0.2", "--no-ipv6", "--mode", "plain"]


def _netns_list() -> list[str]:
    return [ln.split()[0] for ln in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                   text=True).stdout.splitlines() if ln.strip()]


@pytest.fixture
def own_namespace():
    """Root, and the namespace the rows use gone before and after (also on failure)."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (it makes its own network namespace); run it as root "
                    "or deselect it with -m 'not netns'", pytrace=False)
    yield NS
    if NS in _netns_list():
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        pytest.fail(f"namespace {NS} was left behind")


@pytest.mark.netns
@pytest.mark.parametrize("target", [["--server", "10.77.0.1:1"], ["--url", "http://10.77.0.1:1/"]],
                         ids=["server", "url"])
def test_connect_refused_inside_own_namespace(own_namespace, target):
    p = run_synack(["connect", "--tun", "download", *target, *TUN_ARGS])
    check_one_line(p, 1, ["10.77.0.1:1", "refused", "listening"])


# ------------------------------------------------------- a scenario that stops short
@pytest.mark.parametrize("cmd,what", [
    ("run handshake --loss 0.8", "connect() gave up"),
    ("run lifecycle --loss 0.8", "connect() gave up"),
    ("run loss --loss 0.5", "still retransmitting"),
    ("run zero-window --loss 0.5", "still retransmitting"),
])
def test_scenario_that_misses_its_goal_draws_the_ladder(cmd, what):
    p = run_synack(cmd.split() + ["--color", "never"])
    line = check_one_line(p, 1, ["never happened", "the ladder above"])
    out = p.stdout
    assert "│" in out and "✗ lost" in out, "the ladder up to where it stopped"
    tail = out[out.index("✗ The scenario stopped"):]
    assert "never happened" in tail and what in tail


# ------------------------------------------------------------------- --width
@pytest.mark.parametrize("width", [80, 100, 132])
def test_width_bounds_every_line(width):
    p = run_synack(["run", "lifecycle", "--width", str(width), "--color", "never"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= width
    assert "\x1b[" not in p.stdout, "a pipe gets no colour codes"


def test_width_below_80_is_refused():
    check_one_line(run_synack(["run", "lifecycle", "--width", "60"]), 2, ["--width", "80"])


# ------------------------------------------------------ ss habits, watch into a pipe
@pytest.mark.netns
def test_ss_tan_and_watch_into_a_pipe(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root (it makes its own namespace); deselect with -m 'not netns'",
                    pytrace=False)
    ns = f"sx-edge-ss-{os.getpid()}"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    serve = subprocess.Popen([sys.executable, "-m", "synack", "serve", "--tun", "--netns", ns,
                              "--ifname", "sxss0", "--kernel-v4", "10.80.0.1/24", "--local-v4",
                              "10.80.0.2", "--no-ipv6", "--mode", "plain", "--services", "echo",
                              "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert "serving" in serve.stdout.readline()
        p = run_synack(["ss", "-tan", "--netns", ns])
        assert p.returncode == 0, p.stderr
        assert "LISTEN" in p.stdout and "0.0.0.0:7" in p.stdout
        p = run_synack(["ss", "-l", "--netns", ns])
        assert p.returncode == 0 and all(ln.startswith(("State", "LISTEN"))
                                         for ln in p.stdout.splitlines() if ln.strip())
        w = subprocess.run(f"timeout -s INT 2.5 {sys.executable} -m synack ss --watch 0.5 "
                           f"--netns {ns} > {tmp_path}/watch.txt; cat {tmp_path}/watch.txt",
                           shell=True, capture_output=True, text=True, env=env, timeout=30)
        assert w.stdout.count("LISTEN") >= 2, w.stdout     # several snapshots
        assert "\x1b" not in w.stdout, "screen codes written into a file"
        assert "Traceback" not in w.stderr
    finally:
        serve.terminate()
        serve.wait(30)
    assert ns not in _netns_list()
