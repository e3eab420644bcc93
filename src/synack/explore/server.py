"""The explorer's web server: a Starlette application serving the page (plain
ES modules, SVG and CSS from `static/`, nothing from elsewhere) and a small
JSON API over the engine (`runs.py`). See docs/explore.md.

Every answer to a bad request is a 4xx with `{"error": "..."}`; an
unexpected failure is a 500 with one line, logged on the server, and the
server goes on serving.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from importlib import resources

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import runs
from .runs import SpecError

log = logging.getLogger("synack.explore")

MAX_BODY = 8 * 1024 * 1024          #: a trace or capture file to load, at most
CACHE_SIZE = 16

STATIC = resources.files("synack.explore") / "static"


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Runs:
    """Recent runs by their canonical spec, and loaded traces by their hash
    (least recently used dropped first). A run that has been dropped is simply
    computed again: the same spec gives the same run."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.items: OrderedDict[str, runs.Run] = OrderedDict()
        self.lock = threading.Lock()
        self.computing: dict[str, threading.Lock] = {}

    def _put(self, key: str, run: runs.Run) -> None:
        with self.lock:
            self.items[key] = run
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def _get(self, key: str):
        with self.lock:
            run = self.items.get(key)
            if run is not None:
                self.items.move_to_end(key)
            return run

    def run(self, spec) -> runs.Run:
        spec = runs.normalize(spec)
        key = runs.spec_key(spec)
        run = self._get(key)
        if run is None:
            with self.lock:
                klock = self.computing.setdefault(key, threading.Lock())
            with klock:
                run = self._get(key)
                if run is None:
                    run = runs.execute(spec)
                    self._put(key, run)
        return run

    def load(self, text: str) -> tuple[str, runs.Run]:
        key = "trace:" + hashlib.sha256(text.encode()).hexdigest()[:24]
        run = self._get(key)
        if run is None:
            run = runs.load_trace(text)
            self._put(key, run)
        return key[6:], run

    def load_capture(self, data: bytes, conn: int) -> tuple[str, runs.Run]:
        key = f"trace:{hashlib.sha256(data).hexdigest()[:24]}-{conn}"
        run = self._get(key)
        if run is None:
            run = runs.load_capture(data, conn)
            self._put(key, run)
        return key[6:], run

    def loaded(self, trace_id: str) -> runs.Run:
        run = self._get("trace:" + str(trace_id))
        if run is None:
            raise ApiError(404, "that trace is no longer on the server: load the file again")
        return run


async def _json_body(request: Request) -> dict:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"the request is larger than {MAX_BODY // (1024 * 1024)} MiB")
    try:
        data = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request must be a JSON object")
    return data


def _run_of(store: Runs, data: dict) -> runs.Run:
    if "trace" in data:
        return store.loaded(data["trace"])
    if "spec" not in data:
        raise ApiError(400, "give \"spec\" (a run) or \"trace\" (a loaded trace's id)")
    return store.run(data["spec"])


def _run_json(run: runs.Run, trace_id: str | None = None) -> dict:
    out = {"meta": run.meta, "rows": run.rows, "segments": len(run.send_index),
           "events": len(run.dicts)}
    if trace_id is None:
        out["spec"] = run.spec
    else:
        out["trace"] = trace_id
    return out


def _row_index(run: runs.Run, data: dict) -> int:
    row = data.get("row")
    if isinstance(row, bool) or not isinstance(row, int):
        raise ApiError(400, "\"row\" must be a whole number")
    if not 0 <= row < len(run.rows):
        raise ApiError(400, f"row {row} is out of range: the run has {len(run.rows)} rows "
                            f"(0 to {len(run.rows) - 1})")
    return row


#: the names the page may be reached by: a request naming any other host (a
#: web page elsewhere rebinding its DNS name to 127.0.0.1) is refused
ALLOWED_HOSTS = ("127.0.0.1", "localhost")


def create_app(store: Runs | None = None, allowed_hosts=ALLOWED_HOSTS) -> Starlette:
    store = store or Runs()

    async def index(request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    async def scenarios(request: Request) -> Response:
        from ..scenarios import all_scenarios
        return JSONResponse([{"name": sc.name, "title": sc.title, "summary": sc.summary}
                             for sc in all_scenarios()])

    async def states(request: Request) -> Response:
        from ..engine.states import TRANSITIONS
        from ..viz import statediagram
        return JSONResponse({"svg": statediagram.svg(),
                             "transitions": [[a.value, b.value, why]
                                             for (a, b), why in TRANSITIONS.items()]})

    def do_run(data: dict) -> dict:
        return _run_json(_run_of(store, data), data.get("trace"))

    async def run(request: Request) -> Response:
        data = await _json_body(request)
        from starlette.concurrency import run_in_threadpool
        return JSONResponse(await run_in_threadpool(do_run, data))

    def do_moment(data: dict) -> dict:
        run = _run_of(store, data)
        i = _row_index(run, data)
        row = run.rows[i]
        out: dict = {"row": i, "t": row["t"], "engine": bool(run.records)}
        out["tcb"] = run.tcb(row["rec"]) if run.records else None
        if row.get("seg") is not None:
            out["segment"] = runs.segment_detail(run, row["seg"])
        return out

    async def moment(request: Request) -> Response:
        data = await _json_body(request)
        from starlette.concurrency import run_in_threadpool
        return JSONResponse(await run_in_threadpool(do_moment, data))

    async def load(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise ApiError(413, f"the file is larger than {MAX_BODY // (1024 * 1024)} MiB")
        from starlette.concurrency import run_in_threadpool
        if runs.is_capture(body):
            conn = request.query_params.get("conn", "1")
            if not conn.isdigit() or int(conn) < 1:
                raise ApiError(400, f"conn={conn!r}: a connection number is 1 or more")
            trace_id, run = await run_in_threadpool(store.load_capture, body, int(conn))
            return JSONResponse(_run_json(run, trace_id))
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "the file is neither a capture (pcap or pcapng) nor a JSON "
                                "Lines trace (it is not UTF-8 text)") from None
        trace_id, run = await run_in_threadpool(store.load, text)
        return JSONResponse(_run_json(run, trace_id))

    def do_export(fmt: str, data: dict) -> Response:
        run = _run_of(store, data)
        name = run.meta.get("name") or "trace"
        if fmt == "json":
            return Response(runs.export_jsonl(run), media_type="application/x-ndjson",
                            headers=_attachment(f"{name}.jsonl"))
        if fmt == "pcap":
            return Response(runs.export_pcap(run), media_type="application/vnd.tcpdump.pcap",
                            headers=_attachment(f"{name}.pcap"))
        title = f"{name}: {run.meta.get('title')}"
        if run.meta.get("edits"):
            title += " (edited: " + ", ".join(run.meta["edits"]) + ")"
        ladder = runs.ladder_of(run)
        if fmt == "svg":
            from ..viz.svg import render_svg
            return Response(render_svg(ladder, title=title, subtitle=run.meta.get("settings")),
                            media_type="image/svg+xml", headers=_attachment(f"{name}.svg"))
        if fmt == "mermaid":
            from ..viz.mermaid import render_mermaid
            return Response(render_mermaid(ladder, title=title), media_type="text/plain",
                            headers=_attachment(f"{name}.mmd"))
        raise ApiError(404, f"no export format {fmt!r}: json, pcap, svg or mermaid")

    async def export(request: Request) -> Response:
        data = await _json_body(request)
        from starlette.concurrency import run_in_threadpool
        return await run_in_threadpool(do_export, request.path_params["fmt"], data)

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def spec_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        msg = {404: "not found", 405: "method not allowed"}.get(exc.status_code, exc.detail)
        return JSONResponse({"error": f"{msg}: {request.method} {request.url.path}"},
                            status_code=exc.status_code)

    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("explore: %s %s failed", request.method, request.url.path)
        return JSONResponse({"error": f"the server could not do that ({type(exc).__name__}: "
                                      f"{exc}); it goes on serving"}, status_code=500)

    routes = [
        Route("/", index),
        Route("/api/scenarios", scenarios),
        Route("/api/states", states),
        Route("/api/run", run, methods=["POST"]),
        Route("/api/moment", moment, methods=["POST"]),
        Route("/api/load", load, methods=["POST"]),
        Route("/api/export/{fmt}", export, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
        exception_handlers={
        ApiError: api_error, SpecError: spec_error, HTTPException: http_error,
        Exception: crash})


def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
