"""`synack explain CAPTURE`: the subcommand's body (registered in synack.cli)."""
from __future__ import annotations

import json
import sys

from .reader import CaptureError
from .report import (analyse, events_jsonl, header_lines, ladder, summary_dicts,
                     table_lines)


def run_explain(args, out) -> int:
    path = args.capture
    try:
        conns, stats = analyse(path, detail=(args.conn,) if args.conn else ())
    except CaptureError as e:
        print(f"synack: error: {path}: {e}", file=sys.stderr)
        return 2
    if stats.tcp == 0:
        what = f"{stats.frames} frames" if stats.frames else "no packets"
        skipped = f" (skipped: {stats.skipped_text()})" if stats.skipped else ""
        cut = "; the file is cut off" if stats.truncated else ""
        print(f"synack: error: {path}: no TCP segments in this capture: {what}{skipped}{cut}",
              file=sys.stderr)
        return 1
    if stats.truncated:
        print(f"synack: warning: {path} is cut off in the middle of a record: read the "
              f"{stats.frames} whole frames before it", file=sys.stderr)
    if not args.conn:
        if args.format == "json":
            out.write_text("".join(json.dumps(d) + "\n" for d in summary_dicts(conns)))
        elif args.format == "text":
            out.write_text("\n".join(table_lines(conns, stats, path)) + "\n")
        else:
            print("synack: error: --format mermaid and svg draw one connection: add --conn N",
                  file=sys.stderr)
            return 2
        return 0
    if not 1 <= args.conn <= len(conns):
        print(f"synack: error: {path}: no connection {args.conn} (there are {len(conns)})",
              file=sys.stderr)
        return 2
    c = conns[args.conn - 1]
    if args.format == "json":
        out.write_text(events_jsonl(c))
        return 0
    lad = ladder(c, absolute=args.absolute, explain=args.explain)
    head = header_lines(c, path, args.absolute)
    if args.format == "mermaid":
        from ..viz.mermaid import render_mermaid
        out.write_text(render_mermaid(lad, explain=args.explain, title=head[0]))
    elif args.format == "svg":
        from ..viz.svg import render_svg
        out.write_text(render_svg(lad, title=head[0], subtitle=head[1]))
    else:
        import textwrap

        from rich.text import Text

        from ..viz.text import render_text
        header = []
        for i, ln in enumerate(head):
            for w in textwrap.wrap(ln, 100, break_on_hyphens=False):
                header.append(Text(w, style="bold" if i == 0 else "dim"))
        header.append(Text(""))
        out.write_lines(render_text(lad, explain=args.explain, header=header))
    return 0
