import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { StorageError } from '../../src/errors.ts';
import { DirStore, toDirStoreError } from '../../src/storage/dir-store.ts';
import { mountSmallFilesystem } from '../helpers/small-filesystem.ts';
import { runStoreContract } from './store-contract.ts';
import { captureLogs } from '../helpers/log-sink.ts';

// Every file below root whose name marks an unfinished put.
async function tempFiles(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => path.basename(e).startsWith('.~put-'));
}

runStoreContract('DirStore', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'dir-store-'));
  return {
    store: new DirStore(root),
    leftovers: () => tempFiles(root),
    close: () => fs.rm(root, { recursive: true, force: true }),
  };
});

describe('DirStore', () => {
  let root: string;
  let store: DirStore;
  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'dir-store-'));
    store = new DirStore(path.join(root, 'backups'));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('lists nothing (rather than failing) before the directory exists', async () => {
    assert.deepEqual(await store.list(''), []);
    assert.equal(store.description, `dir:${path.join(root, 'backups')}`);
  });

  it('refuses keys that would leave the directory or collide with its own files', async () => {
    for (const key of ['../escape.sql', 'a/../../escape.sql', '/abs.sql', 'a//b.sql', 'a\\b.sql', 'x.sql.~meta.json', 'dir/.~put-1-x', '']) {
      await assert.rejects(store.put(key, Readable.from([Buffer.from('x')])), (error: unknown) => {
        assert.ok(error instanceof StorageError, `${key}: ${String(error)}`);
        assert.match(error.message, /Invalid object key/);
        assert.match(error.message, /BUCKET_SUBFOLDER/);
        return true;
      });
      await assert.rejects(store.get(key), StorageError);
    }
    await assert.rejects(store.delete(['../../etc/passwd']), StorageError);
    const body = new Readable({ read() {} });
    await assert.rejects(store.put('../x.sql', body), StorageError);
    assert.ok(body.destroyed, 'the body stream of a refused put was left open');
    await assert.rejects(fs.access(path.join(root, 'escape.sql')));
  });

  it('keeps metadata in a sidecar that listing never returns', async () => {
    await store.put('meta/a.sql.gz', Readable.from([Buffer.from('abc')]), { metadata: { Sha256: 'f00' } });
    const files = (await fs.readdir(path.join(root, 'backups', 'meta'))).sort();
    assert.deepEqual(files, ['a.sql.gz', 'a.sql.gz.~meta.json']);
    assert.deepEqual((await store.list('meta/')).map((o) => o.key), ['meta/a.sql.gz']);
  });

  it('lists a file copied in by hand, with no metadata, and ignores a crashed put\'s temp file', async () => {
    const folder = path.join(root, 'backups', 'manual');
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, 'old.sql.gz'), 'hand made');
    await fs.writeFile(path.join(folder, '.~put-abc123-new.sql.gz'), 'half written');
    assert.deepEqual((await store.list('manual/')).map((o) => [o.key, o.size]), [['manual/old.sql.gz', 9]]);
    assert.deepEqual((await store.head('manual/old.sql.gz'))?.metadata, {});
  });

  it('takes lastModified from the file time, so tests and tools can backdate a backup', async () => {
    await store.put('dated/d.sql', Readable.from([Buffer.from('d')]));
    const when = new Date('2025-05-01T03:00:00Z');
    await fs.utimes(path.join(root, 'backups', 'dated', 'd.sql'), when, when);
    assert.equal((await store.list('dated/'))[0]?.lastModified.toISOString(), when.toISOString());
  });

  it('removes folders left empty by a delete, but never the root', async () => {
    await store.put('gone/deep/x.sql', Readable.from([Buffer.from('x')]));
    await store.delete(['gone/deep/x.sql']);
    await assert.rejects(fs.access(path.join(root, 'backups', 'gone')));
    await fs.access(path.join(root, 'backups'));
  });

  it('fails with a message naming BACKUP_DIR when a file stands where the directory should be', async () => {
    // (Permission errors cannot be provoked here: the tests run as root, which ignores file modes.)
    const file = path.join(root, 'not-a-dir');
    await fs.writeFile(file, 'x');
    await assert.rejects(new DirStore(file).put('x.sql', Readable.from([Buffer.from('x')])), (error: unknown) => {
      assert.ok(error instanceof StorageError);
      assert.match(error.message, /not-a-dir/);
      assert.match(error.message, /BACKUP_DIR/);
      return true;
    });
  });
});

describe('DirStore on a full disk', () => {
  it('maps ENOSPC and EDQUOT to "no space left on device" / "disk quota exceeded" with a hint about space and retention', () => {
    // Errors shaped as node:fs raises them (a real full disk is in the next test, where it can be mounted).
    for (const [code, text] of [
      ['ENOSPC', /no space left on device/],
      ['EDQUOT', /disk quota exceeded/],
    ] as const) {
      const raw = Object.assign(new Error(`${code}: something, write`), { code });
      const error = toDirStoreError(raw, { action: 'write db/x.sql.gz', where: 'dir:/data', root: '/data' });
      assert.match(error.shortMessage, text);
      assert.match(error.shortMessage, /write db\/x\.sql\.gz in dir:\/data/);
      assert.match(error.hint ?? '', /free disk space/);
      assert.match(error.hint ?? '', /BACKUP_DIR \(\/data\)/);
      assert.match(error.hint ?? '', /RETENTION_DAYS/);
      assert.equal(error.cause, raw);
    }
    const other = toDirStoreError(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }), { action: 'read x', where: 'dir:/d', root: '/d' });
    assert.doesNotMatch(other.hint ?? '', /RETENTION/);
    const already = new StorageError('Aborted', 'aborted');
    assert.equal(toDirStoreError(already, { action: 'write x', where: 'dir:/d', root: '/d' }), already);
  });

  it('a put that fills the disk fails with the no-space error, destroys the body with it and leaves nothing', async (t) => {
    const mounted = await mountSmallFilesystem(64 * 1024);
    if ('skip' in mounted) {
      t.skip(`no small filesystem to fill: ${mounted.skip}`);
      return;
    }
    try {
      const store = new DirStore(mounted.dir);
      await store.put('small.sql', Readable.from([Buffer.alloc(1000, 1)]));
      let bodyError: unknown;
      const body = Readable.from((function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(16 * 1024, i);
      })());
      body.on('error', (error) => (bodyError = error));
      await assert.rejects(store.put('db/big.sql', body), (error: unknown) => {
        assert.ok(error instanceof StorageError, String(error));
        assert.match(error.shortMessage, /^Could not write db\/big\.sql in dir:.*: no space left on device$/);
        assert.match(error.hint ?? '', /RETENTION_DAYS/);
        // The body is destroyed with this error (not a bare AbortError), so a pipeline keeping the first
        // error it sees reports the full disk.
        assert.equal(bodyError, error);
        return true;
      });
      assert.deepEqual((await fs.readdir(mounted.dir, { recursive: true })).sort(), ['small.sql', 'small.sql.~meta.json']);
      assert.deepEqual((await store.list('')).map((o) => o.key), ['small.sql']);
    } finally {
      await mounted.unmount();
    }
  });
});

describe('DirStore and symbolic links', () => {
  let base: string;
  let rootDir: string;
  let outside: string;
  before(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'dir-store-links-'));
    rootDir = path.join(base, 'backups');
    outside = path.join(base, 'outside');
    await fs.mkdir(path.join(rootDir, 'db'), { recursive: true });
    await fs.mkdir(path.join(outside, 'folder'), { recursive: true });
    await fs.writeFile(path.join(outside, 'secret.sql'), 'outside data');
    await fs.writeFile(path.join(outside, 'folder', 'x.sql'), 'outside folder data');
    await fs.writeFile(path.join(rootDir, 'db', 'real.sql'), 'inside');
    await fs.symlink(path.join(outside, 'secret.sql'), path.join(rootDir, 'db', 'leak.sql'));
    await fs.symlink(path.join(outside, 'folder'), path.join(rootDir, 'db', 'away'));
    await fs.symlink('real.sql', path.join(rootDir, 'db', 'alias.sql'));
    await fs.symlink('..', path.join(rootDir, 'db', 'loop'));
    await fs.symlink(path.join(outside, 'folder'), path.join(rootDir, 'elsewhere'));
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  function refusesLink(link: string) {
    return (error: unknown) => {
      assert.ok(error instanceof StorageError, String(error));
      assert.match(error.shortMessage, new RegExp(`${link.replaceAll('/', '\\/')} is a symbolic link to .*\/outside\/.*, outside BACKUP_DIR`));
      assert.match(error.hint ?? '', /real files and folders inside BACKUP_DIR/);
      return true;
    };
  }

  it('list skips links leading outside and linked folders with one warning each, and lists links to files inside', async () => {
    const { logger, records } = captureLogs();
    const store = new DirStore(rootDir, { logger });
    assert.deepEqual((await store.list('db/')).map((o) => [o.key, o.size]), [
      ['db/alias.sql', 6],
      ['db/real.sql', 6],
    ]);
    await store.list('db/');
    const warnings = records().filter((l) => l.level === 40);
    assert.deepEqual(warnings.map((w) => w.key).sort(), ['db/away', 'db/leak.sql', 'db/loop']);
    assert.match(String(warnings.find((w) => w.key === 'db/leak.sql')?.msg), /not listed: db\/leak\.sql in dir:.* is a symbolic link leading outside BACKUP_DIR/);
    assert.match(String(warnings.find((w) => w.key === 'db/loop')?.msg), /linked folders are not followed/);
  });

  it('get and head refuse a link leading outside, directly or through a linked folder', async () => {
    const store = new DirStore(rootDir);
    await assert.rejects(store.get('db/leak.sql'), refusesLink('db/leak.sql'));
    await assert.rejects(store.head('db/leak.sql'), refusesLink('db/leak.sql'));
    await assert.rejects(store.get('db/away/x.sql'), refusesLink('db/away'));
    assert.equal((await store.head('db/alias.sql'))?.size, 6, 'a link that stays inside is read');
  });

  it('put never writes through a linked folder leading outside, and delete never removes anything there', async () => {
    const store = new DirStore(rootDir);
    const body = Readable.from([Buffer.from('new')]);
    await assert.rejects(store.put('db/away/new.sql', body), refusesLink('db/away'));
    assert.ok(body.destroyed, 'the body of a refused put is released');
    await assert.rejects(store.put('elsewhere/y.sql', Readable.from([Buffer.from('y')])), refusesLink('elsewhere'));
    assert.deepEqual((await fs.readdir(path.join(outside, 'folder'))).sort(), ['x.sql']);
    await assert.rejects(store.delete(['db/away/x.sql']), refusesLink('db/away'));
    await assert.rejects(store.delete(['db/leak.sql']), refusesLink('db/leak.sql'));
    assert.equal(await fs.readFile(path.join(outside, 'folder', 'x.sql'), 'utf8'), 'outside folder data');
    assert.equal(await fs.readFile(path.join(outside, 'secret.sql'), 'utf8'), 'outside data');
  });

  it('a subfolder that is a link leading outside makes list fail clearly', async () => {
    await assert.rejects(new DirStore(rootDir).list('elsewhere/backup-'), refusesLink('elsewhere'));
  });

  it('BACKUP_DIR itself may be a link', async () => {
    const linkedRoot = path.join(base, 'linked-root');
    await fs.symlink(rootDir, linkedRoot);
    const store = new DirStore(linkedRoot);
    await store.put('db/via-link.sql', Readable.from([Buffer.from('ok')]));
    assert.ok((await store.list('db/')).some((o) => o.key === 'db/via-link.sql'));
    assert.equal((await store.head('db/via-link.sql'))?.size, 2);
    await store.delete(['db/via-link.sql']);
  });

  it('a metadata sidecar that is a link is not read', async () => {
    await fs.writeFile(path.join(outside, 'meta.json'), JSON.stringify({ metadata: { stolen: 'yes' } }));
    await fs.writeFile(path.join(rootDir, 'db', 'side.sql'), 'side');
    await fs.symlink(path.join(outside, 'meta.json'), path.join(rootDir, 'db', 'side.sql.~meta.json'));
    assert.deepEqual((await new DirStore(rootDir).head('db/side.sql'))?.metadata, {});
  });
});
