// Pieces shared by the pages: the range picker, a form row, live streams, the loading state.

import { RANGES } from "../api.js";
import { h } from "../dom.js";

/**
 * Tickets for a page's reads: only the newest read's answer is drawn. An older request that
 * answers late (the filters changed meanwhile) is dropped instead of overwriting the newer view.
 */
export function newestOnly() {
  let latest = 0;
  return { start: () => ++latest, current: () => latest, stale: (ticket) => ticket !== latest };
}

export function rangeSelect(current, onChange, name = "range") {
  return h("label", {}, "Range ",
    h("select", { name, onchange: (event) => onChange(event.target.value) },
      RANGES.map(([value, label]) => h("option", { value, selected: value === current }, label))));
}

export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

export function input(name, value, props = {}) {
  return h("input", { name, value: value || "", autocomplete: "off", spellcheck: "false", ...props });
}

export function select(name, value, options) {
  return h("select", { name }, options.map(([optionValue, label]) =>
    h("option", { value: optionValue, selected: optionValue === (value || "") }, label)));
}

/** The form's named values as an object (repeated names as arrays, unchecked boxes absent). */
export function formValues(form) {
  const values = {};
  for (const [key, value] of new FormData(form).entries()) {
    const text = String(value).trim();
    if (key in values) values[key] = [].concat(values[key], text);
    else values[key] = text;
  }
  return values;
}

/**
 * The console's server push (text/event-stream): `handlers` maps event names to callbacks of
 * the parsed JSON. Returns the clean-up that closes it. The browser reconnects by itself.
 */
export function openStream(handlers, onState = () => {}) {
  if (typeof EventSource === "undefined") return () => {};
  const source = new EventSource("/api/stream");
  source.onopen = () => onState("live");
  source.onerror = () => onState("reconnecting");
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;  // a malformed event is skipped, the stream goes on
      }
      handler(data);
    });
  }
  return () => source.close();
}

export function liveBadge() {
  const badge = h("span", { class: "badge live-badge", id: "live-state" }, "connecting");
  return [badge, (state) => {
    badge.textContent = state;
    badge.classList.toggle("ok", state === "live");
  }];
}

export function statusBadge(status) {
  const text = String(status || "unset");
  const tone = /^(ok|active|passing|healthy|pass|inactive|resolved|closed|expired)$/i.test(text) ? "ok"
    : /^(error|firing|halted|failing|fail|unhealthy|critical|rejected)$/i.test(text) ? "bad"
      : /^(pending|reducing|warn|warning|degraded|open|silenced|acknowledged)$/i.test(text) ? "warn" : "";
  return h("span", { class: `badge ${tone}` }, text);
}

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-header" }, h("h1", {}, title), ...extra);
}
