// The runs view: the list of runs and the form that starts one (one run's live view: runview.js).

import { api } from "./api.js";
import { badge, clear, errorBox, fmtDuration, fmtTime, h, shortId, TERMINAL } from "./dom.js";

const TEST_TYPES = ["basic", "comprehensive", "benchmark"];

/** The hash link of a run's live view (its kind picks the API area). */
export function runLink(runId, kind = "test") {
  const suffix = kind && kind !== "test" ? `?kind=${encodeURIComponent(kind)}` : "";
  return `#/runs/${encodeURIComponent(runId)}${suffix}`;
}
const OUTCOME_ORDER = ["passed", "failed", "error", "skipped", "xfailed", "xpassed"];

// ------------------------------------------------------------------ helpers

/** The first defined value among `keys` of `obj` (the API's names, then fallbacks). */
export function pick(obj, ...keys) {
  for (const key of keys) {
    const value = key.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

export function countChips(counts) {
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
          run.kind && run.kind !== "test" ? h("span", { class: "muted" }, ` ${run.kind}`) : null,
          run.executor && run.executor !== "local"
            ? h("span", { class: "chip executor", title: "executor" }, run.executor) : null),
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
