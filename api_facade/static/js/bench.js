// Benchmarks: latency percentiles against batch size and sequence length,
// median latency per run over time with significant regressions marked, and
// two runs side by side, and two backends of one run side by side.  Data:
// GET /api/benchmark/query (rows of benchmark_results with their run's start
// time), GET /api/benchmark/compare (the same comparison `ipfs-accel compare`
// makes) and GET /api/benchmark/backends (`ipfs-accel compare RUN --backends A,B`).

import { api } from "./api.js";
import { historyChart, percentileChart } from "./charts.js";
import { clear, errorBox, fmtLatency, fmtTime, h, shortId } from "./dom.js";

const HISTORY_RUNS = 20; // consecutive pairs compared for the history chart

function rowsOf(data) {
  if (Array.isArray(data)) return data;
  return data?.results || data?.rows || data?.benchmarks || data?.items || [];
}

function startedAt(row) {
  const value = row.started_at || row.run_started_at;
  return value ? new Date(value).getTime() / 1000 : null;
}

function uniq(values) {
  return [...new Set(values.filter((v) => v !== null && v !== undefined))];
}

/** The case a row measures, beyond model and hardware: comparable across runs. */
function caseKey(row) {
  return [row.kind || row.name || "", row.dtype || "", row.batch_size ?? "", row.seq_len ?? ""].join("|");
}

function caseLabel(row) {
  const parts = [row.kind || row.name || "benchmark"];
  if (row.dtype) parts.push(row.dtype);
  if (row.batch_size != null) parts.push(`batch ${row.batch_size}`);
  if (row.seq_len != null) parts.push(`seq ${row.seq_len}`);
  return parts.join(" · ");
}

function shortTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

function median(values) {
  const s = values.filter((v) => v != null).sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

function mostCommon(values) {
  const counts = new Map();
  for (const v of values) counts.set(v, (counts.get(v) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** Runs in `rows`, oldest first: [{run_id, t}]. */
function runsOf(rows) {
  const runs = new Map();
  for (const row of rows) {
    if (!runs.has(row.run_id)) runs.set(row.run_id, { run_id: row.run_id, t: startedAt(row) });
  }
  return [...runs.values()].sort((a, b) => (a.t ?? 0) - (b.t ?? 0));
}

/** compare's answer as [{...case, base_s, head_s, change_pct, regression, significant}]. */
export function comparisons(data) {
  const list = Array.isArray(data) ? data : data?.cases || data?.comparisons || data?.rows || data?.results || [];
  return list.map((c) => ({
    ...c,
    base_s: c.base_s ?? c.base_median_s ?? c.base?.median_s ?? null,
    head_s: c.head_s ?? c.head_median_s ?? c.head?.median_s ?? null,
    change_pct: c.median_change_pct ?? c.change_pct ?? c.delta_pct ?? null,
    regression: Boolean(c.regression ?? c.regressed ?? (c.verdict === "regression")),
    significant: Boolean(c.significant ?? (c.p_value != null ? c.p_value < 0.05 : false)),
  }));
}

export function showBench(root) {
  const controls = h("div", { class: "form-row" });
  const charts = h("div", { id: "bench-charts", class: "charts" });
  const history = h("div", { id: "bench-history" });
  const compare = h("div", { id: "bench-compare" });
  const backends = h("div", { id: "bench-backends" });
  root.append(
    h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Benchmarks")), controls, charts),
    h("section", { class: "panel" }, h("h2", {}, "History"), history),
    h("section", { class: "panel" }, h("h2", {}, "Two runs side by side"), compare),
    h("section", { class: "panel" }, h("h2", {}, "Two backends of one run"), backends),
  );

  let stopped = false;
  let plots = [];
  const dispose = () => {
    for (const p of plots) p.destroy();
    plots = [];
  };

  api("/api/benchmark/query").then((data) => {
    if (stopped) return;
    const all = rowsOf(data);
    if (!all.length) {
      controls.append(h("p", { class: "muted" }, "No benchmark results yet: run benchmark tests (test type 'benchmark')."));
      return;
    }
    const models = uniq(all.map((r) => r.model)).sort();
    const modelSel = h("select", { id: "bench-model" }, models.map((m) => h("option", { value: m }, m)));
    const hwSel = h("select", { id: "bench-hardware" });
    const fillHardware = () => {
      const hws = uniq(all.filter((r) => r.model === modelSel.value).map((r) => r.hardware));
      clear(hwSel).append(...hws.map((x) => h("option", { value: x }, x)));
    };
    fillHardware();
    modelSel.addEventListener("change", () => {
      fillHardware();
      draw();
    });
    hwSel.addEventListener("change", draw);
    controls.append(h("label", {}, "Model ", modelSel), h("label", {}, "Hardware ", hwSel));
    drawBackends(all, () => modelSel.value, () => stopped);

    // each draw has a number; one overtaken by a newer choice stops at its next await
    let generation = 0;
    const current = (gen) => !stopped && gen === generation;

    async function draw() {
      generation += 1;
      const gen = generation;
      dispose();
      clear(charts);
      document.getElementById("bench-latest")?.remove();
      clear(history);
      clear(compare);
      let rows;
      try {
        // the filtered history from the service (all runs of this model on this backend)
        rows = rowsOf(await api("/api/benchmark/query", { query: { model: modelSel.value, hardware: hwSel.value } }));
      } catch (err) {
        if (current(gen)) charts.append(errorBox(err));
        return;
      }
      if (!current(gen)) return;
      drawPercentiles(rows);
      drawHistory(rows, gen);
      drawCompare(rows, gen);
    }

    function drawPercentiles(rows) {
      const runs = runsOf(rows);
      const latest = runs[runs.length - 1];
      const mine = rows.filter((r) => r.run_id === latest.run_id);
      const kind = mostCommon(mine.map((r) => r.kind || r.name || ""));
      const ofKind = mine.filter((r) => (r.kind || r.name || "") === kind);
      charts.before(h("p", { class: "muted", id: "bench-latest" },
        `latest run ${shortId(latest.run_id)} (${fmtTime(latest.t)}), ${kind || "benchmark"}`));
      const axes = [["batch_size", "seq_len", "batch size"], ["seq_len", "batch_size", "sequence length"]];
      // both boxes first: each chart takes its box's width, which depends on the other being there
      const boxes = axes.map(([axis]) => h("div", { class: "chart", dataset: { chart: axis } }));
      charts.append(...boxes);
      for (const [i, [axis, other, label]] of axes.entries()) {
        // hold the other parameter at its most common value so one line varies one thing
        const fixed = mostCommon(ofKind.map((r) => r[other]));
        const points = ofKind
          .filter((r) => r[other] === fixed && r[axis] != null)
          .map((r) => ({ x: r[axis], p50: r.median_s, p90: r.p90_s, p99: r.p99_s }));
        const box = boxes[i];
        if (new Set(points.map((p) => p.x)).size < 1) {
          box.append(h("p", { class: "muted" }, `no ${label} data`));
          continue;
        }
        const otherLabel = other === "seq_len" ? "sequence length" : "batch size";
        plots.push(percentileChart(box, points, label,
          `Latency vs ${label} (${otherLabel} ${fixed ?? "n/a"})`));
      }
    }

    async function drawHistory(rows, gen) {
      const byCase = new Map();
      for (const r of rows) {
        const key = caseKey(r);
        if (!byCase.has(key)) byCase.set(key, []);
        byCase.get(key).push(r);
      }
      // cases measured in the most runs first: those have a history worth drawing
      const cases = [...byCase.entries()].sort(
        (a, b) => uniq(b[1].map((r) => r.run_id)).length - uniq(a[1].map((r) => r.run_id)).length);
      const caseSel = h("select", { id: "bench-case" },
        cases.map(([key, list]) => h("option", { value: key }, caseLabel(list[0]))));
      const box = h("div", { class: "chart", dataset: { chart: "history" } });
      const note = h("p", { class: "muted" });
      history.append(h("label", {}, "Case ", caseSel), box, note);

      const regressionsFor = new Map(); // "base>head" -> comparisons
      let caseGeneration = 0;
      async function drawCase() {
        for (const p of plots.filter((p) => p.root.parentNode === box)) p.destroy();
        plots = plots.filter((p) => p.root.parentNode !== null);
        clear(box);
        delete box.dataset.regressions;
        const caseGen = ++caseGeneration;
        const list = byCase.get(caseSel.value) || [];
        const runs = runsOf(list).slice(-HISTORY_RUNS);
        const points = runs.map((run) => ({
          run_id: run.run_id,
          t: run.t,
          median: median(list.filter((r) => r.run_id === run.run_id).map((r) => r.median_s)),
          regression: false,
        }));
        // mark what compare calls a significant regression between consecutive runs
        let failures = 0;
        for (let i = 1; i < points.length; i += 1) {
          const pair = `${points[i - 1].run_id}>${points[i].run_id}`;
          if (!regressionsFor.has(pair)) {
            try {
              regressionsFor.set(pair, comparisons(await api("/api/benchmark/compare", {
                query: { base: points[i - 1].run_id, head: points[i].run_id },
              })));
            } catch {
              failures += 1;
              regressionsFor.set(pair, []);
            }
          }
          if (!current(gen) || caseGen !== caseGeneration) return;
          const sample = list.find((r) => r.run_id === points[i].run_id);
          points[i].regression = regressionsFor.get(pair).some((c) => c.regression && matches(c, sample));
        }
        if (!current(gen) || caseGen !== caseGeneration) return;
        const marked = points.filter((p) => p.regression).length;
        note.textContent = `${points.length} run(s); ${marked} significant regression(s) marked` +
          (failures ? `; ${failures} comparison(s) unavailable` : "");
        box.dataset.regressions = String(marked);
        const labelled = points.map((p) => ({ ...p, label: p.t ? shortTime(p.t) : shortId(p.run_id) }));
        plots.push(historyChart(box, labelled, `Median latency per run: ${caseLabel(list[0])}`));
      }
      caseSel.addEventListener("change", drawCase);
      await drawCase();
    }

    function drawCompare(rows, gen) {
      const runs = runsOf(rows);
      const opts = () => runs.map((r) => h("option", { value: r.run_id }, `${shortId(r.run_id)} · ${fmtTime(r.t)}`));
      const baseSel = h("select", { id: "compare-base" }, opts());
      const headSel = h("select", { id: "compare-head" }, opts());
      baseSel.value = runs[Math.max(0, runs.length - 2)].run_id;
      headSel.value = runs[runs.length - 1].run_id;
      const out = h("div", { id: "compare-table" });
      compare.append(h("div", { class: "form-row" },
        h("label", {}, "Base ", baseSel), h("label", {}, "Head ", headSel)), out);
      async function run() {
        clear(out).append(h("p", { class: "muted" }, "comparing…"));
        try {
          const result = comparisons(await api("/api/benchmark/compare", { query: { base: baseSel.value, head: headSel.value } }))
            .filter((c) => (c.model == null || c.model === modelSel.value) && (c.hardware == null || c.hardware === hwSel.value));
          if (current(gen)) clear(out).append(compareTable(result));
        } catch (err) {
          if (current(gen)) clear(out).append(errorBox(err));
        }
      }
      baseSel.addEventListener("change", run);
      headSel.addEventListener("change", run);
      run();
    }

    draw();
  }).catch((err) => {
    if (!stopped) controls.append(errorBox(err));
  });

  return () => {
    stopped = true;
    dispose();
  };
}

/** Which backend is faster for each case of one run: median ratio, interval, significance. */
function drawBackends(all, model, stopped) {
  const runs = runsOf(all).map((r) => r.run_id); // oldest first
  const backendsOf = (run) => uniq(all.filter((r) => r.run_id === run).map((r) => r.hardware)).sort();
  const multi = runs.filter((run) => backendsOf(run).length > 1);
  const root = document.getElementById("bench-backends");
  if (!multi.length) {
    root.append(h("p", { class: "muted" }, "No run has benchmarks on two backends: run them with --ipfs-hw=cpu,openvino (or any two)."));
    return;
  }
  const runSel = h("select", { id: "backends-run" }, multi.map((r) => h("option", { value: r }, shortId(r))));
  const baseSel = h("select", { id: "backends-base" });
  const headSel = h("select", { id: "backends-head" });
  const out = h("div", { id: "backends-table" });
  const fill = () => {
    const names = backendsOf(runSel.value);
    clear(baseSel).append(...names.map((x) => h("option", { value: x }, x)));
    clear(headSel).append(...names.map((x) => h("option", { value: x }, x)));
    baseSel.value = names.includes("cpu") ? "cpu" : names[0];
    headSel.value = names.find((x) => x !== baseSel.value);
  };
  runSel.value = multi[multi.length - 1];
  fill();
  root.append(h("div", { class: "form-row" },
    h("label", {}, "Run ", runSel), h("label", {}, "Base ", baseSel), h("label", {}, "Head ", headSel)), out);
  let asked = 0;
  async function run() {
    const mine = ++asked;
    clear(out).append(h("p", { class: "muted" }, "comparing…"));
    try {
      const data = await api("/api/benchmark/backends", { query: { run: runSel.value, base: baseSel.value, head: headSel.value } });
      if (stopped() || mine !== asked) return;
      const cases = data.cases.filter((c) => c.model == null || c.model === model());
      clear(out).append(backendsTable(data, cases));
    } catch (err) {
      if (!stopped() && mine === asked) clear(out).append(errorBox(err));
    }
  }
  runSel.addEventListener("change", () => { fill(); run(); });
  baseSel.addEventListener("change", run);
  headSel.addEventListener("change", run);
  run();
}

function backendsTable(data, cases) {
  if (!cases.length) return h("p", { class: "muted" }, "No case of this model on these backends.");
  const verdict = (c) => c.ratio == null ? `only on ${c.base_median_s == null ? c.head_backend : c.base_backend}`
    : !c.significant ? "no significant difference"
      : `${c.faster} ${(c.faster === c.head_backend ? 1 / c.ratio : c.ratio).toFixed(2)}x faster`;
  const num = (x, digits = 3) => x == null ? "" : Number(x).toFixed(digits);
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, ["case", data.base, data.head, `${data.head}/${data.base}`,
      `${Math.round(100 * data.confidence)}% interval`, "p", "verdict"].map((t) => h("th", {}, t)))),
    h("tbody", {}, cases.map((c) => h("tr", { class: c.significant ? "significant" : "" },
      h("td", {}, h("code", {}, c.case)),
      h("td", { class: "num" }, fmtLatency(c.base_median_s)),
      h("td", { class: "num" }, fmtLatency(c.head_median_s)),
      h("td", { class: "num" }, num(c.ratio)),
      h("td", { class: "num" }, c.ratio_low == null ? "" : `${num(c.ratio_low)}–${num(c.ratio_high)}`),
      h("td", { class: "num" }, c.p_value == null ? "" : Number(c.p_value).toPrecision(2)),
      h("td", {}, verdict(c))))));
}

/** Does comparison `c` concern the same case as benchmark row `row`? */
function matches(c, row) {
  if (!row) return false;
  if (c.nodeid && row.nodeid && c.nodeid !== row.nodeid) return false;
  for (const key of ["model", "hardware", "batch_size", "seq_len", "dtype", "kind"]) {
    if (c[key] != null && row[key] != null && c[key] !== row[key]) return false;
  }
  return true;
}

function compareTable(list) {
  if (!list.length) return h("p", { class: "muted" }, "No benchmark in common between these runs.");
  const longest = Math.max(...list.flatMap((c) => [c.base_s || 0, c.head_s || 0]));
  const bar = (value, cls) => h("span", { class: `hbar ${cls}`, style: `width:${longest ? (100 * (value || 0)) / longest : 0}%` });
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, ["case", "base median", "head median", "", "change", "verdict"].map((t) => h("th", {}, t)))),
    h("tbody", {}, list.map((c) => h("tr", { class: c.regression ? "regression" : c.significant ? "significant" : "" },
      h("td", {}, h("code", {}, c.nodeid || c.name || "")),
      h("td", { class: "num" }, fmtLatency(c.base_s)),
      h("td", { class: "num" }, fmtLatency(c.head_s)),
      h("td", { class: "bars" }, bar(c.base_s, "base"), bar(c.head_s, "head")),
      h("td", { class: "num" }, c.change_pct == null ? "" : `${c.change_pct > 0 ? "+" : ""}${Number(c.change_pct).toFixed(1)}%`),
      h("td", {}, c.verdict || (c.regression ? "regression" : c.significant ? "significant" : "no significant change"))))));
}
