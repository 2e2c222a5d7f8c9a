// One PBIR visual container (definition/pages/<page>/visuals/<visual>/visual.json) from a small description: the
// visual type, its title, where it sits, and the model fields bound to each of its roles (data buckets).
import { SCHEMA } from './schemas.js';

export type VisualType = 'card' | 'columnChart' | 'clusteredColumnChart' | 'clusteredBarChart' | 'lineChart' | 'tableEx' | 'slicer';

/** The roles each visual type binds: Category (axis), Y (values), Series (legend), Values (cards, tables, slicers). */
export const ROLES: Record<VisualType, readonly string[]> = {
  card: ['Values'],
  columnChart: ['Category', 'Series', 'Y'],
  clusteredColumnChart: ['Category', 'Series', 'Y'],
  clusteredBarChart: ['Category', 'Series', 'Y'],
  lineChart: ['Category', 'Series', 'Y'],
  tableEx: ['Values'],
  slicer: ['Values'],
};

export interface FieldRef {
  kind: 'column' | 'measure';
  table: string;
  name: string;
}

export const column = (table: string, name: string): FieldRef => ({ kind: 'column', table, name });
export const measure = (table: string, name: string): FieldRef => ({ kind: 'measure', table, name });

export interface VisualSpec {
  /** Unique on its page; also its folder name (letters, digits, underscores; at most 50). */
  name: string;
  type: VisualType;
  title: string;
  position: { x: number; y: number; width: number; height: number };
  roles: Record<string, FieldRef[]>;
  sort?: { field: FieldRef; direction: 'Ascending' | 'Descending' };
}

/** A PBIR literal: strings single-quoted (a quote doubled), booleans bare. */
export function literal(value: string | boolean): { expr: { Literal: { Value: string } } } {
  const v = typeof value === 'boolean' ? String(value) : `'${value.replace(/'/g, "''")}'`;
  return { expr: { Literal: { Value: v } } };
}

export function fieldExpression(f: FieldRef): Record<string, unknown> {
  const ref = { Expression: { SourceRef: { Entity: f.table } }, Property: f.name };
  return f.kind === 'column' ? { Column: ref } : { Measure: ref };
}

function projection(f: FieldRef): Record<string, unknown> {
  return { field: fieldExpression(f), queryRef: `${f.table}.${f.name}`, nativeQueryRef: f.name };
}

export function visualJson(v: VisualSpec, z: number): Record<string, unknown> {
  const allowed = ROLES[v.type];
  const queryState: Record<string, unknown> = {};
  for (const role of allowed) {
    const fields = v.roles[role];
    if (fields?.length) queryState[role] = { projections: fields.map(projection) };
  }
  const unknown = Object.keys(v.roles).filter((r) => !allowed.includes(r));
  if (unknown.length) throw new Error(`visual ${v.name}: ${v.type} has no role ${unknown.join(', ')}`);
  const query: Record<string, unknown> = { queryState };
  if (v.sort) query.sortDefinition = { sort: [{ field: fieldExpression(v.sort.field), direction: v.sort.direction }], isDefaultSort: true };
  return {
    $schema: SCHEMA.visual,
    name: v.name,
    position: { ...v.position, z, tabOrder: z },
    visual: {
      visualType: v.type,
      query,
      visualContainerObjects: { title: [{ properties: { show: literal(true), text: literal(v.title) } }] },
      drillFilterOtherVisuals: true,
    },
  };
}

/** Every field a visual binds or sorts by. */
export function fieldsOf(v: VisualSpec): FieldRef[] {
  return [...Object.values(v.roles).flat(), ...(v.sort ? [v.sort.field] : [])];
}
