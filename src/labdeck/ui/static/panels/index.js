// The dashboard's panels: one line per panel (the shell orders them by `order`).
//
// Each is loaded on its own, so a panel that fails to load shows its error in place of
// its content instead of taking the whole dashboard down.
const panels = await Promise.all([
  load("./channels.js"),
  load("./objects.js"),
  load("./run.js"),
  load("./log.js"),
  load("./plots.js"),
  load("./settings.js"),
  load("./files.js"),
  load("./history.js"),
]);

// Panels of capabilities (the watch's, a lab's own) come from GET api/panels; those the
// list above already has are skipped. Their module and stylesheet URLs are the server's.
const extra = await capabilityPanels(new Set(panels.map((p) => p?.id)));

export default [...panels, ...extra];

async function capabilityPanels(have) {
  let listed = [];
  try {
    const reply = await fetch(new URL("api/panels", document.baseURI), { cache: "no-store" });
    if (reply.ok) listed = (await reply.json()).panels ?? [];
  } catch (err) {
    console.error("labdeck: the capabilities' panels could not be listed", err);
  }
  const url = (path) => new URL(path, document.baseURI).href;
  return Promise.all(listed.filter((p) => p.capability && !have.has(p.id)).map((p) =>
    load(url(p.module)).then((panel) => ({ ...panel, id: p.id, title: p.title, order: p.order,
                                           css: p.css ? url(p.css) : false }))));
}

function load(path) {
  return import(path).then(
    (module) => module.default,
    (err) => {
      const id = path.replace(/^.*\//, "").replace(/\.js$/, "");
      console.error(`labdeck: panel ${path} failed to load`, err);
      return { id, title: id, order: 1000, mount() { throw err; } };
    },
  );
}
