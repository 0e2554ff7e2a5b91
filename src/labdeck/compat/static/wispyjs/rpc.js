/**
 * rpc.js — the websocket object server's browser API, on labdeck's client (deck.js).
 *
 *   <script type="module" src="wispyjs/rpc.js"></script>         (under the base path)
 *   <script type="module" src="app.js"></script>
 *
 *   // app.js
 *   import { rpc } from "./wispyjs/rpc.js";       // also window.rpc
 *   const a = await rpc.sample.a;                  // get
 *   rpc.sample.a = 2;                              // set (errors: console + "error" event)
 *   const s = await rpc.sample.test_sum(4, 5);     // call
 *   delete rpc.sample.a;                           // del
 *   await rpc.sample.rpcWebsocket.listChannels();  // ["sample/count", ...]
 *   rpc.sample.rpcWebsocket.addChannelHandlers({ "sample/count": (value, ch) => show(value) }, true);
 *
 * addChannelHandlers(handlers, current = true): each handler gets (value, channel) for every
 * value published on its channel; with `current` it first gets the channel's current value.
 * Returns a Promise that settles once every channel is subscribed. The page's one labdeck
 * connection is used (the one the <deck-*> components share), so a logged-in session is
 * what authorises every call. Also defines <custom-template> and <svg-favicon>.
 */

import { page } from "../static/components/base.js";
import { DeckError } from "../static/deck.js";
import "./elements.js";

const connection = page().then(({ deck }) => {
  if (!deck) throw new DeckError("Unauthorized", "log in to reach the server's objects");
  return deck;
});
connection.catch((err) => console.error(`rpc.js: ${err.message}`));

function withDeck(fn) {
  return connection.then(fn);
}

function reportFailure(op, path) {
  return (err) => {
    console.error(`rpc.js: ${op} ${path.join(".")} failed: ${err.type}: ${err.message}`);
    connection.then((deck) => deck._emit("error", err)).catch(() => {});
  };
}

/** The channels the server has: Promise<string[]>, sorted. */
function listChannels(prefix) {
  return withDeck((deck) => deck.channels(prefix ? { prefix } : {})).then((found) => Object.keys(found).sort());
}

function addChannelHandlers(handlers, current = true) {
  const subscribed = Object.entries(handlers).map(([ch, handler]) =>
    withDeck((deck) => {
      let since = null; // the seq of the value current at subscription, skipped unless wanted
      const stop = deck.subscribe(ch, (data, push) => {
        if (!current && (since === null || push.seq <= since)) return;
        handler(data, ch);
      });
      return stop.ready.then((reply) => {
        since = reply.seq ?? 0;
        return stop;
      });
    }),
  );
  return Promise.all(subscribed);
}

const rpcWebsocket = Object.freeze({ listChannels, addChannelHandlers, connection });

function proxy(path) {
  return new Proxy(function () {}, {
    get(_, name) {
      if (typeof name === "symbol") return undefined;
      if (name === "rpcWebsocket") return rpcWebsocket;
      if (name === "then") {
        if (path.length === 0) return undefined; // rpc itself is not a value
        const got = withDeck((deck) => deck.get(path));
        return got.then.bind(got);
      }
      return proxy([...path, name]);
    },
    set(_, name, value) {
      if (typeof name === "symbol") return false;
      const where = [...path, name];
      withDeck((deck) => deck.set(where, value)).catch(reportFailure("set", where));
      return true;
    },
    deleteProperty(_, name) {
      if (typeof name === "symbol") return false;
      const where = [...path, name];
      withDeck((deck) => deck.del(where)).catch(reportFailure("delete", where));
      return true;
    },
    apply(_, thisArg, args) {
      return withDeck((deck) => deck.call(path, args));
    },
  });
}

/** `rpc.<name>`: a proxy of the object exposed as <name>. */
export const rpc = proxy([]);
globalThis.rpc = rpc;
