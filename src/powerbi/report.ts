// The report half of the project in PBIR: definition.pbir (which semantic model), definition/version.json,
// report.json, pages/pages.json, and one page.json per page with a visual.json per visual. JSON only, every file
// naming its $schema.
import { PAGE_HEIGHT, PAGE_WIDTH, type PageSpec } from './pages.js';
import { FORMAT_VERSION, SCHEMA } from './schemas.js';
import { literal, visualJson } from './visuals.js';

export interface ReportOptions {
  /** The semantic model folder's name, next to the report folder (`<Name>.SemanticModel`). */
  semanticModelFolder: string;
  /** Automatic page refresh on every page (DirectQuery only), as an ISO 8601 duration such as PT5S; null: off. */
  pageRefresh: string | null;
}

export function pbirJson(o: ReportOptions): Record<string, unknown> {
  return { $schema: SCHEMA.pbir, version: FORMAT_VERSION.pbir, datasetReference: { byPath: { path: `../${o.semanticModelFolder}` } } };
}

export function pageJson(page: PageSpec, o: ReportOptions): Record<string, unknown> {
  const json: Record<string, unknown> = {
    $schema: SCHEMA.page,
    name: page.name,
    displayName: page.displayName,
    displayOption: 'FitToPage',
    height: PAGE_HEIGHT,
    width: PAGE_WIDTH,
  };
  // Fixed-interval automatic page refresh: `show` and an ISO 8601 `duration`. Power BI Desktop and the tenant
  // enforce their own minimum interval; a shorter one is raised to it.
  if (o.pageRefresh) json.objects = { pageRefresh: [{ properties: { show: literal(true), duration: literal(o.pageRefresh) } }] };
  return json;
}

/** Every report file, by path below the `<Name>.Report/` folder. */
export function reportFiles(pages: PageSpec[], o: ReportOptions): Map<string, string> {
  const files = new Map<string, string>();
  const put = (p: string, json: unknown) => files.set(p, `${JSON.stringify(json, null, 2)}\n`);
  put('definition.pbir', pbirJson(o));
  put('definition/version.json', { $schema: SCHEMA.version, version: FORMAT_VERSION.reportDefinition });
  // No theme: Power BI Desktop applies its default theme (a base theme would have to ship its JSON file too).
  put('definition/report.json', { $schema: SCHEMA.report, themeCollection: {}, settings: { useStylableVisualContainerHeader: true } });
  put('definition/pages/pages.json', { $schema: SCHEMA.pages, pageOrder: pages.map((p) => p.name), activePageName: pages[0].name });
  for (const page of pages) {
    put(`definition/pages/${page.name}/page.json`, pageJson(page, o));
    page.visuals.forEach((v, z) => put(`definition/pages/${page.name}/visuals/${v.name}/visual.json`, visualJson(v, z)));
  }
  return files;
}
