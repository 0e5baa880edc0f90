import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { execa } from 'execa';
import { Secret } from '../../src/config/secret.ts';
import { createDecryptFactory } from '../../src/crypto/age-decrypt.ts';
import { createEncryptStream } from '../../src/crypto/age-encrypt.ts';
import { describeBackup, probeFormat } from '../../src/restore/backup-source.ts';
import type { DirStore } from '../../src/storage/dir-store.ts';
import { tempDirStore } from './fixtures.ts';

// Objects much larger than what the probe reads, so every decoding stage sees its input cut short.
// Random hex does not compress away: each object stays well above the probe's 256 KiB.
function plainScript(): Buffer {
  return Buffer.concat([Buffer.from('--\n-- PostgreSQL database dump\n--\n'), Buffer.from(randomBytes(1024 * 1024).toString('hex'))]);
}

function tarLike(): Buffer {
  const header = Buffer.alloc(512);
  header.write('toc.dat', 0);
  header.write('ustar', 257);
  return Buffer.concat([header, randomBytes(1024 * 1024)]);
}

describe('reading the format of a large object from its first bytes', () => {
  let store: DirStore;
  let remove: () => Promise<void>;
  let identity: string;
  let recipient: string;

  before(async () => {
    ({ store, remove } = await tempDirStore());
    identity = await generateX25519Identity();
    recipient = await identityToRecipient(identity);
  });
  after(async () => {
    await remove?.();
  });

  const zstd = async (body: Buffer) => Buffer.from((await execa('zstd', ['-q', '-c'], { input: body, encoding: 'buffer', stripFinalNewline: false })).stdout);
  const seal = async (body: Buffer) => await buffer(Readable.from([body]).pipe(createEncryptStream({ recipients: [recipient], passphrase: undefined, identity: undefined })));
  const put = async (key: string, body: Buffer) => {
    assert.ok(body.length > 512 * 1024, `${key} is only ${body.length} bytes`);
    await store.put(key, Readable.from([body]));
  };
  const probe = (key: string) => probeFormat(store, key, { decrypt: createDecryptFactory({ recipients: [], passphrase: undefined, identity: new Secret(identity) }), zstdPath: 'zstd' });

  it('age-encrypted, zstd-compressed plain SQL', async () => {
    await put('a', await seal(await zstd(plainScript())));
    assert.deepEqual(await probe('a'), { format: 'plain', compression: 'zstd', encrypted: true });
  });

  it('a gzip-compressed tar archive', async () => {
    await put('b', zlib.gzipSync(tarLike(), { level: 1 }));
    assert.deepEqual(await probe('b'), { format: 'tar', compression: 'gzip', encrypted: false });
  });

  it('an uncompressed custom archive, encrypted', async () => {
    await put('c', await seal(Buffer.concat([Buffer.from('PGDMP'), randomBytes(1024 * 1024)])));
    assert.deepEqual(await probe('c'), { format: 'custom', compression: 'none', encrypted: true });
  });
});

describe('describing a backup reads only what can be there', () => {
  let store: DirStore;
  let remove: () => Promise<void>;
  before(async () => {
    ({ store, remove } = await tempDirStore());
  });
  after(async () => {
    await remove?.();
  });

  // The real directory store, with its list() calls recorded.
  const listingsOf = async (key: string): Promise<string[]> => {
    const listed: string[] = [];
    const recording = Object.create(store, { list: { value: (prefix: string) => (listed.push(prefix), store.list(prefix)) } }) as DirStore;
    await describeBackup(recording, key, 'backup-', { decrypt: undefined, zstdPath: 'zstd' });
    return listed;
  };

  it("another tool's backup is one object: no listing for pieces; one of ours without a manifest is looked for in pieces", async () => {
    await store.put('backup-2026-11-30T05-52-36-921Z.tar.gz', Readable.from([zlib.gzipSync(tarLike(), { level: 1 })]));
    await store.put('backup-2026-11-30_03-00-00.dump', Readable.from([Buffer.from('PGDMP')]));
    assert.deepEqual(await listingsOf('backup-2026-11-30T05-52-36-921Z.tar.gz'), []);
    assert.deepEqual(await listingsOf('backup-2026-11-30_03-00-00.dump'), ['backup-2026-11-30_03-00-00.dump.']);
  });
});
