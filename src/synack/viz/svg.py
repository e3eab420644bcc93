"""The ladder as a standalone SVG: two lifelines, slanted arrows.

Rows keep the order of the text ladder, one step apart, so that a 60 s
TIME_WAIT does not take a kilometre of paper; an arrow starts at the row of
its send and ends where its delivery time falls among the rows (so a reply
starts where the segment that caused it arrives: the zigzag of the
textbooks). Long silences are marked on the lifelines. Lost segments stop
halfway at a red cross; explanations are tooltips (<title>) on their rows.
"""
from __future__ import annotations

import math
from html import escape

from .model import ARRIVAL, ERROR, LEFT, NOTE, SEGMENT, STATE, TIMER, Ladder, Row
from .text import seg_label

WIDTH = 1000
X_LEFT, X_RIGHT = 260, 740
TOP = 110
STEP = 30
GAP = 1.0

COLORS = {"SYN": "#1b7f3b", "FIN": "#8e24aa", "RST": "#c62828", "data": "#1565c0",
          "ACK": "#37474f"}
STATE_COLORS = {"ESTABLISHED": "#1b7f3b", "TIME_WAIT": "#8e24aa", "CLOSED": "#757575",
                "LISTEN": "#1565c0"}


def _color(r: Row) -> str:
    if "RST" in r.flags:
        return COLORS["RST"]
    if "SYN" in r.flags:
        return COLORS["SYN"]
    if "FIN" in r.flags:
        return COLORS["FIN"]
    if r.length:
        return COLORS["data"]
    return COLORS["ACK"]


def _label(r: Row) -> str:
    return seg_label(r, details=True)


class _Y:
    """Row index -> y, and time -> y by interpolation between rows. `extra`
    adds room above some rows (where a label found no free spot)."""

    def __init__(self, rows: list[Row], extra: dict[int, float] | None = None):
        self.times = [r.t for r in rows]
        self.ys = []
        y = TOP
        prev = None
        self.gaps = []
        extra = extra or {}
        self.extra = extra
        for i, r in enumerate(rows):
            if prev is not None and r.t - prev >= GAP:
                self.gaps.append((y + STEP * 0.1, r.t - prev))
                y += STEP * 0.8
            y += extra.get(i, 0.0)
            self.ys.append(y)
            y += STEP
            prev = r.t
        self.end = y

    def at_time(self, t: float, after: int) -> float:
        """The y of time t, at or below row `after`."""
        ts, ys = self.times, self.ys
        for k in range(after + 1, len(ts)):
            if ts[k] >= t:
                if ts[k] == t or k == after + 1 and ts[k - 1] >= t:
                    return ys[k]
                t0, y0 = ts[k - 1], ys[k - 1]
                frac = (t - t0) / (ts[k] - t0) if ts[k] > t0 else 1.0
                return max(ys[after] + STEP * 0.6, y0 + frac * (ys[k] - y0))
        return ys[after] + STEP if ys else TOP


#: room added above a row whose label would cover another, per try, and at most
_PUSH, _PUSH_MAX = STEP * 0.5, STEP * 3


def render_svg(ladder: Ladder, title: str | None = None, subtitle: str | None = None) -> str:
    rows = [r for r in ladder.rows if r.kind != ARRIVAL]
    # Lay the rows out one step apart; where a row's label cannot be placed
    # without covering a label drawn before it, move that row (and all after
    # it) down a little and lay out again, so that dense stretches (a flood
    # of SYNs, a burst of losses) spread out instead of piling labels up.
    Y, body, _ = _layout(rows, ladder)
    height = int(Y.end + 60)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, '
           f'sans-serif">',
           f"<title>{escape(title or 'TCP ladder diagram')}</title>",
           '<defs>' + "".join(
               f'<marker id="head-{c[1:]}" viewBox="0 0 10 10" refX="10" refY="5" '
               f'markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
               f'fill="{c}"/></marker>' for c in COLORS.values()) + '</defs>',
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="20" y="28" font-size="17" font-weight="bold">{escape(title)}</text>')
    if subtitle:
        out.append(f'<text x="20" y="48" font-size="11" fill="#555">{escape(subtitle)}</text>')
    seq_note = "absolute seq/ack" if ladder.absolute else "seq/ack relative to each ISN"
    out.append(f'<text x="20" y="64" font-size="11" fill="#555">{seq_note}; time in seconds; '
               f'hover over a row for its explanation</text>')
    # lifelines and their heads
    for x, name, label in ((X_LEFT, ladder.left_name, ladder.left_label),
                           (X_RIGHT, ladder.right_name, ladder.right_label)):
        out.append(f'<text x="{x}" y="{TOP - 26}" font-size="14" font-weight="bold" '
                   f'text-anchor="middle">{escape(name)}</text>')
        out.append(f'<text x="{x}" y="{TOP - 12}" font-size="11" fill="#555" '
                   f'text-anchor="middle">{escape(label)}</text>')
        out.append(f'<line x1="{x}" y1="{TOP - 6}" x2="{x}" y2="{Y.end}" stroke="#999" '
                   f'stroke-width="2"/>')
    for y, dt in Y.gaps:
        for x in (X_LEFT, X_RIGHT):
            out.append(f'<rect x="{x - 8}" y="{y}" width="16" height="{STEP * 0.5:.0f}" '
                       f'fill="white"/><line x1="{x - 8}" y1="{y + 2}" x2="{x + 8}" '
                       f'y2="{y - 2}" stroke="#999"/><line x1="{x - 8}" y1="{y + STEP * 0.5 + 2:.1f}" '
                       f'x2="{x + 8}" y2="{y + STEP * 0.5 - 2:.1f}" stroke="#999"/>')
        out.append(f'<text x="{(X_LEFT + X_RIGHT) / 2}" y="{y + STEP * 0.35:.1f}" font-size="10" '
                   f'fill="#777" text-anchor="middle">{dt:g} s later</text>')
    out.extend(body)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _layout(rows: list[Row], ladder: Ladder) -> tuple[_Y, list[str], list[tuple[int, object]]]:
    """Rows one step apart, pushed down where a label would cover another:
    (the rows' positions, their SVG, every label's (row, box))."""
    extra: dict[int, float] = {}
    while True:
        Y = _Y(rows, extra)
        boxes: list[tuple[int, object]] = []
        body, clash = _rows_svg(rows, Y, ladder, boxes)
        if clash is None:
            return Y, body, boxes
        extra[clash] = extra.get(clash, 0.0) + _PUSH


def label_clashes(ladder: Ladder) -> list[tuple[int, int]]:
    """The pairs of rows (i, j) whose texts overlap in the drawn SVG: arrow
    labels, "lost" marks and crosses, notes, timer texts. Empty when every
    label is clear (tests/test_plot_edges.py checks scenarios with it)."""
    rows = [r for r in ladder.rows if r.kind != ARRIVAL]
    _, _, boxes = _layout(rows, ladder)
    return [(boxes[a][0], boxes[b][0]) for a in range(len(boxes)) for b in range(a)
            if _overlap(boxes[a][1], boxes[b][1])]


def _rows_svg(rows: list[Row], Y: _Y, ladder: Ladder,
              boxes: list | None = None) -> tuple[list[str], int | None]:
    """The rows' SVG, and the first row (that may still move down) whose
    label covers a label drawn before it, or None."""
    out: list[str] = []
    clash: int | None = None
    last_state = ["", ""]
    placed: list = []                   # the labels' boxes so far
    for i, r in enumerate(rows):
        n_before = len(placed)
        y = Y.ys[i]
        tip = escape(" ".join(r.explain)) if r.explain else ""
        group = [f'<g>{"<title>" + tip + "</title>" if tip else ""}']
        group.append(f'<text x="20" y="{y + 4}" font-size="11" fill="#555">{r.t:.3f}</text>')
        for k, (x, anchor, dx) in enumerate(((X_LEFT, "end", -10), (X_RIGHT, "start", 10))):
            st = r.states[k]
            if r.changed[k] or (st != last_state[k] and st):
                bare = st.rsplit(" ", 1)[-1]
                color = STATE_COLORS.get(bare, "#222")
                group.append(f'<text x="{x + dx}" y="{y + 4}" font-size="12" '
                             f'font-weight="bold" fill="{color}" text-anchor="{anchor}">'
                             f'{escape(st)}</text>')
            last_state[k] = st
        if r.kind == SEGMENT:
            group.extend(_arrow(r, y, Y, i, placed))
            # (a lost segment's "lost" text and cross, then) the label, last
            label = placed[-1]
            if clash is None and _can_move(Y, i) and (
                    any(_overlap(label, p) for p in placed[:-1])
                    or any(_overlap(b, p) for b in placed[n_before:-1] for p in placed[:n_before])):
                clash = i
        elif r.kind == STATE:
            pass                        # the new state, beside its lifeline, says it all
        else:
            text, color = _side_text(r, ladder)
            if r.side == LEFT:
                x, anchor = X_LEFT + 12, "start"
            elif r.side is None:
                x, anchor = (X_LEFT + X_RIGHT) / 2, "middle"
            else:
                x, anchor = X_RIGHT - 12, "end"
            if r.kind == TIMER:
                cx = x + 6 if anchor == "start" else x - 6
                group.append(_clock(cx, y, color))
                x = x + 16 if anchor == "start" else x - 16
            group.append(f'<text x="{x}" y="{y + 4}" font-size="11" fill="{color}" '
                         f'text-anchor="{anchor}" font-style="italic">{escape(text)}</text>')
            w = len(text) * _CHAR_W * 1.05
            x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
            box = (x0, y - 8, x0 + w, y + 6)
            if clash is None and _can_move(Y, i) and any(_overlap(box, p) for p in placed):
                clash = i
            placed.append(box)
        group.append("</g>")
        out.append("".join(group))
        if boxes is not None:
            boxes.extend((i, b) for b in placed[n_before:])
    return out, clash


def _can_move(Y: _Y, i: int) -> bool:
    """May row i still move down?"""
    return Y.extra.get(i, 0.0) < _PUSH_MAX


def _side_text(r: Row, ladder: Ladder) -> tuple[str, str]:
    if r.kind == TIMER:
        name = {"TIME_WAIT 2MSL": "2*MSL timer", "keepalive": "keep-alive timer",
                "persist": "persist timer"}.get(r.text, r.text + " timer")
        text = f"{name} expires"
        if r.transitions:
            text += f" → {r.transitions[-1][2]}"
        return text, "#0d47a1"
    if r.kind == STATE:
        return f"{r.text.replace(' -> ', ' → ')}", "#333"
    if r.kind == ERROR:
        return f"⚠ {ladder.name(r.side)} application: {r.text}", "#c62828"
    if r.kind == NOTE:
        return f"✎ {r.text}", "#00695c"
    return r.text, "#333"


def _clock(x: float, y: float, color: str) -> str:
    return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="white" stroke="{color}" '
            f'stroke-width="1.4"/><path d="M{x:.1f},{y - 4:.1f} L{x:.1f},{y:.1f} '
            f'L{x + 3:.1f},{y + 1.5:.1f}" stroke="{color}" fill="none" stroke-width="1.2"/>')


#: where along its arrow a label may sit (from the sender), in order of preference
_LABEL_SPOTS = (0.4, 0.6, 0.28, 0.72, 0.5, 0.18, 0.82,
                # then finer steps, tried only when every spot above covers a label
                0.34, 0.66, 0.45, 0.55, 0.23, 0.77, 0.12, 0.88)
_CHAR_W = 5.9           # average width of a 10.5 px DejaVu Sans character


def _label_box(text: str, mx: float, my: float, angle: float,
               dy: float = -4) -> tuple[tuple[float, float], ...]:
    """The label's outline, four corners: the text drawn with its baseline
    `dy` below (positive) or above (negative) the point (mx, my) on the
    arrow, 10 px tall above the baseline and 2 px below it, then rotated by
    `angle` degrees about (mx, my), as the SVG `rotate()` does."""
    half = len(text) * _CHAR_W / 2
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return tuple((mx + u * c - v * s, my + u * s + v * c)
                 for u, v in ((-half, dy - 10), (half, dy - 10), (half, dy + 2), (-half, dy + 2)))


def _corners(box) -> tuple[tuple[float, float], ...]:
    if len(box) == 4 and not isinstance(box[0], tuple):      # (x0, y0, x1, y1), upright
        x0, y0, x1, y1 = box
        return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return box


def _overlap(a, b) -> float:
    """How far two boxes (upright (x0, y0, x1, y1), or four corners of a
    rotated one) overlap: the smallest push along any of their edges' normals
    that would part them (separating axis theorem), 0.0 when they do not."""
    pa, pb = _corners(a), _corners(b)
    depth = math.inf
    for poly in (pa, pb):
        for k in range(4):
            (x0, y0), (x1, y1) = poly[k], poly[(k + 1) % 4]
            nx, ny = y0 - y1, x1 - x0
            norm = math.hypot(nx, ny)
            if norm == 0:
                continue
            nx, ny = nx / norm, ny / norm
            qa = [x * nx + y * ny for x, y in pa]
            qb = [x * nx + y * ny for x, y in pb]
            d = min(max(qa), max(qb)) - max(min(qa), min(qb))
            if d <= 0:
                return 0.0
            depth = min(depth, d)
    return depth if depth != math.inf else 0.0


def _arrow(r: Row, y: float, Y: _Y, i: int, placed: list | None = None) -> list[str]:
    x0, x1 = (X_LEFT, X_RIGHT) if r.side == LEFT else (X_RIGHT, X_LEFT)
    color = _color(r)
    if r.deliver_t is not None:
        y1 = Y.at_time(r.deliver_t, i)
    else:
        y1 = y + STEP
    out = []
    dash = ' stroke-dasharray="6 4"' if r.deliver_t is not None and r.deliver_t - r.t >= 1.0 else ""
    if r.lost:
        lost_text = "lost" + (f" ({r.reason})" if r.reason else "")
        half = len(lost_text) * _CHAR_W / 2
        # the cross 60% of the way, or nearby if a label drawn already is there
        for frac in (0.6, 0.5, 0.7, 0.45, 0.4):
            xm = x0 + (x1 - x0) * frac
            ym = y + (y1 - y) * frac
            marks = [(xm - half, ym + 9, xm + half, ym + 21), (xm - 8, ym - 8, xm + 8, ym + 8)]
            if not any(_overlap(m, p) for m in marks for p in (placed or ())):
                break
        else:
            xm = x0 + (x1 - x0) * 0.6
            ym = y + (y1 - y) * 0.6
        out.append(f'<line x1="{x0}" y1="{y}" x2="{xm:.1f}" y2="{ym:.1f}" stroke="{color}" '
                   f'stroke-width="1.6" stroke-dasharray="5 3"/>')
        out.append(f'<path d="M{xm - 7:.1f},{ym - 7:.1f} L{xm + 7:.1f},{ym + 7:.1f} '
                   f'M{xm - 7:.1f},{ym + 7:.1f} L{xm + 7:.1f},{ym - 7:.1f}" stroke="#c62828" '
                   f'stroke-width="2.5"/>')
        out.append(f'<text x="{xm:.1f}" y="{ym + 19:.1f}" font-size="10" fill="#c62828" '
                   f'text-anchor="middle">{escape(lost_text)}</text>')
        if placed is not None:
            placed.append((xm - half, ym + 9, xm + half, ym + 21))
            placed.append((xm - 8, ym - 8, xm + 8, ym + 8))          # the cross
        lx, ly, ex, ey = x0, y, xm, ym
    else:
        out.append(f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y1:.1f}" stroke="{color}" '
                   f'stroke-width="1.6" marker-end="url(#head-{color[1:]})"{dash}/>')
        lx, ly, ex, ey = x0, y, x1, y1
    # the label along the arrow, reading left to right
    ax, ay, bx, by = (lx, ly, ex, ey) if ex > lx else (ex, ey, lx, ly)
    angle = math.degrees(math.atan2(by - ay, bx - ax))
    # near the sender first (arrows that converge on one arrival keep their labels
    # apart), elsewhere along the arrow when that spot would cover a label drawn already
    text = _label(r)
    spots = (0.45,) + _LABEL_SPOTS[1:] if r.lost else _LABEL_SPOTS
    best = None
    # above the arrow, else below it; a lost segment's label may also keep
    # clear of its cross further up
    for dy in ((-4, 13, -12) if r.lost else (-4, 13)):
        for frac in spots:
            if r.lost and frac > 0.8:
                continue
            cx, cy = lx + (ex - lx) * frac, ly + (ey - ly) * frac
            box = _label_box(text, cx, cy, angle, dy)
            cost = sum(_overlap(box, b) for b in (placed or ()))
            # between the lifelines, off the state names beside them
            bx0, bx1 = min(x for x, _ in box), max(x for x, _ in box)
            cost += 50.0 * (max(0.0, X_LEFT + 6 - bx0) + max(0.0, bx1 - (X_RIGHT - 6)))
            if best is None or cost < best[0]:
                best = (cost, cx, cy, box, dy)
            if cost == 0:
                break
        if best[0] == 0:
            break
    _, mx, my, box, dy = best
    if placed is not None:
        placed.append(box)
    weight = ' font-weight="bold"' if "rexmit" in r.tags else ""
    out.append(f'<text x="{mx:.1f}" y="{my + dy:.1f}" font-size="10.5" fill="{color}" '
               f'text-anchor="middle"{weight} transform="rotate({angle:.2f} {mx:.1f} '
               f'{my:.1f})">{escape(text)}</text>')
    return out
