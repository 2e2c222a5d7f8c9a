// Places for the built-in generator: real US cities with their county, county FIPS, real ZIP codes
// and approximate coordinates and populations (thousands). Small on purpose; Massachusetts (the
// Synthea default) is the most complete. RESTRICTED_HOMES are real ZIPs in 3-digit prefixes that
// HIPAA Safe Harbor must turn into 000 (036 NH, 059 VT, 063 CT, 102 NY), for a small share of people.

export interface City {
  name: string;
  county: string;
  /** 5-digit county FIPS, as Synthea writes it in patients.FIPS. */
  fips: string;
  zips: readonly string[];
  lat: number;
  lon: number;
  /** Population in thousands: the weight for picking a city. */
  pop: number;
}

export interface StateInfo {
  name: string;
  abbr: string;
  cities: readonly City[];
}

const c = (name: string, county: string, fips: string, zips: string, lat: number, lon: number, pop: number): City => ({
  name,
  county,
  fips,
  zips: zips.split(' '),
  lat,
  lon,
  pop,
});

export const STATES: readonly StateInfo[] = [
  {
    name: 'Massachusetts',
    abbr: 'MA',
    cities: [
      c('Boston', 'Suffolk County', '25025', '02108 02113 02115 02116 02118 02127 02128 02130', 42.3601, -71.0589, 675),
      c('Worcester', 'Worcester County', '25027', '01602 01603 01604 01605 01610', 42.2626, -71.8023, 206),
      c('Springfield', 'Hampden County', '25013', '01103 01104 01105 01107 01108 01109 01118 01119', 42.1015, -72.5898, 155),
      c('Cambridge', 'Middlesex County', '25017', '02138 02139 02140', 42.3736, -71.1097, 118),
      c('Lowell', 'Middlesex County', '25017', '01850 01851 01852 01854', 42.6334, -71.3162, 115),
      c('Brockton', 'Plymouth County', '25023', '02301 02302', 42.0834, -71.0184, 105),
      c('New Bedford', 'Bristol County', '25005', '02740 02744 02745 02746', 41.6362, -70.9342, 101),
      c('Quincy', 'Norfolk County', '25021', '02169 02170 02171', 42.2529, -71.0023, 101),
      c('Lynn', 'Essex County', '25009', '01901 01902 01904 01905', 42.4668, -70.9495, 101),
      c('Fall River', 'Bristol County', '25005', '02720 02721 02723 02724', 41.7015, -71.155, 94),
      c('Lawrence', 'Essex County', '25009', '01840 01841 01843', 42.707, -71.1631, 89),
      c('Newton', 'Middlesex County', '25017', '02458 02459 02460', 42.337, -71.2092, 88),
      c('Somerville', 'Middlesex County', '25017', '02143 02144 02145', 42.3876, -71.0995, 81),
      c('Framingham', 'Middlesex County', '25017', '01701 01702', 42.2793, -71.4162, 72),
      c('Haverhill', 'Essex County', '25009', '01830 01832 01835', 42.7762, -71.0773, 67),
      c('Plymouth', 'Plymouth County', '25023', '02360', 41.9584, -70.6673, 61),
      c('Taunton', 'Bristol County', '25005', '02780', 41.9001, -71.0898, 59),
      c('Barnstable', 'Barnstable County', '25001', '02601 02630', 41.7003, -70.3002, 49),
      c('Salem', 'Essex County', '25009', '01970', 42.5195, -70.8967, 44),
      c('Pittsfield', 'Berkshire County', '25003', '01201', 42.4501, -73.2454, 43),
      c('Fitchburg', 'Worcester County', '25027', '01420', 42.5834, -71.8023, 41),
      c('Westfield', 'Hampden County', '25013', '01085 01086', 42.1251, -72.7495, 40),
      c('Amherst', 'Hampshire County', '25015', '01002 01003', 42.3732, -72.5199, 39),
      c('Needham', 'Norfolk County', '25021', '02492 02494', 42.2809, -71.2378, 32),
      c('Gloucester', 'Essex County', '25009', '01930', 42.6159, -70.662, 30),
      c('Northampton', 'Hampshire County', '25015', '01060', 42.3251, -72.6412, 29),
      c('Greenfield', 'Franklin County', '25011', '01301', 42.5876, -72.5995, 18),
      c('Dennis', 'Barnstable County', '25001', '02638 02660', 41.7354, -70.1939, 14),
      c('Nantucket', 'Nantucket County', '25019', '02554', 41.2835, -70.0995, 14),
      c('North Adams', 'Berkshire County', '25003', '01247', 42.7009, -73.1087, 13),
      c('Edgartown', 'Dukes County', '25007', '02539', 41.389, -70.5134, 4),
    ],
  },
  {
    name: 'New Hampshire',
    abbr: 'NH',
    cities: [
      c('Manchester', 'Hillsborough County', '33011', '03101 03102 03103 03104', 42.9956, -71.4548, 115),
      c('Nashua', 'Hillsborough County', '33011', '03060 03062 03063', 42.7654, -71.4676, 91),
      c('Concord', 'Merrimack County', '33013', '03301 03303', 43.2081, -71.5376, 44),
      c('Lebanon', 'Grafton County', '33009', '03766', 43.6423, -72.2518, 14),
      c('Charlestown', 'Sullivan County', '33019', '03603', 43.2387, -72.4245, 5),
      c('Walpole', 'Cheshire County', '33005', '03608', 43.0795, -72.4259, 4),
    ],
  },
  {
    name: 'Vermont',
    abbr: 'VT',
    cities: [
      c('Burlington', 'Chittenden County', '50007', '05401 05408', 44.4759, -73.2121, 45),
      c('Rutland', 'Rutland County', '50021', '05701', 43.6106, -72.9726, 15),
      c('Montpelier', 'Washington County', '50023', '05602', 44.2601, -72.5754, 8),
      c('Canaan', 'Essex County', '50009', '05903', 44.9976, -71.5365, 1),
      c('Norton', 'Essex County', '50009', '05907', 44.9881, -71.7962, 1),
    ],
  },
  {
    name: 'Connecticut',
    abbr: 'CT',
    cities: [
      c('Bridgeport', 'Fairfield County', '09001', '06604 06605 06606', 41.1865, -73.1952, 148),
      c('New Haven', 'New Haven County', '09009', '06510 06511 06513', 41.3083, -72.9279, 135),
      c('Hartford', 'Hartford County', '09003', '06103 06105 06106', 41.7658, -72.6734, 121),
      c('New London', 'New London County', '09011', '06320', 41.3557, -72.0995, 27),
    ],
  },
  {
    name: 'Rhode Island',
    abbr: 'RI',
    cities: [
      c('Providence', 'Providence County', '44007', '02903 02906 02908 02909', 41.824, -71.4128, 190),
      c('Warwick', 'Kent County', '44003', '02886 02888 02889', 41.7001, -71.4162, 82),
      c('Newport', 'Newport County', '44005', '02840', 41.4901, -71.3128, 25),
    ],
  },
  {
    name: 'New York',
    abbr: 'NY',
    cities: [
      c('New York', 'New York County', '36061', '10001 10025 10027 10032 10280 10282', 40.7128, -74.006, 1630),
      c('Brooklyn', 'Kings County', '36047', '11201 11215 11221 11235', 40.6782, -73.9442, 2590),
      c('Buffalo', 'Erie County', '36029', '14201 14207 14216', 42.8864, -78.8784, 278),
      c('Rochester', 'Monroe County', '36055', '14604 14607 14620', 43.1566, -77.6088, 211),
      c('Syracuse', 'Onondaga County', '36067', '13202 13210', 43.0481, -76.1474, 148),
      c('Albany', 'Albany County', '36001', '12203 12206 12208', 42.6526, -73.7562, 99),
    ],
  },
  {
    name: 'California',
    abbr: 'CA',
    cities: [
      c('Los Angeles', 'Los Angeles County', '06037', '90012 90026 90044 90057', 34.0522, -118.2437, 3900),
      c('San Diego', 'San Diego County', '06073', '92101 92104 92115', 32.7157, -117.1611, 1390),
      c('San Jose', 'Santa Clara County', '06085', '95112 95123 95125', 37.3382, -121.8863, 1010),
      c('San Francisco', 'San Francisco County', '06075', '94110 94117 94122', 37.7749, -122.4194, 815),
      c('Fresno', 'Fresno County', '06019', '93701 93722', 36.7378, -119.7871, 545),
      c('Sacramento', 'Sacramento County', '06067', '95814 95822', 38.5816, -121.4944, 525),
      c('Fontana', 'San Bernardino County', '06071', '92335 92336', 34.0922, -117.435, 210),
    ],
  },
  {
    name: 'Texas',
    abbr: 'TX',
    cities: [
      c('Houston', 'Harris County', '48201', '77002 77004 77056', 29.7604, -95.3698, 2300),
      c('San Antonio', 'Bexar County', '48029', '78205 78209', 29.4241, -98.4936, 1450),
      c('Dallas', 'Dallas County', '48113', '75201 75204', 32.7767, -96.797, 1300),
      c('Austin', 'Travis County', '48453', '78701 78704', 30.2672, -97.7431, 960),
      c('El Paso', 'El Paso County', '48141', '79901 79912', 31.7619, -106.485, 680),
    ],
  },
  {
    name: 'Florida',
    abbr: 'FL',
    cities: [
      c('Jacksonville', 'Duval County', '12031', '32202 32207', 30.3322, -81.6557, 950),
      c('Miami', 'Miami-Dade County', '12086', '33125 33130', 25.7617, -80.1918, 440),
      c('Tampa', 'Hillsborough County', '12057', '33602 33606', 27.9506, -82.4572, 385),
      c('Orlando', 'Orange County', '12095', '32801 32803', 28.5383, -81.3792, 307),
    ],
  },
];

export interface Home {
  city: string;
  state: string;
  county: string;
  fips: string;
  zip: string;
  lat: number;
  lon: number;
}

/** Real ZIPs in restricted 3-digit prefixes (see config zip3_restricted): 036, 059, 063, 102. */
export const RESTRICTED_HOMES: readonly Home[] = [
  { city: 'Charlestown', state: 'New Hampshire', county: 'Sullivan County', fips: '33019', zip: '03603', lat: 43.2387, lon: -72.4245 },
  { city: 'Walpole', state: 'New Hampshire', county: 'Cheshire County', fips: '33005', zip: '03608', lat: 43.0795, lon: -72.4259 },
  { city: 'Canaan', state: 'Vermont', county: 'Essex County', fips: '50009', zip: '05903', lat: 44.9976, lon: -71.5365 },
  { city: 'Norton', state: 'Vermont', county: 'Essex County', fips: '50009', zip: '05907', lat: 44.9881, lon: -71.7962 },
  { city: 'New London', state: 'Connecticut', county: 'New London County', fips: '09011', zip: '06320', lat: 41.3557, lon: -72.0995 },
  { city: 'New York', state: 'New York', county: 'New York County', fips: '36061', zip: '10282', lat: 40.7168, lon: -74.0153 },
];

/** A state by name or postal abbreviation, case-insensitive; undefined when unknown. */
export function findState(name: string): StateInfo | undefined {
  const n = name.trim().toLowerCase();
  return STATES.find((s) => s.name.toLowerCase() === n || s.abbr.toLowerCase() === n);
}

export function findCity(state: StateInfo, city: string): City | undefined {
  const n = city.trim().toLowerCase();
  return state.cities.find((x) => x.name.toLowerCase() === n);
}
