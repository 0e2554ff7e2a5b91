/**
 * The theme's colours for what the style sheets cannot reach: a chart's canvas, where
 * uPlot draws the axes, the grid and the lines itself. Read from style.css's variables,
 * so a chart follows the light or the dark theme as the page does.
 *
 *   new uPlot({ axes: [axisStyle(), axisStyle()], series: [{}, { stroke: seriesColors()[0] }] })
 *   onThemeChange(() => rebuild())  // the system switched between light and dark
 */

// Line colours that keep 3:1 against the card in each theme; the same order in both,
// so a series keeps its hue when the theme changes.
const LIGHT = ["#2563eb", "#d9480f", "#15803d", "#9333ea", "#0891b2", "#b45309", "#be185d", "#4d7c0f"];
const DARK = ["#6d9eff", "#ff8a4c", "#4ade80", "#c084fc", "#22d3ee", "#fbbf24", "#f472b6", "#a3e635"];
const DARK_QUERY = globalThis.matchMedia?.("(prefers-color-scheme: dark)") ?? null;

/** The value of the CSS variable `name` on the document, or `fallback`. */
export function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

/** The series colours of the current theme, in order. */
export function seriesColors() {
  return DARK_QUERY?.matches ? DARK : LIGHT;
}

/** uPlot axis options in the theme's colours: labels muted, grid faint, ticks as borders. */
export function axisStyle() {
  return {
    stroke: cssVar("--muted", "#566172"),
    grid: { stroke: cssVar("--grid", "#eef1f5"), width: 1 },
    ticks: { stroke: cssVar("--border", "#d9dee6"), width: 1 },
    font: "12px system-ui, sans-serif",
    labelFont: "12px system-ui, sans-serif",
  };
}

/** Call `fn` whenever the system switches theme; returns the function that stops it. */
export function onThemeChange(fn) {
  if (!DARK_QUERY) return () => {};
  DARK_QUERY.addEventListener("change", fn);
  return () => DARK_QUERY.removeEventListener("change", fn);
}
