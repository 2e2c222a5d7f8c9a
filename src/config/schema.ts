// The shape of config.yaml. Every object is strict: an unknown key is an error, never ignored.
// config.yaml documents each key line by line; keep the two in step.
import { z } from 'zod';

const fraction = z.number().min(0).max(1);
const range = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => lo < hi, { message: 'must be [low, high] with low < high' });

export const pathsSchema = z
  .object({
    incoming: z.string().default('incoming'),
    quarantine: z.string().default('quarantine'),
    masked_out: z.string().default('masked_out'),
    logs: z.string().default('logs'),
    synthea_stream: z.string().default('synthea_stream'),
    /** Where loaded raw files go (they hold PHI: never under masked_out). */
    archive: z.string().default('incoming/processed'),
    /** Private state: which file made which batch and when (never under masked_out). */
    state: z.string().default('.medetl'),
  })
  .strict();

export const inputSchema = z
  .object({
    /** IANA zone for timestamps written without an offset. */
    timezone: z.string().default('UTC'),
  })
  .strict();

/** "90s", "15m", "1h", "2d", or a number of seconds -> milliseconds (>= 0). */
const duration = z.union([z.number().min(0), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(v);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration such as 90s, 15m, 1h or 2d' });
    return z.NEVER;
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
});

export const cleanSchema = z
  .object({
    ranges: z
      .object({
        systolic_bp: range.default([50, 260]),
        diastolic_bp: range.default([25, 160]),
        heart_rate: range.default([20, 250]),
      })
      .strict()
      .default({ systolic_bp: [50, 260], diastolic_bp: [25, 160], heart_rate: [20, 250] }),
    /** A value outside its range: null (flag implausible_<column>) or clip (to the limit, flag clip_<column>). YAML null means null. */
    out_of_range: z.preprocess((v) => (v === null ? 'null' : v), z.enum(['null', 'clip'])).default('null'),
    /** Blood pressure in kPa and heart rate in Hz converted when only the converted value is plausible. */
    unit_repair: z.boolean().default(true),
    /** Systolic/diastolic exchanged: swap back when unambiguous (else flag_bp_order). */
    swap_repair: z.boolean().default(true),
    /** An event later than the processing instant by more than this is future_ts. */
    future_tolerance: duration.default(3_600_000),
    future_ts: z.enum(['flag', 'reject']).default('flag'),
    dob_after_event: z.enum(['flag', 'reject']).default('flag'),
  })
  .strict();

export const outliersSchema = z
  .object({
    method: z.enum(['iqr', 'mad']).default('iqr'),
    iqr_k: z.number().positive().default(3),
    mad_threshold: z.number().positive().default(3.5),
    /** Below this many non-null values in a column, no outlier is flagged in it. */
    min_n: z.number().int().min(3).default(20),
    /** Age boundaries in years: outlier fences are computed per band ([] = one band for everyone). */
    age_bands: z
      .array(z.number().int().min(1).max(120))
      .refine((a) => a.every((x, i) => i === 0 || x > a[i - 1]), { message: 'must be increasing' })
      .default([2, 13]),
  })
  .strict();

export const rulesSchema = z
  .object({
    min_pulse_pressure: z.number().default(10),
    max_pulse_pressure: z.number().default(120),
  })
  .strict();

const perVital = (sys: number, dia: number, hr: number) =>
  z
    .object({ systolic_bp: z.number().positive().default(sys), diastolic_bp: z.number().positive().default(dia), heart_rate: z.number().positive().default(hr) })
    .strict()
    .default({ systolic_bp: sys, diastolic_bp: dia, heart_rate: hr });

export const historySchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Readings per patient and vital the store keeps (and hands back), newest last. */
    readings: z.number().int().min(3).max(100).default(10),
    /** Event instants per patient the store keeps, for the time-of-day rhythm. */
    instants: z.number().int().min(3).max(200).default(30),
    /** Fewer other readings than this (within window_days): the value is not judged. */
    min_readings: z.number().int().min(2).default(2),
    /** Only readings this recent count towards a patient's baseline. */
    window_days: z.number().positive().default(1095),
    /** |x - median| / scale above this: flag_<column>_history. scale = max(1.4826 * MAD, mad_floor). */
    z: z.number().positive().default(5),
    /** A lower bar for a value that one transposition of two adjacent digits brings back to the baseline (within half a scale). */
    z_transposed: z.number().positive().default(3),
    /** Smallest scale (same unit as the vital): a patient with very steady readings is not flagged for ordinary noise. */
    mad_floor: perVital(6, 4.5, 6),
    /** Time-of-day rhythm check of the event instant (flag_event_ts_history). */
    rhythm: z.boolean().default(true),
    /** Earlier visits (episodes) at the patient's usual time of day needed before the rhythm is judged. */
    rhythm_min_visits: z.number().int().min(2).default(3),
    /** Share of the patient's other episodes that must sit at one time of day. */
    rhythm_share: fraction.default(0.6),
    /** Two instants closer than this in time of day are at "the same time of day". */
    rhythm_tolerance_s: z.number().int().min(0).default(60),
    /** Readings at the same time of day within this many days form one episode (a hospital stay). */
    episode_days: z.number().positive().default(3),
  })
  .strict();

export const driftSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** The rolling baseline: this many earlier batches (the store hands back the last ones). */
    window: z.number().int().min(2).default(20),
    /** No judgement before this many earlier batches. */
    min_batches: z.number().int().min(2).default(5),
    /** |observed - baseline| / scale above this: a drift row with severity warn. */
    warn_z: z.number().positive().default(4.5),
    /** ... above this: severity alert. */
    alert_z: z.number().positive().default(7),
    /** Smallest departure worth a row, per statistic (same units as the statistic). */
    min_change: z
      .object({
        median: z.number().min(0).default(3),
        iqr: z.number().min(0).default(4),
        null_rate: fraction.default(0.02),
        flag_rate: fraction.default(0.02),
        /** A share of the baseline row count. */
        row_count: fraction.default(0.25),
      })
      .strict()
      .default({ median: 3, iqr: 4, null_rate: 0.02, flag_rate: 0.02, row_count: 0.25 }),
  })
  .strict()
  .refine((d) => d.alert_z >= d.warn_z, { message: 'alert_z must not be below warn_z', path: ['alert_z'] });

export const thresholdsSchema = z
  .object({
    max_reject_rate: fraction.default(0.2),
    max_flagged_rate: fraction.default(0.3),
    action: z.enum(['flag', 'quarantine']).default('quarantine'),
  })
  .strict();

/** The default for deid.safe_file_names: names made by `generate` and `map` (events_<stamp>_<seq>.csv). */
export const SAFE_FILE_NAMES_DEFAULT = '^events_[0-9_-]+\\.csv$';

export const deidSchema = z
  .object({
    profile: z.enum(['safe_harbor', 'limited_data_set']).default('safe_harbor'),
    /** hmac: patient_key = HMAC(key, patient_id); surrogate: a random token from the vault in paths.state. */
    key_mode: z.enum(['hmac', 'surrogate']).default('hmac'),
    /** Which population table decides the ZIP3s published as 000 (config/zip3.ts). */
    zip3_table: z.enum(['census2020', 'census2010', 'hhs2000']).default('census2020'),
    /** File names matching this pattern may appear in logs, alerts and on the console; others as a keyed id. */
    safe_file_names: z
      .string()
      .min(1)
      .refine(
        (p) => {
          try {
            new RegExp(p, 'u');
            return true;
          } catch {
            return false;
          }
        },
        { message: 'must be a valid regular expression' },
      )
      .default(SAFE_FILE_NAMES_DEFAULT),
  })
  .strict();

export const sinksSchema = z
  .object({
    sqlite_file: z.string().default('cleaned.sqlite'),
    parquet: z
      .object({
        compression: z.enum(['snappy', 'zstd', 'gzip', 'uncompressed']).default('snappy'),
        compact_file: z.string().default('cleaned.parquet'),
        /** watch rewrites compact_file and bi/*.parquet after batches, at most once per this many ms (0: off). */
        auto_compact_ms: z.number().int().min(0).default(30_000),
      })
      .strict()
      .default({ compression: 'snappy', compact_file: 'cleaned.parquet', auto_compact_ms: 30_000 }),
    powerbi: z
      .object({
        enabled: z.boolean().default(false),
        rows_per_post: z.number().int().min(1).max(10000).default(10000),
        posts_per_minute: z.number().int().min(1).max(120).default(120),
      })
      .strict()
      .default({ enabled: false, rows_per_post: 10000, posts_per_minute: 120 }),
  })
  .strict();

/** How a file becomes batches. */
export const batchSchema = z
  .object({
    /**
     * A batch holds at most this many records: a larger file loads as consecutive batches (segments cut at record
     * boundaries), each exactly once, so memory is bounded by this and not by the file. QC fences are per batch.
     */
    max_rows: z.number().int().min(1).max(4_000_000).default(250_000),
  })
  .strict();

export const watchSchema = z
  .object({
    /** A file name pattern: `*` and `?` only, no folder part (incoming/ is watched without its subfolders). */
    glob: z
      .string()
      .min(1)
      .regex(/^[^/\\]+$/, 'must be a file name pattern (* and ?), without a folder')
      .default('events_*.csv'),
    /** After a loaded file: move it to paths.archive, or delete it. */
    on_success: z.enum(['archive', 'delete']).default('archive'),
    /** A file must keep the same size and mtime this long before it is read. */
    stable_ms: z.number().int().min(0).default(500),
    /**
     * A loaded file stays in incoming/ until it has been idle this long, then it is archived (or deleted); if it grows
     * meanwhile, the appended lines load as a new batch. 0: settle at once. `--drain` settles at once.
     */
    archive_after_ms: z.number().int().min(0).default(30_000),
    rescan_ms: z.number().int().min(100).default(5000),
    queue_limit: z.number().int().min(1).default(1000),
    /** On stop (Ctrl+C, SIGTERM), the batch in flight may finish within this time; after it, it is rolled back. */
    stop_grace_ms: z.number().int().min(0).default(8000),
    /** A file the machine keeps failing on (full disk, read-only output, lost connection) is tried again after this. */
    retry_park_ms: z.number().int().min(0).default(60_000),
  })
  .strict();

/** Per-kind noise rates: fraction of events (patients for dob_format/zip_leading_zero, header columns for header_format). Keep in step with NOISE_KINDS in src/feed/noise.ts. */
export const noiseRatesSchema = z
  .object({
    missing_value: fraction.optional(),
    digit_typo: fraction.optional(),
    swapped_digits: fraction.optional(),
    unit_slip: fraction.optional(),
    bp_swap: fraction.optional(),
    spike: fraction.optional(),
    skewed_ts: fraction.optional(),
    late_ts: fraction.optional(),
    ts_format: fraction.optional(),
    dob_format: fraction.optional(),
    zip_leading_zero: fraction.optional(),
    duplicate_row: fraction.optional(),
    header_format: fraction.optional(),
  })
  .strict();

export const generateSchema = z
  .object({
    patients: z.number().int().min(1).default(50),
    seed: z.number().int().default(42),
    state: z.string().default('Massachusetts'),
    city: z.string().nullable().default(null),
    min_age: z.number().int().min(0).default(0),
    max_age: z.number().int().min(1).default(100),
    years_of_history: z.number().int().min(1).default(5),
    noise: z.enum(['default', 'heavy', 'off']).default('default'),
    /** Overrides of the profile's per-kind rates, e.g. { spike: 0.05 }. Ignored when noise is off. */
    noise_rates: noiseRatesSchema.default({}),
    /** Path to a Synthea jar; SYNTHEA_JAR in .env overrides it. null = built-in generator. */
    synthea_jar: z.string().nullable().default(null),
    /** Real Synthea: follow one population over time (save it once, reload it with the clock moved forward). The built-in generator always follows. */
    follow: z.boolean().default(false),
    /** Built-in generator: simulated days each later batch covers (the first carries years_of_history). */
    days_per_batch: z.number().positive().default(30),
    /** Built-in generator: a new stream's first batch ends this many days before the clock, so later batches fill the gap. */
    start_days_ago: z.number().min(0).default(365),
  })
  .strict()
  .refine((g) => g.min_age <= g.max_age, { message: 'min_age must not be above max_age', path: ['min_age'] });

export const alertsSchema = z
  .object({
    enabled: z.boolean().default(true),
    min_interval_ms: z.number().int().min(0).default(60_000),
    retries: z.number().int().min(0).default(5),
  })
  .strict();

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

/** A NATS name (stream, consumer): letters, digits, `_` and `-` (no dots, spaces or wildcards). */
const natsName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be letters, digits, _ or - (at most 64)');

/** `medetl watch --publish` and `medetl worker`: the JetStream work queue of file references. URL and credentials: .env. */
export const natsSchema = z
  .object({
    stream: natsName.default('MEDETL_BATCHES'),
    /** One literal subject (no wildcards): the publisher sends every work item on it. */
    subject: z
      .string()
      .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'must be a literal subject such as medetl.batches (no wildcards or spaces)')
      .default('medetl.batches'),
    /** The durable pull consumer every worker shares. */
    consumer: natsName.default('medetl-workers'),
    /** Without an ack or a "still working" within this time, JetStream hands the file to another worker. */
    ack_wait_ms: z.number().int().min(1000).max(3_600_000).default(30_000),
    /** Attempts a file gets (failures the machine caused, crashed workers) before it is quarantined. */
    max_deliveries: z.number().int().min(1).max(1000).default(10),
    /** A file published again within this time is dropped by JetStream (Nats-Msg-Id = keyed content hash). */
    duplicate_window_ms: z.number().int().min(1000).max(86_400_000).default(120_000),
    /** Unacknowledged files across all workers at once (>= the number of workers). */
    max_ack_pending: z.number().int().min(1).max(100_000).default(64),
    /** Copies of the stream on a cluster (3 on a 3-node cluster). */
    replicas: z.number().int().min(1).max(5).default(1),
    /** The raw-file folder every worker can read (raw PHI: never under masked_out). Relative to this config's folder. */
    shared_dir: z.string().min(1).default('incoming/published'),
    /** How often each worker records that it is alive. */
    heartbeat_ms: z.number().int().min(200).max(600_000).default(5000),
    /** `status` lists the workers heard from within this time. */
    worker_seen_ms: z.number().int().min(1000).max(86_400_000).default(30_000),
  })
  .strict()
  .refine((n) => n.worker_seen_ms > n.heartbeat_ms, { message: 'worker_seen_ms must be above heartbeat_ms', path: ['worker_seen_ms'] });

/** A PostgreSQL schema name that needs no quoting: lower case, digits and `_`. */
const pgSchemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain PostgreSQL name: lower case letters, digits and _');

/** The PostgreSQL store (store: postgres). The connection URL is a secret: MEDETL_PG_URL in .env. */
export const postgresSchema = z
  .object({
    /** The release: what analysts read (events, the cleaned_events view, the ledger's counts, QC). */
    schema: pgSchemaName.default('medetl'),
    /** Private bookkeeping (file names, times): never granted to analysts. */
    private_schema: pgSchemaName.default('medetl_private'),
  })
  .strict()
  .refine((p) => p.schema !== p.private_schema, { message: 'schema and private_schema must differ', path: ['private_schema'] });

export const configSchema = z
  .object({
    /** Where batches are committed: sqlite (embedded, masked_out/cleaned.sqlite) or postgres (MEDETL_PG_URL). */
    store: z.enum(['sqlite', 'postgres']).default('sqlite'),
    postgres: postgresSchema.default(postgresSchema.parse({})),
    paths: pathsSchema.default(pathsSchema.parse({})),
    input: inputSchema.default(inputSchema.parse({})),
    clean: cleanSchema.default(cleanSchema.parse({})),
    outliers: outliersSchema.default(outliersSchema.parse({})),
    rules: rulesSchema.default(rulesSchema.parse({})),
    history: historySchema.default(historySchema.parse({})),
    drift: driftSchema.default(driftSchema.parse({})),
    thresholds: thresholdsSchema.default(thresholdsSchema.parse({})),
    deid: deidSchema.default(deidSchema.parse({})),
    /** Replaced by deid.zip3_table; read only to say so (config/load.ts). */
    zip3_restricted: z.unknown().optional(),
    sinks: sinksSchema.default(sinksSchema.parse({})),
    batch: batchSchema.default(batchSchema.parse({})),
    watch: watchSchema.default(watchSchema.parse({})),
    generate: generateSchema.default(generateSchema.parse({})),
    alerts: alertsSchema.default(alertsSchema.parse({})),
    log: logSchema.default(logSchema.parse({})),
    nats: natsSchema.default(natsSchema.parse({})),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
