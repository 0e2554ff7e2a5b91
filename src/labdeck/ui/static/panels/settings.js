/**
 * Settings: the project's default script configuration as a form, and named presets.
 *
 * The form is built from runner.default_config(): numbers, text and switches as typed
 * inputs, nested tables as groups, a table named "advanced" folded away. Whatever the
 * form holds is the configuration of the next Run (shared through runConfig in
 * runstate.js); the script reads it with labdeck.script.config(). A value that does not
 * parse (an empty number, a list that is not JSON) marks its field and blocks Run.
 *
 * Edits are the user's preference `settings.form` ({preset, fields: {path: text or
 * checked}}): they survive a reload and follow a logged-in user to another browser, until
 * Reset. A field the project no longer has is dropped; a new one keeps its default.
 */

import { confirmButton, el, fill } from "../kit.js";
import { prefs } from "../prefs.js";
import { runConfig } from "./runstate.js";

const FORM_KEY = "settings.form";

export default { mount };

function mount(root, { deck, toast }) {
  const $ = fill(root, `
    <div class="card settings-card">
      <header>
        <h2>Script configuration</h2>
        <span class="muted" data-testid="settings-label">loading…</span>
        <span class="spacer"></span>
        <button type="button" class="btn" data-testid="settings-reset" disabled
                title="put back the project's default values">Reset to defaults</button>
      </header>
      <p class="muted settings-hint">These values go to the next run of any script
        (<code>labdeck.script.config()</code>). The run keeps a copy of exactly what it was given.</p>
      <form class="settings-form" data-testid="settings-form" autocomplete="off"></form>
      <p class="empty" data-testid="settings-empty" hidden></p>
    </div>
    <div class="card presets-card">
      <header><h2>Presets</h2><span class="muted">named configurations, shared by everyone on this server</span></header>
      <div class="toolbar">
        <select data-testid="settings-preset" aria-label="Preset"><option value="">no presets yet</option></select>
        <button type="button" class="btn" data-testid="settings-load" disabled>Load</button>
        <button type="button" class="btn danger" data-testid="settings-delete" disabled>Delete</button>
        <span class="spacer"></span>
        <input type="text" placeholder="Preset name" aria-label="Preset name" maxlength="100"
               data-testid="settings-preset-name">
        <button type="button" class="btn primary" data-testid="settings-save">Save current as preset</button>
      </div>
    </div>`);
  const form = $("settings-form");
  const label = $("settings-label");
  const empty = $("settings-empty");
  const resetBtn = $("settings-reset");
  const presetPicker = $("settings-preset");
  const loadBtn = $("settings-load");
  const deleteBtn = $("settings-delete");
  const nameBox = $("settings-preset-name");
  const saveBtn = $("settings-save");

  let defaults = null;
  let presets = {};
  let baseline = { name: null, text: "" }; // what was last loaded, to tell "edited"

  async function loadDefaults() {
    try {
      defaults = await deck.call(["runner", "default_config"]);
      await Promise.all([prefs.ready, presetsLoaded]);
      restore(prefs.get(FORM_KEY));
    } catch (err) {
      label.textContent = "";
      empty.hidden = false;
      empty.textContent = `The default configuration could not be loaded: ${err.message}`;
      runConfig.set({ config: null, label: "project defaults", errors: [] });
    }
  }

  async function loadPresets(select) {
    try {
      presets = await deck.call(["runner", "presets"]);
    } catch (err) {
      if (err.type !== "Disconnected") toast(`Presets: ${err.message}`, "err");
      return;
    }
    const names = Object.keys(presets).sort((a, b) => a.localeCompare(b));
    presetPicker.replaceChildren(...names.map((name) => {
      const option = el("option", "", name);
      option.value = name;
      return option;
    }));
    if (!names.length) presetPicker.append(el("option", "", "no presets yet"));
    if (select && names.includes(select)) presetPicker.value = select;
    loadBtn.disabled = deleteBtn.disabled = !names.length;
  }

  function show(config, presetName, { keep = true } = {}) {
    form.replaceChildren();
    const value = presetName === null ? config : merge(defaults ?? {}, config);
    fillForm(form, value, []);
    empty.hidden = Object.keys(value).length > 0;
    empty.textContent = "This project has no default configuration: scripts get an empty one. "
      + "Set [run] default_config in labdeck.toml to a TOML file to edit values here.";
    baseline = { name: presetName, text: JSON.stringify(collect().config) };
    update({ keep });
  }

  /** The form as the user left it: `saved` is what update() stored, or nothing. */
  function restore(saved) {
    const name = typeof saved?.preset === "string" && saved.preset in presets ? saved.preset : null;
    show(name === null ? defaults : presets[name], name, { keep: false });
    const fields = saved && typeof saved.fields === "object" && saved.fields ? saved.fields : {};
    for (const input of form.querySelectorAll("[data-path]")) {
      const value = fields[input.dataset.path];
      if (input.dataset.kind === "bool" && typeof value === "boolean") input.checked = value;
      else if (input.dataset.kind !== "bool" && typeof value === "string") input.value = value;
    }
    update();
  }

  function remember() {
    const fields = {};
    for (const input of form.querySelectorAll("[data-path]")) {
      fields[input.dataset.path] = input.dataset.kind === "bool" ? input.checked : input.value;
    }
    prefs.set(FORM_KEY, { preset: baseline.name, fields });
  }

  function update({ keep = true } = {}) {
    if (keep && defaults !== null) remember();
    const { config, errors } = collect();
    const text = JSON.stringify(config);
    let name;
    if (baseline.name === null) name = text === baseline.text ? "project defaults" : "edited defaults";
    else name = text === baseline.text ? `preset “${baseline.name}”` : `preset “${baseline.name}”, edited`;
    label.textContent = name;
    resetBtn.disabled = defaults === null || (baseline.name === null && text === baseline.text);
    runConfig.set({ config, label: name, errors });
  }

  function collect() {
    const config = {};
    const errors = [];
    for (const input of form.querySelectorAll("[data-path]")) {
      const path = JSON.parse(input.dataset.path);
      const [value, problem] = read(input);
      input.setCustomValidity(problem ?? "");
      input.closest(".field")?.classList.toggle("invalid", Boolean(problem));
      if (problem) errors.push(`${path.join(".")}: ${problem}`);
      let node = config;
      for (const key of path.slice(0, -1)) node = node[key] ??= {};
      node[path[path.length - 1]] = value;
    }
    // Empty tables are part of the configuration too.
    for (const group of form.querySelectorAll("[data-group]")) {
      let node = config;
      for (const key of JSON.parse(group.dataset.group)) node = node[key] ??= {};
    }
    return { config, errors };
  }

  async function savePreset() {
    const name = nameBox.value.trim();
    if (!name) {
      toast("Give the preset a name first", "warn");
      nameBox.focus();
      return;
    }
    const { config, errors } = collect();
    if (errors.length) {
      toast(`Settings: ${errors[0]}`, "err");
      return;
    }
    try {
      await deck.call(["runner", "save_preset"], [name, config]);
      nameBox.value = "";
      await loadPresets(name);
      baseline = { name, text: JSON.stringify(config) };
      update();
      toast(`Saved preset “${name}”`, "ok");
    } catch (err) {
      toast(`Presets: ${err.message}`, "err");
    }
  }

  async function deletePreset() {
    const name = presetPicker.value;
    if (!name || !(name in presets)) return;
    try {
      await deck.call(["runner", "delete_preset"], [name]);
      if (baseline.name === name) baseline = { ...baseline, name: null };
      await loadPresets();
      update();
      toast(`Deleted preset “${name}”`, "ok");
    } catch (err) {
      toast(`Presets: ${err.message}`, "err");
    }
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", (ev) => ev.preventDefault());
  resetBtn.addEventListener("click", () => defaults && show(defaults, null));
  loadBtn.addEventListener("click", () => {
    const name = presetPicker.value;
    if (name in presets) show(presets[name], name);
  });
  // Delete asks to be pressed twice; choosing another preset takes the question back.
  const disarm = confirmButton(deleteBtn, () => `Delete “${presetPicker.value}”?`, deletePreset);
  presetPicker.addEventListener("change", disarm);
  saveBtn.addEventListener("click", savePreset);
  nameBox.addEventListener("keydown", (ev) => ev.key === "Enter" && savePreset());

  const presetsLoaded = loadPresets();
  loadDefaults();
  return () => disarm();
}

// -- the form -----------------------------------------------------------------------

/** Inputs for the keys of `value` into `container`; tables nest, "advanced" folds. */
function fillForm(container, value, path) {
  const keys = Object.keys(value);
  // Plain values first, then groups, the advanced fold last: how a person reads a form.
  const order = (key) => (isTable(value[key]) ? (key === "advanced" ? 2 : 1) : 0);
  keys.sort((a, b) => order(a) - order(b));
  for (const key of keys) {
    const item = value[key];
    const here = [...path, key];
    if (isTable(item)) container.append(group(key, item, here));
    else container.append(field(key, item, here));
  }
}

function group(key, value, path) {
  const body = el("div", "settings-group-body");
  fillForm(body, value, path);
  if (key === "advanced") {
    const details = el("details", "settings-group settings-advanced");
    details.dataset.testid = `settings-group-${path.join(".")}`;
    details.dataset.group = JSON.stringify(path);
    details.append(el("summary", "", "Advanced"), body);
    return details;
  }
  const fieldset = el("fieldset", "settings-group");
  fieldset.dataset.testid = `settings-group-${path.join(".")}`;
  fieldset.dataset.group = JSON.stringify(path);
  fieldset.append(el("legend", "", key), body);
  return fieldset;
}

function field(key, value, path) {
  const id = `setting-${path.join("-")}`;
  const row = el("div", "field");
  const name = el("label", "", key);
  name.htmlFor = id;
  name.title = path.join(".");
  let input;
  if (typeof value === "boolean") {
    input = el("input");
    input.type = "checkbox";
    input.checked = value;
    input.dataset.kind = "bool";
    row.classList.add("field-bool");
  } else if (typeof value === "number") {
    // Any number: JSON cannot tell 2.0 from 2, so a float default may look whole.
    input = el("input");
    input.type = "number";
    input.step = "any";
    input.value = String(value);
    input.dataset.kind = "number";
  } else if (typeof value === "string") {
    input = el("input");
    input.type = "text";
    input.value = value;
    input.dataset.kind = "text";
  } else {
    input = el("input");
    input.type = "text";
    input.value = JSON.stringify(value);
    input.dataset.kind = "json";
    input.classList.add("mono");
    input.title = "a JSON value, e.g. [1, 2, 3]";
  }
  input.id = id;
  input.name = path.join(".");
  input.dataset.path = JSON.stringify(path);
  input.dataset.testid = id;
  row.append(name, input);
  if (input.dataset.kind === "json") row.append(el("span", "muted settings-kind", "list"));
  return row;
}

/** [value, problem]: the typed value of an input, or why it has none. */
function read(input) {
  const text = input.value.trim();
  switch (input.dataset.kind) {
    case "bool":
      return [input.checked, null];
    case "number": {
      const n = Number(text);
      if (text === "" || !Number.isFinite(n)) return [null, "a number is expected"];
      return [n, null];
    }
    case "json":
      try {
        return [JSON.parse(text), null];
      } catch {
        return [null, "not valid JSON (a list looks like [1, 2, 3])"];
      }
    default:
      return [input.value, null];
  }
}

function isTable(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Defaults with a preset laid over them, tables merged key by key. */
function merge(base, over) {
  const out = { ...base };
  for (const [key, value] of Object.entries(over ?? {})) {
    out[key] = isTable(value) && isTable(base[key]) ? merge(base[key], value) : value;
  }
  return out;
}
