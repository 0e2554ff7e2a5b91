/**
 * Incoming: the files each watch saw land, newest first, live, with a filter.
 *
 * The list starts from GET api/files/{watch} (what landed before this page opened) and
 * grows from the watch's channel files/{watch}; a file seen both ways is shown once.
 * The watch's state (watching, or failed and retrying) and its problems are shown too.
 * Remote agents (`labdeck agent`) get a card saying whether each is connected, and
 * each of their watches a list like a local one (`<agent>.<watch>`).
 * It uses the dashboard's panel kit for its DOM and time helpers.
 */

import { formatTime, el as node } from "../../kit.js";

const KEEP = 500; // rows per watch: older ones leave the page, not the database

export default { mount };

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MB`;
}

function mount(section, ctx) {
  const bar = node("div", "incoming-bar");
  const filter = node("input");
  filter.type = "search";
  filter.placeholder = "filter by path…";
  filter.setAttribute("aria-label", "filter files by path");
  filter.dataset.testid = "incoming-filter";
  bar.append(filter);
  const cards = node("div", "incoming-cards");
  const none = node("p", "card empty", "No folders are watched: add a [watch.<name>] table to labdeck.toml.");
  none.hidden = true;
  section.append(bar, cards, none);
  const watches = [];
  filter.addEventListener("input", () => watches.forEach((w) => w.apply(filter.value)));

  (async () => {
    const reply = await fetch(new URL("api/watches", ctx.base), { cache: "no-store" });
    const listed = reply.ok ? (await reply.json()).watches : {};
    const agentsReply = await fetch(new URL("api/agents", ctx.base), { cache: "no-store" });
    const agents = agentsReply.ok ? (await agentsReply.json()).agents : [];
    none.hidden = Object.keys(listed).length + agents.length > 0;
    if (agents.length) cards.append(agentsCard(agents, ctx));
    for (const agent of agents) {
      for (const [watch, kind] of Object.entries(agent.watches)) {
        listed[`${agent.name}.${watch}`] = { kind, root: `on agent ${agent.name}`, state: "remote", error: null };
      }
    }
    for (const [name, info] of Object.entries(listed)) {
      const watch = watchCard(name, info, ctx);
      watches.push(watch);
      cards.append(watch.card);
    }
  })().catch((err) => { none.hidden = false; none.textContent = `The watches could not be loaded: ${err.message}`; });
}

function agentsCard(agents, ctx) {
  const card = node("article", "card incoming-agents");
  card.dataset.testid = "incoming-agents";
  const list = node("ul", "incoming-agent-list");
  card.append(node("h2", "", "Agents"), list); // a card heading, as the watches' are
  const draw = (all) => list.replaceChildren(...all.map((a) => {
    const row = node("li");
    row.dataset.testid = `agent-${a.name}`;
    row.dataset.state = a.connected ? "connected" : "disconnected";
    const pill = node("span", "pill", a.connected ? "connected" : "not connected");
    pill.dataset.state = a.connected ? "watching" : "failed";
    const seen = a.last_seen ? ` · last heard ${formatTime(a.last_seen)}` : "";
    row.append(node("strong", "", a.name), pill,
      node("span", "muted", `${Object.keys(a.watches).join(", ") || "no watches"}${seen}`));
    return row;
  }));
  draw(agents);
  const poll = setInterval(async () => {
    if (!card.isConnected) { clearInterval(poll); return; }
    const reply = await fetch(new URL("api/agents", ctx.base), { cache: "no-store" }).catch(() => null);
    if (reply?.ok) draw((await reply.json()).agents);
  }, 3000);
  return card;
}

function watchCard(name, info, ctx) {
  const card = node("article", "card incoming-watch");
  card.dataset.testid = `incoming-${name}`;
  const head = node("header");
  const state = node("span", "pill");
  state.dataset.testid = "incoming-state";
  head.append(node("h2", "", name), node("span", "muted", `${info.kind} · ${info.root}`), state);
  const problems = node("ul", "incoming-problems");
  const list = node("ol", "incoming-list");
  list.dataset.testid = "incoming-list";
  list.tabIndex = 0; // it scrolls: reachable from the keyboard
  card.append(head, problems, list);
  const seen = new Set();
  let query = "";

  const showState = (s, error) => {
    state.textContent = s === "watching" ? "watching" : `${s}${error ? `: ${error}` : ""}`;
    state.dataset.state = s;
  };
  showState(info.state, info.error);

  const add = (file, top = true) => {
    const key = `${file.path}|${file.size}|${file.mtime}`;
    if (seen.has(key)) return;
    seen.add(key);
    const row = node("li");
    row.dataset.path = file.path;
    row.append(node("span", "path", file.path), node("span", "size", size(file.size)),
               node("span", "time", formatTime(file.mtime)));
    row.hidden = query !== "" && !file.path.toLowerCase().includes(query);
    if (top) list.prepend(row); else list.append(row);
    while (list.children.length > KEEP) list.lastElementChild.remove();
  };

  ctx.deck.subscribe(`files/${name}`, (data) => {
    if (data.event === "file") add(data);
    else if (data.event === "status") showState(data.state, data.error);
    else if (data.event === "problem") {
      problems.prepend(node("li", "", `${data.path}: ${data.reason}`));
      while (problems.children.length > 20) problems.lastElementChild.remove();
    }
  });
  fetch(new URL(`api/files/${encodeURIComponent(name)}?limit=200`, ctx.base), { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : { files: [] }))
    .then(({ files }) => files.forEach((f) => add(f, false)));

  return {
    card,
    apply(text) {
      query = text.trim().toLowerCase();
      for (const row of list.children) row.hidden = query !== "" && !row.dataset.path.toLowerCase().includes(query);
    },
  };
}
