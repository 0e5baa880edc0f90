import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { MALFORMED_SHAPES, MARKER } from '../util/malformed-urls.ts';
import { problemsOf } from './fixtures.ts';

function problemFor(env: Record<string, string>, variable: string): string {
  const error = problemsOf(env);
  const problem = error.problems.find((p) => p.variable === variable);
  assert.ok(problem, `a problem naming ${variable} in ${error.message}`);
  return `${problem.expected} / ${problem.given}`;
}

describe('configuration checked at start', () => {
  it('refuses every pg_dump option that changes where or in what format pg_dump writes, in every spelling', () => {
    const refused = [
      '--file=/x.sql', '-f/x.sql', '-f /x.sql', '--file /x.sql', '-af /x.sql', '-vf/x.sql', '--fi=/x.sql', '--fil=/x.sql',
      '--format=custom', '--format custom', '-Fc', '-F c', '--form=d', '-Z9', '-Z 9', '--compress=zstd', '--compress 5', '--comp=5',
      '-j4', '-j 4', '--jobs=4', '--jo=4', '-d otherdb', '--dbname=postgres://u@h/other', '-h other', '--host=other', '-p 5433',
      '-U someone', '--username=x', '-W', '--password', '-V', '--version', '-?', '--help', 'otherdb', '-- otherdb',
    ];
    for (const options of refused) {
      const text = problemFor({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', BACKUP_OPTIONS: options }, 'BACKUP_OPTIONS');
      assert.match(text, /BACKUP_FORMAT/, options);
    }
    for (const options of ['--exclude-table="audit log" --no-owner', '-t public.orders -n app', '--table -f', '--filter=/etc/f', '--lock-wait 5000', '-x -O --if-exists --clean', '--no-password', '-Ox']) {
      const config = loadConfig({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', BACKUP_OPTIONS: options });
      assert.ok(config.backup !== undefined, options);
    }
  });

  it('never echoes a password given to pg_dump through BACKUP_OPTIONS', () => {
    const text = problemFor({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', BACKUP_OPTIONS: `--dbname=postgres://u:${MARKER}@h/db 'host=h password=${MARKER}'` }, 'BACKUP_OPTIONS');
    assert.doesNotMatch(text, new RegExp(MARKER));
    for (const options of [`--dbname="postgres://u:${MARKER}@h/db`, `'host=h password=${MARKER} --no-owner`, `"password = ${MARKER}`]) {
      const unbalanced = problemFor({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', BACKUP_OPTIONS: options }, 'BACKUP_OPTIONS');
      assert.doesNotMatch(unbalanced, new RegExp(MARKER), options);
    }
  });

  it('checks the region, the subfolder, PG_DUMP_PATH, the sender, the URLs and HOST, all in one message', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const notExecutable = path.join(dir, 'pg_dump');
    fs.writeFileSync(notExecutable, '#!/bin/sh\n', { mode: 0o644 });
    const error = problemsOf({
      AWS_S3_BUCKET: 'bucket-one',
      AWS_S3_ENDPOINT: 'https://acc.r2.cloudflarestorage.com',
      AWS_S3_REGION: 'EU Central 1',
      BUCKET_SUBFOLDER: 'a/../b',
      BACKUP_DATABASE_URL: 'postgres://u:p@h/db',
      PG_DUMP_PATH: notExecutable,
      SMTP_URL: `smtps:/u:${MARKER}@mail.example.com`,
      ALERT_EMAIL_TO: 'ops@example.com',
      ALERT_EMAIL_FROM: 'not an address',
      SLACK_WEBHOOK_URL: `https:${MARKER}`,
      VERIFY_RESTORE_URL: `postgres:/u:${MARKER}@scratch/postgres`,
      RESTORE_TARGET_URL: `postgres://u:${MARKER}@/db`,
      HOST: 'not a host!',
    });
    assert.deepEqual(error.problems.map((p) => p.variable).sort(), [
      'AWS_S3_REGION', 'BUCKET_SUBFOLDER', 'HOST', 'PG_DUMP_PATH', 'RESTORE_TARGET_URL', 'SLACK_WEBHOOK_URL', 'SMTP_URL', 'VERIFY_RESTORE_URL',
    ]);
    assert.doesNotMatch(error.message, new RegExp(MARKER));
    assert.match(error.message, /PG_DUMP_PATH: expected the absolute path of an executable pg_dump file.*not an executable file/);
    for (const bad of ['no-such-pg_dump', 'bin/pg_dump', dir]) problemFor({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', PG_DUMP_PATH: bad, PATH: '/usr/bin:/bin' }, 'PG_DUMP_PATH');
    assert.match(error.message, /SMTP_URL: expected a URL with a host/);
    const sender = problemsOf({ SMTP_URL: 'smtp://mail.example.com', ALERT_EMAIL_TO: 'ops@example.com', ALERT_EMAIL_FROM: 'not an address' });
    assert.deepEqual(sender.problems.map((p) => p.variable), ['ALERT_EMAIL_FROM']);
    fs.rmSync(dir, { recursive: true });
  });

  it('accepts what deployments use: R2 and AWS regions, a nested subfolder, auto, a named sender, IPv4 and IPv6 hosts', () => {
    for (const region of ['auto', 'eu-central-1', 'us-east-1', 'wnam', 'us-west-004']) {
      assert.equal(loadConfig({ AWS_S3_BUCKET: 'bucket-one', AWS_S3_ENDPOINT: 'https://e.example.com', AWS_S3_REGION: region }).storage.kind, 's3');
    }
    assert.equal(loadConfig({ BUCKET_SUBFOLDER: 'prod/db-1/' }).location.subfolder, 'prod/db-1');
    assert.equal(loadConfig({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', PG_DUMP_PATH: 'auto' }).backup?.pgDumpPath, undefined);
    assert.equal(loadConfig({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', PG_DUMP_PATH: process.execPath }).backup?.pgDumpPath, process.execPath);
    assert.equal(loadConfig({ BACKUP_DATABASE_URL: 'postgres://u:p@h/db', PG_DUMP_PATH: 'sh', PATH: '/usr/bin:/bin' }).backup?.pgDumpPath, 'sh');
    const email = loadConfig({ SMTP_URL: 'smtp://mail.example.com', ALERT_EMAIL_TO: 'ops@example.com', ALERT_EMAIL_FROM: 'Backups <alerts@example.com>' }).alerts.email;
    assert.equal(email?.from, 'Backups <alerts@example.com>');
    for (const host of ['::', '0.0.0.0', '127.0.0.1', '::1', '[::1]', 'localhost']) assert.equal(loadConfig({ HOST: host }).http.host, host.replace(/^\[|\]$/g, ''));
    assert.equal(loadConfig({}).http.host, undefined);
    assert.equal(loadConfig({ VERIFY_RESTORE_URL: 'postgres://u:p@scratch:5432/postgres?sslmode=require' }).verify.restoreUrl?.reveal(), 'postgres://u:p@scratch:5432/postgres?sslmode=require');
  });

  it('refuses a leading slash or ".." in BUCKET_SUBFOLDER instead of silently changing the keys', () => {
    assert.match(problemFor({ BUCKET_SUBFOLDER: '/nightly' }, 'BUCKET_SUBFOLDER'), /without a leading "\/"/);
    for (const bad of ['..', 'a/../b', 'a//b', './a', 'a\\b']) problemFor({ BUCKET_SUBFOLDER: bad }, 'BUCKET_SUBFOLDER');
  });

  it('never shows the password of any malformed URL, in any URL variable', () => {
    for (const shape of MALFORMED_SHAPES) {
      for (const variable of ['BACKUP_DATABASE_URL', 'VERIFY_RESTORE_URL', 'RESTORE_TARGET_URL', 'SMTP_URL', 'SLACK_WEBHOOK_URL']) {
        const env: Record<string, string> = { [variable]: shape };
        if (variable === 'SMTP_URL') env.ALERT_EMAIL_TO = 'ops@example.com';
        let message = '';
        try {
          loadConfig(env);
        } catch (error) {
          message = (error as Error).message;
        }
        assert.ok(!message.includes(MARKER), `${variable}=${JSON.stringify(shape)} printed: ${message}`);
      }
    }
    const wellFormedWrongScheme = problemFor({ BACKUP_DATABASE_URL: `mysql://root:${MARKER}@db/app` }, 'BACKUP_DATABASE_URL');
    assert.match(wellFormedWrongScheme, /mysql:\/\/\*\*\*@db\/app/);
    assert.match(problemFor({ BACKUP_DATABASE_URL: `postgres:/u:${MARKER}@h/db` }, 'BACKUP_DATABASE_URL'), /"postgres:" followed by "\/\/"/);
  });
});
