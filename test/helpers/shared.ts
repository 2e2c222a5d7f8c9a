// Tests that need files from ../shared (the real Synthea fixtures). On a plain clone they skip: sharedPath() prints
// what is missing and where to put it, and the skipped test is named "needs ../shared/<what>". With
// MEDETL_REQUIRE_SHARED=1 (CI) each such block registers one test that fails with that reason instead; the
// other tests of the file still run.
import { describe, it } from 'vitest';
import { sharedPath } from './services.js';

type Found = { dir: string; error: null } | { dir: null; error: Error | null };
const looked = new Map<string, Found>();

/** sharedPath(), once per folder and file, with its CI error kept for the test that reports it. */
function lookup(rel: string): Found {
  let f = looked.get(rel);
  if (!f) {
    try {
      const dir = sharedPath(rel);
      f = dir === null ? { dir: null, error: null } : { dir, error: null };
    } catch (err) {
      f = { dir: null, error: err as Error };
    }
    looked.set(rel, f);
  }
  return f;
}

const need = (rel: string) => `needs ../shared/${rel}`;

/** describe(name) with ../shared/<rel> passed to the body; skipped (plain clone) or failing (CI) without it. */
export function describeWithShared(rel: string, name: string, body: (dir: string) => void): void {
  const f = lookup(rel);
  if (f.dir !== null) {
    const dir = f.dir;
    describe(name, () => body(dir));
  } else if (f.error) {
    const error = f.error;
    describe(name, () => {
      it(need(rel), () => {
        throw error;
      });
    });
  } else describe.skip(name, () => it(need(rel), () => undefined));
}

/** it(name) with ../shared/<rel> passed to the test; skipped (plain clone) or failing (CI) without it. */
export function itWithShared(rel: string, name: string, fn: (dir: string) => unknown, timeout?: number): void {
  const f = lookup(rel);
  if (f.dir !== null) {
    const dir = f.dir;
    it(name, () => fn(dir), timeout);
  } else if (f.error) {
    const error = f.error;
    it(`${name} (${need(rel)})`, () => {
      throw error;
    });
  } else it.skip(`${name} (${need(rel)})`, () => undefined);
}
