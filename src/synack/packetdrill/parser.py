"""Recursive-descent parser for packetdrill scripts.

Entry points: `parse_text(text, path)` and `parse_file(path)`, both giving a
`synack.packetdrill.ast.Script` or raising `ScriptSyntaxError`.

Besides the grammar, the parser applies the checks packetdrill makes while
parsing, so a script it accepts is one packetdrill would accept too:
times are not negative and ranges not backwards; `*` and `a~b` times only
on outbound packets; `<...>` options only on outbound packets; inbound TCP
packets give `win`; `end = start + length`; numbers fit their fields; TCP
flags are valid letters; options fill a multiple of 4 bytes and at most 40.

Not supported (packetdrill has them, no script here uses them): packet
encapsulation prefixes (`ipv4 a > b:`, `ipv6 ...`, `gre`, `mpls`), GRE and
MPLS expressions, and packet fuzzing specs; they raise ScriptSyntaxError
saying so.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path

from . import ast as A
from .lexer import (BACKQUOTE, CODE, ELLIPSIS, EOF, FLOAT, HEX, INT, IPV4,
                    OPTION, STRING, WORD, ScriptSyntaxError, Token,
                    tokenize)

__all__ = ["parse_text", "parse_file", "ScriptSyntaxError"]

_U8 = (1 << 8) - 1
_U16 = (1 << 16) - 1
_U20 = (1 << 20) - 1
_U32 = (1 << 32) - 1

_VALID_FLAGS = ".FSRPEWAU01234567"
_ECN_FLAGS = "EWA"
_ACE_FLAGS = "01234567"
_MAX_OPTION_BYTES = 40
# A Fast Open cookie fills what the 40 option bytes leave after the option's
# own header: kind and length (2 bytes, RFC 7413 §4.1.1), plus the 2-byte
# magic of the experimental form (option 254, RFC 6994). packetdrill's own
# limits are the same, so a script it accepts, this parser accepts.
_MAX_COOKIE_BYTES = _MAX_OPTION_BYTES - 2
_MAX_EXP_COOKIE_BYTES = _MAX_OPTION_BYTES - 4
_ECN_WORDS = ("noecn", "ect0", "ect1", "ce", "ect01")
_ENCAPSULATIONS = ("ipv4", "ipv6", "gre", "GREv0", "mpls")
# Function-like forms allowed as a system call's result (elsewhere any
# `word(...)` is a call): a result word followed by `(` is normally an
# errno name and its note.
_RESULT_CALLS = ("inet_addr", "inet6_addr", "htons", "htonl", "sizeof")
_HEX_BLOB = re.compile(r"[0-9a-fA-F]*\Z")
# A name given a value with `-D NAME=VALUE` (packetdrill's --define), such as
# the `TFO_COOKIE` of the Fast Open scripts.
_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class _Parser:
    def __init__(self, text: str, path: str,
                 defines: Mapping[str, str] | None = None) -> None:
        self.text = text
        self.path = path
        self.lines = text.splitlines(keepends=True)
        self.tokens = tokenize(text, path)
        if defines:
            self.tokens = [_substitute(t, defines, path) for t in self.tokens]
        self.i = 0

    # -- token helpers -----------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        j = min(self.i + ahead, len(self.tokens) - 1)
        return self.tokens[j]

    def next(self) -> Token:
        t = self.tokens[self.i]
        if t.kind != EOF:
            self.i += 1
        return t

    def error_at(self, tok: Token, message: str) -> ScriptSyntaxError:
        src = self.lines[tok.line - 1] if 0 < tok.line <= len(self.lines) else None
        return ScriptSyntaxError(self.path, tok.line, tok.column, message, src)

    def unexpected(self, expected: str, tok: Token | None = None) -> ScriptSyntaxError:
        tok = tok or self.tok
        message = f"expected {expected}, found {tok.describe()}"
        if tok.kind == EOF and self.i > 0:
            # Point just past the last real token rather than at a line
            # that may not exist.
            prev = self.tokens[self.tokens.index(tok) - 1]
            line, column = self.position_of(prev.end)
            src = self.lines[line - 1] if 0 < line <= len(self.lines) else None
            return ScriptSyntaxError(self.path, line, column, message, src)
        return self.error_at(tok, message)

    def position_of(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a source offset."""
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return line, column

    def at_punct(self, ch: str) -> bool:
        return self.tok.is_punct(ch)

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == WORD and self.tok.value in words

    def accept_punct(self, ch: str) -> Token | None:
        if self.at_punct(ch):
            return self.next()
        return None

    def expect_punct(self, ch: str, context: str = "") -> Token:
        if not self.at_punct(ch):
            raise self.unexpected(f"'{ch}'" + (f" {context}" if context else ""))
        return self.next()

    def expect_word(self, word: str, context: str = "") -> Token:
        if not self.at_word(word):
            raise self.unexpected(f"'{word}'" + (f" {context}" if context else ""))
        return self.next()

    def expect_int(self, what: str, lo: int | None = None,
                   hi: int | None = None, allow_hex: bool = False) -> int:
        tok = self.tok
        kinds = (INT, HEX) if allow_hex else (INT,)
        if tok.kind not in kinds:
            raise self.unexpected(f"an integer for {what}")
        self.next()
        value = int(tok.value)  # type: ignore[arg-type]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error_at(tok, f"{what} {value} out of range "
                                     f"({lo}..{hi})")
        return value

    def expect_hex(self, what: str, hi: int) -> int:
        tok = self.tok
        if tok.kind != HEX:
            raise self.unexpected(f"a 0x hex number for {what}")
        self.next()
        value = int(tok.value)  # type: ignore[arg-type]
        if value > hi:
            raise self.error_at(tok, f"{what} {value:#x} out of range (max {hi:#x})")
        return value

    # -- script ------------------------------------------------------------
    def parse_script(self) -> A.Script:
        options: dict[str, str] = {}
        option_items: list[tuple[str, str | None]] = []
        events: list[A.Event] = []
        seen_timed = False
        pending_cleanup: list[tuple[A.ShellCommand, Token]] = []

        while self.tok.kind != EOF:
            tok = self.tok
            if tok.kind == OPTION:
                if seen_timed:
                    raise self.error_at(
                        tok, "options (--name=value) must come before the "
                             "first event")
                self.next()
                name, value = tok.value  # type: ignore[misc]
                option_items.append((name, value))
                options[name] = "" if value is None else value
                continue
            if tok.kind == BACKQUOTE:
                self.next()
                cmd = A.ShellCommand(line=tok.line, time=None, text=str(tok.value),
                                     phase="cleanup" if seen_timed else "init")
                if seen_timed:
                    pending_cleanup.append((cmd, tok))
                else:
                    events.append(cmd)
                continue
            if pending_cleanup:
                raise self.error_at(
                    pending_cleanup[0][1],
                    "a command without a time must come before the first "
                    "event or after the last one; give it a time (e.g. +0)")
            events.append(self.parse_event())
            seen_timed = True
        events.extend(cmd for cmd, _tok in pending_cleanup)
        return A.Script(options=options, events=events, path=self.path,
                        option_items=option_items)

    # -- events ------------------------------------------------------------
    def parse_event(self) -> A.Event:
        first = self.tok
        time = self.parse_event_time()
        line = first.line
        tok = self.tok
        if tok.is_punct("<") or tok.is_punct(">"):
            event = self.parse_packet(line, time)
        elif tok.kind == ELLIPSIS or tok.kind == WORD:
            event = self.parse_syscall(line, time)
        elif tok.kind == BACKQUOTE:
            self.next()
            event = A.ShellCommand(line=line, time=time, text=str(tok.value),
                                   phase="event")
        elif tok.kind == CODE:
            self.next()
            event = A.PythonBlock(line=line, time=time, code=str(tok.value))
        else:
            raise self.unexpected("a packet ('<' or '>'), a system call, a "
                                  "`command` or a %{ code }% block after the "
                                  "event time")
        self.check_time_use(first, event)
        return event

    def check_time_use(self, first: Token, event: A.Event) -> None:
        time = event.time
        assert time is not None
        outbound_packet = (isinstance(event, (A.Packet, A.UdpPacket, A.IcmpPacket))
                           and event.outbound)
        if time.kind == "any" and not outbound_packet:
            raise self.error_at(first, "event time '*' can only be used with "
                                       "outbound packets")
        if time.range_end is not None and not outbound_packet:
            raise self.error_at(first, "event time range can only be used "
                                       "with outbound packets")

    def parse_time_value(self, what: str) -> float:
        tok = self.tok
        if tok.kind not in (INT, FLOAT):
            raise self.unexpected(f"a time in seconds for {what}")
        self.next()
        value = float(tok.value)  # type: ignore[arg-type]
        if value < 0:
            raise self.error_at(tok, "negative time")
        return value

    def parse_event_time(self) -> A.Time:
        tok = self.tok
        if tok.is_punct("*"):
            self.next()
            return A.Time("any")
        if tok.is_punct("+"):
            self.next()
            value = self.parse_time_value("the relative time")
            end = None
            if self.at_punct("~"):
                tilde = self.next()
                if not self.at_punct("+"):
                    raise self.error_at(
                        tilde if self.tok.kind == EOF else self.tok,
                        "a relative time range is written +a~+b: expected "
                        f"'+' after '~', found {self.tok.describe()}")
                self.next()
                end = self.parse_time_value("the end of the time range")
                if end < value:
                    raise self.error_at(tok, "time range is backwards")
            return A.Time("relative", value, end)
        if tok.kind in (INT, FLOAT):
            value = self.parse_time_value("the event time")
            end = None
            if self.at_punct("~"):
                self.next()
                if self.at_punct("+"):
                    raise self.error_at(
                        self.tok, "an absolute time range is written a~b: "
                                  "unexpected '+' after '~'")
                end = self.parse_time_value("the end of the time range")
                if end < value:
                    raise self.error_at(tok, "time range is backwards")
            return A.Time("absolute", value, end)
        if tok.kind == OPTION:
            raise self.error_at(tok, "options (--name=value) must come before "
                                     "the first event")
        raise self.unexpected("an event time (e.g. 0.1, +0.1, * or 0.1~0.2)")

    # -- packets -----------------------------------------------------------
    def parse_packet(self, line: int, time: A.Time) -> A.Event:
        dir_tok = self.next()
        direction = str(dir_tok.value)
        if self.at_word(*_ENCAPSULATIONS):
            raise self.error_at(self.tok, f"packet encapsulation "
                                          f"('{self.tok.value}' prefix) is "
                                          "not supported")
        ip = self.parse_opt_ip_info(direction)
        if self.at_word("udp"):
            self.next()
            src, dst = self.parse_opt_ports()
            self.expect_punct("(", "before the UDP payload length")
            length = self.expect_int("UDP payload size", 0, _U16)
            self.expect_punct(")")
            return A.UdpPacket(line=line, time=time, direction=direction,
                               src_port=src, dst_port=dst, length=length, **ip)
        if self.at_word("icmp"):
            self.next()
            return self.parse_icmp(line, time, direction, ip)
        src, dst = self.parse_opt_ports()
        flags_tok = self.tok
        flags = self.parse_flags()
        self.check_flags(flags_tok, flags)
        seq_tok = self.tok
        start, end, length = self.parse_seq()
        ack = win = urg = None
        seen: set[str] = set()
        while self.at_word("ack", "win", "urg"):
            kw = self.next()
            if kw.value in seen:
                raise self.error_at(kw, f"'{kw.value}' given twice")
            seen.add(str(kw.value))
            if kw.value == "ack":
                ack = self.expect_int("TCP ack sequence number", 0, _U32)
            elif kw.value == "win":
                win = self.expect_int("TCP window value", 0, _U16)
            else:
                urg = self.expect_int("urg_ptr value", 0, _U16)
        options: list[A.TcpOption] | None = None
        if self.at_punct("<"):
            opt_tok = self.tok
            options = self.parse_tcp_options()
            if options and isinstance(options[0], A.ElidedOptions):
                if direction != ">":
                    raise self.error_at(opt_tok, "<...> for TCP options can "
                                                 "only be used with outbound "
                                                 "packets")
            elif not any(isinstance(o, A.FastOpenOption) and o.symbol
                         for o in options):
                # (With an undefined cookie name the length is not known
                # until the name is given a value.)
                total = sum(o.wire_length for o in options)
                if total % 4:
                    raise self.error_at(
                        opt_tok, "TCP options are not padded correctly to "
                                 "ensure TCP header is a multiple of 4 bytes: "
                                 f"{total % 4} excess bytes")
                if total > _MAX_OPTION_BYTES:
                    raise self.error_at(opt_tok, f"TCP options take {total} "
                                                 "bytes, more than the 40 a "
                                                 "header can hold")
        if self.at_punct("{"):
            raise self.error_at(self.tok, "packet fuzzing specs ({...} after "
                                          "a packet) are not supported")
        if win is None and direction == "<":
            raise self.error_at(seq_tok, "window must be specified for "
                                         "inbound packets (add 'win N')")
        if ip.get("ecn") == "ect01" and direction != ">":
            raise self.error_at(dir_tok, "[ect01] can only be used with "
                                         "outbound packets")
        return A.Packet(line=line, time=time, direction=direction,
                        src_port=src, dst_port=dst, flags=flags,
                        start_seq=start, end_seq=end, length=length, ack=ack,
                        win=win, urg=urg, options=options, **ip)

    def parse_opt_ports(self) -> tuple[int | None, int | None]:
        if self.tok.kind == INT and self.peek().is_punct(">"):
            src = self.expect_int("src port", 0, _U16)
            self.next()  # '>'
            dst = self.expect_int("dst port", 0, _U16)
            return src, dst
        return None, None

    def parse_opt_ip_info(self, direction: str) -> dict:
        if not (self.at_punct("(") or self.at_punct("[")):
            return {}
        open_tok = self.next()
        close = ")" if open_tok.value == "(" else "]"
        info: dict = {}
        if self.at_word("ttl"):
            self.next()
            info["ttl"] = self.expect_int("ttl", 0, _U8)
        elif self.at_word("flowlabel"):
            self.next()
            info["flowlabel"] = self.expect_hex("flowlabel", _U20)
        else:
            if self.at_word(*_ECN_WORDS):
                info["ecn"] = str(self.next().value)
            elif self.at_word("tos"):
                self.next()
                info["tos"] = self.expect_hex("tos", _U8)
            else:
                raise self.unexpected("an IP attribute (noecn, ect0, ect1, "
                                      "ce, ect01, tos 0x.., flowlabel 0x.., "
                                      "ttl N)")
            if self.accept_punct(","):
                self.expect_word("flowlabel", "after ','")
                info["flowlabel"] = self.expect_hex("flowlabel", _U20)
        self.expect_punct(close, "to end the IP attributes")
        return info

    def parse_flags(self) -> str:
        tok = self.tok
        if tok.is_punct("-"):
            self.next()
            return ""
        if tok.is_punct("."):
            self.next()
            return "."
        if tok.kind == FLOAT and not tok.text.startswith("-"):
            # ".5": ACK plus an AccECN ACE value.
            self.next()
            return tok.text
        if tok.kind == WORD:
            self.next()
            flags = str(tok.value)
            nxt = self.tok
            if nxt.is_punct("."):
                self.next()
                flags += "."
            elif (nxt.kind == FLOAT and not nxt.space_before
                  and nxt.text.startswith(".")):
                self.next()
                flags += nxt.text
            return flags
        raise self.unexpected("TCP flags (e.g. S, S., P., F., R, ., -)")

    def check_flags(self, tok: Token, flags: str) -> None:
        has_ecn = has_ace = False
        for ch in flags:
            if ch not in _VALID_FLAGS:
                raise self.error_at(tok, f"invalid TCP flag: '{ch}' (valid: "
                                         "F S R P . U E W A, or an ACE digit)")
            if ch in _ECN_FLAGS:
                if has_ace:
                    raise self.error_at(tok, f"conflicting TCP flag: '{ch}'")
                has_ecn = True
            if ch in _ACE_FLAGS:
                if has_ecn or has_ace:
                    raise self.error_at(tok, f"conflicting TCP flag: '{ch}'")
                has_ace = True

    def parse_seq(self) -> tuple[int, int, int]:
        first = self.tok
        if first.kind != INT:
            raise self.unexpected("a sequence range start:end(length)")
        start = self.expect_int("TCP start sequence number", 0, _U32)
        self.expect_punct(":", "in start:end(length)")
        end = self.expect_int("TCP end sequence number", 0, _U32)
        self.expect_punct("(", "in start:end(length)")
        length = self.expect_int("TCP payload size", 0, _U16)
        self.expect_punct(")", "in start:end(length)")
        if end != start + length:
            raise self.error_at(first, "inconsistent TCP sequence numbers and "
                                       f"payload size: {start}+{length} is "
                                       f"not {end}")
        return start, end, length

    def parse_tcp_options(self) -> list[A.TcpOption]:
        self.expect_punct("<")
        if self.tok.kind == ELLIPSIS:
            self.next()
            self.expect_punct(">", "after '<...'")
            return [A.ElidedOptions()]
        options = [self.parse_tcp_option()]
        while self.accept_punct(","):
            options.append(self.parse_tcp_option())
        if not self.at_punct(">"):
            raise self.unexpected("',' or '>' in the TCP option list")
        self.next()
        return options

    def parse_tcp_option(self) -> A.TcpOption:
        tok = self.tok
        if tok.kind == ELLIPSIS:
            raise self.error_at(tok, "'...' must be the whole option list: "
                                     "<...>")
        if tok.kind != WORD:
            raise self.unexpected("a TCP option (nop, eol, mss N, wscale N, "
                                  "sackOK, sack a:b, TS val X ecr Y, FO, "
                                  "FOEXP, md5)")
        name = str(tok.value)
        self.next()
        if name == "nop":
            return A.NopOption()
        if name == "eol":
            return A.EolOption()
        if name == "mss":
            return A.MssOption(self.expect_int("mss value", 0, _U16))
        if name == "wscale":
            return A.WscaleOption(self.expect_int("window scale shift count",
                                                  0, _U8))
        if name == "sackOK":
            return A.SackPermittedOption()
        if name == "sack":
            blocks = []
            while self.tok.kind == INT:
                left = self.expect_int("TCP SACK left sequence number", 0, _U32)
                self.expect_punct(":", "in the SACK block left:right")
                right = self.expect_int("TCP SACK right sequence number", 0, _U32)
                blocks.append((left, right))
            if not blocks:
                raise self.unexpected("a SACK block left:right")
            return A.SackOption(blocks)
        if name == "TS":
            self.expect_word("val", "after 'TS'")
            val = self.expect_int("ts val", 0, _U32)
            self.expect_word("ecr", "after the TS val")
            ecr = self.expect_int("ecr val", 0, _U32)
            return A.TimestampOption(val, ecr)
        if name in ("FO", "FOEXP"):
            exp = name == "FOEXP"
            cookie = ""
            if (self.tok.kind == WORD and _SYMBOL.match(self.tok.text)
                    and not _HEX_BLOB.match(self.tok.text)):
                # A name the script expects from `-D NAME=VALUE`; without a
                # definition the cookie stays symbolic, and running the
                # script fails naming the missing definition.
                return A.FastOpenOption(experimental=exp,
                                        symbol=self.next().text)
            if self.tok.kind in (WORD, INT):
                blob = self.next()
                cookie = blob.text
                if len(cookie) % 2:
                    raise self.error_at(blob, "TCP fast open cookie has an "
                                              "odd number of digits")
                if not _HEX_BLOB.match(cookie):
                    raise self.error_at(blob, f"TCP fast open cookie "
                                              f"'{cookie}' is not a valid hex "
                                              "string")
                limit = _MAX_EXP_COOKIE_BYTES if exp else _MAX_COOKIE_BYTES
                if len(cookie) // 2 > limit:
                    raise self.error_at(blob, "TCP fast open cookie of "
                                              f"{len(cookie) // 2} bytes "
                                              "exceeds maximum cookie length "
                                              f"of {limit} bytes")
            return A.FastOpenOption(cookie=cookie, experimental=exp)
        if name == "md5":
            blob = self.tok
            if blob.kind not in (WORD, INT):
                raise self.unexpected("an MD5 digest in hex")
            self.next()
            digest = blob.text
            if not _HEX_BLOB.match(digest) or len(digest) % 2:
                raise self.error_at(blob, "TCP MD5 digest is not a valid hex "
                                          "string")
            if len(digest) // 2 > 16:
                raise self.error_at(blob, "TCP MD5 digest longer than 16 bytes")
            return A.Md5Option(digest)
        raise self.error_at(tok, f"unknown TCP option '{name}' (known: nop, "
                                 "eol, mss, wscale, sackOK, sack, TS, FO, "
                                 "FOEXP, md5)")

    def parse_icmp(self, line: int, time: A.Time, direction: str,
                   ip: dict) -> A.IcmpPacket:
        if self.tok.kind != WORD:
            raise self.unexpected("an ICMP type (e.g. unreachable)")
        icmp_type = str(self.next().value)
        icmp_code = None
        if self.tok.kind == WORD and not self.at_word("mtu", "id"):
            icmp_code = str(self.next().value)
        mtu = echo_id = None
        if self.at_word("mtu"):
            self.next()
            mtu = self.expect_int("ICMP mtu", 0, _U32)
        if self.at_word("id"):
            self.next()
            echo_id = self.expect_int("ICMP echo id", 0, _U16)
        proto, seq, length = "tcp", 0, 0
        if self.at_punct("["):
            self.next()
            if self.at_word("udp", "raw"):
                proto = str(self.next().value)
                self.expect_punct("(")
                length = self.expect_int("payload size", 0, _U16)
                self.expect_punct(")")
            else:
                seq, _end, length = self.parse_seq()
            self.expect_punct("]", "to end the echoed packet")
        if ip.get("ecn") == "ect01" and direction != ">":
            raise self.error_at(self.tok, "[ect01] can only be used with "
                                          "outbound packets")
        return A.IcmpPacket(line=line, time=time, direction=direction,
                            icmp_type=icmp_type, icmp_code=icmp_code, mtu=mtu,
                            echo_id=echo_id, echoed_protocol=proto,
                            echoed_start_seq=seq, echoed_length=length, **ip)

    # -- system calls --------------------------------------------------------
    def parse_syscall(self, line: int, time: A.Time) -> A.Syscall:
        if self.tok.kind == ELLIPSIS:
            dots = self.next()
            end = self.parse_time_value("the end time of a blocking call")
            if time.kind == "any":
                raise self.error_at(dots, "a blocking call needs a start time, "
                                          "not '*'")
            if end < time.value:
                raise self.error_at(dots, "the end time of a blocking call is "
                                          "before its start time")
            time = A.Time(time.kind, time.value, time.range_end, end)
        name_tok = self.tok
        if name_tok.kind != WORD:
            raise self.unexpected("a system call name")
        self.next()
        if not self.at_punct("("):
            raise self.unexpected(f"'(' after the system call name "
                                  f"'{name_tok.value}'")
        args = self.parse_call_args()
        if not self.at_punct("="):
            raise self.unexpected("'=' and the expected result after the "
                                  "system call")
        self.next()
        if self.tok.kind == EOF:
            raise self.unexpected("the expected result after '='")
        result = self.parse_expr(result_position=True)
        errno = None
        if self.tok.kind == WORD:
            errno = str(self.next().value)
        notes: list[str] = []
        while self.at_punct("(") and len(notes) < 2:
            notes.append(self.parse_note())
        if self.at_punct("("):
            raise self.error_at(self.tok, "too many parenthesised notes after "
                                          "the system call result")
        return A.Syscall(line=line, time=time, name=str(name_tok.value),
                         args=args, result=result, errno=errno,
                         note=notes[0] if notes else None,
                         extra_note=notes[1] if len(notes) > 1 else None)

    def parse_note(self) -> str:
        open_tok = self.next()
        start = open_tok.end
        while not self.at_punct(")"):
            if self.tok.kind == EOF:
                raise self.error_at(open_tok, "unterminated note: '(' without ')'")
            self.next()
        close = self.next()
        return " ".join(self.text[start:close.start].split())

    def parse_call_args(self) -> list[A.Expr]:
        open_tok = self.expect_punct("(")
        args: list[A.Expr] = []
        if self.accept_punct(")"):
            return args
        while True:
            args.append(self.parse_expr())
            if self.accept_punct(","):
                continue
            if self.accept_punct(")"):
                return args
            if self.tok.kind == EOF:
                raise self.error_at(open_tok, "unclosed '(': expected ')'")
            raise self.unexpected("',' or ')' in the argument list")

    # -- expressions ---------------------------------------------------------
    def parse_expr(self, result_position: bool = False) -> A.Expr:
        left = self.parse_primary(result_position)
        while self.at_punct("|"):
            self.next()
            right = self.parse_primary(result_position)
            left = A.BinaryExpr("|", left, right)
        return left

    def parse_primary(self, result_position: bool = False) -> A.Expr:
        tok = self.tok
        if tok.kind == ELLIPSIS:
            self.next()
            return A.EllipsisExpr()
        if tok.kind == INT:
            self.next()
            return A.IntExpr(int(tok.value))  # type: ignore[arg-type]
        if tok.kind == HEX:
            self.next()
            return A.IntExpr(int(tok.value), is_hex=True)  # type: ignore[arg-type]
        if tok.kind == STRING:
            parts = []
            while self.tok.kind == STRING:
                parts.append(str(self.next().value))
            truncated = False
            if self.tok.kind == ELLIPSIS:
                self.next()
                truncated = True
            return A.StrExpr("".join(parts), truncated)
        if tok.is_punct("["):
            return A.ArrayExpr(self.parse_bracketed("[", "]"))
        if tok.is_punct("{"):
            return A.StructExpr(self.parse_bracketed("{", "}"))
        if tok.kind == WORD:
            self.next()
            name = str(tok.value)
            if self.at_punct("(") and (not result_position
                                       or name in _RESULT_CALLS):
                args = self.parse_call_args()
                if self.at_punct("=") and not result_position:
                    self.next()
                    return A.FieldExpr(name, self.parse_expr(), args)
                return A.CallExpr(name, args)
            if self.at_punct("=") and not result_position:
                self.next()
                return A.FieldExpr(name, self.parse_expr())
            return A.Ident(name)
        if tok.kind in (FLOAT, IPV4):
            raise self.error_at(tok, f"{tok.describe()} is not a valid "
                                     "expression here (integers, names, "
                                     "strings, ..., [..] and {..} are)")
        if tok.kind == EOF:
            raise self.unexpected("an expression")
        raise self.unexpected("an expression")

    def parse_bracketed(self, open_ch: str, close_ch: str) -> list[A.Expr]:
        open_tok = self.expect_punct(open_ch)
        items: list[A.Expr] = []
        if self.accept_punct(close_ch):
            return items
        while True:
            items.append(self.parse_expr())
            if self.accept_punct(","):
                continue
            if self.accept_punct(close_ch):
                return items
            if self.tok.kind == EOF:
                raise self.error_at(open_tok, f"unclosed '{open_ch}': "
                                              f"expected '{close_ch}'")
            raise self.unexpected(f"',' or '{close_ch}'")


def _substitute(tok: Token, defines: Mapping[str, str], path: str) -> Token:
    """The token a `-D NAME=VALUE` definition puts in place of the word NAME
    (packetdrill's lexer does the same): VALUE read as one token, at NAME's
    place in the source."""
    if tok.kind != WORD or tok.text not in defines:
        return tok
    value = defines[tok.text]
    parts = tokenize(value, f"{path} (-D {tok.text}={value})")
    if len(parts) != 2:  # one token and EOF
        raise ScriptSyntaxError(path, tok.line, tok.column,
                                f"the definition {tok.text}={value!r} is not "
                                "a single value", None)
    return dataclasses.replace(parts[0], line=tok.line, column=tok.column,
                               start=tok.start, end=tok.end,
                               space_before=tok.space_before)


def parse_text(text: str, path: str | os.PathLike = "<string>",
               defines: Mapping[str, str] | None = None) -> A.Script:
    """Parse script text. `path` is only used in errors and `Script.path`;
    `defines` are packetdrill's `-D NAME=VALUE` definitions."""
    return _Parser(text, os.fspath(path), defines).parse_script()


def parse_file(path: str | os.PathLike,
               defines: Mapping[str, str] | None = None) -> A.Script:
    """Read and parse the script at `path`."""
    p = Path(path)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_text(text, os.fspath(path), defines)
