import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { createDumpScanStream, type DumpFacts } from '../../src/restore/dump-scanner.ts';

const SCRIPT = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  '',
  '\\restrict abc',
  'SET statement_timeout = 0;',
  'CREATE TABLE public."my table" (',
  '    a integer',
  ');',
  'ALTER TABLE public."my table" OWNER TO app_owner;',
  'CREATE UNLOGGED TABLE audit.log (',
  '    msg text',
  ');',
  'GRANT SELECT ON TABLE audit.log TO reader;',
  'COPY public."my table" (a) FROM stdin;',
  '1',
  'GRANT this is data, not a statement;',
  `${'x'.repeat(10_000)}`,
  '\\.',
  'COPY audit.log (msg) FROM stdin;',
  '\\.',
  '',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
  '\\unrestrict abc',
  '',
].join('\n');

async function scan(text: string, chunkSize: number, skipOwnership: boolean): Promise<{ facts: DumpFacts; output: string }> {
  const { stream, scanner } = createDumpScanStream({ requireTrailer: true, label: 'test', skipOwnership });
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), stream, new Writable({ write: (c: Buffer, _e, cb) => { out.push(c); cb(); } }));
  return { facts: scanner.facts, output: Buffer.concat(out).toString() };
}

describe('dump scanner', () => {
  it('reads tables, COPY rows, header and trailer the same way whatever the chunk boundaries', async () => {
    for (const size of [1, 3, 17, 4096, 1 << 20]) {
      const { facts, output } = await scan(SCRIPT, size, false);
      assert.equal(output, SCRIPT, `chunk size ${size}: passes bytes through unchanged`);
      assert.deepEqual(facts.tables, ['public."my table"', 'audit.log'], `chunk size ${size}`);
      assert.deepEqual([...facts.rows], [['public."my table"', 3], ['audit.log', 0]], `chunk size ${size}`);
      assert.equal(facts.headerSeen && facts.trailerSeen, true, `chunk size ${size}`);
    }
  });

  it('leaves out ownership and privilege statements, never COPY data, whatever the chunk boundaries', async () => {
    const expected = SCRIPT.replace('ALTER TABLE public."my table" OWNER TO app_owner;\n', '').replace('GRANT SELECT ON TABLE audit.log TO reader;\n', '');
    for (const size of [1, 5, 64, 1 << 20]) {
      const { output, facts } = await scan(SCRIPT, size, true);
      assert.equal(output, expected, `chunk size ${size}`);
      assert.equal(facts.rows.get('public."my table"'), 3);
    }
  });

  it('fails a script without the completion trailer, and one with statements after it', async () => {
    const cut = SCRIPT.slice(0, SCRIPT.indexOf('-- PostgreSQL database dump complete'));
    await assert.rejects(scan(cut, 100, false), /ends without pg_dump's "-- PostgreSQL database dump complete" trailer/);
    await assert.rejects(scan(`${SCRIPT}DROP TABLE x;\n`, 100, false), /trailer/);
    await assert.rejects(scan(SCRIPT.replace('COPY audit.log (msg) FROM stdin;\n\\.\n', 'COPY audit.log (msg) FROM stdin;\n'), 100, false), /trailer/, 'ends inside COPY data');
  });
});
