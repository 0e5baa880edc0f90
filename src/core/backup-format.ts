import type { CompressionAlgorithm } from '../config/types.ts';

// What a stored backup holds, and how to tell from its first bytes when neither a manifest nor our own
// naming says it (the Railway template's .tar.gz, a .dump uploaded by hand, a file with no extension).
// Pure: the bytes are read by the caller (src/restore/backup-source.ts probeFormat).

// pg_dump's output formats that can be streamed: plain SQL, custom (-Fc) and tar (-Ft). Custom and tar
// archives are turned into SQL by `pg_restore -f -`, which reads both from a pipe.
export type ArchiveFormat = 'plain' | 'custom' | 'tar';

export interface BackupFormat {
  format: ArchiveFormat;
  compression: CompressionAlgorithm;
  encrypted: boolean;
}

const AGE_HEADER = Buffer.from('age-encryption.org/v1\n');
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const CUSTOM_MAGIC = Buffer.from('PGDMP');
const TAR_MAGIC = Buffer.from('ustar');
const TAR_MAGIC_OFFSET = 257;

// Bytes of the (decrypted, decompressed) stream needed to tell the archive format.
export const ARCHIVE_SNIFF_BYTES = TAR_MAGIC_OFFSET + TAR_MAGIC.length;

function startsWith(head: Buffer, magic: Buffer, offset = 0): boolean {
  return head.length >= offset + magic.length && head.subarray(offset, offset + magic.length).equals(magic);
}

// The stored bytes begin an age v1 file.
export function isAgeEncrypted(head: Buffer): boolean {
  return startsWith(head, AGE_HEADER);
}

// The compression of a (decrypted) stream from its magic number; 'none' when it has neither.
export function sniffCompression(head: Buffer): CompressionAlgorithm {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

// The archive format of a decompressed stream: pg_dump's custom "PGDMP" header, a tar header's "ustar"
// magic, else plain SQL (whose own header the verification checks).
export function sniffArchive(head: Buffer): ArchiveFormat {
  if (startsWith(head, CUSTOM_MAGIC)) return 'custom';
  if (startsWith(head, TAR_MAGIC, TAR_MAGIC_OFFSET)) return 'tar';
  return 'plain';
}
