"""The ladder (sequence) diagram as text: plain, or coloured with rich.

    t (s) client state   │ arrows between the two lifelines │ server state

One row per segment at the moment it is sent, time going down. A lost
segment's arrow stops short at a cross; tags in parentheses mark
retransmissions, probes, duplicate ACKs and the like. Timer expiries, state
changes that no segment accompanies, errors and the scenario's notes get
rows of their own. Explanations follow their row, between the lifelines.
Every line fits in the width asked for (100 columns by default, `--width`).
"""
from __future__ import annotations

import textwrap

from rich.text import Text

from .model import ARRIVAL, ERROR, LEFT, NOTE, SEGMENT, STATE, TIMER, Ladder, Row

WIDTH = 100
TIME_W = 9
STATE_W = 14
ARROW_W = 56            # between the two lifelines, at WIDTH
MIN_WIDTH = 80          # narrower, the arrows' labels no longer fit
GAP_ROW = 1.0           # seconds of silence that earn a "time passes" row

S_FLAGS = {"SYN": "bold green", "FIN": "bold magenta", "RST": "bold red", "PSH": "yellow",
           "ACK": "cyan"}
S_STATE = {"ESTABLISHED": "green", "TIME_WAIT": "magenta", "CLOSED": "dim", "LISTEN": "blue"}
S_TAG = "bold red"
S_EXPLAIN = "italic"
S_DIM = "dim"
S_TIMER = "bold blue"
S_NOTE = "cyan"


def fmt_time(t: float) -> str:
    return f"{t:.3f}"


def seg_label(r: Row, with_label: bool = True, details: bool = False) -> str:
    """flags seq= ack= len= win=, after the row's label; with `details`, also
    a SYN's options and the row's tags (the SVG and Mermaid arrows)."""
    parts = [r.flag_text(), f"seq={r.shown_seq}"]
    if "ACK" in r.flags:
        parts.append(f"ack={r.shown_ack}")
    parts.append(f"len={r.length}")
    parts.append(f"win={r.wnd}")
    if details:
        if "SYN" in r.flags and r.options:
            parts.append(options_text(r.options))
        if r.tags:
            parts.append("(" + ", ".join(r.tags) + ")")
    text = " ".join(parts)
    if with_label and r.label:
        text = f"{r.label}: {text}"
    return text


def options_text(opts: dict) -> str:
    if not opts:
        return ""
    out = []
    for k, v in opts.items():
        if k == "mss":
            out.append(f"mss {v}")
        elif k == "wscale":
            out.append(f"wscale {v}")
        elif k == "sack_permitted":
            out.append("sackOK")
        elif k == "sack":
            out.append("sack " + " ".join(f"{a}-{b}" for a, b in v))
        elif k == "tsval":
            out.append(f"TS val {v} ecr {opts.get('tsecr', 0)}")
        elif k == "tsecr":
            continue
        else:
            out.append(f"{k} {v}")
    return "[" + ", ".join(out) + "]"


def tags_text(r: Row) -> str:
    tags = [t for t in r.tags if not (t == "injected" and r.label)]
    return "(" + ", ".join(tags) + ")" if tags else ""


class TextRenderer:
    def __init__(self, ladder: Ladder, explain: bool = True, header: list[str] | None = None,
                 width: int = WIDTH):
        #: the whole line; the arrows get what the time and state columns leave
        self.width = max(MIN_WIDTH, width)
        self.arrow_w = ARROW_W + (self.width - WIDTH)
        self.ladder = ladder
        self.explain = explain
        self.header = header or []
        self.lines: list[Text] = []

    # ------------------------------------------------------------------ pieces
    def state_cell(self, value: str, changed: bool) -> Text:
        bare = value.rsplit(" ", 1)[-1]
        style = S_STATE.get(bare, "")
        if changed:
            style = (style + " bold reverse").strip() if style else "bold reverse"
        cell = Text(value[:STATE_W], style=style)
        return cell

    def line(self, time: str, left: Text | str, middle: Text, right: Text | str,
             lifelines: bool = True) -> Text:
        out = Text()
        out.append(f"{time:>{TIME_W}} ", style=S_DIM)
        lt = left if isinstance(left, Text) else Text(left)
        out.append_text(lt)
        out.append(" " * (STATE_W - len(lt.plain)) + " ")
        out.append("│" if lifelines else " ", style=S_DIM)
        mid = middle.copy()
        if len(mid.plain) < self.arrow_w:
            mid.append(" " * (self.arrow_w - len(mid.plain)))
        out.append_text(mid)
        out.append("│" if lifelines else " ", style=S_DIM)
        out.append(" ")
        rt = right if isinstance(right, Text) else Text(right)
        out.append_text(rt)
        out.rstrip()
        return out

    def blank(self, middle: Text | None = None) -> Text:
        return self.line("", "", middle or Text(), "")

    def side_text(self, side: str | None, text: Text) -> Text:
        """Text in the arrow column, against the lifeline of `side`."""
        n = len(text.plain)
        if n > self.arrow_w - 2:
            text = text[:self.arrow_w - 2]
            n = self.arrow_w - 2
        if side == LEFT:
            return Text(" ").append_text(text)
        if side is None:
            pad = (self.arrow_w - n) // 2
            return Text(" " * pad).append_text(text)
        return Text(" " * (self.arrow_w - n - 1)).append_text(text)

    def arrow(self, r: Row) -> tuple[Text, list[Text]]:
        """The arrow for a segment row, and a continuation line (options, tags)."""
        label = Text()
        first = True
        if r.label:
            label.append(f"{r.label}: ", style="bold")
        for f in r.flags:
            if not first:
                label.append(",")
            label.append(f, style=S_FLAGS.get(f, ""))
            first = False
        if not r.flags:
            label.append("none")
        fields = [f"seq={r.shown_seq}"]
        if "ACK" in r.flags:
            fields.append(f"ack={r.shown_ack}")
        fields += [f"len={r.length}", f"win={r.wnd}"]
        # what fits on the arrow (long absolute numbers, a narrow --width): the
        # fields that do not go to the continuation line, so the lifelines stay put
        room = self.arrow_w - (15 if r.lost else 6)
        spill: list[str] = []
        for i, f in enumerate(fields):
            if spill or len(label.plain) + 1 + len(f) > room and i > 0:
                spill.append(f)
            else:
                label.append(" " + f)
        opts = options_text(r.options) if "SYN" in r.flags else options_text(
            {k: v for k, v in r.options.items() if k == "sack"})
        tags = tags_text(r)
        room = self.arrow_w - 6
        cont = [(" ".join(spill), S_DIM)] if spill else []
        for piece, style in ((opts, S_DIM), (tags, S_TAG)):
            if not piece:
                continue
            if len(label.plain) + 1 + len(piece) <= room and not cont:
                label.append(" ")
                label.append(piece, style=style)
            else:
                cont.append((piece, style))
        n = len(label.plain)
        to_right = r.side == LEFT
        line_style = "red" if r.lost else S_DIM
        if r.lost:
            reach = self.arrow_w - 10
            fill = max(1, reach - n - 4)
            dashes = Text("╌" * fill, style=line_style)
            if to_right:
                body = Text("╌ ", style=line_style).append_text(label).append(" ")
                body.append_text(dashes)
                body.append(" ✗", style="bold red")
                body.append(" lost", style="red")
            else:
                body = Text("lost ", style="red")
                body.append("✗ ", style="bold red")
                body.append_text(dashes)
                body.append(" ")
                body.append_text(label)
                body.append(" ╌", style=line_style)
                pad = self.arrow_w - len(body.plain)
                body = Text(" " * max(0, pad)).append_text(body)
        else:
            fill = max(1, self.arrow_w - n - 4)
            if to_right:
                body = Text("─ ", style=line_style).append_text(label).append(" ")
                body.append("─" * fill + "▶", style=line_style)
            else:
                body = Text("◀" + "─" * fill + " ", style=line_style).append_text(label)
                body.append(" ─", style=line_style)
        cont_lines = []
        if cont:
            words = " ".join(piece for piece, _ in cont)
            nb = "\u00a0"                           # keep "TS val 1 ecr 2" together
            items = [x.replace(" ", nb) for x in words.replace(", ", ",\x00").split("\x00")]
            wrapped = textwrap.wrap(" ".join(items), self.arrow_w - 4, break_on_hyphens=False)
            for ln in (w.replace(nb, " ") for w in wrapped):
                ct = Text(ln, style=S_DIM)
                for piece, style in cont:              # keep the tags' colour
                    if style != S_DIM:
                        start = ln.find(piece)
                        if start >= 0:
                            ct.stylize(style, start, start + len(piece))
                cont_lines.append(self.side_text(r.side, Text("  ").append_text(ct)
                                                 if r.side == LEFT else ct.append("  ")))
        return body, cont_lines

    def late_arrow(self, r: Row) -> Text:
        """A segment arriving long after it was sent (drawn at its arrival)."""
        label = Text()
        if r.label:
            label.append(f"{r.label}: ", style="bold")
        label.append(f"late {r.flag_text()} seq={r.shown_seq}")
        extra = [f" len={r.length}", f" (sent {r.t - (r.dt or 0):.3f})"]
        if "ACK" in r.flags:
            extra.insert(0, f" ack={r.shown_ack}")
        for piece in extra:
            if len(label.plain) + len(piece) <= self.arrow_w - 6:
                label.append(piece)
        n = len(label.plain)
        fill = max(1, self.arrow_w - n - 4)
        style = "yellow"
        if r.side == LEFT:
            return Text("┄ ", style=style).append_text(label).append(" ").append(
                "┄" * fill + "▶", style=style)
        return Text("◀" + "┄" * fill + " ", style=style).append_text(label).append(" ┄", style=style)

    def explain_lines(self, r: Row) -> list[Text]:
        out = []
        indent = TIME_W + 1 + STATE_W + 1
        for para in r.explain:
            para = para[:1].upper() + para[1:]
            for i, ln in enumerate(textwrap.wrap(para, self.width - indent - 3, break_on_hyphens=False)):
                t = Text(" " * indent)
                t.append("│", style=S_DIM)
                t.append((" " if i else " ") + ln, style=S_EXPLAIN)
                out.append(t)
        return out

    # --------------------------------------------------------------------- rows
    def row_lines(self, r: Row) -> list[Text]:
        left = self.state_cell(r.states[0], r.changed[0])
        right = self.state_cell(r.states[1], r.changed[1])
        t = fmt_time(r.t)
        who = self.ladder.name(r.side)
        out = []
        if r.kind == SEGMENT:
            body, cont = self.arrow(r)
            out.append(self.line(t, left, body, right))
            out.extend(self.blank(c) for c in cont)
        elif r.kind == ARRIVAL:
            out.append(self.line(t, left, self.late_arrow(r), right))
        elif r.kind == STATE:
            text = Text(r.text.replace(" -> ", " → "), style="bold")
            if r.cause:
                text.append(f" ({r.cause})", style=S_DIM)
            out.append(self.line(t, left, self.side_text(r.side, text), right))
        elif r.kind == TIMER:
            name = {"TIME_WAIT 2MSL": "2*MSL timer", "keepalive": "keep-alive timer",
                    "persist": "persist timer", "FIN_WAIT_2": "FIN_WAIT_2 timer"}.get(r.text, r.text)
            text = Text("⏱ ", style=S_TIMER).append(f"{name} expires", style=S_TIMER)
            if r.label:
                text = Text(f"{r.label}: ", style="bold").append_text(text)
            if r.dt is not None:
                text.append(f" (after {r.dt:g} s)", style=S_DIM)
            if r.transitions:
                text.append(" → " + r.transitions[-1][2], style="bold")
            out.append(self.line(t, left, self.side_text(r.side, text), right))
        elif r.kind == ERROR:
            text = Text("⚠ ", style="bold red").append(f"{who} application: {r.text}",
                                                       style="bold red")
            out.append(self.line(t, left, self.side_text(r.side, text), right))
        elif r.kind == NOTE:
            for i, ln in enumerate(textwrap.wrap(r.text, self.arrow_w - 4, break_on_hyphens=False)):
                text = Text(("✎ " if i == 0 else "  ") + ln, style=S_NOTE)
                out.append(self.line(t if i == 0 else "", left if i == 0 else "",
                                     self.side_text(r.side, text), right if i == 0 else ""))
        if self.explain:
            out.extend(self.explain_lines(r))
        return out

    def render(self) -> list[Text]:
        lad = self.ladder
        lines = [Text(h) if not isinstance(h, Text) else h for h in self.header]
        head = Text()
        head.append(f"{'t (s)':>{TIME_W}} ", style="bold")
        head.append(f"{lad.left_name:<{STATE_W}}", style="bold")
        head.append("  " + " " * self.arrow_w + "  ")
        head.append(lad.right_name, style="bold")
        lines.append(head)
        eps = Text(" " * (TIME_W + 1))
        eps.append(f"{lad.left_label[:STATE_W + 20]:<{STATE_W + 2}}", style=S_DIM)
        pad = TIME_W + 1 + STATE_W + 2 + self.arrow_w + 3 - len(eps.plain)
        right = lad.right_label
        if pad < 1:
            pad = 1
        eps.append(" " * pad)
        eps.append(right, style=S_DIM)
        if len(eps.plain) > self.width:
            eps = eps[:self.width]
        lines.append(eps)
        prev_t = None
        for r in lad.rows:
            if prev_t is not None and r.t - prev_t >= GAP_ROW:
                lines.append(self.line("", "", self.side_text(
                    None, Text(f"┆ {r.t - prev_t:g} s later ┆", style=S_DIM)), ""))
            prev_t = r.t
            lines.extend(self.row_lines(r))
        for ln in lines:
            if len(ln.plain) > self.width:
                ln.truncate(self.width)
        return lines


def render_text(ladder: Ladder, explain: bool = True, header: list | None = None,
                width: int = WIDTH) -> list[Text]:
    """The ladder as rich Text lines, none longer than `width` columns
    (default 100; at least MIN_WIDTH)."""
    return TextRenderer(ladder, explain, header, width).render()


def to_plain(lines: list[Text]) -> str:
    return "".join(ln.plain.rstrip() + "\n" for ln in lines)
