// The small-cell rule for the published KPI tables (the CMS cell-size suppression policy: no cell that describes
// fewer than 11 people is shown). A KPI row is one cell; its `patients` value is the number of distinct patients the
// row describes. When that number is below SMALL_CELL_MIN_PATIENTS, every count and statistic of the row is NULL
// (the row itself stays, so the cell is visibly "suppressed", not "absent"). The exact numbers stay in the helper
// tables (bi_*), which are never shown in the Power BI model.
//
// What the rule does not do: complementary suppression. A suppressed cell can sometimes be worked out from a
// published total minus its published siblings (kpi_bp_by_year minus the other age bands of
// kpi_bp_by_year_age_band). docs/bi.md says so.

/** The CMS minimum cell size. */
export const SMALL_CELL_MIN_PATIENTS = 11;

/** `expr` when the cell's patient count reaches the minimum, else NULL (SQL both dialects share). */
export function published(expr: string, patients: string): string {
  return `CASE WHEN ${patients} >= ${SMALL_CELL_MIN_PATIENTS} THEN ${expr} END`;
}
