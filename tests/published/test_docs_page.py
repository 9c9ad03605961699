"""The AsyncAPI page: `/docs/asyncapi` of the running service and `program-builder docs` serve
the same committed document with the renderer shipped in the package, and headless Chromium
renders every channel with no network access (clusters often have none)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.topics import Topics
from devstack.children import free_port, wait_for_port
from service.config import Settings
from service.process.app import Service
from service.process.asyncapi import DOCUMENT, asset_paths
from tests.support.tooling import CLI, ROOT, chromium

PATHS = asset_paths()


@pytest.fixture(scope="module")
def docs_command() -> Iterator[str]:
    """`program-builder docs` on a free port, run from a directory that is not the checkout."""
    port = free_port()
    process = subprocess.Popen(
        [str(CLI), "docs", "--port", str(port)],
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def service_responses() -> dict[str, httpx.Response]:
    app = Service(Settings(http_port=8080, _env_file=None)).app  # routes only: nothing started
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        return {name: await http.get(path) for name, path in PATHS.items()}


async def test_the_service_and_the_docs_command_serve_the_same_page(docs_command: str) -> None:
    served = await service_responses()
    async with httpx.AsyncClient(base_url=docs_command) as http:
        alone = {name: await http.get(path) for name, path in PATHS.items()}
        assert (await http.get("/")).headers["location"] == PATHS["page"]
    for name in PATHS:
        assert served[name].status_code == alone[name].status_code == 200, name
        assert served[name].content == alone[name].content, name
        assert served[name].headers["content-type"] == alone[name].headers["content-type"]
    assert served["document"].content == DOCUMENT.read_bytes()
    renderer = ROOT / "service" / "process" / "static" / "asyncapi-react-component"
    assert served["js"].content == (renderer / "standalone.js").read_bytes()


async def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = (await service_responses())["page"].text
    references = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sorted(references) == sorted(["data:,", PATHS["css"], PATHS["js"]])
    assert "unpkg" not in html and "jsdelivr" not in html
    embedded = re.search(
        r'<script type="application/json" id="asyncapi-document">(.*?)</script>', html, re.DOTALL
    )
    assert embedded is not None
    assert json.loads(embedded.group(1)) == json.loads(DOCUMENT.read_text())


def test_the_renderer_copy_is_the_pinned_version() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tooling" / "renderer.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_chromium_renders_every_channel_offline(docs_command: str, tmp_path: Path) -> None:
    browser = chromium()
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # tests run as root in CI
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            # No network but the page's own server: no name resolves, no proxy answers.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--virtual-time-budget=30000",
            "--dump-dom",
            f"{docs_command}{PATHS['page']}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = re.sub(r"<script\b.*?</script>", "", done.stdout, flags=re.DOTALL)  # rendered only
    operations = set(re.findall(r'<span class="font-mono text-base">([^<]+)</span></h3>', dom))
    assert operations == set(Topics().all()), (operations, done.stderr[-2000:])
    assert "REPLY CHANNEL INFORMATION" in dom.upper()  # the reply-to channel
    for message in ("Command", "CommandResult", "PrescriptionUpdated", "DeadLetter"):
        assert f">{message}<" in dom, message
