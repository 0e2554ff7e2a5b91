/**
 * <deck-value>, <deck-plot>, <deck-log>, <deck-status>: what a viewer watches.
 *
 *   <deck-value channel="run/status" field="state"></deck-value>
 *   <deck-value attr="device.temperature" digits="1" unit="°C"></deck-value>
 *   <deck-value channel="run/data" series="classifier" field="y" display="bar" min="-1" max="1"></deck-value>
 *   <deck-plot channel="run/data" series="classifier" points="300"></deck-plot>
 *   <deck-log channel="run/log" lines="200"></deck-log>
 *   <deck-status></deck-status>
 */

import uPlot from "../vendor/uPlot.esm.js";
import { attrChannel, DeckElement, el, format, pick } from "./base.js";

/** Follow a channel (`channel`, filtered by `series`) or an exposed attribute (`attr`). */
function follow(element, show) {
  const { deck } = element;
  const attr = element.getAttribute("attr");
  const series = element.getAttribute("series");
  const field = element.getAttribute("field") ?? (attr ? "" : null);
  let pushed = false;
  if (attr) {
    const [path, ch] = attrChannel(attr);
    element.onStop(deck.subscribe(ch, (data) => {
      pushed = true;
      show(pick(data, field), data);
    }));
    deck.get(path).then((value) => pushed || show(pick(value, field), value), (err) => element.fail(err));
    return;
  }
  const ch = element.getAttribute("channel");
  if (!ch) throw new Error(`${element.localName} needs a channel or an attr attribute`);
  element.onStop(deck.subscribe(ch, (data) => {
    if (series !== null && (data?.series ?? "default") !== series) return;
    show(field === null ? data : pick(data, field), data);
  }));
}

export class DeckValue extends DeckElement {
  start() {
    const digits = this.getAttribute("digits");
    const unit = this.getAttribute("unit");
    const bar = this.getAttribute("display") === "bar";
    const text = el("span", "deck-value-text", "–");
    text.dataset.testid = "deck-value-text";
    const parts = [text];
    let fill = null;
    if (bar) {
      const track = el("span", "deck-bar");
      fill = el("span", "deck-bar-fill");
      track.append(fill);
      parts.unshift(track);
    }
    this.replaceChildren(...parts);
    const low = Number(this.getAttribute("min") ?? 0);
    const high = Number(this.getAttribute("max") ?? 1);
    follow(this, (value) => {
      const shown = format(value, digits) + (unit && value !== undefined ? ` ${unit}` : "");
      text.textContent = shown;
      this.setAttribute("value", shown);
      if (fill && typeof value === "number" && high > low) {
        const share = Math.max(0, Math.min(1, (value - low) / (high - low)));
        fill.style.width = `${(share * 100).toFixed(1)}%`;
      }
    });
  }
}

export class DeckPlot extends DeckElement {
  start() {
    const limit = Math.max(2, Math.min(100_000, Number(this.getAttribute("points") ?? 500) || 500));
    const height = Math.max(60, Math.min(2000, Number(this.getAttribute("height") ?? 220) || 220));
    const label = this.getAttribute("series") ?? "y";
    const box = el("div", "deck-plot-box");
    this.replaceChildren(box);
    const xs = [];
    const ys = [];
    let run = null;
    let plot = null;
    let queued = false;
    const draw = () => {
      queued = false;
      if (plot === null) {
        plot = new uPlot({
          width: Math.max(200, box.clientWidth || this.clientWidth || 400), height,
          scales: { x: { time: false } }, legend: { show: false },
          series: [{}, { label, stroke: "#2563eb", width: 2 }],
        }, [xs, ys], box);
        const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, box.clientWidth), height }));
        resize.observe(box);
        this.onStop(() => { resize.disconnect(); plot.destroy(); });
      } else {
        plot.setData([xs, ys]);
      }
      this.setAttribute("points-shown", String(xs.length));
    };
    this.setAttribute("channel", this.getAttribute("channel") ?? "run/data");
    follow(this, (_, data) => {
      if (data === null || typeof data !== "object") return;
      if (this.hasAttribute("keep") === false && data.run !== undefined && data.run !== run) {
        run = data.run;
        xs.length = 0;
        ys.length = 0;
      }
      const dx = Array.isArray(data.x) ? data.x : [data.x];
      const dy = Array.isArray(data.y) ? data.y : [data.y];
      for (let i = 0; i < Math.min(dx.length, dy.length); i++) {
        if (typeof dx[i] === "number" && typeof dy[i] === "number") { xs.push(dx[i]); ys.push(dy[i]); }
      }
      if (xs.length > limit) { xs.splice(0, xs.length - limit); ys.splice(0, ys.length - limit); }
      if (!queued) { queued = true; requestAnimationFrame(draw); }
    });
  }
}

export class DeckLog extends DeckElement {
  start() {
    const limit = Math.max(1, Math.min(100_000, Number(this.getAttribute("lines") ?? 500) || 500));
    const box = el("div", "deck-log-lines");
    box.setAttribute("role", "log");
    this.replaceChildren(box);
    this.setAttribute("channel", this.getAttribute("channel") ?? "run/log");
    follow(this, (_, data) => {
      const lines = Array.isArray(data?.lines) ? data.lines : [{ text: typeof data === "string" ? data : JSON.stringify(data) }];
      const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      for (const line of lines) {
        const row = el("div", `deck-log-line ${line.stream === "stderr" ? "deck-log-err" : ""}`, line.text ?? "");
        row.dataset.testid = "deck-log-line";
        box.append(row);
      }
      while (box.childElementCount > limit) box.firstElementChild.remove();
      if (atEnd) box.scrollTop = box.scrollHeight;
    });
  }
}

const STATE_TEXT = { open: "live", connecting: "connecting…", reconnecting: "reconnecting…", closed: "offline" };

export class DeckStatus extends DeckElement {
  stateChanged(state) {
    this.dataset.state = state;
    this.setAttribute("role", "status");
    this.textContent = this.me && !this.me.role ? "not logged in" : STATE_TEXT[state] ?? state;
  }
}
