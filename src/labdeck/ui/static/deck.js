/**
 * deck.js — the JavaScript client of labdeck's wire protocol (a plain ES module).
 *
 *     import { connect } from "./deck.js";
 *     const deck = connect();                       // ws(s)://<page base>/ws
 *     deck.on("state", (s) => console.log(s));      // connecting | open | reconnecting | closed
 *     const stop = deck.subscribe("run/log", (data, push) => show(push.seq, data),
 *                                 { since: 0, onGap: ({ from, to }) => warn(from, to) });
 *     await deck.publish("lab/notes", { text: "subject in scanner" });
 *     await deck.obj.sample.test_sum(4, 5);         // 9
 *     stop();                                        // unsubscribe
 *
 * API
 * ---
 * connect(url?, options?) → Deck
 *     url defaults to new URL("ws", document.baseURI) with the ws/wss scheme, so the
 *     client works under a base path. options: { timeout } (default request timeout, ms).
 * deck.request(op, fields = {}, { timeout = 10000 } = {}) → Promise<result>
 *     Sends { id, op, ...fields }. Rejects with a DeckError whose .type and .message are
 *     the server's error, or type "Timeout" when no reply came in time, or "Disconnected"
 *     when the connection dropped after the request was sent (it may or may not have run).
 *     Requests made while the connection is down wait for it (their timeout runs).
 * deck.subscribe(ch, handler, { since, onGap } = {}) → unsubscribe()
 *     handler(data, push) gets every push of ch (push = { ch, seq, t, data }) exactly once,
 *     in seq order, across reconnects. Without since the current (retained) value comes
 *     first; with since, every message after seq `since` that history still holds.
 *     onGap({ from, to }) is called when history no longer holds messages asked for.
 *     The returned function has .ready: a Promise of the first sub reply { seq, epoch }.
 * deck.publish(ch, data) → Promise<seq>;   deck.channels({prefix, after, limit}) → Promise<{ ch: lastSeq }>
 * deck.call(path, args = [], kwargs = {}), deck.get(path), deck.set(path, value),
 * deck.del(path), deck.dir(path = []) → Promise; a path is ["sample", "a"] or "sample.a".
 * deck.obj — a Proxy over exposed objects: await deck.obj.sample.test_sum(4, 5);
 *     await deck.obj.sample.a (get); deck.obj.sample.a = 2 (set, fire-and-forget: errors are
 *     logged and dispatched as an "error" event); delete deck.obj.sample.a.
 * deck.on(event, fn) → off()
 *     "state" (fn(state)), "error" (fn(DeckError)), "epoch" (fn(epoch): the server's message
 *     numbering restarted, e.g. after a server restart; subscriptions resume on their own).
 * deck.state — "connecting" | "open" | "reconnecting" | "closed";   deck.close()
 *
 * Reconnecting: after any drop (server restart, network, close code 1013 for a slow
 * client) the client reconnects with exponential backoff (250 ms doubling to 5 s, with
 * jitter; reset once a connection opens), then re-subscribes every channel in the order
 * first subscribed, with since = the last seq seen and the epoch of the last sub reply, so
 * nothing is lost or seen twice. Only deck.close() stops it.
 */

const DEFAULT_TIMEOUT = 10_000;
const BACKOFF_FIRST = 250;
const BACKOFF_MAX = 5_000;

/** An error reply of the server, or a client-side failure ("Timeout", "Disconnected"). */
export class DeckError extends Error {
  constructor(type, message) {
    super(message);
    this.name = "DeckError";
    this.type = type;
  }
}

/** Open a client; see the module documentation. */
export function connect(url, options = {}) {
  return new Deck(url, options);
}

function defaultUrl() {
  const u = new URL("ws", document.baseURI);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

function toPath(path) {
  if (Array.isArray(path)) return path;
  if (typeof path === "string") return path === "" ? [] : path.split(".");
  throw new TypeError("a path is an array of names or a dotted string");
}

export class Deck {
  constructor(url, { timeout = DEFAULT_TIMEOUT } = {}) {
    this.url = url ? new URL(url, document.baseURI).href : defaultUrl();
    this.timeout = timeout;
    this.state = "connecting";
    this.obj = objectProxy(this, []);
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map(); // id -> { resolve, reject, timer }   (sent, awaiting a reply)
    this._queue = []; // requests made while the connection was down, in order
    this._channels = new Map(); // ch -> channel record; insertion order = re-subscribe order
    this._listeners = new Map(); // event -> Set(fn)
    this._attempt = 0;
    this._retryTimer = null;
    this._closed = false;
    this._onOnline = () => this._retryNow();
    globalThis.addEventListener?.("online", this._onOnline);
    this._open();
  }

  // -- events ---------------------------------------------------------------------

  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  _emit(event, value) {
    for (const fn of [...(this._listeners.get(event) ?? [])]) {
      try {
        fn(value);
      } catch (err) {
        console.error(`labdeck: a "${event}" listener failed`, err);
      }
    }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", state);
  }

  // -- requests -------------------------------------------------------------------

  request(op, fields = {}, { timeout = this.timeout } = {}) {
    return this._request(op, fields, timeout);
  }

  // onResult(result), when given, runs as the reply is read, before any later frame.
  _request(op, fields, timeout, onResult = null) {
    if (this._closed) return Promise.reject(new DeckError("Disconnected", "the client is closed"));
    return new Promise((resolve, reject) => {
      const id = this._nextId++;
      const entry = { id, frame: JSON.stringify({ ...fields, id, op }), resolve, reject, timer: null, onResult };
      entry.timer = setTimeout(() => {
        this._pending.delete(id);
        this._queue = this._queue.filter((e) => e !== entry);
        reject(new DeckError("Timeout", `no reply to ${op} within ${timeout} ms`));
      }, timeout);
      if (this.state === "open") this._send(entry);
      else this._queue.push(entry);
    });
  }

  _send(entry) {
    this._pending.set(entry.id, entry);
    this._ws.send(entry.frame);
  }

  publish(ch, data) {
    return this.request("pub", { ch, data: data === undefined ? null : data });
  }

  // options: { prefix, after, limit }, as the protocol's `channels` request takes them.
  channels(options = {}) {
    return this.request("channels", options);
  }

  call(path, args = [], kwargs = {}) {
    return this.request("call", { path: toPath(path), args, kwargs });
  }

  get(path) {
    return this.request("get", { path: toPath(path) });
  }

  set(path, value) {
    return this.request("set", { path: toPath(path), value: value === undefined ? null : value });
  }

  del(path) {
    return this.request("del", { path: toPath(path) });
  }

  dir(path = []) {
    return this.request("dir", { path: toPath(path) });
  }

  // -- subscriptions --------------------------------------------------------------
  //
  // One server subscription per channel, shared by every handler on it. The channel
  // record remembers the last seq received and the epoch of the last sub reply, which
  // is what a re-subscription after a reconnect sends. Each handler remembers the last
  // seq it was given: that is what drops duplicates, and lets a handler that joins later
  // with an earlier `since` get its replay without the others seeing anything twice.

  subscribe(ch, handler, { since, onGap } = {}) {
    if (typeof handler !== "function") throw new TypeError("subscribe needs a handler function");
    const sub = { handler, onGap, last: since ?? null, held: false };
    let channel = this._channels.get(ch);
    if (!channel) {
      channel = { ch, subs: new Set([sub]), lastSeq: 0, epoch: null, since, rewind: undefined,
                  lastPush: null, ready: null, waiting: null };
      // waiting: the deferred behind channel.ready, until a sub reply settles it
      this._channels.set(ch, channel);
      this._subscribeChannel(channel);
    } else {
      channel.subs.add(sub);
      const known = channel.epoch === null ? channel.since : channel.lastSeq;
      if (since !== undefined && (known === undefined || since < known)) {
        // The server sends a connection each message once: to replay for this
        // handler, end the server subscription and start it again from `since`.
        // Until its reply, pushes still come from the old subscription: hold them back
        // from this handler, or its replay would look like duplicates.
        channel.rewind = Math.min(since, channel.rewind ?? since);
        sub.held = true;
        if (this.state === "open") this.request("unsub", { ch }).catch(() => {});
        this._subscribeChannel(channel);
      } else if (since === undefined && channel.lastPush) {
        const push = channel.lastPush; // what the server's retained value would have been
        queueMicrotask(() => channel.subs.has(sub) && this._give(sub, push));
      }
    }
    const unsubscribe = () => this._unsubscribe(channel, sub);
    unsubscribe.ready = channel.ready;
    return unsubscribe;
  }

  // Send the channel's sub now, or at the next open. channel.ready settles with the
  // first reply to it (a sub lost to a dropped connection is sent again on reconnect).
  _subscribeChannel(channel, fresh = true) {
    if (fresh || !channel.waiting) {
      const before = channel.waiting;
      channel.waiting = deferred();
      channel.ready = channel.waiting.promise;
      before?.resolve(channel.ready); // whoever awaited an unsent sub awaits this one
    }
    if (this.state !== "open") return;
    let since = channel.epoch === null ? channel.since : channel.lastSeq;
    // Each handler resumes after the last push it was given: pushes the channel saw while
    // a handler waited for its rewind (or had not reached yet in its replay) are not its.
    for (const sub of channel.subs) {
      if (sub.last !== null && (since === undefined || sub.last < since)) since = sub.last;
    }
    const rewind = channel.rewind;
    if (rewind !== undefined) since = since === undefined ? rewind : Math.min(since, rewind);
    const fields = { ch: channel.ch };
    if (since !== undefined) fields.since = since;
    if (channel.epoch !== null) fields.epoch = channel.epoch;
    const waiting = channel.waiting;
    const held = [...channel.subs].filter((sub) => sub.held);
    const onResult = (result) => {
      if (this._channels.get(channel.ch) !== channel) return; // unsubscribed meanwhile
      this._onSubReply(channel, fields, result);
      if (channel.rewind === rewind) channel.rewind = undefined;
      for (const sub of held) sub.held = false;
    };
    this._request("sub", fields, this.timeout, onResult).then(
      (result) => waiting.resolve(result),
      (err) => {
        if (err.type === "Disconnected") return; // sent again on reconnect
        if (err.type === "BrokerUnavailable") { // the shared broker is away: try again shortly
          setTimeout(() => this._channels.get(channel.ch) === channel && this._subscribeChannel(channel, false), 2000);
          return;
        }
        console.error(`labdeck: subscribing to ${channel.ch} failed: ${err.type}: ${err.message}`);
        this._emit("error", err);
        waiting.reject(err);
      },
    );
  }

  _unsubscribe(channel, sub) {
    if (!channel.subs.delete(sub) || channel.subs.size) return;
    if (this._channels.get(channel.ch) !== channel) return;
    this._channels.delete(channel.ch);
    if (this.state === "open") this.request("unsub", { ch: channel.ch }).catch(() => {});
  }

  // Called with each sub reply, before any frame that follows it.
  _onSubReply(channel, fields, result) {
    if (channel.epoch !== null && result.epoch !== channel.epoch) {
      // The server numbers this channel anew (it restarted): it replays everything it
      // has, all of which is new to us.
      channel.lastSeq = 0;
      channel.lastPush = null;
      for (const sub of channel.subs) sub.last = 0;
      this._emit("epoch", result.epoch);
    } else if (fields.since === undefined && result.seq > 0) {
      // Without since only the retained message comes: count from just before it.
      channel.lastSeq = Math.max(channel.lastSeq, result.seq - 1);
    }
    channel.epoch = result.epoch;
  }

  _onPush(push) {
    const channel = this._channels.get(push.ch);
    if (!channel) return;
    if (push.seq > channel.lastSeq) {
      channel.lastSeq = push.seq;
      channel.lastPush = push;
    }
    for (const sub of [...channel.subs]) this._give(sub, push);
  }

  _give(sub, push) {
    if (sub.held) return; // its replay is on the way
    if (sub.last !== null && push.seq <= sub.last) return; // seen already
    sub.last = push.seq;
    try {
      sub.handler(push.data, push);
    } catch (err) {
      console.error(`labdeck: a handler of ${push.ch} failed`, err);
    }
  }

  _onGap(ch, gap) {
    const channel = this._channels.get(ch);
    if (!channel) return;
    for (const sub of [...channel.subs]) {
      if (sub.held || (sub.last !== null && sub.last >= gap.to)) continue; // a replay for another handler
      if (sub.onGap) {
        try {
          sub.onGap(gap);
        } catch (err) {
          console.error(`labdeck: a gap handler of ${ch} failed`, err);
        }
      } else {
        console.warn(`labdeck: ${ch}: messages ${gap.from} to ${gap.to} are no longer available`);
      }
    }
  }

  // -- the connection -------------------------------------------------------------

  _open() {
    this._retryTimer = null;
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      console.error("labdeck: cannot open", this.url, err);
      this._scheduleRetry();
      return;
    }
    this._ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (ev) => this._onMessage(ev);
    ws.onclose = (ev) => this._onClose(ws, ev);
  }

  _onOpen(ws) {
    if (ws !== this._ws) return;
    this._attempt = 0;
    this._setState("open");
    // Channels first, in the order first subscribed, then what waited for the connection.
    for (const channel of this._channels.values()) this._subscribeChannel(channel, false);
    const queue = this._queue;
    this._queue = [];
    for (const entry of queue) this._send(entry);
  }

  _onMessage(ev) {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      console.error("labdeck: the server sent a frame that is not JSON");
      return;
    }
    if ("ok" in msg) this._onReply(msg);
    else if ("gap" in msg) this._onGap(msg.ch, msg.gap);
    else if ("seq" in msg) this._onPush(msg);
  }

  _onReply(msg) {
    const entry = this._pending.get(msg.id);
    if (!entry) {
      if (!msg.ok) this._emit("error", new DeckError(msg.error?.type ?? "Error", msg.error?.message ?? ""));
      return; // a reply to a request that timed out
    }
    this._pending.delete(msg.id);
    clearTimeout(entry.timer);
    if (msg.ok) {
      entry.onResult?.(msg.result);
      entry.resolve(msg.result);
    } else {
      entry.reject(new DeckError(msg.error?.type ?? "Error", msg.error?.message ?? "request failed"));
    }
  }

  _onClose(ws, ev) {
    if (ws !== this._ws) return;
    this._ws = null;
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(new DeckError("Disconnected", `the connection closed (code ${ev.code}) before the reply`));
    }
    if (this._closed) return;
    this._setState("reconnecting");
    this._scheduleRetry();
  }

  _scheduleRetry() {
    if (this._closed || this._retryTimer !== null) return;
    const base = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** this._attempt);
    this._attempt += 1;
    // Jitter spreads the reconnects of many browsers after a server restart.
    const delay = base / 2 + Math.random() * (base / 2);
    this._retryTimer = setTimeout(() => this._open(), delay);
  }

  _retryNow() {
    if (this._retryTimer === null || this._closed) return;
    clearTimeout(this._retryTimer);
    this._attempt = 0;
    this._open();
  }

  /** Close for good: no reconnect; waiting requests reject with "Disconnected". */
  close() {
    if (this._closed) return;
    this._closed = true;
    globalThis.removeEventListener?.("online", this._onOnline);
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    for (const entry of this._queue) {
      clearTimeout(entry.timer);
      entry.reject(new DeckError("Disconnected", "the client is closed"));
    }
    this._queue = [];
    const ws = this._ws;
    this._setState("closed");
    if (ws) ws.close(1000, "client closed");
    else this._onClose(null, { code: 1000 });
  }
}

// deck.obj: attribute access on exposed Python objects. Each step of a property chain
// is a Proxy remembering its path; awaiting it gets, calling it calls.
function objectProxy(deck, path) {
  const target = function () {};
  return new Proxy(target, {
    get(_, name) {
      if (typeof name === "symbol") return undefined;
      if (name === "then") {
        if (path.length === 0) return undefined; // deck.obj itself is not a value
        const got = deck.get(path);
        return got.then.bind(got);
      }
      return objectProxy(deck, [...path, name]);
    },
    set(_, name, value) {
      if (typeof name === "symbol") return false;
      deck.set([...path, name], value).catch((err) => report(deck, "set", [...path, name], err));
      return true;
    },
    deleteProperty(_, name) {
      if (typeof name === "symbol") return false;
      deck.del([...path, name]).catch((err) => report(deck, "del", [...path, name], err));
      return true;
    },
    apply(_, thisArg, args) {
      return deck.call(path, args);
    },
  });
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // rejection is reported where it happens; awaiting .ready is optional
  return { promise, resolve, reject };
}

function report(deck, op, path, err) {
  console.error(`labdeck: ${op} ${path.join(".")} failed: ${err.type}: ${err.message}`);
  deck._emit("error", err);
}
