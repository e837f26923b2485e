"""One headless Chromium per process, serving onnxruntime-web and exported models from 127.0.0.1.

:func:`session` gives the process's :class:`BrowserSession`, launched on first
use (so one per pytest-xdist worker) and closed at exit.  It drives the system
Chromium through Playwright (no browser download) with WebGPU and WebNN
enabled, keeps one page per backend, and serves the assets and the exported
models with correct MIME types and the COOP/COEP headers that give wasm its
threads.  A page that crashed is replaced on the next call; the call that hit
the crashed page raises :class:`BrowserError` with the browser's message.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hardware_markers.browser_assets import BUILDS, asset_dir, assets_problem, chromium_path

#: backend -> the onnxruntime-web build its page loads
PAGE_BUILD = {"wasm": "ort.wasm.min.mjs", "webgpu": "ort.webgpu.min.mjs", "webnn": "ort.all.min.mjs"}
assert set(PAGE_BUILD.values()) <= set(BUILDS)

#: a headless Chromium that phones nowhere, with WebGPU (SwiftShader without a GPU) and WebNN on
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-features=WebMachineLearningNeuralNetwork",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MIME = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
        ".onnx": "application/octet-stream", ".html": "text/html; charset=utf-8", ".json": "application/json"}
#: how long one call into a page may take (webgpu compiles shaders on a new shape: seconds)
CALL_TIMEOUT_MS = 120_000

HARNESS = Path(__file__).with_name("browser_harness.js")
INDEX = b"<!doctype html><meta charset=utf-8><title>ipfs-accel browser runtime</title>"


class BrowserError(Exception):
    """The browser could not do what was asked; the message is the browser's."""


class BrowserUnavailable(Exception):
    """No browser runtime here (no Chromium, no assets, no Playwright); the message says what to do."""


def _handler(routes: dict[str, Path]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, INDEX, MIME[".html"])
                return
            prefix, _, name = path.lstrip("/").partition("/")
            root = routes.get(prefix)
            file = (root / name) if root is not None and name and "/" not in name and name != ".." else None
            if file is None or not file.is_file():
                self._send(404, b"not found", "text/plain")
                return
            self._send(200, file.read_bytes(), MIME.get(file.suffix, "application/octet-stream"))

        def _send(self, status: int, body: bytes, mime: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


class BrowserSession:
    """A Chromium, a local HTTP server, and one page per backend with onnxruntime-web loaded."""

    def __init__(self) -> None:
        problem = assets_problem()
        chromium = chromium_path()
        if not chromium.is_file():
            raise BrowserUnavailable(f"no Chromium at {chromium}: run scripts/install_chromium.sh "
                                     "(apt-get install chromium) or set IPFS_ACCEL_CHROMIUM")
        if problem is not None:
            raise BrowserUnavailable(problem)
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise BrowserUnavailable("Playwright's Python package is missing: pip install playwright") from None
        self.models_dir = Path(tempfile.mkdtemp(prefix="ipfs-accel-onnx-"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler({"ort": asset_dir(), "models": self.models_dir}))
        self.thread = threading.Thread(target=self.server.serve_forever, name="ipfs-accel-browser-http", daemon=True)
        self.thread.start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        except Exception as exc:
            self.close()
            raise BrowserUnavailable(f"Chromium at {chromium} did not start: {str(exc).splitlines()[0]}") from None
        self.version = self.browser.version
        self._pages: dict[str, Any] = {}
        self._crashed: dict[str, bool] = {}
        #: backend -> how many times its page was (re)created; sessions of an older page are gone
        self.generation: dict[str, int] = {}
        self._models = 0

    def serve_model(self, data_path: Path) -> str:
        """Copy an exported model into the served directory; its URL path."""
        self._models += 1
        name = f"m{self._models}.onnx"
        shutil.copyfile(data_path, self.models_dir / name)
        return f"/models/{name}"

    def page(self, backend: str) -> Any:
        """``backend``'s page, with the harness and its onnxruntime-web build loaded (made on first use)."""
        page = self._pages.get(backend)
        if page is not None and not page.is_closed():
            return page
        page = self.browser.new_page()
        page.set_default_timeout(CALL_TIMEOUT_MS)
        self._crashed[backend] = False
        page.on("crash", lambda _page: self._crashed.__setitem__(backend, True))
        page.goto(self.origin + "/")
        page.add_script_tag(content=HARNESS.read_text())
        page.evaluate("build => window.__ipfs.load(build)", "/ort/" + PAGE_BUILD[backend])
        self._pages[backend] = page
        self.generation[backend] = self.generation.get(backend, 0) + 1
        return page

    def call(self, backend: str, script: str, arg: Any = None) -> Any:
        """``page.evaluate(script, arg)`` on ``backend``'s page; the browser's error as :class:`BrowserError`."""
        from playwright.sync_api import Error as PlaywrightError

        page = self.page(backend)
        try:
            return page.evaluate(script, arg)
        except PlaywrightError as exc:
            message = str(getattr(exc, "message", exc)).strip()
            if self._crashed.get(backend) or page.is_closed():
                if not page.is_closed():
                    page.close()  # the next call gets a fresh page
                raise BrowserError(f"the {backend} page crashed: {message}") from None
            raise BrowserError(message.removeprefix("Error: ")) from None

    def probe(self) -> dict[str, Any]:
        """What this browser offers: WebGPU adapter info, WebNN context, isolation, threads."""
        page = self.page("wasm")
        return page.evaluate("() => window.__ipfs.probe()")

    def close(self) -> None:
        for page in getattr(self, "_pages", {}).values():
            try:
                page.close()
            except Exception:  # noqa: S110 - a dead page closes nothing
                pass
        browser = getattr(self, "browser", None)
        if browser is not None:
            browser.close()
        if getattr(self, "_pw", None) is not None:
            self._pw.stop()
            self._pw = None
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.models_dir, ignore_errors=True)


@functools.cache
def session() -> BrowserSession:
    """This process's browser session, launched on first use and closed at exit."""
    found = BrowserSession()
    atexit.register(found.close)
    return found
