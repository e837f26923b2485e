// Line charts drawn with the vendored uPlot (static/vendor/uplot, MIT).

import uPlot from "../vendor/uplot/uPlot.esm.js";

const COLOURS = { p50: "#2563eb", p90: "#d97706", p99: "#dc2626", median: "#2563eb", regression: "#dc2626" };

function width(el) {
  return Math.max(320, Math.min(900, (el.clientWidth || 640) - 8));
}

const msAxis = {
  label: "latency (ms)",
  size: 64,
  values: (u, ticks) => ticks.map((v) => (v == null ? "" : +v.toPrecision(3))),
};

/**
 * Latency percentiles against a numeric parameter (batch size, sequence length).
 * `points`: [{x, p50, p90, p99}] in seconds; drawn in milliseconds.
 */
export function percentileChart(el, points, xLabel, title) {
  const sorted = [...points].sort((a, b) => a.x - b.x);
  const data = [
    sorted.map((p) => p.x),
    sorted.map((p) => (p.p50 == null ? null : p.p50 * 1e3)),
    sorted.map((p) => (p.p90 == null ? null : p.p90 * 1e3)),
    sorted.map((p) => (p.p99 == null ? null : p.p99 * 1e3)),
  ];
  const series = ["p50", "p90", "p99"].map((name) => ({
    label: name,
    stroke: COLOURS[name],
    width: 2,
    points: { show: true, size: 7 },
    value: (u, v) => (v == null ? "–" : `${v.toPrecision(3)} ms`),
  }));
  return new uPlot({
    title,
    width: width(el),
    height: 260,
    scales: { x: { time: false } },
    // ticks at the measured values only (1, 2, 4, 8 rather than 1..8)
    axes: [{ label: xLabel, splits: () => data[0], values: (u, ticks) => ticks.map((v) => v) }, msAxis],
    series: [{ label: xLabel }, ...series],
  }, data, el);
}

/**
 * Median latency per run, one step per run (oldest first), labelled by when
 * the run started; `points`: [{label, median, regression}].  Regressions get
 * their own red, line-less series so they stand out.
 */
export function historyChart(el, points, title) {
  const index = points.map((_, i) => i);
  const data = [
    index,
    points.map((p) => (p.median == null ? null : p.median * 1e3)),
    points.map((p) => (p.regression && p.median != null ? p.median * 1e3 : null)),
  ];
  const latency = (u, v) => (v == null ? "–" : `${v.toPrecision(3)} ms`);
  return new uPlot({
    title,
    width: width(el),
    height: 260,
    scales: { x: { time: false, range: [-0.3, Math.max(1, points.length - 1) + 0.3] } },
    axes: [
      {
        label: "run (oldest first)",
        splits: () => index,
        values: (u, ticks) => ticks.map((i) => points[i]?.label ?? ""),
      },
      msAxis,
    ],
    series: [
      { label: "run", value: (u, i) => (i == null ? "–" : points[i]?.label ?? "") },
      { label: "median", stroke: COLOURS.median, width: 2, points: { show: true, size: 7 }, value: latency },
      {
        label: "significant regression",
        stroke: COLOURS.regression,
        fill: COLOURS.regression,
        width: 0,
        paths: () => null,
        points: { show: true, size: 14, stroke: COLOURS.regression, fill: COLOURS.regression },
        value: latency,
      },
    ],
  }, data, el);
}
