/**
 * State shared by the run panels (Run, Log, Plots, Settings, History).
 *
 * runFeed(deck) → the one feed of a connection (created on first use):
 *     feed.status      the last run/status message ({state, run, script, started, ...})
 *     feed.run         the current run id: the highest run id seen on any run channel
 *     feed.active      true while the current run is starting, running or stopping
 *     feed.on("status", fn(status)) / feed.on("run", fn(runId)) → off()
 *     feed.accept(runId) → true when a message of runId belongs to the current run. A newer
 *         id makes it current first (and "run" listeners reset their views); an older one
 *         is from a run that has ended since: ignore it.
 *     feed.now()       the server's clock in epoch seconds (pushes carry the server's time,
 *                      so elapsed times do not depend on the browser's clock being right)
 *
 * Run ids only grow, so "the highest id seen" is the current run whatever order the
 * channels replay in after a reload (each panel subscribes with since=0 and the hub
 * replays the channel's history, older runs included).
 *
 * runConfig — the configuration the next Run passes to the script, kept by the Settings
 * panel: runConfig.get() → { config, label, errors } (config null = the project's
 * defaults), runConfig.set(value), runConfig.on(fn) → off().
 *
 * runLabel(span, feed) → off(): keeps `span` saying which run the panel shows.
 *
 * Helpers: stateClass(state), ACTIVE_STATES, formatExit(code), fetchLog(runId, after,
 * upto), feedLines(...), logRow(line), logText(lines). The generic ones (el, getJson,
 * formatTime, ...) are in ../kit.js.
 */

import { apiUrl, clock, el, getJson } from "../kit.js";

export const ACTIVE_STATES = new Set(["starting", "running", "stopping"]);

const STATE_CLASS = {
  idle: "idle",
  starting: "warn",
  running: "",
  stopping: "warn",
  finished: "ok",
  failed: "err",
  stopped: "warn",
  interrupted: "err",
};

/** The .badge modifier for a run state ("" = the accent colour of a running run). */
export function stateClass(state) {
  return STATE_CLASS[state] ?? "idle";
}

const feeds = new WeakMap();

/** The shared feed of `deck`; see the module documentation. */
export function runFeed(deck) {
  let feed = feeds.get(deck);
  if (!feed) {
    feed = new RunFeed(deck);
    feeds.set(deck, feed);
  }
  return feed;
}

class RunFeed {
  constructor(deck) {
    this.deck = deck;
    this.status = { state: "idle", run: null, script: null, started: null, ended: null,
                    exit_code: null, error: null, user: null };
    this.run = null;
    this.offset = null; // server clock minus browser clock, seconds
    this._listeners = { status: new Set(), run: new Set() };
    deck.subscribe("run/status", (data, push) => this._onStatus(data, push), { since: 0 });
    this._askTheTime();
  }

  get active() {
    return ACTIVE_STATES.has(this.status.state);
  }

  on(event, fn) {
    this._listeners[event].add(fn);
    return () => this._listeners[event].delete(fn);
  }

  now() {
    return Date.now() / 1000 + (this.offset ?? 0);
  }

  /** Note the server's time of a push (see now()). A push is stamped when it was
   * published, so a replayed one is older than the server's clock: the largest
   * difference seen is the closest to the clocks' true offset. */
  clock(push) {
    if (push?.t) this._offer(push.t);
  }

  _offer(serverTime) {
    const offset = serverTime - Date.now() / 1000;
    if (this.offset === null || offset > this.offset) this.offset = offset;
  }

  // The Date header of any reply is the server's clock (to the second): enough to
  // start from when the only pushes so far are old replays.
  async _askTheTime() {
    try {
      const reply = await fetch(apiUrl("healthz"), { cache: "no-store" });
      const date = Date.parse(reply.headers.get("Date") ?? "");
      if (Number.isFinite(date)) this._offer(date / 1000);
    } catch {
      // the browser's own clock will do
    }
  }

  accept(runId) {
    if (runId === null || runId === undefined) return false;
    if (this.run === null || runId > this.run) {
      this.run = runId;
      this._emit("run", runId);
    }
    return runId === this.run;
  }

  _onStatus(data, push) {
    if (!data || typeof data !== "object") return;
    this.clock(push);
    if (data.run !== null && data.run !== undefined) {
      if (this.run !== null && data.run < this.run) return; // a replayed status of an older run
      const before = this.status;
      const reused = data.run === this.run && before.run === data.run && before.started && data.started
        && data.started !== before.started;
      this.accept(data.run);
      // The same id with another start: the newest run was deleted and its id given again.
      if (reused) this._emit("run", data.run);
    }
    this.status = { ...this.status, ...data };
    this._emit("status", this.status);
  }

  _emit(event, value) {
    for (const fn of [...this._listeners[event]]) {
      try {
        fn(value);
      } catch (err) {
        console.error(`labdeck: a run ${event} listener failed`, err);
      }
    }
  }
}

// -- the configuration of the next run ----------------------------------------------

const configListeners = new Set();
let configValue = { config: null, label: "project defaults", errors: [] };

export const runConfig = {
  get() {
    return configValue;
  },
  set(value) {
    configValue = { config: null, label: "", errors: [], ...value };
    for (const fn of [...configListeners]) fn(configValue);
  },
  on(fn) {
    configListeners.add(fn);
    return () => configListeners.delete(fn);
  },
};

// -- run-specific helpers ------------------------------------------------------------

const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM" };

/** An exit code for people: "0", "1", "-2 (SIGINT)" for a process ended by a signal. */
export function formatExit(code) {
  if (code === null || code === undefined) return "–";
  if (code < 0 && SIGNALS[-code]) return `${code} (${SIGNALS[-code]})`;
  return String(code);
}

/** Keep `span` saying which run is shown ("run 12", "no run yet"); returns off(). */
export function runLabel(span, feed) {
  const show = (runId) => {
    span.textContent = runId === null || runId === undefined ? "no run yet" : `run ${runId}`;
  };
  show(feed.run);
  return feed.on("run", show);
}

/** Fetch every log line of a run after line `after`, page by page. */
export async function fetchLog(runId, after = 0, upto = Infinity) {
  const lines = [];
  const page = 5000;
  let next = after;
  while (next < upto) {
    const limit = Number.isFinite(upto) ? Math.min(page, upto - next) : page;
    const body = await getJson(`api/runs/${runId}/log`, { after: next, limit });
    const got = body?.lines ?? [];
    if (!got.length) break;
    lines.push(...got);
    next = got[got.length - 1].n;
  }
  return lines;
}

/**
 * The lines of one run, complete and in order, from live pushes plus the server's copy.
 *
 * lines.take(array) accepts lines in any order, with duplicates; onLines(fresh) gets each
 * line exactly once, in n order. A line after a hole waits while the hole is fetched from
 * GET api/runs/{id}/log; if that fails, onFailure(err, from, to) is told and the hole is
 * skipped. lines.catchUp(delayMs) fetches whatever the server has beyond the last line
 * (after a gap notice, or when a reload finds the channel no longer holds the run's
 * start). lines.reset(runId) starts over for another run; lines.count() = lines given.
 */
export function feedLines({ feed, onLines, onFailure }) {
  let runId = null;
  let expected = 1;
  let pending = new Map(); // n -> line, waiting for a hole before it to fill
  let busy = false;
  let generation = 0; // bumped by reset: answers for an earlier run are dropped
  let timer = 0;

  function reset(id) {
    runId = id;
    expected = 1;
    pending = new Map();
    generation += 1;
    clearTimeout(timer);
  }

  function take(got) {
    const fresh = [];
    for (const line of got) {
      if (!line || typeof line.n !== "number" || line.n < expected) continue;
      if (line.n === expected) {
        fresh.push(line);
        expected += 1;
      } else if (!pending.has(line.n)) {
        pending.set(line.n, line);
      }
      drain(fresh);
    }
    drain(fresh);
    if (fresh.length) onLines(fresh);
    if (pending.size) fillHoles();
  }

  function drain(fresh) {
    while (pending.size && pending.has(expected)) {
      fresh.push(pending.get(expected));
      pending.delete(expected);
      expected += 1;
    }
  }

  async function fillHoles() {
    if (busy || runId === null) return;
    busy = true;
    const gen = generation;
    try {
      let stalls = 0;
      while (gen === generation && pending.size) {
        let first = Infinity;
        for (const n of pending.keys()) if (n < first) first = n;
        const from = expected;
        let failure = null;
        try {
          const got = await fetchLog(runId, from - 1, first - 1);
          if (gen === generation) take(got);
        } catch (err) {
          failure = err;
        }
        if (gen !== generation) break;
        if (expected > from) {
          stalls = 0;
          continue;
        }
        if (!failure && ++stalls < 3) {
          await new Promise((resolve) => setTimeout(resolve, 300)); // the store may lag a little
          continue;
        }
        // Go on without them rather than hold the log back for good.
        onFailure?.(failure ?? new Error("the server does not have them"), from, first - 1);
        stalls = 0;
        expected = first;
        take([]);
      }
    } finally {
      busy = false;
      if (gen !== generation && pending.size) fillHoles(); // holes of the run that came meanwhile
    }
  }

  function catchUp(delay = 0) {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const id = runId;
      if (id === null || feed.run !== id) return;
      const gen = generation;
      try {
        const got = await fetchLog(id, expected - 1);
        if (gen === generation) take(got);
      } catch (err) {
        console.warn(`labdeck: the log of run ${id} could not be completed from the server`, err);
      }
    }, delay);
  }

  return { take, reset, catchUp, count: () => expected - 1 };
}

/** One log line as a row: number, time, text; classed by stream (stderr, labdeck). */
export function logRow(line) {
  const div = el("div", `log-line ${line.stream}`);
  div.dataset.testid = "log-line";
  div.dataset.n = line.n;
  div.dataset.stream = line.stream;
  div.append(el("span", "ln", String(line.n)), el("span", "lt", clock(line.t)), el("span", "lx", line.text));
  return div;
}

/** A log as a text file: line number, UTC time, stream, text. */
export function logText(lines) {
  return lines.map((line) => {
    const when = new Date(line.t * 1000).toISOString().replace("T", " ").replace("Z", "");
    return `${String(line.n).padStart(6)}  ${when}  ${line.stream.padEnd(7)} ${line.text}`;
  }).join("\n") + "\n";
}
