/**
 * The stations' card on the Overview: one line per scanner station, its verdict (conforms,
 * mismatch, no reference) and its current series, each linking to the station's own page.
 * Refreshed by every finding on a station's channel, and by a slow poll for new stations.
 */

export default { mount };

const VERDICT = { true: ["ok", "conforms"], false: ["err", "mismatch"], null: ["idle", "no reference"] };

function mount(card, ctx) {
  const { el } = ctx.kit;
  const list = el("ul", "summary-list");
  list.dataset.testid = "stations-summary";
  const none = el("p", "muted", "No scanner has sent a DICOM file yet.");
  card.append(list, none);
  const subscribed = new Map(); // channel -> unsubscribe
  let frame = 0;

  async function refresh() {
    const state = await ctx.deck.call(["stations", "state"]);
    const stations = Object.values(state.stations ?? {});
    none.hidden = stations.length > 0;
    list.replaceChildren(...stations.map((s) => {
      const [cls, label] = VERDICT[String(s.conforms)] ?? VERDICT.null;
      const item = el("li", "summary-row");
      item.dataset.station = s.station;
      const name = el("a", "mono", s.station);
      name.href = `#stations/${encodeURIComponent(s.station)}`;
      const what = el("span", "muted", `${s.sequence} · series ${s.series} · ${s.files} file${s.files === 1 ? "" : "s"}`);
      item.append(name, el("span", `badge ${cls}`, label), what);
      return item;
    }));
    for (const s of stations) {
      if (!subscribed.has(s.channel)) subscribed.set(s.channel, ctx.deck.subscribe(s.channel, later));
    }
  }

  function later() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; refresh().catch(() => {}); });
  }

  const poll = setInterval(() => refresh().catch(() => {}), 3000);
  refresh().catch(() => {});
  return () => {
    clearInterval(poll);
    cancelAnimationFrame(frame);
    for (const off of subscribed.values()) off();
  };
}
