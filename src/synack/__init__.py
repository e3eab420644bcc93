"""synack: TCP exactly as RFC 9293 describes it, in Python."""

__version__ = "0.1.0"
