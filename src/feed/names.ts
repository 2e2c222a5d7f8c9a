// Name and street lists for the built-in generator. Synthea appends numbers to names ("Aubrey96") to
// make them obviously fake; the generator does the same. A few non-ASCII names keep UTF-8 honest.

export const FIRST_M: readonly string[] = [
  'James', 'John', 'Robert', 'Michael', 'William', 'David', 'Richard', 'Joseph', 'Thomas', 'Charles',
  'Christopher', 'Daniel', 'Matthew', 'Anthony', 'Mark', 'Donald', 'Steven', 'Paul', 'Andrew', 'Joshua',
  'Kenneth', 'Kevin', 'Brian', 'George', 'Timothy', 'Ronald', 'Edward', 'Jason', 'Jeffrey', 'Ryan',
  'Jacob', 'Gary', 'Nicholas', 'Eric', 'Jonathan', 'Stephen', 'Larry', 'Justin', 'Scott', 'Brandon',
  'Bradley', 'Myles', 'Mathew', 'Herb', 'Aubrey', 'Quinton', 'Lionel', 'Dewey', 'José', 'Andrés',
  'Luis', 'Carlos', 'Wei', 'Minh', 'Raj', 'Omar', 'Kwame', 'Liam', 'Noah', 'Ethan',
];

export const FIRST_F: readonly string[] = [
  'Mary', 'Patricia', 'Jennifer', 'Linda', 'Elizabeth', 'Barbara', 'Susan', 'Jessica', 'Sarah', 'Karen',
  'Lisa', 'Nancy', 'Betty', 'Margaret', 'Sandra', 'Ashley', 'Kimberly', 'Emily', 'Donna', 'Michelle',
  'Carol', 'Amanda', 'Dorothy', 'Melissa', 'Deborah', 'Stephanie', 'Rebecca', 'Sharon', 'Laura', 'Cynthia',
  'Randee', 'Ester', 'Lavern', 'Trula', 'Leeanna', 'Britany', 'Soledad', 'Maya', 'Isabell', 'Lenora',
  'Débora', 'Mónica', 'Zoë', 'Chloé', 'Ana', 'Lucía', 'Mei', 'Linh', 'Priya', 'Fatima',
  'Amara', 'Olivia', 'Emma', 'Ava', 'Sophia', 'Mia', 'Harper', 'Evelyn', 'Abigail', 'Ella',
];

export const LAST: readonly string[] = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin',
  'Lee', 'Perez', 'Thompson', 'White', 'Harris', 'Sanchez', 'Clark', 'Ramirez', 'Lewis', 'Robinson',
  'Legros', 'Parisian', 'Reinger', 'Jakubowski', 'Bruen', 'DuBuque', 'Hane', 'Berge', 'Hermann', 'Crooks',
  'Murphy', 'Stoltenberg', 'Gorczany', 'Nicolas', "O'Keefe", 'Kuhlman', 'Schinner', 'Wolff', 'Nguyen', 'Tran',
  'Marín', 'Águilar', 'Alarcón', 'Peña', 'Müller', 'Kowalski', 'Okafor', 'Haddad', 'Patel', 'Chen',
];

export const STREETS: readonly string[] = [
  'Grimes Gardens', 'Reichert Vale', 'Witting Grove', 'Volkman Wall', 'Ryan Station', 'Howell Bridge',
  'Collins Parade', 'Howell Dale', 'Reichert Grove', 'Quigley Junction', 'Hilll Gateway', 'Reynolds Crossing',
  'Kub Approach', 'Schaden Mill', 'Bartoletti Harbor', 'Koss Light', 'Wiza Route', 'Dicki Esplanade',
  'Lakin Lane', 'Feest Overpass', 'Mayert Rapid', 'Hodkiewicz Course', 'Abshire Skyway', 'Towne Ford',
];

export const FOREIGN_BIRTHPLACES: readonly string[] = [
  'San Salvador  El Salvador  SV',
  'Caguas  Puerto Rico  PR',
  'Santo Domingo  National District  DO',
  'Hanoi  Hà Đông  VN',
  'Port-au-Prince  Ouest  HT',
  'Lisbon  Lisbon  PT',
  'Mumbai  Maharashtra  IN',
  'Shanghai  Shanghai  CN',
];
