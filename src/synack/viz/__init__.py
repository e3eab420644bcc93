"""Drawing what the simulator recorded: ladder diagrams (text, Mermaid, SVG),
time-sequence plots and the RFC 9293 state diagram."""
from .model import Ladder, Row, build_ladder

__all__ = ["Ladder", "Row", "build_ladder"]
