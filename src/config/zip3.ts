// 3-digit ZIP prefixes whose population is 20,000 or fewer: HIPAA Safe Harbor,
// 45 CFR 164.514(b)(2)(i)(B), requires these to be replaced by 000.
// Source: HHS OCR, "Guidance Regarding Methods for De-identification of Protected Health
// Information in Accordance with the HIPAA Privacy Rule" (2012), based on 2000 Census data.
// The list is data, not code: config.yaml may carry a newer table under `zip3_restricted`.
export const DEFAULT_ZIP3_TABLE = {
  version: 'hhs-2012-census2000',
  source:
    'HHS OCR De-identification Guidance (Nov 2012), section 3.3, 2000 Census: 3-digit ZIPs with 20,000 or fewer people',
  prefixes: [
    '036', '059', '063', '102', '203', '556', '692', '790', '821', '823',
    '830', '831', '878', '879', '884', '890', '893',
  ],
} as const;
