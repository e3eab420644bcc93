"""The engine's shape (issue 11): every function in src/synack/engine/ fits
on a screen, and segment arrival reads as RFC 9293 §3.10.7.4, one method per
step, in the RFC's order, each citing its step."""
from __future__ import annotations

import ast
import pathlib

import synack.engine

ENGINE = pathlib.Path(synack.engine.__file__).parent
MAX_LINES = 80


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_engine_modules_are_found():
    names = {p.stem for p in ENGINE.glob("*.py")}
    assert {"connection", "host", "listener", "reassembly", "timewait"} <= names


def test_no_engine_function_longer_than_80_lines():
    """From the `def` line to the last line of the body, docstring included
    (decorators not counted); nested functions are measured on their own
    and inside the function that holds them."""
    too_long = []
    for path in sorted(ENGINE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for fn in _functions(tree):
            n = fn.end_lineno - fn.lineno + 1
            if n > MAX_LINES:
                too_long.append(f"{path.name}:{fn.lineno} {fn.name} is {n} lines")
    assert not too_long, "longer than %d lines:\n%s" % (MAX_LINES, "\n".join(too_long))


def test_the_length_check_sees_a_long_function():
    """The check above counts what it claims to: a function of 81 lines fails it."""
    src = "def f():\n" + "    x = 1\n" * 80
    (fn,) = _functions(ast.parse(src))
    assert fn.end_lineno - fn.lineno + 1 == 81 > MAX_LINES


# RFC 9293 §3.10.7.4, "Otherwise": the methods that make each check
STEPS = [
    ("First", "check the sequence number", "_check_sequence"),
    ("Second", "check the RST bit", "_check_rst"),
    ("Fourth", "check the SYN bit", "_check_syn"),
    ("Fifth", "check the ACK field", "_check_ack"),
    ("Sixth", "check the URG bit", "_check_urg"),
    ("Seventh", "process the segment text", "_process_text"),
    ("Eighth", "check the FIN bit", "_check_fin"),
]


def _connection_methods() -> dict[str, ast.FunctionDef]:
    """Connection's methods, read from the source (the compiled build's
    methods have no source to inspect)."""
    tree = ast.parse((ENGINE / "connection.py").read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Connection"]
    return {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}


def _calls(fn: ast.FunctionDef) -> list[str]:
    """The names of the methods `fn` calls, in source order."""
    out = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            out.append((node.lineno, node.col_offset, node.func.attr))
    return [name for _, _, name in sorted(out)]


def test_each_step_has_its_method_citing_the_step():
    methods = _connection_methods()
    for ordinal, words, name in STEPS:
        doc = ast.get_docstring(methods[name]) or ""
        assert doc.startswith(f"{ordinal}, {words}"), (name, doc[:60])
        assert "3.10.7.4" in doc, name


def test_arrival_calls_the_steps_in_the_rfcs_order():
    """`_rcv_synchronized` calls the steps' methods in the RFC's order and
    says what the third (security) step does; `_rcv_text_and_fin` (the
    SYN-SENT path's "continue at the sixth step") calls the last three."""
    methods = _connection_methods()
    steps = [s[2] for s in STEPS]
    top = [n for n in _calls(methods["_rcv_synchronized"]) if n in steps]
    assert top == steps
    src = ast.get_source_segment((ENGINE / "connection.py").read_text(),
                                 methods["_rcv_synchronized"])
    assert "Third, check security" in src
    rest = [n for n in _calls(methods["_rcv_text_and_fin"]) if n in steps]
    assert rest == ["_check_urg", "_process_text", "_check_fin"]
