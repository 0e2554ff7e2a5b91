/**
 * Run: pick a script, run it with the Settings panel's configuration, stop it, and follow
 * its state, progress, elapsed time and results.
 *
 * State comes from run/status (shared through runstate.js), progress from run/progress
 * and results from run/result, each replayed from the start of the channel's history so
 * a reload mid-run shows the same as before. Run is disabled while a run is active: the
 * server runs one script at a time.
 */

import { el, fill, formatDuration, formatTime } from "../kit.js";
import { prefs } from "../prefs.js";
import { ACTIVE_STATES, formatExit, runConfig, runFeed, stateClass } from "./runstate.js";

const SCRIPT_KEY = "run.script";

export default { mount: (root, ctx) => mountRun(root, ctx) };

/**
 * The run card in `root`: the Run panel's, and (compact: without the facts a glance does
 * not need) the Overview's. Returns its cleanup.
 */
export function mountRun(root, { deck, toast }, { compact = false } = {}) {
  const feed = runFeed(deck);
  const uid = `run-${Math.random().toString(36).slice(2, 8)}`;
  fill(root, `
    <div class="card run-card${compact ? " compact" : ""}">
      <header>
        <h2>${compact ? "Run" : "Run a script"}</h2>
        <span class="spacer"></span>
        <span class="badge idle run-state" data-testid="run-state">idle</span>
      </header>
      <div class="toolbar run-controls">
        <label for="${uid}-script" class="muted">Script</label>
        <select id="${uid}-script" data-testid="run-script" disabled><option>loading…</option></select>
        <button type="button" class="btn primary" data-testid="run-start" disabled>▶ Run</button>
        <button type="button" class="btn danger" data-testid="run-stop" disabled>■ Stop</button>
        <span class="spacer"></span>
        <span class="muted run-config">Configuration: <a href="#settings" data-testid="run-config">project defaults</a></span>
      </div>
      <p class="run-blocked" data-testid="run-blocked" role="status" hidden></p>
      <div class="run-progress" data-testid="run-progress-box">
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"
             aria-label="progress of the run" data-testid="run-progress"><div class="progress-bar"></div></div>
        <div class="run-progress-text">
          <span class="mono" data-testid="run-progress-percent">–</span>
          <span class="muted" data-testid="run-progress-message"></span>
        </div>
      </div>
      <dl class="run-facts">
        <div><dt>Run</dt><dd class="mono" data-testid="run-id">–</dd></div>
        <div><dt>Script</dt><dd data-testid="run-script-name">–</dd></div>
        <div${compact ? " hidden" : ""}><dt>Started</dt><dd data-testid="run-started">–</dd></div>
        <div><dt>Elapsed</dt><dd class="mono" data-testid="run-elapsed">–</dd></div>
        <div${compact ? " hidden" : ""}><dt>Exit code</dt><dd class="mono" data-testid="run-exit">–</dd></div>
        <div${compact ? " hidden" : ""}><dt>Started by</dt><dd data-testid="run-user">–</dd></div>
      </dl>
      <div class="run-error" data-testid="run-error" role="alert" hidden></div>
    </div>
    <div class="card" data-testid="run-results-card" hidden${compact ? " data-compact" : ""}>
      <header><h2>Results</h2><span class="muted">reported by the script with labdeck.script.result()</span></header>
      <div class="table-wrap">
        <table class="data compact"><tbody data-testid="run-results"></tbody></table>
      </div>
    </div>`);
  // The Overview's copy answers to "overview-run-..." test ids: only the Run panel's are "run-...".
  const nodes = new Map([...root.querySelectorAll("[data-testid]")].map((node) => [node.dataset.testid, node]));
  const $ = (testid) => nodes.get(testid);
  if (compact) for (const [testid, node] of nodes) node.dataset.testid = `overview-${testid}`;
  const picker = $("run-script");
  const runBtn = $("run-start");
  const stopBtn = $("run-stop");
  const badge = $("run-state");
  const bar = $("run-progress");
  const percent = $("run-progress-percent");
  const message = $("run-progress-message");
  const errorBox = $("run-error");
  const blocked = $("run-blocked");
  const elapsed = $("run-elapsed");
  const configLink = $("run-config");
  const resultsCard = $("run-results-card");
  const results = $("run-results");

  let scriptsLoaded = false;
  let scriptNames = new Set();
  let requesting = false; // a run or stop request is on its way
  let progress = null;
  const resultRows = new Map(); // key -> value cell

  let loadingScripts = false;

  async function loadScripts() {
    if (loadingScripts) return;
    loadingScripts = true;
    try {
      const scripts = await deck.call(["runner", "scripts"]);
      scriptsLoaded = true;
      picker.replaceChildren();
      for (const { name, command } of scripts) {
        const option = el("option", "", name);
        option.value = name;
        option.title = Array.isArray(command) ? command.join(" ") : String(command ?? "");
        picker.append(option);
      }
      if (!scripts.length) picker.append(el("option", "", "no scripts configured"));
      await prefs.ready;
      const wanted = prefs.get(SCRIPT_KEY);
      const names = scripts.map((s) => s.name);
      scriptNames = new Set(names);
      picker.value = names.includes(wanted) ? wanted : names.includes("main") ? "main" : names[0] ?? "";
    } catch (err) {
      picker.replaceChildren(el("option", "", "scripts unavailable"));
      if (err.type !== "Disconnected") toast(`Run: cannot list scripts: ${err.message}`, "err");
    } finally {
      loadingScripts = false;
    }
    paint();
  }

  async function start() {
    const name = picker.value;
    const { config, errors } = runConfig.get();
    if (errors.length) return; // the button says why it is disabled
    requesting = true;
    paint();
    try {
      const runId = await deck.call(["runner", "run"], [name, config]);
      prefs.set(SCRIPT_KEY, name);
      // run() returns once the process exists or failed to start (a script file gone
      // since, a command that is not there): only the first is "Started".
      const status = await deck.call(["runner", "status"]);
      if (status.run === runId && status.state === "failed") {
        toast(`Run ${runId} of ${name} could not start: ${status.error ?? "see the log"}`, "err");
      } else {
        toast(`Started ${name} (run ${runId})`, "ok");
      }
    } catch (err) {
      toast(`Run: ${err.message}`, "err");
    } finally {
      requesting = false;
      paint();
    }
  }

  async function stop() {
    requesting = true;
    paint();
    try {
      await deck.call(["runner", "stop"]);
    } catch (err) {
      toast(`Stop: ${err.message}`, "err");
    } finally {
      requesting = false;
      paint();
    }
  }

  function paint() {
    const s = feed.status;
    const active = ACTIVE_STATES.has(s.state);
    badge.textContent = s.state;
    badge.className = `badge run-state ${stateClass(s.state)}`;
    badge.dataset.state = s.state;
    const chosen = scriptNames.has(picker.value);
    const { errors } = runConfig.get();
    runBtn.disabled = active || requesting || !chosen || errors.length > 0;
    blocked.hidden = !errors.length || active;
    blocked.replaceChildren();
    if (errors.length) {
      const fix = el("a", "", "fix it in Settings");
      fix.href = "#settings";
      blocked.append(`Run is disabled: the configuration is not valid (${errors[0]}) — `, fix);
      runBtn.title = `the configuration is not valid: ${errors[0]}`;
    } else {
      runBtn.title = "";
    }
    stopBtn.disabled = !active || requesting;
    stopBtn.textContent = s.state === "stopping" ? "■ Stopping…" : "■ Stop";
    picker.disabled = active || !scriptNames.size;
    $("run-id").textContent = s.run ?? "–";
    $("run-script-name").textContent = s.script ?? "–";
    $("run-started").textContent = formatTime(s.started);
    $("run-exit").textContent = formatExit(s.exit_code);
    $("run-user").textContent = s.user ?? "–";
    errorBox.hidden = !(s.error && (s.state === "failed" || s.state === "interrupted"));
    errorBox.textContent = s.error ?? "";
    paintProgress();
    tick();
  }

  function paintProgress() {
    const p = progress;
    const fraction = p ? Math.min(1, Math.max(0, Number(p.fraction) || 0)) : 0;
    const finished = feed.status.state === "finished";
    const shown = finished && p ? 1 : fraction;
    bar.firstElementChild.style.width = `${(shown * 100).toFixed(1)}%`;
    bar.setAttribute("aria-valuenow", (shown * 100).toFixed(0));
    bar.dataset.state = feed.status.state;
    percent.textContent = p ? `${Math.round(shown * 100)} %` : "–";
    message.textContent = p?.message ?? (feed.active ? "" : "no progress reported");
  }

  function tick() {
    const s = feed.status;
    if (!s.started) {
      elapsed.textContent = "–";
      return;
    }
    const end = s.ended ?? (ACTIVE_STATES.has(s.state) ? feed.now() : s.started);
    elapsed.textContent = formatDuration(end - s.started);
  }

  function onProgress(data, push) {
    if (!data || !feed.accept(data.run)) return;
    feed.clock(push);
    progress = data;
    paintProgress();
  }

  function onResult(data) {
    if (!data || !feed.accept(data.run) || typeof data.key !== "string") return;
    let cell = resultRows.get(data.key);
    if (!cell) {
      const tr = el("tr");
      tr.dataset.testid = "run-result";
      tr.append(el("th", "mono", data.key));
      cell = el("td", "mono");
      tr.append(cell);
      results.append(tr);
      resultRows.set(data.key, cell);
    }
    cell.textContent = typeof data.value === "string" ? data.value : JSON.stringify(data.value);
    resultsCard.hidden = false;
  }

  function newRun() {
    progress = null;
    resultRows.clear();
    results.replaceChildren();
    resultsCard.hidden = true;
    paint();
  }

  function showConfig({ label, errors }) {
    configLink.textContent = errors.length ? `${label} (needs fixing)` : label;
    configLink.classList.toggle("invalid", errors.length > 0);
    paint();
  }

  runBtn.addEventListener("click", start);
  stopBtn.addEventListener("click", stop);
  picker.addEventListener("change", paint);

  const offs = [
    feed.on("status", paint),
    feed.on("run", newRun),
    runConfig.on(showConfig),
    deck.on("state", (state) => state === "open" && !scriptsLoaded && loadScripts()),
  ];
  const unsubscribes = [
    deck.subscribe("run/progress", onProgress, { since: 0 }),
    deck.subscribe("run/result", onResult, { since: 0 }),
  ];
  const ticker = setInterval(tick, 500);
  showConfig(runConfig.get());
  loadScripts();
  paint();

  return () => {
    for (const off of offs) off();
    for (const unsubscribe of unsubscribes) unsubscribe();
    clearInterval(ticker);
  };
}
