import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDatabaseUrl } from '../../src/backup/connection.ts';
import { Secret } from '../../src/config/secret.ts';
import { BackupError, RestoreError } from '../../src/errors.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import { splitPgUrl } from '../../src/util/pg-url.ts';

describe('postgres:// URL splitting', () => {
  it('keeps the password out of the URL that may be shown and decodes escapes', () => {
    const parts = splitPgUrl(new URL("postgres://u%40x:p%40ss%20w'rd@db.example.com:6543/my%20db"));
    assert.equal(parts?.urlWithoutPassword, 'postgres://u%40x@db.example.com:6543/my%20db');
    assert.equal(parts?.password, "p@ss w'rd");
    assert.equal(parts?.user, 'u@x');
    assert.equal(parts?.database, 'my db');
    assert.equal(parts?.port, 6543);
  });

  it('a malformed escape becomes an error naming the setting, without the password', () => {
    assert.equal(splitPgUrl(new URL('postgres://u:50%off@db/app')), undefined);
    assert.throws(
      () => parseDatabaseUrl(new Secret('postgres://u:50%off@db/app')),
      (error: unknown) => error instanceof BackupError && /BACKUP_DATABASE_URL/.test(error.message) && /%25/.test(error.message) && !/50%off/.test(error.message),
    );
    assert.throws(
      () => parseTargetUrl(new Secret('postgres://u:50%off@db/app'), '--target-url'),
      (error: unknown) => error instanceof RestoreError && /--target-url/.test(error.message) && !/50%off/.test(error.message),
    );
  });
});
