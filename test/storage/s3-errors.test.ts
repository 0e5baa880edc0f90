import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StorageError } from '../../src/errors.ts';
import { toStorageError } from '../../src/storage/s3-errors.ts';

// Error shapes the AWS SDK produces, built by hand: the storage tests provoke the common ones from a
// real server; these cover the ones s3rver cannot produce (AccessDenied, timeouts, bodiless 403s).
const where = { operation: 'list', where: 's3://bk at https://acct.r2.cloudflarestorage.com', key: 'db/*' };

function sdkError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status, attempts: 1 } });
}

describe('toStorageError', () => {
  const cases: [string, unknown, StorageError['code']][] = [
    ['AccessDenied', sdkError('AccessDenied', 403, 'Access Denied'), 'AccessDenied'],
    ['a bodiless 403 (HEAD)', sdkError('Forbidden', 403, 'UnknownError'), 'AccessDenied'],
    ['NoSuchBucket', sdkError('NoSuchBucket', 404), 'NoSuchBucket'],
    ['InvalidAccessKeyId', sdkError('InvalidAccessKeyId', 403), 'InvalidCredentials'],
    ['SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403), 'InvalidCredentials'],
    ['NotImplemented', sdkError('NotImplemented', 501), 'NotImplemented'],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'Network'],
    ['ENOTFOUND', Object.assign(new Error('getaddrinfo ENOTFOUND nope.invalid'), { code: 'ENOTFOUND' }), 'Network'],
    ['a socket timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'Network'],
    ['a network error as cause', new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }), 'Network'],
    ['an abort', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'Aborted'],
    ['anything else', sdkError('InternalError', 500), 'Unknown'],
  ];
  for (const [label, error, code] of cases) {
    it(`classifies ${label} as ${code}, naming the bucket, endpoint and what to do`, () => {
      const mapped = toStorageError(error, where);
      assert.ok(mapped instanceof StorageError);
      assert.equal(mapped.code, code);
      assert.equal(mapped.cause, error);
      assert.match(mapped.shortMessage, /s3:\/\/bk at https:\/\/acct\.r2\.cloudflarestorage\.com/);
      assert.ok(mapped.hint && mapped.hint.length > 20);
      assert.match(mapped.message, /What to do:/);
    });
  }

  it('tells an unknown key id, a wrong secret and a denial apart in the hint', () => {
    assert.match(toStorageError(sdkError('InvalidAccessKeyId', 403), where).hint ?? '', /does not know the key in AWS_ACCESS_KEY_ID/);
    assert.match(toStorageError(sdkError('SignatureDoesNotMatch', 403), where).hint ?? '', /AWS_SECRET_ACCESS_KEY is not its secret/);
    assert.match(toStorageError(sdkError('AccessDenied', 403), where).hint ?? '', /may read, write, list and delete/);
  });

  it("blames the provider, not the settings, for 5xx answers and throttling", () => {
    for (const error of [sdkError('InternalError', 500), sdkError('ServiceUnavailable', 503), sdkError('BadGateway', 502)]) {
      const mapped = toStorageError(error, where);
      assert.match(mapped.shortMessage, /S3 provider failed the request/);
      assert.match(mapped.hint ?? '', /provider's side, not your settings/);
      assert.doesNotMatch(mapped.hint ?? '', /FORCE_PATH_STYLE/);
    }
    assert.match(toStorageError(sdkError('SlowDown', 503), where).hint ?? '', /throttling/);
    assert.match(toStorageError(sdkError('TooManyRequests', 429), where).shortMessage, /throttling/);
    // A 4xx nobody recognises still points at the settings.
    assert.match(toStorageError(sdkError('BadRequest', 400), where).hint ?? '', /FORCE_PATH_STYLE/);
  });

  it('passes a StorageError through unchanged', () => {
    const original = new StorageError('Aborted', 'stop');
    assert.equal(toStorageError(original, where), original);
  });

  it('names the settings to check for the common failures', () => {
    assert.match(toStorageError(sdkError('NoSuchBucket', 404), where).message, /AWS_S3_BUCKET/);
    assert.match(toStorageError(sdkError('InvalidAccessKeyId', 403), where).message, /AWS_SECRET_ACCESS_KEY/);
    assert.match(toStorageError(sdkError('AccessDenied', 403), where).message, /AWS_ACCESS_KEY_ID/);
    assert.match(toStorageError(Object.assign(new Error('x'), { code: 'ENOTFOUND' }), where).message, /AWS_S3_ENDPOINT/);
  });
});
