"""The browser backends for real: onnxruntime-web in headless Chromium (wasm, webgpu; webnn where the
browser has it).  A generated bert module runs unchanged on them in a subprocess; the rest shares the
process's one browser (``browser_page.session()``).  Without Chromium or the onnxruntime-web assets
the real tests skip saying which is missing; CI installs both (``.ci/run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import torch

from hardware_markers import ConversionError, browser_page
from hardware_markers.browser import detect_wasm, detect_webgpu, detect_webnn
from hardware_markers.browser_assets import CACHE_ENV, assets_problem, chromium_path
from hardware_markers.browser_page import BrowserError, BrowserSession, BrowserUnavailable
from hardware_markers.browser_runtime import decode, encode
from tests.facade_fixtures import ServeCommand

MISSING = (f"no Chromium at {chromium_path()}" if not chromium_path().is_file() else assets_problem())
needs_browser = pytest.mark.skipif(MISSING is not None, reason=f"browser runtime missing: {MISSING}")
pytest.importorskip("onnxscript", reason="exporting to ONNX needs the browser extra: pip install onnx onnxscript")


def test_tensors_cross_as_base64_of_their_raw_bytes():
    inputs = {"x": torch.randn(2, 3, 4), "ids": torch.arange(6).reshape(2, 3), "m": torch.tensor([True, False])}
    encoded = encode(inputs)
    assert encoded["ids"]["type"] == "int64" and encoded["x"]["dims"] == [2, 3, 4]
    back = decode(encoded, ["x", "ids", "m"])
    for name, value in inputs.items():
        assert back[name].dtype == value.dtype and torch.equal(back[name], value)
    with pytest.raises(ConversionError, match="onnxruntime-web takes"):
        encode({"c": torch.zeros(2, dtype=torch.complex64)})


def test_without_assets_the_cli_and_the_session_say_to_install_them(tmp_path, monkeypatch):
    env = {**os.environ, CACHE_ENV: str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", "browser"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1
    assert f"onnxruntime-web 1.30.0 is not installed in {tmp_path}" in proc.stdout
    assert "run `ipfs-accel browser install`" in proc.stdout
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    if chromium_path().is_file():
        with pytest.raises(BrowserUnavailable, match=r"run `ipfs-accel browser install`"):
            BrowserSession()


BERT_DB_QUERY = "SELECT nodeid, outcome, message FROM test_results"
BROWSER_COLUMNS = ["cpu", "wasm", "webnn", "webgpu"]  # BACKENDS' order, as the matrix sorts them
TOKEN = "browser-backends-token-0123456789"


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory) -> tuple[Path, dict[str, tuple[str, str]], str]:
    """The generated bert ``basic`` module run once on cpu, wasm, webgpu and webnn into a real store
    (``<folder>/results.duckdb``, where a service started on the folder finds it): the folder, each
    test's (outcome, message) by ``name[backend]``, and the tail of pytest's output."""
    work = tmp_path_factory.mktemp("bert-browser")
    out = work / "generated"
    subprocess.run([sys.executable, "-m", "pytest_ipfs_accel", "generate", "bert", "--test-type", "basic",
                    "--out", str(out)], check=True, capture_output=True)
    db = work / "results.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(out), "-q", "-p", "no:cacheprovider", "--rootdir", str(out),
         "--ipfs-hw=cpu,wasm,webgpu,webnn", f"--ipfs-db={db}", "-rs"],
        capture_output=True, text=True, cwd=work,
    )
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(BERT_DB_QUERY).fetchall()
    outcomes = {nodeid.split("::")[1]: (outcome, message or "") for nodeid, outcome, message in rows}
    return work, outcomes, proc.stdout[-3000:]


@needs_browser
def test_generated_bert_runs_unchanged_on_wasm_and_webgpu(bert_run):
    _, outcomes, output = bert_run
    assert outcomes["test_forward[cpu]"][0] == "passed", output
    # parity with torch float32 at the generated module's tolerance (1e-4)
    assert outcomes["test_forward[wasm]"][0] == "passed", outcomes["test_forward[wasm]"]
    assert outcomes["test_forward[webgpu]"][0] == "passed", outcomes["test_forward[webgpu]"]
    webnn = detect_webnn()
    outcome, message = outcomes["test_forward[webnn]"]
    if webnn.usable:
        assert outcome == "passed", message
    else:  # skipped with the browser's own words (here: NotSupportedError: WebNN is not supported ...)
        assert outcome == "skipped" and webnn.reason in message, message


@needs_browser
def test_the_matrix_and_the_dashboard_show_the_browser_columns(bert_run):
    """The browser backends are columns like any other: ``/api/test/matrix`` of a real ``ipfs-accel serve``
    on that run's store, and the dashboard's matrix in this process's one Chromium."""
    work, outcomes, _ = bert_run
    expected = {hw: _worst([o for name, (o, _) in outcomes.items() if name.endswith(f"[{hw}]")])
                for hw in BROWSER_COLUMNS}
    service = ServeCommand(work, work / "generated", TOKEN)
    try:
        response = service.client.get("/api/test/matrix")
        assert response.status_code == 200, response.text
        matrix = response.json()
        assert matrix["hardware"] == BROWSER_COLUMNS and matrix["models"] == ["bert"]
        assert {c["hardware"]: c["status"] for c in matrix["cells"]} == expected
        assert all(c["total"] == sum(c["counts"].values()) > 0 for c in matrix["cells"])

        context = browser_page.session().browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{service.url}/?token={TOKEN}#/matrix")
            page.wait_for_selector("#matrix-table td.cell[data-model]", timeout=20_000)
            heads = page.eval_on_selector_all("#matrix-table thead th", "ths => ths.map(th => th.textContent)")
            cells = page.eval_on_selector_all(
                "#matrix-table td.cell[data-model]", "tds => tds.map(td => [td.dataset.hardware, td.dataset.status])")
            assert not errors, errors
        finally:
            context.close()
    finally:
        service.close()
    assert heads == ["model", *BROWSER_COLUMNS]
    assert dict(cells) == expected


def _worst(outcomes: list[str]) -> str:
    """A cell's status as the matrix decides it (failed > error > passed > skipped), for the outcomes here."""
    for status in ("failed", "error", "passed", "skipped"):
        if status in outcomes:
            return status
    raise AssertionError(f"no outcome the matrix knows among {outcomes}")


@pytest.fixture(scope="module")
def wasm():
    hw = detect_wasm()
    assert hw.usable, hw.reason
    return hw


@needs_browser
def test_detection_names_the_browser_and_the_adapter(wasm):
    assert wasm.runtime.startswith("onnxruntime-web 1.30.0 in Chromium ")
    assert wasm.engine.fingerprint()["browser"] == wasm.devices[0].driver
    gpu = detect_webgpu()
    if gpu.usable:
        extra = gpu.devices[0].extra
        assert {"vendor", "architecture", "isFallbackAdapter", "software_renderer"} <= set(extra)
        if extra["software_renderer"]:
            assert "a software renderer: its timings are CPU timings" in gpu.reason
    else:
        assert gpu.reason.startswith("Chromium ")


@needs_browser
def test_a_crashed_page_fails_the_call_and_the_next_call_gets_a_new_page(wasm):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh()).eval()

    class Named(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return {"y": self.inner(x)}

    named = Named().eval()
    x = torch.randn(2, 4)
    prepared = wasm.engine.prepare(named, {"x": x})
    torch.testing.assert_close(prepared({"x": x}).y, named(x)["y"], atol=1e-6, rtol=1e-6)
    browser = wasm.engine.browser
    page = browser.page("wasm")
    try:
        page.goto("chrome://crash", timeout=10_000)
    except Exception:  # noqa: S110 - the navigation dies with the page
        pass
    with pytest.raises(BrowserError, match="the wasm page crashed"):
        prepared({"x": x})
    # the next call recreates the page and the session on it
    torch.testing.assert_close(prepared({"x": x}).y, named(x)["y"], atol=1e-6, rtol=1e-6)
    assert browser.page("wasm") is not page


@needs_browser
def test_preparation_stages_redo_the_export_and_the_session(wasm):
    """What the generated ``test_preparation_latency`` times: ``convert`` exports again, ``compile``
    makes (and releases) a new onnxruntime-web session; the prepared model is untouched."""

    class Named(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = torch.nn.Linear(4, 3)

        def forward(self, x):
            return {"y": torch.tanh(self.inner(x))}

    named = Named().eval()
    x = torch.randn(2, 4)
    prepared = wasm.engine.prepare(named, {"x": x})
    stages = prepared.stages()
    assert list(stages) == ["convert", "compile"]
    assert stages["convert"]() == ["y"]  # the output names of a fresh export
    session_ms = stages["compile"]()
    assert isinstance(session_ms, float) and session_ms > 0
    torch.testing.assert_close(prepared({"x": x}).y, named(x)["y"], atol=1e-6, rtol=1e-6)
