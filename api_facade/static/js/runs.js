// The runs view (list + form to start one) and the live view of one run.

import { api } from "./api.js";
import { RunStream } from "./runstream.js";
import {
  badge, clear, errorBox, fmtDuration, fmtLatency, fmtTime, h, shortId, TERMINAL,
} from "./dom.js";

const TEST_TYPES = ["basic", "comprehensive", "benchmark"];
// run kind -> the API area that owns its status, results, cancel and events
const AREAS = { test: "/api/test", benchmark: "/api/benchmark", workflow: "/api/workflow" };

/** The hash link of a run's live view (its kind picks the API area). */
export function runLink(runId, kind = "test") {
  const suffix = kind && kind !== "test" ? `?kind=${encodeURIComponent(kind)}` : "";
  return `#/runs/${encodeURIComponent(runId)}${suffix}`;
}
const OUTCOME_ORDER = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"];

// ------------------------------------------------------------------ helpers

/** The first defined value among `keys` of `obj` (the API's names, then fallbacks). */
function pick(obj, ...keys) {
  for (const key of keys) {
    const value = key.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function countsText(counts) {
  if (!counts) return "";
  return OUTCOME_ORDER.filter((o) => counts[o]).map((o) => `${counts[o]} ${o}`).join(", ");
}

function countChips(counts) {
  return h("span", { class: "chips" },
    OUTCOME_ORDER.filter((o) => counts && counts[o]).map((o) =>
      h("span", { class: `chip s-${o}`, title: o }, `${counts[o]} ${o}`)));
}

function splitList(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

/** Hardware of a run row: a list, a JSON list/object of fingerprints, or a comma string. */
function hardwareText(run) {
  let hw = pick(run, "hardware", "hw_requested");
  if (typeof hw === "string") {
    try {
      hw = JSON.parse(hw);
    } catch {
      return hw;
    }
  }
  if (Array.isArray(hw)) return hw.join(", ");
  if (hw && typeof hw === "object") return Object.keys(hw).join(", ");
  return hw ?? "";
}

// ------------------------------------------------------------------ runs list

export function showRuns(root) {
  const list = h("div", { id: "runs-list" }, h("p", { class: "muted" }, "loading runs…"));
  const form = runForm();
  root.append(
    h("section", { class: "panel needs-run" }, h("h2", {}, "Start a run"), form),
    h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Runs"),
        h("button", { type: "button", class: "link", onclick: () => refresh() }, "refresh")),
      list),
  );
  let stopped = false;
  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      const data = await api("/api/test/runs", { query: { limit: 50 } });
      const runs = Array.isArray(data) ? data : pick(data, "runs", "items") || [];
      if (stopped) return;
      clear(list).append(runsTable(runs));
      // keep the list live while something is queued or running
      if (runs.some((r) => !TERMINAL.has(r.status))) timer = setTimeout(refresh, 2000);
    } catch (err) {
      if (!stopped) clear(list).append(errorBox(err));
    }
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function runsTable(runs) {
  if (!runs.length) return h("p", { class: "muted" }, "No runs yet: start one above.");
  return h("table", { class: "grid runs" },
    h("thead", {}, h("tr", {},
      ["run", "status", "tests", "duration", "hardware", "started"].map((t) => h("th", {}, t)))),
    h("tbody", {}, runs.map((run) => {
      const runId = pick(run, "run_id");
      const started = pick(run, "started_at", "created_at", "queued_at");
      const finished = pick(run, "finished_at");
      let duration = pick(run, "elapsed_s", "duration_s");
      if (duration === undefined && started && finished) {
        duration = (new Date(finished) - new Date(started)) / 1000;
      }
      return h("tr", { dataset: { runId } },
        h("td", {}, h("a", { href: runLink(runId, run.kind), title: runId }, shortId(runId)),
          run.kind && run.kind !== "test" ? h("span", { class: "muted" }, ` ${run.kind}`) : null),
        h("td", {}, badge(run.status)),
        h("td", {}, countChips(pick(run, "counts"))),
        h("td", {}, fmtDuration(duration)),
        h("td", {}, hardwareText(run)),
        h("td", {}, fmtTime(started)));
    })));
}

function runForm() {
  const hwBox = h("span", { class: "hw-choices" }, h("span", { class: "muted" }, "detecting…"));
  const message = h("p", { class: "error", hidden: true });
  const form = h("form", { id: "run-form", class: "form-grid" },
    h("label", {}, "Targets",
      h("input", { name: "targets", placeholder: "tests/test_bert.py tests/test_gpt2.py::test_forward", size: 50 })),
    h("label", {}, "or models",
      h("input", { name: "models", placeholder: "bert gpt2 (model types or ids)", size: 50 })),
    h("fieldset", {}, h("legend", {}, "Hardware"), hwBox),
    h("label", {}, "Test type",
      h("select", { name: "test_type" }, TEST_TYPES.map((t) => h("option", { value: t }, t)))),
    h("label", {}, "Workers",
      h("input", { name: "workers", type: "number", min: 0, max: 64, value: 0, title: "pytest-xdist -n; 0 runs in one process" })),
    h("label", {}, "Timeout (s)",
      h("input", { name: "timeout_s", type: "number", min: 1, value: 600 })),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "start-run" }, "Start run")),
    message,
  );

  api("/api/test/hardware").then((data) => {
    const backends = Array.isArray(data) ? data : pick(data, "hardware", "backends") || [];
    clear(hwBox);
    for (const hw of backends) {
      const name = typeof hw === "string" ? hw : hw.name || hw.backend;
      const usable = typeof hw === "string" ? true : hw.usable !== false;
      hwBox.append(h("label", { class: usable ? "" : "muted", title: hw.reason || "" },
        h("input", { type: "checkbox", name: "hardware", value: name, checked: usable && name === "cpu" }),
        ` ${name}`));
    }
    if (!backends.length) hwBox.append(h("input", { name: "hardware_text", placeholder: "cpu,cuda" }));
  }).catch(() => {
    clear(hwBox).append(h("input", { name: "hardware_text", placeholder: "cpu,cuda", value: "cpu" }));
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const hardware = data.getAll("hardware").concat(splitList(data.get("hardware_text") || ""));
    const body = {
      targets: splitList(data.get("targets") || ""),
      models: splitList(data.get("models") || ""),
      hardware,
      test_type: data.get("test_type"),
      workers: Number(data.get("workers") || 0),
      timeout_s: Number(data.get("timeout_s") || 600),
    };
    if (!body.targets.length && !body.models.length) {
      message.hidden = false;
      message.textContent = "Give targets (paths or node ids under the suite root) or models.";
      return;
    }
    message.hidden = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const run = await api("/api/test/run", { method: "POST", body });
      window.location.hash = `#/runs/${encodeURIComponent(run.run_id)}`;
    } catch (err) {
      message.hidden = false;
      message.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------------ one run, live

export function showRun(root, runId, kind = "test") {
  const area = AREAS[kind] || AREAS.test;
  const state = {
    status: "queued",
    collected: null,
    tests: new Map(), // nodeid -> TestResult row (items only, not subtests)
    counts: {},
    current: null,
    startedAt: null,
    finishedAt: null,
  };

  const statusEl = h("span", { id: "run-status" }, badge("queued"));
  const elapsedEl = h("span", { class: "muted", id: "run-elapsed" });
  const connEl = h("span", { class: "muted", id: "run-conn" });
  const bar = h("div", { class: "bar-fill" });
  const progressText = h("span", { id: "progress-text" }, "waiting for collection…");
  const progress = h("div", { class: "progress", id: "run-progress", role: "progressbar", "aria-valuemin": 0 }, bar);
  const currentEl = h("p", { class: "muted current", id: "current-test" });
  const chips = h("span", { id: "run-counts" });
  const cancel = h("button", { type: "button", id: "cancel-run", class: "danger needs-run" }, "Cancel run");
  const testsBody = h("tbody", { id: "run-tests" });
  const benchBody = h("tbody", {});
  const benchSection = h("section", { class: "panel", hidden: true },
    h("h2", {}, "Benchmarks"),
    h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, ["test", "batch", "seq len", "p50", "p90", "p99", "throughput"].map((t) => h("th", {}, t)))),
      benchBody));
  const note = h("p", { class: "error", hidden: true });

  root.append(
    h("section", { class: "panel" },
      h("div", { class: "panel-head" },
        h("h2", {}, "Run ", h("code", { title: runId }, runId)),
        statusEl, elapsedEl, h("span", { class: "spacer" }), connEl, cancel),
      h("div", { class: "progress-row" }, progress, progressText),
      chips, currentEl, note),
    h("section", { class: "panel" },
      h("h2", {}, "Tests"),
      h("table", { class: "grid tests" },
        h("thead", {}, h("tr", {}, ["outcome", "test", "hardware", "model", "duration"].map((t) => h("th", {}, t)))),
        testsBody)),
    benchSection,
  );

  function render() {
    clear(statusEl).append(badge(state.status));
    const done = [...state.tests.values()].filter((t) => t.when !== "collect").length;
    const total = state.collected;
    if (total) {
      const pct = Math.min(100, (100 * done) / total);
      bar.style.width = `${pct}%`;
      progress.setAttribute("aria-valuemax", total);
      progress.setAttribute("aria-valuenow", done);
      progressText.textContent = `${done} / ${total} tests`;
    } else if (TERMINAL.has(state.status)) {
      bar.style.width = "100%";
      progressText.textContent = `${done} tests`;
    }
    progress.dataset.done = String(done);
    progress.dataset.total = total == null ? "" : String(total);
    clear(chips).append(countChips(state.counts));
    currentEl.textContent = state.current && !TERMINAL.has(state.status) ? `running ${state.current}` : "";
    cancel.disabled = TERMINAL.has(state.status);
    tickElapsed();
  }

  function tickElapsed() {
    if (!state.startedAt) return;
    const end = state.finishedAt || Date.now();
    elapsedEl.textContent = fmtDuration((end - state.startedAt) / 1000);
  }

  function addTest(row) {
    if (row.subtest) return; // the item's own row carries the final outcome
    const nodeid = row.nodeid;
    const previous = state.tests.get(nodeid);
    if (previous) state.counts[previous.outcome] -= 1;
    state.tests.set(nodeid, row);
    state.counts[row.outcome] = (state.counts[row.outcome] || 0) + 1;
    const tr = testRow(row);
    const existing = testsBody.querySelector(`tr[data-nodeid="${CSS.escape(nodeid)}"]`);
    if (existing) {
      const detail = existing.nextElementSibling;
      if (detail && detail.classList.contains("detail")) detail.remove();
      existing.replaceWith(...tr);
    } else {
      testsBody.append(...tr);
    }
  }

  function onEvent(event) {
    switch (event["$report_type"]) {
      case "RunQueued":
      case "RunStarted":
        state.status = event.status || (event["$report_type"] === "RunStarted" ? "running" : "queued");
        break;
      case "SessionStart":
      case "RunInfo":
        if (!TERMINAL.has(state.status)) state.status = "running";
        state.startedAt = state.startedAt || (event.ipfs_ts ? event.ipfs_ts * 1000 : Date.now());
        break;
      case "CollectionFinished":
        state.collected = event.count;
        break;
      case "TestStart":
        state.current = event.nodeid;
        break;
      case "TestResult":
        addTest(event);
        if (state.current === event.nodeid) state.current = null;
        break;
      case "BenchmarkResult":
        benchSection.hidden = false;
        benchBody.append(h("tr", {},
          h("td", {}, h("code", {}, event.nodeid)),
          h("td", {}, event.batch_size ?? ""),
          h("td", {}, event.seq_len ?? ""),
          h("td", {}, fmtLatency(event.median_s)),
          h("td", {}, fmtLatency(event.p90_s)),
          h("td", {}, fmtLatency(event.p99_s)),
          h("td", {}, event.throughput ? `${event.throughput.toPrecision(4)} ${event.throughput_unit || ""}` : "")));
        break;
      case "StepStart":
        // workflow runs: generate, test, benchmark, one after the other
        state.current = `step: ${event.step}`;
        break;
      case "StepFinish":
        if (event.status && !["passed"].includes(event.status)) {
          note.hidden = false;
          note.textContent = `step ${event.step} ${event.status}${event.reason ? `: ${event.reason}` : ""}`;
        }
        break;
      case "ServiceWarning":
      case "InvalidEvent":
        // the service's own notes about the run (e.g. a garbled event line)
        note.hidden = false;
        note.textContent = event.message || event.reason || event["$report_type"];
        break;
      case "RunFinished":
        state.status = event.status || "error";
        state.finishedAt = Date.now();
        if (event.reason || event.message) {
          note.hidden = false;
          note.textContent = event.reason || event.message;
        }
        reconcile();
        break;
      default:
        break;
    }
    render();
  }

  // After the end, DuckDB's rows are the record: fill in anything the stream
  // could not carry (a run recovered after a restart has no live events).
  async function reconcile() {
    try {
      const results = await api(`${area}/results/${encodeURIComponent(runId)}`);
      for (const row of pick(results, "tests") || []) {
        const shown = state.tests.get(row.nodeid);
        if (!shown || shown.outcome !== row.outcome) addTest(row);
      }
      if (results.status) state.status = results.status;
      render();
    } catch (err) {
      note.hidden = false;
      note.textContent = `results: ${err.message}`;
    }
  }

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      const answer = await api(`${area}/cancel/${encodeURIComponent(runId)}`, { method: "POST" });
      if (answer && answer.status && !TERMINAL.has(state.status)) state.status = answer.status;
      render();
    } catch (err) {
      note.hidden = false;
      note.textContent = err.message;
      cancel.disabled = false;
    }
  });

  api(`${area}/status/${encodeURIComponent(runId)}`).then((status) => {
    const started = pick(status, "started_at");
    if (started) state.startedAt = new Date(started).getTime();
    const finished = pick(status, "finished_at");
    if (finished) state.finishedAt = new Date(finished).getTime();
    if (state.collected == null) state.collected = pick(status, "progress.collected", "collected") ?? null;
    if (!TERMINAL.has(state.status) && status.status) state.status = status.status;
    render();
  }).catch((err) => {
    note.hidden = false;
    note.textContent = err.message;
  });

  const stream = new RunStream(runId, onEvent, (connState, detail) => {
    connEl.textContent = connState === "live" ? "● live" : connState;
    connEl.dataset.state = connState;
    if (connState === "failed") {
      note.hidden = false;
      note.textContent = detail || "the event stream failed";
    }
  }, area).start();
  // the page's state, for people debugging it from the console
  window.ipfsAccelRun = { runId, state, stream };
  const ticker = setInterval(tickElapsed, 1000);
  render();
  return () => {
    stream.stop();
    clearInterval(ticker);
  };
}

/** A test's row, plus a hidden detail row with its message when it has one. */
function testRow(row) {
  const hasMessage = Boolean(row.message);
  const tr = h("tr", { dataset: { nodeid: row.nodeid, outcome: row.outcome }, class: hasMessage ? "expandable" : "" },
    h("td", {}, badge(row.outcome)),
    h("td", {}, h("code", {}, row.nodeid)),
    h("td", {}, row.hardware || ""),
    h("td", {}, row.model || ""),
    h("td", { class: "num" }, fmtDuration(row.duration_s)));
  if (!hasMessage) return [tr];
  const detail = h("tr", { class: "detail", hidden: true },
    h("td", { colspan: 5 }, h("pre", {}, row.message)));
  tr.title = "click to show the message";
  tr.addEventListener("click", () => {
    detail.hidden = !detail.hidden;
    tr.classList.toggle("open", !detail.hidden);
  });
  return [tr, detail];
}
