/**
 * Objects: every exposed Python object as a live form, built from `dir`.
 *
 * - attributes show their value; observed ones (those `dir` gives a `channel`) update as
 *   they change, through a subscription; writable ones have a typed input and a Set button;
 * - methods are buttons with one typed input per parameter (from the signature), the
 *   result or the error shown beside the button;
 * - nested objects are sections of their own, described when first opened.
 *
 * Test ids carry the dotted path: `value-sample.a`, `input-sample.a`, `set-sample.a`,
 * `call-sample.test_sum`, `arg-sample.test_sum.a`, `result-sample.test_sum`.
 */

import { el, fill, truncate } from "../kit.js";

export default { mount };

const NUMBER_TYPES = new Set(["int", "float"]);

/** Objects labdeck itself exposes; each has a panel of its own. */
const BUILT_IN = new Set(["runner", "rigs", "stations", "agents"]);

function mount(root, { deck, toast }) {
  const $ = fill(root, `
    <div class="card">
      <header>
        <h2>Objects</h2>
        <span class="muted" data-testid="objects-count">loading…</span>
        <span class="spacer"></span>
        <button type="button" class="btn" data-testid="objects-refresh">Refresh</button>
      </header>
      <p class="muted objects-help">Python objects the server exposes. Live values update by themselves;
        the others when you press Refresh.</p>
      <p class="empty" data-testid="objects-empty" hidden>No objects are exposed. In Python:
        <code class="mono">deck.expose("name", obj)</code>, or <code class="mono">[objects]</code> in the config file.</p>
    </div>
    <div class="objects-list" data-testid="objects-list"></div>`);

  const list = $("objects-list");
  const count = $("objects-count");
  const empty = $("objects-empty");
  let cleanups = [];
  let generation = 0; // a newer load makes the replies of an older one moot

  async function load() {
    const gen = ++generation;
    cleanups.forEach((fn) => fn());
    cleanups = [];
    list.replaceChildren();
    let space;
    try {
      space = await deck.dir([]);
      if (gen !== generation) return;
    } catch (err) {
      count.textContent = "unavailable";
      toast(`Objects: ${err.type ?? "Error"}: ${err.message}`, "err");
      return;
    }
    // The experiment's own objects first; labdeck's built-ins (which have panels of
    // their own) last and folded, so they do not push the lab's objects out of view.
    const names = [...(space.members ?? [])].sort(
      (a, b) => BUILT_IN.has(a.name) - BUILT_IN.has(b.name),
    );
    // The count is the lab's objects; labdeck's own are there in any lab.
    const own = names.filter((entry) => !BUILT_IN.has(entry.name)).length;
    const builtIn = names.length - own;
    count.textContent = `${own} of the lab's own${builtIn ? ` · ${builtIn} built in` : ""}`;
    empty.hidden = own > 0;
    for (const entry of names) {
      const card = el("section", "card object-card");
      card.dataset.testid = `object-${entry.name}`;
      card.innerHTML = `<header><h2 class="mono"></h2><span class="badge idle"></span></header><div class="members"></div>`;
      card.querySelector("h2").textContent = entry.name;
      card.querySelector(".badge").textContent = shortType(entry.type);
      let box = card.querySelector(".members");
      if (BUILT_IN.has(entry.name)) {
        card.querySelector("header").insertAdjacentHTML("beforeend", `<span class="muted">built into labdeck</span>`);
        const fold = el("details", "builtin-fold");
        fold.innerHTML = `<summary class="muted">Show its methods</summary><div class="members"></div>`;
        box.replaceWith(fold);
        box = fold.querySelector(".members");
      }
      list.append(card);
      describeInto(box, [entry.name]);
    }
  }

  async function describeInto(box, path) {
    box.innerHTML = `<p class="muted">loading…</p>`;
    let info;
    try {
      info = await deck.dir(path);
    } catch (err) {
      box.innerHTML = `<p class="obj-error"></p>`;
      box.firstChild.textContent = `${err.type ?? "Error"}: ${err.message}`;
      return;
    }
    box.replaceChildren();
    if (info.doc) {
      const doc = el("p", "muted obj-doc", firstLine(info.doc));
      box.append(doc);
    }
    const members = info.members ?? [];
    const attrs = members.filter((m) => m.kind === "attribute");
    const methods = members.filter((m) => m.kind === "method");
    const objects = members.filter((m) => m.kind === "object");
    if (attrs.length) box.append(group("Attributes", attrs.map((m) => attributeRow(m, [...path, m.name]))));
    if (methods.length) box.append(group("Methods", methods.map((m) => methodRow(m, [...path, m.name]))));
    for (const m of objects) box.append(objectSection(m, [...path, m.name]));
    if (!members.length) box.insertAdjacentHTML("beforeend", `<p class="muted">Nothing exposed here.</p>`);
  }

  function group(title, rows) {
    const div = el("div", "obj-group");
    div.innerHTML = `<h3></h3>`;
    div.querySelector("h3").textContent = title;
    div.append(...rows);
    return div;
  }

  function objectSection(m, path) {
    const details = el("details", "obj-nested");
    details.dataset.testid = `object-${path.join(".")}`;
    details.innerHTML = `<summary><span class="mono"></span> <span class="badge idle"></span></summary><div class="members"></div>`;
    details.querySelector("summary .mono").textContent = m.name;
    details.querySelector("summary .badge").textContent = shortType(m.type);
    let loaded = false;
    details.addEventListener("toggle", () => {
      if (details.open && !loaded) {
        loaded = true;
        describeInto(details.querySelector(".members"), path);
      }
    });
    return details;
  }

  function attributeRow(m, path) {
    const id = path.join(".");
    const row = el("div", "field obj-attr");
    row.innerHTML = `<label class="mono"></label><output class="mono obj-value"></output>`;
    const label = row.querySelector("label");
    label.textContent = m.name;
    if (m.doc) label.title = m.doc;
    const out = row.querySelector("output");
    out.dataset.testid = `value-${id}`;
    let input = null;
    const show = (value) => {
      out.textContent = formatValue(value);
      out.classList.remove("flash");
      void out.offsetWidth; // restart the animation
      out.classList.add("flash");
      if (input && document.activeElement !== input) writeInput(input, value);
    };
    if ("value" in m) out.textContent = formatValue(m.value);
    else out.textContent = m.error ?? "";
    const live = el("span", "obj-live");
    row.insertBefore(live, out);
    if (m.channel) {
      live.className = "obj-live badge ok";
      live.textContent = "live";
      live.title = `updates from channel ${m.channel}`;
      cleanups.push(deck.subscribe(m.channel, (data) => show(data)));
    }
    if (m.writable) {
      const type = attrType(m);
      input = inputFor(type, `input-${id}`, m.name);
      writeInput(input, m.value);
      const btn = el("button");
      btn.type = "button";
      btn.className = "btn";
      btn.textContent = "Set";
      btn.dataset.testid = `set-${id}`;
      const apply = async () => {
        let value;
        try {
          value = readInput(input, type);
        } catch (err) {
          toast(`${id}: ${err.message}`, "err");
          return;
        }
        try {
          await deck.set(path, value);
          if (!m.channel) out.textContent = formatValue(value);
          toast(`${id} = ${formatValue(value)}`, "ok");
        } catch (err) {
          toast(`${id}: ${err.type ?? "Error"}: ${err.message}`, "err");
        }
      };
      btn.addEventListener("click", apply);
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") apply();
      });
      row.append(input, btn);
    } else {
      const ro = el("span", "muted obj-ro", "read-only");
      row.append(ro);
    }
    return row;
  }

  function methodRow(m, path) {
    const id = path.join(".");
    const row = el("div", "obj-method");
    const btn = el("button");
    btn.type = "button";
    btn.className = "btn primary mono";
    btn.textContent = `${m.name}()`;
    btn.dataset.testid = `call-${id}`;
    btn.title = m.signature + (m.doc ? `\n\n${m.doc}` : "");
    const args = el("span", "obj-args");
    const inputs = [];
    for (const p of m.params ?? []) {
      const type = p.kind === "var_positional" || p.kind === "var_keyword" ? "json" : p.type ?? "json";
      const input = inputFor(type, `arg-${id}.${p.name}`, p.name);
      const wrap = el("label", "obj-arg");
      wrap.innerHTML = `<span class="mono"></span>`;
      wrap.firstChild.textContent = p.kind === "var_positional" ? `*${p.name}` : p.kind === "var_keyword" ? `**${p.name}` : p.name;
      if ("default" in p) {
        if (input.type === "checkbox") input.checked = Boolean(p.default);
        else input.placeholder = formatValue(p.default);
      } else if (p.required) {
        input.placeholder = p.type ?? "value";
      }
      wrap.append(input);
      args.append(wrap);
      inputs.push({ p, input, type });
    }
    const result = el("output", "mono obj-result");
    result.dataset.testid = `result-${id}`;
    btn.addEventListener("click", async () => {
      let call;
      try {
        call = buildCall(inputs);
      } catch (err) {
        showResult(result, err.message, true);
        return;
      }
      btn.disabled = true;
      result.classList.add("pending");
      result.textContent = "…";
      try {
        const value = await deck.call(path, call.args, call.kwargs);
        showResult(result, `→ ${formatValue(value)}`, false);
      } catch (err) {
        showResult(result, `${err.type ?? "Error"}: ${err.message}`, true);
      } finally {
        btn.disabled = false;
        result.classList.remove("pending");
      }
    });
    const badges = [];
    if (m.async) badges.push("async");
    if (m.exclusive) badges.push("exclusive");
    row.append(btn, args, ...badges.map(badgeEl), result);
    if (m.doc) {
      const doc = el("div", "muted obj-doc", firstLine(m.doc));
      row.append(doc);
    }
    return row;
  }

  $("objects-refresh").addEventListener("click", load);
  let lost = false;
  const offState = deck.on("state", (state) => {
    if (state === "reconnecting" || state === "closed") lost = true;
    if (state === "open" && lost) {
      lost = false;
      load(); // the server may have restarted with other objects
    }
  });
  load();
  return () => {
    offState?.();
    cleanups.forEach((fn) => fn());
  };
}

// Arguments: positional-only and *args go by position, everything else by name, so an
// optional parameter left empty simply keeps its default.
function buildCall(inputs) {
  const args = [];
  const kwargs = {};
  for (const { p, input, type } of inputs) {
    const empty = input.type !== "checkbox" && input.value.trim() === "";
    if (empty) {
      if (p.required && p.kind !== "var_positional" && p.kind !== "var_keyword") {
        throw new Error(`argument ${p.name} is required`);
      }
      continue;
    }
    const value = readInput(input, type);
    if (p.kind === "positional_only") args.push(value);
    else if (p.kind === "var_positional") args.push(...(Array.isArray(value) ? value : [value]));
    else if (p.kind === "var_keyword") Object.assign(kwargs, value);
    else kwargs[p.name] = value;
  }
  return { args, kwargs };
}

function inputFor(type, testid, name) {
  const input = el("input");
  input.dataset.testid = testid;
  input.setAttribute("aria-label", name);
  if (type === "bool") {
    input.type = "checkbox";
  } else if (NUMBER_TYPES.has(type)) {
    input.type = "number";
    input.step = type === "int" ? "1" : "any";
    input.className = "obj-num";
  } else {
    input.type = "text";
    input.className = type === "str" ? "obj-text" : "obj-text mono";
    if (type !== "str") input.title = "a JSON value (text that is not JSON is sent as a string)";
  }
  return input;
}

function readInput(input, type) {
  if (input.type === "checkbox") return input.checked;
  const text = input.value;
  if (type === "int" || type === "float") {
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n)) throw new Error(`${input.getAttribute("aria-label")}: not a number`);
    if (type === "int" && !Number.isInteger(n)) throw new Error(`${input.getAttribute("aria-label")}: not an integer`);
    return n;
  }
  if (type === "str") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function writeInput(input, value) {
  if (input.type === "checkbox") input.checked = Boolean(value);
  else if (typeof value === "string" && !input.classList.contains("mono")) input.value = value;
  else input.value = value === undefined ? "" : typeof value === "number" ? String(value) : JSON.stringify(value);
}

// The input kind for an attribute: from the Python type `dir` reports, JSON otherwise.
function attrType(m) {
  return ["int", "float", "bool", "str"].includes(m.type) ? m.type : "json";
}

function showResult(out, text, isError) {
  out.textContent = text;
  out.classList.toggle("error", isError);
  out.title = text;
}

function badgeEl(text) {
  return el("span", "badge idle", text);
}

function formatValue(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(+value.toPrecision(6));
  const text = JSON.stringify(value);
  return text === undefined ? "" : truncate(text, 200);
}

function shortType(type) {
  return (type ?? "").split(".").pop();
}

// The first paragraph of a docstring, without reStructuredText markup (``x``, :class:`X`).
function firstLine(text) {
  return text
    .split("\n\n")[0]
    .replace(/:[a-z]+:`~?([^`]+)`/g, "$1")
    .replace(/``([^`]+)``/g, "$1")
    .replace(/\s+/g, " ");
}
