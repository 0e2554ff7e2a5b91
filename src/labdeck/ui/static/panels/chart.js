/**
 * Chart: one uPlot chart of one or more series, with axis labels and units, a legend of
 * live values, downsampling for long runs, and PNG and CSV export.
 *
 *   const chart = new Chart("motion", { clearable, height });
 *   chart.add("x", xs, ys, { unit, xlabel });  // append points (labels: the first given win)
 *   chart.replace("x", xs, ys, labels);        // all points of a series at once
 *   chart.clear(); chart.lastX("x"); chart.destroy();
 *   chart.element                              // the card: data-testid "plot-chart",
 *       data-chart, data-series (names, space separated), data-points (held),
 *       data-units and data-xlabel (the axes' labels, drawn on the canvas),
 *       data-drawn (points handed to uPlot at the last draw), data-draws (how many
 *       draws so far: never more than the animation frames since the chart was made),
 *       data-zoomed
 *
 * Drawing: at most once per animation frame, however many points came. A series longer
 * than about four points per pixel column is reduced to the first, lowest, highest and
 * last point of each column (what a line at that width shows anyway), read from
 * per-block minima and maxima kept as points arrive, so a frame costs about the same
 * for 1,000,000 points as for 10,000. X values are taken to grow, as uPlot needs.
 *
 * The legend shows each series' latest value, or the value under the cursor. Axes, grid
 * and lines take the theme's colours (theme.js) and are drawn again when the system
 * switches between light and dark.
 */

import uPlot from "../vendor/uPlot.esm.js";
import { downloadText, el, loadCss } from "../kit.js";
import { axisStyle, cssVar, onThemeChange, seriesColors } from "../theme.js";

const BLOCK = 64;
const PER_COLUMN = 4;

/** The points of one series and its block minima and maxima (indices). */
class Series {
  constructor(name, labels = {}) {
    this.name = name;
    this.unit = labels.unit ?? "";
    this.xlabel = labels.xlabel ?? "";
    this.xs = [];
    this.ys = [];
    this.lo = []; // per BLOCK points: the index of the lowest y (-1: all gaps)
    this.hi = [];
  }

  label(labels) {
    let changed = false;
    if (labels?.unit && !this.unit) { this.unit = labels.unit; changed = true; }
    if (labels?.xlabel && !this.xlabel) { this.xlabel = labels.xlabel; changed = true; }
    return changed;
  }

  push(xs, ys) {
    const n = Math.min(xs.length, ys.length);
    for (let i = 0; i < n; i++) {
      this.xs.push(xs[i]);
      this.ys.push(ys[i]);
    }
    this.index();
  }

  /** Each point takes the place of the one at its x, or goes in order among the others. */
  put(xs, ys) {
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
      const at = this.xs.indexOf(xs[i]);
      if (at >= 0) this.ys[at] = ys[i];
      else {
        const place = lowerBound(this.xs, xs[i]);
        this.xs.splice(place, 0, xs[i]);
        this.ys.splice(place, 0, ys[i]);
      }
    }
    this.reset(this.xs, this.ys);
  }

  reset(xs = [], ys = []) {
    this.xs = Array.from(xs);
    this.ys = Array.from(ys);
    this.lo = [];
    this.hi = [];
    this.index();
  }

  index() {
    const { ys, lo, hi } = this;
    while ((lo.length + 1) * BLOCK <= ys.length) {
      const start = lo.length * BLOCK;
      let a = -1;
      let b = -1;
      for (let i = start; i < start + BLOCK; i++) {
        const y = ys[i];
        if (y === null || y === undefined) continue;
        if (a < 0 || y < ys[a]) a = i;
        if (b < 0 || y > ys[b]) b = i;
      }
      lo.push(a);
      hi.push(b);
    }
  }

  /** [xs, ys] of the points between x0 and x1 for `columns` pixel columns. */
  view(x0, x1, columns) {
    const { xs, ys } = this;
    const i0 = Number.isFinite(x0) ? Math.max(0, lowerBound(xs, x0) - 1) : 0;
    const i1 = Number.isFinite(x1) ? Math.min(xs.length, lowerBound(xs, x1) + 1) : xs.length;
    const n = i1 - i0;
    if (n <= columns * PER_COLUMN) return [xs.slice(i0, i1), ys.slice(i0, i1)];
    const ox = [];
    const oy = [];
    const step = n / columns;
    for (let c = 0; c < columns; c++) {
      const s = i0 + Math.floor(c * step);
      const e = Math.min(i1, i0 + Math.floor((c + 1) * step));
      if (e <= s) continue;
      const [a, b] = this.extremes(s, e);
      const picks = [s, a, b, e - 1].filter((i) => i >= 0).sort((p, q) => p - q);
      let last = -1;
      for (const i of picks) {
        if (i === last) continue;
        last = i;
        ox.push(xs[i]);
        oy.push(ys[i]);
      }
    }
    return [ox, oy];
  }

  extremes(s, e) {
    const { ys, lo, hi } = this;
    let a = -1;
    let b = -1;
    const take = (i, j) => {
      if (i >= 0 && (a < 0 || ys[i] < ys[a])) a = i;
      if (j >= 0 && (b < 0 || ys[j] > ys[b])) b = j;
    };
    let i = s;
    while (i < e) {
      const block = i / BLOCK;
      if (i % BLOCK === 0 && i + BLOCK <= e && block < lo.length) {
        take(lo[block], hi[block]);
        i += BLOCK;
      } else {
        const y = ys[i];
        if (y !== null && y !== undefined) take(i, i);
        i += 1;
      }
    }
    return [a, b];
  }
}

function lowerBound(xs, x) {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function formatValue(y, unit) {
  if (y === null || y === undefined || !Number.isFinite(y)) return "–";
  const text = Math.abs(y) >= 1e5 || (Math.abs(y) < 1e-3 && y !== 0) ? y.toExponential(3) : String(+y.toPrecision(5));
  return unit ? `${text} ${unit}` : text;
}

export class Chart {
  constructor(key, { clearable = true, height = 240, title = key } = {}) {
    loadCss("static/vendor/uPlot.min.css", { first: true }); // first, so the dashboard's rules win
    this.key = key;
    this.height = height;
    this.series = new Map(); // name -> Series, in order of arrival
    this.zoomed = false;
    this.frame = 0;
    this.stale = false;
    this.plot = null;
    this.element = el("div", "card series-chart");
    this.element.dataset.testid = "plot-chart";
    this.element.dataset.chart = key;
    this.element.dataset.series = "";
    this.element.dataset.points = "0";
    this.element.dataset.drawn = "0";
    this.draws = 0;
    this.element.dataset.draws = "0";
    this.element.dataset.zoomed = "false";
    const header = el("header");
    const heading = el("h2", "mono", title);
    this.count = el("span", "muted plot-count", "no points yet");
    this.count.dataset.testid = "plot-count";
    header.append(heading, this.count, el("span", "spacer"));
    header.append(el("span", "muted plot-hint", "drag to zoom · double-click to reset"));
    const tools = el("span", "toolbar plot-tools");
    tools.append(this.button("PNG", "plot-png", `save ${title} as a PNG image`, () => this.savePng()));
    tools.append(this.button("CSV", "plot-csv", `save the points of ${title} as CSV`, () => this.saveCsv()));
    if (clearable) {
      tools.append(this.button("Clear", "plot-clear", `remove the points of ${title} from this view (the run keeps them)`,
        () => this.clear()));
    }
    header.append(tools);
    this.legend = el("div", "plot-legend");
    this.legend.dataset.testid = "plot-legend";
    this.body = el("div", "plot-body");
    this.body.setAttribute("role", "img");
    this.body.setAttribute("aria-label", `chart of ${title}`);
    this.element.append(header, this.body, this.legend);
    this.resizer = new ResizeObserver(() => this.fit());
    this.resizer.observe(this.body);
    this.unwatchTheme = onThemeChange(() => {
      this.rebuild = true;
      this.legend.replaceChildren(); // its swatches take the new colours
      this.schedule();
    });
  }

  button(text, testid, title, action) {
    const button = el("button", "btn small", text);
    button.type = "button";
    button.dataset.testid = testid;
    button.title = title;
    button.setAttribute("aria-label", `${text}: ${title}`); // the name starts with what it shows
    button.addEventListener("click", action);
    return button;
  }

  seriesFor(name, labels) {
    let s = this.series.get(name);
    if (!s) {
      s = new Series(name, labels);
      this.series.set(name, s);
      this.element.dataset.series = [...this.series.keys()].join(" ");
      this.rebuild = true;
    } else if (s.label(labels)) {
      this.rebuild = true;
    }
    return s;
  }

  add(name, xs, ys, labels) {
    this.seriesFor(name, labels).push(xs, ys);
    this.schedule();
  }

  put(name, xs, ys, labels) {
    this.seriesFor(name, labels).put(xs, ys);
    this.schedule();
  }

  clearSeries(name) {
    this.series.get(name)?.reset();
    this.schedule();
  }

  replace(name, xs, ys, labels) {
    this.seriesFor(name, labels).reset(xs, ys);
    this.setZoomed(false);
    this.schedule();
  }

  clear() {
    for (const s of this.series.values()) s.reset();
    this.setZoomed(false);
    this.schedule();
  }

  /** [xs, ys] of the points of series `name` whose x is past `x`. */
  after(name, x) {
    const s = this.series.get(name);
    const xs = [];
    const ys = [];
    if (s) {
      for (let i = 0; i < s.xs.length; i++) {
        if (s.xs[i] > x) { xs.push(s.xs[i]); ys.push(s.ys[i]); }
      }
    }
    return [xs, ys];
  }

  lastX(name) {
    const xs = this.series.get(name)?.xs ?? [];
    return xs.length ? xs[xs.length - 1] : -Infinity;
  }

  points() {
    let n = 0;
    for (const s of this.series.values()) n += s.xs.length;
    return n;
  }

  schedule() {
    this.element.dataset.points = String(this.points());
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  options() {
    const list = [...this.series.values()];
    const units = [...new Set(list.map((s) => s.unit).filter(Boolean))];
    const xlabel = list.find((s) => s.xlabel)?.xlabel ?? "";
    this.element.dataset.units = units.join(", ");
    this.element.dataset.xlabel = xlabel;
    const axis = axisStyle();
    const colors = seriesColors();
    return {
      width: Math.max(this.body.clientWidth, 200),
      height: this.height,
      scales: { x: { time: false } },
      axes: [
        { ...axis, label: xlabel || undefined, labelSize: xlabel ? 20 : 0 },
        { ...axis, size: 64, label: units.join(", ") || undefined, labelSize: units.length ? 20 : 0 },
      ],
      series: [{ label: xlabel || "x" }, ...list.map((s, i) => ({
        label: s.name, stroke: colors[i % colors.length], width: 1.5, spanGaps: false,
      }))],
      cursor: { drag: { x: true, y: false } },
      legend: { show: false },
      hooks: {
        setScale: [(u, key) => key === "x" && this.noteZoom(u)],
        setCursor: [(u) => this.paintLegend(u.cursor.idx)],
      },
    };
  }

  noteZoom(u) {
    // uPlot applies scales after the call that changed them, so tell a zoom by its
    // result: an x range narrower than the data is the user's selection.
    if (this.drawing) return; // the chart's own setData, not the reader
    // Unzoomed, what is drawn spans the data; zoomed, what is drawn is the zoomed part.
    const drawn = u.data[0];
    const [lo, hi] = this.zoomed || !drawn?.length ? this.extent() : [drawn[0], drawn[drawn.length - 1]];
    if (!(hi > lo)) return;
    const { min, max } = u.scales.x;
    if (!Number.isFinite(min) || !Number.isFinite(max)) return;
    const slack = (hi - lo) * 1e-9;
    const zoomed = min > lo + slack || max < hi - slack;
    const changed = zoomed !== this.zoomed;
    this.setZoomed(zoomed);
    // Redraw at the resolution of the new range.
    if ((changed || zoomed) && !this.drawing) this.schedule();
  }

  setZoomed(zoomed) {
    this.zoomed = zoomed;
    this.element.dataset.zoomed = String(zoomed);
  }

  extent() {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.series.values()) {
      if (!s.xs.length) continue;
      lo = Math.min(lo, s.xs[0]);
      hi = Math.max(hi, s.xs[s.xs.length - 1]);
    }
    return [lo, hi];
  }

  draw() {
    this.frame = 0;
    const n = this.points();
    this.count.textContent = n === 1 ? "1 point" : `${n.toLocaleString()} points`;
    if (!this.body.clientWidth) {
      this.stale = true; // hidden: drawn when it is shown (fit)
      return;
    }
    this.stale = false;
    this.drawing = true;
    try {
      this.render();
    } finally {
      this.drawing = false;
    }
    this.paintLegend(null);
  }

  render() {
    if (!this.plot || this.rebuild) {
      this.rebuild = false;
      this.plot?.destroy();
      this.plot = new uPlot(this.options(), this.emptyData(), this.body);
      this.plot.over.addEventListener("dblclick", () => { this.setZoomed(false); this.schedule(); });
    }
    const columns = Math.max(50, Math.round(this.plot.bbox.width / devicePixelRatio) || this.body.clientWidth);
    const x0 = this.zoomed ? this.plot.scales.x.min : -Infinity;
    const x1 = this.zoomed ? this.plot.scales.x.max : Infinity;
    const views = [...this.series.values()].map((s) => s.view(x0, x1, columns));
    const data = views.length === 1 ? [views[0][0], views[0][1]] : uPlot.join(views.map(([xs, ys]) => [xs, ys]));
    this.element.dataset.drawn = String(views.reduce((sum, [xs]) => sum + xs.length, 0));
    this.element.dataset.draws = String(++this.draws);
    this.plot.setData(data, !this.zoomed);
  }

  emptyData() {
    return [[], ...[...this.series.keys()].map(() => [])];
  }

  paintLegend(idx) {
    const list = [...this.series.values()];
    if (this.legend.childElementCount !== list.length) {
      const colors = seriesColors();
      this.legend.replaceChildren(...list.map((s, i) => {
        const item = el("span", "plot-legend-item");
        item.dataset.testid = "plot-legend-item";
        item.dataset.series = s.name;
        const swatch = el("span", "swatch");
        swatch.style.background = colors[i % colors.length];
        item.append(swatch, el("span", "mono", s.name), el("span", "mono plot-value"));
        return item;
      }));
    }
    list.forEach((s, i) => {
      const value = this.legend.children[i].querySelector(".plot-value");
      let y = s.ys.length ? s.ys[s.ys.length - 1] : null;
      if (idx !== null && idx !== undefined && this.plot) y = this.plot.data[i + 1]?.[idx] ?? null;
      value.textContent = formatValue(y, s.unit);
      value.dataset.testid = "plot-value";
    });
  }

  fit() {
    const width = this.body.clientWidth;
    if (!width) return;
    if (this.plot && width !== this.plot.width) this.plot.setSize({ width, height: this.height });
    if (this.stale || !this.plot) this.schedule();
  }

  savePng() {
    const source = this.plot?.ctx?.canvas;
    if (!source) return;
    const canvas = document.createElement("canvas");
    canvas.width = source.width;
    canvas.height = source.height;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = cssVar("--card", "#ffffff");
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(source, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      const link = el("a");
      link.href = url;
      link.download = `${this.key}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    }, "image/png");
  }

  csv() {
    const quote = (text) => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
    const rows = ["series,x,y,unit"];
    for (const s of this.series.values()) {
      for (let i = 0; i < s.xs.length; i++) {
        rows.push([quote(s.name), s.xs[i] ?? "", s.ys[i] ?? "", quote(s.unit)].join(","));
      }
    }
    return rows.join("\n") + "\n";
  }

  saveCsv() {
    downloadText(`${this.key}.csv`, this.csv());
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.unwatchTheme();
    this.plot?.destroy();
    this.element.remove();
  }
}

/**
 * The live charts of the current run inside `grid`: a chart per `chart` name (a series
 * without one has its own), kept complete across gaps from the server's copy.
 *
 * Returns { charts, reset(), cleanup() }; `onChange(count)` hears how many charts there are.
 */
export function liveCharts({ deck, feed, toast, getJson, grid, height, clearable = true, onChange = () => {} }) {
  const charts = new Map(); // chart key -> Chart
  const keyOf = new Map(); // series -> chart key
  let resyncing = null; // pushes held back while the run's data comes from the server
  let resyncTimer = 0;

  function chartFor(series, labels) {
    let key = keyOf.get(series);
    if (!key) {
      key = labels?.chart || series;
      keyOf.set(series, key);
    }
    let chart = charts.get(key);
    if (!chart) {
      chart = new Chart(key, { height, clearable });
      charts.set(key, chart);
      const after = [...charts.keys()].sort().find((other) => other > key);
      grid.insertBefore(chart.element, after ? charts.get(after).element : null);
      onChange(charts.size);
    }
    return chart;
  }

  function reset() {
    for (const chart of charts.values()) chart.destroy();
    charts.clear();
    keyOf.clear();
    onChange(0);
  }

  function onData(data) {
    if (!data || !feed.accept(data.run)) return;
    if (typeof data.series !== "string" || !Array.isArray(data.x) || !Array.isArray(data.y)) return;
    if (resyncing) resyncing.push(data);
    else if (data.replace) chartFor(data.series, data).put(data.series, data.x, data.y, data);
    else chartFor(data.series, data).add(data.series, data.x, data.y, data);
  }

  // The script cleared its plots (run/clear): the run's store has dropped them too.
  function onClear(data) {
    if (!data || !feed.accept(data.run)) return;
    if (typeof data.series !== "string") {
      for (const chart of charts.values()) chart.clear();
      return;
    }
    const chart = charts.get(keyOf.get(data.series));
    chart?.clearSeries(data.series);
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
      for (const [name, s] of Object.entries(series)) {
        // The server's copy can be behind the channel (its store writes in the background):
        // the points this chart already has past the copy's last x stay, after the copy.
        const chart = chartFor(name, s);
        const [xs, ys] = chart.after(name, s.x.length ? s.x[s.x.length - 1] : -Infinity);
        chart.replace(name, s.x, s.y, s);
        if (xs.length) chart.add(name, xs, ys, s);
      }
    }
    for (const data of held) {
      const chart = chartFor(data.series, data);
      if (data.replace) {
        chart.put(data.series, data.x, data.y, data);
        continue;
      }
      const last = chart.lastX(data.series);
      const keep = data.x.map((_, i) => i).filter((i) => data.x[i] > last);
      chart.add(data.series, keep.map((i) => data.x[i]), keep.map((i) => data.y[i]), data);
    }
  }

  const offRun = feed.on("run", reset);
  const unsubscribeClear = deck.subscribe("run/clear", onClear);
  const unsubscribe = deck.subscribe("run/data", onData, {
    since: 0,
    onGap: () => {
      // The notice comes before the replay: wait for it to tell which run is current.
      clearTimeout(resyncTimer);
      resyncTimer = setTimeout(resync, 300);
    },
  });

  return {
    charts,
    clearAll() {
      for (const chart of charts.values()) chart.clear();
    },
    cleanup() {
      offRun();
      unsubscribe();
      unsubscribeClear();
      clearTimeout(resyncTimer);
      reset();
    },
  };
}

/** Charts of a finished run's `series` ({name: {x, y, unit, xlabel, chart}}), in `grid`. */
export function staticCharts(grid, series, { height = 240, prefix = "" } = {}) {
  const charts = new Map();
  for (const [name, s] of Object.entries(series).sort(([a], [b]) => a.localeCompare(b))) {
    const key = s.chart || name;
    let chart = charts.get(key);
    if (!chart) {
      chart = new Chart(key, { clearable: false, height, title: prefix ? `${prefix}${key}` : key });
      charts.set(key, chart);
      grid.append(chart.element);
    }
    chart.replace(prefix ? `${prefix}${name}` : name, s.x, s.y, s);
  }
  return [...charts.values()];
}
