import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackupError, errForLog } from '../../src/errors.ts';
import { captureLogs } from '../helpers/log-sink.ts';

const SECRET = 'https://hooks.slack.com/services/T000/B000/s3cr3t-token';

test('errForLog: our error keeps its type, message, hint and stage; its cause (third-party text) is not logged', () => {
  const cause = Object.assign(new Error(`connect failed for ${SECRET}`), { config: { url: SECRET } });
  const error = new BackupError('upload', 'storage refused the upload', { cause, hint: 'check AWS_S3_ENDPOINT' });
  const logs = captureLogs();
  logs.logger.error({ err: errForLog(error) }, 'backup failed');
  assert.ok(!logs.text().includes('s3cr3t-token'), logs.text());
  const err = logs.records()[0]?.err as Record<string, unknown>;
  assert.equal(err.type, 'BackupError');
  assert.match(String(err.message), /storage refused the upload\nWhat to do: check AWS_S3_ENDPOINT/);
  assert.equal(err.stage, 'upload');
  assert.equal(err.hint, 'check AWS_S3_ENDPOINT');
  assert.match(String(err.stack), /^BackupError: storage refused the upload/);
  assert.ok(error.cause === cause, 'the original error is left as it was');
});

test('errForLog: a third-party error is logged as its first line and stack frames, without its properties or cause', () => {
  const error = Object.assign(new TypeError(`bad response\nrequest was POST ${SECRET}`, { cause: new Error(SECRET) }), { url: SECRET });
  const logs = captureLogs();
  logs.logger.warn({ err: errForLog(error) }, 'delivery failed');
  assert.ok(!logs.text().includes('s3cr3t-token'), logs.text());
  const err = logs.records()[0]?.err as Record<string, unknown>;
  assert.equal(err.message, 'bad response');
  assert.match(String(err.stack), /^TypeError: bad response\n {4}at /);
  assert.equal(errForLog('plain string').message, 'plain string');
});
