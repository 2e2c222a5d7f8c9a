// Microsoft's published JSON schemas for Fabric / Power BI items, loaded from ../shared (never the network) into ajv.
// Each file is registered under the URL its path maps to (https://developer.microsoft.com/json-schemas/fabric/<path>):
// a few files declare a different $id than their path (visualConfiguration/*/schema-embedded.json says
// "schema.embedded.json"), while the files that refer to them use the path. Relative $refs resolve against it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';

// ajv-formats is CommonJS: under NodeNext its default import is module.exports, which also carries the plugin as .default.
const addFormats = formatsModule.default;

const BASE = 'https://developer.microsoft.com/json-schemas/fabric/';
const DRAFT7 = 'http://json-schema.org/draft-07/schema#';

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? jsonFiles(p) : n.endsWith('.json') ? [p] : [];
  });
}

export interface SchemaSet {
  /** The validator of the schema a `$schema` URL names; throws when that URL is not one of the stored files. */
  validatorFor(url: string): ValidateFunction;
  /** The stored file a URL maps to, relative to the schemas folder. */
  fileOf(url: string): string;
}

/** `root` is ../shared/schemas/microsoft-json-schemas (with fabric/ below it). */
export function loadSchemas(root: string): SchemaSet {
  const opts = { strict: false, allErrors: true, validateSchema: false } as const;
  const draft7 = new Ajv(opts);
  const draft2020 = new Ajv2020(opts);
  addFormats(draft7);
  addFormats(draft2020);
  const fabric = path.join(root, 'fabric');
  const known = new Map<string, string>();
  for (const file of jsonFiles(fabric)) {
    const rel = path.relative(fabric, file).split(path.sep).join('/');
    const url = BASE + rel;
    const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const dialect = String(schema.$schema ?? DRAFT7);
    schema.$id = url;
    if (dialect.includes('2020-12')) draft2020.addSchema(schema);
    else {
      schema.$schema = DRAFT7; // a few files say https://json-schema.org/draft-07/schema#, which ajv does not know
      draft7.addSchema(schema);
    }
    known.set(url, `fabric/${rel}`);
  }
  return {
    fileOf(url) {
      const f = known.get(url);
      if (!f) throw new Error(`no stored schema for ${url}`);
      return f;
    },
    validatorFor(url) {
      if (!known.has(url)) throw new Error(`no stored schema for ${url}`);
      return draft7.getSchema(url) ?? draft2020.getSchema(url) ?? (() => {
        throw new Error(`schema ${url} did not compile`);
      })();
    },
  };
}
