"""The dashboard in a real headless Chromium against a real ``ipfs-accel serve``.

Drives Debian's /usr/bin/chromium through Playwright's Python package (its
own browser downloads are never used).  One service and one browser serve the
whole module: a baseline benchmark run is started over REST, then the page
starts a second run (with the benchmark work raised, a real regression),
follows it live through a WebSocket that is cut once mid-run, and shows the
matrix and the benchmark charts.  Screenshots go to the test's temporary
folder, and also to $IPFS_ACCEL_SCREENSHOT_DIR when set (that is how
docs/dashboard-*.png are made).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.facade_fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TERMINAL,
    ServeCommand,
    set_work_factor,
    write_suite,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: run scripts/install_chromium.sh (apt-get install chromium)",
)

TOKEN = "dashboard-test-token-0123456789"
#: the runs list has answered (a table of runs, or the note that there are none)
LIST_LOADED = "#runs-list table.runs, #runs-list p.muted:text('No runs yet')"
TERMINAL_JS = "[" + ", ".join(f"'{s}'" for s in sorted(TERMINAL)) + "]"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    pytest.importorskip("fastapi", reason="the facade needs the 'serve' extra (fastapi, uvicorn)")
    workdir = tmp_path_factory.mktemp("dashboard")
    suite = workdir / "suite"
    write_suite(suite, work_factor=1)
    svc = ServeCommand(workdir, suite, TOKEN)
    svc.suite = suite
    try:
        yield svc
    finally:
        svc.close()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright's Python package is missing: pip install playwright"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path):
    """Save a screenshot under tmp_path and, when asked for, under $IPFS_ACCEL_SCREENSHOT_DIR."""
    extra = os.environ.get("IPFS_ACCEL_SCREENSHOT_DIR")

    def save(page, name: str, **kwargs) -> Path:
        path = tmp_path / name
        page.screenshot(path=str(path), **kwargs)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, f"{name} is not a real screenshot"
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(extra) / name)
        return path

    return save


@pytest.fixture
def page(browser, service):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    foreign: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # offline by construction: every request stays on the service
    page.on("request", lambda req: foreign.append(req.url)
            if urlsplit(req.url).hostname not in ("127.0.0.1", None) and not req.url.startswith("data:")
            else None)
    yield page
    context.close()
    assert not foreign, f"the page fetched from outside the service: {foreign}"
    # a 401 while testing the token prompt is expected; anything else is a bug
    real = [e for e in errors if "401" not in e]
    assert not real, f"errors in the page: {real}"


def test_token_is_asked_once_and_kept_for_the_tab(page, service):
    page.goto(service.url + "/#/runs")
    dialog = page.locator("#token-dialog")
    assert dialog.is_visible()
    assert page.locator("#runs-list").count() == 0  # no data before a token

    page.fill("#token-input", "not-the-token")
    page.click("#token-submit")
    page.wait_for_selector("#token-error:not([hidden])")
    assert "refused the token" in page.inner_text("#token-error")

    page.fill("#token-input", TOKEN)
    page.click("#token-submit")
    page.wait_for_selector(LIST_LOADED)
    assert not dialog.is_visible()
    # kept in this tab: a reload does not ask again
    page.reload()
    page.wait_for_selector(LIST_LOADED)
    assert not dialog.is_visible()


def test_token_from_the_url_leaves_the_address_bar(page, service):
    page.goto(f"{service.url}/?token={TOKEN}#/runs")
    page.wait_for_selector(LIST_LOADED)
    assert "token" not in page.url
    assert page.evaluate("sessionStorage.getItem('ipfs-accel.token')") == TOKEN
    assert not page.locator("#token-dialog").is_visible()


def test_cancel_from_the_live_view(page, service):
    set_work_factor(service.suite, 1)
    run_id = service.start_run(targets=["test_models.py"], hardware=["cpu"])
    page.goto(f"{service.url}/?token={TOKEN}#/runs/{run_id}")
    page.wait_for_function("() => document.querySelector('#run-status .badge').textContent === 'running'")
    page.click("#cancel-run")
    page.wait_for_function(
        "() => document.querySelector('#run-status .badge').textContent === 'cancelled'", timeout=30_000
    )
    assert page.locator("#cancel-run").is_disabled()
    assert service.client.get(f"/api/test/status/{run_id}").json()["status"] == "cancelled"
    page.wait_for_function("() => ipfsAccelRun.stream.finished")  # RunFinished closed the stream


def test_a_read_token_sees_runs_but_no_controls(page, service):
    run_id = service.start_run(targets=["test_models.py"], hardware=["cpu"])
    final = service.wait(run_id)["status"]
    page.goto(f"{service.url}/?token={TOKEN}-read#/runs")
    page.wait_for_selector(LIST_LOADED)
    page.wait_for_function("() => document.body.dataset.scope === 'read'")
    assert page.locator("#start-run").is_hidden()
    page.goto(f"{service.url}/#/runs/{run_id}")
    page.wait_for_function("(s) => document.querySelector('#run-status .badge')?.textContent === s",
                           arg=final, timeout=30_000)
    assert page.locator("#cancel-run").is_hidden()
    page.goto(f"{service.url}/?token={TOKEN}#/runs")  # the full token gets the controls back
    page.wait_for_function("() => document.body.dataset.scope === 'run'")
    assert page.locator("#start-run").is_visible()


def test_live_run_then_matrix_then_benchmarks(page, service, shots):
    # the baseline for the benchmark history: the same cases with a tenth of the work
    set_work_factor(service.suite, 1)
    baseline = service.start_run(targets=["test_bench.py"], hardware=["cpu"], test_type="benchmark")
    status = service.wait(baseline)
    assert status["status"] == "passed", (status, service.log_text())
    set_work_factor(service.suite, 10)

    dropped = _cut_the_first_event_socket(page, after_messages=12)
    page.goto(f"{service.url}/?token={TOKEN}#/runs")
    row = page.locator(f"#runs-list tr[data-run-id='{baseline}']")
    row.wait_for()
    assert "passed" in row.inner_text() and "cpu" in row.inner_text()

    # --- start a run from the form
    page.fill("#run-form input[name=targets]", "test_models.py test_bench.py")
    page.wait_for_selector("#run-form input[name=hardware][value=cpu]")
    page.check("#run-form input[name=hardware][value=cpu]")
    page.check("#run-form input[name=hardware][value=cuda]")  # not usable here: skipped with the reason
    page.select_option("#run-form select[name=test_type]", "benchmark")
    page.click("#start-run")
    page.wait_for_url(re.compile(r"#/runs/.+"))
    run_id = page.url.split("#/runs/")[1]

    # --- mid-run: some tests done, not all
    page.wait_for_function(
        "() => { const p = document.querySelector('#run-progress');"
        " return p && +p.dataset.done >= 12 && p.dataset.total && +p.dataset.done < +p.dataset.total; }"
    )
    shots(page, "dashboard-runs.png", full_page=True)

    # --- the end: the progress bar is full and every test appears exactly once
    page.wait_for_function(
        f"() => {TERMINAL_JS}.includes(document.querySelector('#run-status .badge').textContent)",
        timeout=60_000,
    )
    assert dropped, "the event socket was never cut, so resuming was not exercised"
    final = service.client.get(f"/api/test/results/{run_id}").json()
    assert final["status"] == "failed"  # the sample suite has one real failure
    expected = sorted(t["nodeid"] for t in final["tests"] if not t.get("subtest"))
    page.wait_for_function(f"() => document.querySelectorAll('#run-tests tr[data-nodeid]').length >= {len(expected)}")
    shown = page.eval_on_selector_all("#run-tests tr[data-nodeid]", "rows => rows.map(r => r.dataset.nodeid)")
    assert sorted(shown) == expected  # none lost, none repeated
    progress = page.locator("#run-progress")
    assert progress.get_attribute("data-done") == progress.get_attribute("data-total") == str(len(expected))
    stream = page.evaluate(
        "() => { const s = ipfsAccelRun.stream;"
        " return {connects: s.connects, last: s.lastSeq, delivered: s.delivered}; }"
    )
    assert stream["connects"] >= 2  # it resumed after the cut
    # every event once: seq runs 1..last without gaps, and the page handled exactly `last` events
    assert stream["last"] == service.client.get(f"/api/test/status/{run_id}").json()["last_seq"]
    assert stream["delivered"] == stream["last"]
    counts = page.inner_text("#run-counts")
    assert f"{final['counts']['passed']} passed" in counts and "1 failed" in counts

    # a failure expands to its message
    failed = page.locator("#run-tests tr[data-outcome=failed]")
    assert failed.count() == 1
    failed.click()
    message = page.locator("#run-tests tr.detail:not([hidden]) pre")
    assert "digest differs from the recorded reference" in message.inner_text()
    assert page.locator("#cancel-run").is_disabled()

    # --- matrix: model x hardware, coloured, each cell opens its tests
    page.click("nav a[data-view=matrix]")
    page.wait_for_selector("#matrix-table")
    cells = page.eval_on_selector_all(
        "#matrix-table td.cell[data-model]",
        "tds => tds.map(td => [td.dataset.model, td.dataset.hardware, td.dataset.status,"
        " getComputedStyle(td).backgroundColor])",
    )
    by_key = {(m, hw): (status, colour) for m, hw, status, colour in cells}
    assert by_key[("sample/encoder", "cpu")][0] == "passed"
    assert by_key[("sample/decoder", "cpu")][0] == "failed"
    assert by_key[("sample/seq2seq", "cpu")][0] == "skipped"
    assert by_key[("sample/encoder", "cuda")][0] == "skipped"
    colours = {status: colour for status, colour in by_key.values()}
    assert len(set(colours.values())) == 3  # passed, failed, skipped look different
    page.click("#matrix-table td[data-model='sample/decoder'][data-hardware='cpu']")
    page.wait_for_selector("#cell-tests")
    rows = page.locator("#cell-tests tbody tr")
    assert rows.count() == 4
    assert "test_decoder_matches_recorded_digest[cpu]" in page.inner_text("#cell-tests")
    page.click("#cell-tests details summary")  # the failure's message, from DuckDB
    assert "digest differs from the recorded reference" in page.inner_text("#cell-tests details pre")
    shots(page, "dashboard-matrix.png", full_page=True)
    # one run's own matrix: the baseline ran only the benchmarks, on cpu
    page.select_option("#matrix-run", baseline)
    page.wait_for_function("() => document.querySelectorAll('#matrix-table td.cell[data-model]').length === 1")
    only = page.locator("#matrix-table td.cell[data-model]")
    assert (only.get_attribute("data-model"), only.get_attribute("data-status")) == ("sample/encoder", "passed")
    assert "8/8" in only.inner_text()

    # --- benchmarks: percentile charts, history with the regression, two runs side by side
    page.click("nav a[data-view=bench]")
    page.wait_for_selector("#bench-model")
    # these runs benchmarked one backend each: the backends panel says how to get two
    assert "No run has benchmarks on two backends" in page.inner_text("#bench-backends")
    page.select_option("#bench-model", "sample/encoder")
    page.select_option("#bench-hardware", "cpu")
    for chart in ("batch_size", "seq_len", "history"):
        page.wait_for_selector(f".chart[data-chart={chart}] canvas")
    for chart in ("batch_size", "seq_len", "history"):
        assert _canvas_has_drawing(page, f".chart[data-chart={chart}] canvas"), f"{chart} chart is blank"
    # uPlot's legend lists the three percentiles
    legend = page.inner_text(".chart[data-chart=batch_size] .u-legend")
    assert all(p in legend for p in ("p50", "p90", "p99"))
    # the biggest case: ten times the work stands far above any noise of a busy machine
    page.select_option("#bench-case", label="forward · float32 · batch 8 · seq 32")
    page.wait_for_function(
        "() => document.querySelector('#bench-history .chart').dataset.regressions !== undefined"
    )
    assert _canvas_has_drawing(page, ".chart[data-chart=history] canvas")
    assert page.get_attribute("#bench-history .chart", "data-regressions") == "1"
    page.wait_for_selector("#compare-table table")
    assert page.input_value("#compare-base") == baseline
    assert page.input_value("#compare-head") == run_id
    assert page.locator("#compare-table tr.regression").count() >= 1
    shots(page, "dashboard-bench.png", full_page=True)


def _cut_the_first_event_socket(page, after_messages: int) -> list[int]:
    """Proxy the run's WebSocket and drop the first connection after some messages.

    Later connections (the page's resume with ?since=) pass through untouched.
    Returns a list that holds the cut point once it happened.
    """
    cut: list[int] = []
    state = {"connections": 0}

    def handler(ws):
        state["connections"] += 1
        first = state["connections"] == 1
        server = ws.connect_to_server()
        seen = {"n": 0}

        def from_server(message):
            if first and cut:
                return  # after the cut nothing more goes to the page on this socket
            ws.send(message)
            seen["n"] += 1
            if first and seen["n"] == after_messages:
                cut.append(seen["n"])
                ws.close(code=4000, reason="network dropped (test)")
                server.close()

        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/api/test/ws/.*"), handler)
    return cut


def _canvas_has_drawing(page, selector: str) -> bool:
    """Whether the canvas holds pixels of more than one colour (lines drawn, not blank)."""
    return page.eval_on_selector(
        selector,
        """c => {
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const colours = new Set();
            for (let i = 0; i < data.length; i += 4 * 7) {
                if (data[i + 3] > 0) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
                if (colours.size > 3) return true;
            }
            return false;
        }""",
    )
