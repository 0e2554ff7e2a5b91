/**
 * Plots: the live charts of the current run (run/data), one per series, or one per
 * `chart` name for series a script asked to draw together
 * (`labdeck.script.plot(x, y, series=..., unit=..., xlabel=..., chart=...)`).
 *
 * Charts (./chart.js) redraw at most once per animation frame, downsampled to the pixels
 * they have, so a run of 1,000,000 points stays smooth. Drag across a chart to zoom;
 * double-click resets. While zoomed, new points still arrive but the view holds still.
 * Clear empties a chart in this browser only (the run keeps its data); a script's own
 * clears (run/clear) empty the charts for everyone, and points sent with `replace` move
 * instead of adding one. PNG and CSV save what a chart shows.
 */

import { fill, getJson } from "../kit.js";
import { liveCharts } from "./chart.js";
import { runFeed, runLabel } from "./runstate.js";

export default { mount };

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
        <code>labdeck.script.plot(x, y, series="name", unit="mm")</code>; each series gets its own chart here.</p>
    </div>
    <div class="plots-grid plots-wide" data-testid="plots-grid"></div>`);
  const empty = $("plots-empty");
  const clearAll = $("plots-clear-all");
  const live = liveCharts({
    deck, feed, toast, getJson, grid: $("plots-grid"), height: 280,
    onChange: (count) => {
      empty.hidden = count > 0;
      clearAll.disabled = count === 0;
    },
  });
  clearAll.addEventListener("click", live.clearAll);
  const offLabel = runLabel($("plots-run"), feed);
  return () => {
    offLabel();
    live.cleanup();
  };
}
