"""--plot writes the format its file name asks for, and draws what the
scenario has (issue 12)."""
import pytest

from synack.cli import main
from synack.scenarios import get
from synack.viz.plot import plot_time_sequence


@pytest.mark.parametrize("name,magic", [("g.svg", b"<?xml"), ("g.pdf", b"%PDF"),
                                        ("g.png", b"\x89PNG")])
def test_plot_format_from_the_file_name(tmp_path, name, magic):
    path = tmp_path / name
    assert main(["run", "lost-syn", "--plot", str(path), "-o", str(tmp_path / "out.txt")]) == 0
    assert path.read_bytes().startswith(magic)


def test_keepalive_plot_is_of_the_side_that_probes(tmp_path):
    res = get("keepalive").run()
    d = plot_time_sequence(res.dicts(), tmp_path / "k.svg", left=res.left, right=res.right)
    assert d[0].startswith("10.0.0.1:") and d[1] == "10.0.0.2:80"
    svg = (tmp_path / "k.svg").read_text()
    assert "keep-alive probe" in svg                     # the legend entry of the probes


def test_bulk_plot_is_of_the_data(tmp_path):
    res = get("loss").run()
    d = plot_time_sequence(res.dicts(), tmp_path / "l.png", left=res.left, right=res.right)
    assert d[0].startswith("10.0.0.1:") and d[1] == "10.0.0.2:5001"   # client -> server bulk


# ------------------------------------------------------------- SVG label collisions
def _arrow_labels(svg: str):
    import html
    import re
    from synack.viz.svg import _label_box
    out = []
    for m in re.finditer(r'<text x="([\d.]+)" y="([\d.-]+)"[^>]*transform="rotate\(([-\d.]+) '
                         r'([\d.]+) ([\d.]+)\)">([^<]*)</text>', svg):
        x, y, angle, cx, cy, text = m.groups()
        dy = float(y) - float(cy)
        out.append(_label_box(html.unescape(text), float(cx), float(cy), float(angle), dy))
    return out


@pytest.mark.parametrize("name", ["lifecycle", "simultaneous-close", "half-close", "lost-final-ack"])
def test_svg_arrow_labels_do_not_overlap(tmp_path, name):
    from synack.viz.svg import _overlap
    path = tmp_path / "l.svg"
    assert main(["run", name, "--format", "svg", "-o", str(path)]) == 0
    boxes = _arrow_labels(path.read_text())
    assert len(boxes) >= 5
    hits = [(i, j) for i in range(len(boxes)) for j in range(i) if _overlap(boxes[i], boxes[j])]
    assert not hits, f"labels {hits} overlap"


@pytest.mark.parametrize("args", [["--absolute"], ["--width", "80"], ["--absolute", "--width", "90"]])
def test_text_lifelines_stay_aligned(tmp_path, args):
    out = tmp_path / "l.txt"
    assert main(["run", "lifecycle", "-o", str(out), *args]) == 0
    cols = {tuple(i for i, ch in enumerate(ln) if ch == "│")
            for ln in out.read_text().splitlines() if ln.count("│") == 2}
    assert len(cols) == 1, f"the lifelines move: {sorted(cols)}"
