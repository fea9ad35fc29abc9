// Controls: the kill switch. Halt / reduce-only / resume through the SDK's trading state, with
// a reason; the bot's registered hook decides what each state means.

import { getJSON, hasToken, postJSON } from "../api.js";
import { flash, formatTime, h, section, table } from "../dom.js";
import { field, input, pageHeader, statusBadge } from "./common.js";

const ACTIONS = [
  ["halted", "Halt trading", "danger"],
  ["reducing", "Reduce only", "warn"],
  ["active", "Resume", "ok"],
];

export async function renderControls(view, { info }) {
  view.append(pageHeader("Controls"));
  if (!info.controls) {
    view.append(h("p", { class: "muted", id: "controls-off" },
      "No controls here: the console over a store is read-only. The kill switch is on the console of a running bot (configure(console=True))."));
    return undefined;
  }
  const content = h("div", { id: "controls" });
  const reason = input("reason", "", { placeholder: "why (logged and traced with the change)", size: "48", id: "control-reason" });
  const buttons = ACTIONS.map(([state, label, tone]) => h("button", {
    type: "button", class: `control ${tone}`, "data-state": state,
    onclick: async () => {
      try {
        const answer = await postJSON("controls", { state, reason: reason.value.trim() });
        flash(`Trading state ${answer.previous} → ${answer.state}`, "ok");
        reason.value = "";
      } catch (error) {
        flash(`Could not set ${state}: ${error.message}`);
      }
      await load();
    },
  }, label));
  if (!hasToken()) {
    view.append(h("p", { class: "error", id: "controls-no-token" },
      "This tab has no console token: open the login URL the console printed to use the controls."));
  }
  view.append(h("div", { class: "control-bar" }, field("Reason", reason), ...buttons), content);

  async function load() {
    const data = await getJSON("controls");
    const history = data.history || [];
    content.replaceChildren(
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Trading state"),
          h("div", { class: "card-value", id: "control-state", "data-value": data.state }, statusBadge(data.state))),
        h("div", { class: "card wide" }, h("div", { class: "card-label" }, "Reason"),
          h("div", { class: "card-value small", id: "control-state-reason" }, data.reason || "–")),
        h("div", { class: "card" }, h("div", { class: "card-label" }, "Since"),
          h("div", { class: "card-value small" }, formatTime(data.since_ns)))),
      section("History", history.length ? table(["Time", "From", "To", "Reason"],
        [...history].sort((a, b) => b.time_ns - a.time_ns).map((entry) => h("tr", {},
          h("td", {}, formatTime(entry.time_ns)), h("td", {}, statusBadge(entry.previous)), h("td", {}, statusBadge(entry.state)),
          h("td", {}, entry.reason || ""))), { id: "control-history" })
        : h("p", { class: "muted", id: "control-history" }, "no change yet")));
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 3000);
  return () => clearInterval(timer);
}
