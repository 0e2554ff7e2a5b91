/**
 * Admin: maintenance mode, runtime switches, request statistics over days (uPlot), the
 * slowest routes, the periodic jobs, users (add, change a role, set a password, delete),
 * login sessions, API tokens and the audit log.
 *
 * Everything goes through the admin's REST API (api/admin/..., api/sessions), never the
 * websocket, so the standalone page at /admin keeps working in maintenance mode. It
 * refreshes every REFRESH_MS while shown; every change is answered by a fresh reload
 * of what it touched, and shows in the audit log.
 */

import uPlot from "../vendor/uPlot.esm.js";
import { axisStyle, onThemeChange, seriesColors } from "../theme.js";

const REFRESH_MS = 10_000;
const DAYS = 30;

export default { mount };

const SECTIONS = `
  <div class="card" data-testid="admin-maintenance">
    <header><h2>Maintenance</h2><span class="muted" data-testid="maintenance-state">…</span></header>
    <div class="toolbar admin-maintenance">
      <input type="text" maxlength="2000" placeholder="Message people see" aria-label="Maintenance message"
             data-testid="maintenance-message">
      <label class="muted">until <input type="datetime-local" data-testid="maintenance-until"></label>
      <button type="button" class="btn danger" data-testid="maintenance-on">Start maintenance</button>
      <button type="button" class="btn" data-testid="maintenance-off">End maintenance</button>
    </div>
  </div>
  <div class="card" data-testid="admin-switches">
    <header><h2>Switches</h2><span class="muted">effective at once, until the server restarts</span></header>
    <div class="toolbar">
      <label>Log level <select data-testid="switch-log_level">
        <option>DEBUG</option><option>INFO</option><option>WARNING</option><option>ERROR</option></select></label>
      <label><input type="checkbox" data-testid="switch-timing"> per-request timing log</label>
      <label><input type="checkbox" data-testid="switch-debug"> debug (error details on pages)</label>
    </div>
  </div>
  <div class="card" data-testid="admin-stats">
    <header><h2>Requests per day</h2><span class="muted" data-testid="stats-summary"></span></header>
    <div class="admin-chart" data-testid="stats-chart"></div>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>Since the first start</th><th class="num">Requests</th><th class="num">Bytes out</th>
        <th class="num">Files</th><th class="num">Invalid</th><th class="num">Not found</th></tr></thead>
      <tbody data-testid="stats-totals"></tbody></table></div>
  </div>
  <div class="card"><header><h2>Slowest routes</h2><span class="muted">mean time since this start</span></header>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>Route</th><th class="num">Requests</th><th class="num">Mean</th><th class="num">Slowest</th></tr></thead>
      <tbody data-testid="slowest"></tbody></table></div></div>
  <div class="card"><header><h2>Jobs</h2></header>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>Job</th><th>Last run</th><th>Result</th><th>Next run</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody data-testid="jobs"></tbody></table></div></div>
  <div class="card" data-testid="admin-users"><header><h2>Users</h2></header>
    <form class="toolbar" data-testid="user-add-form">
      <input type="text" required maxlength="64" pattern="[a-z][a-z0-9._\-]{0,63}" autocomplete="off"
             placeholder="name" aria-label="New user's name" data-testid="user-add-name">
      <select aria-label="New user's role" data-testid="user-add-role">
        <option>viewer</option><option selected>operator</option><option>admin</option></select>
      <input type="password" required minlength="10" maxlength="1024" autocomplete="new-password"
             placeholder="initial password" aria-label="New user's initial password" data-testid="user-add-password">
      <button type="submit" class="btn" data-testid="user-add">Add user</button>
    </form>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>User</th><th>Role</th><th>Created</th><th>Last login</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody data-testid="users"></tbody></table></div></div>
  <div class="card"><header><h2>Sessions</h2></header>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>User</th><th>From</th><th>Logged in</th><th>Last seen</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody data-testid="sessions"></tbody></table></div></div>
  <div class="card"><header><h2>API tokens</h2><span class="muted">make one with <code>labdeck token add</code></span></header>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>Token</th><th>Role</th><th>Expires</th><th>Last used</th><th><span class="visually-hidden">Actions</span></th></tr></thead>
      <tbody data-testid="tokens"></tbody></table></div></div>
  <div class="card"><header><h2>Audit log</h2><span class="muted">newest first</span></header>
    <div class="table-wrap" tabindex="0"><table class="data">
      <thead><tr><th>When</th><th>Who</th><th>What</th><th>Detail</th></tr></thead>
      <tbody data-testid="audit"></tbody></table></div></div>`;

function mount(root, { kit, toast }) {
  const $ = kit.fill(root, SECTIONS);
  const { el, formatTime } = kit;
  let chart = null;
  let chartData = null;
  let timer = 0;
  let visible = true;

  async function send(method, path, body) {
    const reply = await fetch(kit.apiUrl(path), {
      method,
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!reply.ok) throw new Error(await kit.errorText(reply));
    return reply.json();
  }

  function act(what, action) {
    return async () => {
      try {
        await action();
        toast(what, "ok");
      } catch (err) {
        toast(`${what}: ${err.message}`, "err");
      }
      await refresh();
    };
  }

  function row(cells, testid) {
    const tr = el("tr");
    if (testid) tr.dataset.testid = testid;
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell);
      else if (typeof cell === "number" || cell?.num !== undefined) {
        td.className = "num mono";
        td.textContent = String(cell?.num ?? cell);
      } else td.textContent = cell ?? "–";
      tr.append(td);
    }
    return tr;
  }

  /** The rows of a table, or one row saying there are none. */
  function rows(list, make, none) {
    if (list.length) return list.map(make);
    const tr = row([none], "none");
    tr.firstChild.colSpan = 5;
    tr.firstChild.className = "muted";
    return [tr];
  }

  function button(label, testid, onClick, kind = "btn") {
    const b = el("button", kind, label);
    b.type = "button";
    b.dataset.testid = testid;
    b.addEventListener("click", onClick);
    return b;
  }

  const bytes = (n) => {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  };
  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;

  // -- the sections ------------------------------------------------------------------

  function showMaintenance(m) {
    const state = $("maintenance-state");
    state.textContent = m.on ? `ON: ${m.message}${m.until ? ` (until ${formatTime(m.until)})` : ""}` : "off";
    state.dataset.on = String(m.on);
  }

  function showSwitches(s) {
    $("switch-log_level").value = s.log_level;
    $("switch-timing").checked = s.timing;
    $("switch-debug").checked = s.debug;
  }

  function showStats(stats) {
    const t = stats.totals;
    $("stats-summary").textContent = stats.first_start ? `first start ${formatTime(stats.first_start)}` : "";
    $("stats-totals").replaceChildren(row(["all", t.requests, { num: bytes(t.bytes_out) }, t.files, t.invalid, t.not_found],
                                          "stats-total-row"));
    $("slowest").replaceChildren(...stats.slowest.map((r) => row([r.route, r.count, { num: ms(r.mean) }, { num: ms(r.max) }], "slow-route")));
    // every day of the range, those without requests as 0, so one busy day is not the whole axis
    const byDay = new Map(stats.days.map((d) => [d.day, d]));
    const first = Date.parse(`${stats.since}T00:00:00Z`) / 1000;
    const days = [];
    for (let t = first; t <= Date.now() / 1000; t += 86400) days.push(t);
    const dayOf = (t) => byDay.get(new Date(t * 1000).toISOString().slice(0, 10));
    const data = [days, days.map((t) => dayOf(t)?.requests ?? 0),
                  days.map((t) => (dayOf(t)?.not_found ?? 0) + (dayOf(t)?.invalid ?? 0))];
    const box = $("stats-chart");
    box.dataset.days = String(stats.days.length);
    box.dataset.requests = String(stats.days.reduce((n, d) => n + d.requests, 0));
    chartData = data;
    if (!chart) drawChart();
    else chart.setData(data);
  }

  // Axes and lines in the theme's colours; the chart follows the box's width (a phone
  // turned sideways) and is drawn again when the system switches between light and dark.
  function drawChart() {
    const box = $("stats-chart");
    kit.loadCss("static/vendor/uPlot.min.css", { first: true });
    const [requests, refused] = seriesColors();
    chart?.destroy();
    chart = new uPlot({
      width: Math.max(box.clientWidth, 200), height: 200,
      series: [{}, { label: "requests", stroke: requests, width: 1.5, points: { show: true } },
               { label: "invalid + not found", stroke: refused, width: 1.5, points: { show: true } }],
      axes: [axisStyle(), { ...axisStyle(), size: 60 }],
    }, chartData, box);
  }
  const resizer = new ResizeObserver(() => {
    const width = $("stats-chart").clientWidth;
    if (chart && width && width !== chart.width) chart.setSize({ width: Math.max(width, 200), height: 200 });
  });
  resizer.observe($("stats-chart"));
  const unwatchTheme = onThemeChange(() => { if (chart) drawChart(); });

  function showJobs(jobs) {
    $("jobs").replaceChildren(...jobs.map((j) => {
      const result = el("span", j.last_ok === false ? "err" : "", j.last_result || "–");
      const tr = row([j.title, j.last_run ? formatTime(j.last_run) : "never", result, formatTime(j.next_run),
        button("Run now", `job-run-${j.name}`, act(`Job ${j.name} ran`, () => send("POST", `api/admin/jobs/${j.name}/run`)))],
      "job");
      tr.dataset.job = j.name;
      return tr;
    }));
  }

  function roleSelect(user) {
    const select = el("select");
    select.setAttribute("aria-label", `Role of ${user.name}`);
    select.dataset.testid = `user-role-${user.name}`;
    for (const role of ["viewer", "operator", "admin"]) select.append(new Option(role, role, false, role === user.role));
    select.addEventListener("change", act(`${user.name} is now ${select.value}`,
      () => send("PATCH", `api/admin/users/${user.name}`, { role: select.value })));
    return select;
  }

  function userActions(user) {
    const box = el("span", "admin-user-actions");
    const password = el("input");
    Object.assign(password, { type: "password", minLength: 10, maxLength: 1024, autocomplete: "new-password",
                              placeholder: "new password" });
    password.setAttribute("aria-label", `New password for ${user.name}`);
    password.dataset.testid = `user-password-${user.name}`;
    const reset = button("Set password", `user-password-set-${user.name}`, act(`Password of ${user.name} set`,
      async () => {
        await send("PUT", `api/admin/users/${user.name}/password`, { password: password.value });
        password.value = "";
      }));
    const remove = el("button", "btn danger", "Delete");
    remove.type = "button";
    remove.dataset.testid = `user-delete-${user.name}`;
    kit.confirmButton(remove, () => `Delete ${user.name}?`,
      act(`${user.name} deleted`, () => send("DELETE", `api/admin/users/${user.name}`)));
    box.append(password, reset, remove);
    return box;
  }

  function showUsers(users) {
    const table = $("users");
    // a password being typed survives the periodic refresh
    if ([...table.querySelectorAll("input")].some((input) => input.value)) return;
    table.replaceChildren(...rows(users, (u) => {
      const tr = row([u.name, roleSelect(u), formatTime(u.created), formatTime(u.last_login), userActions(u)], "user");
      tr.dataset.user = u.name;
      return tr;
    }, "No users: the server is in open mode, or nobody was added yet."));
  }

  function showSessions(sessions) {
    $("sessions").replaceChildren(...rows(sessions, (s) => row([s.user, s.peer, formatTime(s.created), formatTime(s.last_seen),
      button("End", `session-end-${s.handle}`, act(`Session of ${s.user} ended`, () => send("DELETE", `api/sessions/${s.handle}`)), "btn danger")],
    "session"), "Nobody is logged in."));
  }

  function showTokens(tokens) {
    $("tokens").replaceChildren(...rows(tokens, (t) => row([t.name, t.role, t.expires ? formatTime(t.expires) : "never",
      formatTime(t.last_used),
      button("Revoke", `token-revoke-${t.name}`, act(`Token ${t.name} revoked`, () => send("DELETE", `api/admin/tokens/${t.name}`)), "btn danger")],
    "token"), "No API tokens."));
  }

  function showAudit(entries) {
    $("audit").replaceChildren(...entries.map((e) => {
      const tr = row([formatTime(e.t), e.user ?? `(${e.via})`, e.action, JSON.stringify(e.detail)], "audit-entry");
      tr.dataset.action = e.action;
      return tr;
    }));
  }

  async function refresh() {
    clearTimeout(timer);
    const parts = [
      ["api/admin/maintenance", showMaintenance], ["api/admin/switches", showSwitches],
      [`api/admin/stats?days=${DAYS}`, showStats], ["api/admin/jobs", (b) => showJobs(b.jobs)],
      ["api/admin/users", (b) => showUsers(b.users)], ["api/sessions", (b) => showSessions(b.sessions)],
      ["api/admin/tokens", (b) => showTokens(b.tokens)], ["api/admin/audit?limit=50", (b) => showAudit(b.entries)],
    ];
    await Promise.all(parts.map(async ([path, show]) => {
      try {
        show(await kit.getJson(path));
      } catch (err) {
        toast(`Admin: ${err.message}`, "err");
      }
    }));
    root.dataset.loaded = String(Number(root.dataset.loaded ?? 0) + 1);
    if (visible) timer = setTimeout(refresh, REFRESH_MS);
  }

  // -- the controls ------------------------------------------------------------------

  $("maintenance-on").addEventListener("click", act("Maintenance started", () => {
    const until = $("maintenance-until").value;
    return send("PUT", "api/admin/maintenance", {
      message: $("maintenance-message").value,
      until: until ? Date.parse(until) / 1000 : null,
    });
  }));
  $("user-add-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("user-add-name").value;
    act(`${name} added`, async () => {
      await send("POST", "api/admin/users", { name, role: $("user-add-role").value, password: $("user-add-password").value });
      $("user-add-name").value = $("user-add-password").value = "";
    })();
  });
  $("maintenance-off").addEventListener("click", act("Maintenance ended", () => send("DELETE", "api/admin/maintenance")));
  $("switch-log_level").addEventListener("change", act("Log level changed",
    () => send("PATCH", "api/admin/switches", { log_level: $("switch-log_level").value })));
  for (const name of ["timing", "debug"]) {
    const box = $(`switch-${name}`);
    box.addEventListener("change", () => act(`${name} switched ${box.checked ? "on" : "off"}`,
      () => send("PATCH", "api/admin/switches", { [name]: box.checked }))());
  }

  refresh();
  return {
    shown() { visible = true; refresh(); },
    hidden() { visible = false; clearTimeout(timer); },
    cleanup() {
      visible = false;
      clearTimeout(timer);
      resizer.disconnect();
      unwatchTheme();
      chart?.destroy();
    },
  };
}
