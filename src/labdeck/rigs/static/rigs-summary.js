/**
 * The rigs' card on the Overview: each rig's state and its last round trip, live from its
 * channel rigs/<name>. Driving the rigs stays on the Rigs panel.
 */

export default { mount };

function mount(card, ctx) {
  const { el } = ctx.kit;
  const list = el("ul", "summary-list");
  list.dataset.testid = "rigs-summary";
  const none = el("p", "muted", "No rigs are configured.");
  none.hidden = true;
  card.append(list, none);
  const rows = new Map();
  const offs = [];

  function show(view) {
    if (!view?.rig) return;
    let row = rows.get(view.rig);
    if (!row) {
      row = el("li", "summary-row");
      row.dataset.rig = view.rig;
      row.append(el("span", "mono", view.rig), el("span", "badge"), el("span", "muted"));
      rows.set(view.rig, row);
      list.append(row);
    }
    const [, badge, rtt] = row.children;
    badge.textContent = view.state;
    badge.className = `badge ${view.state === "lost" ? "err" : view.state === "running" ? "ok" : "idle"}`;
    rtt.textContent = view.rtt_ms == null ? "" : `${view.rtt_ms.toFixed(2)} ms`;
  }

  ctx.deck.call(["rigs", "rigs"]).then((views) => {
    none.hidden = views.length > 0;
    for (const view of views) {
      show(view);
      offs.push(ctx.deck.subscribe(`rigs/${view.rig}`, show, { since: 0 }));
    }
  }, (err) => { none.hidden = false; none.textContent = `The rigs could not be listed: ${err.message}`; });
  return () => { for (const off of offs) off(); };
}
