/**
 * <deck-input>, <deck-button>, <deck-run>: what an operator changes. Below the operator
 * role each is shown disabled, with the reason beside it.
 *
 *   <deck-input attr="stimulus.contrast" type="number" min="0" max="1" step="0.05" label="Contrast"></deck-input>
 *   <deck-button call="device.test_sum" args="[4, 5]">Add</deck-button>
 *   <input id="mw" type="number"><deck-button call="device.set_power" inputs="mw">Set power</deck-button>
 *   <deck-run script="main"></deck-run>
 */

import { attrChannel, DeckElement, el, format, jsonAttr } from "./base.js";

/** The value of a plain <input>, <select> or <textarea> as JSON: numbers for number inputs. */
function inputValue(node) {
  if (node.type === "checkbox") return node.checked;
  if ((node.type === "number" || node.type === "range") && node.value !== "") {
    const n = Number(node.value);
    if (!Number.isFinite(n)) throw new Error(`${node.id || node.name}: not a number`);
    return n;
  }
  return node.value;
}

function describeError(err) {
  return err?.type && err.type !== "Error" ? `${err.type}: ${err.message}` : err?.message ?? String(err);
}

class Control extends DeckElement {
  static need = "operator";

  /** The controls this element enables: only when allowed and connected. */
  controls() {
    return [...this.querySelectorAll(":scope > input, :scope > button, :scope > label > input, :scope > select")];
  }

  stateChanged(state) {
    for (const node of this.controls()) node.disabled = this.allowed === false || state !== "open";
  }

  show(text, ok) {
    let out = this.querySelector(":scope > output");
    if (!out) {
      out = el("output", "deck-result");
      out.dataset.testid = `${this.localName}-result`;
      this.append(out);
    }
    out.textContent = text;
    out.classList.toggle("deck-result-error", !ok);
  }
}

export class DeckInput extends Control {
  start() {
    const attr = this.getAttribute("attr");
    if (!attr) throw new Error("deck-input needs an attr attribute");
    const [path, ch] = attrChannel(attr);
    const type = this.getAttribute("type") ?? "text";
    const input = el("input");
    input.type = ["number", "range", "checkbox", "text"].includes(type) ? type : "text";
    for (const name of ["min", "max", "step", "placeholder"]) {
      if (this.hasAttribute(name)) input.setAttribute(name, this.getAttribute(name));
    }
    input.dataset.testid = "deck-input-field";
    input.setAttribute("aria-label", this.getAttribute("label") ?? attr);
    const parts = [input];
    if (this.hasAttribute("label")) {
      const label = el("label", "deck-label", this.getAttribute("label"));
      label.append(input);
      parts[0] = label;
    }
    this.replaceChildren(...parts);
    let dirty = false;
    const showValue = (value) => {
      this.setAttribute("value", format(value));
      if (dirty && document.activeElement === input) return;
      if (input.type === "checkbox") input.checked = Boolean(value);
      else input.value = value === null || value === undefined ? "" : String(value);
    };
    input.addEventListener("input", () => { dirty = true; });
    input.addEventListener("change", async () => {
      let value;
      try {
        value = inputValue(input);
      } catch (err) {
        this.show(describeError(err), false);
        return;
      }
      try {
        await this.deck.set(path, value);
        dirty = false;
        this.show("", true);
        showValue(value);
      } catch (err) {
        this.show(describeError(err), false);
      }
    });
    let pushed = false;
    this.onStop(this.deck.subscribe(ch, (value) => { pushed = true; showValue(value); }));
    this.deck.get(path).then((value) => pushed || showValue(value), (err) => this.fail(err));
    this.explain();
  }

  controls() {
    return [...this.querySelectorAll("input")];
  }
}

export class DeckButton extends Control {
  start() {
    const call = this.getAttribute("call");
    if (!call) throw new Error("deck-button needs a call attribute");
    const button = el("button", "btn");
    button.type = "button";
    button.dataset.testid = "deck-button";
    button.append(...this.childNodes);
    if (!button.textContent.trim()) button.textContent = call;
    this.replaceChildren(button);
    button.addEventListener("click", async () => {
      let args;
      let kwargs;
      try {
        args = [...jsonAttr(this, "args", [])];
        kwargs = jsonAttr(this, "kwargs", {});
        for (const id of (this.getAttribute("inputs") ?? "").split(/\s+/).filter(Boolean)) {
          const node = document.getElementById(id);
          if (!node) throw new Error(`no input with id ${id}`);
          args.push(inputValue(node));
        }
      } catch (err) {
        this.show(describeError(err), false);
        return;
      }
      button.disabled = true;
      try {
        const result = await this.deck.call(call, args, kwargs);
        this.show(result === null || result === undefined ? "done" : format(result), true);
        this.dispatchEvent(new CustomEvent("deck-result", { detail: result, bubbles: true }));
      } catch (err) {
        this.show(describeError(err), false);
      } finally {
        button.disabled = !this.live;
      }
    });
    this.explain();
  }
}

export class DeckRun extends Control {
  start() {
    const script = this.getAttribute("script") ?? "main";
    const state = el("span", "badge deck-run-state", "–");
    state.dataset.testid = "deck-run-state";
    const startButton = el("button", "btn primary", this.getAttribute("start-label") ?? `Start ${script}`);
    startButton.dataset.testid = "deck-run-start";
    const stopButton = el("button", "btn danger", this.getAttribute("stop-label") ?? "Stop");
    stopButton.dataset.testid = "deck-run-stop";
    for (const b of [startButton, stopButton]) b.type = "button";
    this.replaceChildren(state, startButton, stopButton);
    let status = { state: "idle" };
    const act = async (fn) => {
      try {
        await fn();
        this.show("", true);
      } catch (err) {
        this.show(describeError(err), false);
      }
    };
    startButton.addEventListener("click", () => act(() => {
      const config = jsonAttr(this, "config", null);
      return this.deck.call("runner.run", config === null ? [script] : [script, config]);
    }));
    stopButton.addEventListener("click", () => act(() => this.deck.call("runner.stop")));
    this.onStop(this.deck.subscribe("run/status", (data) => {
      status = data ?? status;
      state.textContent = status.script ? `${status.state} · ${status.script}` : status.state;
      state.dataset.state = status.state;
      this.setAttribute("state", status.state);
      this.stateChanged(this.deck.state);
    }));
    this.explain();
    this.status = () => status;
  }

  stateChanged(conn) {
    super.stateChanged(conn);
    const running = ["starting", "running", "stopping"].includes(this.getAttribute("state"));
    const [startButton, stopButton] = this.querySelectorAll(":scope > button");
    if (startButton && !startButton.disabled) startButton.disabled = running;
    if (stopButton && !stopButton.disabled) stopButton.disabled = !running;
  }
}
