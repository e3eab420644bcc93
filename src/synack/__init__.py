"""synack: TCP exactly as RFC 9293 describes it, in Python."""

__version__ = "0.1.0"


def compiled_modules() -> list[str]:
    """The synack modules running as compiled extensions (the optional mypyc
    build, `make compiled`); empty for the pure package."""
    import importlib

    from ._mypyc import COMPILED_MODULES
    out = []
    for name in COMPILED_MODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        if not (mod.__file__ or "").endswith(".py"):
            out.append(name)
    return out
