// Small DOM and formatting helpers.  Text always goes in as text nodes, never
// as HTML: test names and failure messages come from user code.

/** Create an element: h("a", {href: "#", class: "x", onclick: fn}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** A status or outcome as a coloured badge (colours in app.css by class). */
export function badge(word) {
  const text = word || "unknown";
  return h("span", { class: `badge s-${text}` }, text);
}

export const TERMINAL = new Set(["passed", "failed", "error", "cancelled", "timeout", "interrupted"]);

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Latency in the unit that suits it. */
export function fmtLatency(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(1)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toFixed(2)} ms`;
  return `${seconds.toFixed(3)} s`;
}

export function fmtTime(value) {
  if (!value) return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

/** A run id for display: whole when it is of a readable length, else its start. */
export function shortId(runId) {
  if (!runId) return "";
  const text = String(runId);
  return text.length <= 32 ? text : `${text.slice(0, 30)}…`;
}

/** A one-line error box for a view. */
export function errorBox(err) {
  return h("p", { class: "error" }, err && err.message ? err.message : String(err));
}
