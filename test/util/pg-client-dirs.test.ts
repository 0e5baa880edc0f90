import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findPgTools } from '../../src/restore/pg-tools.ts';
import { listPgClientDirs, type PgSearchRoots } from '../../src/util/pg-client-dirs.ts';

// A fake machine layout of empty executable files (nothing here runs them).
async function fakeProgram(file: string, mode = 0o755): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '#!/bin/sh\n', { mode });
}

describe('installed PostgreSQL client directories', () => {
  let root: string;
  let roots: PgSearchRoots;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'pg-clients-'));
    roots = { debian: path.join(root, 'usr/lib/postgresql'), alpine: path.join(root, 'usr/libexec'), pathDirs: [path.join(root, 'usr/bin')] };
    await fakeProgram(path.join(roots.debian, '13/bin/psql'));
    await fakeProgram(path.join(roots.debian, '13/bin/pg_restore'));
    // 17 has a psql that may not be executed and no pg_restore: 15 (Alpine) is the newest usable one.
    await fakeProgram(path.join(roots.debian, '17/bin/psql'), 0o644);
    await fakeProgram(path.join(roots.alpine, 'postgresql15/psql'));
    await fakeProgram(path.join(roots.alpine, 'postgresql15/pg_restore'));
    await fs.mkdir(path.join(roots.debian, 'common'), { recursive: true });
    await fs.mkdir(path.join(roots.alpine, 'postgresql-common'), { recursive: true });
    await fakeProgram(path.join(root, 'custom/bin/pg_dump'));
    await fakeProgram(path.join(root, 'custom/bin/psql'));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('lists Debian and Alpine versioned directories, newest first, and nothing else', () => {
    const found = listPgClientDirs(roots).map((d) => [path.relative(root, d.dir), d.major]);
    assert.deepEqual(found, [
      ['usr/lib/postgresql/17/bin', 17],
      ['usr/libexec/postgresql15', 15],
      ['usr/lib/postgresql/13/bin', 13],
    ]);
  });

  it('gives a restore the newest executable psql and pg_restore', () => {
    const tools = findPgTools(undefined, roots);
    assert.equal(path.relative(root, tools.psql), 'usr/libexec/postgresql15/psql');
    assert.equal(path.relative(root, tools.pgRestore), 'usr/libexec/postgresql15/pg_restore');
  });

  it('prefers the programs beside PG_DUMP_PATH, and leaves a missing one to PATH by its bare name', () => {
    const tools = findPgTools(path.join(root, 'custom/bin/pg_dump'), roots);
    assert.equal(path.relative(root, tools.psql), 'custom/bin/psql');
    assert.equal(path.relative(root, tools.pgRestore), 'usr/libexec/postgresql15/pg_restore');
    const none = findPgTools(undefined, { debian: path.join(root, 'nowhere'), alpine: path.join(root, 'nowhere'), pathDirs: [] });
    assert.deepEqual(none, { psql: 'psql', pgRestore: 'pg_restore', zstd: 'zstd' });
  });
});
