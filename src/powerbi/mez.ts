// The connector package: a .mez is a zip of the section document, its string resources and its icons.
import { strToU8, zipSync, type Zippable } from 'fflate';
import { CONNECTOR_NAME, ICON_SIZES, connectorPq, iconFile, resourcesResx, type ConnectorOptions } from './connector.js';
import { iconPng } from './icons.js';

/** A fixed timestamp for every entry, so the same input gives the same bytes. */
const MTIME = new Date(Date.UTC(2024, 0, 1));

export function mezEntries(o: ConnectorOptions): Map<string, Uint8Array> {
  const entries = new Map<string, Uint8Array>([
    [`${CONNECTOR_NAME}.pq`, strToU8(connectorPq(o))],
    ['resources.resx', strToU8(resourcesResx())],
  ]);
  for (const s of ICON_SIZES) entries.set(iconFile(s), iconPng(s));
  return entries;
}

export function buildMez(o: ConnectorOptions): Uint8Array {
  const z: Zippable = {};
  for (const [name, data] of mezEntries(o)) z[name] = [data, { mtime: MTIME, level: name.endsWith('.png') ? 0 : 6 }];
  return zipSync(z);
}
