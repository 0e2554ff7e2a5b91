/**
 * <deck-template>: a reusable chunk of HTML with parameters, filled in safely.
 *
 *   <template id="setting">
 *     <div class="card"><h2>[[title]]</h2>
 *       <deck-input attr="[[attr]]" type="number" label="[[title]]"></deck-input></div>
 *   </template>
 *   <deck-template use="setting" title="Contrast" attr="stimulus.contrast"></deck-template>
 *   <deck-template src="fragments/setting.html" title="Gain" attr="stimulus.gain"></deck-template>
 *
 * Every attribute of the element (but `use`, `src`, `id`, `class`, `style`, `hidden` and `slot`)
 * is a parameter; `[[name]]` in the template's text and attribute values is replaced by it
 * (not `{{name}}`, so that a Jinja2 template of a [pages] site can hold a <template> as it
 * is). A value is always text: it is put into a text node or an attribute value, never
 * parsed as HTML and never run, so a
 * value like `<img onerror=...>` shows as those characters. On top of that the copy loses
 * every `<script>` and every `on...` attribute, and a URL attribute (href, src, action...)
 * that a parameter turned into anything but an http(s), mailto or relative URL is dropped.
 * `src` must be a file of the same server.
 */

import { el } from "./base.js";

const PLACEHOLDER = /\[\[\s*([A-Za-z_][\w-]*)\s*\]\]/g;
const URL_ATTRS = new Set(["href", "src", "action", "formaction", "xlink:href", "poster", "data", "srcset"]);
const SAFE_URL = /^(?:https?:|mailto:|[^:]*$|[^:]*[/?#])/i;
const RESERVED = new Set(["use", "src", "class", "id", "style", "hidden", "slot"]);

function fill(text, params) {
  return text.replace(PLACEHOLDER, (_, name) => params.get(name) ?? "");
}

/** Replace placeholders in every text node and attribute under `root`, in place. */
export function instantiate(root, params) {
  for (const script of root.querySelectorAll("script")) script.remove();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      if (node.data.includes("[[")) node.data = fill(node.data, params);
      continue;
    }
    for (const attr of [...node.attributes]) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) {
        node.removeAttribute(attr.name);
        continue;
      }
      if (!attr.value.includes("[[")) continue;
      const value = fill(attr.value, params);
      if (URL_ATTRS.has(name) && !SAFE_URL.test(value.trim())) node.removeAttribute(attr.name);
      else node.setAttribute(attr.name, value);
    }
  }
  return root;
}

async function source(host) {
  const use = host.getAttribute("use");
  if (use) {
    const found = document.getElementById(use.replace(/^#/, ""));
    if (!(found instanceof HTMLTemplateElement)) throw new Error(`no <template id="${use}"> in the page`);
    return found.content;
  }
  const src = host.getAttribute("src");
  if (!src) throw new Error("deck-template needs a use or src attribute");
  const url = new URL(src, document.baseURI);
  if (url.origin !== location.origin) throw new Error("deck-template loads templates of this server only");
  const reply = await fetch(url, { credentials: "same-origin" });
  if (!reply.ok) throw new Error(`template ${src}: ${reply.status}`);
  const holder = document.createElement("template");
  holder.innerHTML = await reply.text(); // the lab's own markup; parameters come after, as text
  return holder.content;
}

export class DeckTemplate extends HTMLElement {
  async connectedCallback() {
    if (this._filled) return;
    this._filled = true;
    const params = new Map();
    for (const attr of this.attributes) if (!RESERVED.has(attr.name)) params.set(attr.name, attr.value);
    try {
      const content = (await source(this)).cloneNode(true);
      this.replaceChildren(instantiate(content, params));
      this.setAttribute("filled", "");
    } catch (err) {
      const note = el("small", "deck-error", err.message);
      note.dataset.testid = "deck-template-error";
      this.replaceChildren(note);
    }
  }
}
