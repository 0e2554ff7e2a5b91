/**
 * Rigs: every rig of [rigs.<name>] with its state, last message and round trip, live from
 * rigs/<name>; Init, Start (experiment reference yyyy-mm-dd_n_subject), Stop, Stop now and
 * Cleanup for the whole group or one rig. The buttons call the `rigs` object, which needs
 * the operator role: for a viewer they are disabled with a note saying so (and should one
 * be pressed anyway, the server's refusal is shown as a toast).
 */

export default { mount };

// The local date: a session started just after midnight belongs to the new day.
const today = () => {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};
const CAN_DRIVE = new Set(["operator", "admin"]);

function mount(root, { deck, toast }) {
  root.innerHTML = `
    <div class="card">
      <header><h2>Rigs</h2><span class="muted" data-testid="rigs-count"></span></header>
      <div class="toolbar rigs-controls">
        <label class="muted">Experiment <input type="text" data-testid="rigs-exp-ref" size="14"
          title="yyyy-mm-dd_n_subject: the date, the session number of the day, the subject"></label>
        <label class="muted">Subject <input type="text" data-testid="rigs-subject" size="12" placeholder="subject"></label>
        <span class="muted rigs-ref" data-testid="rigs-ref-preview"></span>
        <span class="spacer"></span>
        <span class="rig-actions rigs-all"><span class="muted">All rigs:</span>${buttons("all")}</span>
      </div>
      <p class="rigs-readonly" data-testid="rigs-readonly" hidden>You are signed in as a viewer: you see
        the rigs' states, but driving them (Init, Start, Stop, Cleanup) needs the operator role.</p>
      <p class="muted" data-testid="rigs-empty" hidden>No rigs: add [rigs.NAME] sections with a uri to labdeck.toml.</p>
      <div class="table-wrap"><table class="data compact rigs-table">
        <thead><tr><th>Rig</th><th>State</th><th>Last message</th><th>Round trip</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody data-testid="rigs-table"></tbody>
      </table></div>
    </div>`;
  const $ = (id) => root.querySelector(`[data-testid="${id}"]`);
  $("rigs-exp-ref").value = `${today()}_1_`;
  const rows = new Map();
  let readOnly = false;

  const expRef = () => {
    const ref = $("rigs-exp-ref").value.trim();
    const subject = $("rigs-subject").value.trim();
    return ref.endsWith("_") ? ref + subject : ref;
  };

  const preview = () => {
    $("rigs-ref-preview").textContent = `starts ${expRef() || "…"}`;
  };
  root.addEventListener("input", preview);
  preview();

  const lockButtons = () => {
    for (const btn of root.querySelectorAll("button[data-action]")) {
      btn.disabled = readOnly;
      btn.title = readOnly ? "needs the operator role" : "";
    }
  };

  fetch(new URL("api/session", document.baseURI), { cache: "no-store" })
    .then((reply) => (reply.ok ? reply.json() : null))
    .then((me) => {
      readOnly = Boolean(me && me.via !== "open" && !CAN_DRIVE.has(me.role));
      $("rigs-readonly").hidden = !readOnly;
      lockButtons();
    }, () => {}); // the server is away: the connection pill says so, the server still checks roles

  async function act(action, rig) {
    if (action === "start" && !/^\d{4}-\d{2}-\d{2}_\d+_.+/.test(expRef())) {
      toast("Start: the experiment reference needs a subject (yyyy-mm-dd_n_subject)", "err");
      return;
    }
    const rigs = rig === "all" ? null : [rig];
    const calls = {
      init: () => deck.call(["rigs", "init"], [], { rigs }),
      start: () => deck.call(["rigs", "start"], [expRef()], { rigs }),
      stop: () => deck.call(["rigs", "stop"], [], { rigs }),
      interrupt: () => deck.call(["rigs", "stop"], [], { immediately: true, rigs }),
      cleanup: () => deck.call(["rigs", "cleanup"], [], { rigs }),
    };
    try {
      const answers = await calls[action]();
      const failed = Object.entries(answers).filter(([, a]) => a && typeof a === "object" && a.error);
      for (const [name, a] of failed) toast(`${name}: ${a.error.message}`, "err");
    } catch (err) {
      toast(`${err.type}: ${err.message}`, "err");
    }
  }

  root.addEventListener("click", (ev) => {
    const btn = ev.target.closest("button[data-action]");
    if (btn) act(btn.dataset.action, btn.dataset.rig);
  });

  function show(view) {
    let tr = rows.get(view.rig);
    if (!tr) {
      tr = document.createElement("tr");
      tr.dataset.testid = `rig-${view.rig}`;
      tr.innerHTML = `<td class="mono rig-name"></td>
        <td data-label="State"><span class="badge" data-testid="rig-state"></span></td>
        <td data-label="Last" data-testid="rig-last"></td>
        <td data-label="Round trip" class="mono rig-rtt" data-testid="rig-rtt"></td>
        <td class="rig-buttons"><div class="rig-actions">${buttons(view.rig)}</div></td>`;
      tr.cells[0].replaceChildren(document.createTextNode(view.rig), Object.assign(document.createElement("div"), {
        className: "muted rig-where", textContent: `${view.mode} · ${view.uri}`,
      }));
      $("rigs-table").append(tr);
      rows.set(view.rig, tr);
      lockButtons();
    }
    const state = tr.querySelector('[data-testid="rig-state"]');
    state.textContent = view.state;
    state.className = `badge rig-${view.state}`;
    const last = view.last;
    tr.querySelector('[data-testid="rig-last"]').textContent = last
      ? `${last.event}: ${last.outcome}${last.error ? ` (${last.error})` : ""} at ${new Date(last.t * 1000).toLocaleTimeString()}${last.via ? `, by ${last.via}` : ""}`
      : "–";
    tr.querySelector('[data-testid="rig-rtt"]').textContent = view.rtt_ms == null ? "–" : `${view.rtt_ms.toFixed(2)} ms`;
  }

  deck.call(["rigs", "rigs"]).then((views) => {
    $("rigs-count").textContent = `${views.length} rig${views.length === 1 ? "" : "s"}`;
    $("rigs-empty").hidden = views.length > 0;
    for (const view of views) {
      show(view);
      deck.subscribe(`rigs/${view.rig}`, show, { since: 0 });
    }
  }, (err) => toast(`rigs: ${err.message}`, "err"));
}

function buttons(rig) {
  const b = (action, label, cls = "") =>
    `<button type="button" class="btn ${cls}" data-action="${action}" data-rig="${rig}"
      data-testid="rig-${action}-${rig}">${label}</button>`;
  return b("init", "Init") + b("start", "Start", "primary") + b("stop", "Stop") +
    b("interrupt", "Stop now", "danger") + b("cleanup", "Cleanup");
}
