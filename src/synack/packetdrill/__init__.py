"""The packetdrill script language: parse `.pkt` scripts into a tree.

    from synack.packetdrill import parse_file
    script = parse_file("tcp/close/close-on-syn-sent.pkt")
    for event in script.events: ...

See `synack.packetdrill.ast` for the node types and how times are meant,
and `synack.packetdrill.parser` for the checks made while parsing.
"""
from .ast import *  # noqa: F401,F403
from .ast import __all__ as _ast_all
from .lexer import ScriptSyntaxError, Token, tokenize
from .parser import parse_file, parse_text

__all__ = ["parse_file", "parse_text", "ScriptSyntaxError", "Token",
           "tokenize", *_ast_all]
