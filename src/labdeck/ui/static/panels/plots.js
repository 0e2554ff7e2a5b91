/**
 * Plots: one live uPlot chart per series of the current run (run/data).
 *
 * Points are appended to plain arrays and a chart redraws at most once per animation
 * frame, however many points arrive in it, so 100,000 points stay smooth. Drag across a
 * chart to zoom; double-click resets. While zoomed, new points still arrive but the view
 * holds still. Clear empties a chart in this browser only (the run keeps its data).
 *
 * SeriesChart is also what the History panel draws a past run's data with.
 */

import uPlot from "../vendor/uPlot.esm.js";
import { el, fill, getJson, loadCss } from "../kit.js";
import { runFeed, runLabel } from "./runstate.js";

const COLORS = ["#2563eb", "#d9480f", "#15803d", "#9333ea", "#0891b2", "#b45309", "#be185d", "#4d7c0f"];
const HEIGHT = 240;

export default { mount };

/**
 * One series in a card: title, point count, Clear, and the chart.
 *
 * chart.element: the card (data-testid "plot-chart", data-series, data-points = the
 * number of points held, data-zoomed = "true" while zoomed in); chart.append(xs, ys), chart.replace(xs, ys), chart.clear(),
 * chart.lastX(), chart.destroy().
 */
export class SeriesChart {
  constructor(name, index = 0, { clearable = true } = {}) {
    loadCss("static/vendor/uPlot.min.css", { first: true }); // first, so the dashboard's rules win
    this.name = name;
    this.xs = [];
    this.ys = [];
    this.zoomed = false;
    this.frame = 0;
    this.stale = false;
    this.element = el("div", "card series-chart");
    this.element.dataset.testid = "plot-chart";
    this.element.dataset.series = name;
    this.element.dataset.points = "0";
    this.element.dataset.zoomed = "false";
    const header = el("header");
    const title = el("h2", "mono", name);
    this.count = el("span", "muted plot-count", "no points yet");
    this.count.dataset.testid = "plot-count";
    header.append(title, this.count, el("span", "spacer"));
    this.hint = el("span", "muted plot-hint", "drag to zoom · double-click to reset");
    header.append(this.hint);
    if (clearable) {
      const clear = el("button", "btn", "Clear");
      clear.type = "button";
      clear.dataset.testid = "plot-clear";
      clear.title = `remove the points of ${name} from this view (the run keeps them)`;
      clear.addEventListener("click", () => this.clear());
      header.append(clear);
    }
    this.body = el("div", "plot-body");
    this.element.append(header, this.body);
    this.plot = new uPlot(this.options(COLORS[index % COLORS.length]), [this.xs, this.ys], this.body);
    this.plot.over.addEventListener("dblclick", () => this.schedule()); // catch up on points held back
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(this.body);
  }

  options(color) {
    const axis = {
      stroke: "#5f6b7a",
      grid: { stroke: "#eef1f5", width: 1 },
      ticks: { stroke: "#d9dee6", width: 1 },
      font: "12px system-ui, sans-serif",
    };
    return {
      width: Math.max(this.body?.clientWidth ?? 0, 300),
      height: HEIGHT,
      scales: { x: { time: false } },
      axes: [axis, { ...axis, size: 60 }],
      series: [
        { label: "x" },
        { label: this.name, stroke: color, width: 1.5 },
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { show: true },
      hooks: {
        setScale: [(u, key) => {
          // uPlot applies scales after the call that changed them, so tell a zoom by
          // its result: an x range narrower than the data is the user's selection.
          if (key !== "x") return;
          const xs = u.data[0];
          const n = xs.length;
          if (n < 2) return;
          const { min, max } = u.scales.x;
          const slack = Math.abs(xs[n - 1] - xs[0]) * 1e-9;
          this.zoomed = min > xs[0] + slack || max < xs[n - 1] - slack;
          this.element.dataset.zoomed = String(this.zoomed);
        }],
      },
    };
  }

  append(xs, ys) {
    const n = Math.min(xs.length, ys.length);
    for (let i = 0; i < n; i++) {
      this.xs.push(xs[i]);
      this.ys.push(ys[i]);
    }
    this.schedule();
  }

  replace(xs, ys) {
    this.xs = Array.from(xs);
    this.ys = Array.from(ys);
    this.zoomed = false;
    this.schedule();
  }

  clear() {
    this.xs = [];
    this.ys = [];
    this.zoomed = false;
    this.schedule();
  }

  lastX() {
    return this.xs.length ? this.xs[this.xs.length - 1] : -Infinity;
  }

  schedule() {
    this.element.dataset.points = String(this.xs.length);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = 0;
    const n = this.xs.length;
    this.count.textContent = n === 1 ? "1 point" : `${n.toLocaleString()} points`;
    if (!this.body.clientWidth) {
      this.stale = true; // hidden: drawn when it is shown (fit)
      return;
    }
    this.stale = false;
    this.plot.setData([this.xs, this.ys], !this.zoomed);
  }

  fit() {
    const width = this.body.clientWidth;
    if (!width) return;
    if (width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
    if (this.stale) this.schedule();
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.plot.destroy();
    this.element.remove();
  }
}

function mount(root, { deck, toast }) {
  const feed = runFeed(deck);
  const $ = fill(root, `
    <div class="card plots-head">
      <header>
        <h2>Plots</h2>
        <span class="muted" data-testid="plots-run">no run yet</span>
        <span class="spacer"></span>
        <button type="button" class="btn" data-testid="plots-clear-all" disabled>Clear all</button>
      </header>
      <p class="empty" data-testid="plots-empty">No data points yet. A script plots with
        <code>labdeck.script.plot(x, y, series="name")</code>; each series gets its own chart here.</p>
    </div>
    <div class="plots-grid" data-testid="plots-grid"></div>`);
  const grid = $("plots-grid");
  const empty = $("plots-empty");
  const clearAll = $("plots-clear-all");

  const charts = new Map(); // series -> SeriesChart
  let resyncing = null; // pushes held back while the run's data comes from the server
  let resyncTimer = 0;

  function chartFor(name) {
    let chart = charts.get(name);
    if (!chart) {
      chart = new SeriesChart(name, charts.size);
      charts.set(name, chart);
      const after = [...charts.keys()].sort().find((other) => other > name);
      grid.insertBefore(chart.element, after ? charts.get(after).element : null);
      empty.hidden = true;
      clearAll.disabled = false;
    }
    return chart;
  }

  function reset(runId) {
    for (const chart of charts.values()) chart.destroy();
    charts.clear();
    empty.hidden = false;
    clearAll.disabled = true;
  }

  function onData(data) {
    if (!data || !feed.accept(data.run)) return;
    if (typeof data.series !== "string" || !Array.isArray(data.x) || !Array.isArray(data.y)) return;
    if (resyncing) resyncing.push(data);
    else chartFor(data.series).append(data.x, data.y);
  }

  // The channel's history no longer holds some points: take the run's data from the
  // server, then add the pushes that came meanwhile and are newer than what it returned.
  async function resync() {
    const runId = feed.run;
    if (runId === null || resyncing) return;
    resyncing = [];
    let series = {};
    try {
      series = (await getJson(`api/runs/${runId}/data`))?.series ?? {};
    } catch (err) {
      toast(`Plots: could not fetch the run's earlier points: ${err.message}`, "err");
    }
    const held = resyncing.filter((data) => data.run === feed.run);
    resyncing = null;
    if (feed.run === runId) {
      for (const [name, { x, y }] of Object.entries(series)) chartFor(name).replace(x, y);
    }
    for (const data of held) {
      const chart = chartFor(data.series);
      const last = chart.lastX();
      const keep = data.x.map((_, i) => i).filter((i) => data.x[i] > last);
      chart.append(keep.map((i) => data.x[i]), keep.map((i) => data.y[i]));
    }
  }

  clearAll.addEventListener("click", () => {
    for (const chart of charts.values()) chart.clear();
  });

  const offRun = feed.on("run", reset);
  const offLabel = runLabel($("plots-run"), feed);
  reset(feed.run);
  const unsubscribe = deck.subscribe("run/data", onData, {
    since: 0,
    onGap: () => {
      // The notice comes before the replay: wait for it to tell which run is current.
      clearTimeout(resyncTimer);
      resyncTimer = setTimeout(resync, 300);
    },
  });

  return () => {
    offRun();
    offLabel();
    unsubscribe();
    clearTimeout(resyncTimer);
    reset(null);
  };
}
