// The semantic model in TMDL (Tabular Model Definition Language): one file per table, plus database, model,
// relationships and expressions (the M parameters). Indentation is one tab per level; an expression that spans
// lines starts on the line after its `=` and sits deeper than the properties of the object that owns it.
import type { ModelColumn, ModelMeasure, ModelTable, SemanticModel } from './model.js';
import { mText, partitionOf, parametersOf, type SourceOptions } from './sources.js';

/** Compatibility level of the model: 1567 (Power BI, 2023) supports everything written here. */
export const COMPATIBILITY_LEVEL = 1567;

const TAB = '\t';

/** A TMDL object name: quoted with single quotes (doubled inside) unless it is a plain identifier. */
export function tmdlName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `'${name.replace(/'/g, "''")}'`;
}

const ind = (level: number): string => TAB.repeat(level);

/** `/// text` description lines above an object. */
function description(text: string, level: number): string[] {
  return text ? [`${ind(level)}/// ${text.replace(/\s*\n\s*/g, ' ')}`] : [];
}

/** `head = expression`: on one line when it fits on one, else the expression on the following lines at `level`. */
function assign(head: string, expression: string, level: number, exprLevel: number): string[] {
  const lines = expression.split('\n');
  if (lines.length === 1) return [`${ind(level)}${head} = ${expression}`];
  return [`${ind(level)}${head} =`, ...lines.map((l) => `${ind(exprLevel)}${l}`)];
}

function measureLines(m: ModelMeasure): string[] {
  return [
    ...description(m.description, 1),
    ...assign(`measure ${tmdlName(m.name)}`, m.expression, 1, 3),
    `${ind(2)}formatString: ${m.formatString}`,
    '',
  ];
}

function columnLines(c: ModelColumn): string[] {
  const out = [`${ind(1)}column ${tmdlName(c.name)}`, `${ind(2)}dataType: ${c.dataType}`];
  if (c.hidden) out.push(`${ind(2)}isHidden`);
  if (c.formatString) out.push(`${ind(2)}formatString: ${c.formatString}`);
  out.push(`${ind(2)}summarizeBy: ${c.summarizeBy}`, `${ind(2)}sourceColumn: ${c.name}`);
  if (c.sortByColumn) out.push(`${ind(2)}sortByColumn: ${tmdlName(c.sortByColumn)}`);
  if (c.isDate) out.push('', `${ind(2)}annotation UnderlyingDateTimeDataType = Date`);
  out.push('');
  return out;
}

export function tableTmdl(table: ModelTable, source: SourceOptions): string {
  const partition = partitionOf(table, source);
  const lines = [
    ...description(table.description, 0),
    `table ${tmdlName(table.name)}`,
    '',
    ...table.measures.flatMap(measureLines),
    ...table.columns.flatMap(columnLines),
    `${ind(1)}partition ${tmdlName(table.name)} = m`,
    `${ind(2)}mode: ${partition.mode}`,
    ...assign('source', partition.source, 2, 4),
    '',
    `${ind(1)}annotation PBI_ResultType = Table`,
  ];
  return `${lines.join('\n')}\n`;
}

export function databaseTmdl(): string {
  return `database\n${ind(1)}compatibilityLevel: ${COMPATIBILITY_LEVEL}\n`;
}

export function modelTmdl(model: SemanticModel, source: SourceOptions): string {
  const order = [...parametersOf(source).map((p) => p.name), ...model.tables.map((t) => t.name)];
  const lines = [
    'model Model',
    `${ind(1)}culture: en-US`,
    `${ind(1)}defaultPowerBIDataSourceVersion: powerBI_V3`,
    `${ind(1)}sourceQueryCulture: en-US`,
    `${ind(1)}dataAccessOptions`,
    `${ind(2)}legacyRedirects`,
    `${ind(2)}returnErrorValuesAsNull`,
    '',
    `annotation PBI_QueryOrder = ${JSON.stringify(order)}`,
    '',
    ...model.tables.map((t) => `ref table ${tmdlName(t.name)}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function relationshipsTmdl(model: SemanticModel): string {
  const blocks = model.relationships.map((r) =>
    [
      `relationship ${tmdlName(r.name)}`,
      `${ind(1)}fromColumn: ${tmdlName(r.fromTable)}.${tmdlName(r.fromColumn)}`,
      `${ind(1)}toColumn: ${tmdlName(r.toTable)}.${tmdlName(r.toColumn)}`,
    ].join('\n'),
  );
  return `${blocks.join('\n\n')}\n`;
}

/** The M parameters: text values the partitions read, editable in Desktop. */
export function expressionsTmdl(source: SourceOptions): string {
  const blocks = parametersOf(source).map((p) =>
    [
      ...description(p.description, 0),
      `expression ${tmdlName(p.name)} = ${mText(p.value)} meta [IsParameterQuery = true, Type = "Text", IsParameterQueryRequired = true]`,
      '',
      `${ind(1)}annotation PBI_ResultType = Text`,
    ].join('\n'),
  );
  return `${blocks.join('\n\n')}\n`;
}

/** Every TMDL file of the model, by path below the semantic model's definition/ folder. */
export function modelFiles(model: SemanticModel, source: SourceOptions): Map<string, string> {
  const files = new Map<string, string>([
    ['database.tmdl', databaseTmdl()],
    ['model.tmdl', modelTmdl(model, source)],
    ['expressions.tmdl', expressionsTmdl(source)],
    ['relationships.tmdl', relationshipsTmdl(model)],
  ]);
  for (const t of model.tables) files.set(`tables/${t.name}.tmdl`, tableTmdl(t, source));
  return files;
}
