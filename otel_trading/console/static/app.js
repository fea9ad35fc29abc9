// The console's shell: one page per path, rendered into <main id="view">. In-console links
// are followed without a reload (history.pushState); each page keeps its filters in the query
// string (history.replaceState) so any view can be bookmarked.

import { adoptTokenFromUrl, info } from "./api.js";
import { clear, flash, h } from "./dom.js";
import { setNavigator } from "./nav.js";
import { renderAlerts } from "./pages/alerts.js";
import { renderControls } from "./pages/controls.js";
import { renderLogs } from "./pages/logs.js";
import { renderMetrics } from "./pages/metrics.js";
import { renderOverview } from "./pages/overview.js";
import { renderTrace } from "./pages/trace.js";
import { renderTraces } from "./pages/traces.js";
import { renderTrades } from "./pages/trades.js";

const ROUTES = [
  [/^\/$/, "overview", renderOverview],
  [/^\/trades\/?$/, "trades", renderTrades],
  [/^\/traces\/?$/, "traces", renderTraces],
  [/^\/traces\/([0-9A-Za-z]+)\/?$/, "traces", renderTrace],
  [/^\/logs\/?$/, "logs", renderLogs],
  [/^\/metrics\/?$/, "metrics", renderMetrics],
  [/^\/alerts\/?$/, "alerts", renderAlerts],
  [/^\/controls\/?$/, "controls", renderControls],
];

let teardown = null;  // the current page's clean-up (closes its live stream and timers)
let generation = 0;   // a page rendered after another navigation started is dropped

function navigate(path) {
  history.pushState(null, "", path);
  route();
}

async function route() {
  if (teardown) {
    try { teardown(); } catch { /* a page's clean-up must not stop the next page */ }
    teardown = null;
  }
  flash("");
  const mine = ++generation;
  const view = clear(document.getElementById("view"));
  const path = window.location.pathname;
  const found = ROUTES.map(([pattern, name, render]) => [path.match(pattern), name, render]).find(([match]) => match);
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", Boolean(found) && link.dataset.page === found[1]);
  }
  if (!found) {
    view.append(h("h1", {}, "Not found"), h("p", {}, "No console page at ", h("code", {}, path), "."));
    return;
  }
  const [match, name, render] = found;
  document.title = `${name} · otel-trading console`;
  try {
    const about = await info();
    if (mine !== generation) return;
    const cleanup = await render(view, { info: about, params: match.slice(1).map(decodeURIComponent), isCurrent: () => mine === generation });
    if (mine === generation) teardown = typeof cleanup === "function" ? cleanup : null;
    else if (typeof cleanup === "function") cleanup();
  } catch (error) {
    if (mine !== generation) return;
    view.append(h("p", { class: "error" }, `Could not load this page: ${error.message}`));
  }
}

function followLinks(event) {
  const link = event.target.closest && event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api/") || url.pathname.startsWith("/static/")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

async function start() {
  adoptTokenFromUrl();
  setNavigator(navigate);
  document.addEventListener("click", followLinks);
  window.addEventListener("popstate", route);
  try {
    const about = await info();
    document.getElementById("mode").textContent = about.mode === "live"
      ? `live · ${about.service || ""}` : `store · ${about.store_dir || ""}`;
    document.getElementById("nav-controls").hidden = !about.controls;
  } catch (error) {
    flash(`The console API does not answer: ${error.message}`);
  }
  route();
}

start();
