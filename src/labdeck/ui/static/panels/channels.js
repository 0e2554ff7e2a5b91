/**
 * Channel inspector: every channel with its last seq, time and value, and a live stream
 * of the messages arriving on all of them (filterable, pausable).
 *
 * Channels come from deck.channels() at mount and from `hub/channels`, which announces
 * each new channel as {"ch": name}. Rendering is batched into animation frames, so a
 * channel carrying thousands of messages a second costs one repaint per frame.
 */

const STREAM_KEEP = 1000; // messages kept for the filter to search
const STREAM_SHOW = 200; // rows shown
const VALUE_CHARS = 600;
const LINE_CHARS = 240;
const ONE_LINE_CHARS = 72;

export default { id: "channels", title: "Channels", order: 90, css: true, mount };

function mount(el, { deck, toast }) {
  el.innerHTML = `
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
      <div class="live-stream" data-testid="live-stream" role="log"></div>
      <p class="empty" data-testid="live-empty">Waiting for messages…</p>
    </div>`;

  const $ = (testid) => el.querySelector(`[data-testid="${testid}"]`);
  const tbody = $("channel-table");
  const count = $("channel-count");
  const channelsEmpty = $("channels-empty");
  const filterBox = $("live-filter");
  const pauseBtn = $("live-pause");
  const status = $("live-status");
  const streamBox = $("live-stream");
  const streamEmpty = $("live-empty");

  const rows = new Map(); // ch -> { tr, seq, time, age, value, push, unsubscribe }
  const dirty = new Set(); // rows to repaint
  let stream = []; // newest first
  let streamDirty = false;
  let paused = false;
  let missed = 0; // messages that arrived while paused
  let filter = "";
  let frame = 0;

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
    name.addEventListener("click", () => setFilter(filter === ch.toLowerCase() ? "" : ch));
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
    if (paused) missed += 1;
    else streamDirty = true;
    schedule();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
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
    const pre = document.createElement("pre");
    pre.className = "mono";
    pre.textContent = truncate(pretty(push.data), VALUE_CHARS);
    row.value.replaceChildren(pre);
  }

  const nodes = new WeakMap(); // push -> its row in the stream, built once

  function paintStream() {
    const shown = [];
    for (const push of stream) {
      if (filter && !matches(push, filter)) continue;
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
    if (paused) status.textContent = missed ? `paused · ${missed} new` : "paused";
    else status.textContent = filter ? `filtered by “${filter}”` : "";
  }

  function updateCount() {
    count.textContent = rows.size === 1 ? "1 channel" : `${rows.size} channels`;
    channelsEmpty.hidden = rows.size > 0;
  }

  function setFilter(text) {
    filter = text.trim().toLowerCase();
    filterBox.value = text;
    streamDirty = true;
    schedule();
  }

  function setPaused(value) {
    paused = value;
    pauseBtn.textContent = paused ? "Resume" : "Pause";
    pauseBtn.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      missed = 0;
      streamDirty = true;
    }
    schedule();
  }

  filterBox.addEventListener("input", () => setFilter(filterBox.value));
  pauseBtn.addEventListener("click", () => setPaused(!paused));
  $("live-clear").addEventListener("click", () => {
    stream = [];
    missed = 0;
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
    cancelAnimationFrame(frame);
    for (const row of rows.values()) row.unsubscribe?.();
  };
}

function clock(t) {
  const d = new Date(t * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function age(t) {
  const s = Math.max(0, Date.now() / 1000 - t);
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// Short values on one line (easier to scan down the table), longer ones indented.
function pretty(data) {
  const indented = JSON.stringify(data, null, 2) ?? "null";
  const oneLine = indented.replace(/\n\s*/g, " ");
  return oneLine.length <= ONE_LINE_CHARS ? oneLine : indented;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
