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

export default panels;

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
