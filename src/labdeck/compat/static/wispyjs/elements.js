/**
 * elements.js — the object server's two elements, on labdeck's <deck-template> machinery.
 *
 * <custom-template use="card" title="Laser">
 *   <deck-value ch="laser/power" id="power"></deck-value> <em>inner content</em>
 * </custom-template>
 *
 *   <template id="card">
 *     <section><h2>$title</h2><p>$#power</p><div>$innerHTML</div></section>
 *   </template>
 *
 * `use` (also `template`) names a <template> of the page, or `src` a file of the same server.
 * In the template, `$name` is the element's attribute `name`, as text: put into a text node
 * or an attribute value, never parsed as HTML, never run. `$innerHTML` is the element's own
 * children (the page's markup, moved, not re-parsed) and `$#subID` its child with that id.
 * As with <deck-template>, the copy loses every <script>, every on... attribute and any URL
 * a parameter made unsafe.
 *
 * <svg-favicon><svg viewBox="0 0 16 16">...</svg></svg-favicon> makes the inline SVG the
 * page's icon (a data: URL, which the Content-Security-Policy allows for images), and
 * follows its changes: a script that recolours the SVG recolours the tab's icon.
 */

import { el } from "../static/components/base.js";
import { instantiate, source } from "../static/components/template.js";

const RESERVED = new Set(["use", "src", "template", "class", "id", "style", "hidden", "slot"]);
const DOLLAR = /\$(#?)([A-Za-z_][\w-]*)/g;
const SLOT = "wispy-slot";

/** `$name` → labdeck's `[[name]]`; `$innerHTML` and `$#id` in text → slot markers. */
function translate(root) {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
  const texts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      if (node.data.includes("$")) texts.push(node);
      continue;
    }
    for (const attr of [...node.attributes]) {
      if (attr.value.includes("$")) node.setAttribute(attr.name, attr.value.replace(DOLLAR, (m, hash, name) =>
        hash || name === "innerHTML" ? "" : `[[${name.toLowerCase()}]]`));
    }
  }
  for (const text of texts) {
    const parts = [];
    let last = 0;
    for (const m of text.data.matchAll(DOLLAR)) {
      const [whole, hash, name] = m;
      if (!hash && name !== "innerHTML") continue;
      parts.push(document.createTextNode(text.data.slice(last, m.index)));
      const slot = document.createElement(SLOT);
      slot.setAttribute("name", hash ? `#${name}` : "innerHTML");
      parts.push(slot);
      last = m.index + whole.length;
    }
    parts.push(document.createTextNode(text.data.slice(last)));
    for (const part of parts) {
      if (part.nodeType === Node.TEXT_NODE) part.data = part.data.replace(DOLLAR, (_, h, n) => `[[${n.toLowerCase()}]]`);
    }
    text.replaceWith(...parts);
  }
  return root;
}

function fillSlots(root, inner) {
  for (const slot of [...root.querySelectorAll(SLOT)]) {
    const name = slot.getAttribute("name");
    if (name === "innerHTML") {
      slot.replaceWith(...inner.childNodes);
    } else {
      const found = inner.querySelector(`[id="${CSS.escape(name.slice(1))}"]`);
      slot.replaceWith(...(found ? [found] : []));
    }
  }
  return root;
}

export class CustomTemplate extends HTMLElement {
  async connectedCallback() {
    if (this._filled) return;
    this._filled = true;
    const inner = document.createDocumentFragment();
    inner.append(...this.childNodes);
    const params = new Map();
    for (const attr of this.attributes) if (!RESERVED.has(attr.name)) params.set(attr.name, attr.value);
    if (!this.hasAttribute("use") && this.hasAttribute("template")) this.setAttribute("use", this.getAttribute("template"));
    try {
      const content = translate((await source(this)).cloneNode(true));
      this.replaceChildren(fillSlots(instantiate(content, params), inner));
      this.setAttribute("filled", "");
    } catch (err) {
      const note = el("small", "deck-error", err.message);
      note.dataset.testid = "custom-template-error";
      this.replaceChildren(note);
    }
  }
}

function clean(svg) {
  const copy = svg.cloneNode(true);
  for (const bad of copy.querySelectorAll("script, foreignObject")) bad.remove();
  for (const node of [copy, ...copy.querySelectorAll("*")]) {
    for (const attr of [...node.attributes]) if (attr.name.toLowerCase().startsWith("on")) node.removeAttribute(attr.name);
  }
  if (!copy.hasAttribute("xmlns")) copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  return new XMLSerializer().serializeToString(copy);
}

export class SvgFavicon extends HTMLElement {
  connectedCallback() {
    this.hidden = true;
    this._observer ??= new MutationObserver(() => this.update());
    this._observer.observe(this, { subtree: true, childList: true, attributes: true, characterData: true });
    this.update();
  }

  disconnectedCallback() {
    this._observer?.disconnect();
  }

  /** Set the page's icon from the SVG inside (called on every change of it). */
  update() {
    const svg = this.querySelector("svg");
    if (!svg) return;
    let link = document.head.querySelector('link[rel="icon"][data-svg-favicon]');
    if (!link) {
      for (const old of document.head.querySelectorAll('link[rel~="icon"]')) old.remove();
      link = document.createElement("link");
      link.rel = "icon";
      link.type = "image/svg+xml";
      link.dataset.svgFavicon = "";
      document.head.append(link);
    }
    link.href = `data:image/svg+xml,${encodeURIComponent(clean(svg))}`;
  }
}

if (!customElements.get("custom-template")) customElements.define("custom-template", CustomTemplate);
if (!customElements.get("svg-favicon")) customElements.define("svg-favicon", SvgFavicon);
