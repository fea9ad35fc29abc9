// Metrics: any metric of the catalog (the SDK's and the user's own) as a chart, by attribute.

import { getJSON, query, setQuery, sinceNs } from "../api.js";
import { lineChart } from "../chart.js";
import { formatValue, h } from "../dom.js";
import { field, newestOnly, pageHeader, rangeSelect } from "./common.js";

const STATS = [["value", "value"], ["rate", "rate /s (sums)"], ["p50", "p50 (histograms)"], ["p99", "p99 (histograms)"]];

export async function renderMetrics(view) {
  const params = query();
  const state = {
    name: params.get("name") || "", by: (params.get("by") || "").split(",").filter(Boolean),
    stat: params.get("stat") || "value", range: params.get("range") || "all",
  };
  const catalog = (await getJSON("metrics")).metrics || [];
  catalog.sort((a, b) => a.name.localeCompare(b.name));
  if (!state.name && catalog.length) state.name = catalog[0].name;

  const picker = h("select", { name: "name", id: "metric-name" },
    catalog.map((metric) => h("option", { value: metric.name, selected: metric.name === state.name }, metric.name)));
  const statPicker = h("select", { name: "stat" }, STATS.map(([value, label]) => h("option", { value, selected: value === state.stat }, label)));
  const byBox = h("span", { class: "by-keys", id: "metric-by" });
  const about = h("p", { class: "muted", id: "metric-about" });
  const chart = h("div", { id: "metric-chart" });
  view.append(pageHeader("Metrics"),
    h("div", { class: "filters" }, field("Metric", picker), field("Statistic", statPicker),
      rangeSelect(state.range, (value) => { state.range = value; load(); }), field("Group by", byBox)),
    about, chart);
  if (!catalog.length) {
    chart.append(h("p", { class: "muted" }, "No metric recorded in this store yet (the local metrics exporter writes them at its export interval)."));
    return undefined;
  }

  function drawKeys() {
    const metric = catalog.find((one) => one.name === state.name);
    state.by = state.by.filter((key) => metric && metric.attribute_keys.includes(key));
    byBox.replaceChildren(...(metric ? metric.attribute_keys : []).map((key) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: key, checked: state.by.includes(key), onchange: (event) => {
        state.by = event.target.checked ? [...state.by, key] : state.by.filter((one) => one !== key);
        load();
      } }), key)));
    if (metric && !metric.attribute_keys.length) byBox.append(h("span", { class: "muted" }, "no attributes"));
    about.textContent = metric ? `${metric.type}${metric.unit ? `, unit ${metric.unit}` : ""}${metric.description ? ` — ${metric.description}` : ""}` : "";
  }

  const reads = newestOnly();
  async function load() {
    const ticket = reads.start();
    setQuery({ name: state.name, by: state.by.join(","), stat: state.stat === "value" ? "" : state.stat, range: state.range === "all" ? "" : state.range });
    drawKeys();
    try {
      const data = await getJSON(`metrics/${encodeURIComponent(state.name)}`, { by: state.by.join(","), stat: state.stat, since_ns: sinceNs(state.range) });
      if (reads.stale(ticket)) return;
      const series = (data.series || []).map((one) => ({
        label: Object.entries(one.attributes || {}).map(([k, v]) => `${k}=${v}`).join(", "), points: one.points,
      }));
      // UCUM annotations ("{quote}", "{order}") read as plain words; "1" is no unit at all.
      const unit = data.unit && data.unit !== "1" ? ` ${data.unit.replace(/[{}]/g, "")}` : "";
      chart.replaceChildren(lineChart({ title: `${data.name || state.name} (${state.stat})`, series,
        format: (value) => `${formatValue(value)}${unit}` }));
    } catch (error) {
      if (reads.stale(ticket)) return;
      // 404: the metric is known (the catalog) but no point of it is in the store yet.
      chart.replaceChildren(error.status === 404
        ? h("p", { class: "muted chart-empty" }, `No point of ${state.name} recorded yet: the local metrics exporter writes them at its export interval.`)
        : h("p", { class: "error" }, error.message));
    }
  }
  picker.addEventListener("change", () => { state.name = picker.value; load(); });
  statPicker.addEventListener("change", () => { state.stat = statPicker.value; load(); });
  await load();
  return undefined;
}
