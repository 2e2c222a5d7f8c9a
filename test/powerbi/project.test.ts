// `medetl powerbi --source ...`: the built CLI writes a Power BI Project; every JSON file validates against the
// Microsoft schema it names (offline copies in ../shared), the TMDL reads back with a structural check, every field a
// visual or measure names exists in that TMDL, and each source gives the partitions (M, mode) it should.
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { DefaultSettings, TaskUtils } from '@microsoft/powerquery-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_COLUMNS } from '../../src/pipeline/types.js';
import { MODEL_TABLES } from '../../src/powerbi/tables.js';
import { CLEANED_EVENTS_VIEW, RELEASE_TABLES } from '../../src/stores/schema.js';
import { makeProject, type Project } from '../helpers/project.js';
import { sharedPath } from '../helpers/services.js';
import { loadSchemas, type SchemaSet } from './ms-schemas.js';
import { readTmdl, type TmdlModel } from './tmdl-reader.js';

const SOURCES = ['parquet', 'sqlite', 'postgres'] as const;
type Source = (typeof SOURCES)[number];

interface Generated {
  dir: string;
  files: Map<string, string>;
  tmdl: TmdlModel;
}

function readTree(dir: string, base = dir): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    if (statSync(p).isDirectory()) for (const [k, v] of readTree(p, base)) out.set(k, v);
    else out.set(path.relative(base, p).split(path.sep).join('/'), readFileSync(p, 'utf8'));
  }
  return out;
}

function definitionFiles(files: Map<string, string>): Map<string, string> {
  const prefix = 'medetl.SemanticModel/definition/';
  return new Map([...files].filter(([p]) => p.startsWith(prefix) && p.endsWith('.tmdl')).map(([p, t]) => [p.slice(prefix.length), t]));
}

async function parsesAsM(text: string): Promise<boolean> {
  return TaskUtils.isParseStageOk(await TaskUtils.tryLexParse(DefaultSettings, text));
}

/** Every {Column|Measure: {Expression: {SourceRef: {Entity}}, Property}} anywhere in a visual's JSON. */
function fieldRefs(node: unknown, out: { kind: 'Column' | 'Measure'; table: string; name: string }[] = []) {
  if (Array.isArray(node)) node.forEach((n) => fieldRefs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'Column' || k === 'Measure') && v && typeof v === 'object') {
        const ref = v as { Expression?: { SourceRef?: { Entity?: string } }; Property?: string };
        out.push({ kind: k, table: String(ref.Expression?.SourceRef?.Entity), name: String(ref.Property) });
      }
      fieldRefs(v, out);
    }
  }
  return out;
}

describe('medetl powerbi --source', () => {
  const made: string[] = [];
  const gen = {} as Record<Source, Generated>;
  let project: Project;

  beforeAll(() => {
    project = makeProject('deid:\n  profile: safe_harbor\n');
    made.push(project.dir);
    for (const s of SOURCES) {
      const args = ['powerbi', '--source', s, '--out', `out-${s}`];
      if (s === 'postgres') args.push('--pg-server', 'db.example:5433', '--pg-database', 'vitals', '--refresh', '7');
      const r = project.run(args);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`(${s}, `);
      const dir = project.file(`out-${s}`);
      const files = readTree(dir);
      gen[s] = { dir, files, tmdl: readTmdl(definitionFiles(files)) };
    }
  });
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('writes the PBIP layout: .pbip, the semantic model in TMDL, the report in PBIR', () => {
    const names = [...gen.parquet.files.keys()];
    for (const required of [
      'medetl.pbip',
      'medetl.SemanticModel/definition.pbism',
      'medetl.SemanticModel/definition/database.tmdl',
      'medetl.SemanticModel/definition/model.tmdl',
      'medetl.SemanticModel/definition/relationships.tmdl',
      'medetl.SemanticModel/definition/expressions.tmdl',
      'medetl.Report/definition.pbir',
      'medetl.Report/definition/version.json',
      'medetl.Report/definition/report.json',
      'medetl.Report/definition/pages/pages.json',
    ])
      expect(names).toContain(required);
    for (const t of MODEL_TABLES) expect(names).toContain(`medetl.SemanticModel/definition/tables/${t.name}.tmdl`);
    const pages = JSON.parse(gen.parquet.files.get('medetl.Report/definition/pages/pages.json')!) as { pageOrder: string[] };
    expect(pages.pageOrder).toEqual(['overview', 'vitals', 'blood_pressure', 'geography', 'qc']);
    for (const p of pages.pageOrder) expect(names).toContain(`medetl.Report/definition/pages/${p}/page.json`);
    expect(names.filter((n) => n.endsWith('/visual.json')).length).toBeGreaterThanOrEqual(15);
    const pbir = JSON.parse(gen.parquet.files.get('medetl.Report/definition.pbir')!);
    expect(pbir.datasetReference).toEqual({ byPath: { path: '../medetl.SemanticModel' } });
  });

  it('every JSON file names its $schema and validates against that schema, loaded offline from ../shared', () => {
    const root = sharedPath('schemas/microsoft-json-schemas');
    if (!root) return;
    const schemas: SchemaSet = loadSchemas(root);
    const used = new Map<string, number>();
    for (const s of SOURCES) {
      for (const [file, text] of gen[s].files) {
        if (file.endsWith('.tmdl')) continue;
        const json = JSON.parse(text) as { $schema?: string };
        expect(json.$schema, `${s}: ${file} names no $schema`).toMatch(/^https:\/\/developer\.microsoft\.com\/json-schemas\/fabric\//);
        const validate = schemas.validatorFor(json.$schema!);
        const ok = validate(json);
        expect(ok, `${s}: ${file} against ${schemas.fileOf(json.$schema!)}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
        used.set(schemas.fileOf(json.$schema!), (used.get(schemas.fileOf(json.$schema!)) ?? 0) + 1);
      }
    }
    // Not a tautology: a visual that breaks its schema must fail. A position without width is invalid.
    const visual = JSON.parse(gen.parquet.files.get('medetl.Report/definition/pages/overview/visuals/overview_patients/visual.json')!);
    delete visual.position.width;
    expect(schemas.validatorFor(visual.$schema)(visual)).toBe(false);
    // ...and the $refs into semanticQuery are followed: a field reference without its source table is invalid.
    const field = JSON.parse(gen.parquet.files.get('medetl.Report/definition/pages/overview/visuals/overview_patients/visual.json')!);
    delete field.visual.query.queryState.Values.projections[0].field.Measure.Expression;
    expect(schemas.validatorFor(field.$schema)(field)).toBe(false);
    process.stdout.write(`validated against: ${[...used].map(([f, n]) => `${f} (${n})`).join(', ')}\n`);
  });

  it('the TMDL reads back without a structural error: tab indentation, typed columns, one partition per table', () => {
    for (const s of SOURCES) {
      const t = gen[s].tmdl;
      expect(t.errors, s).toEqual([]);
      expect([...t.tables.keys()].sort()).toEqual(MODEL_TABLES.map((x) => x.name).sort());
      for (const table of t.tables.values()) {
        expect(table.partitions, `${s} ${table.name}`).toHaveLength(1);
        expect(table.partitions[0].kind).toBe('m');
        for (const [name, c] of table.columns) expect(c.sourceColumn, `${table.name}.${name}`).toBe(name);
      }
    }
    // The reader is not a rubber stamp: a space-indented property and a column without dataType are reported.
    const broken = readTmdl(new Map([['tables/x.tmdl', 'table x\n\tcolumn a\n    summarizeBy: none\n\tpartition x = m\n\t\tmode: import\n\t\tsource =\n\t\t\t\tlet a = 1 in a\n']]));
    expect(broken.errors.join('\n')).toMatch(/indented with spaces[\s\S]*no valid dataType/);
  });

  it('the fact table is the stores\' cleaned_events: the allow-listed columns, typed and hidden as schema.ts says', () => {
    const fact = gen.parquet.tmdl.tables.get('cleaned_events')!;
    expect([...fact.columns.keys()]).toEqual([...OUTPUT_COLUMNS]);
    const specs = new Map(RELEASE_TABLES.flatMap((t) => t.columns.map((c) => [`${t.name}.${c.name}`, c] as const)));
    const aliases: Record<string, string> = { e: 'events', p: 'patients', b: 'batches' };
    for (const [, alias, col] of CLEANED_EVENTS_VIEW.select.matchAll(/\b([epb])\.(\w+)\b(?=\s*(?:,|\sFROM))/g)) {
      const spec = specs.get(`${aliases[alias]}.${col}`)!;
      const c = fact.columns.get(col)!;
      expect(c.isHidden, col).toBe(spec.hidden === true);
      const want = spec.type === 'int' || spec.type === 'bigint' ? 'int64' : spec.type === 'double' ? 'double' : spec.type === 'date' ? 'dateTime' : 'string';
      expect(c.dataType, col).toBe(want);
    }
    for (const t of MODEL_TABLES)
      for (const c of t.columns) expect(gen.parquet.tmdl.tables.get(t.name)!.columns.get(c.name)!.isHidden, `${t.name}.${c.name}`).toBe(c.hidden === true);
  });

  it('every table, column and measure a visual or a measure names exists in the generated TMDL', () => {
    for (const s of SOURCES) {
      const { files, tmdl } = gen[s];
      let refs = 0;
      for (const [file, text] of files) {
        if (!file.endsWith('/visual.json')) continue;
        const found = fieldRefs(JSON.parse(text));
        expect(found.length, file).toBeGreaterThan(0);
        for (const f of found) {
          const table = tmdl.tables.get(f.table);
          expect(table, `${file}: table ${f.table}`).toBeDefined();
          const has = f.kind === 'Column' ? table!.columns.has(f.name) : table!.measures.has(f.name);
          expect(has, `${file}: ${f.kind} ${f.table}[${f.name}]`).toBe(true);
          refs++;
        }
      }
      expect(refs).toBeGreaterThan(40);
      for (const table of tmdl.tables.values()) {
        for (const [name, dax] of table.measures) {
          const used = [...dax.matchAll(/\b(\w+)\[(\w+)\]/g)];
          expect(used.length, `${table.name}[${name}]`).toBeGreaterThan(0);
          for (const [, t, c] of used) expect(tmdl.tables.get(t)?.columns.has(c), `measure ${name}: ${t}[${c}]`).toBe(true);
        }
        for (const [name, c] of table.columns) if (c.sortByColumn) expect(table.columns.has(c.sortByColumn), `${table.name}.${name} sortBy`).toBe(true);
      }
      for (const r of tmdl.relationships) {
        const from = tmdl.tables.get(r.from[0])?.columns.get(r.from[1]);
        const to = tmdl.tables.get(r.to[0])?.columns.get(r.to[1]);
        expect(from && to, r.name).toBeTruthy();
        expect(from!.dataType, r.name).toBe(to!.dataType);
      }
    }
  });

  it('relationships: fact and KPI tables to dim_year, KPI tables to dim_age_band where they have age_band, the fact to dim_zip3', () => {
    const rel = gen.parquet.tmdl.relationships.map((r) => `${r.from.join('.')} -> ${r.to.join('.')}`).sort();
    expect(rel).toEqual(
      [
        'cleaned_events.event_year -> dim_year.event_year',
        'cleaned_events.zip3 -> dim_zip3.zip3',
        'kpi_bp_by_year.event_year -> dim_year.event_year',
        'kpi_bp_by_year_age_band.event_year -> dim_year.event_year',
        'kpi_bp_by_year_age_band.age_band -> dim_age_band.age_band',
        'kpi_heart_rate_by_age_band.event_year -> dim_year.event_year',
        'kpi_heart_rate_by_age_band.age_band -> dim_age_band.age_band',
        'kpi_vitals_by_year.event_year -> dim_year.event_year',
      ].sort(),
    );
  });

  it('parquet: Import from masked_out/cleaned.parquet and masked_out/bi/<table>.parquet, the folder an M parameter', async () => {
    const { tmdl } = gen.parquet;
    expect(tmdl.expressions.get('MaskedOutFolder')).toBe(`"${project.file('masked_out')}" meta [IsParameterQuery = true, Type = "Text", IsParameterQueryRequired = true]`);
    for (const t of tmdl.tables.values()) {
      const p = t.partitions[0];
      expect(p.mode).toBe('import');
      const file = t.name === 'cleaned_events' ? '/cleaned.parquet' : `/bi/${t.name}.parquet`;
      expect(p.source).toContain(`Parquet.Document(File.Contents(MaskedOutFolder & "${file}"))`);
      expect(await parsesAsM(p.source!), `${t.name}: ${p.source}`).toBe(true);
    }
  });

  it('a project made here for a Windows PC keeps the Windows paths given and joins them with backslashes', () => {
    const r = project.run(['powerbi', '--source', 'parquet', '--out', 'out-win', '--masked-out', 'C:\\medetl\\masked_out']);
    expect(r.status).toBe(0);
    const tmdl = readTmdl(definitionFiles(readTree(project.file('out-win'))));
    expect(tmdl.expressions.get('MaskedOutFolder')).toMatch(/^"C:\\medetl\\masked_out" meta/);
    expect(tmdl.tables.get('dim_year')!.partitions[0].source).toContain('File.Contents(MaskedOutFolder & "\\bi\\dim_year.parquet")');
    expect(tmdl.tables.get('cleaned_events')!.partitions[0].source).toContain('File.Contents(MaskedOutFolder & "\\cleaned.parquet")');
  });

  it('sqlite: Import through Odbc.DataSource over the SQLite ODBC driver, database and driver as M parameters', async () => {
    const { tmdl } = gen.sqlite;
    expect(tmdl.expressions.get('SqliteDatabase')).toContain(`"${project.file('masked_out/cleaned.sqlite')}"`);
    expect(tmdl.expressions.get('SqliteOdbcDriver')).toContain('"SQLite3 ODBC Driver"');
    for (const t of tmdl.tables.values()) {
      const p = t.partitions[0];
      expect(p.mode).toBe('import');
      expect(p.source).toContain('Odbc.DataSource("Driver={" & SqliteOdbcDriver & "};Database=" & SqliteDatabase');
      expect(p.source).toContain(`Source{[Name = "${t.name}"]}[Data]`);
      expect(await parsesAsM(p.source!), t.name).toBe(true);
    }
  });

  it('postgres: DirectQuery through PostgreSQL.Database(server, database), schema a parameter, page refresh on every page', async () => {
    const { tmdl, files } = gen.postgres;
    expect(tmdl.expressions.get('PgServer')).toContain('"db.example:5433"');
    expect(tmdl.expressions.get('PgDatabase')).toContain('"vitals"');
    expect(tmdl.expressions.get('PgSchema')).toContain('"medetl"');
    for (const t of tmdl.tables.values()) {
      const p = t.partitions[0];
      expect(p.mode).toBe('directQuery');
      expect(p.source).toContain('PostgreSQL.Database(PgServer, PgDatabase)');
      expect(p.source).toContain(`Source{[Schema = PgSchema, Item = "${t.name}"]}[Data]`);
      expect(await parsesAsM(p.source!), t.name).toBe(true);
    }
    for (const s of SOURCES) {
      for (const [file, text] of gen[s].files) {
        if (!file.endsWith('/page.json')) continue;
        const refresh = (JSON.parse(text) as { objects?: { pageRefresh?: { properties: Record<string, unknown> }[] } }).objects?.pageRefresh;
        if (s === 'postgres') expect(refresh?.[0].properties, file).toEqual({ show: { expr: { Literal: { Value: 'true' } } }, duration: { expr: { Literal: { Value: "'PT7S'" } } } });
        else expect(refresh, `${s} ${file}`).toBeUndefined();
      }
    }
    expect([...files.keys()].filter((f) => f.endsWith('/page.json'))).toHaveLength(5);
  });

  it('the M parameters parse as M, and a broken expression does not (the parser check can fail)', async () => {
    for (const s of SOURCES) for (const [name, m] of gen[s].tmdl.expressions) expect(await parsesAsM(m), `${s} ${name}`).toBe(true);
    expect(await parsesAsM('let Source = Parquet.Document(File.Contents("x") in Source')).toBe(false);
  });

  it('refuses to overwrite a project without --force, replaces it with --force, and rejects a bad --source', () => {
    const again = project.run(['powerbi', '--source', 'parquet', '--out', 'out-parquet']);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/exists: pass --force/);
    const forced = project.run(['powerbi', '--source', 'sqlite', '--out', 'out-parquet', '--force']);
    expect(forced.status).toBe(0);
    expect(readFileSync(project.file('out-parquet/medetl.SemanticModel/definition/tables/dim_year.tmdl'), 'utf8')).toContain('Odbc.DataSource');
    expect(readdirSync(project.file('out-parquet')).sort()).toEqual(['medetl.Report', 'medetl.SemanticModel', 'medetl.pbip']);
    const bad = project.run(['powerbi', '--source', 'excel', '--out', 'x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--source must be one of parquet, sqlite, postgres/);
  });
});

describe('the fact table resolves from the stores\' table list', () => {
  it('throws when the view selects a column no store table has', async () => {
    const { cleanedEventsColumns } = await import('../../src/powerbi/tables.js');
    expect(cleanedEventsColumns().map((c) => c.name)).toEqual([...OUTPUT_COLUMNS]);
    expect(() => cleanedEventsColumns({ select: 'SELECT e.dob_year, e.no_such FROM events e' })).toThrow(/e\.no_such is not a column/);
  });
});
