// The report's five pages as data: each visual, where it sits on a 1280 x 720 page, and the model fields it binds.
// Every field named here must exist in the model (model.ts); the tests check it against the generated TMDL.
import { column as c, measure as m, type VisualSpec } from './visuals.js';

export interface PageSpec {
  /** Unique in the report; also the page's folder name. */
  name: string;
  displayName: string;
  visuals: VisualSpec[];
}

export const PAGE_WIDTH = 1280;
export const PAGE_HEIGHT = 720;

const at = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });
const YEAR = c('dim_year', 'event_year');

const card = (name: string, title: string, field: ReturnType<typeof m>, x: number): VisualSpec => ({
  name,
  type: 'card',
  title,
  position: at(x, 20, 295, 140),
  roles: { Values: [field] },
});

export const PAGES: PageSpec[] = [
  {
    name: 'overview',
    displayName: 'Overview',
    visuals: [
      card('overview_patients', 'Patients', m('cleaned_events', 'Patients'), 20),
      card('overview_readings', 'Readings', m('cleaned_events', 'Readings'), 335),
      card('overview_hypertension', 'Hypertension prevalence (adults, stage 1+)', m('kpi_bp_by_year', 'Hypertension prevalence'), 650),
      card('overview_tachycardia', 'Tachycardia share of heart-rate readings', m('kpi_heart_rate_by_age_band', 'Tachycardia share'), 965),
      {
        name: 'overview_readings_by_year',
        type: 'clusteredColumnChart',
        title: 'Readings by year',
        position: at(20, 180, 610, 520),
        roles: { Category: [YEAR], Y: [m('cleaned_events', 'Readings')] },
        sort: { field: YEAR, direction: 'Ascending' },
      },
      {
        name: 'overview_hypertension_by_year',
        type: 'lineChart',
        title: 'Hypertension prevalence by year',
        position: at(650, 180, 610, 520),
        roles: { Category: [YEAR], Y: [m('kpi_bp_by_year', 'Hypertension prevalence')] },
        sort: { field: YEAR, direction: 'Ascending' },
      },
    ],
  },
  {
    name: 'vitals',
    displayName: 'Vitals by year',
    visuals: [
      {
        name: 'vitals_median_by_year',
        type: 'lineChart',
        title: 'Median by year and vital',
        position: at(20, 20, 1240, 330),
        roles: { Category: [YEAR], Series: [c('kpi_vitals_by_year', 'vital')], Y: [m('kpi_vitals_by_year', 'Median value')] },
        sort: { field: YEAR, direction: 'Ascending' },
      },
      {
        name: 'vitals_table',
        type: 'tableEx',
        title: 'Distribution per year and vital (blank: fewer than 11 patients)',
        position: at(20, 370, 1240, 330),
        roles: {
          Values: [
            YEAR,
            ...['vital', 'patients', 'n', 'mean', 'p10', 'median', 'p90'].map((n) => c('kpi_vitals_by_year', n)),
          ],
        },
      },
    ],
  },
  {
    name: 'blood_pressure',
    displayName: 'Blood pressure',
    visuals: [
      { name: 'bp_year_slicer', type: 'slicer', title: 'Year', position: at(20, 20, 220, 330), roles: { Values: [YEAR] } },
      {
        name: 'bp_prevalence',
        type: 'card',
        title: 'Hypertension prevalence',
        position: at(20, 370, 220, 140),
        roles: { Values: [m('kpi_bp_by_year', 'Hypertension prevalence')] },
      },
      {
        name: 'bp_by_year',
        type: 'columnChart',
        title: 'Adults by highest blood-pressure category, per year',
        position: at(260, 20, 1000, 330),
        roles: { Category: [YEAR], Series: [c('kpi_bp_by_year', 'bp_category')], Y: [m('kpi_bp_by_year', 'BP patients')] },
        sort: { field: YEAR, direction: 'Ascending' },
      },
      {
        name: 'bp_by_age_band',
        type: 'columnChart',
        title: 'Adults by highest blood-pressure category, per age band',
        position: at(260, 370, 1000, 330),
        roles: {
          Category: [c('dim_age_band', 'age_band')],
          Series: [c('kpi_bp_by_year_age_band', 'bp_category')],
          Y: [m('kpi_bp_by_year_age_band', 'BP patients by age band')],
        },
      },
    ],
  },
  {
    name: 'geography',
    displayName: 'ZIP3 and state',
    visuals: [
      {
        name: 'geo_patients_by_state',
        type: 'clusteredBarChart',
        title: 'Patients by state (blank: fewer than 11)',
        position: at(20, 20, 620, 680),
        roles: { Category: [c('dim_zip3', 'state')], Y: [m('cleaned_events', 'Patients')] },
      },
      {
        name: 'geo_zip3_table',
        type: 'tableEx',
        title: 'Patients and readings by ZIP3 (000: restricted prefixes)',
        position: at(660, 20, 600, 680),
        roles: { Values: [c('dim_zip3', 'zip3'), c('dim_zip3', 'state'), m('cleaned_events', 'Patients'), m('cleaned_events', 'Readings')] },
      },
    ],
  },
  {
    name: 'qc',
    displayName: 'QC monitoring',
    visuals: [
      {
        name: 'qc_reject_rate',
        type: 'lineChart',
        title: 'Reject rate per batch',
        position: at(20, 20, 1240, 220),
        roles: { Category: [c('kpi_qc_by_batch', 'seq')], Y: [m('kpi_qc_by_batch', 'Reject rate')] },
        sort: { field: c('kpi_qc_by_batch', 'seq'), direction: 'Ascending' },
      },
      {
        name: 'qc_flagged_share',
        type: 'lineChart',
        title: 'Flagged share per batch and vital',
        position: at(20, 250, 615, 220),
        roles: { Category: [c('kpi_qc_by_batch', 'seq')], Series: [c('kpi_qc_by_batch', 'vital')], Y: [m('kpi_qc_by_batch', 'Flagged share')] },
        sort: { field: c('kpi_qc_by_batch', 'seq'), direction: 'Ascending' },
      },
      {
        name: 'qc_clipped_share',
        type: 'lineChart',
        title: 'Clipped share per batch and vital',
        position: at(645, 250, 615, 220),
        roles: { Category: [c('kpi_qc_by_batch', 'seq')], Series: [c('kpi_qc_by_batch', 'vital')], Y: [m('kpi_qc_by_batch', 'Clipped share')] },
        sort: { field: c('kpi_qc_by_batch', 'seq'), direction: 'Ascending' },
      },
      {
        name: 'qc_batches',
        type: 'tableEx',
        title: 'Batches',
        position: at(20, 480, 1240, 220),
        roles: {
          Values: ['seq', 'batch_id', 'vital', 'rows_in', 'loaded', 'rejected', 'duplicates', 'flagged_share', 'clipped_share', 'null_share'].map((n) =>
            c('kpi_qc_by_batch', n),
          ),
        },
        sort: { field: c('kpi_qc_by_batch', 'seq'), direction: 'Descending' },
      },
    ],
  },
];
