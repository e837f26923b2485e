// REST and WebSocket access to the facade, with the bearer token.
//
// The token is asked once per tab and kept in sessionStorage (never
// localStorage: closing the tab forgets it).  Like Jupyter, a link may carry
// it as ?token=...; it is moved to sessionStorage and removed from the
// address bar so it does not stay in history or get copied with the URL.

const TOKEN_KEY = "ipfs-accel.token";
// what a WebSocket subprotocol may contain (RFC 7230 token characters)
const SUBPROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onAuthNeeded = () => {};

/** Register the callback that asks the user for a (new) token. */
export function setAuthHandler(fn) {
  onAuthNeeded = fn;
}

export function takeTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  if (token.trim()) setToken(token.trim());
  url.searchParams.delete("token");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}

export function getToken() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Call the API: `path` like "/api/test/runs"; `body` is sent as JSON.
 * Resolves to the parsed JSON; rejects with ApiError carrying the server's
 * message (FastAPI's `detail`), so views can show what to fix.
 */
export async function api(path, { method = "GET", body, query, signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `cannot reach the service (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const message = describeError(data) || `${response.status} ${response.statusText}`;
    if (response.status === 401) onAuthNeeded(message);
    throw new ApiError(response.status, message);
  }
  return data;
}

function describeError(data) {
  if (!data) return "";
  // an HTML error page (a proxy, a missing route) says nothing useful inline
  if (typeof data === "string") return data.trimStart().startsWith("<") ? "" : data.slice(0, 500);
  const detail = data.detail ?? data.message ?? data.error;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI validation errors: [{loc: [...], msg}]
    return detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return JSON.stringify(detail ?? data).slice(0, 500);
}

/**
 * Open a WebSocket on `path` (with `params` as query).  The token travels as
 * a subprotocol so it stays out of URLs and server logs; a token that cannot
 * be a subprotocol falls back to ?token=.
 */
export function openSocket(path, params = {}) {
  const url = new URL(path, window.location.origin);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const token = getToken() || "";
  if (SUBPROTOCOL_SAFE.test(token)) {
    return new WebSocket(url, ["ipfs-accel", `ipfs-accel.bearer.${token}`]);
  }
  url.searchParams.set("token", token);
  return new WebSocket(url);
}
