// What text from the ledger may reach the page. File names are shown only when they are made of a timestamp and a
// sequence (the names `generate` and `map` write), never a name someone typed, which could name a patient. Codes
// (reasons, columns, statistics) are shown only when they look like codes.

/** `events_<digits, - and _>.csv`, or the generator's `events_<YYYYMMDDTHHMMSSZ>_<seq>.csv`. */
const SAFE_FILE = /^events_(?:[0-9]{8}T[0-9]{6}Z_[0-9]+|[0-9_-]+)\.csv$/;
const CODE = /^[a-z][a-z0-9_]{0,39}$/;

/** What the page shows instead of a file name that is not known to be safe. */
export const WITHHELD_NAME = '(name withheld)';

export function safeFileName(name: string | null | undefined): string {
  return typeof name === 'string' && name.length <= 80 && SAFE_FILE.test(name) ? name : WITHHELD_NAME;
}

export function safeCode(code: unknown): string {
  return typeof code === 'string' && CODE.test(code) ? code : 'other';
}

/** A batch id as the stores make them (`20261122T081500Z-1a2b3c4d`): random and time-based, never derived from data. */
export function safeBatchId(id: unknown): string {
  return typeof id === 'string' && /^[0-9A-Za-z_-]{1,40}$/.test(id) ? id : '?';
}
