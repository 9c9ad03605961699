"""The AsyncAPI page: the committed contract document rendered by the AsyncAPI React component
that ships inside this package, so the page works where the cluster has no internet access.

`program-builder run` serves it at `/docs/asyncapi` (next to the probes) and `program-builder
docs` serves the same routes on their own. The document is `contracts/schemas/asyncapi.json`,
generated from `contracts` (`make schemas`), not from the FastStream app.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from contracts import generate

DOCUMENT = generate.SCHEMAS / generate.ASYNCAPI_FILE
RENDERER = Path(__file__).resolve().parent / "static" / "asyncapi-react-component"
PAGE_PATH = "/docs/asyncapi"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def render() -> str:
    """The document as `make schemas` writes it."""
    return generate.render(generate.ASYNCAPI_FILE)


def write(check: bool = False) -> bool:
    """Write the document (or, with `check`, say whether the committed one is current)."""
    text = render()
    if check:
        return DOCUMENT.exists() and DOCUMENT.read_text() == text
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(text)
    return True


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} {version} - AsyncAPI</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
<style>html {{ font-family: ui-sans-serif, system-ui, sans-serif; line-height: 1.5; }}</style>
</head>
<body>
<div id="asyncapi"></div>
<script type="application/json" id="asyncapi-document">{document}</script>
<script src="{js}"></script>
<script>
AsyncApiStandalone.render(
  {{
    schema: document.getElementById("asyncapi-document").textContent,
    config: {{ show: {{ sidebar: true }}, expand: {{ messageExamples: true }} }},
  }},
  document.getElementById("asyncapi"),
);
</script>
</body>
</html>
"""


def _script_safe(text: str) -> str:
    """JSON text that cannot end the <script> element it sits in (`</script>` and `<!--`)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def _renderer_version() -> str:
    manifest: dict[str, str] = json.loads((RENDERER / "manifest.json").read_text())
    return manifest["package"].rsplit("@", 1)[1]


def asset_paths(path: str = PAGE_PATH) -> dict[str, str]:
    """URL path of each piece of the page (the renderer's version in its file names, so that
    browsers may cache them for good)."""
    version = _renderer_version()
    return {
        "page": path,
        "document": f"{path}.json",
        "js": f"{path}/asyncapi-react-component-{version}.js",
        "css": f"{path}/asyncapi-react-component-{version}.css",
    }


def page(path: str = PAGE_PATH) -> str:
    text = DOCUMENT.read_text()
    info = json.loads(text)["info"]
    paths = asset_paths(path)
    return _PAGE.format(
        title=info["title"],
        version=info["version"],
        css=paths["css"],
        js=paths["js"],
        document=_script_safe(json.dumps(json.loads(text), ensure_ascii=False)),
    )


class StaticResponse:
    """An ASGI app answering GET and HEAD with one fixed body, loaded on first use."""

    def __init__(self, load: Callable[[], bytes], content_type: str, cache_seconds: int) -> None:
        self._load = load
        self._headers = [
            (b"content-type", content_type.encode()),
            (b"cache-control", f"public, max-age={cache_seconds}".encode()),
        ]

    @functools.cached_property
    def body(self) -> bytes:
        return self._load()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            allow = [(b"allow", b"GET, HEAD")]
            await send({"type": "http.response.start", "status": 405, "headers": allow})
            await send({"type": "http.response.body", "body": b""})
            return
        body = self.body
        headers = [*self._headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


def routes(path: str = PAGE_PATH) -> list[tuple[str, ASGIApp]]:
    """(path, ASGI app) pairs of the page, its document and the renderer's two files."""
    paths = asset_paths(path)
    year = 365 * 24 * 3600
    return [
        (paths["page"], StaticResponse(lambda: page(path).encode(), "text/html; charset=utf-8", 0)),
        (
            paths["document"],
            StaticResponse(DOCUMENT.read_bytes, "application/json", 0),
        ),
        (
            paths["js"],
            StaticResponse(
                (RENDERER / "standalone.js").read_bytes, "text/javascript; charset=utf-8", year
            ),
        ),
        (
            paths["css"],
            StaticResponse((RENDERER / "default.min.css").read_bytes, "text/css", year),
        ),
    ]


def docs_app(path: str = PAGE_PATH) -> ASGIApp:
    """The page on its own (`program-builder docs`): its routes, and `/` leading to it."""
    table = dict(routes(path))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        handler = table.get(scope["path"])
        if handler is not None:
            await handler(scope, receive, send)
            return
        redirect = scope["path"] == "/"
        await send(
            {
                "type": "http.response.start",
                "status": 307 if redirect else 404,
                "headers": [(b"location", path.encode())] if redirect else [],
            }
        )
        await send({"type": "http.response.body", "body": b"" if redirect else b"not found"})

    return app


def serve(host: str, port: int) -> int:
    """`program-builder docs`: the page on http://host:port/ until Ctrl-C."""
    import uvicorn

    print(f"AsyncAPI page on http://{host}:{port}{PAGE_PATH} (Ctrl-C stops)", flush=True)
    uvicorn.run(docs_app(), host=host, port=port, log_level="warning", lifespan="off")
    return 0
