import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

// Layering rules of the source tree, read from the files themselves.
const SRC = join(import.meta.dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1] ?? '');
}

test('http/ does not import monitor/, and monitor/ does not import http/', () => {
  const offending: string[] = [];
  for (const [dir, forbidden] of [['http', '/monitor/'], ['monitor', '/http/']] as const) {
    for (const file of sourceFiles(join(SRC, dir))) {
      for (const spec of importsOf(file)) if (spec.includes(forbidden)) offending.push(`${file.slice(SRC.length + 1)} imports ${spec}`);
    }
  }
  assert.deepEqual(offending, []);
});

// (The drill's scratch database name shares the words but is no metric.)
test('the metric prefix is written once, in core/metrics.ts', () => {
  const offending = sourceFiles(SRC)
    .filter((file) => !file.endsWith(join('core', 'metrics.ts')))
    .filter((file) => /['`]backup_sentinel_(?!drill_)/.test(readFileSync(file, 'utf8')))
    .map((file) => file.slice(SRC.length + 1));
  assert.deepEqual(offending, []);
});

// core/ is what every service shares: it may use types, errors, logging and small utilities, never a
// service (backup, monitor, alerts, retention, restore, http ...), so any of them can build on it.
test('core/ imports no service', () => {
  const allowed = [/^\.\/[^/]+\.ts$/, /^\.\.\/(config\/types|storage\/store|logger|errors|util\/[^/]+)\.ts$/, /^[^.]/];
  const offending = sourceFiles(join(SRC, 'core')).flatMap((file) =>
    importsOf(file)
      .filter((spec) => !allowed.some((pattern) => pattern.test(spec)))
      .map((spec) => `${file.slice(SRC.length + 1)} imports ${spec}`),
  );
  assert.deepEqual(offending, []);
});
