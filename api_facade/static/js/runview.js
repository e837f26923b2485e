// The live view of one run: status, progress, tests and benchmarks as its events arrive.

import { api } from "./api.js";
import { badge, clear, fmtDuration, fmtLatency, h, TERMINAL } from "./dom.js";
import { countChips, pick } from "./runs.js";
import { RunStream } from "./runstream.js";

// run kind -> the API area that owns its status, results, cancel and events
const AREAS = { test: "/api/test", benchmark: "/api/benchmark", workflow: "/api/workflow" };

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
  const executorEl = h("span", { class: "chip executor", id: "run-executor", hidden: true, title: "executor" });
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
        statusEl, executorEl, elapsedEl, h("span", { class: "spacer" }), connEl, cancel),
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
      case "ShardResult":
        // a ray run: one shard attempt has ended (its run_shards row)
        if (event.status && !["passed", "failed"].includes(event.status) && !event.retried) {
          note.hidden = false;
          note.textContent = `shard ${event.shard} ${event.status}${event.reason ? `: ${event.reason}` : ""}`;
        }
        break;
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
    // where the run executes: "local" (one pytest here) or "ray" (shards on a cluster)
    if (status.executor) {
      executorEl.textContent = status.executor;
      executorEl.hidden = false;
    }
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
