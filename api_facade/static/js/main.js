// Boot: the token, the hash router, and the three views.

import { api, forgetToken, getToken, setAuthHandler, setToken, takeTokenFromUrl } from "./api.js";
import { clear } from "./dom.js";
import { showBench } from "./bench.js";
import { showMatrix } from "./matrix.js";
import { showRuns } from "./runs.js";
import { showRun } from "./runview.js";

const view = document.getElementById("view");
const dialog = document.getElementById("token-dialog");
const tokenInput = document.getElementById("token-input");
const tokenError = document.getElementById("token-error");
const forgetButton = document.getElementById("forget-token");

// a view returns a cleanup function (closing sockets, timers) run on navigation
let cleanup = null;

function askToken(message) {
  tokenError.hidden = !message;
  tokenError.textContent = message || "";
  if (!dialog.open) {
    tokenInput.value = "";
    dialog.showModal();
  }
}

dialog.addEventListener("cancel", (event) => {
  // no token, no data: the dialog stays until one is given
  if (!getToken()) event.preventDefault();
});

document.getElementById("token-form").addEventListener("submit", () => {
  const token = tokenInput.value.trim();
  if (!token) return;
  setToken(token);
  forgetButton.hidden = false;
  route();
});

forgetButton.addEventListener("click", () => {
  forgetToken();
  forgetButton.hidden = true;
  if (cleanup) cleanup();
  cleanup = null;
  clear(view);
  askToken();
});

setAuthHandler((message) => {
  forgetToken();
  forgetButton.hidden = true;
  askToken(`The service refused the token: ${message}`);
});

// what the token may do: controls marked "needs-run" are hidden from a read-only token
async function showScope() {
  try {
    const { scopes } = await api("/api/token");
    document.body.dataset.scope = scopes.includes("run") ? "run" : "read";
  } catch {
    delete document.body.dataset.scope;
  }
}

const ROUTES = [
  [/^#\/runs\/([^?]+)(?:\?kind=(\w+))?$/, (m) => showRun(view, decodeURIComponent(m[1]), m[2] || "test"), "runs"],
  [/^#\/matrix$/, () => showMatrix(view), "matrix"],
  [/^#\/bench$/, () => showBench(view), "bench"],
  [/^(#\/runs)?$/, () => showRuns(view), "runs"],
];

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  clear(view);
  if (!getToken()) {
    askToken();
    return;
  }
  showScope();
  const hash = window.location.hash.replace(/^#?\/?$/, "");
  for (const [pattern, show, tab] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("nav a")) {
      link.classList.toggle("active", link.dataset.view === tab);
    }
    document.body.dataset.view = tab;
    cleanup = show(match) || null;
    return;
  }
  window.location.hash = "#/runs";
}

takeTokenFromUrl();
forgetButton.hidden = !getToken();
window.addEventListener("hashchange", route);
route();
