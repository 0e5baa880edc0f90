export const MARKER = 'Zq7mark3rPW';

// URL shapes that carry the password somewhere a lenient parser would not expect it: each must be
// refused or masked without the password ever appearing in what is shown.
export const MALFORMED_SHAPES: readonly string[] = [
  `postgres:/u:${MARKER}@h/db`,
  `postgres:u:${MARKER}@h/db`,
  `postgresql:${MARKER}`,
  `mysql://u:${MARKER}@h/db`,
  `${MARKER}:x@h/db`,
  `${MARKER}`,
  `host=h user=u password=${MARKER} dbname=db`,
  `postgres://u:${MARKER}`,
  `postgres://u:${MARKER}@`,
  `postgres://u:12/${MARKER}@h/db`,
  `postgres://u:12?${MARKER}@h/db`,
  `postgres://u:12#${MARKER}@h/db`,
  `postgres://u:${MARKER}@h:notaport/db`,
  `postgres://u:${MARKER}@h:99999/db`,
  `postgres://u:${MARKER}@h1,h2/db`,
  `postgres://u:${MARKER}@h/db/extra`,
  `postgres://u:${MARKER}%zz@h/db`,
  `postgres://u:${MARKER} x@h/db`,
  `postgres://u:${MARKER}@/db`,
  `postgres://u@h/db?password=${MARKER}%zz`,
  `postgres://u@h/db?${MARKER}`,
  ` postgres://u:${MARKER}@h/db\n`,
];
