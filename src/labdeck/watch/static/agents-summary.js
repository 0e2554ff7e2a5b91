/**
 * The remote agents' card on the Overview (`labdeck agent` on a scanner or rig PC): one
 * line per agent, connected or not, the last file it sent and how many files its queue
 * still holds. Refreshed by every file event on the agents' channels, and by a slow poll
 * for new agents and for agents that stop.
 */

export default { mount, title: "Agents" };

function mount(card, ctx) {
  const { el, age, frameScheduler } = ctx.kit;
  const list = el("ul", "summary-list");
  list.dataset.testid = "agents-summary";
  const none = el("p", "muted", "No remote agent has connected yet: see labdeck agent --help.");
  card.append(list, none);
  const subscribed = new Map(); // channel -> unsubscribe
  const later = frameScheduler(() => refresh().catch(() => {}));

  async function refresh() {
    const reply = await fetch(new URL("api/agents", ctx.base), { cache: "no-store" });
    if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
    const agents = (await reply.json()).agents ?? [];
    none.hidden = agents.length > 0;
    list.replaceChildren(...agents.map((a) => row(a, el, age)));
    for (const a of agents) {
      for (const watch of Object.keys(a.watches ?? {})) {
        const ch = `files/${a.name}.${watch}`;
        if (!subscribed.has(ch)) subscribed.set(ch, ctx.deck.subscribe(ch, later.schedule));
      }
    }
  }

  const poll = setInterval(() => refresh().catch(() => {}), 3000);
  refresh().catch((err) => { none.hidden = false; none.textContent = `The agents could not be listed: ${err.message}`; });
  return () => {
    clearInterval(poll);
    later.cancel();
    for (const off of subscribed.values()) off();
  };
}

function row(agent, el, age) {
  const item = el("li", "summary-row");
  item.dataset.agent = agent.name;
  item.dataset.state = agent.connected ? "connected" : "disconnected";
  const name = el("a", "mono", agent.name);
  name.href = "#incoming";
  const badge = el("span", `badge ${agent.connected ? "ok" : "err"}`, agent.connected ? "connected" : "not connected");
  const last = agent.last_file;
  const file = el("span", "muted agent-last", last ? `${last.path} · ${age(last.t)}` : "no file yet");
  file.dataset.testid = "agent-last-file";
  if (last) file.title = `${last.watch}: ${last.path}`;
  const queue = el("span", "muted", backlogText(agent));
  queue.dataset.testid = "agent-backlog";
  item.append(name, badge, file, queue);
  return item;
}

function backlogText(agent) {
  if (!agent.connected || agent.backlog === null || agent.backlog === undefined) return "";
  if (agent.backlog === 0) return "queue empty";
  return `${agent.backlog.toLocaleString()} file${agent.backlog === 1 ? "" : "s"} waiting`;
}
