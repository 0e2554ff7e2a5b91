/**
 * Stations: one card per scanner station, green (conforms), red (a mismatch) or grey (no
 * reference), with each mismatch in words, the current series beside its reference, the
 * session's series so far and a button to pin the current series as the reference.
 *
 * `#stations/<name>` shows one station alone, large, for a screen beside the console.
 *
 * Alerts: a non-conforming file turns its station's card red until an operator
 * acknowledges it (recorded on the server), whatever the files after it show. With
 * alerts switched on (a preference of the user's, ctx.prefs, so it follows them to
 * another browser), it also raises a browser notification and a sound. Reports: links to the compliance report (HTML, JSON)
 * and to the references as a dicompare schema.
 * The state comes from the `stations` object (state()); every finding on a station's
 * channel dicom/<station> refreshes it, and a slow poll finds stations that are new.
 * Beside ctx.deck, ctx.toast and ctx.prefs it uses the dashboard's panel kit for its DOM helper.
 */

import { el as node } from "../../kit.js";

export default { mount };

const VERDICT = { true: ["ok", "conforms"], false: ["bad", "mismatch"], null: ["none", "no reference"] };
const ALERTS = "stations.alerts";

let audio = null;
function beep() { // a short two-tone chime; a browser plays it once a click on the page has allowed sound
  try {
    audio ??= new (window.AudioContext || window.webkitAudioContext)();
    for (const [i, hz] of [880, 660].entries()) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = hz;
      gain.gain.value = 0.25;
      tone.connect(gain).connect(audio.destination);
      tone.start(audio.currentTime + i * 0.18);
      tone.stop(audio.currentTime + i * 0.18 + 0.16);
    }
  } catch { /* no audio device: the notification and the red card remain */ }
}

function alerts(prefs) {
  const on = () => prefs.get(ALERTS, false) === true;
  const button = node("button", "btn alerts-toggle");
  button.dataset.testid = "alerts-toggle";
  const label = () => {
    button.textContent = on() ? "Alerts on: notification and sound" : "Alerts off";
    button.setAttribute("aria-pressed", String(on()));
  };
  button.addEventListener("click", async () => {
    prefs.set(ALERTS, !on());
    if (on() && "Notification" in window && Notification.permission === "default") {
      await Notification.requestPermission().catch(() => {});
    }
    if (on()) beep();
  });
  const off = prefs.on(ALERTS, label);
  label();
  prefs.ready.then(label);
  const last = new Map(); // station -> when it last sounded: a burst of bad files is one alert
  const raise = (finding) => {
    if (!on()) return;
    const now = Date.now();
    if (now - (last.get(finding.station) ?? 0) < 3000) return;
    last.set(finding.station, now);
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(`${finding.station}: ${finding.sequence} does not conform`, {
        body: finding.messages.join("\n"), tag: `labdeck-station-${finding.station}`,
      });
    }
  };
  return { button, raise, off };
}

function plain(value, unit) {
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
  const alert = alerts(ctx.prefs);
  const bar = node("div", "stations-bar");
  const link = (text, href, id) => {
    const a = node("a", "btn", text);
    a.href = new URL(href, ctx.base).href;
    a.target = "_blank";
    a.rel = "noopener";
    a.dataset.testid = id;
    return a;
  };
  bar.append(alert.button, link("Compliance report", "api/dicom/report?format=html", "stations-report"),
    link("Report (JSON)", "api/dicom/report", "stations-report-json"));
  section.append(title, bar, cards, none);
  const subscribed = new Set();
  const known = new Map(); // station -> the newest finding already drawn when it was loaded
  let loaded = false; // a station that appears later: its first finding is news
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
      if (!known.has(s.station)) known.set(s.station, loaded ? 0 : s.updated);
      if (subscribed.has(s.channel)) continue;
      subscribed.add(s.channel);
      ctx.deck.subscribe(s.channel, (finding) => {
        // the retained finding a subscription starts with is already on the card: no alert for it
        if (finding?.conforms === false && finding.t > (known.get(finding.station) ?? 0)) alert.raise(finding);
        later();
      });
    }
    loaded = true;
    render();
  }

  function later() { // many files a second: one refresh per animation frame at most
    if (pending === null) pending = requestAnimationFrame(() => { pending = null; refresh().catch(() => {}); });
  }

  window.addEventListener("hashchange", render);
  const poll = setInterval(() => refresh().catch(() => {}), 2000);
  ctx.deck.on?.("state", (s) => s === "open" && refresh().catch(() => {}));
  refresh().catch(() => {});
  return () => { clearInterval(poll); window.removeEventListener("hashchange", render); alert.off(); };
}

function card(s, units, ctx, refresh) {
  const [verdict, label] = VERDICT[String(s.conforms)] ?? VERDICT.null;
  const cls = s.alert ? "bad" : verdict; // red until acknowledged, whatever came after
  const article = node("article", `card station ${cls}`);
  article.dataset.testid = `station-${s.station}`;
  article.dataset.verdict = cls;
  article.dataset.alert = s.alert ? "yes" : "no";
  const head = node("header");
  const name = node("a", "station-name", s.station);
  name.href = `#stations/${encodeURIComponent(s.station)}`;
  const pill = node("span", `verdict ${verdict}`, label);
  pill.dataset.testid = "station-verdict";
  head.append(name, pill);
  const where = node("p", "station-where",
    `${s.project} · ${s.sequence} · series ${s.series} · ${s.files} file${s.files === 1 ? "" : "s"}` +
    (s.bad_files ? ` (${s.bad_files} not conforming)` : ""));
  const errors = node("ul", "station-errors");
  errors.dataset.testid = "station-errors";
  for (const message of s.messages) errors.append(node("li", "", message));
  if (s.conforms === null) errors.append(node("li", "grey", "No reference protocol for this project and sequence yet."));
  article.append(head);
  if (s.alert) article.append(alarm(s, ctx, refresh));
  article.append(where, errors, table(s, units), session(s));
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

function alarm(s, ctx, refresh) {
  const box = node("div", "station-alert");
  box.dataset.testid = "station-alert";
  box.setAttribute("role", "alert");
  box.append(node("strong", "", `Not acknowledged: series ${s.alert.series} ${s.alert.sequence}`),
    node("span", "", ` — ${s.alert.messages.join("; ")}`));
  const ack = node("button", "btn", "Acknowledge");
  ack.dataset.testid = "station-ack";
  ack.title = "an operator has seen it: the card shows the current series' verdict again";
  ack.addEventListener("click", async () => {
    const reply = await fetch(new URL(`api/stations/${encodeURIComponent(s.station)}/ack`, ctx.base), { method: "POST" });
    const body = await reply.json().catch(() => ({}));
    if (reply.ok) ctx.toast(`${s.station}: alert acknowledged`, "ok");
    else ctx.toast(`${body.error?.type ?? reply.status}: ${body.error?.message ?? "acknowledge failed"}`, "err");
    refresh().catch(() => {});
  });
  box.append(ack);
  return box;
}

function show(value, unit) {
  if (value && typeof value === "object" && !Array.isArray(value)) return constraint(value, unit);
  return plain(value, unit);
}

function constraint(c, unit) {
  const u = unit ? ` ${unit}` : "";
  if (c.contains_any) return `one of ${c.contains_any.join(", ")}`;
  if (c.contains_all) return `all of ${c.contains_all.join(", ")}`;
  if (c.contains !== undefined) return `containing "${c.contains}"`;
  if (c.min !== undefined && c.max !== undefined) return `${c.min} to ${c.max}${u}`;
  if (c.min !== undefined) return `at least ${c.min}${u}`;
  if (c.max !== undefined) return `at most ${c.max}${u}`;
  if (c.tolerance !== undefined) return `${plain(c.value)} ± ${c.tolerance}${u}`;
  return plain(c.value, unit);
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
