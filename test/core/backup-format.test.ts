import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { ARCHIVE_SNIFF_BYTES, isAgeEncrypted, sniffArchive, sniffCompression } from '../../src/core/backup-format.ts';

// A tar header block as pg_dump -Ft writes it: the member name, then "ustar" at offset 257.
function tarHeader(): Buffer {
  const block = Buffer.alloc(512);
  block.write('toc.dat', 0);
  block.write('ustar', 257);
  return block;
}

describe('telling what a backup holds from its first bytes', () => {
  it('recognises an age v1 file by its header line', () => {
    assert.equal(isAgeEncrypted(Buffer.from('age-encryption.org/v1\n-> X25519 abc\n')), true);
    assert.equal(isAgeEncrypted(Buffer.from('-- PostgreSQL database dump\n')), false);
  });

  it('recognises gzip and zstd by their magic numbers, anything else as uncompressed', () => {
    assert.equal(sniffCompression(zlib.gzipSync('x')), 'gzip');
    assert.equal(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04])), 'zstd');
    assert.equal(sniffCompression(Buffer.from('PGDMP')), 'none');
    assert.equal(sniffCompression(Buffer.alloc(0)), 'none');
  });

  it("recognises pg_dump's custom header, a tar header, else plain SQL", () => {
    assert.equal(sniffArchive(Buffer.from('PGDMP\x01\x0f\x00')), 'custom');
    assert.equal(sniffArchive(tarHeader()), 'tar');
    assert.equal(sniffArchive(tarHeader().subarray(0, ARCHIVE_SNIFF_BYTES - 1)), 'plain');
    assert.equal(sniffArchive(Buffer.from('--\n-- PostgreSQL database dump\n--\n')), 'plain');
  });
});
