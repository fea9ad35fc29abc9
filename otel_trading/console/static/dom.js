// DOM helpers: every piece of data goes in as a text node or an attribute value, never as markup,
// so a span name or a log line cannot inject HTML (no innerHTML anywhere in the console).

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    // Styles through the CSSOM (not a style="" attribute), which a strict CSP still allows.
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** h("td", {class: "mono"}, text...) : an HTML element whose children are nodes or plain text. */
export function h(tag, props = {}, ...children) {
  return build(document.createElement(tag), props, children);
}

/** The same for SVG elements. */
export function s(tag, props = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), props, children);
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// -- formatting ------------------------------------------------------------------------------

const NS_PER_MS = 1e6;

export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A measured value: integers as they are, others to two decimals from 100 up, else four significant digits. */
export function formatValue(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  if (Math.abs(value) >= 100) return formatNumber(value, 2);
  return String(Number(value.toPrecision(4)));
}

export function formatSigned(value, digits = 2) {
  if (value === null || value === undefined) return "–";
  return (value > 0 ? "+" : "") + formatNumber(value, digits);
}

export function formatPercent(ratio, digits = 2) {
  if (ratio === null || ratio === undefined) return "–";
  return `${formatNumber(ratio * 100, digits)}%`;
}

/** 12 ms, 1.25 s, 3 min 5 s */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1) return `${formatNumber(ms * 1000, 0)} µs`;
  if (ms < 1000) return `${formatNumber(ms, ms < 10 ? 2 : 0)} ms`;
  if (ms < 60_000) return `${formatNumber(ms / 1000, 2)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A unix-nanosecond time as local "YYYY-MM-DD HH:MM:SS.mmm". */
export function formatTime(timeNs, withDate = true) {
  if (timeNs === null || timeNs === undefined) return "–";
  const date = new Date(timeNs / NS_PER_MS);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
  if (!withDate) return clock;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock}`;
}

export function shortId(id, length = 12) {
  return id ? String(id).slice(0, length) : "–";
}

/** Attribute values as the CLI prints them: strings plain, everything else as JSON. */
export function displayValue(value) {
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** A <table> from headers and rows of cells (nodes or text). */
export function table(headers, rows, props = {}) {
  return h("table", props,
    h("thead", {}, h("tr", {}, headers.map((header) => (header instanceof Node ? header : h("th", {}, header))))),
    h("tbody", {}, rows));
}

/** A key/value table of attributes, sorted by key. */
export function attributeTable(attributes) {
  const keys = Object.keys(attributes || {}).sort();
  if (!keys.length) return h("p", { class: "muted" }, "no attributes");
  return h("table", { class: "kv" }, h("tbody", {}, keys.map((key) =>
    h("tr", {}, h("th", { class: "mono" }, key), h("td", { class: "mono" }, displayValue(attributes[key]))))));
}

export function card(label, value, props = {}) {
  return h("div", { class: "card" }, h("div", { class: "card-label" }, label),
    h("div", { class: `card-value ${props.class || ""}`, id: props.id, "data-value": props.raw }, value));
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", {}, title), ...children);
}

/** A message over the page (errors of an action, confirmations); "" hides it. */
export function flash(message, kind = "error") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = `flash ${kind}`;
  box.hidden = !message;
}
