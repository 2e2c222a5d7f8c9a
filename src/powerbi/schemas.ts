// The public $schema URL every generated JSON file names, in one place. Each maps to a file of Microsoft's published
// schemas (github.com/microsoft/json-schemas, fabric/...): the tests validate every file against the one it names.
// Versions are a year old or more on purpose: a newer Power BI Desktop opens older PBIR files, not the reverse.
const BASE = 'https://developer.microsoft.com/json-schemas/fabric';

export const SCHEMA = {
  pbip: `${BASE}/pbip/pbipProperties/1.0.0/schema.json`,
  pbism: `${BASE}/item/semanticModel/definitionProperties/1.0.0/schema.json`,
  pbir: `${BASE}/item/report/definitionProperties/2.0.0/schema.json`,
  version: `${BASE}/item/report/definition/versionMetadata/1.0.0/schema.json`,
  report: `${BASE}/item/report/definition/report/3.0.0/schema.json`,
  pages: `${BASE}/item/report/definition/pagesMetadata/1.0.0/schema.json`,
  page: `${BASE}/item/report/definition/page/2.0.0/schema.json`,
  visual: `${BASE}/item/report/definition/visualContainer/2.2.0/schema.json`,
} as const;

/** The prefix every URL above starts with: a schema's path below it is its path in microsoft/json-schemas/fabric. */
export const SCHEMA_BASE = `${BASE}/`;

/** File-format versions written inside the files (not schema versions): PBIP 1.0, TMDL-capable PBISM 4.2, PBIR 4.0. */
export const FORMAT_VERSION = { pbip: '1.0', pbism: '4.2', pbir: '4.0', reportDefinition: '2.0.0' } as const;
