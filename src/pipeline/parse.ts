// Hand-written parsers for the hot path (zod per row measured ~385k rows/s; these run at millions/s).
// They return NaN for anything they do not accept: never a guess, never a silent 0.

const DAY_MS = 86_400_000;

function digits(s: string, from: number, count: number): number {
  let v = 0;
  for (let i = from; i < from + count; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

function validDate(y: number, m: number, d: number): boolean {
  return y >= 1800 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/** Offset (ms) of an IANA zone at a UTC instant; cached per zone and hour. */
const offsetCache = new Map<string, number>();
const formatters = new Map<string, Intl.DateTimeFormat>();
export function zoneOffsetMs(zone: string, utcMs: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  const hourKey = `${zone}|${Math.floor(utcMs / 3_600_000)}`;
  const hit = offsetCache.get(hourKey);
  if (hit !== undefined) return hit;
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(utcMs))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const off = asUtc - Math.floor(utcMs / 1000) * 1000;
  if (offsetCache.size > 100_000) offsetCache.clear();
  offsetCache.set(hourKey, off);
  return off;
}

/** Throws RangeError for an unknown zone name; used when the config is loaded. */
export function assertZone(zone: string): void {
  new Intl.DateTimeFormat('en-US', { timeZone: zone });
}

function localToUtc(localMs: number, zone: string): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return localMs;
  // Two passes settle DST edges to the offset valid at the resulting instant.
  let utc = localMs - zoneOffsetMs(zone, localMs);
  utc = localMs - zoneOffsetMs(zone, utc);
  return utc;
}

/** An event time as parsed: the instant, and the calendar day the event happened on where it happened. */
export interface EventTime {
  /** ms since epoch (UTC). */
  ms: number;
  /** The event's local calendar day, days since 1970-01-01 (see eventCalendarDay). */
  day: number;
}

/**
 * THE rule for an event's calendar day (event_year, event_date, ages at the event, QC age bands): the date as it is
 * written in the timestamp. A timestamp with an offset (or Z) is dated at that offset, one without is read in
 * `input.timezone`; in both cases the local date is the one written, so the day never shifts to UTC's:
 * `2024-12-31T23:30:00-05:00` happened on 2024-12-31 (it is 2025-01-01 04:30 UTC). Every timestamp parser (this one,
 * a byte-level one) dates events with this function.
 */
export function eventCalendarDay(year: number, month: number, day: number): number {
  return daysFromCivil(year, month, day);
}

/**
 * Timestamps: ISO 8601 with or without time, `T` or space, optional seconds and fraction,
 * `Z` or an offset (`+02:00`, `+0200`, `+02`); `YYYY-MM-DD`; `MM/DD/YYYY` with optional time.
 * A time without a zone is read in `zone`. Returns ms since epoch (UTC) or NaN.
 */
export function parseTimestamp(raw: string, zone: string): number {
  return parseEventTime(raw, zone, scratch) ? scratch.ms : NaN;
}
const scratch: EventTime = { ms: 0, day: 0 };

/**
 * parseTimestamp that also reports the event's local calendar day (eventCalendarDay) into `out`. Returns false (and
 * leaves `out` alone) for anything it does not accept.
 */
export function parseEventTime(raw: string, zone: string, out: EventTime): boolean {
  const s = raw.length > 0 && (raw.charCodeAt(0) === 32 || raw.charCodeAt(raw.length - 1) === 32) ? raw.trim() : raw;
  let y: number, mo: number, d: number, i: number;
  if (s.length >= 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) {
    y = digits(s, 0, 4); mo = digits(s, 5, 2); d = digits(s, 8, 2); i = 10;
  } else if (s.length >= 10 && s.charCodeAt(2) === 47 && s.charCodeAt(5) === 47) {
    mo = digits(s, 0, 2); d = digits(s, 3, 2); y = digits(s, 6, 4); i = 10;
  } else {
    return false;
  }
  if (!validDate(y, mo, d)) return false;
  let h = 0, mi = 0, sec = 0, ms = 0;
  if (i < s.length && (s[i] === 'T' || s[i] === ' ')) {
    h = digits(s, i + 1, 2);
    if (s.charCodeAt(i + 3) !== 58) return false;
    mi = digits(s, i + 4, 2);
    i += 6;
    if (s.charCodeAt(i) === 58) {
      sec = digits(s, i + 1, 2);
      i += 3;
      if (s[i] === '.' || s[i] === ',') {
        let j = i + 1;
        let frac = 0, scale = 1;
        while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) {
          if (scale < 1000) { frac = frac * 10 + (s.charCodeAt(j) - 48); scale *= 10; }
          j++;
        }
        if (j === i + 1) return false;
        ms = Math.round((frac * 1000) / scale);
        i = j;
      }
    }
    if (!(h <= 23 && mi <= 59 && sec <= 59)) return false;
  }
  const local = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  let utc: number;
  if (i === s.length) utc = localToUtc(local, zone);
  else {
    const c = s[i];
    if (c === 'Z' || c === 'z') {
      if (i + 1 !== s.length) return false;
      utc = local;
    } else if (c === '+' || c === '-') {
      const rest = s.slice(i + 1);
      let oh: number, om = 0;
      if (/^\d{2}$/.test(rest)) oh = Number(rest);
      else if (/^\d{2}:\d{2}$/.test(rest)) { oh = Number(rest.slice(0, 2)); om = Number(rest.slice(3)); }
      else if (/^\d{4}$/.test(rest)) { oh = Number(rest.slice(0, 2)); om = Number(rest.slice(2)); }
      else return false;
      if (oh > 14 || om > 59) return false;
      utc = local - (oh * 60 + om) * 60_000 * (c === '+' ? 1 : -1);
    } else return false;
  }
  if (Number.isNaN(utc)) return false;
  out.ms = utc;
  out.day = eventCalendarDay(y, mo, d);
  return true;
}

/** A calendar date (birth dates): the date as written, no zone shift. Days since 1970-01-01 or NaN. */
export function parseDateDays(raw: string): number {
  const s = raw.length === 10 ? raw : raw.trim();
  let y: number, mo: number, d: number;
  if (s.length >= 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) {
    y = digits(s, 0, 4); mo = digits(s, 5, 2); d = digits(s, 8, 2);
  } else if (s.length >= 10 && s.charCodeAt(2) === 47 && s.charCodeAt(5) === 47) {
    mo = digits(s, 0, 2); d = digits(s, 3, 2); y = digits(s, 6, 4);
  } else {
    return NaN;
  }
  if (!validDate(y, mo, d)) return NaN;
  if (s.length === 10) return daysFromCivil(y, mo, d);
  // A trailing time (some exports write birth dates as timestamps) is accepted and ignored.
  if (s.length > 10 && !/^[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/.test(s.slice(10))) return NaN;
  return daysFromCivil(y, mo, d);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; no Date objects). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The inverse: [year, month, day] of a day number. */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

/**
 * A plain decimal: optional sign, digits, optional fraction. Empty -> null (a missing value).
 * Anything else (`12O`, `1,20`, `N/A`, `1e3`, `0x10`) -> NaN (a typo: the caller flags it).
 */
export function parseDecimal(raw: string): number | null {
  let s = raw;
  if (s.length === 0) return null;
  if (s.charCodeAt(0) === 32 || s.charCodeAt(s.length - 1) === 32) {
    s = s.trim();
    if (s.length === 0) return null;
  }
  let i = 0;
  const c0 = s.charCodeAt(0);
  if (c0 === 43 || c0 === 45) i = 1;
  let intDigits = 0, fracDigits = 0, dot = false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (dot) fracDigits++;
      else intDigits++;
    } else if (c === 46 && !dot) dot = true;
    else return NaN;
  }
  if (intDigits === 0 && fracDigits === 0) return NaN;
  return Number(s);
}

export const DAY = DAY_MS;

/** A day number as YYYY-MM-DD. */
export function isoDate(days: number): string {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}
