import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { VARIABLES } from '../../src/config/variables.ts';

const documented = new Set(VARIABLES.map((v) => v.name));

function variablesNamedIn(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8');
  return new Set([...text.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]|PORT|HOST)`/g)].map((m) => m[1] ?? ''));
}

describe('documentation and configuration stay in step', () => {
  for (const file of ['docs/BACKUP_CONFIGURATION.md', 'README.md']) {
    it(`${file} names only variables the config module reads`, () => {
      const unknown = [...variablesNamedIn(file)].filter((name) => !documented.has(name));
      assert.deepEqual(unknown, [], `${file} names variables the service does not read`);
    });
  }

  it('the deployment guide describes every variable the config module reads', () => {
    const named = variablesNamedIn('docs/BACKUP_CONFIGURATION.md');
    const missing = [...documented].filter((name) => !named.has(name));
    assert.deepEqual(missing, [], 'variables missing from docs/BACKUP_CONFIGURATION.md');
  });
});
