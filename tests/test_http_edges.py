"""The HTTP service answers as HTTP says at its edges (issue 12): a negative
size is a 400, a chunked upload is read (RFC 9112 §7.1: every HTTP/1.1
recipient must parse the chunked coding), an unknown transfer coding is a
501 (RFC 9112 §6.1), a Content-Length that is not 1*DIGIT a 400 (RFC 9110 §8.6).
On the simulator, as tests/test_tun_stack.py does it."""
import hashlib
import json
import os

import pytest

from test_tun_stack import exchange, parse_http, sim  # noqa: F401  (sim is a fixture)
from synack.tun.services import parse_size


@pytest.mark.parametrize("size", ["-5", "-1k", "+5", "1e3"])
def test_bytes_with_a_bad_size_is_400(sim, size):  # noqa: F811
    _, got = exchange(sim, 8080, f"GET /bytes/{size} HTTP/1.0\r\n\r\n".encode(), shutdown=False)
    assert parse_http(got)[0][0] == "HTTP/1.1 400 Bad Request"


def test_parse_size_refuses_signs():
    for t in ("-5", "+5", "-0.5k"):
        with pytest.raises(ValueError):
            parse_size(t)
    assert parse_size("0") == 0 and parse_size("1.5k") == 1536


def _chunked(body: bytes, sizes) -> bytes:
    out, pos = b"", 0
    for i, n in enumerate(sizes):
        part = body[pos:pos + n]
        pos += n
        ext = b";name=x" if i == 1 else b""
        out += f"{n:x}".encode() + ext + b"\r\n" + part + b"\r\n"
    assert pos == len(body)
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


def test_chunked_upload_is_read(sim):  # noqa: F811
    body = os.urandom(300_000)
    req = (b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + _chunked(body, [1, 70_000, 29_999, 200_000])
           + b"GET /bytes/10 HTTP/1.1\r\nConnection: close\r\n\r\n")   # pipelined after it
    _, got = exchange(sim, 8080, req, shutdown=False)
    (status, _, answer), (status2, _, tail) = parse_http(got)
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(answer) == {"method": "POST", "path": "/up", "bytes": len(body),
                                  "sha256": hashlib.sha256(body).hexdigest()}
    assert status2 == "HTTP/1.1 200 OK" and len(tail) == 10


@pytest.mark.parametrize("headers,body,status", [
    ("Transfer-Encoding: gzip, chunked", b"0\r\n\r\n", "501 Not Implemented"),
    ("Transfer-Encoding: chunked", b"zz\r\n", "400 Bad Request"),
    ("Transfer-Encoding: chunked", b"3\r\nabcdef\r\n0\r\n\r\n", "400 Bad Request"),
    ("Content-Length: -5", b"", "400 Bad Request"),
    ("Content-Length: 12abc", b"", "400 Bad Request"),
    ("Host: x", b"", "411 Length Required"),
])
def test_bad_upload_framing(sim, headers, body, status):  # noqa: F811
    req = f"POST /up HTTP/1.1\r\n{headers}\r\n\r\n".encode() + body
    _, got = exchange(sim, 8080, req, shutdown=False)
    assert parse_http(got)[0][0] == f"HTTP/1.1 {status}"
