/**
 * Channel inspector: every channel with its last seq, time and value, and a live stream
 * of the messages arriving on all of them (filterable, pausable).
 *
 * Channels come from deck.channels() at mount and from `hub/channels`, which announces
 * each new channel as {"ch": name}. Rendering is batched into animation frames, so a
 * channel carrying thousands of messages a second costs one repaint per frame.
 */

import { age, clock, fill, jsonView, streamControls, truncate } from "../kit.js";

const STREAM_KEEP = 1000; // messages kept for the filter to search
const STREAM_SHOW = 200; // rows shown
const VALUE_CHARS = 600;
const LINE_CHARS = 240;

export default { mount };

function mount(el, { deck, toast }) {
  const $ = fill(el, `
    <div class="card">
      <header>
        <h2>Channels</h2>
        <span class="muted" data-testid="channel-count">loading…</span>
      </header>
      <div class="table-wrap">
        <table class="data channel-table">
          <thead><tr><th>Channel</th><th class="num">Seq</th><th>Last message</th><th>Last value</th></tr></thead>
          <tbody data-testid="channel-table"></tbody>
        </table>
      </div>
      <p class="empty" data-testid="channels-empty">No channels yet. Anything published on the server appears here.</p>
    </div>
    <div class="card">
      <header>
        <h2>Live messages</h2>
        <span class="muted">newest first</span>
      </header>
      <div class="toolbar live-toolbar">
        <input type="search" placeholder="Filter by channel or content" aria-label="Filter messages"
               data-testid="live-filter">
        <button type="button" class="btn" aria-pressed="false" data-testid="live-pause">Pause</button>
        <button type="button" class="btn" data-testid="live-clear">Clear</button>
        <span class="spacer"></span>
        <span class="muted live-status" data-testid="live-status"></span>
      </div>
      <div class="live-stream" data-testid="live-stream" role="log" tabindex="0" aria-label="messages as they arrive"></div>
      <p class="empty" data-testid="live-empty">Waiting for messages…</p>
    </div>`);
  const tbody = $("channel-table");
  const count = $("channel-count");
  const channelsEmpty = $("channels-empty");
  const status = $("live-status");
  const streamBox = $("live-stream");
  const streamEmpty = $("live-empty");

  const rows = new Map(); // ch -> { tr, seq, time, age, value, push, unsubscribe }
  const dirty = new Set(); // rows to repaint
  let stream = []; // newest first
  let streamDirty = false;
  const live = streamControls({
    filter: $("live-filter"),
    pause: $("live-pause"),
    render,
    onChange: () => { streamDirty = true; },
  });
  const schedule = live.schedule;

  function addChannel(ch) {
    if (rows.has(ch)) return;
    const tr = document.createElement("tr");
    tr.dataset.testid = "channel-row";
    tr.dataset.ch = ch;
    tr.innerHTML = `<td class="mono ch-name"><button type="button" class="link" title="show only this channel"></button></td>
      <td class="num mono" data-testid="channel-seq">–</td>
      <td class="ch-time"><span data-testid="channel-time" class="mono">–</span> <span class="muted ch-age"></span></td>
      <td data-testid="channel-last" class="ch-last"><span class="muted">no message yet</span></td>`;
    const name = tr.querySelector("button");
    name.textContent = ch;
    name.addEventListener("click", () => live.setFilter(live.filter === ch.toLowerCase() ? "" : ch));
    const row = {
      tr,
      seq: tr.children[1],
      time: tr.querySelector('[data-testid="channel-time"]'),
      age: tr.querySelector(".ch-age"),
      value: tr.children[3],
      push: null,
      unsubscribe: null,
    };
    rows.set(ch, row);
    insertSorted(tr, ch);
    row.unsubscribe = deck.subscribe(ch, (data, push) => onPush(row, push));
    updateCount();
  }

  function insertSorted(tr, ch) {
    const after = [...tbody.children].find((other) => other.dataset.ch > ch);
    tbody.insertBefore(tr, after ?? null);
  }

  function onPush(row, push) {
    row.push = push;
    dirty.add(row);
    stream.unshift(push);
    if (stream.length > STREAM_KEEP) stream.length = STREAM_KEEP;
    if (live.arrived()) streamDirty = true;
    schedule();
  }

  function render() {
    for (const row of dirty) paintRow(row);
    dirty.clear();
    if (streamDirty) paintStream();
    streamDirty = false;
    paintStatus();
  }

  function paintRow(row) {
    const { push } = row;
    row.seq.textContent = String(push.seq);
    row.time.textContent = clock(push.t);
    row.time.title = new Date(push.t * 1000).toString();
    row.age.textContent = age(push.t);
    row.value.replaceChildren(jsonView(push.data, VALUE_CHARS));
  }

  const nodes = new WeakMap(); // push -> its row in the stream, built once

  function paintStream() {
    const shown = [];
    for (const push of stream) {
      if (live.filter && !matches(push, live.filter)) continue;
      shown.push(nodes.get(push) ?? streamRow(push));
      if (shown.length >= STREAM_SHOW) break;
    }
    streamBox.replaceChildren(...shown);
    streamEmpty.hidden = shown.length > 0;
    streamEmpty.textContent = stream.length ? "No message matches the filter." : "Waiting for messages…";
  }

  function streamRow(push) {
    const div = document.createElement("div");
    div.className = "live-row";
    div.dataset.testid = "live-message";
    div.dataset.ch = push.ch;
    div.innerHTML = `<span class="mono muted live-time"></span><span class="mono live-ch"></span>
      <span class="mono muted live-seq"></span><span class="mono live-data"></span>`;
    const [time, ch, seq, data] = div.children;
    time.textContent = clock(push.t);
    ch.textContent = push.ch;
    seq.textContent = `#${push.seq}`;
    data.textContent = truncate(JSON.stringify(push.data) ?? "null", LINE_CHARS);
    nodes.set(push, div);
    return div;
  }

  function matches(push, text) {
    if (push.ch.toLowerCase().includes(text)) return true;
    return (JSON.stringify(push.data) ?? "").toLowerCase().includes(text);
  }

  function paintStatus() {
    status.textContent = live.note() || (live.filter ? `filtered by “${live.filter}”` : "");
  }

  function updateCount() {
    count.textContent = rows.size === 1 ? "1 channel" : `${rows.size} channels`;
    channelsEmpty.hidden = rows.size > 0;
  }

  $("live-clear").addEventListener("click", () => {
    stream = [];
    live.missed = 0;
    streamDirty = true;
    schedule();
  });

  // Ages ("4 s ago") tell at a glance whether a channel is still alive.
  const ticker = setInterval(() => {
    for (const row of rows.values()) if (row.push) row.age.textContent = age(row.push.t);
  }, 1000);

  async function loadChannels() {
    try {
      const known = await deck.channels();
      for (const ch of Object.keys(known).sort()) addChannel(ch);
      updateCount();
    } catch (err) {
      count.textContent = "";
      channelsEmpty.textContent = `Could not list channels: ${err.message}`;
      if (err.type !== "Disconnected") toast(`Channels: ${err.message}`, "err");
    }
  }

  // Announcements first, then the list, so a channel created in between is not missed.
  const stopAnnouncements = deck.subscribe("hub/channels", (data) => data?.ch && addChannel(data.ch));
  loadChannels();
  let relist = 0;
  const stopEpoch = deck.on("epoch", () => {
    // A restarted server: list again (once for the many channels that notice together).
    clearTimeout(relist);
    relist = setTimeout(loadChannels, 200);
  });

  return () => {
    stopAnnouncements();
    stopEpoch();
    clearInterval(ticker);
    clearTimeout(relist);
    live.cancel();
    for (const row of rows.values()) row.unsubscribe?.();
  };
}
