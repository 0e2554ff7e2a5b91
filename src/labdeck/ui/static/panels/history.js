/**
 * History: the runs the server remembers, newest first, a page at a time; open one to
 * read its configuration, results, log and plots (read-only), download its data, or
 * delete it.
 *
 * The list comes from runner.history(limit, offset) and refreshes whenever a run starts
 * or ends. An open run is read over REST (api/runs/{id}, .../log, .../data) and drawn with
 * the Plots panel's chart.
 *
 * The open run is the route's sub-path: `#history/12` opens run 12 (also on a fresh
 * load), opening a run sets it, closing it goes back to `#history`.
 *
 * Filters (script, state, who started it, the day range it started in) narrow the list on
 * the server. Ticking two or more runs and pressing Compare opens `#history/compare/3,5`:
 * their plots overlaid (one chart per series, a line per run) and their configurations side
 * by side with the values that differ marked.
 */

import { staticCharts } from "./chart.js";
import {
  apiUrl, confirmButton, downloadText, el, errorText, fill, formatDuration, formatTime, getJson,
} from "../kit.js";
import { fetchLog, formatExit, logRow, logText, runFeed, stateClass } from "./runstate.js";

const PAGE = 20;
const LOG_SHOWN = 5_000;

export default { mount };

function mount(root, { deck, toast, navigate }) {
  const feed = runFeed(deck);
  const $ = fill(root, `
    <div class="card">
      <header>
        <h2>Run history</h2>
        <span class="muted" data-testid="history-total"></span>
        <span class="spacer"></span>
        <button type="button" class="btn primary" data-testid="history-compare" disabled
                title="tick two or more runs to compare them">Compare</button>
        <div class="toolbar">
          <button type="button" class="btn" data-testid="history-prev" disabled>← Newer</button>
          <span class="muted mono" data-testid="history-page"></span>
          <button type="button" class="btn" data-testid="history-next" disabled>Older →</button>
          <button type="button" class="btn" data-testid="history-refresh">Refresh</button>
        </div>
      </header>
      <form class="toolbar history-filters" data-testid="history-filters" aria-label="Filter the runs">
        <label>Script <select data-testid="history-filter-script"><option value="">any</option></select></label>
        <label>State <select data-testid="history-filter-state"><option value="">any</option></select></label>
        <label>By <select data-testid="history-filter-user"><option value="">anyone</option></select></label>
        <label>From <input type="date" data-testid="history-filter-from"></label>
        <label>To <input type="date" data-testid="history-filter-to"></label>
        <button type="reset" class="btn small" data-testid="history-filter-clear">Clear filters</button>
      </form>
      <div class="table-wrap">
        <table class="data history-table">
          <thead><tr><th class="pick"><span class="visually-hidden">Compare</span></th><th class="num">Run</th><th>Script</th><th>State</th><th>Started</th>
            <th class="num">Duration</th><th class="num">Exit</th><th>By</th></tr></thead>
          <tbody data-testid="history-table"></tbody>
        </table>
      </div>
      <p class="empty" data-testid="history-empty">No runs yet. Runs started from the Run panel are listed here.</p>
    </div>
    <div class="history-detail" data-testid="history-detail" hidden></div>`);
  const tbody = $("history-table");
  const empty = $("history-empty");
  const total = $("history-total");
  const pageLabel = $("history-page");
  const prev = $("history-prev");
  const next = $("history-next");
  const detail = $("history-detail");

  let offset = 0;
  let count = 0;
  let openRun = null;
  let charts = [];
  let listing = 0; // the latest list request: older answers are dropped
  let refreshTimer = 0;
  const picked = new Set(); // run ids ticked for Compare
  const filters = $("history-filters");
  const compareBtn = $("history-compare");
  const STATES = ["finished", "failed", "stopped", "interrupted", "running", "starting", "stopping"];
  for (const state of STATES) $("history-filter-state").append(option(state, state));

  function option(value, text) {
    const node = el("option", "", text);
    node.value = value;
    return node;
  }

  /** The filter's keyword arguments for runner.history. */
  function criteria() {
    const out = {};
    const script = $("history-filter-script").value;
    const state = $("history-filter-state").value;
    const user = $("history-filter-user").value;
    if (script) out.script = script;
    if (state) out.state = state;
    if (user) out.user = user;
    const day = (input, plus) => {
      if (!input.value) return null;
      const [y, m, d] = input.value.split("-").map(Number);
      return new Date(y, m - 1, d + plus).getTime() / 1000; // local midnight
    };
    const since = day($("history-filter-from"), 0);
    const until = day($("history-filter-to"), 1);
    if (since !== null) out.since = since;
    if (until !== null) out.until = until;
    return out;
  }

  function keepChoices(select, values, none) {
    const chosen = select.value;
    select.replaceChildren(option("", none), ...values.map((v) => option(v, v)));
    if (values.includes(chosen)) select.value = chosen;
  }

  function paintCompare() {
    compareBtn.disabled = picked.size < 2;
    compareBtn.textContent = picked.size ? `Compare (${picked.size})` : "Compare";
  }

  async function list() {
    const ticket = ++listing;
    let page;
    try {
      page = await deck.call(["runner", "history"], [], { limit: PAGE, offset, ...criteria() });
    } catch (err) {
      if (ticket !== listing) return;
      empty.hidden = false;
      empty.textContent = `The history could not be loaded: ${err.message}`;
      return;
    }
    if (ticket !== listing) return;
    count = page.total ?? 0;
    if (offset >= count && count > 0) {
      offset = Math.max(0, Math.floor((count - 1) / PAGE) * PAGE);
      list();
      return;
    }
    keepChoices($("history-filter-script"), page.scripts ?? [], "any");
    keepChoices($("history-filter-user"), page.users ?? [], "anyone");
    tbody.replaceChildren(...(page.runs ?? []).map(row));
    empty.hidden = count > 0;
    empty.textContent = Object.keys(criteria()).length
      ? "No run matches these filters."
      : "No runs yet. Runs started from the Run panel are listed here.";
    total.textContent = count === 1 ? "1 run" : `${count.toLocaleString()} runs`;
    pageLabel.textContent = count ? `${offset + 1}–${Math.min(offset + PAGE, count)} of ${count}` : "";
    prev.disabled = offset === 0;
    next.disabled = offset + PAGE >= count;
  }

  function row(run) {
    const tr = el("tr", "history-row");
    tr.dataset.testid = "history-row";
    tr.dataset.run = run.id;
    tr.tabIndex = 0;
    tr.title = "open this run";
    if (run.id === openRun) tr.classList.add("selected");
    const state = el("span", `badge ${stateClass(run.state)}`, run.state);
    state.dataset.testid = "history-state";
    const ended = run.ended ?? (feed.run === run.id && feed.active ? feed.now() : null);
    const pick = el("td", "pick");
    const box = el("input");
    box.type = "checkbox";
    box.checked = picked.has(run.id);
    box.dataset.testid = "history-pick";
    box.setAttribute("aria-label", `compare run ${run.id}`);
    box.addEventListener("click", (ev) => ev.stopPropagation());
    box.addEventListener("change", () => {
      if (box.checked) picked.add(run.id);
      else picked.delete(run.id);
      paintCompare();
    });
    pick.append(box);
    const cells = [
      pick,
      el("td", "num mono", String(run.id)),
      el("td", "", run.script),
      el("td"),
      el("td", "", formatTime(run.started)),
      el("td", "num", ended && run.started ? formatDuration(ended - run.started) : "–"),
      el("td", "num mono", formatExit(run.exit_code)),
      el("td", "muted", run.user ?? "–"),
    ];
    cells[3].append(state);
    if (run.error) cells[3].title = run.error;
    tr.append(...cells);
    tr.addEventListener("click", () => navigate(String(run.id)));
    tr.addEventListener("keydown", (ev) => ev.target === tr && ev.key === "Enter" && navigate(String(run.id)));
    tr.setAttribute("aria-label", `run ${run.id}, ${run.script}, ${run.state}: open`);
    return tr;
  }

  async function open(id) {
    openRun = id;
    for (const tr of tbody.children) tr.classList.toggle("selected", Number(tr.dataset.run) === id);
    closeCharts();
    detail.hidden = false;
    detail.replaceChildren(el("div", "card", `Loading run ${id}…`));
    let info;
    try {
      info = await getJson(`api/runs/${id}`);
    } catch (err) {
      if (openRun === id) detail.replaceChildren(el("div", "card empty", `Run ${id} could not be loaded: ${err.message}`));
      return;
    }
    if (openRun !== id) return;
    renderDetail(info);
    detail.scrollIntoView({ block: "start" });
    loadPlots(id);
    loadLog(id, info.lines);
  }

  function renderDetail(info) {
    const id = info.id;
    const head = el("div", "card history-summary");
    head.innerHTML = `
      <header>
        <h2></h2>
        <span class="badge" data-testid="history-detail-state"></span>
        <span class="spacer"></span>
        <div class="toolbar">
          <a class="btn" data-testid="history-csv" download>Data CSV</a>
          <a class="btn" data-testid="history-jsonl" download>Data JSONL</a>
          <button type="button" class="btn" data-testid="history-log-download">Log .txt</button>
          <button type="button" class="btn danger" data-testid="history-delete">Delete</button>
          <button type="button" class="btn" data-testid="history-close" aria-label="Close">Close</button>
        </div>
      </header>
      <dl class="run-facts history-facts"></dl>
      <div class="run-error" hidden></div>
      <div class="history-columns">
        <section><h3>Configuration</h3><div data-testid="history-config"></div></section>
        <section><h3>Results</h3><div data-testid="history-results"></div></section>
      </div>`;
    head.dataset.testid = "history-run";
    head.dataset.run = id;
    head.querySelector("h2").textContent = `Run ${id} · ${info.script}`;
    const badge = head.querySelector('[data-testid="history-detail-state"]');
    badge.textContent = info.state;
    badge.classList.add(...[stateClass(info.state)].filter(Boolean));
    const csv = head.querySelector('[data-testid="history-csv"]');
    csv.href = apiUrl(`api/runs/${id}/data.csv`);
    csv.download = `run-${id}-data.csv`;
    const jsonl = head.querySelector('[data-testid="history-jsonl"]');
    jsonl.href = apiUrl(`api/runs/${id}/data.jsonl`);
    jsonl.download = `run-${id}-data.jsonl`;
    facts(head.querySelector("dl"), [
      ["Started", formatTime(info.started)],
      ["Ended", formatTime(info.ended)],
      ["Duration", info.ended && info.started ? formatDuration(info.ended - info.started) : "–"],
      ["Exit code", formatExit(info.exit_code)],
      ["Started by", info.user ?? "–"],
    ]);
    const command = el("p", "mono muted history-command",
      Array.isArray(info.command) ? info.command.join(" ") : (info.command ?? ""));
    command.title = "the command this run started";
    head.querySelector("dl").after(command);
    const error = head.querySelector(".run-error");
    error.hidden = !info.error;
    error.textContent = info.error ?? "";
    keyValues(head.querySelector('[data-testid="history-config"]'), flatten(info.config ?? {}),
      "Run with an empty configuration.");
    keyValues(head.querySelector('[data-testid="history-results"]'), flatten(info.results ?? {}),
      "No results reported.");
    head.querySelector('[data-testid="history-close"]').addEventListener("click", () => navigate(""));
    head.querySelector('[data-testid="history-log-download"]').addEventListener("click", () => saveLog(id));
    confirmButton(head.querySelector('[data-testid="history-delete"]'), () => `Delete run ${id}?`, () => remove(id));

    const plots = el("div", "card history-plots");
    plots.innerHTML = `<header><h2>Plots</h2><span class="muted" data-testid="history-plots-note">loading…</span></header>
      <div class="plots-grid" data-testid="history-plots"></div>`;
    const log = el("div", "card history-log");
    log.innerHTML = `<header><h2>Log</h2><span class="muted" data-testid="history-log-note">loading…</span></header>
      <div class="log-view history-log-view"><div class="log-lines" data-testid="history-log"></div></div>`;
    detail.replaceChildren(head, plots, log);
  }

  async function loadPlots(id) {
    const grid = detail.querySelector('[data-testid="history-plots"]');
    const note = detail.querySelector('[data-testid="history-plots-note"]');
    try {
      const body = await getJson(`api/runs/${id}/data`);
      if (openRun !== id) return;
      const series = Object.entries(body?.series ?? {});
      charts.push(...staticCharts(grid, body?.series ?? {}));
      const points = series.reduce((sum, [, { x }]) => sum + x.length, 0);
      note.textContent = series.length
        ? `${series.length} series · ${points.toLocaleString()} points`
        : "this run plotted nothing";
    } catch (err) {
      if (openRun === id) note.textContent = `could not load the data: ${err.message}`;
    }
  }

  async function loadLog(id, total) {
    const box = detail.querySelector('[data-testid="history-log"]');
    const note = detail.querySelector('[data-testid="history-log-note"]');
    try {
      const lines = await fetchLog(id, 0, LOG_SHOWN);
      if (openRun !== id) return;
      const fragment = document.createDocumentFragment();
      for (const line of lines) {
        const div = logRow(line);
        div.dataset.testid = "history-log-line";
        fragment.append(div);
      }
      box.replaceChildren(fragment);
      const all = total ?? lines.length;
      note.textContent = all > lines.length
        ? `first ${lines.length.toLocaleString()} of ${all.toLocaleString()} lines · Log .txt has them all`
        : `${lines.length.toLocaleString()} lines`;
      if (!lines.length) box.replaceChildren(el("p", "empty", "This run printed nothing."));
    } catch (err) {
      if (openRun === id) note.textContent = `could not load the log: ${err.message}`;
    }
  }

  async function compare(ids) {
    openRun = null;
    closeCharts();
    for (const tr of tbody.children) tr.classList.remove("selected");
    detail.hidden = false;
    detail.replaceChildren(el("div", "card", `Comparing runs ${ids.join(", ")}…`));
    let infos;
    let datas;
    try {
      infos = await Promise.all(ids.map((id) => getJson(`api/runs/${id}`)));
      datas = await Promise.all(ids.map((id) => getJson(`api/runs/${id}/data`)));
    } catch (err) {
      detail.replaceChildren(el("div", "card empty", `The runs could not be loaded: ${err.message}`));
      return;
    }
    const head = el("div", "card history-compare");
    head.dataset.testid = "history-compare-view";
    head.innerHTML = `<header><h2></h2><span class="spacer"></span>
      <button type="button" class="btn" data-testid="history-close">Close</button></header>
      <h3>Configuration</h3><div class="table-wrap" data-testid="history-config-diff"></div>`;
    head.querySelector("h2").textContent = `Comparing runs ${ids.join(", ")}`;
    head.querySelector('[data-testid="history-close"]').addEventListener("click", () => navigate(""));
    head.querySelector('[data-testid="history-config-diff"]').append(configDiff(infos));
    const plots = el("div", "card history-plots");
    plots.innerHTML = `<header><h2>Plots, overlaid</h2><span class="muted" data-testid="history-plots-note"></span></header>
      <div class="plots-grid" data-testid="history-plots"></div>`;
    // One chart per series name, a line per run: "run 3 · classifier".
    const grid = plots.querySelector('[data-testid="history-plots"]');
    const byName = new Map();
    datas.forEach((body, i) => {
      for (const [name, s] of Object.entries(body?.series ?? {})) {
        if (!byName.has(name)) byName.set(name, {});
        byName.get(name)[`run ${ids[i]} · ${name}`] = { ...s, chart: name };
      }
    });
    for (const [, series] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      charts.push(...staticCharts(grid, series));
    }
    plots.querySelector('[data-testid="history-plots-note"]').textContent = byName.size
      ? `${byName.size} series` : "these runs plotted nothing";
    detail.replaceChildren(head, plots);
  }

  async function saveLog(id) {
    try {
      downloadText(`run-${id}-log.txt`, logText(await fetchLog(id)));
    } catch (err) {
      toast(`History: the log could not be downloaded: ${err.message}`, "err");
    }
  }

  async function remove(id) {
    try {
      const reply = await fetch(apiUrl(`api/runs/${id}`), { method: "DELETE" });
      if (!reply.ok) throw new Error(await errorText(reply));
      toast(`Deleted run ${id}`, "ok");
      if (openRun === id) navigate("", { replace: true });
      list();
    } catch (err) {
      toast(`History: run ${id} could not be deleted: ${err.message}`, "err");
    }
  }

  function close() {
    openRun = null;
    closeCharts();
    detail.hidden = true;
    detail.replaceChildren();
    for (const tr of tbody.children) tr.classList.remove("selected");
  }

  function closeCharts() {
    for (const chart of charts) chart.destroy();
    charts = [];
  }

  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(list, 250);
  }

  let comparing = null;
  compareBtn.addEventListener("click", () => {
    if (picked.size >= 2) navigate(`compare/${[...picked].sort((a, b) => a - b).join(",")}`);
  });
  filters.addEventListener("change", () => { offset = 0; list(); });
  filters.addEventListener("reset", () => setTimeout(() => { offset = 0; list(); }));
  filters.addEventListener("submit", (ev) => ev.preventDefault());
  paintCompare();
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); list(); });
  next.addEventListener("click", () => { offset += PAGE; list(); });
  $("history-refresh").addEventListener("click", list);

  let lastState = null;
  const offStatus = feed.on("status", (status) => {
    const key = `${status.run}:${status.state}`;
    if (key !== lastState) {
      lastState = key;
      refreshSoon();
    }
  });
  const offState = deck.on("state", (state) => state === "open" && refreshSoon());
  list();

  return {
    /** `sub` is the open run's id, "compare/3,5", or "" for none. */
    shown(sub) {
      const many = /^compare\/(\d+(?:,\d+)+)$/.exec(sub);
      if (many) {
        const ids = [...new Set(many[1].split(",").map(Number))].slice(0, 8);
        if (sub !== comparing) {
          comparing = sub;
          compare(ids);
        }
        return;
      }
      comparing = null;
      const id = /^\d+$/.test(sub) ? Number(sub) : null;
      if (id === null) close();
      else if (id !== openRun) open(id);
    },
    cleanup() {
      offStatus();
      offState();
      clearTimeout(refreshTimer);
      closeCharts();
    },
  };
}

/** A table of every configuration key (rows) by run (columns); differing rows marked. */
function configDiff(infos) {
  const flat = infos.map((info) => new Map(flatten(info.config ?? {})));
  const keys = [...new Set(flat.flatMap((m) => [...m.keys()]))].sort();
  const table = el("table", "data compact config-diff");
  const head = el("tr");
  head.append(el("th", "", "key"), ...infos.map((info) => el("th", "mono", `run ${info.id}`)));
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  const show = (v) => (v === undefined ? "–" : typeof v === "string" ? v : JSON.stringify(v));
  for (const key of keys) {
    const values = flat.map((m) => show(m.get(key)));
    const tr = el("tr");
    tr.dataset.testid = "config-diff-row";
    tr.dataset.key = key;
    const differs = new Set(values).size > 1;
    tr.dataset.differs = String(differs);
    if (differs) tr.classList.add("differs");
    tr.append(el("th", "mono", key), ...values.map((v) => el("td", "mono", v)));
    body.append(tr);
  }
  if (!keys.length) {
    const tr = el("tr");
    const td = el("td", "muted", "These runs had empty configurations.");
    td.colSpan = infos.length + 1;
    tr.append(td);
    body.append(tr);
  }
  table.append(thead, body);
  return table;
}

function facts(dl, pairs) {
  for (const [name, value] of pairs) {
    const div = el("div");
    div.append(el("dt", "", name), el("dd", "", String(value)));
    dl.append(div);
  }
}

function keyValues(box, pairs, none) {
  if (!pairs.length) {
    box.replaceChildren(el("p", "muted", none));
    return;
  }
  const table = el("table", "data compact");
  const body = el("tbody");
  for (const [key, value] of pairs) {
    const tr = el("tr");
    tr.append(el("th", "mono", key), el("td", "mono", typeof value === "string" ? value : JSON.stringify(value)));
    body.append(tr);
  }
  table.append(body);
  box.replaceChildren(table);
}

/** {a: {b: 1}, c: 2} → [["a.b", 1], ["c", 2]]. */
function flatten(value, prefix = "") {
  const out = [];
  for (const [key, item] of Object.entries(value)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (item !== null && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length) {
      out.push(...flatten(item, name));
    } else {
      out.push([name, item]);
    }
  }
  return out;
}
