// Raw-data paths are refused inside masked_out/ by resolved real paths, never string prefixes; a readable .env warns.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resetEnvWarning, warnIfEnvReadable } from '../../src/config/guards.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'medetl-guards-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const parse = (paths: Record<string, string>) => parseConfig({ paths }, root, null, {});

describe('config guards: raw data never inside masked_out/', () => {
  it('the default layout and siblings whose names share a prefix are accepted', () => {
    expect(() => parse({})).not.toThrow();
    expect(() => parse({ archive: 'masked_out_raw', quarantine: 'masked_outside' })).not.toThrow();
    // masked_out/ inside a raw folder leaks nothing: accepted.
    expect(() => parse({ masked_out: 'incoming/out' })).not.toThrow();
  });

  it('masked_out/..raw is inside masked_out/ (a child named "..raw"), not beside it', () => {
    expect(() => parse({ archive: 'masked_out/..raw' })).toThrow(/paths.archive .* is inside paths.masked_out/);
  });

  it('masked_out: "." or ".." (the folder holding .env) is refused', () => {
    expect(() => parse({ masked_out: '.' })).toThrow(/the folder holding .env and config.yaml/);
    expect(() => parse({ masked_out: '..' })).toThrow(/the folder holding .env and config.yaml/);
  });

  it('every raw-data path is checked: quarantine, incoming, synthea_stream, state, logs; the same folder too', () => {
    expect(() => parse({ quarantine: 'masked_out/quarantine' })).toThrow(/paths.quarantine/);
    expect(() => parse({ incoming: 'masked_out' })).toThrow(/paths.incoming/);
    expect(() => parse({ synthea_stream: './masked_out/./runs' })).toThrow(/paths.synthea_stream/);
    expect(() => parse({ state: 'masked_out/.medetl' })).toThrow(/paths.state/);
    expect(() => parse({ logs: 'out/logs', masked_out: 'out' })).toThrow(/paths.logs/);
    expect(() => parse({ archive: path.join(root, 'masked_out', 'old') })).toThrow(/paths.archive/);
  });

  it('a symbolic link into masked_out/ is followed: its real path is inside', () => {
    mkdirSync(path.join(root, 'masked_out', 'hidden'), { recursive: true });
    symlinkSync(path.join(root, 'masked_out', 'hidden'), path.join(root, 'archive-link'));
    expect(() => parse({ archive: 'archive-link' })).toThrow(/paths.archive \(.*masked_out.hidden\) is inside paths.masked_out/);
    // A link to masked_out/ as the release folder: the raw folders beside the link are outside its real path.
    symlinkSync(path.join(root, 'masked_out'), path.join(root, 'release-link'));
    expect(() => parse({ masked_out: 'release-link', archive: 'release-link/raw' })).toThrow(/paths.archive/);
    expect(() => parse({ masked_out: 'release-link' })).not.toThrow();
  });
});

describe('.env readable by others', () => {
  it('warns once on stderr for mode 644, not for 600', () => {
    if (process.platform === 'win32') return;
    const dir = mkdtempSync(path.join(root, 'env-'));
    const env = path.join(dir, '.env');
    writeFileSync(env, `MEDETL_HMAC_KEY=${'ab'.repeat(32)}\n`);
    chmodSync(env, 0o600);
    resetEnvWarning();
    const lines: string[] = [];
    expect(warnIfEnvReadable(env, (s) => lines.push(s))).toBe(false);
    chmodSync(env, 0o644);
    expect(warnIfEnvReadable(env, (s) => lines.push(s))).toBe(true);
    expect(warnIfEnvReadable(env, (s) => lines.push(s))).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\.env is readable or writable by other users \(mode 644\).*chmod 600/);
    // loadConfig reads .env and applies the same check (already warned once in this process: silent now).
    writeFileSync(path.join(dir, 'config.yaml'), '');
    expect(loadConfig(path.join(dir, 'config.yaml'), {}).env.MEDETL_HMAC_KEY).toBe('ab'.repeat(32));
    resetEnvWarning();
  });
});
