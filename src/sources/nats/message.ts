// The work item: a reference to a raw file in the shared folder, never its content and never a patient value.
// JSON { v, path, name, size, hash, mtime_ms }, header Nats-Msg-Id = hash, so JetStream drops a re-publish of the
// same content within its duplicate window. `hash` is keyed (HMAC-SHA256 under MEDETL_HMAC_KEY): nothing on the
// network is an unkeyed hash of raw data.
import { createHmac } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { z } from 'zod';
import type { HmacKey } from '../../config/key.js';

export const WORK_ITEM_VERSION = 1;
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** A separate domain under the project key, so this hash never equals a patient_key or a fingerprint. */
const CONTENT_DOMAIN = 'medetl/content/v1\0';

const workItemSchema = z
  .object({
    v: z.literal(WORK_ITEM_VERSION),
    /** Relative to the shared folder, `/`-separated whatever the publisher's platform. */
    path: z.string().min(1).max(4096),
    /** The file's base name as it arrived in incoming/. */
    name: z.string().min(1).max(1024),
    size: z.number().int().min(0),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    /** The file's modification time when it was published (its arrival), ms. */
    mtime_ms: z.number().nullable(),
  })
  .strict();

export type WorkItem = z.infer<typeof workItemSchema>;

/** HMAC-SHA256 under the project key (domain-separated) of the file's bytes, read once as a stream. */
export async function contentHash(key: HmacKey, file: string): Promise<{ hash: string; size: number }> {
  const h = createHmac('sha256', key.bytes).update(CONTENT_DOMAIN);
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { hash: h.digest('hex'), size };
}

export function encodeWorkItem(item: WorkItem): { data: Uint8Array; headers: MsgHdrs } {
  const h = headers();
  h.set(MSG_ID_HEADER, item.hash);
  return { data: new TextEncoder().encode(JSON.stringify(item)), headers: h };
}

/** The work item, or null when the bytes are not one (the caller terms the message: `message_invalid`). */
export function decodeWorkItem(data: Uint8Array): WorkItem | null {
  try {
    const r = workItemSchema.safeParse(JSON.parse(new TextDecoder().decode(data)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** A file's path inside the shared folder, `/`-separated; null when it is not inside. */
export function relativeRef(sharedDir: string, file: string): string | null {
  const rel = path.relative(path.resolve(sharedDir), path.resolve(file));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

/**
 * Where a message's relative path is on this machine (its own mount of the shared folder), or null when the path
 * would leave the folder (`..`, absolute, a symbolic link pointing out). A missing file resolves (the caller checks).
 */
export async function resolveRef(sharedDir: string, rel: string): Promise<string | null> {
  const parts = rel.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0')) || /^[A-Za-z]:/.test(rel)) return null;
  const abs = path.join(path.resolve(sharedDir), ...parts);
  let realDir: string;
  let realFile: string;
  try {
    realDir = await fs.realpath(sharedDir);
  } catch {
    return abs; // the folder itself is missing (unmounted?): the file is missing too, and the caller says so
  }
  try {
    realFile = await fs.realpath(abs);
  } catch {
    return abs;
  }
  const back = path.relative(realDir, realFile);
  return back === '' || back.startsWith('..') || path.isAbsolute(back) ? null : abs;
}

/** A name in the shared folder that cannot clash with another publisher's: `<stem>.<12 hex><ext>`. */
export function sharedName(original: string, random: string): string {
  const ext = path.extname(original);
  return `${original.slice(0, original.length - ext.length)}.${random}${ext}`;
}

/** The original name back from a shared name (for files found in the shared folder at start). */
export function originalName(shared: string): string {
  const m = /^(.*)\.[0-9a-f]{12}(\.[^.]*)?$/.exec(shared);
  return m ? `${m[1]}${m[2] ?? ''}` : shared;
}
