"""The `synack explore` subcommand (registered through synack.cli's plugins)."""
from __future__ import annotations

import socket
import sys
import threading

from ..cli import argument, command

DEFAULT_PORT = 8357


def missing_dependency() -> str | None:
    """The clear line for a missing `explore` extra, or None."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return (f"synack: error: `synack explore` needs the explore extra ({exc.name} is not "
                f"installed): pip install 'synack[explore]'")
    return None


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 only (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    return sock


def make_server(sock: socket.socket, log_level: str = "warning"):
    import uvicorn
    from .server import create_app
    config = uvicorn.Config(create_app(), log_level=log_level, access_log=False,
                            lifespan="off")
    return uvicorn.Server(config)


@command("explore", "TCP in the browser: run, step through and break the scenarios",
         argument("--port", type=int, default=DEFAULT_PORT,
                  help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)"),
         argument("--open", action="store_true", help="open the page in a web browser"))
def cmd_explore(args) -> int:
    """Start the explorer: a web server on 127.0.0.1 (never another address) that serves
    the page and runs the engine for it. Everything is served locally; stop it with
    Ctrl-C. See docs/explore.md."""
    problem = missing_dependency()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"synack: error: --port {args.port}: not a port number (0 to 65535)",
              file=sys.stderr)
        return 2
    try:
        sock = bind(args.port)
    except OSError as exc:
        print(f"synack: error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
              file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print(f"synack explore: {url}  (Ctrl-C stops it)", flush=True)
    if args.open:
        import webbrowser
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    server = make_server(sock)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0
