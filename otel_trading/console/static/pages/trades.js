// Trades: closed, open, denied and abandoned trades, filterable and sortable; a row opens the trade's trace.

import { getJSON, query, setQuery } from "../api.js";
import { formatDuration, formatSigned, formatTime, h, shortId } from "../dom.js";
import { go } from "../nav.js";
import { field, formValues, input, newestOnly, pageHeader, select, statusBadge } from "./common.js";

const FILTERS = ["symbol", "side", "strategy", "status", "exit_reason"];
const COLUMNS = [
  ["opened_ns", "Opened"], ["trade_id", "Trade"], ["symbol", "Symbol"], ["side", "Side"], ["strategy", "Strategy"],
  ["status", "Status"], ["pnl", "PnL"], ["duration_ms", "Duration"], ["exit_reason", "Exit reason"],
];

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;  // missing values last, whatever the order
  if (b === null || b === undefined) return -1;
  return a < b ? -1 : 1;
}

export async function renderTrades(view) {
  const params = query();
  const state = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) || ""]));
  state.sort = params.get("sort") || "opened_ns";
  state.order = params.get("order") === "asc" ? "asc" : "desc";

  const form = h("form", { class: "filters", id: "trade-filters" },
    field("Symbol", input("symbol", state.symbol, { placeholder: "BTC/USDT" })),
    field("Side", select("side", state.side, [["", "any"], ["buy", "buy"], ["sell", "sell"]])),
    field("Strategy", input("strategy", state.strategy)),
    field("Status", select("status", state.status, [["", "any"], ["closed", "closed"], ["open", "open"], ["denied", "denied"], ["abandoned", "abandoned"]])),
    field("Exit reason", input("exit_reason", state.exit_reason, { placeholder: "stop_loss" })),
    h("button", { type: "submit" }, "Filter"));
  const summary = h("p", { class: "muted", id: "trades-summary" });
  const results = h("div", { class: "table-wrap" });
  view.append(pageHeader("Trades"), form, summary, results);

  let trades = [];
  function draw() {
    const sorted = [...trades].sort((a, b) => compare(a[state.sort], b[state.sort]) * (state.order === "asc" ? 1 : -1));
    const headers = COLUMNS.map(([key, label]) => h("th", {
      class: `sortable ${key === state.sort ? state.order : ""}`, "data-sort": key,
      onclick: () => {
        state.order = state.sort === key && state.order === "desc" ? "asc" : "desc";
        state.sort = key;
        setQuery(state);
        draw();
      },
    }, label));
    const rows = sorted.map((trade) => h("tr", {
      class: "clickable", "data-trade-id": trade.trade_id, "data-trace-id": trade.trace_id || "",
      onclick: (event) => {
        if (trade.trace_id && !event.target.closest("a")) go(`/traces/${encodeURIComponent(trade.trace_id)}`);
      },
    },
    h("td", {}, formatTime(trade.opened_ns)),
    h("td", { class: "mono" }, trade.trace_id
      ? h("a", { href: `/traces/${encodeURIComponent(trade.trace_id)}` }, shortId(trade.trade_id, 16))
      : shortId(trade.trade_id, 16)),
    h("td", {}, trade.symbol), h("td", {}, trade.side), h("td", {}, trade.strategy || ""),
    h("td", {}, statusBadge(trade.status)),
    h("td", { class: `num ${trade.pnl > 0 ? "pos" : trade.pnl < 0 ? "neg" : ""}`, "data-value": trade.pnl ?? "" },
      trade.pnl === null || trade.pnl === undefined ? "–" : formatSigned(trade.pnl)),
    h("td", { class: "num" }, formatDuration(trade.duration_ms)),
    h("td", {}, trade.exit_reason || "")));
    const table = h("table", { id: "trades" }, h("thead", {}, h("tr", {}, headers)), h("tbody", {}, rows));
    results.replaceChildren(rows.length ? table : h("p", { class: "muted" }, "no trade matches"));
    const closed = trades.filter((trade) => trade.status === "closed");
    const total = closed.reduce((sum, trade) => sum + (trade.pnl || 0), 0);
    summary.replaceChildren(
      h("span", { id: "trades-count", "data-value": trades.length }, `${trades.length} trades`), ", ",
      h("span", { id: "trades-closed", "data-value": closed.length }, `${closed.length} closed`), ", PnL of the closed ",
      h("span", { id: "trades-pnl", "data-value": total, class: total > 0 ? "pos" : total < 0 ? "neg" : "" },
        formatSigned(total)),
      h("span", { class: "hint" }, " · click a row for its trace"));
  }

  const reads = newestOnly();
  async function load() {
    const ticket = reads.start();
    const filters = Object.fromEntries(FILTERS.map((name) => [name, state[name]]));
    // The API sorts by its own columns (the trade id is not one); the table re-sorts anyway.
    const sort = state.sort === "trade_id" ? "opened_ns" : state.sort;
    const data = await getJSON("trades", { ...filters, sort, order: state.order });
    if (reads.stale(ticket)) return;
    trades = data.trades || [];
    draw();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(state, Object.fromEntries(FILTERS.map((name) => [name, formValues(form)[name] || ""])));
    setQuery(state);
    load().catch((error) => results.replaceChildren(h("p", { class: "error" }, error.message)));
  });
  await load();
  return undefined;
}
