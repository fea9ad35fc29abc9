// A small SVG line chart: time on x (unix nanoseconds), values on y, axes with "nice" ticks,
// one line per series, a legend, and the values under the pointer on hover. No library.

import { formatNumber, h, s } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 16, bottom: 26 };  // the left one fits the y labels
const COLORS = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16"];
const TIME_STEPS_MS = [
  1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 3 * 3600e3,
  6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3, 30 * 86400e3,
];

/** Round numbers covering [low, high]: about `count` of them, 1/2/5 x 10^k apart. */
export function niceTicks(low, high, count = 5) {
  if (!(high > low)) {
    const pad = Math.abs(low) * 0.05 || 1;
    return niceTicks(low - pad, high + pad, count);
  }
  const raw = (high - low) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let tick = Math.floor(low / step) * step; tick <= high + step * 1e-9; tick += step) ticks.push(+tick.toFixed(12));
  if (ticks[ticks.length - 1] < high) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

function timeTicks(startMs, endMs, count = 6) {
  const span = Math.max(1, endMs - startMs);
  const step = TIME_STEPS_MS.find((candidate) => span / candidate <= count) || TIME_STEPS_MS[TIME_STEPS_MS.length - 1];
  const offset = new Date(startMs).getTimezoneOffset() * 60e3;  // days and hours on local boundaries
  const ticks = [];
  for (let tick = Math.ceil((startMs - offset) / step) * step + offset; tick <= endMs; tick += step) ticks.push(tick);
  return { ticks, step };
}

function timeLabel(ms, step) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  if (step >= 86400e3) return `${date.getMonth() + 1}/${date.getDate()}`;
  if (step >= 60e3) return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Axis labels: as many decimals as the tick step needs, no unit (the caption has it). */
function axisFormatter(ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step || 1))));
  return (value) => formatNumber(value, digits);
}

/**
 * lineChart({series: [{label, points: [[t_ns, value], ...]}], format, title}) -> element.
 * `format` turns a value into text for the hover read-out. The SVG is drawn at the width the
 * chart gets on the page (and again when that changes), so its text keeps its size.
 */
export function lineChart({ series, format = (v) => formatNumber(v), title = "", id = undefined, step = false }) {
  const wrapper = h("figure", { class: "chart", id });
  if (title) wrapper.append(h("figcaption", {}, title));
  const drawn = series.filter((one) => one.points && one.points.length);
  if (!drawn.length) {
    wrapper.append(h("p", { class: "muted chart-empty" }, "no data in this range"));
    return wrapper;
  }
  const readout = h("div", { class: "chart-readout", hidden: true });
  let svg = draw(drawn, { format, title, step, width: WIDTH, readout });
  wrapper.append(svg, readout);
  if (drawn.length > 1 || drawn[0].label) {
    wrapper.append(h("div", { class: "legend" }, drawn.map((one, index) =>
      h("span", {}, h("span", { class: "swatch", style: { background: COLORS[index % COLORS.length] } }), one.label || "(all)"))));
  }
  if (typeof ResizeObserver !== "undefined") {
    let width = 0;
    new ResizeObserver(() => {
      const available = Math.floor(wrapper.clientWidth - 24);
      if (available > 100 && Math.abs(available - width) > 4) {
        width = available;
        const next = draw(drawn, { format, title, step, width, readout });
        svg.replaceWith(next);
        svg = next;
      }
    }).observe(wrapper);
  }
  return wrapper;
}

function draw(drawn, { format, title, step, width: WIDTH_NOW, readout }) {
  const all = drawn.flatMap((one) => one.points);
  const times = all.map(([t]) => t / 1e6);
  const values = all.map(([, v]) => v).filter((v) => Number.isFinite(v));
  let [t0, t1] = [Math.min(...times), Math.max(...times)];
  if (t1 === t0) [t0, t1] = [t0 - 30e3, t1 + 30e3];
  const yTicks = niceTicks(Math.min(...values), Math.max(...values));
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const axisLabel = axisFormatter(yTicks);
  const left = Math.max(...yTicks.map((tick) => axisLabel(tick).length)) * 7 + 14;
  const plotW = WIDTH_NOW - left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (ms) => left + ((ms - t0) / (t1 - t0)) * plotW;
  const y = (v) => MARGIN.top + plotH - ((v - y0) / (y1 - y0 || 1)) * plotH;

  const svg = s("svg", { viewBox: `0 0 ${WIDTH_NOW} ${HEIGHT}`, width: WIDTH_NOW, height: HEIGHT, class: "chart-svg", role: "img", "aria-label": title });
  const axes = s("g", { class: "axes" });
  for (const tick of yTicks) {
    axes.append(s("line", { x1: left, x2: WIDTH_NOW - MARGIN.right, y1: y(tick), y2: y(tick), class: "grid" }));
    axes.append(s("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, axisLabel(tick)));
  }
  const { ticks, step: tickStep } = timeTicks(t0, t1, Math.max(2, Math.floor(plotW / 110)));
  for (const tick of ticks) {
    axes.append(s("line", { x1: x(tick), x2: x(tick), y1: MARGIN.top + plotH, y2: MARGIN.top + plotH + 4, class: "tick" }));
    // Labels near an edge are anchored inside the plot so they are not cut off.
    const anchor = x(tick) > WIDTH_NOW - MARGIN.right - 30 ? "end" : x(tick) < left + 30 ? "start" : "middle";
    axes.append(s("text", { x: x(tick), y: HEIGHT - 6, "text-anchor": anchor }, timeLabel(tick, tickStep)));
  }
  axes.append(s("line", { x1: left, x2: left + plotW, y1: MARGIN.top + plotH, y2: MARGIN.top + plotH, class: "axis" }));
  svg.append(axes);

  drawn.forEach((one, index) => {
    const color = COLORS[index % COLORS.length];
    const path = [];
    one.points.forEach(([t, v]) => {
      if (!Number.isFinite(v)) return;
      const px = x(t / 1e6).toFixed(1);
      const py = y(v).toFixed(1);
      if (!path.length) path.push(`M${px},${py}`);
      else if (step) path.push(`H${px}V${py}`);
      else path.push(`L${px},${py}`);
    });
    svg.append(s("path", { d: path.join(""), stroke: color, class: "line" }));
    if (one.points.length === 1) {
      const [[t, v]] = one.points;
      svg.append(s("circle", { cx: x(t / 1e6), cy: y(v), r: 3, fill: color }));
    }
  });

  // Hover: a vertical rule and, per series, the value of the point nearest the pointer.
  const rule = s("line", { y1: MARGIN.top, y2: MARGIN.top + plotH, class: "hover-rule", visibility: "hidden" });
  svg.append(rule);
  const overlay = s("rect", { x: left, y: MARGIN.top, width: plotW, height: plotH, class: "hover-area" });
  overlay.addEventListener("mousemove", (event) => {
    const box = svg.getBoundingClientRect();
    const at = t0 + ((((event.clientX - box.left) / box.width) * WIDTH_NOW - left) / plotW) * (t1 - t0);
    rule.setAttribute("x1", x(at));
    rule.setAttribute("x2", x(at));
    rule.setAttribute("visibility", "visible");
    readout.replaceChildren(h("div", { class: "muted" }, new Date(at).toLocaleString()));
    drawn.forEach((one, index) => {
      let nearest = one.points[0];
      for (const point of one.points) if (Math.abs(point[0] / 1e6 - at) < Math.abs(nearest[0] / 1e6 - at)) nearest = point;
      readout.append(h("div", {}, h("span", { class: "swatch", style: { background: COLORS[index % COLORS.length] } }),
        `${one.label ? `${one.label}: ` : ""}${format(nearest[1])}`));
    });
    readout.hidden = false;
  });
  overlay.addEventListener("mouseleave", () => {
    rule.setAttribute("visibility", "hidden");
    readout.hidden = true;
  });
  svg.append(overlay);
  return svg;
}
