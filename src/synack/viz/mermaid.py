"""The ladder as a Mermaid sequence diagram (GitHub renders it in Markdown).

Arrows are the segments (`->>`; `-x` for a lost one, `-->>` for one that
arrives long after it was sent), prefixed with the send time. A state change
is a note beside its side's lifeline, placed before the segment it goes
with; timer expiries, errors and the scenario's notes are notes too, and so
are the explanations (over both lifelines) unless they are turned off.
"""
from __future__ import annotations

import textwrap

from .model import ARRIVAL, ERROR, LEFT, NOTE, SEGMENT, STATE, TIMER, Ladder, Row
from .text import seg_label

WRAP = 70


def escape(text: str) -> str:
    """Mermaid treats ';' and '#' specially and '<' '>' as HTML: replace them."""
    return (text.replace("#", "#35;").replace(";", "#59;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def _label(r: Row) -> str:
    return f"[{r.t:.3f}] " + seg_label(r, details=True)


def render_mermaid(ladder: Ladder, explain: bool = True, title: str | None = None) -> str:
    L, R = "L", "R"
    out = ["sequenceDiagram"]
    if title:
        out.append(f"    %% {escape(title)}")
    out.append(f"    participant {L} as {escape(ladder.left_name)} {escape(ladder.left_label)}")
    out.append(f"    participant {R} as {escape(ladder.right_name)} {escape(ladder.right_label)}")

    def who(side):
        return L if side == LEFT else R

    def note_at(side, text):
        if side is None:
            return f"    Note over {L},{R}: {escape(text)}"
        where = "left of" if side == LEFT else "right of"
        return f"    Note {where} {who(side)}: {escape(text)}"

    def state_notes(r: Row) -> list[str]:
        lines = []
        for i, side in enumerate((LEFT, "right")):
            if r.changed[i]:
                lines.append(note_at(side, r.states[i]))
        return lines

    for r in ladder.rows:
        if r.kind == SEGMENT:
            out.extend(state_notes(r))
            arrow = "-x" if r.lost else "->>"
            text = _label(r) + (f" (lost: {r.reason})" if r.lost else "")
            out.append(f"    {who(r.side)}{arrow}{who(r.other)}: {escape(text)}")
        elif r.kind == ARRIVAL:
            text = f"[{r.deliver_t:.3f}] late: " + _label(r)[len(f'[{r.t:.3f}] '):] \
                + f" (sent at {r.t - (r.dt or 0):.3f})"
            out.append(f"    {who(r.side)}-->>{who(r.other)}: {escape(text)}")
        elif r.kind == STATE:
            side = r.side
            out.append(note_at(side, f"[{r.t:.3f}] {r.text.replace(' -> ', ' → ')}"))
        elif r.kind == TIMER:
            text = f"[{r.t:.3f}] {r.text} timer expires"
            if r.transitions:
                text += f" → {r.transitions[-1][2]}"
            out.append(note_at(r.side, text))
        elif r.kind == ERROR:
            out.append(note_at(r.side, f"[{r.t:.3f}] application: {r.text}"))
        elif r.kind == NOTE:
            out.append(note_at(r.side, f"[{r.t:.3f}] {r.text}"))
        if explain:
            for para in r.explain:
                lines = textwrap.wrap(para, WRAP, break_on_hyphens=False)
                out.append(f"    Note over {L},{R}: " + "<br/>".join(escape(x) for x in lines))
    return "\n".join(out) + "\n"
