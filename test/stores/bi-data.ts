// Events CSVs for the BI tests: enough patients that many KPI cells reach 11 patients and some do not, every age
// band (infants to 90+, some without a date of birth), restricted and ordinary ZIP prefixes, readings in every BP
// category, and noise the pipeline flags or clips (spikes, swapped BP, unreadable values, missing values). The same
// patient ids recur across batches, so a later batch moves patients between categories.
import { EVENTS_HEADER } from '../helpers/project.js';

export interface BatchPlan {
  /** Patients [from, to) take part. */
  from: number;
  to: number;
  /** Readings per patient. */
  readings: number;
  seed: number;
  /** Added to every systolic and diastolic value of these patients (moves them up a category). */
  raise?: { every: number; by: number };
}

const ZIPS = ['02139', '10001', '03601', '60614', '94110', '00501', '73301', '88510', '99501', '05501', '33101', '20001'];

/** A deterministic PRNG (the same mixer scripts/bench/make-events.mjs uses). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 4294967296;
}

/** Birth date of patient p: ages at the events from 0 to 90+; every 37th has none, every 53rd an unreadable one. */
function dobOf(p: number): string {
  if (p % 37 === 5) return '';
  if (p % 53 === 7) return 'not-a-date';
  const kind = p % 10;
  // A few teenagers only (every 97th patient): their cells stay under 11 patients.
  const year = p % 97 === 3 ? 2006 : kind === 0 ? 2019 + (p % 4) : kind === 1 ? 2012 + (p % 5) : kind === 2 ? 1925 + (p % 6) : 1935 + ((p * 7) % 65);
  return `${year}-${String(1 + (p % 12)).padStart(2, '0')}-${String(1 + (p % 27)).padStart(2, '0')}`;
}

export function eventsFor(plan: BatchPlan): string {
  const rnd = prng(plan.seed);
  const lines = [EVENTS_HEADER];
  for (let p = plan.from; p < plan.to; p++) {
    const kind = p % 10;
    // Blood pressure level of this patient: spread over the categories.
    const level = (p * 13) % 7;
    for (let k = 0; k < plan.readings; k++) {
      const year = 2019 + ((p + k) % 5);
      const day = 1 + Math.floor(rnd() * 360);
      const ts = new Date(Date.UTC(year, 0, 1) + day * 86_400_000 + Math.floor(rnd() * 86_400) * 1000).toISOString().replace('.000', '');
      // Values on a 0.5 grid: ties make the quantiles interpolate between equal and unequal neighbours.
      let sys = Math.round((100 + level * 12 + rnd() * 20) * 2) / 2;
      let dia = Math.round((62 + level * 7 + rnd() * 12) * 2) / 2;
      if (plan.raise && p % plan.raise.every === 0) {
        sys += plan.raise.by;
        dia += plan.raise.by / 2;
      }
      const hr = Math.round((kind === 0 ? 110 + rnd() * 70 : kind === 1 ? 80 + rnd() * 60 : 58 + rnd() * 55) * 2) / 2;
      let s: string = sys.toFixed(1);
      let d: string = dia.toFixed(1);
      let h: string = hr.toFixed(1);
      const noise = rnd();
      if (noise < 0.01) s = String(sys + 300); // spike: clipped to the range
      else if (noise < 0.02) [s, d] = [d, s]; // swapped: flag_bp_order
      else if (noise < 0.03) h = '7O'; // unreadable: invalid_heart_rate
      else if (noise < 0.05) d = ''; // missing
      else if (noise < 0.055) h = '400'; // spike
      lines.push([`pt-${p}`, `Given${p}`, `Family${p}`, dobOf(p), ZIPS[p % ZIPS.length], ts, s, d, h].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}
