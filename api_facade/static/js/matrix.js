// The model × hardware compatibility matrix (GET /api/test/matrix, built by
// pytest_ipfs_accel.matrix): each cell shows the latest outcome of a model on
// a backend; clicking a cell lists its tests.

import { api } from "./api.js";
import { badge, clear, errorBox, fmtDuration, fmtTime, h, shortId } from "./dom.js";
import { runLink } from "./runs.js";

export function showMatrix(root) {
  const body = h("div", { id: "matrix" }, h("p", { class: "muted" }, "loading the matrix…"));
  const detail = h("aside", { id: "cell-detail", class: "panel", hidden: true });
  const runSel = h("select", { id: "matrix-run" }, h("option", { value: "" }, "latest run per cell"));
  root.append(
    h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Compatibility matrix"),
        h("span", { class: "muted" }, "latest outcome of each model on each backend"),
        h("span", { class: "spacer" }),
        h("label", {}, "Run ", runSel)),
      body),
    detail,
  );
  let stopped = false;
  let generation = 0;
  async function load() {
    const gen = ++generation;
    detail.hidden = true;
    try {
      const matrix = await api("/api/test/matrix", { query: { run_id: runSel.value || undefined } });
      if (stopped || gen !== generation) return;
      clear(body).append(matrixTable(matrix, (cell, td) => showCell(detail, cell, td)), legend());
    } catch (err) {
      if (!stopped && gen === generation) clear(body).append(errorBox(err));
    }
  }
  runSel.addEventListener("change", load);
  load();
  // one run's own matrix: the finished test runs, newest first
  api("/api/test/runs", { query: { kind: "test", limit: 50 } }).then((data) => {
    for (const run of data.runs || []) {
      if (["queued", "running"].includes(run.status)) continue;
      runSel.append(h("option", { value: run.run_id }, `${shortId(run.run_id)} · ${run.status}`));
    }
  }).catch(() => {}); // the selector is a convenience; the matrix itself reports errors
  return () => {
    stopped = true;
  };
}

function matrixTable(matrix, onPick) {
  const cells = new Map();
  for (const cell of matrix.cells || []) cells.set(`${cell.model}\u0000${cell.hardware}`, cell);
  if (!cells.size) {
    return h("p", { class: "muted" }, "No model × hardware results yet: run generated model tests first.");
  }
  return h("table", { class: "matrix", id: "matrix-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "model"), matrix.hardware.map((hw) => h("th", {}, hw)))),
    h("tbody", {}, matrix.models.map((model) => h("tr", {},
      h("th", { scope: "row" }, h("code", {}, model)),
      matrix.hardware.map((hw) => {
        const cell = cells.get(`${model}\u0000${hw}`);
        if (!cell) return h("td", { class: "cell empty", title: "never tested" }, "–");
        const td = h("td", {
          class: `cell s-${cell.status}`,
          tabindex: 0,
          role: "button",
          dataset: { model, hardware: hw, status: cell.status },
          title: `${cell.status}: ${cell.working}/${cell.total} passed in run ${cell.run_id}`,
        }, h("span", { class: "cell-status" }, cell.status), h("span", { class: "cell-count" }, `${cell.working}/${cell.total}`));
        const pickIt = () => onPick(cell, td);
        td.addEventListener("click", pickIt);
        td.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            pickIt();
          }
        });
        return td;
      })))));
}

function legend() {
  return h("p", { class: "legend" },
    ["passed", "failed", "error", "skipped"].map((s) => h("span", { class: `cell s-${s}` }, s)),
    h("span", { class: "muted" }, " n/m: n of the cell's m tests passed in the latest run that tested it."));
}

// the service run behind the cell (a workflow's tests link to the workflow); a run the
// service did not start (plain pytest) has no page: its id is shown, not linked
function cellRunLink(cell) {
  if (!cell.service_run_id) return h("code", { title: cell.run_id }, shortId(cell.run_id));
  return h("a", { href: runLink(cell.service_run_id, cell.service_kind), title: cell.run_id },
    shortId(cell.service_run_id));
}

function showCell(panel, cell, td) {
  for (const el of document.querySelectorAll("#matrix-table td.selected")) el.classList.remove("selected");
  td.classList.add("selected");
  panel.hidden = false;
  clear(panel).append(
    h("div", { class: "panel-head" },
      h("h2", {}, h("code", {}, cell.model), " on ", cell.hardware), badge(cell.status),
      h("span", { class: "muted" }, "run ", cellRunLink(cell),
        cell.run_started_at ? `, ${fmtTime(cell.run_started_at)}` : "")),
    h("table", { class: "grid tests", id: "cell-tests" },
      h("thead", {}, h("tr", {}, ["outcome", "test", "phase", "duration"].map((t) => h("th", {}, t)))),
      h("tbody", {}, (cell.tests || []).map((t) => [
        h("tr", { dataset: { nodeid: t.nodeid } },
          h("td", {}, badge(t.outcome)),
          h("td", {}, h("code", {}, t.nodeid),
            t.message ? h("details", {}, h("summary", {}, "message"), h("pre", {}, t.message)) : null),
          h("td", {}, t.when || ""),
          h("td", { class: "num" }, fmtDuration(t.duration_s))),
      ]))),
  );
  panel.scrollIntoView({ block: "nearest" });
}
