// Prints the configuration table (markdown) from the variable catalogue, for README.md and the guide.
import { VARIABLES } from '../src/config/variables.ts';

const rows = VARIABLES.map(
  (v) => `| \`${v.name}\` | ${v.group} | ${v.default === '—' ? '—' : `\`${v.default}\``} | ${v.description}${v.secret ? ' (secret)' : ''} |`,
);
process.stdout.write(['| variable | area | default | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n');
