"""A time-sequence graph in the style of tcptrace and Stevens (matplotlib, Agg).

For the direction that carries the most data: each data segment is a vertical
bar from its first to its last sequence number at the time it was sent
(retransmissions in red, lost segments ending in a cross); the ACK line is
the cumulative ack the sender receives, and the window line sits at
ack + window, the most the receiver allows. Where the bars run into the
window line, the receiver is limiting the sender; where they stop below it
and a long pause follows, a retransmission timer is running.
"""
from __future__ import annotations

from .model import SEGMENT, build_ladder, rel

#: file name endings matplotlib's Agg backend writes, and the format each asks for
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg",
           ".eps": "eps", ".ps": "ps"}


def plot_format(path) -> str:
    """The format the file name asks for: `x.svg` is SVG, `x.png` PNG. A name
    without one of FORMATS' endings is a usage error."""
    import os
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in FORMATS:
        from ..usage import UserError
        raise UserError(f"--plot {path}: the file name must end in one of "
                        f"{', '.join(sorted(FORMATS))} (the format is chosen by it)")
    return FORMATS[ext]


def _direction(rows) -> tuple[str, str] | None:
    """The direction that carries the most data; when neither carries a
    full segment's worth (a handshake, keep-alive, a request and a short
    answer), the one that sends the most segments: its probes and
    retransmissions are the story."""
    by_dir: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        if r.kind == SEGMENT:
            v = by_dir.setdefault((r.src, r.dst), [0, 0])
            v[0] += r.length
            v[1] += 1
    if not by_dir:
        return None
    if max(v[0] for v in by_dir.values()) < 1460:
        return max(by_dir, key=lambda k: (by_dir[k][1], by_dir[k][0]))
    return max(by_dir, key=lambda k: (by_dir[k][0], by_dir[k][1]))


def plot_time_sequence(events, path, title: str | None = None, left=None, right=None,
                       direction: tuple[str, str] | None = None) -> tuple[str, str] | None:
    """Draw the graph into `path` (PNG). Returns the (src, dst) direction drawn."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    events = list(events)
    ladder = build_ladder(events, left=left, right=right, absolute=True, explain=False)
    rows = ladder.rows
    d = direction or _direction(rows)
    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    if d is None:
        ax.text(0.5, 0.5, "no segments", ha="center", va="center", transform=ax.transAxes)
        fig.savefig(path, format=plot_format(path))
        plt.close(fig)
        return None
    src, dst = d
    data = [r for r in rows if r.kind == SEGMENT and r.src == src and r.dst == dst]
    acks = [r for r in rows if r.kind == SEGMENT and r.src == dst and r.dst == src
            and "ACK" in r.flags and "RST" not in r.flags]
    base = None
    for r in data:
        if "SYN" in r.flags:
            base = r.seq
            break
    if base is None:
        base = data[0].seq if data else 0

    def y(v: int) -> int:
        return rel(v, base)

    t_min = min(r.t for r in data) if data else 0.0
    t_max = max([r.t for r in data] + [r.deliver_t for r in acks if r.deliver_t] + [t_min])
    t_max = max(t_max, t_min + 1e-3)
    # the ACK and window lines, as the sender sees them (at delivery)
    got = sorted((r.deliver_t, y(r.ack), y(r.ack) + r.wnd) for r in acks
                 if r.deliver_t is not None and not r.lost and r.deliver_t <= t_max + 1e-9)
    if got:
        ts = [g[0] for g in got] + [t_max]
        ax.step(ts, [g[1] for g in got] + [got[-1][1]], where="post", color="#2e7d32",
                linewidth=1.3, label="ACK (cumulative, as received)")
        ax.step(ts, [g[2] for g in got] + [got[-1][2]], where="post", color="#f9a825",
                linewidth=1.3, label="receive window (ack + win)")
    sent_label = rtx_label = lost_label = probe_label = False
    for r in data:
        lo = y(r.seq)
        hi = lo + max(r.seg_len, 0)
        rtx = "rexmit" in r.tags
        color = "#c62828" if rtx else "#1a237e"
        kw = {}
        if rtx and not rtx_label:
            kw["label"] = "retransmission"
            rtx_label = True
        elif not rtx and not sent_label and r.length:
            kw["label"] = "data segment (seq .. seq+len)"
            sent_label = True
        if r.seg_len:
            ax.plot([r.t, r.t], [lo, hi], color=color, linewidth=1.6, **kw)
            ax.plot([r.t - (t_max - t_min) * 0.002, r.t + (t_max - t_min) * 0.002], [hi, hi],
                    color=color, linewidth=1.0)
        if r.lost:
            ax.plot([r.t], [hi], marker="x", color="#c62828", markersize=7,
                    linestyle="none", **({"label": "lost"} if not lost_label else {}))
            lost_label = True
        for flag, letter in (("SYN", "S"), ("FIN", "F"), ("RST", "R")):
            if flag in r.flags:
                ax.annotate(letter, (r.t, hi), textcoords="offset points", xytext=(3, 2),
                            fontsize=8, color=color)
        if "window probe" in r.tags:
            ax.annotate("P", (r.t, hi), textcoords="offset points", xytext=(3, 2), fontsize=8,
                        color="#6a1b9a")
        if "keep-alive" in r.tags:
            ax.plot([r.t], [lo], marker="^", color="#6a1b9a", markersize=6, linestyle="none",
                    **({"label": "keep-alive probe (seq = SND.NXT-1)"} if not probe_label else {}))
            probe_label = True
        elif not r.seg_len and not r.lost and ({"SYN", "FIN", "RST"} & set(r.flags)):
            ax.plot([r.t], [lo], marker=".", color=color, markersize=5, linestyle="none")
    # the window line can sit far above a small transfer: keep the data readable
    tops = [y(r.seq) + max(r.seg_len, 0) for r in data] + [g[1] for g in got]
    if tops:
        top = max(tops)
        win_top = max([g[2] for g in got], default=top)
        if win_top > 4 * max(top, 1) + 1000:
            ax.set_ylim(bottom=min(-1, -0.05 * top), top=top * 1.3 + 100)
            ax.annotate(f"receive window above, up to {win_top:,}", xy=(0.99, 0.98),
                        xycoords="axes fraction", ha="right", va="top", fontsize=8,
                        color="#f9a825")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"sequence number, relative (bytes)  [{src} → {dst}]")
    ax.set_title(title or "time-sequence graph")
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format=plot_format(path))
    plt.close(fig)
    return d
