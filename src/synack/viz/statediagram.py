"""The TCP state diagram, generated from `synack.engine.states.TRANSITIONS`.

The engine refuses any state change that is not in that table, so a diagram
drawn from it shows exactly what the code can do. Three renderings: text (a
list of arrows grouped by state), Mermaid (`stateDiagram-v2`) and a
standalone SVG. The SVG places the states on a grid shaped like RFC 9293's
Figure 5 (CLOSED at the top, and again at the bottom for the closing states);
the edges and their labels all come from the table, and a state the grid
does not know goes on an extra row, so a new transition or state appears
without anyone drawing it.
"""
from __future__ import annotations

import math
import textwrap
from html import escape as html_escape

from rich.text import Text

from ..engine.states import TRANSITIONS, State

#: where each state sits (column 0..2, row), after RFC 9293 Figure 5
GRID = {
    State.CLOSED: (1, 0), State.LISTEN: (1, 1),
    State.SYN_RECEIVED: (0, 2), State.SYN_SENT: (2, 2),
    State.ESTABLISHED: (1, 3),
    State.FIN_WAIT_1: (0, 4), State.CLOSE_WAIT: (2, 4),
    State.FIN_WAIT_2: (0, 5), State.CLOSING: (1, 5), State.LAST_ACK: (2, 5),
    State.TIME_WAIT: (1, 6),
}
BOTTOM_CLOSED = (2, 6.6)   #: the second CLOSED box, for edges from the lower half


def transitions() -> list[tuple[State, State, str]]:
    order = {s: i for i, s in enumerate(State)}
    items = [(a, b, why) for (a, b), why in TRANSITIONS.items()]
    return sorted(items, key=lambda x: (order[x[0]], order[x[1]]))


# ------------------------------------------------------------------------- text
def text_lines() -> list[Text]:
    items = transitions()
    out = [Text("The TCP state machine (RFC 9293 §3.3.2), drawn from "
                "synack.engine.states.TRANSITIONS", style="bold"),
           Text(f"{len(State)} states, {len(items)} transitions; the engine refuses any "
                f"other state change.", style="dim"), Text("")]
    width = max(len(s.value) for s in State)
    current = None
    for a, b, why in items:
        if a is not current:
            if current is not None:
                out.append(Text(""))
            out.append(Text(a.value, style="bold cyan"))
            current = a
        line = Text("  ")
        label = f" {why} "
        arrow_len = max(4, 66 - len(label))
        line.append("──", style="dim")
        line.append(label)
        line.append("─" * arrow_len + "▶ ", style="dim")
        line.append(f"{b.value:<{width}}", style="bold")
        if len(line.plain) > 100:
            wrapped = textwrap.wrap(why, 60)
            line = Text("  ")
            line.append("── ", style="dim")
            line.append(wrapped[0])
            out.append(line)
            for w in wrapped[1:-1]:
                out.append(Text("     " + w))
            last = Text("     " + (wrapped[-1] if len(wrapped) > 1 else ""))
            last.append(" " + "─" * max(2, 70 - len(last.plain)) + "▶ ", style="dim")
            last.append(b.value, style="bold")
            out.append(last)
        else:
            out.append(line)
    return out


# ---------------------------------------------------------------------- mermaid
def _mm(text: str) -> str:
    return text.replace("#", "#35;").replace(";", "#59;").replace(":", "#58;")


def mermaid() -> str:
    lines = ["stateDiagram-v2",
             "    %% generated from synack.engine.states.TRANSITIONS (RFC 9293 §3.3.2)",
             "    [*] --> CLOSED"]
    for a, b, why in transitions():
        lines.append(f"    {a.value} --> {b.value}: {_mm(why)}")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------- svg
COL_X = (150, 450, 750)
ROW_Y0, ROW_DY = 80, 92
BOX_W, BOX_H = 150, 36


def _layout() -> dict:
    pos = {}
    extra = 0
    for s in State:
        if s in GRID:
            c, r = GRID[s]
        else:                                   # a state the grid does not know
            c, r = extra % 3, 7 + extra // 3
            extra += 1
        pos[s] = (COL_X[c], ROW_Y0 + r * ROW_DY)
    return pos


def _clip(x0, y0, x1, y1):
    """Move (x0,y0) to where the segment towards (x1,y1) leaves a box around (x0,y0)."""
    dx, dy = x1 - x0, y1 - y0
    if dx == 0 and dy == 0:
        return x0, y0
    sx = (BOX_W / 2 + 4) / abs(dx) if dx else math.inf
    sy = (BOX_H / 2 + 4) / abs(dy) if dy else math.inf
    s = min(sx, sy)
    return x0 + dx * s, y0 + dy * s


def _bezier(p0, c, p1, t):
    u = 1 - t
    return (u * u * p0[0] + 2 * u * t * c[0] + t * t * p1[0],
            u * u * p0[1] + 2 * u * t * c[1] + t * t * p1[1])


def _in_box(x, y, box, margin=6.0) -> bool:
    bx, by = box
    return abs(x - bx) <= BOX_W / 2 + margin and abs(y - by) <= BOX_H / 2 + margin


def _route(x0, y0, x1, y1, boxes, reverse: bool) -> tuple[float, float]:
    """A control point for a quadratic curve from box to box that crosses no other
    box: try small bends first, then larger ones, on either side."""
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = x1 - x0, y1 - y0
    others = [bx for bx in boxes if bx not in ((x0, y0), (x1, y1))]
    bends = (0.28, 0.4, -0.28, 0.55, -0.45) if reverse else \
        (0.1, -0.1, 0.22, -0.22, 0.35, -0.35, 0.5, -0.5, 0.7, -0.7)
    best = None
    for bend in bends:
        c = (mx - dy * bend, my + dx * bend)
        hits = sum(1 for k in range(1, 40) for bx in others
                   if _in_box(*_bezier((x0, y0), c, (x1, y1), k / 40), bx))
        if hits == 0:
            return c
        if best is None or hits < best[0]:
            best = (hits, c)
    return best[1]


def _label_spot(sx, sy, cx, cy, ex, ey, boxes, placed):
    for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75):
        x, y = _bezier((sx, sy), (cx, cy), (ex, ey), t)
        if any(_in_box(x, y, bx, margin=10) for bx in boxes):
            continue
        if any(abs(x - px) < 20 and abs(y - py) < 20 for px, py in placed):
            continue
        return x, y
    return _bezier((sx, sy), (cx, cy), (ex, ey), 0.5)


def svg() -> str:
    pos = _layout()
    bottom_closed = (COL_X[BOTTOM_CLOSED[0]], ROW_Y0 + BOTTOM_CLOSED[1] * ROW_DY)
    items = transitions()
    n_rows = max(max(y for _, y in pos.values()), bottom_closed[1])
    legend_top = n_rows + 80
    height = legend_top + 24 + len(items) * 17 + 20
    width = 900
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, '
           f'sans-serif">',
           "<title>TCP state diagram (RFC 9293), generated from synack.engine.states.TRANSITIONS</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#444"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           '<text x="20" y="30" font-size="18" font-weight="bold">TCP connection states '
           '(RFC 9293 §3.3.2)</text>',
           f'<text x="20" y="50" font-size="12" fill="#555">drawn from '
           f'synack.engine.states.TRANSITIONS: {len(State)} states, {len(items)} transitions; the '
           f'numbers refer to the list below</text>']
    boxes = list(pos.values()) + [bottom_closed]
    edges = []
    labels = []
    placed: list[tuple[float, float]] = []
    for i, (a, b, why) in enumerate(items, 1):
        x0, y0 = pos[a]
        if b is State.CLOSED and GRID.get(a, (0, 0))[1] >= 3:
            x1, y1 = bottom_closed
        else:
            x1, y1 = pos[b]
        cx, cy = _route(x0, y0, x1, y1, boxes, reverse=(b, a) in TRANSITIONS)
        sx, sy = _clip(x0, y0, cx, cy)
        ex, ey = _clip(x1, y1, cx, cy)
        edges.append(f'<path d="M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}" '
                     f'fill="none" stroke="#444" stroke-width="1.3" marker-end="url(#arrow)">'
                     f'<title>{html_escape(f"{a.value} → {b.value}: {why}")}</title></path>')
        # the number goes on the curve, where it overlaps no box and no other number
        lx, ly = _label_spot(sx, sy, cx, cy, ex, ey, boxes, placed)
        placed.append((lx, ly))
        labels.append(f'<circle cx="{lx:.1f}" cy="{ly:.1f}" r="9" fill="#fff8dc" '
                      f'stroke="#b8860b"/><text x="{lx:.1f}" y="{ly + 4:.1f}" font-size="10" '
                      f'text-anchor="middle">{i}</text>')
    out.extend(edges)
    out.extend(labels)

    def box(x, y, name, dashed=False):
        style = ' stroke-dasharray="4 3"' if dashed else ""
        return (f'<rect x="{x - BOX_W / 2:.0f}" y="{y - BOX_H / 2:.0f}" width="{BOX_W}" '
                f'height="{BOX_H}" rx="8" fill="#e8f0fe" stroke="#1a4d8f"{style}/>'
                f'<text x="{x}" y="{y + 5}" font-size="14" font-weight="bold" '
                f'text-anchor="middle">{name}</text>')
    for s, (x, y) in pos.items():
        out.append(box(x, y, s.value))
    out.append(box(*bottom_closed, "CLOSED", dashed=True))
    out.append(f'<text x="{bottom_closed[0]}" y="{bottom_closed[1] + BOX_H / 2 + 14}" '
               f'font-size="10" fill="#555" text-anchor="middle">(CLOSED again)</text>')
    # legend
    out.append(f'<text x="20" y="{legend_top}" font-size="13" font-weight="bold">'
               f'Transitions (from → to: event / action)</text>')
    for i, (a, b, why) in enumerate(items):
        y = legend_top + 22 + i * 17
        out.append(f'<text x="20" y="{y}" font-size="12"><tspan font-weight="bold">{i + 1}.'
                   f'</tspan> {a.value} → {b.value}: {html_escape(why)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
