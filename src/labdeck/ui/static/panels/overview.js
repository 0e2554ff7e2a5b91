/**
 * Overview: the landing page a lab leaves open on scan day. The run controls with progress
 * and elapsed time, the live plots and the log tail of the current run side by side, and a
 * card for every panel that offers a summary (stations, rigs, agents, a lab's own).
 *
 * Cards: "run", "plots", "log", and "panel:<id>" for each panel whose announcement names a
 * `summary` module (its default export's mount(card, ctx) fills the card and may return
 * a cleanup; its `title`, if any, names the card instead of the panel's title). The Cards menu chooses which are shown; the choice is the user's preference
 * `overview.cards` (a list of hidden card ids, so a card that arrives later is shown).
 *
 * Layout: a grid that gives the plots and the log a column each on a wide screen and
 * stacks everything on a narrow one.
 */

import { el, fill, getJson, loadCss } from "../kit.js";
import { liveCharts } from "./chart.js";
import { feedLines, logRow, runFeed, runLabel } from "./runstate.js";
import { mountRun } from "./run.js";

const HIDDEN_KEY = "overview.cards.hidden";
const TAIL = 200;
const NEAR_BOTTOM = 30; // px

export default { mount };

async function mount(root, ctx) {
  loadCss("static/panels/run.css");
  loadCss("static/panels/plots.css");
  loadCss("static/panels/log.css");
  const { deck, prefs } = ctx;
  const feed = runFeed(deck);
  const $ = fill(root, `
    <div class="overview-head">
      <h2 class="overview-title">Overview</h2>
      <span class="muted" data-testid="overview-run-label">no run yet</span>
      <span class="spacer"></span>
      <details class="overview-choose" data-testid="overview-choose">
        <summary class="btn">Cards</summary>
        <fieldset class="card overview-menu" data-testid="overview-menu">
          <legend>Cards shown on the Overview</legend>
        </fieldset>
      </details>
    </div>
    <div class="overview-grid" data-testid="overview-grid">
      <section class="overview-card overview-run" data-card="run" data-testid="overview-card-run" aria-label="Run"></section>
      <section class="overview-card card overview-plots" data-card="plots" data-testid="overview-card-plots" aria-labelledby="ov-plots-h">
        <header><h2 id="ov-plots-h"><a href="#plots">Plots</a></h2><span class="spacer"></span>
          <span class="muted" data-testid="overview-plots-note">no data points yet</span></header>
        <div class="plots-grid overview-plots-grid" data-testid="overview-plots"></div>
      </section>
      <section class="overview-card card overview-log" data-card="log" data-testid="overview-card-log" aria-labelledby="ov-log-h">
        <header><h2 id="ov-log-h"><a href="#log">Log</a></h2><span class="spacer"></span>
          <span class="muted" data-testid="overview-log-count">0 lines</span>
          <button type="button" class="btn small" data-testid="overview-log-latest" hidden>Jump to latest ↓</button></header>
        <div class="log-view overview-log-view" data-testid="overview-log-view" role="log" tabindex="0"
             aria-label="the latest lines of the run's log">
          <p class="empty" data-testid="overview-log-empty">No log yet.</p>
          <div class="log-lines" data-testid="overview-log"></div>
        </div>
      </section>
    </div>
    <div class="overview-summaries" data-testid="overview-summaries"></div>`);
  const grid = $("overview-grid");
  const summaries = $("overview-summaries");
  const menu = $("overview-menu");
  const cleanups = [];

  const offRunCard = mountRun($("overview-card-run"), ctx, { compact: true });
  cleanups.push(offRunCard, runLabel($("overview-run-label"), feed));

  // -- live plots ---------------------------------------------------------------------
  const note = $("overview-plots-note");
  const plots = liveCharts({
    deck, feed, toast: ctx.toast, getJson, grid: $("overview-plots"), height: 180, clearable: false,
    onChange: (count) => {
      note.textContent = count ? `${count} chart${count === 1 ? "" : "s"}` : "no data points yet";
    },
  });
  cleanups.push(plots.cleanup);

  // -- the log's tail -----------------------------------------------------------------
  cleanups.push(logTail($, deck, feed));

  // -- capability cards ---------------------------------------------------------------
  const mountedCards = new Map(); // "panel:<id>" -> { section, cleanup }

  function syncSummaries(infos) {
    const wanted = new Map(infos.filter((info) => info.summary).map((info) => [`panel:${info.id}`, info]));
    for (const [id, card] of mountedCards) {
      if (!wanted.has(id)) {
        card.cleanup?.();
        card.section.remove();
        mountedCards.delete(id);
      }
    }
    for (const [id, info] of wanted) {
      if (!mountedCards.has(id)) mountedCards.set(id, summaryCard(id, info, ctx, paintMenu));
      summaries.append(mountedCards.get(id).section); // in announcement order
    }
    paintMenu();
    applyHidden();
  }

  function cardIds() {
    return ["run", "plots", "log", ...mountedCards.keys()];
  }

  function cardTitle(id) {
    if (id === "run") return "Run controls";
    if (id === "plots") return "Live plots";
    if (id === "log") return "Log tail";
    return mountedCards.get(id)?.title ?? id;
  }

  function hidden() {
    const value = prefs.get(HIDDEN_KEY, []);
    return new Set(Array.isArray(value) ? value.filter((v) => typeof v === "string") : []);
  }

  function paintMenu() {
    const off = hidden();
    const legend = menu.querySelector("legend");
    menu.replaceChildren(legend);
    for (const id of cardIds()) {
      const label = el("label", "overview-option");
      const box = el("input");
      box.type = "checkbox";
      box.checked = !off.has(id);
      box.dataset.testid = "overview-option";
      box.dataset.card = id;
      box.addEventListener("change", () => {
        const now = hidden();
        if (box.checked) now.delete(id);
        else now.add(id);
        prefs.set(HIDDEN_KEY, [...now].sort());
      });
      label.append(box, ` ${cardTitle(id)}`);
      menu.append(label);
    }
  }

  function applyHidden() {
    const off = hidden();
    for (const section of root.querySelectorAll("[data-card]")) section.hidden = off.has(section.dataset.card);
    // The plots and the log share a row; one alone takes it whole.
    grid.dataset.pair = String(!off.has("plots") && !off.has("log"));
    summaries.hidden = ![...mountedCards.keys()].some((id) => !off.has(id));
  }

  cleanups.push(prefs.on(HIDDEN_KEY, () => { paintMenu(); applyHidden(); }));
  cleanups.push(ctx.onPanels(syncSummaries));
  await prefs.ready;
  syncSummaries(ctx.panels());

  return () => {
    for (const fn of cleanups) fn?.();
    for (const card of mountedCards.values()) card.cleanup?.();
    mountedCards.clear();
  };
}

/** A capability's card: titled with its panel (or its module's title), linking to it,
 * filled by its summary module; `onTitle()` hears when the module renamed it. */
function summaryCard(id, info, ctx, onTitle) {
  const section = el("section", "card overview-card overview-summary");
  section.dataset.card = id;
  section.dataset.testid = "overview-summary";
  section.dataset.panel = info.id;
  const header = el("header");
  const heading = el("h2");
  const link = el("a", "", info.title ?? info.id);
  link.href = `#${info.id}`;
  heading.append(link);
  header.append(heading);
  const body = el("div", "overview-summary-body");
  section.append(header, body);
  section.setAttribute("aria-label", info.title ?? info.id);
  const card = { section, title: info.title ?? info.id, cleanup: null };
  (async () => {
    try {
      if (info.css) ctx.kit.loadCss(info.css);
      const module = await import(ctx.kit.apiUrl(info.summary).href);
      if (typeof module.default.title === "string") {
        card.title = link.textContent = module.default.title;
        section.setAttribute("aria-label", card.title);
        onTitle();
      }
      const result = await module.default.mount(body, { ...ctx, id: info.id, title: card.title });
      card.cleanup = typeof result === "function" ? result : result?.cleanup?.bind(result) ?? null;
    } catch (err) {
      console.error(`labdeck: the Overview card of ${info.id} could not start`, err);
      body.replaceChildren(el("p", "muted", `This card could not start: ${err?.message ?? err}`));
    }
  })();
  return card;
}

/** The last TAIL lines of the current run, following the end unless scrolled up. */
function logTail($, deck, feed) {
  const view = $("overview-log-view");
  const box = $("overview-log");
  const empty = $("overview-log-empty");
  const count = $("overview-log-count");
  const latest = $("overview-log-latest");
  let following = true;
  let frame = 0;
  let queued = [];

  const lines = feedLines({
    feed,
    onLines: (got) => {
      queued.push(...got);
      if (queued.length > TAIL) queued = queued.slice(-TAIL);
      if (!frame) frame = requestAnimationFrame(render);
    },
  });

  function render() {
    frame = 0;
    const fragment = document.createDocumentFragment();
    for (const line of queued) fragment.append(logRow(line));
    queued = [];
    box.append(fragment);
    let extra = box.childElementCount - TAIL;
    while (extra-- > 0) box.firstElementChild.remove();
    empty.hidden = box.childElementCount > 0;
    const total = lines.count();
    count.textContent = total === 1 ? "1 line" : `${total.toLocaleString()} lines`;
    if (following) view.scrollTop = view.scrollHeight;
    latest.hidden = following;
  }

  function reset(id) {
    lines.reset(id);
    box.replaceChildren();
    queued = [];
    following = true;
    render();
  }

  view.addEventListener("scroll", () => {
    const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - NEAR_BOTTOM;
    if (atBottom !== following) {
      following = atBottom;
      latest.hidden = following;
    }
  });
  latest.addEventListener("click", () => {
    following = true;
    view.scrollTop = view.scrollHeight;
    latest.hidden = true;
  });
  const offRun = feed.on("run", reset);
  reset(feed.run);
  const unsubscribe = deck.subscribe("run/log", (data) => {
    if (data && feed.accept(data.run) && Array.isArray(data.lines)) lines.take(data.lines);
  }, { since: 0, onGap: () => lines.catchUp(300) });
  unsubscribe.ready?.then(() => lines.catchUp(500), () => {});
  return () => {
    offRun();
    unsubscribe();
    lines.reset(null);
    cancelAnimationFrame(frame);
  };
}
