import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPgCluster, type PgCluster } from './pg-cluster.ts';
import { startS3Server, type TestS3Server } from './s3-server.ts';

describe('test harness', () => {
  let pg: PgCluster;
  let s3: TestS3Server;
  before(async () => {
    [pg, s3] = await Promise.all([startPgCluster(), startS3Server()]);
  });
  after(async () => {
    await Promise.all([pg?.stop(), s3?.close()]);
  });

  it('starts a throwaway PostgreSQL cluster that answers queries', async () => {
    await pg.createDatabase('harness check');
    assert.equal(await pg.psql('SELECT 40 + 2', 'harness check'), '42');
    assert.ok(pg.majorVersion >= 12, `major version ${pg.majorVersion}`);
  });

  it('starts an S3 server that records the requests it receives', async () => {
    const response = await fetch(`${s3.endpoint}/${s3.bucket}?list-type=2`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /ListBucketResult/);
    assert.ok(s3.requests.some((r) => r.method === 'GET' && r.url.startsWith(`/${s3.bucket}`)));
  });
});
