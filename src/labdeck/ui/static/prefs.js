/**
 * The user's dashboard preferences, kept by the server (GET/PUT api/prefs): they follow a
 * logged-in user from browser to browser; in open mode each browser has its own.
 *
 *   import { prefs } from "./prefs.js";
 *   await prefs.ready;                         // the server's copy is in (or could not be had)
 *   prefs.get("overview.cards", null)          // the value, or the fallback
 *   prefs.set("log.follow", false)             // now here, on the server shortly after
 *   prefs.on("overview.cards", (value) => ...) // → off(); also for changes made in this page
 *
 * Writes of one key are coalesced (the last value within WRITE_MS is sent). When the
 * server cannot be reached the values still hold for this page, and a failed write is
 * reported once on the console; preferences are a convenience, never a reason to fail.
 */

import { apiUrl } from "./kit.js";

const WRITE_MS = 400;

class Prefs {
  constructor() {
    this.values = new Map();
    this.listeners = new Map();
    this.timers = new Map();
    this.owner = null;
    this.ready = this.load();
  }

  async load() {
    try {
      const reply = await fetch(apiUrl("api/prefs"), { cache: "no-store" });
      if (!reply.ok) return;
      const body = await reply.json();
      this.owner = body.owner ?? null;
      for (const [key, value] of Object.entries(body.prefs ?? {})) {
        if (!this.values.has(key)) this.values.set(key, value); // a set() made meanwhile wins
      }
    } catch {
      // the server is away: defaults until it answers a write
    }
  }

  get(key, fallback = null) {
    return this.values.has(key) ? this.values.get(key) : fallback;
  }

  set(key, value) {
    this.values.set(key, value);
    for (const fn of [...(this.listeners.get(key) ?? [])]) fn(value);
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => this.write(key), WRITE_MS));
  }

  async write(key) {
    this.timers.delete(key);
    const value = this.values.get(key);
    try {
      const reply = await fetch(apiUrl(`api/prefs/${encodeURIComponent(key)}`), {
        method: "PUT",
        keepalive: true, // a write made just before a reload still lands
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(value ?? null),
      });
      if (!reply.ok) console.warn(`labdeck: preference ${key} not saved: ${reply.status}`);
    } catch (err) {
      console.warn(`labdeck: preference ${key} not saved`, err);
    }
  }

  /** Send every write still waiting (before the page goes). */
  flush() {
    for (const key of [...this.timers.keys()]) {
      clearTimeout(this.timers.get(key));
      this.write(key);
    }
  }

  on(key, fn) {
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key).add(fn);
    return () => this.listeners.get(key)?.delete(fn);
  }
}

export const prefs = new Prefs();
