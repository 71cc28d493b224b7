/**
 * The dashboard's files, embedded at build time as text imports: the page, its script and styles
 * (ui/), and uPlot from its npm package, so the page works offline and from a `deno compile` binary
 * with no CDN and no files beside it. A fixed map: no request path ever reaches the file system.
 */
import INDEX_HTML from "../../ui/index.html" with { type: "text" };
import LOGIN_HTML from "../../ui/login.html" with { type: "text" };
import DASHBOARD_JS from "../../ui/dashboard.js" with { type: "text" };
import DASHBOARD_CSS from "../../ui/dashboard.css" with { type: "text" };
import FAVICON_SVG from "../../ui/favicon.svg" with { type: "text" };
import UPLOT_JS from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import UPLOT_CSS from "uplot/dist/uPlot.min.css" with { type: "text" };

export type Asset = { body: string; type: string };

const js = "text/javascript; charset=utf-8";
const css = "text/css; charset=utf-8";

/** Public files (the login page needs its styles too): nothing in them depends on the miner. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/assets/dashboard.js", { body: DASHBOARD_JS, type: js }],
  ["/assets/dashboard.css", { body: DASHBOARD_CSS, type: css }],
  ["/assets/uPlot.iife.min.js", { body: UPLOT_JS, type: js }],
  ["/assets/uPlot.min.css", { body: UPLOT_CSS, type: css }],
  ["/favicon.svg", { body: FAVICON_SVG, type: "image/svg+xml" }],
]);

/** The dashboard; with a token configured, its log-out button shows. */
export function indexPage(loginRequired: boolean): string {
  return loginRequired ? INDEX_HTML.replace('action="logout" hidden>', 'action="logout">') : INDEX_HTML;
}

/** The login form, with `error` (plain text, escaped here) under the field. */
export function loginPage(error = ""): string {
  const escaped = error.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return LOGIN_HTML.replace("<!--error-->", escaped);
}
