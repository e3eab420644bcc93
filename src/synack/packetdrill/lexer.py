"""Tokenizer for the packetdrill script language.

The language is free-form: newlines are ordinary whitespace, and an event
ends where the next event's time begins. This module turns the script
text into a flat list of `Token`s; `synack.packetdrill.parser` builds the
tree from them.

Lexical facts this follows (from the packetdrill grammar notes):

* `// ...` runs to the end of the line, `/* ... */` may span lines; both
  are ignored.
* `--name` or `--name=value` is a command-line style option.
* `` `...` `` is a shell command (may span lines), `%{ ... }%` a Python
  snippet (may span lines), `"..."` a string. Backslash escapes inside them
  are kept verbatim: packetdrill does not decode them either.
* `...` is the ellipsis; numbers are decimal integers (an optional leading
  `-` glued to the digits), `0x` hex integers, or decimals such as `.1`,
  `0.250`; `1.2.3.4` is an IPv4 address.
* A word is a run of letters, digits and `_` (it may begin with a digit,
  as a fast-open cookie like `1a2b` does). Keywords such as `ack`, `win`
  or `mss` are plain words here; the parser gives them meaning by place.
* Any other visible character is a one-character punctuation token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ScriptSyntaxError", "Token", "tokenize"]


class ScriptSyntaxError(Exception):
    """A script that packetdrill would refuse, with where and why.

    `line` and `column` are 1-based. `str()` gives
    ``path:line:column: message`` followed by the offending source line and
    a caret under the column, when the source is known.
    """

    def __init__(self, path: str, line: int, column: int, message: str,
                 source_line: str | None = None) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.source_line = source_line
        super().__init__(path, line, column, message)

    def __str__(self) -> str:
        head = f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.source_line is None:
            return head
        text = self.source_line.rstrip("\n").expandtabs(8)
        # Place the caret under the column as displayed (tabs expanded).
        raw_prefix = self.source_line[: max(self.column - 1, 0)]
        caret_at = len(raw_prefix.expandtabs(8))
        return f"{head}\n    {text}\n    {' ' * caret_at}^"


# Token kinds.
INT = "INT"            # decimal integer; value is int
HEX = "HEX"            # 0x... integer; value is int
FLOAT = "FLOAT"        # decimal with a point; value is float
WORD = "WORD"          # identifier or keyword; value is the text
STRING = "STRING"      # "..."; value is the text between the quotes
BACKQUOTE = "BACKQUOTE"  # `...`; value is the text between the backquotes
CODE = "CODE"          # %{ ... }%; value is the snippet, ends' blanks trimmed
OPTION = "OPTION"      # --name[=value]; value is (name, value-or-None)
ELLIPSIS = "ELLIPSIS"  # ...
IPV4 = "IPV4"          # dotted quad; value is the text
PUNCT = "PUNCT"        # any other single character; value is that character
EOF = "EOF"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str          # exactly as written in the source
    value: object
    line: int          # 1-based
    column: int        # 1-based
    start: int         # offset of the first character in the source
    end: int           # offset one past the last character
    space_before: bool  # whitespace or a comment separates it from the previous token

    def is_punct(self, ch: str) -> bool:
        return self.kind == PUNCT and self.value == ch

    def is_word(self, word: str) -> bool:
        return self.kind == WORD and self.value == word

    def describe(self) -> str:
        """How to name this token in an error message."""
        if self.kind == EOF:
            return "end of script"
        text = self.text
        if len(text) > 30:
            text = text[:27] + "..."
        text = text.replace("\n", "\\n")
        return f"'{text}'"


_WORD_CHARS = re.compile(r"[A-Za-z0-9_]+")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+\Z")
_DIGITS = re.compile(r"[0-9]+")
_IPV4_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_FLOAT_TAIL = re.compile(r"\.[0-9]+")
_OPTION_NAME = re.compile(r"--([A-Za-z0-9_]+)")


class _Lexer:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.lines = text.splitlines(keepends=True)

    # -- helpers -----------------------------------------------------------
    def error(self, message: str, line: int, column: int) -> ScriptSyntaxError:
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return ScriptSyntaxError(self.path, line, column, message, src)

    def advance_to(self, new_pos: int) -> None:
        """Move to new_pos, keeping line bookkeeping right across newlines."""
        chunk = self.text[self.pos:new_pos]
        newlines = chunk.count("\n")
        if newlines:
            self.line += newlines
            self.line_start = self.pos + chunk.rindex("\n") + 1
        self.pos = new_pos

    def emit(self, kind: str, start: int, end: int, value: object,
             line: int, column: int, space_before: bool) -> None:
        self.tokens.append(Token(kind, self.text[start:end], value, line,
                                 column, start, end, space_before))
        self.advance_to(end)

    # -- main loop ---------------------------------------------------------
    def run(self) -> list[Token]:
        text = self.text
        n = len(text)
        space_before = True
        while True:
            # Skip whitespace and comments.
            while self.pos < n:
                ch = text[self.pos]
                if ch in " \t\r\n\f\v":
                    self.advance_to(self.pos + 1)
                    space_before = True
                elif text.startswith("//", self.pos):
                    nl = text.find("\n", self.pos)
                    self.advance_to(n if nl < 0 else nl)
                    space_before = True
                elif text.startswith("/*", self.pos):
                    close = text.find("*/", self.pos + 2)
                    if close < 0:
                        raise self.error("unterminated /* comment", self.line,
                                         self.pos - self.line_start + 1)
                    self.advance_to(close + 2)
                    space_before = True
                else:
                    break
            line = self.line
            column = self.pos - self.line_start + 1
            if self.pos >= n:
                self.tokens.append(Token(EOF, "", None, line, column, n, n,
                                         space_before))
                return self.tokens
            self.lex_one(line, column, space_before)
            space_before = False

    def lex_one(self, line: int, column: int, space_before: bool) -> None:
        text = self.text
        pos = self.pos
        ch = text[pos]
        nxt = text[pos + 1] if pos + 1 < len(text) else ""

        def emit(kind: str, end: int, value: object) -> None:
            self.emit(kind, pos, end, value, line, column, space_before)

        if text.startswith("...", pos):
            emit(ELLIPSIS, pos + 3, None)
            return
        if ch == "-" and nxt == "-":
            m = _OPTION_NAME.match(text, pos)
            if m:
                self.lex_option(m, line, column, space_before)
                return
        if ch == '"' or ch == "`":
            end = self.find_closing(pos, ch)
            if end < 0:
                what = "string" if ch == '"' else "backquoted command"
                raise self.error(f"unterminated {what} (no closing {ch})",
                                 line, column)
            emit(STRING if ch == '"' else BACKQUOTE, end + 1,
                 text[pos + 1:end])
            return
        if ch == "%" and nxt == "{":
            close = text.find("}%", pos + 2)
            if close < 0:
                raise self.error("unterminated code block: '%{' without '}%'",
                                 line, column)
            emit(CODE, close + 2, text[pos + 2:close].strip(" \t"))
            return
        # Numbers, possibly negative: -12, -.5
        if ch == "-" and (nxt.isdigit() or
                          (nxt == "." and pos + 2 < len(text)
                           and text[pos + 2].isdigit())):
            self.lex_number(pos + 1, line, column, space_before, negative=True)
            return
        if ch.isdigit() or (ch == "." and nxt.isdigit()):
            self.lex_number(pos, line, column, space_before, negative=False)
            return
        if ch.isalpha() or ch == "_":
            m = _WORD_CHARS.match(text, pos)
            assert m
            emit(WORD, m.end(), m.group())
            return
        emit(PUNCT, pos + 1, ch)

    def find_closing(self, pos: int, quote: str) -> int:
        """Offset of the quote closing the one at pos; backslash escapes."""
        text = self.text
        i = pos + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == quote:
                return i
            i += 1
        return -1

    def lex_number(self, digits_at: int, line: int, column: int,
                   space_before: bool, negative: bool) -> None:
        text = self.text
        start = self.pos
        sign = -1 if negative else 1

        def emit(kind: str, end: int, value: object) -> None:
            self.emit(kind, start, end, value, line, column, space_before)

        if text[digits_at] == ".":
            m = _FLOAT_TAIL.match(text, digits_at)
            assert m
            emit(FLOAT, m.end(), sign * float(text[digits_at:m.end()]))
            return
        if not negative:
            m = _IPV4_RE.match(text, digits_at)
            if m and not _WORD_CHARS.match(text, m.end()):
                emit(IPV4, m.end(), m.group())
                return
        run = _WORD_CHARS.match(text, digits_at)
        assert run
        word = run.group()
        if _HEX_RE.match(word) and not negative:
            emit(HEX, run.end(), int(word, 16))
            return
        digits = _DIGITS.match(text, digits_at)
        assert digits
        if digits.end() == run.end():
            tail = _FLOAT_TAIL.match(text, digits.end())
            if tail:
                emit(FLOAT, tail.end(),
                     sign * float(text[digits_at:tail.end()]))
            else:
                emit(INT, digits.end(), sign * int(digits.group()))
            return
        if negative:
            # "-12abc": the sign and number, then a word.
            emit(INT, digits.end(), -int(digits.group()))
            return
        # A word that starts with a digit, such as a hex cookie "1a2b".
        emit(WORD, run.end(), word)

    def lex_option(self, m: re.Match, line: int, column: int,
                   space_before: bool) -> None:
        text = self.text
        start = self.pos
        name = m.group(1)
        end = m.end()
        value: str | None = None
        if end < len(text) and text[end] == "=":
            i = end + 1
            # The value runs to the next blank outside quotes.
            while i < len(text) and text[i] not in " \t\r\n":
                if text[i] in "\"`":
                    close = self.find_closing(i, text[i])
                    if close < 0:
                        raise self.error(
                            f"unterminated quote in value of option --{name}",
                            line, column)
                    i = close + 1
                else:
                    i += 1
            raw = text[end + 1:i]
            if (len(raw) >= 2 and raw[0] in "\"`" and raw[-1] == raw[0]
                    and self.find_closing(end + 1, raw[0]) == i - 1):
                raw = raw[1:-1]
            value = raw
            end = i
        self.emit(OPTION, start, end, (name, value), line, column, space_before)


def tokenize(text: str, path: str = "<string>") -> list[Token]:
    """Split script text into tokens, ending with one EOF token."""
    return _Lexer(text, path).run()
