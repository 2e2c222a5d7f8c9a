// A small TMDL reader for the tests: reads the generated files back into a model, and reports every structural
// problem it meets (indentation other than tabs, a child not exactly one level below its parent, an expression that
// is not deeper than its owner's properties, a column without dataType, a partition without mode or source...).
// Written from the TMDL description (learn.microsoft.com/analysis-services/tmdl/tmdl-overview), independently of
// the generator: it knows nothing of src/powerbi.

export interface TmdlNode {
  level: number;
  /** The line without its indentation. */
  text: string;
  line: number;
  description: string[];
  children: TmdlNode[];
  /** The expression after `=` (same line), or the lines below a line ending in `=`, without their common indent. */
  expression?: string;
}

export interface TmdlColumn {
  dataType?: string;
  isHidden: boolean;
  sourceColumn?: string;
  sortByColumn?: string;
  summarizeBy?: string;
}

export interface TmdlTable {
  name: string;
  columns: Map<string, TmdlColumn>;
  measures: Map<string, string>;
  partitions: { name: string; kind: string; mode?: string; source?: string }[];
}

export interface TmdlModel {
  tables: Map<string, TmdlTable>;
  relationships: { name: string; from: [string, string]; to: [string, string] }[];
  expressions: Map<string, string>;
  errors: string[];
}

const DATA_TYPES = new Set(['string', 'int64', 'double', 'dateTime', 'decimal', 'boolean', 'binary']);

/** `'A name'` -> A name (a doubled quote inside is one quote); a plain name as is. */
export function unquote(name: string): string {
  const n = name.trim();
  return n.startsWith("'") && n.endsWith("'") ? n.slice(1, -1).replace(/''/g, "'") : n;
}

/** Split `head = rest` at the first `=` outside quotes. */
function splitAssign(text: string): [string, string | undefined] {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "'") quoted = !quoted;
    if (!quoted && text[i] === '=') return [text.slice(0, i).trim(), text.slice(i + 1).trim()];
  }
  return [text.trim(), undefined];
}

/** Parse one file into a tree; structural problems go to `errors` as `file:line: what`. */
export function parseTmdl(file: string, text: string, errors: string[]): TmdlNode[] {
  const lines = text.split('\n');
  const roots: TmdlNode[] = [];
  const stack: TmdlNode[] = [];
  let description: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const level = /^\t*/.exec(raw)![0].length;
    if (/^\t* /.test(raw)) errors.push(`${file}:${i + 1}: indented with spaces`);
    const body = raw.slice(level);
    if (body.startsWith('///')) {
      description.push(body.slice(3).trim());
      continue;
    }
    while (stack.length && stack[stack.length - 1].level >= level) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent ? level !== parent.level + 1 : level !== 0) errors.push(`${file}:${i + 1}: level ${level} under ${parent ? `level ${parent.level}` : 'nothing'}`);
    const node: TmdlNode = { level, text: body, line: i + 1, description, children: [] };
    description = [];
    (parent ? parent.children : roots).push(node);
    stack.push(node);
    const [, rhs] = splitAssign(body);
    if (rhs === '') {
      // A multi-line expression: every following line deeper than the owner's properties (level + 1).
      const exprLines: string[] = [];
      while (i + 1 < lines.length && (lines[i + 1].trim() === '' || /^\t*/.exec(lines[i + 1])![0].length > level + 1)) exprLines.push(lines[++i].replace(/\r$/, ''));
      while (exprLines.length && exprLines[exprLines.length - 1].trim() === '') exprLines.pop();
      if (!exprLines.length) errors.push(`${file}:${i + 1}: "${body}" has no expression below it`);
      const indent = Math.min(...exprLines.filter((l) => l.trim()).map((l) => /^\t*/.exec(l)![0].length));
      node.expression = exprLines.map((l) => l.slice(indent)).join('\n');
    } else if (rhs !== undefined) node.expression = rhs;
  }
  return roots;
}

const prop = (n: TmdlNode, key: string): string | undefined => {
  const c = n.children.find((x) => x.text === key || x.text.startsWith(`${key}:`));
  return c === undefined ? undefined : c.text === key ? '' : c.text.slice(key.length + 1).trim();
};
const kindOf = (n: TmdlNode) => /^\w+/.exec(n.text)?.[0] ?? '';
const nameOf = (n: TmdlNode) => unquote(splitAssign(n.text)[0].replace(/^\w+\s+/, ''));

/** Read a whole definition/ folder (path -> text) into a model. */
export function readTmdl(files: Map<string, string>): TmdlModel {
  const model: TmdlModel = { tables: new Map(), relationships: [], expressions: new Map(), errors: [] };
  const err = (s: string) => model.errors.push(s);
  for (const [file, text] of files) {
    for (const root of parseTmdl(file, text, model.errors)) {
      const kind = kindOf(root);
      if (kind === 'table') {
        const t: TmdlTable = { name: nameOf(root), columns: new Map(), measures: new Map(), partitions: [] };
        if (model.tables.has(t.name)) err(`${file}: table ${t.name} twice`);
        model.tables.set(t.name, t);
        if (!file.endsWith(`tables/${t.name}.tmdl`)) err(`${file}: table ${t.name} is not in tables/${t.name}.tmdl`);
        for (const c of root.children) {
          const ck = kindOf(c);
          const name = nameOf(c);
          if (ck === 'column') {
            const dataType = prop(c, 'dataType');
            if (!dataType || !DATA_TYPES.has(dataType)) err(`${file}:${c.line}: column ${name} has no valid dataType`);
            if (t.columns.has(name)) err(`${file}:${c.line}: column ${name} twice`);
            t.columns.set(name, { dataType, isHidden: prop(c, 'isHidden') === '', sourceColumn: prop(c, 'sourceColumn'), sortByColumn: prop(c, 'sortByColumn'), summarizeBy: prop(c, 'summarizeBy') });
          } else if (ck === 'measure') {
            if (!c.expression) err(`${file}:${c.line}: measure ${name} has no expression`);
            t.measures.set(name, c.expression ?? '');
          } else if (ck === 'partition') {
            const mode = prop(c, 'mode');
            const source = c.children.find((x) => kindOf(x) === 'source')?.expression;
            if (mode !== 'import' && mode !== 'directQuery') err(`${file}:${c.line}: partition ${name} mode is ${mode}`);
            if (!source) err(`${file}:${c.line}: partition ${name} has no source`);
            t.partitions.push({ name, kind: c.expression ?? '', mode, source });
          } else if (ck !== 'annotation') err(`${file}:${c.line}: unexpected "${c.text}" in table ${t.name}`);
        }
        if (!t.columns.size) err(`${file}: table ${t.name} has no columns`);
        if (!t.partitions.length) err(`${file}: table ${t.name} has no partition`);
      } else if (kind === 'relationship') {
        const ref = (s: string | undefined): [string, string] => {
          const m = /^('(?:[^']|'')+'|\w+)\.('(?:[^']|'')+'|\w+)$/.exec(s ?? '');
          if (!m) err(`${file}:${root.line}: relationship column "${s}" is not table.column`);
          return m ? [unquote(m[1]), unquote(m[2])] : ['', ''];
        };
        model.relationships.push({ name: nameOf(root), from: ref(prop(root, 'fromColumn')), to: ref(prop(root, 'toColumn')) });
      } else if (kind === 'expression') {
        model.expressions.set(nameOf(root), root.expression ?? '');
      } else if (!['database', 'model', 'ref', 'annotation'].includes(kind)) {
        err(`${file}:${root.line}: unexpected top-level "${root.text}"`);
      }
    }
  }
  return model;
}
