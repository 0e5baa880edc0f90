import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../../src/config/secret.ts';
import { childEnv } from '../../src/backup/child-env.ts';
import { parseDatabaseUrl } from '../../src/backup/connection.ts';
import { buildPgDumpInvocation } from '../../src/backup/pg-dump.ts';

const PASSWORD = "p@ss w'rd;$x";
const url = `postgres://app%20user:${encodeURIComponent(PASSWORD)}@db.internal:6543/shop%20data?sslmode=require`;

describe('the pg_dump command line', () => {
  it('carries the connection parameters without the password and the password only in the environment', () => {
    const target = parseDatabaseUrl(new Secret(url));
    assert.equal(target.password, PASSWORD);
    assert.equal(target.database, 'shop data');
    assert.equal(target.user, 'app user');
    assert.equal(target.port, 6543);
    const inv = buildPgDumpInvocation('/usr/bin/pg_dump', target, 'custom', ['--exclude-table', 'audit log']);
    assert.deepEqual(inv.args, [
      '--dbname',
      "host='db.internal' port='6543' user='app user' dbname='shop data' sslmode='require'",
      '--no-password',
      '--format=custom',
      '--compress=0',
      '--exclude-table',
      'audit log',
    ]);
    const shown = inv.args.join(' ');
    assert.ok(!shown.includes(PASSWORD) && !shown.includes(encodeURIComponent(PASSWORD)));
    assert.equal(inv.env.PGPASSWORD, PASSWORD);
  });

  it('moves a password given as a query parameter out of the URL too', () => {
    const target = parseDatabaseUrl(new Secret('postgresql://u@h/db?password=s3cret&application_name=x'));
    assert.equal(target.password, 's3cret');
    assert.equal(target.urlWithoutPassword, 'postgresql://u@h/db?application_name=x');
  });

  it('hands children no secrets of the service itself', () => {
    const env = childEnv({ PGPASSWORD: 'pw' }, {
      PATH: '/bin',
      PGSSLROOTCERT: '/ca.pem',
      PGPASSWORD: 'from-outside',
      BACKUP_DATABASE_URL: 'postgres://u:pw@h/db',
      AWS_SECRET_ACCESS_KEY: 'k',
      SLACK_WEBHOOK_URL: 'https://hooks',
    });
    assert.deepEqual(env, { PATH: '/bin', PGSSLROOTCERT: '/ca.pem', PGPASSWORD: 'pw' });
  });

  it('rejects a connection string that is not a URL without echoing it', () => {
    assert.throws(
      () => parseDatabaseUrl(new Secret('host=db password=hunter2')),
      (e: Error) => /BACKUP_DATABASE_URL is not a valid URL/.test(e.message) && !e.message.includes('hunter2'),
    );
  });
});
