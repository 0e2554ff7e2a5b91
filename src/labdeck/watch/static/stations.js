/**
 * Stations: one card per scanner station, green (conforms), red (a mismatch) or grey (no
 * reference), with each mismatch in words, the current series beside its reference, the
 * session's series so far and a button to pin the current series as the reference.
 *
 * `#stations/<name>` shows one station alone, large, for a screen beside the console.
 * The state comes from the `stations` object (state()); every finding on a station's
 * channel dicom/<station> refreshes it, and a slow poll finds stations that are new.
 * Beside ctx.deck and ctx.toast it uses the dashboard's panel kit for its DOM helper.
 */

import { el as node } from "../../kit.js";

export default { mount };

const VERDICT = { true: ["ok", "conforms"], false: ["bad", "mismatch"], null: ["none", "no reference"] };

function show(value, unit) {
  if (value === null || value === undefined) return "—";
  const text = Array.isArray(value) ? value.join(" × ") : String(value);
  return unit ? `${text} ${unit}` : text;
}

function wantedStation() {
  const [panel, ...rest] = decodeURIComponent(location.hash.slice(1)).split("/");
  return panel === "stations" && rest.length ? rest.join("/") : null;
}

function mount(section, ctx) {
  const title = node("p", "stations-only");
  title.hidden = true;
  const cards = node("div", "stations-cards");
  const none = node("p", "card empty", "No scanner has sent a DICOM file yet.");
  section.append(title, cards, none);
  const subscribed = new Set();
  let state = { stations: {}, units: {} };
  let pending = null;

  const render = () => {
    const only = wantedStation();
    section.classList.toggle("single", only !== null);
    title.hidden = only === null;
    title.replaceChildren(node("a", "", "← all stations"));
    title.firstChild.href = "#stations";
    const names = Object.keys(state.stations).filter((n) => only === null || n === only);
    none.hidden = names.length > 0;
    if (only !== null && !names.length) none.textContent = `Station ${only} has not sent a file yet.`;
    cards.replaceChildren(...names.map((n) => card(state.stations[n], state.units, ctx, refresh)));
  };

  async function refresh() {
    state = await ctx.deck.call(["stations", "state"]);
    for (const s of Object.values(state.stations)) {
      if (subscribed.has(s.channel)) continue;
      subscribed.add(s.channel);
      ctx.deck.subscribe(s.channel, later);
    }
    render();
  }

  function later() { // many files a second: one refresh per animation frame at most
    if (pending === null) pending = requestAnimationFrame(() => { pending = null; refresh().catch(() => {}); });
  }

  window.addEventListener("hashchange", render);
  const poll = setInterval(() => refresh().catch(() => {}), 2000);
  ctx.deck.on?.("state", (s) => s === "open" && refresh().catch(() => {}));
  refresh().catch(() => {});
  return () => { clearInterval(poll); window.removeEventListener("hashchange", render); };
}

function card(s, units, ctx, refresh) {
  const [cls, label] = VERDICT[String(s.conforms)] ?? VERDICT.null;
  const article = node("article", `card station ${cls}`);
  article.dataset.testid = `station-${s.station}`;
  article.dataset.verdict = cls;
  const head = node("header");
  const name = node("a", "station-name", s.station);
  name.href = `#stations/${encodeURIComponent(s.station)}`;
  const pill = node("span", `verdict ${cls}`, label);
  pill.dataset.testid = "station-verdict";
  head.append(name, pill);
  const where = node("p", "station-where",
    `${s.project} · ${s.sequence} · series ${s.series} · ${s.files} file${s.files === 1 ? "" : "s"}` +
    (s.bad_files ? ` (${s.bad_files} not conforming)` : ""));
  const errors = node("ul", "station-errors");
  errors.dataset.testid = "station-errors";
  for (const message of s.messages) errors.append(node("li", "", message));
  if (s.conforms === null) errors.append(node("li", "grey", "No reference protocol for this project and sequence yet."));
  article.append(head, where, errors, table(s, units), session(s));
  const pin = node("button", "btn", "Pin as reference");
  pin.dataset.testid = "station-pin";
  pin.title = "make the current series the reference for this project and sequence";
  pin.addEventListener("click", async () => {
    const reply = await fetch(new URL("api/dicom/refs", ctx.base), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ station: s.station }),
    });
    const body = await reply.json().catch(() => ({}));
    if (reply.ok) ctx.toast(`${s.sequence}: pinned as the reference`, "ok");
    else ctx.toast(`${body.error?.type ?? reply.status}: ${body.error?.message ?? "pin failed"}`, "err");
    refresh().catch(() => {});
  });
  article.append(pin);
  return article;
}

function table(s, units) {
  const t = node("table", "station-params");
  const head = node("tr");
  head.append(node("th", "", "parameter"), node("th", "", "reference"), node("th", "", "current"));
  t.append(head);
  for (const [param, have] of Object.entries(s.params)) {
    const expect = s.reference ? s.reference[param] : undefined;
    const row = node("tr", s.errors[param] ? "bad" : "");
    row.append(node("td", "", param), node("td", "", show(expect, units[param])), node("td", "", show(have, units[param])));
    t.append(row);
  }
  return t;
}

function session(s) {
  const list = node("ol", "station-session");
  for (const item of s.session) {
    const [cls] = VERDICT[String(item.conforms)] ?? VERDICT.null;
    list.append(node("li", cls, `${item.series} ${item.sequence} (${item.files})`));
  }
  return list;
}
