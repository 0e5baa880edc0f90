import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDatabaseUrl } from '../../src/backup/connection.ts';
import { maskUrl, Secret } from '../../src/config/secret.ts';
import { BackupError, RestoreError } from '../../src/errors.ts';
import { parseTargetUrl } from '../../src/restore/target.ts';
import { pgClientConfig } from '../../src/util/pg-client-config.ts';
import { libpqConninfo, parsePgUrl, withPgDatabase } from '../../src/util/pg-url.ts';

import { MALFORMED_SHAPES, MARKER } from './malformed-urls.ts';

describe('postgres:// URL parsing', () => {
  it('keeps the password out of the URL that may be shown and decodes escapes', () => {
    const result = parsePgUrl("postgres://u%40x:p%40ss%20w'rd@db.example.com:6543/my%20db");
    assert.ok(result.ok);
    const parts = result.parts;
    assert.equal(parts.urlWithoutPassword, 'postgres://u%40x@db.example.com:6543/my%20db');
    assert.equal(parts.password, "p@ss w'rd");
    assert.equal(parts.user, 'u@x');
    assert.equal(parts.database, 'my db');
    assert.equal(parts.port, 6543);
  });

  it('gives node-pg and the libpq programs the same decoded database name (semi%3Bdb is "semi;db" for both)', () => {
    const result = parsePgUrl('postgresql://app:pw@[::1]:5433/semi%3Bdb?sslmode=disable&application_name=x');
    assert.ok(result.ok);
    assert.equal(result.parts.database, 'semi;db');
    assert.equal(result.parts.host, '::1');
    assert.equal(libpqConninfo(result.parts), "host='::1' port='5433' user='app' dbname='semi;db' sslmode='disable' application_name='x'");
    const config = pgClientConfig(result.parts, result.parts.password);
    assert.equal(config.database, 'semi;db');
    assert.equal(config.host, '::1');
    assert.equal(config.port, 5433);
    assert.equal(config.password, 'pw');
    assert.equal(config.ssl, false, 'sslmode=disable keeps its node-pg meaning');
    assert.equal(config.application_name, 'x');
  });

  it('quotes conninfo values so a quote or backslash cannot start another keyword', () => {
    const result = parsePgUrl("postgres://u@h/a'b%5Cc%20host%3Devil");
    assert.ok(result.ok);
    assert.equal(libpqConninfo(result.parts), "host='h' port='5432' user='u' dbname='a\\'b\\\\c host=evil'");
  });

  it('lets query parameters stand for the parts, as libpq does (host=/socket/dir, port, user, dbname)', () => {
    const result = parsePgUrl('postgres://u@localhost/x?host=/var/run/postgresql&port=6000&dbname=real&user=v&password=pw');
    assert.ok(result.ok);
    assert.deepEqual(
      { host: result.parts.host, port: result.parts.port, db: result.parts.database, user: result.parts.user, pw: result.parts.password, params: result.parts.params },
      { host: '/var/run/postgresql', port: 6000, db: 'real', user: 'v', pw: 'pw', params: [] },
    );
    assert.doesNotMatch(result.parts.urlWithoutPassword, /pw/);
  });

  it('another database on the same server keeps the credentials and changes what is shown', () => {
    const result = parsePgUrl('postgres://u:pw@h:7/orig?sslmode=require');
    assert.ok(result.ok);
    const other = withPgDatabase(result.parts, 'drill;1');
    assert.equal(other.database, 'drill;1');
    assert.equal(other.password, 'pw');
    assert.equal(other.urlWithoutPassword, 'postgres://u@h:7/drill%3B1?sslmode=require');
  });

  it('refuses every malformed shape with a problem that never quotes the password', () => {
    for (const shape of MALFORMED_SHAPES) {
      const result = parsePgUrl(shape);
      assert.equal(result.ok, false, `refused: ${JSON.stringify(shape)}`);
      if (!result.ok) assert.ok(!result.problem.includes(MARKER), `problem for ${JSON.stringify(shape)}: ${result.problem}`);
      assert.ok(!maskUrl(shape).includes(MARKER), `masked ${JSON.stringify(shape)}: ${maskUrl(shape)}`);
      for (const error of [
        catchError(() => parseDatabaseUrl(new Secret(shape))),
        catchError(() => parseTargetUrl(new Secret(shape), '--target-url')),
      ]) {
        assert.ok(error instanceof BackupError || error instanceof RestoreError, `an error for ${JSON.stringify(shape)}`);
        assert.ok(!error.message.includes(MARKER), error.message);
      }
    }
  });

  it('masks the password of a well-formed URL, in user info and in a password parameter', () => {
    assert.equal(maskUrl(`postgres://u:${MARKER}@h:5432/db`), 'postgres://***@h:5432/db');
    assert.equal(maskUrl(`postgres://u@h/db?sslmode=require&password=${MARKER}`), 'postgres://***@h/db?sslmode=require&password=***');
    assert.equal(maskUrl(`https://hooks.slack.com/services/T/B/${MARKER}`, { showPath: false }), 'https://hooks.slack.com/…');
  });

  it('a malformed escape becomes an error naming the setting, without the password', () => {
    assert.equal(parsePgUrl('postgres://u:50%off@db/app').ok, false);
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

function catchError(fn: () => unknown): Error | undefined {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}
