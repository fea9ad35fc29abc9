// Trades: closed, open, denied and abandoned trades, filterable and sortable; a row opens the trade's trace.
// The server pages them (a large store has ~40,000): the table shows a page at a time, "More" asks the
// next one; the count, closed count and PnL in the summary are the server's, over every matching trade.

import { getJSON, query, setQuery } from "../api.js";
import { formatDuration, formatSigned, formatTime, h, shortId } from "../dom.js";
import { go } from "../nav.js";
import { field, formValues, input, newestOnly, pageHeader, select, statusBadge } from "./common.js";

const FILTERS = ["symbol", "side", "strategy", "status", "exit_reason"];
const PAGE = 200;
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
  state.limit = params.get("limit") || "";  // the page size (PAGE unless the URL says): kept in the URL

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
  let total = 0;
  let totals = {};
  function draw() {
    // Every matching trade at hand: sorted here, as the server would; else the server sorts (load()).
    const sorted = trades.length >= total
      ? [...trades].sort((a, b) => compare(a[state.sort], b[state.sort]) * (state.order === "asc" ? 1 : -1))
      : trades;
    const headers = COLUMNS.map(([key, label]) => h("th", {
      class: `sortable ${key === state.sort ? state.order : ""}`, "data-sort": key,
      onclick: () => {
        state.order = state.sort === key && state.order === "desc" ? "asc" : "desc";
        state.sort = key;
        setQuery(state);
        if (trades.length >= total) draw();
        else load().catch(showError);
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
    const more = trades.length < total
      ? h("button", { type: "button", id: "trades-more", onclick: () => loadMore().catch(showError) },
        `More (${trades.length} of ${total} shown)`)
      : "";
    results.replaceChildren(rows.length ? table : h("p", { class: "muted" }, "no trade matches"), more);
    const pnl = totals.pnl || 0;
    summary.replaceChildren(
      h("span", { id: "trades-count", "data-value": total }, `${total} trades`), ", ",
      h("span", { id: "trades-closed", "data-value": totals.closed || 0 }, `${totals.closed || 0} closed`),
      ` (${totals.wins || 0} won, ${totals.losses || 0} lost), ${totals.open || 0} open, `,
      `${totals.denied || 0} denied, ${totals.abandoned || 0} abandoned; PnL of the closed `,
      h("span", { id: "trades-pnl", "data-value": pnl, class: pnl > 0 ? "pos" : pnl < 0 ? "neg" : "" },
        formatSigned(pnl)),
      h("span", { id: "trades-shown", "data-value": trades.length, class: "hint" },
        ` · ${trades.length} shown · click a row for its trace`));
  }
  const showError = (error) => results.replaceChildren(h("p", { class: "error" }, error.message));

  const reads = newestOnly();
  async function fetchPage(offset) {
    const filters = Object.fromEntries(FILTERS.map((name) => [name, state[name]]));
    return getJSON("trades", { ...filters, sort: state.sort, order: state.order, limit: state.limit || PAGE, offset });
  }
  function take(data, earlier) {
    trades = [...earlier, ...(data.trades || [])];
    total = data.total || 0;
    totals = data.summary || {};
    draw();
  }
  async function load() {
    const ticket = reads.start();
    const data = await fetchPage(0);
    if (!reads.stale(ticket)) take(data, []);
  }
  async function loadMore() {
    const ticket = reads.start();
    const earlier = trades;
    const data = await fetchPage(earlier.length);
    if (!reads.stale(ticket)) take(data, earlier);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(state, Object.fromEntries(FILTERS.map((name) => [name, formValues(form)[name] || ""])));
    setQuery(state);
    load().catch(showError);
  });
  await load();
  return undefined;
}
