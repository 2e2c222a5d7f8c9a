// The state of a 3-digit ZIP prefix, for dim_zip3. Source: the US Postal Service's allocation of 3-digit ZIP prefixes
// to states (USPS Publication 65, "National Five-Digit ZIP Code and Post Office Directory", and the USPS 3-digit ZIP
// Code prefix matrix, list L002), as commonly tabulated (e.g. Wikipedia, "List of ZIP Code prefixes"). A prefix is
// assigned to the state its block of prefixes belongs to; prefixes outside every block (000-004, and a few unused
// ones between states) have no state. Military prefixes carry the USPS codes AA, AE and AP; 969 is Guam (it also
// serves the Northern Mariana Islands, Palau and the Marshall Islands). `000`, the prefix Safe Harbor substitutes for
// restricted ones, has no state. The test checks that every prefix in the Census 2020 ZCTA populations
// (../shared/data/zip3-population) has a state.
export const ZIP3_STATE_SOURCE = 'USPS 3-digit ZIP prefix allocation by state (Publication 65; prefix matrix L002)';

/** [first prefix, last prefix, state], inclusive, ascending. */
const RANGES: readonly (readonly [number, number, string])[] = [
  [5, 5, 'NY'], [6, 7, 'PR'], [8, 8, 'VI'], [9, 9, 'PR'], [10, 27, 'MA'], [28, 29, 'RI'], [30, 38, 'NH'], [39, 49, 'ME'],
  [50, 54, 'VT'], [55, 55, 'MA'], [56, 59, 'VT'], [60, 69, 'CT'], [70, 89, 'NJ'], [90, 99, 'AE'], [100, 149, 'NY'],
  [150, 196, 'PA'], [197, 199, 'DE'], [200, 200, 'DC'], [201, 201, 'VA'], [202, 205, 'DC'], [206, 219, 'MD'],
  [220, 246, 'VA'], [247, 268, 'WV'], [270, 289, 'NC'], [290, 299, 'SC'], [300, 319, 'GA'], [320, 339, 'FL'],
  [340, 340, 'AA'], [341, 349, 'FL'], [350, 369, 'AL'], [370, 385, 'TN'], [386, 397, 'MS'], [398, 399, 'GA'],
  [400, 427, 'KY'], [430, 459, 'OH'], [460, 479, 'IN'], [480, 499, 'MI'], [500, 528, 'IA'], [530, 549, 'WI'],
  [550, 567, 'MN'], [569, 569, 'DC'], [570, 577, 'SD'], [580, 588, 'ND'], [590, 599, 'MT'], [600, 629, 'IL'],
  [630, 658, 'MO'], [660, 679, 'KS'], [680, 693, 'NE'], [700, 714, 'LA'], [716, 729, 'AR'], [730, 731, 'OK'],
  [733, 733, 'TX'], [734, 749, 'OK'], [750, 799, 'TX'], [800, 816, 'CO'], [820, 831, 'WY'], [832, 838, 'ID'],
  [840, 847, 'UT'], [850, 865, 'AZ'], [870, 884, 'NM'], [885, 885, 'TX'], [889, 898, 'NV'], [900, 961, 'CA'],
  [962, 966, 'AP'], [967, 968, 'HI'], [969, 969, 'GU'], [970, 979, 'OR'], [980, 994, 'WA'], [995, 999, 'AK'],
];

/** The state (USPS code) of a 3-digit prefix, or null (000, unassigned, or not three digits). */
export function stateOfZip3(zip3: string): string | null {
  if (!/^\d{3}$/.test(zip3)) return null;
  const p = Number(zip3);
  for (const [lo, hi, state] of RANGES) {
    if (p < lo) return null;
    if (p <= hi) return state;
  }
  return null;
}
