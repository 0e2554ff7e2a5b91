/**
 * Files: upload into the project's upload folders ([run] upload_dirs) and see what is there.
 *
 * One card per folder, from GET api/uploads: its rules in plain words, a drop zone with a
 * file picker, one row per upload (progress while it is sent, then the server's verdict)
 * and the folder's files from GET api/uploads/{dir}. Files go one at a time, in the order
 * they were chosen, by POST api/uploads/{dir} (multipart, field "file"); the server decides
 * every rule and its error message is shown beside the file it refused.
 */

import { apiUrl, el, fill, finder, formatTime, getJson } from "../kit.js";

export default { mount };

// Short labels for the server's refusals; the message beside them is the server's own.
const REFUSALS = {
  AccessDenied: "not allowed",
  TooLarge: "too large",
  AlreadyExists: "already exists",
  BadRequest: "bad name",
  NotFound: "no such folder",
};

function mount(root) {
  const $ = fill(root, `
    <div class="files-cards" data-testid="files-cards"></div>
    <p class="card empty" data-testid="files-none" hidden></p>`);
  const cards = $("files-cards");
  const none = $("files-none");
  const folders = [];

  async function load() {
    let dirs;
    try {
      dirs = (await getJson("api/uploads")).dirs ?? [];
    } catch (err) {
      none.hidden = false;
      none.textContent = `The upload folders could not be loaded: ${err.message}`;
      return;
    }
    none.hidden = dirs.length > 0;
    none.replaceChildren(...noFolders());
    for (const dir of dirs) {
      const folder = folderCard(dir);
      folders.push(folder);
      cards.append(folder.card);
    }
  }

  // A file dropped beside a drop zone would make the browser leave the dashboard to show it.
  const keep = (ev) => ev.preventDefault();
  root.addEventListener("dragover", keep);
  root.addEventListener("drop", keep);

  load();
  // The folders change behind the panel's back (scripts write there too): refresh on show.
  return { shown: () => folders.forEach((f) => f.refresh()) };
}

function noFolders() {
  const code = (text) => el("code", "", text);
  return [
    "No upload folders are configured. To accept files here, set ",
    code("upload_dirs"), " in the ", code("[run]"), " table of labdeck.toml, e.g. ",
    code('upload_dirs = { stimuli = "stimuli" }'), "; ",
    code("upload_patterns"), ", ", code("upload_max"), " and ", code("upload_overwrite"),
    " set which files are accepted.",
  ];
}

/** The card of one upload folder: { card, refresh() }. */
function folderCard(dir) {
  const card = el("div", "card files-card");
  card.dataset.testid = `files-dir-${dir.name}`;
  card.innerHTML = `
    <header>
      <h2></h2>
      <span class="muted" data-testid="files-rules"></span>
      <span class="spacer"></span>
      <button type="button" class="btn" data-testid="files-refresh">Refresh</button>
    </header>
    <div class="files-drop" data-testid="files-drop">
      <input type="file" multiple hidden data-testid="files-input">
      <span class="files-drop-text">Drop files here or</span>
      <button type="button" class="btn primary" data-testid="files-choose">Choose files…</button>
    </div>
    <ul class="files-uploads" data-testid="files-uploads" aria-live="polite"></ul>
    <div class="files-uploads-bar" data-testid="files-uploads-bar" hidden>
      <button type="button" class="btn" data-testid="files-clear">Clear finished</button>
    </div>
    <div class="table-wrap">
      <table class="data files-table">
        <thead><tr><th>Name</th><th class="num">Size</th><th>Modified</th></tr></thead>
        <tbody data-testid="files-list"></tbody>
      </table>
    </div>
    <p class="empty" data-testid="files-empty">loading…</p>`;
  const $ = finder(card);
  card.querySelector("h2").textContent = dir.name;
  $("files-rules").textContent = describeRules(dir);
  $("files-rules").title = `patterns: ${dir.patterns.join(" ")} · limit: ${dir.max_bytes.toLocaleString()} bytes`;
  const input = $("files-input");
  const accept = acceptList(dir.patterns);
  if (accept) input.accept = accept;
  const drop = $("files-drop");
  const uploads = $("files-uploads");
  const uploadsBar = $("files-uploads-bar");
  const tbody = $("files-list");
  const empty = $("files-empty");
  const url = apiUrl(`api/uploads/${encodeURIComponent(dir.name)}`);
  let queue = Promise.resolve();
  let listing = 0; // the latest listing request: older answers are dropped

  async function refresh() {
    const ticket = ++listing;
    let files;
    try {
      files = (await getJson(url)).files ?? [];
    } catch (err) {
      if (ticket !== listing) return;
      tbody.replaceChildren();
      empty.hidden = false;
      empty.textContent = `The files could not be listed: ${err.message}`;
      return;
    }
    if (ticket !== listing) return;
    tbody.replaceChildren(...files.map(fileRow));
    empty.hidden = files.length > 0;
    empty.textContent = "No files yet.";
  }

  function add(fileList) {
    for (const file of fileList) {
      const row = uploadRow(file);
      uploads.append(row.item);
      uploadsBar.hidden = false;
      queue = queue.then(() => upload(file, row));
    }
  }

  async function upload(file, row) {
    // A file over the limit is refused here: sending it only to hear "too large" wastes the
    // transfer, and the server may close the connection before reading it.
    if (file.size > dir.max_bytes) {
      const [size, limit] = [humanBytes(file.size), humanBytes(dir.max_bytes)];
      const exact = size === limit; // 2,001 and 2,000 bytes both read "2 KB"
      const shown = (n, human) => (exact ? `${n.toLocaleString()} bytes` : human);
      row.fail("TooLarge", `${shown(file.size, size)} is over the limit of ${shown(dir.max_bytes, limit)}`);
      return;
    }
    const reply = await send(url, file, row.progress);
    if (reply.ok) {
      row.done(reply.body?.size ?? file.size);
      await refresh();
    } else {
      row.fail(reply.type, reply.message);
    }
  }

  input.addEventListener("change", () => {
    add([...input.files]);
    input.value = ""; // the same file may be chosen again
  });
  $("files-choose").addEventListener("click", () => input.click());
  $("files-refresh").addEventListener("click", refresh);
  $("files-clear").addEventListener("click", () => {
    for (const item of [...uploads.children]) if (item.dataset.state !== "sending") item.remove();
    uploadsBar.hidden = uploads.children.length === 0;
  });
  drop.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "copy";
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", (ev) => {
    if (!drop.contains(ev.relatedTarget)) drop.classList.remove("dragging");
  });
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("dragging");
    add([...(ev.dataTransfer?.files ?? [])]);
  });

  refresh();
  return { card, refresh };
}

function fileRow(file) {
  const tr = el("tr");
  tr.dataset.testid = "files-row";
  tr.dataset.name = file.name;
  const name = el("td", "files-name", file.name);
  name.dataset.testid = "files-row-name";
  const size = el("td", "num", humanBytes(file.size));
  size.dataset.testid = "files-row-size";
  size.title = `${file.size.toLocaleString()} bytes`;
  const modified = el("td", "muted", formatTime(file.mtime));
  modified.title = new Date(file.mtime * 1000).toLocaleString();
  tr.append(name, size, modified);
  return tr;
}

/** One upload's line: its name and size, a status badge, then a progress bar or the verdict. */
function uploadRow(file) {
  const item = el("li", "files-upload");
  item.dataset.testid = "files-upload";
  item.dataset.name = file.name;
  item.dataset.state = "waiting";
  const name = el("span", "files-upload-name", file.name);
  name.title = file.name;
  const size = el("span", "muted files-upload-size", humanBytes(file.size));
  const badge = el("span", "badge idle", "waiting");
  badge.dataset.testid = "files-upload-status";
  const bar = el("progress", "files-progress");
  bar.max = 1;
  bar.value = 0;
  bar.dataset.testid = "files-progress";
  const message = el("span", "files-upload-message");
  message.dataset.testid = "files-upload-message";
  message.hidden = true;
  item.append(name, size, badge, bar, message);
  const settle = (state, badgeClass, label, text) => {
    item.dataset.state = state;
    badge.className = `badge ${badgeClass}`;
    badge.textContent = label;
    bar.hidden = true;
    message.hidden = false;
    message.textContent = text;
  };
  return {
    item,
    progress(fraction) {
      item.dataset.state = "sending";
      bar.value = fraction;
      badge.className = "badge";
      badge.textContent = `${Math.floor(fraction * 100)} %`;
    },
    done(bytes) {
      settle("done", "ok", "uploaded", `${humanBytes(bytes)} stored`);
    },
    fail(type, text) {
      item.dataset.error = type ?? "";
      item.setAttribute("role", "alert");
      settle("failed", "err", REFUSALS[type] ?? "failed", text);
    },
  };
}

/**
 * POST one file with upload progress (fetch has none); resolves, never rejects, to
 * { ok, body } or { ok: false, type, message } with the server's error when it gave one.
 */
function send(url, file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.responseType = "json";
    onProgress(0);
    xhr.upload.addEventListener("progress", (ev) => ev.lengthComputable && onProgress(ev.loaded / ev.total));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ ok: true, body: xhr.response });
        return;
      }
      const error = xhr.response?.error;
      resolve({ ok: false, type: error?.type, message: error?.message ?? `${xhr.status} ${xhr.statusText}`.trim() });
    });
    const lost = () => resolve({ ok: false, type: "Disconnected", message: "the connection failed before the server answered" });
    xhr.addEventListener("error", lost);
    xhr.addEventListener("abort", lost);
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// -- rules in plain words ---------------------------------------------------------------

/** "CSV or TXT files up to 100 MB; existing files are kept". */
export function describeRules(dir) {
  const kept = dir.overwrite ? "a file of the same name is replaced" : "existing files are kept";
  return `${describePatterns(dir.patterns)} up to ${humanBytes(dir.max_bytes)}; ${kept}`;
}

function describePatterns(patterns) {
  if (!patterns.length) return "No files";
  if (patterns.includes("*")) return "Any files";
  const kinds = patterns.map((p) => {
    const ext = /^\*\.([A-Za-z0-9]+)$/.exec(p);
    return ext ? ext[1].toUpperCase() : `“${p}”`;
  });
  const list = kinds.length === 1 ? kinds[0] : `${kinds.slice(0, -1).join(", ")} or ${kinds[kinds.length - 1]}`;
  return `${list} files`;
}

/** ".csv,.txt" for the file picker when every pattern is a plain "*.ext", else "". */
function acceptList(patterns) {
  const exts = patterns.map((p) => /^\*(\.[A-Za-z0-9]+)$/.exec(p)?.[1]);
  return exts.length && exts.every(Boolean) ? exts.join(",") : "";
}

/** "512 B", "1.5 KB", "100 MB" (powers of 1024). */
export function humanBytes(n) {
  if (!Number.isFinite(n)) return "–";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  return `${shown} ${units[unit]}`;
}
