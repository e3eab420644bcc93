"""In a Jupyter notebook a trace, or a scenario's result, shows as the ladder
diagram: IPython calls `_repr_svg_`. Called here directly."""
import xml.etree.ElementTree as ET

from synack.scenarios import Options, get
from synack.sim import Network
from synack.sim.trace import Trace

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)                    # well-formed XML
    assert root.tag == SVG + "svg"
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def test_a_trace_shows_as_its_ladder():
    net = Network(seed=1)
    c, s = net.add_host("10.0.0.1"), net.add_host("10.0.0.2")
    net.link(c, s, delay=0.010)
    lst = s.listen(80)
    conn = c.connect("10.0.0.2", 80)
    net.run(until=1.0)
    conn.close()
    lst.accept().close()
    net.run()
    words = texts(net.trace._repr_svg_())
    sends = [r for r in net.trace.to_dicts() if r["type"] == "segment" and r["event"] == "send"]
    arrows = [t for t in words if t.split(" ")[0] in ("SYN", "SYN,ACK", "ACK", "FIN,ACK")]
    assert len(arrows) == len(sends) == 7            # 3 for the handshake, 4 to close
    assert {"SYN_SENT", "ESTABLISHED", "TIME_WAIT", "CLOSED"} <= set(words)


def test_a_scenarios_result_shows_as_its_ladder_with_its_title():
    res = get("lost-final-ack").run(Options())
    words = texts(res._repr_svg_())
    assert "lost-final-ack: Lost final ACK: why TIME_WAIT exists" in words
    assert any("(rexmit)" in w and w.startswith("FIN,ACK") for w in words)
    assert any(w.endswith("✗ lost") or "lost" in w for w in words)


def test_an_empty_trace_still_draws():
    ET.fromstring(Trace()._repr_svg_())
