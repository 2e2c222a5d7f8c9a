// A whole Power BI Project (PBIP) as files in memory: <Name>.pbip, <Name>.SemanticModel/ (definition.pbism and TMDL
// in definition/) and <Name>.Report/ (PBIR). Pure: writing them is the caller's job (write.ts).
import { buildModel, type SemanticModel } from './model.js';
import { PAGES, type PageSpec } from './pages.js';
import { reportFiles } from './report.js';
import { FORMAT_VERSION, SCHEMA } from './schemas.js';
import { modeOf, type SourceOptions } from './sources.js';
import { modelFiles } from './tmdl.js';

export interface ProjectOptions {
  /** The project's name: file and folder names start with it. */
  name: string;
  source: SourceOptions;
  /** Automatic page refresh interval in seconds for DirectQuery (postgres); ignored for Import routes. */
  refreshSeconds: number;
}

export interface Project {
  /** Relative path (always `/`-separated) -> file content. */
  files: Map<string, string>;
  model: SemanticModel;
  pages: PageSpec[];
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

export function buildProject(o: ProjectOptions): Project {
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/.test(o.name)) throw new Error('the project name may hold letters, digits, spaces, "_", "." and "-"');
  const model = buildModel();
  const smFolder = `${o.name}.SemanticModel`;
  const reportFolder = `${o.name}.Report`;
  const directQuery = modeOf(o.source.kind) === 'directQuery';
  const files = new Map<string, string>();
  files.set(`${o.name}.pbip`, json({ $schema: SCHEMA.pbip, version: FORMAT_VERSION.pbip, artifacts: [{ report: { path: reportFolder } }], settings: { enableAutoRecovery: true } }));
  files.set(`${smFolder}/definition.pbism`, json({ $schema: SCHEMA.pbism, version: FORMAT_VERSION.pbism, settings: {} }));
  for (const [p, text] of modelFiles(model, o.source)) files.set(`${smFolder}/definition/${p}`, text);
  const pageRefresh = directQuery ? `PT${o.refreshSeconds}S` : null;
  for (const [p, text] of reportFiles(PAGES, { semanticModelFolder: smFolder, pageRefresh })) files.set(`${reportFolder}/${p}`, text);
  return { files, model, pages: PAGES };
}
