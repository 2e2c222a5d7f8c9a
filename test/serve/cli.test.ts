// `medetl dashboard` as a child process: prints its URL (127.0.0.1, --port 0 = any free port), serves an empty
// store before the first batch, warns when bound beyond loopback, refuses a bad or busy port with exit 2, and stops
// cleanly on SIGTERM / SIGINT.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, makeProject, runCli, type Project } from '../helpers/watch-project.js';
import { rawGet } from './helpers.js';

let p: Project;
beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.json)`);
  p = makeProject();
});
afterAll(() => p?.cleanup());

const urlOf = (line: string) => new URL(/http:\/\/\S+/.exec(line)![0]);

describe('medetl dashboard', () => {
  it('--port 0: prints the loopback URL, serves an empty store, stops on SIGTERM; a busy port is exit 2', async () => {
    const c = runCli(p, ['dashboard', '--port', '0']);
    const url = urlOf(await c.waitForLine(/^medetl dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl\+C stops\)$/));
    expect(url.hostname).toBe('127.0.0.1');
    const snap = JSON.parse((await rawGet(Number(url.port), '/api/snapshot')).body);
    expect(snap.tiles).toMatchObject({ rows_loaded: 0, patients: 0, batches: 0, quarantined: 0 });
    expect(snap.live.daemon).toEqual({ running: false });
    expect(c.stderr()).toBe('');

    const busy = runCli(p, ['dashboard', '--port', url.port]);
    expect((await busy.exit).code).toBe(2);
    expect(busy.stderr()).toContain(`port ${url.port} on 127.0.0.1 is in use`);

    c.proc.kill('SIGTERM');
    expect((await c.exit).code).toBe(0);
  });

  it('--host beyond loopback prints a warning; a bad --port is exit 2', async () => {
    const c = runCli(p, ['dashboard', '--host', '0.0.0.0', '--port', '0']);
    const url = urlOf(await c.waitForLine(/^medetl dashboard: http:\/\/0\.0\.0\.0:\d+\//));
    expect(c.stderr()).toMatch(/WARNING: binding 0\.0\.0\.0: masked aggregates .* reachable from the network/);
    // bound to every interface by the user's choice: any Host name is answered
    expect((await rawGet(Number(url.port), '/api/snapshot', { Host: `dashboard.lan:${url.port}` })).status).toBe(200);
    c.proc.kill('SIGINT');
    expect((await c.exit).code).toBe(0);

    const bad = runCli(p, ['dashboard', '--port', '80x']);
    expect((await bad.exit).code).toBe(2);
    expect(bad.stderr()).toContain('--port must be a port number');
  });
});
