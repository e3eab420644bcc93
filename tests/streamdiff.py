"""The asyncio stream programs of tests/test_streams_differential.py.

Each case is a coroutine function `case(aio, host, me)`: `aio` is a module
with asyncio's stream functions (CPython's `asyncio`, or
`synack.api.streams`), `host` the address of the test servers of
tests/sockdiff.py (echo, reset, close, silent; on kernel sockets in the
test's namespace) and `me` the program's own address, where the
`start_server` cases listen. It returns what happened: a value, or the
exception's type, errno and (for IncompleteReadError / LimitOverrunError)
its `partial`/`expected`/`consumed`.

    python tests/streamdiff.py run HOST ME     every case with CPython's asyncio: JSON
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sockdiff import CLOSE, CLOSED_PORT, ECHO, RESET, SILENT, UNROUTABLE  # noqa: E402,F401


def describe(e: BaseException) -> list:
    out = ["raise", type(e).__name__, getattr(e, "errno", None)]
    if hasattr(e, "partial"):
        out.append({"partial": e.partial.decode("latin-1"), "expected": e.expected})
    if hasattr(e, "consumed"):
        out.append({"consumed": e.consumed})
    return out


async def aoutcome(coro):
    try:
        v = await coro
    except BaseException as e:            # noqa: BLE001 - the type is the result
        return describe(e)
    if isinstance(v, bytes):
        return ["bytes", v.decode("latin-1")]
    return ["value", v if isinstance(v, (int, float, str, bool, type(None), list)) else repr(v)]


async def _close(w) -> None:
    w.close()
    try:
        await w.wait_closed()
    except OSError:
        pass


# ------------------------------------------------------------ client side
async def a_echo_read(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write(b"hello")
        await w.drain()
        return await aoutcome(r.readexactly(5))
    finally:
        await _close(w)


async def a_readuntil_twice(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write(b"one\ntwo\n")
        await w.drain()
        return ["value", [(await r.readuntil(b"\n")).decode(), (await r.readuntil(b"\n")).decode()]]
    finally:
        await _close(w)


async def a_readline(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.writelines([b"ab", b"c\n", b"rest"])
        await w.drain()
        return await aoutcome(r.readline())
    finally:
        await _close(w)


async def a_write_eof_then_read_all(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write(b"x" * 100000)
        await w.drain()
        w.write_eof()
        data = await r.read()
        return ["value", [len(data), r.at_eof(), w.can_write_eof()]]
    finally:
        await _close(w)


async def a_read_zero(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        return await aoutcome(r.read(0))
    finally:
        await _close(w)


async def a_refused(aio, host, me):
    return await aoutcome(aio.open_connection(host, CLOSED_PORT))


async def a_incomplete_read_at_close(aio, host, me):
    r, w = await aio.open_connection(host, CLOSE)
    try:
        return await aoutcome(r.readexactly(5))
    finally:
        await _close(w)


async def a_incomplete_read_partial(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write(b"abc")
        w.write_eof()
        return await aoutcome(r.readexactly(5))
    finally:
        await _close(w)


async def a_readuntil_eof_without_separator(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write(b"abc")
        w.write_eof()
        return await aoutcome(r.readuntil(b"\n"))
    finally:
        await _close(w)


async def a_limit_overrun(aio, host, me):
    r, w = await aio.open_connection(host, ECHO, limit=8)
    try:
        w.write(b"0123456789ab")
        w.write_eof()
        await aio.sleep(0.5)                 # everything echoed and buffered
        first = await aoutcome(r.readuntil(b"\n"))
        return ["value", [first, (await r.read()).decode()]]
    finally:
        await _close(w)


async def a_readline_overrun(aio, host, me):
    r, w = await aio.open_connection(host, ECHO, limit=8)
    try:
        w.write(b"0123456789ab\nrest")
        w.write_eof()
        await aio.sleep(0.5)
        return await aoutcome(r.readline())
    finally:
        await _close(w)


async def a_read_after_reset(aio, host, me):
    r, w = await aio.open_connection(host, RESET)
    try:
        return await aoutcome(r.read())
    finally:
        await _close(w)


async def a_drain_after_reset(aio, host, me):
    r, w = await aio.open_connection(host, RESET)
    try:
        await aio.sleep(0.6)                 # the RST has come
        w.write(b"x")
        return await aoutcome(w.drain())
    finally:
        await _close(w)


async def a_wait_closed_after_reset(aio, host, me):
    r, w = await aio.open_connection(host, RESET)
    await aio.sleep(0.6)
    w.close()
    return await aoutcome(w.wait_closed())


async def a_close_and_wait_closed(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    w.close()
    closing = w.is_closing()
    return ["value", [closing, await aoutcome(w.wait_closed())]]


async def a_write_after_close(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    w.close()
    res = await aoutcome(_async(w.write, b"x"))
    await w.wait_closed()
    return res


async def a_write_after_write_eof(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        w.write_eof()
        return await aoutcome(_async(w.write, b"x"))
    finally:
        await _close(w)


async def a_read_after_peer_close(aio, host, me):
    r, w = await aio.open_connection(host, CLOSE)
    try:
        return ["value", [(await r.read()).decode(), r.at_eof()]]
    finally:
        await _close(w)


async def a_connect_timeout(aio, host, me):
    return await aoutcome(aio.wait_for(aio.open_connection(UNROUTABLE, ECHO), 0.5))


async def a_read_timeout(aio, host, me):
    r, w = await aio.open_connection(host, SILENT)
    try:
        return await aoutcome(aio.wait_for(r.read(10), 0.3))
    finally:
        await _close(w)


async def a_extra_info(aio, host, me):
    r, w = await aio.open_connection(host, ECHO)
    try:
        peer = w.get_extra_info("peername")
        sock = w.get_extra_info("sockname")
        return ["value", [list(peer), sock[0] == me, type(sock[1]).__name__,
                          w.get_extra_info("nosuchthing", "dflt")]]
    finally:
        await _close(w)


# ------------------------------------------------------------ server side
async def _upper(reader, writer):
    data = await reader.readline()
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def a_server_roundtrip(aio, host, me):
    server = await aio.start_server(_upper, me, 7300)
    async with server:
        r, w = await aio.open_connection(me, 7300)
        w.write(b"shout\n")
        got = await r.read()
        await _close(w)
        return ["value", [got.decode(), server.is_serving(),
                          [[s.getsockname()[0] == me, s.getsockname()[1]] for s in server.sockets]]]


async def a_server_any_host_sockets(aio, host, me):
    server = await aio.start_server(_upper, None, 7301)
    try:
        return ["value", sorted([int(s.family), s.getsockname()[0]] for s in server.sockets)]
    finally:
        server.close()
        await server.wait_closed()


async def a_server_port_in_use(aio, host, me):
    server = await aio.start_server(_upper, me, 7302)
    try:
        return await aoutcome(aio.start_server(_upper, me, 7302, reuse_address=True))
    finally:
        server.close()
        await server.wait_closed()


async def a_server_refuses_after_close(aio, host, me):
    server = await aio.start_server(_upper, me, 7303)
    server.close()
    await server.wait_closed()
    return ["value", [server.is_serving(), len(server.sockets),
                      await aoutcome(aio.open_connection(me, 7303))]]


async def a_server_serve_forever_cancelled(aio, host, me):
    server = await aio.start_server(_upper, me, 7304, start_serving=False)
    serving_before = server.is_serving()
    task = aio.ensure_future(server.serve_forever())
    await aio.sleep(0.1)
    serving = server.is_serving()
    task.cancel()
    res = await aoutcome(task)
    return ["value", [serving_before, serving, res, server.is_serving()]]


async def a_server_wait_closed_with_a_client_open(aio, host, me):
    """3.11: returns at once after close(); 3.12.1 on: waits for the clients."""
    async def hold(reader, writer):
        await reader.read()
        writer.close()
    server = await aio.start_server(hold, me, 7305)
    r, w = await aio.open_connection(me, 7305)
    await aio.sleep(0.2)
    server.close()
    res = await aoutcome(aio.wait_for(server.wait_closed(), 0.5))
    await _close(w)
    return res


async def a_server_handler_sees_eof_and_peer(aio, host, me):
    seen = []

    async def h(reader, writer):
        data = await reader.read()
        seen.append([data.decode(), reader.at_eof(), writer.get_extra_info("peername")[0] == me])
        writer.close()
    server = await aio.start_server(h, me, 7306)
    async with server:
        r, w = await aio.open_connection(me, 7306)
        w.write(b"bye")
        w.write_eof()
        await r.read()
        await _close(w)
        await aio.sleep(0.1)
    return ["value", seen]


async def _async(fn, *args):
    return fn(*args)


CASES = {name[2:]: fn for name, fn in sorted(globals().items()) if name.startswith("a_")}


async def run_all(aio, host, me) -> dict:
    out = {}
    for name, fn in CASES.items():
        try:
            out[name] = await fn(aio, host, me)
        except BaseException as e:           # noqa: BLE001 - set-up failed: that is a result too
            out[name] = ["setup-failed"] + describe(e)[1:]
    return out


if __name__ == "__main__":
    import asyncio
    print(json.dumps(asyncio.run(run_all(asyncio, sys.argv[2], sys.argv[3]))))
