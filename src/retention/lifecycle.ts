// Reads and writes a bucket's lifecycle rules (GetBucketLifecycleConfiguration /
// PutBucketLifecycleConfiguration). Works against AWS S3, R2 and MinIO: see docs/retention.md.
import { createHash } from 'node:crypto';
import type { LifecycleRule, S3Client, TransitionDefaultMinimumObjectSize } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/types.ts';
import { createS3Client, describeS3 } from '../storage/s3-client.ts';
import { toStorageError } from '../storage/s3-errors.ts';
import { s3Sdk } from '../storage/s3-sdk.ts';

// A bucket's lifecycle configuration as read, to be written back with only our rule changed.
interface LifecycleConfig {
  rules: LifecycleRule[];
  // AWS's bucket-wide transition setting; written back unchanged when the bucket had one.
  transitionDefaultMinimumObjectSize: TransitionDefaultMinimumObjectSize | undefined;
}

// The bucket's lifecycle rules, behind one small interface (a test can hand the service another).
export interface LifecycleStore {
  readonly description: string;
  // An empty configuration when the bucket has none. StorageError (e.g. NotImplemented) otherwise.
  // Each call stops (StorageError Aborted) when signal aborts, retries included.
  read(signal?: AbortSignal): Promise<LifecycleConfig>;
  write(config: LifecycleConfig, signal?: AbortSignal): Promise<void>;
  // Removes the bucket's whole lifecycle configuration (S3 refuses to put one without rules).
  clear(signal?: AbortSignal): Promise<void>;
}

export function createLifecycleStore(settings: S3Settings, client: S3Client = createS3Client(settings)): LifecycleStore {
  const where = describeS3(settings);
  const bucket = settings.bucket;
  return {
    description: where,
    async read(signal) {
      try {
        const out = await client.send(new (s3Sdk().GetBucketLifecycleConfigurationCommand)({ Bucket: bucket }), signal ? { abortSignal: signal } : {});
        return { rules: out.Rules ?? [], transitionDefaultMinimumObjectSize: out.TransitionDefaultMinimumObjectSize };
      } catch (error) {
        // S3 and MinIO answer 404 NoSuchLifecycleConfiguration for a bucket without rules.
        if ((error as { name?: unknown }).name === 'NoSuchLifecycleConfiguration') return { rules: [], transitionDefaultMinimumObjectSize: undefined };
        throw toStorageError(error, { operation: 'read lifecycle rules', where });
      }
    },
    async clear(signal) {
      try {
        await client.send(new (s3Sdk().DeleteBucketLifecycleCommand)({ Bucket: bucket }), signal ? { abortSignal: signal } : {});
      } catch (error) {
        throw toStorageError(error, { operation: 'remove lifecycle rules', where });
      }
    },
    async write(config, signal) {
      const command = new (s3Sdk().PutBucketLifecycleConfigurationCommand)({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: config.rules },
        ...(config.transitionDefaultMinimumObjectSize === undefined ? {} : { TransitionDefaultMinimumObjectSize: config.transitionDefaultMinimumObjectSize }),
      });
      command.middlewareStack.add(
        (next) => async (args) => {
          addContentMd5(args.request as { headers?: Record<string, string>; body?: unknown });
          return next(args);
        },
        { step: 'build', name: 'backupSentinelContentMd5', priority: 'low' },
      );
      try {
        await client.send(command, signal ? { abortSignal: signal } : {});
      } catch (error) {
        throw toStorageError(error, { operation: 'write lifecycle rules', where });
      }
    },
  };
}

// PutBucketLifecycleConfiguration requires an integrity header. The SDK (3.729+) sends
// x-amz-checksum-crc32 for it even with requestChecksumCalculation WHEN_REQUIRED, which AWS accepts;
// S3-compatible servers that predate those checksums (MinIO, Ceph RGW) still demand Content-MD5, so send
// it too. At the build step the body is the serialized XML.
function addContentMd5(request: { headers?: Record<string, string>; body?: unknown }): void {
  const body = request.body;
  if (request.headers === undefined || !(typeof body === 'string' || body instanceof Uint8Array)) return;
  const hasMd5 = Object.keys(request.headers).some((h) => h.toLowerCase() === 'content-md5');
  if (!hasMd5) request.headers['content-md5'] = createHash('md5').update(body).digest('base64');
}
