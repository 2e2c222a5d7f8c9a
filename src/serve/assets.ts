// The page's static files: an allow-list of paths to bodies held in memory, read once at start. uPlot comes from
// node_modules (resolved like an import, so it works from a clone, a global install or npx) and is served by medetl
// itself: the page loads nothing from any other host.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FAVICON_SVG, PAGE_HTML } from './assets/page-html.js';
import { PAGE_CSS } from './assets/page-css.js';
import { PAGE_JS } from './assets/page-js.js';
import { fixed, type Routes } from './http.js';

const require = createRequire(import.meta.url);

export function assetRoutes(): Routes {
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'));
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'));
  const html = fixed('text/html; charset=utf-8', PAGE_HTML);
  return {
    '/': html,
    '/index.html': html,
    '/assets/dashboard.js': fixed('text/javascript; charset=utf-8', PAGE_JS),
    '/assets/dashboard.css': fixed('text/css; charset=utf-8', PAGE_CSS),
    '/assets/uPlot.iife.min.js': fixed('text/javascript; charset=utf-8', uplotJs),
    '/assets/uPlot.min.css': fixed('text/css; charset=utf-8', uplotCss),
    '/assets/favicon.svg': fixed('image/svg+xml', FAVICON_SVG),
  };
}
