// Alerts: the rules with their value and state, what fires, the history; acknowledge, silence
// and expire a silence (the engine's API, through the console's token-checked POSTs).

import { getJSON, postJSON } from "../api.js";
import { displayValue, flash, formatTime, formatValue, h, section, shortId, table } from "../dom.js";
import { field, formValues, input, pageHeader, statusBadge } from "./common.js";

const DURATION = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/;
const SECONDS = { s: 1, m: 60, h: 3600, d: 86400 };

/** "alertname=HighRejectRate symbol=~BTC.*" -> matchers; a clear error names the bad one. */
export function parseMatchers(text) {
  const matchers = [];
  for (const part of String(text).split(/\s+/).filter(Boolean)) {
    const match = part.match(/^([A-Za-z_][A-Za-z0-9_.]*)(=~|=)(.*)$/);
    if (!match) throw new Error(`matcher "${part}": expected name=value or name=~regex`);
    matchers.push({ name: match[1], value: match[3], is_regex: match[2] === "=~" });
  }
  if (!matchers.length) throw new Error("a silence needs at least one matcher, e.g. alertname=HighRejectRate");
  return matchers;
}

function labels(object) {
  return Object.entries(object || {}).map(([k, v]) => `${k}=${displayValue(v)}`).join(" ");
}

export async function renderAlerts(view, { info }) {
  view.append(pageHeader("Alerts"));
  if (!info.alerts) {
    view.append(h("p", { class: "muted", id: "alerts-off" },
      "No alert engine here: the read-only console over a store has none. Alerts are shown by the console of a running bot (configure(console=True) with alert rules)."));
    return undefined;
  }
  const content = h("div", { id: "alerts" });
  view.append(content);

  async function act(action, path, body) {
    try {
      await postJSON(path, body);
      flash(action, "ok");
    } catch (error) {
      flash(`${action} failed: ${error.message}`);
    }
    await load();
  }

  async function load() {
    const data = await getJSON("alerts");
    const rules = data.rules || [];
    const firing = data.firing || [];
    const history = data.history || [];
    const silences = data.silences || [];
    const silenceForm = h("form", { class: "filters", id: "silence-form" },
      field("Matchers", input("matchers", "", { placeholder: "alertname=HighRejectRate symbol=~BTC.*", size: "40", required: true })),
      field("Duration", input("duration", "1h", { placeholder: "30m, 2h, 1d", size: "6" })),
      field("Comment", input("comment", "", { placeholder: "why", size: "24" })),
      field("By", input("created_by", "console", { size: "10" })),
      h("button", { type: "submit" }, "Silence"));
    silenceForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = formValues(silenceForm);
      let matchers;
      const duration = String(values.duration || "").match(DURATION);
      try {
        matchers = parseMatchers(values.matchers);
        if (!duration) throw new Error(`duration "${values.duration}": expected a number and s, m, h or d (30m)`);
      } catch (error) {
        flash(error.message);
        return;
      }
      act("Silence created", "silences", {
        matchers, duration_s: Number(duration[1]) * SECONDS[duration[2]], comment: values.comment || "",
        created_by: values.created_by || "console",
      });
    });

    content.replaceChildren(
      section("Firing", firing.length ? table(["Alert", "Labels", "Since", "Acknowledged", ""],
        firing.map((alert) => h("tr", { "data-fingerprint": alert.fingerprint, "data-alertname": alert.alertname },
          h("td", {}, alert.alertname), h("td", { class: "mono" }, labels(alert.labels)),
          h("td", {}, formatTime(alert.active_since_ns)), h("td", {}, alert.acknowledged ? statusBadge("acknowledged") : "no"),
          h("td", {}, alert.acknowledged ? "" : h("button", {
            type: "button", class: "ack", onclick: () => act(`Acknowledged ${alert.alertname}`, "alerts/acknowledge", { fingerprint: alert.fingerprint }),
          }, "Acknowledge")))), { id: "alerts-firing" })
        : h("p", { class: "muted", id: "alerts-firing" }, "nothing firing")),
      section("Rules", rules.length ? table(["Rule", "State", "Value", "Expression", "For", "Severity", "Summary"],
        rules.map((rule) => h("tr", { "data-rule": rule.name, "data-state": rule.state },
          h("td", {}, rule.name), h("td", {}, statusBadge(rule.state)),
          h("td", { class: "num mono" }, typeof rule.value === "number" ? formatValue(rule.value) : displayValue(rule.value ?? "–")),
          h("td", { class: "mono" }, rule.expr || ""), h("td", { class: "num" }, rule.for_s ? `${rule.for_s} s` : "–"),
          h("td", {}, rule.severity || ""), h("td", {}, rule.summary || ""))), { id: "alert-rules" })
        : h("p", { class: "muted" }, "no rule loaded")),
      section("Silences", silenceForm, silences.length ? table(["Id", "Matchers", "Until", "Comment", "By", "State", ""],
        silences.map((silence) => h("tr", { "data-silence": silence.id },
          h("td", { class: "mono" }, shortId(silence.id, 8)),
          h("td", { class: "mono" }, (silence.matchers || []).map((m) => `${m.name}${m.is_regex ? "=~" : "="}${m.value}`).join(" ")),
          h("td", {}, formatTime(silence.ends_ns)), h("td", {}, silence.comment || ""), h("td", {}, silence.created_by || ""),
          h("td", {}, statusBadge(silence.state)),
          h("td", {}, silence.state === "expired" ? "" : h("button", {
            type: "button", class: "secondary", onclick: () => act("Silence expired", `silences/${encodeURIComponent(silence.id)}/expire`, {}),
          }, "Expire")))), { id: "silences" })
        : h("p", { class: "muted", id: "silences" }, "no silence")),
      section("History", history.length ? table(["Time", "Alert", "State", "Labels"],
        [...history].sort((a, b) => b.time_ns - a.time_ns).map((entry) => h("tr", {},
          h("td", {}, formatTime(entry.time_ns)), h("td", {}, entry.alertname), h("td", {}, statusBadge(entry.state)),
          h("td", { class: "mono" }, labels(entry.labels)))), { id: "alert-history" })
        : h("p", { class: "muted", id: "alert-history" }, "no transition yet")));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}
