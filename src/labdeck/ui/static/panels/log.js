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
 * Following: the view keeps to the newest line while Follow is on. Scrolling up turns it
 * off (a "Jump to latest" button brings the reader back and turns it on); the choice is the
 * user's preference `log.follow`, so it holds across a panel switch and a reload; Follow
 * or Jump to latest turn it back on. Pause
 * freezes the view; lines keep being collected and appear on Resume.
 *
 * Filter shows only the lines that contain its text (the count then says "12 of 285
 * lines"); Search marks the lines shown that contain its text and steps through them
 * (Enter, or the ↑ ↓ buttons), without hiding the others.
 */

import { downloadText, fill, streamControls } from "../kit.js";
import { prefs } from "../prefs.js";
import { feedLines, fetchLog, logRow, logText, runFeed, runLabel } from "./runstate.js";

const FOLLOW_KEY = "log.follow";

const KEEP = 50_000;
const RENDER = 5_000;
const NEAR_BOTTOM = 40; // px

export default { mount };

async function mount(root, { deck, toast }) {
  await prefs.ready; // whether to follow is the reader's choice from the start
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
        <button type="button" class="btn" aria-pressed="true" data-testid="log-follow"
                title="keep to the newest line">Follow</button>
        <span class="log-search">
          <input type="search" placeholder="Search" aria-label="Search the log" data-testid="log-search">
          <button type="button" class="btn small" data-testid="log-search-prev" aria-label="previous match">↑</button>
          <button type="button" class="btn small" data-testid="log-search-next" aria-label="next match">↓</button>
          <span class="muted mono" data-testid="log-search-count" aria-live="polite"></span>
        </span>
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
  const followBtn = $("log-follow");
  const search = $("log-search");
  const searchCount = $("log-search-count");

  let runId = null;
  let kept = []; // the last KEEP lines, in order
  let dropped = 0; // older lines no longer kept here
  let queued = []; // lines to append at the next frame
  let rebuild = false; // re-render from `kept` at the next frame (filter, resume, reset)
  let following = prefs.get(FOLLOW_KEY, true) !== false;
  let visible = false; // a hidden view has no layout: its scroll events say nothing
  let hit = -1; // the index among the search's matches of the one shown
  const live = streamControls({
    filter: $("log-filter"),
    pause: $("log-pause"),
    render,
    onChange: (why) => {
      if (why === "resume") setFollowing(true);
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
    download.disabled = id === null;
    schedule();
  }

  function setFollowing(on) {
    following = on;
    followBtn.setAttribute("aria-pressed", String(on));
    if (prefs.get(FOLLOW_KEY, true) !== on) prefs.set(FOLLOW_KEY, on);
    if (on && visible) scrollToEnd();
    paintStatus();
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
    markSearch(false);
    paintStatus();
    if (following && !live.paused) scrollToEnd();
  }

  function filtering() {
    return Boolean(live.filter) || errorsOnly.checked;
  }

  function paintStatus() {
    const total = lines.count();
    const all = total === 1 ? "1 line" : `${total.toLocaleString()} lines`;
    // With a filter: how many of the lines kept here match it, of all the run printed.
    count.textContent = filtering() ? `${kept.filter(shows).length.toLocaleString()} of ${all}` : all;
    const hidden = box.childElementCount < kept.length && !live.filter && !errorsOnly.checked;
    empty.hidden = box.childElementCount > 0;
    if (!kept.length) empty.textContent = "No log yet. Lines appear here as the script prints them.";
    else if (!box.childElementCount) empty.textContent = "No line matches the filter.";
    const notes = [];
    if (live.paused) notes.push(live.note());
    if (filtering() && box.childElementCount < kept.filter(shows).length) {
      notes.push(`${box.childElementCount.toLocaleString()} shown`);
    }
    if (hidden || dropped) notes.push("earlier lines: Download");
    status.textContent = notes.join(" · ");
    latest.hidden = following || live.paused || !kept.length;
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
  latest.addEventListener("click", () => setFollowing(true));
  followBtn.addEventListener("click", () => setFollowing(!following));
  // Only the reader's own scrolling changes Follow: a scroll event that finds the view
  // where the panel itself put it (at the end, at a search match) is the panel's own.
  let placed = -1;

  function scrollToEnd() {
    view.scrollTop = view.scrollHeight;
    placed = view.scrollTop;
  }

  view.addEventListener("scroll", () => {
    if (Math.abs(view.scrollTop - placed) < 2) return;
    if (!visible || !view.clientHeight) return;
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - NEAR_BOTTOM;
    // Back on by Follow or Jump to latest only: a view that grows under a reader who
    // scrolled to the end must not start moving by itself.
    if (following && !atBottom) setFollowing(false);
  });

  // -- search ---------------------------------------------------------------------------

  function matches() {
    const wanted = search.value.trim().toLowerCase();
    if (!wanted) return [];
    return [...box.children].filter((row) => row.querySelector(".lx")?.textContent.toLowerCase().includes(wanted));
  }

  /** Mark the rows that match; `step` (+1, -1) moves to the next or previous match. */
  function markSearch(step) {
    for (const row of box.querySelectorAll(".log-line.hit")) row.classList.remove("hit", "current");
    const found = matches();
    if (!found.length) {
      hit = -1;
      searchCount.textContent = search.value.trim() ? "no match" : "";
      return;
    }
    for (const row of found) row.classList.add("hit");
    if (step) {
      hit = hit < 0 ? (step > 0 ? 0 : found.length - 1) : (hit + step + found.length) % found.length;
      if (following) setFollowing(false); // the reader is looking back
      found[hit].scrollIntoView({ block: "center" });
      placed = view.scrollTop;
    }
    hit = Math.min(hit, found.length - 1);
    if (hit >= 0) found[hit].classList.add("current");
    searchCount.textContent = hit >= 0 ? `${hit + 1}/${found.length}` : `${found.length} found`;
  }

  search.addEventListener("input", () => { hit = -1; markSearch(false); });
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") markSearch(ev.shiftKey ? -1 : 1);
  });
  $("log-search-next").addEventListener("click", () => markSearch(1));
  $("log-search-prev").addEventListener("click", () => markSearch(-1));

  const offRun = feed.on("run", reset);
  const offLabel = runLabel($("log-run"), feed);
  reset(feed.run);
  const unsubscribe = deck.subscribe("run/log", (data) => {
    if (data && feed.accept(data.run) && Array.isArray(data.lines)) lines.take(data.lines);
  }, { since: 0, onGap: () => lines.catchUp(300) });
  // After a reload the channel may no longer hold the current run's first lines (or any
  // of them): once its replay is in, complete the log from the server's copy.
  unsubscribe.ready?.then(() => lines.catchUp(500), () => {});

  const offFollow = prefs.on(FOLLOW_KEY, (on) => on !== following && setFollowing(on !== false));
  prefs.ready.then(() => setFollowing(prefs.get(FOLLOW_KEY, true) !== false));
  followBtn.setAttribute("aria-pressed", String(following));

  return {
    shown() {
      visible = true;
      // Back on the panel: where the reader left it, or the newest line when following.
      if (following && !live.paused) scrollToEnd();
      paintStatus();
    },
    hidden() {
      visible = false;
    },
    cleanup() {
      offRun();
      offLabel();
      offFollow();
      unsubscribe();
      lines.reset(null);
      live.cancel();
    },
  };
}
