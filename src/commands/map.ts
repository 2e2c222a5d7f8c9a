// medetl map SYNTHEA_CSV_DIR: turn a Synthea CSV folder into one events file in incoming/ (no noise).
import path from 'node:path';
import type { Command } from 'commander';
import { mapToIncoming } from '../feed/batch.js';
import { action, configFrom, withConfigOption } from './common.js';

export { mapSynthea, mapVitals, readSynthea, EVENTS_HEADER } from '../feed/mapper.js';
export { mapToIncoming } from '../feed/batch.js';

function rel(p: string): string {
  return path.relative(process.cwd(), p) || p;
}

export function registerMap(program: Command): void {
  withConfigOption(
    program
      .command('map')
      .summary('map a Synthea CSV folder to one events file in incoming/')
      .argument('<synthea_csv_dir>', 'folder holding Synthea CSV output (patients.csv, observations.csv)')
      .option('--out <dir>', 'folder for the events file (default: paths.incoming)')
      .description(
        'map Synthea CSVs to one events file (one row per patient and observation time with blood pressure and/or heart rate), ' +
          'written as a .tmp and renamed into incoming/',
      ),
  ).action(
    action(async (dir: string, opts: { config?: string; out?: string }) => {
      const config = configFrom(opts);
      const r = await mapToIncoming(config, dir, { out: opts.out });
      const s = r.stats;
      process.stdout.write(
        `wrote ${rel(r.eventsFile)}: ${r.rows} rows from ${s.patients} patients ` +
          `(${s.vitalObservations} vital observations of ${s.observationRows}; ` +
          `${s.unknownPatientRows} of unknown patients skipped; ${s.nonNumericValues} non-numeric and ${s.emptyValues} empty values passed through)\n`,
      );
    }),
  );
}
