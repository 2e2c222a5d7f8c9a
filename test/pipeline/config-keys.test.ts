// config.yaml shows every default: the keys issue 13 added (clean, history, drift, generate) say in the file
// what the schema does without it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('config.yaml', () => {
  it('states the defaults of clean, history, drift and generate', () => {
    const file = loadConfig(path.join(REPO, 'config.yaml'), {});
    const none = parseConfig({}, REPO, null, {});
    for (const k of ['clean', 'history', 'drift', 'generate', 'outliers', 'rules'] as const) expect(file[k], k).toEqual(none[k]);
  });

  it('rejects wrong values of the new keys with their path', () => {
    expect(() => parseConfig({ clean: { out_of_range: 'cap' } }, REPO, null, {})).toThrow(/clean\.out_of_range must be "null" or "clip", got "cap"/);
    expect(() => parseConfig({ clean: { future_tolerance: 'soon' } }, REPO, null, {})).toThrow(/clean\.future_tolerance: must be a duration/);
    expect(() => parseConfig({ drift: { warn_z: 8, alert_z: 5 } }, REPO, null, {})).toThrow(/drift\.alert_z/);
    expect(() => parseConfig({ history: { readings: 1 } }, REPO, null, {})).toThrow(/history\.readings/);
    expect(parseConfig({ clean: { future_tolerance: '15m' } }, REPO, null, {}).clean.future_tolerance).toBe(900_000);
  });
});
