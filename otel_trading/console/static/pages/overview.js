// Overview: equity, PnL, drawdown, positions, trading state, alerts, health, latency, rates,
// telemetry; live over the server push while the bot runs.

import { getJSON, query, setQuery, sinceNs } from "../api.js";
import { lineChart } from "../chart.js";
import {
  card, formatDuration, formatNumber, formatPercent, formatSigned, formatTime, h, section, table,
} from "../dom.js";
import { liveBadge, newestOnly, openStream, pageHeader, rangeSelect, statusBadge } from "./common.js";

function tone(value) {
  if (value === null || value === undefined || value === 0) return "";
  return value > 0 ? "pos" : "neg";
}

function body(data) {
  const pnl = data.pnl || {};
  const state = data.trading_state || {};
  const latency = data.order_latency_ms || {};
  const telemetry = data.telemetry || {};
  const equity = data.equity || [];
  const lastEquity = equity.length ? equity[equity.length - 1][1] : null;
  const drawdown = data.drawdown || [];
  // Drawdown as the report gives it: the amount below the running peak (>= 0), live and over a store.
  const maxDrawdown = drawdown.length ? Math.max(...drawdown.map(([, v]) => v)) : null;
  const cards = h("div", { class: "cards" },
    card("Equity", formatNumber(lastEquity), { id: "equity-last", raw: lastEquity }),
    card("Realised PnL", formatSigned(pnl.realized), { id: "pnl-realized", raw: pnl.realized, class: tone(pnl.realized) }),
    card("Unrealised PnL", formatSigned(pnl.unrealized), { id: "pnl-unrealized", raw: pnl.unrealized, class: tone(pnl.unrealized) }),
    card("Daily PnL", formatSigned(pnl.daily), { id: "pnl-daily", raw: pnl.daily, class: tone(pnl.daily) }),
    card("Max drawdown", formatNumber(maxDrawdown), { id: "drawdown-max", raw: maxDrawdown }),
    card("Trading state", h("span", {}, statusBadge(state.state || "unknown")), { id: "trading-state", raw: state.state }),
    card("Breaker trips", String(data.breaker_trips ?? 0), { id: "breaker-trips", raw: data.breaker_trips }),
    card("Order latency p50 · p99",
      `${formatDuration(latency.p50)} · ${formatDuration(latency.p99)}`,
      { id: "order-latency", raw: JSON.stringify([latency.p50 ?? null, latency.p99 ?? null]) }),
    card("Error rate", formatPercent(data.error_rate), { id: "error-rate", raw: data.error_rate }),
    card("Reject rate", formatPercent(data.reject_rate), { id: "reject-rate", raw: data.reject_rate }),
    card("Telemetry exported · dropped", `${telemetry.exported ?? 0} · ${telemetry.dropped ?? 0}`,
      { id: "telemetry", raw: JSON.stringify([telemetry.exported ?? 0, telemetry.dropped ?? 0]),
        class: telemetry.dropped ? "neg" : "" }),
  );
  if (state.reason) {
    cards.append(h("p", { class: "muted state-reason" },
      `trading state ${state.state}: ${state.reason}${state.source ? ` (by ${state.source})` : ""}`));
  }

  const charts = h("div", { class: "charts" },
    lineChart({ title: "Equity", id: "chart-equity", series: [{ label: "", points: equity }], step: true }),
    lineChart({ title: "Drawdown", id: "chart-drawdown", series: [{ label: "", points: drawdown }], step: true }));

  const positions = data.positions || [];
  const positionsTable = positions.length
    ? table(["Symbol", "Side", "Amount", "Entry", "Mark", "Unrealised PnL"], positions.map((p) => h("tr", {},
      h("td", {}, p.symbol), h("td", {}, p.side), h("td", { class: "num" }, formatNumber(p.amount, 6)),
      h("td", { class: "num" }, formatNumber(p.entry_price)), h("td", { class: "num" }, formatNumber(p.mark_price)),
      h("td", { class: `num ${tone(p.unrealized_pnl)}` }, formatSigned(p.unrealized_pnl)))), { id: "positions" })
    : h("p", { class: "muted", id: "positions" }, "no open position");

  const alerts = data.firing_alerts || [];
  const alertsTable = alerts.length
    ? table(["Alert", "Labels", "Since", "Acknowledged"], alerts.map((a) => h("tr", {},
      h("td", {}, h("a", { href: "/alerts" }, a.alertname)),
      h("td", { class: "mono" }, Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(" ")),
      h("td", {}, formatTime(a.active_since_ns)), h("td", {}, a.acknowledged ? "yes" : "no"))), { id: "firing-alerts" })
    : h("p", { class: "muted", id: "firing-alerts" }, "no alert firing");

  const health = data.health || [];
  const healthTable = health.length
    ? table(["Check", "Status", "Detail"], health.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, statusBadge(c.status)), h("td", {}, c.detail || ""))), { id: "health" })
    : h("p", { class: "muted", id: "health" }, "no health check (a store has none; the live bot's are shown here)");

  return h("div", {}, cards, charts,
    h("div", { class: "columns" },
      section("Open positions", positionsTable),
      section("Firing alerts", alertsTable),
      section("Health", healthTable)),
    h("p", { class: "muted updated" }, `updated ${formatTime(data.updated_ns)}`));
}

export async function renderOverview(view, { info }) {
  const params = query();
  let range = params.get("range") || (info.mode === "live" ? "1h" : "all");
  const content = h("div", { id: "overview" });
  const header = pageHeader("Overview", rangeSelect(range, (value) => {
    range = value;
    setQuery({ range });
    load();
  }));
  view.append(header, content);

  const reads = newestOnly();
  async function load() {
    const ticket = reads.start();
    const data = await getJSON("overview", { since_ns: sinceNs(range) });
    if (reads.stale(ticket)) return;
    content.replaceChildren(body(data));
  }
  await load();

  if (info.mode !== "live") return undefined;
  const [badge, setState] = liveBadge();
  header.append(badge);
  // An "overview" event says something changed (at most once a second): the page re-reads its
  // own range rather than trusting the pushed one to cover it; one read at a time.
  let loading = false;
  return openStream({
    overview: () => {
      if (loading) return;
      loading = true;
      load().catch(() => setState("reconnecting")).finally(() => { loading = false; });
    },
  }, setState);
}
