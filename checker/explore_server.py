"""The explorer's local web server: one static page and three JSON endpoints over `Explorer`.

GET /                          the page (stylesheet and script inline: no network needed)
GET /api/spec                  the spec, its nodes and invariants
GET /api/state?path=2.0.1      the state after taking events 2, 0, 1 from the initial state
GET /api/violation?invariant=I the shortest path to a state violating invariant I
GET /trace.html?path=2.0.1     that path as the counterexample page (`pnyx check --html`'s)

Bound to 127.0.0.1 only: it runs the spec's code on request and is meant for the person at
this machine. One request at a time (the model's memo tables are not shared between threads);
a jump's breadth-first search holds the others until it ends or its time bound passes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pnyx.model.errors import PnyxError

from .explorer import ExploreError, Explorer

HOST = "127.0.0.1"


def page() -> str:
    """The explorer page with its stylesheet and script inlined."""
    assets = resources.files("pnyx.checker").joinpath("assets")
    text = assets.joinpath("explore.html").read_text(encoding="utf-8")
    return (text.replace("/*STYLE*/", assets.joinpath("trace.css").read_text(encoding="utf-8"))
                .replace("/*SCRIPT*/", assets.joinpath("explore.js").read_text(encoding="utf-8")))


def parse_path(text: str) -> list[int]:
    """`2.0.1` (or `2,0,1`; empty: the initial state) -> [2, 0, 1]."""
    parts = [p for p in text.replace(",", ".").split(".") if p != ""]
    if not all(p.isascii() and p.isdigit() and len(p) <= 9 for p in parts):
        raise ExploreError(f"path {text[:80]!r}: expected event numbers separated by dots, as 2.0.1")
    return [int(p) for p in parts]


def make_handler(explorer: Explorer, max_seconds: float | None) -> type[BaseHTTPRequestHandler]:
    body = page().encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "pnyx-explore"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the terminal shows the address and nothing else

        def _send(self, status: int, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            self._send(status, json.dumps(doc).encode("utf-8"), "application/json")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                if url.path in ("/", "/index.html"):
                    self._send(200, body, "text/html; charset=utf-8")
                elif url.path == "/api/spec":
                    self._json(200, explorer.spec())
                elif url.path == "/api/state":
                    self._json(200, explorer.view(parse_path(query.get("path", ""))))
                elif url.path == "/api/violation":
                    self._json(200, explorer.jump(query.get("invariant", ""), max_seconds))
                elif url.path == "/trace.html":
                    self._send(200, explorer.page(parse_path(query.get("path", ""))).encode("utf-8"),
                               "text/html; charset=utf-8")
                elif url.path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                else:
                    self._json(404, {"error": f"no such page: {url.path[:80]}"})
            except PnyxError as exc:
                self._json(400, {"error": str(exc)})

    return Handler


def serve(explorer: Explorer, port: int = 0, max_seconds: float | None = None,
          ready: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; `ready(url)` is called once the socket listens."""
    server = HTTPServer((HOST, port), make_handler(explorer, max_seconds))
    try:
        if ready is not None:
            ready(f"http://{HOST}:{server.server_address[1]}/")
        server.serve_forever()
    finally:
        server.server_close()


__all__ = ["HOST", "page", "parse_path", "serve"]
