/**
 * deck-components.js — labdeck's web components: plain HTML bound to the server.
 *
 *   <script type="module" src="/static/components/deck-components.js"></script>
 *   <link rel="stylesheet" href="/static/components/deck-components.css">
 *
 * defines <deck-value>, <deck-plot>, <deck-log>, <deck-status>, <deck-input>,
 * <deck-button>, <deck-run> and <deck-template>. Each element's attributes are in
 * docs/reference/components.md. They share one websocket per page, honour the user's
 * role (a control the role may not use is disabled, with the reason) and reflect the
 * connection state in their `conn` attribute.
 */

import { DeckButton, DeckInput, DeckRun } from "./controls.js";
import { DeckTemplate } from "./template.js";
import { DeckLog, DeckPlot, DeckStatus, DeckValue } from "./values.js";

const ELEMENTS = {
  "deck-value": DeckValue, "deck-plot": DeckPlot, "deck-log": DeckLog, "deck-status": DeckStatus,
  "deck-input": DeckInput, "deck-button": DeckButton, "deck-run": DeckRun, "deck-template": DeckTemplate,
};

for (const [name, element] of Object.entries(ELEMENTS)) {
  if (!customElements.get(name)) customElements.define(name, element);
}

export { page } from "./base.js";
