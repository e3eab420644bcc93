"""The `synack` command.

    synack demo                       the whole life of a connection, as a ladder diagram
    synack scenarios                  the list of textbook scenarios
    synack run NAME [options]         one scenario (text, json, mermaid or svg; pcap; plot)
    synack states [--format ...]      the RFC 9293 state diagram, drawn from the engine's table

Adding a subcommand is one decorated function:

    @command("serve", "serve a port over a TUN device",
             argument("--port", type=int, default=80))
    def serve(args) -> int:
        ...

`argument(...)` takes `ArgumentParser.add_argument`'s arguments; any other
callable given to `command` receives the subparser to configure it (see
`scenario_arguments`). Subcommands that live in other modules register the
same way when `synack.cli` imports them (see `_PLUGINS`).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .usage import (FAILURE, USAGE, ArgumentParser, UserError, check_writable, float_arg,
                    int_arg, probability_arg, report, seconds_arg)

WIDTH = 100


@dataclass
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int | None]
    setup: tuple
    description: str | None = None


COMMANDS: dict[str, Command] = {}

#: modules that define further subcommands with @command; a missing one is skipped
_PLUGINS: tuple[str, ...] = ("synack.tun.commands", "synack.explore.command")


def argument(*args, **kwargs) -> Callable[[argparse.ArgumentParser], None]:
    """A setup step adding one argument (same signature as add_argument)."""
    def setup(p: argparse.ArgumentParser) -> None:
        p.add_argument(*args, **kwargs)
    return setup


def command(name: str, help: str, *setup: Callable, description: str | None = None):
    """Register the decorated `fn(args) -> exit status` as subcommand `name`."""
    def deco(fn):
        COMMANDS[name] = Command(name, help, fn, setup, description or fn.__doc__)
        return fn
    return deco


# ------------------------------------------------------------------------ output
class Output:
    """Where a subcommand writes: stdout (coloured when it is a terminal) or a file."""

    def __init__(self, args):
        self.path = getattr(args, "output", None)
        self.color = getattr(args, "color", "auto")

    def is_terminal(self) -> bool:
        if self.path:
            return False
        if self.color == "always":
            return True
        if self.color == "never":
            return False
        return sys.stdout.isatty()

    def write_text(self, text: str) -> None:
        if self.path:
            with open(self.path, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    def write_lines(self, lines) -> None:
        """rich `Text` lines: coloured on a terminal, plain otherwise."""
        if self.is_terminal():
            from rich.console import Console
            console = Console(highlight=False, soft_wrap=True,
                              force_terminal=True if self.color == "always" else None)
            for ln in lines:
                console.print(ln)
        else:
            from .viz.text import to_plain
            self.write_text(to_plain(lines))


# --------------------------------------------------------------------- scenarios
def scenario_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulation")
    g.add_argument("--seed", type=int_arg(0, 2**63 - 1, what="an integer of at least 0"), default=1,
                   help="random seed, 0 or more (default 1): same seed, same run")
    g.add_argument("--loss", type=probability_arg, default=None, metavar="P",
                   help="random loss probability per segment, both ways, 0 to 1 "
                        "(default: the scenario's)")
    g.add_argument("--delay", type=float_arg(0.0, 3600.0, what="a one-way delay from 0 to 3600 "
                                                                "seconds"),
                   default=None, metavar="SECONDS",
                   help="one-way delay (default: the scenario's, 0.010)")
    g.add_argument("--msl", type=seconds_arg(positive=True), default=None, metavar="SECONDS",
                   help="Maximum Segment Lifetime; TIME_WAIT lasts 2*MSL (default 30)")
    g.add_argument("--profile", choices=("rfc", "linux"), default="rfc",
                   help="timer and buffer defaults (default rfc)")
    g.add_argument("--all-options", action="store_true",
                   help="negotiate window scaling, timestamps and SACK too (default: MSS only, "
                        "as in the textbooks)")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=("text", "json", "mermaid", "svg"), default="text",
                   help="ladder diagram as text (default), JSON Lines trace, Mermaid or SVG")
    o.add_argument("-o", "--output", metavar="FILE", help="write there instead of stdout")
    o.add_argument("--pcap", metavar="FILE", help="also write every segment to a pcap file")
    o.add_argument("--plot", metavar="FILE.png",
                   help="also draw a time-sequence graph, in the format the file name asks for "
                        "(.png, .svg, .pdf)")
    o.add_argument("--absolute", action="store_true",
                   help="absolute sequence numbers (default: relative to each ISN)")
    o.add_argument("--no-explain", dest="explain", action="store_false",
                   help="leave out the explanations")
    o.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output (default: when writing to a terminal)")
    o.add_argument("--width", type=int_arg(80, 1000), default=None, metavar="COLUMNS",
                   help="width of the text ladder, at least 80 (default: the terminal's, at "
                        "most 100; 100 into a file or pipe)")


def output_width(args) -> int:
    """--width, else the terminal's (at most WIDTH), else WIDTH."""
    w = getattr(args, "width", None)
    if w:
        return w
    if getattr(args, "output", None) is None and sys.stdout.isatty():
        try:
            return max(80, min(WIDTH, os.get_terminal_size(sys.stdout.fileno()).columns))
        except OSError:
            pass
    return WIDTH


def settings_line(res) -> str:
    o = res.options
    st_delay = res.scenario.delay if o.delay is None else o.delay
    st_loss = res.scenario.loss if o.loss is None else o.loss
    opts = "MSS, wscale, SACK, TS" if o.all_options else "MSS only"
    return (f"seed {o.seed} · one-way delay {st_delay * 1000:g} ms · loss {st_loss * 100:g}% · "
            f"MSL {res.msl:g} s (TIME_WAIT {2 * res.msl:g} s) · profile {o.profile} · "
            f"options: {opts}")


def text_header(res, heading: str, explain: bool, absolute: bool, width: int = WIDTH) -> list:
    from rich.text import Text
    lines = [Text(heading, style="bold")]
    if explain:
        for para in res.scenario.text.split("\n\n"):
            for ln in textwrap.wrap(" ".join(para.split()), width, break_on_hyphens=False):
                lines.append(Text(ln))
            lines.append(Text(""))
    for ln in textwrap.wrap(settings_line(res), width, break_on_hyphens=False):
        lines.append(Text(ln, style="dim"))
    if absolute:
        lines.append(Text("seq/ack are absolute", style="dim"))
    else:
        for ln in textwrap.wrap("seq/ack are relative to each side's ISN, as in Wireshark "
                                "(--absolute for the real numbers)", width):
            lines.append(Text(ln, style="dim"))
    lines.append(Text(""))
    return lines


def run_scenario(name: str, args, heading: str | None = None, trailer: list[str] | None = None) -> int:
    from .scenarios import Options, get
    try:
        sc = get(name)
    except KeyError as e:
        raise UserError(f"{e.args[0]} (`synack scenarios` lists them)", USAGE) from None
    # every output file is checked before anything runs or is printed
    check_writable(getattr(args, "output", None), "-o")
    check_writable(args.pcap, "--pcap")
    if args.plot:
        from .viz.plot import plot_format
        check_writable(args.plot, "--plot")
        plot_format(args.plot)                  # a UserError for an unknown file type
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install 'synack[plot]' "
                            "(or `pip install matplotlib`)", USAGE) from None
    pcap = None
    if args.pcap:
        from .pcap import PcapWriter
        try:
            pcap = PcapWriter(args.pcap)
        except OSError as e:
            raise UserError(f"--pcap {args.pcap}: cannot write it ({e.strerror or e})",
                            FAILURE) from None
    try:
        res = sc.run(Options(seed=args.seed, loss=args.loss, delay=args.delay, msl=args.msl,
                             profile=args.profile, all_options=args.all_options, pcap=pcap))
    finally:
        if pcap is not None:
            try:
                pcap.close()
            except OSError as e:
                raise UserError(f"--pcap {args.pcap}: cannot write it ({e.strerror or e})",
                                FAILURE) from None
    out = Output(args)
    title = f"synack run {sc.name}: {sc.title}" if heading is None else heading
    diagnosis = res.diagnosis()
    if args.format == "json":
        out.write_text(res.trace.to_jsonl())
    else:
        ladder = res.ladder(absolute=args.absolute, explain=args.explain)
        if args.format == "mermaid":
            from .viz.mermaid import render_mermaid
            out.write_text(render_mermaid(ladder, explain=args.explain, title=title))
        elif args.format == "svg":
            from .viz.svg import render_svg
            out.write_text(render_svg(ladder, title=title, subtitle=settings_line(res)))
        else:
            from rich.text import Text
            from .viz.text import render_text
            width = output_width(args)
            lines = render_text(ladder, explain=args.explain, width=width,
                                header=text_header(res, title, args.explain, args.absolute, width))
            if diagnosis:
                lines.append(Text(""))
                for para in diagnosis:
                    for i, ln in enumerate(textwrap.wrap(para, width - 2, break_on_hyphens=False)):
                        lines.append(Text(("✗ " if i == 0 else "  ") + ln, style="bold red"))
            elif trailer:
                lines.append(Text(""))
                lines.extend(Text(t, style="dim") for t in trailer)
            out.write_lines(lines)
    if args.plot:
        from .viz.plot import plot_time_sequence
        plot_time_sequence(res.dicts(), args.plot, title=f"{sc.name}: {sc.title}",
                           left=res.left, right=res.right)
    if diagnosis:
        raise UserError(f"{sc.name}: {res.failure.what} never happened by t={res.failure.t:.3f} s "
                        f"(the ladder above shows why)", FAILURE)
    return 0


@command("demo", "the whole life of a TCP connection, as a ladder diagram", scenario_arguments)
def cmd_demo(args) -> int:
    """Run the full lifecycle on the simulator: the three-way handshake, a request and its
    response, the four-way close started by the client, TIME_WAIT and its expiry after 2*MSL.
    Same as `synack run lifecycle`."""
    trailer = ["Next: `synack scenarios` lists more (lost segments, resets, SYN floods, ...);",
               "`synack run lost-final-ack` shows why TIME_WAIT exists. `--format mermaid` or",
               "`--format svg` draws this diagram, `--plot FILE.png` graphs it, and",
               "`--pcap demo.pcap` writes a capture for Wireshark."]
    return run_scenario("lifecycle", args, heading="synack demo: the whole life of a TCP "
                                                   "connection", trailer=trailer)


@command("run", "run one scenario (see `synack scenarios`)",
         argument("name", metavar="NAME", help="scenario name"), scenario_arguments)
def cmd_run(args) -> int:
    """Run one textbook scenario on the deterministic simulator and draw what happened."""
    return run_scenario(args.name, args)


@command("scenarios", "list the scenarios",
         argument("--format", choices=("text", "json"), default="text"))
def cmd_scenarios(args) -> int:
    """List the scenarios `synack run` knows, with a one-line summary each."""
    from .scenarios import all_scenarios
    scs = all_scenarios()
    if args.format == "json":
        import json
        for sc in scs:
            print(json.dumps({"name": sc.name, "title": sc.title, "summary": sc.summary}))
        return 0
    w = max(len(sc.name) for sc in scs)
    for sc in scs:
        for i, ln in enumerate(textwrap.wrap(sc.summary, WIDTH - w - 4)):
            print(f"  {sc.name if i == 0 else '':<{w}}  {ln}")
    print("\nRun one with `synack run NAME` (try --help for the options).")
    return 0


@command("states", "the RFC 9293 state diagram, drawn from the engine's own table",
         argument("--format", choices=("text", "mermaid", "svg"), default="text"),
         argument("-o", "--output", metavar="FILE", help="write there instead of stdout"),
         argument("--color", choices=("auto", "always", "never"), default="auto"))
def cmd_states(args) -> int:
    """Draw the TCP state machine from synack.engine.states.TRANSITIONS, the table the engine
    enforces on every state change: the picture and the code cannot disagree."""
    from .viz import statediagram
    check_writable(args.output, "-o")
    out = Output(args)
    if args.format == "mermaid":
        out.write_text(statediagram.mermaid())
    elif args.format == "svg":
        out.write_text(statediagram.svg())
    else:
        out.write_lines(statediagram.text_lines())
    return 0


# --------------------------------------------------------------------- captures
@command("explain", "explain a TCP capture (pcap/pcapng): connections, states, ladders",
         argument("capture", metavar="CAPTURE", help="a pcap or pcapng file"),
         argument("--conn", type=int, metavar="N", help="draw connection N as a ladder"),
         argument("--format", choices=("text", "json", "mermaid", "svg"), default="text",
                  help="text (default); json: the table as JSON Lines, or with --conn the "
                       "connection's trace; mermaid and svg need --conn"),
         argument("-o", "--output", metavar="FILE", help="write there instead of stdout"),
         argument("--absolute", action="store_true", help="absolute sequence numbers"),
         argument("--no-explain", dest="explain", action="store_false",
                  help="leave out the explanations"),
         argument("--color", choices=("auto", "always", "never"), default="auto"))
def cmd_explain(args) -> int:
    """Read a capture made by tcpdump, tshark, Wireshark or synack; list its TCP
    connections with the states both ends reached (inferred from the segments), or
    draw one (--conn N) as the scenarios' ladder diagram."""
    from .capture.cli import run_explain
    return run_explain(args, Output(args))


# ------------------------------------------------------------------ packetdrill
@command("packetdrill", "run packetdrill scripts against synack in virtual time",
         argument("rest", nargs=argparse.REMAINDER,
                  help="scripts and options (see `synack packetdrill --help`)"),
         description="Run packetdrill scripts against a fresh synack host per script, in "
                     "virtual time. All arguments go to the runner: `synack packetdrill "
                     "--help` lists them.")
def cmd_packetdrill(args) -> int:
    if "--linux" in args.rest:
        from .packetdrill.linux import main as linux_main
        return linux_main(args.rest)
    from .packetdrill.runner import main as packetdrill_main
    return packetdrill_main(args.rest)


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    for mod in _PLUGINS:
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    parser = ArgumentParser(
        prog="synack", description="A TCP stack in Python (RFC 9293): see TCP work.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Start with `synack demo`.")
    parser.add_argument("--version", action="version", version=f"synack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help,
                           description=textwrap.dedent(cmd.description or cmd.help).strip())
        for step in cmd.setup:
            step(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "packetdrill":          # the runner has its own options
        if "--linux" in argv[1:]:                   # the live kernel beside synack
            from .packetdrill.linux import main as linux_main
            return linux_main(argv[1:])
        from .packetdrill.runner import main as packetdrill_main
        return packetdrill_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A user's mistake is one line on stderr,
    `synack: error: ...`, and exit status 2 (usage) or 1 (a failure at run
    time): see `synack.usage`. A traceback means a bug in synack."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        return _main(argv)
    except UserError as e:
        report(str(e))
        return e.status
    except BrokenPipeError:                     # `synack demo | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # no second error when Python flushes at exit
        return 0
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except SystemExit as e:                      # older code: SystemExit("synack x: message")
        if isinstance(e.code, str):
            msg = e.code
            if msg.startswith("synack") and ": " in msg:
                msg = msg.split(": ", 1)[1]
            report(msg)
            return FAILURE
        raise
    except OSError as e:
        if e.filename is None:
            raise
        report(f"{e.filename}: {e.strerror or e}")
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
