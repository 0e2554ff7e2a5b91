/**
 * Log: every line the current run prints (run/log), as it is printed.
 *
 * Lines are numbered per run (n = 1, 2, ...) and shown strictly in order: a line that
 * arrives after a hole (lines the channel's history no longer held, e.g. after a reload
 * late in a long run) waits until the missing ones come from the server's copy
 * (GET api/runs/{id}/log), so what is shown is exactly the run's log. The browser keeps
 * the last KEEP lines for the filter and renders the last RENDER of them; Download
 * fetches the complete log from the server.
 *
 * Following: the view scrolls with new lines unless the reader scrolled up or pressed
 * Pause (which freezes the view; lines keep being collected and appear on Resume).
 */

import { downloadText, fill, streamControls } from "../kit.js";
import { feedLines, fetchLog, logRow, logText, runFeed, runLabel } from "./runstate.js";

const KEEP = 50_000;
const RENDER = 5_000;
const NEAR_BOTTOM = 40; // px

export default { mount };

function mount(root, { deck, toast }) {
  const feed = runFeed(deck);
  const $ = fill(root, `
    <div class="card log-card">
      <header>
        <h2>Log</h2>
        <span class="muted" data-testid="log-run">no run yet</span>
        <span class="spacer"></span>
        <span class="muted log-count" data-testid="log-count">0 lines</span>
      </header>
      <div class="toolbar">
        <input type="search" placeholder="Filter lines" aria-label="Filter log lines" data-testid="log-filter">
        <label class="log-check"><input type="checkbox" data-testid="log-errors-only"> errors only</label>
        <button type="button" class="btn" aria-pressed="false" data-testid="log-pause">Pause</button>
        <span class="spacer"></span>
        <span class="muted" data-testid="log-status"></span>
        <button type="button" class="btn" data-testid="log-latest" hidden>Jump to latest ↓</button>
        <button type="button" class="btn" data-testid="log-download" disabled
                title="the complete log of this run, as a text file">Download</button>
      </div>
      <div class="log-view" data-testid="log-view" role="log" tabindex="0">
        <p class="empty" data-testid="log-empty">No log yet. Lines appear here as the script prints them.</p>
        <div class="log-lines" data-testid="log-lines"></div>
      </div>
    </div>`);
  const view = $("log-view");
  const box = $("log-lines");
  const empty = $("log-empty");
  const errorsOnly = $("log-errors-only");
  const status = $("log-status");
  const latest = $("log-latest");
  const download = $("log-download");
  const count = $("log-count");

  let runId = null;
  let kept = []; // the last KEEP lines, in order
  let dropped = 0; // older lines no longer kept here
  let queued = []; // lines to append at the next frame
  let rebuild = false; // re-render from `kept` at the next frame (filter, resume, reset)
  let following = true;
  const live = streamControls({
    filter: $("log-filter"),
    pause: $("log-pause"),
    render,
    onChange: (why) => {
      if (why === "resume") following = true;
      rebuild = true;
    },
  });
  const schedule = live.schedule;

  const lines = feedLines({
    feed,
    onLines: (got) => {
      for (const line of got) kept.push(line);
      if (kept.length > KEEP + KEEP / 5) {
        // Trim in chunks: one splice per 10,000 lines instead of one shift per line.
        const cut = kept.length - KEEP;
        kept = kept.slice(cut);
        dropped += cut;
      }
      if (live.arrived(got.length)) for (const line of got) if (shows(line)) queued.push(line);
      schedule();
    },
    onFailure: (err, from, to) => {
      toast(`Log: lines ${from}–${to} could not be loaded (${err.message}); the download has them all`, "err");
    },
  });

  function reset(id) {
    runId = id;
    lines.reset(id);
    kept = [];
    dropped = 0;
    queued = [];
    live.missed = 0;
    rebuild = true;
    following = true;
    download.disabled = id === null;
    schedule();
  }

  function shows(line) {
    if (errorsOnly.checked && line.stream !== "stderr") return false;
    return !live.filter || line.text.toLowerCase().includes(live.filter);
  }

  function render() {
    if (rebuild) {
      rebuild = false;
      queued = [];
      const shown = [];
      for (let i = kept.length - 1; i >= 0 && shown.length < RENDER; i--) {
        if (shows(kept[i])) shown.push(kept[i]);
      }
      box.replaceChildren(...shown.reverse().map(logRow));
    } else if (queued.length) {
      const fresh = queued.length > RENDER ? queued.slice(-RENDER) : queued;
      queued = [];
      const fragment = document.createDocumentFragment();
      for (const line of fresh) fragment.append(logRow(line));
      box.append(fragment);
      let extra = box.childElementCount - RENDER;
      while (extra-- > 0) box.firstElementChild.remove();
    }
    paintStatus();
    if (following && !live.paused) view.scrollTop = view.scrollHeight;
  }

  function paintStatus() {
    const total = lines.count();
    count.textContent = total === 1 ? "1 line" : `${total.toLocaleString()} lines`;
    const hidden = box.childElementCount < kept.length && !live.filter && !errorsOnly.checked;
    empty.hidden = box.childElementCount > 0;
    if (!kept.length) empty.textContent = "No log yet. Lines appear here as the script prints them.";
    else if (!box.childElementCount) empty.textContent = "No line matches the filter.";
    const notes = [];
    if (live.paused) notes.push(live.note());
    if (live.filter || errorsOnly.checked) notes.push(`${box.childElementCount.toLocaleString()} shown`);
    if (hidden || dropped) notes.push("earlier lines: Download");
    status.textContent = notes.join(" · ");
    latest.hidden = following || live.paused;
  }

  async function saveLog() {
    const id = runId;
    if (id === null) return;
    download.disabled = true;
    try {
      let all;
      try {
        all = await fetchLog(id);
      } catch (err) {
        toast(`Log: the server's copy is not available (${err.message}); saving the lines shown here`, "warn");
        all = kept;
      }
      downloadText(`run-${id}-log.txt`, logText(all));
    } finally {
      download.disabled = runId === null;
    }
  }

  errorsOnly.addEventListener("change", () => {
    rebuild = true;
    schedule();
  });
  download.addEventListener("click", saveLog);
  latest.addEventListener("click", () => {
    following = true;
    view.scrollTop = view.scrollHeight;
    paintStatus();
  });
  view.addEventListener("scroll", () => {
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - NEAR_BOTTOM;
    if (atBottom !== following) {
      following = atBottom;
      paintStatus();
    }
  });

  const offRun = feed.on("run", reset);
  const offLabel = runLabel($("log-run"), feed);
  reset(feed.run);
  const unsubscribe = deck.subscribe("run/log", (data) => {
    if (data && feed.accept(data.run) && Array.isArray(data.lines)) lines.take(data.lines);
  }, { since: 0, onGap: () => lines.catchUp(300) });
  // After a reload the channel may no longer hold the current run's first lines (or any
  // of them): once its replay is in, complete the log from the server's copy.
  unsubscribe.ready?.then(() => lines.catchUp(500), () => {});

  return () => {
    offRun();
    offLabel();
    unsubscribe();
    lines.reset(null);
    live.cancel();
  };
}
