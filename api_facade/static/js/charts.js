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
    axes: [{ label: xLabel, values: (u, ticks) => ticks.map((v) => (Number.isInteger(v) ? v : "")) }, msAxis],
    series: [{ label: xLabel }, ...series],
  }, data, el);
}

/**
 * Median latency per run over time; `points`: [{t (epoch s), median, regression}].
 * Regressions get their own red, line-less series so they stand out.
 */
export function historyChart(el, points, title) {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const data = [
    sorted.map((p) => p.t),
    sorted.map((p) => p.median * 1e3),
    sorted.map((p) => (p.regression ? p.median * 1e3 : null)),
  ];
  return new uPlot({
    title,
    width: width(el),
    height: 260,
    axes: [{}, msAxis],
    series: [
      { label: "run started" },
      {
        label: "median",
        stroke: COLOURS.median,
        width: 2,
        points: { show: true, size: 7 },
        value: (u, v) => (v == null ? "–" : `${v.toPrecision(3)} ms`),
      },
      {
        label: "significant regression",
        stroke: COLOURS.regression,
        fill: COLOURS.regression,
        width: 0,
        paths: () => null,
        points: { show: true, size: 14, stroke: COLOURS.regression, fill: COLOURS.regression },
        value: (u, v) => (v == null ? "–" : `${v.toPrecision(3)} ms`),
      },
    ],
  }, data, el);
}
